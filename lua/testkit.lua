-- testkit.lua — loaded into the state of each *_test.lua file by baton
-- test: the global test(name, fn), and the `t` each test's fn receives —
-- time on the virtual clock, runs from the test's own fresh store, and the
-- fake browser's fixtures, failures and record of calls. Errors name the
-- test file's line, not this file's.
local prim = ...

local type, tostring, tonumber, error, pcall, select = type, tostring, tonumber, error, pcall, select
local ipairs, pairs = ipairs, pairs
local setmetatable, format, concat = setmetatable, string.format, table.concat

local UNITS = { ms = 0.001, s = 1, m = 60, h = 3600, d = 86400 }

-- "2h", "61m", "1h30m", "250ms" or a number of seconds.
local function seconds(v, what)
  if type(v) == "number" and v >= 0 then return v end
  if type(v) == "string" then
    local total, rest = 0, v:gsub("%s", "")
    for n, u in rest:gmatch("(%d+%.?%d*)(%a+)") do
      if not UNITS[u] then total = nil break end
      total = total + tonumber(n) * UNITS[u]
    end
    if total and rest:gsub("%d+%.?%d*%a+", "") == "" and rest ~= "" then return total end
  end
  error(format("%s: expected a duration (\"2h\", \"61m\", 30), got %s", what, tostring(v)), 3)
end

-- Calls a primitive; its error is reported at the test's line.
local function call(fn, ...)
  local res = table.pack(pcall(fn, ...))
  if not res[1] then error(res[2], 3) end
  return table.unpack(res, 2, res.n)
end

local T = {}
T.__index = T
T.__metatable = false -- out of the tests' reach, as every engine metatable

function T:now() return prim.now() end

-- t:advance(duration): the engine runs that much virtual time, instantly.
function T:advance(d)
  call(prim.test_advance, seconds(d, "t:advance"))
end

-- t:run(job [, args]): starts job now, as `POST /api/jobs/NAME/run` does; it
-- runs as the clock advances.
function T:run(job, args)
  call(prim.test_run, job, args)
end

-- t:runs(job): each attempt of job's runs, oldest first.
function T:runs(job)
  return call(prim.test_runs, job)
end

-- t:fail(job, kind [, message]): the next browser call of a run of job fails
-- with that error kind.
function T:fail(job, kind, message)
  call(prim.test_fail, job, kind, message)
end

function T:expect(cond, message, ...)
  if not cond then
    local text = message and (select("#", ...) > 0 and format(message, ...) or tostring(message))
      or "expectation failed"
    error(text, 2)
  end
  return cond
end

-- t:expect_runs(job, n [, status]): job has had n runs (a run is all the
-- attempts of one start; its status is its last attempt's). Without a
-- status, starts that were skipped (overlap, requires) do not count.
function T:expect_runs(job, n, status)
  local rows = call(prim.test_runs, job)
  local last, order = {}, {}
  for _, r in ipairs(rows) do
    if not last[r.run_id] then order[#order + 1] = r.run_id end
    last[r.run_id] = r
  end
  local count, seen = 0, {}
  for _, id in ipairs(order) do
    local r = last[id]
    if (status == nil and r.status ~= "skipped") or r.status == status then count = count + 1 end
    seen[#seen + 1] = r.status .. (r.error_kind and ("/" .. r.error_kind) or "")
  end
  if count ~= n then
    error(format("expected %d run(s) of %s%s, got %d%s", n, job,
      status and (" with status " .. status) or "", count,
      #seen > 0 and (" (" .. concat(seen, ", ") .. ")") or ""), 2)
  end
end

local Browser = {}
Browser.__index = Browser
Browser.__metatable = false

-- eval = { 1, 2, ["expr"] = 3 } mixes answers in order with answers by
-- expression; JSON cannot, so the list's positions become "1", "2".
local function flat(eval)
  if type(eval) ~= "table" or #eval == 0 then return eval end
  local mixed = false
  for k in pairs(eval) do
    if type(k) ~= "number" then mixed = true break end
  end
  if not mixed then return eval end
  local out = {}
  for k, v in pairs(eval) do out[type(k) == "number" and tostring(k) or k] = v end
  return out
end

-- t.browser:serve(url, fixture): what the fake browser answers for url.
function Browser:serve(url, fixture)
  if type(fixture) == "table" and type(fixture.eval) == "table" then
    local copy = {}
    for k, v in pairs(fixture) do copy[k] = v end
    copy.eval = flat(fixture.eval)
    fixture = copy
  end
  call(prim.test_serve, url, fixture)
end

-- t.browser:calls([job]): the CDP calls the fake browser received.
function Browser:calls(job)
  return call(prim.test_calls, job)
end

local function new_kit()
  return setmetatable({ browser = setmetatable({}, Browser) }, T)
end

-- test(name, fn): registers a test; fn(t) runs later, on a fresh engine.
local names = {}
function test(name, fn)
  if type(name) ~= "string" or name == "" or type(fn) ~= "function" then
    error("test(name, fn): expected a name and a function", 2)
  end
  if names[name] then error(format("test '%s' is defined twice", name), 2) end
  names[name] = true
  prim.test_register(name, function() return fn(new_kit()) end)
end

-- A test's print goes to the report, not to the engine's log.
function print(...)
  local parts = {}
  for i = 1, select("#", ...) do parts[i] = tostring((select(i, ...))) end
  prim.test_print(concat(parts, "\t"))
end
