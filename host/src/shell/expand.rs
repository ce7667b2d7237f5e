//! Word expansion for the subset: quotes, escapes, `$NAME`/`${NAME}` from
//! the fixed environment, `~` for HOME, and globs in the last path
//! component, matched by cordon inside the root. What it does not expand
//! (command substitution, arithmetic, other parameter forms, an unquoted
//! expansion that would be split or globbed) it names, and the script
//! becomes opaque.

use std::path::{Component, Path};

use brush_parser::word::{Parameter, ParameterExpr, TildeExpr, WordPiece, WordPieceWithSource};

use super::ParseError;

/// The variables `$NAME` reads: the command's fixed environment.
#[derive(Debug, Clone, Default)]
pub struct Env(Vec<(String, String)>);

impl Env {
    pub fn new(vars: impl IntoIterator<Item = (String, String)>) -> Self {
        Env(vars.into_iter().collect())
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One word's expansion: the words it becomes (a glob may become several),
/// or why it is outside the subset. `Err` only for a glob that reaches
/// outside the root.
pub type Expansion = Result<Result<Vec<String>, String>, ParseError>;

struct Text {
    text: String,
    /// Unquoted glob characters were seen.
    glob: bool,
}

pub fn word(raw: &str, env: &Env, root: &Path, cwd: &Path) -> Expansion {
    let pieces = match brush_parser::word::parse(raw, &super::options()) {
        Ok(pieces) => pieces,
        Err(e) => return Err(ParseError(format!("{raw}: {e}"))),
    };
    let mut out = Text {
        text: String::new(),
        glob: false,
    };
    if let Err(why) = pieces_into(&pieces, false, env, &mut out) {
        return Ok(Err(why));
    }
    if !out.glob {
        return Ok(Ok(vec![out.text]));
    }
    glob(&out.text, root, cwd).map(Ok)
}

fn pieces_into(
    pieces: &[WordPieceWithSource],
    quoted: bool,
    env: &Env,
    out: &mut Text,
) -> Result<(), String> {
    for piece in pieces {
        match &piece.piece {
            WordPiece::Text(text) => {
                if !quoted && text.contains(['*', '?', '[']) {
                    out.glob = true;
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
            WordPiece::TildeExpansion(TildeExpr::Home) => {
                out.text.push_str(env.get("HOME").ok_or("~ without HOME")?);
            }
            WordPiece::ParameterExpansion(ParameterExpr::Parameter {
                parameter: Parameter::Named(name),
                indirect: false,
            }) => {
                let value = env.get(name).unwrap_or_default();
                if !quoted && value.contains([' ', '\t', '\n', '*', '?', '[']) {
                    return Err(format!("${name} would be split or globbed"));
                }
                out.text.push_str(value);
            }
            WordPiece::CommandSubstitution(_) | WordPiece::BackquotedCommandSubstitution(_) => {
                return Err("command substitution".into());
            }
            WordPiece::ArithmeticExpression(_) => return Err("arithmetic".into()),
            other => return Err(format!("the expansion {other:?}")),
        }
    }
    Ok(())
}

/// Expands a glob in the last component of a relative path that stays in
/// the root; no match leaves the word as written (POSIX).
fn glob(pattern: &str, root: &Path, cwd: &Path) -> Result<Vec<String>, ParseError> {
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
        Err(_) => return Ok(vec![pattern.to_string()]),
    }
    let matcher = globset::GlobBuilder::new(last)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map_err(|e| ParseError(format!("{pattern}: {e}")))?
        .compile_matcher();
    let mut names: Vec<String> = std::fs::read_dir(&base)
        .map_err(|e| ParseError(format!("{pattern}: {e}")))?
        .flatten()
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| (last.starts_with('.') || !name.starts_with('.')) && matcher.is_match(name))
        .collect();
    if names.is_empty() {
        return Ok(vec![pattern.to_string()]);
    }
    names.sort();
    Ok(names
        .into_iter()
        .map(|name| {
            if dir.is_empty() {
                name
            } else {
                format!("{dir}/{name}")
            }
        })
        .collect())
}
