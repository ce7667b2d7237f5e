//! Metadata changes (mode, owner, times, extended attributes and ACLs,
//! file-attribute flags) outside the writable area and on the protected
//! and secret paths in it are refused in every mode: namespaces as root,
//! namespaces unprivileged, Landlock and seccomp alone (as root and
//! unprivileged). Inside the area they work.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use crate::native::{Who, everyone_and_unprivileged_landlock, hand_over, native_command, sh};
use crate::support::{Layout, Run, skip_without};

/// Tries every way to change a file's metadata on each path given, by
/// name, through a read-only descriptor, and through a descriptor of its
/// directory; prints `op path: changed` or `op path: errno N`. A path
/// given as `follow:PATH` is a link whose target is aimed at: the calls
/// that would act on the link itself are left out.
const ATTEMPTS: &str = r#"
import fcntl, os, struct, sys
uid, gid = os.getuid(), os.getgid()
# A POSIX ACL granting everyone everything: user::rwx group::rwx other::rwx.
acl = struct.pack("<I", 2) + b"".join(struct.pack("<HHI", tag, 7, 0xffffffff) for tag in (1, 4, 0x20))
FS_IOC_SETFLAGS, FS_IOC_FSSETXATTR, FS_IOC_FSGETXATTR = 0x40086602, 0x401c5820, 0x801c581f
NOATIME = 0x80
def fsxattr(fd):
    raw = bytearray(28)
    fcntl.ioctl(fd, FS_IOC_FSGETXATTR, raw)
    flags = struct.unpack_from("<I", raw, 0)[0] | 0x40  # FS_XFLAG_NOATIME
    struct.pack_into("<I", raw, 0, flags)
    fcntl.ioctl(fd, FS_IOC_FSSETXATTR, bytes(raw))
def attempts(path):
    d = os.path.dirname(path) or "."
    name = os.path.basename(path)
    yield "chmod", lambda: os.chmod(path, 0o777)
    yield "chmod-nofollow", lambda: os.chmod(path, 0o777, follow_symlinks=False)
    yield "chown", lambda: os.chown(path, uid, gid)
    yield "lchown", lambda: os.lchown(path, uid, gid)
    yield "utime", lambda: os.utime(path, (1, 1))
    yield "utime-now", lambda: os.utime(path)
    yield "utime-nofollow", lambda: os.utime(path, (2, 2), follow_symlinks=False)
    yield "setxattr", lambda: os.setxattr(path, "user.cordon", b"1")
    yield "removexattr", lambda: os.removexattr(path, "user.keep")
    yield "setfacl", lambda: os.setxattr(path, "system.posix_acl_access", acl)
    def by_fd(f):
        def run():
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
            try:
                f(fd)
            finally:
                os.close(fd)
        return run
    yield "fchmod", by_fd(lambda fd: os.fchmod(fd, 0o777))
    yield "fchown", by_fd(lambda fd: os.fchown(fd, uid, gid))
    yield "futimens", by_fd(lambda fd: os.utime(fd, (3, 3)))
    yield "fsetxattr", by_fd(lambda fd: os.setxattr(fd, "user.cordon", b"2"))
    yield "fremovexattr", by_fd(lambda fd: os.removexattr(fd, "user.keep"))
    yield "setflags", by_fd(lambda fd: fcntl.ioctl(fd, FS_IOC_SETFLAGS, struct.pack("i", NOATIME)))
    yield "fssetxattr", by_fd(fsxattr)
    # EXT4_IOC_SETVERSION: a file system's own request, by a read-only descriptor.
    yield "setversion", by_fd(lambda fd: fcntl.ioctl(fd, 0x40086604, struct.pack("l", 4242)))
    def at_dir(f):
        def run():
            dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
            try:
                f(dfd)
            finally:
                os.close(dfd)
        return run
    yield "fchmodat", at_dir(lambda dfd: os.chmod(name, 0o777, dir_fd=dfd))
    yield "fchownat", at_dir(lambda dfd: os.chown(name, uid, gid, dir_fd=dfd))
    yield "utimensat", at_dir(lambda dfd: os.utime(name, (4, 4), dir_fd=dfd))
NOFOLLOW = {"chmod-nofollow", "lchown", "utime-nofollow"}
for arg in sys.argv[1:]:
    path = arg.removeprefix("follow:")
    for op, attempt in attempts(path):
        if arg != path and op in NOFOLLOW:
            continue
        try:
            attempt()
            print(f"{op} {path}: changed")
        except OSError as e:
            print(f"{op} {path}: errno {e.errno}")
        except NotImplementedError:  # what Python makes of EOPNOTSUPP for chmod -h
            print(f"{op} {path}: errno 95")
"#;

/// Errors that mean the file system cannot make the change at all (no
/// flags, no ACLs here): nothing to prove either way.
const UNSUPPORTED: &[i32] = &[libc::ENOTTY, libc::EOPNOTSUPP, libc::EINVAL];

/// A layout whose root holds the attempts, as `attempts.py`, and what
/// `setup` adds, handed over to `who`.
fn layout(who: Who, setup: impl FnOnce(&Layout)) -> Layout {
    let l = Layout::new();
    std::fs::write(l.at("attempts.py"), ATTEMPTS).unwrap();
    setup(&l);
    hand_over(&l, who);
    l
}

/// Runs the attempts on `paths` as `who`.
fn attempt(l: &Layout, who: Who, paths: &[&str]) -> Vec<(String, Result<(), i32>)> {
    let script = format!("python3 attempts.py {}", paths.join(" "));
    let run = sh(l, who, &[], &script);
    run.expect_code(0);
    let outcomes: Vec<_> = run
        .stdout()
        .lines()
        .map(|line| {
            let (what, outcome) = line.rsplit_once(": ").expect("op path: outcome");
            let outcome = match outcome.strip_prefix("errno ") {
                Some(errno) => Err(errno.parse().unwrap()),
                None => Ok(()),
            };
            (what.to_string(), outcome)
        })
        .collect();
    let expected: usize = paths
        .iter()
        .map(|p| if p.starts_with("follow:") { 18 } else { 21 })
        .sum();
    assert_eq!(
        outcomes.len(),
        expected,
        "{who:?}: every attempt reports: {}",
        run.stderr()
    );
    outcomes
}

fn set_keep(path: &Path) {
    let path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: NUL-terminated strings and a value buffer of the length given.
    let set = unsafe {
        libc::lsetxattr(
            path.as_ptr(),
            c"user.keep".as_ptr(),
            b"1".as_ptr().cast(),
            1,
            0,
        )
    };
    assert_eq!(set, 0, "user xattrs on this file system");
}

#[test]
fn metadata_outside_the_writable_area_and_on_protected_paths_cannot_change() {
    if skip_without(&["python3"]) {
        return;
    }
    for who in everyone_and_unprivileged_landlock() {
        let l = layout(who, |l| {
            std::fs::write(l.at(".env"), "TOKEN=1\n").unwrap();
            // Attack: through a link in the root that leads out of it, too.
            std::os::unix::fs::symlink("../outside/secret.txt", l.at("link-out")).unwrap();
            for file in [l.base.join("outside/secret.txt"), l.at(".git/HEAD")] {
                set_keep(&file);
            }
        });
        let host_null = std::fs::metadata("/dev/null").unwrap();
        let (before_out, before_in) = (l.outside(), l.inside());
        let outcomes = attempt(
            &l,
            who,
            &[
                "../outside/secret.txt",
                "../outside",
                "follow:link-out",
                ".git/HEAD",
                ".git",
                ".env",
                "/dev/null",
            ],
        );
        for (what, outcome) in &outcomes {
            assert!(outcome.is_err(), "{who:?}: {what} changed");
        }
        assert_eq!(l.outside(), before_out, "{who:?}");
        assert_eq!(l.inside(), before_in, "{who:?}");
        let null = std::fs::metadata("/dev/null").unwrap();
        assert_eq!(
            (null.mode(), null.uid(), null.mtime(), null.ctime()),
            (
                host_null.mode(),
                host_null.uid(),
                host_null.mtime(),
                host_null.ctime()
            ),
            "{who:?}: /dev/null"
        );
    }
}

#[test]
fn metadata_inside_the_writable_area_changes() {
    if skip_without(&["python3"]) {
        return;
    }
    for who in everyone_and_unprivileged_landlock() {
        let l = layout(who, |l| {
            std::fs::write(l.at("src/run.sh"), "#!/bin/sh\necho ran\n").unwrap();
            set_keep(&l.at("a.txt"));
        });
        // chmod +x, as a build script would, then run what it made
        // executable (as a command of its own: inside a line an earlier
        // command may have written a script, which then asks); the private
        // TMPDIR takes changes too.
        let run = sh(
            &l,
            who,
            &[],
            "chmod +x src/run.sh && touch -d 2001-01-01 src/main.rs \
             && : > $TMPDIR/t && chmod 600 $TMPDIR/t && stat -c %a $TMPDIR/t",
        );
        run.expect_code(0);
        assert_eq!(run.stdout(), "600\n", "{who:?}: {}", run.stderr());
        let run = Run(native_command(&l, who, &[], &["src/run.sh"])
            .output()
            .expect("running cordon"));
        assert_eq!(run.expect_code(0).stdout(), "ran\n", "{who:?}");
        let mode = std::fs::metadata(l.at("src/run.sh")).unwrap().mode();
        assert_eq!(mode & 0o111, 0o111, "{who:?}");
        let main = std::fs::metadata(l.at("src/main.rs")).unwrap();
        assert_eq!(main.mtime(), 978307200, "{who:?}: 2001-01-01 UTC");

        let outcomes = attempt(&l, who, &["a.txt", "src"]);
        for (what, outcome) in &outcomes {
            // Removing user.keep works once per file; the flags need a
            // file system that has them.
            let ok = match outcome {
                Ok(()) => true,
                Err(errno) if what.contains("removexattr") => *errno == libc::ENODATA,
                Err(errno) if what.contains("flags") || what.contains("fssetxattr") => {
                    UNSUPPORTED.contains(errno)
                }
                // File systems' own requests are refused.
                Err(errno) if what.starts_with("setversion") => {
                    UNSUPPORTED.contains(errno) || *errno == libc::EPERM
                }
                Err(errno) if what.starts_with("setfacl") => UNSUPPORTED.contains(errno),
                Err(_) => false,
            };
            assert!(ok, "{who:?}: {what} refused inside: {outcome:?}");
        }
        let a = std::fs::metadata(l.at("a.txt")).unwrap();
        assert_eq!(a.permissions().mode() & 0o777, 0o777, "{who:?}");
    }
}

/// Attacks past the metadata calls themselves, by what they would need:
/// a system call newer than the filters (open_tree_attr clones a mount
/// with its read-only flag cleared, file_setattr sets attributes by path),
/// a seccomp listener of the command's own (to answer its children's
/// calls), root's powers over the host (setting the host name, here to the
/// name it has, so nothing changes even where it is allowed) or past the
/// mounts (open_by_handle_at), and files that would run with their owner's
/// powers for anyone (setuid, setgid, file capabilities).
const BEYOND: &str = r#"
import ctypes, os, socket, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
def call(nr, *args):
    ctypes.set_errno(0)
    rc = libc.syscall(nr, *args)
    return "ok" if rc >= 0 else f"errno {ctypes.get_errno()}"
target = sys.argv[1]
# open_tree_attr(AT_FDCWD, dir, OPEN_TREE_CLONE, {attr_clr: RDONLY}, 32),
# then the change through the clone.
attr = ctypes.create_string_buffer(struct.pack("<QQQQ", 0, 1, 0, 0))
clone = libc.syscall(467, -100, os.path.dirname(target).encode(), 1 | 0x80000, attr, 32)
print("open_tree_attr", "ok" if clone >= 0 else f"errno {ctypes.get_errno()}")
if clone >= 0:
    libc.fchmodat(clone, os.path.basename(target).encode(), 0o4777, 0)
# file_setattr(AT_FDCWD, target, 0, {fsx_xflags: NOATIME}, 32).
fsx = ctypes.create_string_buffer(struct.pack("<IIIII8x", 0x40, 0, 0, 0, 0) + bytes(4))
print("file_setattr", call(469, -100, target.encode(), 0, fsx, 32))
# seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, allow-all).
allow = ctypes.create_string_buffer(struct.pack("<HBBI", 6, 0, 0, 0x7FFF0000))
prog = ctypes.create_string_buffer(struct.pack("<H6xQ", 1, ctypes.addressof(allow)))
print("listener", call(317, 1, 8, prog))
try:
    socket.sethostname(socket.gethostname())
    print("sethostname ok")
except OSError as e:
    print("sethostname errno", e.errno)
# open_by_handle_at(AT_FDCWD, handle, O_RDONLY): opens past the mounts.
print("open_by_handle_at", call(304, -100, ctypes.create_string_buffer(16), 0))
status = open("/proc/self/status").read()
capeff = int(status.split("CapEff:")[1].split()[0], 16)
print("capabilities", "file powers only" if capeff & ~0x4ff == 0 else hex(capeff))
def refused(name, change):
    try:
        change()
        print(name, "ok")
    except OSError as e:
        print(name, "errno", e.errno)
# No setuid or setgid file, no file capability, made or changed.
refused("chmod-setuid", lambda: os.chmod("src/main.rs", 0o4755))
refused("chmod-setgid", lambda: os.chmod("src/main.rs", 0o2755))
refused("create-setuid", lambda: os.close(os.open("src/new", os.O_CREAT | os.O_WRONLY, 0o4755)))
cap = struct.pack("<IIIII", 0x02000001, 0x80, 0, 0, 0)  # VFS_CAP_REVISION_2, cap_setuid
refused("file-capability", lambda: os.setxattr("src/main.rs", "security.capability", cap))
"#;

#[test]
fn newer_system_calls_own_listeners_and_roots_host_powers_are_refused() {
    if !cfg!(target_arch = "x86_64") || skip_without(&["python3"]) {
        return; // the seccomp number in BEYOND is x86_64's
    }
    for who in everyone_and_unprivileged_landlock() {
        let l = layout(who, |l| std::fs::write(l.at("beyond.py"), BEYOND).unwrap());
        let (before_out, before_in) = (l.outside(), l.inside());
        let run = sh(&l, who, &[], "python3 beyond.py ../outside/secret.txt");
        run.expect_code(0);
        let enosys = format!("errno {}", libc::ENOSYS);
        let eperm = format!("errno {}", libc::EPERM);
        let expected = [
            format!("open_tree_attr {enosys}"),
            format!("file_setattr {enosys}"),
            format!("listener {eperm}"),
            format!("sethostname {eperm}"),
            format!("open_by_handle_at {eperm}"),
            "capabilities file powers only".to_string(),
            format!("chmod-setuid {eperm}"),
            format!("chmod-setgid {eperm}"),
            format!("create-setuid {eperm}"),
            format!("file-capability {eperm}"),
        ];
        assert_eq!(
            run.stdout().lines().collect::<Vec<_>>(),
            expected,
            "{who:?}"
        );
        assert_eq!(l.outside(), before_out, "{who:?}");
        assert_eq!(l.inside(), before_in, "{who:?}");
    }
}

/// Changes through standard input: a file or a named FIFO given as stdin
/// was opened outside the sandbox, on a mount the sandbox does not make
/// read-only.
const THROUGH_STDIN: &str = r#"
import os, sys
print(sys.stdin.readline().strip())
for op, change in (("fchmod", lambda: os.fchmod(0, 0o777)),
                   ("futimens", lambda: os.utime(0, (1, 1))),
                   ("fsetxattr", lambda: os.setxattr(0, "user.cordon", b"1")),
                   ("chmod", lambda: os.chmod("/proc/self/fd/0", 0o777)),
                   ("utime", lambda: os.utime("/proc/self/fd/0", (1, 1)))):
    try:
        change()
    except OSError:
        pass
"#;

#[test]
fn a_file_or_fifo_given_as_stdin_cannot_change() {
    if skip_without(&["python3"]) {
        return;
    }
    for who in everyone_and_unprivileged_landlock() {
        let l = layout(who, |l| {
            std::fs::write(l.at("stdin.py"), THROUGH_STDIN).unwrap();
            let fifo = std::ffi::CString::new(
                l.base
                    .join("outside/fifo")
                    .into_os_string()
                    .into_encoded_bytes(),
            )
            .unwrap();
            // SAFETY: a NUL-terminated path.
            assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        });
        // A named FIFO opened for reading and writing does not wait for a
        // writer: the line is in it before the command starts.
        let fifo = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(l.base.join("outside/fifo"))
            .unwrap();
        std::io::Write::write_all(&mut &fifo, b"through a fifo\n").unwrap();
        // Writing into the FIFO changed its times: compare from here.
        let before = l.outside();
        let file = std::fs::File::open(l.base.join("outside/secret.txt")).unwrap();
        for (stdin, expected) in [(file, "outside secret\n"), (fifo, "through a fifo\n")] {
            let output = crate::native::native_command(&l, who, &[], &["python3", "stdin.py"])
                .stdin(stdin)
                .output()
                .unwrap();
            let run = crate::support::Run(output);
            run.expect_code(0);
            assert_eq!(run.stdout(), expected, "{who:?}: read it");
            assert_eq!(l.outside(), before, "{who:?}: {expected}");
        }
    }
}

/// A file the command opened for reading outside the area, whose last
/// name the host then removed: no name is left to check, and it is still
/// somebody else's (the host's process holds it).
const UNLINKED: &str = r#"
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
print("opened", flush=True)
sys.stdin.readline()
for op, change in (("fchmod", lambda: os.fchmod(fd, 0o777)),
                   ("fchown", lambda: os.fchown(fd, os.getuid(), os.getgid())),
                   ("fsetxattr", lambda: os.setxattr(fd, "user.cordon", b"1"))):
    try:
        change()
        print(op, "changed")
    except OSError as e:
        print(op, "errno", e.errno)
"#;

#[test]
fn an_unlinked_file_opened_for_reading_outside_cannot_change() {
    use std::io::{BufRead, Write};
    if skip_without(&["python3"]) {
        return;
    }
    for who in everyone_and_unprivileged_landlock() {
        let l = layout(who, |l| {
            std::fs::write(l.at("unlinked.py"), UNLINKED).unwrap()
        });
        let target = l.base.join("outside/secret.txt");
        let held = std::fs::File::open(&target).unwrap();
        let target_arg = target.display().to_string();
        let mut child =
            crate::native::native_command(&l, who, &[], &["python3", "unlinked.py", &target_arg])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        assert_eq!(line, "opened\n", "{who:?}");
        std::fs::remove_file(&target).unwrap();
        // Unlinking changed its ctime: compare from here.
        let before = held.metadata().unwrap();
        child.stdin.take().unwrap().write_all(b"go\n").unwrap();
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
        assert!(child.wait().unwrap().success(), "{who:?}");
        assert_eq!(rest.lines().count(), 3, "{who:?}: {rest}");
        assert!(!rest.contains("changed"), "{who:?}: {rest}");
        let after = held.metadata().unwrap();
        assert_eq!(
            (after.mode(), after.uid(), after.ctime(), after.ctime_nsec()),
            (
                before.mode(),
                before.uid(),
                before.ctime(),
                before.ctime_nsec()
            ),
            "{who:?}"
        );
    }
}
