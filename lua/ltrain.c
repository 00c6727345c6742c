/*
 * lua/ltrain.c: gd.train, the binding of the core's run (core/run.h): it
 * turns the options table into a gd_run_config, runs it, and pushes the
 * result (lua/glue.lua adds the diagnoses, lua/diagnose.lua). The run's
 * policy (the checkpoint path's lock, whose checkpoint it may replace,
 * MPI, rank 0's checkpoints) is the core's (core/run.h).
 *
 * The loop is the core's: Lua is called only from its hooks, after each
 * epoch (progress line, on_epoch) and, when there is a bar to draw or the
 * user asks for on_step, after each step. Divergence is a result
 * ("diverged"), not an error; a bad configuration is an error raised before
 * anything runs; a callback's error ends the run and is raised again here.
 *
 * The core's run lives in a to-be-closed userdata, so an error leaks
 * nothing and releases the checkpoint path at once.
 * The checkpoint option, the stop after a signal and starting from a loaded
 * checkpoint (gd.resume, gd.fork, through gd._continue) are in
 * ltrain_checkpoint.c.
 */
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ltrain.h"

/* gd.train's options, in the order of its page (gradus doc train). */
enum { T_MODEL, T_DATA, T_LOSS, T_OPTIMIZER, T_SCHEDULE, T_REGULARIZERS, T_CLIP, T_VALIDATION,
       T_EPOCHS, T_BATCH, T_DROP_LAST, T_SEED, T_MONITOR, T_EARLY_STOPPING, T_DIVERGE,
       T_CHECKPOINT, T_ON_EPOCH, T_ON_STEP, T_PROGRESS, T_NAME, T_QUIET, T_DISTRIBUTED };

static const char *const full_batch[] = { "full", NULL };

static const lgd_key clip_keys[] = {
    LGD_NUM("norm", 0, GD_OPT_HAS_MIN | GD_OPT_MIN_OPEN | GD_OPT_OPTIONAL, 0, 0,
            "scale the gradients so their global L2 norm is at most c"),
    LGD_NUM("value", 0, GD_OPT_HAS_MIN | GD_OPT_MIN_OPEN | GD_OPT_OPTIONAL, 0, 0,
            "clamp each gradient element to [-c, c]"),
    { NULL },
};

static const lgd_key early_stopping_keys[] = {
    LGD_INT("patience", 3, 1, "epochs without a better val_loss before the run stops"),
    LGD_NUM("min_delta", 0, 0, 0, 0, "how much lower val_loss must be to count as better"),
    LGD_BOOL("restore_best", false, "end with the weights of the best epoch"),
    { NULL },
};

const lgd_key lgd_diverge_keys[] = {
    LGD_NUM("factor", 1e3, GD_OPT_HAS_MIN | GD_OPT_MIN_OPEN, 1, 0,
            "the loss that ends the run, as a multiple of the first"),
    { NULL },
};

const lgd_key lgd_train_keys[] = {
    LGD_REQUIRED("model", 0, "sequential | residual | model",
      "the network (gradus doc model): a spec is built with `seed`; a model trains on"),
    LGD_REQUIRED("data", LGD_IS_DATASET, "data set", "the training set (gradus doc data)"),
    LGD_REQUIRED("loss", 0, "loss spec", "e.g. gd.loss.cross_entropy{}"),
    LGD_REQUIRED("optimizer", 0, "optimizer spec", "e.g. gd.optim.adam{ lr = 1e-3 }"),
    LGD_VALUE("schedule", 0, "scheduler spec", "(constant)", "scales the optimizer's lr over the run"),
    LGD_VALUE("regularizers", 0, "list of regularizer specs", "{}",
              "e.g. { gd.reg.l2{ lambda = 1e-4 } }"),
    LGD_SUB("clip", "table", "(none)", clip_keys,
      "{ norm = c } or { value = c }: clip gradients by global L2 norm or elementwise"),
    LGD_VALUE("validation", LGD_IS_DATASET, "data set", "(none)",
              "evaluated after every epoch (val_loss, val_accuracy)"),
    LGD_INT("epochs", 1, 1, "passes over the training set"),
    { "batch", NULL, NULL, "samples per update; \"full\": batch GD",
      { .type = GD_OPT_INTEGER, .flags = GD_OPT_HAS_MIN, .def = 32, .min = 1,
        .choices = full_batch }, 0, NULL },
    LGD_BOOL("drop_last", false,
      "drop each epoch's last, partial batch (batch norm refuses a batch of one)"),
    LGD_INT("seed", 1, 0, "initial weights, batch order and dropout masks"),
    LGD_SUB("monitor", "table", "(off)", lgd_monitor_keys,
      "per-layer telemetry every n steps into run.history.steps; probes (sharpness, trace, "
      "noise_scale, distance, alpha) into run.history.probes (gradus doc probe)"),
    LGD_SUB("early_stopping", "table", "(off)", early_stopping_keys,
      "stop when val_loss no longer improves; needs validation"),
    LGD_SUB("diverge", "table | false", NULL, lgd_diverge_keys,
      "\"diverged\" (loss exploded) when a step's loss exceeds factor x the first step's"),
    LGD_SUB("checkpoint", "table | false", "(none)", lgd_checkpoint_keys,
      "the run, written for gd.resume and gd.fork"),
    LGD_VALUE("on_epoch", LGD_IS_FUNCTION, "function", "(none)",
      "called after every epoch with its history record; returning false stops the run"),
    LGD_VALUE("on_step", LGD_IS_FUNCTION, "function", "(none)",
      "called after every step with { step, epoch, loss, lr } (slows training)"),
    LGD_BOOL("progress", true, "a progress bar or line per epoch on stderr"),
    LGD_STR("name", "(none)", "the run's name, kept in its checkpoints"),
    LGD_BOOL("quiet_diagnoses", false, "do not print the diagnoses (they are still in run.diagnoses)"),
    { "distributed", NULL, "(under mpirun: true)",
      "data-parallel over the MPI ranks; batch is all ranks' together (README: MPI)",
      { .type = GD_OPT_BOOLEAN, .flags = GD_OPT_OPTIONAL }, 0, NULL },
    { NULL },
};
_Static_assert(sizeof lgd_train_keys / sizeof *lgd_train_keys == T_DISTRIBUTED + 2,
               "a row of gd.train's table per T_ name, in order");

/* diverge = { factor = f } | false (0: off) | true. */
static double diverge_factor(lua_State *L, const char *what)
{
    int t = lua_getfield(L, CFG, "diverge"), off = t == LUA_TBOOLEAN && !lua_toboolean(L, -1);
    gd_value f[LGD_MAX_OPTIONS];
    if (t != LUA_TNIL && t != LUA_TBOOLEAN && t != LUA_TTABLE)
        lgd_error(L, "%s: option 'diverge' must be { factor = f } or false, got %s", what,
                  luaL_typename(L, -1));
    lgd_read_options(L, t == LUA_TTABLE ? -1 : 0, "gd.train: diverge", lgd_diverge_keys, f);
    lua_pop(L, 1);
    return off ? 0 : f[0].u.num;
}

lua_Integer lgd_tointeger(lua_State *L, int idx, int *isint)
{
    if (lua_type(L, idx) != LUA_TNUMBER) {
        *isint = 0;
        return 0;
    }
    return lua_tointegerx(L, idx, isint);
}

const char *lgd_value_text(lua_State *L, int idx)
{
    if (lua_type(L, idx) == LUA_TSTRING)
        return lua_pushfstring(L, "the string \"%s\"", lua_tostring(L, idx));
    return luaL_tolstring(L, idx, NULL);
}

static void push_divergence(lua_State *L, const gd_divergence *d)
{
    lua_createtable(L, 0, 5);
    lgd_setint(L, "step", (lua_Integer)d->step);
    lgd_setint(L, "epoch", (lua_Integer)d->epoch);
    lgd_setstr(L, "layer", d->layer_name);   /* "loss" or "validation" when not a layer */
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
            lgd_setstr(L, "name", gd_model_layer_name(gd_model_layer_at(m, j)));
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

static void draw_bar(const run *r, gd_trainer *tr, const gd_run_step *s)
{
    int64_t per_epoch = gd_trainer_steps_per_epoch(tr), k = s->k;
    int64_t seen = k * r->batch < r->n ? k * r->batch : r->n;
    double rate = (double)((k - s->first) * r->batch) / (s->now - s->epoch_start + 1e-9);
    double total = (double)(r->cfg.epochs - s->epoch + 1) * (double)r->n - (double)seen;
    int width = 24, fill = (int)(width * k / per_epoch);
    char barbuf[32];
    for (int i = 0; i < width; i++)
        barbuf[i] = i < fill ? '=' : (i == fill ? '>' : ' ');
    barbuf[width] = 0;
    fprintf(stderr, "\r\033[Kepoch %lld/%lld [%s] %lld/%lld  loss %.4f  %.1fk samples/s"
            "  %.0fs elapsed, ~%.0fs left", (long long)s->epoch, (long long)r->cfg.epochs, barbuf,
            (long long)k, (long long)per_epoch, gd_trainer_epoch_loss(tr), rate / 1e3,
            s->now - r->t_run, total > 0 && rate > 0 ? total / rate : 0);
    fflush(stderr);
}

/* A loss as the epoch line shows it: 4 decimals, or 4 digits when huge
 * (a diverging loss must not print as 40 digits). */
static const char *loss_text(char *buf, size_t n, double x)
{
    snprintf(buf, n, fabs(x) < 1e5 ? "%.4f" : "%.4g", x);
    return buf;
}

static void print_epoch_line(const run *r, const gd_epoch_record *e)
{
    char line[256], a[32], b[32];
    int w = snprintf(line, sizeof line, "epoch %*lld/%lld  train_loss %s",
                     (int)snprintf(NULL, 0, "%lld", (long long)r->cfg.epochs),
                     (long long)e->epoch, (long long)r->cfg.epochs,
                     loss_text(a, sizeof a, e->train_loss));
    if (e->penalty > 0 && w > 0 && (size_t)w < sizeof line)   /* NaN: unknown */
        w += snprintf(line + w, sizeof line - (size_t)w, " (data %s + penalty %s)",
                      loss_text(a, sizeof a, e->train_loss - e->penalty),
                      loss_text(b, sizeof b, e->penalty));
    if (r->val && w > 0 && (size_t)w < sizeof line)
        w += snprintf(line + w, sizeof line - (size_t)w, "  val_loss %s",
                      loss_text(a, sizeof a, e->val_loss));
    if (r->val && !isnan(e->val_accuracy) && w > 0 && (size_t)w < sizeof line)
        w += snprintf(line + w, sizeof line - (size_t)w, "  val_acc %.4f", e->val_accuracy);
    if (gd_dataset_input_ids(r->cfg.train) > 0 && w > 0 && (size_t)w < sizeof line)
        w += snprintf(line + w, sizeof line - (size_t)w, "  bpc %.3f", e->train_loss / M_LN2);
    if (gd_dataset_input_ids(r->cfg.train) > 0 && r->val && w > 0 && (size_t)w < sizeof line)
        w += snprintf(line + w, sizeof line - (size_t)w, "  val_bpc %.3f", e->val_loss / M_LN2);
    if (w > 0 && (size_t)w < sizeof line)
        snprintf(line + w, sizeof line - (size_t)w, "  lr %.3g  %.2fs", e->lr, e->seconds);
    fprintf(stderr, "%s%s\n", r->bar ? "\r\033[K" : "", line);
}

void lgd_push_epoch(lua_State *L, const gd_epoch_record *e)
{
    lua_createtable(L, 0, 8);
    lgd_setint(L, "epoch", (lua_Integer)e->epoch);
    lgd_setnum(L, "train_loss", e->train_loss);
    if (!isnan(e->penalty)) {   /* train_loss = data_loss + penalty */
        lgd_setnum(L, "data_loss", e->train_loss - e->penalty);
        lgd_setnum(L, "penalty", e->penalty);
    }
    lgd_setnum_finite(L, "val_loss", e->val_loss);
    lgd_setnum_finite(L, "val_accuracy", e->val_accuracy);
    lgd_setnum(L, "lr", e->lr);
    lgd_setnum(L, "seconds", e->seconds);
}

/* One epoch's end: validation, the history record, the progress line,
 * on_epoch and early stopping. Returns 0, or a failure message pushed. */
/* The options every run has: specs, data, epochs, seed, diverge, batch. */
static void read_basics(lua_State *L, run *r, const char *what, const gd_value *v)
{
    gd_train_config *cfg = &r->cfg;
    cfg->loss = lgd_field_spec(L, CFG, what, "loss", GD_KIND_LOSS, 1);
    cfg->optimizer = lgd_field_spec(L, CFG, what, "optimizer", GD_KIND_OPTIMIZER, 1);
    cfg->schedule = lgd_field_spec(L, CFG, what, "schedule", GD_KIND_SCHEDULER, 0);
    lua_getfield(L, CFG, "data");
    cfg->train = lgd_testdataset(L, -1);
    lua_getfield(L, CFG, "validation");
    r->val = lgd_testdataset(L, -1);
    lua_settop(L, CFG);
    cfg->epochs = v[T_EPOCHS].u.i;
    cfg->seed = (uint64_t)v[T_SEED].u.i;
    cfg->diverge_factor = diverge_factor(L, what);
    cfg->batch = v[T_BATCH].u.i < 0 ? 0 : v[T_BATCH].u.i;   /* "full": 0 */
    cfg->drop_last = v[T_DROP_LAST].u.b;
}

/* regularizers = { gd.reg.l2{ ... }, ... } */
static void read_regularizers(lua_State *L, run *r, const char *what)
{
    gd_train_config *cfg = &r->cfg;
    lua_getfield(L, CFG, "regularizers");
    if (!lua_isnil(L, -1)) {
        if (!lua_istable(L, -1) || lgd_testspec(L, -1))
            lgd_error(L, "%s: 'regularizers' must be a list of regularizer specs "
                       "({ gd.reg.l2{ lambda = 1e-4 } })", what);
        lua_Integer n = luaL_len(L, -1);
        if (n > 64)
            lgd_error(L, "%s: at most 64 regularizers", what);
        for (lua_Integer i = 1; i <= n; i++) {
            lua_geti(L, -1, i);
            const gd_spec *s = lgd_testspec(L, -1);
            if (!s || s->component->kind != GD_KIND_REGULARIZER) {
                char got[160];
                lgd_error(L, "%s: regularizers[%d] must be a regularizer spec, got %s",
                           what, (int)i, lgd_describe_value(L, -1, got, sizeof got));
            }
            r->regs[cfg->nregularizers++] = s;
            lua_pop(L, 1);
        }
    }
    cfg->regularizers = r->regs;
    lua_settop(L, CFG);
}

/* clip = { norm = c } or { value = c } */
static void read_clip(lua_State *L, run *r, const char *what)
{
    gd_train_config *cfg = &r->cfg;
    if (lua_getfield(L, CFG, "clip") != LUA_TNIL) {
        gd_value c[LGD_MAX_OPTIONS];
        lgd_read_options(L, -1, "gd.train: clip", clip_keys, c);
        if (c[0].present == c[1].present)
            lgd_error(L, "%s: 'clip' takes one of { norm = c } or { value = c }", what);
        cfg->clip = c[0].present ? GD_CLIP_NORM : GD_CLIP_VALUE;
        cfg->clip_value = c[0].present ? c[0].u.num : c[1].u.num;
    }
    lua_settop(L, CFG);
}

/* monitor = { every = n } (its probes: ltrain_probes.c); early_stopping. */
static void read_monitor(lua_State *L, run *r, const char *what)
{
    gd_train_config *cfg = &r->cfg;
    gd_value v[LGD_MAX_OPTIONS];
    if (lua_getfield(L, CFG, "monitor") != LUA_TNIL) {
        lgd_read_options(L, -1, "gd.train: monitor", lgd_monitor_keys, v);
        cfg->monitor_every = v[0].u.i;
    }
    lua_settop(L, CFG);
    if (lua_getfield(L, CFG, "early_stopping") != LUA_TNIL) {
        lgd_read_options(L, -1, "gd.train: early_stopping", early_stopping_keys, v);
        if (!r->val)
            lgd_error(L, "%s: early_stopping watches the validation loss: give "
                       "'validation' too", what);
        r->rs.patience = v[0].u.i;
        r->rs.min_delta = v[1].u.num;
        r->rs.restore_best = v[2].u.b;
    }
    lua_settop(L, CFG);
}

/* on_epoch, on_step, progress, distributed. */
static void read_callbacks(lua_State *L, run *r, const gd_value *v)
{
    lua_getfield(L, CFG, "on_epoch");
    r->has_on_epoch = !lua_isnil(L, -1);
    lua_getfield(L, CFG, "on_step");
    r->has_on_step = !lua_isnil(L, -1);
    r->progress = v[T_PROGRESS].u.b;
    r->bar = isatty(STDERR_FILENO);   /* a live bar on terminals, lines otherwise */
    lua_settop(L, CFG);
    lgd_run_distributed(L, r);
}

/* The model: a sequential spec is built fresh with the seed (not for a
 * resumed run, which keeps its model), a model is trained as it is. */
static void read_model(lua_State *L, run *r, const char *what, const gd_checkpoint *ck)
{
    gd_train_config *cfg = &r->cfg;
    lua_getfield(L, CFG, "model");
    if (lgd_is_block(L, -1)) {
        if (ck)
            lgd_error(L, "%s: a resumed run keeps its model", what);
        lgd_model_build(L, CFG + 1, gd_dataset_sample_shape(cfg->train), cfg->seed);
        lua_replace(L, MODEL);
        lua_settop(L, MODEL);
    } else if (!luaL_testudata(L, -1, LGD_MODEL)) {
        char got[160];
        lgd_error(L, "%s: 'model' must be gd.sequential{ ... }, gd.residual{ ... } or a model, "
                   "got %s", what,
                   lgd_describe_value(L, -1, got, sizeof got));
    }
    lgd_model *md = lgd_checkmodel(L, MODEL);
    cfg->model = r->m = md->m;
    if (ck)
        cfg->horizon_epochs = ck->state.horizon_epochs;
}

/* ---- the core's run, and its hooks ---- */

typedef struct lrun {
    gd_run *run;
} lrun;

static int run_gc(lua_State *L)
{
    lrun *t = luaL_checkudata(L, 1, LGD_TRAINER);
    gd_run_free(t->run);
    t->run = NULL;
    return 0;
}

/* A callback raised: its error stays on top of the stack, and the run ends
 * (GD_RUN_ABORTED) for train() to raise it again. */
static gd_status call_lua(lua_State *L, int nargs, int nresults)
{
    return lua_pcall(L, nargs, nresults, 0) == LUA_OK ? GD_OK : GD_EINVAL;
}

/* After each step, when there is a bar to draw or an on_step to call. */
static gd_status hook_step(void *ctx, gd_run *gr, const gd_run_step *s)
{
    run *r = ctx;
    lua_State *L = r->L;
    if (r->show_bar &&
        (s->k == s->first + 1 || s->now - r->last_draw >= 0.1 || s->res->epoch_done)) {
        r->last_draw = s->now;
        draw_bar(r, gd_run_trainer(gr), s);
    }
    if (!r->has_on_step)
        return GD_OK;
    lua_getfield(L, CFG, "on_step");
    lua_createtable(L, 0, 4);
    lgd_setint(L, "step", (lua_Integer)s->res->step);
    lgd_setint(L, "epoch", (lua_Integer)s->res->epoch);
    lgd_setnum(L, "loss", s->res->loss);
    lgd_setnum(L, "lr", s->res->lr);
    return call_lua(L, 1, 0);
}

/* After each epoch's end: its record into the history table, the progress
 * line, on_epoch (returning false stops the run). */
/* A text set's losses in bits per character (loss / ln 2), beside them in
 * the record at the top. */
static void add_bpc(lua_State *L, const run *r, const gd_epoch_record *e)
{
    if (gd_dataset_input_ids(r->cfg.train) <= 0)
        return;
    lgd_setnum_finite(L, "train_bpc", e->train_loss / M_LN2);
    lgd_setnum_finite(L, "val_bpc", e->val_loss / M_LN2);
}

static gd_status hook_epoch(void *ctx, gd_run *gr, const gd_epoch_record *e, bool *stop)
{
    (void)gr;
    run *r = ctx;
    lua_State *L = r->L;
    lgd_push_epoch(L, e);
    add_bpc(L, r, e);
    lua_pushvalue(L, -1);
    lua_rawseti(L, EPOCHS, (lua_Integer)e->epoch);
    if (r->progress)
        print_epoch_line(r, e);
    if (r->has_on_epoch) {
        lua_getfield(L, CFG, "on_epoch");
        lua_insert(L, -2);
        if (call_lua(L, 1, 1) != GD_OK)
            return GD_EINVAL;
        *stop = lua_isboolean(L, -1) && !lua_toboolean(L, -1);
    }
    lua_pop(L, 1);
    return GD_OK;
}

static void hook_early_stop(void *ctx, gd_run *gr, int64_t e)
{
    run *r = ctx;
    const gd_run_result *res = gd_run_result_of(gr);
    if (r->progress)
        fprintf(stderr, "early stopping after epoch %lld: no validation loss improvement for "
                "%lld epochs (best %.4f at epoch %lld)\n", (long long)e,
                (long long)r->rs.patience, res->best, (long long)res->best_epoch);
}

/* The run's config from the options read, and the core's run in RUN. */
static void make_run(lua_State *L, run *r)
{
    r->L = L;
    r->show_bar = r->progress && r->bar && !r->has_on_step;
    r->n = gd_dataset_size(r->cfg.train);
    r->batch = gd_batch_size(r->cfg.batch, r->n);
    lua_getfield(L, ANCHOR, "ckpt_overwrite");
    bool overwrite = lua_toboolean(L, -1);
    lua_pop(L, 1);
    gd_run_config c = {
        .train = r->cfg,
        .validation = r->val,
        .settings = r->rs,
        .checkpoints = r->ckpt != 0,
        .ckpt_overwrite = overwrite,
        .registry = lgd_registry(L),
        .distribution = r->dist,
        .stop = lgd_interrupt_flag(),
        .hooks = { r, r->show_bar || r->has_on_step ? hook_step : NULL, hook_epoch,
                   hook_early_stop },
        .probes = r->probes,
    };
    lrun *t = lua_newuserdatauv(L, sizeof *t, 0);
    t->run = NULL;
    luaL_setmetatable(L, LGD_TRAINER);
    lua_replace(L, RUN);
    lua_toclose(L, RUN);   /* freed, its lock released, however gd.train ends */
    gd_error err;
    if (!(t->run = r->run = gd_run_new(&c, &err)))
        lgd_raise(L, &err);
}

/* The trainer borrows these: anchored in SPECS rather than in the caller's
 * table, which a callback could change mid-run. */
static void anchor_specs(lua_State *L)
{
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
    lua_replace(L, SPECS);
}

static const char *status_name(gd_run_status st)
{
    return st == GD_RUN_OK ? "ok" : st == GD_RUN_DIVERGED ? "diverged" : "failed";
}

/* What the run's end says on stderr: where it diverged, why it failed. */
static void report_end(const run *r, const gd_run_result *res, const gd_divergence *d)
{
    if (r->show_bar && res->status != GD_RUN_OK)
        fputs("\r\033[K", stderr);
    /* A validation divergence ends the run at its epoch's end, before
     * hook_epoch prints the epoch: its line, the loss not finite, first. */
    if (d && r->progress && strcmp(d->layer_name, "validation") == 0 && res->nepochs == d->epoch)
        print_epoch_line(r, &res->epochs[res->nepochs - 1]);
    if (d && r->progress) {
        int where = d->layer >= 0 || strcmp(d->reason, "not finite") == 0;
        /* "loss exploded: ..." says where itself */
        fprintf(stderr, "diverged at step %lld (epoch %lld)%s%s: %s\n", (long long)d->step,
                (long long)d->epoch, where ? ", " : "",
                where ? d->layer_name : "", d->what);
        if (res->last_ckpt_step >= 0)
            fprintf(stderr, "the last checkpoint, %s, holds step %lld, before the divergence\n",
                    r->rs.ckpt_path, (long long)res->last_ckpt_step);
    }
    if (res->error && r->progress)
        fprintf(stderr, "training failed: %s\n", res->error);
}

/* run.history: the epochs (those this call ran keep the tables on_epoch
 * saw) and the telemetry records. */
static void push_history(lua_State *L, const run *r, const gd_run_result *res)
{
    lua_createtable(L, 0, 2);
    for (int64_t i = 0; i < res->nepochs; i++)
        if (lua_rawgeti(L, EPOCHS, (lua_Integer)i + 1) == LUA_TNIL) {
            lua_pop(L, 1);
            lgd_push_epoch(L, &res->epochs[i]);
            add_bpc(L, r, &res->epochs[i]);
            lua_rawseti(L, EPOCHS, (lua_Integer)i + 1);
        } else {
            lua_pop(L, 1);
        }
    lua_pushvalue(L, EPOCHS);
    lua_setfield(L, -2, "epochs");
    push_steps(L, gd_run_trainer(r->run), r->m);
    lua_setfield(L, -2, "steps");
    lgd_push_probe_history(L, r);
    lua_setfield(L, -2, "history");
}

/* The run's table (gd.train's result). */
static void push_result(lua_State *L, const run *r, const lgd_resume *from)
{
    const gd_checkpoint *ck = from->ck;
    const gd_run_result *res = gd_run_result_of(r->run);
    gd_trainer *tr = gd_run_trainer(r->run);
    const gd_divergence *d = gd_trainer_divergence(tr);
    report_end(r, res, d);
    lua_createtable(L, 0, 12);
    lua_pushvalue(L, MODEL);
    lua_setfield(L, -2, "model");
    lgd_setstr(L, "status", status_name(res->status));
    lgd_setnum(L, "seconds", res->seconds);
    lgd_setint(L, "steps", (lua_Integer)gd_trainer_steps_done(tr));
    lgd_setint(L, "epochs", (lua_Integer)gd_trainer_epochs_done(tr));
    lgd_setint(L, "steps_per_epoch", (lua_Integer)gd_trainer_steps_per_epoch(tr));
    if (res->error)
        lgd_setstr(L, "error", res->error);
    if (r->ckpt && res->last_ckpt_step >= 0)
        lgd_setstr(L, "checkpoint", r->rs.ckpt_path);
    if (ck) {   /* where this run took over (plots mark a fork there) */
        lua_createtable(L, 0, 4);
        lgd_setstr(L, "path", from->path);
        lgd_setint(L, "step", (lua_Integer)ck->state.step);
        lgd_setnum(L, "epoch", (double)ck->state.epoch +
                                   (double)ck->state.pos / (double)gd_dataset_size(r->cfg.train));
        lgd_setbool(L, "fork", from->fork);
        lgd_setbool(L, "optimizer_kept", r->kept_optimizer);
        lua_setfield(L, -2, "resumed_from");
    }
    if (d) {
        push_divergence(L, d);
        lua_setfield(L, -2, "diverged");
    }
    if (r->rs.patience > 0) {
        lgd_setbool(L, "stopped_early", res->stopped);
        if (res->best_epoch > 0) {
            lgd_setint(L, "best_epoch", (lua_Integer)res->best_epoch);
            lgd_setbool(L, "restored_best", res->restored);
        }
    }
    push_history(L, r, res);
}

/* gd.train(options), and gd._continue's run from a checkpoint (from its
 * upvalues: the checkpoint, fork, path, epochs_given): options into a
 * run's config, the core's run (core/run.h), its result as a table. */
static int train(lua_State *L)
{
    const char *what = "gd.train";
    if (!lua_istable(L, 1))
        return lgd_error(L, "gd.train: expects a table of options (gd.train{ model = ..., "
                         "... }), got %s", luaL_typename(L, 1));
    gd_value v[LGD_MAX_OPTIONS];
    lgd_read_options(L, 1, "gd.train", lgd_train_keys, v);
    lua_settop(L, CFG);
    run R, *r = &R;
    memset(r, 0, sizeof R);
    lgd_resume from = { 0 };
    if (!lua_isnoneornil(L, lua_upvalueindex(1))) {
        from.ck = lgd_testcheckpoint(L, lua_upvalueindex(1));
        from.fork = lua_toboolean(L, lua_upvalueindex(2));
        from.path = lua_tostring(L, lua_upvalueindex(3));
        from.epochs_given = lua_toboolean(L, lua_upvalueindex(4));
    }
    gd_checkpoint *ck = from.ck;
    read_basics(L, r, what, v);
    read_regularizers(L, r, what);
    read_clip(L, r, what);
    read_monitor(L, r, what);
    read_callbacks(L, r, v);
    read_model(L, r, what, ck);
    lua_settop(L, SCOPE - 1);                               /* RUN, EPOCHS, SPECS, ANCHOR */
    lua_createtable(L, (int)r->cfg.epochs, 0);
    lua_replace(L, EPOCHS);
    lua_newtable(L);
    lua_replace(L, ANCHOR);
    anchor_specs(L);
    lgd_run_checkpoints(L, r);
    lgd_run_probes(L, r);
    r->rs.has_validation = r->val != NULL;
    lgd_run_check_inputs(L, r);
    make_run(L, r);
    r->rs = gd_run_config_of(r->run)->settings;   /* with the data's identity */
    lua_getfield(L, CFG, "loss");
    lgd_model_set_loss(L, MODEL, -1);
    lua_pop(L, 1);
    lgd_model_set_labels(L, MODEL, r->cfg.train);
    if (ck)
        lgd_run_restore(L, r, &from);
    lua_settop(L, ANCHOR);
    enter_training_scope(L);                                /* SCOPE */
    lgd_run_claim(L, r);
    r->t_run = gd_run_clock();
    gd_run_status st = gd_run_execute(r->run);
    if (st == GD_RUN_ABORTED)
        return lua_error(L);        /* a callback's error, on top */
    if (st == GD_RUN_INTERRUPTED) {
        if (r->show_bar)
            fputs("\r\033[K", stderr);
        return lgd_run_interrupt(L, r);
    }
    push_result(L, r, &from);
    /* Free the run now rather than at the next collection: it holds the
     * batch buffers and the checkpoint path's lock. */
    lrun *t = lua_touserdata(L, RUN);
    gd_run_free(t->run);
    t->run = r->run = NULL;
    return 1;
}

/* gd._continue(options, checkpoint, "resume" | "fork", path, epochs_given):
 * gd.train continuing a loaded checkpoint's run (lua/resume.lua); path
 * names it in messages and in run.resumed_from. */
static int continue_run(lua_State *L)
{
    static const char *const modes[] = { "resume", "fork", NULL };
    luaL_checktype(L, 1, LUA_TTABLE);
    if (!lgd_testcheckpoint(L, 2))
        return lgd_error(L, "gd.train: not a checkpoint to resume (use gd.resume)");
    int fork = luaL_checkoption(L, 3, NULL, modes);
    luaL_checkstring(L, 4);
    lua_pushvalue(L, 2);
    lua_pushboolean(L, fork);
    lua_pushvalue(L, 4);
    lua_pushboolean(L, lua_toboolean(L, 5));
    lua_pushcclosure(L, train, 4);
    lua_pushvalue(L, 1);
    lua_call(L, 1, 1);
    return 1;
}

void lgd_open_train(lua_State *L)
{
    static const luaL_Reg meta[] = {
        { "__gc", run_gc },
        { NULL, NULL },
    };
    luaL_newmetatable(L, LGD_TRAINER);
    lua_pushcfunction(L, run_gc);
    lua_setfield(L, -2, "__close");
    luaL_setfuncs(L, meta, 0);
    lua_pop(L, 1);
    lua_pushcfunction(L, train);
    lua_setfield(L, -2, "train");
    lua_pushcfunction(L, continue_run);
    lua_setfield(L, -2, "_continue");
}
