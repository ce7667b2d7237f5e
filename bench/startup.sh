#!/usr/bin/env bash
# Warm whole-process start, side by side in one run:
#   cordon run        (compile cache warm)
#   wasmtime run      (wasmtime-cli 48.0.8, its compile cache warm)
#   wasmtime run of a module precompiled with `wasmtime compile`
# on the same WASIp1 module (the probe test guest), the same directory, the
# same arguments. Installs wasmtime-cli 48.0.8 into target/bench-tools when
# no `wasmtime` 48.0.8 is on PATH (a one-time build of several minutes).
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
print(f"{runs} runs each, interleaved; median and mean wall time per process\n")
for label, args in workloads.items():
    samples = {name: [] for name in tools}
    for name, cmd in tools.items():  # warm every cache first
        out = subprocess.run(cmd(args), capture_output=True)
        assert out.returncode == 0, (name, out.stderr)
    for _ in range(runs):
        for name, cmd in tools.items():
            start = time.perf_counter()
            subprocess.run(cmd(args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            samples[name].append(time.perf_counter() - start)
    base = statistics.median(samples["wasmtime run"])
    print(f"workload: {label}")
    for name, s in samples.items():
        med = statistics.median(s)
        print(f"  {name:<28} median {med*1e3:7.2f} ms   mean {statistics.mean(s)*1e3:7.2f} ms"
              f"   ratio to wasmtime run {med/base:5.2f}")
    print()
PY
