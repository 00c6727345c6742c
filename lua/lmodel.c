/*
 * lua/lmodel.c: gd.sequential (a model spec) and model instances.
 *
 * gd.sequential{ parts } only checks and keeps its parts (layer specs,
 * gd.sequential, gd.residual: lua/lblock.c): like every other spec it is
 * not instantiated until something knows the input shape (gd.train, from
 * its data set, or seq:build{ inputs =, seed = }). A model
 * instance owns its gd_model (parameters in one arena) and is trained in
 * place by gd.train; its :params() are live views into that arena.
 *
 * Model user values: 1 registry, 2 copy of the last training input (read by
 * backward), 3 the loss spec evaluate uses by default (set by gd.train),
 * 4 the sequential (or residual) spec it was built from (nil for
 * gd.load_model's).
 */
#include <math.h>
#include <string.h>

#include "data.h"
#include "lgradus.h"
#include "model.h"

/* ---------------------------------------------------------------------------
 * gd.sequential: user values 1 the list of layer specs
 * ------------------------------------------------------------------------- */

typedef struct lseq {
    int n;
} lseq;

int lgd_is_sequential(lua_State *L, int idx)
{
    return luaL_testudata(L, idx, LGD_SEQUENTIAL) != NULL;
}

static int sequential(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_Integer n = luaL_len(L, 1);
    if (n < 1)
        return lgd_error(L, "gd.sequential: needs at least one layer spec ({ gd.layer.dense{ "
                          "units = 10 }, ... })");
    lua_pushnil(L);
    while (lua_next(L, 1)) {
        if (!lua_isinteger(L, -2) || lua_tointeger(L, -2) < 1 || lua_tointeger(L, -2) > n)
            return lgd_error(L, "gd.sequential: takes a list of layer specs only, got key '%s'",
                              luaL_tolstring(L, -2, NULL));
        lua_pop(L, 1);
    }
    lua_createtable(L, (int)n, 0);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_geti(L, 1, i);
        if (!lgd_is_part(L, -1)) {
            char got[160];
            lgd_describe_value(L, -1, got, sizeof got);
            return lgd_error(L, "gd.sequential: entry %d must be a layer spec, a gd.sequential "
                              "or a gd.residual, got %s", (int)i, got);
        }
        lua_rawseti(L, -2, i);
    }
    lseq *q = lua_newuserdatauv(L, sizeof *q, 1);
    q->n = (int)n;
    luaL_setmetatable(L, LGD_SEQUENTIAL);
    lua_insert(L, -2);
    lua_setiuservalue(L, -2, 1);
    return 1;
}

lgd_model *lgd_model_build(lua_State *L, int seq_idx, const gd_shape *in, uint64_t seed)
{
    seq_idx = lua_absindex(L, seq_idx);
    if (!lgd_is_block(L, seq_idx))
        luaL_argerror(L, seq_idx, "gd.sequential or gd.residual expected");
    /* The specs stay alive in the parts while gd_model_new_tree copies
     * them; the structure lives in a userdata: nothing leaks if anything
     * raises. It stays on the stack, anchored, until we return. */
    int n;
    const gd_node_desc *tree = lgd_push_tree(L, seq_idx, &n);
    lgd_model *md = lua_newuserdatauv(L, sizeof *md, 4);
    md->m = NULL;
    luaL_setmetatable(L, LGD_MODEL);
    lgd_push_registry(L);
    lua_setiuservalue(L, -2, 1);
    lua_pushvalue(L, seq_idx);
    lua_setiuservalue(L, -2, 4);
    gd_error err;
    if (!(md->m = gd_model_new_tree(lgd_registry(L), tree, n, in, seed, &err)))
        lgd_raise(L, &err);
    return md;
}

static int seq_index(lua_State *L)
{
    lseq *q = luaL_checkudata(L, 1, LGD_SEQUENTIAL);
    const char *k = luaL_checkstring(L, 2);
    if (strcmp(k, "kind") == 0) {
        lua_pushstring(L, "model");
    } else if (strcmp(k, "name") == 0) {
        lua_pushstring(L, "sequential");
    } else if (strcmp(k, "layers") == 0) {
        lua_getiuservalue(L, 1, 1);
        lua_createtable(L, q->n, 0);   /* a copy: the spec stays immutable */
        for (int i = 1; i <= q->n; i++) {
            lua_rawgeti(L, -2, i);
            lua_rawseti(L, -2, i);
        }
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

static int seq_tostring(lua_State *L)
{
    luaL_checkudata(L, 1, LGD_SEQUENTIAL);
    lgd_push_part_text(L, 1);
    return 1;
}

static int seq_len(lua_State *L)
{
    lua_pushinteger(L, ((lseq *)luaL_checkudata(L, 1, LGD_SEQUENTIAL))->n);
    return 1;
}

/* ---------------------------------------------------------------------------
 * Model instances
 * ------------------------------------------------------------------------- */

lgd_model *lgd_checkmodel(lua_State *L, int idx)
{
    lgd_model *md = luaL_checkudata(L, idx, LGD_MODEL);
    if (!md->m)
        luaL_argerror(L, idx, "model has no weights (not built, or freed by its finalizer)");
    return md;
}

static int model_gc(lua_State *L)
{
    lgd_model *md = luaL_checkudata(L, 1, LGD_MODEL);
    gd_model_free(md->m);
    md->m = NULL;
    return 0;
}

/* The batch size of x for this model: x is [batch, input...] or any shape
 * whose trailing elements per row match the input's size. */
static int64_t check_input(lua_State *L, gd_model *m, const lgd_tensor *x, const char *what)
{
    const gd_shape *in = gd_model_input_shape(m);
    int64_t per = gd_shape_numel(in);
    int64_t batch = x->shape.ndim >= 2 ? x->shape.dim[0] : 0;
    if (batch < 1 || x->numel != batch * per) {
        char a[64], b[64];
        lgd_shape_str(&x->shape, a, sizeof a);
        lgd_shape_str(in, b, sizeof b);
        lgd_error(L, "%s: input has shape %s, expected [batch, %s", what, a, b + 1);
    }
    return batch;
}

/* Run the model on x; leaves nothing on the stack, returns the output. */
static const float *run_forward(lua_State *L, lgd_model *md, lgd_tensor *x, int training,
                                const char *what)
{
    int64_t batch = check_input(L, md->m, x, what);
    gd_error err;
    if (gd_model_reserve(md->m, batch, &err) != GD_OK)
        lgd_raise(L, &err);
    const float *in = x->data;
    int64_t ids = gd_model_input_ids(md->m);
    if (training || ids) {
        /* backward reads the input again: keep a private copy (token ids
         * become the core's 0-based ones in it). */
        lgd_tensor *keep = lgd_tensor_copy(L, x->data, &x->shape);
        lgd_ids_to_core(L, keep, ids, what);
        if (training)
            lua_setiuservalue(L, 1, 2);
        in = keep->data;
    }
    const float *out;
    if (gd_model_forward(md->m, in, batch, training, &out, &err) != GD_OK)
        lgd_raise(L, &err);
    return out;
}

static gd_shape out_shape(gd_model *m, int64_t batch)
{
    const gd_shape *o = gd_model_output_shape(m);
    gd_shape s = { o->ndim + 1, { batch, 0, 0, 0 } };
    for (int d = 0; d < o->ndim; d++)
        s.dim[d + 1] = o->dim[d];
    return s;
}

/* model:forward(x [, { training = }]) -> outputs (a new tensor) */
static int model_forward(lua_State *L)
{
    lgd_model *md = lgd_checkmodel(L, 1);
    lgd_tensor *x = lgd_checktensor(L, 2);
    int training = 0;
    if (!lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        lua_getfield(L, 3, "training");
        training = lua_toboolean(L, -1);
        lua_pop(L, 1);
    }
    const float *out = run_forward(L, md, x, training, "model:forward");
    gd_shape s = out_shape(md->m, x->shape.dim[0]);
    lgd_tensor_copy(L, out, &s);
    return 1;
}

/* model:backward(dout) -> dL/dx: after forward(x, { training = true }); adds
 * into the parameter gradients and returns the input gradient (a new
 * tensor of the input's shape), as a layer's backward does. */
static int model_backward(lua_State *L)
{
    lgd_model *md = lgd_checkmodel(L, 1);
    lgd_tensor *dy = lgd_checktensor(L, 2);
    if (lua_getiuservalue(L, 1, 2) != LUA_TUSERDATA || !gd_model_can_backward(md->m))
        return lgd_error(L, "model:backward: the last forward was not a training one (call "
                          "forward(x, { training = true }) right before backward)");
    int64_t batch = gd_model_last_batch(md->m);
    gd_shape want = out_shape(md->m, batch);
    if (batch < 1 || !lgd_shape_equal(&dy->shape, &want)) {
        char a[64], b[64];
        return lgd_error(L, "model:backward: gradient has shape %s, expected %s (the output's)",
                          lgd_shape_str(&dy->shape, a, sizeof a),
                          lgd_shape_str(&want, b, sizeof b));
    }
    lua_getiuservalue(L, 1, 2);
    lgd_tensor *x = lua_touserdata(L, -1);
    lgd_tensor *dx = lgd_tensor_new(L, &x->shape);
    gd_model_backward_input(md->m, dy->data, dx->data);
    return 1;
}

static void push_label(lua_State *L, double v)
{
    /* CSV labels are integers below 2^24: give them back as such */
    if (v == floor(v) && fabs(v) <= 16777216.0)
        lua_pushinteger(L, (lua_Integer)v);
    else
        lua_pushnumber(L, v);
}

void lgd_push_labels(lua_State *L, const double *labels, int64_t n)
{
    lua_createtable(L, (int)n, 0);
    for (int64_t c = 0; c < n; c++) {
        push_label(L, labels[c]);
        lua_rawseti(L, -2, (lua_Integer)c + 1);
    }
}

/* model:predict(x [, { labels = true }]) -> { class numbers, 1-based }, or
 * the classes' labels in the training data (gd.data.csv{ classes = true }). */
static int model_predict(lua_State *L)
{
    lgd_model *md = lgd_checkmodel(L, 1);
    lgd_tensor *x = lgd_checktensor(L, 2);
    const double *labels = NULL;
    if (!lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        lua_getfield(L, 3, "labels");
        int want = lua_toboolean(L, -1);
        lua_pop(L, 1);
        if (want && !(labels = gd_model_labels(md->m)))
            return lgd_error(L, "model:predict: the model has no class labels (they come from "
                              "training on gd.data.csv{ classes = true } data)");
    }
    const float *out = run_forward(L, md, x, 0, "model:predict");
    int64_t batch = x->shape.dim[0], k = gd_shape_numel(gd_model_output_shape(md->m));
    lua_createtable(L, (int)batch, 0);
    for (int64_t r = 0; r < batch; r++) {
        const float *row = out + r * k;
        int64_t best = 0;
        for (int64_t c = 1; c < k; c++)
            if (row[c] > row[best])
                best = c;
        if (labels)
            push_label(L, labels[best]);
        else
            lua_pushinteger(L, (lua_Integer)best + 1);
        lua_rawseti(L, -2, (lua_Integer)r + 1);
    }
    return 1;
}

void lgd_model_set_loss(lua_State *L, int model_idx, int loss_idx)
{
    gd_error err;
    if (gd_model_set_loss(lgd_checkmodel(L, model_idx)->m, lgd_checkspec(L, loss_idx,
                          GD_KIND_LOSS), &err) != GD_OK)
        lgd_raise(L, &err);
    lua_pushvalue(L, loss_idx);
    lua_setiuservalue(L, model_idx, 3);
}

void lgd_model_set_labels(lua_State *L, int model_idx, const gd_dataset *ds)
{
    gd_model *m = lgd_checkmodel(L, model_idx)->m;
    const double *labels = gd_dataset_labels(ds);
    int64_t k = gd_dataset_classes(ds);
    if (gd_dataset_vocab(ds)) {   /* a text set: each output's character */
        lgd_model_set_vocab(L, m, gd_dataset_vocab(ds), k);
        return;
    }
    if (k != gd_shape_numel(gd_model_output_shape(m)))
        labels = NULL;
    gd_error err;
    if (gd_model_set_labels(m, labels, k, &err) != GD_OK)
        lgd_raise(L, &err);
}

/* model:evaluate(data [, { loss =, batch = }]) -> { loss =, accuracy = } */
static int model_evaluate(lua_State *L)
{
    lgd_model *md = lgd_checkmodel(L, 1);
    gd_dataset *ds = lgd_checkdataset(L, 2);
    int64_t batch = 256;
    const gd_spec *loss = NULL;
    if (!lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        loss = lgd_field_spec(L, 3, "model:evaluate", "loss", GD_KIND_LOSS, 0);
        lua_getfield(L, 3, "batch");
        if (!lua_isnil(L, -1)) {
            batch = luaL_checkinteger(L, -1);
            luaL_argcheck(L, batch >= 1, 3, "batch must be >= 1");
        }
        lua_pop(L, 1);
    }
    if (!loss && lua_getiuservalue(L, 1, 3) == LUA_TUSERDATA)
        loss = lgd_testspec(L, -1);
    if (!loss)
        loss = gd_model_loss(md->m);   /* a loaded model's, from its file */
    if (!loss) {
        /* No loss given nor trained with: the usual one for the data. */
        lua_getfield(L, lua_upvalueindex(1), "loss");
        lua_getfield(L, -1, gd_dataset_classes(ds) > 0 ? "cross_entropy" : "mse");
        lua_call(L, 0, 1);
        loss = lgd_checkspec(L, -1, GD_KIND_LOSS);
    }
    double lv, acc;
    gd_error err;
    if (gd_model_evaluate(md->m, loss, ds, batch, &lv, &acc, &err) != GD_OK)
        return lgd_raise(L, &err);
    lua_createtable(L, 0, 2);
    lgd_setnum(L, "loss", lv);
    if (!isnan(acc))
        lgd_setnum(L, "accuracy", acc);
    return 1;
}

static const char *role_name(gd_param_role r)
{
    static const char *const names[] = { "other", "weight", "bias", "scale", "shift",
                                          "embedding" };
    return r >= GD_ROLE_WEIGHT && r <= GD_ROLE_EMBEDDING ? names[r] : names[0];
}

/* model:params() -> { { name = "dense1.weight", layer =, role =, value =, grad = }, ... } */
static int model_params(lua_State *L)
{
    lgd_model *md = lgd_checkmodel(L, 1);
    lua_newtable(L);
    int k = 0, nl = gd_model_layer_count(md->m);
    for (int i = 0; i < nl; i++) {
        gd_model_layer *l = gd_model_layer_at(md->m, i);
        for (int p = 0; p < gd_model_layer_nparams(l); p++) {
            const gd_model_param *mp = gd_model_layer_param(l, p);
            lua_createtable(L, 0, 5);
            lua_pushfstring(L, "%s.%s", gd_model_layer_name(l), mp->info->name);
            lua_setfield(L, -2, "name");
            lgd_setstr(L, "layer", gd_model_layer_name(l));
            lgd_setstr(L, "role", role_name(mp->info->role));
            lgd_tensor_view(L, mp->value, &mp->info->shape, 1);
            lua_setfield(L, -2, "value");
            lgd_tensor_view(L, mp->grad, &mp->info->shape, 1);
            lua_setfield(L, -2, "grad");
            lua_rawseti(L, -2, ++k);
        }
    }
    return 1;
}

static int model_buffers(lua_State *L)
{
    lgd_model *md = lgd_checkmodel(L, 1);
    lua_newtable(L);
    int k = 0, nl = gd_model_layer_count(md->m);
    for (int i = 0; i < nl; i++) {
        gd_model_layer *l = gd_model_layer_at(md->m, i);
        for (int b = 0; b < gd_model_layer_nbuffers(l); b++) {
            lua_createtable(L, 0, 3);
            lua_pushfstring(L, "%s.%s", gd_model_layer_name(l), gd_model_layer_buffer(l, b)->info->name);
            lua_setfield(L, -2, "name");
            lgd_setstr(L, "layer", gd_model_layer_name(l));
            gd_shape s = gd_shape_1(gd_model_layer_buffer(l, b)->numel);
            lgd_tensor_view(L, gd_model_layer_buffer(l, b)->value, &s, 1);
            lua_setfield(L, -2, "value");
            lua_rawseti(L, -2, ++k);
        }
    }
    return 1;
}

/* model:flat_params() / model:flat_grads(): every parameter (gradient) as
 * one live [n] view of the arena, in params() order. */
static int model_flat(lua_State *L, float *(*arena)(gd_model *))
{
    lgd_model *md = lgd_checkmodel(L, 1);
    gd_shape s = gd_shape_1(gd_model_param_count(md->m));
    if (s.dim[0] < 1)
        return lgd_error(L, "model: it has no parameters");
    lgd_tensor_view(L, arena(md->m), &s, 1);
    return 1;
}

static int model_flat_params(lua_State *L) { return model_flat(L, gd_model_params); }
static int model_flat_grads(lua_State *L) { return model_flat(L, gd_model_grads); }

static int model_zero_grad(lua_State *L)
{
    gd_model_zero_grad(lgd_checkmodel(L, 1)->m);
    return 0;
}

/* model:reset(seed): initial weights again, as gd_model_new made them. */
static int model_reset(lua_State *L)
{
    lgd_model *md = lgd_checkmodel(L, 1);
    lua_Integer seed = luaL_optinteger(L, 2, 1);
    gd_error err;
    if (gd_model_init(md->m, (uint64_t)seed, &err) != GD_OK)
        return lgd_raise(L, &err);
    return 0;
}

/* model:save(path): layer specs, parameters and buffers, in one file
 * (format: core/model_io.c). Raises on failure, leaving no partial file. */
static int model_save(lua_State *L)
{
    lgd_model *md = lgd_checkmodel(L, 1);
    const char *path = lgd_checkpath(L, 2, "model:save");
    gd_error err;
    if (gd_model_save(md->m, path, &err) != GD_OK)
        return lgd_raise(L, &err);
    return 0;
}

/* An empty model userdata: the caller stores its gd_model right after.
 * The box first, so a model is owned (and freed by __gc) the moment it
 * exists. */
lgd_model *lgd_new_model_box(lua_State *L)
{
    lgd_model *md = lua_newuserdatauv(L, sizeof *md, 4);
    md->m = NULL;
    luaL_setmetatable(L, LGD_MODEL);
    lgd_push_registry(L);
    lua_setiuservalue(L, -2, 1);
    return md;
}

/* gd.load_model(path) -> a model, as run.model. evaluate uses the loss
 * saved with it (files written before the loss was saved have none: then
 * the usual one for the data), unless given { loss = }. It has no
 * sequential spec (user value 4). */
static int load_model(lua_State *L)
{
    const char *path = lgd_checkpath(L, 1, "gd.load_model");
    lgd_model *md = lgd_new_model_box(L);
    gd_error err;
    if (!(md->m = gd_model_load(lgd_registry(L), path, &err)))
        return lgd_raise(L, &err);
    return 1;
}

static int summary_tostring(lua_State *L)
{
    /* Lines are collected in a table and concatenated at the end: a
     * luaL_Buffer must not share the stack with the values read here. */
    lua_settop(L, 1);
    lua_getfield(L, 1, "layers");                  /* 2 */
    lua_Integer n = luaL_len(L, 2);
    lua_createtable(L, (int)n + 2, 0);             /* 3: the lines */
    int wide = 14;   /* the name column: the longest path, indented by depth */
    for (lua_Integer i = 1; i <= n; i++) {
        lua_geti(L, 2, i);
        lua_getfield(L, -1, "name");
        lua_getfield(L, -2, "depth");
        int w = (int)lua_rawlen(L, -2) + 2 * (int)lua_tointeger(L, -1);
        wide = w > wide ? w : wide;
        lua_pop(L, 3);
    }
    char line[512];
    snprintf(line, sizeof line, "%-*s %-14s %-14s %12s", wide, "layer", "input", "output",
             "params");
    lua_pushstring(L, line);
    lua_rawseti(L, 3, 1);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_geti(L, 2, i);
        lua_getfield(L, -1, "name");
        lua_getfield(L, -2, "input_text");
        lua_getfield(L, -3, "output_text");
        lua_getfield(L, -4, "params");
        lua_getfield(L, -5, "depth");
        int depth = (int)lua_tointeger(L, -1);
        snprintf(line, sizeof line, "%*s%-*s %-14s %-14s %12lld", 2 * depth, "",
                 wide - 2 * depth, lua_tostring(L, -5), lua_tostring(L, -4), lua_tostring(L, -3),
                 (long long)lua_tointeger(L, -2));
        lua_pop(L, 6);
        lua_pushstring(L, line);
        lua_rawseti(L, 3, i + 1);
    }
    lua_getfield(L, 1, "params");
    snprintf(line, sizeof line, "total parameters: %lld", (long long)lua_tointeger(L, -1));
    lua_pop(L, 1);
    lua_pushstring(L, line);
    lua_rawseti(L, 3, n + 2);
    lua_getglobal(L, "table");
    if (lua_istable(L, -1) && lua_getfield(L, -1, "concat") == LUA_TFUNCTION) {
        lua_pushvalue(L, 3);
        lua_pushliteral(L, "\n");
        lua_call(L, 2, 1);
        return 1;
    }
    /* no table library: the lines one by one */
    for (lua_Integer i = 1; i <= n + 2; i++) {
        luaL_checkstack(L, 2, "summary");
        lua_rawgeti(L, 3, i);
        if (i < n + 2)
            lua_pushliteral(L, "\n");
    }
    lua_concat(L, (int)(2 * (n + 2) - 1));
    return 1;
}

static const char *node_kind_name(gd_node_kind k)
{
    return k == GD_NODE_RESIDUAL ? "residual" : k == GD_NODE_SEQUENTIAL ? "sequential" : "layer";
}

/* model:summary() -> { layers = { {name, kind, component, spec, input, output, params,
 * depth}, ... }, params = total }, printable. A row per layer and per block
 * (before its layers, kind "residual" or "sequential"), in the order of
 * the parameters; depth counts the blocks around it. */
static int model_summary(lua_State *L)
{
    lgd_model *md = lgd_checkmodel(L, 1);
    gd_model *m = md->m;
    lua_createtable(L, 0, 2);
    lua_newtable(L);
    int row = 0;
    for (int i = 1; i < gd_model_node_count(m); i++) {
        if (gd_model_node_is_body(m, i))
            continue;   /* a residual's body: its rows follow the block's */
        const char *name = gd_model_node_name(m, i);
        int depth = 0;
        for (const char *c = name; *c; c++)
            depth += *c == '.';
        char buf[1024];
        lua_createtable(L, 0, 10);
        lgd_setstr(L, "name", name);
        lgd_setstr(L, "kind", node_kind_name(gd_model_node_kind(m, i)));
        int li = gd_model_node_layer(m, i);
        if (li >= 0) {
            gd_model_layer *l = gd_model_layer_at(m, li);
            lgd_setstr(L, "component", gd_model_layer_spec(l)->component->name);
            lgd_setstr(L, "spec", gd_spec_describe(gd_model_layer_spec(l), buf, sizeof buf));
        } else {
            lgd_setstr(L, "component", node_kind_name(gd_model_node_kind(m, i)));
            lgd_setstr(L, "spec", node_kind_name(gd_model_node_kind(m, i)));
        }
        lgd_setint(L, "depth", depth);
        lgd_push_shape(L, gd_model_node_input(m, i));
        lua_setfield(L, -2, "input");
        lgd_push_shape(L, gd_model_node_output(m, i));
        lua_setfield(L, -2, "output");
        lgd_setstr(L, "input_text", lgd_shape_str(gd_model_node_input(m, i), buf, sizeof buf));
        lgd_setstr(L, "output_text", lgd_shape_str(gd_model_node_output(m, i), buf, sizeof buf));
        lgd_setint(L, "params", (lua_Integer)gd_model_node_param_count(m, i));
        lua_rawseti(L, -2, ++row);
    }
    lua_setfield(L, -2, "layers");
    lgd_setint(L, "params", (lua_Integer)gd_model_param_count(m));
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, summary_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_setmetatable(L, -2);
    return 1;
}

static int model_tostring(lua_State *L)
{
    lgd_model *md = lgd_checkmodel(L, 1);
    char a[64], b[64];
    lua_pushfstring(L, "model: %d layers, %s -> %s, %d parameters",
                    gd_model_layer_count(md->m),
                    lgd_shape_str(gd_model_input_shape(md->m), a, sizeof a),
                    lgd_shape_str(gd_model_output_shape(md->m), b, sizeof b),
                    (int)gd_model_param_count(md->m));
    return 1;
}

void lgd_open_model(lua_State *L)
{
    static const luaL_Reg seq_meta[] = {
        { "__index", seq_index },
        { "__tostring", seq_tostring },
        { "__len", seq_len },
        { NULL, NULL },
    };
    luaL_newmetatable(L, LGD_SEQUENTIAL);
    luaL_setfuncs(L, seq_meta, 0);
    lua_pop(L, 1);
    static const luaL_Reg model_meta[] = {
        { "forward", model_forward },
        { "backward", model_backward },
        { "predict", model_predict },
        { "evaluate", model_evaluate },
        { "params", model_params },
        { "buffers", model_buffers },
        { "flat_params", model_flat_params },
        { "flat_grads", model_flat_grads },
        { "zero_grad", model_zero_grad },
        { "reset", model_reset },
        { "summary", model_summary },
        { "save", model_save },
        { "generate", lgd_model_generate },
        { "__gc", model_gc },
        { "__tostring", model_tostring },
        { NULL, NULL },
    };
    /* evaluate finds gd.loss through the module table (upvalue 1). */
    lua_pushvalue(L, -1);
    lgd_newclass(L, LGD_MODEL, model_meta, 1);
    lua_pop(L, 1);
    lua_pushcfunction(L, sequential);
    lua_setfield(L, -2, "sequential");
    lua_pushcfunction(L, load_model);
    lua_setfield(L, -2, "load_model");
}
