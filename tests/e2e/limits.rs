//! Limits: memory, wall clock (for guest code and for blocked host calls),
//! output volume. Each ends with a `cordon:` line and its documented code;
//! none is a timing assertion beyond "it did end".

use std::time::{Duration, Instant};

use crate::support::{BOTH, Layout, Wasi};

/// Generous upper bound: the run ended because of the limit, not by luck.
const ENDED_WITHIN: Duration = Duration::from_secs(20);

#[test]
fn memory_bomb_is_stopped() {
    for wasi in BOTH {
        let l = Layout::new();
        let run = l
            .cordon()
            .args(["--memory", "64"])
            .probe(wasi, &["alloc", "512"]);
        assert_ne!(run.code(), 0);
        assert!(!run.stdout().contains("allocated"));
        assert!(
            run.stderr().contains("cordon:") && run.stderr().contains("memory limit of 64 MiB"),
            "{}",
            run.stderr()
        );
        // Within the limit the same guest succeeds.
        let run = l
            .cordon()
            .args(["--memory", "64"])
            .probe(wasi, &["alloc", "8"]);
        assert_eq!(run.expect_code(0).stdout(), "allocated 8 MiB\n");
    }
}

#[test]
fn infinite_loop_times_out() {
    for wasi in BOTH {
        let l = Layout::new();
        let started = Instant::now();
        let run = l.cordon().args(["--timeout", "0.5"]).probe(wasi, &["spin"]);
        run.expect_code(124);
        assert!(run.stderr().contains("cordon:") && run.stderr().contains("timed out"));
        assert!(started.elapsed() < ENDED_WITHIN);
    }
}

#[test]
fn a_guest_blocked_in_a_host_call_times_out() {
    for wasi in BOTH {
        let l = Layout::new();
        let started = Instant::now();
        let run = l
            .cordon()
            .args(["--timeout", "0.5"])
            .probe(wasi, &["sleep", "60"]);
        run.expect_code(124);
        assert!(run.stderr().contains("timed out"), "{}", run.stderr());
        assert!(started.elapsed() < ENDED_WITHIN);
    }
}

/// A WASIp1 guest's stdout is written whole while descriptor 1 is the
/// run's stream (all the buffers of one fd_write), and a guest that moves a file onto
/// descriptor 1 writes that file, not the run's output.
#[test]
fn stdout_writes_go_where_descriptor_one_points() {
    let l = Layout::new();
    let run = l.cordon().probe(Wasi::P1, &["vectored", "ab", "cd"]);
    assert_eq!(run.expect_code(0).stdout(), "abcd");
    assert!(run.stderr().contains("wrote 4"), "{}", run.stderr());
    // As writev(2), at most 1024 buffers in one call: the host's work in a
    // call the deadline cannot interrupt stays bounded.
    let run = l.cordon().probe(Wasi::P1, &["vectored-many", "1024"]);
    assert_eq!(run.expect_code(0).stdout().len(), 1024);
    assert!(
        run.stderr().contains("errno 0 wrote 1024"),
        "{}",
        run.stderr()
    );
    let run = l.cordon().probe(Wasi::P1, &["vectored-many", "1025"]);
    assert_eq!(run.expect_code(0).stdout(), "");
    // 28: inval.
    assert!(
        run.stderr().contains("errno 28 wrote 0"),
        "{}",
        run.stderr()
    );
    let run = l
        .cordon()
        .probe(Wasi::P1, &["stdout-to", "moved.txt", "hello"]);
    assert_eq!(run.expect_code(0).stdout(), "");
    assert_eq!(std::fs::read_to_string(l.at("moved.txt")).unwrap(), "hello");
}

#[test]
fn output_flood_is_capped_without_trapping() {
    for wasi in BOTH {
        let l = Layout::new();
        let run = l
            .cordon()
            .args(["--max-output", "1000"])
            .probe(wasi, &["flood", "10000000"]);
        // The guest finished normally: the cap drops bytes, it does not trap.
        run.expect_code(0);
        assert_eq!(run.0.stdout.len(), 1000);
        let stderr = run.stderr();
        let notice: Vec<&str> = stderr
            .lines()
            .filter(|l| l.starts_with("cordon:"))
            .collect();
        assert_eq!(notice.len(), 1, "{stderr}");
        assert!(
            notice[0].contains("stdout truncated at 1000 bytes"),
            "{}",
            notice[0]
        );
    }
}

/// `--timeout` is the whole line's deadline, not each command's: three
/// native `sleep 0.9` under `--timeout 1` ran for 2.7 s. The second sleep
/// is cut at the deadline and what follows it does not start.
#[cfg(target_os = "linux")]
#[test]
fn the_timeout_is_the_whole_lines() {
    let l = Layout::new();
    let run = l
        .cordon()
        .args(["--engine", "native", "--timeout", "1", "-c"])
        .args(["sleep 0.9; sh -c 'echo > first'; sleep 0.9; sh -c 'echo > second'"])
        .output();
    run.expect_code(124);
    assert!(l.at("first").exists(), "{}", run.stderr());
    assert!(!l.at("second").exists(), "{}", run.stderr());
    assert!(run.stderr().contains("--timeout"), "{}", run.stderr());
}

/// Runs `cordon` to its end; its exit code, stderr, and peak resident
/// memory in MiB (its own and that of the processes it waited for).
#[cfg(target_os = "linux")]
#[allow(clippy::zombie_processes)] // reaped by wait4, for its rusage
fn peak_rss(mut cordon: std::process::Command) -> (i32, String, u64) {
    use std::os::unix::process::ExitStatusExt;
    let child = cordon
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = i32::try_from(child.id()).unwrap();
    let mut stderr = child.stderr.unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut text).unwrap();
        text
    });
    let mut status = 0;
    // SAFETY: waits for our own child; rusage is filled on success.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::wait4(pid, &mut status, 0, &mut usage) }, pid);
    let code = std::process::ExitStatus::from_raw(status)
        .code()
        .unwrap_or(-1);
    let mib = u64::try_from(usage.ru_maxrss).unwrap() / 1024;
    (code, reader.join().unwrap(), mib)
}

/// The most memory cordon may hold while a command floods it: well under
/// what the floods below would take if buffered.
#[cfg(target_os = "linux")]
const PEAK_MIB: u64 = 200;

/// A command writing 300 MiB to stderr without a newline: cordon's own
/// memory stays bounded (refusal lines are read up to 4 KiB).
#[cfg(target_os = "linux")]
#[test]
fn a_stderr_flood_without_newlines_cannot_grow_cordon() {
    let l = Layout::new();
    let mut cordon = l.cordon().0;
    cordon.args([
        "--engine",
        "native",
        "--max-output",
        "100",
        "--memory",
        "64",
        "--",
    ]);
    cordon.args(["sh", "-c", "head -c 314572800 /dev/zero | tr '\\0' x >&2"]);
    let (code, stderr, mib) = peak_rss(cordon);
    assert_eq!(code, 0, "{stderr}");
    assert!(mib < PEAK_MIB, "cordon peaked at {mib} MiB");
}

/// Repeated refusal lines whose targets the command chooses: the audit
/// keeps 100 distinct ones, counts repeats and the rest, and stays small.
#[cfg(target_os = "linux")]
#[test]
fn refusals_are_deduplicated_and_capped() {
    let l = Layout::new();
    let audit = l.base.join("audit.jsonl");
    let mut cordon = l.cordon().0;
    cordon.args(["--engine", "native", "--max-output", "100", "--audit"]);
    cordon.arg(&audit).args(["--", "sh", "-c"]);
    cordon.arg(
        "seq 1 200000 | sed 's|.*|cat: /x&: Permission denied|' >&2; \
         yes 'cat: /same: Permission denied' | head -n 100000 >&2",
    );
    let (code, stderr, mib) = peak_rss(cordon);
    assert_eq!(code, 0, "{stderr}");
    assert!(mib < PEAK_MIB, "cordon peaked at {mib} MiB");
    let size = std::fs::metadata(&audit).unwrap().len();
    assert!(size < 200_000, "audit log of {size} bytes");
    let lines = crate::support::audit_lines(&audit);
    let violations = crate::support::events(&lines, "violation");
    assert_eq!(violations.len(), 100);
    assert!(violations.iter().all(|v| v["from_stderr"] == true));
    let dropped = crate::support::events(&lines, "violations-not-kept");
    // 200,000 distinct targets, then /same 100,000 times: 100 kept, and
    // every other refusal line counted.
    assert_eq!(dropped[0]["count"], 300_000 - 100);
    assert!(stderr.lines().count() < 20, "{stderr}");
}

/// A project's rules file that is a symlink to /dev/zero, a FIFO, or a
/// host file is refused at once with one line; cordon reads nothing of it.
#[cfg(target_os = "linux")]
#[test]
fn config_files_are_read_only_as_bounded_regular_files() {
    type Make = fn(&std::path::Path);
    let cases: [(&str, Make); 4] = [
        ("zero", |p| {
            std::os::unix::fs::symlink("/dev/zero", p).unwrap()
        }),
        ("host file", |p| {
            std::os::unix::fs::symlink("/etc/passwd", p).unwrap()
        }),
        ("fifo", |p| {
            let path = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
            // SAFETY: makes a FIFO at a path the test owns.
            assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }, 0);
        }),
        ("too large", |p| {
            std::fs::write(p, vec![b'#'; 2 << 20]).unwrap()
        }),
    ];
    for (kind, make) in cases {
        let l = Layout::new();
        std::fs::create_dir_all(l.at(".cordon")).unwrap();
        make(&l.at(".cordon/rules.toml"));
        let mut cordon = l.cordon().0;
        cordon.args(["--", "cat", "a.txt"]);
        let (code, stderr, mib) = peak_rss(cordon);
        assert_eq!(code, 125, "{kind}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{kind}: {stderr}");
        assert!(stderr.contains(".cordon/rules.toml"), "{kind}: {stderr}");
        assert!(mib < PEAK_MIB, "{kind}: cordon peaked at {mib} MiB");
    }
    // `.cordon` itself a symlink to a directory elsewhere on the host.
    let l = Layout::new();
    std::fs::write(l.base.join("outside/rules.toml"), "# host file\n").unwrap();
    std::os::unix::fs::symlink(l.base.join("outside"), l.at(".cordon")).unwrap();
    let run = l.cordon().args(["--", "cat", "a.txt"]).output();
    run.expect_code(125);
    assert!(
        run.stderr().contains("outside the root"),
        "{}",
        run.stderr()
    );
}

/// A built-in `sleep` is cut at the deadline itself, not by the watchdog
/// two seconds later, and the line names the command.
#[test]
fn a_sleeping_tool_is_cut_at_the_deadline() {
    let l = Layout::new();
    let run = l
        .cordon()
        .args(["--timeout", "1", "--", "sleep", "30"])
        .output();
    run.expect_code(124);
    let stderr = run.stderr();
    assert!(stderr.contains("sleep: timed out after"), "{stderr}");
    assert!(!stderr.contains("blocked in a host call"), "{stderr}");
}
