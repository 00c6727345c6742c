/*
 * lua/lspec.c: specs, the validated option sets gd.optim.adam{ lr = 1e-3 }
 * returns.
 *
 * The binding does no validation of its own: it hands each Lua value to
 * gd_spec_set with its Lua type (an integer stays GD_ARG_INTEGER, a float
 * GD_ARG_NUMBER, so the core can accept 10.0 and refuse 10.5 for an integer
 * option) and raises the core's message. The spec userdata owns its gd_spec
 * from the moment it exists, so an error half-way through frees it in __gc.
 */
#include <stdlib.h>
#include <string.h>

#include "component.h"
#include "lapi.h"
#include "lgradus.h"

/* Metatable of spec.options tables: calling one returns it, so that
 * spec.options and spec:options() both work. */
static const char options_meta_key = 'o';

/* ---------------------------------------------------------------------------
 * Spec userdata
 * ------------------------------------------------------------------------- */

/* Push an empty spec box (spec NULL) holding the registry. */
static lgd_spec *new_box(lua_State *L)
{
    lgd_spec *b = lua_newuserdatauv(L, sizeof *b, 1);
    b->spec = NULL;
    luaL_setmetatable(L, LGD_SPEC);
    lgd_push_registry(L);
    lua_setiuservalue(L, -2, 1);
    return b;
}

void lgd_push_spec(lua_State *L, gd_spec *s)
{
    /* Only a memory error can raise here, and then s leaks: callers make
     * s right before and have nothing else to free. */
    lgd_spec *b = lua_newuserdatauv(L, sizeof *b, 1);
    b->spec = s;
    luaL_setmetatable(L, LGD_SPEC);
    lgd_push_registry(L);
    lua_setiuservalue(L, -2, 1);
}

static lgd_spec *checkbox(lua_State *L, int idx)
{
    lgd_spec *b = luaL_checkudata(L, idx, LGD_SPEC);
    if (!b->spec)
        luaL_argerror(L, idx, "spec is incomplete");
    return b;
}

const gd_spec *lgd_testspec(lua_State *L, int idx)
{
    lgd_spec *b = luaL_testudata(L, idx, LGD_SPEC);
    return b ? b->spec : NULL;
}

static int spec_ctor(lua_State *L);

const char *lgd_describe_value(lua_State *L, int idx, char *buf, size_t len)
{
    const gd_spec *s = lgd_testspec(L, idx);
    lgd_tensor *t;
    if (s) {
        snprintf(buf, len, "%s spec '%s'", gd_kind_name(s->component->kind), s->component->name);
    } else if ((t = lgd_testtensor(L, idx))) {
        char sh[64];
        snprintf(buf, len, "tensor %s", lgd_shape_str(&t->shape, sh, sizeof sh));
    } else if (lua_tocfunction(L, idx) == spec_ctor) {
        /* The user wrote gd.optim.adam instead of gd.optim.adam{}. (An
         * absolute index: the first upvalue pushed moves a relative one.) */
        idx = lua_absindex(L, idx);
        lua_getupvalue(L, idx, 1);
        lua_getupvalue(L, idx, 2);
        snprintf(buf, len, "the constructor gd.%s.%s (call it: gd.%s.%s{})",
                 gd_kind_short_name((gd_kind)lua_tointeger(L, -2)), lua_tostring(L, -1),
                 gd_kind_short_name((gd_kind)lua_tointeger(L, -2)), lua_tostring(L, -1));
        lua_pop(L, 2);
    } else {
        snprintf(buf, len, "%s", luaL_typename(L, idx));
    }
    return buf;
}

static const char *article(gd_kind kind)
{
    return kind == GD_KIND_OPTIMIZER || kind == GD_KIND_INITIALIZER ? "an" : "a";
}

const gd_spec *lgd_checkspec(lua_State *L, int idx, gd_kind kind)
{
    const gd_spec *s = lgd_testspec(L, idx);
    if (s && (!kind || s->component->kind == kind))
        return s;
    char got[160];
    lgd_describe_value(L, idx, got, sizeof got);
    const char *msg = kind ? lua_pushfstring(L, "%s spec expected, got %s", gd_kind_name(kind), got)
                           : lua_pushfstring(L, "spec expected, got %s", got);
    luaL_argerror(L, idx, msg);
    return NULL;
}

/* optimizer = "adam": name the spec to write instead, or, when nothing
 * loaded has that name, where components come from. Raises. */
static void name_given(lua_State *L, const char *what, const char *field, gd_kind kind)
{
    const char *name = lua_tostring(L, -1), *k = gd_kind_short_name(kind);
    gd_registry *reg = lgd_registry(L);
    if (gd_registry_find(reg, kind, name))
        lgd_error(L, "%s: '%s' must be %s %s spec, got the string \"%s\" (write gd.%s.%s{})",
                  what, field, article(kind), gd_kind_name(kind), name, k, name);
    gd_error err;
    gd_registry_fail_unknown(reg, kind, name, &err);
    lgd_error(L, "%s: '%s' must be %s %s spec, got the string \"%s\": %s", what, field,
              article(kind), gd_kind_name(kind), name, err.msg);
}

const gd_spec *lgd_field_spec(lua_State *L, int idx, const char *what, const char *field,
                              gd_kind kind, int required)
{
    lua_getfield(L, idx, field);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        if (required)
            lgd_error(L, "%s: '%s' is required (%s %s spec)", what, field, article(kind),
                       gd_kind_name(kind));
        return NULL;
    }
    const gd_spec *s = lgd_testspec(L, -1);
    if (!s && lua_type(L, -1) == LUA_TSTRING)
        name_given(L, what, field, kind);
    if (!s || s->component->kind != kind) {
        char got[160];
        lgd_describe_value(L, -1, got, sizeof got);
        lgd_error(L, "%s: '%s' must be %s %s spec, got %s", what, field, article(kind),
                   gd_kind_name(kind), got);
    }
    lua_pop(L, 1);
    return s;
}

/* ---------------------------------------------------------------------------
 * Building a spec from a Lua table
 * ------------------------------------------------------------------------- */

static const char *wanted(const gd_option_spec *o, char *buf, size_t len)
{
    switch (o->type) {
    case GD_OPT_NUMBER: return "a number";
    case GD_OPT_INTEGER: return "an integer";
    case GD_OPT_BOOLEAN: return "a boolean";
    case GD_OPT_ENUM:
    case GD_OPT_STRING: return "a string";
    case GD_OPT_INTS:
        return o->choices ? "an integer, a list of integers or a string"
                          : "an integer or a list of integers";
    case GD_OPT_COMPONENT:
        snprintf(buf, len, "%s %s (a spec or a name)", article(o->kind), gd_kind_name(o->kind));
        return buf;
    }
    return "a value";
}

/* A Lua list of 1..4 integers (and nothing else) as "3,5" into buf, for a
 * GD_OPT_INTS option; 0 when it is not one. */
static int ints_list(lua_State *L, int idx, char *buf, size_t len)
{
    lua_Integer n = luaL_len(L, idx);
    size_t used = 0;
    if (n < 1 || n > 4)
        return 0;
    for (lua_Integer k = 1; k <= n; k++) {
        lua_geti(L, idx, k);
        int isint;
        lua_Integer v = lua_tointegerx(L, -1, &isint);
        lua_pop(L, 1);
        if (!isint)
            return 0;
        used += (size_t)snprintf(buf + used, len - used, "%s%lld", k > 1 ? "," : "", (long long)v);
    }
    for (lua_pushnil(L); lua_next(L, idx); lua_pop(L, 1))
        if (!lua_isinteger(L, -2) || lua_tointeger(L, -2) < 1 || lua_tointeger(L, -2) > n) {
            lua_pop(L, 2);
            return 0;
        }
    return 1;
}

/* Push a GD_OPT_INTS text as Lua: a choice as a string, one integer as an
 * integer, a list as a table of integers. */
void lgd_push_ints(lua_State *L, const gd_option_spec *o, const char *text)
{
    if (!text) {
        lua_pushnil(L);
        return;
    }
    for (int k = 0; o->choices && o->choices[k]; k++)
        if (strcmp(o->choices[k], text) == 0) {
            lua_pushstring(L, text);
            return;
        }
    if (!strchr(text, ',')) {
        lua_pushinteger(L, (lua_Integer)strtoll(text, NULL, 10));
        return;
    }
    lua_newtable(L);
    int k = 0;
    for (const char *p = text; *p; p += *p == ',') {
        char *end;
        lua_pushinteger(L, (lua_Integer)strtoll(p, &end, 10));
        lua_rawseti(L, -2, ++k);
        p = end;
    }
}

/* Set option `name` of b->spec from the Lua value at idx. */
static void set_option(lua_State *L, lgd_spec *b, const char *name, int idx)
{
    const gd_component *c = b->spec->component;
    gd_arg a = { 0 };
    char list[128];
    switch (lua_type(L, idx)) {
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) {
            a.type = GD_ARG_INTEGER;
            a.i = (int64_t)lua_tointeger(L, idx);
        } else {
            a.type = GD_ARG_NUMBER;
            a.num = lua_tonumber(L, idx);
        }
        break;
    case LUA_TBOOLEAN:
        a.type = GD_ARG_BOOLEAN;
        a.b = lua_toboolean(L, idx);
        break;
    case LUA_TSTRING:
        a.type = GD_ARG_STRING;
        a.s = lua_tostring(L, idx);
        break;
    default:
        if ((a.spec = lgd_testspec(L, idx))) {
            a.type = GD_ARG_SPEC;
            break;
        }
        int i = gd_spec_option_index(c, name);
        if (i >= 0 && gd_spec_option(c, i)->type == GD_OPT_INTS && lua_istable(L, idx) &&
            ints_list(L, idx, list, sizeof list)) {
            a.type = GD_ARG_STRING;
            a.s = list;
            break;
        }
        if (i >= 0) {
            char want[96], got[160];
            lgd_describe_value(L, idx, got, sizeof got);
            lgd_error(L, "%s: option '%s' must be %s, got %s", c->name, name,
                       wanted(gd_spec_option(c, i), want, sizeof want), got);
        }
        a.type = GD_ARG_BOOLEAN; /* any type: the core reports the unknown name */
        break;
    }
    gd_error err;
    if (gd_spec_set(b->spec, name, &a, &err) != GD_OK)
        lgd_raise(L, &err);
}

void lgd_spec_from_table(lua_State *L, const gd_entry *e, int idx)
{
    const gd_component *c = e->component;
    int has_table = idx != 0 && !lua_isnoneornil(L, idx);
    if (has_table && !lua_istable(L, idx))
        lgd_error(L, "%s: options must be a table, got %s (write gd.%s.%s{ ... })", c->name,
                   luaL_typename(L, idx), gd_kind_short_name(c->kind), c->name);
    if (has_table)
        idx = lua_absindex(L, idx);
    lgd_spec *b = new_box(L);
    gd_error err;
    if (!(b->spec = gd_spec_begin(lgd_registry(L), c, &err)))
        lgd_raise(L, &err);
    if (has_table) {
        /* Pass 1: names that are not options, and keys that are not names,
         * in table order (so a typo fails before a range error elsewhere). */
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            if (lua_type(L, -2) != LUA_TSTRING) {
                lua_pop(L, 1);
                lgd_error(L, "%s: options are named (name = value); got a %s key%s", c->name,
                           luaL_typename(L, -1),
                           lua_isinteger(L, -1) ? " (a list entry inside the braces?)" : "");
            }
            const char *name = lua_tostring(L, -2);
            bool groups = c->kind == GD_KIND_OPTIMIZER && strcmp(name, "groups") == 0;
            if (gd_spec_option_index(c, name) < 0 && !groups)
                set_option(L, b, name, lua_gettop(L));
            lua_pop(L, 1);
        }
        /* Pass 2: known options in schema order, so errors are repeatable. */
        int n = gd_spec_option_count(c);
        for (int i = 0; i < n; i++) {
            const char *name = gd_spec_option(c, i)->name;
            if (lua_getfield(L, idx, name) != LUA_TNIL)
                set_option(L, b, name, lua_gettop(L));
            lua_pop(L, 1);
        }
    }
    if (gd_spec_finish(b->spec, &err) != GD_OK)
        lgd_raise(L, &err);
    if (has_table && c->kind == GD_KIND_OPTIMIZER)
        lgd_spec_groups(L, b->spec, idx);   /* per-parameter groups (below) */
}

/* ---------------------------------------------------------------------------
 * Parameter roles and groups: gd.optim.X{ ..., groups = { { role = "bias",
 * weight_decay = 0 }, { layer = "dense1", lr = 1e-4 } } } for any optimizer
 * ------------------------------------------------------------------------- */

static const char *const role_names[] = { "weight", "bias", "scale", "shift", "embedding",
                                             NULL };

int lgd_check_role(lua_State *L, int idx, const char *where)
{
    const char *s = lua_type(L, idx) == LUA_TSTRING ? lua_tostring(L, idx) : NULL;
    for (int k = 0; s && role_names[k]; k++)
        if (strcmp(role_names[k], s) == 0)
            return k + 1;   /* gd_param_role: GD_ROLE_WEIGHT = 1, ... */
    return lgd_error(L, "%s: role must be one of weight, bias, scale, shift, embedding, got %s",
                     where, s ? s : luaL_typename(L, idx));
}

/* The options of a group as gd_args: numbers, integers, booleans, strings. */
static void set_group_option(lua_State *L, gd_spec *g, int gi, const char *key, int vidx)
{
    const char *name = g->component->name;
    int oi = gd_spec_option_index(g->component, key);
    if (oi >= 0 && gd_spec_option(g->component, oi)->type == GD_OPT_COMPONENT)
        lgd_error(L, "%s: groups[%d]: option '%s' cannot be set per group", name, gi, key);
    gd_arg a = { 0 };
    switch (lua_type(L, vidx)) {
    case LUA_TNUMBER:
        if (lua_isinteger(L, vidx))
            a = (gd_arg){ .type = GD_ARG_INTEGER, .i = (int64_t)lua_tointeger(L, vidx) };
        else
            a = (gd_arg){ .type = GD_ARG_NUMBER, .num = lua_tonumber(L, vidx) };
        break;
    case LUA_TBOOLEAN: a = (gd_arg){ .type = GD_ARG_BOOLEAN, .b = lua_toboolean(L, vidx) }; break;
    case LUA_TSTRING: a = (gd_arg){ .type = GD_ARG_STRING, .s = lua_tostring(L, vidx) }; break;
    default:
        lgd_error(L, "%s: groups[%d]: option '%s' must be a number, boolean or string, got %s",
                  name, gi, key, luaL_typename(L, vidx));
    }
    gd_error err;
    if (gd_spec_set(g, key, &a, &err) != GD_OK) {
        size_t skip = strlen(name);
        const char *msg = strncmp(err.msg, name, skip) == 0 && err.msg[skip] == ':'
                              ? err.msg + skip + 2 : err.msg;
        lgd_error(L, "%s: groups[%d]: %s", name, gi, msg);
    }
}

void lgd_spec_groups(lua_State *L, gd_spec *s, int idx)
{
    const char *name = s->component->name;
    if (lua_getfield(L, idx, "groups") == LUA_TNIL) {
        lua_pop(L, 1);
        return;
    }
    if (!lua_istable(L, -1))
        lgd_error(L, "%s: groups must be a list of tables ({ role = ..., layer = ..., option = "
                  "value }), got %s", name, luaL_typename(L, -1));
    int list = lua_gettop(L);
    lua_Integer n = luaL_len(L, list);
    for (lua_Integer i = 1; i <= n; i++) {
        if (lua_geti(L, list, i) != LUA_TTABLE)
            lgd_error(L, "%s: groups[%d] must be a table, got %s", name, (int)i,
                      luaL_typename(L, -1));
        int gt = lua_gettop(L);
        int role = 0;
        if (lua_getfield(L, gt, "role") != LUA_TNIL) {
            char where[96];
            snprintf(where, sizeof where, "%s: groups[%d]", name, (int)i);
            role = lgd_check_role(L, -1, where);
        }
        if (lua_getfield(L, gt, "layer") != LUA_TNIL && !lua_isstring(L, -1))
            lgd_error(L, "%s: groups[%d]: layer must be a layer name, got %s", name, (int)i,
                      luaL_typename(L, -1));
        const char *layer = lua_tostring(L, -1);   /* kept alive by the group table */
        gd_spec *g = gd_spec_copy(s);
        if (!g)
            lgd_error(L, "%s: out of memory", name);
        lgd_push_spec(L, g);   /* owned by a userdata while the options are set */
        lua_pushnil(L);
        while (lua_next(L, gt)) {
            if (lua_type(L, -2) != LUA_TSTRING)
                lgd_error(L, "%s: groups[%d]: options are named (name = value)", name, (int)i);
            const char *key = lua_tostring(L, -2);
            if (strcmp(key, "role") != 0 && strcmp(key, "layer") != 0)
                set_group_option(L, g, (int)i, key, lua_gettop(L));
            lua_pop(L, 1);
        }
        gd_error err;
        gd_spec *own = gd_spec_copy(g);
        if (!own || gd_spec_add_group(s, role, layer, own, &err) != GD_OK)
            lgd_error(L, "%s", own ? err.msg : "out of memory");
        lua_settop(L, list);
    }
    lua_pop(L, 1);
}

/* ---------------------------------------------------------------------------
 * The arguments of layer:build, block:build and opt:step
 * ------------------------------------------------------------------------- */

/* What layer:build and block:build take (gradus doc's "model" page shows
 * this table). */
const lgd_key lgd_build_keys[] = {
    LGD_REQUIRED("inputs", 0, "integer | shape", "per-sample input: n features, or { C, H, W }"),
    { "seed", NULL, NULL, "initial weights (the same seed: the same weights)",
      { .type = GD_OPT_INTEGER, .def = 1 }, 0, NULL },
    { NULL },
};

/* { inputs = n or shape, seed = s } of layer:build and block:build */
void lgd_build_args(lua_State *L, int idx, const char *what, gd_shape *in, uint64_t *seed)
{
    idx = lua_absindex(L, idx);
    if (!lua_istable(L, idx))
        lgd_error(L, "%s: expects { inputs = n or shape, seed = s }, got %s", what,
                  luaL_typename(L, idx));
    gd_value v[LGD_MAX_OPTIONS];
    lgd_read_options(L, idx, what, lgd_build_keys, v);
    lua_getfield(L, idx, "inputs");
    char where[128];
    snprintf(where, sizeof where, "%s: inputs", what);
    *in = lgd_checkshape(L, -1, where);
    if (in->ndim > GD_MAX_DIMS - 1)
        lgd_error(L, "%s: at most %d dimensions per sample", where, GD_MAX_DIMS - 1);
    *seed = (uint64_t)v[1].u.i;
    lua_pop(L, 1);
}

/* gd.optim.adam{...}: upvalues kind, name. The entry is looked up at each
 * call: entries move when plugins load. */
static int spec_ctor(lua_State *L)
{
    gd_kind kind = (gd_kind)lua_tointeger(L, lua_upvalueindex(1));
    const char *name = lua_tostring(L, lua_upvalueindex(2));
    gd_registry *reg = lgd_registry(L);
    const gd_entry *e = gd_registry_find(reg, kind, name);
    if (!e) {
        gd_error err;
        gd_registry_fail_unknown(reg, kind, name, &err);
        return lgd_raise(L, &err);
    }
    if (lua_gettop(L) > 1)
        return lgd_error(L, "%s: takes one table of options (gd.%s.%s{ ... })", name,
                          gd_kind_short_name(kind), name);
    lgd_spec_from_table(L, e, lua_gettop(L) ? 1 : 0);
    return 1;
}

void lgd_push_constructor(lua_State *L, const gd_entry *e)
{
    lua_pushinteger(L, e->component->kind);
    lua_pushstring(L, e->component->name);
    lua_pushcclosure(L, spec_ctor, 2);
}

/* ---------------------------------------------------------------------------
 * Reading a spec
 * ------------------------------------------------------------------------- */

static void push_value(lua_State *L, const gd_option_spec *o, const gd_value *v)
{
    if (!v->present) {
        lua_pushnil(L);
        return;
    }
    switch (o->type) {
    case GD_OPT_NUMBER: lua_pushnumber(L, v->u.num); break;
    case GD_OPT_INTEGER: lua_pushinteger(L, (lua_Integer)v->u.i); break;
    case GD_OPT_BOOLEAN: lua_pushboolean(L, v->u.b); break;
    case GD_OPT_ENUM: lua_pushstring(L, o->choices[v->u.e]); break;
    case GD_OPT_STRING: lua_pushstring(L, v->u.s); break;
    case GD_OPT_INTS: lgd_push_ints(L, o, v->u.s); break;
    case GD_OPT_COMPONENT: {
        lgd_spec *b = new_box(L);
        if (!(b->spec = gd_spec_copy(v->u.spec)))
            lgd_error(L, "gradus: out of memory");
        break;
    }
    }
}

void lgd_push_options(lua_State *L, const gd_spec *s)
{
    const gd_component *c = s->component;
    int n = gd_spec_option_count(c);
    lua_createtable(L, 0, n);
    for (int i = 0; i < n; i++) {
        const gd_option_spec *o = gd_spec_option(c, i);
        push_value(L, o, &s->options->v[i]);
        lua_setfield(L, -2, o->name);
    }
    lua_rawgetp(L, LUA_REGISTRYINDEX, &options_meta_key);
    lua_setmetatable(L, -2);
}

static int options_call(lua_State *L)
{
    lua_settop(L, 1);
    return 1;
}

static int spec_tostring(lua_State *L)
{
    char buf[1024];
    lua_pushstring(L, gd_spec_describe(checkbox(L, 1)->spec, buf, sizeof buf));
    return 1;
}

static int spec_gc(lua_State *L)
{
    lgd_spec *b = luaL_checkudata(L, 1, LGD_SPEC);
    gd_spec_free(b->spec);
    b->spec = NULL;
    return 0;
}

/* sched:lr(t, base_lr): value at update t (from 0). Pure, and outside any
 * run, so the horizon is unknown (-1); gd_spec_finish already ran the
 * schedule's check with that horizon. */
static int spec_lr(lua_State *L)
{
    const gd_spec *s = lgd_checkspec(L, 1, GD_KIND_SCHEDULER);
    int isint;
    lua_Integer t = lua_tointegerx(L, 2, &isint);
    if (!isint)
        return luaL_argerror(L, 2, lua_pushfstring(L, "update index t must be an integer, got %s",
                                                   luaL_typename(L, 2)));
    luaL_argcheck(L, t >= 0, 2, "update index t must be >= 0");
    double base = luaL_optnumber(L, 3, 1.0);
    /* Outside a run the horizon is unknown (-1): a schedule that needs it,
     * such as cosine without T, refuses here instead of guessing. */
    gd_error err;
    if (gd_schedule_check(s, -1, &err) != GD_OK)
        return lgd_raise(L, &err);
    lua_pushnumber(L, gd_schedule_lr(s, (int64_t)t, base, -1));
    return 1;
}

/* init:fill(tensor, { fan_in =, fan_out =, seed = }): fill a tensor in place. */
static int spec_fill(lua_State *L)
{
    const gd_spec *s = lgd_checkspec(L, 1, GD_KIND_INITIALIZER);
    lgd_tensor *t = lgd_checktensor(L, 2);
    if (lua_isnoneornil(L, 3)) {
        lua_settop(L, 2);
        lua_newtable(L);
    }
    luaL_checktype(L, 3, LUA_TTABLE);
    lua_getfield(L, 3, "fan_in");
    lua_getfield(L, 3, "fan_out");
    lua_getfield(L, 3, "seed");
    int64_t cols = t->shape.ndim >= 2 ? t->numel / t->shape.dim[0] : t->numel;
    int64_t rows = t->shape.ndim >= 2 ? t->shape.dim[0] : 1;
    int64_t fan_in = luaL_optinteger(L, -3, cols), fan_out = luaL_optinteger(L, -2, rows);
    uint64_t seed = (uint64_t)luaL_optinteger(L, -1, 1);
    luaL_argcheck(L, fan_in >= 1 && fan_out >= 1, 3, "fan_in and fan_out must be >= 1");
    gd_rng rng = gd_rng_stream(seed, 0);
    gd_error err;
    if (gd_initializer_fill(s, t->data, t->numel, fan_in, fan_out, &rng, &err) != GD_OK)
        return lgd_raise(L, &err);
    lua_settop(L, 2);
    return 1;
}

/* __index: fields kind, name, doc, file, options; methods by kind. */
static int spec_index(lua_State *L)
{
    const gd_spec *s = checkbox(L, 1)->spec;
    const gd_component *c = s->component;
    const char *k = luaL_checkstring(L, 2);
    if (strcmp(k, "kind") == 0) {
        lua_pushstring(L, gd_kind_name(c->kind));
    } else if (strcmp(k, "name") == 0) {
        lua_pushstring(L, c->name);
    } else if (strcmp(k, "doc") == 0) {
        lua_pushstring(L, c->doc ? c->doc : "");
    } else if (strcmp(k, "file") == 0) {
        const gd_entry *e = gd_registry_entry_of(lgd_registry(L), c);
        lua_pushstring(L, e ? e->file : NULL);
    } else if (strcmp(k, "options") == 0) {
        lgd_push_options(L, s);
    } else if (strcmp(k, "lr") == 0 && c->kind == GD_KIND_SCHEDULER) {
        lua_pushcfunction(L, spec_lr);
    } else if (strcmp(k, "fill") == 0 && c->kind == GD_KIND_INITIALIZER) {
        lua_pushcfunction(L, spec_fill);
    } else if (strcmp(k, "build") == 0 && c->kind != GD_KIND_SCHEDULER &&
               c->kind != GD_KIND_INITIALIZER) {
        lua_pushcfunction(L, lgd_build);
    } else {
        lua_pushnil(L);
    }
    return 1;
}

static int spec_newindex(lua_State *L)
{
    const gd_spec *s = checkbox(L, 1)->spec;
    return lgd_error(L, "%s: a spec is immutable; make a new one: gd.%s.%s{ ... }",
                      s->component->name, gd_kind_short_name(s->component->kind),
                      s->component->name);
}

void lgd_open_spec(lua_State *L)
{
    static const luaL_Reg meta[] = {
        { "__index", spec_index },
        { "__newindex", spec_newindex },
        { "__tostring", spec_tostring },
        { "__gc", spec_gc },
        { NULL, NULL },
    };
    luaL_newmetatable(L, LGD_SPEC);
    luaL_setfuncs(L, meta, 0);
    lua_pop(L, 1);
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, options_call);
    lua_setfield(L, -2, "__call");
    lua_rawsetp(L, LUA_REGISTRYINDEX, &options_meta_key);
}
