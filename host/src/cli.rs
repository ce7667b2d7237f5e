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
use crate::display::say;
use crate::net::Network;
use crate::observe::Busy;
use crate::policy::{Determinism, SandboxMode};
use crate::request::{ApprovalPolicy, Escalation, GrantKind};
use crate::session::{
    self, ApproverChoice, CacheChoice, EngineChoice, Observer, RunOutcome, Session, SessionConfig,
};
use crate::settings::{self, Overrides, Settings};
use crate::wasi::{CompileCache, WasiHost};
use crate::{exit, native, scenario, serve};

mod report;
mod tools;

/// Runs the commands coding agents propose, inside a sandbox.
#[derive(Parser, Debug)]
#[command(name = "cordon", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Each subcommand's arguments are built only when it is the one given:
// `cordon run`, the hot path, does not pay for the others'.
#[derive(Subcommand, Debug)]
#[command(defer = true)]
enum Command {
    /// Run a command: a WASI tool confined to the project root, or a native
    /// program under the OS sandbox.
    Run(Box<RunArgs>),
    /// Show the engine, the compile cache, the sandbox layers available,
    /// and the settings a run in the project would go by, with their source.
    Doctor {
        #[command(flatten)]
        root: RootArg,
        #[command(flatten)]
        cache: CacheArgs,
    },
    /// List the built-in tools and the project's own with their digests;
    /// `tools add` pins one.
    Tools(tools::ToolsArgs),
    /// Compile the built-in tools for this machine into the cache ahead of
    /// time, so that an agent's first command does not wait for it.
    Warm(CacheArgs),
    /// Replay scenario files (TOML) of agent actions and check what came of
    /// them (docs/SCENARIOS.md); exit 0 only if all passed.
    Test(TestArgs),
    /// Serve agents: sessions and commands over JSON-RPC (docs/PROTOCOL.md)
    /// or MCP. Questions go to --approver, never to the agent.
    Serve(ServeArgs),
    /// List the questions a server keeps for a person (its agent was told
    /// "needs approval" and a token), or answer one.
    Approve {
        /// The question's token; without it, those waiting are listed.
        token: Option<String>,
        #[command(flatten)]
        approver: ApproverArgs,
    },
    /// Trust a project's .cordon/rules.toml and .cordon/config.toml as they
    /// read now, so that they may loosen, not only tighten.
    Trust(RootArg),
}

#[derive(clap::Args, Debug)]
struct RootArg {
    /// The project root.
    #[arg(long, value_name = "DIR", default_value = ".")]
    root: PathBuf,
}

#[derive(clap::Args, Debug)]
struct TestArgs {
    /// Scenario files, or directories of them [default: scenarios].
    #[arg(value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Write each scenario's golden transcript (NAME.golden.json).
    #[arg(long)]
    bless: bool,
    /// Print the results as JSON.
    #[arg(long)]
    json: bool,
    /// Let scenarios run without a sandbox (full-access, unsandboxed and
    /// writable=DIR escalations).
    #[arg(long)]
    allow_unsandboxed: bool,
    /// Let scenarios run native commands.
    #[arg(long)]
    allow_native: bool,
    /// Let scenarios reach the network beyond their own loopback servers.
    #[arg(long)]
    allow_network: bool,
}

#[derive(clap::Args, Debug)]
struct ServeArgs {
    /// JSON-RPC on stdin and stdout.
    #[arg(long, conflicts_with_all = ["socket", "mcp"], required_unless_present_any = ["socket", "mcp"])]
    stdio: bool,
    /// MCP on stdin and stdout, one session in --root; questions go to the
    /// client's form when it has one, else to --approver.
    #[arg(long, conflicts_with = "socket")]
    mcp: bool,
    /// The project root of the MCP session.
    #[arg(long, value_name = "DIR", default_value = ".", requires = "mcp")]
    root: PathBuf,
    /// MCP over streamable HTTP on this loopback address (port 0: any),
    /// with a bearer token printed at start.
    #[arg(long, value_name = "ADDRESS", requires = "mcp")]
    http: Option<std::net::SocketAddr>,
    /// JSON-RPC on a unix socket made at PATH (mode 0600).
    #[arg(long, value_name = "PATH")]
    socket: Option<PathBuf>,
    /// Sessions may be rooted in DIR or below it, and nowhere else
    /// (repeatable) [default: the current directory].
    #[arg(long, value_name = "DIR", conflicts_with = "mcp")]
    allow_root: Vec<PathBuf>,
    #[command(flatten)]
    approver: ApproverArgs,
    /// The log's level on stderr: error, warn, info (a line per request),
    /// debug.
    #[arg(long, value_name = "LEVEL", default_value = "info")]
    log_level: tracing::Level,
    #[command(flatten)]
    cache: CacheArgs,
}

#[derive(clap::Args, Debug)]
struct ApproverArgs {
    /// Who answers: tty, jsonl=FD|SOCKET, script=FILE, deny; for serve,
    /// pending (the question waits for `cordon approve`) [default: tty
    /// (run and serve: if there is one, else deny; serve: else pending)].
    #[arg(long, value_name = "WHO")]
    approver: Option<ApproverSpec>,
    /// Seconds a question may wait for its answer; then it is denied.
    #[arg(long, value_name = "SECS", default_value = "300", value_parser = parse_seconds)]
    approval_timeout: Duration,
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
    /// Project root: the only directory the tool can see.
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
    #[command(flatten)]
    approver: ApproverArgs,
    /// Append one JSON line per request, decision, run and violation.
    #[arg(long, value_name = "FILE")]
    audit: Option<PathBuf>,
    /// Ask a person for more than the sandbox gives (native commands):
    /// network, writable=DIR, git-commit, unsandboxed (repeatable).
    #[arg(long, value_name = "GRANT", value_parser = Escalation::from_str)]
    escalate: Vec<Escalation>,
    /// Refuse escalations of these kinds unasked: unsandboxed, writable,
    /// git-commit, network (also hosts not on --network allow=).
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
    /// wall time, the root seen at /project.
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
    /// Let a deterministic run start native commands (not deterministic).
    #[arg(long, requires = "deterministic")]
    allow_native: bool,
    /// Which engine runs the command: a WASI tool if one has that name, else
    /// a native program (auto); or only one of them.
    #[arg(long, value_enum, default_value_t = Engine::Auto)]
    engine: Engine,
    /// Resolve NAME to ADDRESS instead of asking DNS; grants nothing
    /// (repeatable).
    #[arg(long = "resolve", value_name = "NAME=ADDRESS")]
    resolve: Vec<String>,
    /// Readable after all, though it looks like a secret (repeatable).
    #[arg(long = "allow-secret", value_name = "GLOB")]
    allow_secret: Vec<String>,
    /// Say the layers a native command ran under and the host variables
    /// left out of its environment.
    #[arg(long, short = 'v')]
    verbose: bool,
    /// When the run ends, write a JSON object saying how it went on the
    /// descriptor --json-fd names, never on the command's output.
    #[arg(long)]
    json: bool,
    /// The descriptor for --json (implied), opened by the caller
    /// (3>report.json) [default: 3].
    #[arg(long, value_name = "N")]
    json_fd: Option<i32>,
    /// Native commands: no namespaces, Landlock and seccomp alone (weaker,
    /// see docs/SANDBOX.md).
    #[arg(long)]
    no_namespaces: bool,
    #[command(flatten)]
    cache: CacheArgs,
    /// A shell command line to run, checked command by command.
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

// The flags that set a run's settings ([`Settings::override_with`]). Not
// a doc comment: clap would take it for `cordon run`'s description, which
// the subcommand's arguments, built when it is given, would set last.
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
    #[arg(long, value_name = "MIB", value_parser = clap::value_parser!(u64).range(settings::MEMORY_MIB))]
    memory: Option<u64>,
    /// Most processes a native command's tree may have at once [default: 4096].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(settings::PROCESSES))]
    processes: Option<u64>,
    /// Cap on each of stdout and stderr; the excess is dropped.
    #[arg(long, value_name = "BYTES")]
    max_output: Option<u64>,
    /// When a person is asked [default: on-request, or as your settings say].
    #[arg(long, value_enum)]
    approval: Option<ApprovalPolicy>,
    /// Network: off, on (the host's), or allow=HOST[:PORT],... (`*.NAME`
    /// for subdomains; other hosts are asked about) [default: off].
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

impl SettingFlags {
    fn overrides(self) -> Overrides {
        Overrides {
            sandbox: self.sandbox,
            approval: self.approval,
            network: self.network,
            timeout: self.timeout,
            memory_mib: self.memory,
            processes: self.processes,
            max_output: self.max_output,
            writable: self.writable,
            secrets: self.secret,
            env_pass: self.env_pass,
            env_drop: self.env_drop,
        }
    }
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
        Command::Run(args) => run(*args),
        Command::Doctor { root, cache } => {
            let lines = crate::doctor::report(&root.root, cache_of(&cache).as_ref());
            lines.map(|lines| print_lines(&lines))
        }
        Command::Tools(args) => tools::main(args),
        Command::Warm(args) => warm(&args),
        Command::Trust(RootArg { root }) => trust(&root),
        Command::Approve { token, approver } => approve(token, approver),
        Command::Serve(args) => serve(args),
        Command::Test(args) => test(args),
    };
    result.unwrap_or_else(|err| {
        say(format!("{err:#}"));
        ExitCode::from(exit::HOST_ERROR)
    })
}

fn print_lines(lines: &[String]) -> ExitCode {
    for line in lines {
        println!("{line}");
    }
    ExitCode::SUCCESS
}

/// `cordon warm`: the built-in tools compiled into the cache, for both
/// engine modes.
fn warm(args: &CacheArgs) -> Result<ExitCode> {
    let Some(cache) = cache_of(args) else {
        anyhow::bail!("warm: --no-cache leaves nothing to keep the compiled tools in");
    };
    let dir = cache.dir().to_path_buf();
    WasiHost::compile_built_ins(&dir, &Terminal { verbose: false })?;
    let dir = dir.display();
    say(format!(
        "the built-in tools are compiled for this machine (normal and --deterministic runs), in {dir}"
    ));
    Ok(ExitCode::SUCCESS)
}

fn cache_of(args: &CacheArgs) -> Option<CompileCache> {
    let dir = args.cache_dir.clone().or_else(CompileCache::default_dir);
    dir.filter(|_| !args.no_cache).map(CompileCache::new)
}

fn cache_choice(args: CacheArgs) -> CacheChoice {
    CacheChoice {
        dir: args.cache_dir,
        off: args.no_cache,
    }
}

/// `cordon serve`.
fn serve(args: ServeArgs) -> Result<ExitCode> {
    let log = tracing_subscriber::fmt().with_writer(std::io::stderr);
    log.with_max_level(args.log_level).with_ansi(false).init();
    let allowed = match (args.mcp, args.allow_root.is_empty()) {
        (true, _) => Vec::new(), // MCP has one root, the person's --root.
        (false, true) => vec![serve::default_allowed_root()?],
        (false, false) => args.allow_root,
    };
    let spec = args
        .approver
        .approver
        .unwrap_or_else(approver::server_default_spec);
    let timeout = args.approver.approval_timeout;
    let config = serve::ServeConfig::new(&allowed, spec, timeout, cache_choice(args.cache))?;
    let transport = match (args.mcp, args.socket) {
        (true, _) => serve::Transport::Mcp {
            root: args.root,
            http: args.http,
        },
        (false, Some(path)) => serve::Transport::Socket(path),
        (false, None) => serve::Transport::Stdio,
    };
    serve::run(transport, config, |at, token| {
        say(format!("MCP on http://{at}/mcp, bearer token {token}"));
    })?;
    Ok(ExitCode::SUCCESS)
}

/// `cordon run`, with its `--json` report.
fn run(args: RunArgs) -> Result<ExitCode> {
    if args.approver.approver == Some(ApproverSpec::Pending) {
        anyhow::bail!(
            "--approver pending: a question waits only in a session a server keeps (cordon \
             serve); cordon run ends with its command"
        );
    }
    let sink = match (args.json, args.json_fd) {
        (false, None) => None,
        (_, fd) => Some(report::sink(fd.unwrap_or(3)).map_err(anyhow::Error::msg)?),
    };
    let output_digests = sink.is_some();
    let (config, command) = session_config(args, output_digests);
    let outcome = match config.and_then(Session::new) {
        Ok(session) => session.run(command),
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

/// The session `cordon run` runs its one command in, and the command.
fn session_config(
    args: RunArgs,
    output_digests: bool,
) -> (Result<SessionConfig>, session::Command) {
    let mut command = match args.script {
        Some(line) => session::Command::line(line),
        None => session::Command::argv(args.command),
    };
    command.cwd = args.cwd;
    command.env = args.env;
    command.escalate = args.escalate;
    command.justification = args.justification;
    let given = args.flags.overrides();
    let config = SessionConfig::with_overrides(&args.root, given).map(|mut config| {
        let defaults = Determinism::default();
        config.approver = ApproverChoice::Spec {
            spec: args
                .approver
                .approver
                .unwrap_or_else(approver::default_spec),
            timeout: args.approver.approval_timeout,
        };
        config.determinism = args.deterministic.then(|| Determinism {
            wall_clock: args.clock.unwrap_or(defaults.wall_clock),
            seed: args.seed.unwrap_or(defaults.seed),
            fuel: args.fuel.unwrap_or(defaults.fuel),
            ..defaults
        });
        config.engine = match args.engine {
            Engine::Auto => EngineChoice::Auto,
            Engine::Wasi => EngineChoice::Wasi,
            Engine::Native => EngineChoice::Native,
        };
        (config.audit, config.rules, config.no_grant) = (args.audit, args.rules, args.no_grant);
        (config.tools, config.resolve, config.allow_secret) =
            (args.tools, args.resolve, args.allow_secret);
        (config.allow_native, config.no_namespaces) = (args.allow_native, args.no_namespaces);
        (config.cache, config.output_digests) = (cache_choice(args.cache), output_digests);
        config.exit_when_stuck = true;
        config.observer = Arc::new(Terminal {
            verbose: args.verbose,
        });
        config
    });
    (config, command)
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

/// `cordon approve`: the questions waiting for a person, or one answered.
fn approve(token: Option<String>, who: ApproverArgs) -> Result<ExitCode> {
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
                p.question.shown()
            );
        }
        if waiting.is_empty() {
            say("no question waits for a person");
        }
        return Ok(ExitCode::SUCCESS);
    };
    let spec = who.approver.unwrap_or(ApproverSpec::Tty);
    if spec == ApproverSpec::Pending {
        anyhow::bail!("--approver pending: a person answers here; name who (tty, ...)");
    }
    // Said whoever answers: a script answers without showing anything.
    if let Some(p) = waiting.iter().find(|p| p.token == token) {
        say(format!("{token}: {}", p.question.shown()));
    }
    let mut approver = approver::open(&spec, who.approval_timeout).map_err(anyhow::Error::msg)?;
    let answer = parked::answer(&dir, &token, &mut *approver).map_err(anyhow::Error::msg)?;
    let word = answer.word();
    say(format!(
        "{token}: answered {word}; the command runs when the agent resumes it"
    ));
    Ok(ExitCode::SUCCESS)
}

/// `cordon trust`.
fn trust(root: &Path) -> Result<ExitCode> {
    let root = root
        .canonicalize()
        .with_context(|| format!("--root {}", root.display()))?;
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let trusted = Settings::trust_project(&root, home.as_deref()).map_err(anyhow::Error::msg)?;
    for (file, digest) in trusted {
        let root = root.display();
        println!(
            "trusted {root} with {file} as it reads now (sha256 {digest}); a change to it needs trusting again"
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `cordon test`.
fn test(args: TestArgs) -> Result<ExitCode> {
    let paths = match args.paths.is_empty() {
        true => vec![PathBuf::from("scenarios")],
        false => args.paths,
    };
    let allowed = scenario::Allowed {
        unsandboxed: args.allow_unsandboxed,
        native: args.allow_native,
        network: args.allow_network,
    };
    let options = scenario::Options {
        paths,
        bless: args.bless,
        allowed,
    };
    let json = args.json;
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
