#!/usr/bin/env bash
# test_drytest.sh — `baton test`: *_test.lua files on a virtual clock with
# the fake browser (fresh engine per test, the test kit, fixtures, injected
# failures, the record of calls), the simulation without test files, bad
# test files and scripts, and the shipped scripts' and examples' own tests.
. "$(dirname "$0")/lib.sh"

project() { # writes engine.conf; scripts go in scripts/
  mkdir -p scripts
  cat >engine.conf <<'EOF'
scripts = "scripts"
database = "t.db"
sandbox = { cpu_slice = "500ms" }
EOF
}

FEED_JOBS='local FEED = "http://127.0.0.1:8080/demo/feed"
job "discover" { cron = "0 3 * * *", browser = true, run = function(ctx)
  local page = ctx:page()
  page:navigate(FEED)
  local n = page:eval("document.querySelectorAll(\".post\").length")
  ctx.store:set("found", n)
  return { found = n }
end }
job "reply" { every = "1h", offset = "0s", requires = { discover = "2h" }, browser = true,
  run = function(ctx)
  local page = ctx:page()
  page:navigate(FEED)
  for i = 1, ctx.store:get("found") do page:click(".post:nth-child(" .. i .. ") .reply") end
  return { replied = ctx.store:get("found") }
end }'

t_the_design_example_passes() {
  project
  echo "$FEED_JOBS" >scripts/feed.lua
  cat >scripts/feed_test.lua <<'EOF'
test("reply waits for discover", function(t)
  t.browser:serve("http://127.0.0.1:8080/demo/feed", { eval = { 3 } })  -- fake answers
  t:advance("2h")                         -- the scheduler runs two virtual hours, instantly
  t:expect_runs("reply", 0)
  t:run("discover"); t:advance("61m")
  t:expect_runs("reply", 1)
  t:expect(t:runs("reply")[#t:runs("reply")].result.replied == 3, "replied to 3")
end)
EOF
  "$BATON" test >out 2>err
  expect_eq $? 0 "exit code ($(cat out err))"
  expect_contains "$(cat out)" "ok   scripts/feed_test.lua: reply waits for discover"
  expect_eq "$(tail -1 out)" "1 passed, 0 failed"
  # skipped starts are rows of their own; expect_runs without a status ignores them
  expect_contains "$(cat out)" "1 passed"
}

t_a_failing_expectation_names_the_test_line_and_the_rest_still_run() {
  project
  echo "$FEED_JOBS" >scripts/feed.lua
  cat >feed_test.lua <<'EOF'
test("one", function(t)
  t:advance("1h")
  t:expect_runs("reply", 2)
end)
test("two", function(t)
  t:expect(t:now() == 1704067200, "starts at 2024-01-01")
end)
test("three", function(t)
  t:expect(1 + 1 == 3, "arithmetic is %s", "broken")
end)
EOF
  "$BATON" test >out 2>err
  expect_eq $? 1 "exit code"
  expect_contains "$(cat out)" "FAIL feed_test.lua: one"
  expect_contains "$(cat out)" "feed_test.lua:3: expected 2 run(s) of reply, got 0"
  expect_contains "$(cat out)" "ok   feed_test.lua: two"
  expect_contains "$(cat out)" "feed_test.lua:9: arithmetic is broken"
  expect_eq "$(tail -1 out)" "1 passed, 2 failed"
}

t_bad_test_files_are_reported_with_file_and_line() {
  project
  echo 'job "a" { every = "1m", run = function() end }' >scripts/a.lua
  printf 'test("x", function(t)\n  t:advance(\n' >scripts/syntax_test.lua
  printf '\n\ntest(42)\n' >scripts/args_test.lua
  printf -- '-- nothing here\n' >scripts/empty_test.lua
  cat >scripts/kit_test.lua <<'EOF'
test("unknown job", function(t)
  t:run("nope")
end)
test("bad duration", function(t)
  t:advance("soon")
end)
test("bad kind", function(t)
  t:fail("a", "gremlins")
end)
test("bad fixture", function(t)
  t.browser:serve("http://x/", { status = 999 })
end)
EOF
  printf 'test("twice", function() end)\ntest("twice", function() end)\n' >scripts/twice_test.lua
  "$BATON" test >out 2>err
  expect_eq $? 1 "exit code"
  expect_contains "$(cat out)" "scripts/syntax_test.lua:3:"
  expect_contains "$(cat out)" "scripts/args_test.lua:3: test(name, fn): expected a name and a function"
  expect_contains "$(cat out)" "FAIL scripts/empty_test.lua"
  expect_contains "$(cat out)" "no test(name, fn) in this file"
  expect_contains "$(cat out)" "scripts/kit_test.lua:2: no job named 'nope'"
  expect_contains "$(cat out)" "scripts/kit_test.lua:5: t:advance: expected a duration"
  expect_contains "$(cat out)" "scripts/kit_test.lua:8: t:fail: unknown error kind 'gremlins'"
  expect_contains "$(cat out)" "scripts/kit_test.lua:11: serve(http://x/): status must be"
  expect_contains "$(cat out)" "scripts/twice_test.lua:2: test 'twice' is defined twice"
}

t_a_broken_job_script_fails_each_test_with_its_line() {
  project
  printf 'job "a" { every = "1m",\n  run = function() end\n' >scripts/a.lua
  echo 'test("x", function(t) end)' >a_test.lua
  "$BATON" test >out 2>err
  expect_eq $? 1 "exit code"
  expect_contains "$(cat out)" "FAIL a_test.lua: x"
  expect_contains "$(cat out)" "scripts/a.lua:"
}

t_each_test_gets_a_fresh_engine() {
  project
  cat >scripts/count.lua <<'EOF'
job "count" { every = "10s", offset = "0s", run = function(ctx)
  return { n = ctx.store:incr("n"), dry = ctx.dry_run }
end }
EOF
  cat >a_test.lua <<'EOF'
for i = 1, 2 do
  test("round " .. i, function(t)
    t:expect(t:now() == 1704067200, "clock at the start, got %s", tostring(t:now()))
    t:expect(#t:runs("count") == 0, "no runs yet")
    t:advance("25s")
    local runs = t:runs("count")
    t:expect(#runs == 3, "3 runs, got %d", #runs)
    t:expect(runs[3].result.n == 3, "the store started empty: n = %s", tostring(runs[3].result.n))
    t:expect(runs[3].result.dry == true, "ctx.dry_run")
  end)
end
EOF
  "$BATON" test >out 2>err
  expect_eq $? 0 "exit code ($(cat out))"
  expect_eq "$(tail -1 out)" "2 passed, 0 failed"
}

t_the_fake_browser_maps_errors_as_real_runs_do() {
  project
  cat >scripts/site.lua <<'EOF'
job "visit" { browser = true, timeout = "1m", retry = { attempts = 1 }, run = function(ctx)
  local page = ctx:page()
  local r = page:navigate(ctx.args.url, { timeout = "10s" })
  return { status = r.status, title = page:title(), url = page:url(),
           text = page:text("h1"), shot = page:screenshot("s.png"),
           eval = page:eval("answer()"), eval2 = page:eval("answer()"),
           add = page:eval("(a, b) => a + b", 1, 2) }
end }
job "find" { browser = true, retry = { attempts = 1 }, run = function(ctx)
  local page = ctx:page()
  page:navigate("http://site/a")
  page:click("#gone")
end }
EOF
  cat >site_test.lua <<'EOF'
local function visit(t, url)
  t:run("visit", { url = url }); t:advance("1m")
  local runs = t:runs("visit")
  return runs[#runs]
end

test("a served page answers from its fixture", function(t)
  t.browser:serve("http://site/a", { title = "A", text = { h1 = "Hello" },
    eval = { ["(a, b) => a + b"] = 3, 1, 2 } })
  local r = visit(t, "http://site/a")
  t:expect(r.status == "ok", "%s %s", r.status, r.error or "")
  local v = r.result
  t:expect(v.status == 200 and v.title == "A" and v.url == "http://site/a", "page facts")
  t:expect(v.text == "Hello", "text %s", tostring(v.text))
  t:expect(v.eval == 1 and v.eval2 == 2, "answers in order: %s %s", v.eval, v.eval2)
  t:expect(v.add == 3, "eval with arguments by its JavaScript: %s", tostring(v.add))
  t:expect(v.shot > 0, "a screenshot is written")
end)

test("statuses and network errors become error kinds", function(t)
  t.browser:serve("http://site/*", { status = 500 })
  t.browser:serve("http://site/limited", { status = 429, headers = { ["Retry-After"] = "30" } })
  t.browser:serve("http://site/login", { status = 403 })
  t.browser:serve("http://site/down", { error = "net::ERR_CONNECTION_REFUSED" })
  t.browser:serve("http://site/slow", { delay = 60 })
  local kinds = {}
  for _, path in ipairs({ "x", "limited", "login", "down", "slow" }) do
    kinds[#kinds + 1] = visit(t, "http://site/" .. path).error_kind
  end
  t:expect(table.concat(kinds, " ") == "http rate_limited auth network timeout",
    "kinds: %s", table.concat(kinds, " "))
end)

test("injected failures hit the job's next browser call", function(t)
  t:fail("visit", "browser_crashed")
  local r = visit(t, "http://site/a")
  t:expect(r.error_kind == "browser_crashed", "kind %s", tostring(r.error_kind))
  t:expect(visit(t, "http://site/a").status == "ok", "only once")
end)

test("a missing element is not_found", function(t)
  t.browser:serve("http://site/a", { missing = { "#gone" } })
  t:run("find"); t:advance("1m")
  t:expect(t:runs("find")[1].error_kind == "not_found", "kind")
end)

test("every call is recorded", function(t)
  visit(t, "http://site/a")
  local calls = t.browser:calls("visit")
  t:expect(calls[1].method == "Page.navigate" and calls[1].params.url == "http://site/a",
    "first call %s", calls[1].method)
  local found
  for _, c in ipairs(calls) do
    if c.params.selector == "h1" and c.params.action == "text" then found = c end
  end
  t:expect(found and found.job == "visit" and found.at >= 1704067200, "the find of h1")
  t:expect(#t.browser:calls("find") == 0, "per job")
end)
EOF
  "$BATON" test >out 2>err
  expect_eq $? 0 "exit code ($(cat out))"
  expect_eq "$(tail -1 out)" "5 passed, 0 failed"
}

t_start_is_honoured_and_output_is_reproducible() {
  project
  cat >scripts/j.lua <<'EOF'
job "j" { every = "7m", jitter = "2m", browser = true, run = function(ctx)
  ctx:page():navigate("http://site/")
end }
EOF
  cat >j_test.lua <<'EOF'
test("times", function(t)
  print("now", t:now())
  t:advance("2h")
  for _, r in ipairs(t:runs("j")) do print(r.run_id, r.started_at, r.ended_at) end
end)
EOF
  "$BATON" test --start 2026-01-05T00:00:00Z >out1 2>&1
  expect_eq $? 0 "exit code ($(cat out1))"
  expect_contains "$(cat out1)" "| now	1767571200"
  "$BATON" test --start 2026-01-05T00:00:00Z >out2 2>&1
  expect_eq "$(cat out2)" "$(cat out1)" "a second run"
  expect_ge "$(grep -c '| [0-9]' out1)" 15 "runs printed"
}

t_an_endless_test_is_stopped_and_the_next_runs() {
  project
  echo 'job "a" { every = "1m", run = function() end }' >scripts/a.lua
  cat >a_test.lua <<'EOF'
test("spins", function(t) while true do end end)
test("after", function(t) t:advance("1h"); t:expect_runs("a", 61) end)
EOF
  "$BATON" test >out 2>err
  expect_eq $? 1 "exit code"
  expect_contains "$(cat out)" "FAIL a_test.lua: spins"
  expect_contains "$(cat out)" "CPU slice"
  expect_contains "$(cat out)" "ok   a_test.lua: after"
}

t_without_test_files_the_schedule_is_simulated() {
  project
  cat >scripts/a.lua <<'EOF'
job "tick" { every = "10m", offset = "0s", run = function() return 1 end }
job "buggy" { every = "30m", offset = "0s", run = function(ctx)
  local x = nil
  return x.field
end }
EOF
  "$BATON" test --for 1h >out 2>err
  expect_eq $? 1 "exit code"
  expect_contains "$(cat out)" "simulating 1h"
  expect_eq "$(awk '$1 == "tick" {print $2}' out)" 7 "tick ok runs in 1h (00:00 to 01:00)"
  expect_contains "$(cat out)" "ok   tick: no script errors in 7 run(s)"
  expect_contains "$(cat out)" "FAIL buggy"
  expect_contains "$(cat out)" "scripts/a.lua:4:"
  expect_contains "$(cat out)" "most in one second 2"
  expect_eq "$(tail -1 out)" "1 passed, 1 failed"
}

t_command_line_errors() {
  project
  echo 'job "a" { every = "1m", run = function() end }' >scripts/a.lua
  "$BATON" test --browser chrome >out 2>err; expect_eq $? 2 "--browser chrome"
  expect_contains "$(cat err)" "expected fake or real"
  "$BATON" test --for never >out 2>err; expect_eq $? 2 "--for never"
  "$BATON" test --start someday >out 2>err; expect_eq $? 2 "--start someday"
  "$BATON" test nowhere_test.lua >out 2>err; expect_eq $? 1 "a missing path"
  expect_contains "$(cat err)" "nowhere_test.lua: No such file or directory"
}

t_paths_pick_test_files_and_scripts() {
  project
  echo 'job "a" { every = "1m", run = function() end }' >scripts/a.lua
  mkdir other
  echo 'job "b" { every = "1m", run = function() end }' >other/b.lua
  echo 'test("b runs", function(t) t:advance("1m"); t:expect_runs("b", 2) end)' >other/b_test.lua
  echo 'test("a runs", function(t) t:advance("1m"); t:expect_runs("a", 2) end)' >a_test.lua
  "$BATON" test other >out 2>err
  expect_eq $? 0 "a directory: its scripts and tests ($(cat out))"
  expect_eq "$(tail -1 out)" "1 passed, 0 failed"
  "$BATON" test a_test.lua >out 2>err
  expect_eq $? 0 "a test file with the configured scripts ($(cat out))"
}

t_test_files_require_the_scripts_modules() {
  project
  mkdir scripts/lib
  echo 'return { answer = 42 }' >scripts/lib/shared.lua
  echo 'local s = require "shared"; job "a" { every = "1m", run = function() return s.answer end }' \
    >scripts/a.lua
  echo 'local s = require "shared"; test("x", function(t) t:expect(s.answer == 42, "answer") end)' \
    >beside_test.lua
  "$BATON" test >out 2>err
  expect_eq $? 0 "exit code ($(cat out))"
  expect_eq "$(tail -1 out)" "1 passed, 0 failed"
}

t_browser_real_answers_chromium_from_the_fixtures() {
  project
  mkdir tmp
  # one page: the second run waits for the first one's page to be cleaned and
  # must get it back (with two, a loaded machine may hand it the other)
  echo 'browser = { max_pages = 1, reserve = { critical = 0 } }' >>engine.conf
  cat >scripts/site.lua <<'EOF'
job "count" { every = "1m", offset = "0s", browser = true, timeout = "30s",
  retry = { attempts = 1 }, run = function(ctx)
  local page = ctx:page()
  page:navigate("http://site.test/list")
  return { n = page:eval("document.querySelectorAll('li').length"), title = page:title(),
           text = page:text("h1"), ctx = page:number() }
end }
EOF
  cat >site_test.lua <<'EOF'
test("the page is the fixture's html, in a real DOM", function(t)
  t.browser:serve("http://site.test/list",
    { html = "<title>L</title><h1>Items</h1><ul><li>a</li><li>b</li><li>c</li></ul>" })
  t:advance("1m")
  local runs = t:runs("count")
  t:expect(#runs == 2, "runs %d", #runs)
  for _, r in ipairs(runs) do
    t:expect(r.status == "ok", "%s %s", r.status, r.error or "")
    local v = r.result
    t:expect(v.n == 3 and v.title == "L" and v.text == "Items", "%s", baton.json.encode(v))
  end
  t:expect(runs[2].result.ctx == 1, "the pool reuses its page (got page %s)", tostring(runs[2].result.ctx))
end)
test("statuses and refused connections map as in real runs", function(t)
  t.browser:serve("http://site.test/list", { status = 429, headers = { ["Retry-After"] = "5" } })
  t:advance("0s")
  t.browser:serve("http://site.test/list", { error = "net::ERR_CONNECTION_REFUSED" })
  t:advance("1m")
  local runs = t:runs("count")
  t:expect(runs[1].error_kind == "rate_limited", "first %s", tostring(runs[1].error_kind))
  t:expect(runs[2].error_kind == "network" and runs[2].error:find("CONNECTION_REFUSED"),
    "second %s", tostring(runs[2].error))
end)
test("a URL no fixture serves is blocked, never fetched", function(t)
  t:advance("0s")
  local r = t:runs("count")[1]
  t:expect(r.error_kind == "network" and r.error:find("BLOCKED_BY_CLIENT"), "%s", tostring(r.error))
end)
test("injected failures and the record of calls work here too", function(t)
  t.browser:serve("http://site.test/list", { html = "<h1>x</h1>" })
  t:fail("count", "network", "injected")
  t:advance("1m")
  local runs = t:runs("count")
  t:expect(runs[1].error_kind == "network" and runs[1].error:find("injected"), "%s",
    tostring(runs[1].error))
  t:expect(runs[2].status == "ok", "the next run: %s", runs[2].status)
  local calls, found = t.browser:calls("count"), false
  t:expect(calls[1].method == "Page.navigate" and calls[1].run_id == runs[1].run_id, "first call")
  for _, c in ipairs(calls) do found = found or (c.params.selector == "h1" and c.params.action == "text") end
  t:expect(found, "the find of h1 is recorded")
end)
EOF
  TMPDIR=$PWD/tmp "$BATON" test --browser real >out 2>err
  expect_eq $? 0 "exit code ($(cat out err))"
  expect_contains "$(cat out)" "ok   site_test.lua: the page is the fixture's html, in a real DOM"
  expect_contains "$(cat out)" "ok   site_test.lua: statuses and refused connections"
  expect_contains "$(cat out)" "ok   site_test.lua: a URL no fixture serves is blocked"
  expect_contains "$(cat out)" "ok   site_test.lua: injected failures and the record of calls"
  expect_eq "$(tail -1 out)" "4 passed, 0 failed"
  expect_eq "$(ls tmp)" "" "profiles and temporary files removed"
}

t_the_fake_models_input_and_the_navigations_it_starts() {
  project
  mkdir -p files/post/docs
  echo hi >files/post/docs/a.txt
  cat >scripts/post.lua <<'EOF'
local S = "http://site.test"
job "post" { every = "1h", offset = "0s", browser = true, retry = { attempts = 1 },
  run = function(ctx)
    local page = ctx:page()
    local out = {}
    page:navigate(S .. "/compose")
    page:type("#text", "hello")
    local nav = page:click("#publish")
    out.status, out.url = nav.status, nav.url
    page:wait_for(".published")
    out.sent = page:text(".published")
    page:navigate(S .. "/redirect")
    page:wait_for(".landed")          -- found in the document the redirect loads
    out.landed = page:url()
    page:navigate(S .. "/search")
    page:type("#q", "baton")
    out.enter = page:press("Enter").url
    page:navigate(S .. "/controls")
    out.selected = page:select("#color", "g")[1]
    out.checked = page:check("#agree")
    out.files = page:upload("#file", "docs/a.txt")
    page:hover("#h")
    out.nonav = page:click("#h") == nil
    local ok, err = pcall(page.click, page, "#buy", { timeout = "1s" })
    out.covered = not ok and err.kind .. "|" .. tostring(err.covered) or "no error"
    ok, err = pcall(function() page:upload("#file", "../../engine.conf") end)
    out.refused = not ok and tostring(err) or "no error"
    for _, sel in ipairs({ "#forbidden", "#limited" }) do
      page:navigate(S .. "/controls")
      ok, err = pcall(page.click, page, sel)
      out[sel:sub(2)] = not ok and err.kind .. "|" .. tostring(err.status) .. "|" ..
        tostring(err.retry_after) or "no error"
    end
    return out
  end }
EOF
  cat >post_test.lua <<'EOF'
local S = "http://site.test"
test("clicks, Enter and redirects navigate between fixtures; input is recorded", function(t)
  t.browser:serve(S .. "/compose", { click = { ["#publish"] = "/posted" } })
  t.browser:serve(S .. "/posted", { title = "Posted", text = { [".published"] = "text=hello" } })
  t.browser:serve(S .. "/redirect", { missing = { ".landed" }, redirect = { url = "/landed", after = 0.3 } })
  t.browser:serve(S .. "/landed", {})
  t.browser:serve(S .. "/search", { submit = { ["#q"] = "/found?q=baton" } })
  t.browser:serve(S .. "/found?q=baton", {})
  t.browser:serve(S .. "/controls", { covered = { ["#buy"] = "div#modal" },
    click = { ["#forbidden"] = "/403", ["#limited"] = "/429" } })
  t.browser:serve(S .. "/403", { status = 403 })
  t.browser:serve(S .. "/429", { status = 429, headers = { ["Retry-After"] = "7" } })
  t:advance("1m")
  local r = t:runs("post")[1]
  t:expect(r.status == "ok", "%s %s", r.status, r.error or "")
  local v = r.result
  t:expect(v.status == 200 and v.url == S .. "/posted", "the click's navigation: %s %s",
    tostring(v.status), tostring(v.url))
  t:expect(v.sent == "text=hello", "the answer page: %s", tostring(v.sent))
  t:expect(v.landed == S .. "/landed", "wait_for across the redirect: %s", tostring(v.landed))
  t:expect(v.enter == S .. "/found?q=baton", "Enter: %s", tostring(v.enter))
  t:expect(v.selected == "g" and v.checked == true and v.files == 1, "controls")
  t:expect(v.nonav, "a click the fixture does not send anywhere")
  t:expect(v.covered == "not_found|div#modal", "covered: %s", v.covered)
  t:expect(v.refused:find("page:upload: '../../engine.conf' is not a file under files/post/", 1, true),
    "refused: %s", v.refused)
  t:expect(v.forbidden == "auth|403|nil", "403: %s", v.forbidden)
  t:expect(v.limited == "rate_limited|429|7", "429: %s", v.limited)
  local presses, navigates, keys, files = 0, {}, 0, nil
  for _, c in ipairs(t.browser:calls("post")) do
    if c.method == "Input.dispatchMouseEvent" and c.params.type == "mousePressed" then
      presses = presses + 1
    end
    if c.method == "Input.dispatchKeyEvent" and c.params.key == "Enter" then keys = keys + 1 end
    if c.method == "DOM.setFileInputFiles" then files = c.params.files end
    if c.params.navigates then navigates[#navigates + 1] = c.params.navigates end
  end
  t:expect(presses == 4, "real mouse presses: %d", presses)
  t:expect(keys == 2, "Enter down and up: %d", keys)
  t:expect(files and files[1]:find("/files/post/docs/a.txt$"), "the file's path")
  t:expect(table.concat(navigates, " ") ==
    S .. "/posted " .. S .. "/found?q=baton " .. S .. "/403 " .. S .. "/429",
    "the calls that navigated: %s", table.concat(navigates, " "))
end)
test("a fixture's click map is checked", function(t)
  local ok, err = pcall(t.browser.serve, t.browser, S .. "/x", { click = { ["#a"] = 3 } })
  t:expect(not ok and tostring(err):find("click must be a table of selector = string", 1, true),
    "%s", tostring(err))
end)
EOF
  "$BATON" test >out 2>err
  expect_eq $? 0 "exit code ($(cat out err))"
  expect_eq "$(tail -1 out)" "2 passed, 0 failed"
}

t_the_shipped_scripts_and_examples_pass_their_tests() {
  (cd "$ROOT" && "$BATON" test) >out 2>err
  expect_eq $? 0 "scripts/: $(cat out err)"
  expect_ge "$(grep -c '^ok ' out)" 4 "shipped tests"
  for conf in "$ROOT"/examples/*/engine.conf; do
    (cd "$(dirname "$conf")" && "$BATON" test) >out 2>err
    expect_eq $? 0 "$conf: $(cat out err)"
  done
}

# Issue 11: the fake browser saves no downloads; a job that asks for them
# hears so as a script error at its line, and nothing crashes.
t_a_job_with_downloads_hears_the_fake_browser_saves_none() {
  project
  cat >scripts/d.lua <<'EOF'
job "d" { browser = true, downloads = { max_bytes = "1MB" },
  run = function(ctx)
    local page = ctx:page()
    page:navigate("https://example.com/")
    local ok, e = pcall(function() local d = page:wait_download({ timeout = "1s" }); return d end)
    return { e = tostring(e) }
  end }
EOF
  cat >scripts/d_test.lua <<'EOF'
test("downloads in a dry run", function(t)
  t.browser:serve("https://example.com/", { html = "<p>hi</p>" })
  t:run("d")
  t:advance("1m")
  local r = t:runs("d")[1]
  t:expect(r.status == "ok", "status %s %s", tostring(r.status), tostring(r.error))
  t:expect(r.result.e:find("scripts/d.lua:5: page:wait_download: this browser saves no downloads",
    1, true), "got %s", r.result.e)
end)
EOF
  "$BATON" test >out 2>err
  expect_eq $? 0 "exit code ($(cat out err))"
  expect_eq "$(tail -1 out)" "1 passed, 0 failed"
}

run_tests
