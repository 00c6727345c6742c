/*
 * cli/bench.c: `gradus bench mlp` and `gradus bench optim` (gemm: bench_peak.c;
 * cnn: bench_cnn.c).
 *
 * bench mlp trains the MLP 784-256-128-10 (ReLU) on Fashion-MNIST and
 * prints training samples/s (median of epochs 2..N per repeat, then median
 * and min-max over repeats, each repeat a fresh model), and the step's
 * GFLOP/s against two ceilings measured in the same process, between its
 * epochs: the FMA peak of one core times the threads, and the step's eight
 * sgemm calls alone on the same backend and threads (bench_peak.c). Figures,
 * never assertions: this is a measurement tool.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "blas.h"
#include "clock.h"
#include "component.h"
#include "host.h"
#include "optim.h"
#include "train.h"
#include "threads.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double gd_bench_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int gd_bench_parse_list(const char *s, long *out, int max)
{
    int n = 0;
    char *end;
    while (*s && n < max) {
        long v = strtol(s, &end, 10);
        if (end == s || v < 1)
            return -1;
        out[n++] = v;
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',')
            return -1;
    }
    return n;
}

static int parse_names(char *s, const char **out, int max)
{
    int n = 0;
    for (char *save = NULL, *p = strtok_r(s, ",", &save); p && n < max;
         p = strtok_r(NULL, ",", &save))
        out[n++] = p;
    return n;
}

long gd_bench_peak_rss_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

const char *gd_bench_cpu_name(char *buf, size_t len)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    snprintf(buf, len, "unknown");
    if (!f)
        return buf;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) == 0) {
            char *c = strchr(line, ':');
            if (c) {
                snprintf(buf, len, "%s", c + 2);
                buf[strcspn(buf, "\n")] = 0;
            }
            break;
        }
    }
    fclose(f);
    return buf;
}

/* ------------------------------------------------------------------------
 * Optimizer passes
 * ---------------------------------------------------------------------- */

enum { WINDOWS = 6 };

/* Seconds per update of `opt` over n parameters, on one thread: the best
 * of WINDOWS windows over min_seconds. */
static double time_optimizer(const gd_spec *opt, int64_t n, double min_seconds)
{
    if (gd_optimizer_is_tensor(opt))
        return NAN;   /* no span pass to time: it steps whole tensors (core/optim.h) */
    float *x = calloc((size_t)n, sizeof(float)), *g = calloc((size_t)n, sizeof(float));
    gd_optim_span span = { n, x, g, { 0 } };
    for (int k = 0; k < gd_optimizer_nslots(opt); k++)
        span.slot[k] = calloc((size_t)n, sizeof(float));
    double scalars[64] = { 0 };
    for (int64_t i = 0; i < n; i++)
        g[i] = 1e-3f * (float)((i % 17) - 8);
    gd_optim_state warm = { 1e-3, 1, scalars };
    gd_optimizer_step_span(opt, &warm, &span); /* page in the arrays before timing */
    double per = 0;
    for (int w = 0, reps = 0; w < WINDOWS; w++) {
        int r0 = reps;
        double t0 = gd_clock_now(), t;
        do {
            gd_optim_state st = { 1e-3, reps + 1, scalars };
            gd_optimizer_step_span(opt, &st, &span);
            reps++;
        } while ((t = gd_clock_now() - t0) < min_seconds / WINDOWS);
        per = w ? fmin(per, t / (reps - r0)) : t / (reps - r0);
    }
    free(x);
    free(g);
    for (int k = 0; k < gd_optimizer_nslots(opt); k++)
        free(span.slot[k]);
    return per;
}

/* Seconds per pass of the same traffic without arithmetic: read g, read and
 * write x and the slots, as a copy loop would. */
static double time_copy(int nslots, int64_t n, double min_seconds)
{
    int arrays = 2 + nslots;
    float **p = calloc((size_t)arrays, sizeof *p);
    for (int k = 0; k < arrays; k++)
        p[k] = calloc((size_t)n, sizeof(float));
    for (int k = 0; k < arrays; k++)
        memset(p[k], 0, (size_t)n * sizeof(float)); /* page in before timing */
    int reps = 0;
    double t0 = gd_clock_now(), t;
    do {
        for (int k = 1; k < arrays; k++) {
            float *restrict dst = p[k];
            const float *restrict src = p[0];
            for (int64_t i = 0; i < n; i++)
                dst[i] = src[i] + dst[i];
        }
        reps++;
    } while ((t = gd_clock_now() - t0) < min_seconds);
    for (int k = 0; k < arrays; k++)
        free(p[k]);
    free(p);
    return t / reps;
}

/* The MLP 784-256-128-10's parameter tensors, for the tensor-aware passes. */
static const gd_shape mlp_tensors[] = {
    { 2, { 256, 784, 0, 0 } }, { 1, { 256, 0, 0, 0 } }, { 2, { 128, 256, 0, 0 } },
    { 1, { 128, 0, 0, 0 } },   { 2, { 10, 128, 0, 0 } }, { 1, { 10, 0, 0, 0 } },
};
enum { MLP_TENSORS = 6 };

/* A second gradient that is the first (SAM's own cost, without its pass). */
static gd_status same_gradient(void *ctx, gd_optim *o, gd_error *err)
{
    (void)ctx, (void)o, (void)err;
    return GD_OK;
}

/* Seconds per update of a tensor-aware optimizer over the MLP's tensors, on
 * the threads set (gd_set_threads). NAN when it cannot be made. */
static double time_tensor_optimizer(const gd_spec *opt, double min_seconds)
{
    gd_optim_tensor ts[MLP_TENSORS];
    float *mem[2 * MLP_TENSORS] = { 0 };
    bool ok = true;
    for (int i = 0; i < MLP_TENSORS; i++) {
        int64_t n = gd_shape_numel(&mlp_tensors[i]);
        mem[2 * i] = malloc((size_t)n * sizeof(float));
        mem[2 * i + 1] = malloc((size_t)n * sizeof(float));
        ok = ok && mem[2 * i] && mem[2 * i + 1];
        for (int64_t k = 0; ok && k < n; k++) {
            mem[2 * i][k] = 0.05f * (float)((k * 7919 % 201) - 100) / 100.0f;
            mem[2 * i + 1][k] = 1e-3f * (float)((k % 17) - 8);
        }
        ts[i] = (gd_optim_tensor){ .x = mem[2 * i], .g = mem[2 * i + 1],
                                   .shape = mlp_tensors[i],
                                   .role = i % 2 ? GD_ROLE_BIAS : GD_ROLE_WEIGHT,
                                   .layer = "dense", .name = i % 2 ? "b" : "W" };
    }
    gd_error err;
    gd_optim *o = ok ? gd_optim_new(opt, ts, MLP_TENSORS, &err) : NULL;
    double per = NAN;
    if (o) {
        for (int i = 0; i < MLP_TENSORS; i++)
            gd_optim_set_grad(o, i, ts[i].g);
        gd_optim_step(o, 1e-3, same_gradient, NULL, &err);  /* page in, set up */
        /* the best of WINDOWS windows: a neighbour only ever slows one down */
        for (int w = 0; w < WINDOWS; w++) {
            int reps = 0;
            double t0 = gd_clock_now(), t;
            do {
                gd_optim_step(o, 1e-3, same_gradient, NULL, &err);
                reps++;
            } while ((t = gd_clock_now() - t0) < min_seconds / WINDOWS);
            per = w ? fmin(per, t / reps) : t / reps;
        }
        gd_optim_free(o);
    }
    for (int i = 0; i < 2 * MLP_TENSORS; i++)
        free(mem[i]);
    return per;
}

/* Newton-Schulz's products on a matrix of shape sh, as muon makes them. */
static void ns_products(const gd_host *h, const gd_shape *sh, int steps, float *buf)
{
    int m = (int)sh->dim[0], n = (int)sh->dim[1];
    if (m > n) {
        int tmp = m;
        m = n;
        n = tmp;
    }
    float *x = buf, *y = x + (int64_t)m * n, *a = y + (int64_t)m * n, *p = a + (int64_t)m * m;
    for (int s = 0; s < steps; s++) {
        h->sgemm(0, 1, m, m, n, 1.0f, x, n, x, n, 0.0f, a, m);
        h->sgemm(0, 0, m, m, m, 1.0f, a, m, a, m, 0.0f, p, m);
        h->sgemm(0, 0, m, n, m, 1.0f, p, m, x, n, 1.0f, y, n);
    }
}

/* FLOPs of muon's Newton-Schulz on the MLP's matrices per update, and the
 * seconds its products alone take through the host's sgemm (the ceiling):
 * per iteration on X [m, n], m the short side: A = X X^T (2 m^2 n),
 * A A (2 m^3), P X (2 m^2 n). */
static double muon_ns(int steps, double min_seconds, double *ceiling_s)
{
    double flops = 0;
    float *buf[MLP_TENSORS] = { 0 };
    bool ok = true;
    for (int i = 0; i < MLP_TENSORS; i += 2) {
        double m = mlp_tensors[i].dim[0], n = mlp_tensors[i].dim[1];
        if (m > n) { double t = m; m = n; n = t; }
        flops += steps * (4 * m * m * n + 2 * m * m * m);
        ok = ok && (buf[i] = calloc((size_t)(3 * m * n + 2 * m * m), sizeof(float)));
    }
    const gd_host *h = gd_core_host();
    double best = INFINITY;
    for (int w = 0; ok && w < WINDOWS; w++) {
        int reps = 0;
        double t0 = gd_clock_now(), t;
        do {
            for (int i = 0; i < MLP_TENSORS; i += 2)
                ns_products(h, &mlp_tensors[i], steps, buf[i]);
            reps++;
        } while ((t = gd_clock_now() - t0) < min_seconds / WINDOWS);
        best = fmin(best, t / reps);
    }
    for (int i = 0; i < MLP_TENSORS; i++)
        free(buf[i]);
    *ceiling_s = ok ? best : NAN;
    return flops;
}

/* The tensor-aware and composite optimizers over the MLP's tensors, beside
 * adam's span pass over as many parameters. */
/* Is `name` wanted: one of the names given, or any when none was. */
static bool wanted(const char *name, char *const *names, int nnames)
{
    for (int j = 0; j < nnames; j++)
        if (strcmp(names[j], name) == 0)
            return true;
    return nnames == 0;
}

static void bench_tensor_optimizers(const gd_registry *reg, bool json, bool *first,
                                    char *const *names, int nnames)
{
    int64_t np = 0;
    for (int i = 0; i < MLP_TENSORS; i++)
        np += gd_shape_numel(&mlp_tensors[i]);
    gd_error err;
    gd_spec *adam = gd_spec_by_name(reg, GD_KIND_OPTIMIZER, "adam", &err);
    double adam_s = adam ? time_optimizer(adam, np, 0.3) : NAN;
    gd_spec_free(adam);
    if (!json)
        printf("\ntensor-aware optimizers: one update of the MLP 784-256-128-10's 6 tensors "
               "(%lld parameters), %d thread%s; sam without its second pass\n%-12s %12s %12s\n",
               (long long)np, gd_get_threads(), gd_get_threads() > 1 ? "s" : "", "optimizer",
               "us/update", "x adam");
    for (int i = 0; i < gd_registry_count(reg); i++) {
        const gd_entry *e = gd_registry_at(reg, i);
        if (e->component->kind != GD_KIND_OPTIMIZER || !wanted(e->component->name, names, nnames))
            continue;
        gd_spec *s = gd_spec_by_name(reg, GD_KIND_OPTIMIZER, e->component->name, &err);
        if (!s || !gd_optimizer_is_tensor(s)) {
            gd_spec_free(s);
            continue;
        }
        double t = time_tensor_optimizer(s, 0.3);
        if (json)
            printf("%s\n  {\"optimizer\": \"%s\", \"tensor\": true, \"us_per_update\": %.2f, "
                   "\"adam_ratio\": %.3f}", *first ? "" : ",", e->component->name, 1e6 * t,
                   t / adam_s);
        else
            printf("%-12s %12.1f %12.2f\n", e->component->name, 1e6 * t, t / adam_s);
        *first = false;
        gd_spec_free(s);
    }
    if (!wanted("muon", names, nnames) || !gd_registry_find(reg, GD_KIND_OPTIMIZER, "muon"))
        return;
    double ceiling_s, flops = muon_ns(5, 0.3, &ceiling_s);
    gd_spec *muon = gd_spec_by_name(reg, GD_KIND_OPTIMIZER, "muon", &err);
    double muon_s = muon ? time_tensor_optimizer(muon, 0.3) : NAN;
    gd_spec_free(muon);
    if (!json)
        printf("muon's Newton-Schulz (5 steps, %.0f MFLOP per update): %.1f GFLOP/s over the whole "
               "update; its products alone through the sgemm: %.1f GFLOP/s (%.0f%% of that "
               "ceiling)\n", flops / 1e6, flops / muon_s / 1e9, flops / ceiling_s / 1e9,
               100 * ceiling_s / muon_s);
}

/* ------------------------------------------------------------------------
 * bench mlp
 * ---------------------------------------------------------------------- */

typedef struct mlp_result {
    double samples_per_s[16];      /* per repeat */
    double per_cpu_s[16];          /* per repeat: samples per CPU second of the process */
    double peak;                   /* FLOP/s: FMA peak of one core x threads */
    double sgemm;                  /* FLOP/s of the step's products alone */
    gd_step_timing split;          /* summed over repeats */
    double allocs_per_step;
    long rss_kib;
} mlp_result;

/* The MLP with each hidden dense layer's ReLU fused into it (dense's
 * activation option: the same function as dense + relu, one pass less). */
gd_model *gd_bench_make_mlp(const gd_registry *reg, uint64_t seed, gd_error *err)
{
    static const int units[] = { 256, 128, 10 };
    gd_spec *specs[3] = { 0 };
    gd_model *m = NULL;
    const gd_entry *e = gd_registry_find(reg, GD_KIND_LAYER, "dense");
    if (!e) {
        gd_registry_fail_unknown(reg, GD_KIND_LAYER, "dense", err);
        return NULL;
    }
    for (int i = 0; i < 3; i++) {
        gd_spec *s = gd_spec_begin(reg, e->component, err);
        gd_arg a = { .type = GD_ARG_INTEGER, .i = units[i] };
        gd_arg init = { .type = GD_ARG_STRING, .s = "he_normal" };
        gd_arg act = { .type = GD_ARG_STRING, .s = i < 2 ? "relu" : "none" };
        if (!s || gd_spec_set(s, "units", &a, err) || gd_spec_set(s, "init", &init, err) ||
            gd_spec_set(s, "activation", &act, err) || gd_spec_finish(s, err)) {
            gd_spec_free(s);
            goto done;
        }
        specs[i] = s;
    }
    gd_shape in = gd_shape_1(784);
    m = gd_model_new(reg, (const gd_spec *const *)specs, 3, &in, seed, err);
done:
    for (int i = 0; i < 3; i++)
        gd_spec_free(specs[i]);
    return m;
}

/* Seconds of CPU time all threads of this process have run. */
static double process_cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A sample of each ceiling, after every epoch: a ceiling is the best the
 * machine does, and on a shared machine a neighbour only ever lowers a
 * sample, so each is the maximum of its samples, taken between the epochs
 * it is compared with (the peak's also before the row: PEAK_SAMPLES after
 * a warm-up, see bench_fma.c for why samples this long). */
enum { PEAK_SAMPLES = 5 };

static void sample_ceilings(mlp_result *r, int batch)
{
    const char *unit;
    r->peak = fmax(r->peak, gd_get_threads() * gd_bench_fma_sample(GD_PEAK_SAMPLE_SECONDS, &unit));
    r->sgemm = fmax(r->sgemm, gd_bench_step_flops() * batch / gd_bench_sgemm_seconds(batch, 0.05));
}

static gd_status run_mlp(const gd_registry *reg, const gd_dataset *train, const char *optim,
                         long batch, int epochs, int repeats, long monitor, mlp_result *r,
                         gd_error *err)
{
    gd_spec *loss = gd_spec_by_name(reg, GD_KIND_LOSS, "cross_entropy", err);
    gd_spec *opt = loss ? gd_spec_by_name(reg, GD_KIND_OPTIMIZER, optim, err) : NULL;
    gd_status st = opt ? GD_OK : GD_ENOTFOUND;
    memset(r, 0, sizeof *r);
    if (st == GD_OK)
        r->peak = gd_get_threads() * gd_bench_fma_peak(GD_PEAK_WARMUP_SECONDS, PEAK_SAMPLES);
    for (int rep = 0; st == GD_OK && rep < repeats; rep++) {
        gd_model *m = gd_bench_make_mlp(reg, (uint64_t)rep + 1, err);
        if (!m) {
            st = GD_EINVAL;
            break;
        }
        gd_train_config cfg = { .model = m, .loss = loss, .optimizer = opt, .train = train,
                                .epochs = epochs, .batch = batch, .seed = (uint64_t)rep + 1,
                                .monitor_every = monitor };
        gd_trainer *tr = gd_trainer_new(&cfg, err);
        if (!tr) {
            gd_model_free(m);
            st = GD_EINVAL;
            break;
        }
        gd_trainer_enable_timing(tr, rep == 0);
        double rates[64], cpu_rates[64];
        int nrates = 0;
        for (int e = 0; e < epochs && st == GD_OK; e++) {
            long a0 = gd_bench_allocations();
            double t0 = gd_clock_now(), c0 = process_cpu_now();
            st = gd_trainer_epoch(tr, NULL, err);
            double dt = gd_clock_now() - t0, dc = process_cpu_now() - c0;
            if (e >= 1 && nrates < 64) {
                cpu_rates[nrates] = (double)gd_dataset_size(train) / dc;
                rates[nrates++] = (double)gd_dataset_size(train) / dt;
            }
            if (e == epochs - 1)
                r->allocs_per_step = (double)(gd_bench_allocations() - a0) /
                                     (double)gd_trainer_steps_per_epoch(tr);
            sample_ceilings(r, (int)batch);
        }
        if (nrates == 0) {
            cpu_rates[nrates] = NAN;
            rates[nrates++] = NAN;
        }
        r->samples_per_s[rep] = gd_bench_median(rates, nrates);
        r->per_cpu_s[rep] = gd_bench_median(cpu_rates, nrates);
        if (rep == 0)
            r->split = *gd_trainer_timing(tr);
        gd_trainer_free(tr);
        gd_model_free(m);
    }
    if (st == GD_OK)
        r->rss_kib = gd_bench_peak_rss_kib();
    gd_spec_free(loss);
    gd_spec_free(opt);
    return st;
}

static void usage_mlp(FILE *f)
{
    fprintf(f, "usage: gradus bench mlp [--batch 32,128,512] [--optim sgd,adam] "
               "[--threads 1,2] [--blas onednn,openblas] [--epochs 5] [--repeats 3] "
               "[--monitor N] [--limit N] [--json]\n"
               "  --blas LIST   sgemm backends to run (default: the one in use, GRADUS_BLAS)\n"
               "  --monitor N   record per-layer telemetry every N steps (0: off, the default)\n"
               "  --limit N     train on the first N images only\n");
}

typedef struct mlp_args {
    long batches[8], threads[8];
    int nb, nt, epochs, repeats, no, nblas;
    long limit, monitor;
    char optbuf[256], blasbuf[64];
    const char *optims[8], *blas[4];
    bool json;
} mlp_args;

static int parse_mlp(const gd_registry *reg, int argc, char **argv, mlp_args *o)
{
    *o = (mlp_args){ .batches = { 32, 128, 512 }, .threads = { 1, 2 }, .nb = 3, .nt = 2,
                     .epochs = 5, .repeats = 3, .optbuf = "sgd,adam" };
    snprintf(o->blasbuf, sizeof o->blasbuf, "%s", gd_blas_name());
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--json") == 0) { o->json = true; continue; }
        if (strcmp(a, "--help") == 0) { usage_mlp(stdout); return 0; }
        if (!v) { fprintf(stderr, "gradus: bench mlp: %s needs a value\n", a); return 2; }
        i++;
        if (strcmp(a, "--batch") == 0) o->nb = gd_bench_parse_list(v, o->batches, 8);
        else if (strcmp(a, "--threads") == 0) o->nt = gd_bench_parse_list(v, o->threads, 8);
        else if (strcmp(a, "--epochs") == 0) o->epochs = atoi(v);
        else if (strcmp(a, "--repeats") == 0) o->repeats = atoi(v);
        else if (strcmp(a, "--limit") == 0) o->limit = atol(v);
        else if (strcmp(a, "--monitor") == 0) o->monitor = atol(v);
        else if (strcmp(a, "--optim") == 0) snprintf(o->optbuf, sizeof o->optbuf, "%s", v);
        else if (strcmp(a, "--blas") == 0) snprintf(o->blasbuf, sizeof o->blasbuf, "%s", v);
        else { fprintf(stderr, "gradus: bench mlp: unknown option '%s'\n", a); usage_mlp(stderr); return 2; }
        if (o->nb < 1 || o->nt < 1) { fprintf(stderr, "gradus: bench mlp: bad list '%s'\n", v); return 2; }
    }
    if (o->epochs < 2 || o->epochs > 64 || o->repeats < 1 || o->repeats > 16 || o->monitor < 0 ||
        o->limit < 0) {
        fprintf(stderr, "gradus: bench mlp: --epochs must be in [2, 64], --repeats in [1, 16], "
                "--monitor and --limit >= 0\n");
        return 2;
    }
    o->no = parse_names(o->optbuf, o->optims, 8);
    o->nblas = parse_names(o->blasbuf, o->blas, 4);
    gd_error err;
    for (int i = 0; i < o->no; i++)
        if (!gd_registry_find(reg, GD_KIND_OPTIMIZER, o->optims[i])) {
            gd_registry_fail_unknown(reg, GD_KIND_OPTIMIZER, o->optims[i], &err);
            fprintf(stderr, "gradus: bench mlp: %s\n", err.msg);
            return 2;
        }
    for (int i = 0; i < o->nblas; i++)
        if (!gd_blas_available(o->blas[i])) {
            gd_blas_select(o->blas[i], &err);
            fprintf(stderr, "gradus: bench mlp: --%s\n", err.msg);
            return 2;
        }
    return -1; /* go on */
}

static void print_header(const mlp_args *o, const gd_dataset *train)
{
    char cpu[128];
    const char *unit = gd_bench_fma_unit();
    if (o->json) {
        printf("{\"cpu\": \"%s\", \"vector_unit\": \"%s\", \"flops_per_sample\": %.0f, "
               "\"samples\": %lld, \"epochs\": %d, \"repeats\": %d, \"monitor\": %ld, "
               "\"results\": [", gd_bench_cpu_name(cpu, sizeof cpu), unit, gd_bench_step_flops(),
               (long long)gd_dataset_size(train), o->epochs, o->repeats, o->monitor);
        return;
    }
    printf("gradus bench mlp: MLP 784-256-128-10 (ReLU fused into dense) on Fashion-MNIST, %lld samples, "
           "%.0f FLOPs per sample\ncpu: %s; widest vector unit: %s\n", (long long)gd_dataset_size(train),
           gd_bench_step_flops(), gd_bench_cpu_name(cpu, sizeof cpu), unit);
    for (int i = 0; i < o->nblas; i++) {
        gd_error err;
        gd_blas_select(o->blas[i], &err);
        printf("%s: %s\n", o->blas[i], gd_blas_library());
    }
    printf("median of epochs 2..%d per repeat; median [min-max] over %d repeats\n"
           "peak = FMA peak of one core x threads: %s, %d before the row and one after "
           "every epoch (gradus bench peak runs the loop alone)\n"
           "sgemm = the step's 8 sgemm calls alone, the best of 0.05 s samples after every "
           "epoch, per CPU second\n"
           "monitor: %s; without monitoring or clipping each layer is updated right after "
           "its backward, so the update share is inside bwd\n\n"
           "%% = the step's FLOPs per wall-clock second against the peak; %%cpu and sgemm %% = "
           "per CPU second of the process (times the threads), so that time slices other "
           "processes take are left out\n\n"
           "%-8s %-3s %-9s %5s %9s %17s %6s %6s %5s %5s %6s %5s  %-29s %6s %6s\n",
           o->epochs, o->repeats, gd_bench_fma_method(), PEAK_SAMPLES,
           o->monitor ? "on" : "off", "blas", "thr", "optim", "batch",
           "samples/s", "[min-max]", "GFLOPs", "peak", "%", "%cpu", "sgemm", "%",
           "split % gather/fwd/loss/bwd/upd", "allocs", "rss MiB");
}

static void print_row(const mlp_args *o, const char *blas, long threads, const char *optim,
                      long batch, mlp_result *r, bool first)
{
    double v[16], lo = INFINITY, hi = -INFINITY;
    for (int k = 0; k < o->repeats; k++) {
        v[k] = r->samples_per_s[k];
        lo = fmin(lo, v[k]);
        hi = fmax(hi, v[k]);
    }
    double med = gd_bench_median(v, o->repeats), flops = med * gd_bench_step_flops();
    double vc[16];
    memcpy(vc, r->per_cpu_s, sizeof vc);
    double cpu_flops = gd_bench_median(vc, o->repeats) * gd_bench_step_flops();
    const gd_step_timing *s = &r->split;
    double tot = s->gather + s->forward + s->loss + s->backward + s->update + s->monitor;
    if (tot <= 0)
        tot = 1;
    if (o->json) {
        printf("%s\n  {\"blas\": \"%s\", \"threads\": %ld, \"optim\": \"%s\", \"batch\": %ld, "
               "\"samples_per_s\": %.0f, \"min\": %.0f, \"max\": %.0f, \"gflops\": %.2f, "
               "\"peak_gflops\": %.2f, \"peak_ratio\": %.4f, \"cpu_peak_ratio\": %.4f, "
               "\"sgemm_gflops\": %.2f, "
               "\"sgemm_ratio\": %.4f, \"split\": {\"gather\": %.4f, \"forward\": %.4f, "
               "\"loss\": %.4f, \"backward\": %.4f, \"update\": %.4f, \"monitor\": %.5f}, "
               "\"allocs_per_step\": %.3f, \"peak_rss_mib\": %.1f}",
               first ? "" : ",", blas, threads, optim, batch, med, lo, hi, flops / 1e9,
               r->peak / 1e9, flops / r->peak, cpu_flops * threads / r->peak, r->sgemm / 1e9,
               cpu_flops * threads / r->sgemm,
               s->gather / tot, s->forward / tot, s->loss / tot, s->backward / tot,
               s->update / tot, s->monitor / tot, r->allocs_per_step, r->rss_kib / 1024.0);
        return;
    }
    char range[32], split[64];
    snprintf(range, sizeof range, "[%.1fk-%.1fk]", lo / 1e3, hi / 1e3);
    snprintf(split, sizeof split, "%4.1f/%4.1f/%4.1f/%4.1f/%4.1f", 100 * s->gather / tot,
             100 * s->forward / tot, 100 * s->loss / tot, 100 * s->backward / tot,
             100 * s->update / tot);
    printf("%-8s %-3ld %-9s %5ld %8.1fk %17s %6.1f %6.1f %4.1f%% %4.1f%% %6.1f %4.1f%%  %-29s "
           "%6.2f %6.1f", blas, threads, optim, batch, med / 1e3, range, flops / 1e9,
           r->peak / 1e9, 100 * flops / r->peak, 100 * cpu_flops * threads / r->peak,
           r->sgemm / 1e9, 100 * cpu_flops * threads / r->sgemm, split,
           r->allocs_per_step, r->rss_kib / 1024.0);
    if (o->monitor)
        printf("   monitor %.2f%% of step time", 100 * s->monitor / tot);
    printf("\n");
}

/* The CPU seconds of each thread of this process (/proc/self/task), to
 * show which threads worked: the caller and the pool's workers, and no
 * OpenMP team beside them. */
void gd_bench_print_threads(void)
{
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    int n = 0;
    printf("\nthreads of this process, CPU seconds each:");
    while (d && (e = readdir(d))) {
        char path[300];
        unsigned long ut = 0, st = 0;
        snprintf(path, sizeof path, "/proc/self/task/%s/stat", e->d_name);
        FILE *f = e->d_name[0] == '.' ? NULL : fopen(path, "r");
        if (!f)
            continue;
        /* fields 14 and 15 (utime, stime) follow the ')' closing the name */
        char buf[1024];
        size_t len = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[len] = 0;
        char *p = strrchr(buf, ')');
        if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut,
                        &st) == 2) {
            printf(" %.2f", (double)(ut + st) / (double)sysconf(_SC_CLK_TCK));
            n++;
        }
    }
    if (d)
        closedir(d);
    printf(" (%d threads)\n", n);
}

static int bench_mlp(const gd_registry *reg, int argc, char **argv)
{
    mlp_args o;
    int rc = parse_mlp(reg, argc, argv, &o);
    if (rc >= 0)
        return rc;
    gd_error err;
    gd_dataset *train = NULL;
    if (gd_fashion_mnist_load(NULL, "train", o.limit, &train, &err) != GD_OK) {
        fprintf(stderr, "gradus: bench mlp: %s\n", err.msg);
        return 1;
    }
    print_header(&o, train);
    rc = 0;
    bool first = true;
    for (int li = 0; li < o.nblas && !rc; li++) {
        gd_blas_select(o.blas[li], &err);
        for (int ti = 0; ti < o.nt && !rc; ti++) {
            gd_set_threads((int)o.threads[ti]);
            for (int oi = 0; oi < o.no && !rc; oi++)
                for (int bi = 0; bi < o.nb && !rc; bi++) {
                    mlp_result r;
                    if (run_mlp(reg, train, o.optims[oi], o.batches[bi], o.epochs, o.repeats,
                                o.monitor, &r, &err)) {
                        fprintf(stderr, "gradus: bench mlp: %s\n", err.msg);
                        rc = 1;
                        break;
                    }
                    print_row(&o, o.blas[li], o.threads[ti], o.optims[oi], o.batches[bi], &r,
                              first);
                    first = false;
                    fflush(stdout);
                }
        }
    }
    if (o.json)
        printf("\n]}\n");
    else
        gd_bench_print_threads();
    gd_dataset_free(train);
    return rc;
}


/* ------------------------------------------------------------------------
 * bench optim
 * ---------------------------------------------------------------------- */

static void usage_optim(FILE *f)
{
    fprintf(f, "usage: gradus bench optim [-l PLUGIN.so]... [--json] [--threads N] [NAME...]\n"
               "  time one update of each optimizer (or of each NAME). Elementwise ones: ns per\n"
               "  parameter at 235,146 parameters (the MLP 784-256-128-10) and at 10M, on one\n"
               "  thread, beside a copy loop over the same arrays. Tensor-aware ones, in a\n"
               "  table of their own: microseconds per update of the MLP's 6 tensors and the\n"
               "  ratio to adam's (a two-pass one reuses the gradient: its own cost, not the\n"
               "  second gradient's); muon's Newton-Schulz against its products alone.\n"
               "  -l PLUGIN.so   load a plugin first (also: gradus -l PLUGIN.so bench optim)\n"
               "  --threads N    step the tensor-aware ones on N threads (default 1)\n"
               "  --json         one JSON object per optimizer\n");
}

static int bench_optim(const gd_registry *reg, int argc, char **argv)
{
    bool json = false;
    int nnames = 0, threads = 1;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage_optim(stdout);
            return 0;
        } else if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (strcmp(argv[i], "--threads") == 0) {
            if (i + 1 >= argc || !gd_threads_parse(argv[i + 1], &threads) || threads < 1) {
                fprintf(stderr, "gradus: bench optim: --threads needs a count >= 1\n");
                usage_optim(stderr);
                return 2;
            }
            i++;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "gradus: bench optim: unknown option '%s'\n", argv[i]);
            usage_optim(stderr);
            return 2;
        } else if (!gd_registry_find(reg, GD_KIND_OPTIMIZER, argv[i])) {
            gd_error err;
            gd_registry_fail_unknown(reg, GD_KIND_OPTIMIZER, argv[i], &err);
            fprintf(stderr, "gradus: bench optim: %s\n", err.msg);
            return 2;
        } else {
            argv[nnames++] = argv[i];
        }
    }
    gd_set_threads(1);
    static const int64_t sizes[] = { 235146, 10000000 };
    if (json)
        printf("[");
    else
        printf("gradus bench optim: ns per parameter per update (1 thread, the optimizer "
               "loops do not use BLAS)\n%-12s %6s %12s %12s %14s\n", "optimizer", "slots",
               "235,146", "10M", "copy 235k/10M");
    bool first = true;
    for (int i = 0; i < gd_registry_count(reg); i++) {
        const gd_entry *e = gd_registry_at(reg, i);
        if (e->component->kind != GD_KIND_OPTIMIZER)
            continue;
        if (!wanted(e->component->name, argv, nnames))
            continue;
        gd_error err;
        gd_spec *s = gd_spec_by_name(reg, GD_KIND_OPTIMIZER, e->component->name, &err);
        if (!s) {
            fprintf(stderr, "gradus: bench optim: %s\n", err.msg);
            continue;
        }
        if (gd_optimizer_is_tensor(s)) {   /* the table after this one */
            gd_spec_free(s);
            continue;
        }
        double ns[2], copy[2];
        int nslots = gd_optimizer_nslots(s);
        for (int k = 0; k < 2; k++) {
            ns[k] = 1e9 * time_optimizer(s, sizes[k], 0.3) / (double)sizes[k];
            copy[k] = 1e9 * time_copy(nslots, sizes[k], 0.3) / (double)sizes[k];
        }
        if (json) {
            printf("%s\n  {\"optimizer\": \"%s\", \"slots\": %d, \"ns_per_param\": [%.4f, %.4f], "
                   "\"copy_ns_per_param\": [%.4f, %.4f]}", first ? "" : ",", e->component->name,
                   nslots, ns[0], ns[1], copy[0], copy[1]);
            first = false;
        } else {
            printf("%-12s %6d %12.3f %12.3f %7.3f/%-6.3f\n", e->component->name, nslots, ns[0],
                   ns[1], copy[0], copy[1]);
        }
        gd_spec_free(s);
    }
    gd_set_threads(threads);
    bench_tensor_optimizers(reg, json, &first, argv, nnames);
    if (json)
        printf("\n]\n");
    return 0;
}

/* Take the -l PLUGIN.so (or -lPLUGIN.so) arguments out of argv, loading
 * each; returns 0, or the exit status of a failed load. */
static int load_plugins(gd_registry *reg, int *argc, char **argv)
{
    int n = 0;
    for (int i = 0; i < *argc; i++) {
        if (strncmp(argv[i], "-l", 2) != 0) {
            argv[n++] = argv[i];
            continue;
        }
        const char *path = argv[i][2] ? argv[i] + 2 : i + 1 < *argc ? argv[++i] : NULL;
        gd_error err;
        if (!path) {
            fprintf(stderr, "gradus: bench: -l needs a plugin file (-l lion.so)\n");
            return 2;
        }
        if (gd_registry_load(reg, path, &err) != GD_OK) {
            fprintf(stderr, "gradus: bench: %s\n", err.msg);
            return 1;
        }
    }
    *argc = n;
    return 0;
}

int gd_cli_bench(gd_registry *reg, int argc, char **argv)
{
    int st = load_plugins(reg, &argc, argv);
    if (st)
        return st;
    if (argc >= 1 && strcmp(argv[0], "mlp") == 0)
        return bench_mlp(reg, argc - 1, argv + 1);
    if (argc >= 1 && strcmp(argv[0], "optim") == 0)
        return bench_optim(reg, argc - 1, argv + 1);
    if (argc >= 1 && strcmp(argv[0], "cnn") == 0)
        return gd_bench_cnn(reg, argc - 1, argv + 1);
    if (argc >= 1 && strcmp(argv[0], "gemm") == 0)
        return gd_bench_gemm(argc - 1, argv + 1);
    if (argc >= 1 && strcmp(argv[0], "probes") == 0)
        return gd_bench_probes(reg, argc - 1, argv + 1);
    if (argc >= 1 && strcmp(argv[0], "peak") == 0)
        return gd_bench_peak(argc - 1, argv + 1);
    if (argc >= 1 && strcmp(argv[0], "transformer") == 0)
        return gd_bench_transformer(reg, argc - 1, argv + 1);
    fprintf(stderr, "gradus: bench: expected 'mlp', 'cnn', 'transformer', 'optim', 'gemm', "
            "'probes' or 'peak'\n");
    usage_mlp(stderr);
    return 2;
}
