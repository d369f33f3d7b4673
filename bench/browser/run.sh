#!/usr/bin/env bash
# run.sh — the browser-pool benchmark against the local fixture site, every contender in
# one run and against one fixture server instance: Baton (baton.sh: the engine and its
# pool, concurrency 1, 2, 4), then the Node contenders: a browser per task,
# puppeteer-cluster (context, page), reused pages and reused contexts (a page each), each
# at concurrency 1, 2, 4.
# Prints one JSON line per run; exits non-zero if any run fails.
# Usage: FIXTURE=build/fixture bench/browser/run.sh   (BATON=build/baton by default)
# Env: TASKS (200), LAUNCH_TASKS (30, browser per task), CONTEXT_TASKS (100, a new
# context per task is the slowest pooled contender), CHROMIUM (/usr/lib/chromium/chromium).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
FIXTURE=$(readlink -f "${FIXTURE:-$here/../../build/fixture}")
TASKS=${TASKS:-200}
LAUNCH_TASKS=${LAUNCH_TASKS:-30}
CONTEXT_TASKS=${CONTEXT_TASKS:-100}
export CHROMIUM=${CHROMIUM:-/usr/lib/chromium/chromium}

[ -x "$FIXTURE" ] || { echo "run.sh: no fixture binary at $FIXTURE (make build/fixture)" >&2; exit 1; }
[ -x "$CHROMIUM" ] || { echo "run.sh: no Chromium at $CHROMIUM" >&2; exit 1; }
cd "$here"
if [ ! -d node_modules ]; then
  npm ci --no-audit --no-fund >&2
fi

work=$(mktemp -d)
fixture_pid=
cleanup() {
  [ -n "$fixture_pid" ] && kill "$fixture_pid" 2>/dev/null && wait "$fixture_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

"$FIXTURE" >"$work/fixture.out" &
fixture_pid=$!
for _ in $(seq 100); do
  grep -q '^fixture listening on' "$work/fixture.out" 2>/dev/null && break
  kill -0 "$fixture_pid" 2>/dev/null || { echo "run.sh: the fixture exited" >&2; exit 1; }
  sleep 0.1
done
port=$(sed -n 's/^fixture listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$work/fixture.out")
[ -n "$port" ] || { echo "run.sh: the fixture did not start" >&2; exit 1; }
base="http://127.0.0.1:$port"

# The first launch after boot reads Chromium from disk: do it once before measuring.
node bench.js warmup 1 1 "$base"

# Baton first (it launches its own Chromium, the same binary, per concurrency).
./baton.sh "$base"

node bench.js launch-per-task 1 "$LAUNCH_TASKS" "$base"
for k in 1 2 4; do node bench.js cluster-context "$k" "$CONTEXT_TASKS" "$base"; done
for k in 1 2 4; do node bench.js cluster-page "$k" "$TASKS" "$base"; done
for k in 1 2 4; do node bench.js pages-reused "$k" "$TASKS" "$base"; done
# The control for Baton's pool: K isolated contexts, one page each, reused.
for k in 1 2 4; do node bench.js contexts-reused "$k" "$TASKS" "$base"; done
