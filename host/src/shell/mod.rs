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

mod expand;
pub mod wrappers;

use std::path::{Path, PathBuf};

use brush_parser::ast;

pub use expand::Env;
use expand::NotExpanded;

/// A redirection, after expansion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    /// The descriptor redirected (`2>`), if given.
    pub fd: Option<i32>,
    /// Whether the target is opened for writing.
    pub writes: bool,
    /// A path, or `None` for a duplication (`2>&1`).
    pub path: Option<String>,
}

impl Redirect {
    /// The file this redirection writes, if it writes one (the standard
    /// streams and /dev/null are not files).
    pub fn written_file(&self) -> Option<&str> {
        let path = self.path.as_deref().filter(|_| self.writes)?;
        (!matches!(path, "/dev/null" | "/dev/stdout" | "/dev/stderr")).then_some(path)
    }
}

/// One simple command of a pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Stage {
    pub assignments: Vec<(String, String)>,
    pub argv: Vec<String>,
    pub redirects: Vec<Redirect>,
}

/// Stages joined by `|`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pipeline {
    pub negated: bool,
    pub stages: Vec<Stage>,
}

/// How a pipeline joins the one before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connector {
    And,
    Or,
}

/// Pipelines joined by `&&` and `||`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct List {
    pub first: Pipeline,
    pub rest: Vec<(Connector, Pipeline)>,
}

/// A parsed script: its lists (run one after the other), why it is opaque
/// (cordon will not run it itself), and why it is unreadable (part of what
/// it runs cannot be judged before it runs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    pub text: String,
    pub lists: Vec<List>,
    /// Commands inside compound commands, functions and substitutions:
    /// judged, never run by cordon itself.
    pub nested: Vec<Stage>,
    pub opaque: Option<String>,
    pub unreadable: Option<String>,
}

impl Script {
    /// Every stage the parser could see (for an opaque script, those outside
    /// the constructs it does not follow).
    pub fn stages(&self) -> impl Iterator<Item = &Stage> {
        self.pipelines()
            .flat_map(|p| p.stages.iter())
            .chain(self.nested.iter())
    }

    /// Whether cordon can run the line itself: no stage has redirections
    /// or assignments, no pipeline is negated, and no command needs the
    /// shell (a builtin other than `cd`). Each command then runs on its own
    /// engine, and a pipeline's stages are joined by the host.
    pub fn is_plain_sequence(&self) -> bool {
        self.opaque.is_none()
            && self.pipelines().all(|p| !p.negated)
            && self.stages().all(|s| {
                s.redirects.is_empty()
                    && s.assignments.is_empty()
                    && s.argv
                        .first()
                        .is_none_or(|c| !BUILTINS.contains(&c.as_str()))
            })
    }

    /// Every pipeline, in order.
    pub fn pipelines(&self) -> impl Iterator<Item = &Pipeline> {
        self.lists
            .iter()
            .flat_map(|list| std::iter::once(&list.first).chain(list.rest.iter().map(|(_, p)| p)))
    }
}

/// A script that does not parse, with where.
#[derive(Debug, thiserror::Error)]
#[error("-c script: {0}")]
pub struct ParseError(String);

/// Builtins that only the shell can run (cordon runs `cd` itself; `echo`,
/// `printf`, `pwd`, `test`, `true`, `false` are tools too).
const BUILTINS: &[&str] = &[
    "exit", "export", "set", "unset", "read", "exec", "wait", "umask", "ulimit", "type", "hash",
    "shift", "return", "local", "declare", "typeset", "readonly", "getopts", "let", "builtin",
    "command", "jobs", "fg", "bg", "times", "shopt", "pushd", "popd", "dirs", "[",
];

/// Builtins that run text cordon cannot see: they make a line opaque.
const EVALUATING: &[&str] = &["eval", "source", ".", "trap", "alias"];

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
    Posix,
    Bash,
    /// A shell whose grammar cordon does not model (zsh): every line of it
    /// is unreadable.
    Unreadable,
}

/// Long options of sh/bash that take a value.
const VALUED_LONG: &[&str] = &["--rcfile", "--init-file"];

/// The dialect and script of `argv` if it runs a shell with `-c`, options
/// parsed as the shell does (`bash --norc -e -c SCRIPT`, `sh -xc SCRIPT`,
/// `sh -c -- SCRIPT`); by file name, so `/bin/bash` counts.
pub fn shell_line(argv: &[String]) -> Option<(Dialect, &str)> {
    let name = Path::new(argv.first()?).file_name()?.to_str()?;
    let dialect = SHELLS.iter().find(|(n, _)| *n == name)?.1;
    let mut command = false;
    let mut i = 1;
    while let Some(arg) = argv.get(i) {
        if arg == "--" || arg == "-" {
            i += 1;
            break;
        }
        if arg.starts_with("--") {
            i += if VALUED_LONG.contains(&arg.as_str()) {
                2
            } else {
                1
            };
            continue;
        }
        let Some(flags) = arg.strip_prefix('-').or_else(|| arg.strip_prefix('+')) else {
            break;
        };
        command |= flags.contains('c');
        // -o NAME / -O NAME take the next word.
        i += if flags.contains(['o', 'O']) { 2 } else { 1 };
    }
    let script = argv.get(i).filter(|_| command)?;
    Some((dialect, script.as_str()))
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
    let mut builder = Builder {
        env,
        root,
        cwd: cwd.to_path_buf(),
        dialect,
        depth: 0,
        nested: Vec::new(),
        opaque: None,
        unreadable: None,
        globbed: false,
    };
    if dialect == Dialect::Unreadable {
        builder.make_unreadable("a shell whose grammar cordon does not read");
    }
    let lists = builder.program(text)?;
    let mut script = Script {
        text: text.to_string(),
        lists,
        nested: builder.nested,
        opaque: builder.opaque,
        unreadable: builder.unreadable,
    };
    // The shell expands globs again when it runs the line, maybe over
    // files an earlier command made: what the broker saw may not be what runs.
    if builder.globbed && !script.is_plain_sequence() {
        script
            .unreadable
            .get_or_insert_with(|| "globs the shell expands as it runs".into());
    }
    Ok(script)
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
    globbed: bool,
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
        use ast::CompoundCommand as C;
        self.make_opaque("a compound command");
        match command {
            C::BraceGroup(group) => self.nested_list(&group.list),
            C::Subshell(sub) => self.nested_list(&sub.list),
            C::ForClause(clause) => {
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
        for next in &and_or.additional {
            rest.push(match next {
                ast::AndOr::And(p) => (Connector::And, self.pipeline(p)?),
                ast::AndOr::Or(p) => (Connector::Or, self.pipeline(p)?),
            });
        }
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
                ast::Command::Compound(command, _) => self.compound(command)?,
                ast::Command::Function(function) => {
                    self.make_opaque("a function definition");
                    self.compound(&function.body.0)?;
                }
                ast::Command::ExtendedTest(..) => self.make_opaque("[[ ... ]]"),
            }
        }
        Ok(Pipeline {
            negated: pipeline.bang,
            stages,
        })
    }

    fn word(&mut self, word: &ast::Word) -> Result<Vec<String>, ParseError> {
        let expanded = expand::word(
            &word.value,
            &options(self.dialect),
            self.env,
            self.root,
            &self.cwd,
        )?;
        match expanded {
            Ok((words, globbed)) => {
                self.globbed |= globbed;
                Ok(words)
            }
            Err(not) => {
                match not {
                    NotExpanded::Substitution(text) => {
                        self.make_opaque("command substitution");
                        self.nested_text(&text)?;
                    }
                    NotExpanded::Unreadable(why) => self.make_unreadable(&why),
                }
                // Judged as written: the best the broker can see.
                Ok(vec![word.value.clone()])
            }
        }
    }

    /// Moves the glob directory with a plain `cd DIR` into a directory of
    /// the root; the executor moves the same way or ends the line.
    fn follow_cd(&mut self, stage: &Stage) {
        if let [cd, dir] = stage.argv.as_slice()
            && cd == "cd"
            && stage.redirects.is_empty()
            && let Ok(moved) = self.cwd.join(dir).canonicalize()
            && moved.starts_with(self.root)
            && moved.is_dir()
        {
            self.cwd = moved;
        }
    }

    fn stage(&mut self, simple: &ast::SimpleCommand) -> Result<Stage, ParseError> {
        let mut stage = Stage::default();
        for item in simple.prefix.iter().flat_map(|p| p.0.iter()) {
            self.item(item, &mut stage, true)?;
        }
        if let Some(name) = &simple.word_or_name {
            let words = self.word(name)?;
            stage.argv.extend(words);
        }
        for item in simple.suffix.iter().flat_map(|s| s.0.iter()) {
            self.item(item, &mut stage, false)?;
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
        Ok(stage)
    }

    fn item(
        &mut self,
        item: &ast::CommandPrefixOrSuffixItem,
        stage: &mut Stage,
        prefix: bool,
    ) -> Result<(), ParseError> {
        use ast::CommandPrefixOrSuffixItem as Item;
        match item {
            Item::Word(word) => {
                let words = self.word(word)?;
                stage.argv.extend(words);
            }
            Item::AssignmentWord(assignment, word) if prefix => {
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
            Item::AssignmentWord(_, word) => {
                let words = self.word(word)?;
                stage.argv.extend(words);
            }
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

    fn redirect(&mut self, redirect: &ast::IoRedirect) -> Result<Option<Redirect>, ParseError> {
        use ast::{IoFileRedirectKind as Kind, IoFileRedirectTarget as Target};
        Ok(match redirect {
            ast::IoRedirect::File(fd, kind, target) => {
                let writes = !matches!(kind, Kind::Read | Kind::DuplicateInput);
                let path = match target {
                    Target::Filename(word) => Some(self.word(word)?.join(" ")),
                    Target::Fd(_) => None,
                    Target::Duplicate(word) => {
                        let text = self.word(word)?.join(" ");
                        if text.parse::<i32>().is_ok() || text == "-" {
                            None
                        } else {
                            // `>& FILE` is bash for `&> FILE`.
                            Some(text)
                        }
                    }
                    Target::ProcessSubstitution(_, sub) => {
                        self.make_opaque("process substitution");
                        self.nested_list(&sub.list)?;
                        None
                    }
                };
                Some(Redirect {
                    fd: *fd,
                    writes,
                    path,
                })
            }
            ast::IoRedirect::OutputAndError(word, _) => Some(Redirect {
                fd: None,
                writes: true,
                path: Some(self.word(word)?.join(" ")),
            }),
            // The text may be a script fed to a shell on its stdin.
            ast::IoRedirect::HereDocument(..) | ast::IoRedirect::HereString(..) => {
                self.make_unreadable("a here-document");
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
        let env = Env::new([("HOME".into(), "/home/u".into()), ("X".into(), "1".into())]);
        parse(text, Dialect::Bash, &env, root.path(), root.path()).unwrap()
    }

    fn argvs(script: &Script) -> Vec<Vec<String>> {
        script.stages().map(|s| s.argv.clone()).collect()
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
        assert!(s.is_plain_sequence());
        assert!(!parse_in("ls > x").is_plain_sequence());
        assert!(!parse_in("! ls").is_plain_sequence());
        assert!(!parse_in("export A=1; ls").is_plain_sequence());
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
        assert_eq!(stage.redirects.len(), 2);
        assert_eq!(stage.redirects[0].path.as_deref(), Some("out.log"));
        assert_eq!(stage.redirects[1].path, None);
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
        // What only the running shell knows makes a line unreadable.
        for text in [
            "$NOPE curl x",
            "find .${IFS}-delete",
            "{rm,-rf,src}",
            "command eval 'rm -rf x'",
            "bash <<EOF\nrm -rf x\nEOF",
            "ls *.rs > out",
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
}
