#!/usr/bin/env bash
# test_input.sh — pages that behave as a person's, against real Chromium and
# the fixture site's /input/ pages: waits that outlive a form POST and a
# JavaScript redirect, clicks and Enter that wait for the navigation they
# start (403 and 429 mapped as navigate maps them), real mouse and key
# events (isTrusted), a modal that covers its button, select, check and
# upload (paths outside the job's folder in files/ refused).
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
EOF
}

teardown() {
  stop_site
  expect_eq "$(browsers_left)" 0 "browser processes left behind"
  pkill -9 -f "$PWD/tmp/baton-chrome" 2>/dev/null
  true
}

# Runs job "j" of scripts/j.lua once; R is its result (JSON).
run_j() {
  start_engine
  wait_for_log 'j run [0-9]+: (ok|failed)'
  stop_engine
  R=$(sql t.db "select coalesce(result, error_kind || '|' || error) from runs where job='j'")
}

t_waits_outlive_a_form_post_a_redirect_and_a_link() {
  setup
  cat >scripts/j.lua <<EOF
job "j" { cron = "$(soon)", browser = true, retry = { attempts = 1 }, timeout = "90s",
  run = function(ctx)
    local page = ctx:page()
    local out = {}
    -- the issue's own case: type, click a submit button, wait on the answer page
    page:navigate("$FX/input/compose")
    page:type("#text", "hello baton")
    local nav = page:click("#publish")
    out.post_status, out.post_url = nav.status, nav.url
    page:wait_for(".published")
    out.sent, out.method = page:text("#sent"), page:text("#method")
    -- a document replaced by a script during the wait
    page:navigate("$FX/input/redirect")
    page:wait_for(".landed")
    out.landed = page:url()
    -- wait_navigation: the redirect's page, by its URL
    page:navigate("$FX/input/redirect")
    out.waited = page:wait_navigation({ url = "/input/landed$" }).url
    -- a link, then one within the document
    page:navigate("$FX/input/link")
    nav = page:click("#next")
    out.link_status, out.link_title = nav.status, page:title()
    page:navigate("$FX/input/link")
    out.hash = page:click("#same").url
    -- a click that does not navigate answers nil
    page:navigate("$FX/input/trusted")
    out.nonav = page:click("#h") == nil
    -- the page's own navigation under an eval is network, not script
    local ok, err = pcall(page.eval, page,
      "setTimeout(() => { location.href = '/page/4' }, 50); new Promise(() => {})")
    out.eval_kind = not ok and err.kind or "no error"
    out.after_eval = page:wait_navigation().url
    return out
  end }
EOF
  run_j
  expect_eq "$(jq -r .post_status <<<"$R")" 200 "the click waited for the POST's answer ($R)"
  expect_eq "$(jq -r .post_url <<<"$R")" "$FX/input/posted"
  expect_eq "$(jq -r .sent <<<"$R")" "text=hello+baton" "what the form posted"
  expect_eq "$(jq -r .method <<<"$R")" "POST"
  expect_eq "$(jq -r .landed <<<"$R")" "$FX/input/landed" "wait_for across a JavaScript redirect"
  expect_eq "$(jq -r .waited <<<"$R")" "$FX/input/landed" "wait_navigation with url"
  expect_eq "$(jq -r .link_status <<<"$R")" 200
  expect_eq "$(jq -r .link_title <<<"$R")" "Page 2" "a link click"
  expect_eq "$(jq -r .hash <<<"$R")" "$FX/input/link#here" "a same-document navigation"
  expect_eq "$(jq -r .nonav <<<"$R")" true "a click that navigates nowhere"
  expect_eq "$(jq -r .eval_kind <<<"$R")" network "eval under the page's own navigation"
  expect_eq "$(jq -r .after_eval <<<"$R")" "$FX/page/4"
  teardown
}

t_clicks_and_keys_are_trusted_and_a_covered_element_is_not_found() {
  setup
  cat >scripts/j.lua <<EOF
job "j" { cron = "$(soon)", browser = true, retry = { attempts = 1 }, timeout = "90s",
  run = function(ctx)
    local page = ctx:page()
    local out = {}
    page:navigate("$FX/input/trusted")
    page:click("#t")
    out.click = page:text("#out")
    page:click("#t", { js = true })
    out.js = page:text("#out")
    page:hover("#h")
    out.hover = page:text("#hovered")
    page:press("a", { sel = "#k" })
    page:press("Shift+Tab")
    out.keys = page:text("#keys")
    -- Enter submits the form it is in, and the call waits for the answer
    page:navigate("$FX/input/search")
    page:type("#q", "baton")
    out.enter_status = page:press("Enter").status
    out.found = page:text("#sent")
    page:navigate("$FX/input/search")
    page:type("#q", "again", { enter = true })
    out.type_enter = page:text("#sent")
    -- a modal over the button
    page:navigate("$FX/input/modal")
    local ok, err = pcall(page.click, page, "#buy", { timeout = "1s" })
    out.modal_kind = not ok and err.kind or "no error"
    out.modal_msg = not ok and err.message or ""
    out.modal_covered = not ok and err.covered or ""
    out.bought = page:text("#out")
    local ok2, err2 = pcall(function() page:press("NoSuchKey") end)
    out.bad_key = not ok2 and tostring(err2) or "no error"
    return out
  end }
EOF
  run_j
  expect_eq "$(jq -r .click <<<"$R")" trusted "a click is a real mouse event ($R)"
  expect_eq "$(jq -r .js <<<"$R")" untrusted "{ js = true } is a JavaScript click"
  expect_eq "$(jq -r .hover <<<"$R")" yes "hover"
  expect_eq "$(jq -r .keys <<<"$R")" "a,Tab+shift," "key presses with modifiers"
  expect_eq "$(jq -r .enter_status <<<"$R")" 200 "press(Enter) waited for the form's answer"
  expect_eq "$(jq -r .found <<<"$R")" "q=baton"
  expect_eq "$(jq -r .type_enter <<<"$R")" "q=again" "type with enter = true"
  expect_eq "$(jq -r .modal_kind <<<"$R")" not_found "a covered button"
  expect_contains "$(jq -r .modal_msg <<<"$R")" "#buy is covered by div#modal.overlay"
  expect_eq "$(jq -r .modal_covered <<<"$R")" "div#modal.overlay"
  expect_eq "$(jq -r .bought <<<"$R")" none "the covered button was not clicked"
  expect_eq "$(jq -r .bad_key <<<"$R")" "scripts/j.lua:30: page:press: unknown key NoSuchKey"
  teardown
}

t_select_check_and_upload_only_from_the_jobs_folder() {
  setup
  mkdir -p files/j/docs files/other
  echo hello >files/j/a.txt
  echo two >files/j/docs/b.txt
  echo secret >files/other/s.txt
  echo outside >outside.txt
  ln -s "$PWD/outside.txt" files/j/link.txt
  cat >scripts/j.lua <<EOF
job "j" { cron = "$(soon)", browser = true, retry = { attempts = 1 }, timeout = "90s",
  run = function(ctx)
    local page = ctx:page()
    local out = {}
    page:navigate("$FX/input/controls")
    out.selected = page:select("#color", "g")[1]
    out.state = page:text("#state")
    out.by_label = page:select("#color", "Red")[1]
    out.checked = page:check("#agree")
    out.checked_dom = page:eval("document.getElementById('agree').checked")
    out.unchecked = page:check("#agree", false)
    out.unchecked_dom = page:eval("document.getElementById('agree').checked")
    out.files = page:upload("#file", "a.txt", "docs/b.txt")
    out.names = page:eval("Array.from(document.getElementById('file').files).map((f) => f.name).join(',')")
    out.contents = page:eval("Promise.all(Array.from(document.getElementById('file').files).map((f) => f.text())).then((t) => t.join('|'))")
    out.refused = {}
    for _, p in ipairs({ "../other/s.txt", "$PWD/outside.txt", "link.txt", "nope.txt" }) do
      local ok, err = pcall(function() page:upload("#file", p) end)
      out.refused[#out.refused + 1] = ok and "no error" or tostring(err)
    end
    local ok, err = pcall(page.select, page, "#color", "blue", { timeout = "500ms" })
    out.no_option = not ok and err.kind .. "|" .. err.message or "no error"
    ctx.store:set("out", out)
    page:upload("#file", "link.txt") -- uncaught: the run fails with kind script
  end }
EOF
  run_j
  expect_contains "$R" "script|scripts/j.lua:24: page:upload: 'link.txt' is not a file under files/j/"
  R=$(sql t.db "select value from kv where key='out'")
  expect_eq "$(jq -r .selected <<<"$R")" g "select by value ($R)"
  expect_eq "$(jq -r .state <<<"$R")" "color=g" "select fired change"
  expect_eq "$(jq -r .by_label <<<"$R")" r "select by label"
  expect_eq "$(jq -r .checked <<<"$R")|$(jq -r .checked_dom <<<"$R")" "true|true" "check"
  expect_eq "$(jq -r .unchecked <<<"$R")|$(jq -r .unchecked_dom <<<"$R")" "false|false" "uncheck"
  expect_eq "$(jq -r .files <<<"$R")" 2 "upload"
  expect_eq "$(jq -r .names <<<"$R")" "a.txt,b.txt" "the input holds the files"
  # the browser reads them (run as browser.user, it reads copies the engine made)
  expect_eq "$(jq -r .contents <<<"$R")" $'hello\n|two' "the browser reads the files"
  local i
  for i in 0 1 2 3; do
    expect_match "$(jq -r ".refused[$i]" <<<"$R")" "^scripts/j.lua:18: page:upload: '" \
      "refused path $i"
  done
  expect_contains "$(jq -r '.refused[0]' <<<"$R")" "'../other/s.txt' is not a file under files/j/"
  expect_contains "$(jq -r '.refused[1]' <<<"$R")" "outside.txt' is not a file under files/j/"
  expect_contains "$(jq -r '.refused[2]' <<<"$R")" "'link.txt' is not a file under files/j/"
  expect_contains "$(jq -r '.refused[3]' <<<"$R")" "'nope.txt': No such file"
  expect_contains "$(jq -r .no_option <<<"$R")" "not_found|page:select: #color has no option blue"
  teardown
}

t_a_click_whose_navigation_answers_403_or_429_fails_like_navigate() {
  setup
  cat >scripts/j.lua <<EOF
job "j" { cron = "$(soon)", browser = true, retry = { attempts = 1 }, timeout = "90s",
  run = function(ctx)
    local page = ctx:page()
    local out = {}
    for i, sel in ipairs({ "#forbidden", "#limited", "#post429" }) do
      page:navigate("$FX/input/denied")
      local ok, err = pcall(page.click, page, sel)
      out["c" .. i] = ok and "no error" or
        (err.kind .. "|" .. tostring(err.status) .. "|" .. tostring(err.retry_after))
    end
    page:navigate("$FX/input/denied")
    out.any = page:click("#forbidden", { status = "any" }).status
    page:navigate("$FX/input/denied")
    out.nowait = page:click("#forbidden", { navigation = false }) == nil
    local ok, err = pcall(page.wait_navigation, page)
    out.waited = not ok and err.kind .. "|" .. tostring(err.status) or "no error"
    return out
  end }
EOF
  run_j
  expect_eq "$(jq -r '.c1' <<<"$R")" "auth|403|nil" "a link answering 403 ($R)"
  expect_eq "$(jq -r '.c2' <<<"$R")" "rate_limited|429|7" "a link answering 429"
  expect_eq "$(jq -r '.c3' <<<"$R")" "rate_limited|429|7" "a form POST answering 429"
  expect_eq "$(jq -r .any <<<"$R")" 403 "status = any answers the status"
  expect_eq "$(jq -r .nowait <<<"$R")" true "navigation = false returns at once"
  expect_eq "$(jq -r .waited <<<"$R")" "auth|403" "wait_navigation catches the click's navigation"
  teardown
}

run_tests
