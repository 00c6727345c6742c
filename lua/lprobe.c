/*
 * lua/lprobe.c: gd.probe, the Lua face of core/probe.h (DESIGN.md §11).
 *
 * A probe userdata owns its gd_probe; user values keep the model, the loss
 * spec and the data set alive as long as it lives. The math is all in C;
 * this file reads option tables (refusing unknown keys) and turns results
 * into tables and tensors.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lapi.h"
#include "lgradus.h"
#include "ltrain.h"
#include "probe.h"

#define LGD_PROBE "gradus.probe"

typedef struct lprobe {
    gd_probe *p;   /* owned; NULL after __gc */
} lprobe;

static const char *const all_samples[] = { "all", NULL };
static const char *const differences[] = { "central", "forward", NULL };
static const char *const spectrum_ends[] = { "largest", "smallest", NULL };
static const char *const trace_methods[] = { "hutchinson", "exact", NULL };
static const char *const normalizations[] = { "filter", "unit", "none", NULL };

enum { P_MODEL, P_LOSS, P_DATA, P_SAMPLES, P_SEED, P_BATCH, P_DIFFERENCE };
const lgd_key lgd_probe_keys[] = {
    LGD_REQUIRED("model", 0, "model", "a built model (run.model, seq:build{...})"),
    LGD_VALUE("loss", 0, "loss spec", "the model's, else by the data",
      "e.g. gd.loss.cross_entropy{}; the data loss only, no regularizer"),
    LGD_REQUIRED("data", LGD_IS_DATASET, "data set", "where the probe set is drawn from"),
    { "samples", NULL, "\"all\"", "the probe set: samples drawn once from seed",
      { .type = GD_OPT_INTEGER, .flags = GD_OPT_HAS_MIN | GD_OPT_OPTIONAL, .min = 2,
        .choices = all_samples }, 0, NULL },
    LGD_INT("seed", 1, 0, "which samples, and every random vector of the probe"),
    LGD_INT("batch", 256, 1, "samples per forward/backward pass (batch norm's batch)"),
    LGD_CHOICE("difference", "central", differences,
      "H·v from two gradients around w, or one beside g(w): half the cost, but an O(ε) "
      "error that is large where curvature changes fast (the edge of stability)"),
    { NULL },
};

#define TOL_ROW(d, dc) LGD_NUM("tol", d, GD_OPT_HAS_MIN | GD_OPT_MIN_OPEN, 0, 0, dc)
#define RANGE_ROW(dc) LGD_NUM("range", 1, GD_OPT_HAS_MIN | GD_OPT_MIN_OPEN, 0, 0, dc)
#define NORMALIZE_ROW(dc)                                                                 \
    { "normalize", NULL, "random: \"filter\"; given: \"none\"", dc,                        \
      { .type = GD_OPT_ENUM, .flags = GD_OPT_OPTIONAL, .choices = normalizations }, 0, NULL }

enum { E_K, E_ITERS, E_TOL, E_START, E_WHICH };
const lgd_key lgd_probe_eigen_keys[] = {
    LGD_INT("k", 1, 1, "how many of the largest eigenvalues"),
    LGD_INT("iters", 100, 1, "Lanczos steps at most (one HVP each; at least k)"),
    TOL_ROW(1e-3, "stop when every residual <= tol·|value|"),
    LGD_VALUE("start", 0, "tensor [n]", "(random)", "the first Lanczos vector (warm start)"),
    LGD_CHOICE("which", "largest", spectrum_ends, "which end of the spectrum"),
    { NULL },
};

const lgd_key lgd_probe_trace_keys[] = {
    LGD_INT("probes", 100, 1, "Rademacher vectors (Hutchinson)"),
    LGD_CHOICE("method", "hutchinson", trace_methods,
      "exact: one HVP per parameter (models up to 20000 parameters)"),
    { NULL },
};

const lgd_key lgd_probe_noise_keys[] = {
    LGD_INT_OR("small", 1, "min(32, big / 2)", "the small batch"),
    LGD_INT_OR("big", 2, "min(1024, samples)", "the big batch (from the probe set)"),
    LGD_INT("repeats", 4, 1, "big batches drawn; numerator and denominator averaged separately"),
    LGD_BOOL("exact", false, "from the per-example gradients of the whole probe set"),
    { NULL },
};

enum { S_DIRECTION, S_NORMALIZE, S_RANGE, S_POINTS };
const lgd_key lgd_probe_slice_keys[] = {
    LGD_VALUE("direction", 0, "tensor [n] | \"random\"", "\"random\"", "d: the loss at w + α·d"),
    NORMALIZE_ROW("filter: Li et al. (each row to its weights' norm, biases 0); unit: d/|d|"),
    RANGE_ROW("α from -range to range"),
    LGD_INT("points", 21, 2, "values of α"),
    LGD_VALUE("alphas", 0, "list of numbers", "(from range, points)", "the α's themselves"),
    { NULL },
};

const lgd_key lgd_probe_surface_keys[] = {
    LGD_VALUE("directions", 0, "{ d1, d2 } | \"random\"", "\"random\"", "the loss at w + α·d1 + β·d2"),
    NORMALIZE_ROW("as in slice"),
    RANGE_ROW("α and β from -range to range"),
    LGD_INT_IN("points", 21, 2, 1000, "values of α (and of β): points² losses"),
    { NULL },
};

static gd_probe *checkprobe(lua_State *L, int idx)
{
    lprobe *lp = luaL_checkudata(L, idx, LGD_PROBE);
    if (!lp->p)
        lgd_error(L, "probe: used after it was freed");
    return lp->p;
}

/* The options table at idx read against keys into v (absent: an empty
 * table pushed in its place, so later fields read as nil). */
static void opt_table(lua_State *L, int idx, const char *what, const lgd_key *keys, gd_value *v)
{
    lgd_read_options(L, idx, what, keys, v);
    if (lua_isnoneornil(L, idx)) {
        lua_settop(L, idx - 1);
        lua_newtable(L);
    }
}

/* The flat vector argument at idx: a tensor or table of exactly n numbers. */
static const float *checkvec(lua_State *L, int idx, int64_t n, const char *what)
{
    int pushed;
    lgd_tensor *t = lgd_totensor(L, idx, &pushed);
    if (t->numel != n)
        lgd_error(L, "%s: the vector has %lld elements, the model %lld parameters", what,
                  (long long)t->numel, (long long)n);
    if (pushed)
        lua_replace(L, idx);   /* keep the converted tensor alive */
    return t->data;
}

static lgd_tensor *new_vec(lua_State *L, int64_t n)
{
    gd_shape s = gd_shape_1(n);
    return lgd_tensor_new(L, &s);
}

/* ---------------------------------------------------------------------------
 * gd.probe{...}
 * ------------------------------------------------------------------------- */

static int probe_new(lua_State *L)
{
    const char *what = "gd.probe";
    luaL_checktype(L, 1, LUA_TTABLE);
    gd_value v[LGD_MAX_OPTIONS];
    lgd_read_options(L, 1, what, lgd_probe_keys, v);
    lua_settop(L, 1);
    lua_getfield(L, 1, "model");                   /* 2 */
    lgd_model *md = lgd_checkmodel(L, 2);
    lua_getfield(L, 1, "data");                    /* 3 */
    gd_dataset *ds = lgd_checkdataset(L, 3);
    /* Slot 4 keeps the loss spec alive: the one given, the model's from
     * gd.train, a loaded model's (held by the model), or the data's usual. */
    const gd_spec *loss = lgd_field_spec(L, 1, what, "loss", GD_KIND_LOSS, 0);
    lua_getfield(L, 1, "loss");
    if (!loss) {
        lua_pop(L, 1);
        if (lua_getiuservalue(L, 2, 3) == LUA_TUSERDATA)
            loss = lgd_testspec(L, -1);
    }
    if (!loss)
        loss = gd_model_loss(md->m);
    if (!loss) {
        lua_settop(L, 3);
        lua_getfield(L, lua_upvalueindex(1), "loss");
        lua_getfield(L, -1, gd_dataset_classes(ds) > 0 ? "cross_entropy" : "mse");
        lua_call(L, 0, 1);
        loss = lgd_checkspec(L, -1, GD_KIND_LOSS);
        lua_remove(L, -2);
    }
    lua_settop(L, 4);
    gd_probe_config cfg = { md->m, loss, ds, v[P_SAMPLES].present && v[P_SAMPLES].u.i > 0
                                                 ? v[P_SAMPLES].u.i : 0,   /* "all": 0 */
                            (uint64_t)v[P_SEED].u.i, v[P_BATCH].u.i, v[P_DIFFERENCE].u.e == 1 };
    lprobe *lp = lua_newuserdatauv(L, sizeof *lp, 3);   /* 5 */
    lp->p = NULL;
    luaL_setmetatable(L, LGD_PROBE);
    for (int i = 0; i < 3; i++) {
        lua_pushvalue(L, 2 + i);
        lua_setiuservalue(L, 5, i + 1);
    }
    gd_error err;
    if (!(lp->p = gd_probe_new(&cfg, &err)))
        return lgd_raise(L, &err);
    return 1;
}

static int probe_gc(lua_State *L)
{
    lprobe *lp = luaL_checkudata(L, 1, LGD_PROBE);
    gd_probe_free(lp->p);
    lp->p = NULL;
    return 0;
}

static int probe_tostring(lua_State *L)
{
    gd_probe *p = checkprobe(L, 1);
    lua_pushfstring(L, "probe{ %d samples, %d parameters }", (int)gd_probe_samples(p),
                    (int)gd_probe_nparams(p));
    return 1;
}

/* ---------------------------------------------------------------------------
 * Methods
 * ------------------------------------------------------------------------- */

static int m_samples(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)gd_probe_samples(checkprobe(L, 1)));
    return 1;
}

static int m_loss(lua_State *L)
{
    gd_probe *p = checkprobe(L, 1);
    double l;
    gd_error err;
    if (gd_probe_loss(p, &l, &err) != GD_OK)
        return lgd_raise(L, &err);
    lua_pushnumber(L, l);
    return 1;
}

/* p:grad() -> tensor [n], loss */
static int m_grad(lua_State *L)
{
    gd_probe *p = checkprobe(L, 1);
    lgd_tensor *g = new_vec(L, gd_probe_nparams(p));
    double l;
    gd_error err;
    if (gd_probe_grad(p, g->data, &l, &err) != GD_OK)
        return lgd_raise(L, &err);
    lua_pushnumber(L, l);
    return 2;
}

static int m_hvp(lua_State *L)
{
    gd_probe *p = checkprobe(L, 1);
    int64_t n = gd_probe_nparams(p);
    const float *v = checkvec(L, 2, n, "probe:hvp");
    lgd_tensor *hv = new_vec(L, n);
    gd_error err;
    if (gd_probe_hvp(p, v, hv->data, &err) != GD_OK)
        return lgd_raise(L, &err);
    return 1;
}

/* p:eigen{ k, iters, tol, start } -> { values, vectors, residuals, iters } */
static int m_eigen(lua_State *L)
{
    const char *what = "probe:eigen";
    gd_probe *p = checkprobe(L, 1);
    int64_t n = gd_probe_nparams(p);
    gd_value v[LGD_MAX_OPTIONS];
    opt_table(L, 2, what, lgd_probe_eigen_keys, v);
    gd_probe_eigen_opts o = { (int)v[E_K].u.i, (int)v[E_ITERS].u.i, v[E_TOL].u.num, NULL,
                              v[E_WHICH].u.e == 1 };
    lua_settop(L, 2);
    if (lua_getfield(L, 2, "start") != LUA_TNIL)   /* 3 */
        o.start = checkvec(L, 3, n, "probe:eigen: start");
    if (o.k > n || o.k > 64)
        return lgd_error(L, "%s: k must be <= %d, got %d", what, n < 64 ? (int)n : 64, o.k);
    double values[64], resid[64];
    int iters = 0;
    /* The vectors land in one [k, n] tensor; each is handed out as a view. */
    gd_shape vs = gd_shape_2(o.k, n);
    lgd_tensor *vec = lgd_tensor_new(L, &vs);        /* 4 */
    gd_error err;
    if (gd_probe_eigen(p, &o, values, vec->data, resid, &iters, &err) != GD_OK)
        return lgd_raise(L, &err);
    lua_createtable(L, 0, 4);
    lua_createtable(L, o.k, 0);
    for (int i = 0; i < o.k; i++) {
        lua_pushnumber(L, values[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "values");
    lua_createtable(L, o.k, 0);
    for (int i = 0; i < o.k; i++) {
        gd_shape s = gd_shape_1(n);
        lgd_tensor_copy(L, vec->data + (size_t)i * n, &s);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "vectors");
    lua_createtable(L, o.k, 0);
    double worst = 0;
    for (int i = 0; i < o.k; i++) {
        lua_pushnumber(L, resid[i]);
        lua_rawseti(L, -2, i + 1);
        worst = fmax(worst, resid[i]);
    }
    lua_setfield(L, -2, "residuals");
    lgd_setnum(L, "residual", worst);
    lgd_setint(L, "iters", iters);
    return 1;
}

/* p:trace{ probes, method } -> { trace, se, probes, method } */
static int m_trace(lua_State *L)
{
    const char *what = "probe:trace";
    gd_probe *p = checkprobe(L, 1);
    gd_value v[LGD_MAX_OPTIONS];
    opt_table(L, 2, what, lgd_probe_trace_keys, v);
    int probes = (int)v[0].u.i;
    bool exact = v[1].u.e == 1;
    double tr, se;
    gd_error err;
    if (gd_probe_trace(p, probes, exact, &tr, &se, &err) != GD_OK)
        return lgd_raise(L, &err);
    lua_createtable(L, 0, 4);
    lgd_setnum(L, "trace", tr);
    lgd_setnum(L, "se", se);
    lgd_setint(L, "probes", exact ? gd_probe_nparams(p) : probes);
    lgd_setstr(L, "method", exact ? "exact" : "hutchinson");
    return 1;
}

/* p:noise_scale{ small, big, repeats, exact } -> { b_simple, tr_sigma, grad_sq, ... } */
static int m_noise_scale(lua_State *L)
{
    const char *what = "probe:noise_scale";
    gd_probe *p = checkprobe(L, 1);
    gd_value v[LGD_MAX_OPTIONS];
    opt_table(L, 2, what, lgd_probe_noise_keys, v);
    bool exact = v[3].u.b;
    int64_t N = gd_probe_samples(p);
    int64_t big = v[1].present ? v[1].u.i : N < 1024 ? N : 1024;
    int64_t small = v[0].present ? v[0].u.i : big / 2 < 32 ? big / 2 : 32;
    int repeats = (int)v[2].u.i;
    gd_probe_noise r;
    gd_error err;
    gd_status st = exact ? gd_probe_noise_exact(p, &r, &err)
                         : gd_probe_noise_scale(p, small, big, repeats, &r, &err);
    if (st != GD_OK)
        return lgd_raise(L, &err);
    lua_createtable(L, 0, 6);
    lgd_setnum(L, "b_simple", r.b_simple);
    lgd_setnum(L, "tr_sigma", r.tr_sigma);
    lgd_setnum(L, "grad_sq", r.grad_sq);
    lgd_setbool(L, "exact", exact);
    if (!exact) {
        lgd_setint(L, "small", r.small);
        lgd_setint(L, "big", r.big);
        lgd_setint(L, "repeats", r.repeats);
    }
    return 1;
}

/* A direction into a new tensor (pushed): the table's `key` (a tensor or
 * "random"), normalized as `normalize` says. */
static lgd_tensor *direction(lua_State *L, gd_probe *p, int val, const char *normalize,
                             const char *what)
{
    int64_t n = gd_probe_nparams(p);
    bool random = lua_isnil(L, val) ||
                  (lua_type(L, val) == LUA_TSTRING && strcmp(lua_tostring(L, val), "random") == 0);
    if (!random && lua_type(L, val) == LUA_TSTRING)
        lgd_error(L, "%s: a direction is a tensor of the parameters' size or \"random\", got "
                  "\"%s\"", what, lua_tostring(L, val));
    const float *given = random ? NULL : checkvec(L, val, n, what);
    lgd_tensor *d = new_vec(L, n);
    if (!normalize)
        normalize = random ? "filter" : "none";
    if (random)
        gd_probe_random_direction(p, d->data, false);
    else
        memcpy(d->data, given, (size_t)n * sizeof(float));
    if (strcmp(normalize, "filter") == 0) {
        gd_probe_filter_normalize(p, d->data);
    } else if (strcmp(normalize, "unit") == 0) {
        double nd = gd_vec_norm(d->data, n);
        if (!(nd > 0))
            lgd_error(L, "%s: normalize = \"unit\" of a zero direction", what);
        gd_vec_scale(d->data, 1 / nd, n);
    }
    return d;
}

/* The grid -range..range in `points` steps into a (pushed) userdata. */
static double *grid(lua_State *L, double range, int64_t points)
{
    double *a = lua_newuserdatauv(L, (size_t)points * sizeof(double), 0);
    for (int64_t i = 0; i < points; i++)
        a[i] = -range + 2 * range * (double)i / (double)(points - 1);
    return a;
}

static void push_list(lua_State *L, const double *v, int64_t n)
{
    lua_createtable(L, (int)n, 0);
    for (int64_t i = 0; i < n; i++) {
        lua_pushnumber(L, v[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
}

/* p:slice{ direction, normalize, range, points | alphas } -> { alphas, loss, direction } */
static int m_slice(lua_State *L)
{
    const char *what = "probe:slice";
    gd_probe *p = checkprobe(L, 1);
    gd_value v[LGD_MAX_OPTIONS];
    opt_table(L, 2, what, lgd_probe_slice_keys, v);
    const char *norm = v[S_NORMALIZE].present ? normalizations[v[S_NORMALIZE].u.e] : NULL;
    double range = v[S_RANGE].u.num;
    int64_t points = v[S_POINTS].u.i;
    lua_settop(L, 2);
    double *a;
    if (lua_getfield(L, 2, "alphas") != LUA_TNIL) {   /* 3 */
        luaL_argcheck(L, lua_istable(L, 3), 2, "alphas must be a list of numbers");
        points = (int64_t)luaL_len(L, 3);
        if (points < 1)
            return lgd_error(L, "%s: alphas is empty", what);
        a = lua_newuserdatauv(L, (size_t)points * sizeof(double), 0);   /* 4 */
        for (int64_t i = 0; i < points; i++) {
            lua_geti(L, 3, i + 1);
            if (lua_type(L, -1) != LUA_TNUMBER || !isfinite(lua_tonumber(L, -1)))
                return lgd_error(L, "%s: alphas[%d] must be a finite number", what, (int)i + 1);
            a[i] = lua_tonumber(L, -1);
            lua_pop(L, 1);
        }
    } else {
        a = grid(L, range, points);                    /* 4 */
    }
    lua_getfield(L, 2, "direction");                   /* 5 */
    lgd_tensor *d = direction(L, p, 5, norm, what);    /* 6 */
    double *loss = lua_newuserdatauv(L, (size_t)points * sizeof(double), 0);   /* 7 */
    gd_error err;
    if (gd_probe_losses_at(p, d->data, NULL, a, NULL, points, loss, &err) != GD_OK)
        return lgd_raise(L, &err);
    lua_createtable(L, 0, 3);
    push_list(L, a, points);
    lua_setfield(L, -2, "alphas");
    push_list(L, loss, points);
    lua_setfield(L, -2, "loss");
    lua_pushvalue(L, 6);
    lua_setfield(L, -2, "direction");
    return 1;
}

/* p:surface{ directions, normalize, range, points } -> { alphas, betas, loss[i][j], directions } */
static int m_surface(lua_State *L)
{
    const char *what = "probe:surface";
    gd_probe *p = checkprobe(L, 1);
    gd_value v[LGD_MAX_OPTIONS];
    opt_table(L, 2, what, lgd_probe_surface_keys, v);
    const char *norm = v[S_NORMALIZE].present ? normalizations[v[S_NORMALIZE].u.e] : NULL;
    double range = v[S_RANGE].u.num;
    int64_t points = v[S_POINTS].u.i;
    lua_settop(L, 2);
    double *g = grid(L, range, points);                /* 3 */
    int t = lua_getfield(L, 2, "directions");          /* 4 */
    if (t == LUA_TTABLE) {
        if (luaL_len(L, 4) != 2)
            return lgd_error(L, "%s: directions must be { d1, d2 } or \"random\"", what);
        lua_geti(L, 4, 1);                             /* 5 */
        lua_geti(L, 4, 2);                             /* 6 */
    } else if (t == LUA_TNIL || (t == LUA_TSTRING && strcmp(lua_tostring(L, 4), "random") == 0)) {
        lua_pushnil(L);
        lua_pushnil(L);
    } else {
        return lgd_error(L, "%s: directions must be { d1, d2 } or \"random\", got %s", what,
                         luaL_tolstring(L, 4, NULL));
    }
    lgd_tensor *d1 = direction(L, p, 5, norm, what);   /* 7 */
    lgd_tensor *d2 = direction(L, p, 6, norm, what);   /* 8 */
    int64_t np = points * points;
    double *a = lua_newuserdatauv(L, (size_t)np * 3 * sizeof(double), 0);   /* 9 */
    double *b = a + np, *loss = b + np;
    for (int64_t i = 0; i < points; i++)
        for (int64_t j = 0; j < points; j++) {
            a[i * points + j] = g[i];
            b[i * points + j] = g[j];
        }
    gd_error err;
    if (gd_probe_losses_at(p, d1->data, d2->data, a, b, np, loss, &err) != GD_OK)
        return lgd_raise(L, &err);
    lua_createtable(L, 0, 4);
    push_list(L, g, points);
    lua_setfield(L, -2, "alphas");
    push_list(L, g, points);
    lua_setfield(L, -2, "betas");
    lua_createtable(L, (int)points, 0);
    for (int64_t i = 0; i < points; i++) {
        push_list(L, loss + i * points, points);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_setfield(L, -2, "loss");
    lua_createtable(L, 2, 0);
    lua_pushvalue(L, 7);
    lua_rawseti(L, -2, 1);
    lua_pushvalue(L, 8);
    lua_rawseti(L, -2, 2);
    lua_setfield(L, -2, "directions");
    return 1;
}

void lgd_open_probe(lua_State *L)
{
    static const luaL_Reg meta[] = {
        { "loss", m_loss },
        { "grad", m_grad },
        { "hvp", m_hvp },
        { "eigen", m_eigen },
        { "trace", m_trace },
        { "noise_scale", m_noise_scale },
        { "slice", m_slice },
        { "surface", m_surface },
        { "samples", m_samples },
        { "__gc", probe_gc },
        { "__tostring", probe_tostring },
        { NULL, NULL },
    };
    lgd_newclass(L, LGD_PROBE, meta, 0);
    lua_pop(L, 1);
    /* gd.probe finds gd.loss through the module table (upvalue 1). */
    lua_pushvalue(L, -1);
    lua_pushcclosure(L, probe_new, 1);
    lua_setfield(L, -2, "probe");
}
