-- tests/lua/support.lua: what the Lua tests share.
--
-- Each test script does `local T = dofile(arg[0]:match("^(.-)[^/]*$") .. "support.lua")`,
-- registers cases with T.test(name, fn) and ends with T.run(), which runs
-- them all, prints one line per case, and raises an error (so `gradus run`
-- exits non-zero) when any failed.

local T = {}
T.gd = require "gradus"

local cases = {}

function T.test(name, fn)
  cases[#cases + 1] = { name = name, fn = fn }
end

function T.run()
  local failed = 0
  for _, c in ipairs(cases) do
    local ok, msg = xpcall(c.fn, debug.traceback)
    if ok then
      print("ok     " .. c.name)
    else
      failed = failed + 1
      print("FAIL   " .. c.name .. ": " .. tostring(msg))
    end
  end
  print(("%d cases, %d failed"):format(#cases, failed))
  if failed > 0 then error(("%d of %d cases failed"):format(failed, #cases), 0) end
end

-- The reference file `name` (optimizers, schedulers, ...) from $GRADUS_REFERENCE.
function T.reference(name)
  local dir = os.getenv("GRADUS_REFERENCE")
  if not dir or dir == "" then error("GRADUS_REFERENCE is not set", 2) end
  local path = dir .. "/" .. name .. ".lua"
  local ok, ref = pcall(dofile, path)
  if not ok then error("cannot load reference file " .. path .. ": " .. tostring(ref), 2) end
  assert(ref.meta.count == #ref.cases, path .. ": meta.count does not match #cases")
  return ref
end

-- A number rounded to float32, as the reference README asks.
function T.f32(v)
  return (string.unpack("f", string.pack("f", v)))
end

function T.maxabs(t)
  local m = 0
  for i = 1, #t do
    local a = math.abs(t[i])
    if a > m then m = a end
  end
  return m
end

-- Element i of a tensor or of a reference tensor table (float32-rounded).
local function elem(t, i)
  if type(t) == "table" then return T.f32(t[i]) end
  return t[i]
end

-- |got - want| <= tol elementwise; shapes must agree when both have one.
function T.close(what, got, want, tol)
  if #got ~= #want then
    error(("%s: %d elements, expected %d"):format(what, #got, #want), 2)
  end
  if type(want) == "table" and want.shape and type(got) ~= "table" then
    local gs, ws = got:shape(), want.shape
    if table.concat(gs, "x") ~= table.concat(ws, "x") then
      error(("%s: shape %s, expected %s"):format(what, table.concat(gs, "x"),
                                                 table.concat(ws, "x")), 2)
    end
  end
  for i = 1, #want do
    local g, w = elem(got, i), elem(want, i)
    if not (math.abs(g - w) <= tol) then
      error(("%s: element %d is %.9g, expected %.9g (tolerance %.3g)")
            :format(what, i, g, w, tol), 2)
    end
  end
end

function T.close_number(what, got, want, rel)
  local tol = rel * math.max(math.abs(want), 1e-30)
  if not (math.abs(got - want) <= tol) then
    error(("%s: %.17g, expected %.17g (relative tolerance %.3g)"):format(what, got, want, rel), 2)
  end
end

-- fn(...) must raise an error whose message contains `fragment` (plain text).
function T.expect_error(fragment, fn, ...)
  local ok, msg = pcall(fn, ...)
  if ok then
    error(("expected an error containing \"%s\", but the call succeeded"):format(fragment), 2)
  end
  msg = tostring(msg)
  if not msg:find(fragment, 1, true) then
    error(("error \"%s\" lacks \"%s\""):format(msg, fragment), 2)
  end
  return msg
end

-- gd.train's options as its unknown-key message lists them: lgd_train_keys
-- of lua/lapi.c in order, no internal key. A new gd.train option goes here.
T.train_options = "model, data, loss, optimizer, schedule, regularizers, clip, validation, "
  .. "epochs, batch, seed, monitor, early_stopping, diverge, checkpoint, on_epoch, on_step, "
  .. "progress, name, quiet_diagnoses"

-- The whole message of fn's error, verbatim, after the "chunk:line: " a
-- raise from gradus puts before it.
function T.expect_message(message, fn, ...)
  local ok, msg = pcall(fn, ...)
  if ok then error(("expected the error \"%s\", but the call succeeded"):format(message), 2) end
  msg = tostring(msg):gsub("^[^\n]-:%d+: ", "", 1)
  if msg ~= message then error(("error \"%s\"\n  is not \"%s\""):format(msg, message), 2) end
end

-- Row r of a [rows, n] reference tensor as a gd tensor of shape {n}.
function T.row(ref, r)
  local n = ref.shape[2]
  local v = {}
  for j = 1, n do v[j] = ref[(r - 1) * n + j] end
  return T.gd.tensor(v, { n })
end

-- The constructor of a reference case's component, with its options; a
-- nested { name =, options = } becomes a spec of the option's kind (given).
function T.spec(ns, name, options, nested_ns)
  local opts = {}
  for k, v in pairs(options or {}) do
    if type(v) == "table" and v.name then
      v = T.gd[nested_ns or ns][v.name](v.options or {})
    end
    opts[k] = v
  end
  return T.gd[ns][name](opts)
end

-- The output of a shell command, stderr included.
function T.sh(cmd)
  local h = io.popen("{ " .. cmd .. "; } 2>&1")
  local out = h:read("a")
  h:close()
  return out
end

-- A strict JSON reader for checking the files gd.report writes: raises on
-- anything that is not JSON (null becomes T.null, a unique sentinel).
T.null = setmetatable({}, { __tostring = function() return "null" end })

function T.json_decode(s)
  local pos = 1
  local function fail(what) error(("json: %s at byte %d"):format(what, pos), 0) end
  local function ws() pos = s:find("[^ \t\r\n]", pos) or #s + 1 end
  local value
  local function str()
    local out = {}
    pos = pos + 1
    while true do
      local c = s:sub(pos, pos)
      if c == "" then fail("unterminated string") end
      if c == '"' then pos = pos + 1; return table.concat(out) end
      if c == "\\" then
        local e = s:sub(pos + 1, pos + 1)
        local map = { ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t" }
        if map[e] then out[#out + 1] = map[e]; pos = pos + 2
        elseif e == "u" then
          local hex = s:sub(pos + 2, pos + 5)
          if not hex:match("^%x%x%x%x$") then fail("bad \\u escape") end
          out[#out + 1] = utf8.char(tonumber(hex, 16)); pos = pos + 6
        else fail("bad escape") end
      elseif c:byte() < 32 then fail("control character in string")
      else out[#out + 1] = c; pos = pos + 1 end
    end
  end
  function value()
    ws()
    local c = s:sub(pos, pos)
    if c == "{" then
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
    elseif c == "[" then
      local t = {}
      pos = pos + 1; ws()
      if s:sub(pos, pos) == "]" then pos = pos + 1; return t end
      while true do
        t[#t + 1] = value(); ws()
        local d = s:sub(pos, pos); pos = pos + 1
        if d == "]" then return t elseif d ~= "," then fail("expected ',' or ']'") end
      end
    elseif c == '"' then return str()
    elseif s:find("^true", pos) then pos = pos + 4; return true
    elseif s:find("^false", pos) then pos = pos + 5; return false
    elseif s:find("^null", pos) then pos = pos + 4; return T.null
    else
      local num = s:match("^-?%d+%.?%d*[eE]?[-+]?%d*", pos)
      if not num or num == "" then fail("unexpected character '" .. c .. "'") end
      pos = pos + #num
      return assert(tonumber(num), "bad number " .. num)
    end
  end
  local v = value(); ws()
  if pos <= #s then fail("trailing characters") end
  return v
end

return T
