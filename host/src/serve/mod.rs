//! `cordon serve`: agents open sessions and run commands over JSON-RPC 2.0,
//! one message per line (docs/PROTOCOL.md). A second front end of the
//! same library as `cordon run`: each session is a [`Session`], whose
//! grants and warm engine last until it closes.
//!
//! Questions never go back on the agent's channel: they go to the approver
//! the server was started with. What a session may ask for in
//! `session/open` only narrows the settings (a model cannot widen its own
//! sandbox or network through the protocol).

pub mod mcp;
pub mod wire;

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, Result};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::broker::approver::ApproverSpec;
use crate::broker::rules::Rules;
use crate::io::Cancel;
use crate::observe::Observer;
use crate::policy::SandboxMode;
use crate::request::ApprovalPolicy;
use crate::session::{
    ApproverChoice, CacheChoice, Command, Engines, RunOutcome, Session, SessionConfig,
};
use wire::{Failure, code};

/// What every session of the server shares.
pub struct ServeConfig {
    /// Where sessions may be rooted (canonical): in one of these or
    /// below. The person starting the server chooses, not the agent.
    pub allowed_roots: Vec<PathBuf>,
    /// Who answers questions (never the agent).
    pub approver: ApproverSpec,
    /// How long a question may wait.
    pub approval_timeout: Duration,
    /// The compile cache.
    pub cache: CacheChoice,
    /// The binary native commands start as their sandbox helper.
    pub native_helper: Option<PathBuf>,
    /// The warm engines, shared by every session.
    pub engines: Arc<Engines>,
    /// Every session open, for a drain ([`Live::stop_all`]).
    pub live: Arc<Live>,
}

impl ServeConfig {
    /// A server's configuration: sessions rooted in `allowed_roots` (made
    /// canonical), questions to `approver`, fresh engines.
    ///
    /// # Errors
    ///
    /// An allowed root that cannot be resolved.
    pub fn new(
        allowed_roots: &[PathBuf],
        approver: ApproverSpec,
        approval_timeout: Duration,
        cache: CacheChoice,
    ) -> anyhow::Result<ServeConfig> {
        let canonical = |dir: &PathBuf| {
            let found = dir.canonicalize();
            found.with_context(|| format!("--allow-root {}", dir.display()))
        };
        Ok(ServeConfig {
            allowed_roots: allowed_roots.iter().map(canonical).collect::<Result<_>>()?,
            approver,
            approval_timeout,
            cache,
            native_helper: None,
            engines: Arc::default(),
            live: Arc::default(),
        })
    }
}

/// `cordon serve`'s default `--allow-root`: the directory it started in,
/// unless that is the home directory or above it (every dotfile would be
/// a project's file).
///
/// # Errors
///
/// The current directory holds the home directory, or cannot be found.
pub fn default_allowed_root() -> anyhow::Result<PathBuf> {
    let here = std::env::current_dir()?.canonicalize()?;
    let home = std::env::var_os("HOME").and_then(|home| Path::new(&home).canonicalize().ok());
    if here.parent().is_none() || home.is_some_and(|home| home.starts_with(&here)) {
        anyhow::bail!(
            "serving from {}, which holds your home directory: start in a project, or name \
             where sessions may be rooted with --allow-root DIR",
            here.display()
        );
    }
    Ok(here)
}

/// Where a server takes its clients.
pub enum Transport {
    /// JSON-RPC on stdin and stdout.
    Stdio,
    /// JSON-RPC on a unix socket made at this path, a connection per
    /// client.
    Socket(PathBuf),
    /// MCP, one session rooted in `root`: on stdin and stdout, or over
    /// streamable HTTP on the loopback address `http`.
    Mcp {
        /// The session's root.
        root: PathBuf,
        /// Where to serve HTTP, if at all.
        http: Option<std::net::SocketAddr>,
    },
}

/// Serves on `transport` until its input ends, or SIGTERM drains every
/// session. `announce` is told where an HTTP server listens and its
/// bearer token.
///
/// # Errors
///
/// A non-loopback HTTP address, or the transport cannot be set up.
pub fn run(
    transport: Transport,
    config: ServeConfig,
    announce: impl FnOnce(std::net::SocketAddr, &str),
) -> anyhow::Result<()> {
    #[cfg(unix)]
    drain_on_sigterm(Arc::clone(&config.live)).context("SIGTERM")?;
    match transport {
        Transport::Mcp { http: Some(at), .. } if !at.ip().is_loopback() => {
            anyhow::bail!("--http {at}: a loopback address only (127.0.0.1:PORT)")
        }
        Transport::Mcp { root, http: None } => mcp::serve_stdio(config, root),
        Transport::Mcp {
            root,
            http: Some(at),
        } => mcp::serve_http(config, root, at, announce),
        #[cfg(unix)]
        Transport::Socket(path) => {
            serve_socket(&path, &config).with_context(|| format!("--socket {}", path.display()))
        }
        #[cfg(not(unix))]
        Transport::Socket(path) => anyhow::bail!("--socket {}: unix sockets only", path.display()),
        Transport::Stdio => Ok(serve(std::io::stdin().lock(), std::io::stdout(), &config)?),
    }
}

/// What every connection of a server shares while it runs: the sessions
/// open (for a drain), the ids it gives, and the connections watching
/// the audit (`audit/subscribe`).
#[derive(Default)]
pub struct Live {
    served: Mutex<Vec<std::sync::Weak<Served>>>,
    /// Session, run and connection ids: unique in the server, so an
    /// audit watcher tells sessions of every connection apart.
    ids: AtomicU64,
    watchers: Mutex<Vec<Watcher>>,
}

/// A connection that subscribed to the audit: its events go to a thread
/// that writes them, so a watcher that does not read holds back no
/// command. What waits is bounded in bytes; past the bound, events are
/// counted as lost instead.
struct Watcher {
    connection: u64,
    queue: std::sync::mpsc::Sender<Arc<str>>,
    /// Bytes sent to the queue and not yet written.
    queued: Arc<AtomicU64>,
    lost: Arc<AtomicU64>,
}

/// The bytes of audit events that may wait for one watcher.
const WATCH_BYTES: u64 = 16 << 20;

impl Live {
    fn add(&self, served: &Arc<Served>) {
        let mut live = self.served.lock().unwrap_or_else(|e| e.into_inner());
        live.retain(|served| served.strong_count() > 0);
        live.push(Arc::downgrade(served));
    }

    fn next_id(&self) -> u64 {
        self.ids.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Sends `out` every audit event of every session of the server, as
    /// `audit/event`, from now until [`Live::unsubscribe`].
    fn subscribe(&self, connection: u64, out: Out) {
        let mut watchers = self.watchers.lock().unwrap_or_else(|e| e.into_inner());
        if watchers.iter().any(|w| w.connection == connection) {
            return;
        }
        let (queue, events) = std::sync::mpsc::channel::<Arc<str>>();
        let (queued, lost) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let (written, counted) = (Arc::clone(&queued), Arc::clone(&lost));
        std::thread::spawn(move || {
            for line in events {
                out.send_line(&line);
                written.fetch_sub(line.len() as u64, Ordering::Relaxed);
                let missed = counted.swap(0, Ordering::Relaxed);
                if missed > 0 {
                    out.send(&wire::notification("audit/lost", json!({"events": missed})));
                }
            }
        });
        watchers.push(Watcher {
            connection,
            queue,
            queued,
            lost,
        });
    }

    fn unsubscribe(&self, connection: u64) {
        let mut watchers = self.watchers.lock().unwrap_or_else(|e| e.into_inner());
        watchers.retain(|w| w.connection != connection);
    }

    /// Cancels every command of every session and waits for them (as
    /// closing does): what a server does before it exits on SIGTERM.
    pub fn stop_all(&self) {
        let live: Vec<_> = self
            .served
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
            .collect();
        for served in live.iter().filter_map(std::sync::Weak::upgrade) {
            served.stop();
        }
    }
}

/// One session's audit events, for the server's watchers.
struct SessionAudit {
    session: u64,
    live: Arc<Live>,
}

impl crate::audit::AuditWatcher for SessionAudit {
    fn listening(&self) -> bool {
        let watchers = self.live.watchers.lock().unwrap_or_else(|e| e.into_inner());
        !watchers.is_empty()
    }

    fn recorded(&self, line: &Value) {
        let watchers = self.live.watchers.lock().unwrap_or_else(|e| e.into_inner());
        if watchers.is_empty() {
            return;
        }
        // Made once, whatever the number of watchers.
        let params = json!({"session": self.session, "event": line});
        let mut said = wire::notification("audit/event", params).to_string();
        said.push('\n');
        let said: Arc<str> = said.into();
        let size = said.len() as u64;
        for watcher in watchers.iter() {
            if watcher.queued.fetch_add(size, Ordering::Relaxed) + size > WATCH_BYTES {
                watcher.queued.fetch_sub(size, Ordering::Relaxed);
                watcher.lost.fetch_add(1, Ordering::Relaxed);
            } else if watcher.queue.send(Arc::clone(&said)).is_err() {
                watcher.queued.fetch_sub(size, Ordering::Relaxed);
            }
        }
    }
}

/// Where responses and notifications go, one line each.
#[derive(Clone)]
struct Out(Arc<Mutex<Box<dyn Write + Send>>>);

impl Out {
    /// Sends `message`; a client gone is noticed when its input ends.
    fn send(&self, message: &Value) {
        let mut line = message.to_string();
        line.push('\n');
        self.send_line(&line);
    }

    /// Sends a message already written out, with its newline.
    fn send_line(&self, line: &str) {
        let mut out = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let _ = out.write_all(line.as_bytes()).and_then(|()| out.flush());
    }
}

/// A session and its commands.
pub struct Served {
    session: Arc<Session>,
    runs: Mutex<HashMap<u64, (Cancel, JoinHandle<()>)>>,
    /// Commands whose question waits for a person, by its token: what
    /// `command/run` with `resume` runs again.
    parked: Mutex<HashMap<String, Run>>,
}

/// How long closing waits for cancelled commands to end. A WASI tool
/// blocked in a call of the host that nothing interrupts (opening a FIFO
/// no one writes) is left behind after it, rather than holding the
/// connection.
const STOP_WAIT: Duration = Duration::from_secs(5);

impl Served {
    /// The command parked under `token`, to run again (`params` holds
    /// only the session and the token).
    fn resumed(&self, token: &str, params: Run) -> Result<Run, Failure> {
        let only_resume = Run {
            session: params.session,
            resume: params.resume.clone(),
            ..Run::default()
        };
        if params != only_resume {
            return Err(Failure::new(
                code::INVALID_PARAMS,
                "params.resume: runs again the command parked under it; give only session \
                 and resume",
            ));
        }
        let mut parked = self.parked.lock().unwrap_or_else(|e| e.into_inner());
        parked.remove(token).ok_or_else(|| {
            Failure::new(
                code::INVALID_PARAMS,
                format!("params.resume: no command of this session waits under {token}"),
            )
        })
    }

    /// Cancels every command still running, and waits (at most
    /// [`STOP_WAIT`]) for each to end.
    fn stop(&self) {
        let runs: Vec<_> = self
            .runs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
            .collect();
        for (_, (cancel, _)) in &runs {
            cancel.cancel();
        }
        let deadline = std::time::Instant::now() + STOP_WAIT;
        for (_, (_, thread)) in runs {
            while !thread.is_finished() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if thread.is_finished() {
                let _ = thread.join();
            }
        }
    }
}

/// One client's connection: its sessions end with it.
struct Connection<'c> {
    config: &'c ServeConfig,
    /// Its id in [`Live`]: what it subscribes under.
    id: u64,
    out: Out,
    sessions: Mutex<HashMap<u64, Arc<Served>>>,
}

/// Serves one client: requests read from `input`, answered on `output`,
/// until `input` ends. Then every command still running is cancelled and
/// waited for: nothing a client started outlives its connection.
///
/// # Errors
///
/// Reading `input` failed (its sessions are stopped all the same).
pub fn serve(
    mut input: impl BufRead,
    output: impl Write + Send + 'static,
    config: &ServeConfig,
) -> std::io::Result<()> {
    let connection = Connection {
        config,
        id: config.live.next_id(),
        out: Out(Arc::new(Mutex::new(Box::new(output)))),
        sessions: Mutex::new(HashMap::new()),
    };
    let read = std::thread::scope(|scope| {
        loop {
            match wire::read_line(&mut input) {
                Ok(wire::Read::Line(line)) if line.iter().all(u8::is_ascii_whitespace) => {}
                Ok(wire::Read::Line(line)) => connection.handle(&line, scope),
                Ok(wire::Read::TooLong) => connection.out.send(&wire::error(
                    None,
                    &Failure::new(
                        code::INVALID_REQUEST,
                        format!("a message over {} bytes; refused", wire::MAX_MESSAGE),
                    ),
                )),
                Ok(wire::Read::End) => break Ok(()),
                Err(e) => break Err(e),
            }
        }
    });
    config.live.unsubscribe(connection.id);
    let sessions: Vec<_> = connection.sessions.lock().unwrap().drain().collect();
    for (_, served) in sessions {
        served.stop();
    }
    read
}

impl<'c> Connection<'c> {
    fn handle<'scope>(&'scope self, line: &[u8], scope: &'scope std::thread::Scope<'scope, '_>) {
        let request = match wire::parse(line) {
            Ok(request) => request,
            Err((id, failure)) => {
                tracing::warn!(id = ?id, code = failure.code, why = %failure.message, "refused");
                self.out.send(&wire::error(id.as_ref(), &failure));
                return;
            }
        };
        let started = std::time::Instant::now();
        let (id, method) = (request.id, request.method);
        match Call::read(&method, request.params) {
            // They wait for the session's broker (a question may be
            // pending) or its commands: the connection reads on meanwhile.
            Ok(call @ (Call::Close(_) | Call::Grants(_) | Call::Revoke(_))) => {
                scope.spawn(move || self.answer(id, &method, started, Ok(call)));
            }
            read => self.answer(id, &method, started, read),
        }
    }

    fn answer(
        &self,
        id: Option<Value>,
        method: &str,
        started: std::time::Instant,
        call: Result<Call, Failure>,
    ) {
        let answered = match call {
            Ok(Call::Run(p)) => match self.prepare_run(p) {
                Ok(start) => {
                    // The answer goes before anything the run says.
                    if let Some(id) = &id {
                        self.out.send(&wire::result(id, json!({"run": start.run})));
                    }
                    tracing::info!(%method, id = ?id, run = start.run, "started");
                    start.go(&self.out);
                    return;
                }
                Err(failure) => Err(failure),
            },
            Ok(Call::Open(p)) => self.open(p),
            Ok(Call::Close(p)) => self.close(p),
            Ok(Call::Grants(p)) => self.grants(p),
            Ok(Call::Revoke(p)) => self.revoke(p),
            Ok(Call::Cancel(p)) => self.cancel(p),
            Ok(Call::Subscribe) => {
                self.config.live.subscribe(self.id, self.out.clone());
                Ok(json!({}))
            }
            Ok(Call::Unsubscribe) => {
                self.config.live.unsubscribe(self.id);
                Ok(json!({}))
            }
            Err(failure) => Err(failure),
        };
        let took = started.elapsed().as_secs_f64() * 1e3;
        match &answered {
            Ok(_) => tracing::info!(%method, id = ?id, took_ms = took, "answered"),
            Err(failure) => tracing::warn!(
                %method, id = ?id, code = failure.code, why = %failure.message,
                "refused"
            ),
        }
        // A notification is answered by nothing, not even an error.
        if let Some(id) = &id {
            self.out.send(&match answered {
                Ok(result) => wire::result(id, result),
                Err(failure) => wire::error(Some(id), &failure),
            });
        }
    }

    fn next_id(&self) -> u64 {
        self.config.live.next_id()
    }

    fn served(&self, session: u64) -> Result<Arc<Served>, Failure> {
        let sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        sessions.get(&session).cloned().ok_or_else(|| {
            Failure::new(
                code::INVALID_PARAMS,
                format!("params.session: no open session {session}"),
            )
        })
    }

    fn open(&self, params: Open) -> Result<Value, Failure> {
        let root = crate::policy::canonical_root(&params.root)
            .map_err(|e| Failure::new(code::INVALID_PARAMS, format!("params.root: {e:#}")))?;
        self.allowed(&root)?;
        let id = self.next_id();
        let mut config = SessionConfig::new(&params.root)
            .map_err(|e| Failure::new(code::INVALID_PARAMS, format!("params.root: {e:#}")))?;
        params.narrow(&mut config)?;
        config.approver = ApproverChoice::Spec {
            spec: self.config.approver.clone(),
            timeout: self.config.approval_timeout,
        };
        config.cache = self.config.cache.clone();
        config.native_helper = self.config.native_helper.clone();
        config.engines = Arc::clone(&self.config.engines);
        config.observer = Arc::new(Notes {
            out: self.out.clone(),
            session: id,
            run: None,
        });
        config.audit_watcher = Some(Arc::new(SessionAudit {
            session: id,
            live: Arc::clone(&self.config.live),
        }));
        let session = Session::new(config).map_err(Failure::server)?;
        // Again as the session identified it: the path may have led
        // elsewhere by then (a symlink swapped in by another session).
        self.allowed(session.root())?;
        let served = Served {
            session: Arc::new(session),
            runs: Mutex::new(HashMap::new()),
            parked: Mutex::new(HashMap::new()),
        };
        let served = Arc::new(served);
        self.config.live.add(&served);
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        sessions.insert(id, served);
        Ok(json!({"session": id}))
    }

    /// Whether a session may be rooted at `root` (canonical).
    fn allowed(&self, root: &Path) -> Result<(), Failure> {
        if self
            .config
            .allowed_roots
            .iter()
            .any(|dir| root.starts_with(dir))
        {
            return Ok(());
        }
        Err(Failure::new(
            code::INVALID_PARAMS,
            format!(
                "params.root: {} is outside the directories this server may root sessions in \
                 (--allow-root)",
                root.display()
            ),
        ))
    }

    fn close(&self, params: SessionParams) -> Result<Value, Failure> {
        let served = self.served(params.session)?;
        self.sessions.lock().unwrap().remove(&params.session);
        served.stop();
        Ok(json!({}))
    }

    fn grants(&self, params: SessionParams) -> Result<Value, Failure> {
        let served = self.served(params.session)?;
        Ok(json!({"grants": served.session.grants()}))
    }

    fn revoke(&self, params: Revoke) -> Result<Value, Failure> {
        let served = self.served(params.session)?;
        Ok(json!({"revoked": served.session.revoke(params.grant)}))
    }

    fn cancel(&self, params: Cancelled) -> Result<Value, Failure> {
        let sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        for served in sessions.values() {
            let runs = served.runs.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((cancel, _)) = runs.get(&params.run) {
                cancel.cancel();
                return Ok(json!({}));
            }
        }
        Err(Failure::new(
            code::INVALID_PARAMS,
            format!("params.run: no running command {}", params.run),
        ))
    }

    fn prepare_run(&self, params: Run) -> Result<Start, Failure> {
        let served = self.served(params.session)?;
        let params = match params.resume.clone() {
            None => params,
            Some(token) => served.resumed(&token, params)?,
        };
        let asked = params.clone();
        let mut command = match (params.argv, params.line) {
            (Some(argv), None) if !argv.is_empty() => Command::argv(argv),
            (None, Some(line)) => Command::line(line),
            _ => {
                return Err(Failure::new(
                    code::INVALID_PARAMS,
                    "params: one of argv (a non-empty array) or line",
                ));
            }
        };
        command.cwd = params.cwd;
        command.env = params
            .env
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let timeout = params.timeout_ms.map(Duration::from_millis);
        within_limits(&served.session, timeout, params.max_output)?;
        command.timeout = timeout;
        command.max_output = params.max_output;
        // Never the server's own stdin: that is the protocol.
        command.stdin = Some(stdin_of(params.stdin.unwrap_or_default()).map_err(Failure::server)?);
        Ok(Start {
            run: self.next_id(),
            session: params.session,
            served,
            command,
            asked,
        })
    }
}

/// Checks a command's own limits, which only lower its session's.
///
/// # Errors
///
/// -32602 naming the limit asked above the session's.
pub fn within_limits(
    session: &Session,
    timeout: Option<Duration>,
    max_output: Option<u64>,
) -> Result<(), Failure> {
    let settings = &session.config().settings;
    let over = |field: &str, limit: u128| {
        Err(Failure::new(
            code::INVALID_PARAMS,
            format!("params.{field}: above the session's limit of {limit}"),
        ))
    };
    if let (Some(asked), Some(limit)) = (timeout, settings.timeout.value)
        && asked > limit
    {
        return over("timeout_ms", limit.as_millis());
    }
    if let (Some(asked), Some(limit)) = (max_output, settings.max_output.value)
        && asked > limit
    {
        return over("max_output", limit.into());
    }
    Ok(())
}

/// A command ready to start, its id already given to the client.
struct Start {
    run: u64,
    session: u64,
    served: Arc<Served>,
    command: Command,
    /// As asked: kept if its question is parked, to resume.
    asked: Run,
}

impl Start {
    fn go(self, out: &Out) {
        let cancel = Cancel::default();
        let stream = |name| Stream {
            out: out.clone(),
            run: self.run,
            name,
            pending: Vec::new(),
        };
        let notes = Notes {
            out: out.clone(),
            session: self.session,
            run: Some(self.run),
        };
        let command = self
            .command
            .cancel(cancel.clone())
            .output(stream("stdout"), stream("stderr"))
            .notes(Arc::new(notes));
        let (served, out, run, id, asked) = (
            Arc::clone(&self.served),
            out.clone(),
            self.run,
            self.session,
            self.asked,
        );
        let mut runs = self.served.runs.lock().unwrap_or_else(|e| e.into_inner());
        runs.retain(|_, (_, thread)| !thread.is_finished());
        let thread = std::thread::spawn(move || {
            let outcome = served.session.run(command);
            if let Some(token) = &outcome.resume {
                let mut parked = served.parked.lock().unwrap_or_else(|e| e.into_inner());
                parked.insert(token.clone(), asked);
            }
            let status = outcome.status.as_str();
            tracing::info!(run, status, exit_code = outcome.exit_code, "ended");
            out.send(&wire::notification(
                "command/exit",
                exit_params(run, id, &outcome),
            ));
        });
        runs.insert(run, (cancel, thread));
    }
}

/// `command/exit`'s params: the run's report ([`RunOutcome::report`]).
fn exit_params(run: u64, session: u64, outcome: &RunOutcome) -> Value {
    let mut report = outcome.report();
    report["run"] = json!(run);
    report["session"] = json!(session);
    let digest = |stream: &Option<crate::audit::StreamRecord>| {
        stream
            .as_ref()
            .map(|s| json!({"bytes": s.bytes, "sha256": s.sha256}))
    };
    report["stdout"] = json!(digest(&outcome.stdout));
    report["stderr"] = json!(digest(&outcome.stderr));
    report
}

/// A file that reads `text` and then ends.
fn stdin_of(text: String) -> std::io::Result<std::fs::File> {
    let (reader, mut writer) = std::io::pipe()?;
    // Nothing to write (the usual case): the writer closes now, no thread.
    if !text.is_empty() {
        std::thread::spawn(move || {
            let _ = writer.write_all(text.as_bytes());
        });
    }
    Ok(crate::io::pipe_file(reader))
}

/// One output stream of a run, sent as `command/output` notifications as
/// it comes. Text is UTF-8: a character split between writes is sent
/// whole with the next; bytes that are not UTF-8 are sent as U+FFFD (the
/// digests in `command/exit` are of the bytes).
struct Stream {
    out: Out,
    run: u64,
    name: &'static str,
    pending: Vec<u8>,
}

impl Write for Stream {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(bytes);
        let mut text = String::new();
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(whole) => {
                    text.push_str(whole);
                    self.pending.clear();
                    break;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    text.push_str(&String::from_utf8_lossy(&self.pending[..valid]));
                    match e.error_len() {
                        // Bytes that are no character: one U+FFFD, then on.
                        Some(bad) => {
                            text.push(char::REPLACEMENT_CHARACTER);
                            self.pending.drain(..valid + bad);
                        }
                        // A character cut short: kept for the next write.
                        None => {
                            self.pending.drain(..valid);
                            break;
                        }
                    }
                }
            }
        }
        if !text.is_empty() {
            let params = json!({"run": self.run, "stream": self.name, "text": text});
            self.out.send(&wire::notification("command/output", params));
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A session's lines for the person, sent as `session/note`.
struct Notes {
    out: Out,
    session: u64,
    /// The command said of, if one is.
    run: Option<u64>,
}

impl Observer for Notes {
    fn note(&self, line: &str) {
        let mut params = json!({"session": self.session, "line": line});
        if let Some(run) = self.run {
            params["run"] = json!(run);
        }
        self.out.send(&wire::notification("session/note", params));
    }
}

/// `session/open`'s params.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Open {
    root: PathBuf,
    sandbox: Option<SandboxMode>,
    approval: Option<ApprovalPolicy>,
    network: Option<String>,
    timeout_ms: Option<u64>,
    memory_mib: Option<u64>,
    max_output: Option<u64>,
    #[serde(default)]
    secrets: Vec<String>,
    /// Rules, as a rules file words them: only prompt and forbid.
    rules: Option<String>,
    #[serde(default)]
    deterministic: bool,
}

impl Open {
    /// Narrows `config`'s settings by the params: only what tightens
    /// applies (as a project's untrusted settings file), and asking for
    /// more is -32602: what the agent asks for here is not a person's
    /// approval.
    fn narrow(self, config: &mut SessionConfig) -> Result<(), Failure> {
        if let Some(text) = &self.rules {
            config.narrowing_rules = narrowing_rules(text)?;
        }
        let mut asked = toml::Table::new();
        let mut set = |key: &str, value: Option<toml::Value>| {
            if let Some(value) = value {
                asked.insert(key.into(), value);
            }
        };
        set("sandbox", self.sandbox.map(|m| m.as_str().into()));
        set("approval", self.approval.map(|a| a.as_str().into()));
        set("network", self.network.map(Into::into));
        set("secrets", Some(self.secrets.into()));
        let mut limits = toml::Table::new();
        if let Some(ms) = self.timeout_ms {
            limits.insert("timeout".into(), (ms as f64 / 1000.0).into());
        }
        for (key, value) in [("memory", self.memory_mib), ("max-output", self.max_output)] {
            if let Some(value) = value {
                let value = i64::try_from(value).map_err(|_| {
                    Failure::new(code::INVALID_PARAMS, format!("params.{key}: too large"))
                })?;
                limits.insert(key.into(), value.into());
            }
        }
        asked.insert("limits".into(), limits.into());
        let root = crate::policy::canonical_root(&config.root).map_err(Failure::server)?;
        config
            .settings
            .narrow(&asked.to_string(), Path::new("session/open"), &root)
            .map_err(|why| Failure::new(code::INVALID_PARAMS, format!("params: {why}")))?;
        if self.deterministic {
            config.determinism = Some(crate::policy::Determinism::default());
        }
        Ok(())
    }
}

/// `session/open`'s rules, which only prompt or forbid: an allow rule is
/// a person's to write (their rules file, `cordon trust`), not the
/// agent's to ask for.
fn narrowing_rules(text: &str) -> Result<Rules, Failure> {
    let invalid = |why: String| Failure::new(code::INVALID_PARAMS, format!("params.rules: {why}"));
    let mut given = Rules::default();
    given
        .add(text, Path::new("session/open"))
        .map_err(|e| invalid(e.to_string()))?;
    let allowing = Rules::default().merge(given.clone(), true);
    if allowing > 0 {
        return Err(invalid(format!(
            "{allowing} rule(s) allow: a session's rules only prompt or forbid"
        )));
    }
    Ok(given)
}

/// A request's method with its params read.
enum Call {
    Open(Open),
    Close(SessionParams),
    Grants(SessionParams),
    Revoke(Revoke),
    Run(Run),
    Cancel(Cancelled),
    Subscribe,
    Unsubscribe,
}

impl Call {
    fn read(method: &str, params: Value) -> Result<Call, Failure> {
        Ok(match method {
            "session/open" => Call::Open(wire::params(params)?),
            "session/close" => Call::Close(wire::params(params)?),
            "session/grants" => Call::Grants(wire::params(params)?),
            "session/revoke" => Call::Revoke(wire::params(params)?),
            "command/run" => Call::Run(wire::params(params)?),
            "command/cancel" => Call::Cancel(wire::params(params)?),
            "audit/subscribe" => wire::params(params).map(|Nothing {}| Call::Subscribe)?,
            "audit/unsubscribe" => wire::params(params).map(|Nothing {}| Call::Unsubscribe)?,
            other => {
                return Err(Failure::new(
                    code::METHOD_NOT_FOUND,
                    format!("{other}: no such method"),
                ));
            }
        })
    }
}

/// Reads `params` as `method` takes them, as the server does before it
/// acts (what the decoder's fuzz target drives).
///
/// # Errors
///
/// -32601 for no such method; -32602 naming the field that does not read.
pub fn read_params(method: &str, params: Value) -> Result<(), Failure> {
    Call::read(method, params).map(drop)
}

/// Params of a method that takes none.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Nothing {}

/// Params naming a session.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SessionParams {
    session: u64,
}

/// `session/revoke`'s params.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Revoke {
    session: u64,
    grant: u64,
}

/// `command/cancel`'s params.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Cancelled {
    run: u64,
}

/// `command/run`'s params.
#[derive(Deserialize, Clone, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
struct Run {
    /// A parked command's token: run it again (nothing else given).
    resume: Option<String>,
    session: u64,
    argv: Option<Vec<String>>,
    line: Option<String>,
    cwd: Option<PathBuf>,
    #[serde(default)]
    env: std::collections::BTreeMap<String, String>,
    stdin: Option<String>,
    timeout_ms: Option<u64>,
    max_output: Option<u64>,
}

/// Serves every client that connects to a unix socket made at `path`
/// (mode 0600: only this user connects), each on a thread of its own.
///
/// # Errors
///
/// The socket cannot be made (`path` exists already, say).
#[cfg(unix)]
pub fn serve_socket(path: &std::path::Path, config: &ServeConfig) -> std::io::Result<()> {
    // Made 0600 from the start: no moment when another user could connect.
    // SAFETY: umask only sets the process's file-creation mask.
    let before = unsafe { libc::umask(0o177) };
    let listener = std::os::unix::net::UnixListener::bind(path);
    // SAFETY: as above.
    unsafe { libc::umask(before) };
    let listener = listener?;
    std::thread::scope(|scope| {
        for client in listener.incoming() {
            let Ok(client) = client else { continue };
            scope.spawn(move || {
                let Ok(reading) = client.try_clone() else {
                    return;
                };
                let _ = serve(std::io::BufReader::new(reading), client, config);
            });
        }
    });
    Ok(())
}

/// The write end of the pipe SIGTERM is told on.
#[cfg(unix)]
static SIGTERM_PIPE: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

#[cfg(unix)]
extern "C" fn on_sigterm(_: libc::c_int) {
    let fd = SIGTERM_PIPE.load(Ordering::Relaxed);
    // SAFETY: write(2) is async-signal-safe; one byte from a static.
    unsafe { libc::write(fd, b"x".as_ptr().cast(), 1) };
}

/// On SIGTERM, drains: every command of every session in `live` is
/// cancelled and waited for, then the process exits 0.
///
/// # Errors
///
/// The pipe or the handler cannot be set up.
#[cfg(unix)]
pub fn drain_on_sigterm(live: Arc<Live>) -> std::io::Result<()> {
    use std::io::Read;
    let (mut reader, writer) = std::io::pipe()?;
    let fd = std::os::fd::IntoRawFd::into_raw_fd(writer);
    SIGTERM_PIPE.store(fd, Ordering::Relaxed);
    // SAFETY: installs a handler that only writes to a pipe.
    let installed =
        unsafe { libc::signal(libc::SIGTERM, on_sigterm as *const () as libc::sighandler_t) };
    if installed == libc::SIG_ERR {
        return Err(std::io::Error::last_os_error());
    }
    std::thread::spawn(move || {
        if reader.read_exact(&mut [0u8; 1]).is_ok() {
            tracing::info!("SIGTERM: cancelling every command, then exiting");
            live.stop_all();
            std::process::exit(0);
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::Buffer;

    /// The text `command/output` sent, each notification's joined.
    fn sent(buffer: &Buffer) -> String {
        String::from_utf8(buffer.bytes())
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str::<Value>(line).unwrap()["params"]["text"].clone())
            .map(|text| text.as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn output_is_sent_as_whole_characters_across_writes_and_after_bad_bytes() {
        let buffer = Buffer::default();
        let mut stream = Stream {
            out: Out(Arc::new(Mutex::new(Box::new(buffer.clone())))),
            run: 1,
            name: "stdout",
            pending: Vec::new(),
        };
        stream.write_all(b"\xff\xe2\x82").unwrap();
        stream.write_all(b"\xac!").unwrap();
        stream.write_all("é".as_bytes()).unwrap();
        assert_eq!(sent(&buffer), "\u{FFFD}€!é");
    }
}
