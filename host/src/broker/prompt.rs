//! The question a person reads at the terminal. What cordon vouches for
//! (what runs, where, under which sandbox, the grant, why it asks) comes
//! first; the agent's justification comes after it, under a label saying
//! whose words they are. Every part the agent wrote goes through
//! [`crate::display`] and is bounded; a command cut short says so, and
//! `v` shows all of it.

use super::Escalation;
use super::approver::Question;
use crate::display;

/// Characters of the command shown before `v`.
pub const COMMAND_CHARS: usize = 400;
/// Characters of cordon's reason (it may quote the command), and of the
/// working directory and the grant.
const REASON_CHARS: usize = 300;
/// Characters of the agent's justification shown before `v`.
const JUSTIFICATION_CHARS: usize = 200;

/// Puts the terminal in a known state whatever a command wrote before:
/// ends an escape sequence or string left open (CAN, ST), resets colours
/// and hidden text, the character set, insert mode, origin mode, scroll
/// margins and a hidden cursor, then goes to the last line.
const RESET: &str =
    "\x18\x1b\\\x1b[0m\x0f\x1b(B\x1b[4l\x1b[?6l\x1b[?7h\x1b[?25h\x1b[r\x1b[999;1H\r\n";

/// A line of the question's frame; with its title, 78 columns.
const RULE: &str = "───────────────────────────────────────────────────";

/// The keys, and what each one grants.
pub const CHOICES: &str = "  [y] once   [s] this exact command, for the session\n  \
     [p] commands starting with a prefix you type, for the session\n  \
     [r] always: a rule for commands starting with this one\n  \
     [n] deny   [e] edit   [a] abort\n";

/// What the person types to answer.
pub const ANSWER: &str = "  type a letter, then Enter: ";

/// The question, with the command and justification cut to their bounds.
pub fn render(question: &Question) -> String {
    let r = &question.request;
    let (command, cut) = display::bounded(&display::command(&r.argv), COMMAND_CHARS);
    let mut text = format!("{RESET}── cordon: approval needed {RULE}\n  runs:     {command}\n");
    if cut > 0 {
        text.push_str(&format!(
            "            (cut short: {cut} more characters; [v] shows all of it)\n"
        ));
    }
    let (cwd, _) = display::bounded(&display::path(&r.cwd), REASON_CHARS);
    text.push_str(&format!(
        "  in:       {cwd}\n  sandbox:  {} ({})\n",
        r.sandbox, r.engine
    ));
    if let Some(escalation) = &r.escalation {
        // A directory is quoted as a word: its spaces and quotes show.
        let grant = match escalation {
            Escalation::Writable(dir) => format!("writable={}", display::path(dir)),
            other => display::text(&other.to_string()),
        };
        let (grant, _) = display::bounded(&grant, REASON_CHARS);
        text.push_str(&format!("  grants:   {grant}\n"));
    }
    let (reason, _) = display::bounded(&display::text(&question.reason), REASON_CHARS);
    text.push_str(&format!("  asks why: {reason}\n"));
    if let Some(justification) = &r.justification {
        let (words, cut) = display::bounded(&display::text(justification), JUSTIFICATION_CHARS);
        text.push_str(&format!(
            "  ── the agent's words, not checked by cordon ──\n  {words}\n"
        ));
        if cut > 0 {
            text.push_str(&format!(
                "  (cut short: {cut} more characters; [v] shows all of it)\n"
            ));
        }
    }
    text.push_str(&format!("  {RULE}{RULE:.24}\n{CHOICES}"));
    if cut_anything(question) {
        text.push_str("  [v] view the whole command and justification\n");
    }
    text.push_str(ANSWER);
    text
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

/// Whether [`render`] cuts part of the question short.
pub fn cut_anything(question: &Question) -> bool {
    let r = &question.request;
    display::command(&r.argv).chars().count() > COMMAND_CHARS
        || r.justification
            .as_deref()
            .is_some_and(|j| display::text(j).chars().count() > JUSTIFICATION_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::Request;

    fn question(argv: &[&str], justification: Option<&str>) -> Question {
        Question {
            request: Request {
                argv: argv.iter().map(|w| w.to_string()).collect(),
                cwd: "/p".into(),
                engine: "native",
                sandbox: "workspace-write",
                escalation: None,
                justification: justification.map(str::to_string),
            },
            reason: "a rule asks".into(),
        }
    }

    #[test]
    fn padding_cannot_push_the_command_away_or_draw_lines() {
        let padded = format!("x{}\n  runs:     npm ci", " ".repeat(2000));
        let q = question(
            &["sh", "-c", &padded],
            Some(&format!("ok{}fake", "\n".repeat(50))),
        );
        let shown = render(&q);
        // Lines: the ones cordon draws, no more, whatever the agent wrote.
        assert!(shown.lines().count() <= 18, "{shown}");
        assert!(shown.contains("runs:     sh -c $'x   \\x20"), "{shown}");
        assert!(shown.contains("cut short"), "{shown}");
        assert!(!shown.contains("runs:     npm ci"), "{shown}");
        let whole = whole(&q);
        assert!(whole.contains(r"\n  runs:   \x20\x20npm ci'"), "{whole}");
        assert!(whole.contains(&"\\n".repeat(50)), "{whole}");
    }

    #[test]
    fn the_agents_words_come_after_cordons_under_a_label() {
        let shown = render(&question(&["rm", "-rf", "src"], Some("cleans up")));
        let runs = shown.find("runs:     rm -rf src").unwrap();
        let label = shown.find("the agent's words").unwrap();
        let words = shown.find("cleans up").unwrap();
        assert!(runs < label && label < words, "{shown}");
        assert!(!shown.contains("[v]"));
    }
}
