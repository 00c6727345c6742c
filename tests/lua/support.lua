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
  if T.skipped then
    print("SKIP: " .. T.skipped)
    os.exit(77, true)   -- meson's skip status
  end
end

-- Fashion-MNIST through gd.data.fashion_mnist(opts). setup.sh installs it,
-- so its absence fails the test, unless GRADUS_ALLOW_NO_DATA=1 says it is
-- expected: then nil, and T.run ends with meson's skip status and the reason.
function T.fashion_mnist(opts)
  local ok, d = pcall(T.gd.data.fashion_mnist, opts)
  if ok then return d end
  d = tostring(d)
  if not d:find("dataset-fashion-mnist", 1, true) then error(d, 2) end
  if os.getenv("GRADUS_ALLOW_NO_DATA") ~= "1" then
    error(d .. " (set GRADUS_ALLOW_NO_DATA=1 to skip instead)", 2)
  end
  T.skipped = d
  print("skip   " .. d)
  return nil
end

-- Run a shell command line; returns its stdout, its stderr, its exit code
-- and how it ended ("exit" or "signal", as io.popen's close says).
function T.command(cmdline)
  local errfile = os.tmpname()
  local p = io.popen(("%s 2>'%s'"):format(cmdline, errfile))
  local out = p:read("a")
  local _, how, code = p:close()
  local f = io.open(errfile)
  local err = f:read("a")
  f:close()
  os.remove(errfile)
  return out, err, code, how
end

-- A plugin built out of tree as the README says (cc -shared -fPIC
-- $(pkg-config --cflags gradus)) from `source` into a fresh directory, and
-- `script` (the Lua that uses it) run there by the built gradus with
-- GRADUS_PLUGIN_PATH at that directory. Returns the run's output, ending in
-- "rc=<exit status>", and the directory (the caller removes it).
function T.plugin_run(name, source, script)
  local exe = os.getenv("GRADUS_EXE") or error("GRADUS_EXE is not set", 2)
  local pcdir = os.getenv("GRADUS_PKGCONFIG") or error("GRADUS_PKGCONFIG is not set", 2)
  local dir = T.tmpdir()
  local f = io.open(dir .. "/" .. name .. ".c", "w")
  f:write(source)
  f:close()
  local cc = T.sh(("cd '%s' && cc -std=c11 -Wall -Wextra -Werror -shared -fPIC $(PKG_CONFIG_PATH='%s' pkg-config --cflags gradus) %s.c -o %s.so -lm; echo rc=$?")
    :format(dir, pcdir, name, name))
  assert(cc:find("rc=0\n$"), "compiling the plugin " .. name .. " failed: " .. cc)
  f = io.open(dir .. "/use.lua", "w")
  f:write(script)
  f:close()
  local run = ("GRADUS_PLUGIN_PATH='%s' '%s' run '%s/use.lua' 2>&1; echo \"rc=$?\""):format(dir, exe, dir)
  return io.popen(run):read("a"), dir
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

-- Whether a file exists.
function T.exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

-- The scratch directory of a sweep test (workers never run the test
-- script: trials are data).
function T.sweep_root()
  return T.tmpdir()
end

-- gd.train's options as its unknown-key message lists them: lgd_train_keys
-- of lua/lapi.c in order, no internal key. A new gd.train option goes here.
T.train_options = "model, data, loss, optimizer, schedule, regularizers, clip, validation, "
  .. "epochs, batch, drop_last, seed, monitor, early_stopping, diverge, checkpoint, on_epoch, "
  .. "on_step, progress, name, quiet_diagnoses, distributed"

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

-- A whole file's bytes (nil when it cannot be opened), and a file written whole.
function T.slurp(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

function T.spit(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end

-- A new empty directory under /tmp.
function T.tmpdir()
  local p = os.tmpname()
  os.remove(p)
  assert(T.gd._util.mkdir_p(p))
  return p
end

-- A copy of t with extra's fields set over it.
function T.with(t, extra)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  for k, v in pairs(extra) do c[k] = v end
  return c
end

-- The output of a shell command, stderr included.
function T.sh(cmd)
  local h = io.popen("{ " .. cmd .. "; } 2>&1")
  local out = h:read("a")
  h:close()
  return out
end

-- s in single quotes, for a shell command line.
function T.quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- cond()'s first true value, tried every 0.1 s for at most `seconds`.
function T.wait_for(what, cond, seconds)
  for _ = 1, seconds * 10 do
    local v = cond()
    if v then return v end
    os.execute("sleep 0.1")
  end
  error("timed out after " .. seconds .. " s waiting for " .. what, 0)
end

-- The shell command line cmd started in the background in dir; returns its
-- pid (exec'd: the command's own, to signal). Its output goes to base.out
-- and base.err, its exit status to base.rc once it has ended.
function T.background(dir, base, cmd)
  T.spit(dir .. "/bg.sh", [[
base=$1; shift
( sh -c 'echo $$ > "$0.pid.tmp"; mv "$0.pid.tmp" "$0.pid"; exec "$@" > "$0.out" 2> "$0.err"' "$base" "$@"
  echo $? > "$base.rc.tmp"; mv "$base.rc.tmp" "$base.rc" ) > /dev/null 2>&1 &
]])
  os.execute(string.format("cd %s && sh %s %s %s", T.quote(dir), T.quote(dir .. "/bg.sh"),
    T.quote(base), cmd))
  return tonumber(T.wait_for("the pid of " .. base, function() return T.slurp(base .. ".pid") end, 10))
end

-- Whether process pid is running (not gone, not a zombie).
function T.alive(pid)
  local stat = T.slurp("/proc/" .. pid .. "/stat")
  return stat ~= nil and not stat:match("^%d+ %b() Z")
end

-- The files gd.report writes are read with the module's own strict JSON
-- reader (null becomes T.null, a unique sentinel).
T.null = setmetatable({}, { __tostring = function() return "null" end })
function T.json_decode(s) return require("gradus.json").decode(s, T.null) end

return T
