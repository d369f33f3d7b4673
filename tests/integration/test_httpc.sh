#!/usr/bin/env bash
# test_httpc.sh — baton.http in `baton run` against the local fixture site
# (its /api/ routes): answers, headers, bodies sent as json, form and text,
# redirects, the error kinds (http, auth, rate_limited, network, timeout,
# limit), the job's retries over them (Retry-After included), bad arguments
# as script errors with file:line, a run cancelled or a shutdown while a
# request is in flight, a body larger than the sandbox's memory, reused
# connections, HTTPS checked against http_client.ca_file, and baton test,
# which never reaches the network.
. "$(dirname "$0")/lib.sh"

conf() { # extra config lines
  cat >engine.conf <<CONF
scripts = "scripts"
database = "baton.db"
log = { level = "debug" }
limits = { max_concurrent_runs = 16, shutdown_timeout = "${SHUTDOWN:-5s}" }
http = { listen = "127.0.0.1:0" }
$*
CONF
  mkdir -p scripts
}

# A job that triggers each named job once, at the engine's first second.
kick() {
  local list="" j
  for j in "$@"; do list="$list\"$j\", "; done
  cat >scripts/kick.lua <<LUA
job "kick" { every = "1s", run = function(ctx)
  if ctx.store:incr("kicked") > 1 then return end
  for _, name in ipairs({ $list }) do baton.trigger(name) end
end }
LUA
}

col() { # job column: the first run's column
  sql baton.db "select $2 from runs where job='$1' order by id limit 1"
}

t_httpc_answers_with_status_headers_body_and_json() {
  start_site || return
  conf
  kick get sent
  cat >scripts/a.lua <<LUA
local FX = "$FX"
job "get" { run = function()
  local r = baton.http.get(FX .. "/api/json")
  local moved = baton.http.get(FX .. "/api/redirect?n=3")
  local stay = baton.http.get(FX .. "/api/redirect?n=0", { follow = false })
  local head = baton.http.request{ method = "HEAD", url = FX .. "/api/json" }
  return { status = r.status, name = r:json().name, items = #r:json().items,
    fixture = r.headers["x-fixture"], type = r.headers["content-type"],
    timed = r.ms > 0, url = r.url, moved = moved.url, moved_status = moved.status,
    stay = stay.status, location = stay.headers.location, head = head.status,
    head_body = #head.body }
end }
job "sent" { run = function()
  local j = baton.http.post(FX .. "/api/echo", { json = { a = 1 }, query = { q = "a b", n = 2 },
    headers = { ["X-Token"] = "t0" } }):json()
  local f = baton.http.put(FX .. "/api/echo?x=1", { form = { name = "Ada L", id = 7 } }):json()
  local b = baton.http.patch(FX .. "/api/echo", { body = "raw text",
    headers = { ["Content-Type"] = "text/plain" } }):json()
  local d = baton.http.delete(FX .. "/api/echo"):json()
  return { j = j.method .. " " .. j.query .. " " .. j.headers["content-type"] .. " " .. j.body
      .. " " .. j.headers["x-token"],
    f = f.method .. " " .. f.query .. " " .. f.headers["content-type"] .. " " .. f.body,
    b = b.method .. " " .. b.headers["content-type"] .. " " .. b.body,
    d = d.method, agent = j.headers["user-agent"] }
end }
LUA
  start_engine
  wait_for_log "get run [0-9]+: (ok|failed)" 1
  wait_for_log "sent run [0-9]+: (ok|failed)" 1
  stop_engine TERM
  stop_site
  expect_eq "$ENGINE_RC" 0 "exit code"
  expect_eq "$(col get status)" ok "get: $(col get error)"
  r=$(col get result)
  expect_eq "$(jq -r .status <<<"$r")" 200
  expect_eq "$(jq -r .name <<<"$r")" baton
  expect_eq "$(jq -r .items <<<"$r")" 3
  expect_eq "$(jq -r .fixture <<<"$r")" json "a header, by its lower-case name"
  expect_eq "$(jq -r .type <<<"$r")" application/json
  expect_eq "$(jq -r .timed <<<"$r")" true
  expect_eq "$(jq -r .url <<<"$r")" "$FX/api/json"
  expect_eq "$(jq -r .moved <<<"$r")" "$FX/api/json" "redirects followed"
  expect_eq "$(jq -r .moved_status <<<"$r")" 200
  expect_eq "$(jq -r .stay <<<"$r")" 302 "follow = false"
  expect_eq "$(jq -r .location <<<"$r")" /api/json
  expect_eq "$(jq -r .head <<<"$r")" 200
  expect_eq "$(jq -r .head_body <<<"$r")" 0
  expect_eq "$(col sent status)" ok "sent: $(col sent error)"
  r=$(col sent result)
  expect_eq "$(jq -r .j <<<"$r")" 'POST n=2&q=a%20b application/json {"a":1} t0' "json ="
  expect_eq "$(jq -r .f <<<"$r")" 'PUT x=1 application/x-www-form-urlencoded id=7&name=Ada%20L' "form ="
  expect_eq "$(jq -r .b <<<"$r")" 'PATCH text/plain raw text' "body ="
  expect_eq "$(jq -r .d <<<"$r")" DELETE
  expect_match "$(jq -r .agent <<<"$r")" '^Baton/[0-9]' "user agent"
}

t_httpc_errors_are_the_engines_kinds() {
  start_site || return
  local dead
  dead=$(free_port)
  conf 'http_client = { max_bytes = "64KB" }'
  kick e404 e401 e403 e429 e429date e500 refused timeout limit cut caught noraise tofile
  cat >scripts/a.lua <<LUA
local FX = "$FX"
local function get(path, opts) return baton.http.get(FX .. path, opts) end
job "e404" { retry = 1, run = function() get("/status/404") end }
job "e401" { retry = 1, run = function() get("/status/401") end }
job "e403" { retry = 1, run = function() get("/status/403") end }
job "e429" { retry = 1, run = function() get("/status/429?retry_after=7") end }
job "e429date" { retry = 1, run = function()
  local ok, err = pcall(get, "/api/retry-date?secs=30")
  return { kind = err.kind, after = err.retry_after }
end }
job "e500" { retry = 1, run = function() get("/status/500") end }
job "refused" { retry = 1, run = function() baton.http.get("http://127.0.0.1:$dead/") end }
job "timeout" { retry = 1, run = function() get("/slow?ms=5000", { timeout = "300ms" }) end }
job "limit" { retry = 1, run = function() get("/api/stream?kb=20000") end }
job "cut" { retry = 1, run = function() get("/api/cut") end }
job "tofile" { retry = 1, run = function() get("/to-file") end }
job "caught" { run = function()
  local ok, err = pcall(get, "/status/500")
  local ok2, e404 = pcall(get, "/status/404")
  return { kind = err.kind, status = err.status, retryable = err.retryable,
    body = err.body:find("status 500", 1, true) ~= nil, url = err.url,
    retryable404 = e404.retryable, message = err.message, len = #err.body <= 1024 }
end }
job "noraise" { run = function()
  local r = get("/status/503", { raise = false })
  local big = get("/api/stream?kb=100", { max_bytes = "1MB" })
  return { status = r.status, big = #big.body }
end }
LUA
  start_engine
  local j
  for j in e404 e401 e403 e429 e429date e500 refused timeout limit cut caught noraise tofile; do
    wait_for_log "$j run [0-9]+: (ok|failed)" 1
  done
  stop_engine TERM
  stop_site
  expect_eq "$ENGINE_RC" 0 "exit code"
  expect_eq "$(col e404 error_kind)" http
  expect_contains "$(col e404 error)" "GET $FX/status/404 answered HTTP 404"
  expect_eq "$(col e401 error_kind)" auth
  expect_eq "$(col e403 error_kind)" auth
  expect_eq "$(col e429 error_kind)" rate_limited
  expect_contains "$(col e429 error)" "429 Too Many Requests"
  r=$(col e429date result)
  expect_eq "$(jq -r .kind <<<"$r")" rate_limited
  expect_ge "$(jq -r '.after | floor' <<<"$r")" 25 "Retry-After as an HTTP date"
  expect_le "$(jq -r '.after | floor' <<<"$r")" 31
  expect_eq "$(col e500 error_kind)" http
  expect_eq "$(col refused error_kind)" network
  expect_contains "$(col refused error)" "127.0.0.1:$dead"
  expect_eq "$(col timeout error_kind)" timeout
  expect_eq "$(col limit error_kind)" limit "a body over http_client.max_bytes"
  expect_contains "$(col limit error)" "larger than max_bytes (65536 bytes)"
  expect_eq "$(col cut error_kind)" network "an answer cut short"
  expect_eq "$(col tofile error_kind)" network "a redirect to file:// is not followed"
  r=$(col caught result)
  expect_eq "$(jq -r .kind <<<"$r")" http
  expect_eq "$(jq -r .status <<<"$r")" 500
  expect_eq "$(jq -r .retryable <<<"$r")" true "5xx is retryable"
  expect_eq "$(jq -r .retryable404 <<<"$r")" false "4xx is not"
  expect_eq "$(jq -r .body <<<"$r")" true "the body's first KB"
  expect_eq "$(jq -r .len <<<"$r")" true
  expect_eq "$(jq -r .url <<<"$r")" "$FX/status/500"
  r=$(col noraise result)
  expect_eq "$(jq -r .status <<<"$r")" 503 "raise = false"
  expect_eq "$(jq -r .big <<<"$r")" 102400 "a request's own max_bytes"
}

t_httpc_job_retries_apply_to_http_errors() {
  start_site || return
  conf 'breakers = { api = { failures = 2, cooldown = "1h" } }'
  kick flaky slowdown missing
  cat >scripts/a.lua <<LUA
local FX = "$FX"
job "flaky" { retry = { attempts = 3, base = "100ms", jitter = "none" }, run = function()
  return baton.http.get(FX .. "/api/flaky?key=k1&fail=2"):json()
end }
job "slowdown" { retry = { attempts = 2, base = "10ms", jitter = "none" }, run = function()
  baton.http.get(FX .. "/status/429?retry_after=1")
end }
job "missing" { retry = { attempts = 3, base = "10ms" }, run = function()
  baton.http.get(FX .. "/api/nothing")
end }
job "guarded" { every = "1s", breaker = "api", retry = 1, run = function()
  baton.http.get(FX .. "/status/502")
end }
LUA
  start_engine
  wait_for_log "flaky run [0-9]+: ok" 1
  wait_for_log "slowdown run [0-9]+: failed .*attempt 2" 1
  wait_for_log "missing run [0-9]+: failed" 1
  wait_for_log "guarded run [0-9]+: skipped" 1
  stop_engine TERM
  stop_site
  expect_eq "$ENGINE_RC" 0 "exit code"
  expect_eq "$(sql baton.db "select group_concat(attempt || ':' || status || ':' || ifnull(error_kind, ''), ' ') from (select * from runs where job='flaky' order by id)")" \
    "1:failed:http 2:failed:http 3:ok:" "500, 500, then 200"
  expect_eq "$(sql baton.db "select json_extract(result, '\$.try') from runs where job='flaky' and status='ok'")" 3
  # the retry waited for Retry-After (1 s), not the 10 ms backoff
  gap=$(sql baton.db "select cast((b.started_at - a.ended_at) * 1000 as int) from runs a, runs b where a.job='slowdown' and b.job='slowdown' and a.attempt=1 and b.attempt=2")
  expect_ge "$gap" 900 "ms between the attempts"
  expect_eq "$(sql baton.db "select count(*) from runs where job='missing'")" 1 "a 404 is not retried"
  # two 502s open the job's breaker: later starts are skipped without a request
  expect_eq "$(sql baton.db "select group_concat(status || ':' || error_kind, ' ') from (select * from runs where job='guarded' order by id limit 3)")" \
    "failed:http failed:http skipped:breaker_open" "the breaker over http errors"
}

t_httpc_bad_arguments_are_script_errors_with_file_line() {
  start_site || return
  conf
  kick ftp hdr hdrname body both getbody method opt shortopts notjson
  cat >scripts/a.lua <<LUA
local FX = "$FX"
job "ftp" { retry = 1, run = function()
  baton.http.get("ftp://127.0.0.1/x")
end }
job "hdr" { retry = 1, run = function()
  baton.http.get(FX .. "/api/json", { headers = { ["X-N"] = 5 } })
end }
job "hdrname" { retry = 1, run = function()
  baton.http.get(FX .. "/api/json", { headers = { ["Bad Name"] = "x" } })
end }
job "body" { retry = 1, run = function()
  baton.http.post(FX .. "/api/echo", { body = { a = 1 } })
end }
job "both" { retry = 1, run = function()
  baton.http.post(FX .. "/api/echo", { body = "x", json = { a = 1 } })
end }
job "getbody" { retry = 1, run = function()
  baton.http.request{ url = FX .. "/api/echo", body = "x" }
end }
job "method" { retry = 1, run = function()
  baton.http.request{ method = "BREW", url = FX .. "/api/echo" }
end }
job "opt" { retry = 1, run = function()
  baton.http.request{ url = FX .. "/api/echo", timeuot = 5 }
end }
job "shortopts" { retry = 1, run = function()
  baton.http.get(FX .. "/api/echo", "fast")
end }
job "notjson" { retry = 1, run = function()
  local r = baton.http.get(FX .. "/page/1")
  local v = r:json()
  return v
end }
LUA
  cat >scripts/top.lua <<LUA
-- a request at a script's top level: a load error
baton.http.get("$FX/api/json")
LUA
  start_engine
  local j
  for j in ftp hdr hdrname body both getbody method opt shortopts notjson; do
    wait_for_log "$j run [0-9]+: (ok|failed)" 1
  done
  stop_engine TERM
  stop_site
  expect_eq "$ENGINE_RC" 0 "exit code"
  for j in ftp hdr hdrname body both getbody method opt shortopts notjson; do
    expect_eq "$(col $j error_kind)" script "$j"
  done
  expect_contains "$(col ftp error)" "a.lua:3: baton.http: only http:// and https:// URLs"
  expect_contains "$(col hdr error)" "a.lua:6: baton.http: headers.X-N: expected a string, got number"
  expect_contains "$(col hdrname error)" "a.lua:9: baton.http: headers: a name must be a token"
  expect_contains "$(col body error)" "a.lua:12: baton.http: body: expected a string, got table"
  expect_contains "$(col both error)" "a.lua:15: baton.http: give one of body, json and form"
  expect_contains "$(col getbody error)" "a.lua:18: baton.http: a GET request has no body"
  expect_contains "$(col method error)" "a.lua:21: baton.http: method: expected GET"
  expect_contains "$(col opt error)" "a.lua:24: baton.http: unknown option 'timeuot'"
  expect_contains "$(col shortopts error)" "a.lua:27: baton.http: get: options must be a table"
  expect_contains "$(col notjson error)" "a.lua:31: resp:json(): the body of $FX/page/1 is not JSON"
  expect_contains "$(cat engine.out)" "top.lua:2: baton.http: only inside a run"
}

t_httpc_run_timeout_and_shutdown_cancel_requests_in_flight() {
  start_site || return
  SHUTDOWN=1s conf
  kick hang
  cat >scripts/a.lua <<LUA
local FX = "$FX"
job "short" { every = "1s", timeout = "300ms", retry = 1, run = function()
  baton.http.get(FX .. "/hang", { timeout = "1m" })
end }
job "hang" { run = function() baton.http.get(FX .. "/hang") end }
job "tick" { every = "1s", run = function() return "tick" end }
LUA
  start_engine
  wait_for_log "short run [0-9]+: failed" 2
  wait_for_log "tick run [0-9]+: ok" 2
  local t0 t1
  t0=$(date +%s%N)
  stop_engine TERM
  t1=$(date +%s%N)
  expect_eq "$ENGINE_RC" 0 "exit code"
  expect_le $(((t1 - t0) / 1000000)) 5000 "ms to stop with a request in flight"
  expect_eq "$(col short error_kind)" timeout "the run's own timeout"
  expect_contains "$(col short error)" "300ms"
  expect_eq "$(col hang status)" cancelled "the drain cancelled the run waiting on its request"
  expect_contains "$(cat engine.out)" "stopped"
  # the site saw the client go: its connections were closed, not left hanging
  expect_eq "$(curl -s "$FX/stats" | jq -r '.requests >= 3')" true
  stop_site
}

t_httpc_a_body_past_the_sandbox_memory_fails_the_run_with_limit() {
  start_site || return
  conf 'sandbox = { memory = "4MB" }
http_client = { max_bytes = "32MB" }'
  kick big after
  cat >scripts/a.lua <<LUA
local FX = "$FX"
job "big" { retry = 1, run = function()
  return #baton.http.get(FX .. "/api/stream?kb=8192").body
end }
job "after" { run = function() return #baton.http.get(FX .. "/api/json").body end }
LUA
  start_engine
  wait_for_log "big run [0-9]+: (ok|failed)" 1
  wait_for_log "after run [0-9]+: (ok|failed)" 1
  stop_engine TERM
  stop_site
  expect_eq "$ENGINE_RC" 0 "exit code"
  expect_eq "$(col big error_kind)" limit "8 MB into a 4 MB state"
  expect_contains "$(col big error)" "memory limit"
  expect_eq "$(col after status)" ok "the engine carries on"
}

t_httpc_baton_test_never_reaches_the_network() {
  start_site || return
  conf
  cat >scripts/a.lua <<LUA
job "call" { retry = 1, run = function() return baton.http.get("$FX/api/json").status end }
LUA
  cat >scripts/a_test.lua <<LUA
test("a fixture answers", function(t)
  t.http:serve("$FX/api/*", { status = 201 })
  t:run("call")
  t:advance("1s")
  local r = t:runs("call")[1]
  t:expect(r.status == "ok" and r.result == 201, "status %s %s", r.status, tostring(r.error))
end)
test("no fixture", function(t)
  t:run("call")
  t:advance("1s")
  t:expect(t:runs("call")[1].error_kind == "script", "kind")
end)
LUA
  "$BATON" test >out 2>err
  expect_eq $? 1 "exit code ($(cat out err))"
  expect_contains "$(cat out)" "FAIL scripts/a_test.lua: no fixture
     no t.http fixture for GET $FX/api/json"
  expect_eq "$(tail -1 out)" "1 passed, 1 failed"
  expect_eq "$(curl -s "$FX/stats" | jq -r .requests)" 0 "requests the site saw"
  stop_site
}

t_httpc_drain_ends_on_the_answer_of_the_last_run() {
  start_site || return
  conf
  cat >scripts/a.lua <<LUA
job "slow" { every = "1s", run = function()
  return baton.http.get("$FX/slow?ms=1500").status
end }
LUA
  start_engine
  wait_for_log "baton started" 1
  sleep 1.3 # the first run is waiting on its answer
  stop_engine TERM
  stop_site
  expect_eq "$ENGINE_RC" 0 "exit code (the client shut down from the answer's own callback)"
  expect_contains "$(cat engine.out)" "draining 1 run(s)"
  expect_eq "$(sql baton.db "select group_concat(status || ':' || ifnull(result, ''), ' ') from runs where job='slow' and status != 'skipped'")" \
    "ok:200" "the run the drain waited for"
  expect_contains "$(cat engine.out)" "stopped"
}

t_httpc_connections_are_reused_across_runs() {
  start_site || return
  conf
  cat >scripts/a.lua <<LUA
job "again" { every = "1s", run = function()
  return baton.http.get("$FX/api/connections"):json().accepted
end }
LUA
  start_engine
  wait_for_log "again run [0-9]+: ok" 4
  stop_engine TERM
  stop_site
  expect_eq "$ENGINE_RC" 0 "exit code"
  expect_eq "$(sql baton.db "select count(distinct result) from runs where job='again' and status='ok'")" 1 \
    "every run on the first run's connection ($(sql baton.db "select group_concat(result) from runs where job='again'"))"
}

t_httpc_https_checks_certificates_against_ca_file() {
  local port key=key.pem cert=cert.pem waited=0
  openssl req -x509 -newkey rsa:2048 -nodes -keyout $key -out $cert -days 1 -subj /CN=baton-test \
    -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1 || { fail "openssl req"; return; }
  port=$(free_port)
  openssl s_server -accept 127.0.0.1:$port -cert $cert -key $key -www -quiet >/dev/null 2>&1 &
  local tls_pid=$!
  until (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; do
    sleep 0.1
    waited=$((waited + 1))
    [ $waited -lt 100 ] || { fail "s_server did not start"; kill $tls_pid; return; }
  done
  conf 'http_client = { ca_file = "cert.pem" }'
  kick trusted othername
  cat >scripts/a.lua <<LUA
job "trusted" { run = function()
  local r = baton.http.get("https://127.0.0.1:$port/")
  return { status = r.status, server = r.body:find("s_server", 1, true) ~= nil }
end }
job "othername" { retry = 1, run = function() baton.http.get("https://localhost:$port/") end }
LUA
  start_engine
  wait_for_log "trusted run [0-9]+: (ok|failed)" 1
  wait_for_log "othername run [0-9]+: (ok|failed)" 1
  stop_engine TERM
  kill $tls_pid 2>/dev/null
  wait $tls_pid 2>/dev/null
  expect_eq "$ENGINE_RC" 0 "exit code"
  expect_eq "$(col trusted status)" ok "with its CA: $(col trusted error)"
  expect_eq "$(col trusted result | jq -c '[.status, .server]')" '[200,true]'
  expect_eq "$(col othername error_kind)" network "a name the certificate does not cover"
  expect_contains "$(col othername error)" "localhost"
}

# GET PATH of the engine's own API (ENGINE_URL).
api() { curl -s --max-time 10 "$ENGINE_URL$1"; }

# Waits (up to 30 s) until the health report's http_client passes the jq test.
wait_http_client() {
  local test=$1 waited=0
  until [ "$(api /api/system/health | jq -r ".http_client | $test" 2>/dev/null)" = true ]; do
    if [ $waited -ge 300 ]; then
      fail "timed out waiting for http_client: $test ($(api /api/system/health | jq -c .http_client))"
      return 1
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
}

t_httpc_figures_in_health_metrics_and_status() {
  start_site || return
  local dead port hp
  dead=$(free_port)
  port=$(free_port)
  SHUTDOWN=1s conf
  sed -i "s/127.0.0.1:0/127.0.0.1:$port/" engine.conf
  ENGINE_URL="http://127.0.0.1:$port"
  hp=${FX#http://}
  kick calls hold
  cat >scripts/a.lua <<LUA
local FX = "$FX"
job "calls" { run = function()
  baton.http.get(FX .. "/api/json?token=s3cret")
  baton.http.get("http://bob:hunter2@$hp/api/json")
  baton.http.get(FX .. "/api/json")
  local e = baton.http.get(FX .. "/status/500", { raise = false }).status
  local m = baton.http.get(FX .. "/status/404", { raise = false }).status
  local ok, err = pcall(baton.http.get, "http://127.0.0.1:$dead/x")
  return { e = e, m = m, refused = err.kind }
end }
job "hold" { run = function() baton.http.get(FX .. "/hang", { timeout = "1m" }) end }
LUA
  start_engine
  wait_for_log "calls run [0-9]+: (ok|failed)" 1
  wait_http_client '.in_flight == 1' # hold's request, waiting on /hang
  local h m
  h=$(api /api/system/health | jq -c .http_client)
  m=$(api /metrics)
  "$BATON" status -c engine.conf >status.out 2>&1
  stop_engine TERM
  stop_site
  expect_eq "$ENGINE_RC" 0 "exit code"
  expect_eq "$(col calls result | jq -c '[.e, .m, .refused]')" '[500,404,"network"]'
  expect_eq "$(jq -r .in_flight <<<"$h")" 1 "health in_flight"
  expect_eq "$(jq -r .requests_total <<<"$h")" 6 "requests that ended ($h)"
  expect_eq "$(jq -c --arg h "$hp" '.requests[$h]' <<<"$h")" \
    '{"ok":3,"http_4xx":1,"http_5xx":1,"network":0,"timeout":0,"limit":0,"refused":0}' "the site's row"
  expect_eq "$(jq -c --arg h "127.0.0.1:$dead" '.requests[$h] | [.ok, .network]' <<<"$h")" '[0,1]' \
    "the refused port's row"
  expect_eq "$(jq -r '.requests | keys | length' <<<"$h")" 2 "hosts (no path, no user info)"
  expect_eq "$(jq -r .latency_ms.samples <<<"$h")" 6
  expect_eq "$(jq -r '.latency_ms.p99 > 0 and .latency_ms.p50 <= .latency_ms.p99' <<<"$h")" true \
    "latency ($h)"
  expect_contains "$m" "baton_http_client_requests_total{host=\"$hp\",outcome=\"ok\"} 3
"
  expect_contains "$m" "baton_http_client_requests_total{host=\"$hp\",outcome=\"http_4xx\"} 1
"
  expect_contains "$m" "baton_http_client_requests_total{host=\"$hp\",outcome=\"http_5xx\"} 1
"
  expect_contains "$m" "baton_http_client_requests_total{host=\"127.0.0.1:$dead\",outcome=\"network\"} 1
"
  expect_eq "$(grep -c '^baton_http_client_requests_total{' <<<"$m")" 4 "series counted"
  expect_contains "$m" "baton_http_client_duration_seconds_bucket{le=\"+Inf\"} 6
baton_http_client_duration_seconds_sum "
  expect_contains "$m" "baton_http_client_duration_seconds_count 6
"
  expect_contains "$m" "baton_http_client_in_flight 1
"
  expect_eq "$(grep -cE 's3cret|hunter2|bob|/api/json' <<<"$m$h")" 0 "no path, query or user info"
  promtool check metrics <<<"$m" >promtool.out 2>&1
  expect_eq "$?" 0 "promtool: $(cat promtool.out)"
  expect_contains "$(cat status.out)" \
    "http client: 1 in flight; 6 requests to 2 host(s) (3 ok, 1 http_4xx, 1 http_5xx, 1 network); latency p50"
}

run_tests
