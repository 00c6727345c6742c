#!/bin/sh
# bench/measure_all.sh: every figure of BENCHMARKS.md, one command after
# another, each headed by the time and the load it ran at. Run it on a
# quiet machine from the top of the tree after ./setup.sh:
#
#   bench/measure_all.sh [TORCH]    # TORCH: the PyTorch comparisons too (needs
#                                   # Debian's python3-torch, not a dependency)
#
# PyTorch runs with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset for its
# command alone, so that its OpenBLAS uses the AVX-512 kernels a user's
# machine would; gradus keeps the environment as it is.
set -u
G=build/gradus
torch=${1:-}
PY="env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3"
say() { printf '\n### %s, load %s: %s\n' "$(date -u +%H:%M:%S)" "$(cut -d' ' -f1-4 /proc/loadavg)" "$*"; }
run() { say "$*"; "$@" 2>&1; }
py() { if [ -n "$torch" ]; then say "torch: $*"; $PY "$@" 2>&1 | tail -1; fi; }

run $G bench peak --repeats 5
run $G bench gemm
run $G bench mlp --optim sgd,adam --batch 32,128,512 --threads 1 --repeats 2 --epochs 3
for o in adam sgd; do for b in 32 128 512; do
  py bench/torch_mlp.py --optim $o --batch $b --threads 1 --epochs 3 --repeats 3
done; done
py bench/torch_mlp.py --optim adam --batch 128 --threads 1 --epochs 3 --repeats 1 --no-foreach
run $G bench mlp --optim adam,sgd --batch 128 --threads 2 --repeats 3 --epochs 3
py bench/torch_mlp.py --optim adam --batch 128 --threads 2 --epochs 3 --repeats 1
run $G bench mlp --optim adam,lars,lamb,adafactor,lookahead,sgd,sam,muon --batch 128 --threads 1 --repeats 1 --epochs 3 --limit 30000
run $G bench optim
say "bench/adam_update.c"
cc -O3 -march=native -mprefer-vector-width=512 -fno-math-errno -Iinclude bench/adam_update.c \
    -o /tmp/gradus_adam_update && /tmp/gradus_adam_update
run $G bench mlp --optim adam --batch 128 --threads 1 --repeats 1 --epochs 3 --monitor 100
run $G bench mlp --optim adam --batch 128 --threads 1 --repeats 1 --epochs 3 --monitor 10
run $G --threads 1 run bench/checkpoint_cost.lua
run $G bench cnn --limit 2560
py bench/torch_cnn.py --threads 1 --batch 128 --limit 2560
py bench/torch_cnn.py --threads 2 --batch 128 --limit 2560
run $G bench transformer
py bench/torch_transformer.py --threads 1
py bench/torch_transformer.py --threads 2
run $G bench probes --repeats 3
dir=$(mktemp -d)
for k in 1 2 3; do
  say "sweep grid, serial (--threads 1), pair $k"
  /usr/bin/time -f "wall %e s, cpu %U + %S s" $G --threads 1 run bench/sweep_grid.lua > "$dir/serial.txt"
  say "sweep grid, gradus sweep --jobs 2, pair $k"
  rm -rf "$dir/sw"
  /usr/bin/time -f "wall %e s, cpu %U + %S s" $G sweep --jobs 2 --dir "$dir/sw" bench/sweep_grid.lua > "$dir/sweep.txt"
  cmp "$dir/serial.txt" "$dir/sweep.txt" && echo "the 21 runs' losses: identical"
done
rm -rf "$dir"
run $G bench peak --repeats 5
