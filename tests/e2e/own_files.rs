//! cordon's own files (its rules, its compile cache and the cache's key,
//! the audit log) when they lie where commands may write: HOME is the
//! root, as in many containers. Each test names the attack and checks the
//! files themselves afterwards.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{Layout, Run, Snapshot, cordon, snapshot};

/// A root that is also HOME: cordon's config and cache live inside it.
struct Home {
    l: Layout,
    config: PathBuf,
    cache: PathBuf,
}

impl Home {
    fn new() -> Home {
        let l = Layout::new();
        let config = l.at("home/.config");
        let cache = l.at("home/.cache/cordon");
        std::fs::create_dir_all(config.join("cordon")).unwrap();
        std::fs::write(
            config.join("cordon/rules.toml"),
            "[[rule]]\nprefix = [\"touch\"]\ndecision = \"forbid\"\n",
        )
        .unwrap();
        let home = Home { l, config, cache };
        // A WASI run fills the cache (and makes its key).
        home.run(&["--", "cat", "a.txt"]).expect_code(0);
        assert!(home.cache.join("mac.key").is_file());
        home
    }

    fn command(&self, args: &[&str]) -> std::process::Command {
        let mut c = cordon();
        c.env("XDG_CONFIG_HOME", &self.config)
            .arg("run")
            .arg("--root")
            .arg(&self.l.root)
            .arg("--cache-dir")
            .arg(&self.cache)
            .args(args);
        c
    }

    fn run(&self, args: &[&str]) -> Run {
        Run(self.command(args).output().unwrap())
    }

    /// Everything under home/ but what cordon itself remembers of the
    /// root's walk (written once the tree settles, whatever the command
    /// did), and the times that writing it moves on the cache directory.
    fn snapshot(&self) -> Snapshot {
        let mut all = snapshot(&self.l.at("home"));
        all.retain(|path, _| !path.starts_with(".cache/cordon/walks"));
        if let Some(cache) = all.get_mut(Path::new(".cache/cordon")) {
            (cache.mtime, cache.ctime) = ((0, 0), (0, 0));
        }
        all
    }
}

/// Attack: from a WASI tool, replace the user's rules, overwrite a cached
/// artifact (native code cordon maps), plant a new one, remove the cache's
/// key, move the cache's parent aside to put a substitute in its place, or
/// write the rules through a redirection; in workspace-write and in
/// full-access. Nothing under home/ changes.
#[test]
fn wasi_tools_cannot_write_cordons_own_directories_inside_the_root() {
    let h = Home::new();
    let before = h.snapshot();
    let artifact = before
        .keys()
        .find(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .map(|p| format!("home/{}", p.display()))
        .unwrap();
    let rules = "home/.config/cordon/rules.toml";
    let attempts: Vec<Vec<String>> = vec![
        vec!["cp".into(), "a.txt".into(), rules.into()],
        vec!["cp".into(), "a.txt".into(), artifact.clone()],
        vec![
            "cp".into(),
            "a.txt".into(),
            "home/.cache/cordon/x.cwasm".into(),
        ],
        vec!["rm".into(), "home/.cache/cordon/mac.key".into()],
        vec!["mv".into(), "home/.cache".into(), "home/moved".into()],
        vec!["mv".into(), "home/.config".into(), "home/moved".into()],
        vec!["mkdir".into(), "home/.cache/cordon/sub".into()],
        vec!["touch".into(), artifact.clone()],
    ];
    for mode in ["workspace-write", "full-access"] {
        for attempt in &attempts {
            let mut args = vec!["--sandbox", mode, "--engine", "wasi", "--"];
            args.extend(attempt.iter().map(String::as_str));
            let run = h.run(&args);
            assert_ne!(run.code(), 0, "{mode} {attempt:?}: {}", run.stdout());
            assert_eq!(h.snapshot(), before, "{mode} {attempt:?}");
        }
        let line = format!("echo '' > {rules}");
        let run = h.run(&["--sandbox", mode, "-c", &line]);
        assert_ne!(run.code(), 0, "{mode}: {}", run.stderr());
        assert_eq!(h.snapshot(), before, "{mode}: redirection");
    }
}

/// Attack: read the cache's key (with it, a planted entry would pass as
/// cordon's own), from a WASI tool and from a native command, even with
/// every secret allowed.
#[test]
fn the_cache_key_is_unreadable_to_commands() {
    let h = Home::new();
    let key = std::fs::read(h.cache.join("mac.key")).unwrap();
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    let wasi = h.run(&[
        "--allow-secret",
        "*",
        "--",
        "sha256sum",
        "home/.cache/cordon/mac.key",
    ]);
    assert_ne!(wasi.code(), 0, "{}", wasi.stdout());
    assert!(!wasi.stdout().contains(&hex[..16]));
    #[cfg(target_os = "linux")]
    for flags in [&[][..], &["--no-namespaces"][..]] {
        let mut args = vec!["--allow-secret", "*", "--engine", "native"];
        args.extend(flags);
        args.extend([
            "--",
            "sh",
            "-c",
            "od -An -tx1 home/.cache/cordon/mac.key | tr -d ' \\n'",
        ]);
        let run = h.run(&args);
        assert!(
            !run.stdout().contains(&hex[..16]),
            "{flags:?}: read the key"
        );
    }
}

/// Attack: move the cache's or the config's parent aside from a native
/// command and make a substitute with a key and rules of one's own, for
/// the next run to trust.
#[cfg(target_os = "linux")]
#[test]
fn native_commands_cannot_move_cordons_own_directories_aside() {
    let h = Home::new();
    let before = h.snapshot();
    for flags in [&[][..], &["--no-namespaces"][..]] {
        let mut args = vec!["--engine", "native"];
        args.extend(flags);
        args.extend([
            "--",
            "sh",
            "-c",
            "mv home/.cache home/c2; mv home/.config home/g2; \
             mkdir -p home/.cache/cordon home/.config/cordon; \
             echo planted > home/.cache/cordon/mac.key; \
             echo planted > home/.config/cordon/rules.toml; true",
        ]);
        h.run(&args).expect_code(0);
        assert_eq!(h.snapshot(), before, "{flags:?}");
    }
}

/// Attack: a command rewrites or truncates the audit log that records it.
/// A log inside the area commands may write is refused before anything
/// runs, with one line saying why.
#[test]
fn an_audit_log_that_commands_could_write_is_refused() {
    let l = Layout::new();
    let writable = l.base.join("outside");
    // A dangling symlink outside the root that a command made point in.
    std::os::unix::fs::symlink(l.at("planted.jsonl"), l.base.join("dangling.jsonl")).unwrap();
    for (extra, log) in [
        (vec![], l.at("audit.jsonl")),
        (vec![], l.at("src/../audit.jsonl")),
        (vec![], l.base.join("dangling.jsonl")),
        (
            vec!["--writable".to_string(), writable.display().to_string()],
            writable.join("audit.jsonl"),
        ),
    ] {
        let run = l
            .cordon()
            .args(&extra)
            .args([Path::new("--audit"), &log])
            .args(["--", "touch", "ran.txt"])
            .output();
        run.expect_code(125);
        assert!(
            run.stderr().starts_with("cordon: --audit") && run.stderr().lines().count() == 1,
            "{}",
            run.stderr()
        );
        assert!(!log.exists() && !l.at("ran.txt").exists());
        assert!(!l.at("planted.jsonl").exists());
    }
    // Outside, and with a read-only root, it is kept.
    let log = l.base.join("audit.jsonl");
    l.cordon()
        .args([Path::new("--audit"), &log])
        .args(["--", "touch", "ran.txt"])
        .output()
        .expect_code(0);
    assert!(log.exists());
    let inside = l.at("audit.jsonl");
    l.cordon()
        .args(["--sandbox", "read-only"])
        .args([Path::new("--audit"), &inside])
        .args(["--", "cat", "a.txt"])
        .output()
        .expect_code(0);
    assert!(inside.exists());
}

/// Attack: cordon's config or cache is reached through a symlink inside the
/// root (a dotfiles layout, HOME being the root); a command replaces the
/// symlink with one to a directory of its own (rules without the forbid
/// rule, a cache with a key and an artifact of its making) for the next
/// run to trust. cordon refuses to run with such a path, saying what to
/// point at instead; nothing runs.
#[test]
fn an_own_directory_reached_through_a_symlink_in_the_root_is_refused() {
    let l = Layout::new();
    std::fs::create_dir_all(l.at("dotfiles/config/cordon")).unwrap();
    std::fs::create_dir_all(l.at("realcache")).unwrap();
    std::os::unix::fs::symlink("dotfiles/config", l.at(".config")).unwrap();
    std::os::unix::fs::symlink("realcache", l.at("cachelink")).unwrap();
    let attempts = [
        (
            l.at(".config"),
            crate::support::cache_dir().to_path_buf(),
            "XDG_CONFIG_HOME",
        ),
        (
            l.base.join("no-config"),
            l.at("cachelink/cordon"),
            "--cache-dir",
        ),
    ];
    for (config, cache, named) in attempts {
        let run = Run(cordon()
            .env("XDG_CONFIG_HOME", &config)
            .arg("run")
            .arg("--root")
            .arg(&l.root)
            .arg("--cache-dir")
            .arg(&cache)
            .args(["--", "touch", "ran.txt"])
            .output()
            .unwrap());
        run.expect_code(125);
        let stderr = run.stderr();
        assert!(
            stderr.starts_with("cordon: ") && stderr.lines().count() == 1,
            "{stderr}"
        );
        assert!(stderr.contains(named), "{stderr}");
        assert!(!l.at("ran.txt").exists());
    }
}

/// Attack: read the cache's key when the cache directory is spelled
/// differently from the root (through a symlink outside it, or with `..`),
/// with every `*.key` allowed; and, in a run that does not use the cache,
/// plant an entry in it.
#[test]
fn the_cache_key_stays_hidden_however_its_directory_is_spelled() {
    let l = Layout::new();
    std::os::unix::fs::symlink(&l.root, l.base.join("link")).unwrap();
    let spellings = [
        l.base.join("link/ccache"),
        l.at("src/../ccache"),
        l.at("ccache"),
    ];
    for cache in &spellings {
        let with_cache = |args: &[&str]| {
            Run(cordon()
                .arg("run")
                .arg("--root")
                .arg(&l.root)
                .arg("--cache-dir")
                .arg(cache)
                .args(["--allow-secret", "*.key"])
                .args(args)
                .output()
                .unwrap())
        };
        with_cache(&["--", "true"]).expect_code(0);
        let key = std::fs::read(l.at("ccache/mac.key")).unwrap();
        let encoded: String = key.iter().map(|b| format!("{b:02x}")).collect();
        let wasi = with_cache(&["--", "sha256sum", "ccache/mac.key"]);
        assert_ne!(wasi.code(), 0, "{cache:?}: {}", wasi.stdout());
        #[cfg(target_os = "linux")]
        {
            let native = with_cache(&[
                "--engine",
                "native",
                "--",
                "sh",
                "-c",
                "od -An -tx1 ccache/mac.key | tr -d ' \\n'",
            ]);
            assert!(!native.stdout().contains(&encoded[..16]), "{cache:?}");
        }
        let before = std::fs::read_dir(l.at("ccache")).unwrap().count();
        let plant = with_cache(&["--no-cache", "--", "cp", "a.txt", "ccache/x.cwasm"]);
        assert_ne!(plant.code(), 0, "{cache:?}");
        assert_eq!(std::fs::read_dir(l.at("ccache")).unwrap().count(), before);
        std::fs::remove_dir_all(l.at("ccache")).unwrap();
    }
}

/// Attack: a command binds the approver's socket (or rewrites the answer
/// script) where it may write, and answers cordon's questions itself. A
/// `jsonl=PATH` or `script=FILE` inside the writable area is refused
/// before anything runs.
#[test]
fn an_approver_that_commands_could_stand_in_for_is_refused() {
    let l = Layout::new();
    let socket = l.at("agent.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    std::fs::write(l.at("answers.txt"), "once\n").unwrap();
    for approver in [
        format!("jsonl={}", socket.display()),
        format!("script={}", l.at("answers.txt").display()),
    ] {
        let run = l
            .cordon()
            .args(["--approver", &approver, "--", "rm", "-rf", "src"])
            .output();
        run.expect_code(125);
        assert!(
            run.stderr().starts_with("cordon: --approver"),
            "{}",
            run.stderr()
        );
        assert!(l.at("src").exists());
    }
}

/// cordon's temporary files (a guest's `/`, the native masks, the
/// git-shape lock) live under TMPDIR: one inside the root would let a
/// command plant a file there that a concurrent run's `/etc/hosts` is,
/// or remove the lock. Refused, and nothing runs.
#[test]
fn a_temporary_directory_commands_could_write_is_refused() {
    let l = Layout::new();
    std::fs::create_dir_all(l.at("tmp")).unwrap();
    for engine in ["wasi", "native"] {
        let mut c = l.cordon();
        c.0.env("TMPDIR", l.at("tmp"));
        let run = c
            .args(["--engine", engine, "--", "touch", "ran.txt"])
            .output();
        run.expect_code(125);
        assert!(run.stderr().contains("TMPDIR"), "{}", run.stderr());
        assert!(!l.at("ran.txt").exists());
        assert_eq!(std::fs::read_dir(l.at("tmp")).unwrap().count(), 0);
    }
}

/// A built-in tool's `/` is a directory of its own in the user's private
/// directory, gone when the run ends; one a killed run left behind goes
/// at the next run, and a live run's stays.
#[cfg(unix)]
#[test]
fn a_guests_slash_left_behind_by_a_killed_run_is_removed() {
    let l = Layout::new();
    let tmp = tempfile::tempdir().unwrap();
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let dead = gone.id();
    gone.wait().unwrap();
    // SAFETY: geteuid cannot fail.
    let user_dir = tmp
        .path()
        .join(format!("cordon-{}", unsafe { libc::geteuid() }));
    std::fs::create_dir(&user_dir).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&user_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let orphan = user_dir.join(format!("root-{dead}-abc"));
    let live = user_dir.join(format!("root-{}-abc", std::process::id()));
    std::fs::create_dir_all(orphan.join("tmp/proj")).unwrap();
    std::fs::create_dir_all(&live).unwrap();
    let mut c = l.cordon();
    c.0.env("TMPDIR", tmp.path());
    c.args(["--", "ls", "/"]).output().expect_code(0);
    assert!(!orphan.exists());
    assert!(live.exists());
    let left: Vec<_> = std::fs::read_dir(&user_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|name| name.to_string_lossy().starts_with("root-"))
        .collect();
    assert_eq!(left.len(), 1, "{left:?}");
}

/// Attack: the default cache directory lies in the root (XDG_CACHE_HOME
/// is home/.cache) and this run uses another (`--cache-dir`): replace the
/// default's key and plant an entry there, for a later run that uses the
/// default to trust (native code cordon would map and run). Nothing under
/// home/ changes, from either engine.
#[test]
fn the_default_cache_stays_read_only_to_runs_that_use_another() {
    let h = Home::new();
    let before = h.snapshot();
    let elsewhere = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let mut c = cordon();
        c.env("XDG_CONFIG_HOME", &h.config)
            .env("XDG_CACHE_HOME", h.l.at("home/.cache"))
            .arg("run")
            .arg("--root")
            .arg(&h.l.root)
            .arg("--cache-dir")
            .arg(elsewhere.path())
            .args(args);
        Run(c.output().unwrap())
    };
    // The runs themselves work: what is refused is the write.
    run(&["--", "cat", "a.txt"]).expect_code(0);
    let key = "home/.cache/cordon/mac.key";
    let entry = "home/.cache/cordon/planted.cwasm";
    let mut attempts = vec![
        vec!["--engine", "wasi", "--", "rm", key],
        vec!["--engine", "wasi", "--", "cp", "a.txt", entry],
    ];
    #[cfg(target_os = "linux")]
    attempts.push(vec![
        "--engine",
        "native",
        "--",
        "sh",
        "-c",
        "rm -f home/.cache/cordon/mac.key; echo forged > home/.cache/cordon/mac.key; \
         cp a.txt home/.cache/cordon/planted.cwasm",
    ]);
    for attempt in attempts {
        let ran = run(&attempt);
        assert_ne!(ran.code(), 0, "{attempt:?}: {}", ran.stdout());
        assert_eq!(h.snapshot(), before, "{attempt:?}");
    }
}

/// Attack, set up by the user's dotfiles: HOME is the root and `~/.cache`
/// a symlink inside it, while this run uses another cache. A command
/// could point the symlink at a cache of its own making (its key, its
/// entries) for a later run that does not write there to trust, so the
/// run is refused with one line naming the variable to set.
#[cfg(unix)]
#[test]
fn a_default_cache_through_a_symlink_commands_could_change_is_refused() {
    let l = Layout::new();
    std::fs::create_dir_all(l.at("home/dotcache")).unwrap();
    std::os::unix::fs::symlink("dotcache", l.at("home/.cache")).unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let run = Run(run_with_own_dirs_in(&l, elsewhere.path())
        .env("HOME", l.at("home"))
        .env_remove("XDG_CACHE_HOME")
        .args(["--engine", "native", "--", "sh", "-c"])
        .arg(
            "rm home/.cache; mkdir -p home/.cache/cordon; echo forged > home/.cache/cordon/mac.key",
        )
        .output()
        .unwrap());
    assert_ne!(run.code(), 0, "{}", run.stdout());
    assert!(run.stderr().contains("XDG_CACHE_HOME"), "{}", run.stderr());
    assert_eq!(run.stderr().lines().count(), 1, "{}", run.stderr());
    // On disk: the symlink is as it was, and no key of the command's.
    let link = std::fs::read_link(l.at("home/.cache")).unwrap();
    assert_eq!(link, Path::new("dotcache"), "the symlink was replaced");
    assert!(!l.at("home/dotcache/cordon/mac.key").exists());
}

/// `cordon run --root proj` with its config and cache directories in
/// `elsewhere`: the default ones are what the test lays out.
fn run_with_own_dirs_in(l: &Layout, elsewhere: &Path) -> Command {
    let mut command = cordon();
    command
        .env("XDG_CONFIG_HOME", elsewhere.join("config"))
        .arg("run")
        .arg("--root")
        .arg(&l.root)
        .arg("--cache-dir")
        .arg(elsewhere.join("cache"));
    command
}

/// Attack: the default cache is reached through a symlink inside a
/// directory a person granted writable (`--escalate writable=DIR`), while
/// this run uses another cache. Repointed, the symlink would lead a later
/// run to a key and compiled code of the command's making, so the granted
/// run is refused and the symlink stays as it was.
#[cfg(target_os = "linux")]
#[test]
fn a_default_cache_through_a_symlink_in_a_granted_directory_is_refused() {
    let l = Layout::new();
    let granted = l.base.join("outside/granted");
    std::fs::create_dir_all(granted.join("real")).unwrap();
    std::fs::create_dir_all(granted.join("evil")).unwrap();
    std::os::unix::fs::symlink("real", granted.join("link")).unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let repoint = format!("ln -sfn evil {}/link", granted.display());
    let run = Run(run_with_own_dirs_in(&l, elsewhere.path())
        .env("XDG_CACHE_HOME", granted.join("link"))
        .args(["--approver", &crate::support::script("once\n")])
        .args(["--escalate", &format!("writable={}", granted.display())])
        .args(["--engine", "native", "--", "sh", "-c", &repoint])
        .output()
        .unwrap());
    assert_ne!(run.code(), 0, "{}", run.stderr());
    assert!(run.stderr().contains("XDG_CACHE_HOME"), "{}", run.stderr());
    let link = std::fs::read_link(granted.join("link")).unwrap();
    assert_eq!(link, Path::new("real"), "the symlink was repointed");
}
