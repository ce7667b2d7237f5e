//! What a native command could reach through what it is handed rather than
//! through a path: descriptors cordon was started with, the host's devices
//! and terminal, unix sockets bound outside the sandbox, the environment;
//! and how much of the machine its tree may take.
//! Each test names the attack, runs it as root, unprivileged and with
//! Landlock alone, and checks what it would have changed or read.

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use crate::native::{
    Who, everyone, everyone_and_unprivileged_landlock, hand_over, is_root, native_command, sh,
};
use crate::support::{Layout, Run, skip, skip_without};

const CANARY: &str = "canary-7f3a\n";

/// Runs `command` with `fds` placed at the given numbers, inheritable, as
/// a caller of cordon might leave them.
fn with_descriptors(mut command: Command, fds: &[(i32, i32)]) -> Run {
    let fds = fds.to_vec();
    // SAFETY: dup2 and fcntl are async-signal-safe.
    unsafe {
        command.pre_exec(move || {
            for (fd, at) in &fds {
                if libc::dup2(*fd, *at) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                libc::fcntl(*at, libc::F_SETFD, 0);
            }
            Ok(())
        });
    }
    Run(command.output().expect("running cordon"))
}

/// Attack: a descriptor cordon's caller left open (a file outside the
/// root, the root's directory, a socket, a pipe; at low and high numbers)
/// is used from inside the sandbox to write outside, read a masked secret
/// through the directory, and plant a git hook.
#[test]
fn inherited_descriptors_do_not_reach_the_command() {
    if skip_without(&["python3"]) {
        return;
    }
    for who in everyone_and_unprivileged_landlock() {
        let l = Layout::new();
        std::fs::write(l.at(".env"), CANARY).unwrap();
        let outside_file = l.base.join("outside/secret.txt");
        hand_over(&l, who);
        let before = l.outside();
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&outside_file)
            .unwrap();
        let dir = std::fs::File::open(&l.root).unwrap();
        let (sock, peer) = UnixStream::pair().unwrap();
        peer.set_nonblocking(true).unwrap();
        let (pipe_read, pipe_write) = pipe();
        let placed = [
            (file.as_raw_fd(), 3),
            (dir.as_raw_fd(), 4),
            (sock.as_raw_fd(), 5),
            (pipe_write.as_raw_fd(), 6),
            (file.as_raw_fd(), 200),
            (dir.as_raw_fd(), 1023),
            (sock.as_raw_fd(), 1000),
            (pipe_write.as_raw_fd(), 517),
        ];
        let numbers: Vec<String> = placed.iter().map(|(_, at)| at.to_string()).collect();
        let script = format!(
            "import os\n\
             for n in [{}]:\n\
             \x20 try: os.fstat(n)\n\
             \x20 except OSError: continue\n\
             \x20 print('open', n)\n\
             \x20 try: os.write(n, b'pwned')\n\
             \x20 except OSError: pass\n\
             \x20 try: print(os.read(os.open('.env', os.O_RDONLY, dir_fd=n), 100))\n\
             \x20 except OSError: pass\n\
             \x20 try: os.close(os.open('.git/hooks/pre-commit', os.O_CREAT | os.O_WRONLY, 0o755, dir_fd=n))\n\
             \x20 except OSError: pass\n\
             print('checked')\n",
            numbers.join(", ")
        );
        let command = native_command(&l, who, &[], &["python3", "-c", &script]);
        let run = with_descriptors(command, &placed);
        drop(pipe_write);
        run.expect_code(0);
        assert_eq!(run.stdout(), "checked\n", "{who:?}: {}", run.stderr());
        assert_eq!(l.outside(), before, "{who:?}: outside changed");
        assert!(
            !l.at(".git/hooks/pre-commit").exists(),
            "{who:?}: hook planted"
        );
        let mut received = [0u8; 16];
        assert!(
            std::io::Read::read(&mut &peer, &mut received).is_err(),
            "{who:?}: the socket's peer received data"
        );
        assert_eq!(
            std::io::Read::read(&mut std::fs::File::from(pipe_read), &mut received).unwrap(),
            0,
            "{who:?}: the pipe received data"
        );
    }
}

fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills both on success.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: fresh descriptors, owned once each.
    unsafe {
        use std::os::fd::FromRawFd;
        (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1]))
    }
}

/// A block device of this machine, if any (the disk under the project).
fn a_block_device() -> Option<std::path::PathBuf> {
    use std::os::unix::fs::FileTypeExt;
    std::fs::read_dir("/dev")
        .ok()?
        .flatten()
        .find(|e| e.file_type().is_ok_and(|t| t.is_block_device()))
        .map(|e| e.path())
}

/// Attack: read the disk that holds the project past the secret masks
/// (debugfs on the block device), reach the host's terminal, or make a
/// device node of one's own.
#[test]
fn devices_beyond_the_basic_ones_are_out_of_reach() {
    let disk = a_block_device();
    if disk.is_none() {
        skip("no block device");
    }
    for who in everyone_and_unprivileged_landlock() {
        let l = Layout::new();
        hand_over(&l, who);
        let before = l.outside();
        // Each attempt prints its name only if it worked.
        let mut script = String::from(
            "head -c1 /dev/tty >/dev/null 2>&1 && echo tty-read; \
             (echo x > /dev/tty) 2>/dev/null && echo tty-write; \
             mknod node c 1 3 2>/dev/null && echo mknod; \
             mknod blk b 7 0 2>/dev/null && echo mknod-block; \
             head -c4 /dev/urandom | wc -c; head -c1 /dev/zero | wc -c; echo ok > /dev/null; true; ",
        );
        if let Some(disk) = &disk {
            script.push_str(&format!(
                "head -c512 {d} >/dev/null 2>&1 && echo disk-read; true",
                d = disk.display()
            ));
        }
        let run = sh(&l, who, &[], &script);
        run.expect_code(0);
        assert_eq!(run.stdout(), "4\n1\n", "{who:?}: {}", run.stderr());
        assert!(!l.at("node").exists() && !l.at("blk").exists(), "{who:?}");
        assert_eq!(l.outside(), before, "{who:?}");
    }
    // With namespaces, /dev holds the basic devices and nothing else.
    let l = Layout::new();
    let run = sh(&l, Who::Root, &[], "ls -A /dev | tr '\\n' ' '");
    assert_eq!(
        run.expect_code(0).stdout(),
        "fd full null ptmx pts random shm stderr stdin stdout urandom zero "
    );
}

/// A unix socket of the host's, stream or datagram, that a python script
/// in the sandbox tries to reach (printing what worked).
struct Listener {
    address: String,
    bound: Option<Bound>,
}

enum Bound {
    Stream(UnixListener),
    Datagram(std::os::unix::net::UnixDatagram),
}

impl Bound {
    /// Whether anything reached it.
    fn reached(&self) -> bool {
        match self {
            Bound::Stream(s) => s.accept().is_ok(),
            Bound::Datagram(d) => d.recv(&mut [0u8; 64]).is_ok(),
        }
    }
}

/// Attack: with the network off, connect or send to a unix socket of the
/// host's (stream and datagram), one whose name has a space or a newline,
/// an abstract one, and one bound by a process in another network
/// namespace (none of them appears where a list of sockets could be read
/// from); also through socketpairs of every kind, re-connected or sent
/// from with an address.
#[test]
fn unix_sockets_of_the_host_are_unreachable_with_the_network_off() {
    if skip_without(&["python3"]) {
        return;
    }
    for who in everyone_and_unprivileged_landlock() {
        let l = Layout::new();
        let outside = l.base.join("outside");
        let mut listeners = Vec::new();
        for name in ["plain.sock", "with space.sock", "new\nline.sock"] {
            let path = outside.join(name);
            let bound = UnixListener::bind(&path).unwrap();
            bound.set_nonblocking(true).unwrap();
            listeners.push(Listener {
                address: path.display().to_string(),
                bound: Some(Bound::Stream(bound)),
            });
            // A datagram socket beside it (as /dev/log or journald's are).
            let path = outside.join(format!("dgram {name}"));
            let bound = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
            bound.set_nonblocking(true).unwrap();
            listeners.push(Listener {
                address: path.display().to_string(),
                bound: Some(Bound::Datagram(bound)),
            });
        }
        // Named after the layout: no other run's.
        let abstract_name = format!("cordon-e2e{}", l.base.file_name().unwrap().display());
        let bound = {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(abstract_name.as_bytes())
                .unwrap();
            UnixListener::bind_addr(&addr).unwrap()
        };
        bound.set_nonblocking(true).unwrap();
        listeners.push(Listener {
            address: format!("\0{abstract_name}"),
            bound: Some(Bound::Stream(bound)),
        });
        // A listener in a network namespace of its own: absent from this
        // namespace's /proc/net/unix.
        let other_netns = outside.join("other-netns.sock");
        let mut elsewhere = is_root().then(|| listen_in_other_netns(&other_netns));
        if elsewhere.is_none() {
            skip("a listener in another network namespace needs root");
        } else {
            listeners.push(Listener {
                address: other_netns.display().to_string(),
                bound: None,
            });
        }
        let addresses: Vec<String> = listeners
            .iter()
            .map(|l| format!("{:?}", l.address))
            .collect();
        let script = format!(
            "import socket\n\
             for a in [{}]:\n\
             \x20 try:\n\
             \x20   s = socket.socket(socket.AF_UNIX); s.connect(a); print('connected', repr(a))\n\
             \x20 except OSError: pass\n\
             \x20 try:\n\
             \x20   s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.sendto(b'x', a); print('sent', repr(a))\n\
             \x20 except OSError: pass\n\
             \x20 for kind in [socket.SOCK_DGRAM, socket.SOCK_RAW, socket.SOCK_RDM, 0]:\n\
             \x20   try:\n\
             \x20     p, q = socket.socketpair(socket.AF_UNIX, kind); p.sendto(b'x', a); print('paired', kind, repr(a))\n\
             \x20   except OSError: pass\n\
             \x20   try:\n\
             \x20     p, q = socket.socketpair(socket.AF_UNIX, kind); p.connect(a); print('paired', kind, repr(a))\n\
             \x20   except OSError: pass\n\
             print('checked')\n",
            addresses.join(", ")
        );
        // Network off, and (with namespaces) a grant for a host.
        let grant = ["--network", "allow=example.test"];
        let modes: &[&[&str]] = match who {
            Who::LandlockOnly | Who::NobodyLandlockOnly => &[&[]],
            _ => &[&[], &grant],
        };
        for flags in modes {
            let run = python_with(&l, who, flags, &script);
            run.expect_code(0);
            assert_eq!(
                run.stdout(),
                "checked\n",
                "{who:?} {flags:?}: {}",
                run.stderr()
            );
            for listener in &listeners {
                if let Some(bound) = &listener.bound {
                    assert!(
                        !bound.reached(),
                        "{who:?} {flags:?}: {:?}",
                        listener.address
                    );
                }
            }
        }
        if let Some(child) = elsewhere.as_mut() {
            let out = child.finish();
            assert!(!out.contains("accepted"), "{who:?}: other netns: {out}");
        }
    }
}

/// `cordon run --engine native [flags] -- python3 -c SCRIPT` as `who`.
fn python_with(l: &Layout, who: Who, flags: &[&str], script: &str) -> Run {
    let mut python = native_command(l, who, flags, &["python3", "-c", script]);
    Run(python.output().expect("running cordon"))
}

/// A process in a new network namespace listening on `path`, printing
/// `accepted` for each connection it gets.
fn listen_in_other_netns(path: &Path) -> ChildListener {
    let ready = path.with_extension("ready");
    let script = format!(
        "import socket, os\n\
         s = socket.socket(socket.AF_UNIX); s.bind({p:?}); os.chmod({p:?}, 0o777); s.listen()\n\
         open({r:?}, 'w').close()\n\
         while True:\n\
         \x20 c, _ = s.accept(); print('accepted', flush=True)\n",
        p = path.display().to_string(),
        r = ready.display().to_string(),
    );
    let child = crate::support::command("unshare")
        .args(["--net", "python3", "-c", &script])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("unshare --net");
    for _ in 0..500 {
        if ready.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(
        ready.exists(),
        "the listener in another netns did not start"
    );
    ChildListener(Some(child))
}

/// The listener's process, killed when dropped (a failing test included).
struct ChildListener(Option<std::process::Child>);

impl ChildListener {
    /// Ends the listener and returns what it printed.
    fn finish(&mut self) -> String {
        let Some(mut child) = self.0.take() else {
            return String::new();
        };
        let _ = child.kill();
        child
            .wait_with_output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }
}

impl Drop for ChildListener {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Attack: a command run without a terminal of its own writes straight to
/// the person's terminal on descriptor 0, past `--max-output`.
#[test]
fn a_terminal_on_stdin_is_not_handed_to_the_command() {
    if skip_without(&["script"]) {
        return;
    }
    let l = Layout::new();
    let cordon = env!("CARGO_BIN_EXE_cordon");
    for flags in ["", "--no-namespaces"] {
        // script(1) gives cordon a real terminal on 0, 1 and 2.
        let line = format!(
            "{cordon} run --root {} --engine native {flags} --approver deny --max-output 10 -- \
             sh -c 'test -t 0 && echo TERMINAL-ON-STDIN; echo {} >&0; true'",
            l.root.display(),
            "X".repeat(200)
        );
        let out = crate::support::command("script")
            .args(["-qec", &line, "/dev/null"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(!text.contains("TERMINAL-ON-STDIN"), "{flags}: {text}");
        assert!(!text.contains(&"X".repeat(20)), "{flags}: {text}");
    }
}

/// Attack: a credential in a variable named like a locale category.
#[test]
fn only_the_locale_categories_pass_by_their_lc_names() {
    let l = Layout::new();
    let run = crate::support::cordon()
        .arg("run")
        .arg("--root")
        .arg(&l.root)
        .env("LC_DATABASE_URL", "postgres://u:hunter2@db/x")
        .env("LC_TIME", "C")
        .args([
            "--engine",
            "native",
            "--",
            "sh",
            "-c",
            "env | grep ^LC_ | sort",
        ])
        .output()
        .unwrap();
    let run = Run(run);
    run.expect_code(0);
    assert_eq!(run.stdout(), "LC_TIME=C\n");
}

/// Attack: a fork bomb, and an allocation past `--memory`, from a native
/// command. The tree stops at `--processes`; the allocation fails; the
/// audit names the limits that held.
#[test]
fn processes_and_memory_of_a_native_tree_are_limited() {
    if skip_without(&["python3"]) {
        return;
    }
    let fork_bomb = "import os, time\n\
        n = 0\n\
        for i in range(300):\n\
        \x20 try: pid = os.fork()\n\
        \x20 except OSError: break\n\
        \x20 if pid == 0:\n\
        \x20   time.sleep(2); os._exit(0)\n\
        \x20 n += 1\n\
        print(n)\n";
    for who in everyone() {
        let l = Layout::new();
        let audit = l.base.join("log/audit.jsonl");
        std::fs::create_dir_all(audit.parent().unwrap()).unwrap();
        let audit_flag = ["--audit", audit.to_str().unwrap()];
        let run = python_with(
            &l,
            who,
            &[&["--processes", "40"][..], &audit_flag].concat(),
            fork_bomb,
        );
        run.expect_code(0);
        let started: usize = run.stdout().trim().parse().unwrap();
        assert!(started < 40, "{who:?}: {started} processes started");
        let layers = crate::support::audit_lines(&audit)
            .iter()
            .find(|e| e["event"] == "run")
            .map(|e| e["layers"].to_string())
            .unwrap();
        assert!(layers.contains("40 processes"), "{who:?}: {layers}");
        let allocate = "b = bytearray(300 << 20); print('allocated')";
        let run = python_with(&l, who, &["--memory", "100"], allocate);
        assert_ne!(run.code(), 0, "{who:?}");
        assert!(!run.stdout().contains("allocated"), "{who:?}");
        python_with(&l, who, &["--memory", "1024"], allocate).expect_code(0);
    }
}

/// The same fork bomb with a count a pid namespace holds by itself (301 or
/// more, no memory limit): with namespaces no control group is made, the
/// namespace's own pid_max stops the tree (within 299 of the count), and
/// the audit says so.
#[test]
fn a_pid_namespace_caps_a_large_process_count_without_a_group() {
    if skip_without(&["python3"]) {
        return;
    }
    let fork_bomb = "import os, time\n\
        n = 0\n\
        for i in range(900):\n\
        \x20 try: pid = os.fork()\n\
        \x20 except OSError: break\n\
        \x20 if pid == 0:\n\
        \x20   time.sleep(3); os._exit(0)\n\
        \x20 n += 1\n\
        print(n)\n";
    for who in everyone()
        .into_iter()
        .filter(|w| matches!(w, Who::Root | Who::Nobody))
    {
        let l = Layout::new();
        let audit = l.base.join("log/audit.jsonl");
        std::fs::create_dir_all(audit.parent().unwrap()).unwrap();
        let flags = ["--processes", "400", "--audit", audit.to_str().unwrap()];
        let run = python_with(&l, who, &flags, fork_bomb);
        run.expect_code(0);
        let started: usize = run.stdout().trim().parse().unwrap();
        assert!(started < 400, "{who:?}: {started} processes started");
        let layers = crate::support::audit_lines(&audit)
            .iter()
            .find(|e| e["event"] == "run")
            .map(|e| e["layers"].to_string())
            .unwrap();
        assert!(
            layers.contains("pid namespace: 400 processes"),
            "{who:?}: {layers}"
        );
    }
}

/// Attack: a granted name that resolves to an address of this machine's
/// own interfaces (a public-looking one, here on the loopback interface of
/// a network namespace made for the test) to reach a service listening
/// only locally. Refused for WASI tools and native commands alike; the
/// service sees no request.
#[test]
fn a_granted_name_never_reaches_an_address_of_this_machine() {
    if skip_without(&["python3", "curl", "unshare"]) {
        return;
    }
    let l = Layout::new();
    let log = l.base.join("outside/server.log");
    let cordon = env!("CARGO_BIN_EXE_cordon");
    let root = l.root.display();
    // One address assigned as it is, and one in the network of an address
    // on the loopback interface (all of which the kernel delivers locally).
    let script = format!(
        "ip link set lo up && ip addr add 93.184.216.34/32 dev lo \
           && ip addr add 8.8.5.1/24 dev lo || exit 90\n\
         python3 -m http.server --bind 0.0.0.0 8080 >{log} 2>&1 &\n\
         for i in $(seq 100); do grep -q Serving {log} && break; sleep 0.05; done\n\
         for ip in 93.184.216.34 8.8.5.7; do\n\
           flags=\"--root {root} --resolve x.test=$ip --network allow=x.test:8080\"\n\
           {cordon} run $flags -- fetch http://x.test:8080/; echo \"wasi=$?\"\n\
           {cordon} run $flags --engine native -- curl -sf -m 5 http://x.test:8080/; echo \"native=$?\"\n\
         done\n\
         kill $!\n",
        log = log.display(),
    );
    let namespace = if is_root() { "--net" } else { "-rn" };
    let out = crate::support::command("unshare")
        .args([namespace, "sh", "-c", &script])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stdout.matches("wasi=").count(), 2, "{stdout}{stderr}");
    assert_eq!(stdout.matches("native=").count(), 2, "{stdout}{stderr}");
    assert!(
        !stdout.contains("wasi=0") && !stdout.contains("native=0"),
        "{stdout}{stderr}"
    );
    assert!(!stdout.contains("Directory listing"), "{stdout}");
    assert_eq!(
        stderr.matches("an address of this machine").count(),
        4,
        "{stderr}"
    );
    let served = std::fs::read_to_string(&log).unwrap();
    assert!(!served.contains("GET"), "{served}");
}

/// Attack: under `--network allow=`, open a socket of a family the grant
/// does not need (vsock to the hypervisor, netlink, raw packets, the
/// kernel's crypto) instead of going through the proxy.
#[test]
fn a_network_grant_opens_only_inet_sockets() {
    if skip_without(&["python3"]) {
        return;
    }
    let script = "import socket\n\
        for name in ['AF_VSOCK', 'AF_NETLINK', 'AF_PACKET', 'AF_ALG', 'AF_UNIX', 'AF_INET', 'AF_INET6']:\n\
        \x20 try: socket.socket(getattr(socket, name), socket.SOCK_DGRAM if name != 'AF_ALG' else socket.SOCK_SEQPACKET); print(name)\n\
        \x20 except OSError: pass\n";
    // A grant needs namespaces: not with Landlock alone.
    for who in everyone().into_iter().filter(|w| *w != Who::LandlockOnly) {
        let l = Layout::new();
        let run = python_with(&l, who, &["--network", "allow=example.test"], script);
        run.expect_code(0);
        assert_eq!(
            run.stdout(),
            "AF_INET\nAF_INET6\n",
            "{who:?}: {}",
            run.stderr()
        );
    }
}

/// Attack: make the supervisor, which opens files for the command when it
/// creates one, open its own /proc entries instead: its working directory
/// (on a mount that hides the root's secrets from the command), its
/// environment (cordon's, unscrubbed), through /proc/self and
/// /proc/thread-self, with O_CREAT, or by reopening through
/// /proc/self/fd/N an O_PATH descriptor of the supervisor's environ. Nothing of the supervisor's comes back;
/// the command's own descriptor table works as the kernel's does.
#[test]
fn the_supervisor_opens_nothing_of_its_own_for_a_command() {
    if skip_without(&["python3"]) {
        return;
    }
    let script = "import os\n\
        for p in ['/proc/self/cwd/.env', '/proc/self/environ', '/proc/thread-self/environ',\n\
        \x20         '/proc/self/root/proc/self/environ', '/dev/fd/../environ', '/proc/self/mem']:\n\
        \x20 try: fd = os.open(p, os.O_RDONLY | os.O_CREAT, 0o644); print(p, os.read(fd, 1 << 20))\n\
        \x20 except OSError as e: print(p, 'refused', e.errno)\n\
        held = os.open('/proc/%d/environ' % os.getppid(), os.O_PATH)\n\
        try: print('reopened', os.read(os.open('/proc/self/fd/%d' % held, os.O_RDONLY | os.O_CREAT), 1 << 20))\n\
        except OSError as e: print('reopen refused', e.errno)\n";
    for who in everyone_and_unprivileged_landlock() {
        let l = Layout::new();
        std::fs::write(l.at(".env"), "TOKEN=hidden-secret\n").unwrap();
        hand_over(&l, who);
        let mut python = native_command(&l, who, &[], &["python3", "-c", script]);
        // The supervisor starts where cordon was started: in the root.
        python
            .current_dir(&l.root)
            .env("SUPERVISOR_ONLY_TOKEN", "host-canary");
        let run = Run(python.output().expect("running cordon"));
        run.expect_code(0);
        let out = run.stdout();
        assert_eq!(out.matches("refused").count(), 7, "{who:?}: {out}");
        for leak in ["hidden-secret", "host-canary"] {
            assert!(!out.contains(leak), "{who:?} read {leak}: {out}");
        }
    }
}

/// What names a descriptor of the command's (/dev/stderr, /dev/fd/N,
/// /proc/self/fd/N, /proc/PID/fd/N, /proc/thread-self/fd/N) is opened
/// with O_CREAT as the kernel opens it: the command's own file, anew.
#[test]
fn opening_the_commands_own_descriptors_by_name_works() {
    if skip_without(&["python3"]) {
        return;
    }
    // Through python: the broker would ask about a redirection to a
    // name made as the line runs ($$).
    let through_python =
        "import subprocess, sys; sys.exit(subprocess.run(['sh', '-c', sys.argv[1]]).returncode)";
    for who in everyone_and_unprivileged_landlock() {
        let l = Layout::new();
        let run = native_command(
            &l,
            who,
            &[],
            &["python3", "-c", through_python, "echo a > /dev/stderr; echo b > /proc/self/fd/1; echo c | tee /dev/fd/2 >/dev/null; \
             echo d >> /dev/stdout; echo e > /proc/$$/fd/2; exec 3>src/f; \
             echo f > /proc/thread-self/fd/3; echo g >> /dev/fd/3"],
        )
        .output()
        .map(Run)
        .expect("running cordon");
        run.expect_code(0);
        assert_eq!(run.stdout(), "b\nd\n", "{who:?}: {}", run.stderr());
        assert!(
            run.stderr().starts_with("a\nc\ne\n"),
            "{who:?}: {}",
            run.stderr()
        );
        assert_eq!(std::fs::read_to_string(l.at("src/f")).unwrap(), "f\ng\n");
    }
}

/// Attack: stack a Landlock domain of one's own, tighter than cordon's,
/// and expect it to hold for files the supervisor makes on the command's
/// behalf (it acts within cordon's domain). Landlock is answered as absent
/// (ENOSYS), so a program knows it has no such domain.
#[test]
fn a_command_cannot_stack_a_landlock_domain_the_supervisor_would_not_honour() {
    if skip_without(&["python3"]) {
        return;
    }
    let script = "import ctypes, os\n\
        libc = ctypes.CDLL(None, use_errno=True)\n\
        for nr in (444, 445, 446):\n\
        \x20 print(nr, libc.syscall(nr, 0, 0, 0), ctypes.get_errno())\n";
    for who in everyone_and_unprivileged_landlock() {
        let l = Layout::new();
        let run = python_with(&l, who, &[], script);
        run.expect_code(0);
        assert_eq!(
            run.stdout(),
            "444 -1 38\n445 -1 38\n446 -1 38\n",
            "{who:?}: {}",
            run.stderr()
        );
    }
}

/// A program written and run at once runs: the supervisor, which opened
/// it for writing for the command, has let go of it before the command
/// can go on (else: ETXTBSY, "text file busy").
#[test]
fn a_program_just_written_can_be_run() {
    if skip_without(&["python3"]) {
        return;
    }
    let script = "import os, subprocess, shutil\n\
        body = open(shutil.which('true'), 'rb').read()\n\
        for i in range(100):\n\
        \x20 fd = os.open(f'src/t{i}', os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o755)\n\
        \x20 os.write(fd, body); os.close(fd)\n\
        \x20 subprocess.run([f'src/t{i}'], check=True)\n\
        print('ran')\n";
    for who in everyone_and_unprivileged_landlock() {
        let l = Layout::new();
        let run = python_with(&l, who, &[], script);
        assert_eq!(run.stdout(), "ran\n", "{who:?}: {}", run.stderr());
    }
}

/// Attack: hold the per-user git-shape lock from inside the sandbox, so
/// that every other run's making of HEAD, objects, refs or commondir waits
/// and fails. The lock file is out of the command's reach, as a secret is.
#[test]
fn a_command_cannot_hold_the_git_shape_lock() {
    if skip_without(&["python3"]) {
        return;
    }
    let script = "import fcntl, sys\n\
        try: fcntl.flock(open(sys.argv[1], 'rb'), fcntl.LOCK_EX); print('held')\n\
        except OSError: print('out of reach')\n";
    for who in everyone_and_unprivileged_landlock() {
        let l = Layout::new();
        let uid = if matches!(who, Who::Nobody | Who::NobodyLandlockOnly) {
            65534
        } else {
            0
        };
        let lock = std::env::temp_dir().join(format!("cordon-{uid}/git-shape.lock"));
        let run = native_command(
            &l,
            who,
            &[],
            &["python3", "-c", script, &lock.display().to_string()],
        )
        .output()
        .map(Run)
        .expect("running cordon");
        assert_eq!(run.stdout(), "out of reach\n", "{who:?}: {}", run.stderr());
    }
}
