#!/usr/bin/env bash
# baton.sh — Baton's contender of the browser-pool benchmark: the workload of bench.js
# (TASKS pages: navigate, wait for load, count `.post`, read the title) as TASKS jobs of
# one script, all due at the same instant, run by `baton run` at concurrency 1, 2, 4
# (limits.max_concurrent_runs = browser.max_pages = warm = K). Prints one JSON line
# per concurrency in bench.js's shape; exits non-zero if any run fails or any result is
# wrong.
#
# Usage: bench/browser/baton.sh [BASE_URL]
#   BASE_URL: the fixture site (run.sh passes its own); without it, starts build/fixture.
# Env: TASKS (200), CONCURRENCY ("1 2 4"), LEAD (8: seconds from script load to the
# common start; the warm pool must be up by then), BATON (build/baton), FIXTURE
# (build/fixture), CHROMIUM (/usr/lib/chromium/chromium).
#
# Measured per concurrency (a fresh engine, database and browser each time):
#   seconds          max(ended_at) - min(started_at) over the TASKS runs (runs table):
#                    the pool is warm before the first start, so this is the figure to set
#                    against bench.js's steady_seconds (also printed, equal to it here);
#                    bench.js's own seconds include launching the browser
#   startup_seconds  from spawning the engine to K pages open (polled every 100 ms)
#   engine_cpu_s     user + system CPU of the engine process over its whole life
#   engine_peak_rss  VmHWM of the engine process, read just before SIGTERM
#   chromium_peak_*  peak of the summed VmRSS / Pss of the engine's descendants (the
#                    browser and its children), sampled every 100 ms by sample.js,
#                    as bench.js samples its own descendants
#   acquire_p95_ms   the pool's own figure (GET /api/system/health, browser_pool.acquire_p95_ms):
#                    time from ctx:page() to the lease, 0.1 ms resolution
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
BATON=$(readlink -f "${BATON:-$root/build/baton}")
TASKS=${TASKS:-200}
CONCURRENCY=${CONCURRENCY:-1 2 4}
LEAD=${LEAD:-8}
CHROMIUM=${CHROMIUM:-/usr/lib/chromium/chromium}
export BATON_LUA_DIR=$root/lua

[ -x "$BATON" ] || { echo "baton.sh: no engine at $BATON (make build/baton)" >&2; exit 1; }
[ -x "$CHROMIUM" ] || { echo "baton.sh: no Chromium at $CHROMIUM" >&2; exit 1; }

work=$(mktemp -d)
fixture_pid= engine_pid= sampler_pid=
cleanup() {
  [ -n "$sampler_pid" ] && kill "$sampler_pid" 2>/dev/null && wait "$sampler_pid" 2>/dev/null
  [ -n "$engine_pid" ] && kill "$engine_pid" 2>/dev/null && wait "$engine_pid" 2>/dev/null
  [ -n "$fixture_pid" ] && kill "$fixture_pid" 2>/dev/null && wait "$fixture_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

base=${1:-}
if [ -z "$base" ]; then
  FIXTURE=$(readlink -f "${FIXTURE:-$root/build/fixture}")
  [ -x "$FIXTURE" ] || { echo "baton.sh: no fixture binary at $FIXTURE (make build/fixture)" >&2; exit 1; }
  "$FIXTURE" >"$work/fixture.out" &
  fixture_pid=$!
  for _ in $(seq 100); do
    grep -q '^fixture listening on' "$work/fixture.out" 2>/dev/null && break
    sleep 0.1
  done
  port=$(sed -n 's/^fixture listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$work/fixture.out")
  [ -n "$port" ] || { echo "baton.sh: the fixture did not start" >&2; exit 1; }
  base="http://127.0.0.1:$port"
fi

sql() { sqlite3 -batch -noheader "$1" "$2"; }

failed=0
for k in $CONCURRENCY; do
  dir="$work/k$k"
  mkdir -p "$dir/scripts" "$dir/tmp"
  cat >"$dir/engine.conf" <<EOF
scripts  = "scripts"
database = "bench.db"
log      = { level = "info" }
http     = { listen = "127.0.0.1:0" }
limits   = { max_concurrent_runs = $k, shutdown_timeout = "10s" }
browser  = { executable = "$CHROMIUM", max_pages = $k, warm = $k,
             reserve = { critical = 0 }, burst = 0, max_uses = 1000,
             acquire_timeout = "120s" }
EOF
  # Every job is due at the same instant, LEAD seconds after the script loads: an
  # explicit offset is used as given (only offset = "auto" spreads starts), and the first
  # start of `every` is the next t with (t - offset) a multiple of the period.
  cat >"$dir/scripts/bench.lua" <<EOF
local BASE = "$base"
local at = math.floor(baton.now()) + $LEAD
for i = 1, $TASKS do
  job("t" .. i) {
    every = "1h", offset = at % 3600,
    browser = true, timeout = "60s", retry = { attempts = 1 },
    run = function(ctx)
      local page = ctx:page()
      page:navigate(BASE .. "/page/" .. i)
      local n = page:eval("document.querySelectorAll('.post').length")
      local title = page:title()
      return { n = n, title = title }
    end,
  }
end
EOF

  spawned_at=$(date +%s.%N)
  (cd "$dir" && TMPDIR="$dir/tmp" exec "$BATON" run -c engine.conf >engine.out 2>&1) &
  engine_pid=$!
  node "$here/sample.js" "$engine_pid" >"$dir/sample.out" &
  sampler_pid=$!

  # The HTTP port, then a warm pool (K pages open) before the common start.
  hport=
  for _ in $(seq 300); do
    hport=$(grep -oE 'http: listening on [0-9.]+:[0-9]+' "$dir/engine.out" 2>/dev/null |
      head -1 | sed 's/.*://') && [ -n "$hport" ] && break
    kill -0 "$engine_pid" 2>/dev/null || break
    sleep 0.1
  done
  [ -n "$hport" ] || { echo "baton.sh: the engine did not start:" >&2; cat "$dir/engine.out" >&2; exit 1; }
  health() { curl -s "http://127.0.0.1:$hport/api/system/health"; }
  warm_at=
  for _ in $(seq 300); do
    if [ "$(health | jq '.browser_pool.pages.total // 0')" -ge "$k" ]; then
      warm_at=$(date +%s.%N)
      break
    fi
    sleep 0.1
  done
  [ -n "$warm_at" ] || echo "baton.sh: K=$k: the pool never had $k pages open" >&2

  # Wait for every run to end (a job's run row gets its ended_at when it ends).
  waited=0
  while [ "$(sql "$dir/bench.db" 'select count(*) from runs where ended_at is not null' 2>/dev/null || echo 0)" -lt "$TASKS" ]; do
    kill -0 "$engine_pid" 2>/dev/null || { echo "baton.sh: the engine exited:" >&2; tail "$dir/engine.out" >&2; exit 1; }
    [ $waited -lt 6000 ] || { echo "baton.sh: K=$k: runs did not end within 600 s" >&2; exit 1; }
    sleep 0.1
    waited=$((waited + 1))
  done

  engine_hwm_kb=$(awk '/^VmHWM:/ {print $2}' "/proc/$engine_pid/status")
  engine_cpu_s=$(sed 's/.*) //' "/proc/$engine_pid/stat" |
    awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($12 + $13) / hz}')
  acquire_p95=$(health | jq '.browser_pool.acquire_p95_ms // null')
  kill -TERM "$sampler_pid"
  wait "$sampler_pid" || true
  sampler_pid=
  kill -TERM "$engine_pid"
  rc=0
  wait "$engine_pid" || rc=$?
  engine_pid=
  [ $rc -eq 0 ] || echo "baton.sh: K=$k: the engine exited $rc" >&2

  db="$dir/bench.db"
  first_start=$(sql "$db" 'select min(started_at) from runs')
  if [ -n "$warm_at" ] && awk -v w="$warm_at" -v s="$first_start" 'BEGIN { exit !(w > s) }'; then
    echo "baton.sh: K=$k: the pool was warm only after the first start (raise LEAD)" >&2
  fi
  good=$(sql "$db" "select count(*) from runs where status = 'ok' and attempt = 1
    and json_extract(result, '$.n') = cast(substr(job, 2) as integer) % 20 + 1
    and json_extract(result, '$.title') = 'Page ' || substr(job, 2)")
  rows=$(sql "$db" 'select count(*) from runs')
  if [ "$good" -ne "$TASKS" ] || [ "$rows" -ne "$TASKS" ]; then
    echo "baton.sh: K=$k: $good of $TASKS results as expected ($rows rows):" >&2
    sql "$db" "select job, status, error_kind, error, result from runs
      where status != 'ok' or json_extract(result, '$.title') != 'Page ' || substr(job, 2) limit 5" >&2
    failed=1
  fi

  # Where the time goes, to stderr: the mean run (started_at -> ended_at) and the mean
  # time a slot stands idle per run (K slots over the whole span, less the runs in them).
  sql "$db" "select printf('baton.sh: K=$k: run p50 %.1f ms, mean %.1f ms; slot idle per run %.1f ms; first start %.3f s after due',
      (select (ended_at - started_at) * 1000 from runs order by ended_at - started_at
         limit 1 offset (select count(*) / 2 from runs)),
      avg(ended_at - started_at) * 1000,
      ((max(ended_at) - min(started_at)) * $k - sum(ended_at - started_at)) * 1000 / count(*),
      min(started_at) - min(scheduled_at)) from runs" >&2

  mem=$(cat "$dir/sample.out")
  sql "$db" "select max(ended_at) - min(started_at) from runs" | awk \
    -v k="$k" -v tasks="$TASKS" -v hwm="$engine_hwm_kb" -v mem="$mem" -v p95="$acquire_p95" \
    -v startup="$(awk -v a="$spawned_at" -v b="${warm_at:-$spawned_at}" 'BEGIN {printf "%.1f", b - a}')" \
    -v cpu="$engine_cpu_s" '
    { s = $1
      rss = mem; sub(/.*"rss_mb":/, "", rss); sub(/[,}].*/, "", rss)
      pss = mem; sub(/.*"pss_mb":/, "", pss); sub(/[,}].*/, "", pss)
      printf "{\"contender\":\"baton\",\"concurrency\":%d,\"tasks\":%d,\"seconds\":%.3f,", k, tasks, s
      printf "\"tasks_per_s\":%.2f,\"steady_seconds\":%.3f,\"steady_tasks_per_s\":%.2f,", tasks / s, s, tasks / s
      printf "\"startup_seconds\":%s,\"engine_cpu_s\":%s,\"engine_peak_rss_mb\":%.1f,", startup, cpu, hwm / 1024
      printf "\"chromium_peak_rss_mb\":%s,\"chromium_peak_pss_mb\":%s,\"acquire_p95_ms\":%s}\n", rss, pss, p95 }'
done
exit $failed
