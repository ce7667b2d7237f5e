#!/usr/bin/env bash
# Warm whole-process start, side by side in one run:
#   cordon run        (compile cache warm)
#   wasmtime run      (wasmtime-cli 48.0.8, its compile cache warm)
#   wasmtime run of a module precompiled with `wasmtime compile`
# on the same WASIp1 module (the probe test guest), the same directory, the
# same arguments, the runs of the three alternating. Every run must exit 0
# and print what the others print (lines compared sorted: a listing comes
# in each runtime's own order). Installs wasmtime-cli 48.0.8 into
# target/bench-tools when no `wasmtime` 48.0.8 is on PATH (a one-time
# build of several minutes).
#
#   bench/startup.sh            # RUNS=300 by default
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-300}

rustup target add wasm32-wasip1 >/dev/null 2>&1 || true
cargo build --release -p cordon --quiet
cargo build --release --quiet --target wasm32-wasip1 \
  --manifest-path fixtures/guests/probe/Cargo.toml --target-dir target/guests

WASMTIME=${WASMTIME:-}
if [ -z "$WASMTIME" ]; then
  if command -v wasmtime >/dev/null && wasmtime --version | grep -q '48\.0\.8'; then
    WASMTIME=$(command -v wasmtime)
  else
    if [ ! -x target/bench-tools/bin/wasmtime ]; then
      cargo install wasmtime-cli --version 48.0.8 --locked --root target/bench-tools
    fi
    WASMTIME=target/bench-tools/bin/wasmtime
  fi
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/proj/src"
for i in $(seq 1 20); do echo "line $i" > "$WORK/proj/src/file$i.txt"; done
MODULE=target/guests/wasm32-wasip1/release/probe.wasm
"$WASMTIME" compile -o "$WORK/probe.cwasm" "$MODULE"

python3 - "$RUNS" "$WORK" "$MODULE" "$WASMTIME" <<'PY'
import statistics, subprocess, sys, time
runs, work, module, wasmtime = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
proj = f"{work}/proj"
cache = f"{work}/cordon-cache"
tools = {
    "cordon run": lambda args: ["target/release/cordon", "run", "--root", proj,
                                "--cache-dir", cache, "--", module, *args],
    "wasmtime run": lambda args: [wasmtime, "run", f"--dir={proj}::{proj}", module, *args],
    "wasmtime run (precompiled)": lambda args: [wasmtime, "run", "--allow-precompiled",
                                                f"--dir={proj}::{proj}",
                                                f"{work}/probe.cwasm", *args],
}
workloads = {"noop": ["noop"], f"ls {proj}/src": ["ls", f"{proj}/src"]}
print(f"wasmtime: {subprocess.run([wasmtime, '--version'], capture_output=True, text=True).stdout.strip()}")
print(f"{runs} runs each, interleaved, every one exiting 0 with the same output;"
      " median and mean wall time per process\n")
def run(name, argv):
    """Wall time of one run, which must exit 0; and its output's lines, sorted."""
    start = time.perf_counter()
    out = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    took = time.perf_counter() - start
    if out.returncode != 0:
        sys.exit(f"{name}: exit {out.returncode}: {out.stderr.decode()[:300]}")
    return took, sorted(out.stdout.splitlines())
for label, args in workloads.items():
    samples = {name: [] for name in tools}
    # Warms every cache; wasmtime run's output is what every run must print.
    expected = {name: run(name, cmd(args))[1] for name, cmd in tools.items()}["wasmtime run"]
    for _ in range(runs):
        for name, cmd in tools.items():
            took, out = run(name, cmd(args))
            if out != expected:
                sys.exit(f"{name} {label}: output differs from wasmtime run's: {out[:5]}")
            samples[name].append(took)
    base = statistics.median(samples["wasmtime run"])
    print(f"workload: {label}")
    for name, s in samples.items():
        med = statistics.median(s)
        print(f"  {name:<28} median {med*1e3:7.2f} ms   mean {statistics.mean(s)*1e3:7.2f} ms"
              f"   ratio to wasmtime run {med/base:5.2f}")
    print()
PY
