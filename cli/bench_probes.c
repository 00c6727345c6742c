/*
 * cli/bench_probes.c: `gradus bench probes`, the cost of each probe
 * (core/probe.h, core/probe_monitor.h) against one training step of the
 * same model and batch: the benchmark's MLP 784-256-128-10 on Fashion-MNIST.
 *
 * A step is timed as the median over blocks of steps of a real run (SGD);
 * each probe inside that run, every k steps as monitor.probes would call
 * it (sharpness then starts Lanczos from the last eigenvector), the median
 * of a few measurements after the first; the overhead is its time (less
 * the one step it brackets) over k steps' time. Figures, never assertions.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "clock.h"
#include "component.h"
#include "probe_monitor.h"
#include "threads.h"
#include "train.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: gradus bench probes [--batch 128] [--samples 2048] [--iters 20] "
               "[--threads N] [--limit 10000] [--repeats 5]\n"
               "  the cost of each probe in training steps of the MLP 784-256-128-10 at that\n"
               "  batch, and its overhead at the interval monitor.probes would use\n");
}

typedef struct bargs {
    long batch, samples, iters, threads, limit, repeats;
} bargs;

static int parse(int argc, char **argv, bargs *o)
{
    *o = (bargs){ .batch = 128, .samples = 2048, .iters = 20, .threads = 0, .limit = 10000,
                  .repeats = 5 };
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "gradus: bench probes: %s needs a value\n", a);
            return 2;
        }
        char *end;
        long v = strtol(argv[++i], &end, 10);
        if (*end || v < 0) {
            fprintf(stderr, "gradus: bench probes: %s takes a whole number >= 0, got '%s'\n", a,
                    argv[i]);
            return 2;
        }
        if (strcmp(a, "--batch") == 0) o->batch = v;
        else if (strcmp(a, "--samples") == 0) o->samples = v;
        else if (strcmp(a, "--iters") == 0) o->iters = v;
        else if (strcmp(a, "--threads") == 0) o->threads = v;
        else if (strcmp(a, "--limit") == 0) o->limit = v;
        else if (strcmp(a, "--repeats") == 0) o->repeats = v;
        else {
            fprintf(stderr, "gradus: bench probes: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (o->batch < 2 || o->samples < o->batch || o->iters < 1 || o->iters > 1000 ||
        o->repeats < 1 || o->repeats > 100 || o->threads > 4096 ||
        (o->limit && o->limit < o->samples)) {
        fprintf(stderr, "gradus: bench probes: needs 2 <= batch <= samples <= limit (or limit 0), "
                "iters in 1..1000, repeats in 1..100\n");
        return 2;
    }
    return -1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Seconds per training step: the median of `repeats` blocks of 20 steps,
 * after 10 steps of warm-up. */
static gd_status time_step(gd_trainer *tr, int repeats, double *out, gd_error *err)
{
    gd_step_result res;
    double t[100];
    for (int i = 0; i < 10; i++)
        if (gd_trainer_step(tr, &res, err) != GD_OK)
            return GD_EINVAL;
    for (int r = 0; r < repeats; r++) {
        double t0 = gd_clock_now();
        for (int i = 0; i < 20; i++)
            if (gd_trainer_step(tr, &res, err) != GD_OK)
                return GD_EINVAL;
        t[r] = (gd_clock_now() - t0) / 20;
    }
    *out = median(t, repeats);
    return GD_OK;
}

/* Seconds per measurement of a monitor with this plan in a run: `every`
 * steps of training, then the measurement (before and after a step), a
 * few times; the median of all but the first (which starts cold and sizes
 * buffers). */
typedef struct probe_cost {
    double seconds;             /* per measurement (median) */
    double steps;               /* the same in the steps around it */
    double overhead;            /* over the `every` steps before it (median) */
    int iters;                  /* sharpness: Lanczos iterations of the last one */
} probe_cost;

static gd_status time_plan(const gd_probe_plan *plan, int64_t every, gd_trainer *tr, gd_model *m,
                           const gd_spec *loss, const gd_dataset *ds, int repeats,
                           probe_cost *out, gd_error *err)
{
    gd_probe_monitor *pm = gd_probe_monitor_new(plan, m, loss, ds, err);
    if (!pm)
        return GD_EINVAL;
    double t[101], ratio[101], per_step[101];
    gd_status st = GD_OK;
    gd_step_result res;
    for (int r = 0; r <= repeats && st == GD_OK; r++) {
        double t0 = gd_clock_now();
        for (int64_t i = 0; i < every && st == GD_OK; i++)
            st = gd_trainer_step(tr, &res, err);
        double block = gd_clock_now() - t0;
        int64_t k = gd_trainer_steps_done(tr);
        k -= k % every;   /* a step the plan measures at */
        double t1 = gd_clock_now();
        if (st == GD_OK)
            st = gd_probe_monitor_before(pm, k, false, err);
        double t2 = gd_clock_now();
        if (st == GD_OK)
            st = gd_trainer_step(tr, &res, err);
        double t3 = gd_clock_now();
        if (st == GD_OK)
            st = gd_probe_monitor_after(pm, k, err);
        t[r] = (t2 - t1) + (gd_clock_now() - t3);
        ratio[r] = t[r] / block;
        per_step[r] = block / (double)every;
    }
    if (st == GD_OK) {
        out->seconds = median(t + 1, repeats);
        out->overhead = median(ratio + 1, repeats);
        out->steps = out->seconds / median(per_step + 1, repeats);
        const gd_probe_record *rec = gd_probe_monitor_record(pm, gd_probe_monitor_count(pm) - 1);
        out->iters = rec ? rec->sharpness_iters : 0;
    }
    gd_probe_monitor_free(pm);
    return st;
}

/* Seconds per HVP on one batch (the batch's own probe set). */
static gd_status time_hvp(gd_model *m, const gd_spec *loss, const gd_dataset *ds, long batch,
                          int repeats, double *out, gd_error *err)
{
    gd_probe_config c = { m, loss, ds, batch, 1, batch, false };
    gd_probe *p = gd_probe_new(&c, err);
    if (!p)
        return GD_EINVAL;
    int64_t n = gd_model_param_count(m);
    float *v = malloc((size_t)n * sizeof(float)), *hv = malloc((size_t)n * sizeof(float));
    gd_status st = v && hv ? GD_OK : gd_fail(err, GD_ENOMEM, "out of memory");
    double t[101];
    for (int64_t i = 0; st == GD_OK && i < n; i++)
        v[i] = (float)sin((double)i);
    for (int r = 0; r <= repeats && st == GD_OK; r++) {
        double t0 = gd_clock_now();
        st = gd_probe_hvp(p, v, hv, err);
        t[r] = gd_clock_now() - t0;
    }
    if (st == GD_OK)
        *out = median(t + 1, repeats);
    free(v);
    free(hv);
    gd_probe_free(p);
    return st;
}

static void row(const char *name, const probe_cost *c, int64_t every, double target_steps,
                double target_pct)
{
    char tgt[32] = "";
    if (target_steps > 0)
        snprintf(tgt, sizeof tgt, "<= %.1f steps", target_steps);
    else if (target_pct > 0)
        snprintf(tgt, sizeof tgt, "<= %.0f %%", target_pct);
    if (every > 0)
        printf("%-34s %10.2f %10.1f %7lld %9.1f %%  %s\n", name, 1e3 * c->seconds, c->steps,
               (long long)every, 100 * c->overhead, tgt);
    else
        printf("%-34s %10.2f %10.1f %7s %11s  %s\n", name, 1e3 * c->seconds, c->steps, "-", "-",
               tgt);
}

int gd_bench_probes(const gd_registry *reg, int argc, char **argv)
{
    bargs o;
    int rc = parse(argc, argv, &o);
    if (rc >= 0)
        return rc;
    if (o.threads)
        gd_set_threads((int)o.threads);
    gd_error err;
    gd_dataset *ds = NULL;
    gd_model *m = NULL;
    gd_trainer *tr = NULL;
    gd_spec *loss = NULL, *opt = NULL;
    rc = 1;
    if (gd_fashion_mnist_load(NULL, "train", o.limit, &ds, &err) != GD_OK ||
        !(loss = gd_spec_by_name(reg, GD_KIND_LOSS, "cross_entropy", &err)) ||
        !(opt = gd_spec_by_name(reg, GD_KIND_OPTIMIZER, "sgd", &err)) ||
        !(m = gd_bench_make_mlp(reg, 1, &err)))
        goto out;
    gd_train_config cfg = { .model = m, .loss = loss, .optimizer = opt, .train = ds,
                            .epochs = 1000, .batch = o.batch, .seed = 1 };
    if (!(tr = gd_trainer_new(&cfg, &err)))
        goto out;
    double step;
    if (time_step(tr, (int)o.repeats, &step, &err) != GD_OK)
        goto out;
    printf("gradus bench probes: MLP 784-256-128-10 (%lld parameters), batch %ld, %d threads, "
           "probe sets of %ld samples\n", (long long)gd_model_param_count(m), o.batch,
           gd_get_threads(), o.samples);
    printf("one training step (sgd): %.2f ms\n\n", 1e3 * step);
    printf("%-34s %10s %10s %7s %11s  %s\n", "probe", "ms", "steps", "every", "overhead",
           "target");
    probe_cost c = { 0 };
    if (time_hvp(m, loss, ds, o.batch, (int)o.repeats, &c.seconds, &err) != GD_OK)
        goto out;
    c.steps = c.seconds / step;
    row("hvp (one batch)", &c, 0, 2.5, 0);
    gd_probe_plan base = { .batch = o.batch, .seed = 1 };
    gd_probe_plan p = base;
    p.sharpness_every = 500;
    p.sharpness_samples = o.samples;
    p.sharpness_iters = (int)o.iters;
    p.sharpness_tol = 1e-3;
    if (time_plan(&p, 500, tr, m, loss, ds, (int)o.repeats < 3 ? (int)o.repeats : 3, &c, &err))
        goto out;
    char name[64];
    snprintf(name, sizeof name, "sharpness (%d of <= %ld iters)", c.iters, o.iters);
    row(name, &c, 500, 0, 25);
    p = base;
    p.trace_every = 500;
    p.trace_samples = o.samples;
    p.trace_probes = 10;
    if (time_plan(&p, 500, tr, m, loss, ds, (int)o.repeats < 3 ? (int)o.repeats : 3, &c, &err))
        goto out;
    row("trace (Hutchinson, 10 probes)", &c, 500, 0, 0);
    p = base;
    p.noise_every = 100;
    p.noise_samples = o.samples;
    p.noise_big = o.samples < 1024 ? o.samples : 1024;
    p.noise_small = o.batch < p.noise_big / 4 ? o.batch : p.noise_big / 4;
    p.noise_repeats = 1;
    if (time_plan(&p, 100, tr, m, loss, ds, (int)o.repeats, &c, &err))
        goto out;
    snprintf(name, sizeof name, "noise_scale (%lld / %lld)", (long long)p.noise_small,
             (long long)p.noise_big);
    row(name, &c, 100, 0, 10);
    p = base;
    p.distance_every = 100;
    if (time_plan(&p, 100, tr, m, loss, ds, (int)o.repeats, &c, &err))
        goto out;
    row("distance", &c, 100, 0, 10);
    p = base;
    p.alpha_every = 100;
    p.alpha_samples = o.samples;
    if (time_plan(&p, 100, tr, m, loss, ds, (int)o.repeats, &c, &err))
        goto out;
    row("alpha", &c, 100, 0, 10);
    rc = 0;
out:
    if (rc)
        fprintf(stderr, "gradus: bench probes: %s\n", err.msg);
    gd_trainer_free(tr);
    gd_model_free(m);
    gd_spec_free(loss);
    gd_spec_free(opt);
    gd_dataset_free(ds);
    return rc;
}
