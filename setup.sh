#!/usr/bin/env bash
# setup.sh: make this checkout ready to use, on Debian 12.
#
#   1. install the Debian packages gradus needs, only those missing
#      (apt-get update runs once, and only when something is missing);
#   2. configure build/ with meson if it is not configured yet;
#   3. build it.
#
# Idempotent: a second run installs nothing, leaves the configuration alone
# and rebuilds only what changed. Runs as root, or through sudo otherwise.
# The build uses -march=native (meson option `native`, on by default):
# reconfigure with `meson configure build -Dnative=false` for a portable one.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

packages=(
    build-essential         # cc, make, libc headers
    meson ninja-build
    pkg-config              # finds Lua, OpenBLAS, zlib, CUnit; builds out-of-tree plugins
    liblua5.4-dev lua5.4    # the Lua API, and a stock lua5.4 to `require "gradus"` from
    libopenblas-dev         # sgemm for dense layers (the portable backend)
    libdnnl-dev             # oneDNN's dnnl_sgemm: the AVX-512 backend (GRADUS_BLAS)
    libcunit1-dev           # the C tests
    zlib1g-dev              # gzipped IDX data
    dataset-fashion-mnist   # /usr/share/datasets/fashion-mnist
    bible-kjv               # `bible`: the King James text, gd.data.text's default corpus
    gnuplot-nox             # gd.report plots
    chromium                # the page tests open gd.report's index.html in headless chromium
    man-db                  # man -l: tests/man.sh renders gradus(1)
    luarocks                # .ci/package: `luarocks make` of gradus-*.rockspec
    slurm-wlm munge         # tests/slurm.sh: a real one-node Slurm for the sweep backend
    libopenmpi-dev openmpi-bin  # -Dmpi=enabled: data-parallel training, mpirun for its test
)

installed() {
    dpkg-query -W -f='${Status}\n' "$1" 2>/dev/null | grep -q '^install ok installed$'
}

missing=()
for p in "${packages[@]}"; do
    installed "$p" || missing+=("$p")
done

if ((${#missing[@]} > 0)); then
    echo "setup: installing ${missing[*]}" >&2
    sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        sudo=(sudo)
    fi
    "${sudo[@]}" apt-get update
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y --no-install-recommends "${missing[@]}"
fi

# A configured build dir has meson's coredata; reconfiguring one is left to
# meson compile, which does it by itself when a meson.build changed.
if [[ ! -f build/meson-private/coredata.dat ]]; then
    meson setup build -Dmpi=enabled   # so that CI builds and tests the MPI path too
fi
meson compile -C build
