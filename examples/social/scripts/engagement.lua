-- engagement.lua — reading and answering: mentions, messages, the feed.
local site = require "site"

job "mentions" {
  every = "5m", offset = "auto", priority = "high", browser = true, breaker = "site",
  run = function(ctx)
    local page = site.open(ctx, "/notifications")
    local n = site.count(page, ".mention")
    ctx.log:info("found %d mention(s)", n)
    ctx.store:set("mentions.unread", n)
    return { found = n }
  end,
  fallback = function(ctx) return { found = ctx.store:get("mentions.unread") or 0, stale = true } end,
}

job "dm_inbox" {
  every = "10m", offset = "auto", priority = "high", browser = { session = "main" },
  breaker = "site",
  run = function(ctx)
    local page = site.open(ctx, "/messages")
    return { unread = site.count(page, ".unread") }
  end,
}

job "discover" {
  every = "15m", offset = "auto", priority = "medium", browser = true, breaker = "site",
  run = function(ctx)
    local page = site.open(ctx, "/feed")
    local n = site.count(page, ".post")
    ctx.log:info("found %d opportunities", n)
    ctx.store:set("opportunities", n)
    return { found = n }
  end,
  fallback = function(ctx) return { found = ctx.store:get("opportunities") or 0, stale = true } end,
}

job "reply" {
  every = "10m", offset = "auto", priority = "high", browser = true, breaker = "site",
  requires = { discover = "30m" },
  run = function(ctx)
    local n = ctx.store:get("opportunities") or 0
    local page = site.open(ctx, "/feed")
    local replied = 0
    for i = 1, math.min(n, 3) do
      page:click((".post:nth-child(%d) .reply"):format(i))
      page:type("textarea", "Thanks for sharing!")
      page:click("#send")
      replied = replied + 1
    end
    return { replied = replied }
  end,
}

job "like_feed" {
  every = "10m", offset = "auto", priority = "low", browser = true, breaker = "site",
  run = function(ctx)
    local page = site.open(ctx, "/feed")
    return { liked = page:eval("document.querySelectorAll('.post .like').length") }
  end,
}

job "follow_back" {
  every = "15m", offset = "auto", priority = "low", browser = true, breaker = "site",
  run = function(ctx)
    local page = site.open(ctx, "/followers")
    return { new = site.count(page, ".follow-back") }
  end,
}

job "health_probe" {
  every = "15m", offset = "auto", priority = "critical", timeout = "30s",
  run = function(ctx)
    local page = site.open(ctx, "/")
    return { title = page:title() }
  end,
}
