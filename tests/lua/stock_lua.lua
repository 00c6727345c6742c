-- tests/lua/stock_lua.lua: `require "gradus"` from a stock lua5.4 ($GRADUS_LUA,
-- the module from $GRADUS_MODULE_DIR), run as child processes: a script that
-- trains on 2 threads exits cleanly every time (lua_close dlcloses gradus.so,
-- so the pool's workers must be gone by then), and GRADUS_THREADS is read
-- strictly, as the CLI reads it. Not in sanitized builds: a stock lua5.4
-- cannot load a module built with ASan.

local T = dofile(arg[0]:match("^(.-)[^/]*$") .. "support.lua")
local lua = os.getenv("GRADUS_LUA") or error("GRADUS_LUA is not set")
local dir = os.getenv("GRADUS_MODULE_DIR") or error("GRADUS_MODULE_DIR is not set")

local quote = T.quote

local function script(text)
  local path = os.tmpname() .. ".lua"
  local f = assert(io.open(path, "w"))
  f:write(("package.cpath = %q .. package.cpath\n"):format(dir .. "/?.so;"), text)
  f:close()
  return path
end

-- Run the stock interpreter on path with env; returns "exit"/"signal", code, stderr.
local function run(path, env)
  local _, err, code, how = T.command(("%s %s %s"):format(env, quote(lua), quote(path)))
  return how, code, err
end

local TRAIN = [[
local gd = require "gradus"
assert(gd.threads() == 2, "expected 2 threads, got " .. gd.threads())
local d = gd.data.synthetic.blobs{ n = 64, classes = 3, features = 4, seed = 1 }
local run = gd.train{ model = gd.sequential{ gd.layer.dense{ units = 8 }, gd.layer.relu{},
    gd.layer.dense{ units = 3 } }, loss = gd.loss.cross_entropy{},
  optimizer = gd.optim.sgd{ lr = 0.1 }, data = d, epochs = 1, batch = 16, progress = false }
assert(run.status == "ok")
]]

T.test("test_stock_lua_exit_after_training_on_2_threads", function()
  local path = script(TRAIN)
  local statuses, bad = {}, 0
  for i = 1, 50 do
    local how, code, err = run(path, "GRADUS_THREADS=2")
    local s = how .. " " .. code
    statuses[s] = (statuses[s] or 0) + 1
    if s ~= "exit 0" then
      bad = bad + 1
      if bad == 1 then print("first failure (run " .. i .. "): " .. s .. ": " .. err) end
    end
  end
  os.remove(path)
  local seen = {}
  for s, n in pairs(statuses) do seen[#seen + 1] = s .. " x" .. n end
  table.sort(seen)
  assert(bad == 0, "50 runs of a stock lua5.4 ended with: " .. table.concat(seen, ", "))
end)

T.test("test_stock_lua_no_pool_after_the_module_closed", function()
  -- A finalizer older than the module runs after the module's state closed:
  -- gradus refuses to start threads again, and the process exits cleanly.
  local path = script([[
local gd
local early = setmetatable({}, { __gc = function()
  print(select(2, pcall(gd.threads, 2)))
end })
gd = require "gradus"
]] .. TRAIN:gsub("^local gd = require \"gradus\"\n", ""))
  local out, err, code, how = T.command(("GRADUS_THREADS=2 %s %s"):format(quote(lua), quote(path)))
  os.remove(path)
  assert(how == "exit" and code == 0, ("%s %d: %s"):format(how, code, err))
  assert(out == "gradus: the registry is closed\n", out)
end)

T.test("test_stock_lua_gradus_threads_is_read_strictly", function()
  local path = script('local gd = require "gradus"\nprint(gd.threads())\n')
  for _, bad in ipairs({ "abc", "2x", "-1", "4097", " 2", "1.5" }) do
    local how, code, err = run(path, "GRADUS_THREADS=" .. quote(bad))
    assert(how == "exit" and code == 1, ("GRADUS_THREADS=%q: %s %d"):format(bad, how, code))
    local want = ("GRADUS_THREADS must be a number of threads in 0..4096 (0: all cores), "
                  .. "got '%s'"):format(bad)
    assert(err:find(want, 1, true), ("GRADUS_THREADS=%q: stderr lacks %q:\n%s")
                                    :format(bad, want, err))
  end
  local how, code, err = run(path, "GRADUS_THREADS=1")
  assert(how == "exit" and code == 0, err)
  os.remove(path)
end)

T.run()
