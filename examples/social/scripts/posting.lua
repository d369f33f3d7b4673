-- posting.lua — publishing: the queue of scheduled posts and the token that
-- keeps the session alive. Critical: these take the reserved browser context.
local site = require "site"

job "post_queue" {
  every = "5m", offset = "auto", priority = "critical", browser = true,
  breaker = "site", timeout = "90s",
  run = function(ctx)
    local queue = ctx.store:get("posts.queue") or {}
    if #queue == 0 then return { posted = 0 } end
    local page = site.open(ctx, "/compose")
    page:type("#text", queue[1])
    -- The form POSTs and the answer is a new page: the click is a real mouse
    -- click, returns once that page has loaded, and fails like a navigation
    -- (auth, rate_limited, http) when the site refuses the post.
    page:click("#publish")
    page:wait_for(".published")
    table.remove(queue, 1)
    ctx.store:set("posts.queue", queue)
    return { posted = 1, left = #queue }
  end,
}

job "token_refresh" {
  every = "60m", offset = "auto", priority = "critical", browser = { session = "main" },
  run = function(ctx)
    local page = site.open(ctx, "/account")
    local ok = site.count(page, ".logged-in") > 0
    if not ok then baton.error("auth", "session expired: log in again") end
    return { ok = true }
  end,
}

job "schedule_sync" {
  every = "20m", offset = "auto", priority = "medium",
  run = function(ctx)
    local ideas = ctx.store:get("content.ideas") or {}
    local queue = ctx.store:get("posts.queue") or {}
    while #queue < 3 and #ideas > 0 do queue[#queue + 1] = table.remove(ideas, 1) end
    ctx.store:set("posts.queue", queue)
    ctx.store:set("content.ideas", ideas)
    return { queued = #queue }
  end,
}
