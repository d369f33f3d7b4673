#!/usr/bin/env bash
# run.sh BUILD SECONDS TARGET... — runs each fuzz target for SECONDS on its corpus
# in tests/fuzz/corpus/TARGET (read only: new inputs go to BUILD/corpus-TARGET).
# A crash, leak, timeout or out-of-memory fails the target; its input is kept as
# BUILD/TARGET-crash-* and the command to replay it is printed. Ends with
# "fuzz: N passed, N failed". FUZZ_JOBS targets run at once (the cores).
set -u
cd "$(dirname "$0")/../.."
build=$1 secs=$2
shift 2
jobs=${FUZZ_JOBS:-$(nproc)}

one() { # runs target $1; prints its line(s) to BUILD/fuzz-$1.result; rc 0 = passed
  local t=$1 work="$build/corpus-$1" log="$build/fuzz-$1.log" res="$build/fuzz-$1.result"
  mkdir -p "$work"
  rm -f "$build/$t-"*
  # -timeout: one input may take at most 10 s; -rss_limit_mb bounds memory.
  if "$build/fuzz_$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="$build/$t-" -print_final_stats=1 "$work" "tests/fuzz/corpus/$t" \
      >"$log" 2>&1; then
    execs=$(awk '/stat::number_of_executed_units/ {print $2}' "$log")
    echo "ok   fuzz_$t: ${execs:-?} inputs in ${secs}s" >"$res"
  else
    { echo "FAIL fuzz_$t (replay: $build/fuzz_$t $(ls "$build/$t-"* 2>/dev/null | head -1))"
      grep -E '^(==|SUMMARY|#)' "$log" | grep -v '^#[0-9]' | head -20 | sed 's/^/      | /'
    } >"$res"
    return 1
  fi
}

# FUZZ_JOBS targets at a time (one per core): each is one process on one core.
running=0
for t in "$@"; do
  if [ "$running" -ge "$jobs" ]; then
    wait -n
    running=$((running - 1))
  fi
  one "$t" &
  running=$((running + 1))
done
wait
pass=0 nfail=0
for t in "$@"; do
  cat "$build/fuzz-$t.result"
  if grep -q '^ok ' "$build/fuzz-$t.result"; then pass=$((pass + 1)); else nfail=$((nfail + 1)); fi
done
echo "fuzz: $pass passed, $nfail failed"
[ "$nfail" -eq 0 ]
