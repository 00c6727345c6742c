/*
 * tests/test_optim.c: core/optim.c, the optimizer instance the trainer, the
 * Lua primitives (opt:step) and the benchmark step through. Threads and the
 * fused per-layer step: test_optim_threads.c.
 *
 * - Which code the numbers come from: every reference case (optimizers.lua
 *   and optimizers_tensor.lua) runs through a gd_optim whose component is
 *   the built-in one with its step functions wrapped by a counter. The
 *   wrapped functions live in the plugin's own .so (dladdr), each update
 *   calls them once per tensor (step_all: once), and the values match the
 *   reference: they are the plugin's, not a re-implementation.
 * - An elementwise optimizer stepped per tensor gives, bit for bit, one
 *   span over all of them (what the trainer does), on 1 and 2 threads.
 * - Parameter groups: first match wins, layer paths, globs and block
 *   paths, role filters; a group matching nothing is refused.
 * - effective_lr on the tensor path: |dW| / |G| of the update.
 * - Errors: a two-pass optimizer as an inner one, a second gradient nobody
 *   can compute, a plugin's invalid slot length or start rule, indices out
 *   of range, an inner_step on an option that holds no optimizer.
 * - The elementwise step split over the pool is one pass bit for bit; the
 *   spec's tree (names, slots, base lr, which path it needs); a composite's
 *   numbers by hand (lookahead over sgd) and reset; the state layout a
 *   checkpoint holds.
 */
#include <dlfcn.h>
#include <lauxlib.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "component.h"
#include "model_layer.h"
#include "optim.h"
#include "support.h"
#include "threads.h"
#include "train.h"

/* ---------------------------------------------------------------------------
 * A component whose step functions count their calls, then call the
 * original ones (one wrapped component at a time).
 * ------------------------------------------------------------------------- */

static const gd_optimizer_vtable *orig_vt;
static gd_optimizer_vtable counting_vt;
static gd_component counting;
static _Atomic int calls;          /* atomic: the pool steps tensors in parallel */
static _Atomic int64_t span_numbers;

static void count_step(const gd_options *o, const gd_optim_state *st, const gd_optim_span *sp)
{
    calls++;
    span_numbers += sp->n;
    orig_vt->step(o, st, sp);
}

static void count_step_tensor(const gd_options *o, const gd_optim_ctx *ctx, gd_optim_tensor *t)
{
    calls++;
    orig_vt->step_tensor(o, ctx, t);
}

static gd_status count_step_all(const gd_options *o, const gd_optim_ctx *ctx,
                                gd_optim_tensor *ts, int n, gd_error *err)
{
    calls++;
    return orig_vt->step_all(o, ctx, ts, n, err);
}

/* The file of the shared object holding function f (realpath'd into buf). */
static const char *object_of(void (*f)(void), char *buf)
{
    void *addr;
    memcpy(&addr, &f, sizeof addr);   /* a function pointer as an address */
    Dl_info info;
    if (!dladdr(addr, &info) || !info.dli_fname || !realpath(info.dli_fname, buf))
        return "(unknown)";
    return buf;
}

/* A copy of spec s whose component is s's with counting step functions.
 * Checks that the functions it wraps are in the plugin's .so. */
static gd_spec *counted(const gd_spec *s)
{
    const gd_component *c = s->component;
    orig_vt = c->vt.optimizer;
    counting_vt = *orig_vt;
    void (*fn)(void) = NULL;
    if (orig_vt->step) {
        counting_vt.step = count_step;
        fn = (void (*)(void))orig_vt->step;
    }
    if (GD_HAS_MEMBER(orig_vt, gd_optimizer_vtable, step_tensor) && orig_vt->step_tensor) {
        counting_vt.step_tensor = count_step_tensor;
        fn = (void (*)(void))orig_vt->step_tensor;
    }
    if (GD_HAS_MEMBER(orig_vt, gd_optimizer_vtable, step_all) && orig_vt->step_all) {
        counting_vt.step_all = count_step_all;
        fn = (void (*)(void))orig_vt->step_all;
    }
    counting = *c;
    counting.vt.optimizer = &counting_vt;
    const gd_entry *e = gd_registry_entry_of(test_registry(), c);
    char a[PATH_MAX], b[PATH_MAX];
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_PTR_NOT_NULL_FATAL(fn);
    const char *want = realpath(e->file, b) ? b : e->file, *got = object_of(fn, a);
    if (strcmp(got, want) != 0) {
        fprintf(stderr, "\n  %s: step is in %s, expected the plugin %s\n", c->name, got, want);
        CU_FAIL("the step function is not the plugin's");
    }
    /* and dladdr tells them apart: the counter is in this test's binary */
    CU_ASSERT(strcmp(object_of((void (*)(void))count_step, a), want) != 0);
    gd_spec *w = gd_spec_copy(s);
    CU_ASSERT_PTR_NOT_NULL_FATAL(w);
    w->component = &counting;
    calls = 0;
    span_numbers = 0;
    return w;
}

/* ---------------------------------------------------------------------------
 * The reference cases through gd_optim
 * ------------------------------------------------------------------------- */

/* fn(L, the case's name, its optimizer spec) for each case of a reference
 * file, the case at the top of L's stack. */
static void each_case(const char *file, void (*fn)(lua_State *, const char *, const gd_spec *))
{
    lua_State *L = ref_open(file);
    CU_ASSERT_PTR_NOT_NULL_FATAL(L);
    int ncases = ref_case_count(L);
    CU_ASSERT(ncases > 0);
    for (int c = 1; c <= ncases; c++) {
        ref_push_case(L, c);
        gd_spec *spec = ref_spec(L, GD_KIND_OPTIMIZER, ref_string(L, "optimizer"));
        CU_ASSERT_PTR_NOT_NULL_FATAL(spec);
        fn(L, ref_string(L, "name"), spec);
        gd_spec_free(spec);
        lua_pop(L, 1);
    }
    ref_close(L);
}

/* optimizers.lua, teacher-forced: one tensor x, grads[t] fed at update t. */
static void elementwise_case(lua_State *L, const char *name, const gd_spec *spec)
{
    const char *form = ref_string(L, "form");
    gd_shape sx;
    float *x = ref_tensor(L, "x0", &sx), *grads = ref_tensor(L, "grads", NULL);
    float *params = ref_tensor(L, "params", NULL), *lrs = ref_tensor(L, "lr_per_step", NULL);
    float *velocity = form ? ref_tensor(L, "velocity", NULL) : NULL;
    int64_t steps = (int64_t)ref_number(L, "steps", 0), n = gd_shape_numel(&sx);
    CU_ASSERT_FATAL(x && grads && params && steps > 0 && (!form || velocity));
    /* The nesterov case stores W_la and v; the plugin's W is W_la - gamma*v. */
    if (form) {
        double gamma = gd_opt_num(spec->options,
                                  gd_spec_option_index(spec->component, "gamma"));
        for (int64_t i = 0; i < steps * n; i++)
            params[i] = (float)((double)params[i] - gamma * (double)velocity[i]);
    }
    double tol = 1e-5 * max_abs(params, steps * n) + 4 * ref_dev(L, "forced") +
                 (form ? 4 * ref_dev(L, "reparam") : 0);
    gd_spec *w = counted(spec);
    gd_optim_tensor t = { .x = x, .shape = sx, .role = GD_ROLE_WEIGHT };
    gd_error err;
    gd_optim *o = gd_optim_new(w, &t, 1, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(o);
    bool ok = true;
    for (int64_t s = 0; s < steps && ok; s++) {
        gd_optim_set_grad(o, 0, grads + s * n);
        double lr = lrs ? lrs[s] : gd_optimizer_base_lr(spec);
        CU_ASSERT_EQUAL(gd_optim_step(o, lr, NULL, NULL, &err), GD_OK);
        ok = check_close(name, x, params + s * n, n, tol);
    }
    CU_ASSERT(ok);
    CU_ASSERT_EQUAL(calls, steps);                /* one span per tensor per update */
    CU_ASSERT_EQUAL(span_numbers, steps * n);
    CU_ASSERT_EQUAL(gd_optim_steps(o), steps);
    gd_optim_free(o);
    gd_spec_free(w);
    free(x), free(grads), free(params), free(lrs), free(velocity);
}

static void test_optim_reference_elementwise_reaches_the_plugin(void)
{
    each_case("optimizers", elementwise_case);
}

/* The tensor at the top of the stack (a { shape =, ... } table), malloc'd. */
static float *top_tensor(lua_State *L, gd_shape *shape)
{
    lua_createtable(L, 0, 1);
    lua_pushvalue(L, -2);
    lua_setfield(L, -2, "v");
    float *f = ref_tensor(L, "v", shape);
    lua_pop(L, 1);
    return f;
}

/* field[t][k] of the case at the top of the stack into dst (numel floats). */
static void pair_at(lua_State *L, const char *field, int t, int k, float *dst, int64_t numel)
{
    lua_getfield(L, -1, field);
    lua_rawgeti(L, -1, t);
    lua_rawgeti(L, -1, k);
    gd_shape s;
    float *f = top_tensor(L, &s);
    CU_ASSERT_EQUAL_FATAL(gd_shape_numel(&s), numel);
    memcpy(dst, f, (size_t)numel * sizeof *dst);
    free(f);
    lua_pop(L, 3);
}

/* max |field[t][k]| over the whole case */
static double field_scale(lua_State *L, const char *field, int steps)
{
    double m = 0;
    lua_getfield(L, -1, field);
    for (int t = 1; t <= steps; t++)
        for (int k = 1; k <= 2; k++) {
            lua_rawgeti(L, -1, t);
            lua_rawgeti(L, -1, k);
            gd_shape s;
            float *f = top_tensor(L, &s);
            m = fmax(m, max_abs(f, gd_shape_numel(&s)));
            free(f);
            lua_pop(L, 2);
        }
    lua_pop(L, 1);
    return m;
}

typedef struct second {
    lua_State *L;
    int t;
    float *g2[2];
    int64_t n[2];
} second;

/* sam's second gradient: grads2[t] of the case at the top of the stack. */
static gd_status regrad_from_case(void *arg, gd_optim *o, gd_error *err)
{
    second *s = arg;
    (void)err;
    for (int k = 0; k < 2; k++) {
        pair_at(s->L, "grads2", s->t, k + 1, s->g2[k], s->n[k]);
        gd_optim_set_grad(o, k, s->g2[k]);
    }
    return GD_OK;
}

/* optimizers_tensor.lua, teacher-forced: W and b. */
static void tensor_case(lua_State *L, const char *name, const gd_spec *spec)
{
    int steps = (int)ref_number(L, "steps", 0);
    CU_ASSERT_FATAL(steps > 0);
    bool two_pass = gd_optimizer_is_two_pass(spec);
    gd_optim_tensor ts[2];
    float *x[2], *g[2], *want[2];
    second sec = { .L = L };
    for (int k = 0; k < 2; k++) {
        lua_getfield(L, -1, "params0");
        lua_rawgeti(L, -1, k + 1);
        gd_shape s;
        x[k] = top_tensor(L, &s);
        lua_pop(L, 2);
        sec.n[k] = gd_shape_numel(&s);
        g[k] = malloc((size_t)sec.n[k] * sizeof(float));
        want[k] = malloc((size_t)sec.n[k] * sizeof(float));
        sec.g2[k] = malloc((size_t)sec.n[k] * sizeof(float));
        ts[k] = (gd_optim_tensor){ .x = x[k], .shape = s,
                                   .role = k == 0 ? GD_ROLE_WEIGHT : GD_ROLE_BIAS };
    }
    double tol = 1e-5 * field_scale(L, "params", steps) + 4 * ref_dev(L, "forced");
    gd_spec *w = counted(spec);
    gd_error err;
    gd_optim *o = gd_optim_new(w, ts, 2, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(o);
    bool ok = true;
    for (int t = 1; t <= steps && ok; t++) {
        for (int k = 0; k < 2; k++) {
            pair_at(L, "grads", t, k + 1, g[k], sec.n[k]);
            gd_optim_set_grad(o, k, g[k]);
        }
        sec.t = t;
        CU_ASSERT_EQUAL(gd_optim_step(o, gd_optimizer_base_lr(spec),
                                      two_pass ? regrad_from_case : NULL, &sec, &err), GD_OK);
        for (int k = 0; k < 2 && ok; k++) {
            pair_at(L, "params", t, k + 1, want[k], sec.n[k]);
            ok = check_close(name, x[k], want[k], sec.n[k], tol);
        }
    }
    CU_ASSERT(ok);
    /* step_all once per update; step_tensor once per tensor per update */
    CU_ASSERT_EQUAL(calls, two_pass ? steps : 2 * steps);
    gd_optim_free(o);
    gd_spec_free(w);
    for (int k = 0; k < 2; k++)
        free(x[k]), free(g[k]), free(want[k]), free(sec.g2[k]);
}

static void test_optim_reference_tensor_reaches_the_plugin(void)
{
    each_case("optimizers_tensor", tensor_case);
}

/* ---------------------------------------------------------------------------
 * Elementwise: per tensor == one span
 * ------------------------------------------------------------------------- */

/* n numbers uniform in [-1, 1) from stream `id` */
static void fill(float *x, int64_t n, uint64_t id)
{
    gd_rng r = gd_rng_stream(7, id);
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)(2 * gd_rng_uniform(&r) - 1);
}

static void test_optim_elementwise_per_tensor_is_one_span(void)
{
    enum { NT = 3, STEPS = 5, TOTAL = 6 + 40000 + 7 };
    static const gd_shape shapes[NT] = { { 2, { 2, 3, 0, 0 } }, { 2, { 200, 200, 0, 0 } },
                                         { 1, { 7, 0, 0, 0 } } };
    static const char *const names[] = { "adam", "rmsprop", "nesterov" };
    for (int threads = 1; threads <= 2; threads++) {
        gd_set_threads(threads);
        for (size_t m = 0; m < sizeof names / sizeof *names; m++) {
            gd_spec *spec = test_spec(GD_KIND_OPTIMIZER, names[m], "lr", 'n', 0.01, NULL);
            int nslots = spec->component->vt.optimizer->nslots;
            float *xa = malloc(TOTAL * sizeof(float)), *xb = malloc(TOTAL * sizeof(float));
            float *g = malloc(TOTAL * sizeof(float));
            float *slots = calloc((size_t)nslots * TOTAL + 1, sizeof(float));
            double scalars[8] = { 0 };
            fill(xa, TOTAL, 1);
            memcpy(xb, xa, TOTAL * sizeof(float));
            gd_optim_tensor ts[NT];
            int64_t off = 0;
            for (int i = 0; i < NT; i++) {
                ts[i] = (gd_optim_tensor){ .x = xa + off, .shape = shapes[i] };
                off += gd_shape_numel(&shapes[i]);
            }
            gd_error err;
            gd_optim *o = gd_optim_new(spec, ts, NT, &err);
            CU_ASSERT_PTR_NOT_NULL_FATAL(o);
            for (int s = 1; s <= STEPS; s++) {
                double lr = 0.01 / s;
                fill(g, TOTAL, 100 + (uint64_t)s);
                off = 0;
                for (int i = 0; i < NT; i++) {
                    gd_optim_set_grad(o, i, g + off);
                    off += gd_shape_numel(&shapes[i]);
                }
                CU_ASSERT_EQUAL(gd_optim_step(o, lr, NULL, NULL, &err), GD_OK);
                gd_optim_state st = { lr, s, scalars };
                gd_optim_span sp = { TOTAL, xb, g, { NULL } };
                for (int k = 0; k < nslots; k++)
                    sp.slot[k] = slots + (int64_t)k * TOTAL;
                gd_optimizer_step(spec, &st, &sp);
            }
            CU_ASSERT(memcmp(xa, xb, TOTAL * sizeof(float)) == 0);
            /* every slot the same too, tensor by tensor */
            off = 0;
            for (int i = 0; i < NT; i++) {
                for (int k = 0; k < nslots; k++) {
                    int64_t len;
                    float *sl = gd_optim_slot(o, i, k, &len);
                    CU_ASSERT_PTR_NOT_NULL_FATAL(sl);
                    CU_ASSERT_EQUAL(len, gd_shape_numel(&shapes[i]));
                    CU_ASSERT(memcmp(sl, slots + (int64_t)k * TOTAL + off,
                                     (size_t)len * sizeof(float)) == 0);
                }
                off += gd_shape_numel(&shapes[i]);
            }
            CU_ASSERT_EQUAL(gd_optim_steps(o), STEPS);
            /* reset: t = 0, slots zeroed */
            gd_optim_reset(o);
            CU_ASSERT_EQUAL(gd_optim_steps(o), 0);
            int64_t nf;
            float *f = gd_optim_floats(o, &nf);
            CU_ASSERT_EQUAL(nf, (int64_t)nslots * TOTAL);
            for (int64_t i = 0; i < nf; i++)
                if (f[i] != 0) {
                    CU_FAIL("a slot is not zero after reset");
                    break;
                }
            gd_optim_free(o);
            gd_spec_free(spec);
            free(xa), free(xb), free(g), free(slots);
        }
    }
    gd_set_threads(0);
}

/* ---------------------------------------------------------------------------
 * Groups
 * ------------------------------------------------------------------------- */

/* sgd with lr 0.1 and groups added in order: (role, layer, lr) each. */
static gd_spec *grouped_sgd(int n, const int *roles, const char *const *layers, const double *lrs)
{
    gd_spec *s = test_spec(GD_KIND_OPTIMIZER, "sgd", "lr", 'n', 0.1, NULL);
    gd_error err;
    for (int i = 0; i < n; i++) {
        gd_spec *g = test_spec(GD_KIND_OPTIMIZER, "sgd", "lr", 'n', lrs[i], NULL);
        CU_ASSERT_EQUAL_FATAL(gd_spec_add_group(s, roles[i], layers[i], g, &err), GD_OK);
    }
    return s;
}

static void test_optim_groups(void)
{
    enum { NT = 5 };
    static const char *const layer[NT] = { "res1.dense1", "res1.dense1", "res10.dense1",
                                           "dense2", "dense2" };
    static const gd_param_role role[NT] = { GD_ROLE_WEIGHT, GD_ROLE_BIAS, GD_ROLE_WEIGHT,
                                            GD_ROLE_WEIGHT, GD_ROLE_BIAS };
    /* block path "res1" (not res10), then biases anywhere, then a glob */
    static const int roles[] = { 0, GD_ROLE_BIAS, 0 };
    static const char *const layers[] = { "res1", NULL, "res1*" };
    static const double lrs[] = { 0.01, 0.5, 0.2 };
    /* res1.*: 0.01 (first match wins over bias); res10 via the glob: 0.2; dense2.bias: 0.5 */
    static const double want_lr[NT] = { 0.01, 0.01, 0.2, 0.1, 0.5 };
    gd_spec *s = grouped_sgd(3, roles, layers, lrs);
    CU_ASSERT(gd_optimizer_is_tensor(s));    /* groups need the per-tensor path */
    float x[NT], g[NT];
    gd_optim_tensor ts[NT];
    for (int i = 0; i < NT; i++) {
        x[i] = 1;
        g[i] = 1;
        ts[i] = (gd_optim_tensor){ .x = &x[i], .shape = gd_shape_1(1), .role = role[i],
                                   .layer = layer[i] };
    }
    gd_error err;
    gd_optim *o = gd_optim_new(s, ts, NT, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(o);
    for (int i = 0; i < NT; i++)
        gd_optim_set_grad(o, i, &g[i]);
    /* a schedule's lr scales every group alike: half the base, half each */
    CU_ASSERT_EQUAL(gd_optim_step(o, 0.05, NULL, NULL, &err), GD_OK);
    for (int i = 0; i < NT; i++)
        CU_ASSERT_DOUBLE_EQUAL(x[i], 1 - want_lr[i] / 2, 1e-7);
    gd_optim_free(o);
    gd_spec_free(s);

    /* The base lr is the update's lr as given, even a base of 0; other
     * lrs scale from it (an lr of 0 stays 0). */
    static const int roles0[] = { GD_ROLE_BIAS };
    static const char *const layers0[] = { NULL };
    static const double lrs0[] = { 0 };
    s = grouped_sgd(1, roles0, layers0, lrs0);
    gd_spec *zero = test_spec(GD_KIND_OPTIMIZER, "sgd", "lr", 'n', 0.0, NULL);
    const gd_spec *specs[] = { s, zero };
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < NT; i++)
            x[i] = 1;
        o = gd_optim_new(specs[k], ts, NT, &err);
        CU_ASSERT_PTR_NOT_NULL_FATAL(o);
        for (int i = 0; i < NT; i++)
            gd_optim_set_grad(o, i, &g[i]);
        CU_ASSERT_EQUAL(gd_optim_step(o, 0.3, NULL, NULL, &err), GD_OK);
        for (int i = 0; i < NT; i++)
            CU_ASSERT_EQUAL(x[i], role[i] == GD_ROLE_BIAS && k == 0 ? 1.0f : 1.0f - (float)0.3);
        gd_optim_free(o);
    }
    gd_spec_free(zero);
    gd_spec_free(s);

    /* A group that matches nothing is a mistake (a misspelt layer): refused. */
    static const int roles2[] = { GD_ROLE_SCALE };
    static const char *const layers2[] = { "dense2" };
    s = grouped_sgd(1, roles2, layers2, lrs);
    CU_ASSERT_PTR_NULL(gd_optim_new(s, ts, NT, &err));
    CU_ASSERT_STRING_EQUAL(err.msg, "sgd: groups[1] (role scale, layer dense2) matches no "
                                    "parameter tensor");
    gd_spec_free(s);
}

/* ---------------------------------------------------------------------------
 * effective_lr on the tensor path: |dW| / |G|
 * ------------------------------------------------------------------------- */

static void test_optim_effective_lr_tensor_path(void)
{
    enum { N = 3 };
    static const int roles[] = { GD_ROLE_BIAS };
    static const char *const layers[] = { NULL };
    static const double frozen[] = { 0 };
    gd_error err;
    gd_dataset *ds = gd_synthetic_spirals(64, 2, 0.05, 7, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ds);
    gd_spec *loss = test_spec(GD_KIND_LOSS, "cross_entropy", NULL);
    for (int freeze = 0; freeze <= 1; freeze++) {
        /* biases frozen (lr 0) or given the base lr through a group */
        static const double same[] = { 0.1 };
        gd_spec *opt = grouped_sgd(1, roles, layers, freeze ? frozen : same);
        gd_model *m = test_relu_mlp(2, 16, 1, 2, 3);
        gd_train_config cfg = { .model = m, .loss = loss, .optimizer = opt, .train = ds,
                                .epochs = 1, .batch = 8, .seed = 1, .monitor_every = 1 };
        gd_trainer *tr = gd_trainer_new(&cfg, &err);
        CU_ASSERT_PTR_NOT_NULL_FATAL(tr);
        for (int i = 0; i < N; i++) {
            CU_ASSERT_EQUAL_FATAL(gd_trainer_step(tr, NULL, &err), GD_OK);
            double e = gd_trainer_record(tr, i)->effective_lr;
            /* frozen biases: |dW| = 0.1 |G_weights|, so e = 0.1 |G_w| / |G| */
            double gw = 0, gall = 0;
            for (int l = 0; l < gd_model_layer_count(m); l++) {
                gd_model_layer *ml = gd_model_layer_at(m, l);
                for (int p = 0; p < ml->nparams; p++) {
                    const gd_model_param *mp = &ml->params[p];
                    for (int64_t j = 0; j < gd_shape_numel(&mp->info->shape); j++) {
                        double v = (double)mp->grad[j] * mp->grad[j];
                        gall += v;
                        gw += mp->info->role == GD_ROLE_BIAS ? 0 : v;
                    }
                }
            }
            double want = freeze ? 0.1 * sqrt(gw / gall) : 0.1;
            CU_ASSERT(gw < gall);
            CU_ASSERT_DOUBLE_EQUAL(e, want, 1e-5 * want);
        }
        gd_trainer_free(tr);
        gd_model_free(m);
        gd_spec_free(opt);
    }
    gd_spec_free(loss);
    gd_dataset_free(ds);
}

/* ---------------------------------------------------------------------------
 * Errors
 * ------------------------------------------------------------------------- */

static int64_t bad_len;
static gd_slot_init bad_init;

static int64_t slot_len_bad(const gd_options *o, const gd_optim_tensor *t, int k,
                            gd_slot_init *init)
{
    (void)o, (void)t, (void)k;
    *init = bad_init;
    return bad_len;
}

/* Steps options that hold no optimizer: nothing happens. */
static void step_inner_nothing(const gd_options *o, const gd_optim_ctx *ctx, gd_optim_tensor *t)
{
    (void)o;
    ctx->inner_step(ctx, 0, t);      /* an option of kind number */
    ctx->inner_step(ctx, 99, t);     /* past the schema */
    ctx->inner_step(ctx, -1, t);
}

static void test_optim_errors(void)
{
    gd_error err;
    float x[4] = { 1, 2, 3, 4 }, g[4] = { 1, 1, 1, 1 };
    gd_optim_tensor ts[2] = { { .x = x, .shape = gd_shape_1(3) },
                              { .x = x + 3, .shape = gd_shape_1(1) } };

    /* a two-pass optimizer cannot be an inner one */
    gd_spec *sam = test_spec(GD_KIND_OPTIMIZER, "sam", NULL);
    gd_spec *la = test_spec(GD_KIND_OPTIMIZER, "lookahead", "inner", 'p', sam, NULL);
    CU_ASSERT_PTR_NULL(gd_optim_new(la, ts, 2, &err));
    CU_ASSERT_STRING_EQUAL(err.msg, "sam: needs the whole model (a second gradient) and cannot "
                                    "be the inner optimizer of lookahead");
    gd_spec_free(la);

    /* a second gradient nobody can compute */
    gd_optim *o = gd_optim_new(sam, ts, 2, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(o);
    gd_optim_set_grad(o, 0, g);
    gd_optim_set_grad(o, 1, g + 3);
    CU_ASSERT_EQUAL(gd_optim_step(o, 0.1, NULL, NULL, &err), GD_EINVAL);
    CU_ASSERT_STRING_EQUAL(err.msg, "sam: asked for a second gradient, but nothing can compute "
                                    "one here");
    CU_ASSERT(x[0] == 1 && x[1] == 2 && x[2] == 3 && x[3] == 4);   /* put back */
    CU_ASSERT_EQUAL(gd_optim_steps(o), 0);                          /* not an update */
    /* indices out of range: nothing set, no slot */
    gd_optim_set_grad(o, 2, NULL);
    gd_optim_set_grad(o, -1, NULL);
    int64_t len = -7;
    CU_ASSERT_PTR_NULL(gd_optim_slot(o, 2, 0, &len));
    CU_ASSERT_PTR_NULL(gd_optim_slot(o, 0, 99, &len));
    CU_ASSERT_EQUAL(len, -7);
    gd_optim_free(o);
    gd_spec_free(sam);
    gd_optim_free(NULL);

    /* a plugin's slot lengths and start rules */
    gd_spec *lamb = test_spec(GD_KIND_OPTIMIZER, "lamb", NULL);
    static const struct { int64_t len; gd_slot_init init; const char *msg; } bad[] = {
        { -1, GD_SLOT_ZERO, "lamb: slot 1 of tensor 1: invalid length -1 or start rule" },
        { 3, (gd_slot_init)7, "lamb: slot 1 of tensor 1: invalid length 3 or start rule" },
        { 2, GD_SLOT_COPY, "lamb: slot 1 of tensor 1: invalid length 2 or start rule" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        gd_spec *w = counted(lamb);
        counting_vt.slot_len = slot_len_bad;
        bad_len = bad[i].len;
        bad_init = bad[i].init;
        CU_ASSERT_PTR_NULL(gd_optim_new(w, ts, 2, &err));
        CU_ASSERT_STRING_EQUAL(err.msg, bad[i].msg);
        gd_spec_free(w);
    }
    /* A valid rule (copy, numel floats) starts as the parameters, again after reset. */
    gd_spec *w = counted(lamb);
    counting_vt.slot_len = slot_len_bad;
    bad_len = 3;
    bad_init = GD_SLOT_COPY;
    ts[1].shape = gd_shape_1(3);
    ts[1].x = x;
    o = gd_optim_new(w, ts, 2, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(o);
    float *s0 = gd_optim_slot(o, 0, 0, &len);
    CU_ASSERT(len == 3 && s0[0] == 1 && s0[2] == 3);
    s0[0] = 9;
    gd_optim_reset(o);
    CU_ASSERT(s0[0] == 1);
    gd_optim_free(o);
    gd_spec_free(w);

    /* inner_step on an option that holds no optimizer steps nothing */
    w = counted(lamb);
    counting_vt.step_tensor = step_inner_nothing;
    ts[1] = (gd_optim_tensor){ .x = x + 3, .shape = gd_shape_1(1) };
    o = gd_optim_new(w, ts, 2, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(o);
    gd_optim_set_grad(o, 0, g);
    gd_optim_set_grad(o, 1, g + 3);
    CU_ASSERT_EQUAL(gd_optim_step(o, 0.1, NULL, NULL, &err), GD_OK);
    CU_ASSERT(x[0] == 1 && x[1] == 2 && x[2] == 3 && x[3] == 4);
    CU_ASSERT_EQUAL(gd_optim_steps(o), 1);
    gd_optim_free(o);
    gd_spec_free(w);
    gd_spec_free(lamb);
}

static gd_spec *opt(const char *name, double lr)
{
    return test_spec(GD_KIND_OPTIMIZER, name, "lr", 'n', lr, NULL);
}

/* One Adam update of a span larger than the split threshold, cut over three
 * threads, is the update of one pass bit for bit; and it is Adam's first
 * step, m-hat = g and v-hat = g^2: x - lr g / sqrt(g^2 + eps) (eps inside,
 * the default). */
static void test_optim_elementwise_split_is_one_pass(void)
{
    enum { N = (1 << 16) + 5 };
    gd_spec *adam = opt("adam", 0.01);
    float *x1 = malloc(N * sizeof(float)), *x2 = malloc(N * sizeof(float));
    float *g = malloc(N * sizeof(float)), *x0 = malloc(N * sizeof(float));
    float *s[4];
    for (int k = 0; k < 4; k++)
        s[k] = calloc(N, sizeof(float));
    CU_ASSERT_PTR_NOT_NULL_FATAL(x1 && x2 && g && x0 && s[0] && s[1] && s[2] && s[3]);
    for (int64_t i = 0; i < N; i++) {
        x0[i] = x1[i] = x2[i] = test_value(1, i);
        g[i] = test_value(2, i);
    }
    double scalars[8] = { 0 };
    gd_optim_state st = { 0.01, 1, scalars };
    gd_set_threads(3);
    CU_ASSERT_EQUAL(gd_get_threads(), 3);
    gd_optim_span split = { N, x1, g, { s[0], s[1] } };
    gd_optimizer_step(adam, &st, &split);
    gd_optim_span one = { N, x2, g, { s[2], s[3] } };
    gd_optimizer_step_span(adam, &st, &one);
    CU_ASSERT_EQUAL(memcmp(x1, x2, N * sizeof(float)), 0);
    CU_ASSERT_EQUAL(memcmp(s[0], s[2], N * sizeof(float)), 0);
    CU_ASSERT_EQUAL(memcmp(s[1], s[3], N * sizeof(float)), 0);
    int bad = 0;
    for (int64_t i = 0; i < N; i++) {
        double want = x0[i] - 0.01 * g[i] / sqrt((double)g[i] * g[i] + 1e-8);
        bad += fabs(x1[i] - want) > 1e-6;
    }
    CU_ASSERT_EQUAL(bad, 0);
    gd_set_threads(1);
    for (int k = 0; k < 4; k++)
        free(s[k]);
    free(x0), free(x1), free(x2), free(g);
    gd_spec_free(adam);
}

/* The tree of a composite: its names, its slots, its base lr (the first lr
 * in it, outermost first) and the path it needs. */
static void test_optim_spec_tree(void)
{
    gd_spec *adam = opt("adam", 0.02), *sgd = opt("sgd", 0.05);
    gd_spec *la = test_spec(GD_KIND_OPTIMIZER, "lookahead", "inner", 'p', adam, NULL);
    gd_spec *sam = test_spec(GD_KIND_OPTIMIZER, "sam", "base", 'p', sgd, NULL);
    gd_spec *muon = test_spec(GD_KIND_OPTIMIZER, "muon", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(adam && sgd && la && sam && muon);
    char buf[128];
    gd_optimizer_tree_names(la, buf, sizeof buf);
    CU_ASSERT_STRING_EQUAL(buf, "lookahead{inner=adam}");
    gd_optimizer_tree_names(adam, buf, sizeof buf);
    CU_ASSERT_STRING_EQUAL(buf, "adam");
    gd_optimizer_tree_names(la, buf, 8);   /* cut, still terminated */
    CU_ASSERT_STRING_EQUAL(buf, "lookahe");
    CU_ASSERT_EQUAL(gd_optimizer_tree_slots(adam), 2);
    CU_ASSERT_EQUAL(gd_optimizer_tree_slots(la), 1 + 2);
    CU_ASSERT_DOUBLE_EQUAL(gd_optimizer_base_lr(adam), 0.02, 0);
    CU_ASSERT_DOUBLE_EQUAL(gd_optimizer_base_lr(la), 0.02, 0);    /* lookahead has no lr */
    CU_ASSERT_DOUBLE_EQUAL(gd_optimizer_base_lr(sam), 0.05, 0);
    CU_ASSERT_FALSE(gd_optimizer_is_tensor(adam));
    CU_ASSERT_TRUE(gd_optimizer_is_tensor(la));      /* an elementwise inner: still the tree */
    CU_ASSERT_TRUE(gd_optimizer_is_tensor(muon));
    CU_ASSERT_FALSE(gd_optimizer_is_two_pass(la));
    CU_ASSERT_TRUE(gd_optimizer_is_two_pass(sam));
    CU_ASSERT_FALSE(gd_optimizer_tensor_aware(adam));
    CU_ASSERT_TRUE(gd_optimizer_tensor_aware(la));
    CU_ASSERT_TRUE(gd_optimizer_has_step_all(sam));
    CU_ASSERT_FALSE(gd_optimizer_has_step_all(la));
    gd_spec_free(la), gd_spec_free(sam), gd_spec_free(muon);
    gd_spec_free(adam), gd_spec_free(sgd);
}

enum { NA = 6, NB = 4 };

/* Two tensors, of layers "a" and "b", with gradients g = test_value(seed, i). */
typedef struct pair {
    float xa[NA], xb[NB], ga[NA], gb[NB];
    gd_optim_tensor t[2];
} pair;

static void pair_init(pair *p)
{
    for (int i = 0; i < NA; i++)
        p->xa[i] = test_value(3, i), p->ga[i] = test_value(4, i);
    for (int i = 0; i < NB; i++)
        p->xb[i] = test_value(5, i), p->gb[i] = test_value(6, i);
    p->t[0] = (gd_optim_tensor){ .x = p->xa, .shape = gd_shape_2(2, 3), .role = GD_ROLE_WEIGHT,
                                 .layer = "a", .name = "weight" };
    p->t[1] = (gd_optim_tensor){ .x = p->xb, .shape = gd_shape_1(NB), .role = GD_ROLE_BIAS,
                                 .layer = "b", .name = "bias" };
}

/* Lookahead (k = 2, alpha = 0.5) over SGD, by hand: after update 1 the fast
 * weights are x0 - lr g; update 2 takes them to x0 - 2 lr g and the sync
 * halfway back from the slow weights (x0): x0 - lr g. Reset starts again:
 * t = 0 and the slow weights a copy of the weights of now. */
static void test_optim_lookahead_by_hand_and_reset(void)
{
    const double lr = 0.1;
    gd_spec *sgd = opt("sgd", lr);
    gd_spec *la = test_spec(GD_KIND_OPTIMIZER, "lookahead", "inner", 'p', sgd, "k", 'i', 2LL,
                            "alpha", 'n', 0.5, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sgd && la);
    pair p;
    pair_init(&p);
    float x0[NA];
    memcpy(x0, p.xa, sizeof x0);
    gd_error err;
    gd_optim *o = gd_optim_new(la, p.t, 2, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(o);
    gd_optim_set_grad(o, 0, p.ga);
    gd_optim_set_grad(o, 1, p.gb);
    CU_ASSERT_EQUAL(gd_optim_step(o, lr, NULL, NULL, &err), GD_OK);
    for (int i = 0; i < NA; i++)
        CU_ASSERT_DOUBLE_EQUAL(p.xa[i], x0[i] - lr * p.ga[i], 1e-6);
    CU_ASSERT_EQUAL(gd_optim_step(o, lr, NULL, NULL, &err), GD_OK);
    for (int i = 0; i < NA; i++)
        CU_ASSERT_DOUBLE_EQUAL(p.xa[i], x0[i] - lr * p.ga[i], 1e-6);
    CU_ASSERT_EQUAL(gd_optim_steps(o), 2);
    int64_t len = 0;
    float *slow = gd_optim_slot(o, 0, 0, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(slow);
    CU_ASSERT_EQUAL(len, NA);
    CU_ASSERT_EQUAL(memcmp(slow, p.xa, sizeof p.xa), 0);   /* synced: S = W */
    CU_ASSERT_PTR_NULL(gd_optim_slot(o, 0, 1, &len));      /* lookahead has one slot */
    CU_ASSERT_PTR_NULL(gd_optim_slot(o, 2, 0, &len));
    for (int i = 0; i < NA; i++)
        p.xa[i] += 1.0f;                                   /* weights of now */
    gd_optim_reset(o);
    CU_ASSERT_EQUAL(gd_optim_steps(o), 0);
    CU_ASSERT_EQUAL(memcmp(slow, p.xa, sizeof p.xa), 0);
    gd_optim_free(o);
    gd_spec_free(la), gd_spec_free(sgd);
}

/* A group gives its tensors its own options (lr 0 for layer "b": it does
 * not move) and the others keep the spec's; a group that matches no tensor
 * is refused by name. */
static void test_optim_groups_by_hand(void)
{
    gd_error err;
    gd_spec *sgd = opt("sgd", 0.1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sgd);
    CU_ASSERT_EQUAL_FATAL(gd_spec_add_group(sgd, 0, "b", opt("sgd", 0.0), &err), GD_OK);
    pair p;
    pair_init(&p);
    float xa0[NA], xb0[NB];
    memcpy(xa0, p.xa, sizeof xa0);
    memcpy(xb0, p.xb, sizeof xb0);
    CU_ASSERT_TRUE(gd_optimizer_is_tensor(sgd));   /* groups take the tensor path */
    gd_optim *o = gd_optim_new(sgd, p.t, 2, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(o);
    gd_optim_set_grad(o, 0, p.ga);
    gd_optim_set_grad(o, 1, p.gb);
    CU_ASSERT_EQUAL(gd_optim_step(o, 0.1, NULL, NULL, &err), GD_OK);
    CU_ASSERT_EQUAL(memcmp(p.xb, xb0, sizeof xb0), 0);
    for (int i = 0; i < NA; i++)
        CU_ASSERT_DOUBLE_EQUAL(p.xa[i], xa0[i] - 0.1f * p.ga[i], 1e-7);
    gd_optim_free(o);

    gd_spec *miss = opt("sgd", 0.1);
    CU_ASSERT_EQUAL_FATAL(gd_spec_add_group(miss, GD_ROLE_BIAS, "a", opt("sgd", 0.0), &err),
                          GD_OK);
    CU_ASSERT_PTR_NULL(gd_optim_new(miss, p.t, 2, &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "sgd: groups[1] (role bias, layer a) matches no "
                                           "parameter tensor"));
    gd_spec_free(miss), gd_spec_free(sgd);
}

/* An optimizer that needs a second gradient cannot be inner: refused when
 * the instance is made, naming both. */
static void test_optim_inner_two_pass_refused(void)
{
    gd_spec *sam = test_spec(GD_KIND_OPTIMIZER, "sam", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sam);
    gd_spec *la = test_spec(GD_KIND_OPTIMIZER, "lookahead", "inner", 'p', sam, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(la);
    pair p;
    pair_init(&p);
    gd_error err;
    CU_ASSERT_PTR_NULL(gd_optim_new(la, p.t, 2, &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "sam: needs the whole model (a second gradient) "
                                           "and cannot be the inner optimizer of lookahead"));
    gd_spec_free(la), gd_spec_free(sam);
}

/* What a checkpoint's OPTM section holds: an elementwise optimizer's slots
 * over the parameter arena and its scalars; a composite's whole float arena
 * as one slot (every node's slots) and every node's t and scalars. */
static void test_optim_state_layout(void)
{
    gd_model *m = test_relu_mlp(4, 8, 1, 3, 7);
    gd_spec *adam = opt("adam", 0.01);
    gd_spec *la = test_spec(GD_KIND_OPTIMIZER, "lookahead", "inner", 'p', adam, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(adam && la);
    int64_t np = gd_model_param_count(m), len;
    int nslots, nscalars;
    gd_error err;
    CU_ASSERT_EQUAL(gd_optimizer_state_layout(adam, m, &nslots, &len, &nscalars, &err), GD_OK);
    CU_ASSERT_EQUAL(nslots, 2);
    CU_ASSERT_EQUAL(len, np);
    CU_ASSERT_EQUAL(nscalars, gd_optimizer_nscalars(adam));
    CU_ASSERT_EQUAL(gd_optimizer_state_layout(la, m, &nslots, &len, &nscalars, &err), GD_OK);
    CU_ASSERT_EQUAL(nslots, 1);
    CU_ASSERT_EQUAL(len, np * (1 + 2));
    CU_ASSERT_EQUAL(nscalars, (1 + gd_optimizer_nscalars(la)) + (1 + gd_optimizer_nscalars(adam)));
    gd_optim *o = gd_optim_new_model(la, m, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(o);
    int64_t nf, nd;
    gd_optim_floats(o, &nf);
    gd_optim_doubles(o, &nd);
    CU_ASSERT_EQUAL(nf, len);
    CU_ASSERT_EQUAL(nd, nscalars);
    gd_optim_free(o);
    gd_spec_free(la), gd_spec_free(adam);
    gd_model_free(m);
}

int main(void)
{
    static const test_case cases[] = {
        TEST(test_optim_reference_elementwise_reaches_the_plugin),
        TEST(test_optim_reference_tensor_reaches_the_plugin),
        TEST(test_optim_elementwise_per_tensor_is_one_span),
        TEST(test_optim_groups),
        TEST(test_optim_effective_lr_tensor_path),
        TEST(test_optim_errors),
        TEST(test_optim_elementwise_split_is_one_pass),
        TEST(test_optim_spec_tree),
        TEST(test_optim_lookahead_by_hand_and_reset),
        TEST(test_optim_groups_by_hand),
        TEST(test_optim_inner_two_pass_refused),
        TEST(test_optim_state_layout),
        TEST_END,
    };
    return test_main("optim", cases);
}
