//! The guest's exit code comes through exactly, for both WASI versions.

use crate::support::{Layout, Wasi, wat_file};

/// A WASIp1 module that calls `proc_exit(code)`.
fn p1_exit(code: u32) -> String {
    format!(
        r#"(module
             (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
             (memory (export "memory") 1)
             (func (export "_start") (call $exit (i32.const {code}))))"#
    )
}

/// A WASIp2 command component: code 0 returns `ok` from `run`, any other
/// code calls `wasi:cli/exit.exit-with-code`.
fn p2_exit(code: u32) -> String {
    format!(
        r#"(component
             (import "wasi:cli/exit@0.2.12" (instance $exit
               (export "exit-with-code" (func (param "status-code" u8)))))
             (core module $m
               (import "host" "exit-with-code" (func $exit (param i32)))
               (func (export "run") (result i32)
                 (if (i32.ne (i32.const {code}) (i32.const 0))
                   (then (call $exit (i32.const {code}))))
                 (i32.const 0)))
             (core func $exit (canon lower (func $exit "exit-with-code")))
             (core instance $i (instantiate $m
               (with "host" (instance (export "exit-with-code" (func $exit))))))
             (func $run (result (result)) (canon lift (core func $i "run")))
             (instance $run (export "run" (func $run)))
             (export "wasi:cli/run@0.2.0" (instance $run)))"#
    )
}

#[test]
fn exit_codes_pass_through_for_p1_and_p2() {
    let l = Layout::new();
    for code in [0, 1, 3, 42] {
        let p1 = wat_file(&l.base, &format!("p1-{code}.wasm"), &p1_exit(code));
        l.cordon().wasm(&p1, &[]).expect_code(code as i32);
        let p2 = wat_file(&l.base, &format!("p2-{code}.wasm"), &p2_exit(code));
        l.cordon().wasm(&p2, &[]).expect_code(code as i32);
    }
}

#[test]
fn rust_guests_report_their_codes() {
    let l = Layout::new();
    for code in ["0", "3", "42"] {
        l.cordon()
            .probe(Wasi::P1, &["exit", code])
            .expect_code(code.parse().unwrap());
    }
    // Rust's std on wasip2 reports a failure through `exit(err)`, which
    // carries no code: it is 1, as documented.
    l.cordon().probe(Wasi::P2, &["exit", "3"]).expect_code(1);
    l.cordon().probe(Wasi::P2, &["exit", "0"]).expect_code(0);
}

#[test]
fn a_trap_says_what_trapped() {
    let l = Layout::new();
    let wasm = wat_file(
        &l.base,
        "trap.wasm",
        r#"(module (memory (export "memory") 1)
             (func (export "_start") (drop (i32.div_u (i32.const 1) (i32.const 0)))))"#,
    );
    let run = l.cordon().wasm(&wasm, &[]);
    run.expect_code(134);
    assert!(run.stderr().contains("cordon:"), "{}", run.stderr());
    assert!(run.stderr().contains("divide by zero"), "{}", run.stderr());
}
