-- feed.lua — a discover/reply pair driving a real page: `discover` opens the
-- demo feed the engine serves under /demo/ and keeps what it found in the
-- store; `reply` runs after each successful discover (and only if discover
-- succeeded recently) and clicks "reply" on each post.
local summary = require "summary"

local FEED = "http://127.0.0.1:8080/demo/feed"

job "discover" {
  every    = "30s",
  offset   = "auto",
  priority = "high",
  timeout  = "20s",
  browser  = true,
  retry    = { attempts = 2, base = "1s" },
  run = function(ctx)
    local page = ctx:page()
    page:navigate(FEED)
    local topics = page:eval("[...document.querySelectorAll('.post')].map(p => p.dataset.topic)")
    local items = {}
    for i, topic in ipairs(topics) do items[i] = { title = topic, at = baton.now() } end
    ctx.store:set("feed.items", items)
    ctx.log:info("found %s using pooled page #%d", summary.list(items), page:number())
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
  timeout  = "20s",
  browser  = true,
  run = function(ctx)
    local items = ctx.store:get("feed.items") or {}
    local page = ctx:page()
    page:navigate(FEED)
    local replied = 0
    for i = 1, #items do
      page:click((".post:nth-child(%d) .reply"):format(i), { timeout = "1s" })
      replied = replied + 1
      ctx.store:incr("feed.replies." .. items[i].title)
    end
    local shown = page:eval("document.querySelectorAll('.post.replied').length")
    ctx.log:info("replied to %d of %d opportunities (%d marked on the page)", replied, #items, shown)
    return { replied = replied }
  end,
}
