# lib.sh — helpers for integration tests: each test is a shell function run in
# a subshell inside its own temp directory; checks print file:line on failure.
# Source it, define t_* functions, then call `run_tests`.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BATON=$(cd "$ROOT" && readlink -f "${BATON:-build/baton}")
export BATON_LUA_DIR="$ROOT/lua"
FAILED=0

fail() {
  echo "    ${BASH_SOURCE[2]##*/}:${BASH_LINENO[1]}: $*" >&2
  FAILED=1
}

expect_eq() { # actual expected [what]
  [ "$1" == "$2" ] || fail "${3:-value}: got '$1', expected '$2'"
}

expect_contains() { # haystack needle [what]
  case "$1" in *"$2"*) ;; *) fail "${3:-output}: '$1' does not contain '$2'" ;; esac
}

expect_le() { # actual max [what]
  [ "$1" -le "$2" ] 2>/dev/null || fail "${3:-value}: got '$1', expected <= $2"
}

expect_ge() { # actual min [what]
  [ "$1" -ge "$2" ] 2>/dev/null || fail "${3:-value}: got '$1', expected >= $2"
}

sql() { # db query
  sqlite3 -batch -noheader "$1" "$2"
}

# Starts the engine in the background in the current directory; sets ENGINE_PID.
start_engine() {
  "$BATON" run -c "${1:-engine.conf}" >engine.out 2>&1 &
  ENGINE_PID=$!
}

# Waits until engine.out has at least COUNT lines matching the ERE PATTERN
# (default 1), for up to 30 s; machines here are shared and slow at times.
wait_for_log() {
  local pattern=$1 count=${2:-1} waited=0 seen
  # engine.out may not exist yet: the background shell opens it
  while seen=$(grep -cE -- "$pattern" engine.out 2>/dev/null); [ "${seen:-0}" -lt "$count" ]; do
    if [ $waited -ge 300 ]; then
      fail "timed out waiting for $count line(s) matching '$pattern'"
      return 1
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
}

# Sends a signal and waits for the engine; sets ENGINE_RC.
stop_engine() {
  kill -"${1:-TERM}" "$ENGINE_PID" 2>/dev/null
  local waited=0
  while kill -0 "$ENGINE_PID" 2>/dev/null && [ $waited -lt 300 ]; do
    sleep 0.1
    waited=$((waited + 1))
  done
  if kill -0 "$ENGINE_PID" 2>/dev/null; then
    fail "engine did not stop within 30s"
    kill -9 "$ENGINE_PID"
  fi
  wait "$ENGINE_PID"
  ENGINE_RC=$?
}

run_tests() {
  local pass=0 nfail=0 t
  for t in $(declare -F | awk '{print $3}' | grep '^t_' | grep -- "${ONLY:-}"); do
    local dir
    dir=$(mktemp -d)
    (cd "$dir" && FAILED=0 && "$t" && exit $FAILED)
    local rc=$?
    if [ $rc -eq 0 ]; then
      pass=$((pass + 1))
      echo "ok   ${t#t_}"
    else
      nfail=$((nfail + 1))
      echo "FAIL ${t#t_}"
      [ -f "$dir/engine.out" ] && sed 's/^/      | /' "$dir/engine.out" | tail -20
    fi
    rm -rf "$dir"
  done
  echo "$pass passed, $nfail failed"
}
