-- analytics.lua — research and numbers: trends, hashtags, competitors,
-- content ideas, and the hourly reports. Low priority: they wait their turn.
local site = require "site"

local function scrape(path, selector)
  return function(ctx)
    local page = site.open(ctx, path)
    local n = site.count(page, selector)
    ctx.store:set("analytics." .. ctx.job, { count = n, at = baton.now() })
    return { count = n }
  end
end

job "trending"         { every = "20m", offset = "auto", priority = "medium", browser = true,
                         run = scrape("/trending", ".topic") }
job "hashtags"         { every = "30m", offset = "auto", priority = "low", browser = true,
                         run = scrape("/tags", ".tag") }
job "competitor_watch" { every = "30m", offset = "auto", priority = "low", browser = true,
                         run = scrape("/competitors", ".post") }
-- The ideas page's texts feed the posting queue (posting.lua's schedule_sync).
job "content_ideas" {
  every = "30m", offset = "auto", priority = "low", browser = true,
  run = function(ctx)
    local page = site.open(ctx, "/ideas")
    local found = page:eval(site.IDEAS) or {}
    local ideas = ctx.store:get("content.ideas") or {}
    for _, text in ipairs(found) do
      if #ideas < 20 then ideas[#ideas + 1] = text end
    end
    ctx.store:set("content.ideas", ideas)
    return { count = #found }
  end,
}
job "follower_stats"   { every = "60m", offset = "auto", priority = "low", browser = true,
                         run = scrape("/followers", ".follower") }

job "analytics_hourly" {
  every = "60m", offset = "auto", priority = "low",
  requires = { trending = "1h" },
  run = function(ctx)
    local report = {}
    for _, name in ipairs({ "trending", "hashtags", "competitor_watch", "follower_stats" }) do
      local v = ctx.store:get("analytics." .. name)
      report[name] = v and v.count or 0
    end
    ctx.store:set("analytics.report", report)
    return report
  end,
}
