-- tests/lua/lifetimes.lua: finalizers and the memory views point into. Lua
-- finalizes newest first, so an object made before a model and finalized
-- after it may still hold a view of the model's weights or an optimizer over
-- them: every access then raises a clear error, never reads or writes freed
-- memory (the sanitizer build runs this file too). Metamethods are not
-- methods, and a finalizer called twice is harmless.

local T = dofile(arg[0]:match("^(.-)[^/]*$") .. "support.lua")
local gd = T.gd

local function model()
  return gd.sequential{ gd.layer.dense{ units = 3 } }:build{ inputs = 2, seed = 1 }
end

-- An object with a finalizer, made before `make` runs, holding what make
-- returns; after a full collection, returns what its finalizer saw.
local function finalized_after(make, use)
  local seen = {}
  local holder = setmetatable({}, { __gc = function(self)
    seen.ok, seen.msg = pcall(use, self.held)
  end })
  holder.held = make()
  holder = nil
  collectgarbage()
  collectgarbage()
  return seen
end

local FREED = "the model or layer it views has been freed (its finalizer ran)"

T.test("test_lifetimes_model_view_after_model_finalized", function()
  local seen = finalized_after(function() return model():params()[1].value end,
                               function(w) return w[1] end)
  assert(seen.ok == false, "reading a view of a finalized model succeeded")
  assert(tostring(seen.msg):find(FREED, 1, true), seen.msg)
end)

T.test("test_lifetimes_buffer_and_reshape_views", function()
  local seen = finalized_after(function()
    local m = gd.sequential{ gd.layer.batchnorm{} }:build{ inputs = 2, seed = 1 }
    return m:buffers()[1].value:reshape{ 1, 2 }
  end, function(v) v[1] = 5 end)
  assert(seen.ok == false and tostring(seen.msg):find(FREED, 1, true), seen.msg)
end)

T.test("test_lifetimes_layer_params_after_layer_finalized", function()
  local seen = finalized_after(function()
    return gd.layer.dense{ units = 2 }:build{ inputs = 2, seed = 1 }:params()[1].grad
  end, function(g) return g:sum() end)
  assert(seen.ok == false and tostring(seen.msg):find(FREED, 1, true), seen.msg)
end)

T.test("test_lifetimes_optimizer_over_finalized_model", function()
  local seen = finalized_after(function()
    return gd.optim.sgd{ lr = 0.1 }:build(model():params())
  end, function(opt) return opt:step() end)
  assert(seen.ok == false, "stepping over a finalized model's weights succeeded")
  assert(tostring(seen.msg):find(FREED, 1, true) or
         tostring(seen.msg):find("optimizer: its spec has been freed", 1, true), seen.msg)
end)

T.test("test_lifetimes_views_keep_the_model_alive", function()
  -- Without finalizer trouble, a view alone keeps the weights alive.
  local w = model():params()[1].value
  collectgarbage()
  collectgarbage()
  local again = model():params()[1].value
  for i = 1, #w do assert(w[i] == again[i], "weight " .. i .. " changed after a collection") end
end)

T.test("test_lifetimes_gc_is_not_a_method", function()
  local m = model()
  local l = gd.layer.dense{ units = 2 }:build{ inputs = 2, seed = 1 }
  local d = gd.data.synthetic.blobs{ n = 8, classes = 2, features = 2, seed = 1 }
  for what, obj in pairs({ model = m, layer = l, dataset = d }) do
    assert(obj.__gc == nil, what .. ".__gc is reachable as a method")
    assert(obj.__tostring == nil, what .. ".__tostring is reachable as a method")
  end
  assert(m.forward and l.forward and d.split, "methods are still there")
end)

T.test("test_lifetimes_finalizer_twice_is_harmless", function()
  local m = model()
  local w = m:params()[1].value
  local gc = getmetatable(m).__gc
  gc(m)
  gc(m)
  T.expect_error("model has no weights (not built, or freed by its finalizer)", m.forward, m,
                 gd.tensor({ 1, 2 }, { 1, 2 }))
  T.expect_error(FREED, function() return w[1] end)
  local l = gd.layer.dense{ units = 2 }:build{ inputs = 2, seed = 1 }
  getmetatable(l).__gc(l)
  getmetatable(l).__gc(l)
  T.expect_error("layer has no weights (freed by its finalizer)", l.params, l)
end)

T.test("test_lifetimes_views_at_lua_close", function()
  -- The same at a script's end: lua_close finalizes the holder (made first)
  -- last, after the model and the optimizer's spec.
  local exe = os.getenv("GRADUS_EXE") or error("GRADUS_EXE is not set")
  local path = os.tmpname() .. ".lua"
  local f = assert(io.open(path, "w"))
  f:write([[
local gd = require "gradus"
local holder = setmetatable({}, { __gc = function(self)
  print(pcall(function() return self.w[1] end))
  print(pcall(function() return self.opt:step() end))
end })
local m = gd.sequential{ gd.layer.dense{ units = 3 } }:build{ inputs = 2, seed = 1 }
holder.w = m:params()[1].value
holder.opt = gd.optim.sgd{ lr = 0.1 }:build(m:params())
]])
  f:close()
  local p = io.popen("'" .. exe .. "' run '" .. path .. "' 2>&1")
  local out = p:read("a")
  local _, how, code = p:close()
  os.remove(path)
  assert(how == "exit" and code == 0, ("exit: %s %s\n%s"):format(how, code, out))
  local lines = {}
  for line in out:gmatch("[^\n]+") do lines[#lines + 1] = line end
  assert(#lines == 2, out)
  for i = 1, 2 do
    assert(lines[i]:find("^false\t") and (lines[i]:find(FREED, 1, true) or
           lines[i]:find("its spec has been freed", 1, true)), lines[i])
  end
end)

T.run()
