#!/usr/bin/env bash
# run.sh — the whole test suite: C unit tests, then the integration tests
# (the engine as a process, real sqlite files, real signals). Ends with the
# line "N passed, N failed" summed over everything.
set -u
cd "$(dirname "$0")/.."
: "${BATON:=build/baton}" "${UNIT:=build/unit}" "${FIXTURE:=build/fixture}"
export BATON FIXTURE
total_pass=0
total_fail=0

tally() { # reads a suite's output, echoes it, adds its last "N passed, N failed"
  local out="$1" line p f
  line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' <<<"$out" | tail -1)
  if [ -z "$line" ]; then
    echo "(suite ended without a result line: counted as one failure)"
    total_fail=$((total_fail + 1))
    return
  fi
  p=${line%% passed*}
  f=${line#*, }
  f=${f%% failed}
  total_pass=$((total_pass + p))
  total_fail=$((total_fail + f))
}

echo "== unit tests"
out=$("$UNIT" 2>&1)
echo "$out" | grep -v '^ok ' || true
tally "$out"

# TEST_JOBS files at a time (2): most of a file's time is spent waiting on a
# browser or a timer, so two lanes halve the wall time. The biggest files go
# first so the lanes end together; each file's output is shown when it ends.
out_dir=$(mktemp -d)
trap 'rm -rf "$out_dir"' EXIT
files=$(ls -S tests/integration/test_*.sh)
running=0
show() { # prints and tallies every finished file not yet shown
  local t name
  for t in $files; do
    name=$(basename "$t")
    [ -e "$out_dir/$name.done" ] && [ ! -e "$out_dir/$name.shown" ] || continue
    echo "== $t"
    grep -v '^ok ' "$out_dir/$name.out" || true
    tally "$(cat "$out_dir/$name.out")"
    touch "$out_dir/$name.shown"
  done
}
for t in $files; do
  if [ "$running" -ge "${TEST_JOBS:-2}" ]; then
    wait -n
    running=$((running - 1))
    show
  fi
  name=$(basename "$t")
  (bash "$t" >"$out_dir/$name.out" 2>&1; touch "$out_dir/$name.done") &
  running=$((running + 1))
done
wait
show

echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
