//! The question a person reads at the terminal. What cordon vouches for
//! (what runs, where, under which sandbox, the grant, why it asks) comes
//! first; the agent's justification comes after it, under a label saying
//! whose words they are. Every part the agent wrote goes through
//! [`crate::display`] (one column per character) and is laid out here, in
//! rows cordon breaks itself, each field in a bounded number of rows, so
//! that the whole question fits the screen: nothing an agent writes can
//! push the command off it or draw a row of its own. A field cut short
//! says so, and `v` shows all of it.

use super::approver::Question;
use crate::display;
use crate::request::Escalation;

/// The terminal's size in columns and rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    /// The width, in columns.
    pub cols: usize,
    /// The height, in rows.
    pub rows: usize,
}

impl Size {
    /// When the terminal does not say.
    pub const DEFAULT: Size = Size { cols: 80, rows: 24 };
}

/// The most rows the command takes; fewer on a short screen.
const COMMAND_ROWS: usize = 6;
/// Rows of cordon's reason (it may quote the command).
const REASON_ROWS: usize = 2;
/// Rows of the agent's justification.
const JUSTIFICATION_ROWS: usize = 2;
/// Where a field's text starts: after `  runs:     `.
const INDENT: usize = 12;

/// Puts the terminal in a known state whatever a command wrote before:
/// ends an escape sequence or string left open (CAN, ST), resets colours,
/// the palette and the default colours (OSC 104, 110-112), hidden text,
/// the character set; leaves the alternate screen; resets insert mode,
/// reverse video, origin mode, scroll margins, a hidden cursor, the
/// application cursor and keypad modes (so Enter sends Enter), mouse
/// reporting, bracketed paste, modifyOtherKeys and the kitty keyboard
/// modes; sets the title; then goes to the last row.
const RESET: &str = "\x18\x1b\\\x1b]104\x07\x1b]110\x07\x1b]111\x07\x1b]112\x07\x1b[0m\x0f\x1b(B\
                     \x1b[?1049l\x1b[4l\x1b[?5l\x1b[?6l\x1b[?7h\x1b[?25h\x1b[r\
                     \x1b[?1l\x1b>\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1006l\x1b[?2004l\
                     \x1b[>4;0m\x1b[<99u\x1b]2;cordon: approval needed\x07\x1b[999;1H";

/// The keys, and what each one grants.
const CHOICES: [&str; 4] = [
    "  [y] once   [s] this exact command, for the session",
    "  [p] a prefix you type, for the session",
    "  [r] always (a rule for commands starting with this)",
    "  [n] deny   [e] edit   [a] abort",
];

/// What the person types to answer.
pub const ANSWER: &str = "  type a letter, then Enter: ";

/// The question as drawn, and whether a part of it was cut short.
pub struct Drawn {
    /// What to write to the terminal.
    pub text: String,
    /// Whether a field was cut short (`v` shows all of it).
    pub cut: bool,
}

/// The narrowest screen a question is drawn on.
const MIN_COLS: usize = 60;

/// The question laid out for a screen of `size`: first the screen is
/// scrolled clear (what was on it stays in the scrollback), so nothing a
/// command drew before stands beside the question. The reason and the
/// justification give up rows before the command does.
///
/// # Errors
///
/// A screen too small to show the question whole, with the title and the
/// command on it: then it is not asked (a denial), never drawn cut.
pub fn render(question: &Question, size: Size) -> Result<Drawn, String> {
    let r = &question.request;
    let too_small = || {
        format!(
            "the terminal ({}x{}) is too small to show the question whole; make it at least \
             {MIN_COLS} columns and about 20 rows",
            size.cols, size.rows
        )
    };
    if size.cols < MIN_COLS {
        return Err(too_small());
    }
    let width = size.cols - 1 - INDENT;
    let (cwd, cwd_cut) = rows(&display::path(&r.cwd), width, 1);
    let grant = r
        .escalation
        .as_ref()
        .map(|escalation| rows(&shown_grant(escalation), width, 1));
    let command = shown_command(r);
    let needed = command.chars().count().div_ceil(width).max(1);
    // Title, in, sandbox, grant, the rule, the choices, [v], the answer.
    let fixed = 3 + usize::from(grant.is_some()) + 1 + CHOICES.len() + 2;
    for (reason_rows, words_rows) in [
        (REASON_ROWS, JUSTIFICATION_ROWS),
        (1, JUSTIFICATION_ROWS),
        (1, 1),
    ] {
        let reason = rows(&display::text(&question.reason), width, reason_rows);
        let words = r
            .justification
            .as_deref()
            .map(|j| rows(&display::text(j), width + INDENT - 2, words_rows));
        let words_height = words.as_ref().map_or(0, |(words, _)| 1 + words.len());
        let left = size
            .rows
            .saturating_sub(fixed + reason.0.len() + words_height);
        // The command whole, or cut with a row that says so.
        let command_rows = match needed {
            n if n <= left.min(COMMAND_ROWS) => n,
            _ if left >= 2 => (left - 1).min(COMMAND_ROWS),
            _ => continue,
        };
        let (command, command_cut) = rows(&command, width, command_rows);
        let cut = [command_cut, cwd_cut, reason.1]
            .into_iter()
            .chain(grant.as_ref().map(|(_, cut)| *cut))
            .chain(words.as_ref().map(|(_, cut)| *cut))
            .any(|cut| cut > 0);

        let mut lines: Vec<String> = Vec::new();
        let title = "── cordon: approval needed ";
        lines.push(format!("{title}{}", "─".repeat(size.cols - 1 - 27)));
        push_field(&mut lines, "runs:", &command);
        if command_cut > 0 {
            lines.push(format!(
                "{:INDENT$}(cut short: {command_cut} more; [v] shows all)",
                ""
            ));
        }
        push_field(&mut lines, "in:", &cwd);
        push_field(
            &mut lines,
            "sandbox:",
            &[format!("{} ({})", r.sandbox, r.engine)],
        );
        if let Some((grant, _)) = &grant {
            push_field(&mut lines, "grants:", grant);
        }
        push_field(&mut lines, "asks why:", &reason.0);
        // A justification cut short ends with ` …`; [v] shows all of it.
        if let Some((words, _)) = &words {
            lines.push("  ── the agent's words, not checked by cordon ──".into());
            lines.extend(words.iter().map(|row| format!("  {row}")));
        }
        lines.push(format!("  {}", "─".repeat(size.cols - 1 - 2)));
        lines.extend(CHOICES.iter().map(|c| c.to_string()));
        if cut {
            lines.push("  [v] view all of the question".into());
        }
        let blank = "\n".repeat(size.rows);
        return Ok(Drawn {
            text: format!(
                "{}{RESET}{blank}{}\n{ANSWER}",
                outer_reset(),
                lines.join("\n")
            ),
            cut,
        });
    }
    Err(too_small())
}

/// Inside tmux, the terminal around it may have been changed too (through
/// tmux's passthrough, where it is allowed): its colours and reverse
/// video are reset through the same passthrough. Nothing where it is not.
fn outer_reset() -> String {
    if std::env::var_os("TMUX").is_none() {
        return String::new();
    }
    let inner = "\x1b]104\x07\x1b]110\x07\x1b]111\x07\x1b]112\x07\x1b[?5l";
    format!("\x1bPtmux;{}\x1b\\", inner.replace('\x1b', "\x1b\x1b"))
}

/// `label` and the first row of a field, the rest of its rows indented.
fn push_field(lines: &mut Vec<String>, label: &str, rows: &[String]) {
    for (i, row) in rows.iter().enumerate() {
        let label = if i == 0 { label } else { "" };
        lines.push(format!("  {label:<width$}{row}", width = INDENT - 2));
    }
}

/// `text` (one column per character) broken into rows of `width`, at most
/// `max` of them; a text cut short ends its last row with ` …`. Also how
/// many characters were left out.
fn rows(text: &str, width: usize, max: usize) -> (Vec<String>, usize) {
    let chars: Vec<char> = text.chars().collect();
    let fits = width * max;
    let (kept, cut) = if chars.len() <= fits {
        (&chars[..], 0)
    } else {
        let kept = fits - 2;
        (&chars[..kept], chars.len() - kept)
    };
    let mut rows: Vec<String> = kept.chunks(width).map(|row| row.iter().collect()).collect();
    if rows.is_empty() {
        rows.push(String::new());
    }
    if let (true, Some(last)) = (cut > 0, rows.last_mut()) {
        last.push_str(" …");
    }
    (rows, cut)
}

/// The grant, escaped; a directory quoted as a word (its spaces and
/// quotes show).
fn shown_grant(escalation: &Escalation) -> String {
    match escalation {
        Escalation::Several(parts) => {
            let shown: Vec<String> = parts.iter().map(shown_grant).collect();
            shown.join(" and ")
        }
        Escalation::Writable(dir) => format!("writable={}", display::path(dir)),
        Escalation::GitCommit => "git-commit (what a commit writes in the git directories \
                                  is kept: objects, refs, logs, the index; hooks and config \
                                  stay read-only)"
            .into(),
        other => display::text(&other.to_string()),
    }
}

/// The whole question, escaped but not cut, for `v`: the command, the
/// The command as the person is shown it: with the variables set for it
/// (`env KEY=VALUE ... COMMAND`), which change what it runs.
fn shown_command(r: &crate::request::Request) -> String {
    if r.env.is_empty() {
        return display::command(&r.argv);
    }
    let words: Vec<String> = std::iter::once("env".to_string())
        .chain(r.env.iter().cloned())
        .chain(r.argv.iter().cloned())
        .collect();
    display::command(&words)
}

/// working directory, the grant, the reason and the justification; the
/// question is drawn again after it.
pub fn whole(question: &Question) -> String {
    let r = &question.request;
    let mut text = format!(
        "\n  the whole command:\n  {}\n  in:\n  {}\n",
        shown_command(r),
        display::path(&r.cwd)
    );
    if let Some(escalation) = &r.escalation {
        text.push_str(&format!("  grants:\n  {}\n", shown_grant(escalation)));
    }
    text.push_str(&format!(
        "  asks why:\n  {}\n",
        display::text(&question.reason)
    ));
    if let Some(justification) = &r.justification {
        text.push_str(&format!(
            "  the agent's whole justification:\n  {}\n",
            display::text(justification)
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::Request;

    fn question(argv: &[&str], cwd: &str, justification: Option<&str>) -> Question {
        Question {
            request: Request {
                argv: argv.iter().map(|w| w.to_string()).collect(),
                cwd: cwd.into(),
                engine: "native",
                sandbox: "workspace-write",
                escalation: Some(Escalation::Writable(cwd.into())),
                justification: justification.map(str::to_string),
                program_sha256: None,
                env: Vec::new(),
            },
            reason: format!("a rule asks{}", "; and more".repeat(100)),
        }
    }

    /// The rows after the scroll that clears the screen.
    fn drawn_rows(drawn: &Drawn, size: Size) -> Vec<String> {
        let after_reset = drawn.text.split_once(RESET).unwrap().1;
        after_reset[size.rows..]
            .split('\n')
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn whatever_the_agent_wrote_the_question_fits_the_screen() {
        let padded = format!("x{}\n  runs:     npm ci", " ".repeat(2000));
        let long_cwd = format!("/p/{}", "d/".repeat(900));
        for size in [
            Size::DEFAULT,
            Size { cols: 60, rows: 20 },
            Size {
                cols: 200,
                rows: 50,
            },
            Size { cols: 80, rows: 16 },
        ] {
            let q = question(&["sh", "-c", &padded], &long_cwd, Some(&"why ".repeat(500)));
            let drawn = render(&q, size).unwrap();
            let rows = drawn_rows(&drawn, size);
            // Every row fits the width (no terminal wrapping), and all of
            // them fit the screen with the title on it.
            assert!(rows.len() <= size.rows, "{size:?}: {}", rows.len());
            assert!(
                rows.iter().all(|r| r.chars().count() < size.cols),
                "{rows:#?}"
            );
            assert!(rows[0].starts_with("── cordon: approval needed"));
            assert!(
                rows[1].starts_with("  runs:     sh -c $'x   \\x20"),
                "{rows:#?}"
            );
            assert!(drawn.cut);
            assert!(!drawn.text.contains("runs:     npm ci"));
        }
        let whole = whole(&question(&["sh", "-c", &padded], "/p", None));
        assert!(whole.contains(r"\n  runs:   \x20\x20npm ci'"), "{whole}");
    }

    #[test]
    fn the_agents_words_come_after_cordons_under_a_label() {
        let q = question(&["rm", "-rf", "src"], "/p", Some("cleans up"));
        let text = render(&q, Size::DEFAULT).unwrap().text;
        let runs = text.find("runs:     rm -rf src").unwrap();
        let label = text.find("the agent's words").unwrap();
        let words = text.find("cleans up").unwrap();
        assert!(runs < label && label < words, "{text}");
    }

    /// A screen too small for the whole question: not asked, never cut.
    #[test]
    fn a_screen_too_small_is_refused() {
        let q = question(&["rm", "-rf", "src"], "/p", Some("why"));
        for size in [Size { cols: 80, rows: 10 }, Size { cols: 30, rows: 40 }] {
            let err = render(&q, size).err().expect("too small");
            assert!(err.contains("too small"), "{err}");
        }
    }
}
