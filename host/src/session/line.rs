//! Runs an approved shell command line. A line cordon can run itself
//! ([`shell::Script::runs_in_host`], and every file it reads through `<`
//! in the root) runs command by command, each on its own engine: WASI
//! tools stay WASI tools, pipes are joined and redirections opened by the
//! host, `cd`, `exit` and `set -e`/`-o pipefail` followed as a shell
//! follows them. Anything else runs in the shell under the OS sandbox.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};

use super::engines::Ran;
use super::prepare::writable_dirs;
use super::{Run, Target};
use crate::exit;
use crate::io::{Cancel, CappedOutput, Stdio, pipe_file};
use crate::policy::SandboxPolicy;
use crate::shell::redirect::{Area, Failed};
use crate::shell::{self, Connector, Options, Pipeline, Script, Stage};

impl Run<'_> {
    /// Runs the line `text` approved for `shell`, as the broker read and
    /// judged it (`script`). A redirection outside what the line may read
    /// or write refuses the whole line before anything runs.
    pub(super) fn script(
        &self,
        policy: &SandboxPolicy,
        shell: &Path,
        (script, text): (&Script, &str),
        stdio: Stdio,
    ) -> Result<Ran> {
        let config = &self.session.config;
        let name = shell
            .file_name()
            .map_or("sh".into(), |n| n.to_string_lossy());
        let writable = writable_dirs(config);
        let area = Area {
            policy,
            writable: &writable,
            protected: &policy.own_dirs,
        };
        let mut opens_all = true;
        for stage in script.stages() {
            for redirect in &stage.redirects {
                match area.precheck(&stage.dir, redirect) {
                    Ok(opens) => opens_all &= opens,
                    Err(why) => {
                        self.note(why);
                        return Ok(Ran::exited(exit::DENIED));
                    }
                }
            }
        }
        if script.runs_in_host() && opens_all {
            let line = Line {
                run: self,
                area,
                policy: policy.clone(),
                options: Options::default(),
                stopped: AtomicBool::new(false),
            };
            return line.run(script, &stdio);
        }
        if !shell.is_absolute() {
            self.note(format!(
                "{}: not found on PATH, and the line needs a shell ({})",
                shell.display(),
                script
                    .opaque
                    .as_deref()
                    .unwrap_or("builtins or redirections cordon does not set up")
            ));
            return Ok(Ran::exited(exit::NOT_FOUND));
        }
        let argv = [name.into_owned(), "-c".to_string(), text.to_string()];
        self.native(policy, shell, &argv, None, stdio)
    }
}

/// A line cordon runs itself.
struct Line<'a> {
    run: &'a Run<'a>,
    area: Area<'a>,
    /// Where the line is: moved by `cd`.
    policy: SandboxPolicy,
    options: Options,
    /// Set when the line must not go on: `exit`, a failed `cd`, a refused
    /// redirection.
    stopped: AtomicBool,
}

impl Line<'_> {
    fn run(mut self, script: &Script, stdio: &Stdio) -> Result<Ran> {
        let mut last = Ran::exited(0);
        for list in &script.lists {
            let pipelines = std::iter::once((None, &list.first))
                .chain(list.rest.iter().map(|(c, p)| (Some(*c), p)));
            let count = 1 + list.rest.len();
            for (i, (connector, pipeline)) in pipelines.enumerate() {
                // Cancelled: nothing more of the line starts.
                if stdio.cancel.as_ref().is_some_and(Cancel::is_cancelled) {
                    return Ok(last);
                }
                let go = match connector {
                    None => true,
                    Some(Connector::And) => last.code == 0,
                    Some(Connector::Or) => last.code != 0,
                };
                if !go {
                    continue;
                }
                let streams = Stdio {
                    stdin: None,
                    stdout: stdio.stdout.clone(),
                    stderr: stdio.stderr.clone(),
                    notes: stdio.notes.clone(),
                    cancel: stdio.cancel.clone(),
                };
                let mut ran = self.pipeline(pipeline, streams, last.code)?;
                ran.violations.append(&mut last.violations);
                last = ran;
                if self.stopped.load(Ordering::Relaxed) {
                    return Ok(last);
                }
                // set -e: a failure ends the line, unless it is negated or
                // the condition of an `&&` or `||`.
                if self.options.errexit && last.code != 0 && !pipeline.negated && i + 1 == count {
                    return Ok(last);
                }
            }
        }
        Ok(last)
    }

    /// One pipeline; `status` is the one before it (for `exit`).
    fn pipeline(&mut self, pipeline: &Pipeline, stdio: Stdio, status: u8) -> Result<Ran> {
        let mut ran = match pipeline.stages.as_slice() {
            [stage] => self.alone(stage, stdio, status)?,
            stages => self.joined(stages, stdio)?,
        };
        if pipeline.negated && !self.stopped.load(Ordering::Relaxed) {
            ran.code = u8::from(ran.code == 0);
        }
        Ok(ran)
    }

    /// A command that is a whole pipeline: it may be a builtin that changes
    /// the line (`cd`, `exit`, `set`).
    fn alone(&mut self, stage: &Stage, stdio: Stdio, status: u8) -> Result<Ran> {
        let args = &stage.argv;
        match args.first().map(String::as_str) {
            Some("cd") => {
                let target = args.get(1).map_or(".", String::as_str);
                let target = self.policy.cwd_abs().join(target);
                Ok(match self.policy.with_cwd(&target) {
                    Ok(moved) => {
                        self.policy = moved;
                        Ran::exited(0)
                    }
                    Err(err) => {
                        // The rest of the line was read (its globs expanded)
                        // in the directory `cd` names: it cannot run elsewhere.
                        self.run
                            .note(format!("cd: {err}; the rest of the line does not run"));
                        self.stop(1)
                    }
                })
            }
            Some("exit") => {
                let code = shell::exit_status(&args[1..]).flatten();
                Ok(self.stop(code.unwrap_or(status)))
            }
            Some("set") => {
                self.options = self
                    .options
                    .set(&args[1..])
                    .context("set: options cordon does not follow")?;
                Ok(Ran::exited(0))
            }
            _ => self.command(stage, stdio),
        }
    }

    fn stop(&self, code: u8) -> Ran {
        self.stopped.store(true, Ordering::Relaxed);
        Ran::exited(code)
    }

    /// Stages joined by pipes in the host, each on its own thread: WASI
    /// stages in wasmtime (no process), native ones under the OS sandbox.
    /// The status is the last stage's, or with `set -o pipefail` the last
    /// that failed.
    fn joined(&self, stages: &[Stage], stdio: Stdio) -> Result<Ran> {
        let results: Vec<Result<Ran>> = std::thread::scope(|scope| {
            let mut running = Vec::new();
            let mut stdin = stdio.stdin;
            for (i, stage) in stages.iter().enumerate() {
                let (stdout, next) = if i + 1 == stages.len() {
                    (stdio.stdout.clone(), None)
                } else {
                    let (reader, writer) = std::io::pipe()?;
                    let writer = CappedOutput::new(Box::new(writer), None, false);
                    (writer, Some(pipe_file(reader)))
                };
                let io = Stdio {
                    stdin: stdin.take(),
                    stdout,
                    stderr: stdio.stderr.clone(),
                    notes: stdio.notes.clone(),
                    cancel: stdio.cancel.clone(),
                };
                running.push(scope.spawn(move || self.command(stage, io)));
                stdin = next;
            }
            Ok::<_, std::io::Error>(
                running
                    .into_iter()
                    .map(|stage| {
                        stage
                            .join()
                            .unwrap_or_else(|_| anyhow::bail!("a pipeline stage panicked"))
                    })
                    .collect(),
            )
        })
        .context("making a pipe")?;
        let mut last = Ran::exited(0);
        let mut failed = 0;
        for result in results {
            let mut ran = result?;
            if ran.code != 0 {
                failed = ran.code;
            }
            ran.violations.append(&mut last.violations);
            last = ran;
        }
        if self.options.pipefail {
            last.code = failed;
        }
        Ok(last)
    }

    /// One command with its redirections and assignments, on its engine.
    fn command(&self, stage: &Stage, stdio: Stdio) -> Result<Ran> {
        let stdio = match self
            .area
            .streams(&self.policy.cwd_abs(), &stage.redirects, stdio)
        {
            Ok(stdio) => stdio,
            Err(Failed::Open(why)) => {
                self.run.note(why);
                return Ok(Ran::exited(1));
            }
            Err(Failed::Refused(why)) => {
                self.run
                    .note(format!("{why}; the rest of the line does not run"));
                return Ok(self.stop(exit::DENIED));
            }
        };
        let Some(name) = stage.argv.first().filter(|name| *name != ":") else {
            return Ok(Ran::exited(0));
        };
        let mut policy = self.policy.clone();
        for (key, value) in &stage.assignments {
            policy.push_env(&format!("{key}={value}"))?;
        }
        let session = self.run.session;
        match session.locate(&policy, name) {
            Ok(Target::Wasi(resolved)) => self.run.wasi(&policy, &resolved, &stage.argv, stdio),
            Ok(Target::Native(program)) => {
                // Judged before the line ran; what the rules refuse now
                // (a link an earlier command retargeted) does not start.
                let request = policy.request(&stage.argv, "native");
                if let Some(why) = session.broker().refuses(&request) {
                    self.run
                        .note(format!("{why}; the rest of the line does not run"));
                    return Ok(self.stop(exit::DENIED));
                }
                self.run.native(&policy, &program, &stage.argv, None, stdio)
            }
            Err(why) => Ok(Ran::exited(self.run.unresolved(why))),
        }
    }
}
