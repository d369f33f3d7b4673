-- console.lua — the helpers of `baton console`, loaded into each console
-- session's state (the scripts' sandbox: baton.*, limits) with the engine's
-- C bindings as `prim`. The helpers are globals: the console is interactive.
local prim = ...

local type, error, ipairs = type, error, ipairs
local null = baton.json.null

print = prim.print

-- The binding's answer, or its error raised at the caller's line (console:N:).
local function check(value, err)
  if value == nil and err ~= nil then error(err, 3) end
  return value
end

local function need_name(fn, name, what)
  if type(name) ~= "string" or name == "" then
    error(fn .. ": expected " .. (what or "a job name") .. " (a string)", 3)
  end
end

local function iso(t)
  if type(t) ~= "number" then return nil end
  return os.date("!%Y-%m-%dT%H:%M:%SZ", t // 1)
end

local HELP = [[
baton console: Lua in the engine's sandbox (the scripts' limits apply).
An expression shows its value; print() output is shown; Ctrl-D or .exit leaves.

  jobs()              every job: name, state, next start, last status
  job(name)           one job in detail, with its recent runs
  runs([job], [n])    the newest n (10) runs, of one job or of all
  health()            the health report (as GET /api/system/health)
  run(name)           start a job now (as POST /api/jobs/NAME/run)
  pause(name)         pause a job's scheduled starts
  resume(name)        resume them
  breakers()          every circuit breaker and its state
  reset(breaker)      close a breaker and clear its counters
  reload()            reload the scripts now (as SIGHUP); what changed, or the errors
  help()              this text

Also: baton.store:get(key), baton.now(), baton.json.encode(v) ...]]

function help()
  print(HELP)
end

function jobs()
  local out = {}
  for i, j in ipairs(prim.jobs()) do
    out[i] = {
      name = j.name,
      state = j.state,
      next_start = iso(j.next_run_at),
      last_status = j.last_run ~= null and j.last_run.status or nil,
    }
  end
  return out
end

-- (results go through a local: a tail call would hide the caller's line)
function job(name)
  need_name("job", name)
  local detail = check(prim.job(name))
  return detail
end

function runs(name, n)
  if type(name) == "number" and n == nil then name, n = nil, name end
  if name ~= nil then need_name("runs", name) end
  if n ~= nil and math.type(n) ~= "integer" then error("runs: n must be an integer", 2) end
  local list = check(prim.runs(name, n))
  return list
end

function health()
  return prim.health()
end

function run(name)
  need_name("run", name)
  check(prim.run(name))
  return { job = name, triggered = true }
end

function pause(name)
  need_name("pause", name)
  local changed = check(prim.pause(name, true))
  return { job = name, paused = true, changed = changed }
end

function resume(name)
  need_name("resume", name)
  local changed = check(prim.pause(name, false))
  return { job = name, paused = false, changed = changed }
end

function breakers()
  return prim.breakers()
end

function reset(name)
  need_name("reset", name, "a breaker name")
  check(prim.reset(name))
  return { breaker = name, state = "closed" }
end

function reload()
  local answer = check(prim.reload())
  return answer
end
