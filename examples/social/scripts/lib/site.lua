-- site.lua — where the example's site lives and small page helpers shared by
-- its jobs. Point BASE at the real site (or the engine's /demo/ pages).
local M = {}

M.BASE = "http://127.0.0.1:8080/demo"

-- Opens a path of the site in the run's pooled page and returns the page.
function M.open(ctx, path)
  local page = ctx:page()
  -- `goto` is a reserved word in Lua: the page API offers it as page:navigate
  page:navigate(M.BASE .. path, { wait = "domcontentloaded" })
  return page
end

-- The texts of the ideas page's ideas, as a list.
M.IDEAS = "[...document.querySelectorAll('.idea')].map(e => e.textContent.trim())"

-- Counts elements matching a CSS selector on the page.
function M.count(page, selector)
  return page:eval("document.querySelectorAll(" .. baton.json.encode(selector) .. ").length")
end

return M
