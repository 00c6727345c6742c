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

const lgd_key lgd_monitor_keys[] = {
    { "every", "integer >= 1", "100", "steps between telemetry records (history.steps)" },
    { "probes", "table", "(none)", "curvature, noise and step probes (below; gradus doc probe)" },
    { NULL, NULL, NULL, NULL },
};

const lgd_key lgd_monitor_probe_keys[] = {
    { "sharpness", "true | { every, samples = 2048, iters = 20, tol = 1e-3 }", "(off)",
      "the top Hessian eigenvalue (Lanczos), beside 2/lr" },
    { "trace", "true | { every, samples = 2048, probes = 10 }", "(off)",
      "Hutchinson's estimate of tr(H) and its standard error" },
    { "noise_scale", "true | { every, samples = 2048, small, big, repeats = 1 }", "(off)",
      "B_simple; small: min(batch, big/4), big: min(samples, 1024)" },
    { "distance", "true | { every }", "(off)", "‖w − w_start‖, total and per layer" },
    { "alpha", "true | { every, samples = 2048 }", "(off)",
      "Cockpit's step quality: -1 too short, 0 to the minimum, 1 overshoot" },
    { NULL, NULL, NULL, NULL },
};

static const lgd_key sharpness_keys[] = {
    { "every", "", "", "" }, { "samples", "", "", "" }, { "iters", "", "", "" },
    { "tol", "", "", "" }, { NULL, NULL, NULL, NULL },
};
static const lgd_key trace_keys[] = {
    { "every", "", "", "" }, { "samples", "", "", "" }, { "probes", "", "", "" },
    { NULL, NULL, NULL, NULL },
};
static const lgd_key noise_keys[] = {
    { "every", "", "", "" }, { "samples", "", "", "" }, { "small", "", "", "" },
    { "big", "", "", "" }, { "repeats", "", "", "" }, { NULL, NULL, NULL, NULL },
};
static const lgd_key distance_keys[] = { { "every", "", "", "" }, { NULL, NULL, NULL, NULL } };
static const lgd_key alpha_keys[] = {
    { "every", "", "", "" }, { "samples", "", "", "" }, { NULL, NULL, NULL, NULL },
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
 * (defaults) or an options table, left on the stack; returns whether on. */
static int probe_opts(lua_State *L, int idx, const char *name, const lgd_key *keys)
{
    int t = lua_getfield(L, idx, name);
    if (t == LUA_TNIL || (t == LUA_TBOOLEAN && !lua_toboolean(L, -1)))
        return 0;
    if (t == LUA_TBOOLEAN) {
        lua_pop(L, 1);
        lua_newtable(L);
        return 1;
    }
    if (t != LUA_TTABLE)
        lgd_error(L, "gd.train: monitor.probes.%s must be true or a table of options, got %s",
                  name, luaL_typename(L, -1));
    char what[64];
    snprintf(what, sizeof what, "gd.train: monitor.probes.%s", name);
    lgd_check_keys(L, -1, what, keys);
    return 1;
}

static double field_pos(lua_State *L, int idx, const char *what, const char *key, double def)
{
    if (lua_getfield(L, idx, key) == LUA_TNIL) {
        lua_pop(L, 1);
        return def;
    }
    double v = lua_tonumber(L, -1);
    if (lua_type(L, -1) != LUA_TNUMBER || !(v > 0) || !isfinite(v))
        lgd_error(L, "%s: '%s' must be a number > 0", what, key);
    lua_pop(L, 1);
    return v;
}

void lgd_run_probes(lua_State *L, run *r)
{
    if (lua_getfield(L, CFG, "monitor") != LUA_TTABLE) {
        lua_pop(L, 1);
        return;
    }
    int mon = lua_gettop(L);
    lgd_check_keys(L, mon, "gd.train: monitor", lgd_monitor_keys);
    if (lua_getfield(L, mon, "probes") == LUA_TNIL) {
        lua_settop(L, mon - 1);
        return;
    }
    int pt = lua_gettop(L);
    if (!lua_istable(L, pt))
        lgd_error(L, "gd.train: monitor.probes must be a table ({ sharpness = true, ... })");
    lgd_check_keys(L, pt, "gd.train: monitor.probes", lgd_monitor_probe_keys);
    if (r->cfg.distributed)
        lgd_error(L, "gd.train: monitor.probes is not supported in distributed training yet "
                  "(each rank would probe its own shard)");
    int64_t every = r->cfg.monitor_every > 0 ? r->cfg.monitor_every : 100;
    int64_t n = gd_dataset_size(r->cfg.train);
    gd_probe_plan p = { 0 };
    p.batch = gd_batch_size(r->cfg.batch, n);
    p.seed = r->cfg.seed;
    const char *w;
    if (probe_opts(L, pt, "sharpness", sharpness_keys)) {
        w = "gd.train: monitor.probes.sharpness";
        p.sharpness_every = lgd_field_int(L, -1, w, "every", every, 1);
        p.sharpness_samples = lgd_field_int(L, -1, w, "samples", 2048, 2);
        p.sharpness_iters = (int)lgd_field_int(L, -1, w, "iters", 20, 1);
        p.sharpness_tol = field_pos(L, lua_gettop(L), w, "tol", 1e-3);
    }
    lua_settop(L, pt);
    if (probe_opts(L, pt, "trace", trace_keys)) {
        w = "gd.train: monitor.probes.trace";
        p.trace_every = lgd_field_int(L, -1, w, "every", every, 1);
        p.trace_samples = lgd_field_int(L, -1, w, "samples", 2048, 2);
        p.trace_probes = (int)lgd_field_int(L, -1, w, "probes", 10, 2);
    }
    lua_settop(L, pt);
    if (probe_opts(L, pt, "noise_scale", noise_keys)) {
        w = "gd.train: monitor.probes.noise_scale";
        p.noise_every = lgd_field_int(L, -1, w, "every", every, 1);
        p.noise_samples = lgd_field_int(L, -1, w, "samples", 2048, 2);
        int64_t avail = p.noise_samples < n ? p.noise_samples : n;
        p.noise_big = lgd_field_int(L, -1, w, "big", avail < 1024 ? avail : 1024, 2);
        int64_t small = p.batch < p.noise_big / 4 ? p.batch : p.noise_big / 4;
        p.noise_small = lgd_field_int(L, -1, w, "small", small > 0 ? small : 1, 1);
        p.noise_repeats = (int)lgd_field_int(L, -1, w, "repeats", 1, 1);
    }
    lua_settop(L, pt);
    if (probe_opts(L, pt, "distance", distance_keys))
        p.distance_every = lgd_field_int(L, -1, "gd.train: monitor.probes.distance", "every",
                                         every, 1);
    lua_settop(L, pt);
    if (probe_opts(L, pt, "alpha", alpha_keys)) {
        w = "gd.train: monitor.probes.alpha";
        p.alpha_every = lgd_field_int(L, -1, w, "every", every, 1);
        p.alpha_samples = lgd_field_int(L, -1, w, "samples", 2048, 2);
    }
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
