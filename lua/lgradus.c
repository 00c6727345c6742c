/*
 * lua/lgradus.c: the module entry (luaopen_gradus), the registry of a Lua
 * state, the component namespaces and gd.plugins.
 *
 * The namespaces gd.layer, gd.loss, gd.optim, gd.sched, gd.reg and gd.init
 * hold nothing: their __index asks the registry, so a plugin loaded later
 * (gd.plugins.load, GRADUS_PLUGIN_PATH, gradus -l) appears with no binding
 * code, and an unknown name fails with the registry's did-you-mean message.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "lapi.h"
#include "lgradus.h"
#include "model.h"
#include "threads.h"

/* Key of the registry's userdata in the Lua registry. */
static const char registry_key = 'r';

typedef struct reg_box {
    gd_registry *reg;
} reg_box;

/* ---------------------------------------------------------------------------
 * Helpers shared by the binding
 * ------------------------------------------------------------------------- */

/* Push "chunk:line: " of the user's code that called into gradus: the
 * first Lua frame above the C function that is not one of the module's own
 * embedded chunks ("=[gradus] ..."), so that an error raised by gd.train
 * called through gd.compare points at the user's script, not the wrapper. */
static void where_user(lua_State *L)
{
    lua_Debug ar;
    for (int level = 1; lua_getstack(L, level, &ar); level++) {
        lua_getinfo(L, "Sl", &ar);
        if (strncmp(ar.source, "=[gradus]", 9) == 0)
            continue;
        if (ar.currentline > 0) {
            lua_pushfstring(L, "%s:%d: ", ar.short_src, ar.currentline);
            return;
        }
        break;
    }
    lua_pushliteral(L, "");
}

int lgd_error(lua_State *L, const char *fmt, ...)
{
    /* C's printf formats (%lld, %08x, ...), which lua_pushfstring lacks. */
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    where_user(L);
    lua_pushstring(L, msg);
    lua_concat(L, 2);
    return lua_error(L);
}

int lgd_raise(lua_State *L, const gd_error *err)
{
    /* The message is copied into a Lua string before the longjmp; err may
     * live on the caller's C stack. */
    return lgd_error(L, "%s", err->msg);
}

void lgd_setnum(lua_State *L, const char *k, double v)
{
    lua_pushnumber(L, v);
    lua_setfield(L, -2, k);
}

void lgd_setint(lua_State *L, const char *k, lua_Integer v)
{
    lua_pushinteger(L, v);
    lua_setfield(L, -2, k);
}

void lgd_setstr(lua_State *L, const char *k, const char *v)
{
    if (!v)
        return;
    lua_pushstring(L, v);
    lua_setfield(L, -2, k);
}

void lgd_setbool(lua_State *L, const char *k, int v)
{
    lua_pushboolean(L, v);
    lua_setfield(L, -2, k);
}

void lgd_newclass(lua_State *L, const char *name, const luaL_Reg *fns, int nup)
{
    luaL_newmetatable(L, name);
    lua_newtable(L);                       /* the methods */
    for (const luaL_Reg *f = fns; f->name; f++) {
        int meta = strncmp(f->name, "__", 2) == 0;
        for (int i = 0; i < nup; i++)
            lua_pushvalue(L, -2 - nup);
        lua_pushcclosure(L, f->func, nup);
        lua_setfield(L, meta ? -3 : -2, f->name);
    }
    if (lua_getfield(L, -2, "__index") == LUA_TNIL) {
        lua_pop(L, 1);
        lua_setfield(L, -2, "__index");
    } else {
        lua_pop(L, 2);                     /* a function __index of its own */
    }
    lua_insert(L, -1 - nup);
    lua_pop(L, nup);
}

/* ---------------------------------------------------------------------------
 * The registry of a state
 * ------------------------------------------------------------------------- */

static int registry_gc(lua_State *L)
{
    reg_box *r = luaL_checkudata(L, 1, LGD_REGISTRY);
    if (!r->reg)
        return 0;
    /* The state is closing the module (its first finalizable object, so
     * finalized last): under a stock lua5.4, lua_close dlcloses gradus.so
     * next, and a pool worker still parked in its code would crash. */
    gd_threads_stop();
    gd_registry_free(r->reg);
    r->reg = NULL;
    return 0;
}

static int registry_tostring(lua_State *L)
{
    reg_box *r = luaL_checkudata(L, 1, LGD_REGISTRY);
    lua_pushfstring(L, "gradus registry (%d components)", r->reg ? gd_registry_count(r->reg) : 0);
    return 1;
}

void lgd_push_registry(lua_State *L)
{
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &registry_key) != LUA_TUSERDATA)
        luaL_error(L, "gradus: the module is not open in this Lua state");
}

gd_registry *lgd_registry(lua_State *L)
{
    lgd_push_registry(L);
    reg_box *r = lua_touserdata(L, -1);
    lua_pop(L, 1);
    if (!r->reg)
        luaL_error(L, "gradus: the registry is closed");
    return r->reg;
}

/* Create the registry once per state and load the built-in plugins and
 * GRADUS_PLUGIN_PATH. It must be the first userdata with a finalizer the
 * module makes, so that lua_close finalizes it after everything else. */
static void open_registry(lua_State *L)
{
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &registry_key) == LUA_TUSERDATA) {
        lua_pop(L, 1);
        return;
    }
    lua_pop(L, 1);
    reg_box *r = lua_newuserdatauv(L, sizeof *r, 0);
    r->reg = NULL;
    static const luaL_Reg meta[] = {
        { "__gc", registry_gc },
        { "__tostring", registry_tostring },
        { NULL, NULL },
    };
    luaL_newmetatable(L, LGD_REGISTRY);
    luaL_setfuncs(L, meta, 0);
    lua_setmetatable(L, -2);
    r->reg = gd_registry_new();
    if (!r->reg)
        luaL_error(L, "gradus: out of memory");
    lua_rawsetp(L, LUA_REGISTRYINDEX, &registry_key);
    gd_error err;
    if (gd_registry_load_defaults(r->reg, &err) != GD_OK)
        luaL_error(L, "gradus: %s", err.msg);
    if (gd_registry_warning(r->reg))   /* once per state: the registry is made once */
        fprintf(stderr, "gradus: warning: %s\n", gd_registry_warning(r->reg));
}

/* ---------------------------------------------------------------------------
 * Namespaces
 * ------------------------------------------------------------------------- */

/* __index(ns, name): the constructor of component `name` of the namespace's
 * kind (upvalue 1). */
static int ns_index(lua_State *L)
{
    gd_kind kind = (gd_kind)lua_tointeger(L, lua_upvalueindex(1));
    if (lua_type(L, 2) != LUA_TSTRING)
        return 0;
    const char *name = lua_tostring(L, 2);
    gd_registry *reg = lgd_registry(L);
    const gd_entry *e = gd_registry_find(reg, kind, name);
    if (!e) {
        gd_error err;
        gd_registry_fail_unknown(reg, kind, name, &err);
        return lgd_raise(L, &err);
    }
    lgd_push_constructor(L, e);
    return 1;
}

static int ns_newindex(lua_State *L)
{
    gd_kind kind = (gd_kind)lua_tointeger(L, lua_upvalueindex(1));
    return luaL_error(L, "gd.%s is generated from the plugin registry: load a plugin with "
                      "gd.plugins.load to add a component", gd_kind_short_name(kind));
}

/* Iterator of pairs(gd.optim): (name, constructor) in registry order. */
static int ns_next(lua_State *L)
{
    gd_kind kind = (gd_kind)lua_tointeger(L, lua_upvalueindex(1));
    gd_registry *reg = lgd_registry(L);
    int n = gd_registry_count(reg);
    int i = (int)lua_tointeger(L, lua_upvalueindex(2));
    for (; i < n; i++) {
        const gd_entry *e = gd_registry_at(reg, i);
        if (e->component->kind != kind)
            continue;
        lua_pushinteger(L, i + 1);
        lua_replace(L, lua_upvalueindex(2));
        lua_pushstring(L, e->component->name);
        lgd_push_constructor(L, e);
        return 2;
    }
    return 0;
}

static int ns_pairs(lua_State *L)
{
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushinteger(L, 0);
    lua_pushcclosure(L, ns_next, 2);
    lua_pushvalue(L, 1);
    lua_pushnil(L);
    return 3;
}

static int ns_tostring(lua_State *L)
{
    gd_kind kind = (gd_kind)lua_tointeger(L, lua_upvalueindex(1));
    lua_pushfstring(L, "gd.%s (%s components)", gd_kind_short_name(kind), gd_kind_name(kind));
    return 1;
}

static void push_namespace(lua_State *L, gd_kind kind)
{
    static const struct { const char *name; lua_CFunction fn; } meta[] = {
        { "__index", ns_index },
        { "__newindex", ns_newindex },
        { "__pairs", ns_pairs },
        { "__tostring", ns_tostring },
    };
    lua_newtable(L);
    lua_createtable(L, 0, 5);
    for (size_t i = 0; i < sizeof meta / sizeof *meta; i++) {
        lua_pushinteger(L, kind);
        lua_pushcclosure(L, meta[i].fn, 1);
        lua_setfield(L, -2, meta[i].name);
    }
    lua_pushstring(L, gd_kind_name(kind));
    lua_setfield(L, -2, "__name");
    lua_setmetatable(L, -2);
}

/* ---------------------------------------------------------------------------
 * gd.plugins
 * ------------------------------------------------------------------------- */

static int plugins_load(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    gd_registry *reg = lgd_registry(L);
    gd_error err;
    int before = gd_registry_count(reg);
    if (gd_registry_load(reg, path, &err) != GD_OK)
        return lgd_raise(L, &err);
    /* The names of what the file added: handy to check a drop-in. */
    lua_newtable(L);
    int n = gd_registry_count(reg);
    for (int i = before; i < n; i++) {
        const gd_entry *e = gd_registry_at(reg, i);
        lua_pushfstring(L, "%s.%s", gd_kind_short_name(e->component->kind), e->component->name);
        lua_rawseti(L, -2, i - before + 1);
    }
    return 1;
}

/* Push the default of option o as a Lua value (nil when there is none). */
static void push_default(lua_State *L, const gd_option_spec *o)
{
    if (o->flags & (GD_OPT_REQUIRED | GD_OPT_OPTIONAL)) {
        lua_pushnil(L);
        return;
    }
    switch (o->type) {
    case GD_OPT_NUMBER: lua_pushnumber(L, o->def); break;
    case GD_OPT_INTEGER: lua_pushinteger(L, (lua_Integer)o->def); break;
    case GD_OPT_BOOLEAN: lua_pushboolean(L, o->def != 0); break;
    case GD_OPT_ENUM: lua_pushstring(L, o->def_str ? o->def_str : o->choices[0]); break;
    case GD_OPT_STRING:
    case GD_OPT_COMPONENT: lua_pushstring(L, o->def_str); break;
    case GD_OPT_INTS: lgd_push_ints(L, o, o->def_str); break;
    }
}

static void push_entry_info(lua_State *L, const gd_entry *e)
{
    const gd_component *c = e->component;
    lua_createtable(L, 0, 8);
    lgd_setstr(L, "name", c->name);
    lgd_setstr(L, "kind", gd_kind_name(c->kind));
    lgd_setstr(L, "doc", c->doc ? c->doc : "");
    lgd_setstr(L, "file", e->file);
    lgd_setstr(L, "plugin", e->plugin);
    lgd_setstr(L, "version", e->version);
    int n = gd_spec_option_count(c);
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        const gd_option_spec *o = gd_spec_option(c, i);
        lua_createtable(L, 0, 8);
        lgd_setstr(L, "name", o->name);
        lgd_setstr(L, "type", gd_option_type_name(o));
        push_default(L, o);
        lua_setfield(L, -2, "default");
        if (o->flags & GD_OPT_HAS_MIN) {
            lgd_setnum(L, "min", o->min);
            lgd_setbool(L, "min_open", (o->flags & GD_OPT_MIN_OPEN) != 0);
        }
        if (o->flags & GD_OPT_HAS_MAX) {
            lgd_setnum(L, "max", o->max);
            lgd_setbool(L, "max_open", (o->flags & GD_OPT_MAX_OPEN) != 0);
        }
        lgd_setbool(L, "required", (o->flags & GD_OPT_REQUIRED) != 0);
        if (o->type == GD_OPT_ENUM) {
            lua_newtable(L);
            for (int k = 0; o->choices[k]; k++) {
                lua_pushstring(L, o->choices[k]);
                lua_rawseti(L, -2, k + 1);
            }
            lua_setfield(L, -2, "choices");
        }
        lgd_setstr(L, "doc", o->doc ? o->doc : "");
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "options");
}

/* gd.plugins.list([kind]) -> { {name, kind, doc, file, options}, ... } */
static int plugins_list(lua_State *L)
{
    gd_kind kind = (gd_kind)0;
    if (!lua_isnoneornil(L, 1)) {
        const char *k = luaL_checkstring(L, 1);
        kind = gd_kind_from_name(k);
        if (!kind)
            return luaL_argerror(L, 1, lua_pushfstring(L, "unknown kind '%s' (kinds: layer, "
                                 "loss, optimizer, scheduler, regularizer, initializer)", k));
    }
    gd_registry *reg = lgd_registry(L);
    lua_newtable(L);
    int n = gd_registry_count(reg), k = 0;
    for (int i = 0; i < n; i++) {
        const gd_entry *e = gd_registry_at(reg, i);
        if (kind && e->component->kind != kind)
            continue;
        push_entry_info(L, e);
        lua_rawseti(L, -2, ++k);
    }
    return 1;
}

/* ---------------------------------------------------------------------------
 * Module-level functions
 * ------------------------------------------------------------------------- */

static int gd_threads(lua_State *L)
{
    lgd_registry(L);   /* raises once the module is closed: no pool after that */
    if (!lua_isnoneornil(L, 1)) {
        lua_Integer n = luaL_checkinteger(L, 1);
        luaL_argcheck(L, n >= 0 && n <= 4096, 1, "thread count must be in [0, 4096] (0: all)");
        gd_set_threads((int)n);
    }
    lua_pushinteger(L, gd_get_threads());
    return 1;
}

static const luaL_Reg plugin_fns[] = {
    { "load", plugins_load },
    { "list", plugins_list },
    { NULL, NULL },
};

int luaopen_gradus(lua_State *L)
{
    luaL_checkversion(L);
    open_registry(L);
    gd_error err;
    if (gd_blas_select(NULL, &err) != GD_OK)
        return luaL_error(L, "gradus: %s", err.msg);
    int threads;
    if (gd_threads_from_env(&threads, &err) != GD_OK)
        return luaL_error(L, "gradus: %s", err.msg);
    gd_set_threads(threads);

    lua_newtable(L);
    static const luaL_Reg fns[] = {
        { "threads", gd_threads },
        { NULL, NULL },
    };
    luaL_setfuncs(L, fns, 0);
    lgd_setstr(L, "version", GD_VERSION);
    lua_pushfstring(L, "%d.%d", GD_ABI_MAJOR, GD_ABI_MINOR);
    lua_setfield(L, -2, "abi");

    for (int k = 1; k <= GD_KIND_COUNT; k++) {
        push_namespace(L, (gd_kind)k);
        lua_setfield(L, -2, gd_kind_short_name((gd_kind)k));
    }
    luaL_newlib(L, plugin_fns);
    lua_setfield(L, -2, "plugins");

    lgd_open_spec(L);
    lgd_open_tensor(L);
    lgd_open_prim(L);
    lgd_open_model(L);
    lgd_open_block(L);
    lgd_open_data(L);
    lgd_open_train(L);
    lgd_open_dist(L);
    lgd_open_probe(L);
    lgd_open_checkpoint(L);
    lgd_open_api(L);
    lgd_open_lib(L); /* last: the Lua-written parts wrap what is above */
    return 1;
}
