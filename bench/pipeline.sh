#!/usr/bin/env bash
# A pipeline of three WASI tools over a 100 MB file, joined in the host by
# `cordon run -c`, against the same pipeline of native GNU tools under bash,
# side by side in one hyperfine run (warm compile cache); then a line with
# redirections, likewise.
#
#   bench/pipeline.sh           # RUNS=5 by default; data in target/bench-data
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
DATA=${DATA:-target/bench-data}

command -v hyperfine >/dev/null || apt-get install -y -q hyperfine >/dev/null
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
hyperfine -N --warmup 1 --runs "$RUNS" \
  -n "bash: $PIPE" "bash -c '$PIPE'" \
  -n "cordon -c (WASI stages joined in the host)" "$CORDON run --cache-dir $CACHE -c '$PIPE'" \
  -n "bash: $REDIRECTED" "bash -c '$REDIRECTED'" \
  -n "cordon -c, redirections opened by the host" "$CORDON run --cache-dir $CACHE -c '$REDIRECTED'"
