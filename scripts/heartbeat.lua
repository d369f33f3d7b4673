-- heartbeat.lua — the smallest useful job: proves the engine is alive and
-- counts its beats in the store (they survive restarts).
job "heartbeat" {
  every    = "10s",
  offset   = "auto",                        -- the engine picks a free second
  priority = "critical",
  timeout  = "5s",
  run = function(ctx)
    local n = ctx.store:incr("heartbeat.count")
    ctx.log:info("beat #%d", n)
    return { beat = n }
  end,
}
