/*
 * lua/loptim.c: instances of tensor-aware and composite optimizers (ABI 1.1)
 * for hand-written loops: gd.optim.lamb{...}:build{ W, b }.
 *
 * The instance is a core gd_optim (core/optim.h) over the Lua tensors, so
 * these are the numbers the trainer computes. Entries are tensors or
 * { value = W, grad = gW, role = "weight", layer = "dense1" } tables; the
 * role defaults from the rank (1: bias, else weight). User values: 1 the
 * spec, 2 the parameter tensors, 3 the entries' grad tensors (or false).
 *
 *     opt:step{ gW, gb }                   one update from these gradients
 *     opt:step({ gW, gb }, { lr = 0.01 })  with this update's lr
 *     opt:step({ gW, gb }, { closure = function() return { gW2, gb2 } end })
 *         for two-pass optimizers (sam): the closure is called with the
 *         parameters moved and returns the gradients there
 */
#include <math.h>
#include <string.h>

#include "lgradus.h"
#include "optim.h"
#include "train.h"

#define LGD_TOPTIM "gradus.tensor_optimizer"

typedef struct ltopt {
    gd_optim *o;           /* owned; NULL until built */
    const gd_spec *spec;   /* borrowed from user value 1 */
    int n;
    gd_shape shape[];      /* of each parameter */
} ltopt;

static ltopt *checktopt(lua_State *L, int idx)
{
    return luaL_checkudata(L, idx, LGD_TOPTIM);
}

static const char *const role_names[] = { "weight", "bias", "scale", "shift", "embedding",
                                             NULL };

/* The role of entry i (at the top of the stack): its `role` field, or from the rank. */
static gd_param_role entry_role(lua_State *L, const char *what, lua_Integer i, int rank)
{
    gd_param_role role = rank == 1 ? GD_ROLE_BIAS : GD_ROLE_WEIGHT;
    if (!lua_istable(L, -1) || lgd_testtensor(L, -1))
        return role;
    if (lua_getfield(L, -1, "role") != LUA_TNIL) {
        const char *s = lua_tostring(L, -1);
        int k = 0;
        while (s && role_names[k] && strcmp(role_names[k], s) != 0)
            k++;
        if (!s || !role_names[k])
            lgd_error(L, "%s: entry %d: role must be one of weight, bias, scale, shift, "
                      "embedding, got %s", what, (int)i, s ? s : luaL_typename(L, -1));
        role = (gd_param_role)(k + 1);
    }
    lua_pop(L, 1);
    return role;
}

/* The boolean field `f` of entry i (0 when absent or not a table). */
static int entry_flag(lua_State *L, const char *f)
{
    int v = 0;
    if (lua_istable(L, -1) && !lgd_testtensor(L, -1)) {
        lua_getfield(L, -1, f);
        v = lua_toboolean(L, -1);
        lua_pop(L, 1);
    }
    return v;
}

/* The string field `f` of entry i, kept alive by the entries table (or ""). */
static const char *entry_str(lua_State *L, const char *f)
{
    const char *s = "";
    if (lua_istable(L, -1) && !lgd_testtensor(L, -1)) {
        if (lua_getfield(L, -1, f) == LUA_TSTRING)
            s = lua_tostring(L, -1);
        lua_pop(L, 1);
    }
    return s;
}

/* ---------------------------------------------------------------------------
 * Parameter groups: gd.optim.X{ ..., groups = { { role = "bias", weight_decay = 0 },
 * { layer = "dense1", lr = 1e-4 } } } for any optimizer
 * ------------------------------------------------------------------------- */

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
            const char *r = lua_tostring(L, -1);
            while (r && role_names[role] && strcmp(role_names[role], r) != 0)
                role++;
            if (!r || !role_names[role])
                lgd_error(L, "%s: groups[%d]: role must be one of weight, bias, scale, shift, "
                          "embedding, got %s", name, (int)i, r ? r : luaL_typename(L, -1));
            role++;
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

static int topt_gc(lua_State *L)
{
    ltopt *t = checktopt(L, 1);
    gd_optim_free(t->o);
    t->o = NULL;
    return 0;
}

int lgd_build_tensor_optimizer(lua_State *L, const gd_spec *s)
{
    char what[96];
    snprintf(what, sizeof what, "%s:build", s->component->name);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_Integer n = luaL_len(L, 2);
    if (n < 1 || n > 1 << 16)
        return lgd_error(L, "%s: expects a non-empty list of parameter tensors", what);
    lua_settop(L, 2);
    lua_createtable(L, (int)n, 0);   /* 3: parameter tensors */
    lua_createtable(L, (int)n, 0);   /* 4: gradient tensors */
    gd_optim_tensor *ts = lua_newuserdatauv(L, (size_t)n * sizeof *ts, 0);   /* 5 */
    memset(ts, 0, (size_t)n * sizeof *ts);
    int have_grads = 1;
    for (lua_Integer i = 1; i <= n; i++) {
        lgd_tensor *x = lgd_entry_tensor(L, 2, i, "value", what);
        lua_rawseti(L, 3, i);
        lua_geti(L, 2, i);
        ts[i - 1] = (gd_optim_tensor){ .x = x->data, .shape = x->shape,
                                       .role = entry_role(L, what, i, x->shape.ndim),
                                       .layer = entry_str(L, "layer"),
                                       .name = entry_str(L, "name"),
                                       .output = entry_flag(L, "output") };
        if (lua_istable(L, -1) && !lgd_testtensor(L, -1) &&
            lua_getfield(L, -1, "grad") != LUA_TNIL && lgd_testtensor(L, -1))
            lua_rawseti(L, 4, i);
        else
            have_grads = 0;
        lua_settop(L, 5);
    }
    ltopt *t = lua_newuserdatauv(L, sizeof *t + (size_t)n * sizeof(gd_shape), 3);
    t->o = NULL;
    t->spec = s;
    t->n = (int)n;
    for (int i = 0; i < t->n; i++)
        t->shape[i] = ts[i].shape;
    luaL_setmetatable(L, LGD_TOPTIM);
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, 1);
    lua_pushvalue(L, 3);
    lua_setiuservalue(L, -2, 2);
    if (have_grads)
        lua_pushvalue(L, 4);
    else
        lua_pushboolean(L, 0);
    lua_setiuservalue(L, -2, 3);
    gd_error err;
    if (!(t->o = gd_optim_new(s, ts, t->n, &err)))
        return lgd_raise(L, &err);
    return 1;
}

/* Point the optimizer at the gradients of list idx (checked first). */
static void set_grads(lua_State *L, ltopt *t, int idx, const char *what)
{
    luaL_checktype(L, idx, LUA_TTABLE);
    lua_Integer n = luaL_len(L, idx);
    if (n != t->n)
        lgd_error(L, "%s: %d gradient tensors for %d parameter tensors", what, (int)n, t->n);
    for (int i = 0; i < t->n; i++) {
        lgd_tensor *g = lgd_entry_tensor(L, idx, i + 1, "grad", what);
        if (!lgd_shape_equal(&g->shape, &t->shape[i])) {
            char a[64], b[64];
            lgd_error(L, "%s: gradient %d has shape %s, expected %s (the shape of parameter %d)",
                      what, i + 1, lgd_shape_str(&g->shape, a, sizeof a),
                      lgd_shape_str(&t->shape[i], b, sizeof b), i + 1);
        }
        lua_pop(L, 1);
    }
    for (int i = 0; i < t->n; i++) {
        gd_optim_set_grad(t->o, i, lgd_entry_tensor(L, idx, i + 1, "grad", what)->data);
        lua_pop(L, 1);
    }
}

typedef struct closure_ctx {
    lua_State *L;
    ltopt *t;
    int fn;             /* stack index of the closure */
} closure_ctx;

/* The second gradient from the Lua closure. Its result stays on the stack
 * (keeping the tensors alive) until opt:step returns. */
static gd_status call_closure(void *arg, gd_optim *o, gd_error *err)
{
    closure_ctx *c = arg;
    lua_State *L = c->L;
    (void)o;
    if (!c->fn)
        return gd_fail(err, GD_EINVAL, "%s:step: a two-pass optimizer needs { closure = "
                       "function() return { grads } end }", c->t->spec->component->name);
    lua_pushvalue(L, c->fn);
    if (lua_pcall(L, 0, 1, 0) != LUA_OK)
        return gd_fail(err, GD_EINVAL, "%s:step: closure: %s", c->t->spec->component->name,
                       lua_tostring(L, -1));
    char what[96];
    snprintf(what, sizeof what, "%s:step: closure result", c->t->spec->component->name);
    if (!lua_istable(L, -1))
        return gd_fail(err, GD_EINVAL, "%s must be a list of gradient tensors", what);
    int idx = lua_gettop(L);
    lua_Integer n = luaL_len(L, idx);
    for (int i = 0; i < c->t->n; i++) {
        lua_geti(L, idx, i + 1);
        lgd_tensor *g = lgd_testtensor(L, -1);
        lua_pop(L, 1);
        if (n != c->t->n || !g || !lgd_shape_equal(&g->shape, &c->t->shape[i]))
            return gd_fail(err, GD_EINVAL, "%s: entry %d is not a gradient of the shape of "
                           "parameter %d", what, i + 1, i + 1);
        gd_optim_set_grad(c->t->o, i, g->data);
    }
    return GD_OK;
}

/* opt:step([grads] [, { lr =, closure = }]): one update of every tensor. */
static int topt_step(lua_State *L)
{
    ltopt *t = checktopt(L, 1);
    char what[96];
    snprintf(what, sizeof what, "%s:step", t->spec->component->name);
    lua_settop(L, 3);
    if (lua_isnil(L, 2)) {
        lua_getiuservalue(L, 1, 3);
        if (!lua_istable(L, -1))
            return lgd_error(L, "%s: no gradients given (build from :params() entries to step "
                              "on their grad tensors)", what);
        lua_replace(L, 2);
    }
    double lr = gd_optimizer_base_lr(t->spec);
    closure_ctx c = { L, t, 0 };
    if (!lua_isnil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        if (lua_getfield(L, 3, "lr") != LUA_TNIL) {
            int isnum;
            lr = lua_tonumberx(L, -1, &isnum);
            if (!isnum || !isfinite(lr) || lr < 0)
                return lgd_error(L, "%s: lr must be a finite number >= 0", what);
        }
        if (lua_getfield(L, 3, "closure") != LUA_TNIL) {
            if (!lua_isfunction(L, -1))
                return lgd_error(L, "%s: closure must be a function, got %s", what,
                                  luaL_typename(L, -1));
            c.fn = lua_gettop(L);
        }
    }
    set_grads(L, t, 2, what);
    gd_error err;
    if (gd_optim_step(t->o, lr, call_closure, &c, &err) != GD_OK)
        return lgd_raise(L, &err);
    lua_pushinteger(L, (lua_Integer)gd_optim_steps(t->o));
    return 1;
}

/* opt:slots(i) -> { tensor, ... }: live views of parameter i's state (a
 * slot of another length than the parameter's is flat). */
static int topt_slots(lua_State *L)
{
    ltopt *t = checktopt(L, 1);
    lua_Integer i = luaL_checkinteger(L, 2);
    luaL_argcheck(L, i >= 1 && i <= t->n, 2, "parameter index out of range");
    lua_newtable(L);
    int64_t len;
    float *s;
    for (int k = 0; (s = gd_optim_slot(t->o, (int)i - 1, k, &len)); k++) {
        gd_shape flat = gd_shape_1(len);
        lgd_tensor_view(L, s, len == gd_shape_numel(&t->shape[i - 1]) ? &t->shape[i - 1] : &flat,
                        1);
        lua_rawseti(L, -2, k + 1);
    }
    return 1;
}

static int topt_index(lua_State *L)
{
    ltopt *t = checktopt(L, 1);
    const char *k = luaL_checkstring(L, 2);
    if (strcmp(k, "t") == 0)
        lua_pushinteger(L, (lua_Integer)gd_optim_steps(t->o));
    else if (strcmp(k, "spec") == 0)
        lua_getiuservalue(L, 1, 1);
    else if (strcmp(k, "step") == 0)
        lua_pushcfunction(L, topt_step);
    else if (strcmp(k, "slots") == 0)
        lua_pushcfunction(L, topt_slots);
    else
        lua_pushnil(L);
    return 1;
}

static int topt_tostring(lua_State *L)
{
    ltopt *t = checktopt(L, 1);
    char buf[512];
    lua_pushfstring(L, "optimizer %s over %d tensors, %d updates",
                    gd_spec_describe(t->spec, buf, sizeof buf), t->n,
                    (int)gd_optim_steps(t->o));
    return 1;
}

/* gd._optim_with_lr(spec, lr): the spec with base lr `lr`, every other lr
 * of its tree and groups scaled alike (gd.fork{ lr = }, tuning). */
static int optim_with_lr(lua_State *L)
{
    const gd_spec *s = lgd_checkspec(L, 1, GD_KIND_OPTIMIZER);
    double lr = luaL_checknumber(L, 2);
    gd_error err;
    gd_spec *c = gd_spec_with_lr(s, gd_optimizer_base_lr(s), lr, &err);
    if (!c)
        return lgd_raise(L, &err);
    lgd_push_spec(L, c);
    return 1;
}

/* Leaves the module table (at the top of the stack) as it found it, plus
 * gd._optim_with_lr. */
void lgd_open_tensor_optimizer(lua_State *L)
{
    lua_pushcfunction(L, optim_with_lr);
    lua_setfield(L, -2, "_optim_with_lr");
    static const luaL_Reg meta[] = {
        { "__index", topt_index },
        { "__tostring", topt_tostring },
        { "__gc", topt_gc },
        { NULL, NULL },
    };
    luaL_newmetatable(L, LGD_TOPTIM);
    luaL_setfuncs(L, meta, 0);
    lua_pop(L, 1);
}
