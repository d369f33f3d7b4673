#!/usr/bin/env bash
# test_http.sh — the engine's HTTP server as a client sees it: every endpoint's
# status codes and JSON shape, the token rules, bad requests, a burst of
# concurrent clients, the events WebSocket, promtool on /metrics, and
# `baton status`. Ports are chosen by the kernel (http.listen port 0) and read
# back from the engine's log.
. "$(dirname "$0")/lib.sh"

conf() { # extra config lines
  local token=""
  [ -n "${TOKEN:-}" ] && token=", token = \"$TOKEN\""
  cat >engine.conf <<CONF
scripts = "scripts"
database = "baton.db"
log = { level = "info" }
limits = { max_concurrent_runs = 4, shutdown_timeout = "5s" }
http = { listen = "${LISTEN:-127.0.0.1:0}"$token }
breakers = { site = { failures = 2, cooldown = "1h" } }
$*
CONF
  mkdir -p scripts
  cat >scripts/a.lua <<'LUA'
job "tick" { every = "1s", priority = "high", run = function(ctx) return { n = ctx.store:incr("n") } end }
job "flaky" { every = "1s", retry = { attempts = 2, base = "10ms", jitter = "none" }, breaker = "site",
  run = function(ctx) baton.error("network", "connection refused") end }
job "manual" { run = function(ctx) ctx:sleep("100ms") return "done" end }
LUA
}

# Starts the engine and sets PORT and URL from its "http: listening on" line.
start_http() {
  start_engine
  wait_for_log "http: listening on" 1 || return 1
  PORT=$(grep -oE 'http: listening on [0-9.]+:[0-9]+' engine.out | head -1 | sed 's/.*://')
  URL="http://127.0.0.1:$PORT"
}

# code METHOD PATH [curl args...]: prints the status; the body lands in ./body
code() {
  local method=$1 path=$2
  shift 2
  curl -s -o body -w '%{http_code}' -X "$method" --max-time 10 "$@" "$URL$path"
}

# A request written by hand (for what curl will not send): prints the answer.
raw() {
  local answer
  exec 5<>"/dev/tcp/127.0.0.1/$PORT" || return 1
  printf '%b' "$1" >&5
  answer=$(timeout 5 cat <&5 | tr -d '\0')
  exec 5>&-
  printf '%s' "$answer"
}

is_json_error() { # the body is {"error": "..."}
  [ "$(jq -r '.error | type' body 2>/dev/null)" == "string" ] || fail "body is not a JSON error: $(head -c 200 body)"
}

t_http_listens_on_the_port_the_kernel_chose_and_logs_it() {
  conf
  start_http
  expect_ge "$PORT" 1 "port"
  expect_eq "$(code GET /api/system/health)" 200
  stop_engine TERM
  expect_eq "$ENGINE_RC" 0 "exit code"
}

t_http_health_has_every_design_field_from_live_state() {
  conf
  echo 'job "broken" { every = "1s", run = function() end' >scripts/broken.lua
  start_http
  wait_for_log "flaky run [0-9]+: failed" 2
  wait_for_log "tick run [0-9]+: ok" 2
  expect_eq "$(code GET /api/system/health)" 200
  cp body health.json
  j() { jq -r "$1" health.json; }
  expect_eq "$(j '.status')" "degraded" "status (a script failed, a job always fails)"
  expect_eq "$(j '.status_reasons | length > 0')" true
  expect_eq "$(j '.uptime_s | type')" number
  expect_eq "$(j '.version')" "$("$BATON" version | head -1 | cut -d' ' -f2)"
  expect_eq "$(j '[.jobs[].name] | join(",")')" "flaky,manual,tick" "jobs in name order"
  expect_eq "$(j '.jobs[0] | keys | sort | join(",")')" \
    "file,last_run,name,next_run_at,p50_ms,p95_ms,paused,priority,running,runs_1h,schedule,state,success_rate_1h"
  expect_eq "$(j '.jobs[] | select(.name=="tick") | .priority')" high
  expect_eq "$(j '.jobs[] | select(.name=="tick") | .last_run.status')" ok
  expect_eq "$(j '.jobs[] | select(.name=="tick") | .last_run | keys | sort | join(",")')" \
    "at,duration_ms,error_kind,status"
  expect_eq "$(j '.jobs[] | select(.name=="tick") | .success_rate_1h')" 1
  expect_eq "$(j '.jobs[] | select(.name=="tick") | .runs_1h >= 2')" true
  expect_eq "$(j '.jobs[] | select(.name=="tick") | .next_run_at > now - 5')" true
  expect_eq "$(j '.jobs[] | select(.name=="flaky") | .success_rate_1h')" 0
  expect_eq "$(j '.jobs[] | select(.name=="manual") | [.last_run, .next_run_at, .success_rate_1h] | map(. == null) | all')" true
  expect_eq "$(j '.browser_pool | keys | sort | join(",")')" \
    "acquire_p95_ms,browser_contexts,browsers,crashes_total,created_total,hangs_total,pages,recycled_total,reused_total,waiters"
  expect_eq "$(j '.browser_pool.pages | keys | sort | join(",")')" "busy,idle,max,reserved,total"
  expect_eq "$(j .browser_pool.pages.max)" 4 "browser.max_pages"
  expect_eq "$(j '.breakers[0] | [.name, .state] | join(" ")')" "site open" "breaker opened by flaky"
  expect_eq "$(j '.breakers[0] | keys | sort | join(",")')" "failures,name,opened_at,state"
  expect_eq "$(j '.recent_errors | length <= 10 and length >= 2')" true
  expect_eq "$(j '.recent_errors[0] | keys | sort | join(",")')" "at,job,kind,message,run_id"
  expect_eq "$(j '.recent_errors[0].kind')" network
  expect_eq "$(j '[.scripts[] | .file] | sort | join(",")')" "scripts/a.lua,scripts/broken.lua"
  expect_eq "$(j '.scripts[] | select(.file=="scripts/a.lua") | [.error == null, .version, (.loaded_at | type)] | join(" ")')" \
    "true 1 number"
  expect_contains "$(j '.scripts[] | select(.file=="scripts/broken.lua") | .error')" "scripts/broken.lua:"
  expect_eq "$(j '.loop_lag_ms | keys | sort | join(",")')" "max,p50,p99"
  expect_eq "$(j '.runs | keys | sort | join(",")')" "running,waiting"
  stop_engine TERM
}

t_http_health_is_ok_when_all_is_well() {
  conf
  sed -i '/flaky/,/^  run = /d' scripts/a.lua
  start_http
  wait_for_log "tick run [0-9]+: ok" 1
  code GET /api/system/health >/dev/null
  # a machine busy enough to delay the loop is a finding too; nothing else may be
  expect_eq "$(jq -c '[.status_reasons[] | select(test("event-loop lag") | not)]' body)" "[]"
  if [ "$(jq -r '.status_reasons | length' body)" == 0 ]; then
    expect_eq "$(jq -r .status body)" ok
  fi
  stop_engine TERM
}

t_http_jobs_job_and_runs_endpoints() {
  conf
  start_http
  wait_for_log "tick run [0-9]+: ok" 3
  expect_eq "$(code GET /api/jobs)" 200
  expect_eq "$(jq -r '[.jobs[].name] | join(",")' body)" "flaky,manual,tick"
  expect_eq "$(code GET /api/jobs/tick)" 200
  expect_eq "$(jq -r '.name, .state != null, (.runs | length > 0), .runs[0].job' body | tr '\n' ' ')" "tick true true tick "
  expect_eq "$(code GET /api/jobs/nope)" 404
  is_json_error
  expect_eq "$(code GET '/api/runs?job=tick&limit=2')" 200
  expect_eq "$(jq -r '.runs | length' body)" 2
  expect_eq "$(jq -r '[.runs[].job] | unique | join(",")' body)" tick
  expect_eq "$(jq -r '.runs[0] | keys | sort | join(",")' body)" \
    "attempt,ended_at,error,error_kind,job,result,run_id,scheduled_at,started_at,status"
  expect_eq "$(jq -r '.runs[0].result.n | type' body)" number "result is JSON, not text"
  expect_eq "$(jq -r '.runs[0].run_id > .runs[1].run_id' body)" true "newest first"
  expect_eq "$(code GET '/api/runs')" 200
  expect_ge "$(jq -r '.runs | length' body)" 4
  expect_eq "$(code GET '/api/runs?limit=0')" 400
  is_json_error
  expect_eq "$(code GET '/api/runs?limit=abc')" 400
  expect_eq "$(code GET '/api/runs?job=nobody')" 200
  expect_eq "$(jq -r '.runs | length' body)" 0
  stop_engine TERM
}

# Lists carry at most 2 KB of a run's result; GET /api/runs/ID has it whole, for
# every attempt of that run.
t_http_lists_cut_big_results_and_one_run_has_them_whole() {
  conf
  cat >scripts/big.lua <<'LUA'
job "big" { run = function(ctx) return { text = ("é"):rep(50000) } end }
job "loud" { retry = { attempts = 2, base = "10ms", jitter = "none" },
  run = function(ctx) baton.error("network", "down") end }
LUA
  start_http
  expect_eq "$(code POST /api/jobs/big/run)" 202
  expect_eq "$(code POST /api/jobs/loud/run)" 202
  wait_for_log "big run [0-9]+: ok" 1
  wait_for_log "loud run [0-9]+: failed" 1
  expect_eq "$(code GET '/api/runs?job=big')" 200
  expect_eq "$(jq -r '.runs[0].result | type' body)" null "the list leaves a big result out"
  expect_eq "$(jq -r '.runs[0].truncated.result' body)" 100011 "and says how big it was"
  local id
  id=$(jq -r '.runs[0].run_id' body)
  expect_eq "$(code GET /api/jobs/big)" 200
  expect_eq "$(jq -r '.runs[0].truncated.result' body)" 100011 "a job's runs are cut too"
  expect_eq "$(code GET "/api/runs/$id")" 200
  expect_eq "$(jq -r '.run_id, .job, (.attempts | length), (.attempts[0].result.text | length), (.attempts[0].truncated | type)' body | tr '\n' ' ')" \
    "$id big 1 50000 null "
  expect_eq "$(code GET "/api/runs/$(curl -s "$URL/api/runs?job=loud" | jq -r '.runs[0].run_id')")" 200
  expect_eq "$(jq -r '([.attempts[].attempt] | join(",")), .attempts[1].error' body | tr '\n' ' ')" \
    "1,2 down " "every attempt, first first"
  expect_eq "$(code GET /api/runs/999999999)" 404
  is_json_error
  local bad
  for bad in abc 0 -1 +5 1x 99999999999999999999; do
    expect_eq "$(code GET "/api/runs/$bad")" 400 "run id '$bad'"
  done
  is_json_error
  stop_engine TERM
}

t_http_pause_resume_run_and_breaker_reset() {
  conf 'watch = false -- only the API reloads here'
  start_http
  wait_for_log "tick run [0-9]+: ok" 1
  expect_eq "$(code POST /api/jobs/tick/pause)" 200
  expect_eq "$(jq -c . body)" '{"job":"tick","paused":true,"changed":true}'
  expect_eq "$(code POST /api/jobs/tick/pause)" 200
  expect_eq "$(jq -r .changed body)" false "pausing twice changes nothing"
  code GET /api/jobs/tick >/dev/null
  expect_eq "$(jq -r '.paused, .state' body | tr '\n' ' ')" "true paused "
  wait_for_log "tick run [0-9]+: skipped \(paused\)" 2
  expect_eq "$(code POST /api/jobs/tick/resume)" 200
  expect_eq "$(jq -r .paused body)" false
  expect_eq "$(code POST /api/jobs/manual/run)" 202
  expect_eq "$(jq -c . body)" '{"job":"manual","triggered":true}'
  wait_for_log "manual run [0-9]+: ok" 1
  expect_eq "$(code POST /api/jobs/nope/run)" 404
  is_json_error
  expect_eq "$(code POST /api/jobs/nope/pause)" 404
  wait_for_log "breaker 'site': closed -> open" 1
  expect_eq "$(code POST /api/breakers/site/reset)" 200
  expect_eq "$(jq -c . body)" '{"breaker":"site","state":"closed"}'
  expect_eq "$(code POST /api/breakers/nope/reset)" 404
  is_json_error
  expect_eq "$(code POST /api/reload)" 200
  expect_eq "$(jq -c '[.reloaded, .loaded, .unchanged, .failed, .jobs, .errors]' body)" '[false,0,1,0,3,[]]' "nothing changed"
  echo 'job "late" { run = function() end }' >scripts/late.lua
  expect_eq "$(code POST /api/reload)" 200
  expect_eq "$(jq -c '[.reloaded, .loaded, .unchanged, .jobs]' body)" '[true,1,1,4]' "a new script"
  echo 'job "late" { run = function( end }' >scripts/late.lua
  expect_eq "$(code POST /api/reload)" 200
  expect_eq "$(jq -c '[.reloaded, .failed, .jobs]' body)" '[false,1,4]' "a broken script keeps its old version"
  expect_contains "$(jq -r '.errors[0]' body)" "scripts/late.lua:1:"
  echo 'job "late" { after = "nope", run = function() end }' >scripts/late.lua
  expect_eq "$(code POST /api/reload)" 422 "a set the scheduler refuses"
  expect_contains "$(jq -r .error body)" "scripts/late.lua:1: job 'late': after: no job named 'nope'"
  expect_eq "$(jq -r .reloaded body)" false
  stop_engine TERM
  expect_eq "$ENGINE_RC" 0
  # the pause was kept in the store's job state
  expect_eq "$(sql baton.db "select paused from job_state where job='tick'")" 0
  expect_ge "$(sql baton.db "select count(*) from runs where job='tick' and error_kind='paused'")" 2
}

t_http_pause_survives_a_restart() {
  conf
  start_http
  expect_eq "$(code POST /api/jobs/tick/pause)" 200
  sleep 0.5 # one store flush
  stop_engine TERM
  start_http
  code GET /api/jobs/tick >/dev/null
  expect_eq "$(jq -r .paused body)" true
  stop_engine TERM
}

t_http_token_guards_every_mutating_endpoint() {
  TOKEN=s3cret conf
  start_http
  for p in /api/jobs/tick/pause /api/jobs/tick/resume /api/jobs/manual/run /api/breakers/site/reset /api/reload; do
    expect_eq "$(code POST $p)" 401 "$p without a token"
    is_json_error
    expect_eq "$(code POST $p -H 'Authorization: Bearer wrong')" 403 "$p with a wrong token"
    is_json_error
    expect_eq "$(code POST $p -H 'Authorization: Basic czNjcmV0')" 403 "$p with another scheme"
  done
  expect_eq "$(code POST /api/jobs/tick/pause -H 'Authorization: Bearer s3cret')" 200 "right token"
  expect_eq "$(code POST /api/reload -H 'Authorization: Bearer s3cret')" 200 "right token, reload"
  expect_eq "$(code GET /api/system/health)" 200 "reads need no token"
  expect_eq "$(code GET /metrics)" 200
  stop_engine TERM
}

t_http_refuses_cross_site_posts_from_browsers() {
  conf
  start_http
  expect_eq "$(code POST /api/jobs/tick/pause -H 'Origin: http://evil.example')" 403 "another origin"
  expect_contains "$(jq -r .error body)" "cross-site"
  expect_eq "$(code POST /api/jobs/tick/pause -H "Origin: http://127.0.0.1:$PORT")" 200 "the dashboard's own origin"
  stop_engine TERM
}

t_http_without_token_refuses_changes_that_name_another_host() {
  conf
  start_http
  # DNS rebinding: a page on evil.example made its name resolve to 127.0.0.1, so
  # its requests come from loopback but name evil.example.
  expect_eq "$(code POST /api/jobs/tick/pause -H 'Host: evil.example')" 403 "a foreign Host"
  is_json_error
  expect_contains "$(jq -r .error body)" "Host"
  expect_eq "$(code POST /api/jobs/tick/pause -H "Host: evil.example:$PORT")" 403 "with the port"
  expect_eq "$(code POST /api/jobs/tick/pause -H 'Host: 127.0.0.1.evil.example')" 403 "a prefix"
  expect_contains "$(raw 'POST /api/jobs/tick/pause HTTP/1.0\r\n\r\n' | head -1)" " 403 " "no Host"
  expect_eq "$(curl -s "$URL/api/jobs/tick" | jq .paused)" false "nothing was paused"
  expect_eq "$(code POST /api/jobs/tick/pause -H "Host: localhost:$PORT")" 200 "localhost"
  expect_eq "$(code POST /api/jobs/tick/resume -H "Host: 127.0.0.2")" 200 "a loopback address"
  expect_eq "$(code POST /api/jobs/tick/pause -H "Host: [::1]:$PORT")" 200 "::1"
  expect_eq "$(code POST /api/jobs/tick/resume)" 200 "the listen address"
  expect_eq "$(code GET /api/system/health -H 'Host: evil.example')" 200 "reads are not changes"
  stop_engine TERM
  # With a token, the token is what counts: a rebinding page cannot know it.
  conf 'http = { listen = "127.0.0.1:0", token = "s3cret" }'
  start_http
  expect_eq "$(code POST /api/jobs/tick/pause -H 'Host: evil.example')" 401 "token rules first"
  expect_eq "$(code POST /api/jobs/tick/pause -H 'Host: baton.internal' \
    -H 'Authorization: Bearer s3cret')" 200 "any Host with the token"
  stop_engine TERM
}

t_http_refuses_ambiguous_and_chunked_bodies() {
  conf
  start_http
  # Content-Length and Transfer-Encoding together: request smuggling's door.
  # (headers only: the answer comes at the headers, and body bytes the engine never
  # reads could make its close a reset that loses the answer)
  expect_contains "$(raw 'POST /api/jobs/manual/run HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n' | head -1)" " 400 " "both"
  head -c 100000 /dev/zero | tr '\0' x >big
  expect_eq "$(code POST /api/jobs/manual/run -H 'Transfer-Encoding: chunked' --data-binary @big)" 411 \
    "a chunked body over the limit"
  expect_eq "$(code POST /api/jobs/manual/run -H 'Transfer-Encoding: chunked' --data-binary '{}')" 411 \
    "any chunked body"
  is_json_error
  expect_eq "$(curl -s "$URL/api/runs?job=manual" | jq '.runs | length')" 0 "nothing ran"
  expect_eq "$(code GET /api/system/health)" 200 "and the engine still answers"
  stop_engine TERM
  expect_eq "$ENGINE_RC" 0
}

t_http_a_pipelined_request_with_a_body_does_not_stall_the_engine() {
  conf
  start_http
  # Found by fuzz_http: libwebsockets 4.1 spun forever on a body after headers it
  # had buffered (here: a POST pipelined behind a GET), and the whole engine froze.
  local answer
  answer=$(raw 'GET /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nPOST /api/jobs/tick/pause HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n{}')
  expect_contains "$answer" '"paused":true' "the pipelined POST is answered"
  expect_eq "$(code GET /api/system/health)" 200 "and the engine still answers"
  stop_engine TERM
  expect_eq "$ENGINE_RC" 0
}

t_http_a_client_that_shuts_its_write_side_gets_the_whole_answer() {
  conf
  start_http
  # A client may end its side as soon as it has sent its request (as the
  # fuzz target's clients do): the answer is written before the close.
  local answer
  answer=$(python3 - "$PORT" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"GET /api/jobs/tick HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
s.shutdown(socket.SHUT_WR)
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
print(data.decode(errors="replace"))
PY
)
  expect_contains "$answer" '"name":"tick"' "the body came"
  stop_engine TERM
}

t_http_events_refuse_a_websocket_from_another_site() {
  conf
  start_http
  local upgrade='GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:'"$PORT"'\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n'
  local answer
  answer=$(raw "${upgrade}Origin: http://evil.example\r\n\r\n")
  case "$answer" in *"101 Switching"*) fail "a WebSocket from another origin was accepted" ;; esac
  answer=$(raw "${upgrade}Origin: http://127.0.0.1:$PORT\r\n\r\n" | head -c 300)
  expect_contains "$answer" "101 Switching" "the dashboard's own origin"
  stop_engine TERM
}

t_http_without_token_refuses_changes_from_non_loopback_peers() {
  local ip
  ip=$(hostname -I 2>/dev/null | tr ' ' '\n' | grep -E '^[0-9]+\.' | grep -v '^127\.' | head -1)
  if [ -z "$ip" ]; then
    echo "    (skipped: this machine has no non-loopback IPv4 address)"
    return 0
  fi
  LISTEN="0.0.0.0:0" conf
  start_http
  expect_eq "$(curl -s -o body -w '%{http_code}' -X POST "http://$ip:$PORT/api/jobs/tick/pause")" 403 "from $ip"
  is_json_error
  expect_contains "$(jq -r .error body)" "loopback"
  expect_eq "$(curl -s -o body -w '%{http_code}' "http://$ip:$PORT/api/system/health")" 200 "reads from $ip"
  expect_eq "$(code POST /api/jobs/tick/pause)" 200 "from loopback"
  stop_engine TERM
}

t_http_bad_requests_get_their_status_and_a_json_error() {
  conf
  start_http
  expect_eq "$(code GET /nope)" 404
  is_json_error
  expect_eq "$(code GET /api/jobs/tick/extra/segments)" 404
  expect_eq "$(code POST /api/jobs)" 405
  is_json_error
  expect_contains "$(curl -s -i -X POST "$URL/metrics" | tr -d '\r')" "allow: GET"
  expect_contains "$(curl -s -i "$URL/api/jobs/tick/run" | tr -d '\r')" "allow: POST"
  expect_eq "$(code GET /api/jobs/tick/run)" 405
  expect_eq "$(code DELETE /api/jobs/tick)" 405
  expect_eq "$(code PUT /api/reload)" 405
  expect_contains "$(curl -s -i -X POST "$URL/demo/feed" | tr -d '\r')" "allow: GET"
  expect_eq "$(code GET /demox)" 404 "/demo is a folder, not a prefix"
  head -c 100000 /dev/zero | tr '\0' x >big
  expect_eq "$(code POST /api/jobs/tick/run --data-binary @big)" 413
  is_json_error
  expect_eq "$(code POST /api/jobs/manual/run --data-binary '{}')" 202 "a small body is fine"
  expect_eq "$(code GET /api/events)" 400 "events without an upgrade"
  is_json_error
  # what curl will not send: a request line that is not HTTP, a bad length
  expect_contains "$(raw 'GARBAGE\r\n\r\n' | head -1)" "HTTP/1.0 4"
  expect_contains "$(raw 'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n' | head -1)" " 400 "
  expect_contains "$(raw 'POST /api/reload HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n' | head -1)" " 413 "
  # ... and the engine still answers
  expect_eq "$(code GET /api/system/health)" 200 "after bad requests"
  stop_engine TERM
  expect_eq "$ENGINE_RC" 0
}

t_http_serves_a_burst_of_50_concurrent_clients() {
  conf
  start_http
  local i pids=() paths=(/api/system/health /metrics /api/jobs /api/runs?limit=20 /)
  for i in $(seq 1 50); do
    curl -s -o /dev/null -w '%{http_code}\n' --max-time 20 "$URL${paths[$((i % 5))]}" >"code.$i" &
    pids+=($!)
  done
  wait "${pids[@]}" # not a bare wait: the engine is a background job too
  expect_eq "$(cat code.* | sort | uniq -c | awk '{print $1, $2}')" "50 200" "every client answered"
  expect_eq "$(code GET /api/system/health)" 200
  stop_engine TERM
  expect_eq "$ENGINE_RC" 0
}

t_http_metrics_pass_promtool_and_count_runs() {
  command -v promtool >/dev/null || { fail "promtool is not installed (make deps)"; return; }
  conf
  start_http
  wait_for_log "flaky run [0-9]+: failed .*\(attempt 2\)" 1
  wait_for_log "tick run [0-9]+: ok" 2
  expect_eq "$(code GET /metrics)" 200
  expect_contains "$(curl -s -D - -o /dev/null "$URL/metrics" | tr -d '\r' | grep -i content-type)" "text/plain; version=0.0.4"
  promtool check metrics <body >promtool.out 2>&1
  expect_eq "$?" 0 "promtool: $(cat promtool.out)"
  m() { grep -E "^$1 " body | awk '{print $2}'; }
  expect_ge "$(m 'baton_runs_total\{job="tick",status="ok"\}')" 2
  expect_ge "$(m 'baton_errors_total\{job="flaky",kind="network"\}')" 2
  expect_ge "$(m 'baton_retries_total\{job="flaky"\}')" 1
  expect_eq "$(m 'baton_breaker_state\{breaker="site"\}')" 1 "open"
  for name in baton_runs_running baton_runs_waiting baton_pool_waiters baton_pool_pages_created_total \
    baton_pool_pages_reused_total baton_pool_pages_recycled_total baton_browser_crashes_total baton_browser_hangs_total \
    baton_event_loop_lag_max_seconds 'baton_pool_pages\{state="busy"\}' 'baton_pool_pages\{state="idle"\}' \
    'baton_event_loop_lag_seconds\{quantile="0.99"\}' 'baton_pool_acquire_seconds_bucket\{le="\+Inf"\}' \
    'baton_run_duration_seconds_count\{job="tick"\}'; do
    [ -n "$(m "$name")" ] || fail "no sample $name"
  done
  stop_engine TERM
}

t_http_events_websocket_pushes_runs_pauses_and_breakers() {
  conf
  start_http
  exec 3<>"/dev/tcp/127.0.0.1/$PORT"
  printf 'GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n' >&3
  timeout 10 cat <&3 >ws.out &
  local reader=$!
  local i
  for i in $(seq 100); do grep -q '"type":"hello"' ws.out 2>/dev/null && break; sleep 0.05; done
  code POST /api/jobs/manual/run >/dev/null
  code POST /api/jobs/tick/pause >/dev/null
  code POST /api/breakers/site/reset >/dev/null
  echo 'job "late" { run = function() end }' >scripts/late.lua
  code POST /api/reload >/dev/null
  for i in $(seq 200); do
    grep -q '"type":"scripts_reloaded"' ws.out 2>/dev/null && grep -q '"type":"run_ended"' ws.out &&
      grep -q '"type":"breaker"' ws.out && break
    sleep 0.05
  done
  kill $reader 2>/dev/null
  wait $reader 2>/dev/null
  exec 3>&-
  local events
  events=$(tr -c '[:print:]' '\n' <ws.out)
  expect_contains "$events" "101 Switching Protocols"
  expect_contains "$events" '{"type":"hello"'
  expect_contains "$events" '"type":"run_started"'
  expect_contains "$events" '"job":"manual"'
  expect_contains "$events" '"type":"run_ended"'
  expect_contains "$events" '{"type":"job_paused","job":"tick"}'
  expect_contains "$events" '"type":"breaker"'
  expect_contains "$events" '"type":"scripts_reloaded"'
  expect_contains "$events" '"reloaded":true,"loaded":1,"removed":0,"failed":0,"jobs":4}'
  stop_engine TERM
}

t_http_websocket_only_on_api_events() {
  conf
  start_http
  local answer
  answer=$(raw 'GET /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n')
  case "$answer" in *"101 Switching"*) fail "upgrade accepted on /api/jobs" ;; esac
  expect_eq "$(code GET /api/system/health)" 200
  stop_engine TERM
}

t_http_dashboard_is_one_self_contained_page() {
  conf
  start_http
  expect_eq "$(code GET /)" 200
  expect_contains "$(curl -s -D - -o /dev/null "$URL/" | tr -d '\r' | grep -i content-type)" "text/html"
  expect_contains "$(cat body)" "/api/events"
  expect_contains "$(cat body)" "/api/system/health"
  expect_contains "$(cat body)" "<canvas"
  if grep -qE '(src|href)="(https?:)?//' body; then fail "the page loads something from elsewhere"; fi
  stop_engine TERM
}

t_http_shutdown_with_clients_connected_exits_0() {
  conf
  start_http
  exec 3<>"/dev/tcp/127.0.0.1/$PORT"
  printf 'GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n' >&3
  exec 4<>"/dev/tcp/127.0.0.1/$PORT"
  printf 'GET /api/jobs HTTP/1.1\r\nHost: x\r\n' >&4 # a request never finished
  sleep 0.5
  stop_engine TERM
  expect_eq "$ENGINE_RC" 0
  exec 3>&- 4>&-
  expect_contains "$(tail -1 engine.out)" "stopped"
}

t_http_port_in_use_stops_the_engine_with_one_line() {
  conf
  start_http
  mkdir other && cd other
  LISTEN="127.0.0.1:$PORT" conf
  "$BATON" run -c engine.conf >out 2>&1
  expect_eq $? 1 "second engine on the same port"
  expect_contains "$(cat out)" "cannot listen on 127.0.0.1:$PORT"
  cd ..
  stop_engine TERM
}

t_status_prints_a_summary_and_exits_3_when_no_engine_answers() {
  conf
  start_http
  wait_for_log "flaky run [0-9]+: failed" 1
  # baton status reads http.listen from the config: give it the bound port
  sed "s|127.0.0.1:0|127.0.0.1:$PORT|" engine.conf >status.conf
  "$BATON" status -c status.conf >out 2>err
  expect_eq $? 0 "exit code"
  expect_contains "$(cat out)" "baton "
  expect_contains "$(cat out)" "127.0.0.1:$PORT"
  expect_contains "$(cat out)" "tick"
  expect_contains "$(cat out)" "flaky"
  expect_match "$(grep '^pool:' out)" \
    '^pool: [0-9]+ browser\(s\); [0-9]+ of 4 pages open \([0-9]+ busy, [0-9]+ idle\), [0-9]+ free held in reserve; 0 waiting'
  expect_contains "$(cat out)" "breakers:"
  expect_contains "$(cat out)" "recent errors"
  expect_contains "$(cat out)" "network"
  expect_le "$(wc -l <out)" 50 "lines"
  stop_engine TERM
  "$BATON" status -c status.conf >out 2>err
  expect_eq $? 3 "exit code with the engine down"
  expect_contains "$(cat err)" "no engine answers at 127.0.0.1:$PORT"
}

run_tests
