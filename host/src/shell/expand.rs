//! Word expansion for the subset: quotes, escapes, `$NAME`/`${NAME}` from
//! the fixed environment, `~` for HOME, and globs in the last path
//! component, matched by cordon inside the root. What it does not expand it
//! names: a command substitution (its text is read as a script too), or
//! something only the running shell knows (an unset or splitting variable,
//! `$IFS`, brace expansion, arithmetic, other parameter forms), which makes
//! the line unreadable.

use std::path::{Component, Path};

use brush_parser::word::{
    Parameter, ParameterExpr, SpecialParameter, TildeExpr, WordPiece, WordPieceWithSource,
};

use super::ParseError;

/// The variables `$NAME` reads: the command's fixed environment.
#[derive(Debug, Clone, Default)]
pub struct Env(Vec<(String, String)>);

impl Env {
    pub fn new(vars: impl IntoIterator<Item = (String, String)>) -> Self {
        Env(vars.into_iter().collect())
    }

    /// The same variables without `names`.
    pub fn without(&self, names: &[String]) -> Env {
        Env(self
            .0
            .iter()
            .filter(|(k, _)| !names.contains(k))
            .cloned()
            .collect())
    }

    /// Every variable's name.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(k, _)| k.as_str())
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Why a word was not expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotExpanded {
    /// A command substitution, with its text (the broker reads it too).
    Substitution(String),
    /// A value known only as the shell runs, got without running
    /// anything (a variable the line sets, `$@`, a brace expansion): a
    /// wildcard where any words may stand.
    Unknown(String),
    /// An expansion that may run code as the shell expands it (arithmetic,
    /// `${...}` forms, which can hold substitutions cordon does not read).
    Unreadable(String),
}

/// One word's expansion: the words it becomes (a glob may become several)
/// and whether a glob was expanded, or why it was not expanded. `Err` only
/// for a glob that reaches outside the root.
pub type Expansion = Result<Result<(Vec<String>, bool), NotExpanded>, ParseError>;

struct Text {
    text: String,
    /// Unquoted glob characters were seen.
    glob: bool,
}

pub fn word(
    raw: &str,
    options: &brush_parser::ParserOptions,
    env: &Env,
    root: &Path,
    cwd: &Path,
) -> Expansion {
    let pieces = match brush_parser::word::parse(raw, options) {
        Ok(pieces) => pieces,
        Err(e) => return Err(ParseError(format!("{raw}: {e}"))),
    };
    let mut out = Text {
        text: String::new(),
        glob: false,
    };
    if let Err(not) = pieces_into(&pieces, false, env, &mut out) {
        return Ok(Err(not));
    }
    if !out.glob {
        return Ok(Ok((vec![out.text], false)));
    }
    glob(&out.text, root, cwd).map(Ok)
}

/// Unquoted text the shell would brace-expand: `{a,b}` or `{1..3}`.
fn brace_expands(text: &str) -> bool {
    text.find('{')
        .and_then(|open| {
            text[open..]
                .find('}')
                .map(|close| &text[open..open + close])
        })
        .is_some_and(|inside| inside.contains(',') || inside.contains(".."))
}

fn pieces_into(
    pieces: &[WordPieceWithSource],
    quoted: bool,
    env: &Env,
    out: &mut Text,
) -> Result<(), NotExpanded> {
    let unreadable = |why: String| Err(NotExpanded::Unreadable(why));
    let unknown = |why: String| Err(NotExpanded::Unknown(why));
    for piece in pieces {
        match &piece.piece {
            WordPiece::Text(text) => {
                if !quoted && text.contains(['*', '?', '[']) {
                    out.glob = true;
                }
                if !quoted && brace_expands(text) {
                    return unknown(format!("the brace expansion in {text}"));
                }
                out.text.push_str(text);
            }
            WordPiece::SingleQuotedText(text) => out.text.push_str(text),
            WordPiece::DoubleQuotedSequence(inner) => pieces_into(inner, true, env, out)?,
            WordPiece::EscapeSequence(escape) => {
                let ch = escape.strip_prefix('\\').unwrap_or(escape);
                // Inside double quotes only these lose their backslash.
                if quoted && !matches!(ch, "\"" | "\\" | "$" | "`" | "\n") {
                    out.text.push_str(escape);
                } else if ch != "\n" {
                    out.text.push_str(ch);
                }
            }
            WordPiece::TildeExpansion(TildeExpr::Home) => match env.get("HOME") {
                Some(home) => out.text.push_str(home),
                None => return unknown("~ without HOME".into()),
            },
            WordPiece::ParameterExpansion(ParameterExpr::Parameter {
                parameter: Parameter::Named(name),
                indirect: false,
            }) => {
                // IFS and other shell-set variables only have values in the
                // running shell.
                let value = env.get(name).filter(|_| name != "IFS");
                match value {
                    // Unquoted, an empty value vanishes and others split:
                    // only a plain word is read as cordon reads it.
                    Some(v)
                        if quoted
                            || (!v.is_empty() && !v.contains([' ', '\t', '\n', '*', '?', '['])) =>
                    {
                        out.text.push_str(v);
                    }
                    Some(_) if !quoted => return unknown(format!("${name} would be split")),
                    _ => return unknown(format!("${name} only has a value as the shell runs")),
                }
            }
            // `$?`, `$$`, `$!`, `$#`, `$-`: numbers and flags, never words
            // that name a command; read as a placeholder.
            WordPiece::ParameterExpansion(ParameterExpr::Parameter {
                parameter: Parameter::Special(special),
                indirect: false,
            }) if !matches!(
                special,
                SpecialParameter::AllPositionalParameters { .. } | SpecialParameter::ShellName
            ) =>
            {
                out.text.push('0');
            }
            // `$@`, `$1`, `$0`: the line's arguments, which are not
            // cordon's to know.
            WordPiece::ParameterExpansion(ParameterExpr::Parameter {
                parameter,
                indirect: false,
            }) => return unknown(format!("the parameter {parameter:?}")),
            WordPiece::CommandSubstitution(text)
            | WordPiece::BackquotedCommandSubstitution(text) => {
                return Err(NotExpanded::Substitution(text.clone()));
            }
            WordPiece::ArithmeticExpression(_) => return unreadable("arithmetic".into()),
            other => return unreadable(format!("the expansion {other:?}")),
        }
    }
    Ok(())
}

/// Expands a glob in the last component of a relative path that stays in
/// the root; no match leaves the word as written (POSIX). Also says
/// whether the word is a pattern at all (`[` alone is not).
fn glob(pattern: &str, root: &Path, cwd: &Path) -> Result<(Vec<String>, bool), ParseError> {
    let path = Path::new(pattern);
    let outside = || ParseError(format!("the glob {pattern} would match outside the root"));
    if path.is_absolute() || path.components().any(|c| c == Component::ParentDir) {
        return Err(outside());
    }
    let (dir, last) = match pattern.rsplit_once('/') {
        Some((dir, last)) => (dir, last),
        None => ("", pattern),
    };
    if dir.contains(['*', '?', '[']) {
        return Err(ParseError(format!(
            "{pattern}: globs are expanded in the last path component only"
        )));
    }
    let base = cwd.join(dir);
    match base.canonicalize() {
        Ok(real) if real.starts_with(root) => {}
        Ok(_) => return Err(outside()),
        Err(_) => return Ok((vec![pattern.to_string()], true)),
    }
    // Not a valid pattern (`[` alone, as in `[ -f x ]`): the shell keeps
    // the word as written.
    let Ok(glob) = globset::GlobBuilder::new(last)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
    else {
        return Ok((vec![pattern.to_string()], false));
    };
    let matcher = glob.compile_matcher();
    let mut names: Vec<String> = std::fs::read_dir(&base)
        .map_err(|e| ParseError(format!("{pattern}: {e}")))?
        .flatten()
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| (last.starts_with('.') || !name.starts_with('.')) && matcher.is_match(name))
        .collect();
    if names.is_empty() {
        return Ok((vec![pattern.to_string()], true));
    }
    names.sort();
    let words = names
        .into_iter()
        .map(|name| {
            if dir.is_empty() {
                name
            } else {
                format!("{dir}/{name}")
            }
        })
        .collect();
    Ok((words, true))
}
