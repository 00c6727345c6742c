/*
 * cli/check_optim.c: the conformance checks of an (elementwise) optimizer.
 *
 * The optimizer is driven as the core drives it: t counts from 1, slots
 * and scalars start at zero in memory the check owns, slot pointers past
 * nslots are NULL, and one update may be cut into spans at any points.
 * Results that must match are compared bit for bit: the core promises
 * numbers that do not depend on threads, and checkpoints that resume
 * exactly.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"

typedef struct run {
    const gd_optimizer_vtable *vt;
    const gd_options *o;
    int64_t n, t;
    double lr;
    float *x, *g, *slot[GD_MAX_OPTIM_SLOTS];
    double *scalars;
} run;

static double base_lr(const ck_ctx *k)
{
    int i = ck_option(k->c, "lr");
    return i >= 0 && k->c->options[i].type == GD_OPT_NUMBER ? gd_opt_num(k->spec->options, i)
                                                            : 1e-3;
}

static run new_run(const ck_ctx *k, int64_t n)
{
    run r = { k->c->vt.optimizer, k->spec->options, n, 0, base_lr(k), NULL, NULL, { 0 }, NULL };
    r.x = ck_floats(n);
    r.g = ck_floats(n);
    for (int s = 0; s < r.vt->nslots; s++)
        r.slot[s] = ck_floats(n);
    r.scalars = ck_doubles(r.vt->nscalars);
    return r;
}

/* One update, cut into spans at cuts[0..ncuts) (increasing, inside (0, n)). */
static void step_cut(run *r, const int64_t *cuts, int ncuts)
{
    gd_optim_state st = { r->lr, ++r->t, r->scalars };
    int64_t lo = 0;
    for (int c = 0; c <= ncuts; c++) {
        int64_t hi = c < ncuts ? cuts[c] : r->n;
        gd_optim_span sp = { hi - lo, r->x + lo, r->g + lo, { 0 } };
        for (int s = 0; s < r->vt->nslots; s++)
            sp.slot[s] = r->slot[s] + lo;
        r->vt->step(r->o, &st, &sp);
        lo = hi;
    }
}

static void step(run *r)
{
    step_cut(r, NULL, 0);
}

/* Whether two runs hold the same numbers, bit for bit. */
static int same_state(const run *a, const run *b)
{
    size_t bytes = (size_t)a->n * sizeof(float);
    if (memcmp(a->x, b->x, bytes))
        return 0;
    for (int s = 0; s < a->vt->nslots; s++)
        if (memcmp(a->slot[s], b->slot[s], bytes))
            return 0;
    return !a->vt->nscalars ||
           !memcmp(a->scalars, b->scalars, (size_t)a->vt->nscalars * sizeof(double));
}

/* ---------------------------------------------------------------------------
 * Problems: f and its gradient (into r->g) at r->x
 * ------------------------------------------------------------------------- */

enum { QUAD_N = 8 };

static double quadratic(run *r)
{
    return ck_quadratic(r->x, r->g, r->n);
}

static double rosenbrock(run *r)
{
    return ck_rosenbrock(r->x, r->g);
}

typedef struct problem {
    const char *name;
    double (*f)(run *r);
    int n;
    const float *x0;
} problem;

/* Steps from x0 at lr*factor; f at the end (NaN if it went non-finite). */
static double descend(const ck_ctx *k, const problem *p, double factor, int steps)
{
    run r = new_run(k, p->n);
    r.lr *= factor;
    memcpy(r.x, p->x0, (size_t)p->n * sizeof(float));
    for (int s = 0; s < steps; s++) {
        double f = p->f(&r);
        if (!isfinite(f) || !ck_all_finite(r.x, r.n))
            return NAN;
        step(&r);
    }
    return p->f(&r);
}

/* Descent: f halves within 2000 steps at the default lr or, for a default
 * tuned to other problems, at one of a few smaller (or a larger) ones. */
static int check_descent(ck_ctx *k, const problem *p)
{
    static const double factors[] = { 1, 0.1, 0.01, 0.001, 10 };
    run probe = new_run(k, p->n);
    memcpy(probe.x, p->x0, (size_t)p->n * sizeof(float));
    const double f0 = p->f(&probe);
    double best = NAN;
    for (size_t i = 0; i < sizeof factors / sizeof factors[0]; i++) {
        double f = descend(k, p, factors[i], 2000);
        if (isfinite(f) && f < 0.5 * f0)
            return ck_pass(k, "f %.4g -> %.4g in 2000 steps at lr %g", f0, f,
                           base_lr(k) * factors[i]);
        if (isfinite(f) && !(f >= best))
            best = f;
    }
    return ck_fail(k, "f %.4g did not halve in 2000 steps at lr x{1, 0.1, 0.01, 0.001, 10} "
                   "(best %.4g): not a descent method, or a sign error", f0, best);
}

static int check_quadratic(ck_ctx *k)
{
    problem p = { "quadratic", quadratic, QUAD_N, ck_quad_x0 };
    return check_descent(k, &p);
}

static int check_rosenbrock(ck_ctx *k)
{
    problem p = { "rosenbrock", rosenbrock, 2, ck_rosen_x0 };
    return check_descent(k, &p);
}

/* ---------------------------------------------------------------------------
 * Robustness and exactness
 * ------------------------------------------------------------------------- */

/* Ten updates with g = value (alternating sign) from random weights. */
static int finite_on(ck_ctx *k, float value, const char *what)
{
    run r = new_run(k, 64);
    gd_rng rng = ck_rng(1);
    ck_fill_normal(r.x, r.n, &rng, 1.0);
    for (int s = 1; s <= 10; s++) {
        for (int64_t i = 0; i < r.n; i++)
            r.g[i] = (i + s) % 2 ? value : -value;
        step(&r);
        for (int64_t i = 0; i < r.n; i++)
            if (!isfinite(r.x[i]))
                return ck_fail(k, "x[%lld] = %s after update %d with %s gradient", (long long)i,
                               isnan(r.x[i]) ? "nan" : r.x[i] > 0 ? "inf" : "-inf", s, what);
    }
    return ck_pass(k, "10 updates, every weight finite");
}

static int check_zero_grad(ck_ctx *k)
{
    return finite_on(k, 0.0f, "a zero");
}

static int check_huge_grad(ck_ctx *k)
{
    return finite_on(k, 1e30f, "a 1e30");
}

/* A run of updates on random weights with fresh random gradients. */
static void noisy_updates(run *r, int first, int last, const int64_t *cuts, int ncuts)
{
    for (int s = first; s <= last; s++) {
        gd_rng rng = ck_rng(100 + (uint64_t)s);
        ck_fill_normal(r->g, r->n, &rng, 1.0);
        step_cut(r, cuts, ncuts);
    }
}

static run noisy_start(const ck_ctx *k, int64_t n)
{
    run r = new_run(k, n);
    gd_rng rng = ck_rng(2);
    ck_fill_normal(r.x, n, &rng, 1.0);
    return r;
}

static int check_twice(ck_ctx *k)
{
    run a = noisy_start(k, 256), b = noisy_start(k, 256);
    noisy_updates(&a, 1, 50, NULL, 0);
    noisy_updates(&b, 1, 50, NULL, 0);
    if (!same_state(&a, &b))
        return ck_fail(k, "two fresh runs of 50 updates differ: hidden state or randomness "
                       "(keep state in slots and scalars)");
    return ck_pass(k, "two runs of 50 updates, bit-identical weights and state");
}

static int check_split(ck_ctx *k)
{
    static const int64_t cuts[] = { 1, 16, 17, 333, 512, 1000 };
    run a = noisy_start(k, 1003), b = noisy_start(k, 1003);
    noisy_updates(&a, 1, 5, NULL, 0);
    noisy_updates(&b, 1, 5, cuts, (int)(sizeof cuts / sizeof cuts[0]));
    if (!same_state(&a, &b))
        return ck_fail(k, "one span and the same update cut into 7 spans give different "
                       "numbers: the core cuts spans anywhere (make the step elementwise)");
    return ck_pass(k, "1003 weights as one span and as 7: bit-identical");
}

/* Restore from a copy of x, slots and scalars after 10 updates, into fresh
 * memory, as a checkpoint does; then 10 more must match an unbroken run. */
static int check_checkpoint(ck_ctx *k)
{
    run a = noisy_start(k, 256), b = noisy_start(k, 256);
    noisy_updates(&a, 1, 10, NULL, 0);
    noisy_updates(&b, 1, 10, NULL, 0);
    run c = new_run(k, 256);
    size_t bytes = (size_t)b.n * sizeof(float);
    memcpy(c.x, b.x, bytes);
    for (int s = 0; s < b.vt->nslots; s++)
        memcpy(c.slot[s], b.slot[s], bytes);
    memcpy(c.scalars, b.scalars, (size_t)b.vt->nscalars * sizeof(double));
    c.t = b.t;
    noisy_updates(&a, 11, 20, NULL, 0);
    noisy_updates(&c, 11, 20, NULL, 0);
    if (!same_state(&a, &c))
        return ck_fail(k, "resumed from its %d slots and %d scalars after 10 updates, the run "
                       "differs from an unbroken one: state kept outside them",
                       a.vt->nslots, a.vt->nscalars);
    return ck_pass(k, "%d slot%s, %d scalar%s; resumed after 10 updates, bit-identical",
                   a.vt->nslots, a.vt->nslots == 1 ? "" : "s", a.vt->nscalars,
                   a.vt->nscalars == 1 ? "" : "s");
}

/* Guard pages after, then before, every buffer; canaries around them. */
static int check_bounds(ck_ctx *k)
{
    const ck_guard modes[] = { CK_GUARD_END, CK_GUARD_START };
    for (int m = 0; m < 2; m++) {
        ck_guard_mode = modes[m];
        run r = noisy_start(k, 37);
        noisy_updates(&r, 1, 3, NULL, 0);
    }
    int d = ck_damaged();
    if (d >= 0)
        return ck_fail(k, "wrote outside its span or slots (buffer %d)", d);
    return ck_pass(k, "guard pages before and after x, g and each slot; canaries intact");
}

static int check_effective_lr(ck_ctx *k)
{
    const gd_optimizer_vtable *vt = k->c->vt.optimizer;
    if (!vt->effective_lr)
        return ck_pass(k, "not provided (optional)");
    run r = noisy_start(k, 64);
    noisy_updates(&r, 1, 3, NULL, 0);
    gd_optim_state st = { r.lr, r.t, r.scalars };
    gd_optim_span sp = { r.n, r.x, r.g, { 0 } };
    memcpy(sp.slot, r.slot, sizeof sp.slot);
    double e = vt->effective_lr(r.o, &st, &sp);
    if (!isfinite(e) || e < 0)
        return ck_fail(k, "effective_lr is %g after 3 updates; want finite and >= 0", e);
    return ck_pass(k, "%g after 3 updates at lr %g", e, r.lr);
}

const ck_check ck_optimizer_checks[] = {
    { "descent on a convex quadratic", check_quadratic },
    { "descent on rosenbrock from (-1.2, 1)", check_rosenbrock },
    { "finite on a zero gradient", check_zero_grad },
    { "finite on huge gradients", check_huge_grad },
    { "identical results twice", check_twice },
    { "independent of the span split", check_split },
    { "state restored exactly from a checkpoint", check_checkpoint },
    { "no reads or writes outside its span and slots", check_bounds },
    { "effective_lr", check_effective_lr },
};
const int ck_noptimizer_checks = (int)(sizeof ck_optimizer_checks / sizeof ck_optimizer_checks[0]);
