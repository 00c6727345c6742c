/*
 * lua/ltensor.c: float32 tensors for Lua.
 *
 * A tensor userdata either owns its floats (stored right after the header
 * in the same userdata, so there is nothing to free and no __gc) or is a
 * live view into memory someone else owns (a layer's parameters, a model's
 * arena): then user value 1 holds the owner, which stays alive as long as
 * the view does. Indexing is 1-based over the flat row-major data, like
 * every other index in Lua.
 */
#include <math.h>
#include <string.h>

#include "lgradus.h"

/* Largest element count a Lua tensor may hold (8 GiB of floats); beyond it
 * the size computation itself could overflow. */
#define MAX_NUMEL ((int64_t)1 << 31)

/* ---------------------------------------------------------------------------
 * Shapes
 * ------------------------------------------------------------------------- */

const char *lgd_shape_str(const gd_shape *s, char *buf, size_t len)
{
    size_t used = 0;
    used += (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < s->ndim && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%lld", i ? ", " : "",
                                 (long long)s->dim[i]);
    if (used < len)
        snprintf(buf + used, len - used, "]");
    return buf;
}

int lgd_shape_equal(const gd_shape *a, const gd_shape *b)
{
    if (a->ndim != b->ndim)
        return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->dim[i] != b->dim[i])
            return 0;
    return 1;
}

static int64_t checkdim(lua_State *L, int idx, const char *what)
{
    int isint;
    lua_Integer d = lua_tointegerx(L, idx, &isint);
    if (!isint || d < 1)
        lgd_error(L, "%s: dimensions must be integers >= 1, got %s", what,
                   lua_type(L, idx) == LUA_TNUMBER ? lua_tostring(L, idx) : luaL_typename(L, idx));
    return (int64_t)d;
}

gd_shape lgd_checkshape(lua_State *L, int idx, const char *what)
{
    gd_shape s = { 0, { 0 } };
    if (lua_type(L, idx) == LUA_TNUMBER) {
        s.ndim = 1;
        s.dim[0] = checkdim(L, idx, what);
        return s;
    }
    if (!lua_istable(L, idx))
        lgd_error(L, "%s: shape must be a table of dimensions, got %s", what,
                   luaL_typename(L, idx));
    lua_Integer n = luaL_len(L, idx);
    if (n < 1 || n > GD_MAX_DIMS)
        lgd_error(L, "%s: a shape has 1 to %d dimensions, got %d", what, GD_MAX_DIMS, (int)n);
    s.ndim = (int)n;
    int64_t numel = 1;
    for (int i = 0; i < s.ndim; i++) {
        lua_geti(L, idx, i + 1);
        s.dim[i] = checkdim(L, -1, what);
        lua_pop(L, 1);
        numel *= s.dim[i];
        if (numel > MAX_NUMEL)
            lgd_error(L, "%s: shape too large", what);
    }
    return s;
}

void lgd_push_shape(lua_State *L, const gd_shape *s)
{
    lua_createtable(L, s->ndim, 0);
    for (int i = 0; i < s->ndim; i++) {
        lua_pushinteger(L, (lua_Integer)s->dim[i]);
        lua_rawseti(L, -2, i + 1);
    }
}

/* ---------------------------------------------------------------------------
 * Construction
 * ------------------------------------------------------------------------- */

lgd_tensor *lgd_tensor_new(lua_State *L, const gd_shape *shape)
{
    int64_t n = gd_shape_numel(shape);
    if (n < 0 || n > MAX_NUMEL)
        lgd_error(L, "gd.tensor: too many elements");
    lgd_tensor *t = lua_newuserdatauv(L, sizeof *t + (size_t)n * sizeof(float), 1);
    t->data = (float *)(t + 1);
    t->shape = *shape;
    t->numel = n;
    t->view = 0;
    t->alive = NULL;
    memset(t->data, 0, (size_t)n * sizeof(float));
    luaL_setmetatable(L, LGD_TENSOR);
    return t;
}

lgd_tensor *lgd_tensor_copy(lua_State *L, const float *data, const gd_shape *shape)
{
    lgd_tensor *t = lgd_tensor_new(L, shape);
    if (t->numel)
        memcpy(t->data, data, (size_t)t->numel * sizeof(float));
    return t;
}

lgd_tensor *lgd_tensor_view(lua_State *L, float *data, const gd_shape *shape, int owner_idx)
{
    owner_idx = lua_absindex(L, owner_idx);
    lgd_tensor *t = lua_newuserdatauv(L, sizeof *t, 1);
    t->data = data;
    t->shape = *shape;
    t->numel = gd_shape_numel(shape);
    t->view = 1;
    t->alive = NULL;
    lgd_tensor *parent = luaL_testudata(L, owner_idx, LGD_TENSOR);
    if (parent) {
        t->alive = parent->alive;   /* a view of a view: the first owner's */
    } else if (luaL_getmetafield(L, owner_idx, "__gc") != LUA_TNIL) {
        lua_pop(L, 1);
        t->alive = lua_touserdata(L, owner_idx);
    }
    luaL_setmetatable(L, LGD_TENSOR);
    lua_pushvalue(L, owner_idx);
    lua_setiuservalue(L, -2, 1);
    return t;
}

lgd_tensor *lgd_testtensor(lua_State *L, int idx)
{
    lgd_tensor *t = luaL_testudata(L, idx, LGD_TENSOR);
    if (t && t->alive && !*t->alive)
        lgd_error(L, "tensor: the model or layer it views has been freed (its finalizer ran)");
    return t;
}

lgd_tensor *lgd_checktensor(lua_State *L, int idx)
{
    lgd_tensor *t = lgd_testtensor(L, idx);
    if (!t) {
        char got[160];
        lgd_describe_value(L, idx, got, sizeof got);
        luaL_argerror(L, idx, lua_pushfstring(L, "tensor expected, got %s", got));
    }
    return t;
}

static float checkelem(lua_State *L, int idx, lua_Integer i)
{
    int isnum;
    lua_Number v = lua_tonumberx(L, idx, &isnum);
    if (!isnum || lua_type(L, idx) != LUA_TNUMBER)
        lgd_error(L, "gd.tensor: element %d must be a number, got %s", (int)i,
                   luaL_typename(L, idx));
    return (float)v;
}

/* The shape of a nested table { {1, 2}, {3, 4} } from its first elements. */
static gd_shape nested_shape(lua_State *L, int idx)
{
    gd_shape s = { 0, { 0 } };
    lua_pushvalue(L, idx);
    for (;;) {
        lua_Integer n = luaL_len(L, -1);
        if (n < 1)
            lgd_error(L, "gd.tensor: empty table (a tensor has at least one element)");
        if (s.ndim == GD_MAX_DIMS)
            lgd_error(L, "gd.tensor: more than %d nested levels", GD_MAX_DIMS);
        s.dim[s.ndim++] = n;
        if (lua_geti(L, -1, 1) != LUA_TTABLE) {
            lua_pop(L, 2);
            break;
        }
        lua_remove(L, -2);
    }
    if (gd_shape_numel(&s) > MAX_NUMEL)
        lgd_error(L, "gd.tensor: too many elements");
    return s;
}

/* Copy nested table at idx (level `d` of shape) into *out, checking that
 * every row has the same length. */
static void fill_nested(lua_State *L, int idx, const gd_shape *s, int d, float **out)
{
    if (d < 0 || d >= GD_MAX_DIMS)
        return;
    lua_Integer n = luaL_len(L, idx);
    if (n != s->dim[d])
        lgd_error(L, "gd.tensor: ragged table: a row at depth %d has %d elements, expected %d",
                   d + 1, (int)n, (int)s->dim[d]);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_geti(L, idx, i);
        if (d + 1 < s->ndim) {
            if (!lua_istable(L, -1))
                lgd_error(L, "gd.tensor: ragged table: expected a row at depth %d, got %s",
                           d + 2, luaL_typename(L, -1));
            fill_nested(L, lua_gettop(L), s, d + 1, out);
        } else {
            *(*out)++ = checkelem(L, -1, i);
        }
        lua_pop(L, 1);
    }
}

/* A new tensor from the Lua table at idx: { shape = {...}, v1, ... } (the
 * reference files' format), a nested table, or a flat list. */
static lgd_tensor *from_table(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    gd_shape s;
    if (lua_getfield(L, idx, "shape") != LUA_TNIL) {
        s = lgd_checkshape(L, lua_gettop(L), "gd.tensor");
        lua_pop(L, 1);
        lua_Integer n = luaL_len(L, idx);
        if (n != gd_shape_numel(&s)) {
            char sh[64];
            lgd_error(L, "gd.tensor: %d values do not fill shape %s (%d elements)", (int)n,
                       lgd_shape_str(&s, sh, sizeof sh), (int)gd_shape_numel(&s));
        }
        lgd_tensor *t = lgd_tensor_new(L, &s);
        for (lua_Integer i = 1; i <= n; i++) {
            lua_geti(L, idx, i);
            t->data[i - 1] = checkelem(L, -1, i);
            lua_pop(L, 1);
        }
        return t;
    }
    lua_pop(L, 1);
    s = nested_shape(L, idx);
    lgd_tensor *t = lgd_tensor_new(L, &s);
    float *out = t->data;
    fill_nested(L, idx, &s, 0, &out);
    return t;
}

lgd_tensor *lgd_totensor(lua_State *L, int idx, int *pushed)
{
    lgd_tensor *t = lgd_testtensor(L, idx);
    *pushed = 0;
    if (t)
        return t;
    if (!lua_istable(L, idx)) {
        char got[160];
        lgd_describe_value(L, idx, got, sizeof got);
        luaL_argerror(L, idx, lua_pushfstring(L, "tensor or table expected, got %s", got));
    }
    *pushed = 1;
    return from_table(L, idx);
}

/* gd.tensor(values [, shape]) via __call: values a table or a tensor. */
static int tensor_call(lua_State *L)
{
    /* argument 1 is the gd.tensor table itself */
    if (lua_isnoneornil(L, 3)) {
        if (lgd_testtensor(L, 2)) {
            lgd_tensor *src = lgd_testtensor(L, 2);
            lgd_tensor_copy(L, src->data, &src->shape);
            return 1;
        }
        luaL_checktype(L, 2, LUA_TTABLE);
        from_table(L, 2);
        return 1;
    }
    gd_shape s = lgd_checkshape(L, 3, "gd.tensor");
    int64_t want = gd_shape_numel(&s);
    char sh[64];
    lgd_shape_str(&s, sh, sizeof sh);
    lgd_tensor *src = lgd_testtensor(L, 2);
    if (src) {
        if (src->numel != want)
            return lgd_error(L, "gd.tensor: %d values do not fill shape %s (%d elements)",
                              (int)src->numel, sh, (int)want);
        lgd_tensor_copy(L, src->data, &s);
        return 1;
    }
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_Integer n = luaL_len(L, 2);
    if (n != want)
        return lgd_error(L, "gd.tensor: %d values do not fill shape %s (%d elements)", (int)n,
                          sh, (int)want);
    lgd_tensor *t = lgd_tensor_new(L, &s);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_geti(L, 2, i);
        t->data[i - 1] = checkelem(L, -1, i);
        lua_pop(L, 1);
    }
    return 1;
}

/* Shape from gd.tensor.zeros({2, 3}) or gd.tensor.zeros(2, 3). */
static gd_shape args_shape(lua_State *L, int first, int last, const char *what)
{
    if (lua_type(L, first) != LUA_TNUMBER)
        return lgd_checkshape(L, first, what);
    gd_shape s = { 0, { 0 } };
    if (last - first + 1 > GD_MAX_DIMS)
        lgd_error(L, "%s: a shape has 1 to %d dimensions", what, GD_MAX_DIMS);
    for (int i = first; i <= last; i++)
        s.dim[s.ndim++] = checkdim(L, i, what);
    if (gd_shape_numel(&s) > MAX_NUMEL)
        lgd_error(L, "%s: shape too large", what);
    return s;
}

static int tensor_zeros(lua_State *L)
{
    gd_shape s = args_shape(L, 1, lua_gettop(L), "gd.tensor.zeros");
    lgd_tensor_new(L, &s);
    return 1;
}

static int tensor_full(lua_State *L)
{
    gd_shape s = lgd_checkshape(L, 1, "gd.tensor.full");
    float v = (float)luaL_checknumber(L, 2);
    lgd_tensor *t = lgd_tensor_new(L, &s);
    for (int64_t i = 0; i < t->numel; i++)
        t->data[i] = v;
    return 1;
}

/* ---------------------------------------------------------------------------
 * Methods
 * ------------------------------------------------------------------------- */

static int t_shape(lua_State *L)
{
    lgd_push_shape(L, &lgd_checktensor(L, 1)->shape);
    return 1;
}

static int t_numel(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)lgd_checktensor(L, 1)->numel);
    return 1;
}

static int t_totable(lua_State *L)
{
    lgd_tensor *t = lgd_checktensor(L, 1);
    lua_createtable(L, (int)t->numel, 0);
    for (int64_t i = 0; i < t->numel; i++) {
        lua_pushnumber(L, t->data[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

static int t_clone(lua_State *L)
{
    lgd_tensor *t = lgd_checktensor(L, 1);
    lgd_tensor_copy(L, t->data, &t->shape);
    return 1;
}

/* x:copy(src): overwrite x's elements with src's (same shape; src may be a
 * table in any gd.tensor format). Writes through views. Returns x. */
static int t_copy(lua_State *L)
{
    lgd_tensor *t = lgd_checktensor(L, 1);
    if (lua_isnoneornil(L, 2)) {   /* x:copy(): a new tensor, as clone */
        lgd_tensor_copy(L, t->data, &t->shape);
        return 1;
    }
    int pushed;
    lgd_tensor *src = lgd_totensor(L, 2, &pushed);
    if (src->numel != t->numel ||
        (!lgd_shape_equal(&src->shape, &t->shape) && src->shape.ndim > 1)) {
        char a[64], b[64];
        return lgd_error(L, "tensor:copy: source has shape %s, expected %s",
                          lgd_shape_str(&src->shape, a, sizeof a),
                          lgd_shape_str(&t->shape, b, sizeof b));
    }
    memmove(t->data, src->data, (size_t)t->numel * sizeof(float));
    lua_settop(L, 1);
    return 1;
}

static int t_fill(lua_State *L)
{
    lgd_tensor *t = lgd_checktensor(L, 1);
    float v = (float)luaL_checknumber(L, 2);
    for (int64_t i = 0; i < t->numel; i++)
        t->data[i] = v;
    lua_settop(L, 1);
    return 1;
}

/* x:reshape(shape): a view of the same data with another shape. */
static int t_reshape(lua_State *L)
{
    lgd_tensor *t = lgd_checktensor(L, 1);
    gd_shape s = args_shape(L, 2, lua_gettop(L), "tensor:reshape");
    if (gd_shape_numel(&s) != t->numel) {
        char a[64], b[64];
        return lgd_error(L, "tensor:reshape: shape %s does not hold %d elements (from %s)",
                          lgd_shape_str(&s, a, sizeof a), (int)t->numel,
                          lgd_shape_str(&t->shape, b, sizeof b));
    }
    /* A view of a view keeps the original owner alive through its parent. */
    lgd_tensor_view(L, t->data, &s, 1);
    return 1;
}

static int t_norm(lua_State *L)
{
    lgd_tensor *t = lgd_checktensor(L, 1);
    double s = 0;
    for (int64_t i = 0; i < t->numel; i++)
        s += (double)t->data[i] * t->data[i];
    lua_pushnumber(L, sqrt(s));
    return 1;
}

static int t_sum(lua_State *L)
{
    lgd_tensor *t = lgd_checktensor(L, 1);
    double s = 0;
    for (int64_t i = 0; i < t->numel; i++)
        s += t->data[i];
    lua_pushnumber(L, s);
    return 1;
}

/* ---------------------------------------------------------------------------
 * Vector operations: over the flat elements, sums in double (a researcher's
 * probe written in Lua runs at C speed).
 * ------------------------------------------------------------------------- */

/* The tensor at idx with as many elements as t (shapes may differ). */
static lgd_tensor *check_same_numel(lua_State *L, lgd_tensor *t, int idx, const char *what)
{
    lgd_tensor *u = lgd_checktensor(L, idx);
    if (u->numel != t->numel) {
        char a[64], b[64];
        lgd_error(L, "%s: tensors of %lld and %lld elements (%s and %s)", what,
                  (long long)t->numel, (long long)u->numel, lgd_shape_str(&t->shape, a, sizeof a),
                  lgd_shape_str(&u->shape, b, sizeof b));
    }
    return u;
}

static float check_finite(lua_State *L, int idx, const char *what)
{
    double a = luaL_checknumber(L, idx);
    if (!isfinite(a))
        lgd_error(L, "%s: the factor must be finite, got %s", what, lua_tostring(L, idx));
    return (float)a;
}

/* x:dot(y) -> number */
static int t_dot(lua_State *L)
{
    lgd_tensor *t = lgd_checktensor(L, 1);
    lgd_tensor *u = check_same_numel(L, t, 2, "tensor:dot");
    double s = 0;
    for (int64_t i = 0; i < t->numel; i++)
        s += (double)t->data[i] * u->data[i];
    lua_pushnumber(L, s);
    return 1;
}

/* y:axpy(a, x): y += a·x in place; returns y. */
static int t_axpy(lua_State *L)
{
    lgd_tensor *t = lgd_checktensor(L, 1);
    float a = check_finite(L, 2, "tensor:axpy");
    lgd_tensor *u = check_same_numel(L, t, 3, "tensor:axpy");
    float *restrict y = t->data;
    const float *x = u->data;
    for (int64_t i = 0; i < t->numel; i++)
        y[i] += a * x[i];
    lua_settop(L, 1);
    return 1;
}

/* x:scale(a): x *= a in place; returns x. */
static int t_scale(lua_State *L)
{
    lgd_tensor *t = lgd_checktensor(L, 1);
    float a = check_finite(L, 2, "tensor:scale");
    for (int64_t i = 0; i < t->numel; i++)
        t->data[i] *= a;
    lua_settop(L, 1);
    return 1;
}

/* x:slice(i, j): a live 1-D view of elements i..j (1-based, inclusive). */
static int t_slice(lua_State *L)
{
    lgd_tensor *t = lgd_checktensor(L, 1);
    lua_Integer i = luaL_checkinteger(L, 2), j = luaL_optinteger(L, 3, t->numel);
    if (i < 1 || j > t->numel || j < i)
        return lgd_error(L, "tensor:slice: elements %lld..%lld outside 1..%lld (or empty)",
                         (long long)i, (long long)j, (long long)t->numel);
    gd_shape s = gd_shape_1(j - i + 1);
    lgd_tensor_view(L, t->data + (i - 1), &s, 1);
    return 1;
}

/* x:row(i): a live view of x[i] (shape without the first dimension). */
static int t_row(lua_State *L)
{
    lgd_tensor *t = lgd_checktensor(L, 1);
    lua_Integer i = luaL_checkinteger(L, 2);
    if (t->shape.ndim < 2)
        return lgd_error(L, "tensor:row: needs a tensor of 2 or more dimensions (use slice)");
    if (i < 1 || i > t->shape.dim[0])
        return lgd_error(L, "tensor:row: row %lld outside 1..%lld", (long long)i,
                         (long long)t->shape.dim[0]);
    gd_shape s = { t->shape.ndim - 1, { 0 } };
    for (int d = 1; d < t->shape.ndim; d++)
        s.dim[d - 1] = t->shape.dim[d];
    int64_t len = gd_shape_numel(&s);
    lgd_tensor_view(L, t->data + (i - 1) * len, &s, 1);
    return 1;
}

static const luaL_Reg methods[] = {
    { "dot", t_dot },
    { "axpy", t_axpy },
    { "scale", t_scale },
    { "slice", t_slice },
    { "row", t_row },
    { "shape", t_shape },
    { "numel", t_numel },
    { "totable", t_totable },
    { "clone", t_clone },
    { "copy", t_copy },
    { "fill", t_fill },
    { "reshape", t_reshape },
    { "norm", t_norm },
    { "sum", t_sum },
    { NULL, NULL },
};

/* ---------------------------------------------------------------------------
 * Metamethods
 * ------------------------------------------------------------------------- */

static int64_t checkindex(lua_State *L, lgd_tensor *t, int idx)
{
    int isint;
    lua_Integer i = lua_tointegerx(L, idx, &isint);
    if (!isint)
        lgd_error(L, "tensor index must be an integer, got %s",
                   lua_type(L, idx) == LUA_TNUMBER ? lua_tostring(L, idx) : luaL_typename(L, idx));
    if (i < 1 || i > t->numel)
        lgd_error(L, "tensor index %d out of range (1..%d)", (int)i, (int)t->numel);
    return (int64_t)i - 1;
}

static int t_index(lua_State *L)
{
    lgd_tensor *t = lgd_checktensor(L, 1);
    if (lua_type(L, 2) == LUA_TSTRING) {
        lua_getmetatable(L, 1);
        lua_getfield(L, -1, "methods");
        lua_pushvalue(L, 2);
        lua_rawget(L, -2);
        return 1;
    }
    lua_pushnumber(L, t->data[checkindex(L, t, 2)]);
    return 1;
}

static int t_newindex(lua_State *L)
{
    lgd_tensor *t = lgd_checktensor(L, 1);
    if (lua_type(L, 2) == LUA_TSTRING)
        return lgd_error(L, "tensor: cannot set field '%s' (elements are x[i] = v)",
                          lua_tostring(L, 2));
    int64_t i = checkindex(L, t, 2);
    int isnum;
    lua_Number v = lua_tonumberx(L, 3, &isnum);
    if (!isnum || lua_type(L, 3) != LUA_TNUMBER)
        return lgd_error(L, "tensor element must be a number, got %s", luaL_typename(L, 3));
    t->data[i] = (float)v;
    return 0;
}

static int t_len(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)lgd_checktensor(L, 1)->numel);
    return 1;
}

static int t_tostring(lua_State *L)
{
    lgd_tensor *t = lgd_checktensor(L, 1);
    char sh[64];
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    luaL_addstring(&b, "tensor");
    luaL_addstring(&b, lgd_shape_str(&t->shape, sh, sizeof sh));
    luaL_addstring(&b, " {");
    int64_t show = t->numel <= 10 ? t->numel : 8;
    for (int64_t i = 0; i < show; i++) {
        char v[32];
        snprintf(v, sizeof v, "%s%.6g", i ? ", " : "", (double)t->data[i]);
        luaL_addstring(&b, v);
    }
    if (show < t->numel)
        luaL_addstring(&b, ", ...");
    luaL_addstring(&b, "}");
    luaL_pushresult(&b);
    return 1;
}

void lgd_open_tensor(lua_State *L)
{
    static const luaL_Reg meta[] = {
        { "__index", t_index },
        { "__newindex", t_newindex },
        { "__len", t_len },
        { "__tostring", t_tostring },
        { NULL, NULL },
    };
    luaL_newmetatable(L, LGD_TENSOR);
    luaL_setfuncs(L, meta, 0);
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "methods");
    lua_pop(L, 1);

    /* gd.tensor: a table callable as a constructor, with zeros and full. */
    lua_newtable(L);
    lua_pushcfunction(L, tensor_zeros);
    lua_setfield(L, -2, "zeros");
    lua_pushcfunction(L, tensor_full);
    lua_setfield(L, -2, "full");
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, tensor_call);
    lua_setfield(L, -2, "__call");
    lua_setmetatable(L, -2);
    lua_setfield(L, -2, "tensor");
}
