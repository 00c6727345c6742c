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
 */
#include <math.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

#include "lgradus.h"
#include "train.h"

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

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static const char *const train_keys[] = {
    "model", "loss", "optimizer", "schedule", "regularizers", "clip", "data", "validation",
    "epochs", "batch", "seed", "monitor", "early_stopping", "on_epoch", "on_step", "progress",
    "name", "quiet_diagnoses", NULL,
};

static void check_train_keys(lua_State *L)
{
    lua_pushnil(L);
    while (lua_next(L, 1)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING)
            lgd_error(L, "gd.train: options are named (name = value), got a %s key",
                       luaL_typename(L, -1));
        const char *k = lua_tostring(L, -1);
        const char *best = NULL;
        int found = 0, best_d = 3;
        for (int i = 0; train_keys[i] && !found; i++) {
            found = strcmp(k, train_keys[i]) == 0;
            int d = gd_edit_distance(k, train_keys[i]);
            if (d < best_d) {
                best_d = d;
                best = train_keys[i];
            }
        }
        if (found)
            continue;
        if (best)
            lgd_error(L, "gd.train: unknown option '%s' (did you mean '%s'?)", k, best);
        lgd_error(L, "gd.train: unknown option '%s' (options: model, loss, optimizer, schedule, "
                   "regularizers, clip, data, validation, epochs, batch, seed, monitor, "
                   "early_stopping, on_epoch, on_step, progress)", k);
    }
}

/* An integer field >= min, or def when absent. */
static int64_t field_int(lua_State *L, int idx, const char *what, const char *key, int64_t def,
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
    lua_createtable(L, 0, 4);
    lgd_setint(L, "step", (lua_Integer)d->step);
    lgd_setint(L, "epoch", (lua_Integer)d->epoch);
    lgd_setstr(L, "layer", d->layer >= 0 ? d->layer_name : "loss");
    lgd_setstr(L, "what", d->what);
}

/* Set k = v unless v is NaN (not applicable). */
static void setnum_finite(lua_State *L, const char *k, double v)
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
        setnum_finite(L, "effective_lr", r->effective_lr);
        lua_createtable(L, nl, 0);
        for (int j = 0; j < nl; j++) {
            const gd_layer_telemetry *t = &r->layers[j];
            lua_createtable(L, 0, 8);
            lgd_setstr(L, "name", gd_model_layer_at(m, j)->name);
            setnum_finite(L, "grad_norm", t->grad_norm);
            setnum_finite(L, "param_norm", t->param_norm);
            setnum_finite(L, "update_ratio", t->update_ratio);
            lgd_setnum(L, "act_mean", t->act_mean);
            lgd_setnum(L, "act_std", t->act_std);
            setnum_finite(L, "saturated", t->saturated);
            setnum_finite(L, "dead", t->dead);
            lua_rawseti(L, -2, j + 1);
        }
        lua_setfield(L, -2, "layers");
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
}

/* Copy parameters and buffers of m into (save) or out of (restore) snap. */
static void snapshot(gd_model *m, float *snap, int save)
{
    int64_t np = gd_model_param_count(m);
    if (save)
        memcpy(snap, gd_model_params(m), (size_t)np * sizeof(float));
    else
        memcpy(gd_model_params(m), snap, (size_t)np * sizeof(float));
    snap += np;
    for (int i = 0; i < gd_model_layer_count(m); i++) {
        gd_model_layer *l = gd_model_layer_at(m, i);
        for (int b = 0; b < l->nbuffers; b++) {
            size_t bytes = (size_t)l->buffers[b].numel * sizeof(float);
            if (save)
                memcpy(snap, l->buffers[b].value, bytes);
            else
                memcpy(l->buffers[b].value, snap, bytes);
            snap += l->buffers[b].numel;
        }
    }
}

static int64_t snapshot_size(gd_model *m)
{
    int64_t n = gd_model_param_count(m);
    for (int i = 0; i < gd_model_layer_count(m); i++) {
        gd_model_layer *l = gd_model_layer_at(m, i);
        for (int b = 0; b < l->nbuffers; b++)
            n += l->buffers[b].numel;
    }
    return n;
}

/* Stack slots of gd.train (absolute indices). */
enum { CFG = 1, MODEL = 2, TRAINER = 3, EPOCHS = 4, SPECS = 5, SNAP = 6 };


/* One epoch stepped in C with a progress bar redrawn on stderr at most ten
 * times a second: epoch, batch, loss, samples/s and time left. Only for
 * terminals; the bar costs a clock read per step, no Lua call. */
static gd_status epoch_with_bar(gd_trainer *tr, int64_t e, int64_t epochs, int64_t n,
                                int64_t batch, double t_run, double *mean_loss, gd_error *err)
{
    int64_t per_epoch = gd_trainer_steps_per_epoch(tr), k = 0;
    double sum = 0, t0 = now(), last = 0;
    gd_step_result r = { 0 };
    do {
        gd_status st = gd_trainer_step(tr, &r, err);
        if (st != GD_OK) {
            fputs("\r\033[K", stderr);
            return st;
        }
        int64_t size = n - k * batch < batch ? n - k * batch : batch;
        sum += r.loss * (double)size;
        k++;
        double t = now();
        if (t - last >= 0.1 || r.epoch_done) {
            last = t;
            double rate = (double)(k * batch < n ? k * batch : n) / (t - t0 + 1e-9);
            double total = (double)(epochs - e + 1) * (double)n - (double)(k * batch);
            int width = 24, fill = (int)(width * k / per_epoch);
            char barbuf[32];
            for (int i = 0; i < width; i++)
                barbuf[i] = i < fill ? '=' : (i == fill ? '>' : ' ');
            barbuf[width] = 0;
            fprintf(stderr, "\r\033[Kepoch %lld/%lld [%s] %lld/%lld  loss %.4f  %.1fk samples/s"
                    "  %.0fs elapsed, ~%.0fs left", (long long)e, (long long)epochs, barbuf,
                    (long long)k, (long long)per_epoch, sum / (double)(k * batch < n ? k * batch : n),
                    rate / 1e3, t - t_run, total > 0 ? total / rate : 0);
            fflush(stderr);
        }
    } while (!r.epoch_done);
    *mean_loss = sum / (double)n;
    return GD_OK;
}

static int train(lua_State *L)
{
    const char *what = "gd.train";
    if (!lua_istable(L, 1))
        return lgd_error(L, "gd.train: expects a table of options (gd.train{ model = ..., "
                         "... }), got %s", luaL_typename(L, 1));
    lua_settop(L, 1);
    check_train_keys(L);

    /* ---- configuration: every check before anything is built ---- */
    gd_train_config cfg = { 0 };
    cfg.loss = lgd_field_spec(L, CFG, what, "loss", GD_KIND_LOSS, 1);
    cfg.optimizer = lgd_field_spec(L, CFG, what, "optimizer", GD_KIND_OPTIMIZER, 1);
    cfg.schedule = lgd_field_spec(L, CFG, what, "schedule", GD_KIND_SCHEDULER, 0);
    lua_getfield(L, CFG, "data");
    if (lua_isnil(L, -1))
        return lgd_error(L, "%s: 'data' is required (a data set, e.g. gd.data.fashion_mnist{})",
                          what);
    if (!(cfg.train = lgd_testdataset(L, -1))) {
        char got[160];
        return lgd_error(L, "%s: 'data' must be a data set, got %s", what,
                          lgd_describe_value(L, -1, got, sizeof got));
    }
    lua_getfield(L, CFG, "validation");
    const gd_dataset *val = NULL;
    if (!lua_isnil(L, -1) && !(val = lgd_testdataset(L, -1))) {
        char got[160];
        return lgd_error(L, "%s: 'validation' must be a data set, got %s", what,
                          lgd_describe_value(L, -1, got, sizeof got));
    }
    lua_settop(L, CFG);
    cfg.epochs = field_int(L, CFG, what, "epochs", 1, 1);
    cfg.seed = (uint64_t)field_int(L, CFG, what, "seed", 1, 0);
    lua_getfield(L, CFG, "batch");
    if (lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), "full") == 0) {
        cfg.batch = 0;
        lua_pop(L, 1);
    } else if (lua_type(L, -1) == LUA_TSTRING) {
        return lgd_error(L, "%s: 'batch' must be a number >= 1 or \"full\", got \"%s\"", what,
                          lua_tostring(L, -1));
    } else {
        lua_pop(L, 1);
        cfg.batch = field_int(L, CFG, what, "batch", 32, 1);
    }
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
            regs[cfg.nregularizers++] = s;
            lua_pop(L, 1);
        }
    }
    cfg.regularizers = regs;
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
        cfg.clip = has_norm ? GD_CLIP_NORM : GD_CLIP_VALUE;
        cfg.clip_value = lua_tonumber(L, vi);
        if (lua_type(L, vi) != LUA_TNUMBER || !(cfg.clip_value > 0) || !isfinite(cfg.clip_value))
            return lgd_error(L, "%s: clip.%s must be a number > 0", what,
                              has_norm ? "norm" : "value");
    }
    lua_settop(L, CFG);
    if (lua_getfield(L, CFG, "monitor") != LUA_TNIL) {
        luaL_argcheck(L, lua_istable(L, -1), 1, "gd.train: 'monitor' must be { every = n }");
        cfg.monitor_every = field_int(L, CFG + 1, "gd.train: monitor", "every", 100, 1);
    }
    lua_settop(L, CFG);
    int64_t patience = 0;
    int restore_best = 0;
    double min_delta = 0;
    if (lua_getfield(L, CFG, "early_stopping") != LUA_TNIL) {
        if (!lua_istable(L, -1))
            return lgd_error(L, "%s: 'early_stopping' must be { patience = n, restore_best = "
                              "bool }", what);
        if (!val)
            return lgd_error(L, "%s: early_stopping watches the validation loss: give "
                              "'validation' too", what);
        patience = field_int(L, CFG + 1, "gd.train: early_stopping", "patience", 3, 1);
        lua_getfield(L, CFG + 1, "restore_best");
        restore_best = lua_toboolean(L, -1);
        lua_getfield(L, CFG + 1, "min_delta");
        min_delta = luaL_optnumber(L, -1, 0);
    }
    lua_settop(L, CFG);
    lua_getfield(L, CFG, "on_epoch");
    lua_getfield(L, CFG, "on_step");
    for (int i = -2; i <= -1; i++)
        if (!lua_isnil(L, i) && !lua_isfunction(L, i))
            return lgd_error(L, "%s: '%s' must be a function", what,
                              i == -2 ? "on_epoch" : "on_step");
    int has_on_epoch = !lua_isnil(L, -2), has_on_step = !lua_isnil(L, -1);
    lua_getfield(L, CFG, "progress");
    int progress = lua_isnil(L, -1) || lua_toboolean(L, -1);
    int bar = isatty(STDERR_FILENO);   /* a live bar on terminals, lines otherwise */
    lua_settop(L, CFG);

    /* ---- the model: a sequential spec is built fresh with the seed ---- */
    lua_getfield(L, CFG, "model");
    if (lua_isnil(L, -1))
        return lgd_error(L, "%s: 'model' is required (gd.sequential{ ... })", what);
    if (lgd_is_sequential(L, -1)) {
        lgd_model_build(L, CFG + 1, gd_dataset_sample_shape(cfg.train), cfg.seed);
        lua_replace(L, MODEL);
        lua_settop(L, MODEL);
    } else if (!luaL_testudata(L, -1, LGD_MODEL)) {
        char got[160];
        return lgd_error(L, "%s: 'model' must be gd.sequential{ ... } or a model, got %s", what,
                          lgd_describe_value(L, -1, got, sizeof got));
    }
    lgd_model *md = lgd_checkmodel(L, MODEL);
    cfg.model = md->m;

    /* ---- the trainer ---- */
    ltrainer *t = lua_newuserdatauv(L, sizeof *t, 0);
    t->tr = NULL;
    luaL_setmetatable(L, LGD_TRAINER);
    gd_error err;
    if (!(t->tr = gd_trainer_new(&cfg, &err)))
        return lgd_raise(L, &err);
    gd_trainer *tr = t->tr;
    lua_getfield(L, CFG, "loss");
    lgd_model_set_loss(L, MODEL, -1);
    lua_pop(L, 1);
    lua_createtable(L, (int)cfg.epochs, 0);               /* EPOCHS */
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
    float *snap = NULL;
    if (restore_best) {                                   /* SNAP */
        int64_t ns = snapshot_size(md->m);
        snap = lua_newuserdatauv(L, (size_t)(ns ? ns : 1) * sizeof(float), 0);
    } else {
        lua_pushnil(L);
    }

    /* ---- the run ---- */
    const char *status = "ok";
    const char *failure = NULL;
    double t_run = now(), best = INFINITY;
    int64_t best_epoch = 0, wait = 0, n = gd_dataset_size(cfg.train);
    int stopped = 0;
    int64_t batch = cfg.batch == 0 || cfg.batch > n ? n : cfg.batch;
    for (int64_t e = 1; e <= cfg.epochs && !stopped; e++) {
        double t0 = now(), mean_loss = 0;
        gd_status st = GD_OK;
        if (!has_on_step && progress && bar) {
            st = epoch_with_bar(tr, e, cfg.epochs, n, batch, t_run, &mean_loss, &err);
        } else if (!has_on_step) {
            st = gd_trainer_epoch(tr, &mean_loss, &err);
        } else {
            gd_step_result r = { 0 };
            double sum = 0;
            int64_t k = 0;
            do {
                if ((st = gd_trainer_step(tr, &r, &err)) != GD_OK)
                    break;
                int64_t size = n - k * batch < batch ? n - k * batch : batch;
                sum += r.loss * (double)size;
                k++;
                lua_getfield(L, CFG, "on_step");
                lua_createtable(L, 0, 4);
                lgd_setint(L, "step", (lua_Integer)r.step);
                lgd_setint(L, "epoch", (lua_Integer)r.epoch);
                lgd_setnum(L, "loss", r.loss);
                lgd_setnum(L, "lr", r.lr);
                lua_call(L, 1, 0);
            } while (!r.epoch_done);
            mean_loss = sum / (double)n;
        }
        if (st == GD_ENUMERIC) {
            status = "diverged";
            break;
        }
        if (st != GD_OK) {
            status = "failed";
            failure = lua_pushstring(L, err.msg);
            break;
        }
        double lr = gd_trainer_lr_at(tr, gd_trainer_steps_done(tr) - 1, e - 1);
        double vloss = NAN, vacc = NAN;
        if (val && gd_model_evaluate(md->m, cfg.loss, val, batch, &vloss, &vacc, &err) != GD_OK) {
            status = "failed";
            failure = lua_pushstring(L, err.msg);
            break;
        }
        double secs = now() - t0;
        lua_createtable(L, 0, 6);
        lgd_setint(L, "epoch", (lua_Integer)e);
        lgd_setnum(L, "train_loss", mean_loss);
        setnum_finite(L, "val_loss", vloss);
        setnum_finite(L, "val_accuracy", vacc);
        lgd_setnum(L, "lr", lr);
        lgd_setnum(L, "seconds", secs);
        lua_pushvalue(L, -1);
        lua_rawseti(L, EPOCHS, (lua_Integer)e);
        if (progress) {
            char line[256];
            int w = snprintf(line, sizeof line, "epoch %*lld/%lld  train_loss %.4f",
                             (int)snprintf(NULL, 0, "%lld", (long long)cfg.epochs), (long long)e,
                             (long long)cfg.epochs, mean_loss);
            if (val && w > 0 && (size_t)w < sizeof line)
                w += snprintf(line + w, sizeof line - (size_t)w, "  val_loss %.4f", vloss);
            if (val && !isnan(vacc) && w > 0 && (size_t)w < sizeof line)
                w += snprintf(line + w, sizeof line - (size_t)w, "  val_acc %.4f", vacc);
            if (w > 0 && (size_t)w < sizeof line)
                snprintf(line + w, sizeof line - (size_t)w, "  lr %.3g  %.2fs", lr, secs);
            fprintf(stderr, "%s%s\n", bar ? "\r\033[K" : "", line);
        }
        if (has_on_epoch) {
            lua_getfield(L, CFG, "on_epoch");
            lua_pushvalue(L, -2);
            lua_call(L, 1, 1);
            if (lua_isboolean(L, -1) && !lua_toboolean(L, -1))
                stopped = 1;   /* on_epoch returned false: stop here */
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
        if (patience > 0) {
            if (vloss < best - min_delta) {
                best = vloss;
                best_epoch = e;
                wait = 0;
                if (snap)
                    snapshot(md->m, snap, 1);
            } else if (++wait >= patience) {
                stopped = 1;
                if (progress)
                    fprintf(stderr, "early stopping after epoch %lld: no validation loss "
                            "improvement for %lld epochs (best %.4f at epoch %lld)\n",
                            (long long)e, (long long)patience, best, (long long)best_epoch);
            }
        }
    }
    int restored = 0;
    if (snap && best_epoch > 0 && best_epoch < gd_trainer_epochs_done(tr) &&
        strcmp(status, "ok") == 0) {
        snapshot(md->m, snap, 0);
        restored = 1;
    }

    /* ---- the result ---- */
    lua_createtable(L, 0, 12);
    lua_pushvalue(L, MODEL);
    lua_setfield(L, -2, "model");
    lgd_setstr(L, "status", status);
    lgd_setnum(L, "seconds", now() - t_run);
    lgd_setint(L, "steps", (lua_Integer)gd_trainer_steps_done(tr));
    lgd_setint(L, "epochs", (lua_Integer)gd_trainer_epochs_done(tr));
    lgd_setint(L, "steps_per_epoch", (lua_Integer)gd_trainer_steps_per_epoch(tr));
    if (failure)
        lgd_setstr(L, "error", failure);
    const gd_divergence *d = gd_trainer_divergence(tr);
    if (d) {
        push_divergence(L, d);
        lua_setfield(L, -2, "diverged");
        if (progress)
            fprintf(stderr, "diverged at step %lld (epoch %lld), %s: %s\n", (long long)d->step,
                    (long long)d->epoch, d->layer >= 0 ? d->layer_name : "loss", d->what);
    }
    if (failure && progress)
        fprintf(stderr, "training failed: %s\n", failure);
    if (patience > 0) {
        lgd_setbool(L, "stopped_early", stopped);
        if (best_epoch > 0) {
            lgd_setint(L, "best_epoch", (lua_Integer)best_epoch);
            lgd_setbool(L, "restored_best", restored);
        }
    }
    lua_createtable(L, 0, 2);
    lua_pushvalue(L, EPOCHS);
    lua_setfield(L, -2, "epochs");
    push_steps(L, tr, md->m);
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
