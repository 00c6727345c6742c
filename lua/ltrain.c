/*
 * lua/ltrain.c: gd.train, a run of the C trainer (core/train.h) driven
 * epoch by epoch from Lua.
 *
 * The steps run in C: Lua is called only between epochs (validation,
 * progress line, on_epoch, early stopping) and, when the user asks for
 * on_step, after each step. Divergence is a result ("diverged"), not an
 * error; a bad configuration is an error raised before anything runs.
 *
 * The trainer lives in a userdata with __gc, whose user values hold the
 * model and every spec it borrows, so a callback raising mid-run leaks
 * nothing and frees the trainer before its model.
 *
 * Between steps the loop also writes checkpoints when they are due and
 * stops after a pending SIGINT/SIGTERM; those, and starting from a loaded
 * checkpoint (gd.resume, gd.fork), are in ltrain_checkpoint.c. A step that
 * ends an epoch defers both to after the epoch's end (validation, history),
 * so a checkpoint never holds a finished epoch without its record.
 */
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

#include "ltrain.h"

typedef struct ltrainer {
    gd_trainer *tr;
} ltrainer;

static int trainer_gc(lua_State *L)
{
    ltrainer *t = luaL_checkudata(L, 1, LGD_TRAINER);
    gd_trainer_free(t->tr);
    t->tr = NULL;
    return 0;
}

double lgd_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The user's options (checked against lapi.c's table, which has no
 * internal keys) and, from gd.resume / gd.fork only (lua/glue.lua passes
 * no second argument from users), { resume = checkpoint, fork =, path =,
 * epochs_given = }: merged into a copy as _resume, _fork, _path and
 * _epochs_given, which the rest of the call reads. */
static void read_options(lua_State *L)
{
    lgd_check_keys(L, 1, "gd.train", lgd_train_keys);
    if (lua_istable(L, 2)) {
        static const char *const internal[] = { "resume", "fork", "path", "epochs_given", NULL };
        lua_newtable(L);
        lua_pushnil(L);
        while (lua_next(L, 1)) {
            lua_pushvalue(L, -2);
            lua_insert(L, -2);
            lua_rawset(L, 3);
        }
        for (int i = 0; internal[i]; i++) {
            lua_pushfstring(L, "_%s", internal[i]);
            lua_getfield(L, 2, internal[i]);
            lua_rawset(L, 3);
        }
        lua_replace(L, 1);
    }
    lua_settop(L, 1);
}

/* diverge = { factor = f } (default 1e3) | false (0: off) | true. */
static double diverge_factor(lua_State *L, const char *what)
{
    int t = lua_getfield(L, CFG, "diverge");
    double f = 1e3;
    if (t == LUA_TBOOLEAN) {
        f = lua_toboolean(L, -1) ? f : 0;
    } else if (t == LUA_TTABLE && !lgd_testspec(L, -1)) {
        lgd_check_keys(L, -1, "gd.train: diverge", lgd_diverge_keys);
        if (lua_getfield(L, -1, "factor") != LUA_TNIL) {
            f = lua_tonumber(L, -1);
            if (lua_type(L, -1) != LUA_TNUMBER || !(f > 1) || !isfinite(f))
                lgd_error(L, "%s: diverge.factor must be a number > 1, got %s", what,
                          luaL_tolstring(L, -1, NULL));
        }
        lua_pop(L, 1);
    } else if (t != LUA_TNIL) {
        lgd_error(L, "%s: 'diverge' must be { factor = f } or false, got %s", what,
                  luaL_typename(L, -1));
    }
    lua_pop(L, 1);
    return f;
}

/* An integer field >= min, or def when absent. */
int64_t lgd_field_int(lua_State *L, int idx, const char *what, const char *key, int64_t def,
                         int64_t min)
{
    if (lua_getfield(L, idx, key) == LUA_TNIL) {
        lua_pop(L, 1);
        return def;
    }
    int isint;
    lua_Integer v = lua_tointegerx(L, -1, &isint);
    if (!isint || v < min)
        lgd_error(L, "%s: '%s' must be an integer >= %d, got %s", what, key, (int)min,
                   luaL_tolstring(L, -1, NULL));
    lua_pop(L, 1);
    return (int64_t)v;
}

static void push_divergence(lua_State *L, const gd_divergence *d)
{
    lua_createtable(L, 0, 5);
    lgd_setint(L, "step", (lua_Integer)d->step);
    lgd_setint(L, "epoch", (lua_Integer)d->epoch);
    lgd_setstr(L, "layer", d->layer >= 0 ? d->layer_name : "loss");
    lgd_setstr(L, "what", d->what);
    lgd_setstr(L, "reason", d->reason);
}

/* Set k = v unless v is NaN (not applicable). */
void lgd_setnum_finite(lua_State *L, const char *k, double v)
{
    if (!isnan(v))
        lgd_setnum(L, k, v);
}

static void push_steps(lua_State *L, gd_trainer *tr, gd_model *m)
{
    int64_t n = gd_trainer_record_count(tr);
    int nl = gd_model_layer_count(m);
    lua_createtable(L, (int)n, 0);
    for (int64_t i = 0; i < n; i++) {
        const gd_step_record *r = gd_trainer_record(tr, i);
        lua_createtable(L, 0, 10);
        lgd_setint(L, "step", (lua_Integer)r->step);
        lgd_setint(L, "epoch", (lua_Integer)r->epoch);
        lgd_setnum(L, "loss", r->loss);
        lgd_setnum(L, "penalty", r->penalty);
        lgd_setnum(L, "lr", r->lr);
        lgd_setnum(L, "grad_norm", r->grad_norm);
        lgd_setbool(L, "clipped", r->clipped);
        lgd_setnum_finite(L, "effective_lr", r->effective_lr);
        lua_createtable(L, nl, 0);
        for (int j = 0; j < nl; j++) {
            const gd_layer_telemetry *t = &r->layers[j];
            lua_createtable(L, 0, 8);
            lgd_setstr(L, "name", gd_model_layer_at(m, j)->name);
            lgd_setnum_finite(L, "grad_norm", t->grad_norm);
            lgd_setnum_finite(L, "param_norm", t->param_norm);
            lgd_setnum_finite(L, "update_ratio", t->update_ratio);
            lgd_setnum(L, "act_mean", t->act_mean);
            lgd_setnum(L, "act_std", t->act_std);
            lgd_setnum_finite(L, "saturated", t->saturated);
            lgd_setnum_finite(L, "dead", t->dead);
            lua_rawseti(L, -2, j + 1);
        }
        lua_setfield(L, -2, "layers");
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
}


static int scope_close(lua_State *L)
{
    (void)L;
    lgd_training_leave();
    return 0;
}

/* Signals mean "stop after this step" while the run is inside this call,
 * whatever way it leaves (a callback may raise). */
static void enter_training_scope(lua_State *L)
{
    lua_newuserdatauv(L, 1, 0);
    if (luaL_newmetatable(L, "gradus.training_scope")) {
        lua_pushcfunction(L, scope_close);
        lua_setfield(L, -2, "__close");
    }
    lua_setmetatable(L, -2);
    lgd_training_enter();
    lua_toclose(L, -1);
}

static void draw_bar(const run *r, int64_t e, int64_t k, double t0, double t, int64_t first)
{
    int64_t per_epoch = gd_trainer_steps_per_epoch(r->tr);
    int64_t seen = k * r->batch < r->n ? k * r->batch : r->n;
    double rate = (double)((k - first) * r->batch) / (t - t0 + 1e-9);
    double total = (double)(r->cfg.epochs - e + 1) * (double)r->n - (double)seen;
    int width = 24, fill = (int)(width * k / per_epoch);
    char barbuf[32];
    for (int i = 0; i < width; i++)
        barbuf[i] = i < fill ? '=' : (i == fill ? '>' : ' ');
    barbuf[width] = 0;
    fprintf(stderr, "\r\033[Kepoch %lld/%lld [%s] %lld/%lld  loss %.4f  %.1fk samples/s"
            "  %.0fs elapsed, ~%.0fs left", (long long)e, (long long)r->cfg.epochs, barbuf,
            (long long)k, (long long)per_epoch, gd_trainer_epoch_loss(r->tr), rate / 1e3,
            t - r->t_run, total > 0 && rate > 0 ? total / rate : 0);
    fflush(stderr);
}

static void print_epoch_line(const run *r, int64_t e, double mean_loss, double vloss,
                             double vacc, double lr, double secs)
{
    char line[256];
    int w = snprintf(line, sizeof line, "epoch %*lld/%lld  train_loss %.4f",
                     (int)snprintf(NULL, 0, "%lld", (long long)r->cfg.epochs), (long long)e,
                     (long long)r->cfg.epochs, mean_loss);
    if (r->val && w > 0 && (size_t)w < sizeof line)
        w += snprintf(line + w, sizeof line - (size_t)w, "  val_loss %.4f", vloss);
    if (r->val && !isnan(vacc) && w > 0 && (size_t)w < sizeof line)
        w += snprintf(line + w, sizeof line - (size_t)w, "  val_acc %.4f", vacc);
    if (w > 0 && (size_t)w < sizeof line)
        snprintf(line + w, sizeof line - (size_t)w, "  lr %.3g  %.2fs", lr, secs);
    fprintf(stderr, "%s%s\n", r->bar ? "\r\033[K" : "", line);
}

void lgd_push_epoch(lua_State *L, const gd_epoch_record *e)
{
    lua_createtable(L, 0, 6);
    lgd_setint(L, "epoch", (lua_Integer)e->epoch);
    lgd_setnum(L, "train_loss", e->train_loss);
    lgd_setnum_finite(L, "val_loss", e->val_loss);
    lgd_setnum_finite(L, "val_accuracy", e->val_accuracy);
    lgd_setnum(L, "lr", e->lr);
    lgd_setnum(L, "seconds", e->seconds);
}

/* One epoch's end: validation, the history record, the progress line,
 * on_epoch and early stopping. Returns 0, or a failure message pushed. */
static const char *end_epoch(lua_State *L, run *r, int64_t e, double t0)
{
    gd_error err;
    double lr = gd_trainer_lr_at(r->tr, gd_trainer_steps_done(r->tr) - 1, e - 1);
    double vloss = NAN, vacc = NAN, mean_loss = gd_trainer_epoch_loss(r->tr);
    if (r->val && gd_model_evaluate(r->m, r->cfg.loss, r->val, r->batch, &vloss, &vacc, &err)
                      != GD_OK)
        return lua_pushstring(L, err.msg);
    double secs = lgd_now() - t0;
    gd_epoch_record rec = { e, mean_loss, vloss, vacc, lr, secs };
    lgd_push_epoch(L, &rec);
    lua_pushvalue(L, -1);
    lua_rawseti(L, EPOCHS, (lua_Integer)e);
    if (r->progress)
        print_epoch_line(r, e, mean_loss, vloss, vacc, lr, secs);
    if (r->has_on_epoch) {
        lua_getfield(L, CFG, "on_epoch");
        lua_pushvalue(L, -2);
        lua_call(L, 1, 1);
        if (lua_isboolean(L, -1) && !lua_toboolean(L, -1))
            r->stopped = 1;   /* on_epoch returned false: stop here */
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    if (r->patience > 0) {
        if (vloss < r->best - r->min_delta) {
            r->best = vloss;
            r->best_epoch = e;
            r->wait = 0;
            if (r->snap)
                gd_model_copy_state(r->m, r->snap, true);
        } else if (++r->wait >= r->patience) {
            r->stopped = 1;
            if (r->progress)
                fprintf(stderr, "early stopping after epoch %lld: no validation loss "
                        "improvement for %lld epochs (best %.4f at epoch %lld)\n",
                        (long long)e, (long long)r->patience, r->best,
                        (long long)r->best_epoch);
        }
    }
    return NULL;
}

static int train(lua_State *L)
{
    const char *what = "gd.train";
    if (!lua_istable(L, 1))
        return lgd_error(L, "gd.train: expects a table of options (gd.train{ model = ..., "
                         "... }), got %s", luaL_typename(L, 1));
    lua_settop(L, 2);
    read_options(L);
    run R, *r = &R;
    memset(r, 0, sizeof R);
    r->best = INFINITY;
    r->last_ckpt_step = -1;
    gd_checkpoint *ck = NULL;
    int fork_mode = 0;
    if (lua_getfield(L, CFG, "_resume") != LUA_TNIL) {
        ck = lgd_testcheckpoint(L, -1);
        lua_getfield(L, CFG, "_fork");
        fork_mode = lua_toboolean(L, -1);
        if (!ck)
            return lgd_error(L, "%s: not a checkpoint to resume (use gd.resume)", what);
    }
    lua_settop(L, CFG);

    /* ---- configuration: every check before anything is built ---- */
    gd_train_config *cfg = &r->cfg;
    cfg->loss = lgd_field_spec(L, CFG, what, "loss", GD_KIND_LOSS, 1);
    cfg->optimizer = lgd_field_spec(L, CFG, what, "optimizer", GD_KIND_OPTIMIZER, 1);
    cfg->schedule = lgd_field_spec(L, CFG, what, "schedule", GD_KIND_SCHEDULER, 0);
    lua_getfield(L, CFG, "data");
    if (lua_isnil(L, -1))
        return lgd_error(L, "%s: 'data' is required (a data set, e.g. gd.data.fashion_mnist{})",
                          what);
    if (!(cfg->train = lgd_testdataset(L, -1))) {
        char got[160];
        return lgd_error(L, "%s: 'data' must be a data set, got %s", what,
                          lgd_describe_value(L, -1, got, sizeof got));
    }
    lua_getfield(L, CFG, "validation");
    if (!lua_isnil(L, -1) && !(r->val = lgd_testdataset(L, -1))) {
        char got[160];
        return lgd_error(L, "%s: 'validation' must be a data set, got %s", what,
                          lgd_describe_value(L, -1, got, sizeof got));
    }
    lua_settop(L, CFG);
    cfg->epochs = lgd_field_int(L, CFG, what, "epochs", 1, 1);
    cfg->seed = (uint64_t)lgd_field_int(L, CFG, what, "seed", 1, 0);
    cfg->diverge_factor = diverge_factor(L, what);
    lua_getfield(L, CFG, "batch");
    if (lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), "full") == 0) {
        cfg->batch = 0;
        lua_pop(L, 1);
    } else if (lua_type(L, -1) == LUA_TSTRING) {
        return lgd_error(L, "%s: 'batch' must be a number >= 1 or \"full\", got \"%s\"", what,
                          lua_tostring(L, -1));
    } else {
        lua_pop(L, 1);
        cfg->batch = lgd_field_int(L, CFG, what, "batch", 32, 1);
    }
    lua_getfield(L, CFG, "drop_last");
    if (!lua_isnil(L, -1) && !lua_isboolean(L, -1))
        return lgd_error(L, "%s: 'drop_last' must be true or false, got %s", what,
                          luaL_typename(L, -1));
    cfg->drop_last = lua_toboolean(L, -1);
    lua_pop(L, 1);
    /* regularizers: a list of gd.reg specs */
    const gd_spec *regs[64];
    lua_getfield(L, CFG, "regularizers");
    if (!lua_isnil(L, -1)) {
        if (!lua_istable(L, -1) || lgd_testspec(L, -1))
            return lgd_error(L, "%s: 'regularizers' must be a list of regularizer specs "
                              "({ gd.reg.l2{ lambda = 1e-4 } })", what);
        lua_Integer n = luaL_len(L, -1);
        if (n > 64)
            return lgd_error(L, "%s: at most 64 regularizers", what);
        for (lua_Integer i = 1; i <= n; i++) {
            lua_geti(L, -1, i);
            const gd_spec *s = lgd_testspec(L, -1);
            if (!s || s->component->kind != GD_KIND_REGULARIZER) {
                char got[160];
                return lgd_error(L, "%s: regularizers[%d] must be a regularizer spec, got %s",
                                  what, (int)i, lgd_describe_value(L, -1, got, sizeof got));
            }
            regs[cfg->nregularizers++] = s;
            lua_pop(L, 1);
        }
    }
    cfg->regularizers = regs;
    lua_settop(L, CFG);
    /* clip = { norm = c } or { value = c } */
    if (lua_getfield(L, CFG, "clip") != LUA_TNIL) {
        int ci = lua_gettop(L);
        if (!lua_istable(L, ci) || lgd_testspec(L, ci))
            return lgd_error(L, "%s: 'clip' must be { norm = c } or { value = c }", what);
        lua_getfield(L, ci, "norm");
        lua_getfield(L, ci, "value");
        int has_norm = !lua_isnil(L, -2), has_value = !lua_isnil(L, -1);
        if (has_norm == has_value)
            return lgd_error(L, "%s: 'clip' takes one of { norm = c } or { value = c }", what);
        int vi = has_norm ? -2 : -1;
        cfg->clip = has_norm ? GD_CLIP_NORM : GD_CLIP_VALUE;
        cfg->clip_value = lua_tonumber(L, vi);
        if (lua_type(L, vi) != LUA_TNUMBER || !(cfg->clip_value > 0) ||
            !isfinite(cfg->clip_value))
            return lgd_error(L, "%s: clip.%s must be a number > 0", what,
                              has_norm ? "norm" : "value");
    }
    lua_settop(L, CFG);
    if (lua_getfield(L, CFG, "monitor") != LUA_TNIL) {
        luaL_argcheck(L, lua_istable(L, -1), 1, "gd.train: 'monitor' must be { every = n }");
        cfg->monitor_every = lgd_field_int(L, CFG + 1, "gd.train: monitor", "every", 100, 1);
    }
    lua_settop(L, CFG);
    if (lua_getfield(L, CFG, "early_stopping") != LUA_TNIL) {
        if (!lua_istable(L, -1))
            return lgd_error(L, "%s: 'early_stopping' must be { patience = n, restore_best = "
                              "bool }", what);
        if (!r->val)
            return lgd_error(L, "%s: early_stopping watches the validation loss: give "
                              "'validation' too", what);
        r->patience = lgd_field_int(L, CFG + 1, "gd.train: early_stopping", "patience", 3, 1);
        lua_getfield(L, CFG + 1, "restore_best");
        r->restore_best = lua_toboolean(L, -1);
        lua_getfield(L, CFG + 1, "min_delta");
        r->min_delta = luaL_optnumber(L, -1, 0);
    }
    lua_settop(L, CFG);
    lua_getfield(L, CFG, "on_epoch");
    lua_getfield(L, CFG, "on_step");
    for (int i = -2; i <= -1; i++)
        if (!lua_isnil(L, i) && !lua_isfunction(L, i))
            return lgd_error(L, "%s: '%s' must be a function", what,
                              i == -2 ? "on_epoch" : "on_step");
    r->has_on_epoch = !lua_isnil(L, -2);
    r->has_on_step = !lua_isnil(L, -1);
    lua_getfield(L, CFG, "progress");
    r->progress = lua_isnil(L, -1) || lua_toboolean(L, -1);
    r->bar = isatty(STDERR_FILENO);   /* a live bar on terminals, lines otherwise */
    lua_settop(L, CFG);
    lgd_run_distributed(L, r);

    /* ---- the model: a sequential spec is built fresh with the seed ---- */
    lua_getfield(L, CFG, "model");
    if (lua_isnil(L, -1))
        return lgd_error(L, "%s: 'model' is required (gd.sequential{ ... })", what);
    if (lgd_is_sequential(L, -1)) {
        if (ck)
            return lgd_error(L, "%s: a resumed run keeps its model", what);
        lgd_model_build(L, CFG + 1, gd_dataset_sample_shape(cfg->train), cfg->seed);
        lua_replace(L, MODEL);
        lua_settop(L, MODEL);
    } else if (!luaL_testudata(L, -1, LGD_MODEL)) {
        char got[160];
        return lgd_error(L, "%s: 'model' must be gd.sequential{ ... } or a model, got %s", what,
                          lgd_describe_value(L, -1, got, sizeof got));
    }
    lgd_model *md = lgd_checkmodel(L, MODEL);
    cfg->model = r->m = md->m;
    if (ck)
        cfg->horizon_epochs = ck->state.horizon_epochs;

    /* ---- the trainer ---- */
    ltrainer *t = lua_newuserdatauv(L, sizeof *t, 0);   /* TRAINER */
    t->tr = NULL;
    luaL_setmetatable(L, LGD_TRAINER);
    gd_error err;
    if (!(t->tr = gd_trainer_new(cfg, &err)))
        return lgd_raise(L, &err);
    gd_trainer *tr = r->tr = t->tr;
    lua_getfield(L, CFG, "loss");
    lgd_model_set_loss(L, MODEL, -1);
    lua_pop(L, 1);
    lgd_model_set_labels(L, MODEL, cfg->train);
    lua_createtable(L, (int)cfg->epochs, 0);               /* EPOCHS */
    /* SPECS: what the trainer borrows, anchored here rather than in the
     * caller's table, which a callback could change mid-run. */
    static const char *const borrowed[] = { "loss", "optimizer", "schedule", "data",
                                            "validation", "regularizers", NULL };
    lua_newtable(L);
    for (int i = 0; borrowed[i]; i++) {
        lua_getfield(L, CFG, borrowed[i]);
        if (lua_istable(L, -1)) {             /* the regularizers list: copy it */
            lua_Integer nr = luaL_len(L, -1);
            lua_createtable(L, (int)nr, 0);
            for (lua_Integer k = 1; k <= nr; k++) {
                lua_geti(L, -2, k);
                lua_rawseti(L, -2, k);
            }
            lua_replace(L, -2);
        }
        lua_setfield(L, -2, borrowed[i]);
    }
    if (r->restore_best)                                    /* SNAP */
        r->snap = lua_newuserdatauv(L, (size_t)(gd_model_state_size(r->m) + 1) * sizeof(float),
                                    0);
    else
        lua_pushnil(L);
    lua_newtable(L);                                        /* ANCHOR */
    r->n = gd_dataset_size(cfg->train);
    r->batch = cfg->batch == 0 || cfg->batch > r->n ? r->n : cfg->batch;

    /* ---- checkpoints and resuming ---- */
    lgd_run_checkpoints(L, r);
    lgd_run_distributed_checkpoints(r);
    if (ck)
        lgd_run_restore(L, r, ck, fork_mode);
    lua_settop(L, ANCHOR);
    enter_training_scope(L);                                /* SCOPE */
    lgd_run_claim(L, r);

    /* ---- the run ---- */
    const char *status = "ok";
    const char *failure = NULL;
    r->t_run = lgd_now();
    int64_t first_step = gd_trainer_steps_done(tr);
    for (int64_t e = gd_trainer_epochs_done(tr) + 1; e <= cfg->epochs && !r->stopped; e++) {
        double t0 = lgd_now();
        int64_t k = gd_trainer_steps_done(tr) - (e - 1) * gd_trainer_steps_per_epoch(tr);
        int64_t first = k;
        double last_draw = 0;
        gd_step_result res = { 0 };
        gd_status st = GD_OK;
        int show_bar = r->progress && r->bar && !r->has_on_step;
        do {
            if ((st = gd_trainer_step(tr, &res, &err)) != GD_OK)
                break;
            k++;
            if (show_bar) {
                double tn = lgd_now();
                if (tn - last_draw >= 0.1 || res.epoch_done) {
                    last_draw = tn;
                    draw_bar(r, e, k, t0, tn, first);
                }
            }
            if (r->has_on_step) {
                lua_getfield(L, CFG, "on_step");
                lua_createtable(L, 0, 4);
                lgd_setint(L, "step", (lua_Integer)res.step);
                lgd_setint(L, "epoch", (lua_Integer)res.epoch);
                lgd_setnum(L, "loss", res.loss);
                lgd_setnum(L, "lr", res.lr);
                lua_call(L, 1, 0);
            }
            if (res.epoch_done)
                break;   /* checkpoints and signals after the epoch's end */
            if (r->ckpt && !r->rs.ckpt_every_epochs &&
                gd_trainer_steps_done(tr) % r->rs.ckpt_every == 0 &&
                (st = lgd_run_save_checkpoint(L, r, "periodic", &err)) != GD_OK)
                break;
            if (lgd_interrupted()) {
                if (show_bar)
                    fputs("\r\033[K", stderr);
                return lgd_run_interrupt(L, r);
            }
        } while (!res.epoch_done);
        if (show_bar && st != GD_OK)
            fputs("\r\033[K", stderr);
        if (st == GD_ENUMERIC) {
            status = "diverged";
            break;
        }
        if (st != GD_OK) {
            status = "failed";
            failure = lua_pushstring(L, err.msg);
            break;
        }
        if ((failure = end_epoch(L, r, e, t0))) {
            status = "failed";
            break;
        }
        int64_t done = gd_trainer_steps_done(tr);
        int due = r->ckpt && (r->rs.ckpt_every_epochs ? e % r->rs.ckpt_every == 0
                                                      : done % r->rs.ckpt_every == 0);
        if (due && e < cfg->epochs && !r->stopped &&
            lgd_run_save_checkpoint(L, r, "periodic", &err) != GD_OK) {
            status = "failed";
            failure = lua_pushstring(L, err.msg);
            break;
        }
        if (lgd_interrupted() && e < cfg->epochs && !r->stopped)
            return lgd_run_interrupt(L, r);
    }
    /* The last checkpoint holds the run as it ends (the weights of its last
     * step even with restore_best, so that resuming with more epochs
     * continues from there). Not after a divergence: the previous one is
     * the last good state. Nor when this call took no step (a finished
     * run resumed): the file already holds it. */
    int64_t done = gd_trainer_steps_done(tr);
    if (r->ckpt && strcmp(status, "ok") == 0 && done > first_step && r->last_ckpt_step != done &&
        lgd_run_save_checkpoint(L, r, "final", &err) != GD_OK) {
        status = "failed";
        failure = lua_pushstring(L, err.msg);
    }
    int restored = 0;
    if (r->snap && r->best_epoch > 0 && r->best_epoch < gd_trainer_epochs_done(tr) &&
        strcmp(status, "ok") == 0) {
        gd_model_copy_state(r->m, r->snap, false);
        restored = 1;
    }

    /* ---- the result ---- */
    lua_createtable(L, 0, 12);
    lua_pushvalue(L, MODEL);
    lua_setfield(L, -2, "model");
    lgd_setstr(L, "status", status);
    lgd_setnum(L, "seconds", lgd_now() - r->t_run);
    lgd_setint(L, "steps", (lua_Integer)gd_trainer_steps_done(tr));
    lgd_setint(L, "epochs", (lua_Integer)gd_trainer_epochs_done(tr));
    lgd_setint(L, "steps_per_epoch", (lua_Integer)gd_trainer_steps_per_epoch(tr));
    if (failure)
        lgd_setstr(L, "error", failure);
    if (r->ckpt && r->last_ckpt_step >= 0)
        lgd_setstr(L, "checkpoint", r->rs.ckpt_path);
    if (ck) {   /* where this run took over (plots mark a fork there) */
        lua_createtable(L, 0, 4);
        lua_getfield(L, CFG, "_path");
        lua_setfield(L, -2, "path");
        lgd_setint(L, "step", (lua_Integer)ck->state.step);
        lgd_setnum(L, "epoch", (double)ck->state.epoch +
                                   (double)ck->state.pos / (double)gd_dataset_size(cfg->train));
        lgd_setbool(L, "fork", fork_mode);
        lua_setfield(L, -2, "resumed_from");
    }
    const gd_divergence *d = gd_trainer_divergence(tr);
    if (d) {
        push_divergence(L, d);
        lua_setfield(L, -2, "diverged");
        int where = d->layer >= 0 || strcmp(d->reason, "not finite") == 0;
        if (r->progress)   /* "loss exploded: ..." says where itself */
            fprintf(stderr, "diverged at step %lld (epoch %lld)%s%s: %s\n", (long long)d->step,
                    (long long)d->epoch, where ? ", " : "",
                    where ? (d->layer >= 0 ? d->layer_name : "loss") : "", d->what);
        if (r->progress && r->last_ckpt_step >= 0)
            fprintf(stderr, "the last checkpoint, %s, holds step %lld, before the divergence\n",
                    r->rs.ckpt_path, (long long)r->last_ckpt_step);
    }
    if (failure && r->progress)
        fprintf(stderr, "training failed: %s\n", failure);
    if (r->patience > 0) {
        lgd_setbool(L, "stopped_early", r->stopped);
        if (r->best_epoch > 0) {
            lgd_setint(L, "best_epoch", (lua_Integer)r->best_epoch);
            lgd_setbool(L, "restored_best", restored);
        }
    }
    lua_createtable(L, 0, 2);
    lua_pushvalue(L, EPOCHS);
    lua_setfield(L, -2, "epochs");
    push_steps(L, tr, r->m);
    lua_setfield(L, -2, "steps");
    lua_setfield(L, -2, "history");
    lua_newtable(L);
    lua_setfield(L, -2, "diagnoses");   /* filled by the Lua layer when loaded */
    /* Free the trainer now rather than at the next collection: it holds the
     * run's batch buffers. */
    gd_trainer_free(tr);
    t->tr = NULL;
    return 1;
}

void lgd_open_train(lua_State *L)
{
    static const luaL_Reg meta[] = {
        { "__gc", trainer_gc },
        { NULL, NULL },
    };
    luaL_newmetatable(L, LGD_TRAINER);
    luaL_setfuncs(L, meta, 0);
    lua_pop(L, 1);
    lua_pushcfunction(L, train);
    lua_setfield(L, -2, "train");
}
