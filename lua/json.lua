-- lua/json.lua: a small JSON encoder for results.json, and a strict reader
-- for `gradus report` (embedded).
-- NaN and infinities have no JSON form: they are written as null.
local M = {}

local escapes = { ['"'] = '\\"', ['\\'] = '\\\\', ['\b'] = '\\b', ['\f'] = '\\f',
                  ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t' }

-- s with each byte that is not part of valid UTF-8 replaced by U+FFFD.
local function valid_utf8(s)
  if utf8.len(s) then return s end
  local out, i = {}, 1
  while true do
    local n, bad = utf8.len(s, i)
    if n then out[#out + 1] = s:sub(i); return table.concat(out) end
    out[#out + 1] = s:sub(i, bad - 1) .. "\u{FFFD}"
    i = bad + 1
  end
end

local function str(s)
  -- JSON text is UTF-8: a path or name holding other bytes would make the file unreadable
  s = valid_utf8(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return escapes[c] or string.format("\\u%04x", c:byte())
  end) .. '"'
end

local function is_array(t)
  local n = #t
  for k in pairs(t) do
    if math.type(k) ~= "integer" or k < 1 or k > n then return false end
  end
  return true
end

local function encode(v, out, indent, depth)
  local t = type(v)
  if t == "nil" then out[#out + 1] = "null"
  elseif t == "boolean" then out[#out + 1] = tostring(v)
  elseif t == "number" then
    if v ~= v or v == math.huge or v == -math.huge then out[#out + 1] = "null"
    elseif math.type(v) == "integer" then out[#out + 1] = tostring(v)
    else out[#out + 1] = string.format("%.17g", v) end
  elseif t == "string" then out[#out + 1] = str(v)
  elseif t == "table" then
    local pad = "\n" .. string.rep(indent, depth + 1)
    local close = "\n" .. string.rep(indent, depth)
    if next(v) == nil then out[#out + 1] = is_array(v) and "[]" or "{}"; return end
    if is_array(v) then
      out[#out + 1] = "["
      for i, x in ipairs(v) do
        out[#out + 1] = (i > 1 and "," or "") .. pad
        encode(x, out, indent, depth + 1)
      end
      out[#out + 1] = close .. "]"
    else
      local keys = {}
      for k in pairs(v) do keys[#keys + 1] = tostring(k) end
      table.sort(keys)
      out[#out + 1] = "{"
      for i, k in ipairs(keys) do
        local x = v[k]
        if x == nil then x = v[tonumber(k)] end
        out[#out + 1] = (i > 1 and "," or "") .. pad .. str(k) .. ": "
        encode(x, out, indent, depth + 1)
      end
      out[#out + 1] = close .. "}"
    end
  else
    out[#out + 1] = str(tostring(v))
  end
end

function M.encode(v)
  local out = {}
  encode(v, out, "  ", 0)
  return table.concat(out)
end

-- Raises "json: ... at byte N" on anything that is not JSON; JSON null
-- becomes `null` (nil when not given; arrays keep their positions). Arrays
-- and objects nest at most maxdepth deep (default 200).
function M.decode(s, null, maxdepth)
  local pos, depth = 1, 0
  maxdepth = maxdepth or 200
  local function fail(what) error(("json: %s at byte %d"):format(what, pos), 0) end
  local function ws() pos = s:find("[^ \t\r\n]", pos) or #s + 1 end
  local value
  local escapes_in = { ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t" }
  local function str()
    local out = {}
    pos = pos + 1
    while true do
      local plain = s:match('^[^"\\%c]*', pos)
      out[#out + 1] = plain
      pos = pos + #plain
      local c = s:sub(pos, pos)
      if c == "" then fail("unterminated string") end
      if c == '"' then pos = pos + 1; return table.concat(out) end
      if c ~= "\\" then fail("control character in string") end
      local e = s:sub(pos + 1, pos + 1)
      if escapes_in[e] then out[#out + 1] = escapes_in[e]; pos = pos + 2
      elseif e == "u" then
        local hex = s:sub(pos + 2, pos + 5)
        if not hex:match("^%x%x%x%x$") then fail("bad \\u escape") end
        out[#out + 1] = utf8.char(tonumber(hex, 16)); pos = pos + 6
      else fail("bad escape") end
    end
  end
  local object, array
  function value()
    ws()
    local c = s:sub(pos, pos)
    if c == "{" or c == "[" then
      depth = depth + 1
      if depth > maxdepth then fail("nested more than " .. maxdepth .. " deep") end
      local v = c == "{" and object() or array()
      depth = depth - 1
      return v
    elseif c == '"' then return str()
    elseif s:find("^true", pos) then pos = pos + 4; return true
    elseif s:find("^false", pos) then pos = pos + 5; return false
    elseif s:find("^null", pos) then pos = pos + 4; return null
    else
      local num = s:match("^-?%d+%.?%d*[eE]?[-+]?%d*", pos)
      if not num or num == "" then fail("unexpected character '" .. c .. "'") end
      pos = pos + #num
      return tonumber(num) or fail("bad number " .. num)
    end
  end
  function object()
    local t = {}
    pos = pos + 1; ws()
    if s:sub(pos, pos) == "}" then pos = pos + 1; return t end
    while true do
      ws()
      if s:sub(pos, pos) ~= '"' then fail("expected a key") end
      local k = str(); ws()
      if s:sub(pos, pos) ~= ":" then fail("expected ':'") end
      pos = pos + 1
      t[k] = value(); ws()
      local d = s:sub(pos, pos); pos = pos + 1
      if d == "}" then return t elseif d ~= "," then fail("expected ',' or '}'") end
    end
  end
  function array()
    local t = {}
    pos = pos + 1; ws()
    if s:sub(pos, pos) == "]" then pos = pos + 1; return t end
    local n = 0
    while true do
      n = n + 1
      t[n] = value(); ws()
      local d = s:sub(pos, pos); pos = pos + 1
      if d == "]" then return t elseif d ~= "," then fail("expected ',' or ']'") end
    end
  end
  local v = value(); ws()
  if pos <= #s then fail("trailing characters") end
  return v
end

return M
