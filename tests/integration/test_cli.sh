#!/usr/bin/env bash
# test_cli.sh — the command line: version, usage errors, check and plan on
# the shipped scripts and examples, bad scripts and configs, and the 16-job
# spread guarantee of offset = "auto".
. "$(dirname "$0")/lib.sh"

START=2026-01-05T00:00:00Z   # a Monday, 00:00 UTC
START_EPOCH=1767571200

t_version_names_every_library() {
  out=$("$BATON" version)
  expect_contains "$out" "baton "
  expect_contains "$out" "Lua 5.4"
  expect_contains "$out" "libuv "
  expect_contains "$out" "sqlite "
}

t_usage_errors_exit_2() {
  "$BATON" frobnicate 2>err; expect_eq $? 2 "unknown command"
  expect_contains "$(cat err)" "unknown command 'frobnicate'"
  "$BATON" check --bogus 2>err; expect_eq $? 2 "unknown option"
  "$BATON" plan --for 2>err; expect_eq $? 2 "missing value"
  "$BATON" plan --start yesterday -c /dev/null 2>err; expect_eq $? 2 "bad --start"
  "$BATON" 2>/dev/null; expect_eq $? 2 "no command"
}

t_check_passes_on_shipped_scripts_and_every_example() {
  (cd "$ROOT" && "$BATON" check >/dev/null) 2>err; expect_eq $? 0 "check scripts/: $(cat err 2>/dev/null)"
  for conf in "$ROOT"/examples/*/engine.conf; do
    "$BATON" check -c "$conf" >out 2>err
    expect_eq $? 0 "check $conf: $(cat err)"
  done
}

t_check_json_lists_jobs_with_next_three_starts() {
  mkdir scripts
  cat >scripts/a.lua <<'LUA'
job "reply" { every = "60m", offset = "15m", priority = "high", run = function() end }
job "nightly" { cron = "30 2 * * *", run = function() end }
LUA
  TZ=UTC "$BATON" check --json --start $START -c /dev/null scripts >out 2>err
  expect_eq $? 0 "exit: $(cat err)"
  expect_eq "$(jq -r '.jobs[] | select(.name=="reply") | .priority' out)" high
  expect_eq "$(jq -c '.jobs[] | select(.name=="reply") | .next' out)" \
    "[$((START_EPOCH + 900)),$((START_EPOCH + 4500)),$((START_EPOCH + 8100))]"
  expect_eq "$(jq -c '.jobs[] | select(.name=="nightly") | .next' out)" \
    "[$((START_EPOCH + 9000)),$((START_EPOCH + 95400)),$((START_EPOCH + 181800))]"
  expect_eq "$(jq -r '.jobs[] | select(.name=="reply") | .file' out)" scripts/a.lua
}

t_check_text_table_shows_schedule_and_priority() {
  mkdir scripts
  echo 'job "reply" { every = "60m", offset = "15m", priority = "high", run = function() end }' >scripts/a.lua
  out=$("$BATON" check --start $START -c /dev/null scripts)
  expect_contains "$out" "every 1h offset 15m"
  expect_contains "$out" "high"
  expect_contains "$out" "2026-01-05T00:15:00Z"
}

t_check_reports_bad_scripts_with_file_line_and_exit_1() {
  mkdir scripts
  printf 'job "ok" { every = "5m", run = function() end }\n' >scripts/a.lua
  printf '\n\njob "reply" { priority = "urgent", run = function() end }\n' >scripts/b.lua
  printf 'local x = \n' >scripts/c.lua
  "$BATON" check -c /dev/null scripts >out 2>err
  expect_eq $? 1 "exit"
  expect_contains "$(cat err)" "scripts/b.lua:3: job 'reply': unknown priority 'urgent'"
  expect_contains "$(cat err)" "scripts/c.lua:2:"
  expect_contains "$(cat out)" "ok" "the good script still loads"
}

t_check_reports_duplicate_names_across_files_naming_both() {
  mkdir scripts
  printf 'job "x" { run = function() end }\n' >scripts/a.lua
  printf '\njob "x" { run = function() end }\n' >scripts/b.lua
  "$BATON" check -c /dev/null scripts >/dev/null 2>err
  expect_eq $? 1 "exit"
  expect_contains "$(cat err)" "scripts/b.lua:2: job 'x' is already defined at scripts/a.lua:1"
}

t_check_reports_unknown_dependencies_and_cycles() {
  mkdir scripts
  printf 'job "a" { after = "ghost", run = function() end }\n' >scripts/a.lua
  "$BATON" check -c /dev/null scripts >/dev/null 2>err
  expect_eq $? 1 "unknown after"
  expect_contains "$(cat err)" "job 'a': after: no job named 'ghost'"
  cat >scripts/a.lua <<'LUA'
job "a" { after = "b", run = function() end }
job "b" { requires = { c = "1h" }, run = function() end }
job "c" { after = "a", run = function() end }
LUA
  "$BATON" check -c /dev/null scripts >/dev/null 2>err
  expect_eq $? 1 "cycle"
  expect_contains "$(cat err)" "dependency cycle"
}

t_check_and_run_report_a_missing_scripts_directory() {
  printf 'scripts = "nowhere"\n' >engine.conf
  "$BATON" check -c engine.conf >/dev/null 2>err
  expect_eq $? 1 "check"
  expect_contains "$(cat err)" "nowhere: cannot read the scripts directory"
  "$BATON" run -c engine.conf >/dev/null 2>err
  expect_eq $? 1 "run"
  expect_contains "$(cat err)" "set \`scripts\` in engine.conf"
  [ ! -e baton.db ] || [ "$(sqlite3 baton.db 'select count(*) from runs')" = 0 ] ||
    fail "a database with runs was left behind"
}

t_check_reports_bad_config_with_line() {
  printf 'scripts = "scripts"\nlimits = {\n  max_concurent_runs = 4,\n}\n' >engine.conf
  mkdir scripts
  "$BATON" check -c engine.conf >/dev/null 2>err
  expect_eq $? 1 "exit"
  expect_contains "$(cat err)" "engine.conf:3:"
  expect_contains "$(cat err)" "max_concurent_runs"
}

t_check_reports_bad_pages_per_context_in_one_line() {
  printf 'scripts = "scripts"\nbrowser = {\n  max_pages = 4,\n  pages_per_context = 0,\n}\n' \
    >engine.conf
  mkdir scripts
  "$BATON" check -c engine.conf >/dev/null 2>err
  expect_eq $? 1 "exit"
  expect_eq "$(cat err)" \
    "engine.conf:4: browser.pages_per_context: must be between 1 and 1024, got 0" "stderr"
}

# The spread guarantee from the issue: 16 jobs, periods 5..60 min, offset auto.
t_plan_spreads_16_auto_jobs_at_most_1_per_second_2_per_minute() {
  "$BATON" plan --json --start $START --for 24h -c "$ROOT/examples/social/engine.conf" >out 2>err
  expect_eq $? 0 "exit: $(cat err)"
  expect_eq "$(jq '.max_per_second' out)" 1
  expect_le "$(jq '.max_per_minute' out)" 2 "max per minute"
  expect_eq "$(jq '.collisions | length' out)" 0
  expect_ge "$(jq ".starts | length" out)" 1600 "starts in 24h"
}

t_plan_with_offset_zero_shows_all_16_colliding_at_midnight() {
  cp -r "$ROOT/examples/social" social
  sed -i 's/offset = "auto"/offset = 0/' social/scripts/*.lua
  "$BATON" plan --json --start $START --for 24h -c social/engine.conf >out 2>err
  expect_eq $? 0 "exit: $(cat err)"
  expect_eq "$(jq '.max_per_second' out)" 16
  expect_eq "$(jq "[.collisions[] | select(.at == $START_EPOCH) | .jobs | length] | .[0]" out)" 16
  "$BATON" plan --start $START -c social/engine.conf >text
  grep -q "most starts in one second: 16 at 2026-01-05T00:00:00Z" text ||
    fail "text report: $(grep 'most starts' text)"
}

# Busiest second and minute are sliding windows [t, t+1s) and [t, t+60s), the
# same in plan and test: 00:00:30 and 00:01:10 share no calendar minute but are
# 40 s apart; 00:02:59.5 and 00:03:00.2 share no calendar second.
t_plan_and_test_count_the_busiest_second_and_minute_in_sliding_windows() {
  mkdir scripts
  cat >scripts/a.lua <<'EOF'
job "a" { every = "1h", offset = "30s", run = function() end }
job "b" { every = "1h", offset = "70s", run = function() end }
job "c" { every = "1h", offset = 179.5, run = function() end }
job "d" { every = "1h", offset = 180.2, run = function() end }
EOF
  "$BATON" plan --json --start $START --for 1h -c /dev/null scripts >out 2>err
  expect_eq $? 0 "exit: $(cat err)"
  expect_eq "$(jq '.max_per_second' out)" 2
  expect_eq "$(jq '.max_per_minute' out)" 2
  expect_eq "$(jq '.collisions | length' out)" 0 "collisions are calendar seconds"
  "$BATON" plan --start $START --for 1h -c /dev/null scripts >text
  grep -q "most starts in one second: 2 at 2026-01-05T00:02:59" text ||
    fail "text report: $(grep 'most starts' text)"
  grep -q "most starts in one minute: 2 from 2026-01-05T00:00:30Z" text ||
    fail "text report: $(grep 'most starts' text)"
  printf 'database = "t.db"\n' >engine.conf
  "$BATON" test --start $START --for 1h -c engine.conf scripts >out 2>err
  expect_contains "$(cat out)" "4 starts; most in one second 2, in one minute 2"
}

t_plan_jitter_only_with_seed_and_reproducible() {
  mkdir scripts
  echo 'job "j" { every = "10m", jitter = "5m", run = function() end }' >scripts/a.lua
  "$BATON" plan --json --start $START --for 1h -c /dev/null scripts >nojit
  expect_eq "$(jq -c '[.starts[].at]' nojit)" \
    "[$START_EPOCH,$((START_EPOCH + 600)),$((START_EPOCH + 1200)),$((START_EPOCH + 1800)),$((START_EPOCH + 2400)),$((START_EPOCH + 3000))]"
  "$BATON" plan --json --start $START --for 1h --seed 7 -c /dev/null scripts >a
  "$BATON" plan --json --start $START --for 1h --seed 7 -c /dev/null scripts >b
  "$BATON" plan --json --start $START --for 1h --seed 8 -c /dev/null scripts >c
  expect_eq "$(md5sum <a | cut -c1-32)" "$(md5sum <b | cut -c1-32)" "same seed, same plan"
  [ "$(jq -c '.starts' a)" != "$(jq -c '.starts' c)" ] || fail "different seeds gave the same plan"
  [ "$(jq -c '.starts' a)" != "$(jq -c '.starts' nojit)" ] || fail "--seed applied no jitter"
}

t_plan_auto_offsets_are_stable_when_a_job_is_added() {
  cp -r "$ROOT/examples/social" social
  "$BATON" plan --json --start $START --for 1h -c social/engine.conf >before
  # Run the engine once so the chosen offsets are kept in the store.
  timeout -s INT 3 "$BATON" run -c social/engine.conf >/dev/null 2>&1
  printf 'job "newcomer" { every = "5m", offset = "auto", run = function() end }\n' \
    >social/scripts/newcomer.lua
  "$BATON" plan --json --start $START --for 1h -c social/engine.conf >after
  for j in post_queue mentions reply analytics_hourly; do
    expect_eq "$(jq -c "[.starts[] | select(.job==\"$j\") | .at]" after)" \
      "$(jq -c "[.starts[] | select(.job==\"$j\") | .at]" before)" "$j did not move"
  done
  expect_eq "$(jq '.max_per_second' after)" 1
}


# Issue 11 item 8: a script (or a module) that leads out of scripts/ through a
# symbolic link, or is over 1 MB, is an error naming it; what it holds never
# shows, neither in `baton check` nor in a running engine's log or health.
t_scripts_out_of_the_directory_or_too_big_are_refused_unread() {
  mkdir -p scripts/lib scripts/shared outside
  printf 'job "ok" { every = "1h", run = function() end }\n' >scripts/a.lua
  printf 'job "leak" { every = "1h", run = function() end } -- MARKER-7f3a\n' >outside/secret.lua
  ln -s "$PWD/outside/secret.lua" scripts/out.lua
  printf 'return { x = 1 } -- MARKER-7f3a\n' >outside/m.lua
  ln -s "$PWD/outside/m.lua" scripts/lib/m.lua
  printf 'local m = require "m"\njob "usem" { every = "1h", run = function() end }\n' >scripts/usem.lua
  { printf 'job "big" { every = "1h", run = function() end }\n--'; head -c 1100000 /dev/zero | tr '\0' x; printf '\n'; } >scripts/big.lua
  printf 'job "inside" { every = "1h", run = function() end }\n' >scripts/shared/in.lua
  ln -s shared/in.lua scripts/inside.lua # a link that stays inside scripts/ is fine
  printf 'scripts = "scripts"\ndatabase = "t.db"\nhttp = { listen = "127.0.0.1:0" }\n' >engine.conf
  "$BATON" check -c engine.conf >out 2>err
  expect_eq $? 1 "check exit"
  expect_contains "$(cat err)" "scripts/out.lua: refused: it leads out of scripts"
  expect_contains "$(cat err)" "scripts/big.lua: refused: 11000"
  expect_contains "$(cat err)" "require: scripts/lib/m.lua: refused: it leads out of scripts"
  expect_contains "$(cat out)" "inside"
  expect_eq "$(grep -c MARKER-7f3a out err)" "out:0
err:0" "contents shown by check"
  start_engine
  wait_for_log "http: listening on" 1
  wait_for_log "baton started" 1
  local port
  port=$(grep -oE 'http: listening on [0-9.]+:[0-9]+' engine.out | head -1 | sed 's/.*://')
  curl -s --max-time 10 "http://127.0.0.1:$port/health" >health
  curl -s --max-time 10 "http://127.0.0.1:$port/api/jobs" >jobs
  stop_engine
  expect_contains "$(cat engine.out)" "scripts/out.lua: refused"
  expect_contains "$(jq -r '[.jobs[].name] | sort | join(",")' jobs)" "inside,ok"
  expect_eq "$(cat engine.out health jobs | grep -c MARKER-7f3a)" 0 "contents shown by the engine"
}

run_tests
