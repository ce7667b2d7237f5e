//! What a [`super::Session`] is configured with, and what each command
//! asks of it: typed values, free of any command-line parser.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;

use super::Engines;
use crate::audit::AuditWatcher;
use crate::broker::approver::{Approver, ApproverSpec};
use crate::broker::project;
use crate::broker::rules::Rules;
use crate::io::Cancel;
use crate::observe::{Observer, Quiet};
use crate::policy::Determinism;
use crate::request::{Escalation, GrantKind};
use crate::settings::{Overrides, Settings};
use crate::wasi::CompileCache;

/// Everything a session runs its commands under.
pub struct SessionConfig {
    /// The project root: the only directory a WASI tool sees, and what a
    /// native command may write (as the sandbox mode says). Found once,
    /// when the session starts; a tool also knows it by this spelling.
    pub root: PathBuf,
    /// Sandbox mode, approval policy, network, limits, writable
    /// directories, secrets and environment choices, each with where it
    /// came from ([`Settings::load`] reads the settings files).
    pub settings: Settings,
    /// Who answers the broker's questions.
    pub approver: ApproverChoice,
    /// Where audit lines go (`None`: nowhere).
    pub audit: Option<PathBuf>,
    /// Rule files loaded after the user's and the project's.
    pub rules: Vec<PathBuf>,
    /// Rules given in code (a server's `session/open`): only those that
    /// prompt or forbid apply, as a project's untrusted rules.
    pub narrowing_rules: Rules,
    /// Hears every audit event as it is recorded, beside `audit`.
    pub audit_watcher: Option<Arc<dyn AuditWatcher>>,
    /// Escalations of these kinds are refused without asking.
    pub no_grant: Vec<GrantKind>,
    /// WASI tools by name, from these files (`--tool NAME=PATH`).
    pub tools: Vec<(String, PathBuf)>,
    /// `Some`: every run is reproducible (fixed clocks, seeded randomness,
    /// fuel), and native commands are refused unless `allow_native`.
    pub determinism: Option<Determinism>,
    /// Let a deterministic session start native commands.
    pub allow_native: bool,
    /// Which engine may run a command.
    pub engine: EngineChoice,
    /// `NAME=ADDRESS` pins that replace DNS for those names (grant nothing).
    pub resolve: Vec<String>,
    /// Test servers by name and port: with `no_grant` network, the only
    /// hosts a person may still be asked about (`None`: any name `resolve`
    /// pins to a loopback address).
    pub test_servers: Option<Vec<(String, u16)>>,
    /// Globs readable after all, though they look like secrets.
    pub allow_secret: Vec<String>,
    /// Native commands run under Landlock and seccomp only, without
    /// namespaces (weaker; see docs/SANDBOX.md).
    pub no_namespaces: bool,
    /// Where compiled tools are kept between processes.
    pub cache: CacheChoice,
    /// The warm engines and the tools they compiled: the session's own,
    /// or shared with other sessions (which then compile each tool once).
    pub engines: Arc<Engines>,
    /// The binary each native command starts as its sandbox helper: one
    /// whose `main` calls [`crate::native::become_helper_if_asked`] first
    /// (`None`: this process's own, e.g. the `cordon` binary).
    pub native_helper: Option<PathBuf>,
    /// Keep the size and SHA-256 of each command's output for
    /// [`super::RunOutcome`] (always kept when auditing).
    pub output_digests: bool,
    /// Ends the whole process when a WASI tool stays blocked in a host call
    /// past its deadline (which cannot be cancelled), rather than wait for
    /// it: right for a process that runs commands for a person (`cordon
    /// run`, `cordon test`), never for a library inside a larger one.
    pub exit_when_stuck: bool,
    /// Who hears what a person should see.
    pub observer: Arc<dyn Observer>,
    /// The host environment: what a native command's environment is
    /// scrubbed from, and where `PATH` and `HOME` are read (default: this
    /// process's).
    pub host_env: Vec<(String, String)>,
    /// The user's cordon config directory (rules, trusted projects): what
    /// commands may not write, and where "always" rules go (default:
    /// `$XDG_CONFIG_HOME/cordon`). [`SessionConfig::new`] reads the
    /// settings there.
    pub user_config: Option<PathBuf>,
}

impl SessionConfig {
    /// The configuration a run in `root` gets with no flags: the user's and
    /// the project's settings files, nobody to ask (so every question is
    /// denied), no audit, the default compile cache.
    ///
    /// # Errors
    ///
    /// A root that is not a directory, or a settings file that is invalid.
    pub fn new(root: impl AsRef<Path>) -> Result<SessionConfig> {
        SessionConfig::with_overrides(root, Overrides::default())
    }

    /// As [`SessionConfig::new`], with `given` laid over the settings
    /// files ([`Settings::override_with`]): a front end's flags.
    ///
    /// # Errors
    ///
    /// As [`SessionConfig::new`], or a writable directory given that
    /// cannot be one.
    pub fn with_overrides(root: impl AsRef<Path>, given: Overrides) -> Result<SessionConfig> {
        let root = root.as_ref();
        let canonical = crate::policy::canonical_root(root)?;
        let user_config = project::user_config_dir();
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let mut settings = Settings::load(&canonical, user_config.as_deref(), home.as_deref())
            .map_err(anyhow::Error::msg)?;
        settings
            .override_with(given, &canonical)
            .map_err(anyhow::Error::msg)?;
        Ok(SessionConfig {
            root: root.to_path_buf(),
            settings,
            approver: ApproverChoice::Spec {
                spec: ApproverSpec::Deny,
                timeout: Duration::from_secs(300),
            },
            audit: None,
            rules: Vec::new(),
            narrowing_rules: Rules::default(),
            audit_watcher: None,
            no_grant: Vec::new(),
            tools: Vec::new(),
            determinism: None,
            allow_native: false,
            engine: EngineChoice::Auto,
            resolve: Vec::new(),
            test_servers: None,
            allow_secret: Vec::new(),
            no_namespaces: false,
            cache: CacheChoice::default(),
            engines: Arc::default(),
            native_helper: None,
            output_digests: true,
            exit_when_stuck: false,
            observer: Arc::new(Quiet),
            host_env: std::env::vars().collect(),
            user_config,
        })
    }

    /// The host variable `name`, if set.
    pub(crate) fn host_var(&self, name: &str) -> Option<&str> {
        let found = self.host_env.iter().rev().find(|(key, _)| key == name);
        found.map(|(_, value)| value.as_str())
    }

    /// The compile cache's directory, used or not: commands may not write
    /// it either way.
    pub(crate) fn cache_dir(&self) -> Option<PathBuf> {
        self.cache.dir.clone().or_else(CompileCache::default_dir)
    }

    /// The compile cache runs read and write, if any.
    pub(crate) fn compile_cache(&self) -> Option<CompileCache> {
        let used = !self.cache.off;
        used.then(|| self.cache_dir().map(CompileCache::new))
            .flatten()
    }
}

/// Who answers questions.
pub enum ApproverChoice {
    /// One of cordon's approvers (a terminal, a JSON-lines channel, a
    /// script, nobody), each answer awaited at most `timeout`.
    Spec {
        /// Which approver.
        spec: ApproverSpec,
        /// How long a question may wait; then it is denied.
        timeout: Duration,
    },
    /// The embedder's own.
    Custom(Box<dyn Approver + Send + Sync>),
}

/// Which engine may run a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum EngineChoice {
    /// A WASI tool if one has the name, else a native program.
    #[default]
    Auto,
    /// Only WASI tools.
    Wasi,
    /// Only native programs.
    Native,
}

/// Where compiled code is kept.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct CacheChoice {
    /// The directory (default: `$XDG_CACHE_HOME/cordon`). Commands may not
    /// write it, used or not.
    pub dir: Option<PathBuf>,
    /// Compile every time; neither read nor write it.
    pub off: bool,
}

/// One command for a session to run.
pub struct Command {
    /// The program and its arguments, or a shell line.
    pub what: CommandLine,
    /// Where it runs: inside the root, relative to it or absolute
    /// (default: the root).
    pub cwd: Option<PathBuf>,
    /// `KEY=VALUE` set in its environment.
    pub env: Vec<String>,
    /// What it reads (default: the host's stdin).
    pub stdin: Option<File>,
    /// Where its output goes as it comes (default: the host's streams).
    pub output: Output,
    /// Its wall-clock limit, which replaces the settings' (a line's
    /// commands share it).
    pub timeout: Option<Duration>,
    /// More than the sandbox gives, asked of a person.
    pub escalate: Vec<Escalation>,
    /// Why the escalation is needed, shown to the person asked.
    pub justification: Option<String>,
    /// What stops it from outside ([`Cancel::cancel`]): whatever of it
    /// runs is killed, and nothing more of it starts.
    pub cancel: Option<Cancel>,
    /// Its cap on each of stdout and stderr, in place of the settings'.
    pub max_output: Option<u64>,
    /// Who hears what cordon says of this command, in place of the
    /// session's observer (a server's concurrent calls each hear their
    /// own).
    pub notes: Option<Arc<dyn Observer>>,
}

/// What a command is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommandLine {
    /// A program (`argv[0]`) and its arguments.
    Argv(Vec<String>),
    /// A shell line, read and checked command by command.
    Line(String),
}

/// Where a command's output goes.
pub enum Output {
    /// The host's stdout and stderr.
    Inherit,
    /// These writers, as the output comes.
    To {
        /// Where the command's stdout goes.
        stdout: Box<dyn Write + Send>,
        /// Where its stderr goes.
        stderr: Box<dyn Write + Send>,
    },
}

impl Command {
    fn of(what: CommandLine) -> Command {
        Command {
            what,
            cwd: None,
            env: Vec::new(),
            stdin: None,
            output: Output::Inherit,
            timeout: None,
            escalate: Vec::new(),
            justification: None,
            cancel: None,
            max_output: None,
            notes: None,
        }
    }

    /// A program and its arguments.
    pub fn argv<S: Into<String>>(argv: impl IntoIterator<Item = S>) -> Command {
        Command::of(CommandLine::Argv(
            argv.into_iter().map(Into::into).collect(),
        ))
    }

    /// A shell line (as `sh -c LINE`).
    pub fn line(line: impl Into<String>) -> Command {
        Command::of(CommandLine::Line(line.into()))
    }

    /// Runs in `dir` (inside the root).
    pub fn cwd(mut self, dir: impl Into<PathBuf>) -> Command {
        self.cwd = Some(dir.into());
        self
    }

    /// Sets `key` to `value` in its environment.
    pub fn env(mut self, key: &str, value: &str) -> Command {
        self.env.push(format!("{key}={value}"));
        self
    }

    /// Tells `observer` what cordon says of this command.
    pub fn notes(mut self, observer: Arc<dyn Observer>) -> Command {
        self.notes = Some(observer);
        self
    }

    /// Reads `file` as its stdin.
    pub fn stdin(mut self, file: File) -> Command {
        self.stdin = Some(file);
        self
    }

    /// Writes its output to these writers as it comes.
    pub fn output(
        mut self,
        stdout: impl Write + Send + 'static,
        stderr: impl Write + Send + 'static,
    ) -> Command {
        self.output = Output::To {
            stdout: Box::new(stdout),
            stderr: Box::new(stderr),
        };
        self
    }

    /// Stops it when `cancel` is cancelled.
    pub fn cancel(mut self, cancel: Cancel) -> Command {
        self.cancel = Some(cancel);
        self
    }

    /// Ends it after `timeout`.
    pub fn timeout(mut self, timeout: Duration) -> Command {
        self.timeout = Some(timeout);
        self
    }

    /// Asks for `grant` beyond the sandbox, with a reason for the person.
    pub fn escalate(mut self, grant: Escalation, justification: Option<String>) -> Command {
        self.escalate.push(grant);
        self.justification = justification;
        self
    }
}
