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
