//! The `cordon` command line. Parsing and reporting only: every decision
//! lives in the library.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use crate::audit::{Audit, Event, RunRecord, StreamRecord};
use crate::broker::approver::{self, ApproverSpec};
use crate::broker::rules::Rules;
use crate::broker::{
    self, ApprovalPolicy, Broker, Escalation, GrantKind, Outcome, Request, ShellContext, project,
};
use crate::exit;
use crate::native::{
    self, NativeError, NativeIo, NativeLimits, NativeOptions, NativeStatus, Plan, PlanNetwork,
};
use crate::net::{self, Allowlist, Decider, Host, NetAccess, Network, Resolver};
use crate::own_dirs::{self, OwnDirs};
use crate::policy::{Determinism, SandboxMode, SandboxPolicy};
use crate::project_tools::PinMismatch;
use crate::resolve::{self, NotFound, ProgramFile, ToolSource, Unresolved};
use crate::scenario;
use crate::secrets::SecretPatterns;
use crate::settings::{self, Settings, Sourced};
use crate::shell;
use crate::wasi::{self, CompileCache, EngineMode, Status, Stdio, WASMTIME_VERSION, WasiHost};

mod line;
mod report;
mod tools;

use line::run_script;
use report::{Execution, RunReport};

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
    #[arg(long, value_name = "GRANT", value_parser = parse_escalation)]
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
    /// The settings the run goes by: the flags above over the user's and
    /// the project's settings files (see [`settings_for`]).
    #[arg(skip)]
    settings: Settings,
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
/// given wins over the settings files, or adds to their lists. Read
/// through [`RunArgs::settings`] once resolved, never directly.
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

fn parse_escalation(text: &str) -> Result<Escalation, String> {
    match text.split_once('=') {
        None if text == "network" => Ok(Escalation::Network),
        None if text == "unsandboxed" => Ok(Escalation::Unsandboxed),
        None if text == "git-commit" => Ok(Escalation::GitCommit),
        Some(("writable", dir)) => std::path::Path::new(dir)
            .canonicalize()
            .ok()
            .filter(|d| d.is_dir())
            .map(Escalation::Writable)
            .ok_or_else(|| format!("writable={dir}: not a directory")),
        Some(("network", target)) => {
            let (host, port) = match Host::parse(target) {
                Ok(host) => (host, None),
                Err(why) => match target.rsplit_once(':') {
                    Some((host, port)) => (
                        Host::parse(host)?,
                        Some(
                            port.parse()
                                .map_err(|_| format!("network={target}: bad port"))?,
                        ),
                    ),
                    None => return Err(why),
                },
            };
            Ok(Escalation::Host(host, port))
        }
        _ => Err(format!(
            "expected network, network=HOST[:PORT], writable=DIR, git-commit or unsandboxed, \
             got {text}"
        )),
    }
}

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

/// Secrets git already holds in the root: said once for each set of them
/// (see [`crate::tracked`]), and recorded in the audit.
fn warn_of_tracked_secrets(policy: &SandboxPolicy, session: &Session) {
    let Some(state) = crate::broker::project::user_config_dir() else {
        return;
    };
    let tracked = crate::tracked::secrets(policy.root(), &policy.secrets);
    if crate::tracked::warn_once(&state, policy.root(), &tracked) {
        let warning = crate::tracked::warning(&tracked);
        say(&warning);
        session.broker().audit().record(&Event::warning(&warning));
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
    #[cfg(target_os = "linux")]
    {
        let mut args = std::env::args();
        if args.nth(1).as_deref() == Some(native::HELPER_ARG) {
            native::helper_main(&args.next().unwrap_or_default());
        }
    }
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
    for mode in [EngineMode::Standard, EngineMode::Deterministic] {
        let host = WasiHost::new(Some(CompileCache::new(&dir)), mode)?;
        for module in [&crate::tools::TOOLS, &crate::tools::FETCH] {
            host.load_built_in(module)?;
        }
    }
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

fn sandbox_policy(args: &RunArgs) -> Result<SandboxPolicy> {
    args.env_choice().drop_set().map_err(anyhow::Error::msg)?;
    let settings = &args.settings;
    let mut policy = SandboxPolicy::new(&args.root, args.cwd.as_deref(), settings.sandbox.value)?;
    for assignment in &args.env {
        policy.push_env(assignment)?;
    }
    policy.limits.timeout = settings.timeout.value;
    policy.limits.memory_bytes = usize::try_from(
        settings
            .memory_mib
            .value
            .unwrap_or(settings::WASI_MEMORY_MIB)
            << 20,
    )?;
    policy.limits.max_output_bytes = settings.max_output.value;
    let secrets: Vec<String> = settings.secrets.iter().map(|s| s.value.clone()).collect();
    let (patterns, outside) = secrets_by_place(&secrets, policy.root())?;
    policy.secrets = SecretPatterns::new(&patterns, &args.allow_secret)?;
    // WASI tools never see past the root; native commands are denied these.
    policy.own_secrets.extend(outside);
    let writable = writable_dirs(args);
    // cordon's own temporary files (a guest's `/`, the native masks and
    // staging, the git-shape lock) live there.
    refuse_in_reach("TMPDIR", &std::env::temp_dir(), &policy, &writable)?;
    // Whether or not this run uses the cache: a run that does not must not
    // leave it open to the commands either.
    let cache_dir = args
        .cache
        .cache_dir
        .clone()
        .or_else(CompileCache::default_dir);
    let own = OwnDirs::resolve(
        project::user_config_dir().as_deref(),
        cache_dir.as_deref(),
        &write_areas(&policy, &writable),
    )?;
    policy.own_dirs = own.all();
    let env = command_env(args, &policy);
    let walked = crate::gitdirs::resolve(policy.root(), &policy.cwd_abs(), &env);
    policy.git_dirs = walked.git_dirs;
    // Every git directory the root's repositories use, whatever its name
    // or place, is protected like cordon's own (by identity, whole).
    if policy.protects_subpaths() {
        policy.own_dirs.extend(policy.git_dirs.iter().cloned());
        // A directory cordon cannot list may hide one (a command may have
        // taken its read permission away): protected whole too.
        for dir in walked.unlisted {
            say(format!(
                "{}: cannot be listed, so a git directory may lie below it: read-only for \
                 this command",
                dir.display()
            ));
            policy.own_dirs.push(dir);
        }
        // So are the directories git runs hooks from (core.hooksPath).
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let hooks = crate::gitdirs::hook_dirs(&policy.git_dirs, policy.root(), home.as_deref());
        policy.own_dirs.extend(hooks);
    }
    if let Some(key) = own.cache_key() {
        if let Ok(relative) = key.strip_prefix(policy.root()) {
            policy.secrets.hide_own(relative);
        }
        policy.own_secrets.push(key);
    }
    if args.deterministic {
        let defaults = Determinism::default();
        policy.determinism = Some(Determinism {
            wall_clock: args.clock.unwrap_or(defaults.wall_clock),
            seed: args.seed.unwrap_or(defaults.seed),
            fuel: args.fuel.unwrap_or(defaults.fuel),
            ..defaults
        });
    }
    Ok(policy)
}

/// The broker for this run: the user's, the project's and `--rules`
/// rules, the approver, the audit log.
fn broker_for(args: &RunArgs, policy: &SandboxPolicy) -> Result<Broker> {
    let mut rules = Rules::default();
    let config = project::user_config_dir();
    if let Some(note) =
        project::load(&mut rules, policy.root(), config.as_deref()).map_err(anyhow::Error::msg)?
    {
        say(note);
    }
    for file in &args.rules {
        rules.load(file)?;
    }
    let spec = args.approver.clone().unwrap_or_else(approver::default_spec);
    let writable = writable_dirs(args);
    if let ApproverSpec::JsonlSocket(path) | ApproverSpec::Script(path) = &spec {
        refuse_in_reach("--approver", path, policy, &writable)?;
    }
    let approver = approver::open(&spec, args.approval_timeout).map_err(anyhow::Error::msg)?;
    let audit = match &args.audit {
        Some(path) => {
            refuse_in_reach("--audit", path, policy, &writable)?;
            Audit::to_file(path).with_context(|| format!("--audit {}", path.display()))?
        }
        None => Audit::default(),
    };
    let shell = ShellContext {
        env: shell::Env::new(command_env(args, policy)),
        root: policy.root().to_path_buf(),
        own_places: [policy.root().to_path_buf(), std::env::temp_dir()]
            .into_iter()
            .chain(writable.iter().cloned())
            .collect(),
    };
    let resolver = pinned_resolver(&args.resolve)?;
    let mut broker = Broker::new(rules, args.settings.approval.value, approver, audit)
        .with_shell(shell)
        .without_grants(&args.no_grant, move |host| {
            resolver.pinned_to_loopback(host)
        });
    if let Some(config) = config {
        broker = broker.with_rules_file(config.join(project::USER_RULES));
    }
    Ok(broker)
}

/// `--secret` values as patterns inside the root (an absolute path there
/// made relative to it) and paths outside it, which native commands are
/// denied.
///
/// # Errors
///
/// A pattern with glob characters outside the root: cordon hides files
/// there by path, not by pattern.
fn secrets_by_place(secrets: &[String], root: &Path) -> Result<(Vec<String>, Vec<PathBuf>)> {
    let mut patterns = Vec::new();
    let mut outside = Vec::new();
    for secret in secrets {
        let path = Path::new(secret);
        if !path.is_absolute() {
            patterns.push(secret.clone());
            continue;
        }
        let real = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        match real.strip_prefix(root) {
            Ok(inside) => patterns.push(inside.to_string_lossy().into_owned()),
            Err(_) if secret.contains(['*', '?', '[', '{']) => anyhow::bail!(
                "--secret {secret}: a pattern outside the root; name the files or \
                 directories to hide there"
            ),
            Err(_) => outside.push(real),
        }
    }
    Ok((patterns, outside))
}

/// The environment a command line's `$NAME` reads: what a native command
/// would start with.
fn command_env(args: &RunArgs, policy: &SandboxPolicy) -> Vec<(String, String)> {
    let mut env = native::env::scrub(std::env::vars(), &args.env_choice(), policy.env()).vars;
    env.push(("PWD".into(), policy.cwd_abs().display().to_string()));
    // The run's private TMPDIR is made later; it lives under this one.
    env.push(("TMPDIR".into(), std::env::temp_dir().display().to_string()));
    env
}

/// What a command name resolved to.
enum Target {
    Wasi(resolve::Resolved),
    Native(PathBuf),
}

/// Resolves `name` by `--engine`: a WASI tool, else a native program.
fn locate(args: &RunArgs, policy: &SandboxPolicy, name: &str) -> Result<Target, Unresolved> {
    let host_path = std::env::var("PATH").ok();
    let on_path = || native::find_program(name, host_path.as_deref(), &policy.cwd_abs());
    let mut not_found = match args.engine {
        Engine::Native => NotFound::new(name),
        _ => match resolve::resolve(name, &args.tools, policy.root(), on_path) {
            Ok(resolved) => return Ok(Target::Wasi(resolved)),
            Err(Unresolved::NotFound(not_found)) if args.engine != Engine::Wasi => not_found,
            Err(unresolved) => return Err(unresolved),
        },
    };
    on_path().map(Target::Native).ok_or_else(|| {
        not_found.looked.push("PATH".to_string());
        not_found.into()
    })
}

/// Says why `name` did not resolve; the exit code for it.
fn unresolved(why: Unresolved) -> u8 {
    let code = match why {
        Unresolved::NotFound(_) | Unresolved::Unreadable { .. } => exit::NOT_FOUND,
        Unresolved::Unpinned(PinMismatch::Invalid(_)) => exit::HOST_ERROR,
        Unresolved::Unpinned(_) => exit::NOT_FOUND,
        Unresolved::Shadowing { .. } => exit::DENIED,
    };
    say(why);
    code
}

/// The resolver with `--resolve`'s pins.
fn pinned_resolver(pins: &[String]) -> Result<Resolver> {
    let mut resolver = Resolver::default();
    for pin in pins {
        resolver.pin(pin).map_err(anyhow::Error::msg)?;
    }
    Ok(resolver)
}

/// What every command of one `cordon run` shares: the broker (behind a
/// lock, for the network gate's questions while a command runs) and the
/// resolver.
struct Session {
    broker: Arc<Mutex<Broker>>,
    resolver: Resolver,
}

impl Session {
    fn new(args: &RunArgs, broker: Broker) -> Result<Session> {
        let resolver = pinned_resolver(&args.resolve)?;
        let session = Session {
            broker: Arc::new(Mutex::new(broker)),
            resolver,
        };
        if let Some(glob) = args.allow_secret.first() {
            session
                .broker()
                .taint(&format!("a secret was granted: --allow-secret {glob}"));
        }
        Ok(session)
    }

    fn broker(&self) -> std::sync::MutexGuard<'_, Broker> {
        // A panic while holding it ends the process anyway.
        self.broker.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The network one command gets: `--network`, widened by an approved
    /// escalation.
    fn network_access(&self, chosen: &Network, escalation: Option<&Escalation>) -> NetAccess {
        let gated = |allow: Allowlist| {
            let decider: Arc<dyn Decider> = self.broker.clone();
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
}

/// How one execution ended: cordon's exit code, and what the sandbox was
/// seen refusing (native only).
struct Ran {
    code: u8,
    violations: Vec<native::Violation>,
    /// Refusal lines past the kept ones, counted only.
    violations_more: u64,
    /// The sandbox layers a native run reported (empty for WASI tools).
    layers: Vec<String>,
}

impl Ran {
    /// An end with `code` and nothing refused.
    fn exited(code: u8) -> Ran {
        Ran {
            code,
            violations: Vec::new(),
            violations_more: 0,
            layers: Vec::new(),
        }
    }
}

/// `cordon run`, with its `--json` report.
fn run_reported(args: RunArgs) -> Result<ExitCode> {
    let sink = match (args.json, args.json_fd) {
        (false, None) => None,
        (_, fd) => Some(report::sink(fd.unwrap_or(3)).map_err(anyhow::Error::msg)?),
    };
    let mut report = RunReport::default();
    let result = run(args, &mut report);
    if let Some(sink) = sink {
        let value = match &result {
            Ok(code) => report.to_json(*code, None),
            Err(err) => report.to_json(exit::HOST_ERROR, Some(&format!("{err:#}"))),
        };
        report::write(sink, &value).context("writing the --json report")?;
    }
    result.map(ExitCode::from)
}

/// The settings a run goes by: the user's and the project's settings
/// files, then the flags given.
fn settings_for(args: &RunArgs) -> Result<Settings> {
    let root = crate::policy::canonical_root(&args.root)?;
    let mut settings =
        Settings::load(&root, project::user_config_dir().as_deref()).map_err(anyhow::Error::msg)?;
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

/// `cordon run`: cordon's exit code.
fn run(mut args: RunArgs, report: &mut RunReport) -> Result<u8> {
    args.settings = settings_for(&args)?;
    if let Some(note) = &args.settings.left_out {
        say(note);
    }
    let mut policy = sandbox_policy(&args)?;
    let session = Session::new(&args, broker_for(&args, &policy)?)?;
    warn_of_tracked_secrets(&policy, &session);
    let mut argv = match &args.script {
        // bash where there is one, for `set -o pipefail`; else POSIX sh.
        Some(script) => {
            let path = std::env::var("PATH").ok();
            let shell = if native::find_program("bash", path.as_deref(), Path::new("/")).is_some() {
                "bash"
            } else {
                "sh"
            };
            vec![shell.to_string(), "-c".to_string(), script.clone()]
        }
        None => args.command.clone(),
    };
    report.decided(&argv, "", None);
    if let Some((dialect, text)) = shell::shell_line(&argv) {
        let env = shell::Env::new(command_env(&args, &policy));
        if let Err(err) = shell::parse(text, dialect, &env, policy.root(), &policy.cwd_abs()) {
            say(err);
            return Ok(exit::HOST_ERROR);
        }
    }
    let mut escalation = Escalation::combine(args.escalate.clone());
    // The code of a run that failed in the sandbox, once a retry is asked.
    let mut failed = None;
    loop {
        let mut target = match locate(&args, &policy, &argv[0]) {
            Ok(target) => target,
            // A line cordon runs itself needs no shell; one it cannot is
            // refused when it gets there.
            Err(_) if shell::script_of(&argv).is_some() => Target::Native(PathBuf::from(&argv[0])),
            Err(why) => return Ok(unresolved(why)),
        };
        let native = matches!(target, Target::Native(_));
        if native && policy.mode == SandboxMode::FullAccess {
            escalation = Some(Escalation::Unsandboxed);
        }
        // A line cordon reads and routes stage by stage is recorded as the
        // shell's, in the request as in the run.
        let engine = match target {
            Target::Wasi(_) => "wasi",
            Target::Native(_) if routes_line(&args, &argv, escalation.as_ref()) => "shell",
            Target::Native(_) => "native",
        };
        let native_only = escalation.iter().flat_map(Escalation::parts).find(|part| {
            matches!(
                part,
                Escalation::Writable(_) | Escalation::GitCommit | Escalation::Unsandboxed
            )
        });
        if let (Some(part), "wasi") = (native_only, engine) {
            say(format!(
                "{}: --escalate {part} applies to native commands; a WASI tool only ever sees \
                 the root",
                argv[0],
            ));
            return Ok(exit::DENIED);
        }
        // A grant the sandbox would quietly not honour is refused before
        // anyone is asked for it.
        let asked = escalation
            .as_ref()
            .map(Escalation::parts)
            .unwrap_or_default();
        let asked_writable = writable_dirs(&args)
            .into_iter()
            .chain(granted_writable(asked));
        let unhonoured = asked
            .contains(&Escalation::GitCommit)
            .then(|| uncommittable(&args, &policy))
            .flatten();
        if let Some(why) = unhonoured.or_else(|| {
            asked_writable
                .into_iter()
                .find_map(|dir| unwritable_grant(&policy, &dir))
        }) {
            say(why);
            return Ok(failed.unwrap_or(exit::DENIED));
        }
        // A tainted session shares the host's network only with a person's
        // approval.
        if escalation.is_none()
            && args.settings.network.value == Network::On
            && session.broker().tainted()
        {
            escalation = Some(Escalation::Network);
        }
        let request = Request {
            escalation: escalation.clone(),
            justification: args.justification.clone(),
            program_sha256: match &target {
                Target::Wasi(resolved) => resolved.file.as_ref().map(ProgramFile::sha256_hex),
                Target::Native(_) => None,
            },
            ..Request::for_command(&argv, &policy, engine)
        };
        let decided = session.broker().decide(request);
        report.decided(&argv, engine, session.broker().last_decision());
        let approved = match decided {
            Outcome::Run(approved) => approved,
            Outcome::Refused(why) => {
                say(why);
                // A refused retry leaves the first run's failure standing.
                return Ok(failed.unwrap_or(exit::DENIED));
            }
            Outcome::Aborted => {
                say(format!(
                    "{}: aborted by the approver",
                    crate::display::command_in_line(&argv)
                ));
                return Ok(exit::DENIED);
            }
        };
        if approved.argv != argv {
            // An edited command is a different program, maybe another engine.
            argv = approved.argv;
            target = match locate(&args, &policy, &argv[0]) {
                Ok(target) => target,
                Err(why) => return Ok(unresolved(why)),
            };
        }
        policy.network = session.network_access(&args.settings.network.value, escalation.as_ref());
        let started = Instant::now();
        let stdio = Stdio::inherit(policy.limits.max_output_bytes);
        if session.broker().audit().enabled() || args.json || args.json_fd.is_some() {
            stdio.stdout.keep_digest();
            stdio.stderr.keep_digest();
        }
        let (stdout, stderr) = (stdio.stdout.clone(), stdio.stderr.clone());
        // A line is read and routed stage by stage unless the native engine
        // or an escalation was asked for: then it is one native command (still
        // judged command by command).
        let script =
            shell::script_of(&argv).filter(|_| routes_line(&args, &argv, escalation.as_ref()));
        let (engine, ran) = match (&target, script) {
            (Target::Native(shell), Some(text)) => {
                ("shell", run_script(&args, &policy, shell, text, stdio)?)
            }
            (Target::Wasi(resolved), _) => {
                ("wasi", run_wasi(&args, &policy, resolved, &argv, stdio)?)
            }
            (Target::Native(program), _) => (
                "native",
                run_native(&args, &policy, program, &argv, escalation.as_ref(), stdio)?,
            ),
        };
        // Every native command of the run starts with the same environment.
        let env_dropped = if engine == "wasi" {
            Vec::new()
        } else {
            native::env::scrub(std::env::vars(), &args.env_choice(), policy.env()).dropped
        };
        if args.verbose {
            let name = crate::display::command_in_line(&argv);
            if !ran.layers.is_empty() {
                say(format!("{name}: layers: {}", ran.layers.join(", ")));
            }
            if !env_dropped.is_empty() {
                say(format!(
                    "{name}: host variables left out (they look like credentials, or \
                     --env-drop; --env-pass NAME passes one): {}",
                    env_dropped.join(" ")
                ));
            }
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
            env_dropped: &env_dropped,
        };
        report.ran(
            Execution {
                argv: &argv,
                engine,
                violations: &ran.violations,
                violations_more: ran.violations_more,
                layers: &ran.layers,
                duration_ms: record.duration_ms,
                stdout: record.stdout.clone(),
                stderr: record.stderr.clone(),
                env_dropped: &env_dropped,
            },
            &policy,
        );
        let mut broker = session.broker();
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
            say(format!(
                "{}: aborted by the approver",
                crate::display::command_in_line(&argv)
            ));
            return Ok(exit::DENIED);
        }
        // on-failure: a failure the sandbox caused may be retried once,
        // with the grant that was missing (a refused connection first), if
        // a person says so.
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
                say(format!(
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

/// Whether `argv` is a shell line cordon reads and routes stage by stage:
/// unless the native engine or an escalation was asked for (then it is one
/// native command, still judged command by command).
fn routes_line(args: &RunArgs, argv: &[String], escalation: Option<&Escalation>) -> bool {
    shell::script_of(argv).is_some() && escalation.is_none() && args.engine != Engine::Native
}

/// Refuses a file of cordon's own that a command could rewrite, truncate,
/// forge or stand in for (the audit log, the approver's socket or script):
/// one that lies inside the area commands may write (the root when
/// writable, a `--writable` directory), or is reached through a symlink
/// there. Resolved symlink by symlink, a dangling one included.
fn refuse_in_reach(
    what: &str,
    path: &Path,
    policy: &SandboxPolicy,
    writable: &[PathBuf],
) -> Result<()> {
    let areas = write_areas(policy, writable);
    let resolved = own_dirs::resolve_path(path, &areas)
        .with_context(|| format!("{what} {}", path.display()))?;
    if let Some(area) = resolved.within(&areas) {
        anyhow::bail!(
            "{what} {}: lies inside {}, which commands may write (they could rewrite it or \
             stand in for it); choose a path outside it",
            path.display(),
            area.display()
        );
    }
    Ok(())
}

/// Where commands may write: the root (unless read-only) and the
/// `--writable` directories.
fn write_areas<'a>(policy: &'a SandboxPolicy, writable: &'a [PathBuf]) -> Vec<&'a Path> {
    let root = policy.writable().then(|| policy.root());
    root.into_iter()
        .chain(writable.iter().map(PathBuf::as_path))
        .collect()
}

/// The directories the grants `asked` make writable.
fn granted_writable(asked: &[Escalation]) -> impl Iterator<Item = PathBuf> + '_ {
    asked.iter().filter_map(|part| match part {
        Escalation::Writable(dir) => Some(dir.clone()),
        _ => None,
    })
}

/// The directories also writable for native commands, resolved.
fn writable_dirs(args: &RunArgs) -> Vec<PathBuf> {
    let writable = &args.settings.writable;
    writable.iter().map(|dir| dir.value.clone()).collect()
}

/// The line refusing a writable grant cordon cannot honour: `dir` lies in
/// a tree that stays read-only (see [`SandboxPolicy::in_protected_tree`]).
fn unwritable_grant(policy: &SandboxPolicy, dir: &Path) -> Option<String> {
    policy.in_protected_tree(dir).then(|| {
        format!(
            "writable={}: a git directory or cordon's own stays read-only whatever is \
             granted, so this grant cannot be honoured; nothing ran",
            crate::display::path(dir)
        )
    })
}

/// The line refusing a git-commit grant cordon cannot honour: there is no
/// git directory to keep a commit in, or no mount namespace to keep the
/// command's writes apart in until it ends.
fn uncommittable(args: &RunArgs, policy: &SandboxPolicy) -> Option<String> {
    if policy.git_dirs.is_empty() {
        return Some(format!(
            "git-commit: no git directory is used in the root {}, so this grant cannot be \
             honoured; nothing ran",
            crate::display::path(policy.root())
        ));
    }
    // Refs kept in a reftable, or objects named by SHA-256, are not what
    // cordon keeps: the commit would land half.
    let unkept = policy.git_dirs.iter().find(|dir| {
        let config = std::fs::read_to_string(dir.join("config")).unwrap_or_default();
        dir.join("reftable").exists() || config.to_ascii_lowercase().contains("sha256")
    });
    if let Some(dir) = unkept {
        return Some(format!(
            "git-commit: {} keeps its refs in a reftable or names objects by SHA-256, which \
             cordon does not keep, so this grant cannot be honoured; nothing ran",
            crate::display::path(dir)
        ));
    }
    let without = if !cfg!(target_os = "linux") {
        "on this OS"
    } else if args.no_namespaces {
        "with --no-namespaces"
    } else {
        return None;
    };
    Some(format!(
        "git-commit: the grant keeps a commit's writes apart in a mount namespace until \
         the command ends, which cordon cannot do {without}; nothing ran"
    ))
}

fn wasi_host(args: &RunArgs) -> Result<WasiHost> {
    let mode = if args.deterministic {
        EngineMode::Deterministic
    } else {
        EngineMode::Standard
    };
    Ok(WasiHost::new(cache_of(&args.cache), mode)?)
}

/// Compiles (or takes from the cache) the tool `resolved` names, from the
/// bytes resolution read (and the broker judged).
fn load(host: &WasiHost, resolved: &resolve::Resolved, name: &str) -> Result<wasi::Program> {
    let loaded = match (&resolved.source, &resolved.file) {
        (ToolSource::BuiltIn(tool), _) => host.load_built_in(tool.module),
        (_, Some(file)) => host.load_file(file),
        (_, None) => anyhow::bail!("{name}: resolved without its bytes"),
    };
    loaded
        .map_err(anyhow::Error::from)
        .with_context(|| name.to_string())
}

/// Runs a WASI tool; returns cordon's exit code.
fn run_wasi(
    args: &RunArgs,
    policy: &SandboxPolicy,
    resolved: &resolve::Resolved,
    argv: &[String],
    stdio: Stdio,
) -> Result<Ran> {
    let name = &argv[0];
    let time_left = match args.time_left(name) {
        Ok(left) => left,
        Err(ran) => return Ok(ran),
    };
    let host = wasi_host(args)?;
    let program = load(&host, resolved, name)?;
    if let Some(timeout) = time_left {
        start_watchdog(timeout);
    }
    let mut policy = policy.clone();
    policy.limits.timeout = time_left;
    let policy = &policy;
    let outcome = host.run(&program, policy, argv, stdio)?;
    let code = report(name, policy, &outcome);
    show_refusals(name, policy, &outcome.violations, outcome.violations_more);
    if code != 0 {
        hint_paths_outside(policy, argv);
    }
    Ok(Ran {
        violations: outcome.violations,
        violations_more: outcome.violations_more,
        ..Ran::exited(code)
    })
}

/// After a WASI tool failed: one line for each argument that names a
/// host path outside the root, which the tool cannot see (it says only
/// "No such file or directory"), and how to reach it.
fn hint_paths_outside(policy: &SandboxPolicy, argv: &[String]) {
    let root = policy.root();
    let outside = argv[1..].iter().filter(|arg| {
        let path = Path::new(arg.as_str());
        path.is_absolute()
            && !path.starts_with(root)
            && path
                .canonicalize()
                .is_ok_and(|real| !real.starts_with(root))
    });
    for path in outside {
        say(format!(
            "{path} is outside the root {}: WASI tools see only the root; run the \
             command with --engine native to read it (writing there takes \
             --escalate writable=DIR)",
            root.display()
        ));
    }
}

/// Runs a native program under the OS sandbox (or, escalated to
/// `unsandboxed` by a person, without one).
fn run_native(
    args: &RunArgs,
    policy: &SandboxPolicy,
    program: &Path,
    argv: &[String],
    escalation: Option<&Escalation>,
    stdio: Stdio,
) -> Result<Ran> {
    let name = &argv[0];
    let refused = |why: String| {
        say(why);
        Ok(Ran::exited(exit::DENIED))
    };
    if args.deterministic && !args.allow_native {
        return refused(format!(
            "{name}: a native command is not deterministic; --allow-native runs it anyway"
        ));
    }
    let time_left = match args.time_left(name) {
        Ok(left) => left,
        Err(ran) => return Ok(ran),
    };
    let unsandboxed = escalation == Some(&Escalation::Unsandboxed);
    let asked = escalation.map(Escalation::parts).unwrap_or_default();
    let mut writable = writable_dirs(args);
    writable.extend(granted_writable(asked));
    let options = NativeOptions {
        writable,
        git_commit: asked.contains(&Escalation::GitCommit),
        env: args.env_choice(),
        no_namespaces: args.no_namespaces,
        protected: policy.own_dirs.clone(),
        hidden: policy.own_secrets.clone(),
        limits: NativeLimits {
            memory_bytes: args.settings.memory_mib.value.map(|mib| mib << 20),
            processes: Some(args.settings.processes.value),
        },
    };
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let plan = Plan::new(
        policy,
        &options,
        program.to_path_buf(),
        argv,
        std::env::vars(),
        home.as_deref(),
    );
    if args.deterministic {
        say(format!("{name}: native command, not deterministic"));
    }
    let gate = policy
        .network
        .gate(Request::for_command(argv, policy, "native"));
    let io = NativeIo {
        stdin: stdio.stdin,
        stdout: stdio.stdout,
        stderr: stdio.stderr,
        timeout: time_left,
        gate,
    };
    // On Linux the supervisor refuses a new `.git` (native/linux/names.rs);
    // elsewhere nothing does (names are not a Seatbelt subpath either): one
    // the command made is reported instead.
    let watch_git = !cfg!(target_os = "linux") && policy.protects_subpaths() && !unsandboxed;
    let git_before = watch_git.then(|| crate::gitdirs::entries(policy.root()));
    let result = if unsandboxed {
        say(format!("{name}: running without a sandbox, as approved"));
        let mut plan = plan;
        if plan.network == PlanNetwork::Proxy {
            // Nothing holds it to the list any more: no proxy variables
            // pointing at a port that is not ours.
            say(format!(
                "{name}: without the sandbox --network allow= does not apply; it has the \
                 host's network"
            ));
            plan.without_proxy();
        }
        native::run_unsandboxed(&plan, io)
    } else {
        native::run(&plan, io)
    };
    let mut outcome = match result {
        Ok(outcome) => outcome,
        Err(err @ (NativeError::LayerMissing(_) | NativeError::Unsupported(_))) => {
            return refused(format!("{name}: refused: {err}"));
        }
        Err(err) => return Err(err.into()),
    };
    if let Some(before) = git_before {
        let made = crate::gitdirs::entries(policy.root())
            .into_iter()
            .filter(|entry| !before.contains(entry));
        for entry in made {
            outcome.violations.insert(
                0,
                native::Violation {
                    denied: native::Denied::Write,
                    target: Some(entry.display().to_string()),
                    line: format!(
                        "{}: a new git repository; git runs the hooks and obeys the settings \
                         it holds (remove it if the command was not meant to make one)",
                        entry.display()
                    ),
                    times: 1,
                    from_stderr: false,
                    engine: "native",
                },
            );
        }
    }
    report_dropped(name, policy, outcome.stdout_dropped, outcome.stderr_dropped);
    show_refusals(name, policy, &outcome.violations, outcome.violations_more);
    let code = match outcome.status {
        NativeStatus::Exited(code) => u8::try_from(code).unwrap_or(1),
        NativeStatus::TimedOut => {
            let secs = args.settings.timeout.value.map_or(0.0, |t| t.as_secs_f64());
            say(format!(
                "{name}: timed out after {secs:.3}s (--timeout); its processes were killed"
            ));
            exit::TIMED_OUT
        }
    };
    Ok(Ran {
        code,
        violations: outcome.violations,
        violations_more: outcome.violations_more,
        layers: outcome.layers,
    })
}

/// Refusals listed after a run; the rest are counted only.
const MAX_VIOLATIONS_SHOWN: usize = 5;

/// One line for each refusal (the first few), naming what would have
/// allowed it, then how many more there were.
fn show_refusals(name: &str, policy: &SandboxPolicy, violations: &[native::Violation], more: u64) {
    for violation in violations.iter().take(MAX_VIOLATIONS_SHOWN) {
        let times = match violation.times {
            1 => String::new(),
            n => format!(" ({n} times)"),
        };
        say(format!(
            "sandbox refused {}: {}{times}; {}",
            violation.denied.as_str(),
            violation.line,
            broker::remedy(violation, policy)
        ));
    }
    let unshown = violations.len().saturating_sub(MAX_VIOLATIONS_SHOWN) as u64 + more;
    if unshown > 0 {
        say(format!("{name}: {unshown} more refusals not shown"));
    }
}

/// When the run's first command started: `--timeout` is the deadline of
/// the whole line, not of each command in it.
static FIRST_START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();

impl RunArgs {
    /// What passes of the host's environment beyond the defaults.
    fn env_choice(&self) -> native::env::EnvChoice {
        let values = |list: &[Sourced<String>]| list.iter().map(|s| s.value.clone()).collect();
        native::env::EnvChoice {
            pass: values(&self.settings.env_pass),
            drop: values(&self.settings.env_drop),
        }
    }

    /// What is left of `--timeout` for `name`, starting now (`None`: no
    /// deadline); once it has run out, how the command ends unstarted.
    fn time_left(&self, name: &str) -> Result<Option<Duration>, Ran> {
        let started = *FIRST_START.get_or_init(Instant::now);
        let Some(timeout) = self.settings.timeout.value else {
            return Ok(None);
        };
        match timeout.checked_sub(started.elapsed()) {
            Some(left) if !left.is_zero() => Ok(Some(left)),
            _ => {
                say(format!(
                    "{name}: not started: the line's {:.3}s (--timeout) ran out",
                    timeout.as_secs_f64()
                ));
                Err(Ran::exited(exit::TIMED_OUT))
            }
        }
    }
}

/// Host calls that block outside the async runtime (a FIFO opened for
/// reading, say) cannot be cancelled; past the deadline plus this grace the
/// process ends anyway.
const WATCHDOG_GRACE: Duration = Duration::from_secs(2);

fn start_watchdog(timeout: Duration) {
    std::thread::spawn(move || {
        std::thread::sleep(timeout + WATCHDOG_GRACE);
        say(format!(
            "timed out after {:.3}s (--timeout); the tool was blocked in a host call",
            timeout.as_secs_f64()
        ));
        std::process::exit(exit::TIMED_OUT.into());
    });
}

/// Says what limits the tool ran into and maps the outcome to an exit code.
fn report(name: &str, policy: &SandboxPolicy, outcome: &wasi::Outcome) -> u8 {
    let limits = &policy.limits;
    report_dropped(name, policy, outcome.stdout_dropped, outcome.stderr_dropped);
    if outcome.memory_exceeded {
        say(format!(
            "{name}: memory limit of {} MiB reached (--memory)",
            limits.memory_bytes >> 20
        ));
    }
    match &outcome.status {
        // A code the OS cannot carry must not turn into a success.
        Status::Exited(code) => u8::try_from(*code).unwrap_or(1),
        Status::TimedOut => {
            let secs = limits.timeout.map_or(0.0, |t| t.as_secs_f64());
            say(format!("{name}: timed out after {secs:.3}s (--timeout)"));
            exit::TIMED_OUT
        }
        Status::OutOfFuel => {
            let fuel = policy.determinism.as_ref().map_or(0, |d| d.fuel);
            say(format!("{name}: fuel of {fuel} exhausted (--fuel)"));
            exit::TIMED_OUT
        }
        Status::Trapped(trap) if trap.contains(wasi::BROKEN_PIPE) => exit::BROKEN_PIPE,
        Status::Trapped(trap) => {
            let first = trap.lines().next().unwrap_or("trap");
            say(format!("{name}: trapped: {first}"));
            exit::TRAPPED
        }
    }
}

/// Says how much of each stream was past `--max-output`.
fn report_dropped(name: &str, policy: &SandboxPolicy, stdout: u64, stderr: u64) {
    for (stream, dropped) in [("stdout", stdout), ("stderr", stderr)] {
        if dropped > 0 {
            say(format!(
                "{name}: {stream} truncated at {} bytes (--max-output); {dropped} bytes dropped",
                policy.limits.max_output_bytes.unwrap_or_default()
            ));
        }
    }
}

fn trust(root: &Path) -> Result<ExitCode> {
    let root = root
        .canonicalize()
        .with_context(|| format!("--root {}", root.display()))?;
    let config =
        project::user_config_dir().context("no config directory: set XDG_CONFIG_HOME or HOME")?;
    let check = |text: &str, path: &Path| Settings::check_project(text, path, &root);
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
        json,
        allowed,
    };
    match scenario::run(&options) {
        Ok(true) => Ok(ExitCode::SUCCESS),
        Ok(false) => Ok(ExitCode::from(1)),
        Err(why) => {
            say(why);
            Ok(ExitCode::from(exit::HOST_ERROR))
        }
    }
}

fn doctor(root: &Path, cache: &CacheArgs) -> Result<ExitCode> {
    println!("cordon {}", env!("CARGO_PKG_VERSION"));
    println!("wasmtime {WASMTIME_VERSION} (cranelift; WASIp1 modules and WASIp2 components)");
    match cache_of(cache) {
        Some(cache) => {
            let (entries, bytes) = cache.usage();
            println!(
                "compile cache: {} ({entries} entries, {:.1} MiB)",
                cache.dir().display(),
                bytes as f64 / (1 << 20) as f64
            );
        }
        None => println!("compile cache: off"),
    }
    println!("native sandbox layers:");
    for layer in native::layers() {
        match layer.state {
            Ok(detail) => println!("  {:<11} available: {detail}", layer.name),
            Err(why) => println!("  {:<11} missing: {why}", layer.name),
        }
    }
    let root = crate::policy::canonical_root(root)?;
    let tracked = crate::tracked::secrets(&root, &SecretPatterns::default());
    if !tracked.is_empty() {
        println!("{}", crate::tracked::warning(&tracked));
    }
    println!("settings for {} (before any flag):", root.display());
    let settings =
        Settings::load(&root, project::user_config_dir().as_deref()).map_err(anyhow::Error::msg)?;
    for line in settings.describe() {
        println!("  {line}");
    }
    if let Some(note) = &settings.left_out {
        println!("  {}", crate::display::text(note));
    }
    Ok(ExitCode::SUCCESS)
}
