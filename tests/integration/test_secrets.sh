#!/usr/bin/env bash
# test_secrets.sh — engine.conf's secrets: read from the environment or a
# private file, handed to scripts by baton.secret, and never written out:
# the log and the store keep [secret:NAME] instead of the value.
. "$(dirname "$0")/lib.sh"

conf() { # the secrets table
  cat >engine.conf <<EOF2
scripts = "scripts"
database = "t.db"
http = { listen = "127.0.0.1:0" }
secrets = $1
EOF2
}

t_a_value_is_replaced_by_its_mark_in_the_log_and_the_store() {
  mkdir -p scripts
  conf '{ api = { env = "BATON_TEST_KEY" } }'
  cat >scripts/s.lua <<EOF2
job "s" { cron = "$(soon)", run = function(ctx)
  local k = baton.secret("api")
  print("key is " .. k .. "!")
  return { auth = "Bearer " .. k, len = #k }
end }
EOF2
  BATON_TEST_KEY=hunter2-XYZ start_engine
  wait_for_log 's run [0-9]+: ok'
  stop_engine
  expect_eq "$(grep -c 'hunter2-XYZ' engine.out)" 0 "value in the log"
  expect_contains "$(cat engine.out)" "key is [secret:api]!"
  expect_eq "$(sql t.db "select json_extract(result,'$.len') from runs where job='s'")" 11 \
    "the script saw the value"
  expect_eq "$(sql t.db "select json_extract(result,'$.auth') from runs where job='s'")" \
    "Bearer [secret:api]" "the stored result"
}

t_an_unknown_name_is_a_load_error_with_file_and_line() {
  mkdir -p scripts
  conf '{ api = { env = "BATON_TEST_KEY" } }'
  printf 'job "s" { run = function(ctx)\n  return baton.secret("nope")\nend }\n' >scripts/s.lua
  "$BATON" check -c engine.conf >out 2>&1
  expect_eq $? 1 "exit code"
  expect_contains "$(cat out)" "s.lua:2: baton.secret: unknown secret 'nope'"
}

t_a_secret_file_others_can_read_is_refused() {
  mkdir -p scripts secrets
  conf '{ tw = { file = "secrets/tw" } }'
  printf 'job "s" { run = function(ctx) return baton.secret("tw") end }\n' >scripts/s.lua
  printf 'topsecret\n' >secrets/tw
  chmod 644 secrets/tw
  "$BATON" run -c engine.conf >out 2>&1
  expect_eq $? 1 "exit code"
  expect_contains "$(cat out)" "secrets/tw"
  expect_eq "$(grep -c topsecret out)" 0 "the value was not printed"
}

run_tests
