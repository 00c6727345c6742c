-- tests/lua/mpi.lua: data-parallel training, run by meson as
--   mpirun -np 2 gradus run tests/lua/mpi.lua
-- Every rank runs every case (each gd.train and gd.dist call is
-- collective). The tolerance: 2 ranks sum two float32 half-batch
-- gradients where one process sums the whole batch in one product, so the
-- numbers differ by rounding only; over 64 steps the losses stay within
-- 1e-5 relative of the one-process run.
local T = dofile(arg[0]:match("^(.-)[^/]*$") .. "support.lua")
local gd = T.gd

local data = gd.data.synthetic.spirals{ n = 256, classes = 3, seed = 1 }
local function cfg(extra)
  local c = { model = gd.sequential{ gd.layer.dense{ units = 16 }, gd.layer.tanh{},
                                     gd.layer.dense{ units = 3 } },
              loss = gd.loss.cross_entropy{}, optimizer = gd.optim.momentum{ lr = 0.05 },
              data = data, epochs = 4, batch = 16, seed = 3, progress = false }
  for k, v in pairs(extra or {}) do c[k] = v end
  return c
end

-- The parameters exactly, as text.
local function params_text(run)
  local out = {}
  for _, p in ipairs(run.model:params()) do
    for _, x in ipairs(p.value:totable()) do out[#out + 1] = string.format("%a", x) end
  end
  return table.concat(out, ",")
end

local function fnv48(s)
  local h = -3750763034362895579
  for i = 1, #s do h = (h ~ s:byte(i)) * 1099511628211 end
  return (h >> 16) + 0.0
end

T.test("mpi_runs_on_two_ranks", function()
  gd.train(cfg{ epochs = 1 })
  T.close_number("ranks", gd.dist.size(), 2, 0)
  T.close_number("threads per rank", gd._util.threads(), math.max(1, gd._util.cores() // 2), 0)
end)

T.test("mpi_two_ranks_match_one_process", function()
  local two = gd.train(cfg{ monitor = { every = 1 } })
  local one = gd.train(cfg{ monitor = { every = 1 }, distributed = false })
  T.close_number("steps", #two.history.steps, 64, 0)
  for i, s in ipairs(one.history.steps) do
    T.close_number("loss at step " .. i, two.history.steps[i].loss, s.loss, 1e-5)
  end
  for e, ep in ipairs(one.history.epochs) do
    T.close_number("epoch loss " .. e, two.history.epochs[e].train_loss, ep.train_loss, 1e-5)
  end
end)

-- A small CNN on images: conv2d (oneDNN's, the batch of each rank cut
-- over its threads), pools, layer norm; 2 ranks = 1 process
-- within the rounding of the split gradient sums.
T.test("mpi_cnn_two_ranks_match_one_process", function()
  local x = gd.tensor.zeros{ 64, 1, 8, 8 }
  local y = {}
  for i = 1, 64 do
    for j = 1, 64 do x[(i - 1) * 64 + j] = math.sin(i * 0.7 + j * (i % 3 + 1) * 0.3) end
    y[i] = i % 3 + 1
  end
  local images = gd.data.tensor{ x = x, y = y }
  local c = cfg{ data = images, epochs = 2, monitor = { every = 1 },
    model = gd.sequential{ gd.layer.conv2d{ filters = 4, kernel = 3, padding = "same", activation = "relu" },
                           gd.layer.max_pool2d{}, gd.layer.layer_norm{},
                           gd.layer.conv2d{ filters = 4, kernel = 3 }, gd.layer.global_avg_pool{},
                           gd.layer.dense{ units = 3 } } }
  local two = gd.train(c)
  c.distributed = false
  local one = gd.train(c)
  T.close_number("steps", #two.history.steps, 8, 0)
  for i, s in ipairs(one.history.steps) do
    T.close_number("cnn loss at step " .. i, two.history.steps[i].loss, s.loss, 1e-5)
  end
end)

T.test("mpi_ranks_end_bit_identical", function()
  local run = gd.train(cfg{ optimizer = gd.optim.adam{ lr = 0.01 } })
  local lo, hi = gd.dist.minmax(fnv48(params_text(run)))
  assert(lo == hi, "the ranks' parameters differ")
end)

T.test("mpi_checkpoint_of_rank_0_resumes_exactly", function()
  local path = "mpi-resume.ckpt"
  local whole = gd.train(cfg{})
  gd.train(cfg{ epochs = 2, checkpoint = { path = path } })
  gd.dist.minmax(0)   -- rank 0 has written it before anyone reads it
  local resumed = gd.resume(path, { epochs = 4, progress = false })
  assert(params_text(resumed) == params_text(whole), "the resumed run differs")
  T.close_number("loss", resumed.history.epochs[4].train_loss, whole.history.epochs[4].train_loss, 0)
  gd.dist.minmax(0)
  if gd.dist.rank() == 0 then os.remove(path) end
end)

T.test("mpi_residual_model_matches_one_process", function()
  -- blocks change nothing in the data parallelism: the gradient arena is
  -- summed over the ranks whatever the structure
  local net = gd.sequential{ gd.layer.dense{ units = 12 },
    gd.residual{ gd.layer.dense{ units = 12 }, gd.layer.tanh{}, gd.layer.dense{ units = 12 } },
    gd.residual{ gd.layer.dense{ units = 3 }, shortcut = gd.layer.dense{ units = 3 } } }
  local two = gd.train(cfg{ model = net })
  local one = gd.train(cfg{ model = net, distributed = false })
  for e, ep in ipairs(one.history.epochs) do
    T.close_number("epoch loss " .. e, two.history.epochs[e].train_loss, ep.train_loss, 1e-5)
  end
  local lo, hi = gd.dist.minmax(fnv48(params_text(two)))
  assert(lo == hi, "the ranks' parameters differ")
end)

T.test("mpi_refuses_bad_settings", function()
  T.expect_error("gd.train: option 'distributed' must be true or false, got 1", gd.train,
    cfg{ distributed = 1 })
  T.expect_error("train: distributed over 2 ranks, every batch needs at least 2 samples "
    .. "(batch 1, the epoch's last 1)", gd.train, cfg{ batch = 1 })
end)

-- Last: the interrupt flag stays set for the rest of the process.
T.test("mpi_sigterm_to_one_rank_stops_every_rank", function()
  -- rank 1 alone gets SIGTERM during step 5: both ranks stop after the same
  -- step (rank 0 used to wait in MPI_Allreduce for ever; meson's timeout
  -- bounds this test), rank 0 writes the checkpoint and both ranks name it
  local path = "mpi-term.ckpt"
  local ok, err = pcall(gd.train, cfg{ checkpoint = { path = path }, on_step = function(s)
    if gd.dist.rank() == 1 and s.step == 5 then os.execute("kill -TERM $PPID") end
  end })
  local msg = tostring(err)
  assert(not ok and type(err) == "table" and err.interrupted, msg)
  T.close_number("signal", err.signal, 15, 0)
  local step = tonumber(msg:match("after step (%d+)"))
  assert(msg:find("interrupted by SIGTERM on rank 1 of 2 (every rank stops after the same step) "
    .. "after step ", 1, true), msg)
  assert(msg:find("checkpoint written to " .. path .. "; resume with", 1, true), msg)
  assert(step and step >= 5 and step <= 6, msg)
  local lo, hi = gd.dist.minmax(step)   -- the same step on both ranks, and the file is written
  assert(lo == hi, "the ranks stopped after different steps")
  T.close_number("checkpoint step", gd._checkpoint_load(path):info().step, step, 0)
  gd.dist.minmax(0)
  if gd.dist.rank() == 0 then os.remove(path) end
end)

T.run()
