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

use std::path::Path;

use brush_parser::ast;

pub use expand::Env;

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

/// A parsed script: its lists (run one after the other), and why it is
/// opaque, if it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    pub text: String,
    pub lists: Vec<List>,
    pub opaque: Option<String>,
}

impl Script {
    /// Every stage the parser could see (for an opaque script, those outside
    /// the constructs it does not follow).
    pub fn stages(&self) -> impl Iterator<Item = &Stage> {
        self.pipelines().flat_map(|p| p.stages.iter())
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

/// The shells whose `-c` cordon reads.
const SHELLS: &[&str] = &["sh", "bash", "zsh", "dash", "ksh"];

/// The script of `argv` if it is `SHELL -c SCRIPT` or `SHELL -lc SCRIPT`
/// (by file name, so `/bin/bash` counts).
pub fn script_of(argv: &[String]) -> Option<&str> {
    let [shell, flag, script, ..] = argv else {
        return None;
    };
    let name = Path::new(shell).file_name()?.to_str()?;
    let flag_ok = matches!(flag.as_str(), "-c" | "-lc" | "-cl" | "-ec" | "-ce");
    (SHELLS.contains(&name) && flag_ok).then_some(script.as_str())
}

fn options() -> brush_parser::ParserOptions {
    brush_parser::ParserOptions {
        enable_extended_globbing: false,
        posix_mode: false,
        sh_mode: false,
        tilde_expansion_at_word_start: true,
        tilde_expansion_after_colon: false,
        parser_impl: brush_parser::ParserImpl::Peg,
    }
}

/// Parses `text`, expanding words with `env` and globs in `cwd` (which must
/// lie inside `root`).
///
/// # Errors
///
/// [`ParseError`] with the line and column, or a glob reaching outside the
/// root.
pub fn parse(text: &str, env: &Env, root: &Path, cwd: &Path) -> Result<Script, ParseError> {
    let mut parser = brush_parser::Parser::new(std::io::Cursor::new(text), &options());
    let program = parser
        .parse_program()
        .map_err(|e| ParseError(e.to_string()))?;
    let mut builder = Builder {
        env,
        root,
        cwd,
        opaque: None,
    };
    let mut lists = Vec::new();
    for complete in &program.complete_commands {
        for ast::CompoundListItem(and_or, separator) in &complete.0 {
            if matches!(separator, ast::SeparatorOperator::Async) {
                builder.make_opaque("a background job (&)");
            }
            lists.push(builder.list(and_or)?);
        }
    }
    Ok(Script {
        text: text.to_string(),
        lists,
        opaque: builder.opaque,
    })
}

struct Builder<'a> {
    env: &'a Env,
    root: &'a Path,
    cwd: &'a Path,
    opaque: Option<String>,
}

impl Builder<'_> {
    fn make_opaque(&mut self, why: &str) {
        self.opaque.get_or_insert_with(|| why.to_string());
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
                ast::Command::Simple(simple) => stages.push(self.stage(simple)?),
                ast::Command::Compound(..) => self.make_opaque("a compound command"),
                ast::Command::Function(_) => self.make_opaque("a function definition"),
                ast::Command::ExtendedTest(..) => self.make_opaque("[[ ... ]]"),
            }
        }
        Ok(Pipeline {
            negated: pipeline.bang,
            stages,
        })
    }

    fn word(&mut self, word: &ast::Word) -> Result<Vec<String>, ParseError> {
        match expand::word(&word.value, self.env, self.root, self.cwd)? {
            Ok(words) => Ok(words),
            Err(why) => {
                self.make_opaque(&why);
                // Judged as written: the best the broker can see.
                Ok(vec![word.value.clone()])
            }
        }
    }

    fn stage(&mut self, simple: &ast::SimpleCommand) -> Result<Stage, ParseError> {
        let mut stage = Stage::default();
        for item in simple.prefix.iter().flat_map(|p| p.0.iter()) {
            self.item(item, &mut stage, true)?;
        }
        if let Some(name) = &simple.word_or_name {
            let words = self.word(name)?;
            if let Some(builtin) = words.first().filter(|w| EVALUATING.contains(&w.as_str())) {
                self.make_opaque(&format!("`{builtin}` runs text cordon cannot read"));
            }
            stage.argv.extend(words);
        }
        for item in simple.suffix.iter().flat_map(|s| s.0.iter()) {
            self.item(item, &mut stage, false)?;
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
            Item::ProcessSubstitution(..) => self.make_opaque("process substitution"),
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
                    Target::ProcessSubstitution(..) => {
                        self.make_opaque("process substitution");
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
            ast::IoRedirect::HereDocument(..) | ast::IoRedirect::HereString(..) => {
                self.make_opaque("a here-document");
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
        parse(text, &env, root.path(), root.path()).unwrap()
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
    }

    #[test]
    fn shell_invocations_are_recognised_by_name() {
        let argv = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(script_of(&argv(&["bash", "-lc", "ls"])), Some("ls"));
        assert_eq!(script_of(&argv(&["/bin/sh", "-c", "ls"])), Some("ls"));
        assert_eq!(script_of(&argv(&["python3", "-c", "x"])), None);
        assert_eq!(script_of(&argv(&["bash", "script.sh"])), None);
    }
}
