//! Shell command lines: `cordon run -c SCRIPT`, and `sh|bash|zsh|dash -c
//! SCRIPT` (or `-lc`), parsed with brush-parser into the subset cordon
//! understands, so the broker judges every command in them.
//!
//! The subset: simple commands with quoting and escapes, pipelines, `&&`,
//! `||`, `;`, redirections, assignments before a command, `$VAR` from the
//! command's fixed environment, and globs in the last path component,
//! expanded by cordon inside the root. Anything else (command or process
//! substitution, subshells, functions, loops, here-documents, background
//! jobs, `~user`, arithmetic) makes the script *opaque*: it still runs, as
//! `/bin/sh -c` under the OS sandbox, and the broker treats it as an unknown
//! command (never known-safe).

mod builtins;
mod expand;
pub mod git;
pub mod nesting;
pub mod redirect;
mod variables;
pub mod wrappers;

use std::path::{Path, PathBuf};

use brush_parser::ast;

pub use expand::Env;
use expand::NotExpanded;

/// A redirection, after expansion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    /// The descriptor redirected (0 for `<`, 1 for `>` unless given).
    pub fd: i32,
    /// `&>`: standard error goes where `fd` (1) goes.
    pub and_stderr: bool,
    /// What it does to `fd`.
    pub op: RedirectOp,
}

/// What a redirection does to its descriptor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedirectOp {
    /// `<`: read the file.
    Read(String),
    /// `>`, `>|`, `>>`: write the file, truncating or appending.
    Write {
        /// The file written.
        path: String,
        /// `>>`: append instead of truncating.
        append: bool,
    },
    /// `<>`: open the file for reading and writing.
    ReadWrite(String),
    /// `>&N`, `<&N`: a copy of descriptor N.
    Duplicate(i32),
    /// `>&-`, or a process substitution: only the shell sets these up.
    Other,
}

/// Paths a redirection names that are not files: the null device and the
/// standard streams.
const DEVICES: &[&str] = &["/dev/null", "/dev/stdin", "/dev/stdout", "/dev/stderr"];

impl Redirect {
    /// The file this redirection writes, if it writes one (the standard
    /// streams and /dev/null are not files).
    pub fn written_file(&self) -> Option<&str> {
        let path = match &self.op {
            RedirectOp::Write { path, .. } | RedirectOp::ReadWrite(path) => path,
            _ => return None,
        };
        (!DEVICES.contains(&path.as_str())).then_some(path)
    }

    /// The file this redirection reads, if it reads one.
    pub fn read_file(&self) -> Option<&str> {
        let path = match &self.op {
            RedirectOp::Read(path) | RedirectOp::ReadWrite(path) => path,
            _ => return None,
        };
        (!DEVICES.contains(&path.as_str())).then_some(path)
    }

    /// Whether cordon can set this up itself: the three standard
    /// descriptors, files read on stdin or written on stdout/stderr, and
    /// stdout and stderr copied onto each other.
    fn host_can_open(&self) -> bool {
        match &self.op {
            RedirectOp::Read(_) => self.fd == 0,
            RedirectOp::Write { .. } => matches!(self.fd, 1 | 2),
            RedirectOp::Duplicate(to) => matches!((self.fd, to), (1, 2) | (2, 1) | (1, 1) | (2, 2)),
            RedirectOp::ReadWrite(_) | RedirectOp::Other => false,
        }
    }
}

/// One simple command of a pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Stage {
    /// The directory its relative paths start from, as cordon read the
    /// line (moved by each `cd` before it).
    pub dir: PathBuf,
    /// `NAME=VALUE` assignments before the command, expanded.
    pub assignments: Vec<(String, String)>,
    /// The command's words, expanded.
    pub argv: Vec<String>,
    /// Its redirections, in order.
    pub redirects: Vec<Redirect>,
    /// Indices in `argv` of words cordon could not expand (a substitution,
    /// a variable set as the line runs) or that a glob gave (the shell may
    /// expand it to other words as it runs, over files an earlier command
    /// made): wildcards, where any words may stand.
    pub unexpanded: Vec<usize>,
    /// A `cd` cordon cannot follow (inside a compound command, a function
    /// or a substitution, after `&&`/`||`, to a directory that is not
    /// there yet) may have moved the line: `dir` is only a guess.
    pub dir_uncertain: bool,
}

impl Stage {
    /// Whether cordon can run this stage itself: redirections it can open
    /// ([`Redirect::host_can_open`]), assignments only before a command and
    /// never to PATH (which would change what the name runs), and no
    /// builtin but `cd`, `exit N` and the `set` options cordon follows.
    fn runs_in_host(&self) -> bool {
        let Some(command) = self.argv.first() else {
            // `> file` alone creates the file; a bare assignment sets a
            // shell variable.
            return self.assignments.is_empty()
                && self.redirects.iter().all(Redirect::host_can_open);
        };
        let plain = self.redirects.is_empty() && self.assignments.is_empty();
        match command.as_str() {
            "cd" => plain,
            "exit" => plain && exit_status(&self.argv[1..]).is_some(),
            "set" => plain && Options::default().set(&self.argv[1..]).is_some(),
            builtin if BUILTINS.contains(&builtin) => false,
            _ => {
                self.redirects.iter().all(Redirect::host_can_open)
                    && self.assignments.iter().all(|(name, _)| name != "PATH")
            }
        }
    }
}

/// The status `exit ARGS` ends a line with: `Some(None)` for the last
/// command's, `None` when cordon does not read the arguments.
pub fn exit_status(args: &[String]) -> Option<Option<u8>> {
    match args {
        [] => Some(None),
        [code] => code
            .parse::<i64>()
            .ok()
            .map(|c| Some(c.rem_euclid(256) as u8)),
        _ => None,
    }
}

/// The shell options a line may `set` that cordon follows as it runs it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// `set -e`: a failing command ends the line.
    pub errexit: bool,
    /// `set -o pipefail`: a pipeline fails if any stage fails.
    pub pipefail: bool,
}

impl Options {
    /// The options after `set ARGS`, or `None` for arguments cordon does
    /// not follow. `-u` changes nothing here: a line that reads an unset
    /// variable is never run by cordon itself.
    pub fn set(mut self, args: &[String]) -> Option<Options> {
        if args.is_empty() {
            return None;
        }
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let (on, flags) = match arg.split_at_checked(1)? {
                ("-", flags) => (true, flags),
                ("+", flags) => (false, flags),
                _ => return None,
            };
            for flag in flags.chars() {
                match flag {
                    'e' => self.errexit = on,
                    'u' => {}
                    'o' => match args.next()?.as_str() {
                        "errexit" => self.errexit = on,
                        "pipefail" => self.pipefail = on,
                        "nounset" => {}
                        _ => return None,
                    },
                    _ => return None,
                }
            }
            if flags.is_empty() {
                return None;
            }
        }
        Some(self)
    }
}

/// Stages joined by `|`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pipeline {
    /// `!` before it: its status is inverted.
    pub negated: bool,
    /// Its stages, left to right.
    pub stages: Vec<Stage>,
}

/// How a pipeline joins the one before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connector {
    /// `&&`: runs when the one before succeeded.
    And,
    /// `||`: runs when the one before failed.
    Or,
}

/// Pipelines joined by `&&` and `||`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct List {
    /// The first pipeline.
    pub first: Pipeline,
    /// Each pipeline after it, with how it joins the one before.
    pub rest: Vec<(Connector, Pipeline)>,
}

/// A parsed script: its lists (run one after the other), why it is opaque
/// (cordon will not run it itself), and why it is unreadable (part of what
/// it runs cannot be judged before it runs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    /// The script as given.
    pub text: String,
    /// Its lists, run one after the other.
    pub lists: Vec<List>,
    /// Commands inside compound commands, functions and substitutions:
    /// judged, never run by cordon itself.
    pub nested: Vec<Stage>,
    /// Why cordon will not run it itself, if it will not.
    pub opaque: Option<String>,
    /// Why part of what it runs cannot be judged before it runs, if so.
    pub unreadable: Option<String>,
    /// The variables the line sets as it runs.
    pub assigned: Vec<String>,
}

impl Script {
    /// Every stage the parser could see (for an opaque script, those outside
    /// the constructs it does not follow).
    pub fn stages(&self) -> impl Iterator<Item = &Stage> {
        self.pipelines()
            .flat_map(|p| p.stages.iter())
            .chain(self.nested.iter())
    }

    /// Whether cordon can run the line itself, each command on its own
    /// engine, the host joining pipes and opening redirections: nothing
    /// opaque, and every stage one cordon can set up
    /// ([`Stage::runs_in_host`]).
    pub fn runs_in_host(&self) -> bool {
        // In a pipeline, `cd`, `exit` and `set` run in a subshell and
        // steer nothing: only the shell models that.
        let steering_in_pipe = self.pipelines().any(|p| {
            p.stages.len() > 1
                && p.stages.iter().any(|s| {
                    s.argv
                        .first()
                        .is_some_and(|c| STEERING.contains(&c.as_str()))
                })
        });
        self.opaque.is_none() && !steering_in_pipe && self.stages().all(Stage::runs_in_host)
    }

    /// Every pipeline, in order.
    pub fn pipelines(&self) -> impl Iterator<Item = &Pipeline> {
        self.lists
            .iter()
            .flat_map(|list| std::iter::once(&list.first).chain(list.rest.iter().map(|(_, p)| p)))
    }
}

/// Programs that run code they read on stdin: shells, interpreters, and
/// tools with a command language of their own (`xargs` builds commands
/// from it; `dc`, `ed`, database shells and debuggers run `!` escapes).
const READS_CODE: &[&str] = &[
    "sh",
    "bash",
    "dash",
    "ksh",
    "zsh",
    "rbash",
    "fish",
    "csh",
    "tcsh",
    "mksh",
    "yash",
    "busybox",
    "eval",
    "source",
    ".",
    "xargs",
    "perl",
    "ruby",
    "node",
    "nodejs",
    "deno",
    "bun",
    "php",
    "lua",
    "luajit",
    "tclsh",
    "wish",
    "expect",
    "R",
    "Rscript",
    "julia",
    "awk",
    "gawk",
    "mawk",
    "nawk",
    "sed",
    "dc",
    "bc",
    "ed",
    "ex",
    "vi",
    "vim",
    "nvim",
    "sqlite3",
    "psql",
    "mysql",
    "gdb",
    "lldb",
    "pwsh",
    "osascript",
    "git",
    "env",
    "script",
];

/// Whether the program `word` names runs code (or commands) it reads:
/// from stdin, or from its arguments.
pub fn runs_code(word: &str) -> bool {
    let name = Path::new(word)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(word);
    READS_CODE.contains(&name) || name.starts_with("python") || name.starts_with("pypy")
}

/// Whether `argv` (or a command it wraps) may run code read from stdin.
fn reads_code(argv: &[String]) -> bool {
    wrappers::unwrap(argv)
        .views
        .iter()
        .any(|view| view.first().is_some_and(|word| runs_code(word)))
}

/// Why cordon cannot tell what `stage` runs, if it cannot: a word it could
/// not expand becomes the command, the command a wrapper runs, or the
/// script a shell runs (`$(echo rm) -rf src`, `env $(...)`,
/// `bash -c "$(...)"`).
fn unread_command(stage: &Stage) -> Option<&'static str> {
    if stage.unexpanded.is_empty() {
        return None;
    }
    let argv = &stage.argv;
    for view in wrappers::unwrap(argv).views {
        // What a wrapper runs is a run of the words (a tail, or a `find
        // -exec` action).
        let Some(offset) = argv.windows(view.len()).position(|w| w == view.as_slice()) else {
            continue;
        };
        if stage.unexpanded.contains(&offset) {
            return Some("a substitution or expansion as the command name");
        }
        let words = offset..offset + view.len();
        if shell_line(&view).is_some() && stage.unexpanded.iter().any(|i| words.contains(i)) {
            return Some("a substitution in a shell's script");
        }
    }
    None
}

/// A script that does not parse, with where.
#[derive(Debug, thiserror::Error)]
#[error("-c script: {0}")]
pub struct ParseError(String);

/// Builtins that only the shell can run (cordon runs `cd` itself; `echo`,
/// `printf`, `pwd`, `test`, `[`, `true`, `false` are tools too).
const BUILTINS: &[&str] = &[
    "exit", "export", "set", "unset", "read", "exec", "wait", "umask", "ulimit", "type", "hash",
    "shift", "return", "local", "declare", "typeset", "readonly", "getopts", "let", "builtin",
    "command", "jobs", "fg", "bg", "times", "shopt", "pushd", "popd", "dirs",
];

/// Every bash builtin: a name bash runs itself, whatever PATH holds.
const BASH_BUILTINS: &[&str] = &[
    ".",
    ":",
    "[",
    "alias",
    "bg",
    "bind",
    "break",
    "builtin",
    "caller",
    "cd",
    "command",
    "compgen",
    "complete",
    "compopt",
    "continue",
    "declare",
    "dirs",
    "disown",
    "echo",
    "enable",
    "eval",
    "exec",
    "exit",
    "export",
    "false",
    "fc",
    "fg",
    "getopts",
    "hash",
    "help",
    "history",
    "jobs",
    "kill",
    "let",
    "local",
    "logout",
    "mapfile",
    "popd",
    "printf",
    "pushd",
    "pwd",
    "read",
    "readarray",
    "readonly",
    "return",
    "set",
    "shift",
    "shopt",
    "source",
    "suspend",
    "test",
    "times",
    "trap",
    "true",
    "type",
    "typeset",
    "ulimit",
    "umask",
    "unalias",
    "unset",
    "wait",
];

/// Whether bash runs `name` itself rather than a program found on PATH.
pub fn bash_builtin(name: &str) -> bool {
    BASH_BUILTINS.contains(&name)
}

/// Builtins cordon follows as it runs a line: they steer the line.
pub const STEERING: &[&str] = &["cd", "exit", "set"];

/// Builtins that run text cordon cannot see: they make a line opaque.
const EVALUATING: &[&str] = &["eval", "source", ".", "trap", "alias"];

/// `path` with `.` and `..` taken away by the words alone, as a shell's
/// logical `cd` takes them (`a/link/..` is `a`, wherever `link` leads).
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// The shells whose `-c` cordon reads, and the grammar it reads them with.
const SHELLS: &[(&str, Dialect)] = &[
    ("sh", Dialect::Posix),
    ("dash", Dialect::Posix),
    ("ksh", Dialect::Posix),
    ("bash", Dialect::Bash),
    ("zsh", Dialect::Unreadable),
];

/// The grammar a shell line is read with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// The POSIX grammar (sh, dash, ksh).
    Posix,
    /// bash's grammar.
    Bash,
    /// A shell whose grammar cordon does not model (zsh): every line of it
    /// is unreadable.
    Unreadable,
}

/// Long options of sh/bash that change nothing in how a `-c` line is read
/// or run.
const PLAIN_LONG: &[&str] = &["--norc", "--noprofile", "--noediting", "--verbose"];

/// Option letters of sh/bash that change nothing in how a `-c` line is
/// read or run (`-e`, `-u`, `-x`, ...); `c`, `l`, `o` and `O` are read
/// apart, and any other letter makes the line unreadable (`-i`, `-k`,
/// `-n`, `-p`, `-r`, `-s`, `-f` and the rest of `set`'s that change it).
const PLAIN_LETTERS: &str = "abeuvxBCEPT";

/// A shell's arguments as the shell reads them.
struct Invocation<'a> {
    dialect: Dialect,
    /// The `-c` script.
    script: Option<&'a str>,
    /// `-l` or `--login`: the profile files in HOME run first.
    login: bool,
}

/// `argv` read as sh/bash read their arguments, if it runs a shell (by
/// file name, so `/bin/bash` counts). Each `o` or `O` in a cluster takes
/// the next word (`-oo pipefail errexit`); the first word that is not an
/// option ends them, and is the script with `-c`. Anything cordon does not
/// know to leave the line as written makes it unreadable.
fn invocation(argv: &[String]) -> Option<Invocation<'_>> {
    let name = Path::new(argv.first()?).file_name()?.to_str()?;
    let mut dialect = SHELLS.iter().find(|(n, _)| *n == name)?.1;
    let (mut command, mut login) = (false, false);
    let mut words = argv[1..].iter().peekable();
    while let Some(arg) = words.peek() {
        if *arg == "--" || *arg == "-" {
            words.next();
            break;
        }
        if arg.starts_with("--") {
            let long = words.next().map_or("", String::as_str);
            match long {
                "--login" => login = true,
                plain if PLAIN_LONG.contains(&plain) => {}
                // --posix, --restricted, --debugger, --version, ...: read
                // otherwise, or not run at all.
                valued => {
                    if valued == "--rcfile" || valued == "--init-file" {
                        words.next();
                    }
                    dialect = Dialect::Unreadable;
                }
            }
            continue;
        }
        let Some(cluster) = arg.strip_prefix('-').or_else(|| arg.strip_prefix('+')) else {
            break;
        };
        let on = arg.starts_with('-');
        words.next();
        for letter in cluster.chars() {
            match letter {
                'c' if on => command = true,
                'l' if on => login = true,
                'o' => match words.next() {
                    Some(name) if !builtins::set_option_changes_reading(name) => {}
                    _ => dialect = Dialect::Unreadable,
                },
                // -O NAME: shopt options change the grammar and expansion.
                'O' => {
                    words.next();
                    dialect = Dialect::Unreadable;
                }
                plain if PLAIN_LETTERS.contains(plain) => {}
                _ => dialect = Dialect::Unreadable,
            }
        }
    }
    let script = words.next().filter(|_| command).map(String::as_str);
    Some(Invocation {
        dialect,
        script,
        login,
    })
}

/// The dialect and script of `argv` if it runs a shell with `-c`, options
/// read as the shell reads them (`bash --norc -e -c SCRIPT`, `sh -xc
/// SCRIPT`, `sh -c -- SCRIPT`, `bash -c -oo pipefail errexit SCRIPT`); by
/// file name, so `/bin/bash` counts. A shell given options cordon does not
/// follow is [`Dialect::Unreadable`].
pub fn shell_line(argv: &[String]) -> Option<(Dialect, &str)> {
    let invocation = invocation(argv)?;
    Some((invocation.dialect, invocation.script?))
}

/// Whether `argv` runs a login shell (`-l`, `--login`), which reads the
/// profile files in HOME.
pub fn login_shell(argv: &[String]) -> bool {
    invocation(argv).is_some_and(|invocation| invocation.login)
}

/// The script of `argv` if it runs a shell with `-c`.
pub fn script_of(argv: &[String]) -> Option<&str> {
    shell_line(argv).map(|(_, script)| script)
}

fn options(dialect: Dialect) -> brush_parser::ParserOptions {
    let posix = dialect == Dialect::Posix;
    brush_parser::ParserOptions {
        enable_extended_globbing: false,
        posix_mode: posix,
        sh_mode: posix,
        tilde_expansion_at_word_start: true,
        tilde_expansion_after_colon: false,
        parser_impl: brush_parser::ParserImpl::Peg,
    }
}

/// How deep substitutions inside substitutions are read.
const MAX_DEPTH: usize = 8;

/// Parses `text` with the grammar of `dialect`, expanding words with `env`
/// and globs in `cwd` (which must lie inside `root`).
///
/// # Errors
///
/// [`ParseError`] with the line and column, or a glob reaching outside the
/// root.
pub fn parse(
    text: &str,
    dialect: Dialect,
    env: &Env,
    root: &Path,
    cwd: &Path,
) -> Result<Script, ParseError> {
    nesting::check(text).map_err(ParseError)?;
    // The parser backtracks, and some inputs send it down paths that
    // take longer than anyone waits (the bounds above cut the ones
    // known): it reads on a thread of its own, with room for the deepest
    // line allowed, and a line not read within the deadline is refused.
    // That thread is left to finish on its own.
    let owned = (
        text.to_string(),
        env.clone(),
        root.to_path_buf(),
        cwd.to_path_buf(),
    );
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("cordon-shell-parse".into())
        .stack_size(PARSER_STACK)
        .spawn(move || {
            let (text, env, root, cwd) = owned;
            let _ = sender.send(parse_guarded(&text, dialect, &env, &root, &cwd));
        })
        .map_err(|e| ParseError(format!("starting the parser: {e}")))?;
    match receiver.recv_timeout(PARSE_DEADLINE) {
        Ok(read) => read,
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Err(ParseError(format!(
            "cordon gave up reading the line after {} s",
            PARSE_DEADLINE.as_secs()
        ))),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            Err(ParseError("the parser failed on the line".into()))
        }
    }
}

/// The parser's stack, room for the deepest line allowed (each level takes
/// some kilobytes in the parser and in the reading of its tree; mapped as
/// used, not all at once).
const PARSER_STACK: usize = 64 << 20;

/// How long reading a line may take.
const PARSE_DEADLINE: std::time::Duration = std::time::Duration::from_secs(5);

/// [`parse_bounded`], a panic of the parser (a redirection's descriptor
/// number too large for it, say) turned into a parse error: a line cordon
/// cannot read is refused, never a crash.
fn parse_guarded(
    text: &str,
    dialect: Dialect,
    env: &Env,
    root: &Path,
    cwd: &Path,
) -> Result<Script, ParseError> {
    std::panic::catch_unwind(|| parse_bounded(text, dialect, env, root, cwd)).unwrap_or_else(|_| {
        Err(ParseError(
            "the line could not be parsed (the parser failed on it)".into(),
        ))
    })
}

/// [`parse`] of a line within the nesting bounds.
fn parse_bounded(
    text: &str,
    dialect: Dialect,
    env: &Env,
    root: &Path,
    cwd: &Path,
) -> Result<Script, ParseError> {
    let (script, assigned, cd_uncertain) = read(text, dialect, env, root, cwd, false)?;
    if assigned.is_empty() {
        return Ok(script);
    }
    // A variable the line sets has its value only as the shell runs (a
    // loop or a function may read it before its assignment in the text):
    // read again with those names unknown, so a `$NAME` of them is
    // unreadable rather than the environment's value. Likewise a `cd`
    // cordon cannot follow leaves every stage's directory a guess (a loop
    // may run it before a stage written earlier).
    let env = env.without(&assigned);
    read(text, dialect, &env, root, cwd, cd_uncertain).map(|(script, _, _)| script)
}

/// One reading of `text`, the names of the variables it sets, and whether
/// a `cd` it runs cannot be followed. With `cwd_unknown`, no stage's
/// directory is known.
fn read(
    text: &str,
    dialect: Dialect,
    env: &Env,
    root: &Path,
    cwd: &Path,
    cwd_unknown: bool,
) -> Result<(Script, Vec<String>, bool), ParseError> {
    let mut builder = Builder {
        env,
        root,
        cwd: cwd.to_path_buf(),
        dialect,
        depth: 0,
        nested: Vec::new(),
        opaque: None,
        unreadable: None,
        assigned: Vec::new(),
        fed_text: false,
        cwd_unknown,
        cd_uncertain: false,
        compound_depth: 0,
        conditional: false,
    };
    if dialect == Dialect::Unreadable {
        builder.make_unreadable("a shell whose grammar cordon does not read");
    }
    // bash keeps a `#` right after `)` in a word (`<(true)#`, `a=(x)#`);
    // the parser reads a comment there, hiding what follows.
    if text.contains(")#") {
        builder.make_unreadable("`)#`, which the parser and bash read differently");
    }
    if let Some(name) = env.names().find(|n| variables::runs_at_startup(n)) {
        builder.make_unreadable(&format!(
            "{name} in the environment runs code as bash starts"
        ));
    }
    let lists = builder.program(text)?;
    let script = Script {
        text: text.to_string(),
        lists,
        nested: builder.nested,
        opaque: builder.opaque,
        unreadable: builder.unreadable,
        assigned: builder.assigned.clone(),
    };
    Ok((script, builder.assigned, builder.cd_uncertain))
}

/// A word's expansion.
struct Expanded {
    words: Vec<String>,
    /// cordon expanded it as the shell will; if not, `words` is the word
    /// as written.
    known: bool,
    /// A glob gave the words.
    globbed: bool,
}

/// Why an assignment's subscripts could run code, if they could: bash
/// evaluates an indexed array's subscripts as arithmetic, which expands
/// substitutions (`a[$(cmd)]=1`, `a=([$(cmd)]=1)`).
fn subscripted(assignment: &ast::Assignment) -> Option<String> {
    let digits = |text: &str| !text.is_empty() && text.chars().all(|c| c.is_ascii_digit());
    let plain = match (&assignment.name, &assignment.value) {
        (ast::AssignmentName::ArrayElementName(_, index), _) => digits(index),
        (_, ast::AssignmentValue::Array(elements)) => elements
            .iter()
            .all(|(key, _)| key.as_ref().is_none_or(|key| digits(&key.value))),
        _ => true,
    };
    (!plain).then(|| format!("the subscripts of {}", assignment.name))
}

struct Builder<'a> {
    env: &'a Env,
    root: &'a Path,
    /// Where globs expand: the line's directory, moved by each `cd` as
    /// cordon's executor will move it (a failed `cd` ends the line there).
    cwd: PathBuf,
    dialect: Dialect,
    depth: usize,
    nested: Vec<Stage>,
    opaque: Option<String>,
    unreadable: Option<String>,
    /// Variables the line sets as it runs.
    assigned: Vec<String>,
    /// The command being read is fed a here-document or here-string.
    fed_text: bool,
    /// No stage's directory is known (see [`Stage::dir_uncertain`]).
    cwd_unknown: bool,
    /// A `cd` was met that cordon cannot follow.
    cd_uncertain: bool,
    /// Inside a compound command or a function body.
    compound_depth: usize,
    /// Reading a pipeline after `&&` or `||`.
    conditional: bool,
}

impl Builder<'_> {
    fn make_opaque(&mut self, why: &str) {
        self.opaque.get_or_insert_with(|| why.to_string());
    }

    /// Cordon cannot see all of what this runs: opaque, and never judged
    /// as fully known.
    fn make_unreadable(&mut self, why: &str) {
        self.make_opaque(why);
        self.unreadable.get_or_insert_with(|| why.to_string());
    }

    fn program(&mut self, text: &str) -> Result<Vec<List>, ParseError> {
        let mut parser =
            brush_parser::Parser::new(std::io::Cursor::new(text), &options(self.dialect));
        let program = parser
            .parse_program()
            .map_err(|e| ParseError(e.to_string()))?;
        let mut lists = Vec::new();
        for complete in &program.complete_commands {
            for ast::CompoundListItem(and_or, separator) in &complete.0 {
                if matches!(separator, ast::SeparatorOperator::Async) {
                    self.make_opaque("a background job (&)");
                }
                lists.push(self.list(and_or)?);
            }
        }
        Ok(lists)
    }

    /// Reads the commands of a body cordon will not run itself, for the
    /// broker to judge.
    fn nested_list(&mut self, list: &ast::CompoundList) -> Result<(), ParseError> {
        for ast::CompoundListItem(and_or, _) in &list.0 {
            let list = self.list(and_or)?;
            let pipelines =
                std::iter::once(list.first).chain(list.rest.into_iter().map(|(_, p)| p));
            for pipeline in pipelines {
                self.nested.extend(pipeline.stages);
            }
        }
        Ok(())
    }

    /// Reads the text of a command substitution the same way.
    fn nested_text(&mut self, text: &str) -> Result<(), ParseError> {
        if self.depth >= MAX_DEPTH {
            self.make_unreadable("substitutions nested too deep");
            return Ok(());
        }
        self.depth += 1;
        let lists = self.program(text);
        self.depth -= 1;
        for list in lists? {
            let pipelines =
                std::iter::once(list.first).chain(list.rest.into_iter().map(|(_, p)| p));
            for pipeline in pipelines {
                self.nested.extend(pipeline.stages);
            }
        }
        Ok(())
    }

    fn compound(&mut self, command: &ast::CompoundCommand) -> Result<(), ParseError> {
        self.compound_depth += 1;
        let read = self.compound_body(command);
        self.compound_depth -= 1;
        read
    }

    fn compound_body(&mut self, command: &ast::CompoundCommand) -> Result<(), ParseError> {
        use ast::CompoundCommand as C;
        self.make_opaque("a compound command");
        match command {
            C::BraceGroup(group) => self.nested_list(&group.list),
            C::Subshell(sub) => self.nested_list(&sub.list),
            C::ForClause(clause) => {
                self.assign(&clause.variable_name);
                for word in clause.values.iter().flatten() {
                    self.word(word)?;
                }
                self.nested_list(&clause.body.list)
            }
            C::ArithmeticForClause(clause) => {
                self.make_unreadable("arithmetic");
                self.nested_list(&clause.body.list)
            }
            C::CaseClause(clause) => {
                self.word(&clause.value)?;
                for case in &clause.cases {
                    for pattern in &case.patterns {
                        self.word(pattern)?;
                    }
                    if let Some(list) = &case.cmd {
                        self.nested_list(list)?;
                    }
                }
                Ok(())
            }
            C::IfClause(clause) => {
                self.nested_list(&clause.condition)?;
                self.nested_list(&clause.then)?;
                for other in clause.elses.iter().flatten() {
                    if let Some(condition) = &other.condition {
                        self.nested_list(condition)?;
                    }
                    self.nested_list(&other.body)?;
                }
                Ok(())
            }
            C::WhileClause(clause) | C::UntilClause(clause) => {
                self.nested_list(&clause.0)?;
                self.nested_list(&clause.1.list)
            }
            C::Arithmetic(_) => {
                self.make_unreadable("arithmetic");
                Ok(())
            }
            C::Coprocess(_) => {
                self.make_unreadable("a coprocess");
                Ok(())
            }
        }
    }

    fn list(&mut self, and_or: &ast::AndOrList) -> Result<List, ParseError> {
        let first = self.pipeline(&and_or.first)?;
        let mut rest = Vec::new();
        let outer = std::mem::replace(&mut self.conditional, true);
        for next in &and_or.additional {
            let next = match next {
                ast::AndOr::And(p) => (Connector::And, self.pipeline(p)),
                ast::AndOr::Or(p) => (Connector::Or, self.pipeline(p)),
            };
            match next {
                (connector, Ok(pipeline)) => rest.push((connector, pipeline)),
                (_, Err(e)) => {
                    self.conditional = outer;
                    return Err(e);
                }
            }
        }
        self.conditional = outer;
        Ok(List { first, rest })
    }

    fn pipeline(&mut self, pipeline: &ast::Pipeline) -> Result<Pipeline, ParseError> {
        if pipeline.timed.is_some() {
            self.make_opaque("time");
        }
        let mut stages = Vec::new();
        for command in &pipeline.seq {
            match command {
                ast::Command::Simple(simple) => {
                    let stage = self.stage(simple)?;
                    if pipeline.seq.len() == 1 {
                        self.follow_cd(&stage);
                    }
                    stages.push(stage);
                }
                ast::Command::Compound(command, redirects) => {
                    self.compound(command)?;
                    self.compound_redirects(redirects.as_ref())?;
                }
                ast::Command::Function(function) => {
                    self.make_opaque("a function definition");
                    self.compound(&function.body.0)?;
                    self.compound_redirects(function.body.1.as_ref())?;
                }
                ast::Command::ExtendedTest(test, redirects) => {
                    self.make_opaque("[[ ... ]]");
                    self.extended_test(&test.expr)?;
                    self.compound_redirects(redirects.as_ref())?;
                }
            }
        }
        Ok(Pipeline {
            negated: pipeline.bang,
            stages,
        })
    }

    /// The words of a `[[ ... ]]` test, substitutions in them read.
    fn extended_test(&mut self, expr: &ast::ExtendedTestExpr) -> Result<(), ParseError> {
        use ast::ExtendedTestExpr as E;
        match expr {
            E::And(left, right) | E::Or(left, right) => {
                self.extended_test(left)?;
                self.extended_test(right)
            }
            E::Not(inner) | E::Parenthesized(inner) => self.extended_test(inner),
            E::UnaryTest(operator, word) => {
                let words = self.word(word)?;
                self.test_operands(&operator.to_string(), None, &words)
            }
            E::BinaryTest(operator, left, right) => {
                let left = self.word(left)?;
                let right = self.word(right)?;
                let left = (left.len() == 1).then(|| left[0].as_str());
                self.test_operands(&operator.to_string(), left, &right)
            }
        }
    }

    /// Operands of a test operator that bash evaluates as arithmetic or
    /// as a variable name: plain, or the line is unreadable.
    fn test_operands(
        &mut self,
        operator: &str,
        left: Option<&str>,
        right: &[String],
    ) -> Result<(), ParseError> {
        let why = match right {
            [right] => builtins::test_operands(operator, left, right),
            _ => builtins::test_operands(operator, Some(""), ""),
        };
        if let Some(why) = why {
            self.make_unreadable(&why);
        }
        Ok(())
    }

    /// Redirections of a compound command or a function's body: judged
    /// (and checked against the area) as a command of no words of its own.
    fn compound_redirects(&mut self, list: Option<&ast::RedirectList>) -> Result<(), ParseError> {
        let Some(list) = list else { return Ok(()) };
        let outer_fed = std::mem::take(&mut self.fed_text);
        let mut stage = Stage {
            dir: self.cwd.clone(),
            dir_uncertain: self.cwd_unknown,
            ..Stage::default()
        };
        for redirect in &list.0 {
            stage.redirects.extend(self.redirect(redirect)?);
        }
        // Which of the commands inside reads the text cannot be told.
        if std::mem::replace(&mut self.fed_text, outer_fed) {
            self.make_unreadable("text fed to a compound command");
        }
        self.nested.push(stage);
        Ok(())
    }

    /// A word as data (a `for` list, a `case` pattern, a value): what
    /// the broker needs of it is only what it runs.
    fn word(&mut self, word: &ast::Word) -> Result<Vec<String>, ParseError> {
        self.expand(word).map(|expanded| expanded.words)
    }

    /// A word's expansion. One cordon cannot know (a variable the line
    /// sets, a substitution) makes the line opaque, the shell running it;
    /// one that may run code as it expands makes it unreadable.
    fn expand(&mut self, word: &ast::Word) -> Result<Expanded, ParseError> {
        let expanded = expand::word(
            &word.value,
            &options(self.dialect),
            self.env,
            self.root,
            &self.cwd,
        )?;
        match expanded {
            Ok((words, globbed)) => Ok(Expanded {
                words,
                known: true,
                globbed,
            }),
            Err(not) => {
                match not {
                    NotExpanded::Substitutions(texts) => {
                        self.make_opaque("command substitution");
                        for text in texts {
                            self.nested_text(&text)?;
                        }
                    }
                    NotExpanded::Unknown(why) => self.make_opaque(&why),
                    NotExpanded::Unreadable(why) => self.make_unreadable(&why),
                }
                // Judged as written, a wildcard.
                Ok(Expanded {
                    words: vec![word.value.clone()],
                    known: false,
                    globbed: false,
                })
            }
        }
    }

    /// Moves the glob directory with a plain `cd DIR` into a directory of
    /// the root; the executor moves the same way or ends the line. A `cd`
    /// it cannot follow (to a directory the line makes first, `cd -`)
    /// leaves it: what a glob gives is a wildcard wherever it expands.
    fn follow_cd(&mut self, stage: &Stage) {
        if stage
            .argv
            .first()
            .is_none_or(|c| !matches!(c.as_str(), "cd" | "pushd" | "popd"))
        {
            return;
        }
        // Only a `cd` that surely runs, once, in order, is followed.
        let sure = self.compound_depth == 0 && self.depth == 0 && !self.conditional;
        if sure
            && stage.argv[0] == "cd"
            && let [_, dir] = stage.argv.as_slice()
            && stage.redirects.is_empty()
            && let Ok(moved) = self.cwd.join(dir).canonicalize()
            && moved.starts_with(self.root)
            && moved.is_dir()
            // A shell's `cd` is logical (`link/..` is where it started),
            // cordon's physical: followed only where the two agree.
            && lexical(&self.cwd.join(dir)) == moved
        {
            self.cwd = moved;
        } else {
            self.cd_uncertain = true;
        }
    }

    fn stage(&mut self, simple: &ast::SimpleCommand) -> Result<Stage, ParseError> {
        // Substitutions read on the way are commands of their own.
        let outer_fed = std::mem::take(&mut self.fed_text);
        let mut stage = Stage {
            dir: self.cwd.clone(),
            dir_uncertain: self.cwd_unknown,
            ..Stage::default()
        };
        for item in simple.prefix.iter().flat_map(|p| p.0.iter()) {
            self.item(item, &mut stage, true)?;
        }
        if let Some(name) = &simple.word_or_name {
            self.argv_word(name, &mut stage)?;
        }
        for item in simple.suffix.iter().flat_map(|s| s.0.iter()) {
            self.item(item, &mut stage, false)?;
        }
        if let Some(why) = unread_command(&stage) {
            self.make_unreadable(why);
        }
        // `{NAME}>file` makes bash open a descriptor and assign its number
        // to NAME (a subscript evaluated); the parser reads a word.
        let named_descriptor = |w: &String| {
            w.len() > 2 && w.starts_with('{') && w.ends_with('}') && !w.contains([' ', ','])
        };
        if !stage.redirects.is_empty() && stage.argv.iter().any(named_descriptor) {
            self.make_unreadable("a `{NAME}>` redirection, which assigns NAME");
        }
        // `time -- cmd`: bash reads `--` as time's; the parser as a command.
        if stage.argv.first().is_some_and(|c| c.starts_with('-')) {
            self.make_unreadable("a command word that starts with `-`");
        }
        if std::mem::replace(&mut self.fed_text, outer_fed) && reads_code(&stage.argv) {
            self.make_unreadable("text fed to a shell or an interpreter");
        }
        // Also behind a wrapper: `command eval ...`.
        let evaluating = wrappers::unwrap(&stage.argv)
            .views
            .iter()
            .filter_map(|view| view.first())
            .find(|w| EVALUATING.contains(&w.as_str()))
            .cloned();
        if let Some(builtin) = evaluating {
            self.make_unreadable(&format!("`{builtin}` runs text cordon cannot read"));
        }
        let builtin_use = wrappers::unwrap(&stage.argv).views.iter().find_map(|view| {
            // Builtins run behind `command`/`builtin`: a tail of the words.
            let offset = stage.argv.len() - view.len();
            let unknown: Vec<usize> = stage
                .unexpanded
                .iter()
                .filter_map(|&i| i.checked_sub(offset))
                .collect();
            builtins::unreadable_use(view, &unknown)
        });
        if let Some(why) = builtin_use {
            self.make_unreadable(&why);
        }
        self.note_assigned(&stage);
        Ok(stage)
    }

    /// Adds a word's expansion to `stage`'s arguments, noting where cordon
    /// could not expand it and where a glob expanded.
    fn argv_word(&mut self, word: &ast::Word, stage: &mut Stage) -> Result<(), ParseError> {
        let expanded = self.expand(word)?;
        let at = stage.argv.len();
        if !expanded.known || expanded.globbed {
            stage.unexpanded.extend(at..at + expanded.words.len());
        }
        stage.argv.extend(expanded.words);
        Ok(())
    }

    /// Notes that the line sets the variable `name`.
    fn assign(&mut self, name: &str) {
        // `PATH[0]=.` sets PATH.
        let name = name.split('[').next().unwrap_or(name);
        if variables::steers(name) {
            self.make_unreadable(&format!("the line sets {name}, which steers what runs"));
        }
        self.assigned.push(name.to_string());
    }

    /// Records the variables `stage` sets in the shell: a bare assignment,
    /// the operands of a builtin that sets variables, `cd`'s PWD.
    /// Records the variables `stage` sets in the shell: an assignment
    /// (before a command too: a function it calls sees it), the operands
    /// of a builtin that sets variables (also behind `command`/`builtin`),
    /// `cd`'s PWD; and those `env` sets for the command it runs.
    fn note_assigned(&mut self, stage: &Stage) {
        for (name, _) in &stage.assignments {
            self.assign(name);
        }
        for view in wrappers::unwrap(&stage.argv).views {
            let Some(command) = view.first() else {
                continue;
            };
            let names: Vec<String> = match command.as_str() {
                "cd" | "pushd" | "popd" => vec!["PWD".into(), "OLDPWD".into()],
                "env" => wrappers::env_changes(&view).names,
                _ => builtins::sets(&view),
            };
            for name in names {
                self.assign(&name);
            }
        }
    }

    fn item(
        &mut self,
        item: &ast::CommandPrefixOrSuffixItem,
        stage: &mut Stage,
        prefix: bool,
    ) -> Result<(), ParseError> {
        use ast::CommandPrefixOrSuffixItem as Item;
        match item {
            Item::Word(word) => self.argv_word(word, stage)?,
            Item::AssignmentWord(assignment, word) if prefix => {
                if let Some(why) = subscripted(assignment) {
                    self.make_unreadable(&why);
                }
                let text = word.value.clone();
                match text.split_once('=') {
                    Some((name, value)) => {
                        let value = self.word(&ast::Word {
                            value: value.to_string(),
                            loc: None,
                        })?;
                        stage.assignments.push((name.to_string(), value.join(" ")));
                    }
                    None => self.make_opaque(&format!("the assignment {assignment}")),
                }
            }
            Item::AssignmentWord(_, word) => self.argv_word(word, stage)?,
            Item::IoRedirect(redirect) => {
                let redirect = self.redirect(redirect)?;
                stage.redirects.extend(redirect);
            }
            Item::ProcessSubstitution(_, sub) => {
                self.make_opaque("process substitution");
                self.nested_list(&sub.list)?;
            }
        }
        Ok(())
    }

    /// A redirection's target: one word, as the shell insists, and one
    /// cordon knows (what a line writes is no wildcard).
    fn redirect_path(&mut self, word: &ast::Word) -> Result<String, ParseError> {
        let expanded = self.expand(word)?;
        if !expanded.known {
            self.make_unreadable("a redirection to a file named as the line runs");
        }
        match expanded.words.as_slice() {
            [path] => Ok(path.clone()),
            _ => Err(ParseError(format!("{}: ambiguous redirect", word.value))),
        }
    }

    fn redirect(&mut self, redirect: &ast::IoRedirect) -> Result<Option<Redirect>, ParseError> {
        use ast::{IoFileRedirectKind as Kind, IoFileRedirectTarget as Target};
        Ok(match redirect {
            ast::IoRedirect::File(fd, kind, target) => {
                let input = matches!(kind, Kind::Read | Kind::DuplicateInput | Kind::ReadAndWrite);
                let mut redirect = Redirect {
                    fd: fd.unwrap_or(if input { 0 } else { 1 }),
                    and_stderr: false,
                    op: RedirectOp::Other,
                };
                redirect.op = match target {
                    Target::Filename(word) => {
                        let path = self.redirect_path(word)?;
                        match kind {
                            Kind::Read => RedirectOp::Read(path),
                            Kind::ReadAndWrite => RedirectOp::ReadWrite(path),
                            Kind::Append => RedirectOp::Write { path, append: true },
                            _ => RedirectOp::Write {
                                path,
                                append: false,
                            },
                        }
                    }
                    Target::Fd(to) => RedirectOp::Duplicate(*to),
                    Target::Duplicate(word) => {
                        let text = self.redirect_path(word)?;
                        match text.parse::<i32>() {
                            Ok(to) => RedirectOp::Duplicate(to),
                            Err(_) if text == "-" => RedirectOp::Other,
                            // `>& FILE` is bash for `&> FILE`.
                            Err(_) if fd.is_none() && !input => {
                                redirect.and_stderr = true;
                                RedirectOp::Write {
                                    path: text,
                                    append: false,
                                }
                            }
                            Err(_) => RedirectOp::Other,
                        }
                    }
                    Target::ProcessSubstitution(_, sub) => {
                        self.make_opaque("process substitution");
                        self.nested_list(&sub.list)?;
                        RedirectOp::Other
                    }
                };
                Some(redirect)
            }
            ast::IoRedirect::OutputAndError(word, append) => Some(Redirect {
                fd: 1,
                and_stderr: true,
                op: RedirectOp::Write {
                    path: self.redirect_path(word)?,
                    append: *append,
                },
            }),
            // Text fed to the command: data, unless the command reads
            // code from it (see `stage`). Only the shell sets it up.
            ast::IoRedirect::HereDocument(_, doc) => {
                self.make_opaque("a here-document");
                // Where a here-document ends is the parser's reading; it
                // agrees with the shells' only for a plain tag and a body
                // without line continuations.
                let tag = doc.here_end.value.as_str();
                let bare = |t: &str| {
                    !t.is_empty()
                        && t.chars()
                            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
                };
                let plain_tag = bare(tag)
                    || [('\'', '\''), ('"', '"')].iter().any(|(open, close)| {
                        tag.strip_prefix(*open)
                            .and_then(|t| t.strip_suffix(*close))
                            .is_some_and(bare)
                    });
                if !plain_tag {
                    self.make_unreadable(&format!("the here-document tag {tag}"));
                }
                if doc.doc.value.contains("\\\n") {
                    self.make_unreadable("a line continuation in a here-document");
                }
                // Variables expand to data; a substitution runs a command.
                // A backslash-newline joins lines before anything expands;
                // `$[..]` and `${..}` may evaluate subscripts, which run
                // substitutions.
                let body = doc.doc.value.replace("\\\n", "");
                if doc.requires_expansion
                    && ["$(", "`", "$[", "${"].iter().any(|s| body.contains(s))
                {
                    self.make_unreadable("a substitution in a here-document");
                }
                self.fed_text = true;
                None
            }
            ast::IoRedirect::HereString(_, word) => {
                self.make_opaque("a here-string");
                self.word(word)?;
                self.fed_text = true;
                None
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_in(text: &str) -> Script {
        let root = tempfile::tempdir().unwrap();
        for f in ["a.rs", "b.rs", "c.txt", ".hidden.rs"] {
            std::fs::write(root.path().join(f), "").unwrap();
        }
        let env = Env::new([
            ("HOME".into(), "/home/u".into()),
            ("X".into(), "1".into()),
            ("PWD".into(), "/p".into()),
        ]);
        parse(text, Dialect::Bash, &env, root.path(), root.path()).unwrap()
    }

    fn argvs(script: &Script) -> Vec<Vec<String>> {
        script.stages().map(|s| s.argv.clone()).collect()
    }

    #[test]
    fn a_substitution_that_becomes_a_command_is_unreadable() {
        for line in [
            "$(echo touch) x",
            "`echo touch` x",
            "env $(echo touch) x",
            "sudo -u x `echo rm` -rf src",
            "find . -exec $(echo rm) {} ;",
            "bash -c \"$(echo touch x)\"",
            "$X$(echo ouch) y",
        ] {
            let script = parse_in(line);
            assert!(script.unreadable.is_some(), "{line}");
        }
        // In an argument its output is data; its own commands are judged.
        let script = parse_in("echo $(touch x)");
        assert_eq!(script.unreadable, None);
        assert!(argvs(&script).contains(&vec!["touch".to_string(), "x".to_string()]));
    }

    #[test]
    fn a_here_document_is_data_unless_code_reads_it() {
        for line in [
            "cat <<EOF > note.txt\nhello $X\nEOF\n",
            "cat <<'EOF' > note.txt\n$(touch x)\nEOF\n",
            "grep -c a <<< \"a b\"",
        ] {
            let script = parse_in(line);
            assert_eq!(script.unreadable, None, "{line}");
            assert!(script.opaque.is_some(), "{line}: the shell sets it up");
        }
        for line in [
            "sh <<EOF\ntouch x\nEOF\n",
            "env python3 <<EOF\nprint(1)\nEOF\n",
            "xargs rm <<< x",
            "{ cat; sh; } <<EOF\ntouch x\nEOF\n",
            "cat <<EOF\n$(touch x)\nEOF\n",
        ] {
            assert!(parse_in(line).unreadable.is_some(), "{line}");
        }
    }

    #[test]
    fn tests_patterns_and_redirections_of_compound_commands_are_read() {
        for line in [
            "[[ $(touch x) ]]",
            "[[ -n a && ( b == $(touch x) ) ]]",
            "case a in $(touch x)) echo;; esac",
            "case $(touch x) in a) ;; esac",
        ] {
            let script = parse_in(line);
            assert!(
                argvs(&script).contains(&vec!["touch".to_string(), "x".to_string()]),
                "{line}: {:?}",
                argvs(&script)
            );
        }
        for line in [
            "{ echo hi; } > out",
            "f() { echo; } > out; f",
            "[[ -n a ]] > out",
        ] {
            let script = parse_in(line);
            let written: Vec<&str> = script
                .stages()
                .flat_map(|s| &s.redirects)
                .filter_map(Redirect::written_file)
                .collect();
            assert_eq!(written, ["out"], "{line}");
        }
    }

    #[test]
    fn lists_pipelines_quoting_and_expansion() {
        let s = parse_in(r#"grep -rn "a b" src | head -20 && wc -l 'it''s' ; echo $X\ y"#);
        assert_eq!(s.opaque, None);
        assert_eq!(
            argvs(&s),
            [
                vec!["grep", "-rn", "a b", "src"],
                vec!["head", "-20"],
                vec!["wc", "-l", "its"],
                vec!["echo", "1 y"],
            ]
        );
        assert_eq!(s.lists.len(), 2);
        assert_eq!(s.lists[0].rest[0].0, Connector::And);
        assert!(s.runs_in_host());
        for text in [
            "ls > x 2>&1",
            "! ls",
            "A=1 ls < c.txt >> log",
            "ls &> x",
            "> x",
            "set -euo pipefail; ls | wc",
            "false || exit 3",
        ] {
            assert!(parse_in(text).runs_in_host(), "{text}");
        }
        for text in [
            "export A=1; ls",
            "A=1; ls",
            "PATH=bin ls",
            "ls 3> x",
            "ls >&-",
            "ls <> x",
            "set -x; ls",
            "exit 1 2",
            "cd x > y",
            "ls | exit 3",
        ] {
            assert!(!parse_in(text).runs_in_host(), "{text}");
        }
    }

    #[test]
    fn globs_expand_inside_the_root_in_name_order() {
        let s = parse_in("ls *.rs '*.rs'");
        assert_eq!(argvs(&s), [vec!["ls", "a.rs", "b.rs", "*.rs"]]);
    }

    #[test]
    fn redirections_and_assignments() {
        let s = parse_in("FOO=bar make > out.log 2>&1");
        let stage = &s.lists[0].first.stages[0];
        assert_eq!(stage.assignments, [("FOO".to_string(), "bar".to_string())]);
        assert_eq!(stage.argv, ["make"]);
        assert_eq!(
            stage.redirects,
            [
                Redirect {
                    fd: 1,
                    and_stderr: false,
                    op: RedirectOp::Write {
                        path: "out.log".into(),
                        append: false
                    }
                },
                Redirect {
                    fd: 2,
                    and_stderr: false,
                    op: RedirectOp::Duplicate(1)
                }
            ]
        );
        let s = parse_in("cat < c.txt >& all >> log");
        let ops: Vec<_> = s.lists[0].first.stages[0]
            .redirects
            .iter()
            .map(|r| (r.fd, r.and_stderr, r.op.clone()))
            .collect();
        assert_eq!(
            ops,
            [
                (0, false, RedirectOp::Read("c.txt".into())),
                (
                    1,
                    true,
                    RedirectOp::Write {
                        path: "all".into(),
                        append: false
                    }
                ),
                (
                    1,
                    false,
                    RedirectOp::Write {
                        path: "log".into(),
                        append: true
                    }
                ),
            ]
        );
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("a.rs"), "").unwrap();
        std::fs::write(root.path().join("b.rs"), "").unwrap();
        let env = Env::default();
        let err = parse("ls > *.rs", Dialect::Bash, &env, root.path(), root.path()).unwrap_err();
        assert!(err.to_string().contains("ambiguous redirect"), "{err}");
    }

    #[test]
    fn set_options_cordon_follows() {
        let set = |args: &[&str]| {
            let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
            Options::default().set(&args)
        };
        let both = Options {
            errexit: true,
            pipefail: true,
        };
        assert_eq!(set(&["-euo", "pipefail"]), Some(both));
        assert_eq!(set(&["-e", "-o", "pipefail"]), Some(both));
        assert_eq!(
            both.set(&["+e".into()]),
            Some(Options {
                errexit: false,
                pipefail: true
            })
        );
        for unknown in [
            &[][..],
            &["-x"],
            &["-o"],
            &["-o", "vi"],
            &["--", "a"],
            &["-"],
            &["a"],
        ] {
            assert_eq!(set(unknown), None, "{unknown:?}");
        }
        assert_eq!(exit_status(&[]), Some(None));
        assert_eq!(exit_status(&["257".into()]), Some(Some(1)));
        assert_eq!(exit_status(&["x".into()]), None);
    }

    #[test]
    fn variables_the_line_sets_are_unknown() {
        // The environment has X=1; the shell would run `rm` here: an
        // unknown command is unreadable.
        for text in [
            "X=rm; $X -rf src",
            "for X in rm; do $X -rf src; done",
            "f() { $X -rf src; }; X=rm; f",
            "read X; $X -rf src",
            "export X=rm; $X -rf src",
            "printf -v X rm; $X -rf src",
            "command read X; $X -rf src",
        ] {
            let s = parse_in(text);
            assert!(s.unreadable.is_some(), "{text}");
        }
        // An unknown argument is a wildcard: the line is opaque (the
        // shell runs it) and the stage says which word is unknown.
        let s = parse_in("cd src; echo $PWD");
        assert!(s.opaque.is_some() && s.unreadable.is_none());
        assert_eq!(s.lists[1].first.stages[0].unexpanded, [1]);
        // A glob the shell expands as it runs is one too, and a glob
        // as the command is unreadable.
        let s = parse_in("for f in *.rs; do wc -l \"$f\"; done");
        assert!(s.unreadable.is_none(), "{:?}", s.unreadable);
        assert_eq!(s.nested[0].unexpanded, [2]);
        let s = parse_in("ls *.rs");
        assert_eq!(s.lists[0].first.stages[0].argv, ["ls", "a.rs", "b.rs"]);
        assert_eq!(s.lists[0].first.stages[0].unexpanded, [1, 2]);
        assert!(parse_in(": > x; ?.rs a").unreadable.is_some());
        assert!(parse_in("mkdir d && cd d && rm *.rs").unreadable.is_none());
        // printf sets nothing without -v; `[` alone is a word, not a glob.
        assert!(parse_in("printf '%s' X; echo $X").unreadable.is_none());
        let s = parse_in("[ -f a.rs ] && echo yes");
        assert_eq!(argvs(&s)[0], ["[", "-f", "a.rs", "]"]);
        assert!(s.runs_in_host());
        // A variable set for one command is unknown to the line (a
        // function the command calls sees it).
        let s = parse_in("X=rm ls $X");
        assert!(s.unreadable.is_none() && s.assigned == ["X"]);
    }

    #[test]
    fn a_cd_cordon_cannot_follow_leaves_every_directory_a_guess() {
        for text in [
            "false && cd src; ./x",
            "(cd src); ./x",
            "f() { cd src; }; f; ./x",
            "for i in 1 2; do ./x; cd src; done",
            "cd missing; ./x",
        ] {
            let s = parse_in(text);
            assert!(s.stages().all(|st| st.dir_uncertain), "{text}");
        }
        let s = parse_in("cd . && ./x");
        assert!(s.stages().all(|st| !st.dir_uncertain));
    }

    #[test]
    fn variables_that_steer_what_runs_make_a_line_unreadable() {
        for text in [
            "PATH=. ls",
            "export PATH=.:$PATH; ls",
            "declare -x BASH_ENV=./x; bash -c ls",
            "read -r IFS; ls",
            "printf -v PS4 x; set -x; ls",
            "for LD_PRELOAD in x; do ls; done",
            "env GIT_DIR=x git status",
            "env -u HOME git status",
            "HOME=/tmp/h git log",
            "env 'BASH_FUNC_ls%%=() { rm x; }' bash -c ls",
        ] {
            assert!(parse_in(text).unreadable.is_some(), "{text}");
        }
        let env = Env::new([("BASH_ENV".to_string(), "./evil".to_string())]);
        let root = tempfile::tempdir().unwrap();
        let s = parse("ls", Dialect::Bash, &env, root.path(), root.path()).unwrap();
        assert!(s.unreadable.is_some());
        assert!(parse_in("CC=clang make").unreadable.is_none());
    }

    #[test]
    fn operands_bash_evaluates_as_code_make_a_line_unreadable() {
        for text in [
            "a[$(touch x)]=1",
            "a=([$(touch x)]=1)",
            "read 'a[$(touch x)]' <<< 1",
            "command declare 'a[$(touch x)]=1'",
            "[[ 'a[$(touch x)]' -eq 0 ]]",
            "[[ -v 'a[$(touch x)]' ]]",
            "[ x -eq 0 ]",
            "printf %d 'a[$(touch x)]'",
            "shopt -s expand_aliases",
            "mapfile -C touch a < f",
            "let i=1",
        ] {
            assert!(parse_in(text).unreadable.is_some(), "{text}");
        }
        for text in [
            "a[1]=x",
            "a=(x y)",
            "read -r line < f",
            "[[ 3 -eq 3 ]]",
            "printf %d 3",
        ] {
            assert!(parse_in(text).unreadable.is_none(), "{text}");
        }
    }

    #[test]
    fn constructs_outside_the_subset_make_it_opaque() {
        for text in [
            "echo $(curl x)",
            "echo `id`",
            "(cd x; ls)",
            "f() { ls; }",
            "for i in 1; do ls; done",
            "cat <<EOF\nx\nEOF",
            "sleep 1 &",
            "diff <(ls) <(ls)",
            "eval \"$X\"",
            ". ./env.sh",
        ] {
            assert!(parse_in(text).opaque.is_some(), "{text}");
        }
        // What only the running shell knows makes a line unreadable
        // where it is the command.
        for text in [
            "$NOPE curl x",
            "{rm,-rf,src}",
            "command eval 'rm -rf x'",
            "bash <<EOF\nrm -rf x\nEOF",
            "echo ${x:-$(touch y)}",
            "echo $((a[$(touch y)]))",
        ] {
            assert!(parse_in(text).unreadable.is_some(), "{text}");
        }
        // Bodies and substitutions are read for the broker.
        let s = parse_in("(rm -rf a); echo $(curl x); if true; then git push; fi");
        let nested: Vec<String> = s.nested.iter().map(|st| st.argv[0].clone()).collect();
        assert_eq!(nested, ["rm", "curl", "true", "git"]);
        assert!(s.unreadable.is_none());
    }

    #[test]
    fn shell_invocations_are_recognised_by_name() {
        let argv = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(script_of(&argv(&["bash", "-lc", "ls"])), Some("ls"));
        assert_eq!(script_of(&argv(&["/bin/sh", "-c", "ls"])), Some("ls"));
        assert_eq!(script_of(&argv(&["python3", "-c", "x"])), None);
        assert_eq!(script_of(&argv(&["bash", "script.sh"])), None);
        assert_eq!(script_of(&argv(&["bash", "-e", "-c", "x"])), Some("x"));
        // Interactive, or with shopt options: a grammar cordon does not read.
        for words in [
            &["bash", "-i", "-c", "ls"][..],
            &["bash", "-O", "extglob", "-c", "ls"],
        ] {
            assert_eq!(shell_line(&argv(words)).unwrap().0, Dialect::Unreadable);
        }
        assert_eq!(script_of(&argv(&["sh", "-xc", "x"])), Some("x"));
        assert_eq!(script_of(&argv(&["bash", "--norc", "-c", "x"])), Some("x"));
        assert_eq!(script_of(&argv(&["sh", "-c", "--", "x"])), Some("x"));
        assert_eq!(
            script_of(&argv(&["bash", "-o", "pipefail", "-c", "x"])),
            Some("x")
        );
        assert_eq!(
            shell_line(&argv(&["zsh", "-c", "x"])).map(|(d, _)| d),
            Some(Dialect::Unreadable)
        );
    }

    /// Attack: option words the shell reads differently from a naive
    /// reading, so that cordon would judge one word as the script while
    /// the shell runs another.
    #[test]
    fn every_o_in_a_cluster_takes_its_own_word() {
        let argv = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let read = |words: &[&str]| shell_line(&argv(words)).map(|(d, s)| (d, s.to_string()));
        assert_eq!(
            read(&["bash", "-c", "-oo", "pipefail", "errexit", "rm -rf src"]),
            Some((Dialect::Bash, "rm -rf src".into()))
        );
        assert_eq!(
            read(&["sh", "-c", "-oo", "nolog", "errexit", "rm -rf src"]).map(|(_, s)| s),
            Some("rm -rf src".into())
        );
        assert_eq!(
            read(&["bash", "-oo", "pipefail", "errexit", "-c", "x"]),
            Some((Dialect::Bash, "x".into()))
        );
        // Options that change what runs: unreadable, never read as written.
        for words in [
            &["bash", "-n", "-c", "touch made"][..],
            &["bash", "-s", "-c", "x"],
            &["bash", "--posix", "-c", "x"],
            &["bash", "--rcfile", "rc", "-c", "x"],
            &["bash", "-o", "posix", "-c", "x"],
        ] {
            assert_eq!(
                read(words).map(|(d, _)| d),
                Some(Dialect::Unreadable),
                "{words:?}"
            );
        }
    }

    /// Attack: `-l` after an option's value still makes a login shell.
    #[test]
    fn a_login_flag_after_an_option_value_is_seen() {
        let argv = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(login_shell(&argv(&[
            "bash", "-o", "pipefail", "-l", "-c", "x"
        ])));
        assert!(login_shell(&argv(&["bash", "-lc", "x"])));
        assert!(login_shell(&argv(&["bash", "--login", "-c", "x"])));
        assert!(!login_shell(&argv(&["bash", "-c", "x", "-l"])));
    }
}
