//! The `cordon` command line. Parsing and reporting only: every decision
//! lives in the library.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::builder::PossibleValue;
use clap::{Parser, Subcommand};

use crate::broker::approver::{self, ApproverSpec};
use crate::broker::{parked, project};
use crate::display;
use crate::exit;
use crate::native;
use crate::net::Network;
use crate::observe::Busy;
use crate::policy::{Determinism, SandboxMode};
use crate::request::{ApprovalPolicy, Escalation, GrantKind};
use crate::scenario;
use crate::session::{
    self, ApproverChoice, CacheChoice, EngineChoice, Observer, RunOutcome, Session, SessionConfig,
};
use crate::settings::{self, Settings, Sourced};
use crate::wasi::{CompileCache, WasiHost};

mod report;
mod tools;

/// Runs the commands coding agents propose, inside a sandbox.
#[derive(Parser, Debug)]
#[command(name = "cordon", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a command: a WASI tool confined to the project root, or a native
    /// program under the OS sandbox.
    Run(Box<RunArgs>),
    /// Show the engine, the compile cache, the sandbox layers available,
    /// and the settings a run in the project would go by, with where each
    /// came from.
    Doctor {
        /// The project root [default: .].
        #[arg(long, value_name = "DIR", default_value = ".")]
        root: PathBuf,
        #[command(flatten)]
        cache: CacheArgs,
    },
    /// List the built-in tools with the crate and version each comes from,
    /// and the project's own tools with their digests; `tools add` pins one.
    Tools(tools::ToolsArgs),
    /// Compile the built-in tools for this machine ahead of time (for
    /// normal and --deterministic runs), into the cache: images and CI do
    /// it once, and an agent's first command does not wait seconds for it.
    Warm(CacheArgs),
    /// Replay scenario files (TOML) of agent actions and check what came of
    /// them; see docs/SCENARIOS.md. Exit 0 only if all passed.
    Test {
        /// Scenario files, or directories of them [default: scenarios].
        #[arg(value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Write each scenario's golden transcript (NAME.golden.json);
        /// without one, a scenario fails.
        #[arg(long)]
        bless: bool,
        /// Print the results as JSON.
        #[arg(long)]
        json: bool,
        /// Let scenarios run commands without a sandbox: full-access, and
        /// the unsandboxed and writable=DIR escalations (by default a
        /// scenario can only tighten; these are refused, however it answers).
        #[arg(long)]
        allow_unsandboxed: bool,
        /// Let scenarios run native commands (allow_native, deterministic = false).
        #[arg(long)]
        allow_native: bool,
        /// Let scenarios reach the network beyond their own loopback
        /// servers: network = "on", other hosts, network escalations.
        #[arg(long)]
        allow_network: bool,
    },
    /// Serve agents: sessions and commands over JSON-RPC, one message per
    /// line (docs/PROTOCOL.md). Questions go to --approver, never to the
    /// agent.
    Serve(ServeArgs),
    /// Answer the questions a server keeps for a person (its agent was
    /// told "needs approval" and a token): list them, or answer one.
    Approve {
        /// The question's token; without it, those waiting are listed.
        token: Option<String>,
        /// Who answers: tty, jsonl=FD|SOCKET, script=FILE, deny.
        #[arg(long, value_name = "WHO", default_value = "tty")]
        approver: ApproverSpec,
        /// Seconds the question may wait for its answer; then it is denied.
        #[arg(long, value_name = "SECS", default_value = "300", value_parser = parse_seconds)]
        approval_timeout: Duration,
    },
    /// Trust a project's .cordon/rules.toml and .cordon/config.toml as they
    /// read now, so its allow rules and settings apply (they only tighten
    /// otherwise). Stored in your config dir.
    Trust {
        /// The project root [default: .].
        #[arg(long, value_name = "DIR", default_value = ".")]
        root: PathBuf,
    },
}

#[derive(clap::Args, Debug)]
struct ServeArgs {
    /// JSON-RPC on stdin and stdout.
    #[arg(long, conflicts_with_all = ["socket", "mcp"], required_unless_present_any = ["socket", "mcp"])]
    stdio: bool,
    /// MCP on stdin and stdout: one session in --root; questions go to the
    /// client's form (elicitation) when it has one, else to --approver.
    #[arg(long, conflicts_with = "socket")]
    mcp: bool,
    /// The project root of the MCP session [default: .].
    #[arg(long, value_name = "DIR", default_value = ".", requires = "mcp")]
    root: PathBuf,
    /// MCP over streamable HTTP on this loopback address (127.0.0.1:PORT,
    /// 0 for any port), with a bearer token printed at start.
    #[arg(long, value_name = "ADDRESS", requires = "mcp")]
    http: Option<std::net::SocketAddr>,
    /// JSON-RPC on a unix socket made at PATH (mode 0600), a connection
    /// per client; a client's sessions end with its connection.
    #[arg(long, value_name = "PATH")]
    socket: Option<PathBuf>,
    /// JSON-RPC sessions may be rooted in DIR or below it, and nowhere
    /// else (repeatable) [default: the current directory].
    #[arg(long, value_name = "DIR", conflicts_with = "mcp")]
    allow_root: Vec<PathBuf>,
    /// Who answers: tty, jsonl=FD|SOCKET, script=FILE, deny, pending (the
    /// question waits for `cordon approve`) [default: tty when there is
    /// one, else pending].
    #[arg(long, value_name = "WHO")]
    approver: Option<ApproverSpec>,
    /// Seconds a question may wait for its answer (then it is denied), and
    /// a parked question's answer holds.
    #[arg(long, value_name = "SECS", default_value = "300", value_parser = parse_seconds)]
    approval_timeout: Duration,
    /// The log's level on stderr: error, warn, info (a line per request),
    /// debug.
    #[arg(long, value_name = "LEVEL", default_value = "info")]
    log_level: tracing::Level,
    #[command(flatten)]
    cache: CacheArgs,
}

#[derive(clap::Args, Debug)]
struct CacheArgs {
    /// Directory for compiled code [default: $XDG_CACHE_HOME/cordon].
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Compile every time; neither read nor write the cache.
    #[arg(long)]
    no_cache: bool,
}

#[derive(clap::Args, Debug)]
struct RunArgs {
    /// Project root: the only directory the tool can see [default: .].
    #[arg(long, value_name = "DIR", default_value = ".")]
    root: PathBuf,
    /// Working directory, inside the root (relative to it, or absolute).
    #[arg(long, value_name = "SUBDIR")]
    cwd: Option<PathBuf>,
    #[command(flatten)]
    flags: SettingFlags,
    /// Set a variable in the tool's environment (repeatable).
    #[arg(long = "env", value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// Who answers: tty, jsonl=FD|SOCKET, script=FILE, deny [default: tty
    /// when interactive, else deny].
    #[arg(long, value_name = "WHO")]
    approver: Option<ApproverSpec>,
    /// Seconds a question may wait for its answer; then it is denied.
    #[arg(long, value_name = "SECS", default_value = "300", value_parser = parse_seconds)]
    approval_timeout: Duration,
    /// Append one JSON line per request, decision, run and violation.
    #[arg(long, value_name = "FILE")]
    audit: Option<PathBuf>,
    /// Ask for more than the sandbox gives (native commands): network,
    /// writable=DIR, git-commit (keep what a commit writes in the git
    /// directories), unsandboxed. Needs a person's approval; repeated,
    /// the grants are asked for together.
    #[arg(long, value_name = "GRANT", value_parser = Escalation::from_str)]
    escalate: Vec<Escalation>,
    /// Refuse escalations of these kinds without asking, whatever the
    /// approver would answer: unsandboxed, writable, git-commit, network
    /// (which also refuses, unasked, connections to hosts not on --network
    /// allow=; names --resolve pins to loopback addresses may still be
    /// asked about).
    #[arg(long = "no-grant", value_name = "KIND", value_delimiter = ',')]
    no_grant: Vec<GrantKind>,
    /// Why the escalation is needed, shown to the person asked.
    #[arg(long, value_name = "TEXT", requires = "escalate")]
    justification: Option<String>,
    /// Prefix rules deciding what runs and what is refused (repeatable).
    #[arg(long = "rules", value_name = "FILE")]
    rules: Vec<PathBuf>,
    /// Run NAME from this .wasm file (repeatable).
    #[arg(long = "tool", value_name = "NAME=PATH", value_parser = parse_tool)]
    tools: Vec<(String, PathBuf)>,
    /// Reproducible run: fixed clocks, seeded randomness, fuel instead of
    /// wall time, NaNs canonicalized, the root seen at /project.
    #[arg(long)]
    deterministic: bool,
    /// Wall clock of a deterministic run [default: 2000-01-01T00:00:00Z].
    #[arg(long, value_name = "RFC3339", requires = "deterministic", value_parser = parse_rfc3339)]
    clock: Option<Duration>,
    /// Seed of a deterministic run's random sources [default: 0].
    #[arg(long, value_name = "N", requires = "deterministic")]
    seed: Option<u64>,
    /// Fuel of a deterministic run, roughly wasm instructions [default: 10^10].
    #[arg(long, value_name = "N", requires = "deterministic")]
    fuel: Option<u64>,
    /// Which engine runs the command: a WASI tool if one has that name, else
    /// a native program (auto); or only one of them.
    #[arg(long, value_enum, default_value_t = Engine::Auto)]
    engine: Engine,
    /// Resolve NAME to ADDRESS instead of asking DNS (repeatable). Grants
    /// nothing: the name must still be allowed.
    #[arg(long = "resolve", value_name = "NAME=ADDRESS")]
    resolve: Vec<String>,
    /// Readable after all, though it looks like a secret (repeatable).
    #[arg(long = "allow-secret", value_name = "GLOB")]
    allow_secret: Vec<String>,
    /// Say more: the sandbox layers a native command ran under and the
    /// host variables left out of its environment (names only).
    #[arg(long, short = 'v')]
    verbose: bool,
    /// When the run ends, write one JSON object saying how it went (the
    /// decision and who made it, exit code, status, refusals with the
    /// grant that would allow each, layers, duration, output sizes) on the
    /// descriptor --json-fd names, never on the command's output.
    #[arg(long)]
    json: bool,
    /// The descriptor for --json (which it implies), opened by the caller
    /// (3>report.json) [default: 3].
    #[arg(long, value_name = "N")]
    json_fd: Option<i32>,
    /// Native commands: do not use namespaces, even where the kernel allows
    /// them (Landlock and seccomp alone; weaker, see docs/SANDBOX.md).
    #[arg(long)]
    no_namespaces: bool,
    /// Let a deterministic run start native commands, which are not
    /// deterministic.
    #[arg(long, requires = "deterministic")]
    allow_native: bool,
    #[command(flatten)]
    cache: CacheArgs,
    /// A shell command line to run, checked command by command (the same
    /// as `-- sh -c SCRIPT`).
    #[arg(short = 'c', value_name = "SCRIPT", conflicts_with = "command")]
    script: Option<String>,
    /// The tool and its arguments.
    #[arg(
        required_unless_present = "script",
        trailing_var_arg = true,
        value_name = "TOOL [ARGS]..."
    )]
    command: Vec<String>,
}

/// The flags that set what a run's settings say (see [`Settings`]): each
/// given wins over the settings files, or adds to their lists (see
/// [`settings_for`]).
#[derive(clap::Args, Debug)]
struct SettingFlags {
    /// What the tool may change [default: workspace-write, or as your
    /// settings say].
    #[arg(long, value_enum)]
    sandbox: Option<SandboxMode>,
    /// Wall-clock limit in seconds (fractions allowed).
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    timeout: Option<Duration>,
    /// Memory limit in MiB: each WASI tool's (default 512), and, when
    /// given, a native command's whole tree.
    #[arg(long, value_name = "MIB",
          value_parser = clap::value_parser!(u64).range(settings::MEMORY_MIB))]
    memory: Option<u64>,
    /// Most processes a native command's tree may have at once [default:
    /// 4096].
    #[arg(long, value_name = "N",
          value_parser = clap::value_parser!(u64).range(settings::PROCESSES))]
    processes: Option<u64>,
    /// Cap on each of stdout and stderr; the excess is dropped.
    #[arg(long, value_name = "BYTES")]
    max_output: Option<u64>,
    /// When a person is asked [default: on-request, or as your settings
    /// say].
    #[arg(long, value_enum)]
    approval: Option<ApprovalPolicy>,
    /// Network: off, on (the host's, shared) or allow=HOST[:PORT],... (only
    /// those hosts; `*.NAME` for subdomains; others are asked about)
    /// [default: off, or as your settings say].
    #[arg(long, value_name = "off|on|allow=HOSTS")]
    network: Option<Network>,
    /// Also writable for native commands, in any sandbox mode (repeatable).
    #[arg(long = "writable", value_name = "DIR")]
    writable: Vec<PathBuf>,
    /// Also unreadable for native commands: a name (any depth) or a path
    /// relative to the root, as a glob (repeatable).
    #[arg(long = "secret", value_name = "GLOB")]
    secret: Vec<String>,
    /// Pass this host variable to a native command even if it looks like a
    /// credential (repeatable).
    #[arg(long = "env-pass", value_name = "NAME")]
    env_pass: Vec<String>,
    /// Leave these host variables out of a native command's environment
    /// too (a glob, repeatable; wins over --env-pass).
    #[arg(long = "env-drop", value_name = "GLOB")]
    env_drop: Vec<String>,
}

/// Which engine may run a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Engine {
    Auto,
    Wasi,
    Native,
}

/// A library enum as a flag's values, each with its help.
macro_rules! flag_values {
    ($($ty:ty),*) => {$(
        impl clap::ValueEnum for $ty {
            fn value_variants<'a>() -> &'a [Self] {
                <$ty>::ALL
            }

            fn to_possible_value(&self) -> Option<PossibleValue> {
                Some(PossibleValue::new(self.as_str()).help(self.help()))
            }
        }
    )*};
}

flag_values!(SandboxMode, ApprovalPolicy);

fn parse_seconds(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .parse()
        .map_err(|_| format!("not a number of seconds: {text}"))?;
    settings::seconds(secs)
}

fn parse_rfc3339(text: &str) -> Result<Duration, String> {
    humantime::parse_rfc3339(text)
        .map_err(|e| format!("{text}: {e}"))?
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| format!("{text}: before 1970"))
}

fn parse_tool(text: &str) -> Result<(String, PathBuf), String> {
    match text.split_once('=') {
        Some((name, path)) if !name.is_empty() && !path.is_empty() => {
            Ok((name.to_string(), PathBuf::from(path)))
        }
        _ => Err(format!("expected NAME=PATH.wasm, got {text}")),
    }
}

use crate::display::say;

/// clap's error as one line: the problem with what it lists (the missing
/// arguments, the allowed values, a similar flag), without the usage.
fn usage_error(rendered: &str) -> String {
    let parts: Vec<&str> = rendered
        .lines()
        .map(str::trim)
        .take_while(|line| !line.starts_with("Usage:") && !line.starts_with("For more"))
        .filter(|line| !line.is_empty())
        .collect();
    let mut line = String::new();
    for part in parts {
        if !line.is_empty() {
            line.push_str(if line.ends_with(':') { " " } else { "; " });
        }
        line.push_str(part);
    }
    format!("{}; see --help", line.trim_start_matches("error: "))
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    native::become_helper_if_asked();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) if !err.use_stderr() => {
            let _ = err.print();
            return ExitCode::SUCCESS;
        }
        Err(err) => {
            say(usage_error(&err.render().to_string()));
            return ExitCode::from(exit::HOST_ERROR);
        }
    };
    if matches!(cli.command, Command::Doctor { .. } | Command::Tools(_)) {
        // What they print may go to `head`: end quietly, as a filter does.
        #[cfg(unix)]
        // SAFETY: restores the default action before anything is printed.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    let result = match cli.command {
        Command::Run(args) => run_reported(*args),
        Command::Doctor { root, cache } => doctor(&root, &cache),
        Command::Tools(args) => tools::main(args),
        Command::Warm(args) => warm(&args),
        Command::Trust { root } => trust(&root),
        Command::Approve {
            token,
            approver,
            approval_timeout,
        } => approve(token, &approver, approval_timeout),
        Command::Serve(args) => serve(args),
        Command::Test {
            paths,
            bless,
            json,
            allow_unsandboxed,
            allow_native,
            allow_network,
        } => test(
            paths,
            bless,
            json,
            scenario::Allowed {
                unsandboxed: allow_unsandboxed,
                native: allow_native,
                network: allow_network,
            },
        ),
    };
    result.unwrap_or_else(|err| {
        say(format!("{err:#}"));
        ExitCode::from(exit::HOST_ERROR)
    })
}

/// `cordon warm`: the built-in tools compiled into the cache, for both
/// engine modes.
fn warm(args: &CacheArgs) -> Result<ExitCode> {
    let Some(cache) = cache_of(args) else {
        anyhow::bail!("warm: --no-cache leaves nothing to keep the compiled tools in");
    };
    let dir = cache.dir().to_path_buf();
    WasiHost::compile_built_ins(&dir, &Terminal { verbose: false })?;
    say(format!(
        "the built-in tools are compiled for this machine (normal and --deterministic runs), \
         in {}",
        dir.display()
    ));
    Ok(ExitCode::SUCCESS)
}

fn cache_of(args: &CacheArgs) -> Option<CompileCache> {
    if args.no_cache {
        return None;
    }
    args.cache_dir
        .clone()
        .map(CompileCache::new)
        .or_else(|| CompileCache::default_dir().map(CompileCache::new))
}

/// `cordon serve`.
fn serve(args: ServeArgs) -> Result<ExitCode> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(args.log_level)
        .with_ansi(false)
        .init();
    // MCP has one root, the person's --root.
    let allowed = match (args.mcp, args.allow_root.is_empty()) {
        (true, _) => Vec::new(),
        (false, true) => vec![default_allowed_root()?],
        (false, false) => args.allow_root,
    };
    let allowed_roots = allowed
        .iter()
        .map(|dir| {
            dir.canonicalize()
                .with_context(|| format!("--allow-root {}", dir.display()))
        })
        .collect::<Result<_>>()?;
    let config = crate::serve::ServeConfig {
        allowed_roots,
        approver: args.approver.unwrap_or_else(approver::server_default_spec),
        approval_timeout: args.approval_timeout,
        cache: CacheChoice {
            dir: args.cache.cache_dir,
            off: args.cache.no_cache,
        },
        native_helper: None,
        engines: Arc::default(),
        live: Arc::default(),
    };
    #[cfg(unix)]
    crate::serve::drain_on_sigterm(Arc::clone(&config.live)).context("SIGTERM")?;
    match args.socket {
        _ if args.mcp => match args.http {
            Some(address) if !address.ip().is_loopback() => {
                anyhow::bail!("--http {address}: a loopback address only (127.0.0.1:PORT)")
            }
            Some(address) => {
                crate::serve::mcp::serve_http(config, args.root, address, |at, token| {
                    say(format!("MCP on http://{at}/mcp, bearer token {token}"));
                })?
            }
            None => crate::serve::mcp::serve_stdio(config, args.root)?,
        },
        #[cfg(unix)]
        Some(path) => crate::serve::serve_socket(&path, &config)
            .with_context(|| format!("--socket {}", path.display()))?,
        #[cfg(not(unix))]
        Some(path) => anyhow::bail!("--socket {}: unix sockets only", path.display()),
        None => crate::serve::serve(std::io::stdin().lock(), std::io::stdout(), &config)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// `cordon serve`'s default `--allow-root`: the directory it started in,
/// unless that is the home directory or above it (every dotfile would be
/// a project's file).
fn default_allowed_root() -> Result<PathBuf> {
    let here = std::env::current_dir()?.canonicalize()?;
    let home = home().and_then(|home| home.canonicalize().ok());
    if here.parent().is_none() || home.is_some_and(|home| home.starts_with(&here)) {
        anyhow::bail!(
            "serving from {}, which holds your home directory: start in a project, or name \
             where sessions may be rooted with --allow-root DIR",
            here.display()
        );
    }
    Ok(here)
}

/// `cordon run`, with its `--json` report.
fn run_reported(args: RunArgs) -> Result<ExitCode> {
    if args.approver == Some(ApproverSpec::Pending) {
        anyhow::bail!(
            "--approver pending: a question waits only in a session a server keeps (cordon \
             serve); cordon run ends with its command"
        );
    }
    let sink = match (args.json, args.json_fd) {
        (false, None) => None,
        (_, fd) => Some(report::sink(fd.unwrap_or(3)).map_err(anyhow::Error::msg)?),
    };
    let outcome = match session_config(&args).and_then(Session::new) {
        Ok(session) => session.run(command_of(args)),
        Err(err) => RunOutcome::failed(format!("{err:#}")),
    };
    if let Some(sink) = sink {
        report::write(sink, &outcome.report()).context("writing the --json report")?;
    }
    if let Some(error) = &outcome.error {
        say(error);
    }
    Ok(ExitCode::from(outcome.exit_code))
}

/// The session `cordon run` runs its one command in.
fn session_config(args: &RunArgs) -> Result<SessionConfig> {
    let defaults = Determinism::default();
    Ok(SessionConfig {
        root: args.root.clone(),
        settings: settings_for(args)?,
        approver: ApproverChoice::Spec {
            spec: args.approver.clone().unwrap_or_else(approver::default_spec),
            timeout: args.approval_timeout,
        },
        audit: args.audit.clone(),
        rules: args.rules.clone(),
        narrowing_rules: Default::default(),
        audit_watcher: None,
        no_grant: args.no_grant.clone(),
        tools: args.tools.clone(),
        determinism: args.deterministic.then(|| Determinism {
            wall_clock: args.clock.unwrap_or(defaults.wall_clock),
            seed: args.seed.unwrap_or(defaults.seed),
            fuel: args.fuel.unwrap_or(defaults.fuel),
            ..defaults
        }),
        allow_native: args.allow_native,
        engine: match args.engine {
            Engine::Auto => EngineChoice::Auto,
            Engine::Wasi => EngineChoice::Wasi,
            Engine::Native => EngineChoice::Native,
        },
        resolve: args.resolve.clone(),
        test_servers: None,
        allow_secret: args.allow_secret.clone(),
        no_namespaces: args.no_namespaces,
        cache: CacheChoice {
            dir: args.cache.cache_dir.clone(),
            off: args.cache.no_cache,
        },
        native_helper: None,
        engines: Arc::default(),
        output_digests: args.json || args.json_fd.is_some(),
        exit_when_stuck: true,
        observer: Arc::new(Terminal {
            verbose: args.verbose,
        }),
        host_env: std::env::vars().collect(),
        user_config: project::user_config_dir(),
    })
}

/// The command `cordon run` was given.
fn command_of(args: RunArgs) -> session::Command {
    let mut command = match args.script {
        Some(line) => session::Command::line(line),
        None => session::Command::argv(args.command),
    };
    command.cwd = args.cwd;
    command.env = args.env;
    command.escalate = args.escalate;
    command.justification = args.justification;
    command
}

/// The user's home, which `~/` in a settings file names.
fn home() -> Option<PathBuf> {
    std::env::var_os("HOME").map(PathBuf::from)
}

/// Lines for the person, on stderr: notes always, details with
/// `--verbose`.
struct Terminal {
    verbose: bool,
}

impl Observer for Terminal {
    fn note(&self, line: &str) {
        say(line);
    }

    fn detail(&self, line: &str) {
        if self.verbose {
            say(line);
        }
    }

    fn compiling(&self) -> Option<Busy> {
        let stderr = std::io::stderr();
        let terminal = stderr.is_terminal();
        Some(Busy::compiling(Duration::from_secs(1), stderr, terminal))
    }
}

/// The settings a run goes by: the user's and the project's settings
/// files, then the flags given.
fn settings_for(args: &RunArgs) -> Result<Settings> {
    let root = crate::policy::canonical_root(&args.root)?;
    let mut settings = Settings::load(
        &root,
        project::user_config_dir().as_deref(),
        home().as_deref(),
    )
    .map_err(anyhow::Error::msg)?;
    if let Some(mode) = args.flags.sandbox {
        settings.sandbox = Sourced::flag(mode, "--sandbox");
    }
    if let Some(approval) = args.flags.approval {
        settings.approval = Sourced::flag(approval, "--approval");
    }
    if let Some(network) = &args.flags.network {
        settings.network = Sourced::flag(network.clone(), "--network");
    }
    if args.flags.timeout.is_some() {
        settings.timeout = Sourced::flag(args.flags.timeout, "--timeout");
    }
    if args.flags.memory.is_some() {
        settings.memory_mib = Sourced::flag(args.flags.memory, "--memory");
    }
    if let Some(processes) = args.flags.processes {
        settings.processes = Sourced::flag(processes, "--processes");
    }
    if args.flags.max_output.is_some() {
        settings.max_output = Sourced::flag(args.flags.max_output, "--max-output");
    }
    let dirs = args.flags.writable.iter();
    settings.writable.extend(dirs.map(|dir| {
        let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.clone());
        Sourced::flag(absolute, "--writable")
    }));
    let flags = |values: &[String], flag| -> Vec<Sourced<String>> {
        values
            .iter()
            .map(|v| Sourced::flag(v.clone(), flag))
            .collect()
    };
    settings
        .secrets
        .extend(flags(&args.flags.secret, "--secret"));
    settings
        .env_pass
        .extend(flags(&args.flags.env_pass, "--env-pass"));
    settings
        .env_drop
        .extend(flags(&args.flags.env_drop, "--env-drop"));
    settings
        .resolve_writable(&root)
        .map_err(anyhow::Error::msg)?;
    Ok(settings)
}

/// `cordon approve`: the questions waiting for a person, or one answered.
fn approve(token: Option<String>, spec: &ApproverSpec, timeout: Duration) -> Result<ExitCode> {
    let config =
        project::user_config_dir().context("no config directory: set XDG_CONFIG_HOME or HOME")?;
    let dir = config.join(parked::PENDING_DIR);
    let waiting = parked::waiting(&dir).with_context(|| dir.display().to_string())?;
    let Some(token) = token else {
        for p in &waiting {
            println!(
                "{}  {}s  {}",
                p.token,
                p.waited.as_secs(),
                shown(&p.question)
            );
        }
        if waiting.is_empty() {
            say("no question waits for a person");
        }
        return Ok(ExitCode::SUCCESS);
    };
    if *spec == ApproverSpec::Pending {
        anyhow::bail!("--approver pending: a person answers here; name who (tty, ...)");
    }
    // Said whoever answers: a script answers without showing anything.
    if let Some(p) = waiting.iter().find(|p| p.token == token) {
        say(format!("{token}: {}", shown(&p.question)));
    }
    let mut approver = approver::open(spec, timeout).map_err(anyhow::Error::msg)?;
    let answer = parked::answer(&dir, &token, &mut *approver).map_err(anyhow::Error::msg)?;
    say(format!(
        "{token}: answered {}; the command runs when the agent resumes it",
        answer.word()
    ));
    Ok(ExitCode::SUCCESS)
}

/// A parked question in a line, escaped.
fn shown(q: &parked::ParkedQuestion) -> String {
    let words: Vec<String> = q.env.iter().chain(&q.argv).cloned().collect();
    let grants = match q.escalation.is_empty() {
        true => String::new(),
        false => format!(", asking for {}", q.escalation.join(" and ")),
    };
    format!(
        "{} in {}{}: {}",
        display::command(&words),
        display::path(&q.cwd),
        display::text(&grants),
        display::text(&q.reason)
    )
}

fn trust(root: &Path) -> Result<ExitCode> {
    let root = root
        .canonicalize()
        .with_context(|| format!("--root {}", root.display()))?;
    let config =
        project::user_config_dir().context("no config directory: set XDG_CONFIG_HOME or HOME")?;
    let home = home();
    let check =
        |text: &str, path: &Path| Settings::check_project(text, path, &root, home.as_deref());
    let recorded = project::trust(&root, &config, check).map_err(anyhow::Error::msg)?;
    for (file, digest) in recorded {
        println!(
            "trusted {} with {file} as it reads now (sha256 {digest}); a change to it needs \
             trusting again",
            root.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn test(
    paths: Vec<PathBuf>,
    bless: bool,
    json: bool,
    allowed: scenario::Allowed,
) -> Result<ExitCode> {
    let paths = if paths.is_empty() {
        vec![PathBuf::from("scenarios")]
    } else {
        paths
    };
    let options = scenario::Options {
        paths,
        bless,
        allowed,
    };
    let mut progress = |progress: scenario::Progress| match progress {
        scenario::Progress::Starting { allowed } if !json && !allowed.is_empty() => {
            println!("allowed by the command line: {}", allowed.join(" "));
        }
        scenario::Progress::Done(outcome) if !json => match &outcome.failure {
            None => println!("ok      {}", outcome.name),
            Some(why) => println!("FAILED  {}: {why}", outcome.name),
        },
        _ => {}
    };
    let report = match scenario::run(&options, &mut progress) {
        Ok(report) => report,
        Err(why) => {
            say(why);
            return Ok(ExitCode::from(exit::HOST_ERROR));
        }
    };
    let (passed, failed) = (report.passed, report.failed);
    if json {
        println!("{:#}", serde_json::to_value(&report)?);
        // stdout holds the JSON alone.
        eprintln!("{passed} passed, {failed} failed");
    } else {
        println!("{passed} passed, {failed} failed");
    }
    Ok(ExitCode::from(u8::from(failed > 0)))
}

fn doctor(root: &Path, cache: &CacheArgs) -> Result<ExitCode> {
    for line in crate::doctor::report(root, cache_of(cache).as_ref())? {
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}
