//! `.git` and `.cordon` stay read-only in workspace-write, whether or not
//! they exist, however the guest names them.

use crate::support::{BOTH, Layout};

#[test]
fn existing_git_cannot_be_changed() {
    for wasi in BOTH {
        let l = Layout::new();
        let before = l.inside();
        let attempts: &[&[&str]] = &[
            &["write", ".git/hooks/pre-commit", "#!/bin/sh\nevil"],
            &["write", ".git/HEAD", "x"],
            &["append", ".git/HEAD", "x"],
            &["truncate", ".git/HEAD"],
            &["write", "src/../.git/hooks/pre-commit", "x"],
            &["write", ".GIT/hooks/pre-commit", "x"],
            &["mkdir", ".git/objects"],
            &["rm", ".git/HEAD"],
            &["rmdir", ".git/hooks"],
            &["rename", ".git", "git-moved"],
            &["rename", ".git/HEAD", "HEAD"],
            &["rename", "a.txt", ".git/hooks/pre-commit"],
            &["link", ".git/HEAD", "head-link"],
            &["link", "a.txt", ".git/hooks/pre-commit"],
            &["symlink", "x", ".git/hooks/pre-commit"],
            &["touch-fd", ".git/HEAD"],
        ];
        for attempt in attempts {
            let run = l.cordon().probe(wasi, attempt);
            run.expect_refused();
        }
        // Reading stays allowed.
        let run = l.cordon().probe(wasi, &["read", ".git/HEAD"]);
        assert_eq!(run.expect_code(0).stdout(), "ref: refs/heads/main\n");
        assert_eq!(l.inside(), before, "{wasi:?}");
    }
}

#[test]
fn missing_protected_paths_cannot_be_created() {
    for wasi in BOTH {
        let l = Layout::new();
        std::fs::remove_dir_all(l.at(".git")).unwrap();
        let before = l.inside();
        let attempts: &[&[&str]] = &[
            &["mkdir", ".git"],
            &["mkdir-p", ".git/hooks"],
            &["mkdir", ".cordon"],
            &["mkdir-p", ".cordon/tools"],
            &["write", ".cordon", "x"],
            &["write", ".git", "gitdir: /elsewhere"],
            &["rename", "src", ".git"],
            &["rename", "a.txt", ".cordon"],
            &["symlink", "src", ".git"],
            &["link", "a.txt", ".cordon"],
            // Nested repositories' .git is protected too.
            &["mkdir", "src/.git"],
        ];
        for attempt in attempts {
            l.cordon().probe(wasi, attempt).expect_refused();
        }
        assert_eq!(l.inside(), before, "{wasi:?}");
    }
}

#[cfg(unix)]
#[test]
fn symlinks_into_protected_paths_do_not_unlock_them() {
    use std::os::unix::fs::symlink;
    for wasi in BOTH {
        let l = Layout::new();
        std::fs::create_dir_all(l.at(".cordon")).unwrap();
        symlink("../.git/hooks/pre-commit", l.at("src/hook")).unwrap();
        symlink(".git", l.at("gitdir")).unwrap();
        symlink("../.cordon/rules.toml", l.at("src/rules")).unwrap();
        let before = l.inside();
        l.cordon()
            .probe(wasi, &["write", "src/hook", "evil"])
            .expect_refused();
        l.cordon()
            .probe(wasi, &["write", "gitdir/hooks/post-checkout", "evil"])
            .expect_refused();
        l.cordon()
            .probe(wasi, &["write", "src/rules", "allow"])
            .expect_refused();
        l.cordon()
            .probe(wasi, &["mkdir", "gitdir/refs"])
            .expect_refused();
        assert_eq!(l.inside(), before, "{wasi:?}");
    }
}

#[test]
fn a_working_directory_inside_git_is_read_only() {
    for wasi in BOTH {
        let l = Layout::new();
        let before = l.inside();
        let cwd = || l.cordon().args(["--cwd", ".git/hooks"]);
        cwd()
            .probe(wasi, &["write", "pre-commit", "x"])
            .expect_refused();
        cwd().probe(wasi, &["read", "../HEAD"]).expect_refused();
        assert_eq!(l.inside(), before);
    }
}

#[test]
fn the_rest_of_the_root_stays_writable() {
    for wasi in BOTH {
        let l = Layout::new();
        l.cordon()
            .probe(wasi, &["mkdir-p", "build/out"])
            .expect_code(0);
        l.cordon()
            .probe(wasi, &["write", "build/out/.gitignore", "*"])
            .expect_code(0);
        l.cordon()
            .probe(wasi, &["write", "src/gitx", "x"])
            .expect_code(0);
        l.cordon()
            .probe(wasi, &["rename", "a.txt", "b.txt"])
            .expect_code(0);
        l.cordon().probe(wasi, &["rm", "b.txt"]).expect_code(0);
        assert!(l.at("build/out/.gitignore").exists());
        assert!(!l.at("a.txt").exists());
    }
}

#[test]
fn full_access_lifts_the_protection_but_not_the_root() {
    for wasi in BOTH {
        let l = Layout::new();
        let before = l.outside();
        let full = || l.cordon().args(["--sandbox", "full-access"]);
        full()
            .probe(wasi, &["write", ".git/hooks/pre-commit", "ok"])
            .expect_code(0);
        full()
            .probe(wasi, &["write", "../outside/x", "x"])
            .expect_refused();
        assert_eq!(l.outside(), before);
    }
}
