#!/usr/bin/env bash
# http_client.sh — baton.http.get against a local site (the fixture's
# /api/json: 43 bytes of JSON, keep-alive) with 1, 8 and 64 requests in
# flight, beside the same requests from curl (a process per request), from
# `curl --parallel --parallel-max N` and from a Node fetch loop
# (bench/http_client_fetch.js), one after the other in the same run against
# the same site; then the engine's RSS per request in flight. Prints a
# markdown section for bench/RESULTS.md.
# Usage: bench/http_client.sh BATON FIXTURE [SECONDS_PER_CELL [ROUNDS]]
set -euo pipefail
BATON=$(readlink -f "$1")
FIXTURE=$(readlink -f "$2")
SECS=${3:-2}
ROUNDS=${4:-3}
LEVELS=(1 8 64)
work=$(mktemp -d)
fx_pid="" engine_pid=""
cleanup() {
  [ -n "$engine_pid" ] && kill "$engine_pid" 2>/dev/null && wait "$engine_pid" 2>/dev/null
  [ -n "$fx_pid" ] && kill "$fx_pid" 2>/dev/null && wait "$fx_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

now_us() { echo "${EPOCHREALTIME/./}"; }
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
# Polls CMD (a shell string) until it succeeds, for up to 60 s.
wait_until() {
  local _
  for _ in $(seq 600); do
    eval "$1" && return 0
    sleep 0.1
  done
  echo "http_client.sh: timed out waiting for: $1" >&2
  return 1
}
# Latencies in ms, one a line, on stdin; prints "P50 P99" by nearest rank.
pcts() {
  sort -g | awk '{a[NR] = $1}
    function at(p,  r) { r = p / 100 * NR; r = (r == int(r)) ? r : int(r) + 1; return a[r < 1 ? 1 : r] }
    END { if (NR == 0) print "0 0"; else printf "%.2f %.2f\n", at(50), at(99) }'
}
# "REQ/S P99" from a file of latencies (ms) and the seconds they took.
cell() {
  local n secs p
  n=$(wc -l <"$1")
  secs=$2
  p=$(pcts <"$1")
  awk -v n="$n" -v s="$secs" -v p="${p#* }" 'BEGIN { printf "%.0f %.2f\n", n / s, p }'
}

: >"$work/fixture.out"
"$FIXTURE" >"$work/fixture.out" 2>&1 &
fx_pid=$!
wait_until "grep -q 'listening on' '$work/fixture.out'"
SITE="http://$(grep -o '127.0.0.1:[0-9]*' "$work/fixture.out")"
URL="$SITE/api/json"

# ---- baton: one engine, 64 worker jobs; kN triggers the first N ----
mkdir -p "$work/b/scripts"
port=$(free_port)
cat >"$work/b/engine.conf" <<CONF
scripts = "scripts"
database = "baton.db"
watch = false
log = { level = "warn" }
limits = { max_concurrent_runs = 80 }
http = { listen = "127.0.0.1:$port" }
http_client = { max_connections = 64, max_per_host = 64 }
CONF
cat >"$work/b/scripts/load.lua" <<LUA
local URL, SECS = "$URL", $SECS
-- one worker: GETs for SECS seconds; returns how many and each one's ms
local function worker()
  return function()
    local stop = baton.now() + SECS
    local ms, n = {}, 0
    while baton.now() < stop do
      local t0 = baton.now()
      baton.http.get(URL)
      n = n + 1
      ms[n] = math.floor((baton.now() - t0) * 1e6 + 0.5) / 1000
    end
    return { n = n, ms = ms }
  end
end
for i = 1, 64 do job("w" .. i) { timeout = "5m", run = worker() } end
-- one request held open 4 s each: the memory of requests in flight
for i = 1, 64 do
  job("h" .. i) { timeout = "5m", run = function() baton.http.get("$SITE/slow?ms=4000") end }
end
local function kick(prefix, n)
  return function() for i = 1, n do baton.trigger(prefix .. i) end end
end
job "k1" { run = kick("w", 1) }
job "k8" { run = kick("w", 8) }
job "k64" { run = kick("w", 64) }
job "hold" { run = kick("h", 64) }
LUA
api() { curl -s --max-time 10 "http://127.0.0.1:$port$1"; }
api_post() { curl -s --max-time 10 -X POST -o /dev/null "http://127.0.0.1:$port$1"; }
engine_up() {
  (cd "$work/b" && exec "$BATON" run -c engine.conf >engine.out 2>&1) &
  engine_pid=$!
  wait_until "api /api/system/health | grep -q http_client"
}
engine_down() {
  kill -TERM "$engine_pid"
  wait "$engine_pid" || true
  engine_pid=""
}
q() { sqlite3 -batch -noheader "$work/b/baton.db" "$1"; }

# One cell each: "REQ/S P99" of N requests in flight (baton_cell's in CELL:
# it counts the worker runs in done_w).
baton_cell() {
  local n=$1 last secs failed
  last=$(q "select ifnull(max(id), 0) from runs")
  api_post "/api/jobs/k$n/run"
  done_w=$((done_w + n))
  # Polling spawns processes: not while the cell runs, on a machine this small.
  sleep "$SECS"
  wait_until "[ \"\$(q \"select count(*) from runs where job like 'w%' and status in ('ok', 'failed')\")\" -ge $done_w ]"
  failed=$(q "select count(*) from runs where job like 'w%' and status != 'ok' and id > $last")
  [ "$failed" = 0 ] || echo "http_client.sh: $failed baton worker run(s) failed" >&2
  secs=$(q "select max(ended_at) - min(started_at) from runs where job like 'w%' and id > $last")
  q "select j.value from runs r, json_each(r.result, '\$.ms') j where r.job like 'w%' and r.id > $last" >"$work/lat"
  CELL=$(cell "$work/lat" "$secs")
}
curl_parallel() { # N COUNT OUT
  curl --parallel --parallel-max "$1" -s -o /dev/null -w '%{time_total}\n' "$URL?i=[1-$2]" \
    2>/dev/null | awk '{print $1 * 1000}' >"$3"
}
# a pilot of 1,000 requests sizes a run of SECS seconds
cpar_cell() {
  local n=$1 t0 t1 count
  t0=$(now_us)
  curl_parallel "$n" 1000 "$work/lat"
  t1=$(now_us)
  count=$(awk -v s="$SECS" -v us=$((t1 - t0)) 'BEGIN { printf "%d", 1000 * s * 1e6 / us }')
  t0=$(now_us)
  curl_parallel "$n" "$count" "$work/lat"
  t1=$(now_us)
  cell "$work/lat" "$(awk -v us=$((t1 - t0)) 'BEGIN { print us / 1e6 }')"
}
node_cell() {
  local j
  j=$(node "$(dirname "$0")/http_client_fetch.js" "$URL" "$1" "$SECS")
  [ "$(jq -r .failures <<<"$j")" = 0 ] || echo "http_client.sh: node: $j" >&2
  jq -r '"\(.requests / .seconds | round) \(.p99_ms * 100 | round / 100)"' <<<"$j"
}
# N shells each running curl in a loop
cproc_cell() {
  local n=$1 end t0 t1 w pids=()
  end=$(($(now_us) + SECS * 1000000))
  t0=$(now_us)
  for w in $(seq "$n"); do
    (while [ "${EPOCHREALTIME/./}" -lt "$end" ]; do
      curl -s -o /dev/null -w '%{time_total}\n' "$URL"
    done | awk '{print $1 * 1000}' >"$work/cproc.$w") &
    pids+=($!)
  done
  wait "${pids[@]}"
  t1=$(now_us)
  cat "$work"/cproc.* >"$work/lat"
  rm -f "$work"/cproc.*
  cell "$work/lat" "$(awk -v us=$((t1 - t0)) 'BEGIN { print us / 1e6 }')"
}

# Rounds: every client at every level in each, so a burst of other work on
# the machine lands on one round; each figure is the median of the rounds.
declare -A RES
engine_up
done_w=0
for _ in $(seq "$ROUNDS"); do
  for n in "${LEVELS[@]}"; do
    baton_cell "$n"
    RES[baton.$n]+="$CELL"$'\n'
    RES[cpar.$n]+="$(cpar_cell "$n")"$'\n'
    RES[node.$n]+="$(node_cell "$n")"$'\n'
    RES[cproc.$n]+="$(cproc_cell "$n")"$'\n'
  done
done
engine_down
# "REQ/S P99": the median of each over the rounds' lines on stdin
median2() {
  awk 'NF == 2 {r[++n] = $1; p[n] = $2}
    function med(a,  i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++)
      if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }; return a[int((n + 1) / 2)] }
    END { print med(r), med(p) }'
}
for k in "${!RES[@]}"; do RES[$k]=$(median2 <<<"${RES[$k]}"); done

# ---- the memory of requests in flight: a fresh engine, 64 requests held ----
rm -f "$work/b/baton.db"*
engine_up
rss0=$(awk '/VmRSS/ {print $2}' "/proc/$engine_pid/status")
api_post /api/jobs/hold/run
wait_until "[ \"\$(api /api/system/health | jq -r .http_client.in_flight)\" = 64 ]"
rss64=$(awk '/VmRSS/ {print $2}' "/proc/$engine_pid/status")
engine_down

echo "## baton.http against curl and Node"
echo
echo "bench/http_client.sh: GET $SITE/api/json (the fixture, one libuv process;"
echo "43 bytes of JSON, keep-alive) with N requests in flight, ${SECS} s a cell, every"
echo "client one after the other in the same run against the same site on the same"
echo "machine (the site shares its cores); $ROUNDS rounds of every cell, each figure the"
echo "median of its rounds. baton.http: N jobs each looping"
echo "\`baton.http.get\`, latency timed in the script with \`baton.now()\`"
echo "(http_client.max_per_host = max_connections = 64); curl --parallel: one"
echo "process, \`--parallel-max N\`; Node $(node --version): N loops of \`await fetch()\`"
echo "(undici, no packages); curl per process: N shells each running \`curl\` once"
echo "per request (its latency is curl's \`time_total\`, without the process's start)."
echo "Requests/s, and the p99 latency in ms. Goal: baton within 20 % of curl"
echo "--parallel and ahead of Node."
echo
echo "| in flight | baton.http | curl --parallel | Node fetch | curl per process | baton / curl --parallel | baton / Node |"
echo "|---|---|---|---|---|---|---|"
for n in "${LEVELS[@]}"; do
  read -r br bp <<<"${RES[baton.$n]}"
  read -r cr cp <<<"${RES[cpar.$n]}"
  read -r nr np <<<"${RES[node.$n]}"
  read -r pr pp <<<"${RES[cproc.$n]}"
  echo "| $n | $br/s, p99 $bp ms | $cr/s, p99 $cp ms | $nr/s, p99 $np ms | $pr/s, p99 $pp ms |" \
    "$(awk -v a="$br" -v b="$cr" 'BEGIN { printf "%.2f", a / b }') |" \
    "$(awk -v a="$br" -v b="$nr" 'BEGIN { printf "%.2f", a / b }') |"
done
echo
echo "Memory: a fresh engine with these 130 jobs loaded, RSS $((rss0 / 1024)) MB; with 64"
echo "runs each waiting on one request in flight (GET /slow?ms=4000, health's"
echo "\`http_client.in_flight\` = 64) $((rss64 / 1024)) MB: $(((rss64 - rss0) / 64)) KB per request in flight"
echo "(its run's coroutine, curl's handle and connection, the answer's buffers)."
