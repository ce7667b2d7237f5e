#!/usr/bin/env bash
# Start latency of a native command under each sandbox, side by side in one
# hyperfine run: bare `true`; `cordon run --engine native -- true`; bwrap
# with an equivalent policy (read-only /, the project writable, .git
# read-only, .env covered, own /proc, /tmp, no network, new session); and
# srt (npm @anthropic-ai/sandbox-runtime) with the same policy where it
# installs. Installs hyperfine, bubblewrap, socat and ripgrep with apt-get
# and srt with npm into target/bench-tools when they are missing.
#
#   bench/native.sh             # RUNS=200 by default
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-200}

need_apt=()
command -v hyperfine >/dev/null || need_apt+=(hyperfine)
command -v bwrap >/dev/null || need_apt+=(bubblewrap)
command -v socat >/dev/null || need_apt+=(socat)
command -v rg >/dev/null || need_apt+=(ripgrep)
if [ ${#need_apt[@]} -gt 0 ]; then
  apt-get install -y -q "${need_apt[@]}" >/dev/null || {
    apt-get update -q >/dev/null && apt-get install -y -q "${need_apt[@]}" >/dev/null
  }
fi
SRT=$PWD/target/bench-tools/npm/node_modules/.bin/srt
if [ ! -x "$SRT" ] && command -v npm >/dev/null; then
  npm install --silent --prefix target/bench-tools/npm @anthropic-ai/sandbox-runtime || true
fi
cargo build --release -p cordon --quiet

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# srt leaves a socket per run in the temporary directory: keep every
# command's temporary files in the work directory, removed at the end.
export TMPDIR="$WORK/tmp"
mkdir -p "$TMPDIR"
P="$WORK/proj"
mkdir -p "$P/src" "$P/.git"
echo "TOKEN=x" > "$P/.env"
echo 'fn main() {}' > "$P/src/main.rs"
cat > "$WORK/srt.json" <<JSON
{"filesystem": {"allowWrite": ["$P"], "denyWrite": ["$P/.git"], "denyRead": ["$P/.env"]},
 "network": {"allowedDomains": [], "deniedDomains": []}}
JSON
TRUE=$(command -v true)
CORDON=$PWD/target/release/cordon

cmds=(
  -n "bare true" "$TRUE"
  -n "cordon --engine native" "$CORDON run --root $P --engine native -- true"
  -n "bwrap" "bwrap --ro-bind / / --bind $P $P --ro-bind $P/.git $P/.git --ro-bind /dev/null $P/.env --dev /dev --proc /proc --tmpfs /tmp --unshare-all --die-with-parent --new-session -- $TRUE"
)
if [ -x "$SRT" ] && (cd "$P" && "$SRT" -s "$WORK/srt.json" "$TRUE") 2>/dev/null; then
  cmds+=(-n "srt" "$SRT -s $WORK/srt.json $TRUE")
else
  echo "srt: not runnable here; left out" >&2
fi
cd "$P"
hyperfine -N --warmup 20 --runs "$RUNS" --export-markdown "$WORK/table.md" \
  --export-json "$WORK/runs.json" "${cmds[@]}" >/dev/null
cat "$WORK/table.md"
python3 - "$WORK/runs.json" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
base = next(r for r in results if r["command"] == "bare true")["median"]
print()
print("| Command | Median [ms] | Added to bare true [ms] |")
print("|:---|---:|---:|")
for r in results:
    print(f"| {r['command']} | {r['median'] * 1e3:.2f} | {(r['median'] - base) * 1e3:.2f} |")
PY

# hyperfine runs one command after the other, so a drift of this machine
# (and the kernel's cleanup of the namespaces before) lands on whichever
# command runs then. A second pass alternates the commands run by run.
python3 - "$RUNS" "$P" "$CORDON" "$TRUE" <<'PY'
import os, statistics, sys, time
runs, root, cordon, true = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
commands = {
    "bare true": [true],
    "cordon --engine native": [cordon, "run", "--root", root, "--engine", "native", "--", "true"],
    "bwrap": ["bwrap", "--ro-bind", "/", "/", "--bind", root, root, "--ro-bind",
              root + "/.git", root + "/.git", "--ro-bind", "/dev/null", root + "/.env",
              "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", "--unshare-all",
              "--die-with-parent", "--new-session", "--", true],
}
null = os.open(os.devnull, os.O_WRONLY)
quiet = [(os.POSIX_SPAWN_DUP2, null, 1), (os.POSIX_SPAWN_DUP2, null, 2)]
def once(argv):
    start = time.perf_counter_ns()
    pid = os.posix_spawnp(argv[0], argv, os.environ, file_actions=quiet)
    os.waitpid(pid, 0)
    return (time.perf_counter_ns() - start) / 1e6
times = {name: [] for name in commands}
for _ in range(20):
    for argv in commands.values():
        once(argv)
for _ in range(runs):
    for name, argv in commands.items():
        times[name].append(once(argv))
print()
print("Alternating, one run of each in turn:")
print()
print("| Command | Median [ms] |")
print("|:---|---:|")
for name, values in times.items():
    print(f"| {name} | {statistics.median(values):.2f} |")
PY
