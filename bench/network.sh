#!/usr/bin/env bash
# Downloads through each sandbox's network allowlist, side by side in one
# hyperfine run, from a loopback HTTP server started here: a 1 KB file
# (per-connection cost) and a 100 MB file (throughput).
#   - curl with no sandbox (the floor);
#   - cordon, native curl through cordon's proxy (--network allow=);
#   - cordon, the built-in fetch (wasi:http through the same gate);
#   - srt (npm @anthropic-ai/sandbox-runtime), curl through its proxy with
#     the host allowed, where it installs and runs.
# Installs hyperfine with apt-get and srt with npm into target/bench-tools
# when they are missing.
#
#   bench/network.sh            # RUNS=30 by default
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-30}

command -v hyperfine >/dev/null || {
  apt-get install -y -q hyperfine >/dev/null ||
    { apt-get update -q >/dev/null && apt-get install -y -q hyperfine >/dev/null; }
}
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
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 -m http.server "$PORT" --bind 127.0.0.1 --directory "$WORK/www" >/dev/null 2>&1 &
SERVER=$!
trap 'kill $SERVER; rm -rf "$WORK"' EXIT
# srt leaves a socket per run in the temporary directory: keep every
# command's temporary files in the work directory, removed at the end.
export TMPDIR="$WORK/tmp"
mkdir -p "$TMPDIR"
sleep 1
cat > "$WORK/srt.json" <<JSON
{"filesystem": {"allowWrite": ["$P"], "denyWrite": [], "denyRead": []},
 "network": {"allowedDomains": ["127.0.0.1"], "deniedDomains": []}}
JSON
GRANT="--root $P --network allow=bench.test:$PORT,127.0.0.1:$PORT --resolve bench.test=127.0.0.1"
# Compile the built-in tools once, outside the measurement.
"$CORDON" run $GRANT -- fetch -s "http://bench.test:$PORT/small" >/dev/null

for file in small big; do
  cmds=(
    -n "curl, no sandbox ($file)" "curl -s -o /dev/null http://127.0.0.1:$PORT/$file"
    -n "cordon: curl via proxy ($file)" "$CORDON run $GRANT -- curl -s -o /dev/null http://bench.test:$PORT/$file"
    -n "cordon: fetch, wasi:http ($file)" "$CORDON run $GRANT -- fetch -s http://bench.test:$PORT/$file"
  )
  # srt exempts loopback from its proxy (NO_PROXY); --noproxy '' sends
  # curl through the proxy, which allows the listed address.
  if [ -x "$SRT" ] && (cd "$P" && "$SRT" -s "$WORK/srt.json" -- curl -sf --noproxy '' -o /dev/null "http://127.0.0.1:$PORT/small") 2>/dev/null; then
    cmds+=(-n "srt: curl via proxy ($file)" "$SRT -s $WORK/srt.json -- curl -s --noproxy '' -o /dev/null http://127.0.0.1:$PORT/$file")
  else
    echo "srt: not runnable here; left out" >&2
  fi
  (cd "$P" && hyperfine -N --warmup 3 --runs "$RUNS" --export-markdown "$WORK/$file.md" "${cmds[@]}" >/dev/null)
  cat "$WORK/$file.md"
  echo
done
