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

for t in tests/integration/test_*.sh; do
  echo "== $t"
  out=$(bash "$t" 2>&1)
  echo "$out" | grep -v '^ok ' || true
  tally "$out"
done

echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
