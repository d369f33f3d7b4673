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

# ---- t.http: baton.http in baton test ----

# A job that makes the request of its args and answers what came back, or
# the error's fields (pcall: the job itself never fails on an HTTP error).
HTTP_JOBS='job "call" { retry = { attempts = 1 }, timeout = "1h", run = function(ctx)
  local o = {}
  for k, v in pairs(ctx.args.opts or {}) do o[k] = v end
  o.url = ctx.args.url
  local ok, r = pcall(baton.http.request, o)
  if ok then
    return { status = r.status, body = r.body, headers = r.headers, url = r.url, ms = r.ms,
             at = baton.now() }
  end
  return { kind = r.kind, message = r.message, status = r.status, retry_after = r.retry_after,
           body = r.body, at = baton.now() }
end }
job "short" { retry = { attempts = 1 }, run = function(ctx)
  local u = "https://api.example.com/items"
  return { baton.http.get(u).body, baton.http.post(u, { json = { a = 1 } }).body,
           baton.http.put(u, { body = "p" }).body, baton.http.patch(u, { form = { b = 2 } }).body,
           baton.http.delete(u).body }
end }'

HTTP_HELPERS='local function call(t, url, opts)
  t:run("call", { url = url, opts = opts }); t:advance("2h")
  local runs = t:runs("call")
  local r = runs[#runs]
  t:expect(r.status == "ok", "the job failed: %s", tostring(r.error))
  return r.result
end'

t_t_http_serve_answers_baton_http_with_each_option() {
  project
  echo "$HTTP_JOBS" >scripts/api.lua
  {
    echo "$HTTP_HELPERS"
    cat <<'EOF'
test("status, headers, body and json", function(t)
  t.http:serve("https://api.example.com/text", { status = 201, headers = { ["X-Id"] = "7" },
    body = "made" })
  t.http:serve("https://api.example.com/json", { json = { id = 7, tags = { "a" } } })
  t.http:serve("https://api.example.com/typed", { json = 1, headers = { ["content-type"] = "text/x" } })
  t.http:serve("https://api.example.com/empty")
  local r = call(t, "https://api.example.com/text")
  t:expect(r.status == 201 and r.body == "made" and r.headers["x-id"] == "7",
    "text: %s", baton.json.encode(r))
  r = call(t, "https://api.example.com/json")
  t:expect(r.status == 200 and r.headers["content-type"] == "application/json", "json type")
  local v = baton.json.decode(r.body)
  t:expect(v.id == 7 and v.tags[1] == "a", "json body %s", r.body)
  t:expect(call(t, "https://api.example.com/typed").headers["content-type"] == "text/x",
    "a content-type given wins")
  r = call(t, "https://api.example.com/empty")
  t:expect(r.status == 200 and r.body == "", "defaults: %s", baton.json.encode(r))
  r = call(t, "https://api.example.com/text", { method = "HEAD" })
  t:expect(r.status == 201 and r.body == "", "HEAD has no body: %s", baton.json.encode(r))
end)

test("every shorthand is answered, method filters pick the fixture", function(t)
  t.http:serve("https://api.example.com/items", { body = "any" })
  t.http:serve("https://api.example.com/items", { method = "post", body = "posted" })
  t.http:serve("https://api.example.com/items", { method = "DELETE", body = "deleted" })
  t:run("short"); t:advance("1m")
  local r = t:runs("short")[1]
  t:expect(r.status == "ok", "short: %s", tostring(r.error))
  t:expect(table.concat(r.result, " ") == "any posted any any deleted", "bodies: %s",
    table.concat(r.result, " "))
end)

test("statuses map to error kinds as with a real server", function(t)
  t.http:serve("https://api.example.com/*", { status = 503, body = "down" })
  t.http:serve("https://api.example.com/login", { status = 401 })
  t.http:serve("https://api.example.com/admin", { status = 403 })
  t.http:serve("https://api.example.com/busy", { status = 429, headers = { ["Retry-After"] = "90" } })
  t.http:serve("https://api.example.com/gone", { status = 404 })
  local kinds = {}
  for _, p in ipairs({ "x", "login", "admin", "busy", "gone" }) do
    local r = call(t, "https://api.example.com/" .. p)
    kinds[#kinds + 1] = r.kind .. "/" .. tostring(r.status)
  end
  t:expect(table.concat(kinds, " ") == "http/503 auth/401 auth/403 rate_limited/429 http/404",
    "kinds: %s", table.concat(kinds, " "))
  local r = call(t, "https://api.example.com/busy")
  t:expect(r.retry_after == 90, "retry_after %s", tostring(r.retry_after))
  r = call(t, "https://api.example.com/x")
  t:expect(r.body == "down" and r.message:find("GET https://api.example.com/x answered HTTP 503", 1, true),
    "%s", tostring(r.message))
  r = call(t, "https://api.example.com/x", { raise = false })
  t:expect(r.status == 503 and r.body == "down" and r.kind == nil, "raise = false answers")
end)

test("error = network, timeout, limit; max_bytes holds for a fixture body", function(t)
  t.http:serve("https://api.example.com/net", { error = "network" })
  t.http:serve("https://api.example.com/slow", { error = "timeout" })
  t.http:serve("https://api.example.com/big", { error = "limit" })
  t.http:serve("https://api.example.com/kb", { body = string.rep("x", 2048) })
  local r = call(t, "https://api.example.com/net", { raise = false })
  t:expect(r.kind == "network" and r.message:find("GET https://api.example.com/net", 1, true),
    "network even with raise = false: %s", tostring(r.message))
  local before = t:now()
  r = call(t, "https://api.example.com/slow", { timeout = "20s" })
  t:expect(r.kind == "timeout" and r.at - before >= 20 and r.at - before < 21,
    "timeout after the request's 20s: %s at +%s", tostring(r.kind), tostring(r.at - before))
  t:expect(call(t, "https://api.example.com/big").kind == "limit", "limit")
  r = call(t, "https://api.example.com/kb", { max_bytes = 1024 })
  t:expect(r.kind == "limit" and r.message:find("max_bytes", 1, true), "over max_bytes: %s",
    tostring(r.message))
  r = call(t, "https://api.example.com/kb", { max_bytes = "2KB" })
  t:expect(r.status == 200 and #r.body == 2048, "at max_bytes: %s", tostring(r.kind))
end)

test("the most specific fixture answers; a later serve replaces", function(t)
  t.http:serve("*", { body = "all" })
  t.http:serve("https://api.example.com/*", { body = "site" })
  t.http:serve("https://api.example.com/v1/*", { body = "v1" })
  t.http:serve("https://api.example.com/v1/me", { body = "me" })
  t.http:serve("https://api.example.com/v1/*", { method = "GET", body = "v1 get" })
  local function body(url) return call(t, url).body end
  t:expect(body("https://other.example.com/") == "all", "* matches every URL")
  t:expect(body("https://api.example.com/v2") == "site", "the site prefix")
  t:expect(body("https://api.example.com/v1/me") == "me", "exact beats prefixes")
  t:expect(body("https://api.example.com/v1/you") == "v1 get", "a method beats any method")
  t:expect(body("https://api.example.com/v1/me?x=1") == "v1 get", "exact means exact")
  t.http:serve("https://api.example.com/v1/me", { body = "me again" })
  t:expect(body("https://api.example.com/v1/me") == "me again", "replaced")
end)
EOF
  } >api_test.lua
  "$BATON" test >out 2>err
  expect_eq $? 0 "exit code ($(cat out err))"
  expect_eq "$(tail -1 out)" "5 passed, 0 failed"
}

t_t_http_calls_records_each_request_and_filters_by_job() {
  project
  echo "$HTTP_JOBS" >scripts/api.lua
  cat >api_test.lua <<'EOF'
test("calls", function(t)
  t.http:serve("https://api.example.com/*", { body = "ok", delay = "3s" })
  t:advance("10s")
  local t0 = t:now()
  t:run("call", { url = "https://api.example.com/post",
    opts = { method = "POST", json = { a = 1 }, headers = { Authorization = "Bearer k" } } })
  t:run("short")
  t:advance("1m")
  local all, mine = t.http:calls(), t.http:calls("call")
  t:expect(#all == 6 and #mine == 1 and #t.http:calls("short") == 5, "counts %d %d", #all, #mine)
  local c = mine[1]
  local run = t:runs("call")[1]
  t:expect(c.method == "POST" and c.url == "https://api.example.com/post", "%s %s", c.method, c.url)
  t:expect(c.headers.Authorization == "Bearer k" and c.headers["Content-Type"] == "application/json",
    "headers %s", baton.json.encode(c.headers))
  t:expect(c.body == '{"a":1}', "body %s", tostring(c.body))
  t:expect(c.at == t0 and c.job == "call" and c.run_id == run.run_id, "at %s job %s run %s",
    c.at, c.job, c.run_id)
  local shorts = t.http:calls("short")
  t:expect(shorts[2].at == t0 + 3 and shorts[5].method == "DELETE" and shorts[1].body == nil,
    "the next request after the 3s answer: %s", shorts[2].at - t0)
end)
test("a job that does not exist", function(t)
  t.http:calls("nope")
end)
EOF
  "$BATON" test >out 2>err
  expect_eq $? 1 "exit code ($(cat out err))"
  expect_contains "$(cat out)" "ok   api_test.lua: calls"
  expect_contains "$(cat out)" "api_test.lua:24: no job named 'nope'"
  expect_eq "$(tail -1 out)" "1 passed, 1 failed"
}

t_an_unanswered_request_fails_the_test_naming_it() {
  project
  cat >scripts/api.lua <<'EOF'
job "quiet" { retry = { attempts = 1 }, run = function(ctx)
  local ok, e = pcall(function() baton.http.get("https://api.example.com/x?q=1") end)
  return { ok = ok, message = tostring(e) } -- a script error: a Lua error with its file:line
end }
job "loud" { retry = { attempts = 1 }, run = function(ctx)
  baton.http.post("https://api.example.com/y", { body = "b" })
  baton.http.get("https://api.example.com/z")
end }
EOF
  cat >api_test.lua <<'EOF'
test("caught by the job", function(t)
  t:run("quiet"); t:advance("1m")
  local r = t:runs("quiet")[1]
  t:expect(r.status == "ok" and r.result.ok == false, "the job caught the error")
  t:expect(r.result.message:find("scripts/api.lua:2: baton.http: no t.http fixture for GET https://api.example.com/x?q=1", 1, true),
    "%s", r.result.message)
end)
test("failing the run", function(t)
  t:run("loud"); t:advance("1m")
  t:expect_runs("loud", 1, "failed")
  t:expect(t:runs("loud")[1].error_kind == "script", "kind")
  t:expect(#t.http:calls("loud") == 1, "the unanswered request is recorded")
end)
test("and an expectation fails too", function(t)
  t:run("loud"); t:run("quiet"); t:advance("1m")
  t:expect(false, "mine")
end)
test("served", function(t)
  t.http:serve("https://api.example.com/*", {})
  t:run("loud"); t:run("quiet"); t:advance("1m")
  t:expect_runs("loud", 1, "ok")
end)
EOF
  "$BATON" test >out 2>err
  expect_eq $? 1 "exit code ($(cat out err))"
  expect_contains "$(cat out)" "FAIL api_test.lua: caught by the job
     no t.http fixture for GET https://api.example.com/x?q=1"
  expect_contains "$(cat out)" "FAIL api_test.lua: failing the run
     no t.http fixture for POST https://api.example.com/y"
  expect_contains "$(cat out)" "FAIL api_test.lua: and an expectation fails too
     api_test.lua:16: mine
     no t.http fixture for POST https://api.example.com/y (and 1 more)"
  expect_contains "$(cat out)" "ok   api_test.lua: served"
  expect_eq "$(tail -1 out)" "1 passed, 3 failed"
  # without test files the simulation counts it as the script's bug
  rm api_test.lua
  echo 'job "tick" { every = "1h", offset = "0s", run = function() baton.http.get("https://a.example/") end }' \
    >scripts/api.lua
  "$BATON" test --for 1h >out 2>err
  expect_eq $? 1 "simulation exit code"
  expect_contains "$(cat out)" "no t.http fixture for GET https://a.example/"
}

t_bad_t_http_serve_input_is_an_error_at_the_test_line() {
  project
  echo 'job "a" { run = function() end }' >scripts/a.lua
  cat >bad_test.lua <<'EOF'
local cases = {
  { 42 },
  { "ftp://x/" },
  { "https://x/", "fast" },
  { "https://x/", { code = 200 } },
  { "https://x/", { status = 99 } },
  { "https://x/", { status = 600 } },
  { "https://x/", { status = 200.5 } },
  { "https://x/", { status = "200" } },
  { "https://x/", { body = {} } },
  { "https://x/", { body = "a", json = {} } },
  { "https://x/", { delay = "soon" } },
  { "https://x/", { delay = -1 } },
  { "https://x/", { error = "gremlins" } },
  { "https://x/", { headers = { X = 1 } } },
  { "https://x/", { headers = { ["a b"] = "1" } } },
  { "https://x/", { method = "FETCH" } },
  { "https://x/", { json = function() end } },
}
for i, c in ipairs(cases) do
  test("case " .. i, function(t)
    t.http:serve(c[1], c[2])
  end)
end
EOF
  "$BATON" test >out 2>err
  expect_eq $? 1 "exit code"
  expect_eq "$(tail -1 out)" "0 passed, 17 failed"
  local want=(
    "url: expected a string, got number"
    "url: expected an http:// or https:// URL or prefix"
    "expected a table of options, got string"
    "unknown option 'code'"
    "status: expected an integer from 100 to 599, got 99"
    "status: expected an integer from 100 to 599, got 600"
    "status: expected an integer from 100 to 599, got 200.5"
    "status: expected an integer from 100 to 599, got 200"
    "body: expected a string, got table"
    "give body or json, not both"
    "delay: expected a duration"
    "delay: expected a duration"
    "error: expected \"network\", \"timeout\" or \"limit\", got gremlins"
    "headers.X: expected a string, got number"
    "headers: a name must be a token string, got a b"
    "method: expected GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS, got FETCH"
    "json:"
  )
  local i
  for i in "${!want[@]}"; do
    expect_contains "$(grep -A1 "FAIL bad_test.lua: case $((i + 1))\$" out)" \
      "bad_test.lua:22: t.http:serve: ${want[$i]}" "case $((i + 1))"
  done
}

t_t_http_delay_runs_on_virtual_time() {
  project
  echo 'http_client = { timeout = "5s" }' >>engine.conf
  cat >scripts/api.lua <<'EOF'
job "wait" { retry = { attempts = 1 }, timeout = "2h", run = function(ctx)
  local r = baton.http.get("https://api.example.com/slow", { timeout = ctx.args.timeout })
  return { ms = r.ms, body = r.body }
end }
job "short_run" { retry = { attempts = 1 }, timeout = "30s", run = function(ctx)
  baton.http.get("https://api.example.com/slow", { timeout = "1h" })
end }
job "spin" { retry = { attempts = 1 }, timeout = "10s", run = function(ctx)
  while true do baton.http.get("https://api.example.com/now") end
end }
EOF
  cat >api_test.lua <<'EOF'
local function span(r) return r.ended_at - r.started_at end
test("an hour's delay passes in no time", function(t)
  t.http:serve("https://api.example.com/slow", { delay = "1h", body = "late" })
  t:run("wait", { timeout = "2h" })
  t:advance("59m")
  t:expect(#t.http:calls("wait") == 1, "asked")
  t:expect(#t:runs("wait") == 0 or t:runs("wait")[1].status == "running", "still waiting")
  t:advance("2m")
  local r = t:runs("wait")[1]
  t:expect(r.status == "ok" and r.result.body == "late", "%s %s", r.status, tostring(r.error))
  t:expect(math.abs(r.result.ms - 3600000) < 1 and math.abs(span(r) - 3600) < 1,
    "took %s ms", tostring(r.result.ms))
end)
test("the request's timeout shorter than the delay", function(t)
  t.http:serve("https://api.example.com/slow", { delay = "1m" })
  t:run("wait", { timeout = "10s" }); t:advance("2m")
  local r = t:runs("wait")[1]
  t:expect(r.error_kind == "timeout" and r.error:find("no answer within 10s", 1, true),
    "%s", tostring(r.error))
  t:expect(math.abs(span(r) - 10) < 1, "after 10s: %s", span(r))
end)
test("http_client.timeout is the default", function(t)
  t.http:serve("https://api.example.com/slow", { delay = "1m" })
  t:run("wait", {}); t:advance("2m")
  local r = t:runs("wait")[1]
  t:expect(r.error_kind == "timeout" and math.abs(span(r) - 5) < 1,
    "%s after %s", tostring(r.error), span(r))
end)
test("the run's timeout shorter than the delay", function(t)
  t.http:serve("https://api.example.com/slow", { delay = "10m" })
  t:run("short_run"); t:advance("20m")
  local r = t:runs("short_run")[1]
  t:expect(r.error_kind == "timeout" and math.abs(span(r) - 30) < 1,
    "%s after %s", tostring(r.error), span(r))
end)
test("a delay of 0 still moves the clock: a request loop meets its timeout", function(t)
  t.http:serve("https://api.example.com/now", { delay = 0 })
  t:run("spin"); t:advance("1m")
  local r = t:runs("spin")[1]
  t:expect(r.error_kind == "timeout" and math.abs(span(r) - 10) < 1, "%s", tostring(r.error))
  t:expect(#t.http:calls("spin") >= 1000, "calls %d", #t.http:calls("spin"))
end)
test("an error comes after its delay", function(t)
  t.http:serve("https://api.example.com/slow", { delay = "7s", error = "network" })
  t:run("wait", { timeout = "1m" }); t:advance("1m")
  local r = t:runs("wait")[1]
  t:expect(r.error_kind == "network" and math.abs(span(r) - 7) < 1,
    "%s after %s", tostring(r.error), span(r))
end)
EOF
  local t0=$SECONDS
  "$BATON" test >out 2>err
  expect_eq $? 0 "exit code ($(cat out err))"
  expect_eq "$(tail -1 out)" "6 passed, 0 failed"
  expect_le $((SECONDS - t0)) 20 "wall seconds for hours of virtual time"
}

# A real server on 127.0.0.1 that writes each request it receives to
# requests.log; sets NET_URL and NET_PID.
start_logging_server() {
  cat >server.py <<'EOF'
import http.server
class H(http.server.BaseHTTPRequestHandler):
    def answer(self):
        with open("requests.log", "a") as f:
            f.write(self.command + " " + self.path + "\n")
        self.send_response(200)
        self.send_header("Content-Length", "4")
        self.end_headers()
        self.wfile.write(b"real")
    do_GET = do_POST = answer
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
print("listening", s.server_address[1], flush=True)
s.serve_forever()
EOF
  : >requests.log
  python3 server.py >server.out 2>&1 &
  NET_PID=$!
  local waited=0
  until grep -q listening server.out 2>/dev/null; do
    sleep 0.05
    waited=$((waited + 1))
    [ $waited -lt 200 ] || { fail "the server did not start"; return 1; }
  done
  NET_URL="http://127.0.0.1:$(awk '{print $2}' server.out)"
}

stop_logging_server() {
  kill "$NET_PID" 2>/dev/null
  wait "$NET_PID" 2>/dev/null
  return 0
}

# Nothing of baton test reached the server, which was up all along: a
# request of ours reaches it.
expect_server_reached_by_us_only() {
  expect_eq "$(cat requests.log)" "" "requests the server received from baton test"
  python3 -c "import urllib.request, sys; urllib.request.urlopen(sys.argv[1] + '/ours').read()" \
    "$NET_URL"
  local waited=0
  until grep -q "GET /ours" requests.log; do
    sleep 0.05
    waited=$((waited + 1))
    [ $waited -lt 200 ] || { fail "our own request did not reach the server"; break; }
  done
  expect_eq "$(cat requests.log)" "GET /ours" "the one request it received"
}

NET_JOBS='job "net" { retry = { attempts = 1 }, timeout = "1m", run = function(ctx)
  local served = baton.http.get(ctx.args.url .. "/served").body
  local ok = pcall(baton.http.post, ctx.args.url .. "/unserved", { body = "x" })
  return { served = served, unserved = ok }
end }'

NET_TEST='test("answered by the fixture, never by the server", function(t)
  t.http:serve(NET_URL .. "/served", { body = "fixture" })
  t:run("net", { url = NET_URL }); t:advance("1m")
  local r = t:runs("net")[1]
  t:expect(r.status == "ok" and r.result.served == "fixture" and r.result.unserved == false,
    "%s %s", r.status, tostring(r.error))
end)'

t_the_network_is_never_touched() {
  project
  start_logging_server || return
  echo "$NET_JOBS" >scripts/net.lua
  { echo "local NET_URL = \"$NET_URL\""; echo "$NET_TEST"; } >net_test.lua
  "$BATON" test >out 2>err
  expect_eq $? 1 "exit code ($(cat out err))"
  expect_contains "$(cat out)" "FAIL net_test.lua: answered by the fixture, never by the server
     no t.http fixture for POST $NET_URL/unserved"
  expect_server_reached_by_us_only
  stop_logging_server
}

t_browser_real_keeps_baton_http_fake() {
  project
  mkdir tmp
  start_logging_server || return
  echo "$NET_JOBS" >scripts/net.lua
  cat >>scripts/net.lua <<'EOF'
job "both" { browser = true, retry = { attempts = 1 }, timeout = "1m", run = function(ctx)
  local page = ctx:page()
  page:navigate(ctx.args.url .. "/page")
  return { title = page:title(), api = baton.http.get(ctx.args.url .. "/api").body }
end }
EOF
  {
    echo "local NET_URL = \"$NET_URL\""
    echo "$NET_TEST"
    cat <<'EOF'
test("a real page and a fake API", function(t)
  t.browser:serve(NET_URL .. "/page", { html = "<title>P</title>" })
  t.http:serve(NET_URL .. "/api", { body = "api", delay = "2s" })
  t:run("both", { url = NET_URL }); t:advance("1m")
  local r = t:runs("both")[1]
  t:expect(r.status == "ok" and r.result.title == "P" and r.result.api == "api",
    "%s %s", r.status, tostring(r.error))
  local c = t.http:calls("both")[1]
  t:expect(c and c.url == NET_URL .. "/api", "recorded")
end)
EOF
  } >net_test.lua
  TMPDIR=$PWD/tmp "$BATON" test --browser real >out 2>err
  expect_eq $? 1 "exit code ($(cat out err))"
  expect_contains "$(cat out)" "FAIL net_test.lua: answered by the fixture, never by the server
     no t.http fixture for POST $NET_URL/unserved"
  expect_contains "$(cat out)" "ok   net_test.lua: a real page and a fake API"
  expect_eq "$(tail -1 out)" "1 passed, 1 failed"
  expect_server_reached_by_us_only
  stop_logging_server
}

run_tests
