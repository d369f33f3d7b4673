#!/usr/bin/env bash
# test_pool.sh — the browser pool against real Chromium and the local fixture
# server: leases and reuse, max_pages under 50 concurrent runs, waiter
# priority, reservation, burst, idle disposal, recycling, acquire timeout,
# session cookies, a killed browser, a crashed page, shutdown with leases out;
# runs without a session sharing a browser context (a page each), a session's
# own browser context beside them, crashes and pop-ups kept to their lease.
. "$(dirname "$0")/lib.sh"

# Every test gets its own TMPDIR, so the browsers it leaves behind (it must
# leave none) are found by their profile directory.
setup() {
  mkdir -p scripts tmp
  export TMPDIR=$PWD/tmp
  start_site
}

teardown() {
  stop_site
  expect_eq "$(browsers_left)" 0 "browser processes left behind"
  pkill -9 -f "$PWD/tmp/baton-chrome" 2>/dev/null
  expect_eq "$(ls tmp | wc -l)" 0 "profile directories left behind"
}

# HTTP on a port of its own: other test runs on this machine may hold 8080.
# raw_cdp = "any": these tests look at the browser's targets (Target.*) and
# crash pages (Page.crash) through page:send, which scripts may not.
conf() { # extra browser keys
  cat >engine.conf <<EOF
scripts = "scripts"
database = "t.db"
log = { level = "debug" }
http = { listen = "127.0.0.1:0" }
limits = { max_concurrent_runs = 64, shutdown_timeout = "5s" }
browser = { raw_cdp = "any", $1 }
EOF
}

t_runs_lease_and_reuse_one_warm_page() {
  setup
  conf "max_pages = 2, warm = 1"
  cat >scripts/feed.lua <<EOF
job "feed" {
  every = "1s", browser = true, timeout = "20s",
  run = function(ctx)
    local page = ctx:page()
    local nav = page:navigate("$FX/demo/feed")
    local n = page:eval("document.querySelectorAll('.post').length")
    return { n = n, title = page:title(), status = nav.status, ctx = page:number(),
             same = ctx:page() == page }
  end,
}
EOF
  start_engine
  wait_for_log 'feed run [0-9]+: ok' 3
  stop_engine
  expect_eq "$ENGINE_RC" 0 "exit code"
  # Every run that ran is ok; on a loaded machine a start may find the previous
  # run still going and be recorded skipped (overlap), with no result.
  expect_ge "$(sql t.db "select count(*) from runs where status='ok'")" 3 "runs that ran"
  expect_eq "$(sql t.db "select count(*) from runs where not (status = 'ok' or
    (status = 'skipped' and error_kind = 'overlap'))")" 0 "every run that ran ok"
  expect_eq "$(sql t.db "select json_extract(result, '$.n'), json_extract(result, '$.title'),
    json_extract(result, '$.status'), json_extract(result, '$.ctx'),
    json_extract(result, '$.same') from runs where run_id=1")" '8|Demo feed|200|1|1' "first result"
  expect_eq "$(sql t.db "select count(distinct json_extract(result,'$.ctx')) from runs")" 1 \
    "one page reused by every run"
  expect_contains "$(cat engine.out)" "using pooled page #1" "log line names the page"
  teardown
}

t_max_pages_holds_under_50_concurrent_runs() {
  setup
  conf "max_pages = 2, warm = 0, reserve = { critical = 0 }, burst = 0, acquire_timeout = '60s'"
  cat >scripts/many.lua <<EOF
local active, peak = 0, 0
for i = 1, 50 do
  job("j" .. i) {
    cron = "$(soon)", browser = true, timeout = "90s",
    run = function(ctx)
      local page = ctx:page()
      active = active + 1
      if active > peak then peak = active end
      ctx.store:set("peak", peak)
      page:navigate("$FX/slow?ms=100")
      active = active - 1
      return { ctx = page:number() }
    end,
  }
end
EOF
  start_engine
  wait_for_log ' ok in ' 50
  stop_engine
  expect_eq "$(sql t.db "select count(*) from runs where status='ok'")" 50 "all 50 ran"
  expect_eq "$(sql t.db "select value from kv where key='peak'")" 2 "peak leases held at once"
  expect_le "$(sql t.db "select max(json_extract(result,'$.ctx')) from runs")" 2 "pages opened"
  teardown
}

# One page; it is held while low, medium, high and critical ask in that
# order: they must get it critical first.
t_waiters_are_served_by_priority() {
  setup
  conf "max_pages = 1, warm = 1, reserve = { critical = 0 }, burst = 0"
  cat >scripts/prio.lua <<EOF
local function take(ctx)
  ctx:page()
  local order = ctx.store:get("order") or {}
  order[#order + 1] = ctx.job
  ctx.store:set("order", order)
end
job "hog" {
  cron = "$(soon)", browser = true, priority = "low",
  run = function(ctx)
    ctx:page()
    for _, name in ipairs({ "low", "medium", "high", "critical" }) do
      baton.trigger(name)
      ctx:sleep("100ms")
    end
    ctx:sleep("500ms")
  end,
}
for _, p in ipairs({ "low", "medium", "high", "critical" }) do
  job(p) { priority = p, browser = true, run = take }
end
EOF
  start_engine
  wait_for_log '^.* low run [0-9]+: ok'
  stop_engine
  expect_eq "$(sql t.db "select value from kv where key='order'")" \
    '["critical","high","medium","low"]' "order served"
  teardown
}

# reserve.critical = 1 of 2: medium work uses one page at most, and a
# critical run gets the reserved one at once.
t_reservation_keeps_a_page_for_critical_work() {
  setup
  conf "max_pages = 2, warm = 2, reserve = { critical = 1 }, burst = 0"
  cat >scripts/rsv.lua <<EOF
local active, peak = 0, 0
local function hold(ctx)
  local t0 = baton.now()
  local page = ctx:page()
  local waited = baton.now() - t0
  active = active + 1
  if active > peak then peak = active end
  ctx.store:set("peak", peak)
  ctx:sleep("800ms")
  active = active - 1
  return { waited = waited }
end
job "m1" { browser = true, run = hold }
job "m2" { browser = true, run = hold }
job "boss" { priority = "critical", browser = true, run = function(ctx)
  local t0 = baton.now()
  ctx:page()
  return { waited = baton.now() - t0 }
end }
job "kick" { run = function(ctx)
  ctx:sleep("300ms")
  baton.trigger("boss")
end }
EOF
  start_engine
  wait_for_log 'page #2 ready' # both warm pages: the browser's start is not measured
  run_job m1
  run_job m2
  run_job kick
  wait_for_log 'm[12] run [0-9]+: ok' 2
  wait_for_log 'boss run [0-9]+: ok'
  stop_engine
  expect_eq "$(sql t.db "select value from kv where key='peak'")" 1 "medium leases at once"
  local waited
  waited=$(sql t.db "select json_extract(result,'$.waited') < 0.3 from runs where job='boss'")
  expect_eq "$waited" 1 "critical got the reserved page at once"
  teardown
}

t_burst_opens_a_temporary_page_for_critical_work() {
  setup
  conf "max_pages = 1, warm = 1, reserve = { critical = 0 }, burst = 1"
  cat >scripts/burst.lua <<EOF
local boss_paged = false
job "hog" { browser = true, run = function(ctx)
  ctx:page()
  baton.trigger("boss")
  -- holds its page until the boss has one (or 30 s): a boss that waited for
  -- this page would find the hog still holding it
  for _ = 1, 300 do
    if boss_paged then break end
    ctx:sleep("100ms")
  end
  return { ctx = ctx:page():number(), boss_paged = boss_paged }
end }
job "boss" { priority = "critical", browser = true, run = function(ctx)
  local page = ctx:page()
  boss_paged = true
  page:navigate("$FX/page/3")
  return { ctx = page:number() }
end }
EOF
  start_engine
  wait_for_log 'page #1 ready'
  run_job hog
  wait_for_log 'hog run [0-9]+: ok'
  wait_for_log 'boss run [0-9]+: ok'
  stop_engine
  expect_eq "$(sql t.db "select json_extract(result,'$.ctx') from runs where job='hog'")" 1 "hog"
  expect_eq "$(sql t.db "select json_extract(result,'$.ctx') from runs where job='boss'")" 2 \
    "critical run on a burst page"
  expect_eq "$(sql t.db "select json_extract(result,'$.boss_paged') from runs where job='hog'")" \
    1 "it did not wait for the hog"
  teardown
}

t_idle_pages_are_disposed_and_used_ones_recycled() {
  setup
  conf "max_pages = 2, warm = 0, idle_timeout = '1m', max_uses = 2"
  cat >scripts/r.lua <<EOF
job "r" { every = "1s", browser = true, run = function(ctx)
  return { ctx = ctx:page():number() }
end }
EOF
  start_engine
  wait_for_log 'r run [0-9]+: ok' 5
  stop_engine
  # (status 'ok': a start that overlapped the previous run is a skipped row)
  expect_eq "$(sql t.db "select group_concat(json_extract(result,'$.ctx')) from (select result
    from runs where status = 'ok' order by run_id limit 4)")" \
    "1,1,2,2" "a page serves max_uses leases, then a new one"
  expect_contains "$(cat engine.out)" "page #1 recycled after 2 uses"
  # An idle page goes at idle_timeout; the run after that opens a new one.
  conf "max_pages = 2, warm = 0, idle_timeout = '1s'"
  cat >scripts/r.lua <<EOF
job "r" { browser = true, run = function(ctx)
  return { ctx = ctx:page():number() }
end }
EOF
  rm -f t.db*
  start_engine
  run_job r
  wait_for_log 'r run [0-9]+: ok'
  wait_for_log 'page #1 idle for 1s: disposed'
  run_job r
  wait_for_log 'r run [0-9]+: ok' 2
  stop_engine
  expect_eq "$(sql t.db "select group_concat(json_extract(result,'$.ctx')) from (select result
    from runs where status = 'ok' order by run_id)")" \
    "1,2" "the next run opened a new page"
  teardown
}

t_acquire_timeout_fails_the_run_with_pool_timeout() {
  setup
  conf "max_pages = 1, warm = 1, reserve = { critical = 0 }, burst = 0, acquire_timeout = '1s'"
  cat >scripts/t.lua <<EOF
job "hog" { cron = "$(soon)", browser = true, run = function(ctx)
  ctx:page()
  baton.trigger("late")
  ctx:sleep("2500ms")
end }
job "late" { browser = true, retry = { attempts = 1 }, run = function(ctx) ctx:page() end }
EOF
  start_engine
  wait_for_log 'late run [0-9]+: failed'
  stop_engine
  expect_eq "$(sql t.db "select status, error_kind from runs where job='late'")" \
    "failed|pool_timeout"
  expect_contains "$(sql t.db "select error from runs where job='late'")" \
    "no browser context within 1s"
  teardown
}

t_session_cookies_survive_recycling_and_a_restart() {
  setup
  conf "max_pages = 1, warm = 1, reserve = { critical = 0 }, max_uses = 1"
  cat >scripts/s.lua <<EOF
job "login" { browser = { session = "acct" }, run = function(ctx)
  ctx:page():navigate("$FX/set-cookie?name=sid&value=abc")
end }
job "check" { after = "login", browser = { session = "acct" }, run = function(ctx)
  local page = ctx:page()
  page:navigate("$FX/echo-cookies")
  return { cookies = page:text("#c"), ctx = page:number() }
end }
job "stranger" { after = "check", browser = true, run = function(ctx)
  local page = ctx:page()
  page:navigate("$FX/echo-cookies")
  return { cookies = page:text("#c") }
end }
job "go" { cron = "$(soon)", run = function(ctx) baton.trigger("login") end }
EOF
  start_engine
  wait_for_log 'stranger run [0-9]+: ok'
  stop_engine
  expect_eq "$(sql t.db "select json_extract(result,'$.cookies') from runs where job='check'")" \
    "sid=abc" "cookies restored into a new page"
  expect_eq "$(sql t.db "select json_extract(result,'$.ctx') > 1 from runs where job='check'")" 1 \
    "check ran on a recycled page"
  expect_eq "$(sql t.db "select json_extract(result,'$.cookies') from runs where job='stranger'")" \
    "" "a job without the session does not see its cookies"
  cat >scripts/s.lua <<EOF
job "check" { cron = "*/2 * * * * *", browser = { session = "acct" }, run = function(ctx)
  local page = ctx:page()
  page:navigate("$FX/echo-cookies")
  return { cookies = page:text("#c") }
end }
EOF
  start_engine
  wait_for_log 'check run [0-9]+: ok' 1
  stop_engine
  expect_eq "$(sql t.db "select json_extract(result,'$.cookies') from runs where job='check' and status = 'ok' order by run_id desc limit 1")" \
    "sid=abc" "cookies restored after a restart"
  teardown
}

t_killed_browser_fails_runs_then_comes_back() {
  setup
  conf "max_pages = 1, warm = 1, reserve = { critical = 0 }"
  cat >scripts/k.lua <<EOF
job "slow" { cron = "*/3 * * * * *", browser = true, overlap = "skip",
  retry = { attempts = 1 }, run = function(ctx)
  local page = ctx:page()
  if not ctx.store:get("killed") then page:navigate("$FX/slow?ms=4000") end
  return { ctx = page:number() }
end }
EOF
  start_engine
  wait_for_log 'slow run [0-9]+: attempt 1 started'
  wait_for_log 'using pooled page'
  sleep 0.5
  local pid
  pid=$(pgrep -f -o "$PWD/tmp/baton-chrome")
  kill -9 "$pid"
  wait_for_log 'slow run [0-9]+: failed'
  sql t.db "insert or replace into kv values ('killed', 'true')" 2>/dev/null || true
  wait_for_log 'browser 1: .* ready' 2
  wait_for_log 'slow run [0-9]+: ok'
  # the dead browser's renderers were re-parented to the engine: reaped, not zombies
  # (given time: a zombie leader cannot be reaped until its last thread has gone)
  local waited=0
  while [ "$(ps -o stat= --ppid "$ENGINE_PID" | grep -c Z)" -gt 0 ] && [ $waited -lt 300 ]; do
    sleep 0.1
    waited=$((waited + 1))
  done
  expect_eq "$(ps -o stat= --ppid "$ENGINE_PID" | grep -c Z)" 0 "zombie children of the engine"
  stop_engine
  expect_eq "$(sql t.db "select error_kind from runs where status='failed' limit 1")" \
    "browser_crashed" "the run in the dead browser"
  expect_contains "$(cat engine.out)" "its runs fail with browser_crashed"
  expect_contains "$(sql t.db "select error from runs where status='failed' limit 1")" \
    "the browser" "the failed run says what happened"
  expect_eq "$ENGINE_RC" 0 "exit code"
  teardown
}

t_hung_browser_misses_its_heartbeat_is_killed_and_relaunched() {
  setup
  conf "max_pages = 1, warm = 1, reserve = { critical = 0 }, heartbeat = '2s'"
  cat >scripts/h.lua <<EOF
job "tick" { every = "1s", browser = true, overlap = "skip", timeout = "20s",
  retry = { attempts = 1 }, run = function(ctx)
  local page = ctx:page({ timeout = 3 })
  page:navigate("$FX/page/1")
  return { title = page:title() }
end }
EOF
  start_engine
  wait_for_log 'tick run [0-9]+: ok'
  local pid
  # the browser now running (the newest ready line)
  pid=$(grep -oE 'browser 1: .*\(pid [0-9]+\) ready' engine.out | tail -1 | grep -oE 'pid [0-9]+' |
    cut -d' ' -f2)
  local readies
  readies=$(grep -c 'browser 1: .* ready in' engine.out)
  kill -STOP "$pid"
  wait_for_log 'browser 1: hung: no answer to a heartbeat \(Browser.getVersion\) within 2s; killed'
  wait_for_log 'browser 1: .* ready in' $((readies + 1))
  local oks
  oks=$(grep -cE 'tick run [0-9]+: ok' engine.out)
  wait_for_log 'tick run [0-9]+: ok' $((oks + 1))
  local port health
  port=$(grep -oE 'http: listening on [0-9.]+:[0-9]+' engine.out | head -1 | sed 's/.*://')
  health=$(curl -s --max-time 5 "127.0.0.1:$port/api/system/health")
  stop_engine
  kill -9 "$pid" 2>/dev/null
  expect_eq "$ENGINE_RC" 0 "exit code"
  expect_ge "$(echo "$health" | jq -r '.browser_pool.hangs_total')" 1 "hangs counted"
  expect_contains "$(echo "$health" | jq -r '.status_reasons[]')" \
    "browser 1 was hung: no answer to a heartbeat" "health says why"
  expect_eq "$(echo "$health" | jq -r '.status')" "degraded" "health status"
  teardown
}

t_crashed_page_fails_only_its_run() {
  setup
  conf "max_pages = 1, warm = 1, reserve = { critical = 0 }"
  cat >scripts/c.lua <<EOF
job "crash" { cron = "$(soon)", browser = true, retry = { attempts = 1 },
  run = function(ctx)
  local page = ctx:page()
  page:navigate("$FX/page/1")
  baton.trigger("after")
  page:send("Page.crash")
end }
job "after" { browser = true, run = function(ctx)
  local page = ctx:page()
  page:navigate("$FX/page/2")
  return { title = page:title(), ctx = page:number() }
end }
EOF
  # Chromium's crash handler keeps its dumps under XDG_CONFIG_HOME: the
  # engine points it into the browser's profile, removed at exit.
  mkdir xdg
  XDG_CONFIG_HOME=$PWD/xdg start_engine
  wait_for_log 'after run [0-9]+: ok'
  stop_engine
  expect_eq "$(sql t.db "select status, error_kind from runs where job='crash'")" \
    "failed|browser_crashed"
  expect_eq "$(find xdg -mindepth 1 | head -3)" "" "nothing written to the user's config"
  expect_eq "$(sql t.db "select json_extract(result, '$.title'), json_extract(result, '$.ctx')
    from runs where job='after'")" 'Page 2|2' "the next run gets a fresh page"
  expect_eq "$(grep -c 'ready in' engine.out)" 1 "the browser itself stayed up"
  teardown
}

t_page_whose_call_timed_out_is_discarded_even_when_the_run_caught_it() {
  setup
  conf "max_pages = 1, warm = 1, reserve = { critical = 0 }"
  cat >scripts/s.lua <<EOF
job "spin" { cron = "$(soon)", browser = true, retry = { attempts = 1 }, timeout = "30s",
  run = function(ctx)
  local page = ctx:page({ timeout = 2 })
  page:navigate("$FX/page/1")
  local ok, e = pcall(page.eval, page, "while (true) {}")
  baton.trigger("after")
  return { ctx = page:number(), ok = ok, kind = type(e) == "table" and e.kind or tostring(e) }
end }
job "after" { browser = true, retry = { attempts = 1 }, timeout = "30s", run = function(ctx)
  local page = ctx:page({ timeout = 5 })
  page:navigate("$FX/page/2")
  return { ctx = page:number(), sum = page:eval("1 + 1"), title = page:title() }
end }
EOF
  start_engine
  wait_for_log 'after run [0-9]+: (ok|failed)'
  stop_engine
  expect_eq "$ENGINE_RC" 0 "exit code"
  expect_eq "$(sql t.db "select status || '|' || json_extract(result, '$.ok') || '|' ||
    json_extract(result, '$.kind') || '|' || json_extract(result, '$.ctx') from runs
    where job='spin'")" "ok|0|timeout|1" "the spinning run caught its timeout"
  expect_eq "$(sql t.db "select status || '|' || json_extract(result, '$.ctx') || '|' ||
    json_extract(result, '$.sum') || '|' || json_extract(result, '$.title') from runs
    where job='after'")" "ok|2|2|Page 2" "the next run gets a fresh, working page"
  expect_contains "$(cat engine.out)" "page #1 discarded: a call of its lease timed out"
  teardown
}

# ---- pages of one browser context: runs without a session share it ----

# A Lua expression: the page targets of browser context ID (a Lua expression),
# as the run's `page` sees them.
pages_in() {
  echo "(function(page, id) local n = 0
    for _, t in ipairs(page:send('Target.getTargets').targetInfos) do
      if t.browserContextId == id and t.type == 'page' then n = n + 1 end
    end
    return n end)(page, $1)"
}

# Two runs holding a page at once; each returns its page number, the
# browserContextId page:number() gives, and what CDP says of its target.
two_at_once() {
  cat >scripts/two.lua <<EOF
local holding = 0
local function run(ctx)
  local page = ctx:page()
  local no, bctx = page:number()
  holding = holding + 1
  while holding < 2 do ctx:sleep("50ms") end
  page:navigate("$FX/page/" .. no)
  local me = page:send("Target.getTargetInfo").targetInfo
  ctx.store:set("first_bctx", ctx.store:get("first_bctx") or bctx)
  ctx:sleep("200ms")
  return { no = no, bctx = bctx, cdp_bctx = me.browserContextId, target = me.targetId,
           title = page:title() }
end
job "a" { cron = "$(soon)", browser = true, run = run }
job "b" { cron = "$(soon)", browser = true, run = run }
EOF
}

# "PAGES BROWSER_CONTEXTS" as the running engine's health report counts them.
pool_counts() {
  local port
  port=$(grep -oE 'http: listening on [0-9.]+:[0-9]+' engine.out | head -1 | sed 's/.*://')
  curl -s --max-time 5 "127.0.0.1:$port/api/system/health" |
    jq -r '"\(.browser_pool.pages.total) \(.browser_pool.browser_contexts)"'
}

t_runs_without_a_session_share_a_browser_context_one_page_each() {
  setup
  conf "max_pages = 2, warm = 0, reserve = { critical = 0 }"
  two_at_once
  start_engine
  wait_for_log '(a|b) run [0-9]+: ok' 2
  expect_eq "$(pool_counts)" "2 1" "pages and browser contexts in health"
  stop_engine
  expect_eq "$(sql t.db "select count(*) from runs where status='ok'")" 2 "both ran"
  expect_eq "$(sql t.db "select count(distinct json_extract(result,'$.bctx')) from runs")" 1 \
    "one browser context for both"
  expect_eq "$(sql t.db "select count(*) from runs where json_extract(result,'$.bctx') =
    json_extract(result,'$.cdp_bctx') and length(json_extract(result,'$.bctx')) > 8")" 2 \
    "page:number() names the page's browserContextId"
  expect_eq "$(sql t.db "select count(distinct json_extract(result,'$.target')) || ',' ||
    count(distinct json_extract(result,'$.no')) from runs")" "2,2" "a page (and a number) each"
  expect_eq "$(sql t.db "select count(*) from runs where json_extract(result,'$.title') =
    'Page ' || json_extract(result,'$.no')")" 2 "each page kept its own document"
  expect_contains "$(cat engine.out)" "page #2 ready (browser context 1, 2 pages)"
  teardown
}

t_pages_per_context_1_gives_each_lease_a_browser_context() {
  setup
  conf "max_pages = 2, warm = 0, reserve = { critical = 0 }, pages_per_context = 1"
  two_at_once
  start_engine
  wait_for_log '(a|b) run [0-9]+: ok' 2
  expect_eq "$(pool_counts)" "2 2" "pages and browser contexts in health"
  stop_engine
  expect_eq "$(sql t.db "select count(*) from runs where status='ok'")" 2 "both ran"
  expect_eq "$(sql t.db "select count(distinct json_extract(result,'$.bctx')) from runs")" 2 \
    "a browser context each"
  expect_contains "$(cat engine.out)" "page #2 ready (browser context 2, 1 page)"
  teardown
}

# While two runs without a session hold pages of one browser context, a
# session's run gets a browser context of its own: neither sees the other's cookies.
t_session_run_gets_its_own_browser_context_beside_shared_ones() {
  setup
  conf "max_pages = 3, warm = 0, reserve = { critical = 0 }"
  cat >scripts/s.lua <<EOF
local sid_set = false
local function wait(ctx, cond) while not cond() do ctx:sleep("50ms") end end
local function cookies(page)
  page:navigate("$FX/echo-cookies")
  return page:text("#c")
end
job "a1" { cron = "$(soon)", browser = true, run = function(ctx)
  local page = ctx:page()
  page:navigate("$FX/set-cookie?name=anon&value=1")
  baton.trigger("s")
  wait(ctx, function() return sid_set end)
  return { cookies = cookies(page), bctx = select(2, page:number()) }
end }
job "a2" { cron = "$(soon)", browser = true, run = function(ctx)
  local page = ctx:page()
  wait(ctx, function() return sid_set end)
  return { cookies = cookies(page), bctx = select(2, page:number()) }
end }
job "s" { browser = { session = "acct" }, run = function(ctx)
  local page = ctx:page()
  local before = cookies(page)
  page:navigate("$FX/set-cookie?name=sid&value=abc")
  sid_set = true
  local bctx = select(2, page:number())
  return { before = before, after = cookies(page), bctx = bctx, pages = $(pages_in bctx) }
end }
EOF
  start_engine
  wait_for_log '(a1|a2|s) run [0-9]+: ok' 3
  stop_engine
  expect_eq "$(sql t.db "select count(*) from runs where status='ok'")" 3 "all ran"
  local a1 a2 s
  a1=$(sql t.db "select json_extract(result,'$.bctx') from runs where job='a1'")
  a2=$(sql t.db "select json_extract(result,'$.bctx') from runs where job='a2'")
  s=$(sql t.db "select json_extract(result,'$.bctx') from runs where job='s'")
  expect_eq "$a1" "$a2" "the runs without a session share a browser context"
  { [ -n "$s" ] && [ "$s" != "$a1" ]; } || fail "the session's browser context is not its own: '$s'"
  expect_eq "$(sql t.db "select json_extract(result,'$.pages') from runs where job='s'")" 1 \
    "no other page in the session's browser context"
  expect_eq "$(sql t.db "select json_extract(result,'$.before') || '|' ||
    json_extract(result,'$.after') from runs where job='s'")" "|sid=abc" \
    "the session sees its cookies only"
  expect_eq "$(sql t.db "select group_concat(json_extract(result,'$.cookies'), ',')
    from runs where job in ('a1','a2')")" "anon=1,anon=1" \
    "runs without a session share their jar and not the session's"
  teardown
}

# Every page is open, as pages of one shared browser context, and idle:
# a session's run still gets a browser context to itself, within max_pages.
t_session_run_makes_room_among_shared_pages() {
  setup
  conf "max_pages = 2, warm = 2, reserve = { critical = 0 }"
  cat >scripts/s.lua <<EOF
job "a" { cron = "$(soon)", browser = true, run = function(ctx)
  local page = ctx:page()
  page:navigate("$FX/set-cookie?name=anon&value=1")
  baton.trigger("s")
  return { bctx = select(2, page:number()) }
end }
job "s" { browser = { session = "acct" }, run = function(ctx)
  local page = ctx:page()
  page:navigate("$FX/echo-cookies")
  local bctx = select(2, page:number())
  return { cookies = page:text("#c"), bctx = bctx, pages = $(pages_in bctx) }
end }
EOF
  start_engine
  wait_for_log 's run [0-9]+: ok'
  stop_engine
  expect_eq "$(sql t.db "select count(*) from runs where status='ok'")" 2 "both ran"
  expect_eq "$(sql t.db "select json_extract(result,'$.pages') from runs where job='s'")" 1 \
    "the session's page is alone in its browser context"
  expect_eq "$(sql t.db "select json_extract(result,'$.cookies') from runs where job='s'")" "" \
    "and it does not see the anonymous jar"
  expect_contains "$(cat engine.out)" "closed to make room for a session's page"
  teardown
}

t_crashed_page_in_a_shared_context_fails_only_its_run() {
  setup
  conf "max_pages = 2, warm = 0, reserve = { critical = 0 }"
  cat >scripts/c.lua <<EOF
local holding = 0
job "crash" { cron = "$(soon)", browser = true, retry = { attempts = 1 }, run = function(ctx)
  local page = ctx:page()
  page:navigate("$FX/page/1")
  holding = holding + 1
  while holding < 2 do ctx:sleep("50ms") end
  ctx.store:set("crashed_in", select(2, page:number()))
  page:send("Page.crash")
end }
job "other" { cron = "$(soon)", browser = true, run = function(ctx)
  local page = ctx:page()
  page:navigate("$FX/page/2")
  holding = holding + 1
  while holding < 2 do ctx:sleep("50ms") end
  ctx:sleep("1500ms")
  page:navigate("$FX/page/3")
  local bctx = select(2, page:number())
  return { title = page:title(), bctx = bctx, pages = $(pages_in bctx) }
end }
EOF
  start_engine
  wait_for_log 'other run [0-9]+: ok'
  stop_engine
  expect_eq "$(sql t.db "select status, error_kind from runs where job='crash'")" \
    "failed|browser_crashed"
  expect_eq "$(sql t.db "select json_extract(result,'$.title') from runs where job='other'")" \
    "Page 3" "the other run on the same browser context carried on"
  expect_eq "$(sql t.db "select json_extract(result,'$.bctx') = json_extract(value, '$')
    from runs, kv where job='other' and key='crashed_in'")" 1 "they shared a browser context"
  expect_eq "$(sql t.db "select json_extract(result,'$.pages') from runs where job='other'")" 1 \
    "the crashed page was closed at its release"
  expect_eq "$(grep -c 'ready in' engine.out)" 1 "the browser itself stayed up"
  teardown
}

# One run opens a pop-up (window.open: its opener is the run's page) and a
# tab (Target.createTarget: no opener); at its release both are closed, and
# the page of the run beside it in the same browser context — opened while
# the first lease was out — is left alone.
t_popups_are_closed_at_release_and_the_other_lease_page_survives() {
  setup
  conf "max_pages = 2, warm = 0, reserve = { critical = 0 }"
  cat >scripts/p.lua <<EOF
local keeper_in, opened = false, false
job "opener" { cron = "$(soon)", browser = true, run = function(ctx)
  local page = ctx:page()
  page:navigate("$FX/page/1")
  baton.trigger("keeper")
  while not keeper_in do ctx:sleep("50ms") end
  local bctx = select(2, page:number())
  page:send("Runtime.evaluate", { expression = "window.open('$FX/page/5'); 1", userGesture = true })
  page:send("Target.createTarget", { url = "about:blank", browserContextId = bctx })
  ctx:sleep("500ms")
  opened = true
  return { pages = $(pages_in bctx) }
end }
job "keeper" { browser = true, run = function(ctx)
  local page = ctx:page()
  page:navigate("$FX/page/2")
  keeper_in = true
  while not opened do ctx:sleep("50ms") end
  ctx:sleep("1500ms")
  local bctx = select(2, page:number())
  return { title = page:title(), pages = $(pages_in bctx) }
end }
EOF
  start_engine
  wait_for_log 'keeper run [0-9]+: (ok|failed)'
  stop_engine
  expect_contains "$(cat engine.out)" "page #2 ready (browser context 1, 2 pages)"
  expect_eq "$(sql t.db "select json_extract(result,'$.pages') from runs where job='opener'")" 4 \
    "pages while the opener ran: two leases, its pop-up, its tab"
  expect_eq "$(sql t.db "select json_extract(result,'$.title') || '|' || json_extract(result,'$.pages')
    from runs where job='keeper'")" "Page 2|2" \
    "after the opener's release: the keeper's page and the opener's (kept for reuse)"
  teardown
}

t_idle_shared_context_is_disposed_with_its_last_page() {
  setup
  conf "max_pages = 2, warm = 0, reserve = { critical = 0 }, idle_timeout = '1s'"
  two_at_once
  cat >scripts/later.lua <<EOF
job "go" { cron = "$(soon)", run = function(ctx)
  ctx:sleep("5s")
  baton.trigger("later")
end }
job "later" { browser = true, run = function(ctx)
  local page = ctx:page()
  local gone = ctx.store:get("first_bctx")
  local left = 0
  for _, t in ipairs(page:send("Target.getTargets").targetInfos) do
    if t.browserContextId == gone then left = left + 1 end
  end
  return { bctx = select(2, page:number()), left = left }
end }
EOF
  start_engine
  wait_for_log 'later run [0-9]+: ok'
  stop_engine
  expect_contains "$(cat engine.out)" "page #1 idle for"
  expect_contains "$(cat engine.out)" "page #2 idle for"
  expect_contains "$(cat engine.out)" "browser context 1 disposed"
  expect_eq "$(sql t.db "select json_extract(result,'$.left') from runs where job='later'")" 0 \
    "no target left in the disposed browser context"
  expect_eq "$(sql t.db "select json_extract(result,'$.bctx') != json_extract(value,'$')
    from runs, kv where job='later' and key='first_bctx'")" 1 "the next run got a new one"
  teardown
}

t_shutdown_with_leases_out_leaves_nothing_behind() {
  setup
  conf "max_pages = 2, warm = 1"
  sed -i 's/shutdown_timeout = "5s"/shutdown_timeout = "1s"/' engine.conf
  cat >scripts/h.lua <<EOF
job "hang" { cron = "$(soon)", browser = true, run = function(ctx)
  ctx:page():navigate("$FX/hang", { timeout = "60s" })
end }
EOF
  start_engine
  wait_for_log 'hang run [0-9]+: using pooled page'
  stop_engine
  expect_eq "$ENGINE_RC" 0 "exit code"
  expect_eq "$(sql t.db "select status, error_kind from runs where job='hang'")" \
    "cancelled|cancelled"
  teardown
}

t_browser_that_cannot_start_says_why() {
  setup
  conf "executable = '/bin/false', acquire_timeout = '2s'"
  cat >scripts/x.lua <<EOF
job "x" { cron = "$(soon)", browser = true, retry = { attempts = 1 },
  run = function(ctx) ctx:page() end }
EOF
  start_engine
  wait_for_log 'x run [0-9]+: failed'
  stop_engine
  expect_eq "$(sql t.db "select error_kind from runs where job='x'")" "pool_timeout"
  expect_contains "$(sql t.db "select error from runs where job='x'")" "browser 1: "
  expect_contains "$(cat engine.out)" "relaunching in"
  teardown
}

# The browser's pid (the newest "ready" line) and the engine's health report.
browser_pid() {
  grep -oE 'browser 1: .*\(pid [0-9]+\) ready' engine.out | tail -1 | grep -oE 'pid [0-9]+' |
    cut -d' ' -f2
}

health_now() {
  local port
  port=$(grep -oE 'http: listening on [0-9.]+:[0-9]+' engine.out | head -1 | sed 's/.*://')
  curl -s --max-time 5 "127.0.0.1:$port/api/system/health"
}

# A job that loads one page of the fixture site, once.
one_page_job() {
  cat >scripts/u.lua <<EOF
job "u" { cron = "$(soon)", browser = true, retry = { attempts = 1 }, run = function(ctx)
  local page = ctx:page()
  page:navigate("$FX/page/1")
  return { title = page:title() }
end }
EOF
}

# An engine run as root starts its browser as browser.user (default nobody):
# no process of the browser is root or keeps a supplementary group, its
# profile is that user's alone, and Chromium's own sandbox is on unless the
# kernel does not allow it, which health then says with the reason.
t_browser_of_a_root_engine_runs_as_nobody_with_its_sandbox() {
  [ "$(id -u)" = 0 ] || { echo "    (skipped: the engine must run as root)"; return 0; }
  setup
  conf "max_pages = 1, warm = 1, reserve = { critical = 0 }"
  one_page_job
  start_engine
  wait_for_log 'u run [0-9]+: ok'
  local pid health nobody
  pid=$(browser_pid)
  health=$(health_now)
  nobody=$(id -u nobody)
  expect_match "$(grep '^Uid:' /proc/"$pid"/status)" "^Uid:\s+$nobody\s+$nobody\s+$nobody\s+$nobody$" \
    "the browser's uids"
  expect_match "$(grep '^Groups:' /proc/"$pid"/status)" '^Groups:\s*$' "its supplementary groups"
  local p helpers=0
  for p in $(pgrep -f "$PWD/tmp/baton-chrome"); do
    helpers=$((helpers + 1))
    expect_match "$(grep '^Uid:' /proc/"$p"/status 2>/dev/null || echo "Uid: $nobody (gone)")" \
      "^Uid:\s+$nobody\s" "uid of browser process $p"
  done
  expect_ge "$helpers" 3 "browser processes seen (the browser and its helpers)"
  local profile
  profile=$(tr '\0' '\n' </proc/"$pid"/cmdline | sed -n 's/^--user-data-dir=//p')
  expect_eq "$(stat -c '%u %a' "$profile")" "$nobody 700" "the profile's owner and mode"
  expect_eq "$(echo "$health" | jq -r '.browser_pool.user')" "nobody" "health: the browser's user"
  if [ "$(echo "$health" | jq -r '.browser_pool.sandbox')" = true ]; then
    expect_eq "$(tr '\0' '\n' </proc/"$pid"/cmdline | grep -c -- '^--no-sandbox$')" 0 \
      "--no-sandbox on the command line"
    expect_eq "$(echo "$health" | jq -r '.browser_pool.sandbox_off')" "null" "health: no reason"
    expect_contains "$(cat engine.out)" "browsers run as nobody, with Chromium's sandbox on"
  else
    expect_contains "$(echo "$health" | jq -r '.browser_pool.sandbox_off')" "the kernel" \
      "health: why the sandbox is off"
    expect_contains "$(cat engine.out)" "Chromium's sandbox is off (--no-sandbox): the kernel"
  fi
  stop_engine
  expect_eq "$ENGINE_RC" 0 "exit code"
  teardown
}

# browser.user = "root" is the explicit way to keep the browser root: it
# runs with --no-sandbox, with a warning at start and the reason in health.
t_browser_user_root_is_allowed_with_a_warning() {
  [ "$(id -u)" = 0 ] || { echo "    (skipped: the engine must run as root)"; return 0; }
  setup
  conf "max_pages = 1, warm = 1, reserve = { critical = 0 }, user = 'root'"
  one_page_job
  start_engine
  wait_for_log 'u run [0-9]+: ok'
  local pid health
  pid=$(browser_pid)
  health=$(health_now)
  expect_match "$(grep '^Uid:' /proc/"$pid"/status)" '^Uid:\s+0\s' "the browser's uid"
  expect_eq "$(tr '\0' '\n' </proc/"$pid"/cmdline | grep -c -- '^--no-sandbox$')" 1 \
    "--no-sandbox on the command line"
  expect_contains "$(grep ' warn ' engine.out)" 'browsers run as root (browser.user = "root")'
  expect_eq "$(echo "$health" | jq -r '.browser_pool.user')" "root" "health: the browser's user"
  expect_eq "$(echo "$health" | jq -r '.browser_pool.sandbox')" "false" "health: sandbox"
  expect_eq "$(echo "$health" | jq -r '.browser_pool.sandbox_off')" \
    'the browser runs as root (browser.user = "root")' "health: why"
  stop_engine
  expect_eq "$ENGINE_RC" 0 "exit code"
  teardown
}

t_targets_a_run_opens_are_closed_before_the_next_lease() {
  setup
  conf "max_pages = 1, warm = 1, reserve = { critical = 0 }"
  cat >scripts/t.lua <<EOF
job "tabs" { every = "1s", browser = true, run = function(ctx)
  local page = ctx:page()
  local me = page:send("Target.getTargetInfo").targetInfo
  local function count()
    local n = 0
    for _, t in ipairs(page:send("Target.getTargets").targetInfos) do
      if t.browserContextId == me.browserContextId and t.type == "page" then n = n + 1 end
    end
    return n
  end
  -- Target.closeTarget answers before the browser has dropped the target, so
  -- the previous run's tab may still be listed for a moment: wait for it to go.
  local before = count()
  for _ = 1, 50 do
    if before == 1 then break end
    ctx:sleep("100ms")
    before = count()
  end
  page:send("Target.createTarget", { url = "about:blank", browserContextId = me.browserContextId })
  return { before = before, after = count(), ctx = page:number() }
end }
EOF
  start_engine
  wait_for_log 'tabs run [0-9]+: ok' 3
  stop_engine
  # Only the runs that ran: a start that found the previous run still going is a
  # skipped row (overlap) with no result, and a loaded machine makes those.
  expect_ge "$(sql t.db "select count(*) from runs where status = 'ok'")" 3 "runs that ran"
  expect_eq "$(sql t.db "select group_concat(distinct json_extract(result,'$.before')) from runs
    where status = 'ok'")" 1 "every run found its page alone in its browser context"
  expect_eq "$(sql t.db "select count(*) from runs where status = 'ok' and
    json_extract(result,'$.after') = json_extract(result,'$.before') + 1")" \
    "$(sql t.db "select count(*) from runs where status = 'ok'")" "each run did open a tab"
  expect_eq "$(sql t.db "select count(distinct json_extract(result,'$.ctx')) from runs
    where status = 'ok'")" 1 "on the same page"
  expect_eq "$(sql t.db "select count(*) from runs where status not in ('ok', 'skipped')
    or (status = 'skipped' and error_kind != 'overlap')")" 0 "no other outcome"
  teardown
}

t_forty_pop_ups_opened_with_a_user_gesture_are_all_closed_at_release() {
  setup
  conf "max_pages = 1, warm = 1, reserve = { critical = 0 }"
  cat >scripts/t.lua <<EOF
local function pages(page)
  local me = page:send("Target.getTargetInfo").targetInfo
  local n = 0
  for _, t in ipairs(page:send("Target.getTargets").targetInfos) do
    if t.browserContextId == me.browserContextId and t.type == "page" then n = n + 1 end
  end
  return n
end
job "opener" { cron = "$(soon)", browser = true, retry = { attempts = 1 }, run = function(ctx)
  local page = ctx:page()
  page:navigate("$FX/page/1")
  for _ = 1, 40 do -- one pop-up per user gesture
    page:send("Runtime.evaluate", { expression = "window.open('about:blank'); 1", userGesture = true })
  end
  local n = 0
  for _ = 1, 100 do
    n = pages(page)
    if n >= 41 then break end
    ctx:sleep("100ms")
  end
  ctx:sleep("500ms")
  baton.trigger("after")
  return { pages = n, ctx = page:number() }
end }
job "after" { browser = true, retry = { attempts = 1 }, run = function(ctx)
  local page = ctx:page()
  ctx:sleep("1s")
  return { pages = pages(page), ctx = page:number() }
end }
EOF
  start_engine
  wait_for_log 'after run [0-9]+: (ok|failed)'
  stop_engine
  expect_eq "$(sql t.db "select status || '|' || json_extract(result, '$.pages') || '|' ||
    json_extract(result, '$.ctx') from runs where job='opener'")" "ok|41|1" \
    "the click opened 40 pop-ups"
  expect_eq "$(sql t.db "select status || '|' || json_extract(result, '$.pages') || '|' ||
    json_extract(result, '$.ctx') from runs where job='after'")" "ok|1|1" \
    "every one was closed at release: the next lease finds its page alone"
  teardown
}

t_pages_spread_over_several_browsers() {
  setup
  conf "browsers = 2, max_pages = 4, warm = 0, reserve = { critical = 0 }"
  cat >scripts/w.lua <<EOF
for i = 1, 4 do
  job("w" .. i) { browser = true, run = function(ctx)
    ctx:page()
    ctx:sleep("1s")
  end }
end
EOF
  start_engine
  wait_for_log 'ready in' 2 # both browsers up: a slow start would take every page to the other
  for i in 1 2 3 4; do run_job "w$i"; done
  wait_for_log 'w[1-4] run [0-9]+: ok' 4
  stop_engine
  expect_eq "$(grep -c 'browser 1: page #[0-9]* ready' engine.out)" 2 "pages on browser 1"
  expect_eq "$(grep -c 'browser 2: page #[0-9]* ready' engine.out)" 2 "pages on browser 2"
  expect_eq "$(grep -c 'ready in' engine.out)" 2 "browsers launched"
  teardown
}

t_killed_engine_takes_its_browser_with_it() {
  setup
  conf "max_pages = 2, warm = 2"
  cat >scripts/w.lua <<EOF
job "w" { every = "1h", browser = true, run = function() end }
EOF
  start_engine
  wait_for_log 'page #2 ready'
  expect_ge "$(browsers_left)" 1 "browser running"
  kill -9 "$ENGINE_PID"
  wait "$ENGINE_PID" 2>/dev/null
  local waited=0
  # Chromium exits when its pipe closes; on a loaded machine that can take a while.
  while [ "$(browsers_left)" -gt 0 ] && [ $waited -lt 600 ]; do
    sleep 0.1
    waited=$((waited + 1))
  done
  expect_eq "$(browsers_left)" 0 "browser processes after kill -9"
  expect_eq "$(ls tmp | wc -l)" 1 "the killed engine's profile is still there"
  # the next engine removes it
  start_engine
  wait_for_log 'page #2 ready'
  stop_engine
  expect_contains "$(cat engine.out)" "removed 1 browser profile(s) left by an engine that was killed"
  teardown
}

# A Chromium the test starts itself, listening for CDP over WebSocket; sets
# EP_PORT and EP_PID.
start_endpoint() {
  mkdir -p ep
  TMPDIR=$PWD/ep /usr/lib/chromium/chromium --headless=new --no-sandbox --disable-gpu --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --remote-debugging-port=0 --user-data-dir="$PWD/ep" about:blank >ep.log 2>&1 &
  EP_PID=$!
  local waited=0
  until [ -s ep/DevToolsActivePort ]; do
    sleep 0.1
    waited=$((waited + 1))
    [ $waited -lt 100 ] || { fail "endpoint browser did not start"; return 1; }
  done
  EP_PORT=$(head -1 ep/DevToolsActivePort)
}

t_endpoint_over_websocket_runs_jobs_and_its_loss_is_a_crash() {
  setup
  start_endpoint
  conf "endpoints = { 'http://127.0.0.1:$EP_PORT' }, max_pages = 2, warm = 1"
  cat >scripts/e.lua <<EOF
job "e" { every = "1s", browser = true, retry = { attempts = 1 }, overlap = "skip",
  run = function(ctx)
  local page = ctx:page()
  page:navigate("$FX/page/4")
  if ctx.store:incr("n") == 3 then
    ctx.log:info("third run, on a slow page")
    page:navigate("$FX/slow?ms=5000")
  end
  return { title = page:title() }
end }
EOF
  start_engine
  wait_for_log 'e run [0-9]+: ok' 2
  # The third run that ran (a start that overlapped the one before is a skipped
  # row with a run id of its own, so not necessarily run 3).
  wait_for_log 'third run, on a slow page'
  kill -9 "$EP_PID"
  wait "$EP_PID" 2>/dev/null
  wait_for_log 'e run [0-9]+: failed'
  wait_for_log 'reconnecting in'
  stop_engine
  expect_eq "$ENGINE_RC" 0 "exit code"
  expect_eq "$(sql t.db "select json_extract(result,'$.title') from runs where run_id=1")" "Page 4"
  expect_eq "$(sql t.db "select group_concat(error_kind) from runs where status = 'failed'")" \
    "browser_crashed"
  expect_contains "$(cat engine.out)" "at http://127.0.0.1:$EP_PORT ready"
  teardown
}

t_endpoint_that_is_not_a_browser_fails_waiters_with_the_reason() {
  setup
  conf "endpoints = { '$FX' }, acquire_timeout = '2s'"
  cat >scripts/e.lua <<EOF
job "e" { cron = "$(soon)", browser = true, retry = { attempts = 1 },
  run = function(ctx) ctx:page() end }
EOF
  start_engine
  wait_for_log 'e run [0-9]+: failed'
  stop_engine
  expect_eq "$ENGINE_RC" 0 "exit code"
  expect_eq "$(sql t.db "select error_kind from runs where job='e'")" "pool_timeout"
  expect_contains "$(sql t.db "select error from runs where job='e'")" "json/version"
  teardown
}

run_tests
