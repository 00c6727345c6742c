/*
 * lua/lblock.c: gd.residual, and the structure of model specs.
 *
 * A model spec is a tree of parts: a part is a layer spec, a gd.sequential
 * or a gd.residual, and the containers hold parts to any depth. Like
 * gd.sequential, gd.residual only checks and keeps its parts; building
 * (gd.train, spec:build{ inputs = }) turns the tree into the pre-order
 * description gd_model_new_tree takes (core/model.h), and the core does
 * the rest (names, shapes, the gradient add at the fork).
 *
 * Residual user values: 1 the list of body parts, 2 the shortcut (or nil).
 */
#include <string.h>

#include "lapi.h"
#include "lgradus.h"

typedef struct lres {
    int n;          /* body parts */
} lres;

static int is_residual(lua_State *L, int idx)
{
    return luaL_testudata(L, idx, LGD_RESIDUAL) != NULL;
}

int lgd_is_block(lua_State *L, int idx)
{
    return lgd_is_sequential(L, idx) || is_residual(L, idx);
}

int lgd_is_part(lua_State *L, int idx)
{
    const gd_spec *s = lgd_testspec(L, idx);
    return (s && s->component->kind == GD_KIND_LAYER) || lgd_is_block(L, idx);
}

/* Push the list of a container's parts: a sequential's, or a residual's body. */
static void push_parts(lua_State *L, int idx)
{
    lua_getiuservalue(L, idx, 1);
}

/* ---------------------------------------------------------------------------
 * Description (tostring) and leaves
 * ------------------------------------------------------------------------- */

/* Push the text of the part at idx: a spec's description, or
 * "sequential{ ... }" / "residual{ ..., shortcut = ... }". */
void lgd_push_part_text(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    luaL_checkstack(L, 8, "model spec nested too deep");
    const gd_spec *s = lgd_testspec(L, idx);
    if (s) {
        char buf[1024];
        lua_pushstring(L, gd_spec_describe(s, buf, sizeof buf));
        return;
    }
    bool res = is_residual(L, idx);
    push_parts(L, idx);
    lua_pushstring(L, res ? "residual{ " : "sequential{ ");   /* [parts, text] */
    lua_Integer n = luaL_len(L, -2);
    for (lua_Integer i = 1; i <= n; i++) {
        if (i > 1) {
            lua_pushstring(L, ", ");
            lua_concat(L, 2);
        }
        lua_rawgeti(L, -2, i);
        lgd_push_part_text(L, -1);
        lua_remove(L, -2);
        lua_concat(L, 2);
    }
    lua_remove(L, -2);
    if (res) {
        if (lua_getiuservalue(L, idx, 2) != LUA_TNIL) {
            lua_pushstring(L, ", shortcut = ");
            lgd_push_part_text(L, -2);
            lua_remove(L, -3);
            lua_concat(L, 3);
        } else {
            lua_pop(L, 1);
        }
    }
    lua_pushstring(L, " }");
    lua_concat(L, 2);
}

/* Append the layer specs of the part at idx, depth first, to the list on top. */
void lgd_add_leaves(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    luaL_checkstack(L, 6, "model spec nested too deep");
    if (lgd_testspec(L, idx)) {
        lua_pushvalue(L, idx);
        lua_rawseti(L, -2, luaL_len(L, -2) + 1);
        return;
    }
    push_parts(L, idx);                 /* [out, parts] */
    lua_Integer n = luaL_len(L, -1);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, -1, i);
        lua_pushvalue(L, -3);
        lgd_add_leaves(L, -2);
        lua_pop(L, 2);
    }
    lua_pop(L, 1);
    if (!is_residual(L, idx))
        return;
    if (lua_getiuservalue(L, idx, 2) != LUA_TNIL) {
        lua_pushvalue(L, -2);
        lgd_add_leaves(L, -2);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

/* ---------------------------------------------------------------------------
 * The tree for gd_model_new_tree
 * ------------------------------------------------------------------------- */

/* Nodes of the part at idx (a residual's body counts as one sequential). */
static int count_nodes(lua_State *L, int idx, int depth)
{
    idx = lua_absindex(L, idx);
    if (depth > GD_MAX_NESTING)
        lgd_error(L, "model: blocks nested more than %d deep", GD_MAX_NESTING);
    luaL_checkstack(L, 4, "model spec nested too deep");
    if (lgd_testspec(L, idx))
        return 1;
    bool res = is_residual(L, idx);
    int n = res ? 2 : 1;
    push_parts(L, idx);
    lua_Integer k = luaL_len(L, -1);
    for (lua_Integer i = 1; i <= k; i++) {
        lua_rawgeti(L, -1, i);
        n += count_nodes(L, -1, depth + 1);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    if (res) {
        if (lua_getiuservalue(L, idx, 2) != LUA_TNIL)
            n += count_nodes(L, -1, depth + 1);
        lua_pop(L, 1);
    }
    return n;
}

/* Fill d from *pos with the part at idx. The specs stay owned by the parts. */
static void fill_nodes(lua_State *L, int idx, gd_node_desc *d, int *pos)
{
    idx = lua_absindex(L, idx);
    luaL_checkstack(L, 4, "model spec nested too deep");
    const gd_spec *s = lgd_testspec(L, idx);
    if (s) {
        d[(*pos)++] = (gd_node_desc){ GD_NODE_LAYER, 0, s };
        return;
    }
    bool res = is_residual(L, idx);
    bool shortcut = res && lua_getiuservalue(L, idx, 2) != LUA_TNIL;
    if (res)
        lua_pop(L, 1);
    push_parts(L, idx);
    lua_Integer k = luaL_len(L, -1);
    if (res)
        d[(*pos)++] = (gd_node_desc){ GD_NODE_RESIDUAL, shortcut ? 2 : 1, NULL };
    d[(*pos)++] = (gd_node_desc){ GD_NODE_SEQUENTIAL, (int)k, NULL };
    for (lua_Integer i = 1; i <= k; i++) {
        lua_rawgeti(L, -1, i);
        fill_nodes(L, -1, d, pos);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    if (shortcut) {
        lua_getiuservalue(L, idx, 2);
        fill_nodes(L, -1, d, pos);
        lua_pop(L, 1);
    }
}

const gd_node_desc *lgd_push_tree(lua_State *L, int idx, int *n)
{
    idx = lua_absindex(L, idx);
    bool wrap = !lgd_is_sequential(L, idx);   /* a residual or a layer: the root's only part */
    int count = count_nodes(L, idx, 0) + wrap;
    gd_node_desc *d = lua_newuserdatauv(L, (size_t)count * sizeof *d, 0);
    int pos = 0;
    if (wrap)
        d[pos++] = (gd_node_desc){ GD_NODE_SEQUENTIAL, 1, NULL };
    fill_nodes(L, idx, d, &pos);
    *n = pos;
    return d;
}

/* ---------------------------------------------------------------------------
 * gd.residual{ part, ..., shortcut = part }
 * ------------------------------------------------------------------------- */

static int check_part(lua_State *L, int idx, const char *what)
{
    if (lgd_is_part(L, idx))
        return 1;
    char got[160];
    return lgd_error(L, "gd.residual: %s must be a layer spec, a gd.sequential or a "
                     "gd.residual, got %s", what, lgd_describe_value(L, idx, got, sizeof got));
}

static int residual(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_Integer n = luaL_len(L, 1);
    if (n < 1)
        return lgd_error(L, "gd.residual: needs at least one layer in its body ({ "
                         "gd.layer.dense{ units = 64 }, gd.layer.relu{}, ..., shortcut = nil "
                         "| a layer })");
    lua_pushnil(L);
    while (lua_next(L, 1)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), "shortcut") == 0)
            continue;
        if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 || lua_tointeger(L, -1) > n)
            return lgd_error(L, "gd.residual: unknown key '%s' (it takes a list of layers and "
                             "the option: shortcut)", luaL_tolstring(L, -1, NULL));
    }
    lua_createtable(L, (int)n, 0);
    for (lua_Integer i = 1; i <= n; i++) {
        char what[32];
        snprintf(what, sizeof what, "entry %d", (int)i);
        lua_geti(L, 1, i);
        check_part(L, -1, what);
        lua_rawseti(L, -2, i);
    }
    lua_getfield(L, 1, "shortcut");
    if (!lua_isnil(L, -1))
        check_part(L, -1, "shortcut");
    lres *r = lua_newuserdatauv(L, sizeof *r, 2);
    r->n = (int)n;
    luaL_setmetatable(L, LGD_RESIDUAL);
    lua_insert(L, -2);
    lua_setiuservalue(L, -2, 2);
    lua_insert(L, -2);
    lua_setiuservalue(L, -2, 1);
    return 1;
}

/* block:build{ inputs = n or shape, seed = s } -> model (a sequential's too) */
int lgd_block_build(lua_State *L)
{
    if (!lgd_is_block(L, 1))
        return luaL_argerror(L, 1, "gd.sequential or gd.residual expected");
    const char *what = lgd_is_sequential(L, 1) ? "sequential:build" : "residual:build";
    gd_shape in;
    uint64_t seed;
    lgd_build_args(L, 2, what, &in, &seed);
    lgd_model_build(L, 1, &in, seed);
    return 1;
}

static int res_index(lua_State *L)
{
    lres *r = luaL_checkudata(L, 1, LGD_RESIDUAL);
    const char *k = luaL_checkstring(L, 2);
    if (strcmp(k, "kind") == 0) {
        lua_pushstring(L, "block");
    } else if (strcmp(k, "name") == 0) {
        lua_pushstring(L, "residual");
    } else if (strcmp(k, "layers") == 0) {
        push_parts(L, 1);
        lua_createtable(L, r->n, 0);   /* a copy: the spec stays immutable */
        for (int i = 1; i <= r->n; i++) {
            lua_rawgeti(L, -2, i);
            lua_rawseti(L, -2, i);
        }
    } else if (strcmp(k, "shortcut") == 0) {
        lua_getiuservalue(L, 1, 2);
    } else if (strcmp(k, "leaves") == 0) {
        lua_newtable(L);
        lgd_add_leaves(L, 1);
    } else if (strcmp(k, "build") == 0) {
        lua_pushcfunction(L, lgd_block_build);
    } else {
        lua_pushnil(L);
    }
    return 1;
}

static int res_tostring(lua_State *L)
{
    luaL_checkudata(L, 1, LGD_RESIDUAL);
    lgd_push_part_text(L, 1);
    return 1;
}

void lgd_open_block(lua_State *L)
{
    static const luaL_Reg meta[] = {
        { "__index", res_index },
        { "__tostring", res_tostring },
        { NULL, NULL },
    };
    luaL_newmetatable(L, LGD_RESIDUAL);
    luaL_setfuncs(L, meta, 0);
    lua_pop(L, 1);
    lua_pushcfunction(L, residual);
    lua_setfield(L, -2, "residual");
}
