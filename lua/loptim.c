/*
 * lua/loptim.c: optimizer instances for hand-written loops,
 * gd.optim.adam{...}:build{ W, b }.
 *
 * One type for every optimizer, elementwise, tensor-aware, composite or
 * with parameter groups: the instance is a core gd_optim (core/optim.h)
 * over the Lua tensors, so these are the plugin's own step functions and
 * the numbers the trainer computes (an elementwise optimizer steps each
 * tensor as one span). Entries are tensors or { value = W, grad = gW,
 * role = "weight", layer = "dense1", name =, output = } tables; the role
 * defaults from the rank (1: bias, else weight). User values: 1 the spec,
 * 2 the parameter tensors, 3 the entries' grad tensors (or false).
 *
 *     opt:step()                           from the entries' grad tensors
 *     opt:step{ gW, gb }                   one update from these gradients
 *     opt:step(g)                          the same, over a single tensor
 *     opt:step({ gW, gb }, { lr = 0.01 })  with this update's lr
 *     opt:step({ gW, gb }, { closure = function() return { gW2, gb2 } end })
 *         for two-pass optimizers (sam): the closure is called with the
 *         parameters moved and returns the gradients there
 *     opt:slots(i), opt.t, opt.spec
 *
 * Every argument, gradient shape and lifetime is checked before anything
 * moves: a refused step changes nothing. Methods sit in a table (liolib's
 * createmeta); __index falls back to the fields t and spec.
 */
#include <math.h>
#include <string.h>

#include "lapi.h"
#include "lgradus.h"
#include "optim.h"
#include "train.h"

enum { MAX_TENSORS = 1 << 20 };   /* the same cap as gd.clip_norm's lists */

typedef struct lopt {
    gd_optim *o;           /* owned; NULL once finalized. First: the alive pointer of
                              slot views (lgd_tensor_view) */
    const gd_spec *spec;   /* borrowed from user value 1 */
    int n;
    int stepping;          /* inside gd_optim_step (a closure is running) */
    gd_shape shape[];      /* of each parameter */
} lopt;

/* The instance at idx, its spec and its own state both alive: Lua runs
 * finalizers newest first, so an older object's finalizer may reach it
 * after either was freed. */
static lopt *checkopt(lua_State *L, int idx)
{
    lopt *t = lgd_check_instance(L, idx, LGD_OPTIMIZER);
    if (!t->o)
        lgd_error(L, "optimizer: its state has been freed (its finalizer ran)");
    return t;
}

/* The role of the entry at the top of the stack: its `role` field, or from the rank. */
static gd_param_role entry_role(lua_State *L, const char *what, lua_Integer i, int rank)
{
    gd_param_role role = rank == 1 ? GD_ROLE_BIAS : GD_ROLE_WEIGHT;
    if (!lua_istable(L, -1) || lgd_testtensor(L, -1))
        return role;
    if (lua_getfield(L, -1, "role") != LUA_TNIL) {
        char where[128];
        snprintf(where, sizeof where, "%s: entry %d", what, (int)i);
        role = (gd_param_role)lgd_check_role(L, -1, where);
    }
    lua_pop(L, 1);
    return role;
}

/* The boolean field `f` of the entry at the top (0 when absent or not a table). */
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

/* The string field `f` of the entry at the top, kept alive by the entries table (or ""). */
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

static int opt_gc(lua_State *L)
{
    lopt *t = luaL_checkudata(L, 1, LGD_OPTIMIZER);
    if (t->stepping)   /* called by hand from its own closure; the collector cannot */
        return lgd_error(L, "optimizer: cannot be freed while it steps");
    gd_optim_free(t->o);
    t->o = NULL;
    return 0;
}

/* Replace the value at idx by a one-entry list holding it. */
static void wrap_in_list(lua_State *L, int idx)
{
    lua_createtable(L, 1, 0);
    lua_pushvalue(L, idx);
    lua_rawseti(L, -2, 1);
    lua_replace(L, idx);
}

int lgd_build_optimizer(lua_State *L, const gd_spec *s)
{
    char what[96];
    snprintf(what, sizeof what, "%s:build", s->component->name);
    if (lgd_testtensor(L, 2))       /* :build(x) for a single tensor */
        wrap_in_list(L, 2);
    if (!lua_istable(L, 2))
        return lgd_error(L, "%s: expects a list of parameter tensors ({ x, ... }), got %s",
                          what, luaL_typename(L, 2));
    lua_Integer n = luaL_len(L, 2);
    if (n < 1)
        return lgd_error(L, "%s: expects a non-empty list of parameter tensors", what);
    if (n > MAX_TENSORS)
        return lgd_error(L, "%s: at most %d parameter tensors, got %lld", what, MAX_TENSORS,
                          (long long)n);
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
    lopt *t = lua_newuserdatauv(L, sizeof *t + (size_t)n * sizeof(gd_shape), 3);
    t->o = NULL;
    t->spec = s;
    t->n = (int)n;
    t->stepping = 0;
    for (int i = 0; i < t->n; i++)
        t->shape[i] = ts[i].shape;
    luaL_setmetatable(L, LGD_OPTIMIZER);
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

/* Point the optimizer at the gradients of list idx, every one checked first. */
static void set_grads(lua_State *L, lopt *t, int idx, const char *what)
{
    if (!lua_istable(L, idx)) {
        char got[160];
        lgd_describe_value(L, idx, got, sizeof got);
        lgd_error(L, "%s: expects a list of %d gradient tensors, got %s", what, t->n, got);
    }
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
    lopt *t;
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

static const lgd_key step_keys[] = {
    { "lr", NULL, "(the spec's lr)", "this update's lr",
      { .type = GD_OPT_NUMBER, .flags = GD_OPT_HAS_MIN | GD_OPT_OPTIONAL, .min = 0 }, 0, NULL },
    LGD_VALUE("closure", LGD_IS_FUNCTION, "function", "(none)",
              "two-pass optimizers (sam): returns the gradients at the moved parameters"),
    { NULL },
};

/* The options of opt:step at idx: lr (else the spec's base lr), closure. */
static double step_options(lua_State *L, lopt *t, int idx, const char *what, closure_ctx *c)
{
    if (lua_isnil(L, idx))
        return gd_optimizer_base_lr(t->spec);
    if (!lua_istable(L, idx))
        lgd_error(L, "%s: options must be a table ({ lr =, closure = }), got %s", what,
                  luaL_typename(L, idx));
    gd_value v[LGD_MAX_OPTIONS];
    lgd_read_options(L, idx, what, step_keys, v);
    if (lua_getfield(L, idx, "closure") != LUA_TNIL)
        c->fn = lua_gettop(L);   /* stays on the stack until the step is done */
    else
        lua_pop(L, 1);
    return v[0].present ? v[0].u.num : gd_optimizer_base_lr(t->spec);
}

/* opt:step([grads] [, { lr =, closure = }]): one update of every tensor. */
static int opt_step(lua_State *L)
{
    lopt *t = checkopt(L, 1);
    char what[96];
    snprintf(what, sizeof what, "%s:step", t->spec->component->name);
    if (t->stepping)
        return lgd_error(L, "%s: called from its own closure", what);
    lua_settop(L, 3);
    if (lua_isnil(L, 2)) {
        lua_getiuservalue(L, 1, 3);
        if (!lua_istable(L, -1))
            return lgd_error(L, "%s: no gradients given (build from :params() entries to step "
                              "on their grad tensors)", what);
        lua_replace(L, 2);
    } else if (t->n == 1 && lgd_testtensor(L, 2)) {
        wrap_in_list(L, 2);
    }
    closure_ctx c = { L, t, 0 };
    double lr = step_options(L, t, 3, what, &c);
    /* The parameters may view a model whose finalizer ran: raises then. */
    lua_getiuservalue(L, 1, 2);
    for (int i = 1; i <= t->n; i++) {
        lua_rawgeti(L, -1, i);
        lgd_checktensor(L, -1);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    set_grads(L, t, 2, what);
    gd_error err;
    t->stepping = 1;
    gd_status st = gd_optim_step(t->o, lr, call_closure, &c, &err);
    t->stepping = 0;
    if (st != GD_OK)
        return lgd_raise(L, &err);
    lua_pushinteger(L, (lua_Integer)gd_optim_steps(t->o));
    return 1;
}

/* opt:slots(i) -> { tensor, ... }: live views of parameter i's state (a
 * slot of another length than the parameter's is flat). */
static int opt_slots(lua_State *L)
{
    lopt *t = checkopt(L, 1);
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

/* __index: a method from the table (upvalue 1), else the fields t and spec. */
static int opt_index(lua_State *L)
{
    lua_pushvalue(L, 2);
    if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL)
        return 1;
    lopt *t = checkopt(L, 1);
    const char *k = lua_tostring(L, 2);
    if (k && strcmp(k, "t") == 0)
        lua_pushinteger(L, (lua_Integer)gd_optim_steps(t->o));
    else if (k && strcmp(k, "spec") == 0)
        lua_getiuservalue(L, 1, 1);
    else
        lua_pushnil(L);
    return 1;
}

static int opt_tostring(lua_State *L)
{
    lopt *t = checkopt(L, 1);
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

void lgd_open_optimizer(lua_State *L)
{
    lua_pushcfunction(L, optim_with_lr);
    lua_setfield(L, -2, "_optim_with_lr");
    static const luaL_Reg meta[] = {
        { "step", opt_step },
        { "slots", opt_slots },
        { "__tostring", opt_tostring },
        { "__gc", opt_gc },
        { NULL, NULL },
    };
    lgd_newclass(L, LGD_OPTIMIZER, meta, 0);   /* [meta]; meta.__index: the methods */
    lua_getfield(L, -1, "__index");
    lua_pushcclosure(L, opt_index, 1);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
}
