/*
 * lua/lopt.c: the one reader of the Lua API's options (lapi.h): a table of
 * lgd_key rows, each a plugin's gd_option_spec or a Lua value, checked and
 * read in one place, so every call refuses a typo, a wrong type or a value
 * out of range in the same words, and `gradus doc` prints the same rows.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "lapi.h"
#include "lgradus.h"

/* '"train" | "test"' (bar) or '"a", "b" or "c"'. */
static void choices_text(const char *const *ch, int bar, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = 0;
    for (int k = 0; ch && ch[k] && used < len; k++)
        used += (size_t)snprintf(buf + used, len - used, "%s\"%s\"",
                                 !k ? "" : bar ? " | " : ch[k + 1] ? ", " : " or ", ch[k]);
}

/* ">= 1", "in 2..1000", "> 1", "in (0, 1)": an option's range ("" without). */
static const char *range_text(const gd_option_spec *o, char *buf, size_t len)
{
    char b[80];
    buf[0] = 0;
    if (o->type == GD_OPT_INTEGER && (o->flags & GD_OPT_HAS_MIN) && (o->flags & GD_OPT_HAS_MAX))
        snprintf(buf, len, " in %.0f..%.0f", o->min, o->max);
    else if (gd_option_bounds(o, b, sizeof b))
        snprintf(buf, len, (o->flags & GD_OPT_HAS_MIN) && (o->flags & GD_OPT_HAS_MAX) ? " in %s"
                                                                                        : " %s", b);
    return buf;
}

/* An option's type for the page ('integer >= 1 | "full"', '"a" | "b"') or,
 * in prose, for a message ('an integer >= 1 or "full"', '"a", "b" or "c"'). */
static const char *type_text(const lgd_key *k, int prose, char *buf, size_t len)
{
    char r[96], ch[160];
    const gd_option_spec *o = &k->check;
    choices_text(o->choices, !prose, ch, sizeof ch);
    switch (o->type) {
    case GD_OPT_INTEGER:
        snprintf(buf, len, "%sinteger%s%s%s", prose ? "an " : "", range_text(o, r, sizeof r),
                 !ch[0] ? "" : prose ? " or " : " | ", ch);
        return buf;
    case GD_OPT_NUMBER:
        snprintf(buf, len, "%snumber%s", prose ? "a " : "", range_text(o, r, sizeof r));
        return buf;
    case GD_OPT_ENUM: snprintf(buf, len, "%s", ch); return buf;
    case GD_OPT_BOOLEAN: return prose ? "true or false" : "boolean";
    case GD_OPT_STRING: return prose ? "a string" : "string";
    default:
        snprintf(buf, len, "%s%s", prose ? "a " : "", k->lua == LGD_IS_TABLE ? "table"
                 : k->lua == LGD_IS_FUNCTION ? "function" : k->lua == LGD_IS_DATASET ? "data set" : "");
        return buf;
    }
}

const char *lgd_key_type(const lgd_key *k, char *buf, size_t len)
{
    return k->type ? k->type : type_text(k, 0, buf, len);
}

const char *lgd_key_default(const lgd_key *k, char *buf, size_t len)
{
    const gd_option_spec *o = &k->check;
    if (k->def)
        return k->def;
    if (k->sub) {   /* on, with its own defaults: "{ factor = 1000 }" */
        size_t used = (size_t)snprintf(buf, len, "{");
        for (int i = 0; k->sub[i].name && used < len; i++) {
            char d[64];
            used += (size_t)snprintf(buf + used, len - used, "%s %s = %s", i ? "," : "",
                                     k->sub[i].name, lgd_key_default(&k->sub[i], d, sizeof d));
        }
        if (used < len)
            snprintf(buf + used, len - used, " }");
        return buf;
    }
    if (o->flags & GD_OPT_REQUIRED)
        return "required";
    if (o->flags & GD_OPT_OPTIONAL)
        return "(none)";
    switch (o->type) {
    case GD_OPT_INTEGER: snprintf(buf, len, "%.0f", o->def); return buf;
    case GD_OPT_NUMBER: snprintf(buf, len, "%g", o->def); return buf;
    case GD_OPT_BOOLEAN: return o->def ? "true" : "false";
    case GD_OPT_ENUM: snprintf(buf, len, "\"%s\"", o->def_str); return buf;
    default: return "(none)";
    }
}

static int in_range(const gd_option_spec *o, double x)
{
    if (!isfinite(x))
        return 0;
    if ((o->flags & GD_OPT_HAS_MIN) && ((o->flags & GD_OPT_MIN_OPEN) ? !(x > o->min) : !(x >= o->min)))
        return 0;
    return !(o->flags & GD_OPT_HAS_MAX) || ((o->flags & GD_OPT_MAX_OPEN) ? x < o->max : x <= o->max);
}

static int choice_index(const char *const *ch, const char *s)
{
    for (int i = 0; ch && ch[i]; i++)
        if (strcmp(ch[i], s) == 0)
            return i;
    return -1;
}

/* The value at the top against row k; 0 when it does not fit. */
static int read_value(lua_State *L, const lgd_key *k, gd_value *v)
{
    const gd_option_spec *o = &k->check;
    int t = lua_type(L, -1), isint = 0;
    switch (o->type) {
    case GD_OPT_INTEGER:
        if (t == LUA_TSTRING && (v->u.i = choice_index(o->choices, lua_tostring(L, -1))) >= 0) {
            v->u.i = -1 - v->u.i;
            return 1;
        }
        v->u.i = t == LUA_TNUMBER ? (int64_t)lua_tointegerx(L, -1, &isint) : 0;
        return isint && in_range(o, (double)v->u.i);
    case GD_OPT_NUMBER:
        v->u.num = lua_tonumber(L, -1);
        return t == LUA_TNUMBER && in_range(o, v->u.num);
    case GD_OPT_BOOLEAN:
        v->u.b = lua_toboolean(L, -1);
        return t == LUA_TBOOLEAN;
    case GD_OPT_ENUM:
        return t == LUA_TSTRING && (v->u.e = choice_index(o->choices, lua_tostring(L, -1))) >= 0;
    case GD_OPT_STRING:
        v->u.s = t == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        return t == LUA_TSTRING;
    default:
        return k->lua == LGD_IS_TABLE ? t == LUA_TTABLE
             : k->lua == LGD_IS_FUNCTION ? t == LUA_TFUNCTION
             : k->lua == LGD_IS_DATASET ? lgd_testdataset(L, -1) != NULL : 1;
    }
}

static void default_value(const lgd_key *k, gd_value *v)
{
    const gd_option_spec *o = &k->check;
    v->present = !(o->flags & (GD_OPT_OPTIONAL | GD_OPT_REQUIRED)) && o->type;
    v->u.num = o->def;
    if (o->type == GD_OPT_INTEGER)
        v->u.i = (int64_t)o->def;
    else if (o->type == GD_OPT_BOOLEAN)
        v->u.b = o->def != 0;
    else if (o->type == GD_OPT_ENUM)
        v->u.e = o->def_str ? choice_index(o->choices, o->def_str) : 0;
    else if (o->type == GD_OPT_STRING)
        v->u.s = o->def_str;
}

gd_value lgd_read_value(lua_State *L, const char *what, const lgd_key *k)
{
    gd_value x = { 0 };
    default_value(k, &x);
    if (lua_isnil(L, -1))
        return x;
    if (read_value(L, k, &x)) {
        x.present = 1;
        return x;
    }
    char want[200], got[160];
    if (lua_type(L, -1) == LUA_TNUMBER || lua_type(L, -1) == LUA_TSTRING)
        snprintf(got, sizeof got, "%s", lgd_value_text(L, -1));
    else
        lgd_describe_value(L, -1, got, sizeof got);
    lgd_error(L, "%s: option '%s' must be %s, got %s", what, k->name,
              type_text(k, 1, want, sizeof want), got);
    return x;
}

static void unknown(lua_State *L, const char *what, const char *name, const lgd_key *keys)
{
    luaL_Buffer b;
    gd_nearest near = gd_nearest_start(name, false);
    luaL_buffinit(L, &b);
    for (int i = 0; keys[i].name; i++) {
        gd_nearest_offer(&near, keys[i].name);
        luaL_addstring(&b, i ? ", " : "");
        luaL_addstring(&b, keys[i].name);
    }
    luaL_pushresult(&b);
    if (near.best)
        lgd_error(L, "%s: unknown option '%s' (did you mean '%s'? options: %s)", what, name,
                  near.best, lua_tostring(L, -1));
    lgd_error(L, "%s: unknown option '%s' (options: %s)", what, name, lua_tostring(L, -1));
}

void lgd_read_options(lua_State *L, int idx, const char *what, const lgd_key *keys, gd_value *v)
{
    int given = idx != 0 && !lua_isnoneornil(L, idx), n = 0;
    while (keys[n].name)
        n++;
    if (n > LGD_MAX_OPTIONS)
        luaL_error(L, "%s: %d options, more than the reader holds (LGD_MAX_OPTIONS)", what, n);
    idx = given ? lua_absindex(L, idx) : 0;
    if (given && !lua_istable(L, idx))
        lgd_error(L, "%s: options must be a table, got %s", what, luaL_typename(L, idx));
    if (given)   /* every key first: a typo is named before any value is judged */
        for (lua_pushnil(L); lua_next(L, idx); lua_pop(L, 1)) {
            if (lua_type(L, -2) != LUA_TSTRING)
                lgd_error(L, "%s: options are named (name = value), got a %s key", what,
                          luaL_typename(L, -2));
            const char *name = lua_tostring(L, -2);
            int i = 0;
            while (keys[i].name && strcmp(keys[i].name, name) != 0)
                i++;
            if (!keys[i].name)
                unknown(L, what, name, keys);
        }
    for (int i = 0; keys[i].name; i++) {
        if ((given ? lua_getfield(L, idx, keys[i].name) : (lua_pushnil(L), LUA_TNIL)) == LUA_TNIL &&
            (keys[i].check.flags & GD_OPT_REQUIRED))
            lgd_error(L, "%s: option '%s' is required (%s)", what, keys[i].name, keys[i].doc);
        gd_value x = lgd_read_value(L, what, &keys[i]);
        lua_pop(L, 1);
        if (v)
            v[i] = x;
    }
}
