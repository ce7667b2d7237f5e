//! `cordon serve --mcp`: cordon as an MCP server (rmcp, over stdio). One
//! connection is one [`Session`] in the root the server was started for:
//! its grants and warm engine last until the client goes.
//!
//! The tools run through that session like any command: `run_command`
//! (a shell line or an argv), `read_file` (`cat`), `list_directory`
//! (`ls -la`) and `apply_patch` (`git apply`), each judged by the broker
//! and confined by the sandbox. A question goes to the person: through the
//! client's form (MCP elicitation), which the client shows to its user and
//! a model cannot answer, when the client declares it can; else to the
//! approver the server was started with.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolResult, ContentBlock, ElicitRequestParams, ElicitationAction, ElicitationSchema,
    EnumSchema, ServerCapabilities, ServerConfig,
};
use rmcp::schemars::JsonSchema;
use rmcp::service::{ElicitationMode, RequestContext};
use rmcp::{
    ErrorData, Peer, RoleServer, ServerHandler, ServiceExt, tool, tool_handler, tool_router,
};
use serde::{Deserialize, Serialize};

use super::ServeConfig;
use crate::broker::approver::{Answer, Approver, Question};
use crate::io::{Buffer, Cancel};
use crate::observe::Observer;
use crate::session::{ApproverChoice, Command, RunOutcome, Session, SessionConfig};

/// Each stream's cap when the settings give none: a result is held whole
/// in memory before it is sent.
const MAX_OUTPUT: u64 = 1 << 20;

/// The server of one MCP connection.
#[derive(Clone)]
pub struct Mcp {
    config: Arc<ServeConfig>,
    root: PathBuf,
    /// Made at the first tool call, when the client's capabilities are
    /// known (whether it can show a form).
    session: Arc<OnceLock<Arc<Session>>>,
    /// Calls whose question waits for a person, by its token.
    parked: Arc<std::sync::Mutex<std::collections::HashMap<String, Call>>>,
    tool_router: ToolRouter<Mcp>,
}

/// `run_command`'s arguments.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
pub struct RunArgs {
    /// The token of a call whose question waits for a person (given in
    /// its result): runs that call again, once the person has answered.
    /// Nothing else is given with it.
    pub resume: Option<String>,
    /// A shell line, read and judged command by command.
    pub command: Option<String>,
    /// A program and its arguments (instead of `command`).
    pub argv: Option<Vec<String>>,
    /// Where it runs, inside the root (default: the root).
    pub cwd: Option<String>,
    /// Its wall-clock limit, in milliseconds (only lower than the
    /// settings').
    pub timeout_ms: Option<u64>,
}

/// `read_file`'s and `list_directory`'s argument.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
pub struct PathArgs {
    /// A path inside the root (relative to it, or absolute).
    pub path: String,
}

/// `apply_patch`'s argument.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
pub struct PatchArgs {
    /// A unified diff, as `git diff` writes it, applied in the root.
    pub patch: String,
}

/// What every tool returns.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct RunResult {
    /// The command's exit code, or one of cordon's (126 refused, 127 not
    /// found, 124 timed out, 130 cancelled).
    pub exit_code: u8,
    /// How it ended: exited, refused, not-found, timed-out, trapped,
    /// cancelled, error.
    pub status: String,
    /// What it wrote on stdout (up to the output cap).
    pub stdout: String,
    /// What it wrote on stderr, and cordon's own lines about it.
    pub stderr: String,
    /// Whether output past the cap was dropped.
    pub truncated: bool,
    /// What the sandbox refused it, each with the grant that would allow it.
    pub violations: Vec<String>,
    /// needs-approval: the token its question waits under. A person (not
    /// you) answers it out of band; then call run_command with `resume`.
    pub resume: Option<String>,
}

/// A tool call as it came, kept while its question waits for a person.
#[derive(Debug, Clone)]
enum Call {
    Run(RunArgs),
    Read(String),
    List(String),
    Patch(String),
}

impl Call {
    /// The command the call runs.
    fn command(&self, session: &Session) -> Result<Command, ErrorData> {
        Ok(match self {
            Call::Run(args) => {
                let mut command = match (&args.command, &args.argv) {
                    (Some(line), None) => Command::line(line.clone()),
                    (None, Some(argv)) if !argv.is_empty() => Command::argv(argv.clone()),
                    _ => {
                        return Err(ErrorData::invalid_params(
                            "one of command (a shell line) or argv (a non-empty array)",
                            None,
                        ));
                    }
                };
                command.cwd = args.cwd.as_ref().map(PathBuf::from);
                command.timeout = args.timeout_ms.map(std::time::Duration::from_millis);
                super::within_limits(session, command.timeout, None)
                    .map_err(|failure| ErrorData::invalid_params(failure.message, None))?;
                command
            }
            Call::Read(path) => Command::argv(["cat", "--", path]),
            Call::List(path) => Command::argv(["ls", "-la", "--", path]),
            Call::Patch(patch) => {
                let patch = super::stdin_of(patch.clone()).map_err(internal)?;
                Command::argv(["git", "apply", "--verbose", "-"]).stdin(patch)
            }
        })
    }
}

/// What is said of an MCP session rather than of one call: to the
/// server's log.
struct Logged;

impl Observer for Logged {
    fn note(&self, line: &str) {
        tracing::info!("{}", crate::display::text(line));
    }
}

/// How [`Mcp`] is started: the root its session is in.
impl Mcp {
    /// The server for one connection, its session in `root`.
    pub fn new(config: Arc<ServeConfig>, root: PathBuf) -> Mcp {
        Mcp {
            config,
            root,
            session: Arc::default(),
            parked: Arc::default(),
            tool_router: Self::tool_router(),
        }
    }

    /// The connection's session, made on first use with the approver the
    /// client makes possible.
    fn session(&self, peer: &Peer<RoleServer>) -> Result<Arc<Session>, ErrorData> {
        if let Some(session) = self.session.get() {
            return Ok(session.clone());
        }
        let mut config = SessionConfig::new(&self.root).map_err(internal)?;
        config.approver = if peer
            .supported_elicitation_modes()
            .contains(&ElicitationMode::Form)
        {
            ApproverChoice::Custom(Box::new(FormApprover {
                peer: peer.clone(),
                runtime: tokio::runtime::Handle::current(),
                timeout: self.config.approval_timeout,
            }))
        } else {
            ApproverChoice::Spec {
                spec: self.config.approver.clone(),
                timeout: self.config.approval_timeout,
            }
        };
        config.cache = self.config.cache.clone();
        config.native_helper = self.config.native_helper.clone();
        config.engines = Arc::clone(&self.config.engines);
        // What is said of a command goes with its call's result; what is
        // said of the session, to the server's log.
        config.observer = Arc::new(Logged);
        let session = Arc::new(Session::new(config).map_err(internal)?);
        Ok(self.session.get_or_init(|| session).clone())
    }

    /// Runs `call` in the connection's session, cancelled with the
    /// request; its result, structured and as text.
    async fn run(
        &self,
        call: Call,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let session = self.session(&context.peer)?;
        let command = call.command(&session)?;
        let cancel = Cancel::default();
        let cancelled = cancel.clone();
        let token = context.ct.clone();
        let watcher = tokio::spawn(async move {
            token.cancelled().await;
            cancelled.cancel();
        });
        let (stdout, stderr, notes) = (Buffer::default(), Buffer::default(), Buffer::default());
        let mut command = command
            .cancel(cancel)
            .output(stdout.clone(), stderr.clone())
            .notes(Arc::new(notes.clone()));
        // Never the server's own stdin: that is the client's channel.
        if command.stdin.is_none() {
            command.stdin = Some(super::stdin_of(String::new()).map_err(internal)?);
        }
        // The result is held whole in memory: each stream is capped.
        let cap = session
            .config()
            .settings
            .max_output
            .value
            .unwrap_or(MAX_OUTPUT);
        command.max_output = Some(command.max_output.unwrap_or(cap).min(cap));
        // A thread of its own, not the runtime's blocking pool: calls
        // waiting for a question (the broker asks one at a time) must not
        // starve the pool that carries the client's messages.
        let (sender, ended) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let _ = sender.send(session.run(command));
        });
        let outcome = ended.await.map_err(internal)?;
        watcher.abort();
        if let Some(token) = &outcome.resume {
            let mut parked = self.parked.lock().unwrap_or_else(|e| e.into_inner());
            parked.insert(token.clone(), call);
        }
        let _ = std::io::Write::write_all(&mut stderr.clone(), &notes.bytes());
        Ok(result(&outcome, &stdout, &stderr))
    }
}

impl Mcp {
    /// The call parked under `token`, to run again (`args` holds only the
    /// token).
    fn resumed(&self, token: &str, args: &RunArgs) -> Result<Call, ErrorData> {
        let only_resume = RunArgs {
            resume: args.resume.clone(),
            ..RunArgs::default()
        };
        if *args != only_resume {
            return Err(ErrorData::invalid_params(
                "resume runs again the call parked under it: give nothing else with it",
                None,
            ));
        }
        let mut parked = self.parked.lock().unwrap_or_else(|e| e.into_inner());
        parked.remove(token).ok_or_else(|| {
            ErrorData::invalid_params(format!("resume: no call waits under {token}"), None)
        })
    }
}

#[tool_router]
impl Mcp {
    /// Runs a command in the project: WASI tools in wasmtime, native
    /// programs under the OS sandbox, a line command by command.
    #[tool(
        description = "Run a shell command line (`command`) or a program with its arguments \
                       (`argv`) in the project, sandboxed. Commands that need more than the \
                       sandbox gives are asked of the person, not of you.",
        output_schema = rmcp::handler::server::tool::schema_for_type::<RunResult>(),
        annotations(read_only_hint = false, destructive_hint = true, open_world_hint = true)
    )]
    async fn run_command(
        &self,
        Parameters(args): Parameters<RunArgs>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let call = match &args.resume {
            None => Call::Run(args),
            Some(token) => self.resumed(token, &args)?,
        };
        self.run(call, context).await
    }

    /// Reads a file of the project.
    #[tool(
        description = "Read a file of the project (secrets stay unreadable).",
        output_schema = rmcp::handler::server::tool::schema_for_type::<RunResult>(),
        annotations(read_only_hint = true, destructive_hint = false, open_world_hint = false)
    )]
    async fn read_file(
        &self,
        Parameters(args): Parameters<PathArgs>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        self.run(Call::Read(args.path), context).await
    }

    /// Lists a directory of the project.
    #[tool(
        description = "List a directory of the project (`ls -la`).",
        output_schema = rmcp::handler::server::tool::schema_for_type::<RunResult>(),
        annotations(read_only_hint = true, destructive_hint = false, open_world_hint = false)
    )]
    async fn list_directory(
        &self,
        Parameters(args): Parameters<PathArgs>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        self.run(Call::List(args.path), context).await
    }

    /// Applies a unified diff to the project's files.
    #[tool(
        description = "Apply a unified diff (as `git diff` writes it) to the project's files, \
                       with `git apply`, sandboxed.",
        output_schema = rmcp::handler::server::tool::schema_for_type::<RunResult>(),
        annotations(read_only_hint = false, destructive_hint = true, open_world_hint = false)
    )]
    async fn apply_patch(
        &self,
        Parameters(args): Parameters<PatchArgs>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        self.run(Call::Patch(args.patch), context).await
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Mcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build()).with_instructions(
            "cordon runs your commands in a sandbox confined to the project. What needs more \
             than the sandbox gives is asked of the person, never of you.",
        )
    }
}

/// A tool's result: structured, and as text for a client that shows text.
fn result(outcome: &RunOutcome, stdout: &Buffer, stderr: &Buffer) -> CallToolResult {
    let (out, err) = (stdout.bytes(), stderr.bytes());
    let dropped = |kept: usize, record: &Option<crate::audit::StreamRecord>| {
        record.as_ref().is_some_and(|r| r.bytes > kept as u64)
    };
    let mut stderr_text = String::from_utf8_lossy(&err).into_owned();
    if let Some(error) = &outcome.error {
        stderr_text.push_str(&crate::display::said(error));
    }
    let structured = RunResult {
        exit_code: outcome.exit_code,
        status: outcome.status.as_str().to_string(),
        stdout: String::from_utf8_lossy(&out).into_owned(),
        stderr: stderr_text,
        truncated: dropped(out.len(), &outcome.stdout) || dropped(err.len(), &outcome.stderr),
        violations: outcome
            .violations
            .iter()
            .map(|refusal| {
                format!(
                    "{:?} {}: {}",
                    refusal.violation.denied,
                    refusal.violation.target.as_deref().unwrap_or("?"),
                    refusal.allowed_by
                )
            })
            .collect(),
        resume: outcome.resume.clone(),
    };
    let waiting = match &outcome.resume {
        Some(token) => format!(
            "This needs a person's approval, and cordon has no way to ask them now. They \
             answer it out of band with `cordon approve {token}` (you cannot); then call \
             run_command with resume = \"{token}\".\n"
        ),
        None => String::new(),
    };
    let text = format!(
        "exit {} ({})\n{waiting}{}{}",
        structured.exit_code,
        structured.status,
        structured.stdout,
        if structured.stderr.is_empty() {
            String::new()
        } else {
            format!("--- stderr\n{}", structured.stderr)
        }
    );
    let value = serde_json::to_value(&structured).unwrap_or_default();
    let mut result = CallToolResult::structured(value);
    result.content = vec![ContentBlock::text(text)];
    result.is_error = Some(outcome.exit_code != 0);
    result
}

fn internal(error: impl std::fmt::Display) -> ErrorData {
    ErrorData::internal_error(error.to_string(), None)
}

/// The choices of the client's form, as the answer it gives back.
const FORM_CHOICES: [(&str, Answer); 3] = [
    ("once", Answer::Once),
    ("session", Answer::Session { prefix: None }),
    ("deny", Answer::Deny(String::new())),
];

/// Asks the person through the client's form (MCP elicitation): the
/// client shows it to its user; the model on the other side of the
/// connection never sees it to answer.
struct FormApprover {
    peer: Peer<RoleServer>,
    runtime: tokio::runtime::Handle,
    timeout: std::time::Duration,
}

impl Approver for FormApprover {
    fn name(&self) -> &'static str {
        "mcp-elicitation"
    }

    fn ask(&mut self, question: &Question) -> Answer {
        let r = &question.request;
        // All of it escaped: the command and the reason quote what the
        // agent wrote, which must not draw lines of its own.
        let mut message = format!(
            "cordon asks: run `{}` in {}?",
            crate::display::command(&r.argv),
            crate::display::path(&r.cwd),
        );
        if let Some(escalation) = &r.escalation {
            message.push_str(&format!(
                "\nIt asks for MORE than the sandbox gives: {} (answering session grants \
                 that for the rest of the session)",
                crate::display::text(&escalation.to_string())
            ));
        }
        if !r.env.is_empty() {
            message.push_str(&format!(
                "\nWith the variables: {}",
                crate::display::command(&r.env)
            ));
        }
        message.push_str(&format!(
            "\nWhy it asks: {}",
            crate::display::text(&question.reason)
        ));
        let choices: Vec<String> = FORM_CHOICES.iter().map(|(w, _)| w.to_string()).collect();
        let schema = ElicitationSchema::builder()
            .required_enum_schema(
                "answer",
                EnumSchema::builder(choices)
                    .description(
                        "once: run it this time; session: and this exact command again in \
                         this session; deny: do not run it",
                    )
                    .build(),
            )
            .build();
        let Ok(schema) = schema else {
            return Answer::Deny("cordon could not make the form".into());
        };
        let params = ElicitRequestParams::FormElicitationParams {
            meta: None,
            message,
            requested_schema: schema,
        };
        // Waited for on a thread of its own: the question may come from
        // inside another runtime (a WASI tool's connection), where
        // blocking on this one is not allowed.
        let (peer, runtime, timeout) = (self.peer.clone(), self.runtime.clone(), self.timeout);
        let asked = std::thread::scope(|scope| {
            scope
                .spawn(move || {
                    runtime.block_on(peer.create_elicitation_with_timeout(params, Some(timeout)))
                })
                .join()
        });
        let Ok(asked) = asked else {
            return Answer::Deny("the client's form failed".into());
        };
        let reply = match asked {
            Ok(reply) => reply,
            Err(e) => return Answer::Deny(format!("the client's form failed: {e}")),
        };
        let chosen = reply
            .content
            .as_ref()
            .and_then(|c| c.get("answer")?.as_str().map(str::to_string));
        match (reply.action, chosen) {
            (ElicitationAction::Accept, Some(word)) => match FORM_CHOICES
                .iter()
                .find(|(w, _)| *w == word)
            {
                Some((_, Answer::Deny(_))) => Answer::Deny("denied in the client's form".into()),
                Some((_, answer)) => answer.clone(),
                None => Answer::Deny(format!("the client's form answered {word:?}")),
            },
            (ElicitationAction::Accept, None) => {
                Answer::Deny("the client's form gave no answer".into())
            }
            (ElicitationAction::Decline, _) => Answer::Deny("declined in the client's form".into()),
            (_, _) => Answer::Deny("the client's form was dismissed".into()),
        }
    }
}

/// Serves MCP on stdin and stdout, one session in `root`, until the client
/// goes; then whatever runs is cancelled with its requests.
///
/// # Errors
///
/// The runtime cannot start, or the client does not initialize.
pub fn serve_stdio(config: ServeConfig, root: PathBuf) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let server = Mcp::new(Arc::new(config), root);
        let running = server.serve(rmcp::transport::stdio()).await?;
        running.waiting().await?;
        Ok(())
    })
}

/// Serves MCP over streamable HTTP on `address` (a loopback address), each
/// MCP session a cordon session in `root`. Every request must carry
/// `Authorization: Bearer TOKEN`, TOKEN made here, unguessable, and told
/// to `announce` with the address bound, before the first request.
///
/// # Errors
///
/// The address cannot be bound, or no token can be made.
pub fn serve_http(
    config: ServeConfig,
    root: PathBuf,
    address: std::net::SocketAddr,
    announce: impl FnOnce(std::net::SocketAddr, &str),
) -> anyhow::Result<()> {
    use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
    use rmcp::transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService,
    };

    let token = crate::broker::approver::unguessable_id(&ring::rand::SystemRandom::new())
        .map_err(anyhow::Error::msg)?;
    let expected = format!("Bearer {token}");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(address).await?;
        announce(listener.local_addr()?, &token);
        let config = Arc::new(config);
        let service = StreamableHttpService::new(
            move || Ok(Mcp::new(Arc::clone(&config), root.clone())),
            Arc::new(LocalSessionManager::default()),
            StreamableHttpServerConfig::default(),
        );
        let expected = Arc::new(expected);
        loop {
            let (stream, _) = listener.accept().await?;
            let (service, expected) = (service.clone(), Arc::clone(&expected));
            tokio::spawn(async move {
                let guarded = hyper::service::service_fn(move |request| {
                    let mut service = service.clone();
                    let presented = request
                        .headers()
                        .get(http::header::AUTHORIZATION)
                        .map(|value| value.as_bytes().to_vec())
                        .unwrap_or_default();
                    let authorized = same_secret(&presented, expected.as_bytes());
                    async move {
                        if !authorized {
                            return Ok(unauthorized());
                        }
                        tower_service::Service::call(&mut service, request).await
                    }
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, guarded)
                    .await;
            });
        }
    })
}

/// Whether `presented` is `expected`, compared in time that does not
/// depend on where they differ (the token is the only key).
fn same_secret(presented: &[u8], expected: &[u8]) -> bool {
    presented.len() == expected.len()
        && presented
            .iter()
            .zip(expected)
            .fold(0u8, |differ, (a, b)| differ | (a ^ b))
            == 0
}

/// The answer to a request without the bearer token.
fn unauthorized()
-> http::Response<http_body_util::combinators::BoxBody<bytes::Bytes, std::convert::Infallible>> {
    use http_body_util::BodyExt;
    let body = http_body_util::Full::new(bytes::Bytes::from_static(
        b"cordon: a bearer token is required (printed when the server started)\n",
    ))
    .boxed();
    let mut response = http::Response::new(body);
    *response.status_mut() = http::StatusCode::UNAUTHORIZED;
    response
}
