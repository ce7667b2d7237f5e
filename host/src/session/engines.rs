//! One command on its engine: a WASI tool in the session's wasmtime
//! engine, or a native program under the OS sandbox; and what is said of
//! how it ended.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};

use super::Run;
use super::prepare::{granted_writable, outside_root_walk, own_dirs, writable_dirs, write_areas};
use crate::broker;
use crate::exit;
use crate::io::Stdio;
use crate::native::{
    self, NativeError, NativeIo, NativeLimits, NativeOptions, NativeStatus, Plan, PlanNetwork,
};
use crate::net::NetAccess;
use crate::observe::Observer;
use crate::policy::SandboxPolicy;
use crate::request::Escalation;
use crate::resolve;
use crate::violations::{Denied, Violation};
use crate::wasi::{self, Status};

/// How one execution ended: cordon's exit code, and what the sandbox was
/// seen refusing.
pub(super) struct Ran {
    pub code: u8,
    pub violations: Vec<Violation>,
    /// Refusal lines past the kept ones, counted only.
    pub violations_more: u64,
    /// The sandbox layers the command ran under.
    pub layers: Vec<String>,
}

impl Ran {
    /// An end with `code` and nothing refused.
    pub fn exited(code: u8) -> Ran {
        Ran {
            code,
            violations: Vec::new(),
            violations_more: 0,
            layers: Vec::new(),
        }
    }
}

/// Refusals listed after a run; the rest are counted only.
const MAX_VIOLATIONS_SHOWN: usize = 5;

/// Host calls that block outside the async runtime (a FIFO opened for
/// reading, say) cannot be cancelled; past the deadline plus this grace the
/// process ends anyway, when the session was told it may.
const WATCHDOG_GRACE: Duration = Duration::from_secs(2);

impl Run<'_> {
    /// Runs a WASI tool.
    pub(super) fn wasi(
        &self,
        policy: &SandboxPolicy,
        resolved: &resolve::Resolved,
        argv: &[String],
        stdio: Stdio,
    ) -> Result<Ran> {
        let name = &argv[0];
        let time_left = match self.time_left(name) {
            Ok(left) => left,
            Err(ran) => return Ok(ran),
        };
        let host = self.session.wasi_host()?;
        let program = self
            .session
            .program(resolved, &*self.notes)
            .with_context(|| name.clone())?;
        // Ends with the run (dropped), or ends the process past the deadline.
        let _watchdog = time_left
            .filter(|_| self.session.config.exit_when_stuck)
            .map(|timeout| start_watchdog(timeout, self.notes.clone()));
        let mut policy = policy.clone();
        policy.limits.timeout = time_left;
        let policy = &policy;
        let outcome = host.run(&program, policy, argv, stdio)?;
        let code = self.wasi_code(name, policy, &outcome);
        self.show_refusals(name, policy, &outcome.violations, outcome.violations_more);
        if code != 0 {
            self.hint_paths_outside(policy, argv);
        }
        Ok(Ran {
            code,
            violations: outcome.violations,
            violations_more: outcome.violations_more,
            layers: wasi_layers(policy),
        })
    }

    /// After a WASI tool failed: one line for each argument that names a
    /// host path outside the root, which the tool cannot see (it says only
    /// "No such file or directory"), and how to reach it.
    fn hint_paths_outside(&self, policy: &SandboxPolicy, argv: &[String]) {
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
            self.note(format!(
                "{path} is outside the root {}: WASI tools see only the root; run the \
                 command with --engine native to read it (writing there takes \
                 --escalate writable=DIR)",
                root.display()
            ));
        }
    }

    /// Runs a native program under the OS sandbox (or, escalated to
    /// `unsandboxed` by a person, without one).
    pub(super) fn native(
        &self,
        policy: &SandboxPolicy,
        program: &Path,
        argv: &[String],
        escalation: Option<&Escalation>,
        stdio: Stdio,
    ) -> Result<Ran> {
        let config = &self.session.config;
        let name = &argv[0];
        let refused = |why: String| {
            self.note(why);
            Ok(Ran::exited(exit::DENIED))
        };
        if config.determinism.is_some() && !config.allow_native {
            return refused(format!(
                "{name}: a native command is not deterministic; --allow-native runs it anyway"
            ));
        }
        let time_left = match self.time_left(name) {
            Ok(left) => left,
            Err(ran) => return Ok(ran),
        };
        let unsandboxed = escalation == Some(&Escalation::Unsandboxed);
        let asked = escalation.map(Escalation::parts).unwrap_or_default();
        let mut writable = writable_dirs(config);
        let granted: Vec<PathBuf> = granted_writable(asked).collect();
        // cordon's own directories, resolved again with the granted ones
        // writable too: a symlink on the way there must not lie in one.
        if !granted.is_empty() {
            let all: Vec<PathBuf> = writable.iter().chain(&granted).cloned().collect();
            if let Err(err) = own_dirs(config, &write_areas(policy, &all)) {
                return refused(format!("{name}: refused: {err}"));
            }
        }
        // The repositories in a directory granted writable keep their git
        // directories read-only, as those of a `--writable` one do.
        let mut protected = policy.own_dirs.clone();
        if policy.protects_subpaths() {
            let walked = outside_root_walk(&granted, policy, None);
            protected.extend(walked.git_dirs.into_iter().chain(walked.unlisted));
        }
        writable.extend(granted);
        let settings = &config.settings;
        let options = NativeOptions {
            writable,
            git_commit: asked.contains(&Escalation::GitCommit),
            no_namespaces: config.no_namespaces,
            protected,
            hidden: policy.own_secrets.clone(),
            limits: NativeLimits {
                memory_bytes: settings.memory_mib.value.map(|mib| mib << 20),
                processes: Some(settings.processes.value),
            },
        };
        // Checked again as each stage starts: a line's stages share the
        // policy, and another session may have moved the root meanwhile.
        policy.check_root(None)?;
        let home = config.host_var("HOME").map(PathBuf::from);
        let plan = Plan::new(
            policy,
            &options,
            program.to_path_buf(),
            argv,
            &self.session.host_env,
            home.as_deref(),
        );
        if config.determinism.is_some() {
            self.note(format!("{name}: native command, not deterministic"));
        }
        let gate = policy
            .network
            .gate(policy.request(argv, "native"), stdio.notes.clone());
        let io = NativeIo {
            stdin: stdio.stdin,
            stdout: stdio.stdout,
            stderr: stdio.stderr,
            timeout: time_left,
            cancel: stdio.cancel,
            gate,
            helper: config.native_helper.clone(),
        };
        // On Linux the supervisor refuses a new `.git` (native/linux/names.rs);
        // elsewhere nothing does (names are not a Seatbelt subpath either): one
        // the command made is reported instead.
        let watch_git = !cfg!(target_os = "linux") && policy.protects_subpaths() && !unsandboxed;
        let git_before = watch_git.then(|| crate::gitdirs::entries(policy.root()));
        let result = if unsandboxed {
            self.note(format!("{name}: running without a sandbox, as approved"));
            let mut plan = plan;
            if plan.network == PlanNetwork::Proxy {
                // Nothing holds it to the list any more: no proxy variables
                // pointing at a port that is not ours.
                self.note(format!(
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
                    Violation {
                        denied: Denied::Write,
                        target: Some(entry.display().to_string()),
                        line: format!(
                            "{}: a new git repository; git runs the hooks and obeys the \
                             settings it holds (remove it if the command was not meant to \
                             make one)",
                            entry.display()
                        ),
                        times: 1,
                        from_stderr: false,
                        engine: "native",
                    },
                );
            }
        }
        self.report_dropped(name, policy, outcome.stdout_dropped, outcome.stderr_dropped);
        self.show_refusals(name, policy, &outcome.violations, outcome.violations_more);
        let code = match outcome.status {
            NativeStatus::Exited(code) => u8::try_from(code).unwrap_or(1),
            NativeStatus::TimedOut => {
                let secs = self.timeout.map_or(0.0, |t| t.as_secs_f64());
                self.note(format!(
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

    /// One line for each refusal (the first few), naming what would have
    /// allowed it, then how many more there were.
    fn show_refusals(
        &self,
        name: &str,
        policy: &SandboxPolicy,
        violations: &[Violation],
        more: u64,
    ) {
        for violation in violations.iter().take(MAX_VIOLATIONS_SHOWN) {
            let times = match violation.times {
                1 => String::new(),
                n => format!(" ({n} times)"),
            };
            self.note(format!(
                "sandbox refused {}: {}{times}; {}",
                violation.denied.as_str(),
                violation.line,
                broker::remedy(violation, policy)
            ));
        }
        let unshown = violations.len().saturating_sub(MAX_VIOLATIONS_SHOWN) as u64 + more;
        if unshown > 0 {
            self.note(format!("{name}: {unshown} more refusals not shown"));
        }
    }

    /// What is left of the timeout for `name`, starting now (`None`: no
    /// deadline); once it has run out, how the command ends unstarted.
    pub(super) fn time_left(&self, name: &str) -> Result<Option<Duration>, Ran> {
        let started = *self.first_start.get_or_init(std::time::Instant::now);
        let Some(timeout) = self.timeout else {
            return Ok(None);
        };
        match timeout.checked_sub(started.elapsed()) {
            Some(left) if !left.is_zero() => Ok(Some(left)),
            _ => {
                self.note(format!(
                    "{name}: not started: the line's {:.3}s (--timeout) ran out",
                    timeout.as_secs_f64()
                ));
                Err(Ran::exited(exit::TIMED_OUT))
            }
        }
    }

    /// Says what limits the tool ran into and maps the outcome to an exit
    /// code.
    fn wasi_code(&self, name: &str, policy: &SandboxPolicy, outcome: &wasi::Outcome) -> u8 {
        let limits = &policy.limits;
        self.report_dropped(name, policy, outcome.stdout_dropped, outcome.stderr_dropped);
        if outcome.memory_exceeded {
            self.note(format!(
                "{name}: memory limit of {} MiB reached (--memory)",
                limits.memory_bytes >> 20
            ));
        }
        match &outcome.status {
            // A code the OS cannot carry must not turn into a success.
            Status::Exited(code) => u8::try_from(*code).unwrap_or(1),
            Status::TimedOut => {
                let secs = limits.timeout.map_or(0.0, |t| t.as_secs_f64());
                self.note(format!("{name}: timed out after {secs:.3}s (--timeout)"));
                exit::TIMED_OUT
            }
            Status::OutOfFuel => {
                let fuel = policy.determinism.as_ref().map_or(0, |d| d.fuel);
                self.note(format!("{name}: fuel of {fuel} exhausted (--fuel)"));
                exit::TIMED_OUT
            }
            Status::Trapped(trap) if trap.contains(wasi::BROKEN_PIPE) => exit::BROKEN_PIPE,
            Status::Trapped(trap) => {
                let first = trap.lines().next().unwrap_or("trap");
                self.note(format!("{name}: trapped: {first}"));
                exit::TRAPPED
            }
        }
    }

    /// Says how much of each stream was past the output cap.
    fn report_dropped(&self, name: &str, policy: &SandboxPolicy, stdout: u64, stderr: u64) {
        for (stream, dropped) in [("stdout", stdout), ("stderr", stderr)] {
            if dropped > 0 {
                self.note(format!(
                    "{name}: {stream} truncated at {} bytes (--max-output); {dropped} bytes \
                     dropped",
                    policy.limits.max_output_bytes.unwrap_or_default()
                ));
            }
        }
    }
}

/// What confines a WASI tool, as `layers` names them.
fn wasi_layers(policy: &SandboxPolicy) -> Vec<String> {
    let mut layers = vec!["wasmtime: preopen of the root only".to_string()];
    let guarded = policy.protects_subpaths()
        || (policy.writable() && policy.own_dirs_in_root().next().is_some());
    if guarded {
        layers.push("guard: git directories and cordon's own read-only".to_string());
    }
    layers.push(format!("writes: {}", policy.mode.as_str()));
    layers.push(format!(
        "network: {}",
        match policy.network {
            NetAccess::Off => "off",
            NetAccess::On => "on",
            NetAccess::Gated(_) => "gated",
        }
    ));
    layers.push(format!("memory: {} MiB", policy.limits.memory_bytes >> 20));
    if policy.determinism.is_some() {
        layers.push("deterministic".to_string());
    }
    layers
}

/// Ends the process when the run it watches is still going `timeout` plus
/// the grace from now, saying why to `notes`; dropping what it returns
/// (the run ended) calls it off.
fn start_watchdog(timeout: Duration, notes: Arc<dyn Observer>) -> std::sync::mpsc::Sender<()> {
    let (ended, watched) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        if watched.recv_timeout(timeout + WATCHDOG_GRACE)
            == Err(std::sync::mpsc::RecvTimeoutError::Timeout)
        {
            notes.note(&format!(
                "timed out after {:.3}s (--timeout); the tool was blocked in a host call",
                timeout.as_secs_f64()
            ));
            std::process::exit(exit::TIMED_OUT.into());
        }
    });
    ended
}
