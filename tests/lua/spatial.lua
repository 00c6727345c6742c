-- tests/lua/spatial.lua: the image layers beyond the reference values:
-- finite-difference gradient checks of every new layer (on both conv2d
-- paths: meson runs this file once more with GRADUS_BLAS=openblas), the
-- refusals with their messages, and the integer-list options.

local T = dofile(arg[0]:match("^(.-)[^/]*$") .. "support.lua")
local gd = T.gd

math.randomseed(20261207)
local function gauss()
  return math.sqrt(-2 * math.log(1 - math.random())) * math.cos(2 * math.pi * math.random())
end

local function random_tensor(shape, scale)
  local t = gd.tensor.zeros(shape)
  for i = 1, #t do t[i] = (scale or 1) * gauss() end
  return t
end

local function copy(t)
  local c = {}
  for i = 1, #t do c[i] = t[i] end
  return c
end

-- Central differences of L = sum(y * r) against backward, for x and every
-- parameter, in training mode.
local function fd_check(what, spec, inputs, batch)
  local l = spec:build{ inputs = inputs, seed = 3 }
  for _, p in ipairs(l:params()) do
    for i = 1, #p.value do p.value[i] = 0.5 * gauss() + (p.name == "gamma" and 1 or 0) end
  end
  local xs = { batch }
  for i, d in ipairs(inputs) do xs[i + 1] = d end
  local x = random_tensor(xs)
  local y = l:forward(x, { training = true })
  local r = random_tensor(y:shape())
  l:zero_grad()
  local gx = copy(l:backward(r))
  local grads = {}
  for k, p in ipairs(l:params()) do grads[k] = copy(p.grad) end
  local function objective()
    local yy = l:forward(x, { training = true })
    local s = 0
    for i = 1, #yy do s = s + yy[i] * r[i] end
    return s
  end
  local h = 1e-2
  local function compare(label, v, analytic)
    for i = 1, #v do
      local keep = v[i]
      v[i] = keep + h
      local up = objective()
      v[i] = keep - h
      local down = objective()
      v[i] = keep
      local fd, an = (up - down) / (2 * h), analytic[i]
      if not (math.abs(fd - an) <= 5e-3 + 1e-2 * math.max(math.abs(fd), math.abs(an))) then
        error(("%s: %s[%d] backward %.6g, finite differences %.6g"):format(what, label, i, an, fd), 2)
      end
    end
  end
  compare("x", x, gx)
  for k, p in ipairs(l:params()) do compare(p.name, p.value, grads[k]) end
end

local GRADIENT_CASES = {
  { "conv2d", gd.layer.conv2d{ filters = 3, kernel = 3 }, { 2, 5, 6 } },
  { "conv2d_stride_pad", gd.layer.conv2d{ filters = 2, kernel = { 3, 2 }, stride = { 2, 1 },
                                          padding = { 1, 0 } }, { 2, 6, 5 } },
  { "conv2d_same", gd.layer.conv2d{ filters = 2, kernel = 3, padding = "same" }, { 1, 4, 4 } },
  { "conv2d_nobias", gd.layer.conv2d{ filters = 2, kernel = 1, bias = false }, { 3, 3, 3 } },
  { "max_pool2d", gd.layer.max_pool2d{}, { 2, 4, 6 } },
  { "max_pool2d_odd", gd.layer.max_pool2d{}, { 1, 5, 5 } },
  { "avg_pool2d_odd", gd.layer.avg_pool2d{}, { 1, 5, 3 } },
  { "max_pool2d_overlap_pad", gd.layer.max_pool2d{ size = 3, stride = 2, padding = 1 }, { 1, 5, 5 } },
  { "avg_pool2d", gd.layer.avg_pool2d{ size = { 2, 3 } }, { 2, 4, 6 } },
  { "avg_pool2d_pad", gd.layer.avg_pool2d{ size = 3, stride = 2, padding = 1 }, { 1, 5, 4 } },
  { "global_avg_pool", gd.layer.global_avg_pool{}, { 3, 2, 3 } },
  { "flatten", gd.layer.flatten{}, { 2, 3, 2 } },
  { "reshape", gd.layer.reshape{ shape = { 3, -1 } }, { 12 } },
  { "layer_norm_image", gd.layer.layer_norm{}, { 2, 3, 3 } },
  { "layer_norm_sequence", gd.layer.layer_norm{}, { 3, 4 } },
  { "batchnorm_image", gd.layer.batchnorm{}, { 2, 3, 2 } },
}

for _, c in ipairs(GRADIENT_CASES) do
  T.test("test_gradient_" .. c[1], function() fd_check(c[1], c[2], c[3], 3) end)
end

-- The fused ReLU (no finite differences across its kink): the same numbers
-- as the plain convolution followed by max(0, .), its gradient dy masked by y > 0.
T.test("test_conv2d_fused_relu", function()
  local opts = { filters = 3, kernel = 3, padding = "same" }
  local plain = gd.layer.conv2d(opts):build{ inputs = { 2, 5, 5 }, seed = 4 }
  opts.activation = "relu"
  local fused = gd.layer.conv2d(opts):build{ inputs = { 2, 5, 5 }, seed = 4 }
  local x = random_tensor{ 3, 2, 5, 5 }
  local r = random_tensor{ 3, 3, 5, 5 }
  local yp, yf = plain:forward(x, { training = true }), fused:forward(x, { training = true })
  local masked, zeros = gd.tensor.zeros{ 3, 3, 5, 5 }, 0
  for i = 1, #yp do
    local want = math.max(0, yp[i])
    assert(math.abs(yf[i] - want) <= 1e-5 * (1 + math.abs(want)), "y " .. i)
    masked[i] = yp[i] > 0 and r[i] or 0
    if yp[i] <= 0 then zeros = zeros + 1 end
  end
  assert(zeros > 10 and zeros < #yp - 10, "both signs occur")
  local gp, gf = plain:backward(masked), fused:backward(r)
  T.close("dx", gf, copy(gp), 1e-5 * T.maxabs(copy(gp)))
  for k = 1, 2 do
    local want = copy(plain:params()[k].grad)
    T.close("grad " .. k, fused:params()[k].grad, want, 1e-5 * T.maxabs(want))
  end
end)

-- Muon and Adafactor see a conv2d W [filters, C, kh, kw] as the matrix
-- [filters, C*kh*kw]: the same steps as on that matrix, and not those of a
-- vector of the same numbers (Muon's fallback, Adafactor's unfactored path).
T.test("test_matrix_optimizers_on_conv_weights", function()
  local g = {}
  for t = 1, 3 do g[t] = random_tensor{ 4, 2, 3, 3 } end
  local w0 = random_tensor{ 4, 2, 3, 3 }
  local function run(spec, shape)
    local w = gd.tensor(copy(w0), shape)
    local opt = spec:build{ w }
    for t = 1, 3 do opt:step{ gd.tensor(copy(g[t]), shape) } end
    return copy(w)
  end
  for _, spec in ipairs{ gd.optim.muon{ lr = 0.02 }, gd.optim.adafactor{ lr = 0.01 } } do
    local four, two, one = run(spec, { 4, 2, 3, 3 }), run(spec, { 4, 18 }), run(spec, { 72 })
    local differs = false
    for i = 1, #four do
      assert(four[i] == two[i], tostring(spec) .. ": 4-D and [4, 18] differ at " .. i)
      differs = differs or math.abs(four[i] - one[i]) > 1e-6
      assert(four[i] ~= w0[i], "moved")
    end
    assert(differs, tostring(spec) .. ": the 4-D weight took the vector path")
  end
end)

-- A layer built against ABI 1.1 (tests/fixtures/fixture_abi11.c) loads in
-- this 1.2 core and trains after conv2d and a pool.
T.test("test_abi11_layer_trains_beside_image_layers", function()
  local dir = os.getenv("GRADUS_FIXTURE_DIR") or error("GRADUS_FIXTURE_DIR is not set")
  gd.plugins.load(dir .. "/fixture_abi11.so")
  local x = random_tensor{ 40, 1, 6, 6 }
  local y = {}
  for i = 1, 40 do y[i] = x[(i - 1) * 36 + 1] > 0 and 1 or 2 end
  local data = gd.data.tensor{ x = x, y = y }
  local run = gd.train{
    model = gd.sequential{ gd.layer.conv2d{ filters = 2, kernel = 3, padding = "same" },
                           gd.layer.avg_pool2d{}, gd.layer.abi11_dense{} },
    loss = gd.loss.cross_entropy{}, optimizer = gd.optim.adam{ lr = 0.01 }, data = data,
    epochs = 20, batch = 8, seed = 1, progress = false }
  local e = run.history.epochs
  assert(run.status == "ok" and e[#e].train_loss < 0.8 * e[1].train_loss,
         ("loss %.4f -> %.4f"):format(e[1].train_loss, e[#e].train_loss))
end)

T.test("test_shapes", function()
  local function out(spec, inputs)
    return table.concat(spec:build{ inputs = inputs }:output_shape(), ",")
  end
  assert(out(gd.layer.conv2d{ filters = 32, kernel = 5, padding = "same" }, { 1, 28, 28 }) == "32,28,28")
  assert(out(gd.layer.conv2d{ filters = 4, kernel = 3, stride = 2, padding = 1 }, { 2, 7, 7 }) == "4,4,4")
  assert(out(gd.layer.max_pool2d{}, { 32, 28, 28 }) == "32,14,14")
  assert(out(gd.layer.max_pool2d{ size = 3, stride = 2, padding = 1 }, { 1, 7, 7 }) == "1,4,4")
  assert(out(gd.layer.global_avg_pool{}, { 5, 3, 4 }) == "5")
  assert(out(gd.layer.flatten{}, { 64, 7, 7 }) == "3136")
  assert(out(gd.layer.reshape{ shape = { 1, 28, 28 } }, { 784 }) == "1,28,28")
  assert(out(gd.layer.reshape{ shape = { -1, 7 } }, { 2, 7, 2 }) == "4,7")
  local w = gd.layer.conv2d{ filters = 6, kernel = { 3, 5 } }:build{ inputs = { 2, 9, 9 } }:params()
  assert(table.concat(w[1].value:shape(), ",") == "6,2,3,5" and w[1].role == "weight")
  assert(table.concat(w[2].value:shape(), ",") == "6" and w[2].role == "bias")
  local ln = gd.layer.layer_norm{}:build{ inputs = { 5, 8 } }:params()
  assert(table.concat(ln[1].value:shape(), ",") == "8", "layer_norm on [T, d]: gamma is [d]")
  local bn = gd.layer.batchnorm{}:build{ inputs = { 3, 4, 4 } }:params()
  assert(table.concat(bn[1].value:shape(), ",") == "3", "batchnorm on images: gamma per channel")
end)

T.test("test_initializer_fans", function()
  -- xavier_uniform: limit sqrt(6 / (fan_in + fan_out)), fan_in = C*kh*kw = 2*9,
  -- fan_out = filters*kh*kw = 8*9: every weight within it and the largest near it.
  local l = gd.layer.conv2d{ filters = 8, kernel = 3 }:build{ inputs = { 2, 5, 5 }, seed = 5 }
  local w, limit, m = l:params()[1].value, math.sqrt(6 / (18 + 72)), 0
  for i = 1, #w do m = math.max(m, math.abs(w[i])) end
  assert(m <= limit and m > 0.9 * limit, ("max |w| %g, limit %g"):format(m, limit))
end)

T.test("test_int_list_options", function()
  local s = gd.layer.conv2d{ filters = 2, kernel = { 3, 5 }, padding = "same" }
  local o = s:options()
  assert(type(o.kernel) == "table" and o.kernel[1] == 3 and o.kernel[2] == 5)
  assert(o.padding == "same" and o.stride == 1)
  assert(tostring(s):find("kernel={3,5}", 1, true), tostring(s))
  assert(gd.layer.max_pool2d{}:options().size == 2)
end)

T.test("test_refusals", function()
  local function refuse(fragment, spec, inputs)
    T.expect_error(fragment, spec.build, spec, { inputs = inputs })
  end
  refuse("conv2d: needs an image input [C, H, W], got [784] (give the data set a shape",
         gd.layer.conv2d{ filters = 2, kernel = 3 }, { 784 })
  refuse("conv2d: kernel 7x7 is larger than the padded input 5x5",
         gd.layer.conv2d{ filters = 2, kernel = 7 }, { 1, 5, 5 })
  refuse("conv2d: padding \"same\" needs an odd kernel, got 4x4",
         gd.layer.conv2d{ filters = 2, kernel = 4, padding = "same" }, { 1, 8, 8 })
  refuse("conv2d: option 'kernel' must be one integer or { h, w }, got 3 integers",
         gd.layer.conv2d{ filters = 2, kernel = { 1, 2, 3 } }, { 1, 8, 8 })
  refuse("max_pool2d: padding 2x2 is more than half the window 2x2",
         gd.layer.max_pool2d{ padding = 2 }, { 1, 8, 8 })
  refuse("max_pool2d: window 3x3 is larger than the padded input 2x2",
         gd.layer.max_pool2d{ size = 3 }, { 1, 2, 2 })
  refuse("global_avg_pool: needs an image input [C, H, W], got [3, 4]",
         gd.layer.global_avg_pool{}, { 3, 4 })
  refuse("reshape: input [2, 3] has 6 elements, 'shape' [4] cannot hold them",
         gd.layer.reshape{ shape = { 4 } }, { 2, 3 })
  refuse("reshape: input [2, 3] has 6 elements, 'shape' [-1, 4] cannot hold them",
         gd.layer.reshape{ shape = { -1, 4 } }, { 2, 3 })
  refuse("reshape: 'shape' entries must be >= 1, with at most one -1",
         gd.layer.reshape{ shape = { -1, -1 } }, { 2, 3 })
  T.expect_error("conv2d: option 'padding' must be 1 to 4 integers or one of 'same', got 'valid'",
                 gd.layer.conv2d, { filters = 1, kernel = 3, padding = "valid" })
  T.expect_error("conv2d: option 'kernel' must be >= 1, got 0", gd.layer.conv2d,
                 { filters = 1, kernel = 0 })
  T.expect_error("conv2d: option 'kernel' must be an integer or a list of integers, got",
                 gd.layer.conv2d, { filters = 1, kernel = { 1.5 } })
  T.expect_error("conv2d: option 'kernel' is required", gd.layer.conv2d, { filters = 1 })
  T.expect_error("unknown option 'strides' (did you mean 'stride'?", gd.layer.conv2d,
                 { filters = 1, kernel = 3, strides = 2 })
  T.expect_error("reshape: option 'shape' is required", gd.layer.reshape, {})
  -- a refused forward changes nothing
  local l = gd.layer.conv2d{ filters = 1, kernel = 3 }:build{ inputs = { 1, 4, 4 } }
  T.expect_error("input has shape [2, 16], expected [batch, 1, 4, 4]", l.forward, l,
                 gd.tensor.zeros{ 2, 16 })
end)

T.run()
