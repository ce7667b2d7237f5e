//! The approval prompt as a person sees it: cordon runs in a real
//! terminal (tmux, 80x24), and each test reads the screen at the moment
//! it presses a key.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::support::{Layout, cache_dir, command, home, skip_without};

/// A tmux server of the test's own, with one 80x24 window running a
/// script; dropped, the server is killed.
struct Screen {
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

/// `word` in single quotes, for the script the window runs.
fn quoted(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

impl Screen {
    /// Runs `argv` in an 80x24 window, then prints `EXIT=<code>` and waits.
    fn run(argv: &[String]) -> Screen {
        Screen::sized(argv, 80, 24)
    }

    /// As [`Screen::run`], in a window of `cols` by `rows`.
    fn sized(argv: &[String], cols: u16, rows: u16) -> Screen {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("tmux.sock");
        let script = dir.path().join("run.sh");
        let line: Vec<String> = argv.iter().map(|w| quoted(w)).collect();
        std::fs::write(
            &script,
            format!(
                "export HOME={} XDG_CACHE_HOME={} XDG_CONFIG_HOME={}\n{}\necho EXIT=$?\nsleep 600\n",
                quoted(&home().to_string_lossy()),
                quoted(&cache_dir().to_string_lossy()),
                quoted(&cache_dir().join("no-config").to_string_lossy()),
                line.join(" ")
            ),
        )
        .unwrap();
        let started = command("tmux")
            .arg("-S")
            .arg(&socket)
            .args([
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-x",
                &cols.to_string(),
                "-y",
                &rows.to_string(),
            ])
            .arg("sh")
            .arg(&script)
            .status()
            .unwrap();
        assert!(started.success());
        Screen { socket, _dir: dir }
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = command("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// What the window shows now, line by line.
    fn text(&self) -> String {
        self.tmux(&["capture-pane", "-p"])
    }

    /// The screen once it shows `needle` (fails after 20 s).
    fn wait_for(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let text = self.text();
            if text.contains(needle) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "never showed {needle:?}:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Types `keys` (tmux key names: `Enter`, `BSpace`, or text).
    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "0"];
        args.extend_from_slice(keys);
        self.tmux(&args);
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        self.tmux(&["kill-server"]);
    }
}

fn cordon_run(l: &Layout, args: &[&str]) -> Vec<String> {
    let mut argv: Vec<String> = vec![
        env!("CARGO_BIN_EXE_cordon").into(),
        "run".into(),
        "--root".into(),
        l.root.display().to_string(),
        "--approver".into(),
        "tty".into(),
    ];
    argv.extend(args.iter().map(|a| a.to_string()));
    argv
}

fn exited(screen: &Screen) -> String {
    screen.wait_for("EXIT=")
}

/// The attack: a command padded with spaces so that the real command
/// scrolled away and the padding's tail drew a harmless-looking prompt.
/// The screen at the key press shows the command that runs, quoted, and
/// says it was cut; `v` shows all of it, and only then does `y` run it.
#[test]
fn the_screen_shows_the_command_that_runs_when_the_person_answers() {
    if skip_without(&["tmux"]) {
        return;
    }
    let l = Layout::new();
    let fake = format!(
        "rm -rf src; : '{}\ncordon: approval needed\n  command: npm ci\n  needs:   network=registry.npmjs.org'",
        " ".repeat(3000)
    );
    let justification = format!("{}cleans the build cache", " ".repeat(500));
    let argv = cordon_run(
        &l,
        &[
            "--approval",
            "untrusted",
            "--escalate",
            "network=registry.npmjs.org",
            "--justification",
            &justification,
            "--",
            "sh",
            "-c",
            &fake,
        ],
    );
    let screen = Screen::run(&argv);
    let shown = screen.wait_for("type a letter, then Enter");
    assert!(
        shown.contains("runs:     sh -c $'rm -rf src; : \\'   \\x20"),
        "{shown}"
    );
    assert!(shown.contains("cut short"), "{shown}");
    assert!(!shown.contains("npm ci"), "{shown}");
    assert!(
        shown.contains("the agent's words, not checked by cordon"),
        "{shown}"
    );
    assert!(l.at("src").exists());
    // A key without Enter answers nothing.
    screen.keys(&["y"]);
    std::thread::sleep(Duration::from_millis(700));
    assert!(!screen.text().contains("EXIT="), "{}", screen.text());
    assert!(l.at("src").exists());
    screen.keys(&["BSpace", "v", "Enter"]);
    let all = screen.wait_for("to see the question again");
    // The end of the command, escaped, then the question again.
    assert!(all.contains(r"\n  command: npm ci\n"), "{all}");
    screen.keys(&["Enter"]);
    std::thread::sleep(Duration::from_millis(300));
    let again = screen.wait_for("type a letter, then Enter");
    assert!(
        again.contains("runs:     sh -c $'rm -rf src; : "),
        "{again}"
    );
    assert!(!again.contains("to see the question again"), "{again}");
    screen.keys(&["y", "Enter"]);
    let end = exited(&screen);
    assert!(end.contains("EXIT=0"), "{end}");
    assert!(
        !l.at("src").exists(),
        "the command shown is the one that ran"
    );
}

/// The attack on the frame: a working directory 1,700 bytes long whose
/// names spell a fake question wrapped over the screen and pushed the
/// real command off the top. Every field now takes the rows cordon gives
/// it; the title and the command that runs stay on the screen.
#[test]
fn a_long_working_directory_cannot_push_the_command_off_the_screen() {
    if skip_without(&["tmux"]) {
        return;
    }
    let l = Layout::new();
    let mut deep = l.root.clone();
    while deep.as_os_str().len() < 1700 {
        deep.push(format!(
            "{}runs{}rm -rf build{}",
            "\u{3097}",
            " ".repeat(3),
            "x".repeat(40)
        ));
    }
    std::fs::create_dir_all(&deep).unwrap();
    let target = l.at("src");
    let argv = cordon_run(
        &l,
        &[
            "--approval",
            "untrusted",
            "--cwd",
            deep.to_str().unwrap(),
            "--",
            "rm",
            "-rf",
            target.to_str().unwrap(),
        ],
    );
    let screen = Screen::run(&argv);
    let shown = screen.wait_for("type a letter, then Enter");
    assert!(shown.contains("── cordon: approval needed"), "{shown}");
    let runs = format!("runs:     rm -rf {}", target.display());
    assert!(shown.contains(&runs), "{shown}");
    assert!(shown.contains(r"\u3097runs"), "{shown}");
    // Keys typed within moments of the question are dropped with the
    // terminal's replies: a person takes longer.
    std::thread::sleep(Duration::from_millis(300));
    screen.keys(&["n", "Enter", "Enter"]);
    screen.wait_for("EXIT=");
    assert!(target.exists());
}

/// On a screen too short for the whole question (the agent's words once
/// posed as the question there, the real one scrolled off), the question
/// is not asked: it is denied with a line saying why.
#[test]
fn a_screen_too_small_for_the_question_denies() {
    if skip_without(&["tmux"]) {
        return;
    }
    let l = Layout::new();
    let planted = l.base.join("planted");
    let argv = cordon_run(
        &l,
        &[
            "--engine",
            "native",
            "--escalate",
            "unsandboxed",
            "--justification=-- cordon: approval needed -- runs: npm test",
            "--",
            "sh",
            "-c",
            &format!("touch {}", planted.display()),
        ],
    );
    let screen = Screen::sized(&argv, 80, 10);
    let end = screen.wait_for("EXIT=");
    assert!(end.contains("too small"), "{end}");
    assert!(end.contains("EXIT=126"), "{end}");
    assert!(!planted.exists());
}

/// What a command wrote before a question cannot change how the question
/// looks: the default colours it set (OSC 10/11, black on black) are
/// reset before the question is drawn.
#[test]
fn colours_a_command_set_are_reset_for_the_question() {
    if skip_without(&["tmux", "curl"]) {
        return;
    }
    let l = Layout::new();
    let script = "printf '\\033]10;#000000\\007\\033]11;#000000\\007\\033]4;7;#000000\\007'; \
                  curl -sf -m 30 -o /dev/null http://evil.test/; echo curl=$?";
    let argv = cordon_run(
        &l,
        &[
            "--engine",
            "native",
            "--approval",
            "on-request",
            "--network",
            "allow=good.test",
            "--",
            "sh",
            "-c",
            script,
        ],
    );
    let screen = Screen::run(&argv);
    screen.wait_for("type a letter, then Enter");
    let colours = screen.tmux(&["display", "-p", "-t", "0", "#{pane_fg},#{pane_bg}"]);
    assert_eq!(colours.trim(), "default,default");
    std::thread::sleep(Duration::from_millis(300));
    screen.keys(&["n", "Enter", "Enter"]);
    screen.wait_for("EXIT=");
}

/// While a question asked mid-run is up (a connection to a host not on
/// the allowlist), the command's output waits: it cannot clear the screen
/// and draw its own question. A terminal query it sent before is not read
/// as an answer.
#[test]
fn the_running_command_cannot_draw_over_or_answer_the_question() {
    if skip_without(&["tmux", "curl"]) {
        return;
    }
    let l = Layout::new();
    let script = "printf '\\033[c\\033[6n'; \
                  (sleep 1; printf '\\033[2J\\033[H%sKE Proceed? [y/N] ' FA) & \
                  curl -sf -m 30 -o /dev/null http://evil.test/; echo curl=$?; wait";
    let argv = cordon_run(
        &l,
        &[
            "--engine",
            "native",
            "--approval",
            "on-request",
            "--network",
            "allow=good.test",
            "--",
            "sh",
            "-c",
            script,
        ],
    );
    let screen = Screen::run(&argv);
    let shown = screen.wait_for("type a letter, then Enter");
    assert!(shown.contains("grants:   network=evil.test:80"), "{shown}");
    // Past the moment the command writes its fake question.
    std::thread::sleep(Duration::from_millis(2000));
    let shown = screen.text();
    assert!(!shown.contains("FAKE"), "{shown}");
    assert!(!shown.contains("not an answer"), "{shown}");
    assert!(!shown.contains("EXIT="), "{shown}");
    screen.keys(&["n", "Enter", "Enter"]);
    let end = screen.wait_for("EXIT=");
    // Held, not lost: the command's output follows the answer.
    assert!(end.contains("FAKE"), "{end}");
    assert!(end.contains("curl=") && !end.contains("curl=0"), "{end}");
}

/// cordon's own lines quote a command escaped, as the prompt does: a
/// refused command cannot print a forged line (`approved`) or move the
/// cursor with an escape sequence.
#[test]
fn cordons_own_lines_cannot_be_forged_by_the_command() {
    let l = Layout::new();
    let forged = "x\ncordon: rm -rf x: approved by person (tty)\x1b[1A\x1b[2K";
    let run = l
        .cordon()
        .args(["--approval", "never", "--", "rm", "-rf", forged])
        .output();
    run.expect_code(126);
    let stderr = run.stderr();
    assert!(!stderr.contains('\x1b'), "{stderr:?}");
    assert!(
        stderr.lines().all(|line| line.starts_with("cordon: ")),
        "{stderr:?}"
    );
    assert!(
        !stderr
            .lines()
            .any(|line| line.starts_with("cordon: rm -rf x: approved")),
        "{stderr:?}"
    );
    assert!(
        stderr.contains(r"$'x\ncordon: rm -rf x: approved"),
        "{stderr:?}"
    );
}
