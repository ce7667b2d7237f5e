#!/usr/bin/env bash
# Start latency of a native command under each sandbox, side by side in one
# run: bare `true`; `cordon run --engine native -- true`; `unshare` making
# the same namespaces and nothing else (the floor every such sandbox
# pays); bwrap with an
# equivalent policy (read-only /, the project writable, .git read-only,
# .env covered, own /proc, /tmp, no network, new session); and srt (npm
# @anthropic-ai/sandbox-runtime) with the same policy where it installs.
# The commands run in turn, one run of each after the other, RUNS times
# (default 200) after 20 rounds of warm-up: a drift of the machine (and
# the kernel's cleanup of the namespaces before) falls on all of them
# alike. Every run must exit 0 and print on stdout what bare `true`
# prints: nothing. Installs bubblewrap, socat and ripgrep with
# apt-get and srt with npm into target/bench-tools when they are missing.
#
#   bench/native.sh             # RUNS=200 by default
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-200}

need_apt=()
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

SRT_ARGV=""
if [ -x "$SRT" ] && (cd "$P" && "$SRT" -s "$WORK/srt.json" "$TRUE") 2>/dev/null; then
  SRT_ARGV="$SRT -s $WORK/srt.json $TRUE"
else
  echo "srt: not runnable here; left out" >&2
fi
cd "$P"
python3 - "$RUNS" "$P" "$CORDON" "$TRUE" "$WORK/out" "$SRT_ARGV" <<'PY'
import os, statistics, sys, time
runs, root, cordon, true, out, srt = sys.argv[1:]
commands = {
    "bare true": [true],
    "cordon --engine native": [cordon, "run", "--root", root, "--engine", "native", "--", "true"],
    # The namespaces alone, as cordon and bwrap make them (the floor).
    "unshare (namespaces only)": ["unshare", "--user", "--map-root-user", "--mount", "--pid",
                                  "--fork", "--ipc", "--net", "--", true],
    "bwrap": ["bwrap", "--ro-bind", "/", "/", "--bind", root, root, "--ro-bind",
              root + "/.git", root + "/.git", "--ro-bind", "/dev/null", root + "/.env",
              "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", "--unshare-all",
              "--die-with-parent", "--new-session", "--", true],
}
if srt:
    commands["srt"] = srt.split()
# stdout goes to a file, read after the run, outside its time.
null = os.open(os.devnull, os.O_WRONLY)
to_file = [(os.POSIX_SPAWN_OPEN, 1, out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
           (os.POSIX_SPAWN_DUP2, null, 2)]
def once(name, argv):
    start = time.perf_counter_ns()
    pid = os.posix_spawnp(argv[0], argv, os.environ, file_actions=to_file)
    _, status = os.waitpid(pid, 0)
    took = (time.perf_counter_ns() - start) / 1e6
    code, printed = os.waitstatus_to_exitcode(status), open(out, "rb").read()
    if code != 0 or printed:
        sys.exit(f"{name}: exit {code}, printed {printed[:200]}")
    return took
times = {name: [] for name in commands}
for _ in range(20):
    for name, argv in commands.items():
        once(name, argv)
for _ in range(int(runs)):
    for name, argv in commands.items():
        times[name].append(once(name, argv))
base = statistics.median(times["bare true"])
print(f"{runs} runs of each, alternating; every run exited 0 and printed nothing on stdout")
print()
print("| Command | Median [ms] | Added to bare true [ms] |")
print("|:---|---:|---:|")
for name, values in times.items():
    median = statistics.median(values)
    print(f"| {name} | {median:.2f} | {median - base:.2f} |")
PY
