#!/usr/bin/env bash
# tests/memory_limit.sh: under a 3 GB address-space limit (ulimit -v, as a
# Slurm job or a container might set), a model or a run too large for it is
# refused before anything is allocated, with the estimate and the limit it
# meets; one that fits trains under the same limit.
#
# usage: memory_limit.sh GRADUS
set -uo pipefail
gradus=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

fail() { echo "memory_limit: $*" >&2; exit 1; }

script() {  # script UNITS BATCH: a blobs MLP with a hidden layer of UNITS
    cat >"run_$1_$2.lua" <<LUA
local gd = require "gradus"
local train = gd.data.synthetic.blobs{ n = $2, classes = 3, features = 20 }
local m = gd.sequential{ gd.layer.dense{ units = $1 }, gd.layer.relu{}, gd.layer.dense{ units = 3 } }
local r = gd.train{ model = m, loss = gd.loss.cross_entropy{}, optimizer = gd.optim.adam{},
                    data = train, epochs = 1, batch = $2, progress = false }
print(r.status)
LUA
}

limited() {  # limited UNITS BATCH: run it under 3 GB; prints stdout+stderr
    script "$1" "$2"
    (ulimit -v 3145728 && GRADUS_THREADS=1 timeout 60 "$gradus" run "run_$1_$2.lua") 2>&1
}

# dense{ units = 1e8 }: 2.4e9 parameters (20 inputs, a bias, 3 outputs per
# unit), 9.6 GB of weights alone.
out=$(limited 1e8 64); status=$?
((status == 1)) || fail "units = 1e8: status $status (want 1, a refusal):"$'\n'"$out"
grep -qF "model: needs about 19 GB (parameters 9.6 GB, gradients 9.6 GB), more than this process may still allocate (" <<<"$out" &&
grep -qF "under the address-space limit (RLIMIT_AS, ulimit -v) of 3.2 GB); use a smaller model or batch" <<<"$out" \
    || fail "units = 1e8:"$'\n'"$out"

# 1e5 units: the model fits (9.6 MB of weights), a batch of 2048 does not:
# its activations (four values of 1e5 per sample, 4 bytes each) take 3.3 GB.
out=$(limited 1e5 2048); status=$?
((status == 1)) || fail "units = 1e5, batch 2048: status $status (want 1):"$'\n'"$out"
grep -qF "train: needs about 3.3 GB (parameters 9.6 MB, gradients 9.6 MB, optimizer state 19 MB, activations 3.3 GB" <<<"$out" \
    || fail "units = 1e5, batch 2048:"$'\n'"$out"

# A model that fits trains under the same limit.
out=$(limited 1000 64); status=$?
((status == 0)) && grep -qx ok <<<"$out" || fail "units = 1000 under 3 GB:"$'\n'"$out"
echo "memory_limit: 2 refusals with their estimates, 1 run under 3 GB"
