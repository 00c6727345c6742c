-- new_optimizer: a new optimizer (a plugin) against Adam, each at its own
-- best learning rate, 3 seeds, common random numbers; a report with plots
-- in out/new_optimizer (PLUGINS.md's walk-through ends here).
--
--   gradus -l ./lion.so run scripts/new_optimizer.lua lion [epochs] [lr_lo lr_hi]
--
-- Every variant's lr is tuned on the validation set over 5 values from
-- lr_lo to lr_hi (default 1e-4 .. 1e-1, log-spaced) before the repeats.
local gd = require "gradus"

local name = arg and arg[1]
if not name or not gd.optim[name] then
  error(("new_optimizer: no optimizer '%s': give its name, and load its plugin with -l "
         .. "(gradus -l ./lion.so run scripts/new_optimizer.lua lion)"):format(tostring(name)), 0)
end
local epochs = tonumber(arg[2]) or 30
local lr_lo, lr_hi = tonumber(arg[3]) or 1e-4, tonumber(arg[4]) or 1e-1

-- Three interleaved spirals: small enough to run in seconds, curved enough
-- that optimizers differ.
local all = gd.data.synthetic.spirals{ n = 3000, classes = 5, noise = 0.2, seed = 1 }
local train, val = all:split{ validation = 600, seed = 1 }

local net = gd.sequential{
  gd.layer.dense{ units = 64, init = "he_normal" }, gd.layer.relu{},
  gd.layer.dense{ units = 64, init = "he_normal" }, gd.layer.relu{},
  gd.layer.dense{ units = 5 },
}

local tune = { lr = gd.logspace(lr_lo, lr_hi, 5) }
local results = gd.compare{
  base = { model = net, loss = gd.loss.cross_entropy{}, data = train, validation = val,
           epochs = epochs, batch = 50, seed = 1 },
  variants = {
    { name = "adam", optimizer = gd.optim.adam{}, tune = tune },
    { name = name, optimizer = gd.optim[name]{}, tune = tune },
  },
  repeats = 3,
}
gd.report(results, { dir = "out/new_optimizer" })
