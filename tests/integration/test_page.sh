#!/usr/bin/env bash
# test_page.sh — the page API and the error kinds browser work fails with,
# against real Chromium and the local fixture server: 500, 429 with
# Retry-After, 403, a page that hangs, a refused port, a missing selector,
# a JavaScript exception; retries, breakers and the discarded lease of a
# timed-out run.
. "$(dirname "$0")/lib.sh"

setup() {
  mkdir -p scripts tmp
  export TMPDIR=$PWD/tmp
  start_site
  cat >engine.conf <<EOF
scripts = "scripts"
database = "t.db"
log = { level = "debug" }
http = { listen = "127.0.0.1:0" }
browser = { max_pages = 2, warm = 1 }
breakers = { site = { failures = 2, cooldown = "10m" } }
EOF
}

teardown() {
  stop_site
  expect_eq "$(browsers_left)" 0 "browser processes left behind"
  pkill -9 -f "$PWD/tmp/baton-chrome" 2>/dev/null
  true
}

# Runs one job named "j" (declared in scripts/j.lua) until COUNT rows of it
# ended with PATTERN in the log.
run_until() { # pattern [count]
  start_engine
  wait_for_log "$1" "${2:-1}"
  stop_engine
}

t_page_api_types_clicks_reads_and_keeps_cookies() {
  setup
  cat >scripts/j.lua <<EOF
job "j" { cron = "$(soon)", browser = true, retry = { attempts = 1 },
  run = function(ctx)
    local page = ctx:page()
    local navigated = 0
    page:on("Page.frameNavigated", function() navigated = navigated + 1 end)
    page["goto"](page, "$FX/demo/login")
    page:type("#user", "ada")
    page:click("#go")
    local msg = page:text("#msg")
    local cookies = {}
    for _, c in ipairs(page:cookies()) do cookies[#cookies + 1] = c.name .. "=" .. c.value end
    page:set_cookies({ { name = "extra", value = "1", url = "$FX/" } })
    page:navigate("$FX/echo-cookies")
    local bytes = page:screenshot("shots/login.png")
    return {
      msg = msg, cookies = table.concat(cookies, ";"), echoed = page:text("#c"),
      url = page:url(), html = page:html():find("<pre", 1, true) ~= nil,
      sum = page:eval("(a, b) => a + b", 2, 3), navigated = navigated,
      version = page:send("Runtime.evaluate", { expression = "6 * 7" }).result.value == 42,
      bytes = bytes,
    }
  end }
EOF
  run_until 'j run [0-9]+: ok'
  local r
  r=$(sql t.db "select result from runs where job='j'")
  expect_eq "$(jq -r .msg <<<"$r")" "Welcome ada" "text after type and click"
  expect_eq "$(jq -r .cookies <<<"$r")" "session=ada" "cookies()"
  # (the login page's own cookie has path /demo/, so only ours goes to /echo-cookies)
  expect_eq "$(jq -r .echoed <<<"$r")" "extra=1" "set_cookies + what the site saw"
  expect_eq "$(jq -r .url <<<"$r")" "$FX/echo-cookies" "url()"
  expect_eq "$(jq -r .html <<<"$r")" "true" "html()"
  expect_eq "$(jq -r .sum <<<"$r")" "5" "eval with arguments"
  expect_ge "$(jq -r .navigated <<<"$r")" 1 "on() handler heard frameNavigated"
  expect_eq "$(jq -r .version <<<"$r")" "true" "send()"
  expect_eq "$(head -c 8 files/shots/login.png | od -An -tx1 | tr -d ' \n')" \
    "89504e470d0a1a0a" "screenshot is a PNG"
  expect_eq "$(jq -r .bytes <<<"$r")" "$(stat -c %s files/shots/login.png)" "bytes written"
  teardown
}

t_bad_page_arguments_are_script_errors_at_the_callers_line() {
  setup
  cat >scripts/j.lua <<EOF
job "j" { cron = "$(soon)", browser = true, retry = { attempts = 1 },
  run = function(ctx)
    local page = ctx:page()
    local said = {}
    for _, f in ipairs({
      function() page:navigate(123) end,
      function() page:navigate("$FX/page/1", { wait = "bogus" }) end,
      function() page:screenshot("../x.png") end,
      function() page:eval(42) end,
      function() page:text(5) end,
      function() page:wait_for("#x", { timeout = "never" }) end,
    }) do
      local ok, err = pcall(f)
      said[#said + 1] = ok and "no error" or tostring(err)
    end
    ctx.store:set("said", said)
    page:send(nil) -- uncaught: the run fails
  end }
job "k" { cron = "$(soon)", browser = true, retry = { attempts = 1 },
  run = function(ctx) ctx:page({ timeout = "forever" }) end }
EOF
  start_engine
  wait_for_log '(j|k) run [0-9]+: failed' 2
  stop_engine
  local said
  said=$(sql t.db "select value from kv where key='said'")
  expect_eq "$(jq -r '.[0]' <<<"$said")" "scripts/j.lua:6: page:goto: url must be a string"
  expect_contains "$(jq -r '.[1]' <<<"$said")" "scripts/j.lua:7: page:goto: wait must be load"
  expect_contains "$(jq -r '.[2]' <<<"$said")" "scripts/j.lua:8: page:screenshot: expected a relative"
  expect_eq "$(jq -r '.[3]' <<<"$said")" "scripts/j.lua:9: page:eval: expected JavaScript text"
  expect_eq "$(jq -r '.[4]' <<<"$said")" "scripts/j.lua:10: page:text: expected a CSS selector"
  expect_contains "$(jq -r '.[5]' <<<"$said")" "scripts/j.lua:11: page:wait_for: timeout: expected a duration"
  expect_eq "$(sql t.db "select error_kind || '|' || error from runs where job='j'")" \
    "script|scripts/j.lua:17: page:send: expected a CDP method name"
  expect_contains "$(sql t.db "select error_kind || '|' || error from runs where job='k'")" \
    "script|scripts/j.lua:20: ctx:page: timeout: expected a duration"
  expect_eq "$(ls files 2>/dev/null | wc -l)" 0 "nothing written outside files/"
  teardown
}

# Issue 11: a page is not a way out of the sandbox. Raw CDP reaches only the
# page; file:, chrome: and the like are refused to page:goto and, from web
# content, by Chromium itself (a redirect, location =, window.open, a link).
t_a_page_reaches_neither_local_files_nor_the_browser() {
  setup
  mkdir -p home
  export HOME=$PWD/home # where Chromium would put a download
  cat >scripts/j.lua <<EOF
job "j" { cron = "$(soon)", browser = true, retry = { attempts = 1 },
  run = function(ctx)
    local page, r = ctx:page(), {}
    local function try(name, f)
      local ok, e = pcall(f)
      r[name] = ok and "ok" or (type(e) == "table" and e.kind .. ": " .. e.message or tostring(e))
    end
    try("goto", function() page:navigate("file:///etc/passwd") end)
    try("raw_goto", function() page:send("Page.navigate", { url = "file:///etc/passwd" }) end)
    try("allow_downloads", function()
      page:send("Browser.setDownloadBehavior", { behavior = "allow", downloadPath = "/" })
    end)
    try("targets", function() page:send("Target.getTargets") end)
    try("attach", function() page:send("Target.attachToTarget", { targetId = "x", flatten = true }) end)
    try("download", function() page:navigate("$FX/download") end)
    page:navigate("$FX/links-out")
    page:eval("const a = document.createElement('a'); a.href = '/download'; a.download = ''; a.click(); 1")
    try("redirect", function() page:navigate("$FX/to-file") end)
    r.after_redirect = page:url()
    page:navigate("$FX/links-out")
    try("link", function() page:click("#file", { timeout = "2s" }) end)
    try("chrome_link", function() page:click("#chrome", { timeout = "2s" }) end)
    page:eval("location.href = 'file:///etc/passwd'; 1")
    try("location", function() page:wait_navigation({ timeout = "2s" }) end)
    r.popup = page:eval([[(() => { const w = window.open('file:///etc/passwd');
      try { return w ? (w.document.body ? w.document.body.innerText : '') : 'blocked' }
      catch (e) { return 'cross-origin: ' + e.name } })()]])
    r.url, r.body = page:url(), page:text("body")
    return r
  end }
EOF
  run_until 'j run [0-9]+: ok'
  local r
  r=$(sql t.db "select result from runs where job='j'")
  expect_contains "$(jq -r .goto <<<"$r")" "scripts/j.lua:8: page:goto: file: URLs are not allowed"
  expect_contains "$(jq -r .raw_goto <<<"$r")" "script: page:goto: file: URLs are not allowed"
  expect_contains "$(jq -r .allow_downloads <<<"$r")" "Browser.setDownloadBehavior is not allowed"
  expect_eq "$(find "$PWD" -name 'baton-dl-marker*' | wc -l)" 0 "a download was saved: $(find "$PWD" -name 'baton-dl-marker*')"
  expect_contains "$(jq -r .targets <<<"$r")" "Target.getTargets is not allowed"
  expect_contains "$(jq -r .attach <<<"$r")" "Target.attachToTarget is not allowed"
  expect_contains "$(jq -r .redirect <<<"$r")" "network: "
  expect_eq "$(jq -r '.after_redirect | startswith("file:")' <<<"$r")" "false" "no page at file: after a 302"
  expect_eq "$(jq -r '.url' <<<"$r")" "$FX/links-out" "still the web page"
  expect_eq "$(jq -r '[.body, .popup, .link, .chrome_link, .location] | map(tostring | contains("root:")) | any' <<<"$r")" \
    "false" "the file's text is out of reach"
  expect_eq "$(jq -r '.popup | startswith("cross-origin") | not' <<<"$r")" "true" "pop-up: $(jq -r .popup <<<"$r")"
  teardown
}

# Issue 11: a job that asks for downloads gets them in files/JOB/ only, under
# safe names, within its limits; the browser's own folder for them is inside
# its profile and emptied at the release.
t_a_job_with_downloads_gets_its_files_under_files_job() {
  setup
  cat >scripts/j.lua <<EOF
local function click(page, path)
  page:eval("(() => { const a = document.createElement('a'); a.href = '" .. path .. "'; a.click(); return 1 })()")
end
job "j" { cron = "$(soon)", browser = true, downloads = true, retry = { attempts = 1 },
  run = function(ctx)
    local page = ctx:page()
    page:navigate("$FX/links-out")
    click(page, "/download")
    local plain = page:wait_download({ timeout = "20s" })
    click(page, "/download-evil")
    local evil = page:wait_download({ timeout = "20s" })
    click(page, "/download-dot")
    local dot = page:wait_download({ timeout = "20s" })
    click(page, "/download") -- the same name again
    local again = page:wait_download({ timeout = "20s" })
    local ok, e = pcall(page.wait_download, page, { timeout = "1s" })
    return { plain = plain, evil = evil, dot = dot, again = again, n = #page:downloads(),
      none = ok and "ok" or e.kind }
  end }
EOF
  run_until 'j run [0-9]+: (ok|failed)'
  local r
  r=$(sql t.db "select coalesce(result, error) from runs where job='j'")
  expect_eq "$(sql t.db "select status from runs where job='j'")" "ok" "run: $r"
  expect_eq "$(jq -r .plain.name <<<"$r")" "baton-dl-marker.txt" "the suggested name"
  expect_eq "$(jq -r .plain.path <<<"$r")" "j/baton-dl-marker.txt" "path relative to files/"
  expect_eq "$(jq -r .plain.url <<<"$r")" "$FX/download"
  expect_eq "$(jq -r .plain.bytes <<<"$r")" "21"
  expect_eq "$(cat files/j/baton-dl-marker.txt)" "downloaded by a page" "the file's bytes"
  expect_eq "$(jq -r .again.name <<<"$r")" "baton-dl-marker (1).txt" "a second one takes another name"
  expect_eq "$(cat "files/j/baton-dl-marker (1).txt")" "downloaded by a page"
  local evil dot
  evil=$(jq -r .evil.name <<<"$r")
  dot=$(jq -r .dot.name <<<"$r")
  expect_eq "$(cat "files/j/$evil")" "saved under a safe name" "../../etc/x saved as '$evil'"
  expect_eq "$(cat "files/j/$dot")" "saved under a safe name" ".bashrc saved as '$dot'"
  expect_eq "$(printf '%s\n%s\n' "$evil" "$dot" | grep -cE '^\.|/|\.\.')" 0 "no hidden file, no path"
  expect_eq "$(find . -path ./files -prune -o \( -name x -o -name .bashrc \) -print | wc -l)" 0 \
    "nothing outside files/j/"
  expect_eq "$(find files -type f | wc -l)" 4 "$(find files -type f)"
  expect_eq "$(jq -r .n <<<"$r")" 4 "page:downloads()"
  expect_eq "$(jq -r .none <<<"$r")" "timeout" "no fifth download"
  teardown
}

t_a_download_over_max_bytes_fails_with_limit_and_leaves_no_file() {
  setup
  cat >scripts/j.lua <<EOF
local function click(page, path)
  page:eval("(() => { const a = document.createElement('a'); a.href = '" .. path .. "'; a.click(); return 1 })()")
end
job "j" { cron = "$(soon)", browser = true, retry = { attempts = 1 },
  downloads = { max_bytes = "1MB", max_files = 2 },
  run = function(ctx)
    local page, r = ctx:page(), {}
    page:navigate("$FX/links-out")
    click(page, "/download-big?kb=4096")
    local ok, e = pcall(page.wait_download, page, { timeout = "20s" })
    r.big = ok and "ok" or e.kind .. ": " .. e.message
    r.list = page:downloads()
    click(page, "/download-big?kb=16")
    r.small = page:wait_download({ timeout = "20s" }).bytes
    click(page, "/download")
    ok, e = pcall(page.wait_download, page, { timeout = "20s" })
    r.third = ok and "ok" or e.kind .. ": " .. e.message
    return r
  end }
EOF
  start_engine
  wait_for_log 'j run [0-9]+: (ok|failed)'
  # the browser's folder for downloads holds nothing once the run is over
  sleep 0.5
  expect_eq "$(find tmp -path '*baton-downloads*' -type f | wc -l)" 0 "$(find tmp -path '*baton-downloads*')"
  stop_engine
  local r
  r=$(sql t.db "select coalesce(result, error) from runs where job='j'")
  expect_eq "$(sql t.db "select status from runs where job='j'")" "ok" "run: $r"
  expect_contains "$(jq -r .big <<<"$r")" "limit: download of $FX/download-big?kb=4096: "
  expect_contains "$(jq -r .big <<<"$r")" "over the job's max_bytes (1048576)"
  expect_eq "$(jq -r '.list[0].state + " " + .list[0].error_kind' <<<"$r")" "failed limit"
  expect_eq "$(jq -r .small <<<"$r")" "16384" "one within the limit is saved"
  expect_contains "$(jq -r .third <<<"$r")" "limit: download of $FX/download: over the job's max_files (2)"
  expect_eq "$(find files -type f | wc -l)" 1 "only the small one: $(find files -type f)"
  expect_eq "$(stat -c %s files/j/big.bin)" 16384
  teardown
}

# The pooled page a job with downloads used serves the next job with its
# downloads denied again.
t_the_next_job_on_a_page_that_downloaded_cannot_download() {
  setup
  sed -i 's/max_pages = 2, warm = 1/max_pages = 1, warm = 1, reserve = { critical = 0 }, burst = 0/' engine.conf
  cat >scripts/j.lua <<EOF
local function click(page)
  page:eval("const a = document.createElement('a'); a.href = '/download'; a.click(); 1")
end
job "a" { cron = "$(soon)", browser = true, downloads = true, retry = { attempts = 1 },
  run = function(ctx)
    local page = ctx:page()
    page:navigate("$FX/links-out")
    click(page)
    return { page = page:number(), saved = page:wait_download({ timeout = "20s" }).path }
  end }
job "b" { after = "a", browser = true, retry = { attempts = 1 },
  run = function(ctx)
    local page, seen = ctx:page(), { began = 0, bytes = 0, states = "" }
    page:on("Page.downloadWillBegin", function() seen.began = seen.began + 1 end)
    page:on("Page.downloadProgress", function(p)
      seen.bytes = math.max(seen.bytes, p.receivedBytes or 0)
      seen.states = seen.states .. p.state .. " "
    end)
    page:navigate("$FX/links-out")
    click(page)
    ctx:sleep("2s")
    page:title() -- the handlers hear what came meanwhile
    local ok, e = pcall(function() local d = page:wait_download({ timeout = "1s" }); return d end)
    return { page = page:number(), wait = ok and "ok" or tostring(e), seen = seen }
  end }
EOF
  start_engine
  wait_for_log 'b run [0-9]+: (ok|failed)'
  expect_eq "$(find tmp -path '*baton-downloads*' -type f | wc -l)" 0 "$(find tmp -path '*baton-downloads*')"
  stop_engine
  local a b
  a=$(sql t.db "select coalesce(result, error) from runs where job='a'")
  b=$(sql t.db "select coalesce(result, error) from runs where job='b'")
  expect_eq "$(jq -r .saved <<<"$a")" "a/baton-dl-marker.txt" "a: $a"
  expect_eq "$(jq -r .page <<<"$b")" "$(jq -r .page <<<"$a")" "the same pooled page"
  # the browser itself denied it: not a byte came (an allowed download the
  # engine cancels would have some)
  expect_eq "$(jq -r .seen.began <<<"$b")" 1 "b: $b"
  expect_eq "$(jq -r .seen.bytes <<<"$b")" 0 "b: $b"
  expect_eq "$(jq -r '.seen.states | contains("completed")' <<<"$b")" false "b: $b"
  expect_contains "$(jq -r .wait <<<"$b")" "scripts/j.lua:23: page:wait_download: job 'b' may not download"
  expect_eq "$(find . -name 'baton-dl-marker*' | sort)" "./files/a/baton-dl-marker.txt" "b saved nothing"
  expect_eq "$(find tmp -name '*.crdownload' | wc -l)" 0
  teardown
}

# Runs without a session share a browser context: while a run with downloads
# holds one of its pages, a run beside it without downloads still saves
# nothing (the engine cancels what its page begins).
t_a_run_beside_one_with_downloads_in_its_browser_context_saves_nothing() {
  setup
  cat >scripts/j.lua <<EOF
local function click(page, path)
  page:eval("(() => { const a = document.createElement('a'); a.href = '" .. path .. "'; a.click(); return 1 })()")
end
job "a" { cron = "$(soon)", browser = true, downloads = true, retry = { attempts = 1 },
  run = function(ctx)
    local page = ctx:page()
    page:navigate("$FX/links-out")
    ctx:sleep("4s")
    click(page, "/download")
    local _, bctx = page:number()
    return { bctx = bctx, saved = page:wait_download({ timeout = "20s" }).path }
  end }
job "b" { cron = "$(soon)", browser = true, retry = { attempts = 1 },
  run = function(ctx)
    local page, states = ctx:page(), ""
    page:on("Page.downloadProgress", function(p) states = states .. p.state .. " " end)
    page:navigate("$FX/links-out")
    ctx:sleep("1s")
    click(page, "/download-big?kb=4096")
    ctx:sleep("2s")
    page:title() -- the handler hears what came meanwhile
    local _, bctx = page:number()
    return { bctx = bctx, states = states }
  end }
EOF
  start_engine
  wait_for_log '(a|b) run [0-9]+: (ok|failed)' 2
  sleep 0.5
  expect_eq "$(find tmp -path '*baton-downloads*' -type f | wc -l)" 0 "$(find tmp -path '*baton-downloads*')"
  stop_engine
  local a b
  a=$(sql t.db "select coalesce(result, error) from runs where job='a'")
  b=$(sql t.db "select coalesce(result, error) from runs where job='b'")
  expect_eq "$(jq -r .saved <<<"$a")" "a/baton-dl-marker.txt" "a: $a"
  expect_eq "$(jq -r .bctx <<<"$b")" "$(jq -r .bctx <<<"$a")" "one browser context: b: $b"
  expect_contains "$(jq -r .states <<<"$b")" "canceled" "b's download was stopped"
  expect_eq "$(jq -r '.states | contains("completed")' <<<"$b")" false "b: $b"
  expect_eq "$(find . -type f \( -path './files/*' -o -name 'big.bin' \) | sort)" \
    "./files/a/baton-dl-marker.txt" "b saved nothing"
  teardown
}

t_http_500_is_http_and_retried() {
  setup
  cat >scripts/j.lua <<EOF
job "j" { cron = "$(soon)", browser = true,
  retry = { attempts = 2, base = "100ms", jitter = "none" },
  run = function(ctx) ctx:page():navigate("$FX/status/500") end }
EOF
  run_until 'j run [0-9]+: failed in .* \(attempt 2\)'
  expect_eq "$(sql t.db "select group_concat(status || ':' || error_kind) from runs where job='j'")" \
    "failed:http,failed:http" "two attempts"
  expect_contains "$(sql t.db "select error from runs where job='j' limit 1")" "answered HTTP 500"
  teardown
}

t_429_is_rate_limited_and_waits_retry_after() {
  setup
  cat >scripts/j.lua <<EOF
job "j" { cron = "$(soon)", browser = true,
  retry = { attempts = 2, base = "100ms", jitter = "none" },
  run = function(ctx) ctx:page():navigate("$FX/status/429?retry_after=2") end }
EOF
  run_until 'j run [0-9]+: failed in .* \(attempt 2\)'
  expect_eq "$(sql t.db "select group_concat(error_kind) from runs where job='j'")" \
    "rate_limited,rate_limited"
  expect_eq "$(sql t.db "select (select started_at from runs where attempt=2) -
    (select ended_at from runs where attempt=1) >= 1.9")" 1 "waited Retry-After"
  expect_contains "$(cat engine.out)" "retrying in 2s"
  teardown
}

t_403_is_auth_and_not_retried() {
  setup
  cat >scripts/j.lua <<EOF
job "j" { cron = "$(soon)", browser = true, retry = { attempts = 3, base = "100ms" },
  run = function(ctx) ctx:page():navigate("$FX/status/403") end }
EOF
  run_until 'j run [0-9]+: failed'
  sleep 0.5
  expect_eq "$(sql t.db "select count(*), error_kind from runs where job='j'")" "1|auth"
  teardown
}

t_hanging_page_times_out_and_refused_port_is_network() {
  setup
  local dead
  dead=$(free_port)
  cat >scripts/j.lua <<EOF
job "hang" { cron = "$(soon)", browser = true, retry = { attempts = 1 },
  run = function(ctx) ctx:page():navigate("$FX/hang", { timeout = "1s" }) end }
job "refused" { cron = "$(soon)", browser = true, retry = { attempts = 1 },
  run = function(ctx) ctx:page():navigate("http://127.0.0.1:$dead/") end }
job "missing" { cron = "$(soon)", browser = true, retry = { attempts = 1 },
  run = function(ctx)
    local page = ctx:page()
    page:navigate("$FX/page/1")
    page:wait_for("#nope", { timeout = "300ms" })
  end }
job "throws" { cron = "$(soon)", browser = true, retry = { attempts = 1 },
  run = function(ctx) ctx:page():eval("(() => { throw new Error('boom') })()") end }
EOF
  start_engine
  wait_for_log '(hang|refused|missing|throws) run [0-9]+: failed' 4
  stop_engine
  expect_eq "$(sql t.db "select error_kind from runs where job='hang'")" "timeout"
  expect_contains "$(sql t.db "select error from runs where job='hang'")" "/hang: no answer within 1s"
  expect_eq "$(sql t.db "select error_kind from runs where job='refused'")" "network"
  expect_contains "$(sql t.db "select error from runs where job='refused'")" \
    "net::ERR_CONNECTION_REFUSED"
  expect_eq "$(sql t.db "select error_kind from runs where job='missing'")" "not_found"
  expect_contains "$(sql t.db "select error from runs where job='missing'")" "#nope"
  expect_eq "$(sql t.db "select error_kind from runs where job='throws'")" "script"
  expect_contains "$(sql t.db "select error from runs where job='throws'")" "Error: boom"
  teardown
}

t_failing_site_opens_the_breaker() {
  setup
  cat >scripts/j.lua <<EOF
job "j" { every = "1s", browser = true, breaker = "site", retry = { attempts = 1 },
  run = function(ctx) ctx:page():navigate("$FX/status/503") end }
EOF
  run_until 'j run [0-9]+: skipped \(breaker_open\)' 2
  expect_eq "$(sql t.db "select count(*) from runs where status='failed' and error_kind='http'")" 2 \
    "failures before the breaker opened"
  expect_eq "$(sql t.db "select state from breakers where name='site'")" "open"
  local hits
  hits=$(curl -s "$FX/stats" | jq .requests)
  expect_le "$hits" 4 "requests that reached the site (2 pages, maybe favicons)"
  teardown
}

t_timed_out_run_discards_its_context() {
  setup
  cat >scripts/j.lua <<EOF
job "j" { cron = "*/2 * * * * *", browser = true, timeout = "1s", retry = { attempts = 1 },
  overlap = "skip",
  run = function(ctx)
    local page = ctx:page()
    if ctx.store:incr("n") == 1 then page:navigate("$FX/hang", { timeout = "30s" }) end
    return { ctx = page:number() }
  end }
EOF
  run_until 'j run [0-9]+: ok'
  expect_eq "$(sql t.db "select status || ':' || error_kind from runs where run_id=1")" \
    "failed:timeout"
  expect_ge "$(sql t.db "select json_extract(result,'$.ctx') from runs where status='ok'")" 2 \
    "the next run did not get the timed-out run's page"
  teardown
}

t_shipped_scripts_drive_the_demo_site_the_engine_serves() {
  mkdir -p tmp
  export TMPDIR=$PWD/tmp
  cp -r "$ROOT/scripts" "$ROOT/demo" "$ROOT/engine.conf" .
  local port
  port=$(free_port)
  sed -i "s/127.0.0.1:8080/127.0.0.1:$port/" engine.conf scripts/feed.lua
  start_engine
  wait_for_log 'reply run [0-9]+: ok'
  expect_eq "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/demo/feed")" 200 \
    "the demo feed"
  expect_eq "$(curl -s --path-as-is -o /dev/null -w "%{http_code}" "http://127.0.0.1:$port/demo/../engine.conf")" \
    404 "nothing outside demo/"
  stop_engine
  expect_eq "$ENGINE_RC" 0 "exit code"
  local found replied
  found=$(sql baton.db "select json_extract(result,'$.found') from runs where job='discover'")
  replied=$(sql baton.db "select json_extract(result,'$.replied') from runs where job='reply'")
  expect_ge "$found" 3 "posts found on the demo feed"
  expect_eq "$replied" "$found" "replied to each"
  expect_contains "$(cat engine.out)" "marked on the page"
  expect_eq "$(browsers_left)" 0 "browser processes left behind"
}

run_tests
