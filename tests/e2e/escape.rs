//! Escape attempts from a WASI guest. Each names the attack, asserts the
//! refusal, and asserts that nothing outside the root changed.

use crate::support::{BOTH, Layout};

#[test]
fn reads_and_writes_inside_the_root_work() {
    for wasi in BOTH {
        let l = Layout::new();
        l.cordon()
            .probe(wasi, &["write", "new.txt", "hello"])
            .expect_code(0);
        assert_eq!(std::fs::read_to_string(l.at("new.txt")).unwrap(), "hello");
        let run = l.cordon().probe(wasi, &["read", "a.txt"]);
        assert_eq!(run.expect_code(0).stdout(), "alpha\n");
        // Agents pass absolute host paths; those inside the root work.
        let abs = l.at("src/main.rs");
        let run = l.cordon().probe(wasi, &["read", abs.to_str().unwrap()]);
        assert_eq!(run.expect_code(0).stdout(), "fn main() {}\n");
        let abs_new = l.at("src/abs.txt");
        l.cordon()
            .probe(wasi, &["write", abs_new.to_str().unwrap(), "x"])
            .expect_code(0);
        assert_eq!(std::fs::read_to_string(abs_new).unwrap(), "x");
    }
}

#[test]
fn dot_dot_traversal_is_refused() {
    for wasi in BOTH {
        let l = Layout::new();
        let before = l.outside();
        let run = l.cordon().probe(wasi, &["read", "../outside/secret.txt"]);
        run.expect_refused();
        assert!(!run.stdout().contains("secret"));
        l.cordon()
            .probe(wasi, &["read", "src/../../outside/secret.txt"])
            .expect_refused();
        l.cordon()
            .probe(wasi, &["write", "../outside/new.txt", "x"])
            .expect_refused();
        l.cordon()
            .probe(wasi, &["mkdir", "../made"])
            .expect_refused();
        l.cordon()
            .probe(wasi, &["rm", "../outside/secret.txt"])
            .expect_refused();
        assert_eq!(l.outside(), before);
    }
}

#[test]
fn absolute_paths_outside_the_root_are_not_found() {
    for wasi in BOTH {
        let l = Layout::new();
        let before = l.outside();
        let run = l.cordon().probe(wasi, &["read", "/etc/passwd"]);
        run.expect_refused();
        assert!(!run.stdout().contains("root:"));
        let secret = l.base.join("outside/secret.txt");
        l.cordon()
            .probe(wasi, &["read", secret.to_str().unwrap()])
            .expect_refused();
        let target = l.base.join("outside/planted.txt");
        l.cordon()
            .probe(wasi, &["write", target.to_str().unwrap(), "x"])
            .expect_refused();
        assert_eq!(l.outside(), before);
    }
}

#[cfg(unix)]
#[test]
fn symlinks_pointing_out_of_the_root_are_not_followed() {
    use std::os::unix::fs::symlink;
    for wasi in BOTH {
        let l = Layout::new();
        let secret = l.base.join("outside/secret.txt");
        symlink(&secret, l.at("abs-link")).unwrap();
        symlink("../outside/secret.txt", l.at("rel-link")).unwrap();
        symlink("..", l.at("up")).unwrap();
        symlink(l.base.join("outside"), l.at("dir-link")).unwrap();
        // A chain: hop1 -> src/hop2 -> ../../outside/secret.txt
        symlink("src/hop2", l.at("hop1")).unwrap();
        symlink("../../outside/secret.txt", l.at("src/hop2")).unwrap();
        let before = l.outside();
        for path in [
            "abs-link",
            "rel-link",
            "up/outside/secret.txt",
            "dir-link/secret.txt",
            "hop1",
        ] {
            let run = l.cordon().probe(wasi, &["read", path]);
            run.expect_refused();
            assert!(!run.stdout().contains("secret"), "{path}: {}", run.stdout());
            l.cordon()
                .probe(wasi, &["write", path, "owned"])
                .expect_refused();
            l.cordon()
                .probe(wasi, &["append", path, "owned"])
                .expect_refused();
        }
        l.cordon()
            .probe(wasi, &["write", "dir-link/new.txt", "x"])
            .expect_refused();
        l.cordon()
            .probe(wasi, &["mkdir", "up/made"])
            .expect_refused();
        l.cordon().probe(wasi, &["ls", "up"]).expect_refused();
        assert_eq!(l.outside(), before);
    }
}

/// GHSA-vqjp-4c8c-hfgg: a trailing slash on a path through a symlink must
/// not change how the symlink is resolved.
#[cfg(unix)]
#[test]
fn symlink_with_trailing_slash_stays_inside() {
    use std::os::unix::fs::symlink;
    for wasi in BOTH {
        let l = Layout::new();
        symlink("../outside", l.at("esc")).unwrap();
        symlink(l.base.join("outside"), l.at("esc-abs")).unwrap();
        let before = l.outside();
        for path in ["esc/", "esc-abs/", "esc/.", "esc//"] {
            l.cordon().probe(wasi, &["ls", path]).expect_refused();
            l.cordon()
                .probe(wasi, &["mkdir", &format!("{path}made")])
                .expect_refused();
            l.cordon()
                .probe(wasi, &["write", &format!("{path}x"), "x"])
                .expect_refused();
        }
        l.cordon().probe(wasi, &["rmdir", "esc/"]).expect_refused();
        assert_eq!(l.outside(), before);
        assert!(std::fs::symlink_metadata(l.at("esc")).unwrap().is_symlink());
    }
}

/// GHSA-2r75-cxrj-cmph: opening with truncate on a read-only root must not
/// truncate the file.
#[test]
fn truncate_on_read_only_root_is_refused() {
    for wasi in BOTH {
        let l = Layout::new();
        let before = l.inside();
        let ro = || l.cordon().args(["--sandbox", "read-only"]);
        ro().probe(wasi, &["truncate", "a.txt"]).expect_refused();
        ro().probe(wasi, &["write", "a.txt", "x"]).expect_refused();
        ro().probe(wasi, &["write", "new.txt", "x"])
            .expect_refused();
        ro().probe(wasi, &["mkdir", "d"]).expect_refused();
        ro().probe(wasi, &["rm", "a.txt"]).expect_refused();
        ro().probe(wasi, &["read", "a.txt"]).expect_code(0);
        assert_eq!(l.inside(), before);
    }
}

#[test]
fn rename_and_hard_link_out_of_the_root_are_refused() {
    for wasi in BOTH {
        let l = Layout::new();
        let before = l.outside();
        let abs_outside = l.base.join("outside/moved.txt");
        for to in ["../outside/moved.txt", abs_outside.to_str().unwrap()] {
            l.cordon()
                .probe(wasi, &["rename", "a.txt", to])
                .expect_refused();
            l.cordon()
                .probe(wasi, &["link", "a.txt", to])
                .expect_refused();
        }
        // Pulling a file in from outside is refused as well.
        l.cordon()
            .probe(wasi, &["link", "../outside/secret.txt", "stolen"])
            .expect_refused();
        l.cordon()
            .probe(wasi, &["rename", "../outside/secret.txt", "stolen"])
            .expect_refused();
        assert!(l.at("a.txt").exists());
        assert!(!l.at("stolen").exists());
        assert_eq!(l.outside(), before);
    }
}

#[test]
fn a_sibling_sharing_the_roots_prefix_is_outside() {
    for wasi in BOTH {
        let l = Layout::new();
        let before = l.outside();
        let evil = l.base.join("proj-evil/secret.txt");
        let run = l.cordon().probe(wasi, &["read", evil.to_str().unwrap()]);
        run.expect_refused();
        assert!(!run.stdout().contains("evil"));
        l.cordon()
            .probe(wasi, &["read", "../proj-evil/secret.txt"])
            .expect_refused();
        let planted = l.base.join("proj-evil/planted");
        l.cordon()
            .probe(wasi, &["write", planted.to_str().unwrap(), "x"])
            .expect_refused();
        // The working directory is checked by components too.
        let run = l
            .cordon()
            .args(["--cwd", l.base.join("proj-evil").to_str().unwrap()])
            .probe(wasi, &["read", "secret.txt"]);
        run.expect_code(125);
        assert!(
            run.stderr().starts_with("cordon: --cwd"),
            "{}",
            run.stderr()
        );
        assert_eq!(l.outside(), before);
    }
}
