#!/usr/bin/env bash
# test_store.sh — the store under bad luck, driving `baton run`: an engine
# killed mid-run leaves a crashed row and no reused run id; a second engine
# reaching the database by a symlink or a hard link is refused; a full disk
# fails the script's write and turns health failing.
. "$(dirname "$0")/lib.sh"

conf() { # database [extra lines]
  cat >engine.conf <<CONF
scripts = "scripts"
database = "${1:-baton.db}"
log = { level = "debug" }
limits = { max_concurrent_runs = 4, shutdown_timeout = "1s" }
sandbox = { memory = "16MB", cpu_slice = "100ms" }
http = { listen = "127.0.0.1:0" }
CONF
  mkdir -p scripts
}

t_store_a_run_killed_mid_flight_is_recorded_crashed_and_its_id_never_reused() {
  conf
  echo 'job "slow" { every = "1s", overlap = "skip", run = function(ctx) ctx:sleep("60s") end }' >scripts/a.lua
  start_engine
  wait_for_log "slow run [0-9]+: attempt 1 started" 1 || return 1
  id=$(grep -oE "slow run [0-9]+: attempt 1 started" engine.out | head -1 | grep -oE "[0-9]+" | head -1)
  kill -9 "$ENGINE_PID"
  wait "$ENGINE_PID" 2>/dev/null
  start_engine
  wait_for_log "were in flight when the engine last stopped" 1 || return 1
  wait_for_log "slow run [0-9]+: attempt 1 started" 1 || return 1
  stop_engine TERM
  expect_eq "$(sql baton.db "select status || ' ' || error_kind from runs where run_id = $id")" "failed crashed" "the killed run's row"
  expect_eq "$(sql baton.db "select count(*) from runs where run_id = $id")" 1 "rows of the killed run's id"
  again=$(grep -oE "slow run [0-9]+: attempt 1 started" engine.out | head -1 | grep -oE "[0-9]+" | head -1)
  expect_ge "$again" "$((id + 1))" "the next run id"
  expect_eq "$(sql baton.db "select count(*) from inflight")" 0 "in-flight records left"
}

t_store_a_second_engine_through_a_symlink_or_a_hard_link_is_refused() {
  conf
  echo 'job "x" { every = "1s", run = function() end }' >scripts/a.lua
  start_engine
  wait_for_log "baton started" 1 || return 1
  ln -s baton.db sym.db
  ln baton.db hard.db
  mkdir other
  cp -r scripts other/
  for db in "$PWD/sym.db" "$PWD/hard.db" "$PWD/./baton.db"; do
    (cd other && conf "$db" && "$BATON" run -c engine.conf >second.out 2>&1)
    expect_eq $? 1 "second engine on $db"
    expect_contains "$(cat other/second.out)" "in use by another baton"
  done
  stop_engine TERM
  expect_eq "$ENGINE_RC" 0
}

t_store_a_full_disk_fails_the_write_and_health() {
  mkdir disk
  if ! mount -t tmpfs -o size=2m tmpfs disk 2>/dev/null; then
    echo "     (skipped: cannot mount a tmpfs here)"
    return 0
  fi
  conf "disk/baton.db"
  cat >scripts/a.lua <<'LUA'
job "w" { every = "1s", run = function(ctx)
  ctx.store:set("big" .. ctx.run_id, string.rep("x", 100000))
  return "stored"
end }
LUA
  start_engine
  wait_for_log "http: listening on" 1 || { umount disk; return 1; }
  wait_for_log "w run [0-9]+: ok" 1 || { umount disk; return 1; }
  port=$(grep -oE 'http: listening on [0-9.]+:[0-9]+' engine.out | head -1 | sed 's/.*://')
  dd if=/dev/zero of=disk/filler bs=64k 2>/dev/null
  wait_for_log "store:set\\('big[0-9]+'\\): .*full" 1
  health=$(curl -s --max-time 10 "http://127.0.0.1:$port/api/system/health")
  expect_contains "$health" '"status":"failing"' "health"
  expect_contains "$health" "the store cannot write" "health reason"
  rm -f disk/filler
  stop_engine TERM
  umount disk
}

run_tests
