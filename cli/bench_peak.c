/*
 * cli/bench_peak.c: the sgemm ceiling the MLP step is measured against, and
 * `gradus bench gemm` (the FMA peak: bench_fma.c).
 *
 * sgemm ceiling: the step's products alone (forward, weight gradients,
 * input gradients except the first layer's) at their exact shapes, through
 * the host's sgemm, so with the same backend and threading as the step;
 * timed by the CPU time of the process over the threads (at most the wall
 * time), as the FMA peak is, so that neighbours' time slices do not count.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "blas.h"
#include "clock.h"
#include "host.h"
#include "model.h"
#include "threads.h"

static const int widths[] = { 784, 256, 128, 10 };
enum { LAYERS = 3 };

double gd_bench_step_flops(void)
{
    double f = 0;
    for (int i = 0; i < LAYERS; i++) {
        double mn = (double)widths[i] * widths[i + 1];
        f += 2 * mn * (i > 0 ? 3 : 2); /* forward, weight gradient, input gradient */
    }
    return f;
}

/* One product of the step; `which` 0..7 in the order the step makes them. */
typedef struct gemm_bufs {
    float *a[4], *g[4], *w[LAYERS], *dw[LAYERS];
} gemm_bufs;

static int bufs_alloc(gemm_bufs *b, int batch)
{
    memset(b, 0, sizeof *b);
    int ok = 1;
    for (int i = 0; i < 4; i++) {
        b->a[i] = calloc((size_t)batch * widths[i], sizeof(float));
        b->g[i] = calloc((size_t)batch * widths[i], sizeof(float));
        ok = ok && b->a[i] && b->g[i];
    }
    for (int i = 0; i < LAYERS; i++) {
        b->w[i] = calloc((size_t)widths[i] * widths[i + 1], sizeof(float));
        b->dw[i] = calloc((size_t)widths[i] * widths[i + 1], sizeof(float));
        ok = ok && b->w[i] && b->dw[i];
    }
    return ok;
}

static void bufs_free(gemm_bufs *b)
{
    for (int i = 0; i < 4; i++) { free(b->a[i]); free(b->g[i]); }
    for (int i = 0; i < LAYERS; i++) { free(b->w[i]); free(b->dw[i]); }
}

/* The step's 8 products once. */
static void step_products(const gd_host *h, gemm_bufs *b, int batch)
{
    for (int i = 0; i < LAYERS; i++) /* forward: y = x W^T */
        h->sgemm(0, 1, batch, widths[i + 1], widths[i], 1, b->a[i], widths[i], b->w[i],
                 widths[i], 0, b->a[i + 1], widths[i + 1]);
    for (int i = LAYERS - 1; i >= 0; i--) { /* dW += dy^T x; dx = dy W (not layer 1) */
        h->sgemm(1, 0, widths[i + 1], widths[i], batch, 1, b->g[i + 1], widths[i + 1], b->a[i],
                 widths[i], 1, b->dw[i], widths[i]);
        if (i > 0)
            h->sgemm(0, 0, batch, widths[i], widths[i + 1], 1, b->g[i + 1], widths[i + 1],
                     b->w[i], widths[i], 0, b->g[i], widths[i]);
    }
}

double gd_bench_sgemm_seconds(int batch, double min_seconds)
{
    gemm_bufs b;
    if (!bufs_alloc(&b, batch)) {
        bufs_free(&b);
        return 0;
    }
    const gd_host *h = gd_core_host();
    step_products(h, &b, batch); /* page in, let the backend set up */
    int reps = 0;
    struct timespec c;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c);
    double t0 = gd_clock_now(), c0 = (double)c.tv_sec + 1e-9 * (double)c.tv_nsec, t;
    do {
        step_products(h, &b, batch);
        reps++;
    } while ((t = gd_clock_now() - t0) < min_seconds);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c);
    double cpu = (double)c.tv_sec + 1e-9 * (double)c.tv_nsec - c0;
    bufs_free(&b);
    /* per CPU second of the threads that worked (as the FMA peak), so that
     * a neighbour's time slices do not count as time the products took */
    return (cpu > 0 ? fmin(t, cpu / gd_get_threads()) : t) / reps;
}

/* gradus bench gemm [--threads N]: GFLOP/s of the step's products on every
 * backend this build has, at batch 32, 128, 512, beside the FMA peak. */
int gd_bench_gemm(int argc, char **argv)
{
    int threads = 1;
    if (argc == 2 && strcmp(argv[0], "--threads") == 0 && atoi(argv[1]) >= 1)
        threads = atoi(argv[1]);
    else if (argc) {
        fprintf(stderr, "usage: gradus bench gemm [--threads N]\n");
        return 2;
    }
    static const int batches[] = { 32, 128, 512 };
    static const char *const backends[] = { "openblas", "onednn" };
    const char *initial = gd_blas_name();
    gd_set_threads(threads);
    printf("gradus bench gemm: the MLP 784-256-128-10 step's 8 sgemm calls at their exact "
           "shapes, %d thread%s, GFLOP/s (%.0f FLOPs per sample)\n\n%-44s %8s %8s %8s\n",
           threads, threads > 1 ? "s" : "", gd_bench_step_flops(), "sgemm", "B=32", "B=128",
           "B=512");
    gd_error err;
    for (int k = 0; k < 2; k++) {
        if (!gd_blas_available(backends[k]) || gd_blas_select(backends[k], &err) != GD_OK)
            continue;
        gd_set_threads(threads);
        printf("%-44s", backends[k]);
        for (int i = 0; i < 3; i++)
            printf(" %8.1f", gd_bench_step_flops() * batches[i] /
                                 gd_bench_sgemm_seconds(batches[i], 0.3) / 1e9);
        printf("\n");
        fflush(stdout);
    }
    for (int k = 0; k < 2; k++)
        if (gd_blas_available(backends[k]) && gd_blas_select(backends[k], &err) == GD_OK)
            printf("  %s: %s\n", backends[k], gd_blas_library());
    double peak = gd_bench_fma_peak(GD_PEAK_WARMUP_SECONDS, 5);
    printf("%-44s %8.1f   (x%d threads: %.1f)\n", "FMA peak of one core", peak / 1e9, threads,
           threads * peak / 1e9);
    printf("  %s (gradus bench peak runs it alone)\n", gd_bench_fma_method());
    gd_blas_select(initial, &err);
    return 0;
}
