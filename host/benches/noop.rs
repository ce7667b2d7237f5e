//! In-process cost of one run of a no-op tool: build the WASI context,
//! instantiate the pre-linked program, call it, collect the outcome.
//! Compilation happens once, before timing.
//!
//! `cargo bench -p cordon --bench noop`

use std::time::{Duration, Instant};

use cordon::io::Stdio;
use cordon::policy::{SandboxMode, SandboxPolicy};
use cordon::wasi::{EngineMode, Program, Status, WasiHost};

const RUNS: usize = 2000;

const P1_NOOP: &str = r#"(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start")))"#;

const P2_NOOP: &str = r#"(component
  (core module $m (func (export "run") (result i32) (i32.const 0)))
  (core instance $i (instantiate $m))
  (func $run (result (result)) (canon lift (core func $i "run")))
  (instance $run (export "run" (func $run)))
  (export "wasi:cli/run@0.2.0" (instance $run)))"#;

fn measure(host: &WasiHost, program: &Program, policy: &SandboxPolicy) -> Vec<Duration> {
    let argv = vec!["noop".to_string()];
    let mut times = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let stdio = Stdio::to_writers(Box::new(std::io::sink()), Box::new(std::io::sink()), None);
        let started = Instant::now();
        let outcome = host.run(program, policy, &argv, stdio).expect("run");
        times.push(started.elapsed());
        assert_eq!(outcome.status, Status::Exited(0));
    }
    times.sort();
    times
}

fn main() {
    let root = tempfile::tempdir().expect("tempdir");
    let host = WasiHost::new(None, EngineMode::Standard).expect("host");
    for mode in [SandboxMode::ReadOnly, SandboxMode::WorkspaceWrite] {
        let policy = SandboxPolicy::new(root.path(), None, mode).expect("policy");
        for (kind, wat) in [("wasip1 module", P1_NOOP), ("wasip2 component", P2_NOOP)] {
            let program = host
                .load(&wat::parse_str(wat).unwrap(), &cordon::observe::Quiet)
                .expect("load");
            // Warm up allocators and page tables.
            measure(&host, &program, &policy);
            let times = measure(&host, &program, &policy);
            let pct = |p: usize| times[times.len() * p / 100].as_secs_f64() * 1e6;
            println!(
                "noop {kind:<17} {:<16} median {:7.1} us   p90 {:7.1} us   p99 {:7.1} us   ({RUNS} runs)",
                mode.as_str(),
                pct(50),
                pct(90),
                pct(99)
            );
        }
    }
}
