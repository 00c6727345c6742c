#!/usr/bin/env bash
# tests/man.sh: gradus(1) renders with man(1) without a warning, and says
# what the command says: its COMMANDS are those of `gradus --help`, its
# OPTIONS the flags of --help, its ENVIRONMENT the variables of the README's
# Environment table, no more and no fewer. A command added to --help fails
# here until the man page describes it.
#
# usage: man.sh GRADUS PAGE README
set -euo pipefail
gradus=$1 page=$2 readme=$3
export LC_ALL=C.UTF-8 MANWIDTH=200   # wide: no line breaks inside a heading

fail() { echo "man: $*" >&2; exit 1; }

warnings=$(man --warnings -l "$page" 2>&1 >/dev/null) || fail "man -l $page failed: $warnings"
[[ -z $warnings ]] || fail "man -l $page warns:"$'\n'"$warnings"
text=$(man -l "$page" 2>/dev/null)
grep -q '^NAME' <<<"$text" || fail "no NAME section in:"$'\n'"$text"

# Lines of one section of the rendered page (from its title to the next).
section() { awk -v s="$1" '/^[A-Z]/ { on = ($0 == s); next } on' <<<"$text"; }
# The first word of each heading (7 spaces in, as man sets a .TP tag).
headings() { section "$1" | sed -n 's/^       \([^ ]\)/\1/p' | awk '{ print $1 }' | sort -u; }
# One block of --help: from "NAME:" to the blank line.
help_block() { "$gradus" --help | awk -v s="$1:" '$0 == s { on = 1; next } /^$/ { on = 0 } on'; }

same() {  # same WHAT LIST1 LIST2
    local extra missing
    missing=$(comm -23 <(echo "$2") <(echo "$3"))
    extra=$(comm -13 <(echo "$2") <(echo "$3"))
    [[ -z $missing ]] || fail "$1 not in gradus(1): $(echo $missing)"
    [[ -z $extra ]] || fail "$1 in gradus(1) but not in the source: $(echo $extra)"
}

want=$(help_block commands | sed -n 's/^  \([a-z]\+\).*/\1/p' | sort -u)
[[ -n $want ]] || fail "no commands in gradus --help"
same "commands of gradus --help" "$want" "$(headings COMMANDS)"

want=$(help_block options | grep -o -- '^  -[^ ]*\(, -[^ ]*\)\?' | tr -d ' ' | tr ',' '\n' | sort -u)
got=$(section OPTIONS | grep -o -- '^       -[^ ]*\(, -[^ ]*\)\?' | tr -d ' ' | tr ',' '\n' | sort -u)
same "options of gradus --help" "$want" "$got"

want=$(sed -n 's/^| `\(GRADUS_[A-Z_]*\)` |.*/\1/p' "$readme" | sort -u)
[[ -n $want ]] || fail "no GRADUS_ variables in $readme"
same "variables of the README" "$want" "$(headings ENVIRONMENT)"
echo "gradus(1): $(headings COMMANDS | wc -l) commands, $(wc -w <<<"$got") options, $(wc -w <<<"$want") variables"
