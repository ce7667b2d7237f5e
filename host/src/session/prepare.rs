//! What a session sets up before its commands run: the broker, and for
//! each command the sandbox policy (its git directories and cordon's own
//! found anew), and the grants it cannot honour.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};

use super::config::{ApproverChoice, SessionConfig};
use crate::audit::Audit;
use crate::broker::approver::{self, ApproverSpec};
use crate::broker::parked::{self, Parked};
use crate::broker::rules::Rules;
use crate::broker::{Broker, ShellContext, project};
use crate::native;
use crate::native::env::HostEnvironment;
use crate::net::{Host, Resolver};
use crate::own_dirs::{self, OwnDirs};
use crate::policy::SandboxPolicy;
use crate::request::Escalation;
use crate::secrets::SecretPatterns;
use crate::settings;
use crate::shell;

/// The sandbox policy of one command run in `cwd` with `env` set, in the
/// session's root (`base`: found once, so no command can move it).
pub(super) fn sandbox_policy(
    config: &SessionConfig,
    host_env: &HostEnvironment,
    base: &SandboxPolicy,
    cwd: Option<&Path>,
    env: &[String],
    note: &dyn Fn(String),
) -> Result<SandboxPolicy> {
    let settings = &config.settings;
    let mut policy = match cwd {
        Some(cwd) => base.with_cwd(cwd)?,
        None => base.clone(),
    };
    for assignment in env {
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
    policy.secrets = SecretPatterns::new(&patterns, &config.allow_secret)?;
    // WASI tools never see past the root; native commands are denied these.
    policy.own_secrets.extend(outside);
    let writable = writable_dirs(config);
    // cordon's own temporary files (a guest's `/`, the native masks and
    // staging, the git-shape lock) live there.
    refuse_in_reach("TMPDIR", &std::env::temp_dir(), &policy, &writable)?;
    // Whether or not this run uses the cache: a run that does not must not
    // leave it open to the commands either.
    let own = own_dirs(config, &write_areas(&policy, &writable))?;
    policy.own_dirs = own.all();
    // cordon's private temporary directory (the guests' `/`, the masks,
    // the locks) is its own too: no root inside it.
    let private = crate::shape_lock::user_dir_path().canonicalize();
    let mine: Vec<PathBuf> = policy
        .own_dirs
        .iter()
        .cloned()
        .chain(private.ok())
        .collect();
    crate::policy::refuse_root_inside_own(policy.root(), &mine)?;
    policy.check_root(None)?;
    let env = command_env(host_env, &policy);
    // Kept beside the compiled code, in the cache directory as resolved.
    let memory = config.compile_cache().and(own.cache.clone());
    let memory = memory.map(crate::wasi::CompileCache::new);
    let memory = memory
        .as_ref()
        .map(|cache| cache as &dyn crate::gitdirs::Keeper);
    let mut walked = crate::gitdirs::resolve(policy.root(), &policy.cwd_abs(), &env, memory);
    let outside = outside_root_walk(&writable, &policy, memory);
    walked.git_dirs.extend(outside.git_dirs);
    walked.unlisted.extend(outside.unlisted);
    walked.git_dirs.sort();
    walked.git_dirs.dedup();
    policy.commit_dirs = walked
        .git_dirs
        .iter()
        .filter(|dir| !walked.named_by_env.contains(dir) && crate::gitdirs::is_shaped(dir))
        .cloned()
        .collect();
    policy.git_dirs = walked.git_dirs;
    // Every git directory the root's repositories use, whatever its name
    // or place, is protected like cordon's own (by identity, whole).
    if policy.protects_subpaths() {
        policy.own_dirs.extend(policy.git_dirs.iter().cloned());
        // A directory cordon cannot list may hide one (a command may have
        // taken its read permission away): protected whole too.
        for dir in walked.unlisted {
            note(format!(
                "{}: cannot be listed, so a git directory may lie below it: read-only for \
                 this command",
                dir.display()
            ));
            policy.own_dirs.push(dir);
        }
        // So are the directories git runs hooks from (core.hooksPath).
        let home = config.host_var("HOME").map(PathBuf::from);
        let hooks = crate::gitdirs::hook_dirs(&policy.git_dirs, policy.root(), home.as_deref());
        policy.own_dirs.extend(hooks);
    }
    for key in own.cache_keys() {
        if let Ok(relative) = key.strip_prefix(policy.root()) {
            policy.secrets.hide_own(relative);
        }
        policy.own_secrets.push(key);
    }
    policy.determinism = config.determinism.clone();
    Ok(policy)
}

/// Refuses a native helper that a command could replace (the helper is
/// what applies the sandbox): one named by a relative path, or lying where
/// commands may write.
pub(super) fn check_helper(config: &SessionConfig, policy: &SandboxPolicy) -> Result<()> {
    let Some(helper) = &config.native_helper else {
        return Ok(());
    };
    if !helper.is_absolute() {
        anyhow::bail!(
            "native_helper {}: name it by an absolute path",
            helper.display()
        );
    }
    refuse_in_reach("native_helper", helper, policy, &writable_dirs(config))
}

/// The session's broker: the user's, the project's and the configured
/// rules, the approver, the audit log. `policy`: the session's, before
/// any command.
pub(super) fn broker(
    config: &mut SessionConfig,
    host_env: &HostEnvironment,
    policy: &SandboxPolicy,
    note: &dyn Fn(String),
) -> Result<Broker> {
    let mut rules = Rules::default();
    let user = config.user_config.clone();
    if let Some(loaded) =
        project::load(&mut rules, policy.root(), user.as_deref()).map_err(anyhow::Error::msg)?
    {
        note(loaded);
    }
    for file in &config.rules {
        rules.load(file)?;
    }
    rules.merge(config.narrowing_rules.clone(), true);
    let writable = writable_dirs(config);
    let choice = std::mem::replace(
        &mut config.approver,
        ApproverChoice::Spec {
            spec: ApproverSpec::Deny,
            timeout: Default::default(),
        },
    );
    let approver = match choice {
        ApproverChoice::Spec { spec, timeout } => {
            if let ApproverSpec::JsonlSocket(path) | ApproverSpec::Script(path) = &spec {
                refuse_in_reach("--approver", path, policy, &writable)?;
            }
            match (&spec, &user) {
                // In cordon's own config directory, which no command can
                // write: an agent cannot answer its own question.
                (ApproverSpec::Pending, Some(user)) => {
                    Box::new(Parked::new(user.join(parked::PENDING_DIR), timeout))
                }
                (ApproverSpec::Pending, None) => anyhow::bail!(
                    "--approver pending: no config directory to keep questions in (set \
                     XDG_CONFIG_HOME or HOME)"
                ),
                _ => approver::open(&spec, timeout).map_err(anyhow::Error::msg)?,
            }
        }
        ApproverChoice::Custom(approver) => approver,
    };
    let mut audit = match &config.audit {
        Some(path) => {
            refuse_in_reach("--audit", path, policy, &writable)?;
            Audit::to_file(path).with_context(|| format!("--audit {}", path.display()))?
        }
        None => Audit::default(),
    };
    if let Some(watcher) = &config.audit_watcher {
        audit.watched_by(Arc::clone(watcher));
    }
    let resolver = Resolver::pinned(&config.resolve).map_err(anyhow::Error::msg)?;
    let mut broker = Broker::new(rules, config.settings.approval.value, approver, audit)
        .with_observer(config.observer.clone())
        .with_shell(shell_context(config, host_env, policy))
        .without_grants(&config.no_grant, local_hosts(config, resolver));
    if let Some(user) = user {
        broker = broker.with_rules_file(user.join(project::USER_RULES));
    }
    Ok(broker)
}

/// The hosts `no_grant` network still lets a person be asked about: the
/// test servers' names on their ports, when the session names them; else
/// any name pinned to a loopback address.
fn local_hosts(
    config: &SessionConfig,
    resolver: Resolver,
) -> impl Fn(&Host, Option<u16>) -> bool + Send + 'static {
    let servers = config.test_servers.clone();
    move |host: &Host, port: Option<u16>| match &servers {
        Some(servers) => servers.iter().any(|(name, served)| {
            matches!(host, Host::Name(n) if n == name) && port == Some(*served)
        }),
        None => resolver.pinned_to_loopback(host),
    }
}

/// What the broker reads a command's shell lines with: the variables
/// `$NAME` expands to where it runs.
pub(super) fn shell_context(
    config: &SessionConfig,
    host_env: &HostEnvironment,
    policy: &SandboxPolicy,
) -> ShellContext {
    ShellContext {
        env: shell::Env::new(command_env(host_env, policy)),
        root: policy.root().to_path_buf(),
        own_places: [policy.root().to_path_buf(), std::env::temp_dir()]
            .into_iter()
            .chain(writable_dirs(config))
            .collect(),
    }
}

/// Secrets given as patterns inside the root (an absolute path there made
/// relative to it) and paths outside it, which native commands are denied.
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
pub(super) fn command_env(
    host_env: &HostEnvironment,
    policy: &SandboxPolicy,
) -> Vec<(String, String)> {
    let mut env = host_env.with(policy.env());
    env.push(("PWD".into(), policy.cwd_abs().display().to_string()));
    // The run's private TMPDIR is made later; it lives under this one.
    env.push(("TMPDIR".into(), std::env::temp_dir().display().to_string()));
    env
}

/// The host's side of the session's native commands' environment.
///
/// # Errors
///
/// An `--env-drop` pattern that is not a glob.
pub(super) fn host_environment(config: &SessionConfig) -> Result<HostEnvironment> {
    let choice = env_choice(config);
    choice.drop_set().map_err(anyhow::Error::msg)?;
    Ok(HostEnvironment::scrub(
        config.host_env.iter().cloned(),
        &choice,
    ))
}

/// What passes of the host's environment beyond the defaults.
fn env_choice(config: &SessionConfig) -> native::env::EnvChoice {
    let values =
        |list: &[settings::Sourced<String>]| list.iter().map(|s| s.value.clone()).collect();
    native::env::EnvChoice {
        pass: values(&config.settings.env_pass),
        drop: values(&config.settings.env_drop),
    }
}

/// Refuses a file of cordon's own that a command could rewrite, truncate,
/// forge or stand in for (the audit log, the approver's socket or script):
/// one that lies inside the area commands may write (the root when
/// writable, a writable directory), or is reached through a symlink
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
/// writable directories.
pub(super) fn write_areas<'a>(policy: &'a SandboxPolicy, writable: &'a [PathBuf]) -> Vec<&'a Path> {
    let root = policy.writable().then(|| policy.root());
    root.into_iter()
        .chain(writable.iter().map(PathBuf::as_path))
        .collect()
}

/// The directories the grants `asked` make writable.
pub(super) fn granted_writable(asked: &[Escalation]) -> impl Iterator<Item = PathBuf> + '_ {
    asked.iter().filter_map(|part| match part {
        Escalation::Writable(dir) => Some(dir.clone()),
        _ => None,
    })
}

/// cordon's own directories, and the defaults where this run uses others
/// (a later run may use them), resolved with `areas` as where commands
/// may write.
///
/// # Errors
///
/// One that cannot be resolved, or only through a symlink in `areas`.
pub(super) fn own_dirs(
    config: &SessionConfig,
    areas: &[&Path],
) -> Result<OwnDirs, own_dirs::OwnDirError> {
    let cache = config.cache_dir();
    let mut own = OwnDirs::resolve(config.user_config.as_deref(), cache.as_deref(), areas)?;
    // A default named as the one in use (the usual run) is not resolved
    // twice; one spelled otherwise is told apart once resolved.
    let other = |default: Option<PathBuf>, used: &Option<PathBuf>| {
        default.filter(|d| Some(d) != used.as_ref())
    };
    own.protect_defaults(
        other(
            crate::broker::project::user_config_dir(),
            &config.user_config,
        )
        .as_deref(),
        other(crate::wasi::CompileCache::default_dir(), &cache).as_deref(),
        areas,
    )?;
    Ok(own)
}

/// The git directories of the repositories in `writable` directories
/// outside the root (a writable one needs them protected as much as the
/// root's), and the directories that could not be listed.
pub(super) fn outside_root_walk(
    writable: &[PathBuf],
    policy: &SandboxPolicy,
    memory: Option<&dyn crate::gitdirs::Keeper>,
) -> crate::gitdirs::Walked {
    let mut walked = crate::gitdirs::Walked::default();
    for dir in writable
        .iter()
        .filter(|dir| !dir.starts_with(policy.root()))
    {
        let more = crate::gitdirs::resolve(dir, &policy.cwd_abs(), &[], memory);
        walked.git_dirs.extend(more.git_dirs);
        walked.unlisted.extend(more.unlisted);
    }
    walked
}

/// The directories also writable for native commands, resolved.
pub(super) fn writable_dirs(config: &SessionConfig) -> Vec<PathBuf> {
    let writable = &config.settings.writable;
    writable.iter().map(|dir| dir.value.clone()).collect()
}

/// Why a grant asked for cannot be honoured, if it cannot: a writable
/// directory in a tree that stays read-only, or a commit cordon cannot
/// keep apart.
pub(super) fn unhonoured(
    config: &SessionConfig,
    policy: &SandboxPolicy,
    asked: &[Escalation],
) -> Option<String> {
    let uncommittable = asked
        .contains(&Escalation::GitCommit)
        .then(|| uncommittable(config, policy))
        .flatten();
    uncommittable.or_else(|| {
        writable_dirs(config)
            .into_iter()
            .chain(granted_writable(asked))
            .find_map(|dir| unwritable_grant(policy, &dir))
    })
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
fn uncommittable(config: &SessionConfig, policy: &SandboxPolicy) -> Option<String> {
    if policy.commit_dirs.is_empty() {
        return Some(format!(
            "git-commit: no git directory is used in the root {}, so this grant cannot be \
             honoured; nothing ran",
            crate::display::path(policy.root())
        ));
    }
    // Refs kept in a reftable, or objects named by SHA-256, are not what
    // cordon keeps: the commit would land half.
    let unkept = policy.commit_dirs.iter().find(|dir| {
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
    } else if config.no_namespaces {
        "with --no-namespaces"
    } else {
        return None;
    };
    Some(format!(
        "git-commit: the grant keeps a commit's writes apart in a mount namespace until \
         the command ends, which cordon cannot do {without}; nothing ran"
    ))
}
