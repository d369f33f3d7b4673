-- feed.lua — a discover/reply pair: `discover` looks for work and keeps what it
-- found in the store; `reply` runs after each successful discover, and only if
-- discover succeeded recently. Offline stand-in for a real site (the browser
-- pool drives a real page here once it lands).
local summary = require "summary"

local TOPICS = { "lua", "libuv", "sqlite", "chromium", "cron", "backoff", "sandbox" }

job "discover" {
  every    = "30s",
  offset   = "auto",
  priority = "high",
  timeout  = "20s",
  retry    = { attempts = 2, base = "1s" },
  run = function(ctx)
    ctx:sleep("300ms")                      -- stands in for a page load: yields to the loop
    local items = {}
    for i = 1, math.random(0, 4) do
      items[i] = { title = TOPICS[math.random(#TOPICS)], at = baton.now() }
    end
    ctx.store:set("feed.items", items)
    ctx.log:info("found %s", summary.list(items))
    return { found = #items }
  end,
  fallback = function(ctx, err)
    local items = ctx.store:get("feed.items") or {}
    ctx.log:warn("discover failed (%s); keeping the %d item(s) found before", err.kind, #items)
    return { found = #items, stale = true }
  end,
}

job "reply" {
  after    = "discover",
  requires = { discover = "2m" },
  priority = "medium",
  timeout  = "10s",
  run = function(ctx)
    local items = ctx.store:get("feed.items") or {}
    local replied = 0
    for _, item in ipairs(items) do
      ctx:sleep(0.05)                       -- one reply per item
      replied = replied + 1
      ctx.store:incr("feed.replies." .. item.title)
    end
    ctx.log:info("replied to %d of %d opportunities", replied, #items)
    return { replied = replied }
  end,
}
