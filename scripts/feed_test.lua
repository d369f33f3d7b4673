-- feed_test.lua — dry-run tests of the shipped jobs: `baton test` runs them
-- on a virtual clock from 2024-01-01T00:00:00Z, with a fake browser that
-- answers from the fixtures served here. Each test starts on a fresh engine.
local FEED = "http://127.0.0.1:8080/demo/feed"
local TOPICS = "[...document.querySelectorAll('.post')].map(p => p.dataset.topic)"
local REPLIED = "document.querySelectorAll('.post.replied').length"

local function feed(topics, replied)
  return { title = "Demo feed", eval = { [TOPICS] = topics, [REPLIED] = replied } }
end

test("discover keeps what the feed shows", function(t)
  t.browser:serve(FEED, feed({ "lua", "c", "cdp" }, 0))
  t:advance("31s")
  t:expect_runs("discover", 1, "ok")
  t:expect(t:runs("discover")[1].result.found == 3, "discover should find 3 posts")
end)

test("reply runs after each discover and clicks every post", function(t)
  t.browser:serve(FEED, feed({ "lua", "c" }, 2))
  t:advance("31s")
  t:expect_runs("reply", 1, "ok")
  local clicks = 0
  for _, call in ipairs(t.browser:calls("reply")) do
    if call.params.action == "click" then clicks = clicks + 1 end
  end
  t:expect(clicks == 2, "reply should click 2 posts, clicked %d", clicks)
end)

test("a site that is down makes discover fall back to what it had", function(t)
  t.browser:serve(FEED, feed({ "lua" }, 0))
  t:advance("31s")                         -- one good discover: 1 item kept
  t.browser:serve(FEED, { error = "net::ERR_CONNECTION_REFUSED" })
  t:advance("30s")
  local runs = t:runs("discover")
  local last = runs[#runs]
  t:expect(last.status == "fallback", "the last discover should fall back, got %s", last.status)
  t:expect(last.result.found == 1 and last.result.stale, "the fallback keeps the 1 old item")
  t:expect_runs("reply", 1)               -- reply only follows a discover that succeeded
end)

test("report runs at second 0 of every minute", function(t)
  t:advance("10m")
  t:expect_runs("report", 11)              -- 00:00:00 through 00:10:00
end)
