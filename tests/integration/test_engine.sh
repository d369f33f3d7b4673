#!/usr/bin/env bash
# test_engine.sh — `baton run` as a process for a few seconds with
# second-scale schedules, checked through the rows it leaves in sqlite:
# runs and results, yields, timeouts, limits, overlap, misfire, triggers,
# the drain on SIGTERM, and a database it must refuse.
. "$(dirname "$0")/lib.sh"

conf() { # extra config lines
  cat >engine.conf <<CONF
scripts = "scripts"
database = "baton.db"
log = { level = "debug" }
limits = { max_concurrent_runs = 4, shutdown_timeout = "${SHUTDOWN:-5s}" }
sandbox = { memory = "16MB", cpu_slice = "100ms" }
$*
http = { listen = "127.0.0.1:0" }
CONF
  mkdir -p scripts
}

t_engine_runs_second_scale_jobs_and_records_each_run() {
  conf
  cat >scripts/a.lua <<'LUA'
job "tick" { every = "1s", run = function(ctx)
  local n = ctx.store:incr("ticks")
  return { n = n, attempt = ctx.attempt }
end }
job "slow" { every = "2s", run = function(ctx)
  ctx:sleep("300ms")
  return "slept"
end }
LUA
  start_engine
  wait_for_log "tick run [0-9]+: ok in" 3
  wait_for_log "slow run [0-9]+: ok in" 1
  stop_engine TERM
  expect_eq "$ENGINE_RC" 0 "exit code"
  ticks=$(sql baton.db "select count(*) from runs where job='tick' and status='ok'")
  expect_ge "$ticks" 3 "tick runs"
  expect_ge "$(sql baton.db "select count(*) from runs where job='slow' and status='ok' and result='\"slept\"'")" 1 "slow runs"
  # each row: attempt 1, times in order, the result's JSON
  expect_eq "$(sql baton.db "select count(*) from runs where job='tick' and not (attempt=1 and scheduled_at<=started_at and started_at<=ended_at)")" 0 "row times"
  expect_eq "$(sql baton.db "select max(json_extract(result,'\$.n')) from runs where job='tick'")" \
            "$(sql baton.db "select value from kv where key='ticks'")" "result matches the store"
  # starts are clock-aligned: scheduled_at is a whole second
  expect_eq "$(sql baton.db "select count(*) from runs where scheduled_at != cast(scheduled_at as int)")" 0
  expect_contains "$(cat engine.out)" "tick run"
  expect_contains "$(cat engine.out)" "ok in"
}

t_engine_timeout_cancels_a_run_and_records_kind_timeout() {
  conf
  cat >scripts/a.lua <<'LUA'
job "hang" { every = "1s", timeout = "300ms", retry = { attempts = 2, base = "100ms", jitter = "none" },
  run = function(ctx) ctx:sleep("10s") end }
LUA
  start_engine
  wait_for_log "hang run [0-9]+: failed .*\(attempt 2\)" 1
  stop_engine TERM
  expect_eq "$ENGINE_RC" 0
  expect_ge "$(sql baton.db "select count(*) from runs where job='hang' and status='failed' and error_kind='timeout' and attempt=1")" 1 "first attempts"
  expect_ge "$(sql baton.db "select count(*) from runs where job='hang' and status='failed' and error_kind='timeout' and attempt=2")" 1 "retried (timeout is retryable)"
  expect_eq "$(sql baton.db "select count(*) from runs where job='hang' and attempt=3")" 0 "attempts = 2"
  expect_contains "$(sql baton.db "select error from runs where job='hang' limit 1")" "timeout of 300ms"
}

t_engine_memory_bomb_and_infinite_loop_fail_with_limit_while_others_run() {
  conf
  cat >scripts/bomb.lua <<'LUA'
job "bomb" { every = "1s", retry = 1, run = function()
  local t = {} for i = 1, 1e9 do t[i] = string.rep("x", 4096) .. i end
end }
LUA
  cat >scripts/spin.lua <<'LUA'
job "spin" { every = "1s", retry = 1, run = function() while true do end end }
LUA
  cat >scripts/fine.lua <<'LUA'
job "fine" { every = "1s", run = function() return "fine" end }
LUA
  start_engine
  wait_for_log "bomb run [0-9]+: failed" 2
  wait_for_log "spin run [0-9]+: failed" 2
  wait_for_log "fine run [0-9]+: ok" 3
  stop_engine TERM
  expect_eq "$ENGINE_RC" 0
  expect_ge "$(sql baton.db "select count(*) from runs where job='bomb' and error_kind='limit'")" 2 "bomb"
  expect_ge "$(sql baton.db "select count(*) from runs where job='spin' and error_kind='limit'")" 2 "spin"
  expect_ge "$(sql baton.db "select count(*) from runs where job='fine' and status='ok'")" 3 "fine"
  expect_eq "$(sql baton.db "select count(*) from runs where job in ('bomb','spin') and status!='failed'")" 0
}

t_engine_overlap_skip_records_skipped_rows() {
  conf
  echo 'job "long" { every = "1s", run = function(ctx) ctx:sleep("2500ms") end }' >scripts/a.lua
  start_engine
  wait_for_log "long run [0-9]+: ok in" 1
  wait_for_log "skipped \(overlap\)" 2
  stop_engine TERM
  expect_ge "$(sql baton.db "select count(*) from runs where job='long' and status='skipped' and error_kind='overlap'")" 2 "skips"
  expect_ge "$(sql baton.db "select count(*) from runs where job='long' and status='ok'")" 1 "ok"
}

t_engine_trigger_and_after_pass_args_and_chain() {
  conf
  cat >scripts/a.lua <<'LUA'
job "first" { every = "1s", run = function() baton.trigger("manual", { word = "hello" }) return 1 end }
job "manual" { run = function(ctx) return { got = ctx.args.word } end }
job "second" { after = "first", requires = { first = "1m" }, run = function() return 2 end }
LUA
  start_engine
  wait_for_log "manual run [0-9]+: ok" 1
  wait_for_log "second run [0-9]+: ok" 1
  stop_engine TERM
  expect_ge "$(sql baton.db "select count(*) from runs where job='manual' and result='{\"got\":\"hello\"}'")" 1 "trigger with args"
  expect_ge "$(sql baton.db "select count(*) from runs where job='second' and status='ok'")" 1 "after"
}

t_engine_sigterm_drains_runs_in_flight() {
  conf
  echo 'job "s" { every = "1s", run = function(ctx) ctx:sleep("2s") return "done" end }' >scripts/a.lua
  start_engine
  wait_for_log "s run 1: attempt 1 started" 1
  sleep 0.3
  stop_engine TERM
  expect_eq "$ENGINE_RC" 0
  expect_contains "$(cat engine.out)" "draining 1 run(s)"
  expect_ge "$(sql baton.db "select count(*) from runs where job='s' and status='ok' and result='\"done\"'")" 1 "finished during the drain"
  expect_eq "$(sql baton.db "select count(*) from runs where status='cancelled'")" 0
}

t_engine_shutdown_timeout_cancels_what_is_left() {
  SHUTDOWN=500ms conf
  echo 'job "s" { every = "1s", run = function(ctx) ctx:sleep("60s") end }' >scripts/a.lua
  start_engine
  wait_for_log "s run 1: attempt 1 started" 1
  stop_engine INT
  expect_eq "$ENGINE_RC" 0
  expect_eq "$(sql baton.db "select count(*) from runs where job='s' and status='cancelled' and error_kind='cancelled'")" 1
}

t_engine_misfire_run_once_catches_up_once_and_skip_records_it() {
  conf
  cat >scripts/a.lua <<'LUA'
job "hourly" { every = "1h", run = function() return "caught up" end }
job "skippy" { every = "1h", misfire = "skip", run = function() return "no" end }
LUA
  start_engine
  wait_for_log "baton started" 1
  sleep 0.5
  stop_engine TERM
  # pretend the engine was down for three hours
  sql baton.db "update job_state set last_due = last_due - 3*3600"
  start_engine
  wait_for_log "hourly run [0-9]+: ok" 1
  wait_for_log "skippy run [0-9]+: skipped" 1
  stop_engine TERM
  expect_eq "$(sql baton.db "select count(*) from runs where job='hourly' and status='ok' and result='\"caught up\"'")" 1 "one catch-up"
  expect_eq "$(sql baton.db "select count(*) from runs where job='hourly' and cast(scheduled_at as int) % 3600 != 0")" 0 "scheduled at the missed hour"
  expect_eq "$(sql baton.db "select count(*) from runs where job='skippy' and status='skipped' and error_kind='misfire'")" 1 "skip"
  expect_eq "$(sql baton.db "select count(*) from runs where job='skippy' and status='ok'")" 0
}

t_engine_refuses_a_database_that_is_not_one_and_leaves_it_alone() {
  conf
  echo 'job "x" { every = "1s", run = function() end }' >scripts/a.lua
  echo "my precious notes" >baton.db
  before=$(md5sum baton.db)
  "$BATON" run -c engine.conf >out 2>&1
  expect_eq $? 1 "exit"
  expect_contains "$(cat out)" "not a database"
  expect_eq "$(md5sum baton.db)" "$before" "file untouched"
}

t_engine_refuses_a_second_engine_on_the_same_database() {
  conf
  echo 'job "x" { every = "1s", run = function() end }' >scripts/a.lua
  start_engine
  wait_for_log "baton started" 1
  "$BATON" run -c engine.conf >second.out 2>&1
  expect_eq $? 1 "second engine"
  expect_contains "$(cat second.out)" "in use by another baton"
  stop_engine TERM
  expect_eq "$ENGINE_RC" 0
}

t_engine_bad_script_is_reported_and_the_others_still_run() {
  conf
  printf 'job "bad" { every = "1s", run = function() end\n' >scripts/bad.lua
  echo 'job "good" { every = "1s", run = function() return 1 end }' >scripts/good.lua
  start_engine
  wait_for_log "good run [0-9]+: ok" 1
  stop_engine TERM
  expect_contains "$(cat engine.out)" "scripts/bad.lua:"
  expect_ge "$(sql baton.db "select count(*) from runs where job='good' and status='ok'")" 1
}

t_engine_store_survives_restart() {
  conf
  echo 'job "c" { every = "1s", run = function(ctx) return ctx.store:incr("count") end }' >scripts/a.lua
  start_engine; wait_for_log "c run [0-9]+: ok" 2; stop_engine TERM
  first=$(sql baton.db "select value from kv where key='count'")
  start_engine; wait_for_log "c run [0-9]+: ok" 2; stop_engine TERM
  second=$(sql baton.db "select value from kv where key='count'")
  expect_ge "$first" 1 "first"
  expect_ge "$second" $((first + 1)) "kept counting"
}

t_engine_json_logs_are_one_object_per_line() {
  conf
  sed -i 's|log = { level = "debug" }|log = { level = "info", format = "json" }|' engine.conf
  echo 'job "j" { every = "1s", run = function(ctx) ctx.log:warn("said %d", 42) return 1 end }' >scripts/a.lua
  start_engine
  wait_for_log '"msg":"said 42"' 1
  stop_engine TERM
  jq -e . engine.out >/dev/null || fail "a line is not JSON: $(head -3 engine.out)"
  expect_eq "$(jq -r 'select(.msg == "said 42") | .level' engine.out | head -1)" warn
  expect_eq "$(jq -r 'select(.msg == "said 42") | .job' engine.out | head -1)" j
  expect_ge "$(jq -r 'select(.msg == "said 42") | .run' engine.out | head -1)" 1 "run id"
}

t_engine_breaker_opens_fails_fast_and_stays_open_across_a_restart() {
  conf 'breakers = { site = { failures = 2, cooldown = "1h" } }'
  cat >scripts/a.lua <<'LUA'
job "poll" { every = "1s", breaker = "site", retry = 1,
  run = function() baton.error("network", "connection refused") end }
LUA
  start_engine
  wait_for_log "skipped \(breaker_open\)" 2
  stop_engine TERM
  expect_eq "$(sql baton.db "select count(*) from runs where status='failed' and error_kind='network'")" 2
  expect_eq "$(sql baton.db "select state from breakers where name='site'")" open
  expect_contains "$(cat engine.out)" "breaker 'site': closed -> open"
  start_engine
  wait_for_log "skipped \(breaker_open\)" 2
  stop_engine TERM
  expect_contains "$(cat engine.out)" "breaker 'site' is open (kept from before the restart)"
  expect_eq "$(sql baton.db "select count(*) from runs where status='failed'")" 2 "nothing reached the site"
}

t_engine_refuses_bad_breaker_options() {
  conf 'breakers = { site = { window_calls = 5, min_calls = 10 } }'
  echo 'job "x" { every = "1s", run = function() end }' >scripts/a.lua
  "$BATON" run -c engine.conf >out 2>&1
  expect_eq $? 1 "exit"
  expect_contains "$(cat out)" "engine.conf:6: breakers.site: "
  "$BATON" check -c engine.conf >/dev/null 2>out
  expect_eq $? 1 "check exit"
  expect_contains "$(cat out)" "engine.conf:6: breakers.site: "
}

t_engine_refuses_an_unwritable_database_path() {
  conf
  echo 'job "x" { every = "1s", run = function() end }' >scripts/a.lua
  echo "notes" >notes.txt
  sed -i 's|database = "baton.db"|database = "notes.txt/baton.db"|' engine.conf
  "$BATON" run -c engine.conf >out 2>&1
  expect_eq $? 1 "exit"
  expect_contains "$(cat out)" "notes.txt/baton.db"
  expect_eq "$(cat notes.txt)" "notes" "nothing overwritten"
  sed -i 's|database = "notes.txt/baton.db"|database = "missing/dir/baton.db"|' engine.conf
  "$BATON" run -c engine.conf >out 2>&1
  expect_eq $? 1 "exit for a missing directory"
  expect_contains "$(cat out)" "does not exist"
}

t_engine_prunes_runs_older_than_the_retention() {
  conf
  echo 'job "x" { every = "1s", run = function() return 1 end }' >scripts/a.lua
  start_engine; wait_for_log "x run [0-9]+: ok" 2; stop_engine TERM
  old=$(sql baton.db "select count(*) from runs")
  expect_ge "$old" 2 "rows before"
  sleep 1.2
  sed -i 's|limits = {|limits = { retention = "1s",|' engine.conf
  start_engine; wait_for_log "pruned [0-9]+ run rows" 1; stop_engine TERM
  expect_eq "$(sql baton.db "select count(*) from runs where ended_at < (select min(started_at) from runs where ended_at > 0) - 1")" 0
  expect_contains "$(cat engine.out)" "pruned $old run rows"
}

run_tests
