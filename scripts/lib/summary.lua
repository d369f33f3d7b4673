-- summary.lua — a helper module for the demo scripts (loaded with require).
local M = {}

-- "3 items: a, b, c"
function M.list(items)
  local names = {}
  for i, item in ipairs(items) do names[i] = item.title end
  return string.format("%d item(s): %s", #items, table.concat(names, ", "))
end

return M
