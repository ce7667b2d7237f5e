//! The approval broker: decides, for every command, WASI or native,
//! whether it runs, asks a person, or is refused, and records why.
//!
//! [`judge`] is the pure part. A matching [`rules`] rule decides (strictest
//! first); without one, commands that always ask ([`safety::always_asks`])
//! ask, under `untrusted` everything that is not [`safety::known_safe`]
//! asks, and a request for more than the sandbox gives (an [`Escalation`])
//! asks. [`Broker`] puts a person behind the questions through an
//! [`approver::Approver`], remembers what they granted for the session,
//! and writes every step to the audit log.

pub mod approver;
pub mod parked;
pub mod project;
pub mod prompt;
pub mod rules;
pub mod safety;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use approver::{Answer, Approver, Question};
use rules::{Decision, Fit, NewRule, Rules};

use crate::audit::{Audit, Event};
use crate::display;
use crate::net::{self, Host};
use crate::observe::{Observer, Quiet};
use crate::policy::SandboxPolicy;
use crate::request::{ApprovalPolicy, Escalation, GrantKind, Request};
use crate::shell::{self, wrappers};
use crate::violations::Denied;
use crate::violations::Violation;

/// What [`judge`] makes of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Run it, sandboxed, unasked; `by` says what allowed it.
    Run {
        /// What allowed it: a rule, the policy, a session grant.
        by: String,
    },
    /// A person must decide; `reason` is shown to them.
    Ask {
        /// Why a person must decide.
        reason: String,
    },
    /// Refused; the text says what and how to grant it.
    Refused(String),
}

/// What the broker needs to read shell command lines: the variables `$NAME`
/// expands to and the root globs stay in.
#[derive(Debug, Clone)]
pub struct ShellContext {
    /// The variables `$NAME` expands to.
    pub env: shell::Env,
    /// The root, which globs stay in.
    pub root: PathBuf,
    /// Where a program is the project's own, not the system's: the root,
    /// the other writable directories, the temporary directory.
    pub own_places: Vec<PathBuf>,
}

impl ShellContext {
    /// `argv` read as a shell line run from `cwd`, as the broker reads it;
    /// `None` when `argv` is not a shell line.
    pub fn read_line(
        &self,
        argv: &[String],
        cwd: &Path,
    ) -> Option<Result<shell::Script, shell::ParseError>> {
        let program = Program::of(argv, cwd, Some(self));
        let (dialect, text) = real_shell_line(argv, &program, true)?;
        Some(shell::parse(text, dialect, &self.env, &self.root, cwd))
    }
}

/// How deep `sh -c` may nest inside `sh -c` before the broker stops reading.
const MAX_SHELL_DEPTH: usize = 4;

/// Judges `request` against `rules` under `policy`, asking nobody. A shell
/// command line (`sh -c SCRIPT`) is judged command by command, wrapped
/// commands included: a forbidden one anywhere refuses the whole line, and
/// everything that would ask is asked about at once.
pub fn judge(
    rules: &Rules,
    policy: ApprovalPolicy,
    request: &Request,
    shell: Option<&ShellContext>,
) -> Verdict {
    judge_read(rules, policy, request, shell, None)
}

/// [`judge`], with `request.argv` already read as a shell line (`line`),
/// when it is one.
fn judge_read(
    rules: &Rules,
    policy: ApprovalPolicy,
    request: &Request,
    shell: Option<&ShellContext>,
    line: Option<&shell::Script>,
) -> Verdict {
    // A failure of cordon's own reading refuses, never runs.
    let judged = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        judge_words(rules, policy, request, shell, line, &[], 0)
    }));
    let verdict = judged.unwrap_or_else(|_| {
        Verdict::Refused(format!(
            "{}: cordon failed to judge it",
            display::command_in_line(&request.argv)
        ))
    });
    // Variables set for the command change what it runs (GIT_CONFIG_*,
    // LD_PRELOAD): under untrusted, as a line's assignments, they ask.
    let verdict = match request.env.first() {
        Some(first) if policy == ApprovalPolicy::Untrusted => {
            let name = first.split('=').next().unwrap_or_default();
            stricter(
                verdict,
                Verdict::Ask {
                    reason: format!("`{name}=...` (sets a variable for the command)"),
                },
            )
        }
        _ => verdict,
    };
    // Asking for more than the sandbox gives always needs a person, even
    // for a command a rule allows.
    match (&verdict, &request.escalation) {
        (Verdict::Run { .. }, Some(escalation)) => Verdict::Ask {
            reason: format!("it asks for {escalation}"),
        },
        _ => verdict,
    }
}

/// Judges `request.argv` and every command it wraps; the words at
/// `wildcards` are unknown ([`Rule::fit`]). `line` is `request.argv`
/// already read as a shell line.
fn judge_words(
    rules: &Rules,
    policy: ApprovalPolicy,
    request: &Request,
    shell: Option<&ShellContext>,
    line: Option<&shell::Script>,
    wildcards: &[usize],
    depth: usize,
) -> Verdict {
    let unwrapped = wrappers::unwrap(&request.argv);
    let mut asks = Vec::new();
    let mut allowed_by = None;
    for (i, view) in unwrapped.views.iter().enumerate() {
        let mut known = known_words(&request.argv, view, wildcards);
        let mut words = view.clone();
        if let Some(fed) = unwrapped.fed_words(i) {
            // xargs adds words from its input (or puts them in place of
            // its replace-string): more words cordon cannot know.
            known = known.min(fed);
            words.push("...".into());
        }
        let program = Program::of(view, &request.cwd, shell);
        // The command asked for is a shell script of the project's own:
        // nothing before it could have written it, so it is read as a
        // line (inside a line, it is not: see `Program::unread`).
        let script = (depth == 0 && request.engine != "wasi")
            .then(|| program.shell_script())
            .flatten()
            .and_then(|(_, dialect)| Some((dialect, read_script(program.path.as_ref()?)?)));
        let fed = unwrapped.fed_words(i);
        let verdict = match script {
            // A shell whose script or arguments xargs or find supply.
            _ if fed.is_some_and(|known| known < view.len())
                && shell::shell_line(view).is_some() =>
            {
                Verdict::Ask {
                    reason: "a shell line that xargs or find completes".into(),
                }
            }
            // The script answers to rules by its own name too, and is
            // the project's own program.
            Some((dialect, Ok(text))) => stricter(
                judge_command(rules, policy, &words, known, program.own),
                judge_line(
                    rules,
                    policy,
                    request,
                    view,
                    (dialect, &text, None),
                    shell,
                    depth,
                ),
            ),
            Some((_, Err(why))) => Verdict::Ask { reason: why },
            None => match real_shell_line(view, &program, depth == 0 && i == 0) {
                Some((dialect, text)) => {
                    // The view at 0 is the request's own words.
                    let read = line.filter(|_| i == 0);
                    let line = (dialect, text, read);
                    judge_line(rules, policy, request, view, line, shell, depth)
                }
                None => {
                    let mut verdict = judge_command(rules, policy, &words, known, program.own);
                    // A link's target answers to rules by its own name too
                    // (`t -> /usr/bin/touch`).
                    if let Some(real) = program.renamed(&words) {
                        let by_target = judge_command(rules, policy, &real, known, program.own);
                        verdict = stricter(verdict, by_target);
                    }
                    match program.unread().filter(|_| request.engine != "wasi") {
                        Some(reason) => stricter(verdict, Verdict::Ask { reason }),
                        None => verdict,
                    }
                }
            },
        };
        // The program cordon read to run: a rule naming its bytes decides.
        let verdict = match request.program_sha256.as_deref() {
            Some(digest) if i == 0 && depth == 0 => by_digest(rules, digest, view, verdict),
            _ => verdict,
        };
        match verdict {
            Verdict::Refused(why) => return Verdict::Refused(why),
            Verdict::Ask { reason } if i == 0 => asks.push(reason),
            Verdict::Ask { reason } => {
                asks.push(format!("`{}` ({reason})", display::command_in_line(view)))
            }
            Verdict::Run { by } => {
                allowed_by.get_or_insert(by);
            }
        }
    }
    if let Some(why) = unwrapped.uncertain {
        asks.push(format!("cordon cannot tell what runs: {why}"));
    }
    match (asks.is_empty(), allowed_by) {
        (true, Some(by)) => Verdict::Run { by },
        _ => Verdict::Ask {
            reason: asks.join("; "),
        },
    }
}

/// What a rule naming the program's bytes (`tool = "sha256:..."`) makes
/// of `argv`, in place of `by_name` (which for a program of the project's
/// own asks); a stricter rule naming the command still wins.
fn by_digest(rules: &Rules, digest: &str, argv: &[String], by_name: Verdict) -> Verdict {
    let Some(rule) = rules.evaluate_tool(digest, argv) else {
        return by_name;
    };
    if rules
        .evaluate(argv)
        .is_some_and(|named| named.decision > rule.decision)
    {
        return by_name;
    }
    // A rule that asks or forbids only tightens: what the name refused
    // stays refused.
    if rule.decision != Decision::Allow && matches!(by_name, Verdict::Refused(_)) {
        return by_name;
    }
    let why = rule.because();
    match rule.decision {
        Decision::Allow => Verdict::Run {
            by: format!("rule {} (these exact bytes)", rule.origin()),
        },
        Decision::Prompt => Verdict::Ask {
            reason: format!("rule {}{why}", rule.origin()),
        },
        Decision::Forbid => Verdict::Refused(format!(
            "{}: forbidden by {}{why}; change that rule's decision to run it",
            display::command_in_line(argv),
            rule.origin()
        )),
    }
}

/// Judges a shell line command by command: `view` runs `text` with
/// `dialect`, already read when the third part of `line` holds it.
fn judge_line(
    rules: &Rules,
    policy: ApprovalPolicy,
    request: &Request,
    view: &[String],
    (dialect, text, read): (shell::Dialect, &str, Option<&shell::Script>),
    shell: Option<&ShellContext>,
    depth: usize,
) -> Verdict {
    let Some(context) = shell else {
        return judge_command(
            rules,
            policy,
            view,
            view.len(),
            Program::of(view, &request.cwd, shell).own,
        );
    };
    if depth >= MAX_SHELL_DEPTH {
        return Verdict::Ask {
            reason: "shell lines nested too deep for cordon to read".into(),
        };
    }
    let parsed;
    let script = match read {
        Some(script) => script,
        None => match shell::parse(text, dialect, &context.env, &context.root, &request.cwd) {
            Ok(script) => {
                parsed = script;
                &parsed
            }
            Err(err) => return Verdict::Refused(err.to_string()),
        },
    };
    let mut asks = Vec::new();
    // A login shell runs the profile files in HOME first: where commands
    // may write them (a HOME in the root), they are code cordon did not
    // read.
    if shell::login_shell(view)
        && context
            .env
            .get("HOME")
            .is_none_or(|home| within_any(Path::new(home), std::slice::from_ref(&context.root)))
    {
        asks.push("a login shell whose HOME commands may write (its profile runs first)".into());
    }
    // The shell itself answers to rules (one may forbid `bash`); what it
    // runs is judged below.
    if let Some(rule) = rules.evaluate(&view[..1]) {
        match judge_command(
            rules,
            policy,
            &view[..1],
            1,
            Program::of(view, &request.cwd, shell).own,
        ) {
            Verdict::Refused(why) => return Verdict::Refused(why),
            Verdict::Ask { reason } if rule.decision == Decision::Prompt => {
                asks.push(format!("`{}` ({reason})", view[0]));
            }
            _ => {}
        }
    }
    for stage in script.stages() {
        let argv = &stage.argv;
        // Builtins that only steer the line: nothing to judge.
        if argv.is_empty() || argv[0] == ":" || shell::STEERING.contains(&argv[0].as_str()) {
            continue;
        }
        let inner = Request {
            argv: argv.clone(),
            escalation: None,
            // Relative programs run from where the line's `cd`s took it.
            cwd: if stage.dir.as_os_str().is_empty() {
                request.cwd.clone()
            } else {
                stage.dir.clone()
            },
            ..request.clone()
        };
        // A relative program, or git (which finds its repository from
        // there), run from a directory cordon could not follow.
        let from_dir = argv[0].contains('/') && !argv[0].starts_with('/')
            || Path::new(&argv[0]).file_name().is_some_and(|n| n == "git");
        if stage.dir_uncertain && from_dir {
            asks.push(format!(
                "`{}` (runs from a directory a `cd` cordon cannot follow chose)",
                display::command_in_line(argv)
            ));
        }
        let context = stage_context(context, script, stage);
        match judge_words(
            rules,
            policy,
            &inner,
            Some(&context),
            None,
            &stage.unexpanded,
            depth + 1,
        ) {
            Verdict::Refused(why) => return Verdict::Refused(why),
            Verdict::Ask { reason } => {
                asks.push(format!("`{}` ({reason})", display::command_in_line(argv)))
            }
            Verdict::Run { .. } => {}
        }
    }
    if policy == ApprovalPolicy::Untrusted {
        // A redirection that writes a file, or a variable set for a command
        // (LD_PRELOAD, PATH, BASH_ENV ...), makes a line not read-only.
        let writes = script
            .stages()
            .flat_map(|s| &s.redirects)
            .find_map(shell::Redirect::written_file);
        if let Some(path) = writes {
            asks.push(format!(
                "`> {path}` (writes a file under --approval untrusted)"
            ));
        }
        if let Some((name, _)) = script.stages().flat_map(|s| &s.assignments).next() {
            asks.push(format!("`{name}=...` (sets a variable for a command)"));
        }
        if let Some(why) = &script.opaque {
            asks.push(format!(
                "the line is opaque to cordon ({why}), an unknown command"
            ));
        }
    }
    // What cannot be read cannot be judged: it asks under every policy.
    if let Some(why) = &script.unreadable {
        asks.push(format!("cordon cannot read all of the line ({why})"));
    }
    if asks.is_empty() {
        Verdict::Run {
            by: format!("policy {} (every command in the line)", policy.as_str()),
        }
    } else {
        Verdict::Ask {
            reason: asks.join("; "),
        }
    }
}

/// The context a shell `stage` of `script` runs in: the variables the line
/// sets have no value cordon knows (`B=git bash -c '$B x'`), and `env -i`
/// clears them all.
fn stage_context(
    context: &ShellContext,
    script: &shell::Script,
    stage: &shell::Stage,
) -> ShellContext {
    let cleared = wrappers::unwrap(&stage.argv)
        .views
        .iter()
        .any(|view| wrappers::env_changes(view).cleared);
    let env = if cleared {
        shell::Env::new([])
    } else {
        context.env.without(&script.assigned)
    };
    ShellContext {
        env,
        ..context.clone()
    }
}

/// How many first words of `view` (`argv`, or a command it wraps: a tail
/// of it) are known, the words at `wildcards` of `argv` not being: an
/// unknown word before the view (`env $X rm`) leaves none known.
fn known_words(argv: &[String], view: &[String], wildcards: &[usize]) -> usize {
    let Some(&first) = wildcards.iter().min() else {
        return view.len();
    };
    let offset = argv
        .len()
        .checked_sub(view.len())
        .filter(|&offset| argv[offset..] == *view);
    match offset {
        Some(offset) if first >= offset => (first - offset).min(view.len()),
        _ => 0,
    }
}

/// The PATH bash searches when its environment has none.
const BASH_DEFAULT_PATH: &str = "/usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin:/bin:/sbin:.";

/// The program a command word names, as far as cordon can resolve it.
struct Program {
    /// Where it resolves to, if it exists.
    path: Option<PathBuf>,
    /// The project's own rather than the system's, by what its path
    /// resolves to: a file in the root or in another place a command may
    /// write (`$PWD/bin/cat` as much as `./bin/cat`, or `cat` where PATH
    /// leads into the project). Its file name does not decide. Without the
    /// context to resolve it, any path but an absolute one counts.
    own: bool,
    /// Named by a path that does not exist yet: the line may make it.
    missing: bool,
}

impl Program {
    fn of(argv: &[String], cwd: &Path, shell: Option<&ShellContext>) -> Program {
        let unresolved = |own| Program {
            path: None,
            own,
            missing: false,
        };
        let Some(name) = argv.first() else {
            return unresolved(false);
        };
        let Some(context) = shell else {
            return unresolved(name.contains('/') && !name.starts_with('/'));
        };
        // /proc and /dev name what cordon's own process has (its stdin,
        // its own executable), not what the command will.
        if name.starts_with("/proc/") || name.starts_with("/dev/") {
            return Program {
                path: None,
                own: true,
                missing: true,
            };
        }
        // A project's tool (.cordon/tools/NAME.wasm) is the project's own
        // program: rules naming a command never allow it.
        if let Some(tool) = crate::resolve::project_tool(&context.root, name) {
            return Program {
                path: Some(tool),
                own: true,
                missing: false,
            };
        }
        // With no PATH, bash searches its default, which ends in `.`.
        let search = context.env.get("PATH").unwrap_or(BASH_DEFAULT_PATH);
        let path = if name.contains('/') {
            cwd.join(name)
        } else {
            match crate::native::find_program(name, Some(search), cwd) {
                Some(path) => path,
                // Nothing runs by that name yet; where PATH leads into a
                // place commands write, the line may make one.
                None => {
                    // A builtin of bash's, or a tool of cordon's own when
                    // cordon runs the line, is not looked up.
                    let looked_up =
                        !shell::bash_builtin(name) && crate::tools::find(name).is_none();
                    let writable = looked_up
                        && search.split(':').any(|dir| {
                            within_any(&cwd.join(dir), std::slice::from_ref(&context.root))
                        });
                    return Program {
                        path: None,
                        own: writable,
                        missing: writable,
                    };
                }
            }
        };
        match path.canonicalize() {
            Ok(real) => Program {
                own: within_any(&real, &context.own_places),
                path: Some(real),
                missing: false,
            },
            // What cannot be resolved is not the system's.
            Err(_) => Program {
                path: None,
                own: true,
                missing: name.contains('/'),
            },
        }
    }

    /// Why cordon cannot tell what this program runs, if it cannot: it
    /// does not exist yet, or it is a shell script of the project's own
    /// that cordon does not read (see [`Program::shell_script`]).
    fn unread(&self) -> Option<String> {
        if self.missing {
            return Some("a program that does not exist yet: the line may make it".into());
        }
        let (name, _) = self.shell_script()?;
        Some(format!(
            "a shell script of the project's own ({name}), run inside a line: \
             an earlier command may have written it"
        ))
    }

    /// The shell a script of the project's own names on its `#!` line
    /// (`#!/bin/sh`, `#!/usr/bin/env bash`), and its grammar.
    ///
    /// The `#!` line is read as the kernel reads it (up to [`SHEBANG`]
    /// bytes); its options are read as the shell reads them (`-e` leaves
    /// the script as written, `-k` does not). A line cordon cannot read
    /// whole, or an `env` with options, makes the script unreadable.
    fn shell_script(&self) -> Option<(String, shell::Dialect)> {
        let path = self.path.as_ref().filter(|_| self.own)?;
        let mut head = Vec::with_capacity(SHEBANG);
        std::io::Read::read_to_end(
            &mut std::io::Read::take(std::fs::File::open(path).ok()?, SHEBANG as u64),
            &mut head,
        )
        .ok()?;
        let interpreter = head.strip_prefix(b"#!")?;
        let unreadable = || Some(("#!".to_string(), shell::Dialect::Unreadable));
        let Some(end) = interpreter.iter().position(|b| *b == b'\n') else {
            return unreadable();
        };
        let Ok(line) = std::str::from_utf8(&interpreter[..end]) else {
            return unreadable();
        };
        let mut words: Vec<&str> = line.split_whitespace().collect();
        if words
            .first()
            .is_some_and(|first| Path::new(first).file_name().is_some_and(|n| n == "env"))
        {
            words.remove(0);
            if words.first().is_some_and(|w| w.starts_with('-')) {
                return unreadable();
            }
        }
        let name = Path::new(words.first()?).file_name()?.to_str()?.to_string();
        let mut argv: Vec<String> = std::iter::once(name.clone())
            .chain(words[1..].iter().map(|w| w.to_string()))
            .collect();
        argv.extend(["-c".to_string(), String::new()]);
        let (dialect, _) = shell::shell_line(&argv)?;
        Some((name, dialect))
    }

    /// `argv` with its program's real path, if the word names it by
    /// another file name (a link).
    fn renamed(&self, argv: &[String]) -> Option<Vec<String>> {
        let real = self.path.as_ref()?;
        let written = Path::new(argv.first()?).file_name()?;
        (real.file_name()? != written).then(|| {
            std::iter::once(real.to_string_lossy().into_owned())
                .chain(argv[1..].iter().cloned())
                .collect()
        })
    }
}

/// How much of a script's `#!` line the kernel reads (Linux's
/// BINPRM_BUF_SIZE).
const SHEBANG: usize = 256;

/// `view` as a shell line, when its program really is a system shell: the
/// file it runs is a shell too, by its real name. One of the project's own
/// named like a shell, or a link to another program (`./bash ->
/// python3`), is judged as the program it is, never read as a line; so is
/// one that does not exist yet inside a line (an earlier command may make
/// it). The command asked for (`top`) with no shell to run it is still
/// read: cordon may run that line itself.
fn real_shell_line<'a>(
    view: &'a [String],
    program: &Program,
    top: bool,
) -> Option<(shell::Dialect, &'a str)> {
    let (dialect, text) = shell::shell_line(view)?;
    let Some(real) = &program.path else {
        return (top || !program.missing).then_some((dialect, text));
    };
    if program.own {
        return None;
    }
    let real_name = real.file_name()?.to_str()?;
    let (real_dialect, _) =
        shell::shell_line(&[real_name.to_string(), "-c".into(), String::new()])?;
    // bash run as sh reads the POSIX grammar; any other pairing of names
    // is read with neither.
    let same = real_dialect == dialect || (real_name == "bash" && dialect == shell::Dialect::Posix);
    Some((
        if same {
            dialect
        } else {
            shell::Dialect::Unreadable
        },
        text,
    ))
}

/// The text of a shell script to judge, or why it cannot be read.
fn read_script(path: &Path) -> Option<Result<String, String>> {
    let text = match crate::config_file::read(path, crate::config_file::CONFIG_LIMIT) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => return Some(Err(format!("{}: {e}", path.display()))),
    };
    Some(
        String::from_utf8(text)
            .map_err(|_| format!("{}: a shell script that is not UTF-8", path.display())),
    )
}

/// The stricter of two verdicts: a refusal, then a question, then a run.
fn stricter(a: Verdict, b: Verdict) -> Verdict {
    match (a, b) {
        (refused @ Verdict::Refused(_), _) | (_, refused @ Verdict::Refused(_)) => refused,
        (ask @ Verdict::Ask { .. }, _) | (_, ask @ Verdict::Ask { .. }) => ask,
        (run, _) => run,
    }
}

/// Whether `path` (resolved) lies in one of `dirs`, by identity: each of
/// its directories compared with theirs by device and inode.
fn within_any(path: &Path, dirs: &[PathBuf]) -> bool {
    let ids: Vec<_> = dirs.iter().filter_map(|d| identity(d)).collect();
    path.ancestors()
        .filter_map(identity)
        .any(|id| ids.contains(&id))
}

#[cfg(unix)]
fn identity(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// Elsewhere no identity is at hand: resolved paths compared whole.
#[cfg(not(unix))]
fn identity(path: &Path) -> Option<PathBuf> {
    path.canonicalize().ok()
}

/// Judges one plain command, known in its first `known` words. A program
/// of the project's own ([`Program::own`]) answers to rules that forbid or
/// ask by its name, but nothing allows it by name and it is never
/// known-safe.
fn judge_command(
    rules: &Rules,
    policy: ApprovalPolicy,
    argv: &[String],
    known: usize,
    own_program: bool,
) -> Verdict {
    let command = display::command_in_line(argv);
    let all_known = known >= argv.len();
    let rule = rules
        .evaluate_partly_known(argv, known)
        .filter(|rule| !(own_program && rule.decision == Decision::Allow));
    if own_program && rule.is_none() && policy == ApprovalPolicy::Untrusted {
        return Verdict::Ask {
            reason: "a program of the project's own, not known to be read-only".into(),
        };
    }
    match rule {
        Some(rule) => {
            let why = rule.because();
            match rule.decision {
                Decision::Allow => Verdict::Run {
                    by: format!("rule {}", rule.origin()),
                },
                Decision::Forbid if rule.fit(argv, known) != Fit::Always => {
                    Verdict::Refused(format!(
                        "{command}: words cordon cannot know as it judges could make it \
                     a command {} forbids{why}",
                        rule.origin()
                    ))
                }
                Decision::Forbid => Verdict::Refused(format!(
                    "{command}: forbidden by {}{why}; change that rule's decision to run it",
                    rule.origin()
                )),
                Decision::Prompt => Verdict::Ask {
                    reason: format!("rule {}{why}", rule.origin()),
                },
            }
        }
        None => {
            let unknown_asks = (!all_known)
                .then(|| safety::asks_with_unknown(&argv[..known]))
                .flatten();
            if let Some(reason) = unknown_asks.or_else(|| safety::always_asks(argv)) {
                Verdict::Ask {
                    reason: reason.to_string(),
                }
            } else if policy == ApprovalPolicy::Untrusted && !safety::known_safe(argv, all_known) {
                Verdict::Ask {
                    reason: "not known to be read-only under --approval untrusted".into(),
                }
            } else {
                Verdict::Run {
                    by: format!("policy {}", policy.as_str()),
                }
            }
        }
    }
}

/// What would have allowed a refusal the sandbox was seen making.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Remedy {
    /// An escalation a person can grant for one run (`on-failure` offers
    /// it).
    Escalation(Escalation),
    /// A flag of the user's own choosing.
    Flag(String),
}

impl std::fmt::Display for Remedy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Remedy::Escalation(grant) => write!(f, "{} would allow it", grant.as_flags()),
            Remedy::Flag(flag) => write!(f, "{flag} would allow it"),
        }
    }
}

/// The narrowest grant that would have allowed `violation`: a write
/// outside the root (or in a read-only one) asks for that directory, a
/// write a commit makes in a git directory for git-commit, a refused
/// connection for its host (the host's network when no host is known), a
/// secret for `--allow-secret`; a git directory's other files or cordon's
/// own stay read-only under every grant but running unsandboxed (native)
/// or `--sandbox full-access` (WASI tools); anything else only running
/// without the sandbox would allow.
pub fn remedy(violation: &Violation, policy: &SandboxPolicy) -> Remedy {
    let target = violation.target.as_ref().map(|t| policy.cwd_abs().join(t));
    if violation.denied == Denied::Network {
        return match violation.target.as_deref().map(Host::parse) {
            Some(Ok(host)) => Remedy::Escalation(Escalation::Host(host, None)),
            _ => Remedy::Escalation(Escalation::Network),
        };
    }
    let Some(target) = target else {
        return Remedy::Escalation(Escalation::Unsandboxed);
    };
    let in_root = target.strip_prefix(policy.root()).ok();
    if let Some(relative) = in_root.filter(|rel| policy.secrets.is_secret(rel)) {
        return Remedy::Flag(format!("--allow-secret {}", relative.display()));
    }
    if violation.denied == Denied::Read {
        return Remedy::Escalation(Escalation::Unsandboxed);
    }
    let parent = target.parent().unwrap_or(&target);
    let exact = parent.canonicalize().ok();
    if exact.is_some_and(|dir| committed(violation.target.as_deref(), &dir, policy)) {
        return Remedy::Escalation(Escalation::GitCommit);
    }
    // A directory not made yet (a package cache's first fetch): the one
    // it would be made in, unless that is the filesystem's root.
    let dir = parent
        .ancestors()
        .find_map(|p| p.canonicalize().ok())
        .filter(|dir| dir.parent().is_some());
    match dir {
        Some(dir)
            if violation.engine == "wasi"
                && (policy.in_protected_tree(&dir)
                    || policy.git_dirs.iter().any(|git| dir.starts_with(git))) =>
        {
            Remedy::Flag("--sandbox full-access".into())
        }
        // Outside the root, or inside a read-only one.
        Some(dir)
            if !policy.in_protected_tree(&dir)
                && !policy.git_dirs.iter().any(|git| dir.starts_with(git))
                && (!dir.starts_with(policy.root()) || !policy.writable()) =>
        {
            Remedy::Escalation(Escalation::Writable(dir))
        }
        _ => Remedy::Escalation(Escalation::Unsandboxed),
    }
}

/// The grant whose absence made a run fail, to offer once: the
/// connections refused (`refused`) and the narrowest escalation that would
/// have allowed each of a native command's refusals (see [`remedy`]),
/// together (`writable=~/.cargo/registry` and `network=index.crates.io`
/// for a first `cargo fetch`); running without the sandbox where one
/// refusal has nothing narrower (a person may judge a secret or a git
/// directory's file worth it). A WASI tool's refusals of files have no
/// escalation: it only ever sees the root.
pub fn missing_grant(
    violations: &[Violation],
    refused: Vec<Escalation>,
    policy: &SandboxPolicy,
) -> Option<Escalation> {
    let remedies =
        violations
            .iter()
            .filter(|v| v.engine != "wasi")
            .map(|v| match remedy(v, policy) {
                Remedy::Escalation(grant) => grant,
                Remedy::Flag(_) => Escalation::Unsandboxed,
            });
    Escalation::combine(refused.into_iter().chain(remedies))
}

/// Whether the refused write `target` (in `dir`) is one a commit makes in
/// a git directory (its lock file included): then git-commit is the grant.
fn committed(target: Option<&str>, dir: &Path, policy: &SandboxPolicy) -> bool {
    let Some(name) = target.and_then(|t| Path::new(t).file_name()) else {
        return false;
    };
    let name = Path::new(name);
    let file = dir.join(
        name.file_stem()
            .filter(|_| name.extension() == Some("lock".as_ref()))
            .unwrap_or(name.as_os_str()),
    );
    policy
        .git_dirs
        .iter()
        .filter_map(|git| file.strip_prefix(git).ok())
        .any(crate::gitdirs::commit_may_write)
}

/// How the broker disposed of a request, and who decided, as the audit's
/// `decision` events say it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decided {
    /// The audit's word for it (`run`, `refused`, `approved` ...).
    pub decision: String,
    /// What decided: a rule, the policy, a session grant, the approver.
    pub by: String,
    /// `pending`: the token the question waits under for a person
    /// ([`parked`]).
    pub resume: Option<String>,
}

impl Decided {
    fn new(decision: &str, by: &str) -> Decided {
        Decided {
            decision: decision.to_string(),
            by: by.to_string(),
            resume: None,
        }
    }
}

/// A request the broker let run, with the shell line it judged: the one
/// parse of that line, which the runner then runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approved {
    /// The request as it runs (possibly edited by the person).
    pub request: Request,
    /// `request.argv` read as a shell line, when it is one and could be
    /// read.
    pub line: Option<Arc<shell::Script>>,
}

/// How the broker finally disposed of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Run this request (possibly edited by the person).
    Run(Approved),
    /// Refused; one line for the user.
    Refused(String),
    /// The person stopped the session.
    Aborted,
}

/// What a person granted for the rest of the session, as the prompt
/// showed it: in that working directory, with that escalation (or none),
/// exactly the command shown, or every command starting with a prefix the
/// person typed (or a rule's prefix, which the prompt names as such).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Grant {
    /// How [`Broker::revoke`] names it.
    id: u64,
    words: Vec<String>,
    cover: Cover,
    cwd: PathBuf,
    escalation: Option<Escalation>,
    /// What the person saw run: the engine, and a WASI program's bytes (a
    /// program rewritten since, or one of another kind by that name, is
    /// asked about again).
    engine: &'static str,
    program_sha256: Option<String>,
    /// The variables it was granted with, exactly.
    env: Vec<String>,
}

/// A grant as [`Broker::grants`] shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GrantShown {
    /// What [`Broker::revoke`] takes.
    pub id: u64,
    /// The command granted, or its first words.
    pub words: Vec<String>,
    /// Whether every command starting with `words` is granted.
    pub prefix: bool,
    /// Where it was granted to run.
    pub cwd: PathBuf,
    /// The escalation granted with it, as `--escalate` writes it.
    pub escalation: Option<String>,
    /// The engine it was granted on.
    pub engine: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cover {
    Exactly,
    Prefix,
}

impl Grant {
    fn covers(&self, request: &Request) -> bool {
        self.escalation == request.escalation
            && self.env == request.env
            && self.cwd == request.cwd
            && self.engine == request.engine
            && self.program_sha256 == request.program_sha256
            && match self.cover {
                Cover::Exactly => self.words == request.argv,
                Cover::Prefix => request.argv.starts_with(&self.words),
            }
    }
}

/// A host a person allowed for the rest of the session: on the port the
/// question named, or on any port when it named none.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HostGrant {
    /// How [`Broker::revoke`] names it: a host granted with a command
    /// shares the command's grant id.
    id: u64,
    host: Host,
    port: Option<u16>,
}

/// How many times one request may be edited before the broker gives up.
const MAX_EDITS: usize = 16;

/// Whether a host and port are a test server's (see
/// [`Broker::without_grants`]).
type LocalHost = Box<dyn Fn(&Host, Option<u16>) -> bool + Send>;

/// The broker for one session: rules, policy, the approver, the grants
/// made so far, and the audit log. Nothing in it outlives the session.
pub struct Broker {
    rules: Rules,
    policy: ApprovalPolicy,
    approver: Box<dyn Approver + Send>,
    grants: Vec<Grant>,
    /// Grants made so far: the last one's id.
    grants_made: u64,
    /// Hosts a person allowed for the rest of the session.
    host_grants: Vec<HostGrant>,
    /// Escalations refused without asking.
    no_grant: Vec<GrantKind>,
    /// Whether a host is this machine (exempt from `--no-grant network`).
    local_host: LocalHost,
    /// Why the session is tainted (it read or was granted a secret): every
    /// network grant from then on needs a person.
    taint: Option<String>,
    /// Connections refused at run time under on-failure, offered as the
    /// missing grant when the command fails.
    refused_hosts: Vec<(Host, u16)>,
    /// How the last request was disposed of.
    last_decision: Option<Decided>,
    aborted: bool,
    /// Where "always" answers write their rule (the user's rules file).
    rules_file: Option<PathBuf>,
    audit: Audit,
    shell: Option<ShellContext>,
    /// Who hears what the person should know (a rule not written).
    notes: Arc<dyn Observer>,
}

impl Broker {
    /// A broker that judges by `rules` under `policy`, asks `approver` and
    /// records to `audit`, with no grants yet.
    pub fn new(
        rules: Rules,
        policy: ApprovalPolicy,
        approver: Box<dyn Approver + Send>,
        audit: Audit,
    ) -> Self {
        Broker {
            rules,
            policy,
            approver,
            grants: Vec::new(),
            grants_made: 0,
            host_grants: Vec::new(),
            taint: None,
            refused_hosts: Vec::new(),
            last_decision: None,
            aborted: false,
            rules_file: None,
            audit,
            shell: None,
            no_grant: Vec::new(),
            local_host: Box::new(|_, _| false),
            notes: Arc::new(Quiet),
        }
    }

    /// Tells `notes` what the person should know, the audit log's
    /// troubles included.
    pub fn with_observer(mut self, notes: Arc<dyn Observer>) -> Self {
        self.audit.observed_by(notes.clone());
        self.notes = notes;
        self
    }

    /// Refuses escalations of these kinds without asking: no answer can
    /// grant them (`cordon test` runs a scenario's steps this way unless
    /// the person running it allowed them). A host and port `local`
    /// accepts (a test server's) may still be asked about and granted.
    pub fn without_grants(
        mut self,
        kinds: &[GrantKind],
        local: impl Fn(&Host, Option<u16>) -> bool + Send + 'static,
    ) -> Self {
        self.no_grant = kinds.to_vec();
        self.local_host = Box::new(local);
        self
    }

    /// Why `escalation` is refused without asking, if it is.
    fn never_granted(&self, escalation: Option<&Escalation>) -> Option<String> {
        let escalation = escalation?;
        let refused = escalation.parts().iter().find(|part| {
            let local =
                matches!(part, Escalation::Host(host, port) if (self.local_host)(host, *port));
            part.kinds().any(|kind| self.no_grant.contains(&kind)) && !local
        })?;
        Some(format!(
            "{refused} is never granted in this session (--no-grant)"
        ))
    }

    /// Asks the approver, and records what its channel carried that was
    /// not taken as the answer; the answer and who gave it.
    fn ask(&mut self, question: &Question) -> (Answer, &'static str) {
        let answer = self.approver.ask(question);
        let by = self.approver.name();
        for discarded in self.approver.take_discarded() {
            self.audit
                .record(&Event::answer_discarded(by, discarded.why, &discarded.line));
        }
        (answer, by)
    }

    /// Writes the rule of an "always" answer to `file`.
    pub fn with_rules_file(mut self, file: PathBuf) -> Self {
        self.rules_file = Some(file);
        self
    }

    /// Writes the rule an "always" answer asked for: the rules file, or
    /// why it could not be written (the grant then lasts the session only).
    fn write_rule(&mut self, rule: &NewRule) -> Result<String, String> {
        match &self.rules_file {
            Some(file) => self
                .rules
                .append(file, rule)
                .map(|()| file.display().to_string())
                .map_err(|e| e.to_string()),
            None => Err("no user configuration directory".into()),
        }
    }

    /// A person approved `request`'s escalation to a host for the session:
    /// connections to it, on the port asked about, are theirs, taint or not
    /// (the approval came after). Approved once, it is the run's only.
    fn grant_escalated_host(&mut self, id: u64, request: &Request) {
        let parts = request.escalation.iter().flat_map(Escalation::parts);
        for part in parts {
            if let Escalation::Host(host, port) = part {
                self.host_grants.push(HostGrant {
                    id,
                    host: host.clone(),
                    port: *port,
                });
            }
        }
    }

    /// The id of the next grant made.
    fn next_grant_id(&mut self) -> u64 {
        self.grants_made += 1;
        self.grants_made
    }

    /// Whether a session grant covers `host` on `port` (0: a lookup, for
    /// any port): `Some` with the ports a lookup is limited to.
    fn host_granted(&self, host: &Host, port: u16) -> Option<Option<Vec<u16>>> {
        self.host_grants
            .iter()
            .filter(|grant| grant.host == *host)
            .find_map(|grant| match (grant.port, port) {
                (None, _) => Some(None),
                (Some(granted), 0) => Some(Some(vec![granted])),
                (Some(granted), port) => (granted == port).then_some(None),
            })
    }

    /// Marks the session as having read (or been granted) a secret; the
    /// first reason stays. Host grants made before it no longer count.
    pub fn taint(&mut self, why: &str) {
        if self.taint.is_none() {
            self.audit.record(&Event::taint(why));
            self.taint = Some(why.to_string());
            self.host_grants.clear();
            self.grants
                .retain(|grant| !grant.escalation.as_ref().is_some_and(Escalation::network));
        }
    }

    /// Why the rules refuse `request` now, asking nobody: a command of a
    /// line judged before the line ran, checked again as it starts (an
    /// earlier command may have retargeted the link that names it).
    pub fn refuses(&self, request: &Request) -> Option<String> {
        match judge(&self.rules, self.policy, request, self.shell.as_ref()) {
            Verdict::Refused(why) => Some(why),
            Verdict::Run { .. } | Verdict::Ask { .. } => None,
        }
    }

    /// What a person granted for the session, oldest first: commands, and
    /// hosts (with no words, the host in `escalation`; one granted with a
    /// command shares its id).
    pub fn grants(&self) -> Vec<GrantShown> {
        let shown = |grant: &Grant| GrantShown {
            id: grant.id,
            words: grant.words.clone(),
            prefix: grant.cover == Cover::Prefix,
            cwd: grant.cwd.clone(),
            escalation: grant.escalation.as_ref().map(ToString::to_string),
            engine: grant.engine,
        };
        let hosts = self.host_grants.iter().map(|grant| GrantShown {
            id: grant.id,
            words: Vec::new(),
            prefix: false,
            cwd: PathBuf::new(),
            escalation: Some(Escalation::Host(grant.host.clone(), grant.port).to_string()),
            engine: "network",
        });
        let mut all: Vec<GrantShown> = self.grants.iter().map(shown).chain(hosts).collect();
        all.sort_by_key(|grant| grant.id);
        all
    }

    /// Takes back the grant [`Broker::grants`] shows as `id`; whether there
    /// was one. What it allowed asks again.
    pub fn revoke(&mut self, id: u64) -> bool {
        let before = self.grants.len() + self.host_grants.len();
        self.grants.retain(|grant| grant.id != id);
        self.host_grants.retain(|grant| grant.id != id);
        let revoked = self.grants.len() + self.host_grants.len() < before;
        if revoked {
            self.audit.record(&Event::revoke(id));
        }
        revoked
    }

    /// Whether the session read (or was granted) a secret.
    pub fn tainted(&self) -> bool {
        self.taint.is_some()
    }

    /// Whether a person aborted the session: nothing more runs in it.
    pub fn aborted(&self) -> bool {
        self.aborted
    }

    /// The connections refused under on-failure since the last call, as
    /// the grants that would have let them through.
    pub fn take_refused_hosts(&mut self) -> Vec<Escalation> {
        let refused = std::mem::take(&mut self.refused_hosts);
        refused
            .into_iter()
            .map(|(host, port)| Escalation::Host(host, (port != 0).then_some(port)))
            .collect()
    }

    /// Decides a connection of `request`'s command to `host:port` (`port`
    /// 0: a name lookup); `listed` when `--network allow=` names it.
    ///
    /// # Errors
    ///
    /// Why it is refused, in one line.
    pub fn decide_connection(
        &mut self,
        request: &Request,
        host: &Host,
        port: u16,
        listed: bool,
    ) -> Result<Option<Vec<u16>>, String> {
        let shown_host = host.to_string();
        let record = |audit: &mut Audit, decision: &str, by: &str, reason: Option<&str>| {
            audit.record(&Event::connect(
                &request.argv,
                &shown_host,
                port,
                decision,
                by,
                reason,
            ));
        };
        let target = match port {
            0 => shown_host.clone(),
            port => format!("{shown_host}:{port}"),
        };
        let rule = self
            .rules
            .evaluate_network(host, port, request.program_sha256.as_deref());
        if let Some(rule) = rule.filter(|r| r.decision == Decision::Forbid) {
            let why = format!("{target}: forbidden by {}", rule.origin());
            record(&mut self.audit, "refused", &rule.origin(), None);
            return Err(why);
        }
        // A person said yes to this host in this session, after any taint
        // (grants made before it were dropped).
        if let Some(ports) = self.host_granted(host, port) {
            record(&mut self.audit, "run", "session grant", None);
            return Ok(ports);
        }
        let allowed_by = match rule.map(|r| (r.decision, r)) {
            // Named with its rule: the justification is the rule file's
            // words (maybe an agent's), never cordon's own.
            Some((Decision::Prompt, rule)) => Err(match &rule.justification {
                Some(why) => format!("rule {} ({why})", rule.origin()),
                None => format!("{} asks for this host", rule.origin()),
            }),
            // A lookup granted by `HOST:PORT` is good for that port only.
            Some((_, rule)) => Ok((
                rule.origin(),
                rule.host.ports_for(host).filter(|p| !p.is_empty()),
            )),
            None if listed => Ok(("--network allow".to_string(), None)),
            None => Err("not on the network allowlist".to_string()),
        };
        let reason = match (allowed_by, &self.taint) {
            (Ok((by, ports)), None) => {
                record(&mut self.audit, "run", &by, None);
                return Ok(ports);
            }
            (_, Some(taint)) => format!(
                "this session read a secret ({taint}); every network grant after that needs \
                 a person"
            ),
            (Err(reason), None) => reason,
        };
        let asked_about = Escalation::Host(host.clone(), (port != 0).then_some(port));
        if let Some(why) = self.never_granted(Some(&asked_about)) {
            record(&mut self.audit, "refused", "--no-grant", Some(&why));
            return Err(format!("{target}: needs approval ({reason}); {why}"));
        }
        match self.policy {
            ApprovalPolicy::Never => {
                record(&mut self.audit, "refused", "policy never", Some(&reason));
                return Err(format!(
                    "{target}: needs approval ({reason}), and --approval never asks nobody"
                ));
            }
            ApprovalPolicy::OnFailure => {
                record(
                    &mut self.audit,
                    "refused",
                    "policy on-failure",
                    Some(&reason),
                );
                self.refused_hosts.push((host.clone(), port));
                return Err(format!(
                    "{target}: needs approval ({reason}); asked after the command fails"
                ));
            }
            ApprovalPolicy::Untrusted | ApprovalPolicy::OnRequest => {}
        }
        let mut asked = request.clone();
        let asked_grant = HostGrant {
            id: self.next_grant_id(),
            host: host.clone(),
            port: (port != 0).then_some(port),
        };
        asked.escalation = Some(Escalation::Host(host.clone(), asked_grant.port));
        let question = Question {
            request: asked,
            reason: reason.clone(),
        };
        let (answer, by) = self.ask(&question);
        match answer {
            Answer::Once => {
                record(&mut self.audit, "approved", by, Some(&reason));
                Ok(None)
            }
            Answer::Session { .. } => {
                record(&mut self.audit, "approved-for-session", by, Some(&reason));
                self.host_grants.push(asked_grant);
                Ok(None)
            }
            Answer::Always { .. } => {
                self.host_grants.push(asked_grant);
                let written = self.write_rule(&NewRule::Host(host, (port != 0).then_some(port)));
                let note = match &written {
                    Ok(file) => format!("{reason}; allow rule written to {file}"),
                    Err(why) => {
                        self.notes.note(&format!(
                            "{target}: no rule written ({why}); approved for this \
                             session only"
                        ));
                        format!("{reason}; no rule written: {why}")
                    }
                };
                record(&mut self.audit, "approved-always", by, Some(&note));
                Ok(None)
            }
            Answer::Deny(why) => {
                record(&mut self.audit, "denied", by, Some(&why));
                Err(format!(
                    "{target}: needs approval ({reason}); denied by {by}: {why}"
                ))
            }
            Answer::Edit(_) => {
                let why = "a connection cannot be edited";
                record(&mut self.audit, "denied", by, Some(why));
                Err(format!("{target}: {why}; denied"))
            }
            Answer::Abort => {
                record(&mut self.audit, "aborted", by, None);
                self.aborted = true;
                Err(format!("{target}: the session was aborted"))
            }
            Answer::Pending(token) => {
                record(
                    &mut self.audit,
                    "pending",
                    by,
                    Some(&waits(&reason, &token)),
                );
                Err(format!(
                    "{target}: needs approval ({reason}); {}, then run the command again",
                    answer_with(&token)
                ))
            }
        }
    }

    /// Reads shell command lines in `context` (without it, `sh -c` is judged
    /// as one unknown command).
    pub fn with_shell(mut self, context: ShellContext) -> Self {
        self.set_shell(context);
        self
    }

    /// Reads shell lines with `context` from now on (a session's commands
    /// each run where and with what they say).
    pub fn set_shell(&mut self, context: ShellContext) {
        self.shell = Some(context);
    }

    /// The approval policy it judges under.
    pub fn policy(&self) -> ApprovalPolicy {
        self.policy
    }

    /// The audit log, for the run and violation events that follow.
    pub fn audit(&mut self) -> &mut Audit {
        &mut self.audit
    }

    fn granted(&self, request: &Request) -> bool {
        self.grants.iter().any(|grant| grant.covers(request))
    }

    /// Runs `decide` with `notes` told what the broker says (instead of
    /// the observer it was made with): a decision's notes go to the run
    /// it is for.
    pub fn noting<T>(
        &mut self,
        notes: Arc<dyn Observer>,
        decide: impl FnOnce(&mut Self) -> T,
    ) -> T {
        let made_with = std::mem::replace(&mut self.notes, notes);
        let decided = decide(self);
        self.notes = made_with;
        decided
    }

    /// Decides `request`: judged, then asked about if need be; an edited
    /// command is judged again from the start. `line` is `request.argv`
    /// already read as a shell line with the context of
    /// [`Broker::set_shell`] ([`ShellContext::read_line`]), judged as read.
    pub fn decide(
        &mut self,
        mut request: Request,
        mut line: Option<Arc<shell::Script>>,
    ) -> Outcome {
        for _ in 0..MAX_EDITS {
            self.audit.record(&Event::request(&request, self.policy));
            let judged = judge_read(
                &self.rules,
                self.policy,
                &request,
                self.shell.as_ref(),
                line.as_deref(),
            );
            let run = |request: Request, line: Option<Arc<shell::Script>>| {
                Outcome::Run(Approved { request, line })
            };
            let reason = match judged {
                Verdict::Run { by } => {
                    self.decided("run", &by, None);
                    return run(request, line);
                }
                Verdict::Refused(why) => {
                    self.decided("refused", "rule", Some(&why));
                    return Outcome::Refused(why);
                }
                Verdict::Ask { reason } => reason,
            };
            if let Some(why) = self.never_granted(request.escalation.as_ref()) {
                self.decided("refused", "--no-grant", Some(&why));
                return Outcome::Refused(format!(
                    "{}: {why}",
                    display::command_in_line(&request.argv)
                ));
            }
            if self.granted(&request) {
                self.decided("run", "session grant", Some(&reason));
                return run(request, line);
            }
            let command = display::command_in_line(&request.argv);
            if self.policy == ApprovalPolicy::Never {
                let why = format!(
                    "{command}: needs approval ({reason}), and --approval never asks nobody, \
                     so it is denied"
                );
                self.decided("refused", "policy never", Some(&reason));
                return Outcome::Refused(why);
            }
            let question = Question {
                request: request.clone(),
                reason: reason.clone(),
            };
            let (answer, by) = self.ask(&question);
            match answer {
                Answer::Once => {
                    self.decided("approved", by, Some(&reason));
                    return run(request, line);
                }
                Answer::Session { prefix } => {
                    self.last_decision = Some(Decided::new("approved for the session", by));
                    let id = self.next_grant_id();
                    self.grant_escalated_host(id, &request);
                    let (words, cover) = match prefix {
                        Some(prefix) => (prefix, Cover::Prefix),
                        None => (request.argv.clone(), Cover::Exactly),
                    };
                    self.audit.record(&Event::grant(
                        by,
                        &words,
                        cover == Cover::Prefix,
                        &request.escalation,
                    ));
                    self.grants.push(Grant {
                        id,
                        words,
                        cover,
                        cwd: request.cwd.clone(),
                        escalation: request.escalation.clone(),
                        engine: request.engine,
                        program_sha256: request.program_sha256.clone(),
                        env: request.env.clone(),
                    });
                    return run(request, line);
                }
                Answer::Always { prefix } => {
                    self.last_decision = Some(Decided::new("approved always", by));
                    let prefix = prefix.unwrap_or_else(|| request.argv.clone());
                    let id = self.next_grant_id();
                    self.grants.push(Grant {
                        id,
                        words: prefix.clone(),
                        cover: Cover::Prefix,
                        cwd: request.cwd.clone(),
                        escalation: request.escalation.clone(),
                        engine: request.engine,
                        program_sha256: request.program_sha256.clone(),
                        env: request.env.clone(),
                    });
                    self.grant_escalated_host(id, &request);
                    // A rule decides the command, never an escalation.
                    match &request.escalation {
                        None => {
                            let written = self.write_rule(&NewRule::Command(&prefix));
                            self.audit
                                .record(&Event::always(by, &prefix.join(" "), &written));
                            if let Err(why) = written {
                                self.notes.note(&format!(
                                    "{command}: no rule written ({why}); approved for \
                                     this session only"
                                ));
                            }
                        }
                        Some(escalation) => {
                            self.audit.record(&Event::grant(
                                by,
                                &prefix,
                                true,
                                &request.escalation,
                            ));
                            self.notes.note(&format!(
                                "{command}: a rule cannot grant {escalation}; approved \
                                 for this session only"
                            ));
                        }
                    }
                    return run(request, line);
                }
                Answer::Deny(why) => {
                    self.decided("denied", by, Some(&why));
                    return Outcome::Refused(format!(
                        "{command}: needs approval ({reason}); denied by {by}: {why}"
                    ));
                }
                Answer::Edit(argv) => {
                    self.audit.record(&Event::edit(by, &argv));
                    // The edit may name another program: nothing known of
                    // the first holds for it. It is judged as a native
                    // command whose bytes are unknown (its scripts read, no
                    // rule naming bytes), whatever then runs it.
                    request.argv = argv;
                    request.engine = "native";
                    request.program_sha256 = None;
                    // Read once here; a line that cannot be read is
                    // refused by the judging, which reads it again.
                    line = self
                        .shell
                        .as_ref()
                        .and_then(|context| context.read_line(&request.argv, &request.cwd))
                        .and_then(Result::ok)
                        .map(Arc::new);
                }
                Answer::Abort => {
                    self.decided("aborted", by, None);
                    self.aborted = true;
                    return Outcome::Aborted;
                }
                Answer::Pending(token) => {
                    self.decided("pending", by, Some(&waits(&reason, &token)));
                    if let Some(last) = &mut self.last_decision {
                        last.resume = Some(token.clone());
                    }
                    return Outcome::Refused(format!(
                        "{command}: needs approval ({reason}); {}, then resume",
                        answer_with(&token)
                    ));
                }
            }
        }
        Outcome::Refused(format!(
            "{}: edited {MAX_EDITS} times without a decision; denied",
            display::command_in_line(&request.argv)
        ))
    }

    /// Records a decision, and keeps it as the last one.
    fn decided(&mut self, decision: &str, by: &str, reason: Option<&str>) {
        self.audit.record(&Event::decision(decision, by, reason));
        self.last_decision = Some(Decided::new(decision, by));
    }

    /// How the last request was disposed of, and by whom.
    pub fn last_decision(&self) -> Option<&Decided> {
        self.last_decision.as_ref()
    }
}

/// A parked question's reason, as the audit records it.
fn waits(reason: &str, token: &str) -> String {
    format!("{reason}; waits for a person under {token}")
}

/// How a person answers a parked question.
fn answer_with(token: &str) -> String {
    format!("no one to ask now: a person answers with `cordon approve {token}`")
}

/// The network gate's questions go to the session's broker.
impl net::Decider for std::sync::Mutex<Broker> {
    fn decide(
        &self,
        request: &Request,
        host: &Host,
        port: u16,
        listed: bool,
    ) -> Result<Option<Vec<u16>>, String> {
        self.lock()
            .map_err(|_| "the broker failed".to_string())?
            .decide_connection(request, host, port, listed)
    }

    fn refused(&self, request: &Request, host: &Host, port: u16, why: &str) {
        if let Ok(mut broker) = self.lock() {
            broker.audit.record(&Event::connect(
                &request.argv,
                &host.to_string(),
                port,
                "refused",
                "address check",
                Some(why),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn argv(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_string).collect()
    }

    fn request(line: &str) -> Request {
        Request {
            argv: argv(line),
            cwd: "/p".into(),
            engine: "native",
            sandbox: "workspace-write",
            escalation: None,
            justification: None,
            program_sha256: None,
            env: Vec::new(),
        }
    }

    fn rules(text: &str) -> Rules {
        let mut rules = Rules::default();
        rules.add(text, Path::new("r.toml")).unwrap();
        rules
    }

    /// `bash -c LINE` judged with the environment `X=1`, rules forbidding
    /// `touch` and allowing `git status`.
    fn judge_line_in(line: &str, policy: ApprovalPolicy) -> Verdict {
        let root = tempfile::tempdir().unwrap();
        for file in ["a.py", "b.py"] {
            std::fs::write(root.path().join(file), "").unwrap();
        }
        let rules = rules(
            "[[rule]]\nprefix = [\"touch\"]\ndecision = \"forbid\"\n\
             [[rule]]\nprefix = [\"git\", \"status\"]\ndecision = \"allow\"\n",
        );
        let context = ShellContext {
            env: shell::Env::new([("X".to_string(), "1".to_string())]),
            root: root.path().to_path_buf(),
            own_places: vec![root.path().to_path_buf()],
        };
        let request = Request {
            argv: vec!["bash".into(), "-c".into(), line.into()],
            cwd: root.path().to_path_buf(),
            ..request("")
        };
        judge(&rules, policy, &request, Some(&context))
    }

    #[test]
    fn grants_combine_into_the_fewest_that_cover_them() {
        let dir = |d: &str| Escalation::Writable(PathBuf::from(d));
        let host = |h: &str, port| Escalation::Host(Host::parse(h).unwrap(), port);
        assert_eq!(Escalation::combine([]), None);
        assert_eq!(Escalation::combine([dir("/a")]), Some(dir("/a")));
        assert_eq!(
            Escalation::combine([
                host("x.test", Some(443)),
                dir("/a/b"),
                dir("/a"),
                dir("/a/c"),
                host("x.test", None),
                Escalation::GitCommit,
                Escalation::GitCommit,
            ]),
            Some(Escalation::Several(vec![
                dir("/a"),
                host("x.test", None),
                Escalation::GitCommit
            ]))
        );
        assert_eq!(
            Escalation::combine([host("x.test", None), Escalation::Network]),
            Some(Escalation::Network)
        );
        assert_eq!(
            Escalation::combine([dir("/a"), Escalation::Unsandboxed, Escalation::Network]),
            Some(Escalation::Unsandboxed)
        );
        let several = Escalation::combine([dir("/a"), host("y.test", Some(80))]).unwrap();
        assert_eq!(several.to_string(), "writable=/a and network=y.test:80");
        assert_eq!(
            several.as_flags(),
            "--escalate writable=/a --escalate network=y.test:80"
        );
        assert!(several.network());
    }

    #[test]
    fn unknown_words_are_wildcards() {
        use ApprovalPolicy::*;
        for line in [
            "for f in *.py; do wc -l \"$f\"; done",
            "cat <<EOF > note.txt\nhello $X\nEOF",
            "echo $(date) > stamp",
            "git status $f",
        ] {
            let verdict = judge_line_in(line, OnRequest);
            assert!(
                matches!(verdict, Verdict::Run { .. }),
                "{line}: {verdict:?}"
            );
        }
        // A forbid rule that could match applies; an allow rule only
        // where it matches every value; what runs code asks.
        for (line, refused) in [
            ("for c in touch; do $c x; done", true),
            ("touch $f", true),
            ("for a in x; do git $a; done", false),
            ("rm $f", false),
            ("find . $f", false),
            ("xargs -I{} {} x < list", true),
            ("echo x | xargs find .", false),
            ("env $f touch x", true),
            ("B=touch bash -c '$B x'", true),
            ("export B=touch; sh -c '\"$B\" x'", true),
            ("env -i bash -c '$X'", true),
            ("bash -i -c 'echo hi'", false),
        ] {
            match judge_line_in(line, OnRequest) {
                Verdict::Refused(_) if refused => {}
                Verdict::Ask { .. } if !refused => {}
                other => panic!("{line}: {other:?}"),
            }
            assert!(
                !matches!(judge_line_in(line, Never), Verdict::Run { .. }),
                "{line}"
            );
        }
    }

    #[test]
    fn programs_are_judged_by_what_they_are() {
        let root = tempfile::tempdir().unwrap();
        let root_path = root.path().canonicalize().unwrap();
        let touch =
            crate::native::find_program("touch", std::env::var("PATH").ok().as_deref(), &root_path)
                .expect("touch on PATH");
        std::os::unix::fs::symlink(&touch, root_path.join("t")).unwrap();
        std::fs::write(root_path.join("s"), "#!/usr/bin/env bash\necho hi\n").unwrap();
        std::fs::write(root_path.join("u"), "#!/bin/sh\ntouch x\n").unwrap();
        std::fs::write(root_path.join("p"), "#!/usr/bin/python3\nprint(1)\n").unwrap();
        let rules = rules(
            "[[rule]]\nprefix = [\"touch\"]\ndecision = \"forbid\"\n\
             [[rule]]\nprefix = [\"git\", \"push\"]\ndecision = \"forbid\"\n",
        );
        let context = ShellContext {
            env: shell::Env::new([("PATH".to_string(), std::env::var("PATH").unwrap())]),
            root: root_path.clone(),
            own_places: vec![root_path.clone()],
        };
        let verdict = |line: &str| {
            let request = Request {
                argv: argv(line),
                cwd: root_path.clone(),
                ..request("")
            };
            judge(&rules, ApprovalPolicy::OnRequest, &request, Some(&context))
        };
        // A link answers to the rules of what it links to.
        assert!(matches!(verdict("./t x"), Verdict::Refused(_)));
        // A shell script of the project's own asked for is read as a line;
        // inside a line an earlier command may have written it: it asks.
        // A program not there yet may be anything.
        assert!(matches!(verdict("./s"), Verdict::Run { .. }));
        assert!(matches!(verdict("./u"), Verdict::Refused(_)));
        let inside = Request {
            argv: vec!["bash".into(), "-c".into(), "./s".into()],
            cwd: root_path.clone(),
            ..request("")
        };
        let verdict_inside = judge(&rules, ApprovalPolicy::OnRequest, &inside, Some(&context));
        assert!(
            matches!(verdict_inside, Verdict::Ask { .. }),
            "{verdict_inside:?}"
        );
        assert!(matches!(verdict("./missing"), Verdict::Ask { .. }));
        assert!(matches!(verdict("./p"), Verdict::Run { .. }));
        // git's global options do not hide the subcommand from a rule.
        assert!(matches!(
            verdict("git -C . --no-pager push"),
            Verdict::Refused(_)
        ));
    }

    /// Each policy against each kind of command, with and without a rule.
    #[test]
    fn judge_matrix() {
        let allow_rm = rules("[[rule]]\nprefix = [\"rm\"]\ndecision = \"allow\"\n");
        let forbid_curl = rules("[[rule]]\nprefix = [\"curl\"]\ndecision = \"forbid\"\n");
        let none = Rules::default();
        use ApprovalPolicy::*;
        #[derive(Debug, PartialEq)]
        enum V {
            Run,
            Ask,
            Refused,
        }
        let cases: &[(&Rules, ApprovalPolicy, &str, V)] = &[
            (&none, Untrusted, "grep -rn x .", V::Run),
            (&none, Untrusted, "sort -o out x", V::Ask),
            (&none, Untrusted, "touch x", V::Ask),
            (&none, OnRequest, "touch x", V::Run),
            (&none, OnFailure, "touch x", V::Run),
            (&none, Never, "touch x", V::Run),
            (&none, OnRequest, "rm -rf build", V::Ask),
            (&none, Never, "rm -rf build", V::Ask),
            (&allow_rm, OnRequest, "rm -rf build", V::Run),
            (&allow_rm, Untrusted, "rm -rf build", V::Run),
            (&forbid_curl, OnRequest, "curl x", V::Refused),
            (&forbid_curl, Never, "/usr/bin/curl x", V::Refused),
        ];
        for (rules, policy, line, expected) in cases {
            let got = match judge(rules, *policy, &request(line), None) {
                Verdict::Run { .. } => V::Run,
                Verdict::Ask { .. } => V::Ask,
                Verdict::Refused(_) => V::Refused,
            };
            assert_eq!(&got, expected, "{policy:?} {line}");
        }
        // An escalation asks even when a rule allows the command.
        let mut escalated = request("rm x");
        escalated.escalation = Some(Escalation::Network);
        assert!(matches!(
            judge(&allow_rm, OnRequest, &escalated, None),
            Verdict::Ask { .. }
        ));
    }

    /// Answers in order and remembers what it was asked.
    struct Scripted {
        answers: Vec<Answer>,
        asked: std::sync::Arc<std::sync::Mutex<Vec<Vec<String>>>>,
    }

    impl Approver for Scripted {
        fn name(&self) -> &'static str {
            "test"
        }
        fn ask(&mut self, question: &Question) -> Answer {
            self.asked
                .lock()
                .unwrap()
                .push(question.request.argv.clone());
            if self.answers.is_empty() {
                Answer::Deny("none left".into())
            } else {
                self.answers.remove(0)
            }
        }
    }

    fn broker(
        rules: Rules,
        policy: ApprovalPolicy,
        answers: Vec<Answer>,
    ) -> (Broker, std::sync::Arc<std::sync::Mutex<Vec<Vec<String>>>>) {
        let asked = std::sync::Arc::default();
        let approver = Scripted {
            answers,
            asked: std::sync::Arc::clone(&asked),
        };
        (
            Broker::new(rules, policy, Box::new(approver), Audit::default()),
            asked,
        )
    }

    #[test]
    fn session_grants_cover_the_prefix_and_nothing_else() {
        let (mut b, asked) = broker(
            Rules::default(),
            ApprovalPolicy::Untrusted,
            vec![
                Answer::Session {
                    prefix: Some(argv("git push")),
                },
                Answer::Deny("no".into()),
            ],
        );
        assert!(matches!(
            b.decide(request("git push origin"), None),
            Outcome::Run(_)
        ));
        assert!(matches!(
            b.decide(request("git push upstream"), None),
            Outcome::Run(_)
        ));
        assert!(matches!(
            b.decide(request("git pull"), None),
            Outcome::Refused(_)
        ));
        assert_eq!(asked.lock().unwrap().len(), 2);
        // A fresh broker (a new session) remembers nothing.
        let (mut b, _) = broker(Rules::default(), ApprovalPolicy::Untrusted, vec![]);
        assert!(matches!(
            b.decide(request("git push origin"), None),
            Outcome::Refused(_)
        ));
    }

    #[test]
    fn an_edit_is_judged_again_from_the_start() {
        let forbid = rules("[[rule]]\nprefix = [\"curl\"]\ndecision = \"forbid\"\n");
        let (mut b, asked) = broker(
            forbid.clone(),
            ApprovalPolicy::OnRequest,
            vec![Answer::Edit(argv("curl evil.example"))],
        );
        assert!(matches!(
            b.decide(request("rm -rf build"), None),
            Outcome::Refused(_)
        ));
        assert_eq!(asked.lock().unwrap().len(), 1);
        let (mut b, asked) = broker(
            forbid,
            ApprovalPolicy::OnRequest,
            vec![Answer::Edit(argv("rm -r build/tmp")), Answer::Once],
        );
        match b.decide(request("rm -rf build"), None) {
            Outcome::Run(r) => assert_eq!(r.request.argv, argv("rm -r build/tmp")),
            other => panic!("{other:?}"),
        }
        assert_eq!(asked.lock().unwrap().len(), 2);
    }

    #[test]
    fn never_refuses_without_asking_and_abort_stops() {
        let (mut b, asked) = broker(Rules::default(), ApprovalPolicy::Never, vec![Answer::Once]);
        assert!(matches!(
            b.decide(request("rm -rf x"), None),
            Outcome::Refused(_)
        ));
        assert!(asked.lock().unwrap().is_empty());
        let (mut b, _) = broker(
            Rules::default(),
            ApprovalPolicy::OnRequest,
            vec![Answer::Abort],
        );
        assert_eq!(b.decide(request("rm -rf x"), None), Outcome::Aborted);
    }

    /// Connections: the allowlist and rules decide unasked until the session
    /// is tainted; then every grant asks, and session grants made before
    /// the taint are gone.
    #[test]
    fn connections_and_the_taint_guard() {
        let host = |name: &str| Host::parse(name).unwrap();
        let forbid = rules("[[network]]\nhost = \"*.evil.test\"\ndecision = \"forbid\"\n");
        let (mut b, asked) = broker(
            forbid,
            ApprovalPolicy::OnRequest,
            vec![
                Answer::Session { prefix: None },
                Answer::Deny("tainted".into()),
                Answer::Once,
            ],
        );
        let r = request("curl x");
        assert!(
            b.decide_connection(&r, &host("a.evil.test"), 443, true)
                .is_err()
        );
        assert!(
            b.decide_connection(&r, &host("listed.test"), 443, true)
                .is_ok()
        );
        assert!(asked.lock().unwrap().is_empty());
        assert!(
            b.decide_connection(&r, &host("other.test"), 443, false)
                .is_ok()
        );
        assert!(
            b.decide_connection(&r, &host("other.test"), 443, false)
                .is_ok()
        );
        assert_eq!(asked.lock().unwrap().len(), 1, "the session grant answers");
        // The grant is the port the question named, nothing more; a lookup
        // gets that port only.
        assert_eq!(
            b.host_granted(&host("other.test"), 0),
            Some(Some(vec![443]))
        );
        assert_eq!(b.host_granted(&host("other.test"), 80), None);
        b.taint("read .env");
        assert!(
            b.decide_connection(&r, &host("other.test"), 443, false)
                .is_err()
        );
        assert!(
            b.decide_connection(&r, &host("listed.test"), 443, true)
                .is_ok()
        );
        assert_eq!(
            asked.lock().unwrap().len(),
            3,
            "each grant after the taint asks"
        );

        let (mut b, asked) = broker(
            Rules::default(),
            ApprovalPolicy::OnFailure,
            vec![Answer::Once],
        );
        assert!(
            b.decide_connection(&r, &host("other.test"), 443, false)
                .is_err()
        );
        assert!(asked.lock().unwrap().is_empty());
        assert_eq!(
            b.take_refused_hosts(),
            [Escalation::Host(host("other.test"), Some(443))]
        );
        let (mut b, _) = broker(Rules::default(), ApprovalPolicy::Never, vec![Answer::Once]);
        b.taint("--allow-secret .env");
        assert!(
            b.decide_connection(&r, &host("listed.test"), 443, true)
                .is_err()
        );
    }

    /// "For the session" covers exactly the command the prompt showed; a
    /// prefix only when the person typed one. "Once" grants nothing after.
    #[test]
    fn a_grant_is_no_wider_than_what_was_shown() {
        let (mut b, asked) = broker(
            Rules::default(),
            ApprovalPolicy::Untrusted,
            vec![
                Answer::Session { prefix: None },
                Answer::Deny("not shown".into()),
                Answer::Session {
                    prefix: Some(vec!["make".into()]),
                },
            ],
        );
        assert!(matches!(
            b.decide(request("rm -rf build"), None),
            Outcome::Run(_)
        ));
        assert!(matches!(
            b.decide(request("rm -rf build"), None),
            Outcome::Run(_)
        ));
        assert_eq!(asked.lock().unwrap().len(), 1);
        assert!(matches!(
            b.decide(request("rm -rf build src"), None),
            Outcome::Refused(_)
        ));
        assert_eq!(asked.lock().unwrap().len(), 2, "a longer command asks");
        assert!(matches!(
            b.decide(request("make test"), None),
            Outcome::Run(_)
        ));
        assert!(matches!(
            b.decide(request("make clean"), None),
            Outcome::Run(_)
        ));
        assert_eq!(asked.lock().unwrap().len(), 3, "a typed prefix covers");
        // Elsewhere, the same words are another command.
        let mut elsewhere = request("rm -rf build");
        elsewhere.cwd = "/other".into();
        assert!(matches!(b.decide(elsewhere, None), Outcome::Refused(_)));
        assert_eq!(asked.lock().unwrap().len(), 4, "another directory asks");

        let host = Host::parse("10.0.0.9").unwrap();
        let (mut b, _) = broker(
            Rules::default(),
            ApprovalPolicy::OnRequest,
            vec![Answer::Once],
        );
        let mut escalated = request("curl x");
        escalated.escalation = Some(Escalation::Host(host.clone(), Some(8080)));
        assert!(matches!(b.decide(escalated, None), Outcome::Run(_)));
        assert_eq!(b.host_granted(&host, 8080), None, "once is that run's");
        assert_eq!(b.host_granted(&host, 22), None);
    }
}
