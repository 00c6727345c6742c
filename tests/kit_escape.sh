#!/usr/bin/env bash
# tests/kit_escape.sh: no plugin gets out of `gradus check`'s time limit or
# verdict. Each tests/fixtures/kit/kit_escape_<way>.so tries one way (see
# kit_escape.c); every run is bounded by `timeout`, so a way that works
# fails this test instead of hanging it.
#
# usage: kit_escape.sh GRADUS FIXTURE_DIR
set -uo pipefail
gradus=$1 fixtures=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export KIT_ESCAPE_PIDS=$work/pids
bound=20   # seconds: far above what any run here needs (1-s limit, 8 checks)

fail() { echo "kit_escape: $*" >&2; exit 1; }

# check WAY WANT: gradus check --timeout 1 on kit_escape_WAY.so must end in
# time with a failing verdict (status 1, not a signal) and the line WANT.
check() {
    local way=$1 want=$2 out status
    out=$(timeout -s KILL $bound "$gradus" check --timeout 1 "$fixtures/kit_escape_$way.so" 2>&1)
    status=$?
    ((status != 137)) || fail "$way: gradus check still running after $bound s:"$'\n'"$out"
    ((status == 1)) || fail "$way: gradus check ended with status $status (want 1):"$'\n'"$out"
    grep -qF -- "$want" <<<"$out" || fail "$way: no line '$want' in:"$'\n'"$out"
    grep -q "^verdict: .*kit_escape_$way.so FAILS" <<<"$out" || fail "$way: no failing verdict:"$'\n'"$out"
}

# The ways that would outwait an alarm run side by side (each waits out
# the 1-s limit in 8 checks; none uses the CPU meanwhile).
timed_out="FAIL  kit_escape: descent on a convex quadratic: timed out after 1 s"
pids=()
for way in ignore handle block alarm0; do
    check "$way" "$timed_out" & pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || exit 1; done

check stop "FAIL  kit_escape: descent on a convex quadratic: stopped itself (SIGSTOP"
check exit0 "FAIL  kit_escape: descent on a convex quadratic: exited with status"  # 0, or a leak report's
check ctor_exit0 "kit_escape_ctor_exit0.so: loads: exited with status"
check kill0 "FAIL  kit_escape: descent on a convex quadratic: killed by SIGTERM"

# A grandchild holding the result pipe stalls nothing, and dies with its
# check: the plugin is otherwise a correct SGD, so it passes.
out=$(timeout -s KILL $bound "$gradus" check --timeout 1 "$fixtures/kit_escape_fork.so" 2>&1) \
    || fail "fork: did not pass in time:"$'\n'"$out"
[[ -s $KIT_ESCAPE_PIDS ]] || fail "fork: the fixture forked nothing"
sleep 0.2
while read -r pid; do   # gone, or a zombie (dead; pid 1 here may not reap)
    state=$(ps -o stat= -p "$pid" 2>/dev/null) || continue
    [[ $state == Z* ]] || { kill -KILL "$pid"; fail "fork: grandchild $pid outlived its check ($state)"; }
done <"$KIT_ESCAPE_PIDS"

# A constructor that blocks SIGALRM (passed in the child, never run in the
# parent) leaves the limit working for the plugin checked after it.
out=$(timeout -s KILL $bound "$gradus" check --timeout 1 "$fixtures/kit_escape_ctor_block.so" \
      "$fixtures/kit_loop.so" 2>&1)
(($? == 1)) || fail "ctor_block then kit_loop: want status 1:"$'\n'"$out"
grep -q "^verdict: .*kit_escape_ctor_block.so passes all" <<<"$out" &&
grep -qF "FAIL  kit_loop: finite, non-negative, deterministic over 1e5 updates: timed out after 1 s" <<<"$out" \
    || fail "ctor_block then kit_loop:"$'\n'"$out"
echo "kit_escape: 10 ways out of gradus check, each caught in time"
