/*
 * lua/ldata_rebuild.c: gd.data.rebuild(recipe), a data set from the recipe
 * a checkpoint recorded (see ldata.c for what recipes hold).
 *
 * Only the constructors of the table `sources` and the view methods split,
 * subset and standardize can be reached; the recipe is read with raw
 * accesses (no metamethod, hence no code of the recipe, runs), checked to
 * be plain values and bounded in depth before anything is built.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "lapi.h"
#include "ldata.h"

/* ---------------------------------------------------------------------------
 * gd.data.rebuild(recipe)
 * ------------------------------------------------------------------------- */

/* The only constructors a recipe can reach. */
static const struct {
    const char *name;
    lua_CFunction fn;
} sources[] = {
    { "fashion_mnist", lgd_data_fashion_mnist },
    { "csv", lgd_data_csv },
    { "text", lgd_data_text },
    { "synthetic.spirals", lgd_data_spirals },
    { "synthetic.blobs", lgd_data_blobs },
    { "synthetic.xor", lgd_data_xor },
    { "synthetic.regression", lgd_data_regression },
    { "synthetic.quadratic_deep", lgd_data_quadratic_deep },
};
#define N_SOURCES (sizeof sources / sizeof sources[0])

/* Raise "gd.data.rebuild: [in recipe.of: ]<message>". */
static int rb_error(lua_State *L, const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    const char *msg = lua_pushvfstring(L, fmt, ap);
    va_end(ap);
    if (strcmp(path, "recipe") == 0)
        return lgd_error(L, "gd.data.rebuild: %s", msg);
    return lgd_error(L, "gd.data.rebuild: in %s: %s", path, msg);
}

/* A value for a message: scalars as themselves, others by type. */
static const char *show(lua_State *L, int idx)
{
    switch (lua_type(L, idx)) {
    case LUA_TSTRING:
        return lua_pushfstring(L, "'%s'", lua_tostring(L, idx));
    case LUA_TNUMBER:
    case LUA_TBOOLEAN:
        return luaL_tolstring(L, idx, NULL);
    default:
        return luaL_typename(L, idx);
    }
}

/* The table at idx must be plain: no metatable, string keys, values
 * strings, numbers, booleans or plain tables (checked down to MAX_DEPTH
 * levels). The sub-recipes `of` and `stats_from` of a recipe node are left
 * to rb_build. */
static void check_plain(lua_State *L, int idx, const char *path, int depth, int node)
{
    if (depth > MAX_DEPTH)
        rb_error(L, path, "recipe nested deeper than %d levels", MAX_DEPTH);
    if (lua_getmetatable(L, idx))
        rb_error(L, path, "recipe tables must be plain, this one has a metatable");
    luaL_checkstack(L, 6, "recipe");
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        int value = lua_gettop(L);
        if (lua_type(L, -2) != LUA_TSTRING)
            rb_error(L, path, "recipe keys must be strings, got %s", show(L, -2));
        const char *k = lua_tostring(L, -2);
        int t = lua_type(L, -1);
        if (t == LUA_TTABLE) {
            if (!(node && (!strcmp(k, "of") || !strcmp(k, "stats_from")))) {
                const char *sub = lua_pushfstring(L, "%s.%s", path, k);
                check_plain(L, value, sub, depth + 1, 0);
            }
        } else if (t != LUA_TSTRING && t != LUA_TNUMBER && t != LUA_TBOOLEAN) {
            rb_error(L, path, "field '%s' must be a string, number, boolean or table, got %s",
                     k, luaL_typename(L, -1));
        }
        lua_settop(L, value - 1);   /* the key, for lua_next */
    }
}

/* Raw structural equality of two plain tables (bounded: a rebuilt recipe is
 * at most MAX_DEPTH deep). */
int lgd_recipe_equal(lua_State *L, int a, int b, int depth)
{
    if (depth > MAX_DEPTH + 1)
        return 0;
    a = lua_absindex(L, a);
    b = lua_absindex(L, b);
    luaL_checkstack(L, 6, "recipe");
    int na = 0, nb = 0, eq = 1;
    lua_pushnil(L);
    while (eq && lua_next(L, a)) {
        na++;
        lua_pushvalue(L, -2);
        lua_rawget(L, b);
        if (lua_type(L, -1) == LUA_TTABLE && lua_type(L, -2) == LUA_TTABLE)
            eq = lgd_recipe_equal(L, -1, -2, depth + 1);
        else
            eq = lua_type(L, -1) == lua_type(L, -2) && lua_rawequal(L, -1, -2) &&
                 lua_isinteger(L, -1) == lua_isinteger(L, -2);
        lua_pop(L, 2);
    }
    if (!eq) {
        lua_pop(L, 1);   /* the key left by the interrupted traversal */
        return 0;
    }
    lua_pushnil(L);
    while (lua_next(L, b)) {
        nb++;
        lua_pop(L, 1);
    }
    return na == nb;
}

/* A shallow copy of the table at idx without the keys in `skip`. */
static void options_of(lua_State *L, int idx, const char *const *skip)
{
    lua_newtable(L);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        int keep = 1;
        for (int i = 0; skip[i]; i++)
            keep &= strcmp(lua_tostring(L, -2), skip[i]) != 0;
        if (keep && strcmp(lua_tostring(L, -2), "shape") == 0 && lua_type(L, -1) == LUA_TSTRING) {
            /* the recipe's "1,28,28" (ldata.c's shape_recipe) as { 1, 28, 28 } */
            const char *p = lua_tostring(L, -1);
            lua_newtable(L);
            for (int k = 1; *p && k <= 4; k++) {
                char *end;
                lua_pushinteger(L, (lua_Integer)strtoll(p, &end, 10));
                lua_rawseti(L, -2, k);
                p = *end == ',' ? end + 1 : end;
            }
            lua_replace(L, -2);
        }
        if (keep) {
            lua_pushvalue(L, -2);
            lua_insert(L, -2);
            lua_rawset(L, -4);
        } else {
            lua_pop(L, 1);
        }
    }
}

static void rb_build(lua_State *L, int idx, const char *path, int depth, int memo);

/* Build the sub-recipe `key` of the recipe at idx; pushes the data set, or
 * nothing (returning 0) when it is absent and not required. */
static int rb_sub(lua_State *L, int idx, const char *path, int depth, int memo, const char *key,
                  const char *view, int required)
{
    int t = lua_getfield(L, idx, key);   /* a plain table: no metamethod */
    if (t == LUA_TNIL && !required) {
        lua_pop(L, 1);
        return 0;
    }
    if (t == LUA_TNIL)
        rb_error(L, path, "view '%s' needs '%s' (the recipe of the set it views)", view, key);
    if (t != LUA_TTABLE)
        rb_error(L, path, "'%s' must be a recipe table, got %s", key, show(L, -1));
    int sub = lua_gettop(L);
    const char *subpath = lua_pushfstring(L, "%s.%s", path, key);
    rb_build(L, sub, subpath, depth + 1, memo);
    lua_replace(L, -3);   /* the data set over the sub-recipe ... */
    lua_pop(L, 1);        /* ... and the path string */
    return 1;
}

/* "gd.data.rebuild: [in recipe.of: ]subset recipe" (pushed) for lgd_check_keys. */
static const char *view_what(lua_State *L, const char *path, const char *view)
{
    if (strcmp(path, "recipe") == 0)
        return lua_pushfstring(L, "gd.data.rebuild: %s recipe", view);
    return lua_pushfstring(L, "gd.data.rebuild: in %s: %s recipe", path, view);
}

static void rb_view(lua_State *L, int idx, const char *path, int depth, int memo,
                    const char *view)
{
    if (!strcmp(view, "split")) {
        static const char *const skip[] = { "view", "of", "part", NULL };
        lua_getfield(L, idx, "part");
        int isint;   /* 1.0 too, as the constructors take it for integers */
        lua_Integer part = lua_tointegerx(L, -1, &isint);
        if (!isint || lua_type(L, -1) != LUA_TNUMBER || (part != 1 && part != 2))
            rb_error(L, path, "split 'part' must be 1 (train) or 2 (validation), got %s",
                     show(L, -1));
        lua_pop(L, 1);
        lua_pushcfunction(L, lgd_ds_split);
        rb_sub(L, idx, path, depth, memo, "of", view, 1);
        options_of(L, idx, skip);
        lua_call(L, 2, 2);
        if (part == 1)
            lua_pop(L, 1);
        else
            lua_remove(L, -2);
    } else if (!strcmp(view, "subset")) {
        static const lgd_key keys[] = { LGD_KEY("view", "", "", ""), LGD_KEY("of", "", "", ""),
                                        LGD_KEY("n", "", "", ""), { NULL } };
        lgd_check_keys(L, idx, view_what(L, path, view), keys);
        lua_pop(L, 1);
        lua_getfield(L, idx, "n");
        int isint;
        lua_tointegerx(L, -1, &isint);
        if (!isint || lua_type(L, -1) != LUA_TNUMBER)
            rb_error(L, path, "subset 'n' must be an integer, got %s", show(L, -1));
        lua_pushcfunction(L, lgd_ds_subset);
        rb_sub(L, idx, path, depth, memo, "of", view, 1);
        lua_pushvalue(L, -3);
        lua_call(L, 2, 1);
        lua_remove(L, -2);
    } else if (!strcmp(view, "standardize")) {
        static const lgd_key keys[] = { LGD_KEY("view", "", "", ""), LGD_KEY("of", "", "", ""),
                                        LGD_KEY("stats_from", "", "", ""), { NULL } };
        lgd_check_keys(L, idx, view_what(L, path, view), keys);
        lua_pop(L, 1);
        lua_pushcfunction(L, lgd_ds_standardize);
        rb_sub(L, idx, path, depth, memo, "of", view, 1);
        int stats = rb_sub(L, idx, path, depth, memo, "stats_from", view, 0);
        lua_call(L, 1 + stats, 1);
    } else {
        rb_error(L, path, "unknown view '%s' (views: split, subset, standardize)", view);
    }
}

/* Push the data set the recipe at idx describes. memo: a list of recipe,
 * data set, recipe, data set, ... built so far in this call, so that the
 * parent shared by a split's two parts (or by a standardize and its
 * statistics) is loaded once. */
static void rb_build(lua_State *L, int idx, const char *path, int depth, int memo)
{
    if (depth > MAX_DEPTH)
        rb_error(L, path, "recipe nested deeper than %d levels", MAX_DEPTH);
    luaL_checkstack(L, 12, "recipe");
    check_plain(L, idx, path, depth, 1);
    lua_Integer n = (lua_Integer)lua_rawlen(L, memo);
    for (lua_Integer i = 1; i < n; i += 2) {
        lua_rawgeti(L, memo, i);
        int eq = lgd_recipe_equal(L, idx, -1, 1);
        lua_pop(L, 1);
        if (eq) {
            lua_rawgeti(L, memo, i + 1);
            return;
        }
    }
    int ts = lua_getfield(L, idx, "source"), tv = lua_getfield(L, idx, "view");
    if (ts != LUA_TNIL && tv != LUA_TNIL)
        rb_error(L, path, "a recipe has 'source' or 'view', not both");
    if (ts == LUA_TNIL && tv == LUA_TNIL)
        rb_error(L, path, "a recipe needs 'source' (a constructor) or 'view' (with 'of')");
    if ((ts != LUA_TNIL && ts != LUA_TSTRING) || (tv != LUA_TNIL && tv != LUA_TSTRING))
        rb_error(L, path, "'%s' must be a string, got %s", ts != LUA_TNIL ? "source" : "view",
                 show(L, ts != LUA_TNIL ? -2 : -1));
    if (ts == LUA_TSTRING) {
        const char *src = lua_tostring(L, -2);
        size_t i = 0;
        while (i < N_SOURCES && strcmp(src, sources[i].name))
            i++;
        if (i == N_SOURCES) {
            luaL_Buffer b;
            luaL_buffinit(L, &b);
            for (size_t j = 0; j < N_SOURCES; j++) {
                luaL_addstring(&b, j ? ", " : "");
                luaL_addstring(&b, sources[j].name);
            }
            luaL_pushresult(&b);
            rb_error(L, path, "unknown source '%s' (sources: %s)", src, lua_tostring(L, -1));
        }
        static const char *const skip[] = { "source", NULL };
        lua_pushcfunction(L, sources[i].fn);
        options_of(L, idx, skip);
        lua_call(L, 1, 1);
    } else {
        rb_view(L, idx, path, depth, memo, lua_tostring(L, -1));
    }
    lua_replace(L, -3);
    lua_pop(L, 1);
    n = (lua_Integer)lua_rawlen(L, memo);   /* the sub-recipes added theirs */
    lua_pushvalue(L, idx);
    lua_rawseti(L, memo, n + 1);
    lua_pushvalue(L, -1);
    lua_rawseti(L, memo, n + 2);
}

/* The memo of gd._util.rebuild_cached: one for the whole Lua state, so a
 * sweep's worker loads a base set once for all its trials and both parts of
 * a split. It keeps the recipe tables it was given: a caller hands it
 * tables it will not change (a worker's come fresh from its trial files). */
static const char memo_key = 0;

/* Push the state's memo (made on first use). */
static void push_memo(lua_State *L)
{
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &memo_key) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &memo_key);
    }
}

/* The set of the recipe at 1, with a memo of this call or the state's. */
static int rebuild(lua_State *L, int cached)
{
    lua_settop(L, 1);
    if (!lua_istable(L, 1))
        return rb_error(L, "recipe", "recipe must be a table (from ds:recipe()), got %s",
                        show(L, 1));
    if (cached)
        push_memo(L);
    else
        lua_newtable(L);
    rb_build(L, 1, "recipe", 1, 2);
    return 1;
}

/* gd.data.rebuild(recipe) -> the data set */
int lgd_data_rebuild(lua_State *L) { return rebuild(L, 0); }

/* gd._util.rebuild_cached(recipe): gd.data.rebuild with the state's memo */
int lgd_data_rebuild_cached(lua_State *L) { return rebuild(L, 1); }

/* gd._util.rebuild_seed(recipe, ds): ds, a set the sweep handed over
 * (lshared_data.c), is what the source recipe builds: it takes the recipe
 * and rebuild_cached finds it there instead of loading the source again. */
int lgd_data_rebuild_seed(lua_State *L)
{
    lua_settop(L, 2);
    luaL_checktype(L, 1, LUA_TTABLE);
    lgd_checkdataset(L, 2);
    check_plain(L, 1, "recipe", 1, 1);
    if (lua_getfield(L, 1, "source") != LUA_TSTRING)
        return rb_error(L, "recipe", "a handed-over set needs a source recipe");
    lua_pop(L, 1);
    lua_pushvalue(L, 1);
    lgd_data_set_recipe(L, 2, 1);
    push_memo(L);
    lua_Integer n = (lua_Integer)lua_rawlen(L, 3);
    lua_pushvalue(L, 1);
    lua_rawseti(L, 3, n + 1);
    lua_pushvalue(L, 2);
    lua_rawseti(L, 3, n + 2);
    return 0;
}
