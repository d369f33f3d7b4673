-- page.lua — the page API scripts get from ctx:page(), written on the C
-- primitives page_send (raw CDP on the leased page), page_wait/page_events
-- (its recent events) and page_save (screenshots). Every call that talks to
-- the browser yields the run's coroutine; to the script it reads as a plain call.
local prim, raise = ...

local type, tostring, select, pairs, ipairs = type, tostring, select, pairs, ipairs
local setmetatable, error, format = setmetatable, error, string.format
local json_encode = prim.json_encode

local DEFAULT_TIMEOUT = 30   -- seconds for one browser call or navigation
local ELEMENT_TIMEOUT = 5    -- how long click/type/text wait for their element

local UNITS = { ms = 0.001, s = 1, m = 60, h = 3600, d = 86400 }

-- A bad argument is the caller's mistake: the error names the script's
-- file:line. `level` counts from the function calling usage (2: its caller).
local function usage(level, fmt, ...)
  error(format(fmt, ...), level + 1)
end

local function seconds(v, default, what, level)
  if v == nil then return default end
  if type(v) == "number" and v >= 0 then return v end
  if type(v) == "string" then
    local n, u = v:match("^%s*(%d+%.?%d*)%s*(%a+)%s*$")
    if n and UNITS[u] then return tonumber(n) * UNITS[u] end
  end
  usage(level + 1, "%s: expected a duration (\"5s\", 250, ...), got %s", what, tostring(v))
end

local Page = {}
Page.__index = Page
Page.__name = "page"
Page.__metatable = false -- out of the scripts' reach (a __gc added to it would run unbounded)

local function dispatch(self)
  local handlers = self._handlers
  if not handlers then return end
  local events, newest = prim.page_events(self._h, self._seen)
  self._seen = newest
  for _, e in ipairs(events) do
    local list = handlers[e.method]
    if list then
      for _, fn in ipairs(list) do fn(e.params) end
    end
  end
end

local function call(self, method, params, timeout)
  local res, err = prim.page_send(self._h, method, params, timeout or self._timeout)
  if err then error(err, 0) end
  dispatch(self)
  return res
end

-- ---- navigation ----

local function header(headers, name)
  if type(headers) ~= "table" then return nil end
  name = name:lower()
  for k, v in pairs(headers) do
    if type(k) == "string" and k:lower() == name then return v end
  end
  return nil
end

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

local function raise_status(url, response)
  local status = response.status
  local fields = { status = status, url = url, headers = response.headers }
  if status == 429 then
    fields.retry_after = retry_after(header(response.headers, "retry-after"))
    raise("rate_limited", format("%s answered 429 Too Many Requests", url), fields)
  elseif status == 401 or status == 403 then
    raise("auth", format("%s answered %d", url, status), fields)
  end
  raise("http", format("%s answered HTTP %d", url, status), fields)
end

local WAIT_EVENTS = {
  load = "Page.loadEventFired",
  domcontentloaded = "Page.domContentEventFired",
}

-- page:navigate(url [, {wait = "load"|"domcontentloaded"|"networkidle", timeout, status = "any"}])
-- Answers { status =, url = }. An HTTP status of 400 or more raises http
-- (auth for 401/403, rate_limited with retry_after for 429) unless
-- opts.status == "any"; a network failure raises network with net_error.
function Page:navigate(url, opts)
  opts = opts or {}
  if type(url) ~= "string" then usage(2, "page:goto: url must be a string") end
  local wait = opts.wait or "load"
  if wait ~= "networkidle" and not WAIT_EVENTS[wait] then
    usage(2, "page:goto: wait must be load, domcontentloaded or networkidle, got %s",
      tostring(wait))
  end
  local timeout = seconds(opts.timeout, self._timeout, "page:goto: timeout", 2)
  local deadline = prim.now() + timeout
  local h = self._h
  local mark = prim.page_mark(h)
  local ok, res = pcall(call, self, "Page.navigate", { url = url }, timeout)
  if not ok then
    if type(res) == "table" and res.kind == "timeout" then
      raise("timeout", format("%s: no answer within %gs", url, timeout), { url = url })
    end
    error(res, 0)
  end
  local loader = res.loaderId

  local function response()
    if not loader then return nil end
    local events = prim.page_events(h, mark, "Network.responseReceived")
    for _, e in ipairs(events) do
      if e.params.requestId == loader and e.params.type == "Document" then
        return e.params.response
      end
    end
    return nil
  end

  if type(res.errorText) == "string" and res.errorText ~= "" then
    local r = response()
    if r and r.status >= 400 and opts.status ~= "any" then raise_status(url, r) end
    raise("network", format("%s: %s", url, res.errorText), { url = url, net_error = res.errorText })
  end
  if loader then -- nil for a same-document navigation (an #anchor): nothing loads
    if wait == "networkidle" then
      local after = mark
      while true do
        local ev, seq = prim.page_wait(h, "Page.lifecycleEvent", after, deadline - prim.now())
        if not ev then
          if seq then error(seq, 0) end
          raise("timeout", format("%s: no network idle within %gs", url, timeout), { url = url })
        end
        after = seq
        if ev.name == "networkIdle" and ev.loaderId == loader then break end
      end
    else
      local ev, seq = prim.page_wait(h, WAIT_EVENTS[wait], mark, deadline - prim.now())
      if not ev then
        if seq then error(seq, 0) end
        raise("timeout", format("%s: not loaded within %gs", url, timeout), { url = url })
      end
    end
  end
  dispatch(self)
  local r = response()
  if r and r.status >= 400 and opts.status ~= "any" then raise_status(url, r) end
  return { status = r and r.status or nil, url = r and r.url or url }
end
Page["goto"] = Page.navigate

-- ---- script in the page ----

local function evaluate(self, expr, timeout, group)
  local r = call(self, "Runtime.evaluate",
    { expression = expr, returnByValue = true, awaitPromise = true, objectGroup = group }, timeout)
  local ex = r.exceptionDetails
  if ex then
    local what = ex.exception and (ex.exception.description or ex.exception.value) or ex.text
    raise("script", format("in the page: %s", tostring(what)))
  end
  return r.result and r.result.value
end

-- page:eval(js, ...): the JSON value of an expression; with arguments, js is a
-- function expression called with them ("(a, b) => a + b", 1, 2).
function Page:eval(js, ...)
  if type(js) ~= "string" then usage(2, "page:eval: expected JavaScript text") end
  if select("#", ...) > 0 then
    js = "(" .. js .. ").apply(null, " .. json_encode({ ... }) .. ")"
  end
  return evaluate(self, js)
end

-- One round trip: poll for the element every 50 ms inside the page, then act.
local FIND = [[
(async (sel, timeout, visible, action, arg) => {
  const shown = (el) => { const r = el.getBoundingClientRect(); const s = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none'; };
  const t0 = performance.now();
  for (;;) {
    const el = document.querySelector(sel);
    if (el && (!visible || shown(el))) {
      if (action === 'click') { el.scrollIntoView({block: 'center'}); el.click(); return {ok: true}; }
      if (action === 'focus') { el.focus(); if ('value' in el && arg) el.value = ''; return {ok: true}; }
      if (action === 'text') return {ok: true, value: el.innerText};
      return {ok: true};
    }
    if (performance.now() - t0 >= timeout) return {ok: false};
    await new Promise((r) => setTimeout(r, 50));
  }
})]]

local function find(self, what, sel, opts, action, arg)
  if type(sel) ~= "string" then usage(3, "page:%s: expected a CSS selector", what) end
  opts = opts or {}
  local timeout = seconds(opts.timeout, what == "wait_for" and self._timeout or ELEMENT_TIMEOUT,
    "page:" .. what .. ": timeout", 3)
  local expr = FIND .. "(" .. json_encode(sel) .. ", " .. (timeout * 1000) .. ", "
    .. (opts.visible and "true" or "false") .. ", " .. json_encode(action or "")
    .. ", " .. (arg and "true" or "false") .. ")"
  -- The group names the call for the dry run's fake browser.
  local r = evaluate(self, expr, timeout + 5, "baton.find")
  if not r or not r.ok then
    raise("not_found", format("page:%s: no element matches %s within %gs", what, sel, timeout),
      { selector = sel })
  end
  return r.value
end

function Page:wait_for(sel, opts) find(self, "wait_for", sel, opts) return true end
function Page:click(sel, opts) find(self, "click", sel, opts, "click") end
function Page:text(sel, opts)
  local text = find(self, "text", sel, opts, "text") -- not a tail call: errors name the caller
  return text
end

-- page:type(sel, text [, {clear = true}]): focuses the element and types text.
function Page:type(sel, text, opts)
  opts = opts or {}
  find(self, "type", sel, opts, "focus", opts.clear ~= false)
  call(self, "Input.insertText", { text = tostring(text) })
end

function Page:html() return evaluate(self, "document.documentElement.outerHTML") end
function Page:title() return evaluate(self, "document.title") end
function Page:url() return evaluate(self, "location.href") end

-- page:screenshot(path [, {full = true}]): PNG (or JPEG for .jpg/.jpeg) under
-- the engine's files directory; answers the number of bytes written.
function Page:screenshot(path, opts)
  opts = opts or {}
  if type(path) ~= "string" or path == "" or path:sub(1, 1) == "/" or path:find("..", 1, true) then
    usage(2, "page:screenshot: expected a relative file name without '..', got %s", tostring(path))
  end
  local format_ = (path:lower():match("%.jpe?g$")) and "jpeg" or "png"
  local r = call(self, "Page.captureScreenshot",
    { format = format_, captureBeyondViewport = opts.full and true or false })
  return prim.page_save(path, r.data)
end

function Page:cookies(urls)
  local r = call(self, "Network.getCookies", urls and { urls = urls } or nil)
  return r.cookies
end

function Page:set_cookies(list)
  if type(list) ~= "table" then usage(2, "page:set_cookies: expected a list of cookies") end
  call(self, "Network.setCookies", { cookies = list })
end

-- page:on(event, fn): fn(params) for each such event, called at the page's
-- next browser call (events are heard between calls, never in the middle of one).
function Page:on(event, fn)
  if type(event) ~= "string" or type(fn) ~= "function" then
    usage(2, "page:on(event, fn): expected an event name and a function")
  end
  if not self._handlers then
    self._handlers = {}
    self._seen = prim.page_mark(self._h)
  end
  local list = self._handlers[event] or {}
  list[#list + 1] = fn
  self._handlers[event] = list
end

-- page:send(method, params): a raw CDP command on this page's session.
function Page:send(method, params)
  if type(method) ~= "string" then usage(2, "page:send: expected a CDP method name") end
  return call(self, method, params)
end

-- page:context(): the pooled context's number (the N of "using pooled context
-- #N": one per page) and the CDP browserContextId it is in, which concurrent
-- runs without a session share.
function Page:context() return prim.page_context(self._h) end

-- Opens a page for the running co: waits for a pooled context.
return function(opts)
  opts = opts or {}
  local timeout = seconds(opts.timeout, DEFAULT_TIMEOUT, "ctx:page: timeout", 3)
  local h = prim.page_new()
  local ok, err = prim.page_open(h)
  if not ok then error(err, 0) end
  return setmetatable({ _h = h, _timeout = timeout }, Page)
end
