//! How cordon shows text an agent wrote (a command, a path, a
//! justification) to a person: unambiguous, and unable to draw anything
//! but itself. Used by the approval prompt and by every `cordon:` line
//! that names a command.
//!
//! A command is shown quoted the way bash reads it back: a word of plain
//! characters as it is, any other in single quotes, and a word holding
//! anything a person could not see or tell apart in `$'...'` with that
//! character escaped. Escaped are control characters, every non-ASCII
//! character but accented Latin letters (see [`plainly_visible`]), which
//! takes in bidi overrides, zero-width and other invisible characters,
//! other spaces, look-alike letters and wide characters, and a run of more
//! than [`MAX_SPACES`] spaces. What is shown is one column per character.

use std::fmt::Write;

/// The longest run of spaces shown as spaces.
pub const MAX_SPACES: usize = 3;

/// How many characters of a command a `cordon:` line shows.
const LINE_COMMAND_CHARS: usize = 300;

/// How many characters a `cordon:` line holds.
const LINE_CHARS: usize = 2000;

/// Writes one `cordon:` line on stderr. Whatever it quotes (a command, a
/// host, a file name, an error) is escaped as [`text`] escapes it and the
/// line is bounded, so nothing a command chose can draw a line of its own.
pub fn say(message: impl std::fmt::Display) {
    use std::io::Write;
    // One write: a command's output on the same descriptor (a WASI stage
    // writes it from this process) cannot land inside the line.
    let _ = std::io::stderr().write_all(said(message).as_bytes());
}

/// The line [`say`] writes, newline included.
pub fn said(message: impl std::fmt::Display) -> String {
    let (line, _) = bounded(&text(&message.to_string()), LINE_CHARS);
    format!("cordon: {line}\n")
}

/// `argv` as bash would read it back, whole.
pub fn command(argv: &[String]) -> String {
    let mut shown = String::new();
    for (i, word) in argv.iter().enumerate() {
        if i > 0 {
            shown.push(' ');
        }
        // `a=b` first on a line would be an assignment.
        quote_into(&mut shown, word, i == 0);
    }
    shown
}

/// `argv` for a `cordon:` line: as [`command`], cut to a bounded length
/// (saying so).
pub fn command_in_line(argv: &[String]) -> String {
    bounded(&command(argv), LINE_COMMAND_CHARS).0
}

/// A path, quoted as a word.
pub fn path(path: &std::path::Path) -> String {
    let mut shown = String::new();
    quote_into(&mut shown, &path.to_string_lossy(), false);
    shown
}

/// Free text (a reason, a justification): every character a person
/// could not see escaped as `\xHH` or `\u{...}`, and a run of more than
/// [`MAX_SPACES`] spaces written as `<N spaces>`.
pub fn text(text: &str) -> String {
    let mut shown = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == ' ' {
            let mut run = 1;
            while chars.next_if_eq(&' ').is_some() {
                run += 1;
            }
            if run > MAX_SPACES {
                let _ = write!(shown, " <{run} spaces> ");
            } else {
                shown.extend(std::iter::repeat_n(' ', run));
            }
        } else if plainly_visible(c) {
            shown.push(c);
        } else {
            escape_into(&mut shown, c);
        }
    }
    shown
}

/// `shown` cut to at most `limit` characters, and how many were left out
/// (zero when it fits). A cut text ends with ` …`.
pub fn bounded(shown: &str, limit: usize) -> (String, usize) {
    let total = shown.chars().count();
    if total <= limit {
        return (shown.to_string(), 0);
    }
    let kept: String = shown.chars().take(limit).collect();
    (format!("{kept} …"), total - limit)
}

/// Characters shown as they are, in any word.
fn plain_in_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_-./:@%+,".contains(c)
}

/// Characters a person sees for what they are, each one column wide:
/// printable ASCII, and accented Latin letters (Latin-1 and Latin
/// Extended-A, but for the dotless `ı`, `ĸ` and the long `ſ`, which pass
/// for ASCII letters). Everything else is escaped: other scripts hold
/// look-alikes of ASCII (Cyrillic `а`, the click letter `ǃ`, CJK `一`),
/// unassigned or combining code points that a terminal draws as nothing,
/// and wide characters that would make a line's width unknowable.
fn plainly_visible(c: char) -> bool {
    matches!(c,
        ' '..='~'
        | '\u{c0}'..='\u{d6}' | '\u{d8}'..='\u{f6}' | '\u{f8}'..='\u{130}'
        | '\u{132}'..='\u{137}' | '\u{139}'..='\u{17e}')
}

fn quote_into(shown: &mut String, word: &str, first: bool) {
    let plain = |c: char| plain_in_word(c) || (c == '=' && !first);
    if !word.is_empty() && word.chars().all(plain) {
        shown.push_str(word);
    } else if word.chars().all(plainly_visible) && !word.contains(&" ".repeat(MAX_SPACES + 1)) {
        shown.push('\'');
        shown.push_str(&word.replace('\'', r"'\''"));
        shown.push('\'');
    } else {
        shown.push_str("$'");
        let mut spaces = 0;
        for c in word.chars() {
            spaces = if c == ' ' { spaces + 1 } else { 0 };
            match c {
                '\\' => shown.push_str(r"\\"),
                '\'' => shown.push_str(r"\'"),
                // Past the allowed run every space is written out.
                ' ' if spaces > MAX_SPACES => shown.push_str(r"\x20"),
                c if plainly_visible(c) => shown.push(c),
                c => escape_into(shown, c),
            }
        }
        shown.push('\'');
    }
}

/// `c` as bash's `$'...'` writes it.
fn escape_into(shown: &mut String, c: char) {
    let _ = match c {
        '\n' => write!(shown, r"\n"),
        '\t' => write!(shown, r"\t"),
        '\r' => write!(shown, r"\r"),
        '\u{1b}' => write!(shown, r"\e"),
        c if c.is_ascii() => write!(shown, r"\x{:02x}", c as u32),
        c if (c as u32) <= 0xffff => write!(shown, r"\u{:04x}", c as u32),
        c => write!(shown, r"\U{:08x}", c as u32),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn plain_words_stay_and_the_rest_is_quoted_as_bash_reads_it() {
        assert_eq!(
            command(&argv(&["rm", "-rf", "build/cache"])),
            "rm -rf build/cache"
        );
        assert_eq!(command(&argv(&["rm", "a b", ""])), "rm 'a b' ''");
        assert_eq!(command(&argv(&["echo", "it's"])), r"echo 'it'\''s'");
        assert_eq!(command(&argv(&["a=b", "c=d"])), "'a=b' c=d");
        assert_eq!(command(&argv(&["ls", "café"])), "ls 'café'");
        // Look-alikes and characters a terminal draws as nothing.
        for (c, escaped) in [
            ('\u{1c3}', r"\u01c3"),
            ('\u{4e00}', r"\u4e00"),
            ('\u{3097}', r"\u3097"),
            ('\u{131}', r"\u0131"),
        ] {
            assert_eq!(
                command(&argv(&["x", &c.to_string()])),
                format!("x $'{escaped}'")
            );
        }
    }

    #[test]
    fn what_a_person_cannot_see_is_escaped() {
        // Fake prompt lines, a terminal escape, a bidi override, a
        // zero-width space, a Cyrillic look-alike, padding.
        assert_eq!(command(&argv(&["x", "a\nb"])), r"x $'a\nb'");
        assert_eq!(command(&argv(&["x", "\u{1b}[2J"])), r"x $'\e[2J'");
        assert_eq!(command(&argv(&["x", "a\u{202e}b"])), r"x $'a\u202eb'");
        assert_eq!(command(&argv(&["x", "a\u{200b}"])), r"x $'a\u200b'");
        assert_eq!(command(&argv(&["x", "\u{430}"])), r"x $'\u0430'");
        assert_eq!(command(&argv(&["x", "a     b"])), r"x $'a   \x20\x20b'");
        assert_eq!(command(&argv(&["x", "\u{1f600}"])), r"x $'\U0001f600'");
        assert_eq!(text("ok\u{7}     then"), r"ok\x07 <5 spaces> then");
    }

    #[test]
    fn bash_reads_the_shown_command_back_as_the_argv() {
        let words = argv(&[
            "printf",
            "%s|",
            "a b",
            "it's",
            "a\nb\u{1b}\t\\",
            "x      y",
            "\u{202e}\u{200b}\u{430}é",
            "",
            "=",
        ]);
        let out = std::process::Command::new("bash")
            .args(["-c", &command(&words)])
            .output()
            .expect("bash runs");
        let expected: String = words[2..].iter().map(|w| format!("{w}|")).collect();
        assert_eq!(String::from_utf8_lossy(&out.stdout), expected);
    }

    #[test]
    fn bounded_text_says_how_much_was_cut() {
        assert_eq!(bounded("abc", 3), ("abc".to_string(), 0));
        assert_eq!(bounded("abcdef", 3), ("abc …".to_string(), 3));
    }
}
