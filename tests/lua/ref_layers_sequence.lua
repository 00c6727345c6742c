-- tests/lua/ref_layers_sequence.lua: every case of the reference
-- layers_sequence.lua (embedding, positional, gelu, dense and layer_norm on
-- [T, d], attention, cross_entropy per position) through layer:forward /
-- layer:backward and loss:forward / loss:backward.
-- Cases are read generically: the input is `x` (or `ids`, 1-based token ids),
-- each parameter comes from the field README names for it, and every tensor
-- field of a case must be consumed by a check, so a case with a new kind of
-- expectation fails instead of passing unchecked.
-- Tolerance (README): |got - want| <= 1e-5*max|want| + 1e-6*max|grad_y| per
-- tensor; losses 1e-5 relative.

local T = dofile(arg[0]:match("^(.-)[^/]*$") .. "support.lua")
local gd = T.gd
local ref = T.reference("layers_sequence")

-- The fields holding each layer's parameters, in params() order (README).
local PARAMS = {
  embedding = { "W" }, positional = { "P" }, gelu = {}, dense = { "W", "b" },
  attention = { "W_qkv", "b_qkv", "W_o", "b_o" }, layer_norm = { "gamma", "beta" },
}
local META = { name = true, layer = true, loss = true, options = true, mode = true,
               ids_base = true, targets_base = true }

local function consumed(c, used)
  for k in pairs(c) do
    if not META[k] and not used[k] then
      error(("case %s: field '%s' is not checked by this test"):format(c.name, k))
    end
  end
end

local function layer_case(c)
  local used = {}
  local check = function(what, got)
    local want = c[what]
    assert(want, c.name .. ": no field " .. what)
    used[what] = true
    T.close(c.name .. " " .. what, got, want, 1e-5 * T.maxabs(want) + 1e-6 * T.maxabs(c.grad_y))
  end
  local fields = PARAMS[c.layer] or error("unknown layer case type '" .. tostring(c.layer) .. "'")
  local input = c.x or c.ids
  if c.ids then assert(c.ids_base == 1, "ids are 1-based") end
  used.x, used.ids, used.grad_y = true, true, true
  local shape = {}
  for i = 2, #input.shape do shape[#shape + 1] = input.shape[i] end
  local l = T.spec("layer", c.layer, c.options):build{ inputs = shape, seed = 1 }
  local params, k = l:params(), 0
  for _, f in ipairs(fields) do
    if c[f] then
      k = k + 1
      params[k].value:copy(c[f])
      used[f] = true
    end
  end
  assert(k == #params, ("%s: %d parameters, the case gives %d"):format(c.name, #params, k))
  l:zero_grad()
  check("y", l:forward(gd.tensor(input), { training = c.mode == "train" }))
  local gx = l:backward(gd.tensor(c.grad_y))
  if c.x then check("grad_x", gx) end
  k = 0
  for _, f in ipairs(fields) do
    if c[f] then
      k = k + 1
      check("grad_" .. f, params[k].grad)
    end
  end
  consumed(c, used)
end

local function loss_case(c)
  assert(c.loss == "cross_entropy", "unknown loss case type '" .. tostring(c.loss) .. "'")
  assert(c.targets_base == 1, "targets are 1-based class numbers")
  local l = T.spec("loss", c.loss, c.options):build{}
  local v = l:forward(gd.tensor(c.logits), gd.tensor(c.targets))
  T.close_number(c.name .. " loss", v, c.loss_value, 1e-5)
  T.close(c.name .. " grad", l:backward(), c.grad_logits, 1e-5 * T.maxabs(c.grad_logits))
  consumed(c, { logits = true, targets = true, loss_value = true, grad_logits = true })
end

for _, c in ipairs(ref.cases) do
  T.test("test_" .. (c.layer and "layer_" or "loss_") .. c.name, function()
    if c.layer then layer_case(c) elseif c.loss then loss_case(c)
    else error("case " .. c.name .. " is neither a layer nor a loss case") end
  end)
end

T.run()
