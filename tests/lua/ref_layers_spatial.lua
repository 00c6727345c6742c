-- tests/lua/ref_layers_spatial.lua: every layer case of the spatial reference
-- through gd.layer.<name>{...}:build{ inputs = sample shape }, :forward and
-- :backward. A case is driven by its fields alone: parameters are matched to
-- case fields by name (weight → W, bias → b, others as named, gradients as
-- grad_<field>), buffers by name (and <name>_after), so a case added to the
-- file later is picked up without code changes. Run on both conv2d paths:
-- the default (oneDNN where built in) and GRADUS_BLAS=openblas (the plain
-- im2col path); see tests/meson.build.
-- Residual-block cases (block = "residual") are the core's blocks and are
-- checked by tests/lua/ref_blocks.lua, not here.
-- Tolerance (README): |got - want| <= 1e-5*max|want| + 1e-6*max|grad_y| per tensor.

local T = dofile(arg[0]:match("^(.-)[^/]*$") .. "support.lua")
local gd = T.gd
local ref = T.reference("layers_spatial")

local FIELD = { weight = "W", bias = "b" }   -- param name → case field

local function check(c, what, got, want)
  local gy = c.grad_y and T.maxabs(c.grad_y) or 0
  T.close(c.name .. " " .. what, got, want, 1e-5 * T.maxabs(want) + 1e-6 * gy)
end

local function sample_shape(t)
  local s = {}
  for i = 2, #t.shape do s[i - 1] = t.shape[i] end
  return s
end

local function layer_case(c)
  if c.mode ~= "train" and c.mode ~= "eval" then error("unknown mode " .. tostring(c.mode)) end
  local x = gd.tensor(c.x)
  local l = T.spec("layer", c.layer, c.options):build{ inputs = sample_shape(c.x), seed = 1 }
  local params, buffers = l:params(), l:buffers()
  for _, p in ipairs(params) do
    local key = FIELD[p.name] or p.name
    assert(c[key], ("%s: case has no '%s' for parameter '%s'"):format(c.name, key, p.name))
    p.value:copy(c[key])
  end
  for _, b in ipairs(buffers) do
    if c[b.name] then b.value:copy(c[b.name]) end
  end
  l:zero_grad()
  local y = l:forward(x, { training = c.mode == "train" })
  check(c, "y", y, c.y)
  local gx = l:backward(gd.tensor(c.grad_y))
  check(c, "grad_x", gx, c.grad_x)
  for _, p in ipairs(params) do
    local key = "grad_" .. (FIELD[p.name] or p.name)
    assert(c[key], ("%s: case has no '%s'"):format(c.name, key))
    check(c, key, p.grad, c[key])
  end
  for _, b in ipairs(buffers) do
    local want = c[b.name .. "_after"] or c[b.name]
    if want then check(c, b.name, b.value, want) end
  end
end

local n = 0
for _, c in ipairs(ref.cases) do
  if c.layer then
    n = n + 1
    T.test("test_layer_" .. c.name, function() layer_case(c) end)
  elseif c.block ~= "residual" then
    error("case " .. c.name .. " is neither a layer nor a residual block case")
  end
end
assert(n >= 13, "the reference has at least 13 layer cases, found " .. n)

T.run()
