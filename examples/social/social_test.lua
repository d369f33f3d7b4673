-- social_test.lua — dry-run tests of the example (`baton test` in this
-- directory): a fake site served from fixtures, hours of schedule in
-- milliseconds, and what the engine does when the site misbehaves.
local SITE = require("site").BASE   -- test files require from scripts/lib/ too

local function count(selector)
  return "document.querySelectorAll(" .. baton.json.encode(selector) .. ").length"
end

-- Every page of the site, with every count the jobs read.
local function healthy(t)
  local eval = { ["document.querySelectorAll('.post .like').length"] = 5 }
  for selector, n in pairs({ [".mention"] = 2, [".unread"] = 1, [".post"] = 4,
      [".follow-back"] = 3, [".topic"] = 7, [".tag"] = 9, [".idea"] = 2,
      [".follower"] = 120, [".logged-in"] = 1 }) do
    eval[count(selector)] = n
  end
  eval[require("site").IDEAS] = { "Ship notes", "A thread on retries" }
  t.browser:serve(SITE .. "/*", { title = "Demo site", eval = eval })
  -- The compose form POSTs; its answer is the page that shows the post.
  t.browser:serve(SITE .. "/compose", { eval = eval, missing = { ".published" },
    click = { ["#publish"] = SITE .. "/posted" } })
end

local JOBS = { "trending", "hashtags", "competitor_watch", "content_ideas", "follower_stats",
  "analytics_hourly", "mentions", "dm_inbox", "discover", "reply", "like_feed", "follow_back",
  "health_probe", "post_queue", "token_refresh", "schedule_sync" }

test("a day on a healthy site: every job runs and none fails", function(t)
  healthy(t)
  t:advance("24h")
  for _, job in ipairs(JOBS) do
    local runs = t:runs(job)
    t:expect(#runs > 0, "%s never ran", job)
    for _, r in ipairs(runs) do
      t:expect(r.status == "ok", "%s run %d: %s %s", job, r.run_id, r.status, r.error or "")
    end
  end
end)

test("a site that is down opens the breaker: jobs stop knocking", function(t)
  t.browser:serve(SITE .. "/*", { error = "net::ERR_CONNECTION_REFUSED" })
  t:advance("2h")
  local navigations = {}
  for _, call in ipairs(t.browser:calls()) do
    if call.method == "Page.navigate" then
      navigations[call.job] = (navigations[call.job] or 0) + 1
    end
  end
  -- Jobs behind breaker "site": attempts refused while it is open never
  -- reach the browser.
  for _, job in ipairs({ "mentions", "dm_inbox", "discover", "follow_back" }) do
    local attempts, refused = t:runs(job), 0
    for _, r in ipairs(attempts) do
      if r.error_kind == "breaker_open" then refused = refused + 1 end
    end
    t:expect(refused > 0, "%s: no attempt was refused by the open breaker", job)
    t:expect(navigations[job] == #attempts - refused, "%s: %d navigations for %d attempts",
      job, navigations[job] or 0, #attempts - refused)
  end
end)

test("an expired session fails token_refresh with auth, not retried", function(t)
  healthy(t)
  t.browser:serve(SITE .. "/account", { eval = { [count(".logged-in")] = 0 } })
  t:advance("61m")
  local runs = t:runs("token_refresh")
  t:expect(#runs == 1, "one attempt, got %d", #runs)
  t:expect(runs[1].error_kind == "auth", "error kind %s", tostring(runs[1].error_kind))
end)

test("429 with Retry-After: the retry waits as long as the site asks", function(t)
  healthy(t)
  t.browser:serve(SITE .. "/feed", { status = 429, headers = { ["Retry-After"] = "90" } })
  t:advance("20m")
  local runs = t:runs("discover")
  t:expect(#runs >= 2, "discover should retry, made %d attempt(s)", #runs)
  t:expect(runs[1].error_kind == "rate_limited", "first attempt: %s", tostring(runs[1].error_kind))
  local waited = runs[2].started_at - runs[1].ended_at
  t:expect(waited >= 90, "the retry came after %.1fs", waited)
end)

test("posting: the compose form's answer is a new page, and the wait finds the post there",
  function(t)
  healthy(t)
  t:advance("3h")
  local posted = 0
  for _, r in ipairs(t:runs("post_queue")) do
    t:expect(r.status == "ok", "post_queue run %d: %s %s", r.run_id, r.status, r.error or "")
    posted = posted + (r.result and r.result.posted or 0)
  end
  t:expect(posted >= 2, "post_queue posted %d ideas", posted)
  local clicks, landed = 0, 0
  for _, call in ipairs(t.browser:calls("post_queue")) do
    if call.params.action == "click" and call.params.selector == "#publish" then
      clicks = clicks + 1
    end
    -- the mouse event that the fixture says navigates carries where it went
    if call.method == "Input.dispatchMouseEvent" and call.params.navigates == SITE .. "/posted" then
      landed = landed + 1
    end
  end
  t:expect(clicks == posted and landed == posted, "%d clicks on #publish, %d navigated, %d posts",
    clicks, landed, posted)
end)

test("posting: a refused post (403) fails post_queue with auth, never counted as posted", function(t)
  healthy(t)
  t.browser:serve(SITE .. "/posted", { status = 403 })
  t:advance("3h")
  local runs = t:runs("post_queue")
  local refused = 0
  for _, r in ipairs(runs) do
    if r.error_kind == "auth" then refused = refused + 1 end
    t:expect(not (r.result and r.result.posted == 1), "run %d posted past a 403", r.run_id)
  end
  t:expect(refused > 0, "no post_queue run failed with auth (%d runs)", #runs)
end)
