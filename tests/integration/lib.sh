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

expect_match() { # text ERE [what]
  [[ "$1" =~ $2 ]] || fail "${3:-output}: '$1' does not match '$2'"
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
  # Emptied here, not by the background shell: a wait_for_log right after
  # must not read the previous engine's lines.
  : >engine.out
  "$BATON" run -c "${1:-engine.conf}" >>engine.out 2>&1 &
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

# ---- for the browser tests ----

FIXTURE=$(cd "$ROOT" && readlink -f "${FIXTURE:-build/fixture}")

# A 6-field cron that fires once, a few seconds from now (then a minute later).
soon() {
  echo "$((($(date +%s) + 4) % 60)) * * * * *"
}

# Starts JOB now through the running engine's HTTP API (http.listen on port 0):
# a test that must not race the browser's start waits for it, then starts runs.
run_job() {
  local port
  wait_for_log 'http: listening on' || return 1
  port=$(grep -oE 'http: listening on [0-9.]+:[0-9]+' engine.out | head -1 | sed 's/.*://')
  curl -s --max-time 5 -X POST "127.0.0.1:$port/api/jobs/$1/run" >/dev/null
}

# A TCP port on 127.0.0.1 nothing listens on (just now).
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Starts the fixture site on an ephemeral port; sets FX (its base URL) and FX_PID.
start_site() {
  : >fixture.out # not by the background shell: a previous site's line must not be read
  "$FIXTURE" >>fixture.out 2>&1 &
  FX_PID=$!
  local waited=0
  until grep -q 'listening on' fixture.out 2>/dev/null; do
    sleep 0.05
    waited=$((waited + 1))
    [ $waited -lt 100 ] || { fail "fixture did not start"; return 1; }
  done
  FX="http://$(grep -o '127.0.0.1:[0-9]*' fixture.out)"
}

stop_site() {
  kill "$FX_PID" 2>/dev/null
  wait "$FX_PID" 2>/dev/null
}

# Browser processes whose profile is under this test's TMPDIR (it must leave none).
browsers_left() {
  pgrep -f "$PWD/tmp/baton-chrome" | wc -l
}

run_tests() {
  local pass=0 nfail=0 t
  for t in $(declare -F | awk '{print $3}' | grep '^t_' | grep -- "${ONLY:-}"); do
    local dir
    dir=$(mktemp -d)
    # Searchable by all: an engine run as root starts its browsers as
    # browser.user (nobody), which must reach its profile under $dir/tmp.
    chmod 711 "$dir"
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
