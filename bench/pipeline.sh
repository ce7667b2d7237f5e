#!/usr/bin/env bash
# A pipeline of three WASI tools over a 100 MB file, joined in the host by
# `cordon run -c`, against the same pipeline of native GNU tools under bash
# (warm compile cache); then a line with redirections, likewise. bash's and
# cordon's runs alternate, RUNS times (default 5) after one round of
# warm-up; every run must exit 0 and give what bash gives (the count on
# stdout; for the redirected line, in count.txt).
#
#   bench/pipeline.sh           # RUNS=5 by default; data in target/bench-data
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
DATA=${DATA:-target/bench-data}

rustup target add wasm32-wasip1 >/dev/null 2>&1 || true
cargo build --release -p cordon --quiet
mkdir -p "$DATA"
DATA=$(cd "$DATA" && pwd)
if [ ! -f "$DATA/lines-100m.txt" ]; then
  python3 - "$DATA/lines-100m.txt" <<'PY'
import random, sys
rng = random.Random(7)
words = ["alpha", "beta", "gamma", "delta", "error", "warning", "info", "TODO", "value"]
with open(sys.argv[1], "w") as out:
    size = 0
    while size < 100 * 1024 * 1024:
        line = " ".join(rng.choice(words) for _ in range(rng.randint(4, 14))) + "\n"
        out.write(line)
        size += len(line)
PY
fi
CORDON=$PWD/target/release/cordon
CACHE=$(mktemp -d)
trap 'rm -rf "$CACHE"' EXIT
cd "$DATA"
PIPE='cat lines-100m.txt | grep error | wc -l'
# The same work with redirections: cordon opens them itself, so the line
# still runs its WASI tools in the host.
REDIRECTED='grep error < lines-100m.txt | wc -l > count.txt'
# Warm the compile cache once, outside the timing.
"$CORDON" run --cache-dir "$CACHE" -c true >/dev/null
python3 - "$RUNS" "$CORDON" "$CACHE" "$PIPE" "$REDIRECTED" <<'PY'
import os, statistics, subprocess, sys, time
runs, cordon, cache, pipe, redirected = sys.argv[1:]
def once(argv, result):
    """Wall time of one run, which must exit 0, and what it gave."""
    start = time.perf_counter()
    out = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    took = time.perf_counter() - start
    if out.returncode != 0:
        sys.exit(f"{argv}: exit {out.returncode}: {out.stderr.decode()[:300]}")
    return took, result(out)
from_stdout = lambda out: out.stdout
def from_file(out):
    with open("count.txt", "rb") as f:
        given = f.read()
    os.remove("count.txt")
    return given
print(f"{runs} runs of each, alternating; every run exited 0 with bash's result\n")
print(f"| {'Command':<60} | Median [ms] | Ratio to bash |")
print(f"|:{'-' * 60}-|------------:|--------------:|")
for line, result in [(pipe, from_stdout), (redirected, from_file)]:
    sides = {
        f"bash: {line}": ["bash", "-c", line],
        "cordon -c, same line": [cordon, "run", "--cache-dir", cache, "-c", line],
    }
    times = {name: [] for name in sides}
    expected = once(sides[f"bash: {line}"], result)[1]
    for n in range(1 + int(runs)):
        for name, argv in sides.items():
            took, given = once(argv, result)
            if given != expected:
                sys.exit(f"{name}: gave {given!r}, bash {expected!r}")
            if n > 0:
                times[name].append(took)
    base = statistics.median(times[f"bash: {line}"])
    for name, values in times.items():
        median = statistics.median(values)
        shown = name.replace("|", "\\|")  # a pipe of the line, in a Markdown cell
        print(f"| {shown:<60} | {median * 1e3:11.1f} | {median / base:13.2f} |")
PY
