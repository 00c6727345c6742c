-- tests/lua/probes.lua: gd.probe against closed forms and statistics, and
-- what a probe must not touch.
--
-- A linear model with the mse loss is a quadratic: with Z = [X, 1] (N x (in+1))
-- and K outputs, H is block-diagonal, one block A = 2/(N·K)·ZᵀZ per output,
-- laid out in params order (W row-major [K, in], then b [K]); so tr(H) =
-- K·tr(A), the eigenvalues of H are A's, each K times, and H·v follows.

local T = dofile(arg[0]:match("^(.-)[^/]*$") .. "support.lua")
local gd = T.gd

-- A small correlated data set (so that A has off-diagonal terms).
local function quad_data(N, inputs, K, seed)
  local s = seed
  local function rnd()   -- a small LCG: the test needs no gradus RNG
    s = (s * 1103515245 + 12345) % 2147483648
    return s / 2147483648 - 0.5
  end
  local x, y = {}, {}
  for n = 1, N do
    local row, common = {}, rnd()
    for i = 1, inputs do row[i] = rnd() + 0.8 * common + 0.1 * i end
    x[n] = row
    local t = {}
    for k = 1, K do t[k] = rnd() end
    y[n] = t
  end
  return gd.data.tensor{ x = gd.tensor(x), y = gd.tensor(y) }, x
end

-- A (in+1 x in+1) of the quadratic, in double.
local function quad_A(x, N, inputs, K)
  local A = {}
  for i = 1, inputs + 1 do
    A[i] = {}
    for j = 1, inputs + 1 do
      local s = 0
      for n = 1, N do
        local zi = i <= inputs and x[n][i] or 1
        local zj = j <= inputs and x[n][j] or 1
        s = s + zi * zj
      end
      A[i][j] = 2 * s / (N * K)
    end
  end
  return A
end

-- H·v of the quadratic, in params order.
local function quad_hvp(A, v, inputs, K)
  local out = {}
  for k = 1, K do
    local function idx(i) return i <= inputs and (k - 1) * inputs + i or K * inputs + k end
    for i = 1, inputs + 1 do
      local s = 0
      for j = 1, inputs + 1 do s = s + A[i][j] * v[idx(j)] end
      out[idx(i)] = s
    end
  end
  return out
end

-- Eigenvalues of a small symmetric matrix by cyclic Jacobi (double).
local function eigenvalues(A)
  local n, a = #A, {}
  for i = 1, n do a[i] = {} for j = 1, n do a[i][j] = A[i][j] end end
  for _ = 1, 60 do
    for p = 1, n - 1 do
      for q = p + 1, n do
        if a[p][q] ~= 0 then
          local th = (a[q][q] - a[p][p]) / (2 * a[p][q])
          local t = (th >= 0 and 1 or -1) / (math.abs(th) + math.sqrt(th * th + 1))
          local c = 1 / math.sqrt(t * t + 1)
          local s = t * c
          for k = 1, n do
            local akp, akq = a[k][p], a[k][q]
            a[k][p], a[k][q] = c * akp - s * akq, s * akp + c * akq
          end
          for k = 1, n do
            local apk, aqk = a[p][k], a[q][k]
            a[p][k], a[q][k] = c * apk - s * aqk, s * apk + c * aqk
          end
        end
      end
    end
  end
  local w = {}
  for i = 1, n do w[i] = a[i][i] end
  table.sort(w, function(u, v) return u > v end)
  return w
end

local function quadratic(N, inputs, K, seed)
  local data, x = quad_data(N, inputs, K, seed)
  local m = gd.sequential{ gd.layer.dense{ units = K } }:build{ inputs = inputs, seed = seed }
  return m, data, quad_A(x, N, inputs, K)
end

T.test("quadratic: hvp, eigen and trace match the closed form", function()
  local inputs, K = 4, 3
  local m, data, A = quadratic(40, inputs, K, 7)
  local p = gd.probe{ model = m, loss = gd.loss.mse{}, data = data, samples = "all", seed = 2 }
  local n = #m:flat_params()
  assert(n == K * (inputs + 1))
  local v = gd.tensor.zeros(n)
  for i = 1, n do v[i] = math.sin(i) end
  local want = quad_hvp(A, v, inputs, K)
  T.close("hvp", p:hvp(v), want, 1e-3 * T.maxabs(want))
  local ev = eigenvalues(A)
  local e = p:eigen{ k = 2, iters = n, tol = 1e-6 }
  -- the top eigenvalue has multiplicity K: both of the top two are ev[1]
  T.close_number("top eigenvalue", e.values[1], ev[1], 1e-3)
  T.close_number("second eigenvalue", e.values[2], ev[1], 1e-3)
  local lo = p:eigen{ k = 1, iters = n, tol = 1e-6, which = "smallest" }
  T.close_number("smallest eigenvalue", lo.values[1], ev[#ev], 1e-2)
  local tr = 0
  for i = 1, inputs + 1 do tr = tr + A[i][i] end
  T.close_number("exact trace", p:trace{ method = "exact" }.trace, K * tr, 1e-3)
  local h = p:trace{ probes = 400 }
  assert(math.abs(h.trace - K * tr) <= 4 * h.se, ("Hutchinson %.6g +- %.3g, exact %.6g")
         :format(h.trace, h.se, K * tr))
  -- a power of H: eigen's vector is an eigenvector of the closed form too
  local y = e.vectors[1]
  local hy = quad_hvp(A, y, inputs, K)
  for i = 1, n do
    assert(math.abs(hy[i] - ev[1] * y[i]) <= 1e-3 * ev[1], "eigenvector")
  end
end)

T.test("quadratic: Hutchinson within 3 standard errors in >= 95 of 100 seeds", function()
  local inputs, K = 3, 2
  local m, data, A = quadratic(24, inputs, K, 11)
  local tr = 0
  for i = 1, inputs + 1 do tr = tr + A[i][i] end
  tr = K * tr
  local inside = 0
  for seed = 1, 100 do
    local p = gd.probe{ model = m, loss = gd.loss.mse{}, data = data, seed = seed }
    local h = p:trace{ probes = 20 }
    assert(h.se > 0, "a standard error")
    if math.abs(h.trace - tr) <= 3 * h.se then inside = inside + 1 end
  end
  assert(inside >= 95, ("%d of 100 seeds within 3 standard errors"):format(inside))
end)

T.test("noise scale: the two-batch estimator agrees with the exact one on average", function()
  local data = gd.data.synthetic.blobs{ n = 256, classes = 3, features = 4, seed = 3 }
  local m = gd.sequential{ gd.layer.dense{ units = 8 }, gd.layer.tanh{},
                           gd.layer.dense{ units = 3 } }:build{ inputs = 4, seed = 2 }
  local p = gd.probe{ model = m, loss = gd.loss.cross_entropy{}, data = data, seed = 5 }
  local exact = p:noise_scale{ exact = true }
  assert(exact.b_simple > 0 and exact.tr_sigma > 0 and exact.grad_sq > 0)
  -- big = everything: |G_big|² is exact, so the estimates only vary with the small batch
  local est = p:noise_scale{ small = 16, big = 256, repeats = 200 }
  T.close_number("grad_sq with big = all", est.grad_sq, exact.grad_sq, 1e-4)
  T.close_number("tr_sigma averaged", est.tr_sigma, exact.tr_sigma, 0.15)
  local mid = p:noise_scale{ small = 8, big = 64, repeats = 200 }
  T.close_number("b_simple, small 8 big 64", mid.b_simple, exact.b_simple, 0.25)
  T.expect_error("1 <= small < big <= 256", function() p:noise_scale{ small = 64, big = 32 } end)
end)

-- A model with batch norm and dropout, trained a little so that its running
-- statistics and optimizer state are not trivial.
local function bn_model()
  local data = gd.data.synthetic.blobs{ n = 96, classes = 3, features = 5, seed = 4 }
  local seq = gd.sequential{ gd.layer.dense{ units = 6 }, gd.layer.batchnorm{},
                             gd.layer.relu{}, gd.layer.dropout{ rate = 0.3 },
                             gd.layer.dense{ units = 3 } }
  return seq, data
end

local function snapshot(m)
  local s = { m:flat_params():copy(), m:flat_grads():copy() }
  for _, b in ipairs(m:buffers()) do s[#s + 1] = b.value:copy() end
  return s
end

local function same(what, a, b)
  assert(#a == #b, what .. ": count")
  for k = 1, #a do
    for i = 1, #a[k] do
      if a[k][i] ~= b[k][i] then
        error(("%s: tensor %d element %d changed (%.9g -> %.9g)"):format(what, k, i, a[k][i],
              b[k][i]), 2)
      end
    end
  end
end

local function every_probe(p, n)
  p:loss(); p:grad(); p:hvp(gd.tensor.full({ n }, 0.1))
  p:eigen{ k = 2, iters = 8 }
  p:trace{ probes = 3 }
  p:noise_scale{ small = 8, big = 32, repeats = 2 }
  p:slice{ points = 3 }
  p:surface{ points = 3 }
end

T.test("probes leave weights, gradients, batch-norm statistics unchanged", function()
  local seq, data = bn_model()
  local run = gd.train{ model = seq, data = data, loss = gd.loss.cross_entropy{},
                        optimizer = gd.optim.adam{ lr = 1e-2 }, epochs = 2, batch = 16,
                        progress = false, seed = 3 }
  local m = run.model
  local p = gd.probe{ model = m, data = data, samples = 64, batch = 16 }
  local before = snapshot(m)
  every_probe(p, #m:flat_params())
  same("after every probe", snapshot(m), before)
  for _, v in ipairs({ p:loss(), p:noise_scale{ small = 8, big = 32 }.b_simple,
                       p:eigen{ k = 1, iters = 10 }.values[1] }) do
    assert(v == v and math.abs(v) < math.huge, "a finite number")
  end
  T.expect_error("exact = true needs per-example gradients",
                 function() p:noise_scale{ exact = true } end)
end)

T.test("probes during training change nothing of the run (optimizer state, RNG streams)", function()
  local seq, data = bn_model()
  local function train(probe_it)
    local m = seq:build{ inputs = 5, seed = 9 }
    local p = probe_it and gd.probe{ model = m, data = data, samples = 32, batch = 16, seed = 1 }
    gd.train{ model = m, data = data, loss = gd.loss.cross_entropy{},
              optimizer = gd.optim.adam{ lr = 1e-2 }, epochs = 2, batch = 16, progress = false,
              seed = 3, on_step = p and function(s)
                if s.step % 3 == 0 then every_probe(p, #m:flat_params()) end
              end or nil }
    return snapshot(m)
  end
  same("a run probed every 3 steps vs not probed", train(true), train(false))
end)

T.test("probes in training: recorded where due, the training itself unchanged", function()
  local seq, data = bn_model()
  local function train(probes)
    return gd.train{ model = seq, data = data, loss = gd.loss.cross_entropy{},
                     optimizer = gd.optim.momentum{ lr = 0.05 }, epochs = 3, batch = 16,
                     progress = false, seed = 4, monitor = { every = 2, probes = probes } }
  end
  local probes = { sharpness = { every = 4, samples = 48, iters = 6 },
                   trace = { every = 6, samples = 32, probes = 4 },
                   noise_scale = { samples = 64, small = 8, big = 32 },
                   distance = true, alpha = { every = 3 } }
  local a, b, plain = train(probes), train(probes), train(nil)
  same("weights with and without probes", { a.model:flat_params() }, { plain.model:flat_params() })
  assert(plain.history.probes == nil)
  local h = a.history.probes
  assert(#h == #b.history.probes)
  local steps = {}
  for i, r in ipairs(h) do
    steps[#steps + 1] = r.step
    for k, v in pairs(r) do
      if type(v) == "number" then
        assert(v == b.history.probes[i][k], ("record %d %s differs between two runs"):format(i, k))
      end
    end
    assert((r.sharpness ~= nil) == (r.step % 4 == 0), "sharpness where due")
    assert((r.trace ~= nil) == (r.step % 6 == 0), "trace where due")
    assert((r.noise_scale ~= nil) == (r.step % 2 == 0), "noise scale where due")
    assert(r.lr == 0.05)
    if r.step % 2 == 0 then
      assert(r.distance >= 0 and r.distance_layers.dense1 and r.distance_layers.dense2
             and r.distance_layers.batchnorm1, "distance per layer")
      local s = 0
      for _, d in pairs(r.distance_layers) do s = s + d * d end
      T.close_number("distance is the layers' total", r.distance, math.sqrt(s), 1e-9)
    end
  end
  assert(h[1].step == 0 and h[1].distance == 0, "the start is recorded")
  -- steps 0, 2, 3, 4, 6, ... up to the last (18 updates: 96/16 x 3)
  assert(table.concat(steps, ",") == "0,2,3,4,6,8,9,10,12,14,15,16,18", table.concat(steps, ","))
  assert(h[2].alpha == nil and h[3].alpha ~= nil, "alpha where due")
  T.expect_error("monitor.probes: unknown option 'sharp'", function() train({ sharp = true }) end)
  T.expect_error("monitor.probes.trace: unknown option 'probe'",
                 function() train({ trace = { probe = 3 } }) end)
  T.expect_error("monitor: unknown option 'prob'", function()
    gd.train{ model = seq, data = data, loss = gd.loss.cross_entropy{},
              optimizer = gd.optim.sgd{}, progress = false, monitor = { prob = {} } }
  end)
end)

T.test("sharpness in training is the top eigenvalue at those weights", function()
  -- full-batch GD past the edge of stability (2/lr = 10 below the initial
  -- sharpness): the sharpness moves and its eigenvector turns between
  -- measurements; a cold Lanczos run at the same weights (after each 10th
  -- update, from on_step) is the reference. Forward differences miss it by
  -- up to 2.7 % here, central ones by 0.2 %.
  local n = 200
  local data = T.fashion_mnist{ limit = n }
  if not data then return end
  local m = gd.sequential{ gd.layer.dense{ units = 32 }, gd.layer.tanh{}, gd.layer.dense{ units = 32 },
                           gd.layer.tanh{}, gd.layer.dense{ units = 10 } }:build{ inputs = 784, seed = 2 }
  local p = gd.probe{ model = m, data = data, batch = n }
  local cold = {}
  local run = gd.train{ model = m, data = data, loss = gd.loss.cross_entropy{},
                        optimizer = gd.optim.sgd{ lr = 0.2 }, epochs = 100, batch = "full",
                        progress = false, seed = 2,
                        monitor = { every = 10, probes = { sharpness = { samples = n, iters = 30 } } },
                        on_step = function(st)
                          if (st.step + 1) % 10 == 0 then
                            cold[st.step + 1] = p:eigen{ k = 1, iters = 200, tol = 1e-7 }.values[1]
                          end
                        end }
  local lo, hi = math.huge, 0
  for _, r in ipairs(run.history.probes) do
    if r.step > 0 then
      T.close_number("sharpness at step " .. r.step, r.sharpness, cold[r.step], 0.01)
      lo, hi = math.min(lo, r.sharpness), math.max(hi, r.sharpness)
    end
  end
  assert(#run.history.probes == 11 and hi > 1.3 * lo, "the sharpness moved during the run")
end)

T.test("a run with probes resumes bit for bit", function()
  local data = gd.data.synthetic.blobs{ n = 96, classes = 3, features = 5, seed = 4 }
  local dir = T.tmpdir()
  local function opts(epochs, ckpt)
    return { model = gd.sequential{ gd.layer.dense{ units = 6 }, gd.layer.batchnorm{},
                                    gd.layer.tanh{}, gd.layer.dense{ units = 3 } },
             data = data, loss = gd.loss.cross_entropy{}, optimizer = gd.optim.adam{ lr = 1e-2 },
             epochs = epochs, batch = 16, progress = false, seed = 6, checkpoint = ckpt,
             -- sharpness and alpha are both due at step 6, where the first part ends
             monitor = { every = 2, probes = { sharpness = { every = 3, samples = 48, iters = 5 },
                                                trace = { every = 4, samples = 32, probes = 3 },
                                                noise_scale = { samples = 64, small = 8, big = 32 },
                                                distance = true, alpha = { every = 3 } } } }
  end
  local whole = gd.train(opts(3))
  local path = dir .. "/run.ckpt"
  local first = gd.train(opts(1, { path = path }))
  assert(#first.history.probes < #whole.history.probes)
  local resumed = gd.resume(path, { epochs = 3, progress = false })
  same("weights after resuming", { resumed.model:flat_params() }, { whole.model:flat_params() })
  local a, b = whole.history.probes, resumed.history.probes
  assert(#a == #b, ("%d records, resumed %d"):format(#a, #b))
  for i = 1, #a do
    for k, v in pairs(a[i]) do
      if type(v) == "number" then
        assert(b[i][k] == v, ("record %d (step %d) %s: %s, resumed %s"):format(i, a[i].step, k,
               v, tostring(b[i][k])))
      end
    end
    assert((a[i].distance_layers == nil) == (b[i].distance_layers == nil))
    for k, v in pairs(a[i].distance_layers or {}) do assert(b[i].distance_layers[k] == v) end
  end
  os.execute("rm -rf '" .. dir .. "'")
end)

T.test("diagnoses: edge of stability and the batch against the noise scale", function()
  local diagnose = require("gradus.diagnose").diagnose
  local function run_with(records)
    return { history = { epochs = {}, steps = {}, probes = records } }
  end
  local function kinds(d)
    local k = {}
    for _, x in ipairs(d) do k[#k + 1] = x.kind end
    return table.concat(k, ",")
  end
  local function sharp(ratios, lr)
    local r = {}
    for i, x in ipairs(ratios) do r[i] = { step = 10 * i, lr = lr, sharpness = x * 2 / lr } end
    return r
  end
  local sgd = { optimizer = gd.optim.sgd{ lr = 0.1 }, batch = 64 }
  -- the first half does not count: rising from far below, then hovering at 2/lr
  assert(kinds(diagnose(run_with(sharp({ 0.2, 0.4, 0.6, 1.02, 0.97, 1.05 }, 0.1)), sgd)) == "edge_of_stability")
  local d = diagnose(run_with(sharp({ 1, 1, 1, 1.3, 1.25, 1.4 }, 0.1)), sgd)
  assert(d[1].message:find("^beyond the edge"), d[1] and d[1].message)
  assert(kinds(diagnose(run_with(sharp({ 0.2, 0.4, 0.6, 0.8, 0.85, 0.8 }, 0.1)), sgd)) == "")
  -- momentum's threshold is (2 + 2 gamma)/lr: 2/lr is only half of it
  local mom = { optimizer = gd.optim.momentum{ lr = 0.1, gamma = 0.9 }, batch = 64 }
  assert(kinds(diagnose(run_with(sharp({ 1, 1, 1, 1, 1, 1 }, 0.1)), mom)) == "")
  assert(kinds(diagnose(run_with(sharp({ 1.9, 1.9, 1.9, 1.9, 1.9 }, 0.1)), mom)) == "edge_of_stability")
  -- adaptive optimizers have no such threshold: no diagnosis
  assert(kinds(diagnose(run_with(sharp({ 1, 1, 1, 1, 1 }, 0.1)),
                        { optimizer = gd.optim.adam{}, batch = 64 })) == "")
  local function noise(values)
    local r = {}
    for i, x in ipairs(values) do r[i] = { step = 10 * i, lr = 0.1, noise_scale = x } end
    return r
  end
  local function with_batch(b) return { optimizer = gd.optim.sgd{}, batch = b } end
  assert(kinds(diagnose(run_with(noise({ 1e4, 20, 30, 25, 28 })), with_batch(1024))) == "batch_above_noise_scale")
  assert(kinds(diagnose(run_with(noise({ 5, 900, 1100, 1000, 950 })), with_batch(32))) == "batch_below_noise_scale")
  assert(kinds(diagnose(run_with(noise({ 50, 60, 40, 80, 70 })), with_batch(64))) == "")
  assert(kinds(diagnose(run_with(noise({ 50, 60, 40, 80, 70 })), with_batch("full"))) == "")
end)

T.test("the report plots each recorded probe per variant", function()
  local data = gd.data.synthetic.blobs{ n = 64, classes = 3, features = 4, seed = 2 }
  local res = gd.compare{
    base = { model = gd.sequential{ gd.layer.dense{ units = 5 }, gd.layer.tanh{}, gd.layer.dense{ units = 3 } },
             data = data, loss = gd.loss.cross_entropy{}, epochs = 2, batch = 8, progress = false,
             monitor = { every = 4, probes = { sharpness = { samples = 32, iters = 5 },
                                               noise_scale = { samples = 64, small = 4, big = 32 } } } },
    variants = { { name = "a", optimizer = gd.optim.sgd{ lr = 0.1 } },
                 { name = "b", optimizer = gd.optim.sgd{ lr = 0.3 } } },
    progress = false }
  assert(#res.variants[1].runs[1].history.probes == 5, "probes recorded through gd.compare")
  local dir = T.tmpdir()
  gd.report(res, { dir = dir })
  local page = T.slurp(dir .. "/index.html")
  for _, name in ipairs({ "probe_sharpness", "probe_noise_scale" }) do
    assert(T.exists(dir .. "/" .. name .. ".png"), name .. ".png")
    assert(page:find('id="plot-' .. name .. '"', 1, true), name .. " on the page")
  end
  assert(not T.exists(dir .. "/probe_trace.png"), "no plot of a probe not recorded")
  local svg = T.slurp(dir .. "/probe_sharpness.svg")
  assert(svg:find("b: 2/lr", 1, true) and svg:find("a: 2/lr", 1, true), "2/lr guides")
  assert(T.slurp(dir .. "/probe_noise_scale.svg"):find("batch 8", 1, true), "the batch size guide")
  os.execute("rm -rf '" .. dir .. "'")
end)

T.test("probe options: unknown keys and bad values are refused", function()
  local m, data = quadratic(10, 2, 1, 1)
  T.expect_error("unknown option 'sample'", gd.probe, { model = m, data = data, sample = 5 })
  T.expect_error("'model' is required", gd.probe, { data = data })
  T.expect_error("'samples' must be an integer >= 2", gd.probe,
                 { model = m, data = data, samples = 1 })
  local other = gd.data.tensor{ x = gd.tensor.zeros(4, 3), y = gd.tensor.zeros(4, 1) }
  T.expect_error("the data has 3 features per sample, the model takes 2", gd.probe,
                 { model = m, data = other })
  local p = gd.probe{ model = m, data = data }
  T.expect_error("unknown option 'iter'", function() p:eigen{ iter = 3 } end)
  T.expect_error("the vector has 2 elements, the model 3 parameters",
                 function() p:hvp(gd.tensor{ 1, 2 }) end)
  T.expect_message("probe:trace: option 'method' must be \"hutchinson\" or \"exact\", got the string \"x\"", function() p:trace{ method = "x" } end)
  T.expect_message("probe:slice: option 'normalize' must be \"filter\", \"unit\" or \"none\", got the string \"l2\"",
                   function() p:slice{ normalize = "l2" } end)
  T.expect_error("directions must be { d1, d2 }", function() p:surface{ directions = { 1 } } end)
end)

T.test("landscapes: filter-normalized directions and the slice through w", function()
  local data = gd.data.synthetic.blobs{ n = 64, classes = 3, features = 4, seed = 3 }
  local m = gd.sequential{ gd.layer.dense{ units = 5 }, gd.layer.tanh{},
                           gd.layer.dense{ units = 3 } }:build{ inputs = 4, seed = 2 }
  local p = gd.probe{ model = m, data = data }
  local s = p:slice{ points = 5, range = 0.5 }
  T.close_number("slice at 0 is the loss", s.loss[3], p:loss(), 1e-6)
  -- filter normalization: each row of a weight matrix has its weights' norm; biases 0
  local d, params, off = s.direction, m:params(), 0
  for _, pr in ipairs(params) do
    local shape, numel = pr.value:shape(), #pr.value
    local part = d:slice(off + 1, off + numel)
    if pr.role == "bias" then
      assert(part:norm() == 0, pr.name .. ": a bias direction is zero")
    else
      for r = 1, shape[1] do
        T.close_number(pr.name .. " row norm", part:reshape(shape):row(r):norm(),
                       pr.value:row(r):norm(), 1e-5)
      end
    end
    off = off + numel
  end
  local sf = p:surface{ points = 3, range = 0.2 }
  T.close_number("surface centre is the loss", sf.loss[2][2], p:loss(), 1e-6)
  assert(#sf.loss == 3 and #sf.loss[1] == 3 and #sf.directions == 2)
end)

T.test("probes on batch norm inside a residual block: finite, consistent, nothing touched", function()
  local data = gd.data.synthetic.blobs{ n = 96, classes = 3, features = 5, seed = 4 }
  local seq = gd.sequential{ gd.layer.dense{ units = 6 },
    gd.residual{ gd.layer.dense{ units = 6 }, gd.layer.batchnorm{}, gd.layer.relu{},
                 gd.layer.dense{ units = 6 } },
    gd.layer.relu{}, gd.layer.dense{ units = 3 } }
  local run = gd.train{ model = seq, data = data, loss = gd.loss.cross_entropy{},
                        optimizer = gd.optim.adam{ lr = 1e-2 }, epochs = 2, batch = 16,
                        progress = false, seed = 3 }
  local m = run.model
  local n = #m:flat_params()
  local p = gd.probe{ model = m, data = data, samples = 64, batch = 16 }
  local before = snapshot(m)
  assert(#before > 2, "the block's batch norm has running statistics")
  every_probe(p, n)
  local e = p:eigen{ k = 1, iters = 40, tol = 1e-4 }
  local exact = p:trace{ method = "exact" }
  local hutch = p:trace{ probes = 200 }
  local ns = p:noise_scale{ small = 8, big = 32, repeats = 4 }
  same("after every probe", snapshot(m), before)
  for what, v in pairs{ sharpness = e.values[1], trace = exact.trace, hutchinson = hutch.trace,
                        se = hutch.se, b_simple = ns.b_simple } do
    assert(v == v and math.abs(v) < math.huge, what .. ": a finite number, got " .. tostring(v))
  end
  -- the top eigenvector's Rayleigh quotient is its eigenvalue; Hutchinson
  -- agrees with the exact trace (one HVP per parameter) within its error
  local v = e.vectors[1]
  T.close_number("v.Hv / v.v", p:hvp(v):dot(v) / v:dot(v), e.values[1], 2e-2)
  assert(e.values[1] > 0 and ns.b_simple > 0, "positive curvature and noise scale")
  assert(math.abs(hutch.trace - exact.trace) <= 4 * hutch.se,
         ("Hutchinson %g +- %g against the exact trace %g"):format(hutch.trace, hutch.se, exact.trace))
  same("after the checks", snapshot(m), before)
end)

T.test("tensor vector operations", function()
  local a, b = gd.tensor{ 1, 2, 3, 4 }, gd.tensor{ { 0.5, 0.5 }, { -1, 2 } }
  assert(a:dot(b) == 0.5 + 1 - 3 + 8)
  a:axpy(2, b)
  assert(a[1] == 2 and a[4] == 8)
  a:scale(0.5)
  assert(a[2] == 1.5 and math.abs(a:norm() - math.sqrt(1 + 2.25 + 0.25 + 16)) < 1e-6)
  local v = a:slice(2, 3)
  v:fill(7)
  assert(a[2] == 7 and a[3] == 7 and a[4] == 4 and #v == 2, "slice is a live view")
  local r = b:row(2)
  r:scale(2)
  assert(b[3] == -2 and b[4] == 4, "row is a live view")
  local c = a:copy()
  c[1] = 99
  assert(a[1] == 1, "copy() is a new tensor")
  T.expect_error("tensors of 4 and 3 elements", function() a:dot(gd.tensor{ 1, 2, 3 }) end)
  T.expect_error("elements 3..5 outside 1..4", function() a:slice(3, 5) end)
  T.expect_error("the factor must be finite", function() a:scale(0 / 0) end)
  local m = gd.sequential{ gd.layer.dense{ units = 2 } }:build{ inputs = 3 }
  local w, g = m:flat_params(), m:flat_grads()
  assert(#w == 8 and #g == 8)
  w:fill(0.25)
  assert(m:params()[1].value[1] == 0.25 and m:params()[2].value[2] == 0.25, "a live view")
end)

T.run()
