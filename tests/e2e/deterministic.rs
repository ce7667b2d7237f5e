//! `--deterministic`: the same run gives byte-identical output whatever the
//! host's clock, environment or directory, and fuel bounds it instead of
//! wall time.

use crate::support::{BOTH, Layout, Wasi, wat_file};

/// Everything a guest could observe that varies between hosts.
fn observe(l: &Layout, wasi: crate::support::Wasi, extra: &[&str]) -> (String, String) {
    let run = |action: &[&str]| {
        let mut cordon = l.cordon().args(["--deterministic"]).args(extra);
        cordon.0.env(
            "CORDON_TEST_NOISE",
            format!("{:?}", std::time::Instant::now()),
        );
        cordon.probe(wasi, action)
    };
    let mut out = String::new();
    for action in [&["env"][..], &["random", "32"], &["clock"], &["ls", "."]] {
        out.push_str(&run(action).expect_code(0).stdout());
    }
    let pwd = l
        .cordon()
        .args(["--deterministic"])
        .args(extra)
        .args(["--", "pwd"])
        .output();
    (out, pwd.expect_code(0).stdout())
}

#[test]
fn repeated_runs_are_byte_identical_anywhere() {
    for wasi in BOTH {
        let first = Layout::new();
        let second = Layout::new();
        let (a, pwd) = observe(&first, wasi, &[]);
        let (b, _) = observe(&second, wasi, &[]);
        assert_eq!(a, b, "{wasi:?}");
        // Fixed clocks and a fixed root path; nothing from the host.
        assert!(a.contains("wall 946684800\n"), "{a}");
        assert!(a.contains("monotonic step 1000000\n"), "{a}");
        assert!(a.contains("HOME=/project\nPWD=/project\n"), "{a}");
        assert!(!a.contains("CORDON_TEST_NOISE"));
        assert_eq!(pwd, "/project\n");
    }
}

#[test]
fn the_seed_and_the_clock_are_the_users() {
    let l = Layout::new();
    let random = |seed: &str| {
        l.cordon()
            .args(["--deterministic", "--seed", seed])
            .probe(Wasi::P1, &["random", "16"])
            .stdout()
    };
    assert_eq!(random("1"), random("1"));
    assert_ne!(random("1"), random("2"));
    let run = l
        .cordon()
        .args([
            "--deterministic",
            "--clock",
            "2024-05-01T12:00:00Z",
            "--",
            "date",
            "-u",
            "+%s",
        ])
        .output();
    assert_eq!(run.expect_code(0).stdout(), "1714564800\n");
}

#[test]
fn files_show_the_fixed_time() {
    for wasi in BOTH {
        let l = Layout::new();
        let run = l
            .cordon()
            .args(["--deterministic"])
            .probe(wasi, &["mtime", "a.txt"]);
        assert_eq!(run.expect_code(0).stdout(), "946684800\n", "{wasi:?}");
        // Without --deterministic the host's time shows through.
        let run = l.cordon().probe(wasi, &["mtime", "a.txt"]);
        assert_ne!(run.expect_code(0).stdout(), "946684800\n");
    }
}

#[test]
fn fuel_replaces_the_wall_clock_deadline() {
    let l = Layout::new();
    let run = l
        .cordon()
        .args(["--deterministic", "--fuel", "1000000"])
        .probe(Wasi::P1, &["spin"]);
    run.expect_code(124);
    assert!(
        run.stderr().contains("fuel of 1000000 exhausted"),
        "{}",
        run.stderr()
    );
}

#[test]
fn nans_are_canonical() {
    let l = Layout::new();
    // 0/0 in f32: x86 produces 0xffc00000, the canonical NaN is 0x7fc00000.
    let wasm = wat_file(
        &l.base,
        "nan.wasm",
        r#"(module
             (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
             (memory (export "memory") 1)
             (func (export "_start")
               (call $exit
                 (i32.ne
                   (i32.reinterpret_f32 (f32.div (f32.const 0) (f32.const 0)))
                   (i32.const 0x7fc00000)))))"#,
    );
    l.cordon()
        .args(["--deterministic"])
        .wasm(&wasm, &[])
        .expect_code(0);
}

#[test]
fn deterministic_flags_need_deterministic_mode() {
    let l = Layout::new();
    for flag in [
        ["--seed", "1"],
        ["--fuel", "5"],
        ["--clock", "2024-01-01T00:00:00Z"],
    ] {
        let run = l.cordon().args(flag).args(["--", "true"]).output();
        run.expect_code(125);
        assert_eq!(run.stderr().lines().count(), 1, "{}", run.stderr());
    }
    let run = l
        .cordon()
        .args(["--deterministic", "--clock", "yesterday", "--", "true"])
        .output();
    run.expect_code(125);
}
