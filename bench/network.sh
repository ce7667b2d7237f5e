#!/usr/bin/env bash
# Downloads through each sandbox's network allowlist, side by side in one
# run, from a loopback HTTP server started here: a 1 KB file
# (per-connection cost) and a 100 MB file (throughput).
#   - curl with no sandbox (the floor);
#   - cordon, native curl through cordon's proxy (--network allow=);
#   - cordon, the built-in fetch (wasi:http through the same gate);
#   - srt (npm @anthropic-ai/sandbox-runtime), curl through its proxy with
#     the host allowed, where it installs and runs.
# The commands run in turn, one run of each after the other, RUNS times
# (default 30) after 3 rounds of warm-up. Each writes the download to a
# file, which must be the served file, byte for byte; every run must exit
# 0. Installs srt with npm into target/bench-tools when it is missing.
#
#   bench/network.sh            # RUNS=30 by default
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-30}

SRT=$PWD/target/bench-tools/npm/node_modules/.bin/srt
if [ ! -x "$SRT" ] && command -v npm >/dev/null; then
  npm install --silent --prefix target/bench-tools/npm @anthropic-ai/sandbox-runtime || true
fi
cargo build --release -p cordon --quiet
CORDON=$PWD/target/release/cordon

WORK=$(mktemp -d)
P="$WORK/proj"
mkdir -p "$P" "$WORK/www"
head -c 1024 /dev/urandom > "$WORK/www/small"
head -c $((100 << 20)) /dev/urandom > "$WORK/www/big"
# On a port the kernel picks, read back from what the server prints.
python3 -u -m http.server 0 --bind 127.0.0.1 --directory "$WORK/www" >"$WORK/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER; rm -rf "$WORK"' EXIT
until PORT=$(sed -n 's/^Serving HTTP on .* port \([0-9]*\) .*/\1/p' "$WORK/server.log") && [ -n "$PORT" ]; do
  kill -0 $SERVER
  sleep 0.05
done
# srt leaves a socket per run in the temporary directory: keep every
# command's temporary files in the work directory, removed at the end.
export TMPDIR="$WORK/tmp"
mkdir -p "$TMPDIR"
cat > "$WORK/srt.json" <<JSON
{"filesystem": {"allowWrite": ["$P"], "denyWrite": [], "denyRead": []},
 "network": {"allowedDomains": ["127.0.0.1"], "deniedDomains": []}}
JSON
GRANT="--root $P --network allow=bench.test:$PORT,127.0.0.1:$PORT --resolve bench.test=127.0.0.1"
# Compile the built-in tools once, outside the measurement.
"$CORDON" run $GRANT -- fetch -s "http://bench.test:$PORT/small" >/dev/null

# srt exempts loopback from its proxy (NO_PROXY); --noproxy '' sends curl
# through the proxy, which allows the listed address.
if ! { [ -x "$SRT" ] && (cd "$P" && "$SRT" -s "$WORK/srt.json" -- curl -sf --noproxy '' -o /dev/null "http://127.0.0.1:$PORT/small") 2>/dev/null; }; then
  echo "srt: not runnable here; left out" >&2
  SRT=""
fi
cd "$P"
python3 - "$RUNS" "$CORDON" "$GRANT" "$PORT" "$WORK" "$SRT" <<'PY'
import filecmp, os, statistics, subprocess, sys, time
runs, cordon, grant, port, work, srt = sys.argv[1:]
got = os.path.join(work, "proj", "got")  # in the root: every sandbox may write it
def commands(file):
    via_cordon = [cordon, "run", *grant.split(), "--"]
    by_address = f"http://127.0.0.1:{port}/{file}"
    by_name = f"http://bench.test:{port}/{file}"
    commands = {
        "curl, no sandbox": ["curl", "-sf", "-o", got, by_address],
        "cordon: curl via proxy": [*via_cordon, "curl", "-sf", "-o", got, by_name],
        "cordon: fetch, wasi:http": [*via_cordon, "fetch", "-s", "-o", "got", by_name],
    }
    if srt:
        commands["srt: curl via proxy"] = [srt, "-s", f"{work}/srt.json", "--", "curl", "-sf",
                                           "--noproxy", "", "-o", got, by_address]
    return commands
def once(name, argv, file):
    """Wall time of one run, which must exit 0 and leave the served file."""
    start = time.perf_counter()
    out = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    took = time.perf_counter() - start
    if out.returncode != 0:
        sys.exit(f"{name}: exit {out.returncode}: {out.stderr.decode()[:300]}")
    if not filecmp.cmp(got, os.path.join(work, "www", file), shallow=False):
        sys.exit(f"{name}: the download differs from the served {file}")
    os.remove(got)
    return took
print(f"{runs} runs of each, alternating, after 3 rounds of warm-up; every run exited 0"
      " and left the served file\n")
for file in ["small", "big"]:
    sides = commands(file)
    times = {name: [] for name in sides}
    for n in range(3 + int(runs)):
        for name, argv in sides.items():
            took = once(name, argv, file)
            if n >= 3:
                times[name].append(took)
    base = statistics.median(times["curl, no sandbox"])
    print(f"| {file:<26} | Median [ms] | Ratio to curl |")
    print(f"|:{'-' * 26}-|------------:|--------------:|")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"| {name:<26} | {median * 1e3:11.1f} | {median / base:13.2f} |")
    print()
PY
