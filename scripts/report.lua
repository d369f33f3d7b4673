-- report.lua — a low-priority cron job summarising what the others did.
job "report" {
  cron     = "0 * * * * *",                 -- second 0 of every minute (6 fields)
  priority = "low",
  timeout  = "10s",
  run = function(ctx)
    local beats = ctx.store:get("heartbeat.count") or 0
    local items = ctx.store:get("feed.items") or {}
    ctx.log:info("%d heartbeat(s) so far; %d item(s) in the feed", beats, #items)
    return { beats = beats, items = #items }
  end,
}
