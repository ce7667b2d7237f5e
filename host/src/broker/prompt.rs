//! The question a person reads at the terminal. What cordon vouches for
//! (what runs, where, under which sandbox, the grant, why it asks) comes
//! first; the agent's justification comes after it, under a label saying
//! whose words they are. Every part the agent wrote goes through
//! [`crate::display`] (one column per character) and is laid out here, in
//! rows cordon breaks itself, each field in a bounded number of rows, so
//! that the whole question fits the screen: nothing an agent writes can
//! push the command off it or draw a row of its own. A field cut short
//! says so, and `v` shows all of it.

use super::Escalation;
use super::approver::Question;
use crate::display;

/// The terminal's size in columns and rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    pub cols: usize,
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
/// the palette and the default colours (OSC 104, 110-112), reverse video,
/// hidden text, the character set, insert mode, origin mode, scroll
/// margins and a hidden cursor, then goes to the last row.
const RESET: &str = "\x18\x1b\\\x1b]104\x07\x1b]110\x07\x1b]111\x07\x1b]112\x07\x1b[0m\x0f\x1b(B\
                     \x1b[4l\x1b[?5l\x1b[?6l\x1b[?7h\x1b[?25h\x1b[r\x1b[999;1H";

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
    pub text: String,
    pub cut: bool,
}

/// The question laid out for a screen of `size`: first the screen is
/// scrolled clear (what was on it stays in the scrollback), so nothing a
/// command drew before stands beside the question.
pub fn render(question: &Question, size: Size) -> Drawn {
    let r = &question.request;
    let width = size.cols.saturating_sub(1 + INDENT).max(20);
    let (reason, reason_cut) = rows(&display::text(&question.reason), width, REASON_ROWS);
    let justification = r
        .justification
        .as_deref()
        .map(|j| rows(&display::text(j), width + INDENT - 2, JUSTIFICATION_ROWS));
    let grant = r.escalation.as_ref().map(|escalation| match escalation {
        // A directory is quoted as a word: its spaces and quotes show.
        Escalation::Writable(dir) => format!("writable={}", display::path(dir)),
        other => display::text(&other.to_string()),
    });
    // Every row but the command's, at most, so that the command gets the
    // rest of the screen, up to its own bound.
    let others = 1
        + 1
        + 1
        + 1
        + usize::from(grant.is_some())
        + reason.len()
        + justification
            .as_ref()
            .map_or(0, |(words, _)| 2 + words.len())
        + 1
        + CHOICES.len()
        + 1
        + 1;
    let command_rows = size.rows.saturating_sub(others).clamp(1, COMMAND_ROWS);
    let (command, command_cut) = rows(&display::command(&r.argv), width, command_rows);
    let cut = command_cut > 0
        || reason_cut > 0
        || justification.as_ref().is_some_and(|(_, cut)| *cut > 0);

    let mut lines: Vec<String> = Vec::new();
    let title = "── cordon: approval needed ";
    lines.push(format!(
        "{title}{}",
        "─".repeat((size.cols - 1).saturating_sub(27))
    ));
    push_field(&mut lines, "runs:", &command);
    if command_cut > 0 {
        lines.push(format!(
            "{:INDENT$}(cut short: {command_cut} more; [v] shows all)",
            ""
        ));
    }
    push_field(&mut lines, "in:", &rows(&display::path(&r.cwd), width, 1).0);
    push_field(
        &mut lines,
        "sandbox:",
        &[format!("{} ({})", r.sandbox, r.engine)],
    );
    if let Some(grant) = &grant {
        push_field(&mut lines, "grants:", &rows(grant, width, 1).0);
    }
    push_field(&mut lines, "asks why:", &reason);
    if let Some((words, words_cut)) = &justification {
        lines.push("  ── the agent's words, not checked by cordon ──".into());
        lines.extend(words.iter().map(|row| format!("  {row}")));
        if *words_cut > 0 {
            lines.push(format!("  (cut short: {words_cut} more; [v] shows all)"));
        }
    }
    lines.push(format!(
        "  {}",
        "─".repeat((size.cols - 1).saturating_sub(2))
    ));
    lines.extend(CHOICES.iter().map(|c| c.to_string()));
    if cut {
        lines.push("  [v] view the whole command and justification".into());
    }
    let blank = "\n".repeat(size.rows);
    Drawn {
        text: format!("{RESET}{blank}{}\n{ANSWER}", lines.join("\n")),
        cut,
    }
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

/// The whole command and justification, escaped but not cut, for `v`;
/// the question is drawn again after it.
pub fn whole(question: &Question) -> String {
    let r = &question.request;
    let mut text = format!("\n  the whole command:\n  {}\n", display::command(&r.argv));
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
    use crate::broker::Request;

    fn question(argv: &[&str], cwd: &str, justification: Option<&str>) -> Question {
        Question {
            request: Request {
                argv: argv.iter().map(|w| w.to_string()).collect(),
                cwd: cwd.into(),
                engine: "native",
                sandbox: "workspace-write",
                escalation: Some(Escalation::Writable(cwd.into())),
                justification: justification.map(str::to_string),
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
        ] {
            let q = question(&["sh", "-c", &padded], &long_cwd, Some(&"why ".repeat(500)));
            let drawn = render(&q, size);
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
        let text = render(&q, Size::DEFAULT).text;
        let runs = text.find("runs:     rm -rf src").unwrap();
        let label = text.find("the agent's words").unwrap();
        let words = text.find("cleans up").unwrap();
        assert!(runs < label && label < words, "{text}");
    }
}
