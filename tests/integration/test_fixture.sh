#!/usr/bin/env bash
# test_fixture.sh — the local HTTP fixture site the browser tests and benchmarks use:
# every route, keep-alive, pipelining, the request limits, /stats and a clean exit
# on SIGTERM and SIGINT. Uses $FIXTURE (default build/fixture); builds nothing.
. "$(dirname "$0")/lib.sh"
FIXTURE=$(cd "$ROOT" && readlink -f "${FIXTURE:-build/fixture}")

# Starts the fixture on an ephemeral port; sets FIX_PID, PORT and BASE.
start_fixture() {
  [ -x "$FIXTURE" ] || { fail "no fixture binary at $FIXTURE"; return 1; }
  : >fixture.out # not by the background shell: a previous start's line must not be read
  "$FIXTURE" "$@" >>fixture.out 2>fixture.err &
  FIX_PID=$!
  local waited=0
  while ! grep -q '^fixture listening on 127\.0\.0\.1:[0-9]*$' fixture.out 2>/dev/null; do
    if [ $waited -ge 100 ] || ! kill -0 "$FIX_PID" 2>/dev/null; then
      fail "fixture did not start: $(cat fixture.err)"
      return 1
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
  PORT=$(sed -n 's/^fixture listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' fixture.out)
  BASE="http://127.0.0.1:$PORT"
}

# Signals the fixture and waits for it; sets FIX_RC.
stop_fixture() {
  kill -"${1:-TERM}" "$FIX_PID" 2>/dev/null
  local waited=0
  while kill -0 "$FIX_PID" 2>/dev/null && [ $waited -lt 50 ]; do
    sleep 0.1
    waited=$((waited + 1))
  done
  if kill -0 "$FIX_PID" 2>/dev/null; then
    fail "fixture did not stop within 5s"
    kill -9 "$FIX_PID"
  fi
  wait "$FIX_PID"
  FIX_RC=$?
}

code() { # url [curl options...]: prints the HTTP status
  curl -s -o /dev/null -w '%{http_code}' "$@"
}

# Sends raw bytes on one connection and prints everything received within 1 s.
raw() {
  exec 3<>"/dev/tcp/127.0.0.1/$PORT" || return 1
  printf "$1" >&3
  timeout 1 cat <&3
  exec 3<&-
}

t_prints_one_listening_line_and_exits_0_on_sigterm() {
  start_fixture || return
  expect_eq "$(wc -l <fixture.out)" 1 "stdout lines"
  expect_eq "$(code "$BASE/page/1")" 200
  stop_fixture TERM
  expect_eq "$FIX_RC" 0 "exit status after SIGTERM"
  expect_eq "$(cat fixture.err)" "" "stderr"
}

t_exits_0_on_sigint_with_requests_in_flight() {
  start_fixture || return
  curl -s --max-time 5 "$BASE/hang" >/dev/null &
  curl -s --max-time 5 "$BASE/slow?ms=4000" >/dev/null &
  sleep 0.3
  stop_fixture INT
  expect_eq "$FIX_RC" 0 "exit status after SIGINT"
  wait
}

t_bad_arguments_exit_2() {
  "$FIXTURE" --port 70000 2>err; expect_eq $? 2 "port out of range"
  "$FIXTURE" --bogus 2>err; expect_eq $? 2 "unknown option"
  expect_contains "$(cat err)" "usage: fixture"
}

t_page_n_has_title_and_n_mod_20_plus_1_posts() {
  start_fixture || return
  local n
  for n in 0 7 19 20 45 100000; do
    curl -s "$BASE/page/$n" >page
    expect_contains "$(cat page)" "<title>Page $n</title>"
    expect_eq "$(grep -c '<div class="post">' page)" $((n % 20 + 1)) "posts on page $n"
    expect_contains "$(cat page)" '<a id="next" href="/page/'
  done
  expect_eq "$(code "$BASE/page/100001")" 404 "page beyond the range"
  expect_eq "$(code "$BASE/page/x1")" 404 "page that is not a number"
  expect_eq "$(code "$BASE/page/")" 404 "page without a number"
  stop_fixture
}

t_content_length_matches_body() {
  start_fixture || return
  local url len size
  for url in "$BASE/page/3" "$BASE/demo/feed" "$BASE/status/503" "$BASE/big?kb=64"; do
    len=$(curl -s -D - -o body "$url" | tr -d '\r' | sed -n 's/^Content-Length: //p')
    size=$(wc -c <body)
    expect_eq "$len" "$size" "Content-Length of $url"
  done
  stop_fixture
}

t_demo_index_feed_and_login() {
  start_fixture || return
  curl -s "$BASE/demo/" >index
  expect_contains "$(cat index)" 'href="/demo/feed"'
  expect_contains "$(cat index)" 'href="/demo/login"'
  curl -s "$BASE/demo/feed" >feed
  expect_contains "$(cat feed)" "<title>Demo feed</title>"
  expect_eq "$(grep -c 'class="post"' feed)" 8 "posts"
  expect_eq "$(grep -c 'class="reply"' feed)" 8 "reply buttons"
  curl -s "$BASE/demo/login" >login
  expect_contains "$(cat login)" 'id="user"'
  expect_contains "$(cat login)" 'id="pass"'
  expect_contains "$(cat login)" 'id="go"'
  expect_contains "$(cat login)" 'id="msg"'
  expect_contains "$(cat login)" 'document.cookie = "session=" + user'
  stop_fixture
}

t_status_codes_with_retry_after() {
  start_fixture || return
  local c
  for c in 200 301 400 403 404 429 500 502 503; do
    expect_eq "$(code "$BASE/status/$c")" "$c" "/status/$c"
  done
  expect_contains "$(curl -s "$BASE/status/500")" "status 500"
  curl -s -D headers -o /dev/null "$BASE/status/429?retry_after=7"
  expect_contains "$(tr -d '\r' <headers)" "Retry-After: 7" "429 headers"
  curl -s -D headers -o /dev/null "$BASE/status/503?retry_after=30"
  expect_eq "$(head -1 headers | tr -d '\r')" "HTTP/1.1 503 Service Unavailable"
  expect_contains "$(tr -d '\r' <headers)" "Retry-After: 30" "503 headers"
  curl -s -D headers -o /dev/null "$BASE/status/503"
  grep -qi '^retry-after' headers && fail "Retry-After without ?retry_after"
  expect_eq "$(code "$BASE/status/99")" 404 "status out of range"
  stop_fixture
}

t_api_routes_for_the_http_client() {
  start_fixture || return
  expect_eq "$(curl -s "$BASE/api/json" | jq -r .name)" baton "/api/json"
  local e
  e=$(curl -s -X PATCH -H 'X-One: 1' --data-binary 'a"b' "$BASE/api/echo?q=1")
  expect_eq "$(jq -r '.method + " " + .path + " " + .query + " " + .headers["x-one"] + " " + .body' <<<"$e")" \
    'PATCH /api/echo q=1 1 a"b' "/api/echo (any method)"
  expect_eq "$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' "$BASE/api/redirect?n=2")" \
    "302 $BASE/api/redirect?n=1"
  expect_eq "$(curl -sL "$BASE/api/redirect?n=3" | jq -r .ok)" true "a chain of redirects"
  curl -s -D headers -o /dev/null "$BASE/api/retry-date?secs=60"
  expect_match "$(tr -d '\r' <headers)" "Retry-After: [A-Z][a-z][a-z], [0-9]{2} [A-Z][a-z][a-z] [0-9]{4} [0-9:]{8} GMT" \
    "Retry-After as a date"
  expect_eq "$(code "$BASE/api/flaky?key=a&fail=2") $(code "$BASE/api/flaky?key=a&fail=2") $(code "$BASE/api/flaky?key=a&fail=2")" \
    "500 500 200" "/api/flaky"
  expect_eq "$(code "$BASE/api/flaky?key=b")" 500 "keys count apart"
  expect_eq "$(curl -s "$BASE/api/stream?kb=5" | wc -c)" 5120 "/api/stream"
  curl -s -D headers -o /dev/null "$BASE/api/stream?kb=1"
  expect_contains "$(tr -d '\r' <headers)" "Transfer-Encoding: chunked"
  expect_eq "$(curl -s "$BASE/api/cut" | wc -c) $(curl -s -o /dev/null "$BASE/api/cut"; echo $?)" "100 18" \
    "/api/cut: 100 of 1000 bytes"
  expect_eq "$(code "$BASE/api/nothing")" 404
  local before
  before=$(curl -s "$BASE/api/connections" | jq .accepted)
  expect_eq "$(curl -s "$BASE/api/connections" | jq .accepted)" $((before + 1)) "/api/connections"
  stop_fixture
}

t_unknown_paths_are_404() {
  start_fixture || return
  expect_eq "$(code "$BASE/")" 404
  expect_eq "$(code "$BASE/nothing/here")" 404
  expect_eq "$(code "$BASE/pages/1")" 404
  stop_fixture
}

t_set_cookie_then_echo_cookies() {
  start_fixture || return
  curl -s -D headers -c jar -o /dev/null "$BASE/set-cookie?name=session&value=abc123"
  expect_contains "$(tr -d '\r' <headers)" "Set-Cookie: session=abc123; Path=/; Max-Age=86400"
  curl -s -b jar -c jar -o /dev/null "$BASE/set-cookie?name=theme&value=dark"
  curl -s -b jar "$BASE/echo-cookies" >echo
  expect_contains "$(cat echo)" '<pre id="c">'
  expect_contains "$(cat echo)" "session=abc123"
  expect_contains "$(cat echo)" "theme=dark"
  expect_contains "$(curl -s -H 'Cookie: a=1; b=2' "$BASE/echo-cookies")" '<pre id="c">a=1; b=2</pre>'
  expect_contains "$(curl -s "$BASE/echo-cookies")" '<pre id="c"></pre>' "no cookies"
  expect_eq "$(code "$BASE/set-cookie?name=x&value=a%0d%0aX-Evil:1")" 400 "header injection"
  expect_eq "$(code "$BASE/set-cookie?value=v")" 400 "missing name"
  stop_fixture
}

t_slow_answers_after_the_delay() {
  start_fixture || return
  local ms
  ms=$(curl -s -o body -w '%{time_total}' "$BASE/slow?ms=400" | awk '{printf "%d", $1 * 1000}')
  expect_ge "$ms" 400 "elapsed ms"
  expect_le "$ms" 3000 "elapsed ms"
  expect_contains "$(cat body)" "slow 400"
  expect_eq "$(code "$BASE/slow?ms=abc")" 400 "bad ms"
  stop_fixture
}

t_big_returns_k_kilobytes_of_text() {
  start_fixture || return
  local size
  size=$(curl -s "$BASE/big?kb=512" | wc -c)
  expect_ge "$size" $((512 * 1024)) "bytes"
  expect_le "$size" $((512 * 1024 + 300)) "bytes"
  expect_eq "$(code "$BASE/big")" 400 "missing kb"
  stop_fixture
}

t_stats_counts_requests_except_itself() {
  start_fixture || return
  expect_eq "$(curl -s "$BASE/stats")" '{"requests": 0}'
  code "$BASE/page/1" >/dev/null
  code "$BASE/nope" >/dev/null
  code "$BASE/status/503" >/dev/null
  expect_eq "$(curl -s "$BASE/stats")" '{"requests": 3}'
  expect_eq "$(curl -s "$BASE/stats" | jq .requests)" 3 "valid JSON"
  stop_fixture
}

t_hang_never_answers_and_others_still_do() {
  start_fixture || return
  curl -s --max-time 1 "$BASE/hang" >out
  expect_eq $? 28 "curl exit (28 = timed out)"
  expect_eq "$(wc -c <out)" 0 "bytes received"
  expect_eq "$(code "$BASE/page/2")" 200 "another request meanwhile"
  stop_fixture
  expect_eq "$FIX_RC" 0
}

t_keep_alive_reuses_one_connection() {
  start_fixture || return
  out=$(curl -s -o /dev/null -o /dev/null -o /dev/null -w '%{num_connects}\n' \
    "$BASE/page/1" "$BASE/page/2" "$BASE/status/404")
  expect_eq "$(echo $out)" "1 0 0" "new connections per request"
  stop_fixture
}

t_pipelined_requests_answered_in_order() {
  start_fixture || return
  raw 'GET /page/1 HTTP/1.1\r\nHost: x\r\n\r\nGET /slow?ms=100 HTTP/1.1\r\nHost: x\r\n\r\nGET /page/2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >out
  expect_eq "$(grep -c '^HTTP/1.1 200 OK' out)" 3 "answers"
  expect_eq "$(grep -o -e '<title>[^<]*</title>' out | tr '\n' ' ')" \
    "<title>Page 1</title> <title>slow 100</title> <title>Page 2</title> " "order"
  stop_fixture
}

t_request_split_across_writes_is_assembled() {
  start_fixture || return
  exec 3<>"/dev/tcp/127.0.0.1/$PORT"
  printf 'GET /pa' >&3; sleep 0.1
  printf 'ge/4 HTTP/1.1\r\nHo' >&3; sleep 0.1
  printf 'st: x\r\n\r' >&3; sleep 0.1
  printf '\n' >&3
  timeout 1 cat <&3 >out
  exec 3<&-
  expect_contains "$(cat out)" "<title>Page 4</title>"
  stop_fixture
}

t_garbage_and_oversized_requests_are_refused_and_closed() {
  start_fixture || return
  raw '\x16\x03\x01\x00\xa5\x01\x00' >out
  expect_contains "$(head -1 out)" "HTTP/1.1 400"
  expect_contains "$(cat out)" "Connection: close"
  raw 'GET / HTTP/1.1\r\n\r\n' >out
  expect_contains "$(head -1 out)" "HTTP/1.1 400" "HTTP/1.1 without Host"
  expect_eq "$(code -H "X-Big: $(head -c 9000 /dev/zero | tr '\0' a)" "$BASE/page/1")" 431 \
    "9000-byte header"
  raw 'GET /page/1 HTTP/2.0\r\n\r\n' >out
  expect_contains "$(head -1 out)" "HTTP/1.1 505"
  expect_eq "$(code "$BASE/page/1")" 200 "the fixture still serves"
  stop_fixture
  expect_eq "$FIX_RC" 0
}

run_tests
