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

local function call(self, method, params, timeout, raw)
  local res, err = prim.page_send(self._h, method, params, timeout or self._timeout, raw)
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

local retry_after = prim.retry_after

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
-- Waits, after event mark `after`, until the document of `loader` has reached
-- `wait` (load, domcontentloaded or networkidle) or the deadline passes.
local function reached(h, wait, loader, after, deadline, url, timeout)
  if wait == "networkidle" then
    while true do
      local ev, seq = prim.page_wait(h, "Page.lifecycleEvent", after, deadline - prim.now())
      if not ev then
        if seq then error(seq, 0) end
        raise("timeout", format("%s: no network idle within %gs", url, timeout), { url = url })
      end
      after = seq
      if ev.name == "networkIdle" and ev.loaderId == loader then return end
    end
  end
  local ev, seq = prim.page_wait(h, WAIT_EVENTS[wait], after, deadline - prim.now())
  if not ev then
    if seq then error(seq, 0) end
    raise("timeout", format("%s: not loaded within %gs", url, timeout), { url = url })
  end
end

function Page:navigate(url, opts)
  opts = opts or {}
  if type(url) ~= "string" then usage(2, "page:goto: url must be a string") end
  local allowed, why = prim.page_url_allowed(url)
  if not allowed then usage(2, "page:goto: %s", why) end
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
  if type(res.frameId) == "string" then self._frame = res.frameId end

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
    reached(h, wait, loader, mark, deadline, url, timeout)
  end
  dispatch(self)
  self._since = prim.page_mark(h)
  local r = response()
  if r and r.status >= 400 and opts.status ~= "any" then raise_status(url, r) end
  return { status = r and r.status or nil, url = r and r.url or url }
end
Page["goto"] = Page.navigate

-- ---- documents that go away under a call ----

-- CDP errors that mean the document went away under the call (a navigation,
-- a reload, a crash): the page's doing, not a mistake of the script.
local GONE = { "Execution context was destroyed", "Inspected target navigated or closed",
  "Cannot find default execution context", "Cannot find context with specified id",
  "Promise was collected" }

local function gone(err)
  if type(err) ~= "table" or err.kind ~= "script" or err.code == nil then return false end
  local msg = tostring(err.message)
  for _, s in ipairs(GONE) do
    if msg:find(s, 1, true) then return true end
  end
  return false
end

-- The first sign of a document in the main frame, or of the page itself moving on.
local DOC_EVENTS = "Page.frameNavigated Page.domContentEventFired Page.loadEventFired "
  .. "Page.navigatedWithinDocument"

-- After the document went away under a call: waits (half a second at most,
-- within the deadline) for the next document's first event after `after`.
-- A page that was lost meanwhile raises its own kind (browser_crashed …).
local function settle(self, after, deadline)
  local left = deadline - prim.now()
  if left <= 0 then return end
  local ev, err = prim.page_wait(self._h, DOC_EVENTS, after, left < 0.5 and left or 0.5)
  if not ev and err then error(err, 0) end
end

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

-- A read of the document that outlives navigations: when the document goes
-- away under it, it waits for the next one and reads again.
local function read(self, what, expr)
  local deadline = prim.now() + self._timeout
  while true do
    local mark = prim.page_mark(self._h)
    local left = deadline - prim.now()
    local ok, v = pcall(evaluate, self, expr, left > 1 and left or 1)
    if ok then return v end
    if not gone(v) then error(v, 0) end
    if prim.now() >= deadline then
      raise("timeout", format("page:%s: the page kept navigating for %gs", what, self._timeout))
    end
    settle(self, mark, deadline)
  end
end

-- page:eval(js, ...): the JSON value of an expression; with arguments, js is a
-- function expression called with them ("(a, b) => a + b", 1, 2). The page's
-- own navigation under it is network (retryable), never script: the script
-- asked for nothing wrong, but its code may already have run.
function Page:eval(js, ...)
  if type(js) ~= "string" then usage(2, "page:eval: expected JavaScript text") end
  if select("#", ...) > 0 then
    js = "(" .. js .. ").apply(null, " .. json_encode({ ... }) .. ")"
  end
  self._since = prim.page_mark(self._h)
  local ok, v = pcall(evaluate, self, js)
  if ok then return v end
  if gone(v) then
    prim.page_mark(self._h) -- a page lost meanwhile raises browser_crashed
    raise("network", format("page:eval: the document navigated away during the call (%s)",
      tostring(v.message)), { navigated = true })
  end
  error(v, 0)
end

-- One round trip: poll for the element every 50 ms inside the page, then act
-- on it in the document it was found in. Actions: "" (wait), "text",
-- "focus" (arg: clear it), "jsclick" (a JavaScript click), "click" and
-- "hover" (scroll into view and answer the visible centre, when nothing
-- covers it), "check" (arg: the state wanted; a centre when it differs),
-- "select" (arg: the values), "file". The text has no "})(" before its arguments: the fake browser finds
-- them by it.
local FIND = [[
(async (sel, timeout, visible, action, arg) => {
  const shown = (el) => { const r = el.getBoundingClientRect(); const s = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none'; };
  const name = (el) => { let s = el.tagName.toLowerCase(); if (el.id) s += '#' + el.id;
    if (typeof el.className === 'string' && el.className.trim())
      s += '.' + el.className.trim().split(/\s+/).join('.');
    return s; };
  const point = (el) => {
    el.scrollIntoView({block: 'center', inline: 'center', behavior: 'instant'});
    const r = el.getBoundingClientRect(), w = el.ownerDocument.defaultView;
    const x0 = Math.max(r.left, 0), x1 = Math.min(r.right, w.innerWidth);
    const y0 = Math.max(r.top, 0), y1 = Math.min(r.bottom, w.innerHeight);
    if (x1 <= x0 || y1 <= y0) return {covered: 'the edge of the window'};
    const x = (x0 + x1) / 2, y = (y0 + y1) / 2;
    const hit = el.ownerDocument.elementFromPoint(x, y);
    if (hit && (hit === el || el.contains(hit))) return {x: x, y: y};
    if (hit && el.labels && Array.prototype.includes.call(el.labels, hit)) return {x: x, y: y};
    return {covered: hit ? name(hit) : 'nothing'};
  };
  const pointed = action === 'click' || action === 'hover' || action === 'check';
  const t0 = performance.now();
  let covered = null, missing = null;
  for (;;) {
    const el = document.querySelector(sel);
    let target = el;
    if (el && action === 'check' && !shown(el) && el.labels && el.labels.length) target = el.labels[0];
    if (el && ((!visible && !pointed) || shown(target))) {
      if (action === 'jsclick') { el.scrollIntoView({block: 'center'}); el.click(); return {ok: true}; }
      if (action === 'focus') { el.focus(); if ('value' in el && arg) el.value = ''; return {ok: true}; }
      if (action === 'text') return {ok: true, value: el.innerText};
      if (action === 'file') return el.tagName === 'INPUT' && el.type === 'file' ? {ok: true}
        : {ok: true, bad: 'is not an <input type=file>'};
      if (action === 'select') {
        if (el.tagName !== 'SELECT') return {ok: true, bad: 'is not a <select>'};
        const opts = Array.prototype.slice.call(el.options);
        missing = arg.find((v) => !opts.some((o) => o.value === v || o.label === v));
        if (missing === undefined) {
          const want = el.multiple ? arg : arg.slice(0, 1);
          for (const o of opts) o.selected = want.some((v) => o.value === v || o.label === v);
          el.dispatchEvent(new Event('input', {bubbles: true}));
          el.dispatchEvent(new Event('change', {bubbles: true}));
          return {ok: true, value: opts.filter((o) => o.selected).map((o) => o.value)};
        }
      } else if (pointed) {
        if (action === 'check' && !('checked' in el)) return {ok: true, bad: 'is not a checkbox'};
        if (action === 'check' && el.checked === arg) return {ok: true, done: true};
        const p = point(target);
        if (p.covered === undefined) return {ok: true, x: p.x, y: p.y};
        covered = p.covered;
      } else {
        return {ok: true};
      }
    }
    if (performance.now() - t0 >= timeout)
      return {ok: false, covered: covered || undefined, option: missing || undefined};
    await new Promise((r) => setTimeout(r, 50));
  }
})]]

-- Finds sel (waiting up to the timeout, across navigations) and acts on it;
-- answers what the page said, and the event mark taken just before.
local function find(self, what, sel, opts, action, arg)
  if type(sel) ~= "string" then usage(3, "page:%s: expected a CSS selector", what) end
  opts = opts or {}
  local timeout = seconds(opts.timeout, what == "wait_for" and self._timeout or ELEMENT_TIMEOUT,
    "page:" .. what .. ": timeout", 3)
  local deadline = prim.now() + timeout
  local r
  while true do
    local left = deadline - prim.now()
    if left < 0 then left = 0 end
    local expr = FIND .. "(" .. json_encode(sel) .. ", " .. format("%.0f", left * 1000) .. ", "
      .. (opts.visible and "true" or "false") .. ", " .. json_encode(action or "")
      .. ", " .. json_encode(arg == nil and false or arg) .. ")"
    local mark = prim.page_mark(self._h)
    -- The group names the call for the dry run's fake browser.
    local ok, res = pcall(evaluate, self, expr, left + 5, "baton.find")
    if ok then
      r = res
      if r and r.ok then
        if r.bad then raise("script", format("page:%s: %s %s", what, sel, r.bad), { selector = sel }) end
        r.mark = mark
        return r
      end
      break
    end
    if not gone(res) then error(res, 0) end
    if prim.now() >= deadline then break end
    settle(self, mark, deadline)
  end
  if r and r.covered then
    raise("not_found", format("page:%s: %s is covered by %s (still after %gs)", what, sel,
      tostring(r.covered), timeout), { selector = sel, covered = r.covered })
  end
  if r and r.option then
    raise("not_found", format("page:%s: %s has no option %s within %gs", what, sel,
      tostring(r.option), timeout), { selector = sel, option = r.option })
  end
  raise("not_found", format("page:%s: no element matches %s within %gs", what, sel, timeout),
    { selector = sel })
end

-- ---- navigations a page call starts ----

local function main_frame(self, id, parent)
  if self._frame then return id == self._frame end
  return parent == nil
end

local function response_for(h, after, loader)
  if not loader then return nil end
  for _, e in ipairs(prim.page_events(h, after, "Network.responseReceived")) do
    if e.params.requestId == loader and e.params.type == "Document" then
      return e.params.response
    end
  end
  return nil
end

local NAV_WAITS = { load = true, domcontentloaded = true, networkidle = true }

local function nav_wait_opt(what, wait, level)
  wait = wait or "load"
  if not NAV_WAITS[wait] then
    usage(level + 1, "%s: wait must be load, domcontentloaded or networkidle, got %s", what,
      tostring(wait))
  end
  return wait
end

-- Waits for the next document in the main frame after event `after` (whose
-- URL matches opts.url, a Lua pattern, when given) to reach opts.wait; answers
-- { status, url } and raises like page:navigate for its HTTP status or network
-- error. A same-document navigation (an #anchor, history.pushState) answers
-- { url } at once.
local function await_navigation(self, after, opts, what, timeout)
  local h = self._h
  local wait = opts.wait or "load"
  local deadline = prim.now() + timeout
  local pattern = opts.url
  local doc, seq, cursor = nil, nil, after
  while not doc do
    local ev, s, method = prim.page_wait(h, "Page.frameNavigated Page.navigatedWithinDocument",
      cursor, deadline - prim.now())
    if not ev then
      if s then error(s, 0) end
      raise("timeout", format("%s: no navigation%s within %gs", what,
        pattern and (" to " .. pattern) or "", timeout), { url = pattern })
    end
    cursor = s
    local frame = method == "Page.frameNavigated" and ev.frame or ev
    if type(frame) == "table" and main_frame(self, frame.id or frame.frameId, frame.parentId) then
      local url = frame.unreachableUrl or frame.url
      if not pattern or (type(url) == "string" and url:find(pattern)) then
        if method == "Page.navigatedWithinDocument" then
          dispatch(self)
          return { url = url }
        end
        doc, seq = frame, s
      end
    end
  end
  local url = doc.unreachableUrl or doc.url
  local r = response_for(h, after, doc.loaderId)
  if doc.unreachableUrl then
    if r and r.status >= 400 and opts.status ~= "any" then raise_status(url, r) end
    local text = "net::ERR_FAILED"
    for _, e in ipairs(prim.page_events(h, after, "Network.loadingFailed")) do
      if e.params.type == "Document" and type(e.params.errorText) == "string" then
        text = e.params.errorText
      end
    end
    raise("network", format("%s: %s", url, text), { url = url, net_error = text })
  end
  reached(h, wait, doc.loaderId, seq, deadline, url, timeout)
  dispatch(self)
  r = response_for(h, after, doc.loaderId)
  if r and r.status >= 400 and opts.status ~= "any" then raise_status(url, r) end
  return { status = r and r.status or nil, url = r and r.url or url }
end

-- What starts a navigation of a frame (or moves it within its document).
local NAV_STARTS = { ["Page.frameRequestedNavigation"] = true,
  ["Page.frameStartedLoading"] = true, ["Page.navigatedWithinDocument"] = true,
  ["Page.frameNavigated"] = true }

-- After an input that may navigate (a click, Enter): gives the page a tenth
-- of a second to start a navigation, then, when the main frame started one,
-- waits for it (page:navigate's rules, the page's timeout). Answers
-- { status, url } of the navigation, or nil when there was none.
local function after_input(self, mark, opts, what)
  if opts.navigation == false then return nil end
  local ok, err = pcall(evaluate, self, "new Promise((r) => setTimeout(() => r(true), 100))", 5,
    "baton.settle")
  local started = not ok
  if not ok and not gone(err) then error(err, 0) end
  if not started then
    for _, e in ipairs(prim.page_events(self._h, mark)) do
      local p = e.params or {}
      local frame = e.method == "Page.frameNavigated" and p.frame or p
      if NAV_STARTS[e.method] and type(frame) == "table"
        and main_frame(self, frame.frameId or frame.id, frame.parentId) then
        started = true
        break
      end
    end
  end
  if not started then return nil end
  local r = await_navigation(self, mark, opts, what, self._timeout)
  self._since = prim.page_mark(self._h)
  return r
end

-- Validates the navigation options of an input call.
local function input_opts(what, opts, level)
  opts = opts or {}
  if type(opts) ~= "table" then usage(level + 1, "%s: options must be a table", what) end
  nav_wait_opt(what, opts.wait, level + 1)
  return opts
end

-- ---- trusted input ----

local function mouse(self, kind, x, y, extra)
  local p = { type = kind, x = x, y = y, modifiers = 0 }
  if extra then
    for k, v in pairs(extra) do p[k] = v end
  end
  call(self, "Input.dispatchMouseEvent", p)
end

local function click_at(self, x, y)
  mouse(self, "mouseMoved", x, y)
  mouse(self, "mousePressed", x, y, { button = "left", buttons = 1, clickCount = 1 })
  mouse(self, "mouseReleased", x, y, { button = "left", buttons = 0, clickCount = 1 })
end

function Page:wait_for(sel, opts)
  self._since = prim.page_mark(self._h)
  find(self, "wait_for", sel, opts)
  return true
end

-- page:click(sel [, {timeout, js, navigation, wait}]): real mouse events at
-- the element's visible centre ({ js = true }: a JavaScript click); when the
-- click starts a navigation, returns once it reached `wait` and answers
-- { status, url }.
function Page:click(sel, opts)
  opts = input_opts("page:click", opts, 2)
  self._since = prim.page_mark(self._h)
  local mark
  if opts.js then
    mark = find(self, "click", sel, opts, "jsclick").mark
  else
    local r = find(self, "click", sel, opts, "click")
    mark = prim.page_mark(self._h)
    click_at(self, r.x, r.y)
  end
  self._since = mark
  local nav = after_input(self, mark, opts, "page:click " .. sel)
  return nav
end

-- page:hover(sel [, {timeout}]): moves the mouse to the element's visible centre.
function Page:hover(sel, opts)
  self._since = prim.page_mark(self._h)
  local r = find(self, "hover", sel, opts, "hover")
  mouse(self, "mouseMoved", r.x, r.y)
end

function Page:text(sel, opts)
  self._since = prim.page_mark(self._h)
  local r = find(self, "text", sel, opts, "text") -- not a tail call: errors name the caller
  return r.value
end

-- ---- keys ----

local MODIFIERS = { Alt = 1, Control = 2, Ctrl = 2, Meta = 4, Command = 4, Shift = 8 }

local KEYS = {
  Enter = { "Enter", 13, "\r" }, Tab = { "Tab", 9 }, Escape = { "Escape", 27 },
  Backspace = { "Backspace", 8 }, Delete = { "Delete", 46 }, Space = { "Space", 32, " ", " " },
  ArrowUp = { "ArrowUp", 38 }, ArrowDown = { "ArrowDown", 40 },
  ArrowLeft = { "ArrowLeft", 37 }, ArrowRight = { "ArrowRight", 39 },
  Home = { "Home", 36 }, End = { "End", 35 }, PageUp = { "PageUp", 33 },
  PageDown = { "PageDown", 34 },
}

-- "Shift+Tab" → the key's Input.dispatchKeyEvent fields and the modifier mask.
local function key_event(what, spec, level)
  if type(spec) ~= "string" or spec == "" then
    usage(level + 1, "%s: expected a key name (\"Enter\", \"Shift+Tab\", \"a\" …)", what)
  end
  local mods, name = 0, spec
  while true do
    local m, rest = name:match("^(%a+)%+(.+)$")
    if not m or not MODIFIERS[m] then break end
    mods, name = mods | MODIFIERS[m], rest
  end
  local k = KEYS[name]
  local ev = { modifiers = mods }
  if k then
    ev.key, ev.code, ev.windowsVirtualKeyCode, ev.text = k[4] or k[1], k[1], k[2], k[3]
  elseif utf8.len(name) == 1 then
    ev.key, ev.text = name, name
    local up = name:upper()
    if up:match("^%u$") then
      ev.code, ev.windowsVirtualKeyCode = "Key" .. up, up:byte()
    elseif name:match("^%d$") then
      ev.code, ev.windowsVirtualKeyCode = "Digit" .. name, name:byte()
    end
  else
    usage(level + 1, "%s: unknown key %s", what, spec)
  end
  -- With Control, Alt or Meta a key is a command, not text.
  if mods & 7 ~= 0 then ev.text = nil end
  ev.nativeVirtualKeyCode = ev.windowsVirtualKeyCode
  return ev
end

local function key(self, ev)
  local down = {}
  for k, v in pairs(ev) do down[k] = v end
  down.type = ev.text and "keyDown" or "rawKeyDown"
  down.unmodifiedText = ev.text
  call(self, "Input.dispatchKeyEvent", down)
  local up = {}
  for k, v in pairs(ev) do up[k] = v end
  up.type, up.text = "keyUp", nil
  call(self, "Input.dispatchKeyEvent", up)
end

-- page:press(key [, {sel, timeout, navigation, wait}]): a real key press
-- (focusing sel first); Enter that submits a form waits for the navigation
-- and answers { status, url }.
function Page:press(spec, opts)
  local ev = key_event("page:press", spec, 2)
  opts = input_opts("page:press", opts, 2)
  self._since = prim.page_mark(self._h)
  if opts.sel ~= nil then find(self, "press", opts.sel, opts, "focus", false) end
  local mark = prim.page_mark(self._h)
  self._since = mark
  key(self, ev)
  local nav = after_input(self, mark, opts, "page:press " .. spec)
  return nav
end

-- page:type(sel, text [, {clear = true, enter, timeout, navigation, wait}]):
-- focuses the element (clearing it) and types text; enter = true presses
-- Enter after it (and waits for the navigation it starts).
function Page:type(sel, text, opts)
  opts = input_opts("page:type", opts, 2)
  self._since = prim.page_mark(self._h)
  find(self, "type", sel, opts, "focus", opts.clear ~= false)
  call(self, "Input.insertText", { text = tostring(text) })
  if not opts.enter then return nil end
  local mark = prim.page_mark(self._h)
  self._since = mark
  key(self, key_event("page:type", "Enter", 2))
  local nav = after_input(self, mark, opts, "page:type " .. sel)
  return nav
end

-- ---- form controls ----

-- page:select(sel, value, ...): selects the options of a <select> by value or
-- label (one, or several for a multiple select) and fires input and change;
-- answers the selected values.
function Page:select(sel, ...)
  local values = { ... }
  local opts
  if type(values[#values]) == "table" then opts = table.remove(values) end
  if #values == 0 then usage(2, "page:select: expected at least one value") end
  for i, v in ipairs(values) do
    if type(v) ~= "string" then usage(2, "page:select: value %d is not a string", i) end
  end
  self._since = prim.page_mark(self._h)
  local r = find(self, "select", sel, opts, "select", values)
  return r.value
end

-- page:check(sel [, on = true [, {timeout}]]): clicks a checkbox or radio
-- (or its label) with the mouse until it is `on`; answers its state.
function Page:check(sel, on, opts)
  if type(on) == "table" then on, opts = nil, on end
  if on == nil then on = true end
  if type(on) ~= "boolean" then usage(2, "page:check: expected true or false") end
  self._since = prim.page_mark(self._h)
  local r = find(self, "check", sel, opts, "check", on)
  if r.done then return on end
  click_at(self, r.x, r.y)
  r = find(self, "check", sel, opts, "check", on)
  if not r.done then
    raise("script", format("page:check: clicking %s did not make it %s", sel, tostring(on)),
      { selector = sel })
  end
  return on
end

-- page:upload(sel, path, ...): sets the files of an <input type=file>; each
-- path is under the job's own folder files/JOB/ (relative to it) and must be
-- a file there. Answers the number of files.
function Page:upload(sel, ...)
  local paths = { ... }
  if #paths == 0 then usage(2, "page:upload: expected at least one file") end
  local files = {}
  for i, p in ipairs(paths) do
    if type(p) ~= "string" or p == "" then usage(2, "page:upload: path %d is not a string", i) end
    local ok, abs = pcall(prim.page_file, self._h, p)
    if not ok then usage(2, "%s", type(abs) == "table" and tostring(abs.message) or tostring(abs)) end
    files[i] = abs
  end
  self._since = prim.page_mark(self._h)
  find(self, "upload", sel, nil, "file")
  local r = call(self, "Runtime.evaluate",
    { expression = "document.querySelector(" .. json_encode(sel) .. ")", objectGroup = "baton.node" })
  local id = r.result and r.result.objectId
  if not id then raise("not_found", format("page:upload: %s is gone", sel), { selector = sel }) end
  call(self, "DOM.setFileInputFiles", { files = files, objectId = id })
  return #files
end

-- page:wait_navigation([{wait, timeout, url}]): waits for the next navigation
-- of the page — one that began after the previous page call began — to reach
-- `wait`; with url, for one whose URL matches that Lua pattern. Answers
-- { status, url }.
function Page:wait_navigation(opts)
  opts = opts or {}
  if type(opts) ~= "table" then usage(2, "page:wait_navigation: options must be a table") end
  nav_wait_opt("page:wait_navigation", opts.wait, 2)
  if opts.url ~= nil and type(opts.url) ~= "string" then
    usage(2, "page:wait_navigation: url must be a Lua pattern (a string)")
  end
  local timeout = seconds(opts.timeout, self._timeout, "page:wait_navigation: timeout", 2)
  local since = self._since or prim.page_mark(self._h)
  local r = await_navigation(self, since, opts, "page:wait_navigation", timeout)
  self._since = prim.page_mark(self._h)
  return r
end

function Page:html() return read(self, "html", "document.documentElement.outerHTML") end
function Page:title() return read(self, "title", "document.title") end
function Page:url() return read(self, "url", "location.href") end

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
  -- only the page's own domains (docs/jobs.md); the engine checks again in C
  local allowed, why = prim.page_allowed(method)
  if not allowed then usage(2, "page:send: %s", why) end
  return call(self, method, params, nil, true)
end

-- ---- downloads (a job with downloads = true; docs/jobs.md) ----

local DOWNLOAD_EVENTS = "Page.downloadWillBegin Page.downloadProgress"

-- page:wait_download([{timeout}]): the page's next download to end — one
-- not yet answered by an earlier wait_download, however long ago it ended,
-- so a click then a wait never misses a fast one. Answers { name, path,
-- bytes, url, suggested, state = "completed" }: the file is files/<path>
-- (path is JOB/name). A download past the job's max_bytes or max_files
-- raises limit (and leaves no file); one the browser gave up network;
-- none within timeout, timeout.
function Page:wait_download(opts)
  opts = opts or {}
  if type(opts) ~= "table" then usage(2, "page:wait_download: options must be a table") end
  local timeout = seconds(opts.timeout, self._timeout, "page:wait_download: timeout", 2)
  local h = self._h
  local allowed, why = prim.page_download_allowed(h)
  if not allowed then usage(2, "page:wait_download: %s", why) end
  local deadline = prim.now() + timeout
  while true do
    local d, err = prim.page_download_next(h)
    if d then return d end
    if err then error(err, 0) end
    local left = deadline - prim.now()
    if left <= 0 then
      raise("timeout", format("page:wait_download: no download within %gs", timeout))
    end
    local ev, lost = prim.page_wait(h, DOWNLOAD_EVENTS, prim.page_mark(h), left)
    if not ev and lost then error(lost, 0) end
  end
end

-- page:downloads(): every download of the run so far, oldest first, each as
-- wait_download answers it or with state = "in_progress", or "failed" with
-- error_kind and error.
function Page:downloads()
  local allowed, why = prim.page_download_allowed(self._h)
  if not allowed then usage(2, "page:downloads: %s", why) end
  return prim.page_downloads(self._h)
end

-- page:number(): the pooled page's number (the N of "using pooled page
-- #N": one per page) and the CDP browserContextId it is in, which concurrent
-- runs without a session share.
function Page:number() return prim.page_number(self._h) end
Page.context = Page.number -- its old name, kept for existing scripts

-- Opens a page for the running co: waits for a pooled page.
return function(opts)
  opts = opts or {}
  local timeout = seconds(opts.timeout, DEFAULT_TIMEOUT, "ctx:page: timeout", 3)
  local h = prim.page_new()
  local ok, err = prim.page_open(h)
  if not ok then error(err, 0) end
  return setmetatable({ _h = h, _timeout = timeout }, Page)
end
