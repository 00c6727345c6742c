/*
 * core/threads.c: how the core's work is threaded, and the threaded
 * product behind gd_host.sgemm (the table itself: host.c).
 *
 * Plugins reach BLAS only through gd_host.sgemm, so the core decides which
 * library computes a product and how it is threaded.
 * The product itself runs on the BLAS backend of blas.c (oneDNN or OpenBLAS,
 * GRADUS_BLAS). Two ways of threading it, chosen by GRADUS_THREADING:
 *   pool (default)  the backend single-threaded; the core's pool (pool.c) cuts
 *                   C into contiguous blocks of rows or columns, one per
 *                   thread. No reduction is split, so every element of C is
 *                   the same sum whatever the thread count.
 *   blas            the backend's own threads (for comparison: OpenBLAS
 *                   mallocs on every threaded call, see pool.c and
 *                   BENCHMARKS.md; oneDNN opens an OpenMP team).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "threads.h"

#include "blas.h"
#include "dist.h"
#include "pool.h"

/* Below this many multiply-adds a product runs on one thread: waking the
 * pool costs more than it saves (the 128x10 output layer, for one). */
enum { PARALLEL_MIN_WORK = 1 << 19 };

static int threads_set;       /* threads asked for; 0 until gd_set_threads */
static int use_blas_threads;  /* GRADUS_THREADING=blas */

typedef struct gemm_job {
    int trans_a, trans_b, m, n, k;
    float alpha, beta;
    const float *a, *b;
    float *c;
    int lda, ldb, ldc;
    int split_rows;           /* 1: cut m, 0: cut n */
} gemm_job;

static void gemm_part(void *arg, int part, int nparts)
{
    const gemm_job *j = arg;
    int64_t lo, hi;
    if (j->split_rows) {
        gd_part_range(j->m, 8, part, nparts, &lo, &hi);
        if (hi > lo) {
            /* rows lo..hi of op(A) and of C */
            const float *a = j->trans_a ? j->a + lo : j->a + lo * j->lda;
            gd_blas_sgemm(j->trans_a, j->trans_b, (int)(hi - lo), j->n, j->k, j->alpha, a,
                          j->lda, j->b, j->ldb, j->beta, j->c + lo * j->ldc, j->ldc);
        }
    } else {
        gd_part_range(j->n, 16, part, nparts, &lo, &hi);
        if (hi > lo) {
            /* columns lo..hi of op(B) and of C */
            const float *b = j->trans_b ? j->b + lo * j->ldb : j->b + lo;
            gd_blas_sgemm(j->trans_a, j->trans_b, j->m, (int)(hi - lo), j->k, j->alpha, j->a,
                          j->lda, b, j->ldb, j->beta, j->c + lo, j->ldc);
        }
    }
}

static _Thread_local int in_parallel;   /* inside a part of host_parallel */

typedef struct part_job {
    gd_part_fn fn;
    void *arg;
} part_job;

static void run_part(void *arg, int part, int nparts)
{
    const part_job *j = arg;
    in_parallel = 1;
    j->fn(j->arg, part, nparts);
    in_parallel = 0;
}

int gd_host_parallel(gd_part_fn fn, void *arg)
{
    if (!threads_set)
        gd_set_threads(0);
    if (in_parallel || use_blas_threads || gd_pool_size() == 1) {
        if (fn)
            fn(arg, 0, 1);
        return 1;
    }
    if (fn) {
        part_job j = { fn, arg };
        gd_pool_run(run_part, &j);
    }
    return gd_pool_size();
}

void gd_host_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha,
                       const float *a, int lda, const float *b, int ldb, float beta, float *c,
                       int ldc)
{
    if (!threads_set)
        gd_set_threads(0);
    if (in_parallel || use_blas_threads || gd_pool_size() == 1 ||
        (int64_t)m * n * k < PARALLEL_MIN_WORK) {
        gd_blas_sgemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    gemm_job j = { trans_a, trans_b, m, n, k, alpha, beta, a, b, c, lda, ldb, ldc, m >= n };
    gd_pool_run(gemm_part, &j);
}

const char *gd_blas_description(void)
{
    static char buf[320];
    snprintf(buf, sizeof buf, "%s (%s), %s threading", gd_blas_name(), gd_blas_library(),
             use_blas_threads ? "the library's own" : "gradus pool");
    return buf;
}

void gd_set_threads(int n)
{
    if (n <= 0) {
        /* ranks an MPI launcher put on this node share its cores */
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        int ranks = gd_dist_launched_local();
        n = cores > 0 ? (int)cores : 1;
        n = ranks > 1 ? (n / ranks > 0 ? n / ranks : 1) : n;
    }
    const char *mode = getenv("GRADUS_THREADING");
    use_blas_threads = mode && strcmp(mode, "blas") == 0;
    if (use_blas_threads) {
        gd_pool_resize(1);
        gd_blas_set_threads(n);
    } else {
        gd_blas_set_threads(1);
        n = gd_pool_resize(n);
    }
    threads_set = n;
}

int gd_get_threads(void)
{
    return threads_set ? threads_set : 1;
}

int gd_threads_parse(const char *s, int *n)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < 0 || v > 4096 || !(*s >= '0' && *s <= '9'))
        return 0;
    *n = (int)v;
    return 1;
}

gd_status gd_threads_from_env(int *n, gd_error *err)
{
    const char *env = getenv("GRADUS_THREADS");
    *n = 0;
    if (env && *env && !gd_threads_parse(env, n))
        return gd_fail(err, GD_EINVAL,
                       "GRADUS_THREADS must be a number of threads in 0..4096 (0: all cores), "
                       "got '%s'", env);
    return GD_OK;
}

void gd_threads_stop(void)
{
    gd_pool_resize(1);
    /* Not 0: a product after this must not lazily start new workers. */
    threads_set = 1;
}
