/*
 * lua/lprim.c: primitives for hand-written loops and component tests:
 * spec:build{...} for optimizers, layers, losses and regularizers, and
 * gd.clip_norm / gd.clip_value.
 *
 * Every instance calls the component through the core (component.h, a
 * one-layer model), on memory the binding owns through Lua userdata (so
 * nothing leaks when an argument check raises), after checking every shape:
 * no C crash is reachable from Lua. Optimizer instances: lua/loptim.c.
 */
#include <math.h>
#include <string.h>

#include "component.h"
#include "host.h"
#include "lgradus.h"
#include "model.h"
#include "train.h"

static const char *shape_s(const gd_shape *s, char *buf)
{
    return lgd_shape_str(s, buf, 64);
}

/* ---------------------------------------------------------------------------
 * Shared by the instances (optimizer instances: lua/loptim.c)
 * ------------------------------------------------------------------------- */

/* The instance at idx of metatable `name` whose spec (user value 1, borrowed
 * as a pointer) is still alive: an older object's finalizer may run after
 * the spec's own. */
void *lgd_check_instance(lua_State *L, int idx, const char *name)
{
    void *o = luaL_checkudata(L, idx, name);
    lua_getiuservalue(L, idx, 1);
    if (!lgd_testspec(L, -1))
        lgd_error(L, "%s: its spec has been freed (its finalizer ran)", strchr(name, '.') + 1);
    lua_pop(L, 1);
    return o;
}

/* The tensor of list entry i: a tensor, or field `field` of a table
 * ({ value =, grad = } from :params()). Leaves it on the stack. */
lgd_tensor *lgd_entry_tensor(lua_State *L, int list, lua_Integer i, const char *field,
                             const char *what)
{
    lua_geti(L, list, i);
    if (lua_istable(L, -1) && !lgd_testtensor(L, -1)) {
        if (lua_getfield(L, -1, field) == LUA_TNIL)
            lua_pop(L, 1);   /* describe the table itself */
        else
            lua_remove(L, -2);
    }
    lgd_tensor *t = lgd_testtensor(L, -1);
    if (!t) {
        char got[160];
        lgd_describe_value(L, -1, got, sizeof got);
        lgd_error(L, "%s: entry %d must be a tensor, got %s", what, (int)i, got);
    }
    return t;
}

/* ---------------------------------------------------------------------------
 * Layer instances: gd.layer.dense{ units = 3 }:build{ inputs = 7, seed = 1 }
 *
 * A one-layer gd_model does the creating, arena layout, binding and
 * initialization, so a layer built here with seed s starts from the same
 * weights as the first layer of a model built with seed s. Forward and
 * backward call the vtable directly because the model does not compute the
 * input gradient. User values: 1 registry, 2 scratch, 3 saved x, 4 saved y.
 * ------------------------------------------------------------------------- */

typedef struct llayer {
    gd_model *m;
    int forwarded, training;
    int64_t scratch_cap;
} llayer;

static llayer *checklayer(lua_State *L, int idx)
{
    llayer *l = luaL_checkudata(L, idx, LGD_LAYER);
    if (!l->m)
        luaL_argerror(L, idx, "layer has no weights (freed by its finalizer)");
    return l;
}

static int layer_gc(lua_State *L)
{
    llayer *l = luaL_checkudata(L, 1, LGD_LAYER);
    gd_model_free(l->m);
    l->m = NULL;
    return 0;
}

static int build_layer(lua_State *L, const gd_spec *s)
{
    char what[96];
    snprintf(what, sizeof what, "%s:build", s->component->name);
    gd_shape in;
    uint64_t seed;
    lgd_build_args(L, 2, what, &in, &seed);
    lua_settop(L, 2);
    llayer *l = lua_newuserdatauv(L, sizeof *l, 4);
    memset(l, 0, sizeof *l);
    luaL_setmetatable(L, LGD_LAYER);
    lgd_push_registry(L);
    lua_setiuservalue(L, -2, 1);
    gd_error err;
    l->m = gd_model_new(lgd_registry(L), &s, 1, &in, seed, &err);
    if (!l->m)
        return lgd_raise(L, &err);
    return 1;
}

static gd_model_layer *layer0(llayer *l)
{
    return gd_model_layer_at(l->m, 0);
}

static gd_tensor as_gd(const lgd_tensor *t)
{
    gd_tensor g = { t->data, t->shape };
    return g;
}

/* Batch shape [batch, sample...]. */
static gd_shape batch_shape(int64_t batch, const gd_shape *sample)
{
    gd_shape s = { sample->ndim + 1, { batch, 0, 0, 0 } };
    for (int d = 0; d < sample->ndim; d++)
        s.dim[d + 1] = sample->dim[d];
    return s;
}

/* "[batch, 7]" into buf[96] */
static const char *batch_str(const gd_shape *sample, char *buf)
{
    char in[64];
    lgd_shape_str(sample, in, sizeof in);
    snprintf(buf, 96, "[batch, %s", in + 1);
    return buf;
}

/* layer:forward(x [, { training = }]) -> y (a new tensor) */
static int layer_forward(lua_State *L)
{
    llayer *l = checklayer(L, 1);
    gd_model_layer *ml = layer0(l);
    lgd_tensor *x = lgd_checktensor(L, 2);
    int training = 0;
    if (!lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        lua_getfield(L, 3, "training");
        training = lua_toboolean(L, -1);
        lua_pop(L, 1);
    }
    gd_shape want = batch_shape(x->shape.ndim ? x->shape.dim[0] : 1, gd_model_layer_input(ml));
    if (!lgd_shape_equal(&x->shape, &want)) {
        char a[64], b[96];
        return lgd_error(L, "%s:forward: input has shape %s, expected %s", gd_model_layer_name(ml),
                          shape_s(&x->shape, a), batch_str(gd_model_layer_input(ml), b));
    }
    int64_t batch = x->shape.dim[0];
    int64_t need = gd_model_layer_scratch(ml, batch);
    if (need > l->scratch_cap) {
        gd_shape ss = gd_shape_1(need);
        lgd_tensor_new(L, &ss);
        lua_setiuservalue(L, 1, 2);
        l->scratch_cap = need;
    }
    lua_getiuservalue(L, 1, 2);
    lgd_tensor *scratch = lua_touserdata(L, -1);
    lua_pop(L, 1);
    /* Keep private copies of x and y for backward: the caller may change
     * the tensors it holds in between. */
    lgd_tensor *xs = lgd_tensor_copy(L, x->data, &x->shape);
    lua_setiuservalue(L, 1, 3);
    if (gd_model_layer_input_ids(ml) > 0) {
        lua_pushfstring(L, "%s:forward", gd_model_layer_name(ml));
        lgd_ids_to_core(L, xs, gd_model_layer_input_ids(ml), lua_tostring(L, -1));
        lua_pop(L, 1);
    }
    gd_shape ys_shape = batch_shape(batch, gd_model_layer_output(ml));
    lgd_tensor *ys = lgd_tensor_new(L, &ys_shape);
    lua_setiuservalue(L, 1, 4);
    l->forwarded = 0;
    gd_layer_ctx ctx = { .size = sizeof ctx, .host = gd_core_host(), .training = training,
                         .rng = gd_model_layer_rng(ml), .scratch = scratch ? scratch->data : NULL };
    gd_tensor gx = as_gd(xs), gy = as_gd(ys);
    gd_error err;
    if (gd_model_layer_forward(ml, &ctx, &gx, &gy, &err) != GD_OK)
        return lgd_error(L, "%s:forward: %s", gd_model_layer_name(ml), err.msg);
    l->forwarded = 1;
    l->training = training;
    lgd_tensor_copy(L, ys->data, &ys->shape);
    return 1;
}

/* layer:backward(gy) -> gx; adds parameter gradients into :params()[i].grad */
static int layer_backward(lua_State *L)
{
    llayer *l = checklayer(L, 1);
    gd_model_layer *ml = layer0(l);
    lgd_tensor *dy = lgd_checktensor(L, 2);
    if (!l->forwarded)
        return lgd_error(L, "%s:backward: call forward first", gd_model_layer_name(ml));
    lua_getiuservalue(L, 1, 2);
    lgd_tensor *scratch = lua_touserdata(L, -1);
    lua_getiuservalue(L, 1, 3);
    lgd_tensor *xs = lua_touserdata(L, -1);
    lua_getiuservalue(L, 1, 4);
    lgd_tensor *ys = lua_touserdata(L, -1);
    if (!lgd_shape_equal(&dy->shape, &ys->shape)) {
        char a[64], b[64];
        return lgd_error(L, "%s:backward: gradient has shape %s, expected %s (the output's)",
                          gd_model_layer_name(ml), shape_s(&dy->shape, a), shape_s(&ys->shape, b));
    }
    lgd_tensor *dx = lgd_tensor_new(L, &xs->shape);
    gd_layer_ctx ctx = { .size = sizeof ctx, .host = gd_core_host(), .training = l->training,
                         .rng = gd_model_layer_rng(ml), .scratch = scratch ? scratch->data : NULL };
    gd_tensor gx = as_gd(xs), gy = as_gd(ys), gdy = as_gd(dy), gdx = as_gd(dx);
    gd_model_layer_backward(ml, &ctx, &gx, &gy, &gdy, &gdx);
    return 1;
}

static const char *role_name(gd_param_role r)
{
    switch (r) {
    case GD_ROLE_WEIGHT: return "weight";
    case GD_ROLE_BIAS: return "bias";
    case GD_ROLE_SCALE: return "scale";
    case GD_ROLE_SHIFT: return "shift";
    case GD_ROLE_EMBEDDING: return "embedding";
    }
    return "other";
}

static int layer_params(lua_State *L)
{
    llayer *l = checklayer(L, 1);
    gd_model_layer *ml = layer0(l);
    lua_createtable(L, gd_model_layer_nparams(ml), 0);
    for (int p = 0; p < gd_model_layer_nparams(ml); p++) {
        const gd_model_param *mp = gd_model_layer_param(ml, p);
        lua_createtable(L, 0, 4);
        lgd_tensor_view(L, mp->value, &mp->info->shape, 1);
        lua_setfield(L, -2, "value");
        lgd_tensor_view(L, mp->grad, &mp->info->shape, 1);
        lua_setfield(L, -2, "grad");
        lgd_setstr(L, "role", role_name(mp->info->role));
        lgd_setstr(L, "name", mp->info->name);
        lua_rawseti(L, -2, p + 1);
    }
    return 1;
}

static int layer_buffers(lua_State *L)
{
    llayer *l = checklayer(L, 1);
    gd_model_layer *ml = layer0(l);
    lua_createtable(L, gd_model_layer_nbuffers(ml), 0);
    for (int b = 0; b < gd_model_layer_nbuffers(ml); b++) {
        const gd_model_buffer *mb = gd_model_layer_buffer(ml, b);
        lua_createtable(L, 0, 2);
        gd_shape s = gd_shape_1(mb->numel);
        lgd_tensor_view(L, mb->value, &s, 1);
        lua_setfield(L, -2, "value");
        lgd_setstr(L, "name", mb->info->name);
        lua_rawseti(L, -2, b + 1);
    }
    return 1;
}

static int layer_zero_grad(lua_State *L)
{
    gd_model_zero_grad(checklayer(L, 1)->m);
    return 0;
}

static int layer_output_shape(lua_State *L)
{
    lgd_push_shape(L, gd_model_layer_output(layer0(checklayer(L, 1))));
    return 1;
}

static int layer_tostring(lua_State *L)
{
    gd_model_layer *ml = layer0(checklayer(L, 1));
    char buf[512], a[64], b[64];
    lua_pushfstring(L, "layer %s %s -> %s",
                    gd_spec_describe(gd_model_layer_spec(ml), buf, sizeof buf),
                    shape_s(gd_model_layer_input(ml), a), shape_s(gd_model_layer_output(ml), b));
    return 1;
}

/* ---------------------------------------------------------------------------
 * Loss instances: gd.loss.mse{}:build{}. User values: 1 spec, 2 last grad.
 * ------------------------------------------------------------------------- */

typedef struct lloss {
    const gd_spec *spec;
} lloss;

static int build_loss(lua_State *L, const gd_spec *s)
{
    lloss *o = lua_newuserdatauv(L, sizeof *o, 2);
    o->spec = s;
    luaL_setmetatable(L, LGD_LOSS);
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, 1);
    return 1;
}

/* loss:forward(pred, target) -> value. Class targets are 1-based class
 * numbers (a tensor or a table), turned into the 0-based indices the plugin
 * takes. */
static int loss_forward(lua_State *L)
{
    lloss *o = lgd_check_instance(L, 1, LGD_LOSS);
    const gd_component *c = o->spec->component;
    const gd_target_kind target = gd_loss_target(o->spec);
    lgd_tensor *pred = lgd_checktensor(L, 2);
    int pushed;
    lgd_tensor *tgt = lgd_totensor(L, 3, &pushed);
    char a[64], b[64];
    lgd_tensor *t0;
    if (target == GD_TARGET_CLASS) {
        /* [batch, classes], or per position [batch, T, classes] with [batch, T] targets */
        if (pred->shape.ndim != 2 && pred->shape.ndim != 3)
            return lgd_error(L, "%s:forward: predictions have shape %s, expected [batch, "
                              "classes] or [batch, T, classes]", c->name,
                              shape_s(&pred->shape, a));
        int64_t k = pred->shape.dim[pred->shape.ndim - 1], n = pred->numel / k;
        if (tgt->numel != n && pred->shape.ndim == 2)
            return lgd_error(L, "%s:forward: %d targets for a batch of %d (targets are class "
                              "numbers, shape [%d])", c->name, (int)tgt->numel, (int)n, (int)n);
        if (tgt->numel != n)
            return lgd_error(L, "%s:forward: %d targets for predictions %s (one class number "
                              "per position, shape [%d, %d])", c->name, (int)tgt->numel,
                              shape_s(&pred->shape, a), (int)pred->shape.dim[0],
                              (int)pred->shape.dim[1]);
        gd_shape ts = gd_shape_1(n);
        t0 = lgd_tensor_new(L, &ts);
        for (int64_t i = 0; i < n; i++) {
            float v = tgt->data[i];
            if (!(v >= 1 && v <= (float)k) || v != floorf(v)) {
                lua_pushnumber(L, v);
                if (v == floorf(v) && fabsf(v) < 1e9f)  /* print 4, not 4.0 */
                    lua_pushinteger(L, (lua_Integer)v);
                return lgd_error(L, "%s:forward: target %d is %s, expected a class number "
                                  "in 1..%d", c->name, (int)i + 1, lua_tostring(L, -1), (int)k);
            }
            t0->data[i] = v - 1;
        }
    } else {
        if (!lgd_shape_equal(&tgt->shape, &pred->shape) &&
            !(tgt->numel == pred->numel && tgt->shape.ndim == 1 && pushed))
            return lgd_error(L, "%s:forward: target has shape %s, expected %s (the "
                              "predictions')", c->name, shape_s(&tgt->shape, a),
                              shape_s(&pred->shape, b));
        t0 = tgt;
    }
    lgd_tensor *grad = lgd_tensor_new(L, &pred->shape);
    gd_tensor gp = as_gd(pred), gt = { t0->data, t0->shape }, gg = as_gd(grad);
    if (target == GD_TARGET_VALUE)
        gt.shape = pred->shape;
    double v = gd_loss_forward(o->spec, &gp, &gt, &gg);
    lua_setiuservalue(L, 1, 2);
    lua_pushnumber(L, v);
    return 1;
}

static int loss_backward(lua_State *L)
{
    lloss *o = lgd_check_instance(L, 1, LGD_LOSS);
    if (lua_getiuservalue(L, 1, 2) != LUA_TUSERDATA)
        return lgd_error(L, "%s:backward: call forward first", o->spec->component->name);
    lgd_tensor *g = lua_touserdata(L, -1);
    lgd_tensor_copy(L, g->data, &g->shape);
    return 1;
}

/* ---------------------------------------------------------------------------
 * Regularizer instances: gd.reg.l2{ lambda = 0.1 }:build{}. User value 1: spec.
 * ------------------------------------------------------------------------- */

typedef struct lreg {
    const gd_spec *spec;
} lreg;

static int build_regularizer(lua_State *L, const gd_spec *s)
{
    lreg *o = lua_newuserdatauv(L, sizeof *o, 1);
    o->spec = s;
    luaL_setmetatable(L, LGD_REGULARIZER);
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, 1);
    return 1;
}

static int reg_penalty(lua_State *L)
{
    lreg *o = lgd_check_instance(L, 1, LGD_REGULARIZER);
    lgd_tensor *w = lgd_checktensor(L, 2);
    lua_pushnumber(L, gd_regularizer_penalty(o->spec, w->numel, w->data));
    return 1;
}

/* reg:grad(W) -> a new tensor: the term the regularizer adds to W's gradient. */
static int reg_grad(lua_State *L)
{
    lreg *o = lgd_check_instance(L, 1, LGD_REGULARIZER);
    lgd_tensor *w = lgd_checktensor(L, 2);
    lgd_tensor *g = lgd_tensor_new(L, &w->shape);
    gd_regularizer_add_grad(o->spec, w->numel, w->data, g->data);
    return 1;
}

/* reg:add_grad(W, G): G += the term, in place. */
static int reg_add_grad(lua_State *L)
{
    lreg *o = lgd_check_instance(L, 1, LGD_REGULARIZER);
    lgd_tensor *w = lgd_checktensor(L, 2), *g = lgd_checktensor(L, 3);
    if (!lgd_shape_equal(&w->shape, &g->shape)) {
        char a[64], b[64];
        return lgd_error(L, "%s:add_grad: gradient has shape %s, expected %s (the weights')",
                          o->spec->component->name, shape_s(&g->shape, a),
                          shape_s(&w->shape, b));
    }
    gd_regularizer_add_grad(o->spec, w->numel, w->data, g->data);
    lua_settop(L, 3);
    return 1;
}

/* ---------------------------------------------------------------------------
 * spec:build and clipping
 * ------------------------------------------------------------------------- */

int lgd_build(lua_State *L)
{
    const gd_spec *s = lgd_checkspec(L, 1, (gd_kind)0);
    switch (s->component->kind) {
    case GD_KIND_OPTIMIZER: return lgd_build_optimizer(L, s);
    case GD_KIND_LAYER: return build_layer(L, s);
    case GD_KIND_LOSS: return build_loss(L, s);
    case GD_KIND_REGULARIZER: return build_regularizer(L, s);
    default:
        return lgd_error(L, "%s: a %s spec has no build", s->component->name,
                          gd_kind_name(s->component->kind));
    }
}

/* Collect the tensors of list idx into arrays held by a scratch userdata. */
static int clip_args(lua_State *L, const char *what, float ***g, int64_t **n, double *c)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    *c = luaL_checknumber(L, 2);
    if (!(*c > 0) || !isfinite(*c))
        luaL_argerror(L, 2, lua_pushfstring(L, "%s: the threshold must be a finite number > 0",
                                            what));
    lua_Integer count = luaL_len(L, 1);
    if (count < 0 || count > 1 << 20)
        luaL_argerror(L, 1, "too many tensors");
    char *mem = lua_newuserdatauv(L, (size_t)(count ? count : 1) * (sizeof(float *) +
                                  sizeof(int64_t)), 0);
    *g = (float **)mem;
    *n = (int64_t *)(mem + (size_t)(count ? count : 1) * sizeof(float *));
    for (lua_Integer i = 1; i <= count; i++) {
        lgd_tensor *t = lgd_entry_tensor(L, 1, i, "grad", what);
        (*g)[i - 1] = t->data;
        (*n)[i - 1] = t->numel;
        lua_pop(L, 1);
    }
    return (int)count;
}

static int clip_norm(lua_State *L)
{
    float **g;
    int64_t *n;
    double c;
    int count = clip_args(L, "gd.clip_norm", &g, &n, &c);
    bool clipped;
    lua_pushnumber(L, gd_clip_by_norm(g, n, count, c, &clipped));
    lua_pushboolean(L, clipped);
    return 2;
}

static int clip_value(lua_State *L)
{
    float **g;
    int64_t *n;
    double c;
    int count = clip_args(L, "gd.clip_value", &g, &n, &c);
    bool clipped;
    lua_pushnumber(L, gd_clip_by_value(g, n, count, c, &clipped));
    lua_pushboolean(L, clipped);
    return 2;
}

void lgd_open_prim(lua_State *L)
{
    static const luaL_Reg layer_meta[] = {
        { "forward", layer_forward },
        { "backward", layer_backward },
        { "params", layer_params },
        { "buffers", layer_buffers },
        { "zero_grad", layer_zero_grad },
        { "output_shape", layer_output_shape },
        { "__gc", layer_gc },
        { "__tostring", layer_tostring },
        { NULL, NULL },
    };
    lgd_newclass(L, LGD_LAYER, layer_meta, 0);
    lua_pop(L, 1);
    static const luaL_Reg loss_meta[] = {
        { "forward", loss_forward },
        { "backward", loss_backward },
        { NULL, NULL },
    };
    lgd_newclass(L, LGD_LOSS, loss_meta, 0);
    lua_pop(L, 1);
    static const luaL_Reg reg_meta[] = {
        { "penalty", reg_penalty },
        { "grad", reg_grad },
        { "add_grad", reg_add_grad },
        { NULL, NULL },
    };
    lgd_newclass(L, LGD_REGULARIZER, reg_meta, 0);
    lua_pop(L, 1);
    static const luaL_Reg fns[] = {
        { "clip_norm", clip_norm },
        { "clip_value", clip_value },
        { NULL, NULL },
    };
    luaL_setfuncs(L, fns, 0);
    lgd_open_optimizer(L);
}
