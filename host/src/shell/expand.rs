//! Word expansion for the subset: quotes, escapes, `$NAME`/`${NAME}` from
//! the fixed environment, `~` for HOME, and globs in the last path
//! component, matched by cordon inside the root. What it does not expand it
//! names: a command substitution (its text is read as a script too), or
//! something only the running shell knows (an unset or splitting variable,
//! `$IFS`, brace expansion, arithmetic, other parameter forms), which makes
//! the line unreadable.

use std::path::{Component, Path};

use brush_parser::word::{Parameter, ParameterExpr, TildeExpr, WordPiece, WordPieceWithSource};

use super::ParseError;

/// The variables `$NAME` reads: the command's fixed environment.
#[derive(Debug, Clone, Default)]
pub struct Env(Vec<(String, String)>);

impl Env {
    /// The variables `vars`; of a name set twice, the last wins.
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

    /// The value of `name`, the last one set if it is set twice.
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
    /// Command substitutions, with their text (the broker reads them too).
    Substitutions(Vec<String>),
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

/// A word as it is expanded, piece by piece.
#[derive(Default)]
struct Text {
    text: String,
    /// Unquoted glob characters were seen.
    glob: bool,
    /// Where an unquoted `{` stands in `text`, and whether an unquoted `}`
    /// after it closes a brace expansion (`{a,b}`, `{"a",b}`, `{1..3}`).
    brace_open: Option<usize>,
    braced: bool,
    substitutions: Vec<String>,
    unknown: Option<String>,
    unreadable: Option<String>,
}

impl Text {
    /// Adds unquoted text, noting brace expansions across pieces.
    fn push_unquoted(&mut self, text: &str) {
        for ch in text.chars() {
            match ch {
                '{' => {
                    self.brace_open.get_or_insert(self.text.len());
                }
                '}' => {
                    if let Some(open) = self.brace_open {
                        let inside = &self.text[open..];
                        self.braced |= inside.contains(',') || inside.contains("..");
                    }
                }
                _ => {}
            }
            self.text.push(ch);
        }
    }

    fn unknown(&mut self, why: String) {
        self.unknown.get_or_insert(why);
    }

    fn unreadable(&mut self, why: String) {
        self.unreadable.get_or_insert(why);
    }
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
    let mut out = Text::default();
    pieces_into(&pieces, false, options.posix_mode, env, &mut out);
    if out.braced {
        out.unknown(format!("the brace expansion in {raw}"));
    }
    // Every piece is looked at: a substitution after another still runs.
    if let Some(why) = out.unreadable {
        return Ok(Err(NotExpanded::Unreadable(why)));
    }
    if !out.substitutions.is_empty() {
        return Ok(Err(NotExpanded::Substitutions(out.substitutions)));
    }
    if let Some(why) = out.unknown {
        return Ok(Err(NotExpanded::Unknown(why)));
    }
    if !out.glob {
        return Ok(Ok((vec![out.text], false)));
    }
    glob(&out.text, root, cwd).map(Ok)
}

/// The text of a backquoted substitution as the shell reads it: inside
/// backquotes a backslash before `$`, `` ` `` or `\` (and `"` when the
/// backquotes stand in double quotes) quotes that character, so
/// `` `echo "\$(cmd)"` `` runs `cmd`.
fn unescape_backquoted(text: &str, in_double_quotes: bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(ch) = chars.next() {
        if ch == '\\'
            && let Some(&next) = chars.peek()
            && (matches!(next, '$' | '`' | '\\') || (in_double_quotes && next == '"'))
        {
            out.push(next);
            chars.next();
            continue;
        }
        out.push(ch);
    }
    out
}

/// The text of `$'...'` with its character escapes (`\n`, `\t`, `\\`
/// ...) decoded; `None` for the numeric and control escapes (`\x74`,
/// `\0`, `\cA`), which cordon leaves to the shell.
fn ansi_c(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(ch) = chars.next() {
        if ch != '\\' {
            out.push(ch);
            continue;
        }
        out.push(match chars.next()? {
            'n' => '\n',
            't' => '\t',
            'r' => '\r',
            'a' => '\x07',
            'b' => '\x08',
            'e' | 'E' => '\x1b',
            'f' => '\x0c',
            'v' => '\x0b',
            c @ ('\\' | '\'' | '"' | '?') => c,
            _ => return None,
        });
    }
    Some(out)
}

fn pieces_into(
    pieces: &[WordPieceWithSource],
    quoted: bool,
    posix: bool,
    env: &Env,
    out: &mut Text,
) {
    for piece in pieces {
        match &piece.piece {
            WordPiece::Text(text) if quoted => out.text.push_str(text),
            WordPiece::Text(text) => {
                if text.contains(['*', '?', '[']) {
                    out.glob = true;
                }
                out.push_unquoted(text);
            }
            WordPiece::SingleQuotedText(text) => out.text.push_str(text),
            // dash has no `$'...'`: a POSIX reading of it is not dash's.
            WordPiece::AnsiCQuotedText(text) if posix => {
                out.unreadable(format!("$'{text}', which sh does not read as bash does"));
            }
            WordPiece::AnsiCQuotedText(text) => match ansi_c(text) {
                Some(text) => out.text.push_str(&text),
                None => out.unreadable(format!("the escapes in $'{text}'")),
            },
            WordPiece::DoubleQuotedSequence(inner) => pieces_into(inner, true, posix, env, out),
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
                None => out.unknown("~ without HOME".into()),
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
                    Some(_) => out.unknown(format!("${name} would be split")),
                    None => out.unknown(format!("${name} only has a value as the shell runs")),
                }
            }
            // `${a[i]}`: bash evaluates the subscript as arithmetic, which
            // expands what it holds; only a number is plain.
            WordPiece::ParameterExpansion(ParameterExpr::Parameter {
                parameter: Parameter::NamedWithIndex { index, .. },
                indirect: false,
            }) if !index.chars().all(|c| c.is_ascii_digit()) => {
                out.unreadable(format!("the subscript {index}, evaluated as arithmetic"));
            }
            // `$@`, `$1`, `$$`, `$?`, `${a[@]}`: values the shell has as it
            // runs, not cordon.
            WordPiece::ParameterExpansion(ParameterExpr::Parameter {
                parameter,
                indirect: false,
            }) => out.unknown(format!("the parameter ${{{parameter}}}")),
            WordPiece::CommandSubstitution(text) => out.substitutions.push(text.clone()),
            WordPiece::BackquotedCommandSubstitution(text) => {
                out.substitutions.push(unescape_backquoted(text, quoted));
            }
            WordPiece::ArithmeticExpression(_) => out.unreadable("arithmetic".into()),
            WordPiece::ParameterExpansion(_) => out
                .unreadable("a ${...} expansion with an operator (such as ${NAME-default})".into()),
            _ => out.unreadable("an expansion cordon does not read".into()),
        }
    }
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
    // Not a pattern globset reads: `[` with no `]` after it (as in
    // `[ -f x ]`) is a plain word to the shell too; anything else (`[z-a]`)
    // the shell may match its own way, so it is a wildcard.
    let Ok(glob) = globset::GlobBuilder::new(last)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
    else {
        let bracket_pattern = last
            .find('[')
            .is_some_and(|open| last[open..].contains(']'));
        let pattern_at_all = last.contains(['*', '?']) || bracket_pattern;
        return Ok((vec![pattern.to_string()], pattern_at_all));
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
