#!/usr/bin/env bash
# test_dashboard.sh — the dashboard in real headless Chromium, driven by the
# engine itself: a browser job opens the engine's own dashboard in its pooled
# page, checks that the jobs are listed, presses "run now" for another job and
# watches that run appear on the page as ok without a reload (the page's
# WebSocket brings it), then takes a screenshot.
#
# The screenshot is kept as a test artifact: build/artifacts/dashboard.png
# under the repository root.
. "$(dirname "$0")/lib.sh"

# One engine listening on a port picked beforehand (the watch job's script
# must know it at load), with the jobs of scripts/*.lua.
setup() {
  mkdir -p scripts tmp
  export TMPDIR=$PWD/tmp
  PORT=$(free_port)
  URL="http://127.0.0.1:$PORT"
  cat >engine.conf <<EOF
scripts = "scripts"
database = "t.db"
log = { level = "info" }
http = { listen = "127.0.0.1:$PORT" }
browser = { max_pages = 2, warm = 1 }
EOF
}

# Writes scripts/watch.lua from stdin, filling in @URL@ and @CRON@.
watch_script() {
  sed -e "s|@URL@|$URL|g" -e "s|@CRON@|$(soon)|g" >scripts/watch.lua
}

teardown() {
  expect_eq "$(browsers_left)" 0 "browser processes left behind"
  pkill -9 -f "$PWD/tmp/baton-chrome" 2>/dev/null
  true
}

# The watch run's result, as JSON.
result() {
  sql t.db "select result from runs where job='watch' and status='ok' order by run_id limit 1"
}

t_a_run_started_from_the_dashboard_appears_on_it_without_a_reload() {
  setup
  # tick only runs when triggered; it lasts a second so that the page has a
  # "running" state to show before the "ok"
  cat >scripts/tick.lua <<'LUA'
job "tick" { run = function(ctx) ctx:sleep("1s") return { ok = true } end }
LUA
  watch_script <<'LUA'
job "watch" { cron = "@CRON@", browser = true, timeout = "90s", retry = { attempts = 1 },
  run = function(ctx)
    local page = ctx:page({ timeout = "20s" })
    -- a desktop-sized viewport, for a screenshot worth looking at
    page:send("Emulation.setDeviceMetricsOverride",
      { width = 1280, height = 720, deviceScaleFactor = 1, mobile = false })
    local navigations, frames = 0, {}
    page:on("Page.frameNavigated", function(p)
      if not p.frame.parentId then navigations = navigations + 1 end
    end)
    page:on("Network.webSocketFrameReceived", function(p)
      local d = p.response and p.response.payloadData or ""
      if d:find('"job":"tick"', 1, true) then
        frames[#frames + 1] = d:match('"type":"([%w_]+)"')
      end
    end)
    page:navigate("@URL@/")
    page:wait_for('#jobs button[data-act="run"][data-job="tick"]', { timeout = "10s" })
    page:wait_for('#jobs button[data-act="run"][data-job="watch"]', { timeout = "10s" })
    local names = page:eval([[Array.from(document.querySelectorAll("#jobs tr"),
      (tr) => tr.children[0].textContent).join(",")]])
    local jobs_text = page:text("#jobs")
    -- the page's WebSocket is up: what it pushes is what must show the run
    page:eval([[new Promise((ok) => { const t = setInterval(() => {
      if (document.getElementById("live").textContent === "connected") { clearInterval(t); ok(true); }
    }, 50); })]])
    -- pixels of the timeline in the colour of a CSS variable (a status)
    page:eval([[window.__pixels = (name) => {
      const cv = document.getElementById("timeline");
      const d = cv.getContext("2d").getImageData(0, 0, cv.width, cv.height).data;
      const c = getComputedStyle(document.body).getPropertyValue(name).trim();
      const rgb = [1, 3, 5].map((i) => parseInt(c.slice(i, i + 2), 16));
      let n = 0;
      for (let i = 0; i < d.length; i += 4)
        if (d[i] === rgb[0] && d[i + 1] === rgb[1] && d[i + 2] === rgb[2]) n++;
      return n;
    }, true]])
    -- this run started before the page loaded: the chart draws it all the same
    local run_pixels = page:eval([[new Promise((ok) => {
      const t0 = performance.now();
      const t = setInterval(() => {
        const n = window.__pixels("--run");
        if (n > 0 || performance.now() - t0 > 3000) { clearInterval(t); ok(n); }
      }, 50);
    })]])
    -- every state the tick row goes through, from now on
    page:eval([[(() => {
      window.__noReload = 1;
      window.__tickSeen = [];
      const look = () => {
        const b = document.querySelector('#jobs button[data-act="run"][data-job="tick"]');
        if (!b) return;
        const td = b.closest("tr").children;
        const s = td[1].textContent.trim() + "/" + td[4].textContent.trim().split(/\s+/)[0];
        if (window.__tickSeen[window.__tickSeen.length - 1] !== s) window.__tickSeen.push(s);
      };
      look();
      new MutationObserver(look).observe(document.getElementById("jobs"),
        { childList: true, subtree: true, characterData: true });
      return true;
    })()]])
    local t0 = page:eval("performance.now()")
    page:click('#jobs button[data-act="run"][data-job="tick"]')
    -- the dashboard polls on its own every 15 s; the live update must come sooner
    page:wait_for('#jobs tr:has(button[data-job="tick"]) td span.st-ok', { timeout = "10s" })
    local waited_ms = page:eval("performance.now()") - t0
    local seen = page:eval("window.__tickSeen.join(' ')")
    local no_reload = page:eval("window.__noReload === 1")
    local tick_row = page:eval([[document.querySelector('#jobs button[data-job="tick"]')
      .closest("tr").innerText]])
    -- no error flashed by the button's POST, and the chart drew tick's run in
    -- the colour of ok
    local flash = page:eval([[getComputedStyle(document.getElementById("msg")).display]])
    local ok_pixels = page:eval([[window.__pixels("--ok")]])
    local bytes = page:screenshot("dashboard.png")
    -- a job a reload adds shows up too (the test writes late.lua once tick is ok)
    local t1 = page:eval("performance.now()")
    page:wait_for('#jobs button[data-act="run"][data-job="late"]', { timeout = "20s" })
    local late_ms = page:eval("performance.now()") - t1
    page:url() -- a last call, so that the handlers hear what came before
    return {
      jobs = names, jobs_text = jobs_text, tick_seen = seen, tick_row = tick_row,
      waited_ms = math.floor(waited_ms), no_reload = no_reload,
      navigations = navigations, tick_frames = table.concat(frames, ","), bytes = bytes,
      flash = flash, ok_pixels = ok_pixels, late_ms = math.floor(late_ms), run_pixels = run_pixels,
    }
  end }
LUA
  start_engine
  wait_for_log "http: listening on 127.0.0.1:$PORT" || return
  wait_for_log 'tick run [0-9]+: ok'
  echo 'job "late" { run = function() end }' >scripts/late.lua
  wait_for_log 'watch run [0-9]+: (ok|failed)'
  stop_engine
  expect_eq "$ENGINE_RC" 0 "exit code"
  local watch
  watch=$(sql t.db "select status || ':' || coalesce(error, '') from runs where job='watch'")
  expect_eq "$watch" "ok:" "the watch run"
  [ "$watch" == "ok:" ] || { teardown; return; }
  local r
  r=$(result)
  expect_eq "$(jq -r .jobs <<<"$r")" "tick,watch" "jobs listed on the page"
  expect_contains "$(jq -r .jobs_text <<<"$r")" "on trigger" "tick's next start"
  expect_contains "$(jq -r .jobs_text <<<"$r")" "run now"
  # before the click tick had never run; then it was running; then it was ok
  # (each entry: state/last status, as the row showed them)
  local seen
  seen=$(jq -r .tick_seen <<<"$r")
  [[ $seen =~ ^[a-z_]+/never\ (.+\ )?running/[a-z]+\ (.+\ )?[a-z_]+/ok$ ]] ||
    fail "states of tick's row: '$seen', expected never, then running, then ok"
  expect_contains "$(jq -r .tick_row <<<"$r")" "ok" "tick's row at the end"
  expect_eq "$(jq -r .no_reload <<<"$r")" true "the page was not reloaded (marker kept)"
  expect_eq "$(jq -r .navigations <<<"$r")" 1 "top-level navigations of the page"
  expect_contains "$(jq -r .tick_frames <<<"$r")" "run_started" "WebSocket events about tick"
  expect_contains "$(jq -r .tick_frames <<<"$r")" "run_ended" "WebSocket events about tick"
  expect_le "$(jq -r .waited_ms <<<"$r")" 10000 "ms from the click to ok on the page"
  expect_eq "$(jq -r .flash <<<"$r")" none "error message shown by the page"
  # the reload's event made the page re-read the jobs: well before its 15 s poll
  expect_le "$(jq -r .late_ms <<<"$r")" 10000 "ms until the reloaded job showed"
  expect_ge "$(jq -r .ok_pixels <<<"$r")" 1 "pixels of an ok run on the timeline"
  expect_ge "$(jq -r .run_pixels <<<"$r")" 1 "pixels of the run in flight at page load"
  # the run the button started is in the store, started by hand, and ok
  expect_eq "$(sql t.db "select count(*), status from runs where job='tick'")" "1|ok" "tick runs"
  expect_eq "$(sql t.db "select json_extract(result, '$.ok') from runs where job='tick'")" 1
  # the screenshot: a PNG of a reasonable size, as many bytes as the run said
  expect_eq "$(head -c 8 files/dashboard.png 2>/dev/null | od -An -tx1 | tr -d ' \n')" \
    "89504e470d0a1a0a" "screenshot is a PNG"
  expect_eq "$(jq -r .bytes <<<"$r")" "$(stat -c %s files/dashboard.png 2>/dev/null)" "bytes written"
  expect_ge "$(stat -c %s files/dashboard.png 2>/dev/null)" 10000 "screenshot size"
  expect_le "$(stat -c %s files/dashboard.png 2>/dev/null)" 5000000 "screenshot size"
  expect_eq "$(od -An -tu1 -j16 -N8 files/dashboard.png 2>/dev/null | awk '{print $3*256+$4 "x" $7*256+$8}')" \
    "1280x720" "screenshot dimensions"
  # kept as a test artifact
  if [ -f files/dashboard.png ]; then
    mkdir -p "$ROOT/build/artifacts"
    cp files/dashboard.png "$ROOT/build/artifacts/dashboard.png"
  fi
  teardown
}

t_the_dashboard_lists_the_jobs_and_shows_the_pool_figures() {
  setup
  cat >scripts/jobs.lua <<'LUA'
job "alpha" { every = "1h", run = function() end }
job "beta" { priority = "high", run = function() end }
LUA
  watch_script <<'LUA'
job "watch" { cron = "@CRON@", browser = true, timeout = "60s", retry = { attempts = 1 },
  run = function(ctx)
    local page = ctx:page({ timeout = "20s" })
    page:navigate("@URL@/")
    page:wait_for('#jobs button[data-job="watch"]', { timeout = "10s" })
    page:wait_for("#pool dd", { timeout = "10s" })
    local pool = {}
    local text = page:text("#pool")
    for k, v in text:gmatch("([%a][%a ]*%a)%s+([%d.]+m?s?)") do pool[k] = v end
    return {
      jobs = page:text("#jobs"), pool_text = text,
      browsers = tonumber(pool.browsers), pages = tonumber(pool.pages),
      busy = tonumber(pool.busy), idle = tonumber(pool.idle), created = tonumber(pool.created),
      -- (textContent: the badge is uppercased by CSS, and innerText shows that)
      status = page:eval([[document.getElementById("status").textContent]]),
      version = page:text("#version"),
    }
  end }
LUA
  start_engine
  wait_for_log "http: listening on 127.0.0.1:$PORT" || return
  wait_for_log 'watch run [0-9]+: (ok|failed)'
  local api_jobs
  api_jobs=$(curl -s --max-time 10 "$URL/api/jobs" | jq -r '[.jobs[].name] | join(",")')
  stop_engine
  expect_eq "$ENGINE_RC" 0 "exit code"
  local watch
  watch=$(sql t.db "select status || ':' || coalesce(error, '') from runs where job='watch'")
  expect_eq "$watch" "ok:" "the watch run"
  [ "$watch" == "ok:" ] || { teardown; return; }
  local r jobs
  r=$(result)
  jobs=$(jq -r .jobs <<<"$r")
  expect_eq "$api_jobs" "alpha,beta,watch" "/api/jobs"
  # each job on its own row, in the API's order
  expect_eq "$(awk '{print $1}' <<<"$jobs" | grep -E '^(alpha|beta|watch)$' | paste -sd,)" "$api_jobs" \
    "jobs on the page: $jobs"
  expect_contains "$(grep '^beta' <<<"$jobs")" "high" "beta's priority"
  expect_contains "$(grep '^beta' <<<"$jobs")" "on trigger" "beta's next start"
  expect_contains "$(grep '^alpha' <<<"$jobs")" "in " "alpha's next start counts down"
  expect_contains "$(grep '^watch' <<<"$jobs")" "running" "the watch job, seen by itself"
  # the pool as the page shows it: the page's own page is busy
  expect_ge "$(jq -r .browsers <<<"$r")" 1 "browsers on the page: $(jq -r .pool_text <<<"$r")"
  expect_ge "$(jq -r .pages <<<"$r")" 1 "pages total on the page"
  expect_ge "$(jq -r .busy <<<"$r")" 1 "busy pages on the page"
  expect_ge "$(jq -r .created <<<"$r")" 1 "pages created on the page"
  expect_eq "$(jq -r '.pages >= .busy + .idle' <<<"$r")" true "total >= busy + idle"
  grep -qxE "ok|degraded|failing" <<<"$(jq -r .status <<<"$r")" || fail "status badge: $(jq -r .status <<<"$r")"
  expect_eq "$(jq -r .version <<<"$r")" "$("$BATON" version | head -1 | cut -d' ' -f2)" "version"
  teardown
}

run_tests
