#!/usr/bin/env bash
# What finding the git directories costs before every command, with
# bench/tools.sh's generated tree (600 directories, 20,000 files) as the
# root: `cordon run -- true` with each directory's listing remembered from
# the run before, beside the same run with nothing remembered (the memory
# removed before each run, as on a first run or after every directory
# changed), and bare `true`. The runs alternate, RUNS (default 100) of
# each, after 5 rounds of warm-up; medians. Every run must exit 0.
#
#   bench/tools.sh && bench/walk.sh     # tools.sh makes the tree once
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-100}
DATA=${DATA:-target/bench-data}
if [ ! -f "$DATA/tree/.done" ]; then
  echo "bench/walk.sh: no tree in $DATA: run bench/tools.sh first" >&2
  exit 1
fi
cargo build --release -p cordon --quiet
ROOT=$(cd "$DATA/tree" && pwd)
CACHE=$(cd "$DATA" && pwd)/.cordon-cache

python3 - "$RUNS" "$ROOT" "$CACHE" "$(pwd)/target/release/cordon" <<'PY'
import hashlib, os, statistics, subprocess, sys, time
runs, root, cache, cordon = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
run = [cordon, "run", "--root", root, "--cache-dir", cache, "--", "true"]
memory = os.path.join(cache, "walks", hashlib.sha256(root.encode()).hexdigest())
def forget():
    if os.path.exists(memory):
        os.remove(memory)
# (label, command, what to do before it); the "remembered" run finds what
# the previous round's whole walk stored.
cases = [
    ("cordon run -- true, remembered", run, None),
    ("cordon run -- true, walked whole", run, forget),
    ("true", ["true"], None),
]
times = {label: [] for label, _, _ in cases}
for round in range(runs + 5):
    for label, cmd, before in cases:
        if before:
            before()
        start = time.perf_counter()
        done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        took = time.perf_counter() - start
        if done.returncode != 0:
            sys.exit(f"{' '.join(cmd)}: exit {done.returncode}: {done.stderr.decode()[:300]}")
        if round >= 5:
            times[label].append(took * 1000)
if not os.path.exists(memory):
    sys.exit("bench/walk.sh: nothing was remembered: was the tree changed in the last 5 s?")
for label, _, _ in cases:
    print(f"{label:<34} {statistics.median(times[label]):7.2f} ms")
print(f"{runs} runs of each, alternating; every run exited 0")
PY
