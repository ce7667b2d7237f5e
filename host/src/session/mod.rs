//! The library's front door: a [`Session`] runs [`Command`]s in one
//! project root under one [`SessionConfig`], and says how each went in a
//! [`RunOutcome`]. For each command it asks the broker (and through it a
//! person, when the policy says so), picks the engine, runs the command in
//! the sandbox, records it in the audit log, and on a failure the sandbox
//! caused may ask to run it once more with the missing grant.
//!
//! What lasts between commands lives here: the broker with the grants made
//! "for the session", the network resolver, and the warm wasmtime engine
//! with every tool it compiled. The command line is one front end of it;
//! `host/examples/embed.rs` is another.

mod config;
mod engines;
mod line;
mod outcome;
mod prepare;
mod warm;

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, Once, OnceLock};
use std::time::{Duration, Instant};

use anyhow::Result;

pub use crate::observe::{Observer, Quiet};
pub use config::{
    ApproverChoice, CacheChoice, Command, CommandLine, EngineChoice, Output, SessionConfig,
};
pub use outcome::{Refusal, RunOutcome, RunStatus};
pub use warm::Engines;

use crate::audit::{Event, RunRecord, StreamRecord};
use crate::broker::{self, Broker, Outcome};
use crate::exit;
use crate::io::{Cancel, Stdio};
use crate::native::env::HostEnvironment;
use crate::net::{self, Allowlist, Decider, NetAccess, Network, Resolver};
use crate::policy::{SandboxMode, SandboxPolicy};
use crate::program_file::ProgramFile;
use crate::project_tools::PinMismatch;
use crate::request::{ApprovalPolicy, Escalation, Request};
use crate::resolve::{self, NotFound, Unresolved};
use crate::shell;
use crate::wasi::{self, EngineMode, WasiHost};

/// Runs commands in one project root, keeping what lasts between them.
pub struct Session {
    config: SessionConfig,
    /// The root, found once (a command cannot move it by retargeting a
    /// symlink it was named through), and the mode: what every command's
    /// policy starts from.
    base: SandboxPolicy,
    /// The host's side of every native command's environment, decided
    /// once (the host's variables and the user's choice do not change).
    host_env: HostEnvironment,
    /// Behind a lock: the network gate asks it while a command runs.
    broker: Arc<Mutex<Broker>>,
    resolver: Resolver,
    /// The secrets git already holds are said at the first command.
    tracked_warned: Once,
}

/// The network gate's decider for one run: the session's broker, telling
/// what it says of a connection to the run's observer.
struct RunDecider {
    broker: Arc<Mutex<Broker>>,
    notes: Arc<dyn Observer>,
}

impl Decider for RunDecider {
    fn decide(
        &self,
        request: &crate::request::Request,
        host: &crate::allowlist::Host,
        port: u16,
        listed: bool,
    ) -> Result<Option<Vec<u16>>, String> {
        let mut broker = self
            .broker
            .lock()
            .map_err(|_| "the broker failed".to_string())?;
        broker.noting(self.notes.clone(), |b| {
            b.decide_connection(request, host, port, listed)
        })
    }

    fn refused(
        &self,
        request: &crate::request::Request,
        host: &crate::allowlist::Host,
        port: u16,
        why: &str,
    ) {
        self.broker.refused(request, host, port, why);
    }
}

/// One command's run: its session, and its deadline, which the commands of
/// a line share.
struct Run<'s> {
    session: &'s Session,
    /// When its first command started.
    first_start: OnceLock<Instant>,
    timeout: Option<Duration>,
    /// Who hears what cordon says of it.
    notes: Arc<dyn Observer>,
}

impl Run<'_> {
    fn note(&self, line: impl std::fmt::Display) {
        self.notes.note(&line.to_string());
    }

    /// Says why `name` did not resolve; the exit code for it.
    fn unresolved(&self, why: Unresolved) -> u8 {
        let code = match why {
            Unresolved::NotFound(_) | Unresolved::Unreadable { .. } => exit::NOT_FOUND,
            Unresolved::Unpinned(PinMismatch::Invalid(_)) => exit::HOST_ERROR,
            Unresolved::Unpinned(_) => exit::NOT_FOUND,
            Unresolved::Shadowing { .. } => exit::DENIED,
        };
        self.note(why);
        code
    }
}

impl Session {
    /// A session under `config`: its rules loaded, its approver and audit
    /// log opened.
    ///
    /// # Errors
    ///
    /// Invalid settings, rules or pins; an approver or audit log that
    /// cannot be opened, or that lies where commands may write.
    pub fn new(mut config: SessionConfig) -> Result<Session> {
        let host_env = prepare::host_environment(&config)?;
        let base = SandboxPolicy::new(&config.root, None, config.settings.sandbox.value)?;
        // Checked again as each command starts, with the directories
        // resolved as the sandbox protects them.
        let private = Some(crate::shape_lock::user_dir_path());
        let own: Vec<PathBuf> = [config.user_config.clone(), config.cache_dir(), private]
            .into_iter()
            .flatten()
            .filter_map(|dir| dir.canonicalize().ok())
            .collect();
        crate::policy::refuse_root_inside_own(base.root(), &own)?;
        if let Some(git_dir) = crate::gitdirs::enclosing(base.root()) {
            return Err(crate::policy::PolicyError::RootInsideProtected {
                path: base.root().to_path_buf(),
                dir: git_dir.to_path_buf(),
                what: "the git directory",
            }
            .into());
        }
        config
            .settings
            .resolve_writable(base.root())
            .map_err(anyhow::Error::msg)?;
        let observer = config.observer.clone();
        let note = |line: String| observer.note(&line);
        if let Some(left_out) = &config.settings.left_out {
            note(left_out.clone());
        }
        prepare::check_helper(&config, &base)?;
        let mut broker = prepare::broker(&mut config, &host_env, &base, &note)?;
        if let Some(glob) = config.allow_secret.first() {
            broker.taint(&format!("a secret was granted: --allow-secret {glob}"));
        }
        Ok(Session {
            resolver: Resolver::pinned(&config.resolve).map_err(anyhow::Error::msg)?,
            config,
            base,
            host_env,
            broker: Arc::new(Mutex::new(broker)),
            tracked_warned: Once::new(),
        })
    }

    /// The configuration the session runs under.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// The root, canonical, as identified when the session opened (each
    /// command is refused if its path leads elsewhere since).
    pub fn root(&self) -> &std::path::Path {
        self.base.root()
    }

    /// Records `event` in the session's audit log.
    pub fn record(&self, event: &Event) {
        self.broker().audit().record(event);
    }

    /// Runs `command` to its end: asked about, run in the sandbox, audited,
    /// maybe retried with a grant. Output streams to the command's
    /// [`Output`] as it comes.
    pub fn run(&self, command: Command) -> RunOutcome {
        let mut outcome = RunOutcome::empty();
        let mut attempts = 0;
        let cancel = command.cancel.clone();
        match self.attempt(command, &mut outcome, &mut attempts) {
            Ok(_) if cancel.as_ref().is_some_and(Cancel::is_cancelled) => {
                outcome.exit_code = exit::CANCELLED;
                outcome.status = RunStatus::Cancelled;
            }
            Ok(code) => {
                outcome.exit_code = code;
                outcome.status = RunStatus::of(code, attempts > 0);
            }
            Err(err) => {
                outcome.exit_code = exit::HOST_ERROR;
                outcome.status = RunStatus::Error;
                outcome.error = Some(format!("{err:#}"));
            }
        }
        outcome.retried = attempts > 1;
        let parked = outcome.decision.as_ref().and_then(|d| d.resume.clone());
        if let (Some(token), RunStatus::Refused) = (parked, &outcome.status) {
            outcome.status = RunStatus::NeedsApproval;
            outcome.resume = Some(token);
        }
        outcome
    }

    /// The commands a person granted for this session.
    pub fn grants(&self) -> Vec<broker::GrantShown> {
        self.broker().grants()
    }

    /// Takes back the grant listed as `id`; whether there was one.
    pub fn revoke(&self, id: u64) -> bool {
        self.broker().revoke(id)
    }

    fn broker(&self) -> MutexGuard<'_, Broker> {
        // A panic while holding it ends the command's thread anyway.
        self.broker.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The session's engine mode.
    fn mode(&self) -> EngineMode {
        match self.config.determinism {
            Some(_) => EngineMode::Deterministic,
            None => EngineMode::Standard,
        }
    }

    /// The session's engine, built on first use.
    fn wasi_host(&self) -> Result<&WasiHost> {
        let engines = &self.config.engines;
        engines.host(self.mode(), self.config.compile_cache())
    }

    /// The tool `resolved` names, compiled and linked once.
    fn program(&self, resolved: &resolve::Resolved, notes: &dyn Observer) -> Result<wasi::Program> {
        let engines = &self.config.engines;
        engines.program(self.mode(), self.config.compile_cache(), resolved, notes)
    }

    /// Secrets git already holds in the root: said once for each set of
    /// them (see [`crate::tracked`]), and recorded in the audit.
    fn warn_of_tracked_secrets(&self, policy: &SandboxPolicy, notes: &dyn Observer) {
        self.tracked_warned.call_once(|| {
            let Some(state) = &self.config.user_config else {
                return;
            };
            let tracked = crate::tracked::secrets(policy.root(), &policy.secrets);
            if crate::tracked::warn_once(state, policy.root(), &tracked) {
                let warning = crate::tracked::warning(&tracked);
                notes.note(&warning);
                self.record(&Event::warning(&warning));
            }
        });
    }

    /// The network one command gets: the settings', widened by an approved
    /// escalation.
    fn network_access(
        &self,
        chosen: &Network,
        escalation: Option<&Escalation>,
        notes: &Arc<dyn Observer>,
    ) -> NetAccess {
        let gated = |allow: Allowlist| {
            let decider: Arc<dyn Decider> = Arc::new(RunDecider {
                broker: self.broker.clone(),
                notes: notes.clone(),
            });
            NetAccess::Gated(net::Grants {
                allow,
                resolver: self.resolver.clone(),
                decider,
            })
        };
        let parts = escalation.map(Escalation::parts).unwrap_or_default();
        if *chosen == Network::On || parts.contains(&Escalation::Network) {
            return NetAccess::On;
        }
        let mut allow = match chosen {
            Network::Allow(list) => list.clone(),
            _ => Allowlist::default(),
        };
        let mut hosts = parts.iter().filter_map(|part| match part {
            Escalation::Host(host, port) => Some((host.clone(), *port)),
            _ => None,
        });
        match (chosen, hosts.next()) {
            (Network::Off, None) => NetAccess::Off,
            (_, first) => {
                for (host, port) in first.into_iter().chain(hosts) {
                    allow.add(host, port);
                }
                gated(allow)
            }
        }
    }

    /// Resolves `name` by the engine choice: a WASI tool, else a native
    /// program.
    fn locate(&self, policy: &SandboxPolicy, name: &str) -> Result<Target, Unresolved> {
        let engine = self.config.engine;
        let host_path = self.config.host_var("PATH");
        let on_path = || crate::native::find_program(name, host_path, &policy.cwd_abs());
        let mut not_found = match engine {
            EngineChoice::Native => NotFound::new(name),
            _ => match resolve::resolve(name, &self.config.tools, policy.root(), on_path) {
                Ok(resolved) => return Ok(Target::Wasi(resolved)),
                Err(Unresolved::NotFound(not_found)) if engine != EngineChoice::Wasi => not_found,
                Err(unresolved) => return Err(unresolved),
            },
        };
        on_path().map(Target::Native).ok_or_else(|| {
            not_found.looked.push("PATH".to_string());
            not_found.into()
        })
    }

    /// Whether `argv` is a shell line cordon reads and routes stage by
    /// stage: unless the native engine or an escalation was asked for
    /// (then it is one native command, still judged command by command).
    fn routes_line(&self, argv: &[String], escalation: Option<&Escalation>) -> bool {
        shell::script_of(argv).is_some()
            && escalation.is_none()
            && self.config.engine != EngineChoice::Native
    }

    /// The run behind [`Session::run`]: cordon's exit code, `outcome`
    /// filled as far as it got, `attempts` counting the executions.
    fn attempt(
        &self,
        command: Command,
        outcome: &mut RunOutcome,
        attempts: &mut u32,
    ) -> Result<u8> {
        let config = &self.config;
        let notes = command.notes.clone();
        let notes = notes.unwrap_or_else(|| config.observer.clone());
        let mut policy = prepare::sandbox_policy(
            config,
            &self.host_env,
            &self.base,
            command.cwd.as_deref(),
            &command.env,
            &|line| notes.note(&line.to_string()),
        )?;
        self.warn_of_tracked_secrets(&policy, &*notes);
        if self.broker().aborted() {
            notes.note("the approver aborted this session; nothing more runs in it");
            return Ok(exit::DENIED);
        }
        let run = Run {
            session: self,
            first_start: OnceLock::new(),
            timeout: command.timeout.or(config.settings.timeout.value),
            notes,
        };
        policy.limits.timeout = run.timeout;
        if command.max_output.is_some() {
            policy.limits.max_output_bytes = command.max_output;
        }
        let mut argv = match command.what {
            CommandLine::Line(line) => vec![line_shell(config), "-c".to_string(), line],
            CommandLine::Argv(argv) if argv.is_empty() => {
                anyhow::bail!("an empty command: name a program to run")
            }
            CommandLine::Argv(argv) => argv,
        };
        // No exec can carry a NUL, and a WASI tool reads each word up to
        // its first: a word holding one would be judged as one thing and
        // run as another (`--recursive\0x` is no flag to the broker).
        if argv.iter().any(|word| word.contains('\0')) {
            anyhow::bail!("a NUL byte in the command: no program can be given one");
        }
        outcome.argv = argv.clone();
        // A shell line is read here, once: the broker judges what was
        // read, and that is what runs.
        let shell_context = prepare::shell_context(config, &self.host_env, &policy);
        let mut line = match shell_context.read_line(&argv, &policy.cwd_abs()) {
            Some(Ok(script)) => Some(Arc::new(script)),
            Some(Err(err)) => {
                run.note(err);
                return Ok(exit::HOST_ERROR);
            }
            None => None,
        };
        let output = SharedOutput::new(command.output);
        // A grant is asked for, and honoured, by what it names really.
        let asked: Vec<Escalation> = command
            .escalate
            .into_iter()
            .map(|grant| match grant {
                Escalation::Writable(dir) => Escalation::writable(&dir),
                grant => Ok(grant),
            })
            .collect::<Result<_, String>>()
            .map_err(anyhow::Error::msg)?;
        let mut escalation = Escalation::combine(asked);
        // The code of a run that failed in the sandbox, once a retry is asked.
        let mut failed = None;
        loop {
            let mut target = match self.locate(&policy, &argv[0]) {
                Ok(target) => target,
                // A line cordon runs itself needs no shell; one it cannot is
                // refused when it gets there.
                Err(_) if shell::script_of(&argv).is_some() => {
                    Target::Native(PathBuf::from(&argv[0]))
                }
                Err(why) => return Ok(run.unresolved(why)),
            };
            let native = matches!(target, Target::Native(_));
            if native && policy.mode == SandboxMode::FullAccess {
                escalation = Some(Escalation::Unsandboxed);
            }
            // A line cordon reads and routes stage by stage is recorded as
            // the shell's, in the request as in the run.
            let engine = match target {
                Target::Wasi(_) => "wasi",
                Target::Native(_) if self.routes_line(&argv, escalation.as_ref()) => "shell",
                Target::Native(_) => "native",
            };
            let asked = escalation
                .as_ref()
                .map(Escalation::parts)
                .unwrap_or_default();
            let native_only = asked.iter().find(|part| {
                matches!(
                    part,
                    Escalation::Writable(_) | Escalation::GitCommit | Escalation::Unsandboxed
                )
            });
            if let (Some(part), "wasi") = (native_only, engine) {
                run.note(format!(
                    "{}: --escalate {part} applies to native commands; a WASI tool only ever \
                     sees the root",
                    argv[0],
                ));
                return Ok(exit::DENIED);
            }
            // A grant the sandbox would quietly not honour is refused before
            // anyone is asked for it.
            if let Some(why) = prepare::unhonoured(config, &policy, asked) {
                run.note(why);
                return Ok(failed.unwrap_or(exit::DENIED));
            }
            // A tainted session shares the host's network only with a
            // person's approval.
            if escalation.is_none()
                && config.settings.network.value == Network::On
                && self.broker().tainted()
            {
                escalation = Some(Escalation::Network);
            }
            let request = Request {
                escalation: escalation.clone(),
                justification: command.justification.clone(),
                program_sha256: match &target {
                    Target::Wasi(resolved) => resolved.file.as_ref().map(ProgramFile::sha256_hex),
                    Target::Native(_) => None,
                },
                ..policy.request(&argv, engine)
            };
            // One hold of the broker: another command of the session cannot
            // slip its shell context or its decision in between.
            let mut broker = self.broker();
            broker.set_shell(shell_context.clone());
            let decided = broker.noting(run.notes.clone(), |b| b.decide(request, line.clone()));
            outcome.argv = argv.clone();
            outcome.engine = Some(engine);
            outcome.decision = broker.last_decision().cloned();
            drop(broker);
            let approved = match decided {
                Outcome::Run(approved) => approved,
                Outcome::Refused(why) => {
                    run.note(why);
                    // A refused retry leaves the first run's failure standing.
                    return Ok(failed.unwrap_or(exit::DENIED));
                }
                Outcome::Aborted => {
                    run.note(format!(
                        "{}: aborted by the approver",
                        crate::display::command_in_line(&argv)
                    ));
                    return Ok(exit::DENIED);
                }
            };
            if approved.request.argv != argv {
                // An edited command is a different program, maybe another
                // engine.
                argv = approved.request.argv;
                line = approved.line;
                target = match self.locate(&policy, &argv[0]) {
                    Ok(target) => target,
                    Err(why) => return Ok(run.unresolved(why)),
                };
            }
            policy.network = self.network_access(
                &config.settings.network.value,
                escalation.as_ref(),
                &run.notes,
            );
            let started = Instant::now();
            // Cancelled while the person was asked: nothing starts.
            if command.cancel.as_ref().is_some_and(Cancel::is_cancelled) {
                return Ok(exit::CANCELLED);
            }
            let notes = run.notes.clone();
            let mut stdio = output.stdio(&command.stdin, policy.limits.max_output_bytes, notes)?;
            stdio.cancel = command.cancel.clone();
            if self.broker().audit().enabled() || config.output_digests {
                stdio.stdout.keep_digest();
                stdio.stderr.keep_digest();
            }
            let (stdout, stderr) = (stdio.stdout.clone(), stdio.stderr.clone());
            // A line is read and routed stage by stage unless the native
            // engine or an escalation was asked for: then it is one native
            // command (still judged command by command).
            let routed = line
                .as_deref()
                .zip(shell::script_of(&argv))
                .filter(|_| self.routes_line(&argv, escalation.as_ref()));
            *attempts += 1;
            let (engine, ran) = match (&target, routed) {
                (Target::Native(shell), Some((script, text))) => {
                    ("shell", run.script(&policy, shell, (script, text), stdio)?)
                }
                (Target::Wasi(resolved), _) => ("wasi", run.wasi(&policy, resolved, &argv, stdio)?),
                (Target::Native(program), _) => (
                    "native",
                    run.native(&policy, program, &argv, escalation.as_ref(), stdio)?,
                ),
            };
            // Every native command of the run starts with the same
            // environment.
            let env_dropped = if engine == "wasi" {
                &[][..]
            } else {
                self.host_env.dropped()
            };
            let name = crate::display::command_in_line(&argv);
            if !ran.layers.is_empty() {
                let detail = format!("{name}: layers: {}", ran.layers.join(", "));
                run.notes.detail(&detail);
            }
            if !env_dropped.is_empty() {
                run.notes.detail(&format!(
                    "{name}: host variables left out (they look like credentials, or \
                     --env-drop; --env-pass NAME passes one): {}",
                    env_dropped.join(" ")
                ));
            }
            let record = RunRecord {
                argv: &argv,
                engine,
                sandbox: if escalation == Some(Escalation::Unsandboxed) {
                    "none"
                } else {
                    policy.mode.as_str()
                },
                exit_code: ran.code.into(),
                duration_ms: started.elapsed().as_millis(),
                stdout: stdout
                    .digest()
                    .map(|(bytes, sha256)| StreamRecord { bytes, sha256 }),
                stderr: stderr
                    .digest()
                    .map(|(bytes, sha256)| StreamRecord { bytes, sha256 }),
                layers: &ran.layers,
                env_dropped,
            };
            *outcome = RunOutcome {
                argv: argv.clone(),
                engine: Some(engine),
                violations: ran
                    .violations
                    .iter()
                    .map(|violation| Refusal::of(violation, &policy))
                    .collect(),
                violations_not_kept: ran.violations_more,
                layers: ran.layers.clone(),
                duration: started.elapsed(),
                stdout: record.stdout.clone(),
                stderr: record.stderr.clone(),
                env_dropped: env_dropped.to_vec(),
                ..std::mem::replace(outcome, RunOutcome::empty())
            };
            let mut broker = self.broker();
            broker.audit().record(&Event::run(&record));
            for violation in &ran.violations {
                broker.audit().record(&Event::violation(violation));
            }
            if ran.violations_more > 0 {
                broker
                    .audit()
                    .record(&Event::violations_not_kept(ran.violations_more));
            }
            if broker.aborted() {
                run.note(format!(
                    "{}: aborted by the approver",
                    crate::display::command_in_line(&argv)
                ));
                return Ok(exit::DENIED);
            }
            // on-failure: a failure the sandbox caused may be retried once,
            // with the grant that was missing (a refused connection first),
            // if a person says so.
            let refused_hosts = broker.take_refused_hosts();
            let retry = (broker.policy() == ApprovalPolicy::OnFailure
                && ran.code != 0
                && failed.is_none()
                && escalation.is_none())
            .then(|| broker::missing_grant(&ran.violations, refused_hosts, &policy))
            .flatten();
            drop(broker);
            match retry {
                Some(grant) => {
                    run.note(format!(
                        "{}: failed in the sandbox; asking to retry with {grant}",
                        argv[0]
                    ));
                    escalation = Some(grant);
                    failed = Some(ran.code);
                }
                None => return Ok(ran.code),
            }
        }
    }
}

/// What a command name resolved to.
enum Target {
    Wasi(resolve::Resolved),
    Native(PathBuf),
}

/// The shell a line is written for: bash where there is one (for
/// `set -o pipefail`), else POSIX sh.
fn line_shell(config: &SessionConfig) -> String {
    let path = config.host_var("PATH");
    let bash = crate::native::find_program("bash", path, std::path::Path::new("/"));
    if bash.is_some() { "bash" } else { "sh" }.to_string()
}

/// A command's output destination, which every execution of it (a retry
/// too) writes to through a fresh cap.
enum SharedOutput {
    Inherit,
    To {
        stdout: Arc<Mutex<Box<dyn Write + Send>>>,
        stderr: Arc<Mutex<Box<dyn Write + Send>>>,
    },
}

impl SharedOutput {
    fn new(output: Output) -> SharedOutput {
        match output {
            Output::Inherit => SharedOutput::Inherit,
            Output::To { stdout, stderr } => SharedOutput::To {
                stdout: Arc::new(Mutex::new(stdout)),
                stderr: Arc::new(Mutex::new(stderr)),
            },
        }
    }

    /// The streams of one execution, capped at `limit` bytes each.
    fn stdio(
        &self,
        stdin: &Option<File>,
        limit: Option<u64>,
        notes: Arc<dyn Observer>,
    ) -> Result<Stdio> {
        let mut stdio = match self {
            SharedOutput::Inherit => Stdio::inherit(limit),
            SharedOutput::To { stdout, stderr } => Stdio::to_writers(
                Box::new(Shared(stdout.clone())),
                Box::new(Shared(stderr.clone())),
                limit,
            ),
        };
        stdio.stdin = stdin.as_ref().map(File::try_clone).transpose()?;
        stdio.notes = notes;
        Ok(stdio)
    }
}

/// A writer shared by the executions of one command.
struct Shared(Arc<Mutex<Box<dyn Write + Send>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).flush()
    }
}
