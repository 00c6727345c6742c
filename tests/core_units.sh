#!/usr/bin/env bash
# tests/core_units.sh: the units of core/ (a unit: the files of one stem,
# spec.c and spec.h) depend on each other without a cycle, and each unit's
# functions are declared in its own header only. A header that extends a
# unit's own (X_part.h with no X_part.c, including X.h: model_layer.h, the
# fields behind model.h) is a private part of unit X.
#
#   1. The graph of `#include "..."` lines of core/*.c and core/*.h between
#      units has no cycle; a cycle is named, "registry -> optim -> registry".
#   2. No core .c file declares at file scope a function or variable that
#      another core .c file defines (a prototype outside the owner's
#      header): it includes the owner's header instead.
#   3. A header declares the functions of its own unit only (or of the
#      unit's parts, X_part.c, in X.h).
#
# usage: core_units.sh COREDIR
set -euo pipefail
dir=${1:?usage: core_units.sh COREDIR}
export LC_ALL=C
shopt -s nullglob
files=("$dir"/*.c "$dir"/*.h)
((${#files[@]})) || { echo "core_units: no .c or .h files in $dir" >&2; exit 1; }

status=0

# The unit of each file (by name): its stem, or X for a private part of X.
declare -A unit
for f in "${files[@]}"; do
    name=${f##*/} stem=${name%.*} x=${name%%_*}
    unit[$name]=$stem
    if [[ $name == *_*.h && ! -e $dir/$stem.c && -e $dir/$x.h ]] &&
       grep -q "^[[:space:]]*#[[:space:]]*include[[:space:]]*\"$x.h\"" "$f"; then
        unit[$name]=$x
    fi
done

# 1. "unit dep" pairs, then a depth-first search that prints each cycle once.
edges=$(for f in "${files[@]}"; do
    u=${unit[${f##*/}]}
    sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f" |
        while read -r inc; do
            dep=${unit[${inc##*/}]:-}
            [[ -z $dep || $dep == "$u" ]] || echo "$u $dep"   # gradus/*.h: not core
        done
done | sort -u)

cycles=$(awk '
    { adj[$1] = adj[$1] " " $2; nodes[$1]; nodes[$2] }
    function visit(u,   i, n, next_, k, path) {
        state[u] = 1; stack[++depth] = u
        n = split(adj[u], next_, " ")
        for (i = 1; i <= n; i++) {
            if (state[next_[i]] == 1) {          # back edge: the stack from it is a cycle
                path = ""
                for (k = depth; stack[k] != next_[i]; k--) path = " -> " stack[k] path
                print next_[i] path " -> " next_[i]
            } else if (!state[next_[i]])
                visit(next_[i])
        }
        depth--; state[u] = 2
    }
    END { for (u in nodes) if (!state[u]) visit(u) }
' <<<"$edges" | sort -u)
if [[ -n $cycles ]]; then
    echo "core_units: the include graph of $dir has a cycle (a unit includes, through" >&2
    echo "others, a header of its own): break it by moving what the shorter way needs" >&2
    echo "into a header of its own:" >&2
    sed 's/^/  /' <<<"$cycles" >&2
    status=1
fi

# 2. Each .c file's file-scope declarations and definitions, comments,
# strings and preprocessor lines taken out: "D name" for a definition
# (a statement at depth 0 that opens a body after a parameter list), "P name"
# (or a variable with an initializer), "P name" for a declaration that is
# not static (ends in ';').
scan() {
    awk '
        BEGIN { RS = "\001" }
        # "D name" for a non-static variable with an initializer (its name:
        # the last identifier before the first "=").
        function defvar(t,   name) {
            if (t ~ /^[ \t]*static[ \t]/) return
            name = t; sub(/=.*/, "", name)
            if (match(name, /[A-Za-z_][A-Za-z_0-9]*[ \t\[\]0-9]*$/)) {
                name = substr(name, RSTART, RLENGTH); sub(/[ \t\[\]0-9]*$/, "", name)
                print "D " name
            }
        }
        {
            s = $0
            gsub(/\\\n/, " ", s)                         # continued lines
            out = ""; n = length(s); i = 1
            while (i <= n) {                             # comments and literals out
                c = substr(s, i, 1); c2 = substr(s, i, 2)
                if (c2 == "/*") {
                    j = index(substr(s, i + 2), "*/"); i += (j ? j + 3 : n); out = out " "; continue
                }
                if (c2 == "//") { j = index(substr(s, i), "\n"); i += (j ? j - 1 : n); continue }
                if (c == "\"" || c == "\047") {
                    q = c; i++
                    while (i <= n && substr(s, i, 1) != q) i += (substr(s, i, 1) == "\\") ? 2 : 1
                    i++; out = out "0"; continue
                }
                out = out c; i++
            }
            m = split(out, lines, "\n"); src = ""
            for (k = 1; k <= m; k++) if (lines[k] !~ /^[ \t]*#/) src = src lines[k] " "
            depth = 0; stmt = ""; n = length(src)
            for (i = 1; i <= n; i++) {
                c = substr(src, i, 1)
                if (c == "{") {
                    if (depth == 0 && stmt ~ /=[ \t]*$/) defvar(stmt)
                    else if (depth == 0 && stmt ~ /\)[ \t]*$/) {
                        if (match(stmt, /[A-Za-z_][A-Za-z_0-9]*[ \t]*\(/)) {
                            name = substr(stmt, RSTART, RLENGTH); sub(/[ \t]*\($/, "", name)
                            if (stmt !~ /^[ \t]*static[ \t]/) print "D " name
                        }
                    }
                    if (depth == 0) stmt = ""
                    depth++; continue
                }
                if (c == "}") { depth--; if (depth == 0) stmt = ""; continue }
                if (depth > 0) continue
                if (c == ";") {
                    t = stmt; stmt = ""
                    if (t ~ /^[ \t]*(static|typedef)[ \t]/ || t ~ /^[ \t]*$/) continue
                    if (t ~ /=/) { defvar(t); continue }   # an initialized variable
                    if (match(t, /[A-Za-z_][A-Za-z_0-9]*[ \t]*\(/)) {   # a function
                        name = substr(t, RSTART, RLENGTH); sub(/[ \t]*\($/, "", name)
                        if (name != "__attribute__") print "P " name
                    } else if (t ~ /^[ \t]*extern[ \t]/ &&
                               match(t, /[A-Za-z_][A-Za-z_0-9]*[ \t\[\]0-9]*$/)) {
                        name = substr(t, RSTART, RLENGTH); sub(/[ \t\[\]0-9]*$/, "", name)
                        print "P " name
                    }
                    continue
                }
                stmt = stmt c
            }
        }
    ' "$1"
}

declare -A owner scanned
for f in "$dir"/*.c; do
    scanned[$f]=$(scan "$f")
    while read -r kind name; do
        [[ $kind == D ]] && owner[$name]=${f##*/}
    done <<<"${scanned[$f]}"
done
for f in "$dir"/*.c; do
    while read -r kind name; do
        [[ $kind == P ]] || continue
        def=${owner[$name]:-}
        if [[ -n $def && $def != "${f##*/}" ]]; then
            h=$(grep -lw -- "$name" "$dir"/*.h | head -1 || true)
            h=${h:+core/${h##*/}}
            echo "core_units: ${f##*/} declares $name, which $def defines: include" \
                 "${h:-its header (core/${def%.c}.h: declare it there)} instead" >&2
            status=1
        fi
    done <<<"${scanned[$f]}"
done

# 3. A header declares only its own unit's functions (model_tree.c's in
# model.h: a part X_part.c of unit X may be declared in X.h), so the header
# that declares a function is the one its definer includes.
for f in "$dir"/*.h; do
    hu=${unit[${f##*/}]}
    while read -r kind name; do
        [[ $kind == P ]] || continue
        def=${owner[$name]:-}
        [[ -n $def ]] || continue                 # defined outside core/ (or nowhere)
        du=${unit[$def]}
        [[ $hu == "$du" || ($du == *_* && $hu == "${du%%_*}") ]] && continue
        echo "core_units: ${f##*/} declares $name, which $def defines: declare it in" \
             "core/${def%.c}.h (a header of unit $du) instead" >&2
        status=1
    done < <(scan "$f")
done

if ((status == 0)); then
    units=$(awk '{ print $1; print $2 }' <<<"$edges" | sort -u | wc -l)
    echo "core_units: $(wc -l <<<"$edges") include edges between $units units of $dir," \
         "no cycle; no prototype outside a header; each header declares its own unit's"
fi
exit $status
