/*
 * bench/adam_update.c: what bounds Adam's update of the MLP's 235,146
 * parameters, one core. Times gradus's exact Adam kernel (gradus/kernels.h)
 * over all of them, the same loop with its square root and division
 * replaced by a multiply (the arithmetic Adam could save), and SGD's
 * x -= lr g; each pass starts where the last left its arrays (3.8 MB, more
 * than a core's L2), as a training step does. Standalone, one command:
 *
 *   cc -O3 -march=native -mprefer-vector-width=512 -fno-math-errno -Iinclude \
 *      bench/adam_update.c -o /tmp/adam_update && /tmp/adam_update
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <gradus/kernels.h>

enum { N = 235146, PASSES = 2000, ROUNDS = 5 };

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Adam's moments and update with mi / sqrt(vi bc2 + eps) replaced by a
 * product: the same memory traffic, one multiply for two slow operations. */
__attribute__((noinline)) static void adam_without_root(int64_t n, float *restrict x,
                                                        const float *restrict g,
                                                        float *restrict m, float *restrict v)
{
    for (int64_t i = 0; i < n; i++) {
        float mi = 0.9f * m[i] + 0.1f * g[i], vi = 0.999f * v[i] + 0.001f * g[i] * g[i];
        m[i] = mi;
        v[i] = vi;
        x[i] -= 1e-3f * (mi * (vi + 1e-8f));
    }
}

__attribute__((noinline)) static void adam_exact(int64_t n, float *x, const float *g, float *m,
                                                 float *v)
{
    gd_k_adam_inside(n, x, g, m, v, 0.9f, 0.1f, 0.999f, 0.001f, 1e-3f, 1.0f, 1e-8f);
}

__attribute__((noinline)) static void sgd(int64_t n, float *restrict x, const float *restrict g)
{
    for (int64_t i = 0; i < n; i++)
        x[i] -= 1e-3f * g[i];
}

int main(void)
{
    float *x = malloc(N * sizeof *x), *g = malloc(N * sizeof *g);
    float *m = calloc(N, sizeof *m), *v = calloc(N, sizeof *v);
    if (!x || !g || !m || !v)
        return 1;
    for (int64_t i = 0; i < N; i++) {
        x[i] = 1.0f;
        g[i] = 1e-3f * (float)(i % 7);
    }
    printf("Adam's update of %d parameters, us per pass (best of %d rounds of %d passes)\n", N,
           ROUNDS, PASSES);
    double best[3] = { 1e9, 1e9, 1e9 };
    for (int r = 0; r < ROUNDS; r++) {
        double t0 = now();
        for (int p = 0; p < PASSES; p++)
            adam_exact(N, x, g, m, v);
        double t1 = now();
        for (int p = 0; p < PASSES; p++)
            adam_without_root(N, x, g, m, v);
        double t2 = now();
        for (int p = 0; p < PASSES; p++)
            sgd(N, x, g);
        double t3 = now();
        double t[3] = { t1 - t0, t2 - t1, t3 - t2 };
        for (int k = 0; k < 3; k++)
            if (t[k] < best[k])
                best[k] = t[k];
    }
    /* Adam reads x, g, m, v and writes x, m, v; SGD reads x, g and writes x */
    const char *names[3] = { "adam (exact, kernels.h)", "adam, no root or division", "sgd" };
    const int streams[3] = { 7, 7, 3 };
    for (int k = 0; k < 3; k++) {
        double us = best[k] / PASSES * 1e6;
        printf("%-28s %7.1f us  %6.1f GB/s\n", names[k], us,
               (double)streams[k] * N * sizeof(float) / (us * 1e-6) / 1e9);
    }
    free(x);
    free(g);
    free(m);
    free(v);
    return 0;
}
