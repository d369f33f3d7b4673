#!/usr/bin/env bash
# test_console.sh — `baton console` against a real engine: -e values, print
# capture, Lua errors, the helpers acting on the engine (a run lands in
# sqlite, pause shows in the health endpoint, reload), the sandbox limits,
# piped and interactive (pseudo-terminal) sessions, the socket rules (0600,
# stale file replaced, a live one refused, removed at exit), exit codes, and
# raw clients sending garbage, over-long lines and talking at once.
. "$(dirname "$0")/lib.sh"

conf() { # extra config lines
  cat >engine.conf <<CONF
scripts = "scripts"
database = "${DB:-baton.db}"
log = { level = "info" }
watch = false
http = { listen = "127.0.0.1:0" }
console = { socket = "${SOCK:-baton.sock}" }
sandbox = { memory = "16MB", cpu_slice = "200ms" }
limits = { shutdown_timeout = "5s" }
$*
CONF
  mkdir -p scripts
  cat >scripts/a.lua <<'LUA'
job "tick" { every = "1h", run = function(ctx) return "v1" end }
LUA
}

# Starts the engine; sets URL from its "http: listening on" line.
start() {
  start_engine "$@"
  wait_for_log "baton started" 1 || return 1
  URL="http://127.0.0.1:$(grep -oE 'http: listening on [0-9.]+:[0-9]+' engine.out | head -1 | sed 's/.*://')"
}

con() { "$BATON" console "$@"; }

# A raw client: sends each argument as bytes (\n-terminated lines), prints
# each reply line, and "EOF" when the engine closes the connection.
raw() {
  python3 - "$@" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect("baton.sock")
buf = b""
for arg in sys.argv[1:]:
    data = (("x" * (int(arg[5:]))) if arg.startswith("long:") else arg).encode() + b"\n"
    try:
        s.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass
    while b"\n" not in buf:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:  # closed with our bytes unread: closed all the same
            chunk = b""
        if not chunk:
            print("EOF")
            sys.exit(0)
        buf += chunk
    line, buf = buf.split(b"\n", 1)
    print(line.decode())
s.shutdown(socket.SHUT_WR)
print("EOF" if s.recv(10) == b"" else "more")
PY
}

t_console_e_shows_an_expressions_value() {
  conf
  start
  expect_eq "$(con -e '1 + 1')" 2
  expect_eq "$(con -e '"a\"b", nil, 1.5, true')" "$(printf '"a\\"b"\tnil\t1.5\ttrue')"
  expect_eq "$(con -e '{ 3, 4, z = { y = "x" }, a = 1 }')" '{ 3, 4, a = 1, z = { y = "x" } }'
  expect_eq "$(con -e 'x = 1')" "" "a statement shows nothing"
  stop_engine
}

t_console_print_is_captured_before_the_values() {
  conf
  start
  out=$(con -e 'print("hello", 42) print() return "v"')
  expect_eq "$out" "$(printf 'hello\t42\n\n"v"')"
  expect_eq "$(grep -c hello engine.out)" 0 "print went to the log"
  stop_engine
}

t_console_lua_error_exits_1_with_console_position_on_stderr() {
  conf
  start
  con -e 'local x = nil; return x.y' >out 2>err
  expect_eq "$?" 1
  expect_contains "$(cat err)" "console:1: attempt to index a nil value"
  expect_eq "$(cat out)" ""
  con -e 'x = = 1' 2>err
  expect_eq "$?" 1
  expect_contains "$(cat err)" "console:1: unexpected symbol near '='"
  stop_engine
}

t_console_run_starts_a_real_run_recorded_in_sqlite() {
  conf
  start
  expect_eq "$(con -e 'run("tick")')" '{ job = "tick", triggered = true }'
  wait_for_log 'tick run [0-9]+: ok' 1
  wait_for_log 'tick: run requested from the console' 1
  stop_engine
  expect_eq "$(sql baton.db "select count(*), max(status), max(result) from runs where job='tick'")" '1|ok|"v1"'
}

t_console_pause_and_resume_show_in_the_health_endpoint() {
  conf
  start
  expect_eq "$(con -e 'pause("tick")')" '{ changed = true, job = "tick", paused = true }'
  expect_eq "$(curl -s "$URL/api/system/health" | jq -r '.jobs[] | select(.name=="tick") | .paused')" true
  expect_eq "$(con -e 'jobs()[1].state')" '"paused"'
  expect_eq "$(con -e 'resume("tick").changed')" true
  expect_eq "$(curl -s "$URL/api/system/health" | jq -r '.jobs[] | select(.name=="tick") | .paused')" false
  stop_engine
}

t_console_health_breakers_and_runs_read_live_state() {
  conf 'breakers = { site = { failures = 2, cooldown = "1h" } }'
  start
  out=$(con -e 'local h = health() return h.status, h.version, #h.jobs, h.jobs[1].name, h.browser_pool.pages.busy')
  expect_eq "$out" "$(printf '"ok"\t"%s"\t1\t"tick"\t0' "$("$BATON" version | head -1 | cut -d' ' -f2)")"
  expect_eq "$(con -e 'breakers()[1].name, breakers()[1].state')" "$(printf '"site"\t"closed"')"
  expect_eq "$(con -e 'reset("site")')" '{ breaker = "site", state = "closed" }'
  con -e 'run("tick")' >/dev/null
  wait_for_log 'tick run [0-9]+: ok' 1
  expect_eq "$(con -e 'runs("tick", 5)[1].status, #runs(), job("tick").runs[1].result')" "$(printf '"ok"\t1\t"v1"')"
  stop_engine
}

t_console_reload_after_editing_a_script_reports_the_change() {
  conf
  start
  printf 'job "tick" { every = "1h", run = function() return "v2" end }\njob "new" { every = "1h", run = function() end }\n' >scripts/a.lua
  out=$(con -e 'local r = reload() return r.reloaded, r.loaded, r.jobs')
  expect_eq "$out" "$(printf 'true\t1\t2')"
  wait_for_log 'reloaded \(console\)' 1
  con -e 'run("tick")' >/dev/null
  wait_for_log 'tick run [0-9]+: ok .*"v2"' 1
  printf 'job "tick" { every = "1h", run = function( end }\n' >scripts/a.lua
  out=$(con -e 'local r = reload() return r.reloaded, r.failed, r.errors[1]')
  expect_contains "$out" "$(printf 'false\t1\t"scripts/a.lua:1:')"
  stop_engine
}

t_console_endless_loop_gets_a_limit_error_and_the_engine_carries_on() {
  conf
  start
  start_s=$(date +%s%N)
  con -e 'while true do end' 2>err
  expect_eq "$?" 1
  expect_contains "$(cat err)" "limit: ran past its CPU slice of 200ms"
  expect_le $((($(date +%s%N) - start_s) / 1000000)) 5000 "ms the loop was stalled"
  # even a loop that catches errors is stopped
  con -e 'while true do pcall(function() while true do end end) end' 2>err
  expect_contains "$(cat err)" "limit:"
  expect_eq "$(con -e '"still here"')" '"still here"'
  expect_eq "$(curl -s "$URL/api/system/health" | jq -r .version)" "$("$BATON" version | head -1 | cut -d' ' -f2)"
  stop_engine
  expect_eq "$ENGINE_RC" 0
}

t_console_a_finalizer_that_never_returns_cannot_stall_the_engine() {
  conf
  start
  timeout 10 "$BATON" console -e 'setmetatable({}, { __gc = function() while true do end end })' 2>err
  expect_eq "$?" 1
  expect_eq "$(cat err)" "console:1: setmetatable: __gc finalizers are not allowed in scripts"
  expect_eq "$(timeout 10 "$BATON" console -e 'getmetatable(setmetatable({}, { __index = {} })) ~= nil')" true
  expect_eq "$(timeout 10 "$BATON" console -e '"next"')" '"next"'
  expect_eq "$(curl -s --max-time 5 "$URL/api/system/health" | jq -r .status)" ok
  stop_engine
  expect_eq "$ENGINE_RC" 0
}

t_console_memory_bomb_gets_a_limit_error_and_the_session_recovers() {
  # The CPU slice is wall time: on a loaded machine (or under sanitizers) 200 ms
  # can pass before 16 MB is allocated, so give the slice room to let the memory
  # limit be the one that stops the chunk.
  conf 'sandbox = { memory = "16MB", cpu_slice = "10s" }'
  start
  printf '%s\n' 't = {}' 'for i = 1, 1e9 do t[i] = ("x"):rep(100000) .. i end' 't = nil' '40 + 2' |
    con >out 2>err
  expect_eq "$?" 1
  expect_contains "$(cat err)" "limit: allocated past its memory limit of 16384 KB"
  expect_eq "$(cat out)" 42
  stop_engine
  expect_eq "$ENGINE_RC" 0
}

t_console_unknown_names_are_clear_errors() {
  conf
  start
  for chunk in 'run("nope")' 'job("nope")' 'pause("nope")' 'resume("nope")' 'runs("nope")'; do
    con -e "$chunk" 2>err
    expect_eq "$?" 1 "$chunk"
    expect_eq "$(cat err)" "console:1: no job named 'nope'" "$chunk"
  done
  con -e 'reset("nope")' 2>err
  expect_eq "$(cat err)" "console:1: no breaker named 'nope'"
  con -e 'run()' 2>err
  expect_eq "$(cat err)" "console:1: run: expected a job name (a string)"
  stop_engine
}

t_console_piped_stdin_runs_multi_line_chunks_and_keeps_state() {
  conf
  start
  out=$(printf '%s\n' 'local function f(n)' '  return n * 2' 'end' 'x = 5' 'for i = 1, 2 do' '  print(i)' 'end' 'x * 2' | con)
  expect_eq "$?" 0
  expect_eq "$out" "$(printf '1\n2\n10')"
  # a failing chunk: reported, later chunks still run, exit 1
  printf '%s\n' 'error("boom")' '"after"' 'for i = 1, 2 do' | con >out 2>err
  expect_eq "$?" 1
  expect_eq "$(cat out)" '"after"'
  expect_contains "$(cat err)" "console:1: boom"
  expect_contains "$(cat err)" "<eof>"
  stop_engine
}

t_console_interactive_tty_continues_incomplete_chunks() {
  conf
  start
  HOME=$PWD python3 - "$BATON" >pty.out 2>&1 <<'PY'
import os, pty, sys, time, select
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1], "console"])
out = b""
def expect(what, timeout=10):
    global out
    end = time.time() + timeout
    while what.encode() not in out and time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try:
                out += os.read(fd, 4096)
            except OSError:
                break
    if what.encode() not in out:
        print("MISSING", repr(what), repr(out)); sys.exit(1)
expect("baton> ")
os.write(fd, b"for i = 1, 2 do\r")
expect(">> ")
os.write(fd, b"print(i * 10)\r")
expect(">> ")
os.write(fd, b"end\r")
expect("20")
os.write(fd, b"1 +\r")
expect(">> ")
os.write(fd, b"2\r")
expect("3")
os.write(fd, b".exit\r")
_, status = os.waitpid(pid, 0)
print("EXIT", os.WEXITSTATUS(status))
PY
  expect_eq "$(tail -1 pty.out)" "EXIT 0" "interactive session: $(head -c 300 pty.out)"
  expect_eq "$(stat -c %a .baton_history 2>/dev/null)" 600 "history file mode"
  expect_contains "$(cat .baton_history 2>/dev/null)" "print(i"
  stop_engine
}

t_console_socket_is_0600_even_under_a_permissive_umask() {
  conf
  umask 000
  start
  umask 022
  wait_for_log "console: listening on baton.sock" 1
  expect_eq "$(stat -c %a baton.sock)" 600
  expect_eq "$(stat -c %F baton.sock)" socket
  stop_engine
}

t_console_socket_file_is_removed_at_shutdown() {
  conf
  start
  [ -S baton.sock ] || fail "no socket while running"
  stop_engine TERM
  expect_eq "$ENGINE_RC" 0
  [ -e baton.sock ] && fail "socket left behind after a clean stop"
  return 0
}

t_console_stale_socket_from_a_killed_engine_is_replaced() {
  conf
  start
  kill -9 "$ENGINE_PID"
  wait "$ENGINE_PID" 2>/dev/null
  [ -S baton.sock ] || fail "a killed engine leaves its socket"
  mv engine.out first.out
  start
  wait_for_log "console: replaced the stale socket baton.sock" 1
  expect_eq "$(con -e '"back"')" '"back"'
  stop_engine
}

t_console_second_engine_on_the_same_socket_is_refused() {
  conf
  start
  first=$ENGINE_PID
  mkdir second && cd second || return 1
  SOCK=../baton.sock conf
  timeout 30 "$BATON" run >engine.out 2>&1
  expect_eq "$?" 1 "second engine's exit code"
  expect_contains "$(cat engine.out)" "console: another engine is listening on ../baton.sock (console.socket)"
  expect_eq "$(grep -c 'baton started' engine.out)" 0
  cd .. || return 1
  expect_eq "$(con -e '"first"')" '"first"' "the first engine still answers"
  ENGINE_PID=$first
  stop_engine
}

t_console_bad_socket_paths_are_one_line_errors() {
  SOCK=missing/dir/baton.sock conf
  timeout 30 "$BATON" run >engine.out 2>&1
  expect_eq "$?" 1
  expect_contains "$(cat engine.out)" "console: cannot listen on missing/dir/baton.sock: No such file or directory"
  SOCK=$(printf 'x%.0s' $(seq 1 120)).sock conf
  timeout 30 "$BATON" run >engine.out 2>&1
  expect_eq "$?" 1
  expect_contains "$(cat engine.out)" "console: socket path too long (125 bytes, at most 107)"
  echo not a socket >plain
  SOCK=plain conf
  timeout 30 "$BATON" run >engine.out 2>&1
  expect_eq "$?" 1
  expect_contains "$(cat engine.out)" "console: plain exists and is not a socket"
  expect_eq "$(cat plain)" "not a socket" "the file is left alone"
}

t_console_no_engine_exits_3_naming_the_socket() {
  conf
  con -e '1' 2>err
  expect_eq "$?" 3
  expect_contains "$(cat err)" "no engine is running: nothing listens on the console socket baton.sock"
  echo '1' | con 2>err
  expect_eq "$?" 3
  con -e 1 extra 2>/dev/null
  expect_eq "$?" 2 "usage error"
}

t_console_engine_going_away_mid_session_exits_3() {
  conf
  start
  { echo '"first"'; sleep 1; kill -TERM "$ENGINE_PID"; sleep 1; echo '"second"'; } | con >out 2>err
  expect_eq "$?" 3
  expect_eq "$(cat out)" '"first"'
  expect_contains "$(cat err)" "the engine went away (console socket baton.sock)"
  stop_engine
}

t_console_raw_garbage_and_long_lines_get_errors_and_the_engine_keeps_serving() {
  conf
  start
  out=$(raw 'garbage' '{"chunk": 5}' '[1]' '' '{"chunk":"1+1"}')
  expect_eq "$(sed -n 1p <<<"$out" | jq -r '.ok, .error' | tr '\n' ' ')" 'false console: bad request: not JSON (send {"chunk": "..."}) '
  expect_eq "$(sed -n 2p <<<"$out" | jq -r .error)" 'console: bad request: expected {"chunk": "..."}'
  expect_eq "$(sed -n 3p <<<"$out" | jq -r .ok)" false
  expect_eq "$(sed -n 4p <<<"$out" | jq -r .ok)" false "an empty line"
  expect_eq "$(sed -n 5p <<<"$out")" '{"ok":true,"out":"","values":"2"}' "the connection stayed"
  expect_eq "$(sed -n 6p <<<"$out")" EOF
  out=$(raw 'long:1200000' '{"chunk":"1"}')
  expect_eq "$(sed -n 1p <<<"$out" | jq -r .error)" "console: request line over 1048576 bytes: closing the connection"
  expect_eq "$(sed -n 2p <<<"$out")" EOF "the connection is closed"
  # a long but acceptable chunk is fine
  big=$(python3 -c 'import json; print(json.dumps({"chunk": "return #\"" + "y" * 120000 + "\""}))')
  expect_eq "$(raw "$big" | sed -n 1p)" '{"ok":true,"out":"","values":"120000"}'
  expect_eq "$(con -e '"alive"')" '"alive"'
  stop_engine
  expect_eq "$ENGINE_RC" 0
}

t_console_several_clients_at_once_each_with_its_own_state() {
  conf
  start
  python3 - <<'PY' >clients.out
import socket, json
conns = []
for i in range(8):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect("baton.sock")
    conns.append(s)
def ask(s, chunk):
    s.sendall((json.dumps({"chunk": chunk}) + "\n").encode())
    buf = b""
    while not buf.endswith(b"\n"):
        buf += s.recv(65536)
    return json.loads(buf)
for i, s in enumerate(conns):
    ask(s, "mine = %d" % i)
print(" ".join(ask(s, "mine")["values"] for s in conns))
PY
  expect_eq "$(cat clients.out)" "0 1 2 3 4 5 6 7"
  for i in $(seq 1 10); do con -e "$i * 3" >"c$i.out" & done
  wait_pids=$(jobs -p | grep -v "^$ENGINE_PID$")
  for p in $wait_pids; do wait "$p"; done
  for i in $(seq 1 10); do expect_eq "$(cat "c$i.out")" $((i * 3)) "client $i"; done
  stop_engine
  expect_eq "$ENGINE_RC" 0
}

run_tests
