-- http.lua — baton.http, written on the C primitive http_request (one request
-- on the engine's HTTP client, yielding the run's coroutine until the answer
-- is in): checks the arguments, builds the URL, headers and body, and turns
-- answers into responses or the engine's categorized errors.
local prim, raise = ...

local type, tostring, pairs, ipairs, setmetatable = type, tostring, pairs, ipairs, setmetatable
local error, format, concat, sort = error, string.format, table.concat, table.sort
local math_type = math.type

local UNITS = { ms = 0.001, s = 1, m = 60, h = 3600 }
local SIZES = { B = 1, KB = 1024, MB = 1024 ^ 2, GB = 1024 ^ 3 }
local METHODS = { GET = true, HEAD = true, POST = true, PUT = true, PATCH = true, DELETE = true,
  OPTIONS = true }
local OPTIONS = { method = true, url = true, headers = true, query = true, body = true,
  json = true, form = true, timeout = true, max_bytes = true, follow = true, proxy = true,
  raise = true }
local ERROR_BODY = 1024 -- bytes of an error answer's body kept on the error

-- A bad argument is the caller's mistake: the error names the script's file:line.
-- `level` counts from the function calling usage (2: its caller).
local function usage(level, fmt, ...)
  error(format("baton.http: " .. fmt, ...), level + 1)
end

local function seconds(v, what, level)
  if type(v) == "number" and v > 0 then return v end
  if type(v) == "string" then
    local n, u = v:match("^%s*(%d+%.?%d*)%s*(%a+)%s*$")
    if n and UNITS[u] and tonumber(n) > 0 then return tonumber(n) * UNITS[u] end
  end
  usage(level + 1, "%s: expected a duration > 0 (\"5s\", 2.5, ...), got %s", what, tostring(v))
end

local function bytes(v, level)
  if math_type(v) == "integer" and v > 0 then return v end
  if type(v) == "string" then
    local n, u = v:match("^%s*(%d+)%s*(%a+)%s*$")
    if n and SIZES[u] and tonumber(n) > 0 then return tonumber(n) * SIZES[u] // 1 end
  end
  usage(level + 1, "max_bytes: expected a size > 0 (65536, \"2MB\", ...), got %s", tostring(v))
end

-- application/x-www-form-urlencoded (and the query string): unreserved bytes
-- as they are, everything else %XX.
local function escape(s)
  return (s:gsub("[^%w%-%._~]", function(c) return format("%%%02X", c:byte()) end))
end

-- key=value pairs of t, sorted by key so the same table gives the same text.
local function encode_pairs(t, what, level)
  local keys = {}
  for k, v in pairs(t) do
    if type(k) ~= "string" then usage(level + 1, "%s: keys must be strings", what) end
    local tv = type(v)
    if tv ~= "string" and tv ~= "number" and tv ~= "boolean" then
      usage(level + 1, "%s.%s: expected a string, number or boolean, got %s", what, k, tv)
    end
    keys[#keys + 1] = k
  end
  sort(keys)
  local parts = {}
  for i, k in ipairs(keys) do parts[i] = escape(k) .. "=" .. escape(tostring(t[k])) end
  return concat(parts, "&")
end

local function has_header(headers, name)
  for k in pairs(headers) do
    if k:lower() == name then return true end
  end
  return false
end

-- ---- responses ----

local Response = {}
Response.__index = Response
Response.__name = "http response"
Response.__metatable = false

-- resp:json(): the body decoded; a body that is not JSON is a script error at
-- the caller's line.
local json_decode = prim.json_decode
function Response:json()
  local ok, v = pcall(json_decode, self.body)
  if not ok then
    local why = tostring(v):match("baton%.json%.decode: (.*)$") or tostring(v)
    error(format("resp:json(): the body of %s is not JSON: %s", self.url, why), 2)
  end
  return v
end

local retry_after = prim.retry_after

local function raise_status(method, resp)
  local status = resp.status
  local fields = { status = status, url = resp.url, headers = resp.headers,
    body = resp.body:sub(1, ERROR_BODY) }
  if status == 429 then
    fields.retry_after = retry_after(resp.headers["retry-after"])
    raise("rate_limited", format("%s %s answered 429 Too Many Requests", method, resp.url), fields)
  elseif status == 401 or status == 403 then
    raise("auth", format("%s %s answered %d", method, resp.url, status), fields)
  end
  raise("http", format("%s %s answered HTTP %d", method, resp.url, status), fields)
end

-- ---- requests ----

-- The request of opts; level is the script's frame as seen from here.
local function request(opts, level)
  if type(opts) ~= "table" then usage(level, "expected a table of options, got %s", type(opts)) end
  for k in pairs(opts) do
    if not OPTIONS[k] then usage(level, "unknown option '%s'", tostring(k)) end
  end
  local url = opts.url
  if type(url) ~= "string" then usage(level, "url: expected a string, got %s", type(url)) end
  local scheme = url:match("^(%a[%w+.-]*)://[^/?#]")
  if not scheme or (scheme:lower() ~= "http" and scheme:lower() ~= "https") then
    usage(level, "only http:// and https:// URLs can be fetched, got '%s'", url)
  end
  if url:find("[%s%c]") then usage(level, "url: contains a space or a control byte") end
  local method = opts.method or "GET"
  if type(method) ~= "string" or not METHODS[method:upper()] then
    usage(level, "method: expected GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS, got %s",
      tostring(method))
  end
  method = method:upper()

  if opts.query ~= nil then
    if type(opts.query) ~= "table" then
      usage(level, "query: expected a table, got %s", type(opts.query))
    end
    local q = encode_pairs(opts.query, "query", level)
    if q ~= "" then
      local base, frag = url:match("^([^#]*)(.*)$")
      url = base .. (base:find("?", 1, true) and "&" or "?") .. q .. frag
    end
  end

  local headers = {}
  if opts.headers ~= nil then
    if type(opts.headers) ~= "table" then
      usage(level, "headers: expected a table, got %s", type(opts.headers))
    end
    for k, v in pairs(opts.headers) do
      if type(k) ~= "string" or not k:match("^[%w!#$%%&'*+.^_`|~-]+$") then
        usage(level, "headers: a name must be a token string, got %s", tostring(k))
      end
      if type(v) ~= "string" then
        usage(level, "headers.%s: expected a string, got %s", k, type(v))
      end
      if v:find("[\r\n%z]") then usage(level, "headers.%s: contains a line break", k) end
      headers[k] = v
    end
  end

  local body, given = nil, 0
  for _, k in ipairs({ "body", "json", "form" }) do
    if opts[k] ~= nil then given = given + 1 end
  end
  if given > 1 then usage(level, "give one of body, json and form, not several") end
  if opts.body ~= nil then
    if type(opts.body) ~= "string" then
      usage(level, "body: expected a string, got %s (json = encodes a table)", type(opts.body))
    end
    body = opts.body
  elseif opts.json ~= nil then
    local ok, text = pcall(prim.json_encode, opts.json)
    if not ok then usage(level, "json: %s", tostring(type(text) == "table" and text.message or text)) end
    body = text
    if not has_header(headers, "content-type") then headers["Content-Type"] = "application/json" end
  elseif opts.form ~= nil then
    if type(opts.form) ~= "table" then
      usage(level, "form: expected a table, got %s", type(opts.form))
    end
    body = encode_pairs(opts.form, "form", level)
    if not has_header(headers, "content-type") then
      headers["Content-Type"] = "application/x-www-form-urlencoded"
    end
  end
  if (method == "GET" or method == "HEAD") and body ~= nil then
    usage(level, "a %s request has no body", method)
  end

  local timeout = opts.timeout ~= nil and seconds(opts.timeout, "timeout", level) or 0
  local max_bytes = opts.max_bytes ~= nil and bytes(opts.max_bytes, level) or 0
  local follow = opts.follow
  if follow == nil then follow = true end
  if type(follow) ~= "boolean" then usage(level, "follow: expected true or false") end
  local proxy = opts.proxy
  if proxy ~= nil and type(proxy) ~= "string" then
    usage(level, "proxy: expected a string, got %s", type(proxy))
  end
  local raise_errors = opts.raise
  if raise_errors == nil then raise_errors = true end
  if type(raise_errors) ~= "boolean" then usage(level, "raise: expected true or false") end

  local lines, names = {}, {}
  for k in pairs(headers) do names[#names + 1] = k end
  sort(names)
  for i, k in ipairs(names) do lines[i] = k .. ": " .. headers[k] end

  local resp, kind, message = prim.http_request(method, url, lines, body, timeout, max_bytes,
    follow, proxy)
  if not resp then
    if kind == "script" then usage(level, "%s", message) end
    raise(kind, format("%s %s: %s", method, url, message), { url = url })
  end
  setmetatable(resp, Response)
  if raise_errors and resp.status >= 400 then raise_status(method, resp) end
  return resp
end

local http = {}

-- baton.http.request{ method, url, headers, query, body | json | form, timeout,
-- max_bytes, follow, proxy, raise }
-- (No tail calls into request: the frame counted for file:line must stay.)
function http.request(opts)
  local resp = request(opts, 3)
  return resp
end

-- baton.http.get(url [, opts]) and the other methods: opts as request's.
local function shorthand(method)
  return function(url, opts)
    if opts ~= nil and type(opts) ~= "table" then
      usage(2, "%s: options must be a table, got %s", method:lower(), type(opts))
    end
    local o = {}
    for k, v in pairs(opts or {}) do o[k] = v end
    if o.method ~= nil or o.url ~= nil then
      usage(2, "%s: method and url are the call's own, not options", method:lower())
    end
    o.method, o.url = method, url
    local resp = request(o, 3)
    return resp
  end
end

http.get = shorthand("GET")
http.post = shorthand("POST")
http.put = shorthand("PUT")
http.patch = shorthand("PATCH")
http.delete = shorthand("DELETE")

return http
