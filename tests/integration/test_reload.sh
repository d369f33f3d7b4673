#!/usr/bin/env bash
# test_reload.sh — live reload of a running engine: a file saved under
# scripts/ (and scripts/lib/), SIGHUP, `baton reload` and POST /api/reload.
# New definitions take over, runs in flight finish on the old ones, unchanged
# schedules keep their timing, removed jobs stop, and any error keeps the
# previous scripts running. Checked through the log, sqlite rows and the API.
. "$(dirname "$0")/lib.sh"

conf() { # extra config lines
  PORT=$(free_port)
  URL="http://127.0.0.1:$PORT"
  cat >engine.conf <<CONF
scripts = "scripts"
database = "baton.db"
log = { level = "info" }
limits = { max_concurrent_runs = 8, shutdown_timeout = "10s" }
http = { listen = "127.0.0.1:$PORT"${TOKEN:+, token = \"$TOKEN\"} }
$*
CONF
  mkdir -p scripts
}

# The engine is up once it logs that it started.
start() {
  start_engine
  wait_for_log "baton started" 1
}

# Writes a file so that a watcher sees one change (mv is atomic).
put() { # path content
  printf '%s\n' "$2" >"$1.tmp" && mv "$1.tmp" "$1"
}

health_script() { # file jq-filter
  curl -s "$URL/api/system/health" | jq -r --arg f "$1" ".scripts[] | select(.file == \$f) | $2"
}

t_reload_a_saved_file_takes_over_and_keeps_the_schedule() {
  conf
  put scripts/a.lua 'job "tick" { every = "1s", run = function() return "v1" end }
job "other" { every = "1s", run = function() return "o" end }'
  start
  wait_for_log 'tick run [0-9]+: ok .*"v1"' 2
  put scripts/a.lua 'job "tick" { every = "1s", run = function() return "v2" end }
job "other" { every = "1s", run = function() return "o" end }'
  wait_for_log 'reloaded \(scripts changed\): 1 script\(s\) loaded, 0 removed, 0 unchanged; 2 job\(s\)' 1
  wait_for_log 'tick run [0-9]+: ok .*"v2"' 2
  stop_engine TERM
  expect_eq "$ENGINE_RC" 0
  # No stampede, no gap: one run per job and second, across the reload.
  expect_eq "$(sql baton.db "select count(*) from (select job, scheduled_at from runs group by 1, 2 having count(*) > 1)")" 0 "starts doubled"
  expect_eq "$(sql baton.db "select count(*) from runs where scheduled_at != cast(scheduled_at as int)")" 0 "starts off the second"
  first=$(sql baton.db "select min(scheduled_at) from runs where job='tick'")
  last=$(sql baton.db "select max(scheduled_at) from runs where job='tick'")
  runs=$(sql baton.db "select count(*) from runs where job='tick'")
  expect_eq "$runs" "$(printf '%.0f' "$(echo "$last - $first + 1" | bc)")" "a tick every second, none missed"
  expect_eq "$(sql baton.db "select count(*) from runs where job='tick' and result='\"v1\"' and scheduled_at > (select min(scheduled_at) from runs where result='\"v2\"')")" 0 "v1 after v2"
  expect_eq "$(sql baton.db "select count(*) from runs where status != 'ok'")" 0
}

t_reload_a_broken_file_keeps_the_old_version_running() {
  conf
  put scripts/a.lua 'job "tick" { every = "1s", run = function() return "good" end }'
  start
  wait_for_log 'tick run [0-9]+: ok' 1
  expect_eq "$(health_script scripts/a.lua .version)" 1
  put scripts/a.lua 'job "tick" { every = "1s", run = function( return "bad" end }'
  wait_for_log 'error scripts/a.lua:1: ' 1
  wait_for_log 'nothing applied: 1 script\(s\) failed to load' 1
  n=$(grep -cE 'tick run [0-9]+: ok .*"good"' engine.out)
  wait_for_log 'tick run [0-9]+: ok .*"good"' $((n + 2))
  expect_contains "$(health_script scripts/a.lua .error)" "scripts/a.lua:1:"
  expect_eq "$(curl -s "$URL/api/system/health" | jq -r .status)" degraded "a failed script shows"
  # a job definition error is the same: the old version keeps running
  put scripts/a.lua 'job "tick" { every = "1s", priority = "urgent", run = function() return "bad" end }'
  wait_for_log "scripts/a.lua:1: job 'tick': unknown priority 'urgent'" 1
  put scripts/a.lua 'job "tick" { every = "1s", run = function() return "fixed" end }'
  wait_for_log 'tick run [0-9]+: ok .*"fixed"' 1
  expect_eq "$(health_script scripts/a.lua '[.error, .version] | @tsv')" "$(printf '\t2')" "error cleared, version 2"
  stop_engine TERM
  expect_eq "$(sql baton.db "select count(*) from runs where result='\"bad\"'")" 0
}

t_reload_runs_in_flight_finish_on_the_old_state() {
  conf 'watch = false'
  put scripts/a.lua 'job "slow" { run = function(ctx) ctx:sleep("2s") return "old" end }
job "doomed" { run = function(ctx) ctx:sleep("2s") return "last words" end }
job "stays" { every = "1s", run = function() return 1 end }'
  start
  curl -s -XPOST "$URL/api/jobs/slow/run" >/dev/null
  curl -s -XPOST "$URL/api/jobs/doomed/run" >/dev/null
  wait_for_log 'started|stays run' 1
  sleep 0.5
  # health shows the runs in flight (the dashboard draws them from this)
  expect_eq "$(curl -s "$URL/api/system/health" | jq -c '[.jobs[] | select(.name == "slow") | .state, (.running | keys), (.running.since < now)]')" \
    '["running",["run_id","since"],true]' "a run in flight in health"
  expect_eq "$(curl -s "$URL/api/system/health" | jq -c '.jobs[] | select(.name == "stays") | .running')" null
  put scripts/a.lua 'job "slow" { run = function() return "new" end }
job "stays" { every = "1s", run = function() return 1 end }'
  out=$("$BATON" reload -c engine.conf)
  expect_eq "$?" 0 "baton reload"
  expect_eq "$out" "reloaded: 1 script(s) loaded, 0 removed, 0 unchanged; 2 job(s)"
  wait_for_log "doomed: removed by the reload; its run in flight finishes first" 1
  expect_eq "$(curl -s "$URL/api/jobs" | jq -c '[.jobs[].name]')" '["slow","stays"]'
  wait_for_log 'slow run [0-9]+: ok .*"old"' 1
  wait_for_log 'doomed run [0-9]+: ok .*"last words"' 1
  curl -s -XPOST "$URL/api/jobs/slow/run" >/dev/null
  wait_for_log 'slow run [0-9]+: ok .*"new"' 1
  expect_eq "$(curl -s -o /dev/null -w '%{http_code}' -XPOST "$URL/api/jobs/doomed/run")" 404 "a removed job"
  stop_engine TERM
  expect_eq "$ENGINE_RC" 0
}

t_reload_refused_set_keeps_every_script_as_it_was() {
  conf 'watch = false'
  put scripts/a.lua 'job "a" { every = "1s", run = function() return "a1" end }'
  start
  wait_for_log 'a run [0-9]+: ok' 1
  # b.lua is fine alone, but names a job nobody defines; a.lua changed too
  put scripts/a.lua 'job "a" { every = "1s", run = function() return "a2" end }'
  put scripts/b.lua 'job "b" { after = "nope", run = function() end }'
  "$BATON" reload -c engine.conf >out 2>err
  expect_eq "$?" 1 "exit code"
  expect_eq "$(cat out)" ""
  expect_contains "$(cat err)" "scripts/b.lua:1: job 'b': after: no job named 'nope' (reload refused: the previous scripts keep running)"
  expect_contains "$(cat err)" "baton: reload refused:"
  n=$(grep -cE 'a run [0-9]+: ok .*"a1"' engine.out)
  wait_for_log 'a run [0-9]+: ok .*"a1"' $((n + 1))
  # a duplicate name across files is refused the same way
  put scripts/b.lua 'job "a" { run = function() end }'
  "$BATON" reload -c engine.conf >out 2>err
  expect_eq "$?" 1
  expect_contains "$(cat err)" "job 'a' is already defined at"
  rm scripts/b.lua
  "$BATON" reload -c engine.conf >out 2>err
  expect_eq "$?" 0 "fixed"
  wait_for_log 'a run [0-9]+: ok .*"a2"' 1
  stop_engine TERM
  expect_eq "$ENGINE_RC" 0
}

t_reload_sighup_removes_a_deleted_file_and_its_jobs() {
  conf 'watch = false'
  put scripts/a.lua 'job "a" { every = "1s", run = function() return 1 end }'
  put scripts/b.lua 'job "b" { every = "1s", run = function() return 2 end }'
  start
  wait_for_log 'b run [0-9]+: ok' 1
  rm scripts/b.lua
  kill -HUP "$ENGINE_PID"
  wait_for_log 'reloaded \(SIGHUP\): 0 script\(s\) loaded, 1 removed, 1 unchanged; 1 job\(s\)' 1
  wait_for_log 'b: removed by the reload$' 1
  expect_eq "$(curl -s "$URL/api/system/health" | jq -c '[.scripts[].file]')" '["scripts/a.lua"]'
  n=$(grep -cE 'a run [0-9]+: ok' engine.out)
  wait_for_log 'a run [0-9]+: ok' $((n + 2))
  after=$(grep -n 'removed by the reload' engine.out | head -1 | cut -d: -f1)
  expect_eq "$(tail -n +"$after" engine.out | grep -cE 'b run [0-9]+')" 0 "b ran after its removal"
  # nothing changed: said so, nothing reloaded
  kill -HUP "$ENGINE_PID"
  wait_for_log 'reload \(SIGHUP\): no script changed' 1
  stop_engine TERM
  expect_eq "$ENGINE_RC" 0
}

t_reload_a_changed_module_reloads_the_scripts_that_use_it() {
  conf
  mkdir -p scripts/lib
  put scripts/lib/greet.lua 'return { word = "hello" }'
  put scripts/a.lua 'local g = require("greet")
job "a" { every = "1s", run = function() return g.word end }'
  start
  wait_for_log 'a run [0-9]+: ok .*"hello"' 1
  put scripts/lib/greet.lua 'return { word = "bonjour" }'
  wait_for_log 'reloaded \(scripts changed\): 1 script\(s\) loaded' 1
  wait_for_log 'a run [0-9]+: ok .*"bonjour"' 1
  stop_engine TERM
}

# require "net.http.util" is lib/net/http/util.lua: inotify is not
# recursive, so every directory of the module tree needs its own watch,
# including ones made while the engine runs.
module_in_a_new_directory() { # first-word changed-word
  mkdir -p scripts/lib/fresh/deeper
  put scripts/lib/fresh/deeper/m.lua "return { word = \"$1\" }"
  put scripts/a.lua 'local m = require("fresh.deeper.m")
job "a" { every = "1s", run = function() return m.word end }'
  wait_for_log "a run [0-9]+: ok .*\"$1\"" 1
  put scripts/lib/fresh/deeper/m.lua "return { word = \"$2\" }"
  wait_for_log "a run [0-9]+: ok .*\"$2\"" 1
}

t_reload_watches_module_directories_at_any_depth_even_new_ones() {
  conf
  mkdir -p scripts/lib/net/http
  put scripts/lib/net/http/util.lua 'return { word = "one" }'
  put scripts/a.lua 'local u = require("net.http.util")
job "a" { every = "1s", run = function() return u.word end }'
  start
  wait_for_log 'a run [0-9]+: ok .*"one"' 1
  put scripts/lib/net/http/util.lua 'return { word = "two" }'
  wait_for_log 'a run [0-9]+: ok .*"two"' 1
  # a broken module down there is reported at its file:line; "two" runs on
  put scripts/lib/net/http/util.lua 'return { word = '
  wait_for_log 'nothing applied: 1 script\(s\) failed to load' 1
  expect_contains "$(cat engine.out)" "scripts/lib/net/http/util.lua:2:"
  n=$(grep -cE 'a run [0-9]+: ok .*"two"' engine.out)
  wait_for_log 'a run [0-9]+: ok .*"two"' $((n + 1))
  # a directory made now, a module written into it at once, then changed
  module_in_a_new_directory three four
  # a directory removed and made again is watched again
  rm -rf scripts/lib/fresh
  put scripts/a.lua 'job "a" { every = "1s", run = function() return "plain" end }'
  wait_for_log 'a run [0-9]+: ok .*"plain"' 1
  module_in_a_new_directory five six
  stop_engine TERM
  expect_eq "$ENGINE_RC" 0
}

t_reload_new_jobs_and_changed_schedules_start_from_now() {
  conf 'watch = false'
  put scripts/a.lua 'job "a" { every = "1h", run = function() end }'
  start
  # a misfire catch-up would run these at once; a reload arms them from now
  sql baton.db "insert into job_state(job, last_due) values ('b', 1)" 2>/dev/null || true
  put scripts/a.lua 'job "a" { every = "1s", run = function() return "fast" end }
job "b" { every = "1h", run = function() return "b" end }'
  "$BATON" reload -c engine.conf >/dev/null
  wait_for_log "a: schedule changed by the reload: every 1s \(was every 1h\)" 1
  wait_for_log "b: added by the reload: every 1h" 1
  wait_for_log 'a run [0-9]+: ok .*"fast"' 2
  sleep 1
  stop_engine TERM
  expect_eq "$(sql baton.db "select count(*) from runs where job='b'")" 0 "b waits for its hour"
}

t_reload_while_shutting_down_answers_503() {
  conf
  put scripts/a.lua 'job "slow" { every = "1s", run = function(ctx)
  ctx.log:info("sleeping"); ctx:sleep("4s") end }'
  start
  wait_for_log 'slow run [0-9]+: sleeping' 1
  kill -TERM "$ENGINE_PID"
  wait_for_log 'draining 1 run' 1
  expect_eq "$(curl -s -o body -w '%{http_code}' -X POST "$URL/api/reload")" 503 "POST /api/reload"
  expect_eq "$(jq -r .error body)" "the engine is shutting down"
  "$BATON" reload >out 2>err
  expect_eq $? 1 "baton reload"
  expect_contains "$(cat err)" "the engine is shutting down"
  wait "$ENGINE_PID"
  expect_eq $? 0 "the drain ends as usual"
}

t_reload_needs_the_token_and_reports_a_missing_engine() {
  TOKEN=s3cret conf 'watch = false'
  put scripts/a.lua 'job "a" { run = function() end }'
  start
  expect_eq "$(curl -s -o /dev/null -w '%{http_code}' -XPOST "$URL/api/reload")" 401
  put scripts/a.lua 'job "a2" { run = function() end }'
  out=$("$BATON" reload -c engine.conf)
  expect_eq "$?" 0 "the CLI sends the token from engine.conf"
  expect_contains "$out" "1 script(s) loaded"
  stop_engine TERM
  "$BATON" reload -c engine.conf 2>err
  expect_eq "$?" 3 "no engine"
  expect_contains "$(cat err)" "baton: no engine answers at 127.0.0.1:$PORT"
  "$BATON" reload -c engine.conf extra 2>err
  expect_eq "$?" 2 "usage"
}

run_tests
