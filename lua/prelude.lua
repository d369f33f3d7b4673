-- prelude.lua — runs first in every script state, before the user's script.
-- Builds the sandbox (the `job` DSL, the `baton` module, a restricted
-- `require`, `load` and `print`, coroutines that let engine waits pass
-- through) on top of the C primitives it receives, which scripts never see.
local prim = ...

local type, select, error, pairs, tostring = type, select, error, pairs, tostring
local setmetatable, rawget = setmetatable, rawget
local format = string.format
local raw_load = load
local co_create, co_resume, co_yield, co_status = coroutine.create, coroutine.resume,
  coroutine.yield, coroutine.status
local MARK = prim.mark

-- Engine waits (sleep, browser calls) yield MARK from whatever coroutine they
-- run in. A script's own coroutines relay such yields up to the run's thread
-- and hand the answer back down, so to the script they read as plain calls.
local function relay(co, ok, ...)
  if ok and co_status(co) == "suspended" and select("#", ...) == 1 and (...) == MARK then
    return relay(co, co_resume(co, co_yield(MARK)))
  end
  return ok, ...
end

coroutine.resume = function(co, ...)
  return relay(co, co_resume(co, ...))
end

coroutine.wrap = function(fn)
  local co = co_create(fn)
  local function unwrap(ok, ...)
    if ok then return ... end
    local err = ...
    if type(err) == "string" then error(err, 0) end
    error(err)
  end
  return function(...)
    return unwrap(relay(co, co_resume(co, ...)))
  end
end

-- Formats printf-style when arguments follow, else prints the value as is.
local function message(fmt, ...)
  if select("#", ...) == 0 then return tostring(fmt) end
  local ok, text = pcall(format, fmt, ...)
  if not ok then error(text, 3) end -- at the script's line, not this one
  return text
end

local LEVELS = { debug = 0, info = 1, warn = 2, error = 3 }

-- ctx.log / baton.log: one small table per run; the methods live in log_mt.
local log_methods = {}
for name, level in pairs(LEVELS) do
  log_methods[name] = function(self, fmt, ...)
    return prim.log(level, self.job, self.run_id, message(fmt, ...))
  end
end
local log_mt = { __index = log_methods, __metatable = false }

local function make_log(job, run_id)
  return setmetatable({ job = job, run_id = run_id }, log_mt)
end

-- ctx.store / baton.store: `store:get(k)`; `store.get(k)` works as well.
local store = {}
local function method(fn)
  return function(a, ...)
    if a == store then return fn(...) end
    return fn(a, ...)
  end
end
store.get = method(prim.store_get)
store.set = method(prim.store_set)
store.delete = method(prim.store_delete)
store.incr = method(prim.store_incr)

local json = { encode = prim.json_encode, decode = prim.json_decode, null = prim.json_null }

-- baton.breaker(name [, opts]): the named breaker jobs share. b:call(fn, ...)
-- fails fast with breaker_open while it is open; b.state; b:reset().
local breaker_methods = {}
local function settle(name, t0, ok, ...)
  if ok then
    prim.breaker_done(name, true, prim.now() - t0)
    return ...
  end
  local err = ...
  prim.breaker_done(name, false, prim.now() - t0, err)
  error(err, 0)
end
function breaker_methods:call(fn, ...)
  local name = rawget(self, "name")
  if not prim.breaker_allow(name) then
    prim.error("breaker_open", "breaker '" .. name .. "' is open")
  end
  return settle(name, prim.now(), pcall(fn, ...))
end
function breaker_methods:reset()
  prim.breaker_reset(rawget(self, "name"))
end
local breaker_mt = {
  __metatable = false,
  __index = function(self, key)
    if key == "state" then return prim.breaker_state(rawget(self, "name")) end
    return breaker_methods[key]
  end,
}

local function breaker(name, opts)
  if type(name) ~= "string" or name == "" then error("baton.breaker: name must be a string", 2) end
  prim.breaker_get(name, opts)
  return setmetatable({ name = name }, breaker_mt)
end

-- baton.retry(fn, opts): calls fn(attempt) until it succeeds, its error is not
-- retryable, or opts.attempts (3) run out; waits between attempts as a job's
-- retry does (backoff, base, max, jitter), within the engine's retry budget.
local unpack = table.unpack
local function retry(fn, opts)
  if type(fn) ~= "function" then error("baton.retry: expected a function", 2) end
  if opts ~= nil and type(opts) ~= "table" then error("baton.retry: opts must be a table", 2) end
  local attempts = opts and opts.attempts or 3
  if math.type(attempts) ~= "integer" or attempts < 1 then
    error("baton.retry: attempts must be an integer >= 1", 2)
  end
  local prev = 0
  for attempt = 1, attempts do
    prim.retry_call()
    local res = table.pack(pcall(fn, attempt))
    if res[1] then return unpack(res, 2, res.n) end
    local err = res[2]
    local retryable = type(err) == "table" and err.retryable
    if attempt == attempts or not retryable then error(err, 0) end
    -- at least err.retry_after (capped at an hour), computed by the engine
    local delay = prim.retry_next(opts, attempt + 1, prev, err.retry_after)
    if delay == nil then error(err, 0) end          -- the retry budget is spent
    prev = delay
    prim.sleep(delay)
  end
end

-- A 429's Retry-After, read the same way by pages and by baton.http.
local MONTHS = { Jan = 1, Feb = 2, Mar = 3, Apr = 4, May = 5, Jun = 6, Jul = 7, Aug = 8,
  Sep = 9, Oct = 10, Nov = 11, Dec = 12 }

-- Days from 1970-01-01 to y-m-d (proleptic Gregorian).
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = (y >= 0 and y or y - 399) // 400
  local yoe = y - era * 400
  local mp = (m + 9) % 12
  local doy = (153 * mp + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return era * 146097 + doe - 719468
end

-- Retry-After is delta-seconds or an HTTP date; answers seconds from now.
local function retry_after(value)
  if type(value) ~= "string" then return nil end
  local n = tonumber(value:match("^%s*(%d+)%s*$"))
  if n then return n end
  local d, mon, y, hh, mm, ss = value:match("(%d+) (%a+) (%d+) (%d+):(%d+):(%d+)")
  if not d or not MONTHS[mon] then return nil end
  local at = days_from_civil(tonumber(y), MONTHS[mon], tonumber(d)) * 86400
    + tonumber(hh) * 3600 + tonumber(mm) * 60 + tonumber(ss)
  local wait = at - prim.now()
  return wait > 0 and wait or 0
end
prim.retry_after = retry_after -- for lua/page.lua and lua/http.lua

-- baton.http (lua/http.lua, loaded on first use): requests on the engine's
-- HTTP client, each yielding the run's coroutine like a page call.
local http_api
local function http_module()
  if not http_api then
    local chunk, err = prim.load_module("http")
    if not chunk then prim.error("script", "baton.http: " .. tostring(err)) end
    http_api = chunk(prim, prim.error)
  end
  return http_api
end
local http = setmetatable({}, {
  __metatable = false,
  __index = function(_, key) return http_module()[key] end,
  __newindex = function() error("baton.http cannot be changed", 2) end,
})

baton = {
  now = prim.now,
  http = http,
  breaker = breaker,
  retry = retry,
  sleep = prim.sleep,
  store = store,
  json = json,
  error = prim.error,
  trigger = prim.trigger,
  secret = prim.secret,
  log = make_log(nil, nil),
}

-- The job DSL: job "name" { fields }. Definitions are collected here and
-- validated by the engine after the script has run.
local defs = {}
function job(name)
  if type(name) ~= "string" or name == "" then
    error("job name must be a non-empty string", 2)
  end
  local file, line = prim.where(2)
  return function(spec)
    if type(spec) ~= "table" then
      error(format("job '%s': expected a table of fields after the name", name), 2)
    end
    defs[#defs + 1] = { name = name, file = file, line = line, spec = spec }
  end
end

-- require: modules from the engine's lua/ and the scripts' lib/, text only.
local loaded = {}
function require(name)
  if type(name) ~= "string" then error("require: module name must be a string", 2) end
  local mod = loaded[name]
  if mod ~= nil then return mod end
  local chunk, err = prim.load_module(name)
  if not chunk then error(err, 2) end
  mod = chunk(name)
  if mod == nil then mod = true end
  loaded[name] = mod
  return mod
end

function load(chunk, chunkname, _, env)
  if env ~= nil then return raw_load(chunk, chunkname, "t", env) end
  return raw_load(chunk, chunkname, "t")
end

function print(...)
  local n = select("#", ...)
  local parts = {}
  for i = 1, n do parts[i] = tostring((select(i, ...))) end
  prim.log(LEVELS.info, nil, nil, table.concat(parts, "\t"))
end

-- Lua runs finalizers with hooks off, out of reach of the CPU slice: a __gc
-- that never returns would stop the whole engine. Scripts may not set one.
-- (A metatable marks an object for finalization only if it has __gc when it
-- is set, so checking here is enough for the scripts' own metatables.) The
-- metatables the engine makes (errors, ctx, ctx.log, breakers, pages, the
-- test kit) are out of reach: each has __metatable, and getmetatable answers
-- false for every userdata, all of them the engine's.
_ENV.setmetatable = function(t, mt) -- the global: `setmetatable` here is a local
  if type(mt) == "table" and rawget(mt, "__gc") ~= nil then
    error("setmetatable: __gc finalizers are not allowed in scripts", 2)
  end
  return setmetatable(t, mt)
end

-- A full collection in one C call takes as long as the heap is large, out of
-- reach of the CPU slice: "collect" is done here in basic steps, each short,
-- until two cycles have ended (the one under way may keep garbage made before
-- it started); "step" is one basic step.
local raw_getmetatable = getmetatable
function getmetatable(v)
  if type(v) == "userdata" and raw_getmetatable(v) ~= nil then return false end
  return raw_getmetatable(v)
end

-- xpcall: Lua calls the message handler of an error raised by the count hook
-- (the CPU slice spent) with hooks off, where a looping handler would never
-- end; once the run is doomed the handler is skipped and the limit error
-- passes through as it is.
local raw_xpcall = xpcall
function xpcall(f, msgh, ...)
  if type(msgh) ~= "function" then return raw_xpcall(f, msgh, ...) end
  return raw_xpcall(f, function(e)
    if prim.doomed() then return e end
    return msgh(e)
  end, ...)
end

local raw_collect = collectgarbage
local GC_ALLOWED = { collect = true, count = true, step = true, isrunning = true }
function collectgarbage(opt, ...)
  opt = opt or "collect"
  if not GC_ALLOWED[opt] then error("collectgarbage: option '" .. tostring(opt) .. "' is not allowed", 2) end
  if opt == "collect" then
    for _ = 1, 2 do
      repeat until raw_collect("step", 0)
    end
    return 0
  end
  if opt == "step" then return raw_collect("step", 0) end
  return raw_collect(opt, ...)
end

-- os.time() with no argument reads the engine's clock, so dry runs see virtual time.
local raw_time = os.time
os.time = function(t)
  if t == nil then return prim.now() // 1 end
  return raw_time(t)
end

-- baton test: *_test.lua files get test(name, fn) and the kit (lua/testkit.lua).
if prim.test_register then assert(prim.load_module("testkit"))(prim) end

-- ctx:page([opts]): the run's page in a pooled browser context (lua/page.lua,
-- loaded on first use). One page per run: later calls answer the same page.
local open_page
local ctx_methods = {
  sleep = function(_, dur) return prim.sleep(dur) end,
  page = function(self, opts)
    local page = rawget(self, "_page")
    if page then return page end
    if not prim.page_new then
      prim.error("script", "ctx:page(): there is no browser here (check and plan do not run jobs)")
    end
    if not open_page then
      local chunk, err = prim.load_module("page")
      if not chunk then prim.error("script", "ctx:page(): " .. tostring(err)) end
      open_page = chunk(prim, prim.error)
    end
    page = open_page(opts)
    self._page = page
    return page
  end,
}
local ctx_mt = { __index = ctx_methods, __metatable = false }

-- The body of every run's coroutine: build ctx, call the job's function.
local function start_run(fn, job, run_id, attempt, scheduled_at, deadline, dry_run, args, err)
  local ctx = setmetatable({
    job = job,
    run_id = run_id,
    attempt = attempt,
    scheduled_at = scheduled_at,
    deadline = deadline,
    dry_run = dry_run,
    args = args,
    store = store,
    log = make_log(job, run_id),
  }, ctx_mt)
  if err ~= nil then return fn(ctx, err) end
  return fn(ctx)
end

return { defs = defs, start_run = start_run }
