#!/usr/bin/env bash
# tests/kit.sh: the plugin kit as a user meets it.
#  - `gradus new KIND NAME` for every kind (and `gradus new optimizer NAME
#    --tensor`, a tensor-aware one) writes a file that compiles out of
#    tree (pkg-config, -Wall -Wextra -Werror) and passes `gradus check`;
#    bad names and existing files are refused with their one-line error;
#  - every broken fixture fails the check it is broken for, with its line;
#  - every shipped plugin, and examples/plugins/, pass `gradus check`.
#
# usage: kit.sh GRADUS PKGCONFIG_DIR FIXTURE_DIR PLUGIN_DIR SOURCE_ROOT
set -euo pipefail
gradus=$1 pcdir=$2 fixtures=$3 plugins=$4 src=$5
export PKG_CONFIG_PATH=$pcdir
cc=${CC:-cc}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

fail() { echo "kit: $*" >&2; exit 1; }
build() {  # build FILE.c OUT.so
    "$cc" -shared -fPIC -Wall -Wextra -Werror $(pkg-config --cflags gradus) "$1" -o "$2" \
        || fail "$1 does not compile with -Wall -Wextra -Werror"
}
expect_error() {  # expect_error MESSAGE COMMAND...
    local want=$1 out; shift
    if out=$("$@" 2>&1); then fail "'$*' succeeded; want: $want"; fi
    [[ $out == "$want" ]] || fail "'$*' says:"$'\n'"$out"$'\n'"want:"$'\n'"$want"
}

# gradus new, every kind, then build and check what it wrote.
for kind in layer loss optimizer scheduler regularizer initializer "optimizer --tensor"; do
    dir=${kind/ --/_} && mkdir "$dir" && pushd "$dir" >/dev/null
    set -- $kind && kind=$1 && flag=${2:-}
    out=$("$gradus" new "$kind" "my_$kind" $flag)
    grep -qxF "build: cc -shared -fPIC \$(pkg-config --cflags gradus) my_$kind.c -o my_$kind.so" \
        <<<"$out" || fail "gradus new $kind prints no build line:"$'\n'"$out"
    [[ -f meson.build ]] || fail "gradus new $kind wrote no meson.build"
    build "my_$kind.c" "my_$kind.so"
    "$gradus" check "./my_$kind.so" >check.log || { cat check.log; fail "my_$kind fails gradus check"; }
    ! grep -q '^  warn' check.log || { cat check.log; fail "my_$kind built as documented draws a warning"; }
    popd >/dev/null
done
cd optimizer
# its meson.build builds it too (headers only: no libgradus in the result)
meson setup mb >mb.log 2>&1 && meson compile -C mb >>mb.log 2>&1 || { cat mb.log; fail "the meson.build of gradus new does not build"; }
readelf -d mb/my_optimizer.so | grep -q 'NEEDED.*libgradus' && fail "the meson-built plugin links libgradus"
"$gradus" check mb/my_optimizer.so >mb-check.log && ! grep -q '^  warn' mb-check.log \
    || { cat mb-check.log; fail "the meson-built plugin is not built like the built-ins"; }
# The documented flags are the built-ins' (optimized, -fno-math-errno); a
# plugin built without them draws a warning from gradus check.
flags=" $(pkg-config --cflags gradus) "
[[ $flags == *" -O"[23s]" "* && $flags == *" -fno-math-errno "* ]] || fail "pkg-config --cflags gradus:$flags"
"$cc" -shared -fPIC -I"$src/include" my_optimizer.c -o slow.so
out=$("$gradus" check ./slow.so) || fail "slow.so fails gradus check:"$'\n'"$out"
grep -qF "  warn  ./slow.so: built without optimization (-O0)" <<<"$out" || fail "no -O0 warning:"$'\n'"$out"
"$cc" -shared -fPIC -O2 -I"$src/include" my_optimizer.c -o errno.so
grep -qF "  warn  ./errno.so: built without -fno-math-errno" <<<"$("$gradus" check ./errno.so)" \
    || fail "no -fno-math-errno warning"
# A boolean option's default is true or false with gradus.h alone.
printf '#include <gradus/gradus.h>\nstatic const gd_option_spec o[] = { GD_OPT_BOOL("b", false, "b") };\nconst gd_option_spec *p = o;\n' >bool.c
"$cc" -c -std=c11 -Wall -Wextra -Werror -I"$src/include" bool.c -o bool.o || fail "GD_OPT_BOOL(..., false, ...) does not compile with gradus.h"
expect_error "gradus: new: cannot create my_optimizer.c: it exists (gradus new never overwrites)" \
    "$gradus" new optimizer my_optimizer
expect_error "gradus: new: name '9lives' is not a lowercase identifier (a letter, then letters, digits or '_')" \
    "$gradus" new optimizer 9lives
expect_error "gradus: new: name 'my-opt' is not a lowercase identifier (a letter, then letters, digits or '_')" \
    "$gradus" new optimizer my-opt
expect_error "gradus: new: unknown kind 'optimiser' (kinds: layer, loss, optimizer, scheduler, regularizer, initializer)" \
    "$gradus" new optimiser lion
expect_error "gradus: new: --tensor is for optimizers only, not a layer" "$gradus" new layer my_layer --tensor
expect_error "gradus: check needs a plugin file: gradus check PLUGIN.so..." "$gradus" check
expect_error "gradus: check: --timeout needs a number of seconds in 1..3600, got '0'" \
    "$gradus" check --timeout 0 my_optimizer.so
expect_error "no-such.so
  FAIL  no-such.so: loads: plugin 'no-such.so': no such file
verdict: no-such.so FAILS 1 of 1 checks" "$gradus" check no-such.so
cd ..

# Each broken fixture fails its check with this line (and the verdict).
while IFS='|' read -r name line; do
    if out=$("$gradus" check --timeout 2 "$fixtures/$name.so" 2>&1); then
        fail "$name passes gradus check:"$'\n'"$out"
    fi
    grep -qF -- "$line" <<<"$out" || fail "$name: no line '$line' in:"$'\n'"$out"
    grep -q "^verdict: .*$name.so FAILS" <<<"$out" || fail "$name: no failing verdict in:"$'\n'"$out"
done <<'TABLE'
kit_bad_grad|FAIL  kit_bad_grad: gradients match finite differences: dx[0]: backward gives
kit_overflow|FAIL  kit_overflow: no reads or writes outside the given tensors: killed by SIGSEGV
kit_nan_zero|FAIL  kit_nan_zero: finite on a zero gradient: x[0] = nan after update 1 with a zero gradient
kit_segv|FAIL  kit_segv: descent on a convex quadratic: killed by SIGSEGV
kit_loop|FAIL  kit_loop: finite, non-negative, deterministic over 1e5 updates: timed out after 2 s
kit_bad_default|kit_bad_default.so: kit_bad_default: option 'beta': default 1.5 is outside its range [0, 1)
kit_nondet|FAIL  kit_nondet: identical results twice: two fresh runs of 50 updates differ
kit_split|FAIL  kit_split: independent of the span split: one span and the same update cut into 7 spans give different numbers
kit_tensor_order|FAIL  kit_tensor_order: independent of the order of the tensors: stepping the tensors last to first changes the numbers
TABLE
# The loader refuses what gradus check refuses (one function for both).
out=$("$gradus" -l "$fixtures/kit_bad_default.so" list optimizers 2>&1) && fail "gradus -l loads kit_bad_default:"$'\n'"$out"
grep -qF "kit_bad_default: option 'beta': default 1.5 is outside its range [0, 1)" <<<"$out" \
    || fail "gradus -l kit_bad_default.so:"$'\n'"$out"
# The clean parts of a broken plugin still pass: the check is specific.
out=$("$gradus" check "$fixtures/kit_split.so" 2>&1) || true
grep -qF "ok    kit_split: identical results twice" <<<"$out" || fail "kit_split: the other checks:"$'\n'"$out"

# Every shipped plugin and the walk-through's examples pass.
mapfile -t shipped < <(find "$plugins" -name '*.so' | sort)
(( ${#shipped[@]} >= 30 )) || fail "only ${#shipped[@]} plugins in $plugins"
"$gradus" check "${shipped[@]}" >shipped.log || { grep -v '^  ok' shipped.log; fail "a shipped plugin fails"; }
for f in "$src"/examples/plugins/*.c; do
    build "$f" "$(basename "$f" .c).so"
    "$gradus" check "./$(basename "$f" .c).so" >>examples.log || { cat examples.log; fail "$f fails"; }
done
# bench optim with a plugin, -l before or after the command; a tensor-aware
# optimizer (sam) with figures; --help runs nothing.
out=$("$gradus" -l ./lion.so bench optim lion sam 2>&1) || fail "gradus -l ./lion.so bench optim:"$'\n'"$out"
grep -Eq "^lion +1 +[0-9]+\.[0-9]+ +[0-9]+\.[0-9]+ " <<<"$out" || fail "bench optim lion:"$'\n'"$out"
grep -Eq "^sam +[0-9]+\.[0-9]+ +[0-9]+\.[0-9]+$" <<<"$out" || fail "bench optim sam:"$'\n'"$out"
out=$("$gradus" bench optim -l ./lion.so lion --json 2>&1) || fail "bench optim -l ./lion.so:"$'\n'"$out"
grep -Eq '"optimizer": "lion", .*"ns_per_param": \[[0-9]+\.[0-9]+, [0-9]+\.[0-9]+\]' <<<"$out" \
    || fail "bench optim -l ./lion.so lion --json:"$'\n'"$out"
out=$(timeout 5 "$gradus" bench optim --help) && grep -q '^usage: gradus bench optim' <<<"$out" \
    && ! grep -q 'ns per parameter per update' <<<"$out" || fail "bench optim --help:"$'\n'"$out"
# The walk-through's last step: the example against Adam, a short run.
out=$(GRADUS_THREADS=1 "$gradus" -l ./lion.so run "$src/scripts/new_optimizer.lua" lion 2 2>&1) \
    || fail "scripts/new_optimizer.lua failed:"$'\n'"$out"
grep -q '^lion  *3  ' <<<"$out" && grep -q '^adam  *3  ' <<<"$out" && [[ -s out/new_optimizer/summary.csv ]] \
    || fail "scripts/new_optimizer.lua printed no comparison:"$'\n'"$out"
out=$(GRADUS_THREADS=1 "$gradus" -l ./novograd.so run "$src/scripts/new_optimizer.lua" novograd 2 2>&1) \
    && grep -q '^novograd  *3  ' <<<"$out" || fail "scripts/new_optimizer.lua novograd:"$'\n'"$out"
echo "kit: 6 kinds and a tensor-aware optimizer from gradus new, 9 broken fixtures, ${#shipped[@]} shipped plugins and" \
     "$(ls "$src"/examples/plugins/*.c | wc -l) examples checked ($(grep -c '^  ok' shipped.log) checks)"
