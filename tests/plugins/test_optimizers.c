/*
 * tests/plugins/test_optimizers.c: the optimizer plugins against
 * ../shared/reference/optimizers.lua and against plain double-precision
 * loops written here.
 *
 * Each optimizer is driven as the core drives it: a spec, nslots zeroed slot
 * arrays and nscalars zeroed doubles, then vt->step(options, {lr, t,
 * scalars}, one span over the whole vector) with t = 1 at the first update.
 */
#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

/* ---------------------------------------------------------------------------
 * Driving an optimizer
 * ------------------------------------------------------------------------- */

typedef struct optim_run {
    const gd_spec *spec;
    const gd_optimizer_vtable *vt;
    int64_t n, t;
    float *x;
    float *slot[GD_MAX_OPTIM_SLOTS];
    double *scalars;
} optim_run;

static void run_begin(optim_run *r, const gd_spec *spec, const float *x0, int64_t n)
{
    memset(r, 0, sizeof *r);
    r->spec = spec;
    r->vt = spec->component->vt.optimizer;
    r->n = n;
    r->x = malloc((size_t)n * sizeof *r->x);
    memcpy(r->x, x0, (size_t)n * sizeof *r->x);
    for (int k = 0; k < r->vt->nslots; k++)
        r->slot[k] = calloc((size_t)n, sizeof(float));
    r->scalars = calloc((size_t)(r->vt->nscalars > 0 ? r->vt->nscalars : 1), sizeof(double));
}

static gd_optim_span run_span(const optim_run *r, const float *g, int64_t off, int64_t n)
{
    gd_optim_span sp = { .n = n, .x = r->x + off, .g = g + off };
    for (int k = 0; k < r->vt->nslots; k++)
        sp.slot[k] = r->slot[k] + off;
    return sp;
}

/* One update with gradient g and learning rate lr over the whole vector. */
static void run_step(optim_run *r, const float *g, double lr)
{
    r->t++;
    gd_optim_state st = { .lr = lr, .t = r->t, .scalars = r->scalars };
    gd_optim_span sp = run_span(r, g, 0, r->n);
    r->vt->step(r->spec->options, &st, &sp);
}

static void run_end(optim_run *r)
{
    free(r->x);
    for (int k = 0; k < GD_MAX_OPTIM_SLOTS; k++)
        free(r->slot[k]);
    free(r->scalars);
}

static double spec_num(const gd_spec *s, const char *name)
{
    int i = gd_spec_option_index(s->component, name);
    CU_ASSERT_FATAL(i >= 0);
    return gd_opt_num(s->options, i);
}

static int spec_bool(const gd_spec *s, const char *name)
{
    int i = gd_spec_option_index(s->component, name);
    CU_ASSERT_FATAL(i >= 0);
    return gd_opt_bool(s->options, i);
}

/* ---------------------------------------------------------------------------
 * Problems of the reference file
 * ------------------------------------------------------------------------- */

typedef enum { PROBLEM_ROSENBROCK = 1, PROBLEM_QUADRATIC } problem_kind;

typedef struct problem {
    problem_kind kind;
    int64_t n;
    float *A, *b;   /* quadratic only */
} problem;

/* The gradient at x, computed in double and rounded to float. */
static void problem_grad(const problem *p, const float *x, float *g)
{
    if (p->kind == PROBLEM_ROSENBROCK) {
        double a = x[0], b = x[1];
        g[0] = (float)(-2.0 * (1.0 - a) - 400.0 * a * (b - a * a));
        g[1] = (float)(200.0 * (b - a * a));
        return;
    }
    for (int64_t i = 0; i < p->n; i++) {
        double s = -(double)p->b[i];
        for (int64_t j = 0; j < p->n; j++)
            s += (double)p->A[i * p->n + j] * x[j];
        g[i] = (float)s;
    }
}

/* The same in double, for the look-ahead implementation. */
static void problem_grad_d(const problem *p, const double *x, double *g)
{
    if (p->kind == PROBLEM_ROSENBROCK) {
        g[0] = -2.0 * (1.0 - x[0]) - 400.0 * x[0] * (x[1] - x[0] * x[0]);
        g[1] = 200.0 * (x[1] - x[0] * x[0]);
        return;
    }
    for (int64_t i = 0; i < p->n; i++) {
        double s = -(double)p->b[i];
        for (int64_t j = 0; j < p->n; j++)
            s += (double)p->A[i * p->n + j] * x[j];
        g[i] = s;
    }
}

/* Read the `problem` table of the case at the top of the stack. */
static bool problem_load(lua_State *L, const char *cname, int64_t n, problem *p)
{
    memset(p, 0, sizeof *p);
    p->n = n;
    lua_getfield(L, -1, "problem");
    const char *kind = lua_istable(L, -1) ? ref_string(L, "kind") : NULL;
    bool ok = true;
    if (kind && strcmp(kind, "rosenbrock") == 0 && n == 2) {
        p->kind = PROBLEM_ROSENBROCK;
    } else if (kind && strcmp(kind, "quadratic") == 0) {
        p->kind = PROBLEM_QUADRATIC;
        gd_shape sa, sb;
        p->A = ref_tensor(L, "A", &sa);
        p->b = ref_tensor(L, "b", &sb);
        ok = p->A && p->b && sa.ndim == 2 && sa.dim[0] == n && sa.dim[1] == n && sb.dim[0] == n;
    } else {
        ok = false;
    }
    lua_pop(L, 1);
    if (!ok) {
        fprintf(stderr, "\n  %s: unknown or malformed problem '%s' (n = %lld)\n", cname,
                kind ? kind : "(none)", (long long)n);
        CU_FAIL("unknown problem in the reference file");
    }
    return ok;
}

static void problem_free(problem *p)
{
    free(p->A);
    free(p->b);
}

/* ---------------------------------------------------------------------------
 * The reference cases
 * ------------------------------------------------------------------------- */

/* |got - want| <= tol elementwise; reports the first bad element. */
static bool row_close(const char *cname, const char *mode, int64_t t, const float *got,
                      const double *want, int64_t n, double tol)
{
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]);
        if (!(d <= tol)) {
            fprintf(stderr, "\n  %s (%s) step %lld, [%lld]: got %.9g, want %.9g (|diff| %.3g > "
                    "tol %.3g)\n", cname, mode, (long long)t, (long long)i, got[i], want[i], d,
                    tol);
            return false;
        }
    }
    return true;
}

/* Length of the array part of a field of the table at the top. */
static int64_t field_len(lua_State *L, const char *field)
{
    lua_getfield(L, -1, field);
    int64_t len = lua_istable(L, -1) ? (int64_t)lua_rawlen(L, -1) : 0;
    lua_pop(L, 1);
    return len;
}

/* Params of case `name` (malloc'd), its step count in *steps; NULL if absent. */
static float *case_params_by_name(lua_State *L, const char *name, int64_t *steps)
{
    float *p = NULL;
    for (int j = 1; j <= ref_case_count(L) && !p; j++) {
        ref_push_case(L, j);
        const char *nm = ref_string(L, "name");
        if (nm && strcmp(nm, name) == 0) {
            p = ref_tensor(L, "params", NULL);
            *steps = (int64_t)ref_number(L, "steps", 0);
        }
        lua_pop(L, 1);
    }
    return p;
}

/* Run one case in one mode; true when every step matched. */
static bool run_case(const char *cname, const gd_spec *spec, const problem *prob,
                     bool forced, const float *x0, int64_t n, int64_t steps, const float *grads,
                     const double *lrs, const double *want, double tol)
{
    optim_run r;
    run_begin(&r, spec, x0, n);
    float *g = malloc((size_t)n * sizeof *g);
    bool ok = true;
    for (int64_t t = 1; t <= steps && ok; t++) {
        if (forced)
            memcpy(g, grads + (t - 1) * n, (size_t)n * sizeof *g);
        else
            problem_grad(prob, r.x, g);
        run_step(&r, g, lrs[t - 1]);
        ok = row_close(cname, forced ? "teacher-forced" : "free-running", t, r.x,
                       want + (t - 1) * n, n, tol);
    }
    free(g);
    run_end(&r);
    return ok;
}

/* One case of optimizers.lua, at the top of the stack: both modes. */
static void check_reference_case(lua_State *L)
{
    const char *cname = ref_string(L, "name");
    const char *oname = ref_string(L, "optimizer");
    const char *form = ref_string(L, "form");
    if (!cname || !oname) {
        CU_FAIL("reference case without name or optimizer");
        return;
    }
    bool lookahead = form && strcmp(form, "lookahead") == 0;
    if (form && !lookahead) {
        fprintf(stderr, "\n  %s: unknown form '%s'\n", cname, form);
        CU_FAIL("unknown form in the reference file");
        return;
    }
    /* ref_spec fails the test on an unknown optimizer: a case the plugins
     * cannot run is an error, never a skip. */
    gd_spec *spec = ref_spec(L, GD_KIND_OPTIMIZER, oname);
    if (!spec) {
        fprintf(stderr, "\n  %s: optimizer '%s' not available\n", cname, oname);
        CU_FAIL("reference case names an unknown optimizer");
        return;
    }
    gd_shape sx, sp;
    float *x0 = ref_tensor(L, "x0", &sx);
    float *params = ref_tensor(L, "params", &sp);
    float *grads = ref_tensor(L, "grads", NULL);
    float *lr_steps = ref_tensor(L, "lr_per_step", NULL);
    float *velocity = lookahead ? ref_tensor(L, "velocity", NULL) : NULL;
    int64_t steps = (int64_t)ref_number(L, "steps", 0);
    int64_t n = x0 ? gd_shape_numel(&sx) : 0;
    double dev_forced = ref_dev(L, "forced"), dev_free = ref_dev(L, "free");
    double dev_reparam = lookahead ? ref_dev(L, "reparam") : 0.0;
    problem prob = { 0 };
    double *want = NULL, *lrs = NULL;
    float *other = NULL;

    bool ok = x0 && params && grads && steps > 0 && sp.ndim == 2 && sp.dim[0] == steps &&
              sp.dim[1] == n && isfinite(dev_forced) && isfinite(dev_free) &&
              (!lookahead || (velocity && isfinite(dev_reparam)));
    if (!ok) {
        fprintf(stderr, "\n  %s: malformed case\n", cname);
        CU_FAIL("malformed reference case");
        goto done;
    }
    if (lr_steps && field_len(L, "lr_per_step") < steps) {
        fprintf(stderr, "\n  %s: lr_per_step shorter than steps\n", cname);
        CU_FAIL("malformed reference case");
        goto done;
    }
    if (!problem_load(L, cname, n, &prob))
        goto done;

    /* The learning rate of each update: lr_per_step[t] when present. */
    lrs = malloc((size_t)steps * sizeof *lrs);
    double lr = spec_num(spec, "lr");
    for (int64_t t = 0; t < steps; t++)
        lrs[t] = lr_steps ? (double)lr_steps[t] : lr;

    /* What the stored parameters must be after each update. The look-ahead
     * case records W_la and v; our reparametrized nesterov stores
     * W = W_la - gamma*v, so that is what it must match. */
    want = malloc((size_t)(steps * n) * sizeof *want);
    double gamma = lookahead ? spec_num(spec, "gamma") : 0.0;
    for (int64_t i = 0; i < steps * n; i++)
        want[i] = lookahead ? (double)params[i] - gamma * (double)velocity[i] : params[i];

    double S = max_abs(params, steps * n);
    /* The look-ahead case's target params - gamma*velocity carries its own
     * rounding, which dev.reparam measures. */
    double extra = 4.0 * dev_reparam;
    bool okf = run_case(cname, spec, &prob, true, x0, n, steps, grads, lrs, want,
                        1e-5 * S + 4.0 * dev_forced + extra);
    bool okr = run_case(cname, spec, &prob, false, x0, n, steps, grads, lrs, want,
                        1e-5 * S + 4.0 * dev_free + extra);
    CU_ASSERT(okf);
    CU_ASSERT(okr);

    if (lookahead) {
        /* params - gamma*velocity is the trajectory of case compare_to. */
        const char *to = ref_string(L, "compare_to");
        int64_t other_steps = 0;
        other = to ? case_params_by_name(L, to, &other_steps) : NULL;
        if (!other || other_steps < steps) {
            fprintf(stderr, "\n  %s: compare_to '%s' missing or shorter\n", cname,
                    to ? to : "(none)");
            CU_FAIL("lookahead case without a usable compare_to");
            goto done;
        }
        bool okc = true;
        for (int64_t t = 1; t <= steps && okc; t++)
            okc = row_close(cname, "params - gamma*velocity vs compare_to", t, other + (t - 1) * n,
                            want + (t - 1) * n, n, 1e-5 * S + 4.0 * dev_reparam);
        CU_ASSERT(okc);
    }

done:
    problem_free(&prob);
    free(x0);
    free(params);
    free(grads);
    free(lr_steps);
    free(velocity);
    free(other);
    free(want);
    free(lrs);
    gd_spec_free(spec);
}

static void test_optimizers_reference(void)
{
    lua_State *L = ref_open("optimizers");
    int count = ref_case_count(L);
    CU_ASSERT_FATAL(count > 0);
    for (int i = 1; i <= count; i++) {
        ref_push_case(L, i);
        int top = lua_gettop(L);
        check_reference_case(L);
        CU_ASSERT_EQUAL(lua_gettop(L), top);
        lua_settop(L, top - 1);
    }
    ref_close(L);
}

/* ---------------------------------------------------------------------------
 * Nesterov: the stored W is the look-ahead form's W_la - gamma*v
 * ------------------------------------------------------------------------- */

/* The look-ahead form, in double, beside the plugin in float, with lr changing
 * at every step: the reparametrization must hold for any lr sequence. As a
 * control, the lr-outside-the-velocity variant (u = gamma*u + g; W -= lr*(gamma*u
 * + g), PyTorch's), the same for a constant lr, must land far outside the
 * tolerance, so the check can tell the forms apart. */
static void test_optimizers_nesterov_lookahead_equivalence(void)
{
    static const float A3[9] = { 3, 1, 0, 1, 2, 0.5f, 0, 0.5f, 1 };
    static const float b3[3] = { 1, -1, 0.5f };
    static const float x0r[2] = { -1.2f, 1.0f };
    static const float x0q[3] = { 2.0f, -1.5f, 1.0f };
    const problem probs[2] = {
        { .kind = PROBLEM_ROSENBROCK, .n = 2 },
        { .kind = PROBLEM_QUADRATIC, .n = 3, .A = (float *)A3, .b = (float *)b3 },
    };
    const float *x0s[2] = { x0r, x0q };
    const double base_lr[2] = { 4e-4, 0.05 };
    const double gamma = 0.9;
    const int steps = 300;
    gd_spec *spec = test_spec(GD_KIND_OPTIMIZER, "nesterov", "gamma", 'n', gamma, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(spec);

    for (int pi = 0; pi < 2; pi++) {
        const problem *p = &probs[pi];
        const int64_t n = p->n;
        optim_run r;
        run_begin(&r, spec, x0s[pi], n);
        double wla[3], v[3], pt[3], gd[3], w2[3], u[3], g2[3], want[3];
        float g[3];
        for (int64_t i = 0; i < n; i++) {
            wla[i] = w2[i] = x0s[pi][i];
            v[i] = u[i] = 0.0;
        }
        double S = 0.0, worst = 0.0, control = 0.0;
        for (int t = 1; t <= steps; t++) {
            const double lr = base_lr[pi] * (1.0 + 0.9 * sin(0.7 * t));
            /* look-ahead: gradient at W_la - gamma*v */
            for (int64_t i = 0; i < n; i++)
                pt[i] = wla[i] - gamma * v[i];
            problem_grad_d(p, pt, gd);
            for (int64_t i = 0; i < n; i++) {
                v[i] = gamma * v[i] + lr * gd[i];
                wla[i] -= v[i];
                want[i] = wla[i] - gamma * v[i];
            }
            /* the plugin, gradient at its stored W */
            problem_grad(p, r.x, g);
            run_step(&r, g, lr);
            /* the control variant */
            problem_grad_d(p, w2, g2);
            for (int64_t i = 0; i < n; i++) {
                u[i] = gamma * u[i] + g2[i];
                w2[i] -= lr * (gamma * u[i] + g2[i]);
            }
            for (int64_t i = 0; i < n; i++) {
                S = fmax(S, fabs(want[i]));
                worst = fmax(worst, fabs((double)r.x[i] - want[i]));
                control = fmax(control, fabs(w2[i] - want[i]));
            }
        }
        /* float32 rounding along these 300 steps stays below 2e-7 (measured),
         * the README's relative 1e-5 leaves a wide margin */
        const double tol = 1e-5 * fmax(S, 1.0);
        if (!(worst <= tol))
            fprintf(stderr, "\n  nesterov vs look-ahead (%s): max |diff| %.3g > tol %.3g\n",
                    pi ? "quadratic" : "rosenbrock", worst, tol);
        CU_ASSERT(worst <= tol);
        CU_ASSERT(control > 10.0 * tol);
        run_end(&r);
    }
    gd_spec_free(spec);
}

/* ---------------------------------------------------------------------------
 * Options: defaults and refusals
 * ------------------------------------------------------------------------- */

static void test_optimizers_defaults(void)
{
    static const struct { const char *optim, *opt; double value; } nums[] = {
        { "momentum", "lr", 0.01 }, { "momentum", "gamma", 0.9 },
        { "nesterov", "lr", 0.01 }, { "nesterov", "gamma", 0.9 },
        { "adagrad", "lr", 0.01 }, { "adagrad", "eps", 1e-8 },
        { "adam", "lr", 1e-3 }, { "adam", "beta1", 0.9 }, { "adam", "beta2", 0.999 },
        { "adam", "eps", 1e-8 },
        { "rmsprop", "lr", 0.01 }, { "rmsprop", "alpha", 0.99 }, { "rmsprop", "eps", 1e-8 },
        { "adamw", "lr", 1e-3 }, { "adamw", "beta1", 0.9 }, { "adamw", "beta2", 0.999 },
        { "adamw", "eps", 1e-8 }, { "adamw", "weight_decay", 0.01 },
    };
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        gd_spec *s = test_spec(GD_KIND_OPTIMIZER, nums[i].optim, NULL);
        CU_ASSERT_PTR_NOT_NULL_FATAL(s);
        CU_ASSERT_DOUBLE_EQUAL(spec_num(s, nums[i].opt), nums[i].value, 0);
        gd_spec_free(s);
    }
    static const struct { const char *optim, *opt; int value; } bools[] = {
        { "adagrad", "eps_inside", 1 }, { "adam", "eps_inside", 1 },
        { "adam", "bias_correction", 1 },
    };
    for (size_t i = 0; i < sizeof bools / sizeof bools[0]; i++) {
        gd_spec *s = test_spec(GD_KIND_OPTIMIZER, bools[i].optim, NULL);
        CU_ASSERT_PTR_NOT_NULL_FATAL(s);
        CU_ASSERT_EQUAL(spec_bool(s, bools[i].opt), bools[i].value);
        gd_spec_free(s);
    }
    /* state layout and the optional telemetry member */
    static const struct { const char *optim; int nslots; int adaptive; } kinds[] = {
        { "momentum", 1, 0 }, { "nesterov", 1, 0 }, { "adagrad", 1, 1 },
        { "adam", 2, 1 }, { "rmsprop", 1, 1 }, { "adamw", 2, 1 },
    };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        const gd_entry *e = gd_registry_find(test_registry(), GD_KIND_OPTIMIZER, kinds[i].optim);
        CU_ASSERT_PTR_NOT_NULL_FATAL(e);
        const gd_optimizer_vtable *vt = e->component->vt.optimizer;
        CU_ASSERT_EQUAL(vt->nslots, kinds[i].nslots);
        CU_ASSERT_EQUAL(vt->nscalars, 0);
        CU_ASSERT_EQUAL(vt->effective_lr != NULL, kinds[i].adaptive);
    }
}

static void expect_refused(gd_status st, gd_spec *s, const char *fragment)
{
    CU_ASSERT_NOT_EQUAL(st, GD_OK);
    CU_ASSERT_PTR_NULL(s);
    if (st == GD_OK)
        gd_spec_free(s);
    if (!strstr(test_last_error.msg, fragment)) {
        fprintf(stderr, "\n  message '%s' lacks '%s'\n", test_last_error.msg, fragment);
        CU_FAIL("refusal message");
    }
}

/* One number option set to a bad value. */
static void expect_bad(const char *optim, const char *opt, double value, const char *fragment)
{
    gd_spec *s = NULL;
    gd_status st = test_spec_try(&s, &test_last_error, GD_KIND_OPTIMIZER, optim, opt, 'n', value,
                                 NULL);
    expect_refused(st, s, fragment);
}

static void test_optimizers_bad_options(void)
{
    static const char *const names[] = { "momentum", "nesterov", "adagrad", "adam", "rmsprop",
                                         "adamw" };
    char want[160];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(want, sizeof want, "%s: option 'lr' must be >= 0, got -0.1", names[i]);
        expect_bad(names[i], "lr", -0.1, want);
    }
    expect_bad("adam", "beta1", 1.0, "adam: option 'beta1' must be in [0, 1), got 1");
    expect_bad("adam", "beta1", -0.1, "adam: option 'beta1' must be in [0, 1), got -0.1");
    expect_bad("adamw", "beta1", 1.0, "adamw: option 'beta1' must be in [0, 1), got 1");
    expect_bad("adamw", "beta1", -0.1, "adamw: option 'beta1' must be in [0, 1), got -0.1");
    /* one more per optimizer */
    expect_bad("momentum", "gamma", 1.0, "momentum: option 'gamma' must be in [0, 1), got 1");
    expect_bad("nesterov", "gamma", -0.5, "nesterov: option 'gamma' must be in [0, 1), got -0.5");
    expect_bad("adagrad", "eps", 0.0, "adagrad: option 'eps' must be > 0, got 0");
    expect_bad("adam", "beta2", 1.0, "adam: option 'beta2' must be in [0, 1), got 1");
    expect_bad("rmsprop", "alpha", 1.0, "rmsprop: option 'alpha' must be in [0, 1), got 1");
    expect_bad("adamw", "weight_decay", -0.01,
               "adamw: option 'weight_decay' must be >= 0, got -0.01");
    /* adamw's cross-option check */
    gd_spec *s = NULL;
    gd_status st = test_spec_try(&s, &test_last_error, GD_KIND_OPTIMIZER, "adamw", "lr", 'n', 0.5,
                                 "weight_decay", 'n', 2.0, NULL);
    expect_refused(st, s, "adamw: lr*weight_decay must be < 1");
    /* wrong type for a boolean */
    st = test_spec_try(&s, &test_last_error, GD_KIND_OPTIMIZER, "adam", "eps_inside", 'n', 1.0,
                       NULL);
    expect_refused(st, s, "adam: option 'eps_inside' must be a");
}

/* ---------------------------------------------------------------------------
 * Random data against plain double loops
 * ------------------------------------------------------------------------- */

/* A small deterministic generator: uniform in [-1, 1). */
static double lcg_uniform(uint64_t *state)
{
    *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(*state >> 11) * (2.0 / 9007199254740992.0) - 1.0;
}

/* The update of every optimizer as written in DESIGN.md §4, in double, one
 * element at a time. s0, s1: the state (velocity / accumulator / moments). */
static void scalar_update(const gd_spec *spec, double lr, int64_t t, int64_t n, double *x,
                          const float *g, double *s0, double *s1)
{
    const char *name = spec->component->name;
    for (int64_t i = 0; i < n; i++) {
        const double gi = g[i];
        if (strcmp(name, "sgd") == 0) {
            x[i] -= lr * gi;
        } else if (strcmp(name, "momentum") == 0 || strcmp(name, "nesterov") == 0) {
            const double gamma = spec_num(spec, "gamma");
            s0[i] = gamma * s0[i] + lr * gi;
            x[i] -= name[0] == 'm' ? s0[i] : gamma * s0[i] + lr * gi;
        } else if (strcmp(name, "adagrad") == 0) {
            const double eps = spec_num(spec, "eps");
            s0[i] += gi * gi;
            x[i] -= lr * gi / (spec_bool(spec, "eps_inside") ? sqrt(s0[i] + eps)
                                                              : sqrt(s0[i]) + eps);
        } else if (strcmp(name, "rmsprop") == 0) {
            const double a = spec_num(spec, "alpha");
            s0[i] = a * s0[i] + (1 - a) * gi * gi;
            x[i] -= lr * gi / (sqrt(s0[i]) + spec_num(spec, "eps"));
        } else if (strcmp(name, "adam") == 0 || strcmp(name, "adamw") == 0) {
            const bool w = strcmp(name, "adamw") == 0;
            const double b1 = spec_num(spec, "beta1"), b2 = spec_num(spec, "beta2");
            const double eps = spec_num(spec, "eps");
            const bool bias = w || spec_bool(spec, "bias_correction");
            const bool inside = !w && spec_bool(spec, "eps_inside");
            if (w)
                x[i] -= lr * spec_num(spec, "weight_decay") * x[i];
            s0[i] = b1 * s0[i] + (1 - b1) * gi;
            s1[i] = b2 * s1[i] + (1 - b2) * gi * gi;
            const double mh = bias ? s0[i] / (1 - pow(b1, (double)t)) : s0[i];
            const double vh = bias ? s1[i] / (1 - pow(b2, (double)t)) : s1[i];
            x[i] -= lr * mh / (inside ? sqrt(vh + eps) : sqrt(vh) + eps);
        } else {
            fprintf(stderr, "\n  no scalar reference for optimizer '%s'\n", name);
            CU_FAIL("optimizer without a scalar reference");
            return;
        }
    }
}

/* The mean per-element step size, from the double state; NAN when the
 * optimizer has none. */
static double scalar_effective_lr(const gd_spec *spec, double lr, int64_t t, int64_t n,
                                  const double *s0, const double *s1)
{
    const char *name = spec->component->name;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        if (strcmp(name, "adagrad") == 0) {
            const double eps = spec_num(spec, "eps");
            sum += 1.0 / (spec_bool(spec, "eps_inside") ? sqrt(s0[i] + eps) : sqrt(s0[i]) + eps);
        } else if (strcmp(name, "rmsprop") == 0) {
            sum += 1.0 / (sqrt(s0[i]) + spec_num(spec, "eps"));
        } else if (strcmp(name, "adam") == 0 || strcmp(name, "adamw") == 0) {
            const bool w = strcmp(name, "adamw") == 0;
            const double eps = spec_num(spec, "eps");
            const bool bias = w || spec_bool(spec, "bias_correction");
            const bool inside = !w && spec_bool(spec, "eps_inside");
            const double vh = bias ? s1[i] / (1 - pow(spec_num(spec, "beta2"), (double)t)) : s1[i];
            sum += 1.0 / (inside ? sqrt(vh + eps) : sqrt(vh) + eps);
        } else {
            return NAN;
        }
    }
    return lr * sum / (double)n;
}

/* The variants run on random data: every optimizer and option branch, with
 * eps large enough (0.1) in some that its placement shows. */
static gd_spec *variant_spec(int i)
{
    const gd_kind k = GD_KIND_OPTIMIZER;
    switch (i) {
    case 0: return test_spec(k, "momentum", "gamma", 'n', 0.8, NULL);
    case 1: return test_spec(k, "nesterov", "gamma", 'n', 0.7, NULL);
    case 2: return test_spec(k, "adagrad", "eps", 'n', 0.1, NULL);
    case 3: return test_spec(k, "adagrad", "eps", 'n', 0.1, "eps_inside", 'b', 0, NULL);
    case 4: return test_spec(k, "adam", NULL);
    case 5: return test_spec(k, "adam", "eps", 'n', 0.1, NULL);
    case 6: return test_spec(k, "adam", "eps", 'n', 0.1, "eps_inside", 'b', 0, NULL);
    case 7: return test_spec(k, "adam", "bias_correction", 'b', 0, NULL);
    case 8: return test_spec(k, "adam", "bias_correction", 'b', 0, "eps_inside", 'b', 0, NULL);
    case 9: return test_spec(k, "rmsprop", "eps", 'n', 0.1, "alpha", 'n', 0.9, NULL);
    case 10: return test_spec(k, "adamw", "weight_decay", 'n', 0.5, "eps", 'n', 0.1, NULL);
    default: return NULL;
    }
}
#define NVARIANTS 11

/* 37 elements: not a multiple of any vector width, so the loops' scalar
 * tails run too. lr changes every step. */
#define RN 37
#define RSTEPS 25

static void test_optimizers_match_scalar_loops(void)
{
    for (int vi = 0; vi < NVARIANTS; vi++) {
        gd_spec *spec = variant_spec(vi);
        CU_ASSERT_PTR_NOT_NULL_FATAL(spec);
        uint64_t rng = 12345u + (uint64_t)vi;
        float x0[RN], g[RN];
        double x[RN], s0[RN] = { 0 }, s1[RN] = { 0 };
        for (int i = 0; i < RN; i++)
            x[i] = x0[i] = (float)(2.0 * lcg_uniform(&rng));
        optim_run r;
        run_begin(&r, spec, x0, RN);
        bool ok = true;
        for (int t = 1; t <= RSTEPS && ok; t++) {
            const double lr = 0.05 * (1.0 + 0.5 * cos(t));
            for (int i = 0; i < RN; i++)
                g[i] = (float)lcg_uniform(&rng);
            run_step(&r, g, lr);
            scalar_update(spec, lr, t, RN, x, g, s0, s1);
            /* float32 against double over 25 steps: a few ulps of |x| <= ~3;
             * a wrong formula is off by 1e-3 or more */
            double S = 0.0;
            for (int i = 0; i < RN; i++)
                S = fmax(S, fabs(x[i]));
            char what[64];
            snprintf(what, sizeof what, "variant %d", vi);
            ok = row_close(spec->component->name, what, t, r.x, x, RN, 1e-5 * fmax(S, 1.0));
            /* effective_lr against the same quantity from the double state */
            gd_optim_state st = { .lr = lr, .t = r.t, .scalars = r.scalars };
            gd_optim_span sp = run_span(&r, g, 0, RN);
            double want = scalar_effective_lr(spec, lr, t, RN, s0, s1);
            if (r.vt->effective_lr) {
                double got = r.vt->effective_lr(spec->options, &st, &sp);
                if (!(fabs(got - want) <= 1e-5 * fabs(want))) {
                    fprintf(stderr, "\n  %s (variant %d) step %d: effective_lr %.9g, want %.9g\n",
                            spec->component->name, vi, t, got, want);
                    ok = false;
                }
            } else {
                CU_ASSERT(isnan(want));
            }
        }
        CU_ASSERT(ok);
        run_end(&r);
        gd_spec_free(spec);
    }
}

/* Adam's effective_lr against a computation from the gradients alone: v as
 * the EMA of g^2 in double, vh = v/(1 - beta2^t), mean of lr/sqrt(vh + eps)
 * (eps inside, the default) or lr/(sqrt(vh) + eps), checked after every
 * step. The three option sets must give different values (the check sees
 * the options). */
static void test_optimizers_adam_effective_lr(void)
{
    const double eps = 1e-4, b2 = 0.99;
    double last[3];
    for (int variant = 0; variant < 3; variant++) {
        gd_spec *spec = test_spec(GD_KIND_OPTIMIZER, "adam", "eps", 'n', eps, "beta2", 'n', b2,
                                  "eps_inside", 'b', variant != 1,
                                  "bias_correction", 'b', variant != 2, NULL);
        CU_ASSERT_PTR_NOT_NULL_FATAL(spec);
        uint64_t rng = 99;
        float x0[RN] = { 0 }, g[RN];
        double v[RN] = { 0 };
        optim_run r;
        run_begin(&r, spec, x0, RN);
        for (int t = 1; t <= 10; t++) {
            const double lr = 1e-3 * t;
            for (int i = 0; i < RN; i++) {
                g[i] = (float)(1e-2 * lcg_uniform(&rng));
                v[i] = b2 * v[i] + (1 - b2) * (double)g[i] * g[i];
            }
            run_step(&r, g, lr);
            const double bc2 = variant == 2 ? 1.0 : 1.0 - pow(b2, t);
            double sum = 0.0;
            for (int i = 0; i < RN; i++)
                sum += variant == 1 ? 1.0 / (sqrt(v[i] / bc2) + eps) : 1.0 / sqrt(v[i] / bc2 + eps);
            const double want = lr * sum / RN;
            gd_optim_state st = { .lr = lr, .t = r.t, .scalars = r.scalars };
            gd_optim_span sp = run_span(&r, g, 0, RN);
            const double got = r.vt->effective_lr(spec->options, &st, &sp);
            if (!(fabs(got - want) <= 1e-5 * want))
                fprintf(stderr, "\n  adam effective_lr (variant %d) step %d: got %.9g, want %.9g\n",
                        variant, t, got, want);
            CU_ASSERT(fabs(got - want) <= 1e-5 * want);
            last[variant] = got;
        }
        /* an empty span has no mean: 0, not NaN, so a weighted sum stays finite */
        gd_optim_state st = { .lr = 1e-3, .t = r.t, .scalars = r.scalars };
        gd_optim_span sp = run_span(&r, g, 0, 0);
        CU_ASSERT_EQUAL(r.vt->effective_lr(spec->options, &st, &sp), 0.0);
        run_end(&r);
        gd_spec_free(spec);
    }
    CU_ASSERT(fabs(last[0] - last[1]) > 1e-3 * last[0]);
    CU_ASSERT(fabs(last[0] - last[2]) > 1e-3 * last[0]);
}

/* The core maps parameter groups onto sub-ranges: two spans must give the
 * same bits as one span over everything (elementwise float operations do not
 * depend on how the loop is vectorized, peeled or tailed). */
static void test_optimizers_split_spans(void)
{
    for (int vi = 0; vi < NVARIANTS; vi++) {
        gd_spec *spec = variant_spec(vi);
        CU_ASSERT_PTR_NOT_NULL_FATAL(spec);
        uint64_t rng = 7;
        float x0[RN], g[RN];
        for (int i = 0; i < RN; i++)
            x0[i] = (float)lcg_uniform(&rng);
        optim_run whole, split;
        run_begin(&whole, spec, x0, RN);
        run_begin(&split, spec, x0, RN);
        for (int t = 1; t <= 5; t++) {
            for (int i = 0; i < RN; i++)
                g[i] = (float)lcg_uniform(&rng);
            run_step(&whole, g, 0.01);
            split.t++;
            gd_optim_state st = { .lr = 0.01, .t = split.t, .scalars = split.scalars };
            gd_optim_span a = run_span(&split, g, 0, 13), b = run_span(&split, g, 13, RN - 13);
            split.vt->step(spec->options, &st, &a);
            split.vt->step(spec->options, &st, &b);
        }
        CU_ASSERT_EQUAL(memcmp(whole.x, split.x, sizeof x0), 0);
        for (int k = 0; k < whole.vt->nslots; k++)
            CU_ASSERT_EQUAL(memcmp(whole.slot[k], split.slot[k], sizeof x0), 0);
        run_end(&whole);
        run_end(&split);
        gd_spec_free(spec);
    }
}

int main(void)
{
    static const test_case cases[] = {
        TEST(test_optimizers_reference),
        TEST(test_optimizers_nesterov_lookahead_equivalence),
        TEST(test_optimizers_defaults),
        TEST(test_optimizers_bad_options),
        TEST(test_optimizers_match_scalar_loops),
        TEST(test_optimizers_adam_effective_lr),
        TEST(test_optimizers_split_spans),
        TEST_END,
    };
    return test_main("optimizers", cases);
}
