#!/usr/bin/env bash
# The built-in tools against the native GNU tools (and ripgrep) on the same
# data, side by side in one run: grep -r, rg and find over a generated
# ~160 MB source tree;
# wc -l and cat over a 1 GB file; sort over a 100 MB file. cordon runs with
# a warm compile cache (the module is compiled once, before timing). Each
# command runs RUNS times (default 5), GNU's and cordon's runs alternating;
# the medians are reported. Every run must exit 0, and both sides must
# write the same output (grep's and find's lines compared sorted: GNU walks
# in the file system's order, cordon in name order); cat's 1 GB goes to
# /dev/null and is compared once, by digest, before the timed runs.
#
#   bench/tools.sh              # data in target/bench-data (kept for reruns)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
DATA=${DATA:-target/bench-data}

rustup target add wasm32-wasip1 >/dev/null 2>&1 || true
cargo build --release -p cordon --quiet
mkdir -p "$DATA"
DATA=$(cd "$DATA" && pwd)

python3 - "$DATA" <<'PY'
import os, random, sys
data = sys.argv[1]
rng = random.Random(42)
words = ["fn", "let", "mut", "struct", "impl", "match", "return", "self", "value",
         "config", "parse", "error", "result", "buffer", "index", "token", "TODO"]
def line():
    return " ".join(rng.choice(words) for _ in range(rng.randint(3, 12))) + "\n"
tree = os.path.join(data, "tree")
if not os.path.exists(os.path.join(tree, ".done")):
    for d in range(200):
        sub = os.path.join(tree, f"crate{d:03}", "src", f"mod{d % 7}")
        os.makedirs(sub, exist_ok=True)
        for f in range(100):
            ext = ".rs" if f % 3 else ".txt"
            with open(os.path.join(sub, f"file{f:03}{ext}"), "w") as out:
                out.write("".join(line() for _ in range(200)))
    open(os.path.join(tree, ".done"), "w").close()
def big(name, size):
    path = os.path.join(data, name)
    if os.path.exists(path) and os.path.getsize(path) >= size:
        return
    block = "".join(line() for _ in range(20000))
    with open(path, "w") as out:
        written = 0
        while written < size:
            out.write(block)
            written += len(block)
big("big.txt", 1 << 30)
big("medium.txt", 100 << 20)
PY

CORDON="$(pwd)/target/release/cordon run --root $DATA --cache-dir $DATA/.cordon-cache --memory 4096 --"
$CORDON true  # compile the module once

python3 - "$RUNS" "$DATA" "$CORDON" <<'PY'
import hashlib, os, statistics, subprocess, sys, time
runs, data, cordon = int(sys.argv[1]), sys.argv[2], sys.argv[3].split()
os.chdir(data)
tree_mb = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk("tree") for f in fs) >> 20
ENV = {"PATH": os.environ["PATH"], "LC_ALL": "C"}
# GNU grep stops at the first match when stdout is /dev/null, so output that
# matters is read through a pipe and compared; cat's 1 GB goes to /dev/null.
# (label, argv, target ratio, how the output is compared)
cases = [
    (f"grep -r TODO tree ({tree_mb} MB)", ["grep", "-r", "TODO", "tree"], 2.0, "sorted"),
    (f"rg -n TODO tree ({tree_mb} MB)", ["rg", "-n", "TODO", "tree"], 1.5, "sorted"),
    ("find tree -name '*.rs'", ["find", "tree", "-name", "*.rs"], 1.5, "sorted"),
    ("wc -l big.txt (1 GB)", ["wc", "-l", "big.txt"], 1.5, "exact"),
    ("cat big.txt (1 GB)", ["cat", "big.txt"], 1.5, "digest"),
    ("sort medium.txt (100 MB)", ["sort", "medium.txt"], None, "exact"),
]
def fail(cmd, why):
    sys.exit(f"{' '.join(cmd)}: {why}")
def timed(cmd, keep):
    """Wall time of one run, and its output when `keep`."""
    stdout = subprocess.PIPE if keep else subprocess.DEVNULL
    start = time.perf_counter()
    out = subprocess.run(cmd, stdout=stdout, stderr=subprocess.PIPE, env=ENV)
    took = time.perf_counter() - start
    if out.returncode != 0:
        fail(cmd, f"exit {out.returncode}: {out.stderr.decode()[:300]}")
    return took, out.stdout
def digest(cmd):
    """sha256 of the output, read as it comes (too large to keep)."""
    sha = hashlib.sha256()
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, env=ENV) as child:
        for block in iter(lambda: child.stdout.read(1 << 20), b""):
            sha.update(block)
    if child.returncode != 0:
        fail(cmd, f"exit {child.returncode}")
    return sha.hexdigest()
print(f"{'command':<32} {'native':>9} {'cordon':>9} {'ratio':>6}  target")
for label, argv, target, compare in cases:
    sides = {"GNU": argv, "cordon": cordon + argv}
    if compare == "digest" and digest(sides["GNU"]) != digest(sides["cordon"]):
        fail(argv, "GNU and cordon wrote different output")
    times = {side: [] for side in sides}
    expected = None
    for _ in range(runs):
        for side, cmd in sides.items():
            took, out = timed(cmd, keep=compare != "digest")
            times[side].append(took)
            if compare == "sorted":
                out = sorted(out.splitlines())
            if expected is None:
                expected = out
            elif out != expected:
                fail(cmd, "its output differs from GNU's")
    gnu, ours = (statistics.median(times[side]) for side in sides)
    goal = f"<= {target}x" if target else "-"
    print(f"{label:<32} {gnu:8.3f}s {ours:8.3f}s {ours / gnu:6.2f}  {goal}")
print(f"{runs} runs of each, alternating; every run exited 0 with the same output on both sides")
PY
size=$(stat -c %s target/release/cordon)
echo "embedded module: $(target/release/cordon tools | tail -1)"
echo "cordon binary: $((size / 1048576)) MiB"
rm -rf "$DATA/.cordon-compile-probe" && mkdir -p "$DATA/.cordon-compile-probe"
start=$(date +%s.%N)
target/release/cordon run --root "$DATA" --cache-dir "$DATA/.cordon-compile-probe" -- true
end=$(date +%s.%N)
echo "one-time compile of the module (cold cache): $(python3 -c "print(f'{$end - $start:.2f}')") s"
