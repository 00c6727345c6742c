/*
 * cli/bench_peak.c: the ceilings the MLP step is measured against, and
 * `gradus bench gemm`.
 *
 * FMA peak: a register-only loop of independent fused multiply-adds on the
 * widest vector unit the CPU has (zmm with AVX-512F, else ymm with FMA),
 * 16 chains so that two FMA pipes with a latency of 4 are kept full. No
 * memory traffic: the result is what one core can compute at all, at the
 * clock it runs at right now (hence measured in the same process as the
 * step, just before it).
 *
 * sgemm ceiling: the step's products alone (forward, weight gradients,
 * input gradients except the first layer's) at their exact shapes, through
 * the host's sgemm, so with the same backend and threading as the step.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <immintrin.h>

#include "bench.h"
#include "blas.h"
#include "clock.h"
#include "model.h"

enum { CHAINS = 16, ROUNDS = 1 << 14 };

/* Runs the loop for ~min_seconds; returns FLOP/s (2 per lane per FMA). */
#define FMA_LOOP(vec, set1, fmadd, add, lanes)                                          \
    vec acc[CHAINS], x = set1(0.999999f), y = set1(1e-6f);                              \
    for (int c = 0; c < CHAINS; c++)                                                    \
        acc[c] = set1((float)c);                                                        \
    long n = 0;                                                                         \
    double t0 = peak_clock(), t;                                                                 \
    do {                                                                                \
        for (int r = 0; r < ROUNDS; r++)                                                \
            for (int c = 0; c < CHAINS; c++)                                            \
                acc[c] = fmadd(acc[c], x, y);                                           \
        n += ROUNDS;                                                                    \
    } while ((t = peak_clock() - t0) < min_seconds);                                             \
    vec s = acc[0];                                                                     \
    for (int c = 1; c < CHAINS; c++)                                                    \
        s = add(s, acc[c]);                                                             \
    float out[lanes];                                                                   \
    memcpy(out, &s, sizeof out);                                                        \
    sink = out[0];                                                                      \
    return 2.0 * lanes * CHAINS * (double)n / t;

static volatile float sink; /* keeps the loops' results alive */

/* The FMA loop's clock: wall time, or (gd_bench_fma_peak_cpu) the calling
 * thread's CPU time, which a neighbour that deschedules the loop does not
 * stretch. */
static double thread_cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static _Thread_local double (*peak_clock)(void) = gd_clock_now;

__attribute__((target("avx512f"))) static double peak_zmm(double min_seconds)
{
    FMA_LOOP(__m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps, 16)
}

__attribute__((target("avx2,fma"))) static double peak_ymm(double min_seconds)
{
    FMA_LOOP(__m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps, 8)
}

double gd_bench_fma_peak(double min_seconds, const char **unit)
{
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) {
        *unit = "zmm (AVX-512F)";
        return peak_zmm(min_seconds);
    }
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        *unit = "ymm (AVX2 + FMA)";
        return peak_ymm(min_seconds);
    }
    *unit = "none (no FMA unit)";
    return 0;
}

double gd_bench_fma_peak_cpu(double min_seconds, const char **unit)
{
    peak_clock = thread_cpu_now;
    double f = gd_bench_fma_peak(min_seconds, unit);
    peak_clock = gd_clock_now;
    return f;
}

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
    double t0 = gd_clock_now(), t;
    do {
        step_products(h, &b, batch);
        reps++;
    } while ((t = gd_clock_now() - t0) < min_seconds);
    bufs_free(&b);
    return t / reps;
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
    const char *unit;
    double peak = gd_bench_fma_peak(0.3, &unit);
    printf("%-44s %8.1f   (x%d threads: %.1f)\n", "FMA peak of one core", peak / 1e9, threads,
           threads * peak / 1e9);
    printf("  widest vector unit: %s\n", unit);
    gd_blas_select(initial, &err);
    return 0;
}
