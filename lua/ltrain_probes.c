/*
 * lua/ltrain_probes.c: gd.train's monitor.probes (core/probe_monitor.h):
 * the options into a probe plan, the monitor the run loop calls, and
 * run.history.probes.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ltrain.h"
#include "probe_monitor.h"

#define LGD_PROBE_MONITOR "gradus.probe_monitor"

#define EVERY LGD_INT_OR("every", 1, "monitor.every", "steps between measurements")
#define SAMPLES LGD_INT("samples", 2048, 2, "the probe set drawn once from the training set")

enum { EVERY_, SAMPLES_, THIRD_, FOURTH_, FIFTH_ };

static const lgd_key sharpness_keys[] = {
    EVERY, SAMPLES, LGD_INT("iters", 20, 1, "Lanczos iterations at most"),
    LGD_NUM("tol", 1e-3, GD_OPT_HAS_MIN | GD_OPT_MIN_OPEN, 0, 0, "relative residual to stop at"),
    { NULL },
};
static const lgd_key trace_keys[] = {
    EVERY, SAMPLES, LGD_INT("probes", 10, 2, "Hutchinson's random vectors"), { NULL },
};
static const lgd_key noise_keys[] = {
    EVERY, SAMPLES, LGD_INT_OR("small", 1, "min(batch, big/4)", "the small batch"),
    LGD_INT_OR("big", 2, "min(samples, 1024)", "the big batch"),
    LGD_INT("repeats", 1, 1, "draws averaged"), { NULL },
};
static const lgd_key distance_keys[] = { EVERY, { NULL } };
static const lgd_key alpha_keys[] = { EVERY, SAMPLES, { NULL } };

const lgd_key lgd_monitor_probe_keys[] = {
    LGD_SUB("sharpness", "true | table", "(off)", sharpness_keys,
            "the top Hessian eigenvalue (Lanczos), beside 2/lr"),
    LGD_SUB("trace", "true | table", "(off)", trace_keys,
            "Hutchinson's estimate of tr(H) and its standard error"),
    LGD_SUB("noise_scale", "true | table", "(off)", noise_keys,
            "B_simple = tr(Σ)/|G|², from a small and a big batch"),
    LGD_SUB("distance", "true | table", "(off)", distance_keys,
            "‖w − w_start‖, total and per layer"),
    LGD_SUB("alpha", "true | table", "(off)", alpha_keys,
            "Cockpit's step quality: -1 too short, 0 to the minimum, 1 overshoot"),
    { NULL },
};

const lgd_key lgd_monitor_keys[] = {
    LGD_INT("every", 100, 1, "steps between telemetry records (history.steps)"),
    LGD_SUB("probes", "table", "(none)", lgd_monitor_probe_keys,
            "curvature, noise and step probes (gradus doc probe)"),
    { NULL },
};

typedef struct lmonitor {
    gd_probe_monitor *pm;
} lmonitor;

static int monitor_gc(lua_State *L)
{
    lmonitor *t = luaL_checkudata(L, 1, LGD_PROBE_MONITOR);
    gd_probe_monitor_free(t->pm);
    t->pm = NULL;
    return 0;
}

/* Field `name` of the probes table (at idx): nil/false (off), true
 * (defaults) or an options table, read into v; returns whether on. */
static int probe_opts(lua_State *L, int idx, const char *name, const lgd_key *keys, gd_value *v)
{
    int t = lua_getfield(L, idx, name);
    if (t == LUA_TNIL || (t == LUA_TBOOLEAN && !lua_toboolean(L, -1))) {
        lua_pop(L, 1);
        return 0;
    }
    char what[64];
    snprintf(what, sizeof what, "gd.train: monitor.probes.%s", name);
    if (t != LUA_TTABLE && t != LUA_TBOOLEAN)
        lgd_error(L, "%s: options must be true or a table, got %s", what, luaL_typename(L, -1));
    lgd_read_options(L, t == LUA_TTABLE ? -1 : 0, what, keys, v);
    lua_pop(L, 1);
    return 1;
}

void lgd_run_probes(lua_State *L, run *r)
{
    if (lua_getfield(L, CFG, "monitor") != LUA_TTABLE) {
        lua_pop(L, 1);
        return;
    }
    int mon = lua_gettop(L);   /* read by gd.train's reader (ltrain.c) */
    if (lua_getfield(L, mon, "probes") == LUA_TNIL) {
        lua_settop(L, mon - 1);
        return;
    }
    int pt = lua_gettop(L);
    lgd_check_keys(L, pt, "gd.train: monitor.probes", lgd_monitor_probe_keys);
    if (r->cfg.distributed)
        lgd_error(L, "gd.train: monitor.probes is not supported in distributed training yet "
                  "(each rank would probe its own shard)");
    int64_t every = r->cfg.monitor_every > 0 ? r->cfg.monitor_every : 100;
    int64_t n = gd_dataset_size(r->cfg.train);
    gd_probe_plan p = { 0 };
    p.batch = gd_batch_size(r->cfg.batch, n);
    p.seed = r->cfg.seed;
    gd_value v[LGD_MAX_OPTIONS];
#define EVERY_OF(v) ((v)[EVERY_].present ? (v)[EVERY_].u.i : every)
    if (probe_opts(L, pt, "sharpness", sharpness_keys, v)) {
        p.sharpness_every = EVERY_OF(v);
        p.sharpness_samples = v[SAMPLES_].u.i;
        p.sharpness_iters = (int)v[THIRD_].u.i;
        p.sharpness_tol = v[FOURTH_].u.num;
    }
    if (probe_opts(L, pt, "trace", trace_keys, v)) {
        p.trace_every = EVERY_OF(v);
        p.trace_samples = v[SAMPLES_].u.i;
        p.trace_probes = (int)v[THIRD_].u.i;
    }
    if (probe_opts(L, pt, "noise_scale", noise_keys, v)) {
        p.noise_every = EVERY_OF(v);
        p.noise_samples = v[SAMPLES_].u.i;
        int64_t avail = p.noise_samples < n ? p.noise_samples : n;
        p.noise_big = v[FOURTH_].present ? v[FOURTH_].u.i : avail < 1024 ? avail : 1024;
        int64_t small = p.batch < p.noise_big / 4 ? p.batch : p.noise_big / 4;
        p.noise_small = v[THIRD_].present ? v[THIRD_].u.i : small > 0 ? small : 1;
        p.noise_repeats = (int)v[FIFTH_].u.i;
    }
    if (probe_opts(L, pt, "distance", distance_keys, v))
        p.distance_every = EVERY_OF(v);
    if (probe_opts(L, pt, "alpha", alpha_keys, v)) {
        p.alpha_every = EVERY_OF(v);
        p.alpha_samples = v[SAMPLES_].u.i;
    }
#undef EVERY_OF
    lua_settop(L, mon - 1);
    if (!p.sharpness_every && !p.trace_every && !p.noise_every && !p.distance_every &&
        !p.alpha_every)
        return;
    lmonitor *t = lua_newuserdatauv(L, sizeof *t, 0);
    t->pm = NULL;
    if (luaL_newmetatable(L, LGD_PROBE_MONITOR)) {
        lua_pushcfunction(L, monitor_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    lua_setfield(L, ANCHOR, "probe_monitor");   /* lives as long as the run */
    gd_error err;
    if (!(t->pm = gd_probe_monitor_new(&p, r->m, r->cfg.loss, r->cfg.train, &err)))
        lgd_raise(L, &err);
    r->probes = t->pm;
}

static void setnum(lua_State *L, const char *k, double v)
{
    if (!isnan(v))
        lgd_setnum(L, k, v);
}

void lgd_push_probe_history(lua_State *L, const run *r)
{
    gd_probe_monitor *pm = r->probes;
    if (!pm)
        return;
    gd_trainer *tr = gd_run_trainer(r->run);
    int64_t spe = gd_trainer_steps_per_epoch(tr);
    int nl = gd_probe_monitor_layers(pm);
    int64_t n = gd_probe_monitor_count(pm);
    lua_createtable(L, (int)n, 0);
    for (int64_t i = 0; i < n; i++) {
        const gd_probe_record *rec = gd_probe_monitor_record(pm, i);
        lua_createtable(L, 0, 12);
        lgd_setint(L, "step", (lua_Integer)rec->step);
        lgd_setnum(L, "lr", gd_trainer_lr_at(tr, rec->step, spe > 0 ? rec->step / spe : 0));
        setnum(L, "sharpness", rec->sharpness);
        if (!isnan(rec->sharpness)) {
            lgd_setint(L, "sharpness_iters", rec->sharpness_iters);
            setnum(L, "sharpness_residual", rec->sharpness_residual);
        }
        setnum(L, "trace", rec->trace);
        setnum(L, "trace_se", rec->trace_se);
        setnum(L, "noise_scale", rec->noise_scale);
        setnum(L, "noise_tr_sigma", rec->noise_tr_sigma);
        setnum(L, "noise_grad_sq", rec->noise_grad_sq);
        setnum(L, "alpha", rec->alpha);
        setnum(L, "alpha_loss_before", rec->alpha_loss_before);
        setnum(L, "alpha_loss_after", rec->alpha_loss_after);
        if (!isnan(rec->distance)) {
            lgd_setnum(L, "distance", rec->distance);
            lua_createtable(L, 0, nl);
            for (int l = 0; l < nl; l++)
                if (!isnan(rec->layer_distance[l])) {
                    lua_pushnumber(L, rec->layer_distance[l]);
                    lua_setfield(L, -2, gd_model_layer_name(gd_model_layer_at(r->m, l)));
                }
            lua_setfield(L, -2, "distance_layers");
        }
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_setfield(L, -2, "probes");
}

/* The options that make plan p again (a checkpoint's, for gd.resume). */
void lgd_push_probe_plan(lua_State *L, const gd_probe_plan *p)
{
    lua_createtable(L, 0, 5);
    if (p->sharpness_every) {
        lua_createtable(L, 0, 4);
        lgd_setint(L, "every", p->sharpness_every);
        lgd_setint(L, "samples", p->sharpness_samples);
        lgd_setint(L, "iters", p->sharpness_iters);
        lgd_setnum(L, "tol", p->sharpness_tol);
        lua_setfield(L, -2, "sharpness");
    }
    if (p->trace_every) {
        lua_createtable(L, 0, 3);
        lgd_setint(L, "every", p->trace_every);
        lgd_setint(L, "samples", p->trace_samples);
        lgd_setint(L, "probes", p->trace_probes);
        lua_setfield(L, -2, "trace");
    }
    if (p->noise_every) {
        lua_createtable(L, 0, 5);
        lgd_setint(L, "every", p->noise_every);
        lgd_setint(L, "samples", p->noise_samples);
        lgd_setint(L, "small", p->noise_small);
        lgd_setint(L, "big", p->noise_big);
        lgd_setint(L, "repeats", p->noise_repeats);
        lua_setfield(L, -2, "noise_scale");
    }
    if (p->distance_every) {
        lua_createtable(L, 0, 1);
        lgd_setint(L, "every", p->distance_every);
        lua_setfield(L, -2, "distance");
    }
    if (p->alpha_every) {
        lua_createtable(L, 0, 2);
        lgd_setint(L, "every", p->alpha_every);
        lgd_setint(L, "samples", p->alpha_samples);
        lua_setfield(L, -2, "alpha");
    }
}

void lgd_restore_probes(lua_State *L, run *r, const gd_checkpoint *ck, const char *what)
{
    if (!r->probes || !ck->probes.present)
        return;
    gd_error err;
    if (gd_probe_monitor_restore(r->probes, ck->probes.recs, ck->probes.nrecs, ck->probes.start,
                                 ck->probes.warm, &err) != GD_OK)
        lgd_error(L, "%s: %s", what, err.msg);
}
