//! How deeply a line nests, bounded before it is parsed. The parser, and
//! cordon's reading of the tree it builds, recurse once per level: twenty
//! thousand `{` would exhaust the stack and kill cordon. A line nesting
//! deeper than [`MAX_NESTING`], or longer than [`MAX_LINE`], is refused
//! with a clean error instead (docs/APPROVALS.md).
//!
//! The count over-approximates, never under: every bracket, quote,
//! substitution and compound keyword that could open a level counts as one,
//! wherever it stands outside single quotes, comments and here-document
//! bodies (prose there is data, not structure), in command position or
//! not. A level closes only on the closer its opener expects (`fi` for
//! `if`, `}` for `{` ...) standing in command position, so a word that
//! merely looks like a closer (a `case` pattern `fi)`) cannot lower the
//! count.

/// Levels of nesting a line may have.
pub const MAX_NESTING: usize = 100;

/// Bytes a line may have.
pub const MAX_LINE: usize = 1 << 20;

/// How deep parentheses may nest (see `parentheses`): the parser
/// backtracks through them in time that doubles with each level.
pub const MAX_PARENTHESES: usize = 12;

/// Words that may open a compound command, each with the word that
/// closes it.
const OPENERS: &[(&[u8], &[u8])] = &[
    (b"if", b"fi"),
    (b"case", b"esac"),
    (b"while", b"done"),
    (b"until", b"done"),
    (b"for", b"done"),
    (b"select", b"done"),
    (b"{", b"}"),
];

/// Words that prefix what follows (`! ! ! x` in a pipeline or inside
/// `[[ ]]`, `time -p`, `coproc`): the parser recurses once for each, and
/// for the options between them.
const PREFIXES: &[&[u8]] = &[b"!", b"time", b"coproc", b"function"];

/// Words after which the next word is in command position again.
const LEADING: &[&[u8]] = &[
    b"if", b"then", b"else", b"elif", b"while", b"until", b"do", b"{", b"}", b"!", b"time",
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Frame {
    /// Commands: the line itself, `( )` and `$( )`.
    Code,
    /// Inside `"..."`.
    Double,
    /// Inside `` `...` ``.
    Backtick,
    /// Inside `${...}`.
    Parameter,
    /// Inside `$((...))` or `((...))`: `<<` is a shift there.
    Arithmetic,
    /// Inside `$[...]`.
    OldArithmetic,
}

/// How deep `text` nests (over-approximated), or why it is refused.
pub fn check(text: &str) -> Result<usize, String> {
    if text.len() > MAX_LINE {
        return Err(format!(
            "the line has {} bytes; cordon reads at most {MAX_LINE}",
            text.len()
        ));
    }
    // The parser takes a redirection's descriptor number as an i32.
    if let Some(number) = oversized_descriptor(text) {
        return Err(format!("{number}: a file descriptor number too large"));
    }
    // And a directory-stack index (`~+N`, `~-N`) as a machine word.
    if let Some(index) = oversized_tilde_index(text) {
        return Err(format!("~{index}: a directory-stack index too large"));
    }
    let (depth, parentheses) = max_depth(text.as_bytes());
    if parentheses > MAX_PARENTHESES {
        return Err(format!(
            "parentheses nest {parentheses} deep; cordon reads at most {MAX_PARENTHESES}"
        ));
    }
    if depth > MAX_NESTING {
        return Err(format!(
            "the line nests {depth} levels deep; cordon reads at most {MAX_NESTING}"
        ));
    }
    Ok(depth)
}

/// A run of digits right before `<` or `>` (a redirection's descriptor)
/// too large for an i32, if there is one.
fn oversized_descriptor(text: &str) -> Option<&str> {
    let bytes = text.as_bytes();
    let mut start = None;
    for (i, b) in bytes.iter().enumerate() {
        match (b, start) {
            (b'0'..=b'9', None) => start = Some(i),
            (b'0'..=b'9', Some(_)) => {}
            (b'<' | b'>', Some(from)) if text[from..i].parse::<i32>().is_err() => {
                return Some(&text[from..i]);
            }
            _ => start = None,
        }
    }
    None
}

/// How deep parentheses nest in `text` outside single quotes, not
/// counting one followed by a blank (`( ( cmd ) )`, a subshell the parser
/// reads one way): the parser tries the others (`((` as arithmetic or
/// subshells, in words, in `${...}`) several ways each, in time that
/// doubles with each level.
fn parentheses(text: &[u8]) -> usize {
    let (mut depth, mut deepest) = (0usize, 0);
    // In double quotes a `'` quotes nothing: everything there counts.
    let mut double = false;
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'\\' => i += 1,
            b'"' => double = !double,
            b'\'' if !double => {
                let ansi = i > 0 && text[i - 1] == b'$';
                i = quoted_end(text, i + 1, ansi);
                continue;
            }
            b'(' if !text.get(i + 1).is_some_and(|c| c.is_ascii_whitespace()) => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    deepest
}

/// A run of 10 or more digits after `~`, `~+` or `~-`, if there is one.
fn oversized_tilde_index(text: &str) -> Option<&str> {
    text.match_indices('~').find_map(|(at, _)| {
        let rest = &text[at + 1..];
        let signed = rest.strip_prefix(['+', '-']).unwrap_or(rest);
        let digits = signed.len()
            - signed
                .trim_start_matches(|c: char| c.is_ascii_digit())
                .len();
        (digits >= 10).then(|| &rest[..rest.len() - signed.len() + digits])
    })
}

/// The deepest nesting of `text`, over-approximated, and how deep
/// parentheses nest in it ([`parentheses`]).
fn max_depth(text: &[u8]) -> (usize, usize) {
    let mut stack = vec![Frame::Code];
    // The closers the open compound commands expect, innermost last.
    let mut words: Vec<&[u8]> = Vec::new();
    // A run of prefix words (`!`, `time`): each nests what follows it.
    let mut prefixes = 0usize;
    let mut deepest = 0;
    let mut command_position = true;
    let mut heredocs: Vec<(Vec<u8>, bool)> = Vec::new();
    let mut i = 0;
    while i < text.len() {
        deepest = deepest.max(stack.len() - 1 + words.len() + prefixes);
        let frame = *stack.last().expect("the base frame stays");
        let c = text[i];
        let next = text.get(i + 1).copied();
        let after_next = text.get(i + 2).copied();
        match (frame, c) {
            (_, b'\\') => i += 1,
            (Frame::Double, b'"')
            | (Frame::Backtick, b'`')
            | (Frame::Parameter, b'}')
            | (Frame::OldArithmetic, b']') => {
                stack.pop();
            }
            (_, b'$') if next == Some(b'(') && after_next == Some(b'(') => {
                stack.extend([Frame::Arithmetic, Frame::Arithmetic]);
                i += 2;
            }
            (_, b'$') if next == Some(b'(') => {
                stack.push(Frame::Code);
                i += 1;
            }
            (_, b'$') if next == Some(b'{') => {
                stack.push(Frame::Parameter);
                i += 1;
            }
            (_, b'$') if next == Some(b'[') => {
                stack.push(Frame::OldArithmetic);
                i += 1;
            }
            (_, b'`') => stack.push(Frame::Backtick),
            (Frame::Double, _) => {}
            (_, b'$') if next == Some(b'\'') => i = quoted_end(text, i + 2, true),
            (_, b'\'') => i = quoted_end(text, i + 1, false),
            (_, b'"') => stack.push(Frame::Double),
            (Frame::Parameter, _) => {}
            (_, b'(') if next == Some(b'(') => {
                stack.extend([Frame::Arithmetic, Frame::Arithmetic]);
                i += 1;
            }
            (_, b'(') => {
                let arithmetic = matches!(frame, Frame::Arithmetic | Frame::OldArithmetic);
                stack.push(if arithmetic {
                    Frame::Arithmetic
                } else {
                    Frame::Code
                });
                command_position = true;
                prefixes = 0;
            }
            (_, b')') => {
                if stack.len() > 1 && matches!(frame, Frame::Code | Frame::Arithmetic) {
                    stack.pop();
                }
                command_position = true;
                prefixes = 0;
            }
            // What follows is code, words and all, even in arithmetic (a
            // parser may read `((...))` as nested subshells); only comments
            // and here-documents are not.
            (Frame::Code | Frame::Backtick, b'#') if i == 0 || is_break(text[i - 1]) => {
                while i < text.len() && text[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            (Frame::Code | Frame::Backtick, b'<')
                if next == Some(b'<') && after_next != Some(b'<') =>
            {
                let (delimiter, strip_tabs, end) = heredoc_delimiter(text, i + 2);
                heredocs.push((delimiter, strip_tabs));
                i = end;
                continue;
            }
            (_, b'\n') => {
                command_position = true;
                prefixes = 0;
                for (delimiter, strip_tabs) in heredocs.drain(..) {
                    // An unterminated body is not skipped: read as code, it
                    // can only count more.
                    if let Some(end) = body_end(text, i + 1, &delimiter, strip_tabs) {
                        i = end;
                    }
                }
            }
            (_, b';' | b'&' | b'|') => {
                command_position = true;
                prefixes = 0;
            }
            (_, b' ' | b'\t') => {}
            _ => {
                let end = word_end(text, i);
                let word = &text[i..end];
                let in_prefix_run = prefixes > 0 && word.starts_with(b"-");
                prefixes = if PREFIXES.contains(&word) || in_prefix_run {
                    prefixes + 1
                } else {
                    0
                };
                if let Some((_, closer)) = OPENERS.iter().find(|(opener, _)| *opener == word) {
                    words.push(closer);
                } else if command_position && words.last() == Some(&word) {
                    words.pop();
                }
                command_position = command_position && LEADING.contains(&word);
                i = end;
                continue;
            }
        }
        i += 1;
    }
    (
        deepest.max(stack.len() - 1 + words.len() + prefixes),
        parentheses(text),
    )
}

/// Whether a `#` after `c` starts a comment.
fn is_break(c: u8) -> bool {
    // Not after `)`: `$(x)#y` is one word, and a comment taken for one
    // would hide what follows.
    matches!(c, b' ' | b'\t' | b'\n' | b';' | b'&' | b'|')
}

/// The end of a plain word starting at `start`.
fn word_end(text: &[u8], start: usize) -> usize {
    let stop = |c: &u8| {
        matches!(
            c,
            b' ' | b'\t'
                | b'\n'
                | b';'
                | b'&'
                | b'|'
                | b'('
                | b')'
                | b'<'
                | b'>'
                | b'\''
                | b'"'
                | b'`'
                | b'$'
                | b'\\'
        )
    };
    text[start..]
        .iter()
        .position(stop)
        .map_or(text.len(), |n| (start + n).max(start + 1))
}

/// The index of the quote closing a quoted string whose text starts at
/// `start` (`$'...'` honours backslashes; `'...'` does not).
fn quoted_end(text: &[u8], mut start: usize, escapes: bool) -> usize {
    while start < text.len() {
        match text[start] {
            b'\\' if escapes => start += 1,
            b'\'' => return start,
            _ => {}
        }
        start += 1;
    }
    text.len()
}

/// The delimiter of a here-document whose operator ended at `start`:
/// its word without quotes, whether `<<-` strips tabs, and where it ends.
fn heredoc_delimiter(text: &[u8], mut start: usize) -> (Vec<u8>, bool, usize) {
    let strip_tabs = text.get(start) == Some(&b'-');
    if strip_tabs {
        start += 1;
    }
    while matches!(text.get(start), Some(b' ' | b'\t')) {
        start += 1;
    }
    let mut delimiter = Vec::new();
    let mut quote = None;
    while let Some(&c) = text.get(start) {
        match (quote, c) {
            (None, b' ' | b'\t' | b'\n' | b';' | b'&' | b'|' | b'<' | b'>' | b'(' | b')') => break,
            (None, b'\'' | b'"') => quote = Some(c),
            (Some(q), _) if c == q => quote = None,
            (None, b'\\') => {
                start += 1;
                if let Some(&escaped) = text.get(start) {
                    delimiter.push(escaped);
                }
            }
            _ => delimiter.push(c),
        }
        start += 1;
    }
    (delimiter, strip_tabs, start)
}

/// The index of the newline (or the text's end) that ends a here-document
/// body starting at `start`: the end of the delimiter's own line; `None`
/// when no line ends it.
fn body_end(text: &[u8], mut start: usize, delimiter: &[u8], strip_tabs: bool) -> Option<usize> {
    while start < text.len() {
        let end = text[start..]
            .iter()
            .position(|&c| c == b'\n')
            .map_or(text.len(), |n| start + n);
        let mut line = &text[start..end];
        if strip_tabs {
            while let [b'\t', rest @ ..] = line {
                line = rest;
            }
        }
        if line == delimiter {
            return Some(end);
        }
        start = end + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_each_kind_of_level() {
        for (line, depth) in [
            ("echo hi", 0),
            ("{ { echo; }; }", 2),
            ("(((true)))", 3),
            ("echo $(echo $(echo x))", 2),
            ("echo \"$(echo \"$(echo x)\")\"", 4),
            ("if true; then while false; do :; done; fi", 2),
            ("echo if for while '((((' \"(\"", 4),
            ("{ { echo fi fi } }; { { { :; }; }; }", 5),
            ("echo $((1<<2))", 2),
            ("((x<<1)); echo $[1<<2]", 2),
            ("(( if true; then :; fi ))", 3),
            ("[[ ! ! ! a ]]", 3),
            ("! a; ! b; ! c", 1),
            ("echo ${x:-$(echo y)}", 2),
        ] {
            assert_eq!(max_depth(line.as_bytes()).0, depth, "{line}");
        }
    }

    #[test]
    fn prose_in_here_documents_and_comments_is_not_structure() {
        let body = "if you want it\nfor each one (and more {\n".repeat(200);
        let line = format!("cat <<'EOF' > notes.md\n{body}EOF\necho done # if (((\n");
        assert_eq!(max_depth(line.as_bytes()).0, 0);
        let line = format!("cat <<-EOF\n{body}\tEOF\n");
        assert_eq!(max_depth(line.as_bytes()).0, 0);
    }

    /// Found by the shell_reader fuzz target: the parser's backtracking
    /// through nested arithmetic parentheses never ended.
    #[test]
    fn parentheses_nested_too_deep_are_refused_and_what_is_allowed_parses() {
        let deep = format!("echo $(({}1{}))", "(".repeat(40), ")".repeat(40));
        assert!(check(&deep).unwrap_err().contains("parentheses"));
        // Also inside `${...}` in double quotes (the fuzzer's second hang).
        let hidden = format!("echo $(\"${{x:-|{}}}\")", "(".repeat(20));
        assert!(check(&hidden).unwrap_err().contains("parentheses"));
        // And at the start of a command (the fuzzer's third hang).
        let leading = format!("{}4<((4<<v)", "(".repeat(16));
        assert!(check(&leading).unwrap_err().contains("parentheses"));
        // Subshells written with blanks, and parentheses in single quotes,
        // do not count.
        let subshells = format!("{}true{}", "( ".repeat(50), ")".repeat(50));
        assert!(check(&subshells).is_ok());
        assert!(check(&format!("echo '{}'", "(".repeat(50))).is_ok());
        // A `'` in double quotes starts no quoted text to hide them in.
        let in_double = format!("echo \"'\" {}1 \"'\"", "((".repeat(10));
        assert!(check(&in_double).is_err());
        let unclosed = format!("`x` $\"${{W:-\\rm}}\" (({}", "(".repeat(200));
        assert!(check(&unclosed).is_err());
        let allowed = format!("echo $(({}1{}))", "(".repeat(10), ")".repeat(10));
        assert!(check(&allowed).is_ok());
        let root = tempfile::tempdir().unwrap();
        let env = super::super::Env::new([]);
        let read = |text: &str| {
            super::super::parse(
                text,
                super::super::Dialect::Bash,
                &env,
                root.path(),
                root.path(),
            )
        };
        // Within the bound the parser answers (arithmetic: unreadable).
        assert!(read(&allowed).is_ok());
        let open = format!("echo (({}", "(".repeat(10));
        let _ = read(&open);
    }

    /// Found by the shell_reader fuzz target: a line within every bound
    /// that the parser takes seconds over (15 under the fuzzer's
    /// instrumentation). It gets an answer: a parse error, or the deadline.
    #[test]
    fn the_fuzzers_slow_line_gets_an_answer() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/corpus/parser-timeout.bin"
        );
        let text = String::from_utf8_lossy(&std::fs::read(path).unwrap()).into_owned();
        let root = tempfile::tempdir().unwrap();
        let env = super::super::Env::new([]);
        let read = super::super::parse(
            &text,
            super::super::Dialect::Bash,
            &env,
            root.path(),
            root.path(),
        );
        assert!(read.is_err());
    }

    /// Found by the shell_reader fuzz target: the parser panicked on it.
    #[test]
    fn a_descriptor_number_too_large_is_refused() {
        assert!(check("echo ~+44444444444444444444444").is_err());
        assert!(check("cd ~-12345678901; ls").is_err());
        assert!(check("cd ~+2; echo ~/x ~user").is_ok());
        assert!(check("88888888888888888888> s").is_err());
        assert!(check("2147483648< s").is_err());
        assert!(check("2> s; echo 12345678901234 > f").is_ok());
        let root = tempfile::tempdir().unwrap();
        let env = super::super::Env::new([]);
        let parsed = super::super::parse(
            "8888888888888888888888> s",
            super::super::Dialect::Bash,
            &env,
            root.path(),
            root.path(),
        );
        assert!(parsed.is_err());
    }

    /// Any bytes at all: an answer, never a panic or a hang.
    #[test]
    fn any_input_gets_an_answer() {
        let alphabet = b"(){}$`'\"\\<-#;&| \n\tifocasewhleEOFdn";
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..20_000 {
            let len = (state % 64) as usize;
            let line: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    alphabet[(state % alphabet.len() as u64) as usize]
                })
                .collect();
            let _ = check(&String::from_utf8_lossy(&line));
        }
    }

    #[test]
    fn deep_or_huge_lines_are_refused() {
        let deep = format!("{}true{}", "{ ".repeat(20_000), "; }".repeat(20_000));
        assert!(check(&deep).unwrap_err().contains("20000 levels"));
        let substitutions = format!("echo {}x{}", "$(echo ".repeat(600), ")".repeat(600));
        assert!(check(&substitutions).is_err());
        let ifs = format!(
            "{}true; {}",
            "if true; then ".repeat(500),
            "fi; ".repeat(500)
        );
        assert!(check(&ifs).is_err());
        assert!(check(&"x".repeat(MAX_LINE + 1)).is_err());
        // A shift taken for a here-document must not hide what follows.
        for opening in ["echo $((1<<2))\n", "((x<<1))\n", "echo $[1<<2]\n"] {
            let nested = format!("{}true{}\n2\n", "{ ".repeat(5000), "} ".repeat(5000));
            assert!(check(&format!("{opening}{nested}")).is_err(), "{opening}");
        }
        let unterminated = format!("cat <<EOF\n{}true", "{ ".repeat(5000));
        assert!(check(&unterminated).is_err());
        let bangs = format!("[[ {}a ]]", "! ".repeat(20_000));
        assert!(check(&bangs).is_err());
        // Openers out of command position, closers that are case
        // patterns, comments that are not, prefixes with options.
        for (open, close) in [
            ("function f { ", "; }"),
            ("case x in a) ;; fi) ;; y) ", " ;; esac"),
            ("case x in a) ;; }) ;; y) ", " ;; esac"),
            ("time -p { ", "; }"),
            ("coproc { ", "; }"),
            ("echo $(true)#$(echo ", ")"),
        ] {
            let line = format!("{}true{}", open.repeat(3000), close.repeat(3000));
            assert!(check(&line).is_err(), "{open}");
        }
        let fine = format!(
            "{}true{}",
            "( ".repeat(MAX_NESTING),
            ")".repeat(MAX_NESTING)
        );
        assert!(check(&fine).is_ok());
    }
}
