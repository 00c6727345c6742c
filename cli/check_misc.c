/*
 * cli/check_misc.c: the conformance checks of schedulers, regularizers and
 * initializers.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"

/* ---------------------------------------------------------------------------
 * Schedulers: lr(t) for t = 0 .. 1e5-1, a pure function of t
 * ------------------------------------------------------------------------- */

enum { SCHED_STEPS = 100000 };

static int check_schedule(ck_ctx *k)
{
    const gd_scheduler_vtable *vt = k->c->vt.scheduler;
    const gd_options *o = k->spec->options;
    gd_error err;
    if (vt->check && vt->check(o, SCHED_STEPS, &err) != GD_OK)
        return ck_fail(k, "refuses its defaults for a run of %d updates: %s", SCHED_STEPS,
                       err.msg);
    double *first = ck_doubles(SCHED_STEPS), lo = INFINITY, hi = -INFINITY;
    for (int64_t t = 0; t < SCHED_STEPS; t++) {
        double lr = vt->lr(o, t, 0.1, SCHED_STEPS);
        if (!isfinite(lr) || lr < 0)
            return ck_fail(k, "lr(%lld) = %g for base lr 0.1: want finite and >= 0",
                           (long long)t, lr);
        first[t] = lr;
        lo = fmin(lo, lr);
        hi = fmax(hi, lr);
    }
    for (int64_t t = SCHED_STEPS - 1; t >= 0; t--)
        if (vt->lr(o, t, 0.1, SCHED_STEPS) != first[t])
            return ck_fail(k, "lr(%lld) differs when asked again: it must be a pure function "
                           "of t", (long long)t);
    return ck_pass(k, "lr in [%.4g, %.4g] over %d updates for base lr 0.1, the same asked "
                   "backwards", lo, hi, SCHED_STEPS);
}

const ck_check ck_scheduler_checks[] = {
    { "finite, non-negative, deterministic over 1e5 updates", check_schedule },
};
const int ck_nscheduler_checks = 1;

/* ---------------------------------------------------------------------------
 * Regularizers: penalty and gradient
 * ------------------------------------------------------------------------- */

enum { REG_N = 40 };

static int check_penalty(ck_ctx *k)
{
    const gd_regularizer_vtable *vt = k->c->vt.regularizer;
    const gd_options *o = k->spec->options;
    float *w = ck_floats(REG_N), *g = ck_floats(REG_N);
    gd_rng rng = ck_rng(30);
    ck_fill_normal(w, REG_N, &rng, 1.0);
    double p = vt->penalty(o, REG_N, w);
    if (!isfinite(p) || p < 0 || vt->penalty(o, REG_N, w) != p)
        return ck_fail(k, "penalty %g: want finite, >= 0 and the same when asked again", p);
    for (int i = 0; i < REG_N; i++)
        g[i] = 0.5f;
    vt->add_grad(o, REG_N, w, g);
    const float h = 1e-3f;
    for (int i = 0; i < REG_N; i++) {
        const float keep = w[i];
        w[i] = keep + h;
        double up = vt->penalty(o, REG_N, w);
        w[i] = keep - h;
        double down = vt->penalty(o, REG_N, w);
        w[i] = keep;
        double fd = (up - down) / (2.0 * h), an = (double)g[i] - 0.5;
        if (!(fabs(fd - an) <= 1e-3 + 1e-2 * fmax(fabs(fd), fabs(an))))
            return ck_fail(k, "w[%d]: add_grad adds %.6g, finite differences of the penalty "
                           "give %.6g (add_grad must add, not overwrite)", i, an, fd);
    }
    if (ck_damaged() >= 0)
        return ck_fail(k, "wrote outside the weights or gradient it was given");
    return ck_pass(k, "penalty %.4g; add_grad adds its gradient (finite differences)", p);
}

const ck_check ck_regularizer_checks[] = {
    { "penalty and gradient", check_penalty },
};
const int ck_nregularizer_checks = 1;

/* ---------------------------------------------------------------------------
 * Initializers: statistics against fan-in and fan-out
 * ------------------------------------------------------------------------- */

typedef struct stats {
    double mean, std;
} stats;

static int fill_stats(ck_ctx *k, int64_t fan_in, int64_t fan_out, stats *s)
{
    int64_t n = fan_in * fan_out;
    float *x = ck_floats(n);
    gd_rng rng = ck_rng(40);
    gd_error err;
    if (k->c->vt.initializer->fill(k->spec->options, x, n, fan_in, fan_out, &rng, &err) != GD_OK)
        return ck_fail(k, "fill of %lld x %lld failed: %s", (long long)fan_in,
                       (long long)fan_out, err.msg);
    double sum = 0, sq = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(x[i]))
            return ck_fail(k, "x[%lld] = %g at fan %lld x %lld", (long long)i, (double)x[i],
                           (long long)fan_in, (long long)fan_out);
        sum += x[i];
        sq += (double)x[i] * x[i];
    }
    s->mean = sum / (double)n;
    s->std = sqrt(fmax(sq / (double)n - s->mean * s->mean, 0));
    return 1;
}

/* Quadrupling both fans keeps the spread (a fixed scale) or halves it (a
 * scale in 1/sqrt(fan)): anything else is not a law of fan-in or fan-out. */
static int check_fill(ck_ctx *k)
{
    stats a, b;
    if (!fill_stats(k, 64, 64, &a) || !fill_stats(k, 256, 256, &b))
        return 0;
    if (ck_damaged() >= 0)
        return ck_fail(k, "wrote outside the tensor it was given");
    if (a.std == 0 && b.std == 0)
        return ck_pass(k, "constant %g at fans 64 and 256", a.mean);
    double ratio = b.std / a.std;
    const char *law = fabs(ratio - 1) < 0.1 ? "fixed" : fabs(ratio - 0.5) < 0.05 ? "1/sqrt(fan)"
                                                                                  : NULL;
    if (!law)
        return ck_fail(k, "std %.4g at fans 64x64, %.4g at 256x256 (ratio %.3g): want 1 "
                       "(a fixed scale) or 1/2 (scaled by 1/sqrt(fan))", a.std, b.std, ratio);
    return ck_pass(k, "mean %.3g, std %.4g at fans 64x64 and %.4g at 256x256 (%s scale)",
                   a.mean, a.std, b.std, law);
}

const ck_check ck_initializer_checks[] = {
    { "statistics finite and consistent with the fans", check_fill },
};
const int ck_ninitializer_checks = 1;
