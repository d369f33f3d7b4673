-- testkit.lua — loaded into the state of each *_test.lua file by baton
-- test: the global test(name, fn), and the `t` each test's fn receives —
-- time on the virtual clock, runs from the test's own fresh store, the
-- fake browser's fixtures, failures and record of calls, and baton.http's
-- (t.http). Errors name the
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
  local runs = call(prim.test_runs, job) -- not a tail call: the test's frame must stay
  return runs
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
  local calls = call(prim.test_calls, job) -- not a tail call: the test's frame must stay
  return calls
end

local Http = {}
Http.__index = Http
Http.__metatable = false

local SERVE = { method = true, status = true, headers = true, body = true, json = true,
  delay = true, error = true }
local ERRORS = { network = true, timeout = true, limit = true }
local METHODS = { GET = true, HEAD = true, POST = true, PUT = true, PATCH = true, DELETE = true,
  OPTIONS = true }

-- t.http:serve(url, { method, status, headers, body | json, delay, error }):
-- what baton.http's requests to url (exact, or a prefix ending in "*") are
-- answered. Checked here, so a mistake names the test's line.
function Http:serve(url, opts)
  local function bad(fmt, ...) error(format("t.http:serve: " .. fmt, ...), 3) end
  if type(url) ~= "string" then bad("url: expected a string, got %s", type(url)) end
  if url ~= "*" and not url:match("^[hH][tT][tT][pP][sS]?://.") then
    bad("url: expected an http:// or https:// URL or prefix (or \"*\"), got '%s'", url)
  end
  if opts == nil then opts = {} end
  if type(opts) ~= "table" then bad("expected a table of options, got %s", type(opts)) end
  for k in pairs(opts) do
    if not SERVE[k] then bad("unknown option '%s'", tostring(k)) end
  end
  local fx = {}
  if opts.method ~= nil then
    if type(opts.method) ~= "string" or not METHODS[opts.method:upper()] then
      bad("method: expected GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS, got %s",
        tostring(opts.method))
    end
    fx.method = opts.method:upper()
  end
  local status = opts.status
  if status ~= nil and (math.type(status) ~= "integer" or status < 100 or status > 599) then
    bad("status: expected an integer from 100 to 599, got %s", tostring(status))
  end
  fx.status = status
  local headers = {}
  if opts.headers ~= nil then
    if type(opts.headers) ~= "table" then
      bad("headers: expected a table, got %s", type(opts.headers))
    end
    for k, v in pairs(opts.headers) do
      if type(k) ~= "string" or not k:match("^[%w!#$%%&'*+.^_`|~-]+$") then
        bad("headers: a name must be a token string, got %s", tostring(k))
      end
      if type(v) ~= "string" then bad("headers.%s: expected a string, got %s", k, type(v)) end
      if v:find("[\r\n%z]") then bad("headers.%s: contains a line break", k) end
      headers[k] = v
    end
  end
  if opts.body ~= nil and opts.json ~= nil then bad("give body or json, not both") end
  if opts.body ~= nil then
    if type(opts.body) ~= "string" then
      bad("body: expected a string, got %s (json = encodes a table)", type(opts.body))
    end
    fx.body = opts.body
  elseif opts.json ~= nil then
    local ok, text = pcall(prim.json_encode, opts.json)
    if not ok then bad("json: %s", tostring(type(text) == "table" and text.message or text)) end
    fx.body = text
    local typed = false
    for k in pairs(headers) do typed = typed or k:lower() == "content-type" end
    if not typed then headers["Content-Type"] = "application/json" end
  end
  fx.headers = headers
  if opts.delay ~= nil then fx.delay = seconds(opts.delay, "t.http:serve: delay") end
  if opts.error ~= nil and not ERRORS[opts.error] then
    bad("error: expected \"network\", \"timeout\" or \"limit\", got %s", tostring(opts.error))
  end
  fx.error = opts.error
  call(prim.test_http_serve, url, fx)
end

-- t.http:calls([job]): the requests baton.http made, oldest first:
-- { method, url, headers, body, at, job, run_id }.
function Http:calls(job)
  local calls = call(prim.test_http_calls, job)
  return calls
end

local function new_kit()
  return setmetatable({ browser = setmetatable({}, Browser), http = setmetatable({}, Http) }, T)
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
