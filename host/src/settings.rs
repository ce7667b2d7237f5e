//! Standing settings: the defaults a user sets once in
//! `CONFIG/cordon/config.toml`, and a project's `.cordon/config.toml`.
//!
//! A project's settings only tighten the user's (a stricter sandbox or
//! approval, less network, lower limits, more secrets, more variables
//! left out) until the user trusts the project from outside it (`cordon
//! trust`), as its rules do: a cloned repository must not widen its own
//! sandbox. What would loosen is left out, and said. Flags given on the
//! command line win over both files, or add to their lists. Every value
//! remembers where it came from, for `cordon doctor`.

use std::fmt;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::broker::project;
use crate::config_file::line_of;
use crate::net::Network;
use crate::policy::SandboxMode;
use crate::request::ApprovalPolicy;

/// The user's settings file, in [`project::user_config_dir`].
pub const USER_CONFIG: &str = "config.toml";

/// Memory limits cordon accepts, in MiB.
pub const MEMORY_MIB: RangeInclusive<u64> = 1..=65536;

/// Process limits cordon accepts.
pub const PROCESSES: RangeInclusive<u64> = 1..=1_000_000;

/// Each WASI tool's memory, in MiB, unless set.
pub const WASI_MEMORY_MIB: u64 = 512;

/// Processes a native command's tree may have at once, unless set.
const DEFAULT_PROCESSES: u64 = 4096;

/// One settings file, as written. Unknown keys are errors.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    sandbox: Option<Spanned<SandboxMode>>,
    approval: Option<Spanned<ApprovalPolicy>>,
    /// `"off"`, `"on"`, `"allow=HOST,..."`, or a list of hosts.
    network: Option<Spanned<toml::Value>>,
    #[serde(default)]
    writable: Vec<Spanned<String>>,
    #[serde(default)]
    secrets: Vec<Spanned<String>>,
    #[serde(default)]
    env: EnvSection,
    #[serde(default)]
    limits: LimitsSection,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvSection {
    #[serde(default)]
    pass: Vec<Spanned<String>>,
    #[serde(default)]
    drop: Vec<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct LimitsSection {
    timeout: Option<Spanned<f64>>,
    memory: Option<Spanned<u64>>,
    processes: Option<Spanned<u64>>,
    max_output: Option<Spanned<u64>>,
}

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// cordon's default.
    Default,
    /// A settings file, at a line.
    File {
        /// The settings file.
        path: PathBuf,
        /// The line the value is set on (1-based).
        line: usize,
    },
    /// A flag on the command line.
    Flag(&'static str),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::File { path, line } => write!(f, "{}:{line}", path.display()),
            Source::Flag(flag) => f.write_str(flag),
        }
    }
}

/// A value and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sourced<T> {
    /// The setting's value.
    pub value: T,
    /// Where it came from.
    pub from: Source,
}

impl<T> Sourced<T> {
    fn default_of(value: T) -> Sourced<T> {
        Sourced {
            value,
            from: Source::Default,
        }
    }

    /// `value` as the command line's `flag` gave it.
    pub fn flag(value: T, flag: &'static str) -> Sourced<T> {
        Sourced {
            value,
            from: Source::Flag(flag),
        }
    }
}

/// The settings one run goes by.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How much of the filesystem commands may change.
    pub sandbox: Sourced<SandboxMode>,
    /// When a person is asked.
    pub approval: Sourced<ApprovalPolicy>,
    /// What commands reach on the network.
    pub network: Sourced<Network>,
    /// Also writable for native commands: existing directories, resolved.
    pub writable: Vec<Sourced<PathBuf>>,
    /// Also unreadable: globs in the root, or paths (as `--secret`).
    pub secrets: Vec<Sourced<String>>,
    /// Host variables passed though they look like credentials.
    pub env_pass: Vec<Sourced<String>>,
    /// Host variables left out too (globs).
    pub env_drop: Vec<Sourced<String>>,
    /// Each command's wall-clock limit (`None`: no limit).
    pub timeout: Sourced<Option<Duration>>,
    /// A native command tree's memory, and each WASI tool's (512 MiB
    /// when `None`).
    pub memory_mib: Sourced<Option<u64>>,
    /// The most processes a native command's tree may have at once.
    pub processes: Sourced<u64>,
    /// Cap on each of stdout and stderr, in bytes (`None`: no cap).
    pub max_output: Sourced<Option<u64>>,
    /// What a project's untrusted settings asked for and did not get, as
    /// one note (`None`: nothing was left out).
    pub left_out: Option<String>,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            sandbox: Sourced::default_of(SandboxMode::default()),
            approval: Sourced::default_of(ApprovalPolicy::default()),
            network: Sourced::default_of(Network::Off),
            writable: Vec::new(),
            secrets: Vec::new(),
            env_pass: Vec::new(),
            env_drop: Vec::new(),
            timeout: Sourced::default_of(None),
            memory_mib: Sourced::default_of(None),
            processes: Sourced::default_of(DEFAULT_PROCESSES),
            max_output: Sourced::default_of(None),
            left_out: None,
        }
    }
}

/// Settings a front end gives for its runs (`cordon run`'s flags, a
/// scenario's policy), laid over the files' by [`Settings::override_with`].
#[derive(Debug, Default)]
pub struct Overrides {
    /// `--sandbox`.
    pub sandbox: Option<SandboxMode>,
    /// `--approval`.
    pub approval: Option<ApprovalPolicy>,
    /// `--network`.
    pub network: Option<Network>,
    /// `--timeout`.
    pub timeout: Option<Duration>,
    /// `--memory`, in MiB.
    pub memory_mib: Option<u64>,
    /// `--processes`.
    pub processes: Option<u64>,
    /// `--max-output`, in bytes.
    pub max_output: Option<u64>,
    /// `--writable`, relative to the current directory.
    pub writable: Vec<PathBuf>,
    /// `--secret`.
    pub secrets: Vec<String>,
    /// `--env-pass`.
    pub env_pass: Vec<String>,
    /// `--env-drop`.
    pub env_drop: Vec<String>,
}

/// Whose file is applied, and so what it may change.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Layer {
    /// The user's own: anything; its paths are absolute or start with ~/.
    User,
    /// A project's: anything when trusted, else only what tightens; its
    /// relative paths start at the root.
    Project { trusted: bool },
}

/// One file being applied: its text (for line numbers), its path, and the
/// root its relative paths start from.
struct Applying<'a> {
    text: &'a str,
    path: &'a Path,
    root: &'a Path,
    /// What `~/` stands for.
    home: Option<&'a Path>,
    layer: Layer,
    /// `line N: what`, for each setting that would have loosened.
    left_out: Vec<String>,
}

impl Applying<'_> {
    fn source<T>(&self, spanned: &Spanned<T>) -> Source {
        Source::File {
            path: self.path.to_path_buf(),
            line: line_of(self.text, spanned.span().start),
        }
    }

    fn problem<T>(&self, spanned: &Spanned<T>, message: impl fmt::Display) -> String {
        format!("{}: {message}", self.source(spanned))
    }

    /// Sets `slot` to `value` unless this layer may only tighten and
    /// `tighter` says it would not.
    fn set<T>(
        &mut self,
        slot: &mut Sourced<T>,
        spanned: &Spanned<impl Sized>,
        value: T,
        tighter: impl FnOnce(&T, &T) -> bool,
        shown: impl FnOnce() -> String,
    ) {
        if self.tightens_only() && !tighter(&value, &slot.value) {
            self.refuse(spanned, shown());
            return;
        }
        *slot = Sourced {
            value,
            from: self.source(spanned),
        };
    }

    fn refuse<T>(&mut self, spanned: &Spanned<T>, shown: String) {
        let line = line_of(self.text, spanned.span().start);
        // What the file says, escaped: it must not draw lines of its own.
        let shown = crate::display::text(&shown);
        self.left_out.push(format!("line {line}: {shown}"));
    }

    /// `~/` made the home; a relative path made the root's when this is a
    /// project's file, refused when it is the user's.
    fn path(&self, spanned: &Spanned<String>, key: &str) -> Result<PathBuf, String> {
        let text = spanned.get_ref();
        if let Some(rest) = text.strip_prefix("~/") {
            let home = self
                .home
                .ok_or_else(|| self.problem(spanned, format!("{key} {text}: HOME is not set")))?;
            return Ok(home.join(rest));
        }
        let path = Path::new(text);
        if path.is_absolute() || self.layer != Layer::User {
            return Ok(self.root.join(path));
        }
        Err(self.problem(
            spanned,
            format!("{key} {text}: a path in your own settings starts with / or ~/"),
        ))
    }

    fn tightens_only(&self) -> bool {
        self.layer == Layer::Project { trusted: false }
    }
}

impl Settings {
    /// The settings for the project at `root` (canonical): the defaults,
    /// then the user's file in `config`, then the project's (trusted, or
    /// only what tightens).
    ///
    /// # Errors
    ///
    /// A file that cannot be read or does not parse, an unknown key or a
    /// bad value (`file:line: problem`), or an unreadable trust store.
    pub fn load(
        root: &Path,
        config: Option<&Path>,
        home: Option<&Path>,
    ) -> Result<Settings, String> {
        let mut settings = Settings::default();
        settings.load_files(root, config, home)?;
        settings.resolve_writable(root)?;
        Ok(settings)
    }

    fn load_files(
        &mut self,
        root: &Path,
        config: Option<&Path>,
        home: Option<&Path>,
    ) -> Result<(), String> {
        let settings = self;
        if let Some(config) = config {
            let path = config.join(USER_CONFIG);
            match crate::config_file::read_text(&path, crate::config_file::CONFIG_LIMIT) {
                Ok(text) => {
                    settings.apply(&text, &path, root, home, Layer::User)?;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(format!("{}: {e}", path.display())),
            }
        }
        let path = root.join(project::PROJECT_CONFIG);
        let bytes = match project::read_project_file(root, project::PROJECT_CONFIG) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| format!("{}: not UTF-8 text", path.display()))?;
        let trusted = project::is_trusted(config, root, project::PROJECT_CONFIG, &bytes)?;
        let left_out = settings.apply(text, &path, root, home, Layer::Project { trusted })?;
        if !left_out.is_empty() {
            settings.left_out = Some(format!(
                "{}: left out, as a project's settings only tighten yours until you trust it \
                 (cordon trust --root {}): {}",
                path.display(),
                root.display(),
                left_out.join("; ")
            ));
        }
        Ok(())
    }

    /// Narrows these settings by `text` (a settings file's keys), as an
    /// agent asks for its session: only what tightens applies, and what
    /// would loosen is an error naming it (`label:LINE: what`), never
    /// taken.
    ///
    /// # Errors
    ///
    /// A key that does not parse, or one that would loosen.
    pub fn narrow(&mut self, text: &str, label: &Path, root: &Path) -> Result<(), String> {
        let mut narrowed = self.clone();
        let layer = Layer::Project { trusted: false };
        let loosening = narrowed.apply(text, label, root, None, layer)?;
        if !loosening.is_empty() {
            return Err(format!(
                "{}: more than the settings give (a person's grant, not the requester's): {}",
                label.display(),
                loosening.join("; ")
            ));
        }
        *self = narrowed;
        Ok(())
    }

    /// Trusts `root`'s rules and settings files as they read now (`cordon
    /// trust`), in the user's config dir, once the settings file has been
    /// checked as it would be read trusted. Returns each file trusted and
    /// its digest.
    ///
    /// # Errors
    ///
    /// No config dir, or a file that cannot be read or is invalid.
    pub fn trust_project(
        root: &Path,
        home: Option<&Path>,
    ) -> Result<Vec<(&'static str, String)>, String> {
        let config =
            project::user_config_dir().ok_or("no config directory: set XDG_CONFIG_HOME or HOME")?;
        project::trust(root, &config, |text, path| {
            Settings::default()
                .apply(text, path, root, home, Layer::Project { trusted: true })
                .map(drop)
        })
    }

    /// Lays a front end's `given` settings over the files' (each value
    /// wins, each list adds to theirs, each labelled with the flag that
    /// gives it), then, if it gives writable directories, resolves them
    /// all as [`Settings::resolve_writable`] does (the files' were when
    /// they were loaded).
    ///
    /// # Errors
    ///
    /// As [`Settings::resolve_writable`].
    pub fn override_with(&mut self, given: Overrides, root: &Path) -> Result<(), String> {
        fn set<T>(setting: &mut Sourced<T>, given: Option<T>, flag: &'static str) {
            if let Some(value) = given {
                *setting = Sourced::flag(value, flag);
            }
        }
        fn add<T>(list: &mut Vec<Sourced<T>>, given: Vec<T>, flag: &'static str) {
            list.extend(given.into_iter().map(|value| Sourced::flag(value, flag)));
        }
        set(&mut self.sandbox, given.sandbox, "--sandbox");
        set(&mut self.approval, given.approval, "--approval");
        set(&mut self.network, given.network, "--network");
        set(&mut self.timeout, given.timeout.map(Some), "--timeout");
        set(&mut self.memory_mib, given.memory_mib.map(Some), "--memory");
        set(&mut self.processes, given.processes, "--processes");
        set(
            &mut self.max_output,
            given.max_output.map(Some),
            "--max-output",
        );
        let more_writable = !given.writable.is_empty();
        let absolute = given.writable.into_iter();
        let absolute = absolute.map(|dir| std::path::absolute(&dir).unwrap_or(dir));
        add(&mut self.writable, absolute.collect(), "--writable");
        add(&mut self.secrets, given.secrets, "--secret");
        add(&mut self.env_pass, given.env_pass, "--env-pass");
        add(&mut self.env_drop, given.env_drop, "--env-drop");
        match more_writable {
            true => self.resolve_writable(root),
            false => Ok(()),
        }
    }

    /// Applies one settings file's `text`; what a layer that only
    /// tightens would have loosened is left out, and returned.
    fn apply(
        &mut self,
        text: &str,
        path: &Path,
        root: &Path,
        home: Option<&Path>,
        layer: Layer,
    ) -> Result<Vec<String>, String> {
        let file: FileSettings = toml::from_str(text).map_err(|err| {
            let offset = err.span().map_or(0, |span| span.start);
            format!(
                "{}:{}: {}",
                path.display(),
                line_of(text, offset),
                err.message()
            )
        })?;
        let mut at = Applying {
            text,
            path,
            root,
            home,
            layer,
            left_out: Vec::new(),
        };
        if let Some(mode) = &file.sandbox {
            let value = *mode.get_ref();
            at.set(
                &mut self.sandbox,
                mode,
                value,
                |new, old| rank(*new) <= rank(*old),
                || format!("sandbox = {}", value.as_str()),
            );
        }
        if let Some(policy) = &file.approval {
            let value = *policy.get_ref();
            at.set(
                &mut self.approval,
                policy,
                value,
                |new, old| asks_no_less(*new, *old),
                || format!("approval = {}", value.as_str()),
            );
        }
        if let Some(network) = &file.network {
            self.apply_network(&mut at, network)?;
        }
        for dir in &file.writable {
            let path = at.path(dir, "writable")?;
            if at.tightens_only() {
                at.refuse(dir, format!("writable {}", path.display()));
            } else {
                let from = at.source(dir);
                self.writable.push(Sourced { value: path, from });
            }
        }
        for secret in &file.secrets {
            let value = match secret.get_ref().starts_with("~/") {
                true => at.path(secret, "secret")?.display().to_string(),
                false => secret.get_ref().clone(),
            };
            globset::Glob::new(&value)
                .map_err(|e| at.problem(secret, format!("secret {value}: {e}")))?;
            let outside = Path::new(&value).is_absolute() && !Path::new(&value).starts_with(root);
            if outside && value.contains(['*', '?', '[', '{']) {
                return Err(at.problem(
                    secret,
                    format!(
                        "secret {value}: a pattern outside the root; name the files or \
                         directories to hide there"
                    ),
                ));
            }
            let from = at.source(secret);
            self.secrets.push(Sourced { value, from });
        }
        for name in &file.env.pass {
            if at.tightens_only() {
                at.refuse(name, format!("env.pass {}", name.get_ref()));
            } else {
                let from = at.source(name);
                self.env_pass.push(Sourced {
                    value: name.get_ref().clone(),
                    from,
                });
            }
        }
        for glob in &file.env.drop {
            globset::Glob::new(glob.get_ref())
                .map_err(|e| at.problem(glob, format!("env.drop {}: {e}", glob.get_ref())))?;
            let from = at.source(glob);
            self.env_drop.push(Sourced {
                value: glob.get_ref().clone(),
                from,
            });
        }
        self.apply_limits(&mut at, &file.limits)?;
        Ok(at.left_out)
    }

    fn apply_network(
        &mut self,
        at: &mut Applying,
        network: &Spanned<toml::Value>,
    ) -> Result<(), String> {
        let value = match network.get_ref() {
            toml::Value::String(text) => text.parse::<Network>(),
            toml::Value::Array(hosts) => hosts
                .iter()
                .map(|host| host.as_str().ok_or("a list of hosts holds strings"))
                .collect::<Result<Vec<_>, _>>()
                .map_err(str::to_string)
                .and_then(|hosts| format!("allow={}", hosts.join(",")).parse::<Network>()),
            _ => Err("expected \"off\", \"on\", \"allow=HOST,...\" or a list of hosts".to_string()),
        }
        .map_err(|e| at.problem(network, format!("network: {e}")))?;
        if !at.tightens_only() {
            at.set(&mut self.network, network, value, |_, _| true, String::new);
            return Ok(());
        }
        let (kept, left_out) = match (&value, &self.network.value) {
            (Network::Off, _) | (Network::On, Network::On) => (Some(value.clone()), Vec::new()),
            (Network::Allow(list), Network::On) => (Some(Network::Allow(list.clone())), Vec::new()),
            (Network::Allow(list), Network::Allow(outer)) => {
                let (kept, left_out) = list.within(outer);
                (Some(Network::Allow(kept)), left_out)
            }
            (_, _) => (None, vec![value.to_string()]),
        };
        for shown in left_out {
            at.refuse(network, format!("network {shown}"));
        }
        if let Some(kept) = kept {
            at.set(&mut self.network, network, kept, |_, _| true, String::new);
        }
        Ok(())
    }

    fn apply_limits(&mut self, at: &mut Applying, limits: &LimitsSection) -> Result<(), String> {
        if let Some(secs) = &limits.timeout {
            let value = seconds(*secs.get_ref())
                .map_err(|e| at.problem(secs, format!("limits.timeout: {e}")))?;
            at.set(&mut self.timeout, secs, Some(value), lower, || {
                format!("limits.timeout = {}", secs.get_ref())
            });
        }
        let in_range = |spanned: &Spanned<u64>, key: &str, range: &RangeInclusive<u64>| {
            let value = *spanned.get_ref();
            match range.contains(&value) {
                true => Ok(value),
                false => Err(at.problem(
                    spanned,
                    format!(
                        "{key} = {value}: not in {}..={}",
                        range.start(),
                        range.end()
                    ),
                )),
            }
        };
        let memory = limits
            .memory
            .as_ref()
            .map(|m| in_range(m, "limits.memory", &MEMORY_MIB))
            .transpose()?;
        let processes = limits
            .processes
            .as_ref()
            .map(|p| in_range(p, "limits.processes", &PROCESSES))
            .transpose()?;
        if let (Some(spanned), Some(value)) = (&limits.memory, memory) {
            let no_more = |new: &Option<u64>, old: &Option<u64>| {
                lower(new, &Some(old.unwrap_or(WASI_MEMORY_MIB)))
            };
            at.set(&mut self.memory_mib, spanned, Some(value), no_more, || {
                format!("limits.memory = {value}")
            });
        }
        if let (Some(spanned), Some(value)) = (&limits.processes, processes) {
            at.set(
                &mut self.processes,
                spanned,
                value,
                |new, old| new <= old,
                || format!("limits.processes = {value}"),
            );
        }
        if let Some(spanned) = &limits.max_output {
            let value = *spanned.get_ref();
            at.set(&mut self.max_output, spanned, Some(value), lower, || {
                format!("limits.max-output = {value}")
            });
        }
        Ok(())
    }

    /// Resolves every writable directory, symlink by symlink. One reached
    /// through a symlink that lies where commands may write (the root, or
    /// another writable directory) is refused: a command could point it
    /// elsewhere (at the home directory, say) for every run after, the
    /// settings file unchanged.
    ///
    /// # Errors
    ///
    /// Such a directory, or one that is not an existing directory, naming
    /// where it was set.
    pub fn resolve_writable(&mut self, root: &Path) -> Result<(), String> {
        let given: Vec<PathBuf> = self.writable.iter().map(|w| w.value.clone()).collect();
        let areas: Vec<&Path> = std::iter::once(root)
            .chain(given.iter().map(PathBuf::as_path))
            .collect();
        for dir in &mut self.writable {
            let problem = |why: String| match &dir.from {
                Source::Flag(flag) => format!("{flag} {}: {why}", dir.value.display()),
                from => format!("{from}: writable {}: {why}", dir.value.display()),
            };
            let resolved = crate::own_dirs::resolve_path(&dir.value, &areas)
                .map_err(|e| problem(e.to_string()))?;
            if let Some((link, area)) = &resolved.through {
                return Err(problem(format!(
                    "reached through the symlink {}, in {} where commands may write, so a \
                     command could point it elsewhere; name the directory by its real path \
                     ({})",
                    link.display(),
                    area.display(),
                    resolved.real.display()
                )));
            }
            if !resolved.real.is_dir() {
                return Err(problem("not a directory".into()));
            }
            dir.value = resolved.real;
        }
        Ok(())
    }

    /// The settings, a line each, with where each came from (for `cordon
    /// doctor`).
    pub fn describe(&self) -> Vec<String> {
        let mut rows: Vec<(&str, String, &Source)> = vec![
            (
                "sandbox",
                self.sandbox.value.as_str().to_string(),
                &self.sandbox.from,
            ),
            (
                "approval",
                self.approval.value.as_str().to_string(),
                &self.approval.from,
            ),
            (
                "network",
                self.network.value.to_string(),
                &self.network.from,
            ),
        ];
        let lists = [
            (
                "writable",
                &self
                    .writable
                    .iter()
                    .map(|w| (w.value.display().to_string(), &w.from))
                    .collect::<Vec<_>>(),
            ),
            (
                "secret",
                &self
                    .secrets
                    .iter()
                    .map(|s| (s.value.clone(), &s.from))
                    .collect(),
            ),
            (
                "env pass",
                &self
                    .env_pass
                    .iter()
                    .map(|s| (s.value.clone(), &s.from))
                    .collect(),
            ),
            (
                "env drop",
                &self
                    .env_drop
                    .iter()
                    .map(|s| (s.value.clone(), &s.from))
                    .collect(),
            ),
        ];
        for (key, entries) in lists {
            // What a settings file says, escaped: it must not draw lines of
            // its own.
            rows.extend(
                entries
                    .iter()
                    .map(|(value, from)| (key, crate::display::text(value), *from)),
            );
        }
        let none = |value: Option<String>| value.unwrap_or_else(|| "none".to_string());
        rows.extend([
            (
                "timeout",
                none(self.timeout.value.map(|t| format!("{} s", t.as_secs_f64()))),
                &self.timeout.from,
            ),
            (
                "memory",
                match self.memory_mib.value {
                    Some(mib) => format!("{mib} MiB"),
                    None => format!("{WASI_MEMORY_MIB} MiB per WASI tool; native: none"),
                },
                &self.memory_mib.from,
            ),
            (
                "processes",
                self.processes.value.to_string(),
                &self.processes.from,
            ),
            (
                "max output",
                none(self.max_output.value.map(|b| format!("{b} bytes"))),
                &self.max_output.from,
            ),
        ]);
        rows.into_iter()
            .map(|(key, value, from)| format!("{key:<10} {value:<28} {from}"))
            .collect()
    }
}

/// A wall-clock limit as cordon takes one: positive, finite seconds.
///
/// # Errors
///
/// What is wrong with `secs`.
pub fn seconds(secs: f64) -> Result<Duration, String> {
    if !(secs.is_finite() && secs > 0.0) {
        return Err(format!("{secs}: expected a positive number of seconds"));
    }
    Duration::try_from_secs_f64(secs).map_err(|e| format!("{secs}: {e}"))
}

/// How much a sandbox mode lets a command change: lower is tighter.
fn rank(mode: SandboxMode) -> u8 {
    match mode {
        SandboxMode::ReadOnly => 0,
        SandboxMode::WorkspaceWrite => 1,
        SandboxMode::FullAccess => 2,
    }
}

/// Whether approval `new` lets nothing run unasked that `old` would ask
/// about: the same, or `untrusted` (asks before all but known-safe
/// commands) or `never` (refuses what would ask) in place of `on-request`
/// or `on-failure`. `untrusted` and `never` tighten different things, so
/// neither replaces the other.
fn asks_no_less(new: ApprovalPolicy, old: ApprovalPolicy) -> bool {
    use ApprovalPolicy::{Never, OnFailure, OnRequest, Untrusted};
    new == old || matches!((new, old), (Untrusted | Never, OnRequest | OnFailure))
}

/// Whether limit `new` is no higher than `old` (`None`: no limit).
fn lower<T: PartialOrd>(new: &Option<T>, old: &Option<T>) -> bool {
    match (new, old) {
        (_, None) => true,
        (Some(new), Some(old)) => new <= old,
        (None, Some(_)) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_approval_tightens_only_when_it_lets_nothing_more_run_unasked() {
        use ApprovalPolicy::{Never, OnFailure, OnRequest, Untrusted};
        let all = [Untrusted, OnFailure, OnRequest, Never];
        let tighter: Vec<(ApprovalPolicy, ApprovalPolicy)> = all
            .iter()
            .flat_map(|new| all.iter().map(move |old| (*new, *old)))
            .filter(|(new, old)| new != old && asks_no_less(*new, *old))
            .collect();
        assert_eq!(
            tighter,
            [
                (Untrusted, OnFailure),
                (Untrusted, OnRequest),
                (Never, OnFailure),
                (Never, OnRequest)
            ]
        );
    }

    #[test]
    fn a_limit_is_lower_than_none_and_than_a_higher_one() {
        assert!(lower(&Some(5), &None));
        assert!(lower(&Some(5), &Some(5)));
        assert!(!lower(&Some(6), &Some(5)));
        assert!(!lower::<u64>(&None, &Some(5)));
    }

    #[test]
    fn a_trust_store_written_before_settings_files_still_reads() {
        let root = tempfile::tempdir().unwrap();
        let root = root.path().canonicalize().unwrap();
        let config = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.join(".cordon")).unwrap();
        std::fs::write(
            root.join(project::PROJECT_CONFIG),
            "sandbox = \"full-access\"\n",
        )
        .unwrap();
        std::fs::write(
            config.path().join("trusted.toml"),
            format!("[[trusted]]\nroot = {:?}\nrules_sha256 = \"00\"\n", root),
        )
        .unwrap();
        let settings = Settings::load(&root, Some(config.path()), None).unwrap();
        assert_eq!(settings.sandbox.value, SandboxMode::WorkspaceWrite);
        assert!(settings.left_out.unwrap().contains("sandbox = full-access"));
    }

    /// `~/` in a settings file is the home the caller names (a scenario's
    /// own), never this process's `HOME`.
    #[test]
    fn home_in_a_settings_file_is_the_home_given() {
        let root = tempfile::tempdir().unwrap();
        let root = root.path().canonicalize().unwrap();
        std::fs::create_dir(root.join(".cordon")).unwrap();
        std::fs::write(
            root.join(project::PROJECT_CONFIG),
            "secrets = [\"~/token\"]\n",
        )
        .unwrap();
        let home = Path::new("/scenario/home");
        let settings = Settings::load(&root, None, Some(home)).unwrap();
        let secrets: Vec<&str> = settings.secrets.iter().map(|s| s.value.as_str()).collect();
        assert_eq!(secrets, ["/scenario/home/token"]);
    }
}
