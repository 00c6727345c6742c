/*
 * cli/bench_fma.c: the FMA peak every `gradus bench` percentage is taken
 * against, and `gradus bench peak`, which runs the same loop alone so that
 * a reader can check it.
 *
 * The loop: independent chains of fused multiply-adds on the widest vector
 * unit the CPU has (zmm with AVX-512F, else ymm with FMA), nothing but
 * registers, so it measures what one core computes at the clock it holds.
 * Two FMA pipes with a latency of 4 need 8 chains in flight; the default 16
 * leave room, and `bench peak --chains` shows that 8, 12, 16 and 24 agree.
 *
 * How it is measured (gd_bench_fma_peak): a warm-up, then samples of
 * SAMPLE_SECONDS each, the best kept, each sample's FLOPs divided by the
 * CPU time the measuring thread ran, not by the wall-clock time. The first
 * version divided by the wall-clock time of one 0.03 s sample after each
 * epoch of `bench mlp`: on a machine shared with other processes every
 * time slice a neighbour took during a sample counted as time in which the
 * core computed nothing (one 4 ms slice is 13 % of such a sample), so the
 * peak read low against a standalone loop (by 5-20 % at a load of a few
 * tasks, by 5x at a load of 25), and every share of the peak read high by
 * as much. Per CPU second the loop reads the same under any load (measured:
 * 201-203 GFLOP/s at a load of 27, where the wall-clock rate was 41-43),
 * what is left is the clock the core holds and a busy sibling hyperthread,
 * if the host has one.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <immintrin.h>

#include "bench.h"
#include "clock.h"

enum { ROUNDS = 1 << 12 };

static volatile float sink; /* keeps the loops' results alive */

/* Seconds of CPU time this thread has run. */
static double thread_cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* FLOP/s of `chains` chains for ~seconds (2 FLOPs per lane per FMA), per
 * second of this thread's CPU time; per wall-clock second into
 * last_wall_rate. */
static double last_wall_rate;

#define FMA_LOOP(vec, set1, fmadd, add, lanes, chains)                                   \
    vec acc[chains], x = set1(0.999999f), y = set1(1e-6f);                              \
    for (int c = 0; c < chains; c++)                                                    \
        acc[c] = set1((float)c);                                                        \
    long n = 0;                                                                         \
    double t0 = gd_clock_now(), c0 = thread_cpu_now(), t;                               \
    do {                                                                                \
        for (int r = 0; r < ROUNDS; r++)                                                \
            for (int c = 0; c < chains; c++)                                            \
                acc[c] = fmadd(acc[c], x, y);                                           \
        n += ROUNDS;                                                                    \
    } while ((t = gd_clock_now() - t0) < seconds);                                      \
    double cpu = thread_cpu_now() - c0;                                                 \
    vec s = acc[0];                                                                     \
    for (int c = 1; c < chains; c++)                                                    \
        s = add(s, acc[c]);                                                             \
    float out[lanes];                                                                   \
    memcpy(out, &s, sizeof out);                                                        \
    sink = out[0];                                                                      \
    last_wall_rate = 2.0 * lanes * chains * (double)n / t;                              \
    return 2.0 * lanes * chains * (double)n / (cpu > 0 ? cpu : t);

#define ZMM(chains)                                                                     \
    __attribute__((target("avx512f"))) static double zmm_##chains(double seconds)      \
    {                                                                                   \
        FMA_LOOP(__m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps, 16, chains)    \
    }
#define YMM(chains)                                                                     \
    __attribute__((target("avx2,fma"))) static double ymm_##chains(double seconds)     \
    {                                                                                   \
        FMA_LOOP(__m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps, 8, chains)     \
    }
ZMM(8) ZMM(12) ZMM(16) ZMM(24)
YMM(8) YMM(12) YMM(16) YMM(24)

static const int chain_counts[] = { 8, 12, 16, 24 };
static double (*const zmm_loops[])(double) = { zmm_8, zmm_12, zmm_16, zmm_24 };
static double (*const ymm_loops[])(double) = { ymm_8, ymm_12, ymm_16, ymm_24 };

enum { DEFAULT_CHAINS = 16 };

/* The loop for `chains` on this CPU (NULL: no FMA unit or no such count). */
static double (*fma_loop(int chains, const char **unit))(double)
{
    __builtin_cpu_init();
    int k = -1;
    for (int i = 0; i < 4; i++)
        if (chain_counts[i] == chains)
            k = i;
    if (__builtin_cpu_supports("avx512f")) {
        *unit = "zmm (AVX-512F)";
        return k < 0 ? NULL : zmm_loops[k];
    }
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        *unit = "ymm (AVX2 + FMA)";
        return k < 0 ? NULL : ymm_loops[k];
    }
    *unit = "none (no FMA unit)";
    return NULL;
}

double gd_bench_fma_sample(double seconds, const char **unit)
{
    double (*loop)(double) = fma_loop(DEFAULT_CHAINS, unit);
    return loop ? loop(seconds) : 0;
}

const char *gd_bench_fma_unit(void)
{
    const char *unit;
    fma_loop(DEFAULT_CHAINS, &unit);
    return unit;
}

double gd_bench_fma_peak(double warmup, int samples)
{
    const char *unit;
    double (*loop)(double) = fma_loop(DEFAULT_CHAINS, &unit);
    if (!loop)
        return 0;
    loop(warmup);
    double best = 0;
    for (int i = 0; i < samples; i++)
        best = fmax(best, loop(GD_PEAK_SAMPLE_SECONDS));
    return best;
}

const char *gd_bench_fma_method(void)
{
    static char buf[256];
    snprintf(buf, sizeof buf, "best of %.2f s samples of %d independent %s FMA chains in "
             "registers, FLOPs per CPU second of the thread, after a %.1f s warm-up",
             GD_PEAK_SAMPLE_SECONDS, DEFAULT_CHAINS,
             gd_bench_fma_unit(), GD_PEAK_WARMUP_SECONDS);
    return buf;
}

static int usage_peak(FILE *f)
{
    fprintf(f, "usage: gradus bench peak [--seconds S] [--repeats N] [--warmup S] "
               "[--chains 8|12|16|24]\n"
               "  the FMA peak loop of `bench mlp` alone: --repeats samples of --seconds each "
               "(default 10 of %.2f s) after --warmup seconds (default %.1f), 16 chains\n",
            GD_PEAK_SAMPLE_SECONDS, GD_PEAK_WARMUP_SECONDS);
    return f == stdout ? 0 : 2;
}

/* A number option's value in [lo, hi], or NAN. */
static double number_in(const char *v, double lo, double hi)
{
    char *end;
    double x = strtod(v, &end);
    return end != v && !*end && x >= lo && x <= hi ? x : NAN;
}

/* gradus bench peak: every sample, then the best and the median. */
int gd_bench_peak(int argc, char **argv)
{
    double seconds = GD_PEAK_SAMPLE_SECONDS, warmup = GD_PEAK_WARMUP_SECONDS;
    double repeats = 10, chains = DEFAULT_CHAINS;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0)
            return usage_peak(stdout);
        double *dst = strcmp(argv[i], "--seconds") == 0   ? &seconds
                      : strcmp(argv[i], "--repeats") == 0 ? &repeats
                      : strcmp(argv[i], "--warmup") == 0  ? &warmup
                      : strcmp(argv[i], "--chains") == 0  ? &chains
                                                          : NULL;
        if (!dst || i + 1 >= argc) {
            fprintf(stderr, "gradus: bench peak: %s '%s'\n",
                    dst ? "a value is missing after" : "unknown option", argv[i]);
            return usage_peak(stderr);
        }
        double hi = dst == &repeats ? 1000 : dst == &chains ? 24 : 60;
        *dst = number_in(argv[++i], dst == &repeats || dst == &chains ? 1 : 0, hi);
        if (isnan(*dst) || (dst == &repeats && *dst != floor(*dst)) ||
            (dst == &seconds && *dst < 0.001)) {
            fprintf(stderr, "gradus: bench peak: bad value '%s' for %s\n", argv[i],
                    argv[i - 1]);
            return usage_peak(stderr);
        }
    }
    const char *unit;
    double (*loop)(double) = fma_loop((int)chains, &unit);
    if (!loop) {
        fprintf(stderr, "gradus: bench peak: %s\n", strcmp(unit, "none (no FMA unit)") == 0
                ? "this CPU has no FMA unit" : "--chains must be 8, 12, 16 or 24");
        return 2;
    }
    printf("gradus bench peak: %d independent %s FMA chains in registers, one thread; "
           "%.1f s warm-up, %d samples of %.3f s\n", (int)chains, unit, warmup, (int)repeats,
           seconds);
    loop(warmup);
    double *v = calloc((size_t)repeats, sizeof *v);
    if (!v)
        return 1;
    double best = 0, *wall = calloc((size_t)repeats, sizeof *wall);
    if (!wall) {
        free(v);
        return 1;
    }
    printf("samples, GFLOP per CPU second:");
    for (int i = 0; i < (int)repeats; i++) {
        v[i] = loop(seconds);
        wall[i] = last_wall_rate;
        best = fmax(best, v[i]);
        printf(" %.1f", v[i] / 1e9);
        fflush(stdout);
    }
    printf("\nthe same samples per wall-clock second (what neighbours' time slices lower):");
    for (int i = 0; i < (int)repeats; i++)
        printf(" %.1f", wall[i] / 1e9);
    free(wall);
    /* insertion sort: repeats is small */
    for (int i = 1; i < (int)repeats; i++)
        for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
            double t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    int n = (int)repeats;
    double med = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
    printf("\nFMA peak of one core: %.1f GFLOP/s (best; median %.1f)\n", best / 1e9, med / 1e9);
    free(v);
    return 0;
}
