//! Git directories are protected by what they are, not by their name: a
//! gitfile's target (`.git` reading `gitdir: ./.bare`), a symlinked nested
//! `.git`, a worktree's common directory. Each layout is attacked from both
//! engines (natively as root, unprivileged and Landlock-only), then git
//! itself runs outside cordon: no planted hook may run.

use std::path::Path;
use std::process::Command;

use crate::native::{Who, everyone, everyone_and_unprivileged_landlock, hand_over, sh};
use crate::support::{BOTH, Layout, skip_without};

/// A layout of a real repository whose git directory is not `ROOT/.git`:
/// it makes it and returns the work tree and the git directory, both
/// relative to the root.
type Make = fn(&Layout) -> (&'static str, &'static str);

const LAYOUTS: &[(&str, Make)] = &[
    ("gitfile", |l| {
        std::fs::remove_dir_all(l.at(".git")).unwrap();
        git(&l.root, &["init", "-q", "--separate-git-dir=.bare", "."]);
        (".", ".bare")
    }),
    ("symlink", |l| {
        // As the `repo` tool lays them out: the work tree's .git is a
        // symlink to the directory the repository lives in.
        std::fs::create_dir_all(l.at(".repo/projects")).unwrap();
        git(
            &l.root,
            &[
                "init",
                "-q",
                "--separate-git-dir=.repo/projects/sub.git",
                "sub",
            ],
        );
        std::fs::remove_file(l.at("sub/.git")).unwrap();
        std::os::unix::fs::symlink("../.repo/projects/sub.git", l.at("sub/.git")).unwrap();
        ("sub", ".repo/projects/sub.git")
    }),
    ("worktree", |l| {
        std::fs::remove_dir_all(l.at(".git")).unwrap();
        git(&l.root, &["init", "-q", "--separate-git-dir=.bare", "."]);
        git(&l.root, &["commit", "-q", "--allow-empty", "-m", "first"]);
        git(&l.root, &["worktree", "add", "-q", "wt"]);
        ("wt", ".bare")
    }),
];

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args([
            "-c",
            "safe.directory=*",
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
        ])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .status()
        .unwrap();
    assert!(status.success(), "git {args:?}");
}

/// Runs `git commit` in `work` outside cordon and says whether the hook
/// that would touch `marker` ran.
fn a_hook_ran(work: &Path, marker: &Path) -> bool {
    git(work, &["commit", "-q", "--allow-empty", "-m", "after"]);
    marker.exists()
}

/// The planted hook and the settings an attacker writes.
fn plant(git_dir: &str, marker: &Path) -> String {
    format!(
        "mkdir -p {git_dir}/hooks; printf '#!/bin/sh\\ntouch {marker}\\n' > {git_dir}/hooks/pre-commit; \
         chmod +x {git_dir}/hooks/pre-commit; \
         printf '[core]\\n\\thooksPath = {hooks}\\n' >> {git_dir}/config",
        marker = marker.display(),
        hooks = marker.with_extension("hooks").display(),
    )
}

#[test]
fn a_git_directory_by_any_layout_stays_read_only_natively() {
    if skip_without(&["git"]) {
        return;
    }
    for (name, make) in LAYOUTS {
        for who in everyone_and_unprivileged_landlock() {
            let l = Layout::new();
            let (work, git_dir) = make(&l);
            let marker = l.base.join("outside/hook-ran");
            // A hooks directory outside the root, ready for hooksPath.
            let hooks = marker.with_extension("hooks");
            std::fs::create_dir_all(&hooks).unwrap();
            std::fs::write(
                hooks.join("pre-commit"),
                format!("#!/bin/sh\ntouch {}\n", marker.display()),
            )
            .unwrap();
            std::fs::set_permissions(
                hooks.join("pre-commit"),
                std::os::unix::fs::PermissionsExt::from_mode(0o755),
            )
            .unwrap();
            hand_over(&l, who);
            let before = l.inside();
            let run = sh(&l, who, &[], &plant(git_dir, &marker));
            assert_ne!(run.code(), 0, "{name} {who:?}: {}", run.stderr());
            assert_eq!(
                l.inside(),
                before,
                "{name} {who:?}: the git directory changed"
            );
            assert!(
                !a_hook_ran(&l.at(work), &marker),
                "{name} {who:?}: a planted hook ran"
            );
        }
    }
}

#[test]
fn a_git_directory_by_any_layout_stays_read_only_in_wasi() {
    if skip_without(&["git"]) {
        return;
    }
    for (name, make) in LAYOUTS {
        for wasi in BOTH {
            let l = Layout::new();
            let (work, git_dir) = make(&l);
            let marker = l.base.join("outside/hook-ran");
            let before = l.inside();
            let hook = format!("{git_dir}/hooks/pre-commit");
            let script = format!("#!/bin/sh\ntouch {}\n", marker.display());
            let config = format!("{git_dir}/config");
            for attempt in [
                &["write", hook.as_str(), script.as_str()][..],
                &["append", config.as_str(), "[core]\n\thooksPath = /tmp\n"],
                &["rm", config.as_str()],
                &["rename", git_dir, "moved"],
            ] {
                l.cordon().probe(wasi, attempt).expect_refused();
            }
            assert_eq!(
                l.inside(),
                before,
                "{name} {wasi:?}: the git directory changed"
            );
            assert!(
                !a_hook_ran(&l.at(work), &marker),
                "{name} {wasi:?}: a planted hook ran"
            );
        }
    }
}

/// A new `.git` is refused in both engines, by every call that makes a
/// name: a directory, a file made through a symlink that names one, a
/// symlink, a hard link, a rename, a device node, `git init`, in any
/// letter case, as root, unprivileged and with Landlock alone.
#[test]
fn a_new_nested_repository_is_refused_in_both_engines() {
    let attempts = [
        "mkdir -p src/.git/hooks",
        "mkdir src/.GIT",
        "touch src/.git",
        "ln -s ../x src/.git",
        "ln -s .git src/dangling && echo 'gitdir: /tmp' > src/dangling",
        "ln -s \"$PWD/src/.git\" src/absolute && touch src/absolute",
        "echo 'gitdir: /tmp' > src/f && ln src/f src/.git",
        "mkdir src/d && mv src/d src/.git",
        "mkfifo src/.git",
        "python3 -c \"import os; os.open('src/.git', os.O_CREAT | os.O_WRONLY, 0o644)\"",
        "git init -q src",
    ];
    for who in everyone_and_unprivileged_landlock() {
        for attempt in attempts {
            let l = Layout::new();
            hand_over(&l, who);
            let git_dir = |l: &Layout| {
                let mut all = l.inside();
                all.retain(|path, _| path.starts_with(".git"));
                all
            };
            let before = git_dir(&l);
            let run = sh(&l, who, &[], &format!("{attempt}; ls -d src/.git src/.GIT"));
            assert_ne!(run.code(), 0, "{who:?} {attempt}: {}", run.stderr());
            for made in ["src/.git", "src/.GIT"] {
                assert!(
                    l.at(made).symlink_metadata().is_err(),
                    "{who:?} {attempt}: {made} was made"
                );
            }
            assert_eq!(git_dir(&l), before, "{who:?} {attempt}");
        }
    }
    for wasi in BOTH {
        let l = Layout::new();
        let before = l.inside();
        l.cordon()
            .probe(wasi, &["mkdir-p", "src/.git/hooks"])
            .expect_refused();
        assert_eq!(l.inside(), before, "{wasi:?}");
    }
}

/// HFS+, and Linux's case-folding directories before 6.14, skip Unicode's
/// default-ignorable code points: there `.g\u{200c}it` is `.git`. Such
/// names are refused as `.git` is, in both engines, in every mode, and
/// nothing is made.
#[test]
fn a_name_that_folds_to_git_is_refused_in_both_engines() {
    let names = [".g\u{200c}it", "\u{feff}.git", ".Gi\u{ad}T\u{200b}."];
    for who in everyone_and_unprivileged_landlock() {
        let l = Layout::new();
        hand_over(&l, who);
        let before = (l.inside(), l.outside());
        for name in names {
            let run = sh(&l, who, &[], &format!("mkdir 'src/{name}'"));
            assert_ne!(run.code(), 0, "{who:?} {name:?}: {}", run.stderr());
            assert!(
                l.at(&format!("src/{name}")).symlink_metadata().is_err(),
                "{who:?} {name:?} was made"
            );
        }
        assert_eq!((l.inside(), l.outside()), before, "{who:?}");
    }
    for wasi in BOTH {
        let l = Layout::new();
        let before = l.inside();
        for name in names {
            l.cordon()
                .probe(wasi, &["mkdir-p", &format!("src/{name}/hooks")])
                .expect_refused();
        }
        assert_eq!(l.inside(), before, "{wasi:?}");
    }
}

/// Attack: a core file is a name the kernel makes, where the crashing
/// process stands, past the supervisor; with a core_pattern of `%e` its
/// name is the process's own `comm`, which it may set to `.git` or
/// `HEAD`. No command makes one: the hard limit is 0 and stays so.
#[test]
fn a_command_cannot_dump_core_into_the_tree() {
    if skip_without(&["python3"]) {
        return;
    }
    const CRASH: &str = "import ctypes, os, resource; \
        print(resource.getrlimit(resource.RLIMIT_CORE)); \
        ctypes.CDLL(None).prctl(15, b'.git', 0, 0, 0); \
        hard = resource.getrlimit(resource.RLIMIT_CORE)[1]; \
        resource.setrlimit(resource.RLIMIT_CORE, (hard, hard)); \
        os.chdir('src'); os.abort()";
    for who in everyone_and_unprivileged_landlock() {
        let l = Layout::new();
        hand_over(&l, who);
        let before = (l.inside(), l.outside());
        let run = sh(&l, who, &[], &format!("python3 -c \"{CRASH}\""));
        assert_ne!(run.code(), 0, "{who:?}: {}", run.stderr());
        assert_eq!(run.stdout(), "(0, 0)\n", "{who:?}: {}", run.stderr());
        assert_eq!((l.inside(), l.outside()), before, "{who:?}");
    }
}

/// Attack: a protected path gone when a stage starts gets no stand-in
/// directory when its name can complete a git directory's shape. A
/// directory too deep to list is protected whole; named `refs`, beside
/// `objects`, and removed by another run once this line's plan was made,
/// with a `HEAD` put beside it, it would be made again by the sandbox
/// itself, unjudged, and complete a bare repository.
#[test]
fn a_stand_in_for_a_protected_path_never_completes_a_git_directory() {
    // The protected path is `refs` itself, or a directory below it (the
    // stand-in would make `refs` on its way).
    for below in ["", "x"] {
        let l = Layout::new();
        let deep = l.at(&"d/".repeat(256 - usize::from(!below.is_empty())));
        std::fs::create_dir_all(deep.join("objects")).unwrap();
        std::fs::create_dir_all(deep.join("refs").join(below)).unwrap();
        let mut line = l.cordon().args(["-c", "/bin/sleep 1.5; /bin/sleep 3"]).0;
        let mut running = line
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // What another run, not under this line's sandbox, did meanwhile.
        std::thread::sleep(std::time::Duration::from_millis(700));
        std::fs::remove_dir_all(deep.join("refs")).unwrap();
        std::fs::write(deep.join("HEAD"), "ref: refs/heads/main\n").unwrap();
        // The second stage has started.
        std::thread::sleep(std::time::Duration::from_millis(2000));
        let made = deep.join("refs").symlink_metadata().is_ok();
        running.wait().unwrap();
        assert!(
            !made,
            "{below:?}: the sandbox made refs beside HEAD and objects"
        );
        assert!(deep.join("refs").symlink_metadata().is_err(), "{below:?}");
    }
}

/// A case-folding directory (`chattr +F`) finds names by what they fold
/// to, by rules that changed between kernels: git there could find a
/// `.git` under a name the supervisor let through. No command may make
/// one, in any mode; the refusal comes before the file system's own
/// answer (EOPNOTSUPP here, where nothing folds).
#[test]
fn a_directory_cannot_be_made_case_folding() {
    if skip_without(&["python3"]) {
        return;
    }
    const SET_CASEFOLD: &str = r#"
import fcntl, os, struct
os.mkdir("src/empty")
fd = os.open("src/empty", os.O_RDONLY | os.O_DIRECTORY)
flags = struct.unpack("i", fcntl.ioctl(fd, 0x80086601, struct.pack("i", 0)))[0]
try:
    fcntl.ioctl(fd, 0x40086602, struct.pack("i", flags | 0x40000000))
    print("casefold set")
except OSError as e:
    print("casefold errno", e.errno)
"#;
    for who in everyone_and_unprivileged_landlock() {
        let l = Layout::new();
        std::fs::write(l.at("casefold.py"), SET_CASEFOLD).unwrap();
        hand_over(&l, who);
        let outside = l.outside();
        let run = sh(&l, who, &[], "python3 casefold.py");
        assert_eq!(
            run.expect_code(0).stdout(),
            "casefold errno 1\n",
            "{who:?}: {}",
            run.stderr()
        );
        assert_eq!(l.outside(), outside, "{who:?}");
    }
}

/// btrfs makes subvolumes and snapshots by ioctl, not by a call that makes
/// a name: a `.git` made so would pass the supervisor, and a snapshot of
/// the root would copy its secret files where no mount covers them. The
/// requests are refused before any file system sees them, in every mode
/// (here on whatever file system the test runs: without the refusal a
/// file system other than btrfs answers ENOTTY).
const BTRFS_NAMES: &str = r#"
import fcntl, os, struct
root = os.open(".", os.O_RDONLY | os.O_DIRECTORY)
# struct btrfs_ioctl_vol_args and _v2 are 4096 bytes; the name ends both.
v1 = struct.pack("<q", root) + b".git".ljust(4088, b"\0")
v2 = struct.pack("<qQQ", root, 0, 0) + bytes(32) + b".git".ljust(4040, b"\0")
for name, request, args in (("snap_create", 0x50009401, v1), ("subvol_create", 0x5000940e, v1),
                            ("snap_create_v2", 0x50009417, v2), ("subvol_create_v2", 0x50009418, v2)):
    try:
        fcntl.ioctl(root, request, bytearray(args))
        print(f"{name}: made")
    except OSError as e:
        print(f"{name}: errno {e.errno}")
"#;

#[test]
fn a_btrfs_subvolume_or_snapshot_cannot_be_made() {
    if skip_without(&["python3"]) {
        return;
    }
    for who in everyone_and_unprivileged_landlock() {
        let l = Layout::new();
        std::fs::write(l.at("btrfs.py"), BTRFS_NAMES).unwrap();
        hand_over(&l, who);
        let (before_out, before_in) = (l.outside(), l.inside());
        let run = sh(&l, who, &[], "python3 btrfs.py");
        run.expect_code(0);
        let refused: Vec<String> = [
            "snap_create",
            "subvol_create",
            "snap_create_v2",
            "subvol_create_v2",
        ]
        .iter()
        .map(|name| format!("{name}: errno {}", libc::EPERM))
        .collect();
        assert_eq!(run.stdout().lines().collect::<Vec<_>>(), refused, "{who:?}");
        assert_eq!(l.inside(), before_in, "{who:?}");
        assert_eq!(l.outside(), before_out, "{who:?}");
    }
}

/// What the supervisor makes for a command is what the kernel would have
/// made: modes under its umask, files opened through symlinks, renames
/// and links, in every native mode.
#[test]
fn names_other_than_git_are_made_as_the_kernel_makes_them() {
    for who in everyone_and_unprivileged_landlock() {
        let l = Layout::new();
        let run = sh(
            &l,
            who,
            &[],
            "umask 027 && cd src && mkdir d && echo a > f && ln -s f link && echo b >> link && \
             ln f hard && mv hard moved && ln -s missing dangling && echo c > dangling && \
             mkfifo pipe && stat -c '%n %a %F' d f link moved missing pipe | sort",
        );
        assert_eq!(run.code(), 0, "{who:?}: {}", run.stderr());
        assert_eq!(
            run.stdout(),
            "d 750 directory\nf 640 regular file\nlink 777 symbolic link\n\
             missing 640 regular file\nmoved 640 regular file\npipe 640 fifo\n",
            "{who:?}"
        );
        assert_eq!(std::fs::read_to_string(l.at("src/f")).unwrap(), "a\nb\n");
        assert_eq!(std::fs::read_to_string(l.at("src/missing")).unwrap(), "c\n");
    }
    if skip_without(&["python3"]) {
        return;
    }
    // An absolute path whatever the directory descriptor (the kernel
    // ignores it, even an invalid one); O_CREAT with O_PATH makes nothing;
    // bind makes a socket, relative to the command's directory or not,
    // under its umask, but none named .git; symlink(2), which Python
    // calls, as symlinkat.
    let script = "import os, socket, stat\n\
        os.mkdir(os.path.abspath('src/abs'), dir_fd=987)\n\
        os.open('src/f', os.O_PATH | os.O_CREAT)\n\
        try: os.open('src/none', os.O_PATH | os.O_CREAT)\n\
        except FileNotFoundError: print('not made')\n\
        os.umask(0o027)\n\
        for path in ['src/sock', os.path.abspath('src/sock2'), '\\0abstract']:\n\
        \x20 a, b = socket.socketpair(); a.bind(path)\n\
        print(oct(stat.S_IMODE(os.stat('src/sock').st_mode)), stat.S_ISSOCK(os.stat('src/sock2').st_mode))\n\
        try: socket.socketpair()[0].bind('src/.git')\n\
        except PermissionError: print('no .git')\n\
        os.symlink('f', 'src/pylink'); print(os.readlink('src/pylink'))\n";
    for who in everyone_and_unprivileged_landlock() {
        let l = Layout::new();
        std::fs::write(l.at("src/f"), "").unwrap();
        let run = crate::native::native_command(&l, who, &[], &["python3", "-c", script])
            .output()
            .map(crate::support::Run)
            .expect("running cordon");
        assert_eq!(
            run.stdout(),
            "not made\n0o750 True\nno .git\nf\n",
            "{who:?}: {}",
            run.stderr()
        );
        assert!(l.at("src/abs").is_dir(), "{who:?}");
    }
}

/// A file made without a name (O_TMPFILE) is published by linking its
/// descriptor table entry, `/proc/self/fd/N`: the supervisor, which makes
/// the link, takes that entry as the command's descriptor, never as its
/// own, whose files (its lock, its stand-ins) no command may link into
/// the tree. A name made through a magic link of /proc is refused.
#[test]
fn an_unnamed_file_is_published_through_the_commands_own_descriptor() {
    if skip_without(&["python3"]) {
        return;
    }
    let script = "import os\n\
        fd = os.open('src', os.O_TMPFILE | os.O_WRONLY, 0o640)\n\
        os.write(fd, b'made unnamed\\n')\n\
        src = os.open('src', os.O_RDONLY | os.O_DIRECTORY)\n\
        os.link(f'/proc/self/fd/{fd}', 'published', dst_dir_fd=src, follow_symlinks=True)\n\
        for n in [m for m in range(3, 64) if m not in (fd, src)]:\n\
        \x20 try: os.link(f'/proc/self/fd/{n}', f'taken{n}', dst_dir_fd=src, follow_symlinks=True); print('taken', n)\n\
        \x20 except OSError: pass\n\
        \x20 os.symlink(f'/proc/self/fd/{n}', 'src/lp')\n\
        \x20 try: os.link('src/lp', f'via{n}', dst_dir_fd=src, follow_symlinks=True); print('taken via a link', n)\n\
        \x20 except OSError: pass\n\
        \x20 os.unlink('src/lp')\n\
        try: os.mkdir('/proc/self/cwd/src/through-proc'); print('made through /proc')\n\
        except OSError: pass\n";
    for who in everyone_and_unprivileged_landlock() {
        let l = Layout::new();
        hand_over(&l, who);
        let outside = l.outside();
        let run = crate::native::native_command(&l, who, &[], &["python3", "-c", script])
            .output()
            .map(crate::support::Run)
            .expect("running cordon");
        assert_eq!(run.code(), 0, "{who:?}: {}", run.stderr());
        assert_eq!(run.stdout(), "", "{who:?}");
        assert_eq!(
            std::fs::read_to_string(l.at("src/published")).unwrap(),
            "made unnamed\n",
            "{who:?}"
        );
        let mut made: Vec<_> = std::fs::read_dir(l.at("src"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        made.sort();
        assert_eq!(made, ["main.rs", "published"], "{who:?}");
        assert_eq!(l.outside(), outside, "{who:?}");
    }
}

/// A writable grant into a git directory is refused, with one line, before
/// anyone is asked: the directory stays read-only, so granting it would
/// be a grant that silently does nothing.
#[test]
fn a_writable_grant_into_a_git_directory_is_refused_not_ignored() {
    if skip_without(&["git"]) {
        return;
    }
    let l = Layout::new();
    let (_, git_dir) = LAYOUTS[0].1(&l);
    let approver = crate::support::script("y\ny\n");
    let before = l.inside();
    let hooks = l.at(&format!("{git_dir}/hooks"));
    let touch = format!("{}/planted", hooks.display());
    let (bare, objects) = (l.at(git_dir), l.at(&format!("{git_dir}/objects")));
    let writable_hooks = format!("writable={}", hooks.display());
    for grant in [
        ["--writable", bare.to_str().unwrap()],
        ["--writable", objects.to_str().unwrap()],
        ["--escalate", &writable_hooks],
    ] {
        let run = l
            .cordon()
            .args(["--engine", "native", "--approver", &approver])
            .args(grant.iter().copied())
            .args(["--", "touch", &touch])
            .output();
        run.expect_code(126);
        assert!(
            run.stderr().contains("cannot be honoured"),
            "{grant:?}: {}",
            run.stderr()
        );
        assert_eq!(l.inside(), before, "{grant:?}");
    }
}

/// A gitfile anywhere (in a hidden directory, in node_modules) names a git
/// directory as well as one at the top: its target stays read-only, and
/// a `.git` protected by its name alone cannot have its files' times set
/// through a descriptor either.
#[test]
fn git_directories_named_from_hidden_places_are_protected_in_wasi() {
    if skip_without(&["git"]) {
        return;
    }
    let l = Layout::new();
    std::fs::create_dir_all(l.at("store")).unwrap();
    for (work, git_dir) in [
        (".hidden/vendor", "store/vendor.git"),
        ("node_modules/dep", "store/dep.git"),
    ] {
        std::fs::create_dir_all(l.at(work)).unwrap();
        git(
            &l.root,
            &[
                "init",
                "-q",
                &format!("--separate-git-dir={}", l.at(git_dir).display()),
                work,
            ],
        );
    }
    git(&l.at("node_modules"), &["init", "-q", "pkg"]);
    let before = l.inside();
    for wasi in BOTH {
        for attempt in [
            &["write", "store/vendor.git/hooks/post-checkout", "planted"][..],
            &["write", "store/dep.git/config", "planted"],
            &["touch-fd", "node_modules/pkg/.git/config"],
        ] {
            l.cordon().probe(wasi, attempt).expect_refused();
        }
    }
    assert_eq!(l.inside(), before);
}

/// Every layout with a plain `.git` directory first: the work tree and the
/// git directory, relative to the root.
fn every_layout() -> Vec<(&'static str, Make)> {
    let plain: Make = |l| {
        std::fs::remove_dir_all(l.at(".git")).unwrap();
        git(&l.root, &["init", "-q", "."]);
        (".", ".git")
    };
    [("plain", plain)]
        .into_iter()
        .chain(LAYOUTS.iter().copied())
        .collect()
}

/// What the command runs under the grant: a real commit, then the attack.
fn commit_then_plant(work: &str, git_dir: &str, marker: &Path) -> String {
    format!(
        "cd {work} && echo change > file.txt && git add file.txt && \
         git -c user.name=a -c user.email=a@a commit -q -m by-the-agent && cd - >/dev/null && \
         {plant}; rm -f {git_dir}/description; ln -s /tmp {git_dir}/info/linked",
        plant = plant(git_dir, marker)
    )
}

/// Whether the root's repository has a commit (HEAD resolves).
fn head_resolves(l: &Layout) -> bool {
    Command::new("git")
        .args([
            "-c",
            "safe.directory=*",
            "rev-parse",
            "-q",
            "--verify",
            "HEAD",
        ])
        .current_dir(&l.root)
        .output()
        .unwrap()
        .status
        .success()
}

/// Attacks on the git-commit grant's copy-back. (1) A commit whose index
/// holds `evil/HEAD`, `evil/objects/..` and `evil/refs/..`: kept, the
/// next checkout would make a bare repository in the work tree, whose
/// config git run there obeys. (2) A run hides a `HEAD` kept by an earlier
/// one (its removal is not kept) and adds `refs` beside it: kept, the
/// copy-back itself would complete a bare repository inside `.git`. (3) A
/// commit written by hand whose tree holds one, the index left plain. (4)
/// A commit that completes one with what lies untracked beside it. (5) A
/// `GIT_DIR` naming a directory outside. None is kept.
#[test]
fn an_approved_commit_cannot_carry_or_complete_a_git_directory() {
    if skip_without(&["git"]) || !crate::native::is_root() {
        return;
    }
    let l = Layout::new();
    std::fs::remove_dir_all(l.at(".git")).unwrap();
    git(&l.root, &["init", "-q", "."]);
    let approver = crate::support::script("y\ny\n");
    let flags = ["--escalate", "git-commit", "--approver", &approver];
    let stage = "printf '[core]\\n\\tbare = false\\n' > c && blob=$(git hash-object -w c) && \
        for p in evil/HEAD evil/config evil/objects/k evil/refs/k; do \
        git update-index --add --cacheinfo 100644,$blob,$p; done && \
        git -c user.name=a -c user.email=a@a commit -q -m carried";
    let run = sh(&l, Who::Root, &flags, stage);
    assert!(run.stderr().contains("git directory"), "{}", run.stderr());
    let listed = Command::new("git")
        .args(["-c", "safe.directory=*", "ls-files"])
        .current_dir(&l.root)
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&listed.stdout).contains("evil/"),
        "the index was kept"
    );
    // (3) The same tree, in a commit written by hand, the index left plain.
    let by_hand = "printf x > c && blob=$(git hash-object -w c) && \
        export GIT_INDEX_FILE=$TMPDIR/other && \
        for p in evil2/HEAD evil2/objects/k evil2/refs/k; do \
        git update-index --add --cacheinfo 100644,$blob,$p; done && \
        commit=$(git -c user.name=a -c user.email=a@a commit-tree -m by-hand $(git write-tree)) && \
        git update-ref HEAD $commit";
    // (4) A commit of `d/HEAD` alone, beside an untracked `d/objects` and
    // `d/refs` the command made: a checkout would complete the shape.
    let split = "mkdir -p d/objects d/refs && echo x > d/objects/k && echo x > d/refs/k && \
        h=$(printf 'ref: refs/heads/main\\n' | git hash-object -w --stdin) && \
        git update-index --add --cacheinfo 100644,$h,d/HEAD && \
        git -c user.name=a -c user.email=a@a commit -q -m split";
    for (script, shaped) in [(by_hand, "evil2"), (split, "d")] {
        let run = sh(&l, Who::Root, &flags, script);
        assert!(run.stderr().contains("git directory"), "{}", run.stderr());
        assert!(!head_resolves(&l), "{shaped}: the commit was kept");
    }
    // (5) A directory the environment names as GIT_DIR is none of the
    // root's repositories: the grant writes nothing there.
    let elsewhere = l.base.join("outside/named");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let before = l.outside();
    let env = format!("GIT_DIR={}", elsewhere.display());
    let named = [&flags[..], &["--env", &env]].concat();
    sh(
        &l,
        Who::Root,
        &named,
        "printf x > $GIT_DIR/HEAD; mkdir -p $GIT_DIR/refs; echo x > $GIT_DIR/refs/k",
    );
    assert_eq!(l.outside(), before);
    let shaped = ".git/refs/y";
    let first = format!(
        "mkdir -p {shaped}/objects && echo 0 > {shaped}/objects/k && echo ref > {shaped}/HEAD"
    );
    sh(&l, Who::Root, &flags, &first).expect_code(0);
    assert!(l.at(&format!("{shaped}/HEAD")).exists());
    let second = format!("rm {shaped}/HEAD && mkdir {shaped}/refs && echo 0 > {shaped}/refs/k");
    let run = sh(&l, Who::Root, &flags, &second);
    assert!(run.stderr().contains("a git directory"), "{}", run.stderr());
    assert!(l.at(&format!("{shaped}/refs")).symlink_metadata().is_err());
}

/// The git-commit grant: an approved command commits, in every layout, as
/// root and unprivileged; what git executes or obeys (hooks, config,
/// info/) never changes, however the same command writes it, and git run
/// outside cordon afterwards runs no planted hook. Without a mount
/// namespace, or for a WASI tool, the grant is refused with one line.
#[test]
fn an_approved_commit_keeps_only_what_a_commit_writes() {
    if skip_without(&["git"]) {
        return;
    }
    for (name, make) in every_layout() {
        for who in everyone_and_unprivileged_landlock() {
            let l = Layout::new();
            let (work, git_dir) = make(&l);
            let marker = l.base.join("outside/hook-ran");
            hand_over(&l, who);
            let config = std::fs::read(l.at(&format!("{git_dir}/config"))).unwrap();
            let audit = l.base.join("outside/audit.jsonl");
            let approver = crate::support::script("y\n");
            let flags = [
                "--escalate",
                "git-commit",
                "--approver",
                &approver,
                "--audit",
                audit.to_str().unwrap(),
            ];
            let before = l.inside();
            let run = sh(&l, who, &flags, &commit_then_plant(work, git_dir, &marker));
            if matches!(who, Who::LandlockOnly | Who::NobodyLandlockOnly) {
                run.expect_code(126);
                assert!(
                    run.stderr().contains("cannot do with --no-namespaces"),
                    "{name} {who:?}: {}",
                    run.stderr()
                );
                assert_eq!(l.inside(), before, "{name} {who:?}");
                continue;
            }
            let stderr = run.stderr();
            assert_eq!(run.code(), 0, "{name} {who:?}: {stderr}");
            let log = Command::new("git")
                .args(["-c", "safe.directory=*", "log", "-1", "--format=%s"])
                .current_dir(l.at(work))
                .output()
                .unwrap();
            assert_eq!(
                String::from_utf8_lossy(&log.stdout).trim(),
                "by-the-agent",
                "{name} {who:?}: the commit was not kept: {stderr}"
            );
            let status = Command::new("git")
                .args(["-c", "safe.directory=*", "status", "--porcelain", "-uno"])
                .current_dir(l.at(work))
                .output()
                .unwrap();
            assert_eq!(
                String::from_utf8_lossy(&status.stdout),
                "",
                "{name} {who:?}: the index was not kept"
            );
            let at = |rel: &str| l.at(&format!("{git_dir}/{rel}"));
            assert_eq!(
                std::fs::read(at("config")).unwrap(),
                config,
                "{name} {who:?}"
            );
            assert!(!at("hooks/pre-commit").exists(), "{name} {who:?}");
            assert!(
                at("info/linked").symlink_metadata().is_err(),
                "{name} {who:?}"
            );
            let planted = at("hooks/pre-commit").display().to_string();
            assert!(
                stderr.contains(&format!(
                    "{planted}: written in the git directory; not kept"
                )),
                "{name} {who:?}: {stderr}"
            );
            let lines = crate::support::audit_lines(&audit);
            assert!(
                crate::support::events(&lines, "violation")
                    .iter()
                    .any(|v| v["target"] == planted.as_str()),
                "{name} {who:?}: the audit does not record what was left"
            );
            assert!(
                !a_hook_ran(&l.at(work), &marker),
                "{name} {who:?}: a planted hook ran"
            );
        }
    }
    for wasi in BOTH {
        let l = Layout::new();
        let approver = crate::support::script("y\n");
        let before = l.inside();
        let run = l
            .cordon()
            .args(["--escalate", "git-commit", "--approver", &approver])
            .probe(wasi, &["write", ".git/hooks/pre-commit", "planted"]);
        run.expect_code(126);
        assert!(
            run.stderr().contains("applies to native commands"),
            "{}",
            run.stderr()
        );
        assert_eq!(l.inside(), before, "{wasi:?}");
    }
}

/// on-failure: a commit that failed on the read-only git directory is
/// offered the git-commit grant, not a run without the sandbox.
#[test]
fn a_commit_that_failed_is_offered_the_git_commit_grant() {
    if skip_without(&["git"]) {
        return;
    }
    let l = Layout::new();
    std::fs::remove_dir_all(l.at(".git")).unwrap();
    git(&l.root, &["init", "-q", "."]);
    std::fs::write(l.at("file.txt"), "change\n").unwrap();
    let approver = crate::support::script("y\n");
    let run = sh(
        &l,
        Who::Root,
        &["--approval", "on-failure", "--approver", &approver],
        "git add file.txt && git -c user.name=a -c user.email=a@a commit -q -m retried",
    );
    let stderr = run.stderr();
    assert!(
        stderr.contains("asking to retry with git-commit"),
        "{stderr}"
    );
    assert_eq!(run.code(), 0, "{stderr}");
    let log = Command::new("git")
        .args(["log", "-1", "--format=%s"])
        .current_dir(&l.root)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&log.stdout).trim(), "retried");
}

/// What a command can write under the grant that git would obey or that
/// would lose the user's work is not kept: an index naming a path in
/// `.git` (git writes it on the next checkout: a hook) or hiding a change
/// (skip-worktree), removed objects, refs and HEAD, a git directory's own
/// symlink to another store replaced to write there, the command's modes.
#[test]
fn the_git_commit_grant_keeps_nothing_a_commit_would_not_write() {
    if skip_without(&["git", "python3"]) {
        return;
    }
    let l = Layout::new();
    std::fs::remove_dir_all(l.at(".git")).unwrap();
    git(&l.root, &["init", "-q", "."]);
    git(&l.root, &["add", "-A"]);
    git(&l.root, &["commit", "-q", "-m", "first"]);
    let approver = crate::support::script("y\n");
    let flags = ["--escalate", "git-commit", "--approver", &approver];
    let index_before = std::fs::read(l.at(".git/index")).unwrap_or_default();
    let patch = "import hashlib,sys; p='.git/index'; b=open(p,'rb').read()[:-20]; \
                 b=b.replace(b'Xgit/hooks', b'.git/hooks'); \
                 open(p,'wb').write(b+hashlib.sha1(b).digest())";
    let run = sh(
        &l,
        Who::Root,
        &flags,
        &format!(
            "b=$(printf '#!/bin/sh\\ntouch {marker}\\n' | git hash-object -w --stdin) && \
             git update-index --add --cacheinfo 100755,$b,Xgit/hooks/post-checkout && \
             python3 -c \"{patch}\" && \
             rm -rf .git/HEAD .git/refs/heads/* && chmod 777 .git/COMMIT_EDITMSG 2>/dev/null; \
             echo msg > .git/COMMIT_EDITMSG && chmod 777 .git/COMMIT_EDITMSG",
            marker = l.base.join("outside/hook-ran").display()
        ),
    );
    let stderr = run.stderr();
    assert_eq!(run.code(), 0, "{stderr}");
    assert!(
        stderr.contains("the index names .git/hooks/post-checkout"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(l.at(".git/index")).unwrap_or_default(),
        index_before
    );
    assert!(l.at(".git/HEAD").exists(), "HEAD was removed");
    git(&l.root, &["log", "-1"]);
    let mode = std::fs::metadata(l.at(".git/COMMIT_EDITMSG"))
        .unwrap()
        .permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o644
    );
    git(&l.root, &["checkout", "-q", "--", "."]);
    assert!(
        !l.at(".git/hooks/post-checkout").exists(),
        "the index wrote a hook"
    );
    // `objects` leads to a store outside the root, as git-new-workdir lays
    // it out: it is not written through, nor replaced by a directory in the
    // layer (making `objects` again would shape a git directory anew).
    let store = l.base.join("outside/store");
    std::fs::rename(l.at(".git/objects"), &store).unwrap();
    std::os::unix::fs::symlink(&store, l.at(".git/objects")).unwrap();
    let run = sh(
        &l,
        Who::Root,
        &flags,
        "mkdir -p .git/objects/zz; echo planted > .git/objects/zz/x; \
         rm .git/objects && mkdir -p .git/objects/zz && echo planted > .git/objects/zz/x",
    );
    assert_ne!(run.code(), 0, "{}", run.stderr());
    assert!(
        !store.join("zz").exists(),
        "written through the objects symlink"
    );
    assert!(
        l.at(".git/objects")
            .symlink_metadata()
            .unwrap()
            .is_symlink()
    );
}

/// A grant cordon would keep only half of is refused before anyone is
/// asked: refs in a reftable.
#[test]
fn a_commit_cordon_cannot_keep_whole_is_refused() {
    if skip_without(&["git"]) {
        return;
    }
    let l = Layout::new();
    std::fs::remove_dir_all(l.at(".git")).unwrap();
    let made = Command::new("git")
        .args(["init", "-q", "--ref-format=reftable", "."])
        .current_dir(&l.root)
        .status()
        .unwrap();
    if !made.success() {
        return crate::support::skip("this git has no reftable");
    }
    let approver = crate::support::script("y\n");
    let before = l.inside();
    let run = sh(
        &l,
        Who::Root,
        &["--escalate", "git-commit", "--approver", &approver],
        "git commit -q --allow-empty -m x",
    );
    run.expect_code(126);
    assert!(run.stderr().contains("reftable"), "{}", run.stderr());
    assert_eq!(l.inside(), before);
}

/// The directories on the way to a nested `.git` symlink are pinned: moved,
/// a relative link would lead to a git directory the command made.
#[test]
fn the_way_to_a_nested_git_symlink_cannot_be_moved() {
    if skip_without(&["git"]) {
        return;
    }
    for who in everyone() {
        let l = Layout::new();
        LAYOUTS[1].1(&l);
        hand_over(&l, who);
        let run = sh(&l, who, &[], "mv sub moved");
        assert_ne!(run.code(), 0, "{who:?}");
        assert!(l.at("sub/.git").symlink_metadata().is_ok(), "{who:?}");
    }
}

/// Whether `dir` has the entries git takes for a git directory.
fn git_dir_shaped(dir: &Path) -> bool {
    let has = |name: &str| dir.join(name).symlink_metadata().is_ok();
    has("HEAD") && (has("commondir") || (has("objects") && has("refs")))
}

/// Attack: plant a bare repository (HEAD beside objects and refs, or
/// beside commondir) with a config git obeys: git run in that directory
/// afterwards, outside cordon, takes it for a repository of its own and
/// runs what its config says (core.fsmonitor). Every order of the entries,
/// by making, moving or linking them in, is refused in both engines.
#[test]
fn a_bare_repository_cannot_be_planted_in_either_engine() {
    let head = "printf 'ref: refs/heads/main\\n'";
    let attempts = [
        format!("mkdir src/objects src/refs; {head} > src/HEAD"),
        format!("{head} > src/HEAD; mkdir src/objects; mkdir src/refs"),
        "touch src/HEAD; mkdir src/refs; mkdir x; mv x src/objects".into(),
        "touch src/HEAD; echo ../../.git > src/commondir".into(),
        "mkdir src/objects src/refs; touch y; ln y src/HEAD".into(),
        "mkdir src/objects src/refs; touch y; mv y src/HEAD".into(),
        "mkdir src/objects src/refs; ln -s ../a.txt src/HEAD".into(),
        "mkdir src/objects src/refs; ln -s HEAD src/h; echo x > src/h".into(),
        "mkdir src/objects src/refs; python3 -c \"import os; os.mknod('src/HEAD')\"".into(),
        "git init -q --bare src".into(),
        // A socket is an entry too (git only asks objects and refs for
        // access(X_OK)): bind makes one, on a socketpair's socket.
        format!(
            "{head} > src/HEAD; mkdir src/objects; python3 -c \"import socket; \
             a, b = socket.socketpair(); a.bind('src/refs')\""
        ),
    ];
    let marker = |l: &Layout| l.base.join("outside/fsmonitor-ran");
    let after = |l: &Layout, who: &dyn std::fmt::Debug, attempt: &str| {
        assert!(!git_dir_shaped(&l.at("src")), "{who:?} {attempt}: planted");
        // git outside cordon, in that directory.
        let _ = Command::new("git")
            .args(["status", "--short"])
            .current_dir(l.at("src"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output();
        assert!(!marker(l).exists(), "{who:?} {attempt}: fsmonitor ran");
    };
    for who in everyone_and_unprivileged_landlock() {
        for attempt in &attempts {
            let l = Layout::new();
            let config = format!(
                "printf '[core]\\n\\tfsmonitor = touch {}\\n\\tworktree = ..\\n' > src/config",
                marker(&l).display()
            );
            let run = sh(&l, who, &[], &format!("{config}; {attempt}"));
            assert_ne!(run.code(), 0, "{who:?} {attempt}: {}", run.stderr());
            after(&l, &who, attempt);
        }
    }
    // WASI: each order of the three entries, one call per run; the one
    // that would complete the shape is refused.
    let orders: [[&[&str]; 3]; 3] = [
        [
            &["mkdir", "src/objects"],
            &["mkdir", "src/refs"],
            &["write", "src/HEAD", "x"],
        ],
        [
            &["write", "src/HEAD", "x"],
            &["mkdir", "src/refs"],
            &["mkdir", "src/objects"],
        ],
        [
            &["mkdir", "src/objects"],
            &["write", "src/HEAD", "x"],
            &["write", "src/commondir", ".."],
        ],
    ];
    for wasi in BOTH {
        for order in &orders {
            let l = Layout::new();
            for step in &order[..2] {
                l.cordon().probe(wasi, step).expect_code(0);
            }
            let before = l.inside();
            l.cordon().probe(wasi, order[2]).expect_refused();
            assert_eq!(l.inside(), before, "{wasi:?} {order:?}");
            after(&l, &wasi, &format!("{order:?}"));
        }
        let l = Layout::new();
        for step in [
            &["mkdir", "x"][..],
            &["mkdir", "src/objects"],
            &["mkdir", "src/refs"],
        ] {
            l.cordon().probe(wasi, step).expect_code(0);
        }
        l.cordon()
            .probe(wasi, &["write", "x/HEAD", "x"])
            .expect_code(0);
        l.cordon()
            .probe(wasi, &["rename", "x/HEAD", "src/HEAD"])
            .expect_refused();
        after(&l, &wasi, "rename");
    }
}

/// A bare repository already in the root (a test fixture, say) is a git
/// directory like any other, however deep: read-only to both engines.
#[test]
fn an_existing_bare_repository_stays_read_only() {
    if skip_without(&["git"]) {
        return;
    }
    let deep = format!("{}fixtures/r.git", "d/".repeat(40));
    let fixtures = |l: &Layout| {
        git(&l.root, &["init", "-q", "--bare", "fixtures/r.git"]);
        git(&l.root, &["init", "-q", "--bare", &deep]);
    };
    for who in everyone_and_unprivileged_landlock() {
        let l = Layout::new();
        fixtures(&l);
        hand_over(&l, who);
        let before = l.inside();
        let run = sh(
            &l,
            who,
            &[],
            &format!(
                "echo '[core] fsmonitor = true' >> fixtures/r.git/config; \
                 touch fixtures/r.git/hooks/pre-commit; mv fixtures/r.git fixtures/moved; \
                 echo '[core] pager = true' >> {deep}/config"
            ),
        );
        assert_ne!(run.code(), 0, "{who:?}: {}", run.stderr());
        assert_eq!(l.inside(), before, "{who:?}");
    }
    for wasi in BOTH {
        let l = Layout::new();
        fixtures(&l);
        let before = l.inside();
        for config in [
            "fixtures/r.git/config".to_string(),
            format!("{deep}/config"),
        ] {
            l.cordon()
                .probe(wasi, &["append", &config, "[core] fsmonitor = true"])
                .expect_refused();
        }
        assert_eq!(l.inside(), before, "{wasi:?}");
    }
}

/// Attack: two stages of one line (each with its own supervisor, or its
/// own WASI guard) each add one of a bare repository's last two entries,
/// each having seen the other missing. The check and the making are one
/// step under a lock every maker shares: one of the two is refused.
#[test]
fn two_stages_cannot_race_a_bare_repository_together() {
    if skip_without(&["python3"]) {
        return;
    }
    // Each reports on stderr (a stage's stdout is the next one's input).
    let racer = "import os, sys, time\n\
        me, other = sys.argv[1], sys.argv[2]\n\
        end, made = time.time() + 2, 0\n\
        while time.time() < end:\n\
        \x20 try: os.mkdir(\"src/\" + me)\n\
        \x20 except OSError: continue\n\
        \x20 made += 1\n\
        \x20 if os.path.exists(\"src/\" + other): sys.stderr.write(\"both made\\n\"); break\n\
        \x20 os.rmdir(\"src/\" + me)\n\
        sys.stderr.write(f\"{me} made {made} times\\n\")\n";
    let l = Layout::new();
    std::fs::write(l.at("src/HEAD"), "ref: refs/heads/main\n").unwrap();
    let line = format!("python3 -c '{racer}' objects refs | python3 -c '{racer}' refs objects");
    let run = l.cordon().args(["--", "sh", "-c", &line]).output();
    let stderr = run.stderr();
    assert!(
        stderr.contains("objects made") && stderr.contains("refs made"),
        "the racers did not run: {stderr}"
    );
    assert!(!stderr.contains("both made"), "{stderr}");
    assert!(!git_dir_shaped(&l.at("src")));
    // The way to the directory moved between the check and the making:
    // one stage makes `d/objects` while another swaps `d` (HEAD and refs)
    // with an empty `e` (renameat2 RENAME_EXCHANGE).
    std::fs::remove_file(l.at("src/HEAD")).unwrap();
    for dir in ["src/d/refs", "src/e"] {
        std::fs::create_dir_all(l.at(dir)).unwrap();
    }
    std::fs::write(l.at("src/d/HEAD"), "ref: refs/heads/main\n").unwrap();
    // Shaped as one directory is: its entries looked at from one
    // descriptor (by path, a swap between two lookups mixes d and e).
    let maker = "import os, sys, time\n\
        def has(fd, n):\n\
        \x20 try: return os.stat(n, dir_fd=fd, follow_symlinks=False) is not None\n\
        \x20 except OSError: return False\n\
        def shaped(d):\n\
        \x20 fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)\n\
        \x20 try: return all(has(fd, n) for n in (\"HEAD\", \"objects\", \"refs\"))\n\
        \x20 finally: os.close(fd)\n\
        end, made = time.time() + 2, 0\n\
        while time.time() < end:\n\
        \x20 try: os.mkdir(\"src/d/objects\")\n\
        \x20 except OSError: continue\n\
        \x20 made += 1\n\
        \x20 if shaped(\"src/d\") or shaped(\"src/e\"): sys.stderr.write(\"both made\\n\"); break\n\
        \x20 for d in (\"src/d\", \"src/e\"):\n\
        \x20\x20 try: os.rmdir(d + \"/objects\")\n\
        \x20\x20 except OSError: pass\n\
        sys.stderr.write(f\"objects made {made} times\\n\")\n";
    let swapper = "import ctypes, sys, time\n\
        libc = ctypes.CDLL(None, use_errno=True)\n\
        end, swapped = time.time() + 2, 0\n\
        while time.time() < end:\n\
        \x20 swapped += libc.syscall(316, -100, b\"src/d\", -100, b\"src/e\", 2) == 0\n\
        sys.stderr.write(f\"swapped {swapped} times\\n\")\n";
    let line = format!("python3 -c '{maker}' | python3 -c '{swapper}'");
    let run = l.cordon().args(["--", "sh", "-c", &line]).output();
    let stderr = run.stderr();
    assert!(
        stderr.contains("objects made") && stderr.contains("swapped"),
        "the racers did not run: {stderr}"
    );
    assert!(!stderr.contains("both made"), "{stderr}");
    for dir in ["src/d", "src/e"] {
        assert!(!git_dir_shaped(&l.at(dir)), "{dir}");
    }
    std::fs::write(l.at("src/HEAD"), "ref: refs/heads/main\n").unwrap();
    // WASI: fresh runs of two built-in mkdirs at once, each the last entry.
    for _ in 0..40 {
        l.cordon()
            .args(["--", "sh", "-c", "mkdir src/objects | mkdir src/refs"])
            .output();
        assert!(!git_dir_shaped(&l.at("src")), "both were made");
        for made in ["src/objects", "src/refs"] {
            let _ = std::fs::remove_dir(l.at(made));
        }
    }
}

/// Attack: plant a hook where `core.hooksPath` points (husky's
/// `.husky/_`), a directory of the work tree: git outside runs it at the
/// next commit. It is protected like the git directory, in both engines.
#[test]
fn the_hooks_directory_core_hookspath_names_stays_read_only() {
    if skip_without(&["git"]) {
        return;
    }
    let hook = |marker: &Path| {
        format!(
            "printf '#!/bin/sh\\ntouch {}\\n' > .husky/_/pre-commit; chmod +x .husky/_/pre-commit",
            marker.display()
        )
    };
    let setup = || {
        let l = Layout::new();
        std::fs::remove_dir_all(l.at(".git")).unwrap();
        git(&l.root, &["init", "-q"]);
        git(&l.root, &["config", "core.hooksPath", ".husky/_"]);
        std::fs::create_dir_all(l.at(".husky/_")).unwrap();
        l
    };
    for who in everyone_and_unprivileged_landlock() {
        let l = setup();
        let marker = l.base.join("outside/hook-ran");
        hand_over(&l, who);
        let before = l.inside();
        let run = sh(&l, who, &[], &hook(&marker));
        assert_ne!(run.code(), 0, "{who:?}: {}", run.stderr());
        assert_eq!(l.inside(), before, "{who:?}");
        assert!(
            !a_hook_ran(&l.root, &marker),
            "{who:?}: the planted hook ran"
        );
    }
    for wasi in BOTH {
        let l = setup();
        let before = l.inside();
        l.cordon()
            .probe(wasi, &["write", ".husky/_/pre-commit", "#!/bin/sh\n"])
            .expect_refused();
        assert_eq!(l.inside(), before, "{wasi:?}");
    }
}

/// A directory cordon cannot list (a command took away its read
/// permission, keeping search) hides the repository below it from the
/// walk: it is protected whole instead, so the hook below cannot be
/// written through it, unprivileged natively with and without namespaces.
#[test]
fn a_directory_cordon_cannot_list_is_protected_whole() {
    if skip_without(&["git"]) {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    for who in [Who::Nobody, Who::NobodyLandlockOnly] {
        if !everyone().contains(&Who::Nobody) {
            return;
        }
        let l = Layout::new();
        std::fs::create_dir_all(l.at("hidden/repo")).unwrap();
        git(&l.at("hidden/repo"), &["init", "-q"]);
        let marker = l.base.join("outside/hook-ran");
        hand_over(&l, who);
        let mode = |bits| std::fs::Permissions::from_mode(bits);
        std::fs::set_permissions(l.at("hidden"), mode(0o311)).unwrap();
        let before = l.inside();
        let run = sh(&l, who, &[], &plant("hidden/repo/.git", &marker));
        assert_ne!(run.code(), 0, "{who:?}: {}", run.stderr());
        assert!(
            run.stderr().contains("cannot be listed"),
            "{}",
            run.stderr()
        );
        assert_eq!(l.inside(), before, "{who:?}: the hidden repository changed");
        std::fs::set_permissions(l.at("hidden"), mode(0o755)).unwrap();
        assert!(
            !a_hook_ran(&l.at("hidden/repo"), &marker),
            "{who:?}: a planted hook ran"
        );
    }
}

/// The walk that finds git directories remembers each directory's listing
/// between runs and lists again only those whose identity changed
/// (host/src/gitdirs/survey.rs): a repository made after a run remembered
/// the tree, deep in it, is protected all the same, in both engines.
#[test]
fn a_repository_made_after_the_walk_was_remembered_is_protected() {
    use sha2::{Digest, Sha256};
    if skip_without(&["git"]) {
        return;
    }
    let l = Layout::new();
    std::fs::create_dir_all(l.at("vendor/lib/deep")).unwrap();
    // A listing is remembered once its directory is 5 s unchanged.
    std::thread::sleep(std::time::Duration::from_secs(6));
    l.cordon().args(["--", "true"]).output().expect_code(0);
    let digest = Sha256::digest(l.root.as_os_str().as_encoded_bytes());
    let name: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let memory = crate::support::cache_dir().join("walks").join(name);
    let remembered = std::fs::read(&memory).expect("the walk was not remembered");
    assert!(String::from_utf8_lossy(&remembered).contains("vendor/lib/deep"));

    // Its git directory named other than `.git`: found by what it is.
    let deep = l.at("vendor/lib/deep");
    git(&deep, &["init", "-q", "--separate-git-dir=store", "sub"]);
    let work = deep.join("sub");
    let marker = l.base.join("outside/hook-ran");
    let git_dir = "vendor/lib/deep/store";
    let before = l.inside();
    let run = sh(&l, Who::Root, &[], &plant(git_dir, &marker));
    assert_ne!(run.code(), 0, "natively: {}", run.stderr());
    assert_eq!(l.inside(), before, "natively: the new repository changed");
    let hook = format!("{git_dir}/hooks/pre-commit");
    let script = format!("#!/bin/sh\ntouch {}\n", marker.display());
    for wasi in BOTH {
        l.cordon()
            .probe(wasi, &["write", hook.as_str(), script.as_str()])
            .expect_refused();
        assert_eq!(l.inside(), before, "{wasi:?}: the new repository changed");
    }
    assert!(!a_hook_ran(&work, &marker), "a planted hook ran");
}

/// Attack: plant a hook or a setting in the repositories of a
/// `--writable` directory outside the root (its `.git`, and a bare
/// repository beside it), in read-only and workspace-write modes. Their
/// git directories stay read-only; the writable directory stays writable.
#[test]
fn git_directories_in_a_writable_directory_outside_the_root_stay_read_only() {
    use crate::support::snapshot;
    if skip_without(&["git"]) {
        return;
    }
    for who in [Who::Root, Who::LandlockOnly] {
        for mode in ["read-only", "workspace-write"] {
            let l = Layout::new();
            let w = l.base.join("outside/w");
            git(&l.base.join("outside"), &["init", "-q", "w"]);
            git(&w, &["init", "-q", "--bare", "b.git"]);
            // Written into a subdirectory: with Landlock alone, no new name
            // is made beside a protected one (docs/SANDBOX.md).
            std::fs::create_dir(w.join("sub")).unwrap();
            let state = || (snapshot(&w.join(".git")), snapshot(&w.join("b.git")));
            let before = state();
            let script = format!(
                "echo x > {w}/.git/hooks/pre-commit; echo x >> {w}/b.git/config; \
                 echo ok > {w}/sub/plain.txt",
                w = w.display()
            );
            let flags = ["--sandbox", mode, "--writable", w.to_str().unwrap()];
            sh(&l, who, &flags, &script);
            assert_eq!(state(), before, "{who:?} {mode}: a git directory changed");
            let plain = std::fs::read_to_string(w.join("sub/plain.txt"));
            assert_eq!(plain.unwrap(), "ok\n", "{who:?} {mode}: not writable");
        }
    }
}

/// Attack: be granted a writable directory that holds a repository
/// (`--escalate writable=DIR`, approved by a person), then plant a hook in
/// its git directory. The grant opens the directory, not its `.git`.
#[test]
fn a_writable_grant_keeps_the_git_directories_inside_it_read_only() {
    use crate::support::{script, snapshot};
    if skip_without(&["git"]) {
        return;
    }
    let l = Layout::new();
    let w = l.base.join("outside/w");
    git(&l.base.join("outside"), &["init", "-q", "w"]);
    std::fs::create_dir(w.join("sub")).unwrap();
    let before = snapshot(&w.join(".git"));
    let plant = format!(
        "echo x > {w}/.git/hooks/pre-commit; echo x > {w}/sub/granted.txt",
        w = w.display()
    );
    l.cordon()
        .args(["--approver", &script("once\n")])
        .args(["--escalate", &format!("writable={}", w.display())])
        .args(["--engine", "native", "--", "sh", "-c", &plant])
        .output();
    assert_eq!(
        snapshot(&w.join(".git")),
        before,
        "the git directory changed"
    );
    assert!(
        w.join("sub/granted.txt").exists(),
        "the grant was not given"
    );
}

/// Attack: write into a repository whose path is longer than PATH_MAX
/// (20 names of 250 bytes), reached one directory at a time. It cannot be
/// mounted over by its path, so with namespaces the run is refused; with
/// Landlock alone the tree gets no grant. Either way the file stays.
#[test]
fn a_git_directory_past_path_max_is_not_written() {
    use cap_fs_ext::DirExt;
    if skip_without(&["python3"]) {
        return;
    }
    for who in [Who::Root, Who::LandlockOnly] {
        let l = Layout::new();
        let name = "n".repeat(250);
        let mut dir =
            cap_std::fs::Dir::open_ambient_dir(&l.root, cap_std::ambient_authority()).unwrap();
        for _ in 0..20 {
            dir.create_dir(&name).unwrap();
            dir = dir.open_dir_nofollow(&name).unwrap();
        }
        dir.create_dir(".git").unwrap();
        dir.write(".git/description", "kept\n").unwrap();
        let writer = format!(
            "import os\nfd = os.open('.', os.O_RDONLY)\nfor _ in range(20):\n    \
             fd = os.open('{name}', os.O_RDONLY, dir_fd=fd)\n\
             w = os.open('.git/description', os.O_WRONLY | os.O_TRUNC, dir_fd=fd)\n\
             os.write(w, b'planted')\n"
        );
        std::fs::write(l.at("w.py"), writer).unwrap();
        sh(&l, who, &[], "python3 w.py");
        let kept = dir.read_to_string(".git/description").unwrap();
        assert_eq!(
            kept, "kept\n",
            "{who:?}: the deep git directory was written"
        );
    }
}
