/*
 * core/host.c: what the core lends plugins (gd_host), and threading.
 *
 * Plugins reach BLAS only through gd_host.sgemm, so one OpenBLAS pool, set by
 * gd_set_threads, serves every layer and no second pool competes for cores.
 */
#include <cblas.h>
#include <stdio.h>
#include <unistd.h>

#include "model.h"

/* Debian's OpenBLAS declares these in cblas.h (openblas_config.h). */
static void host_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha,
                       const float *a, int lda, const float *b, int ldb, float beta, float *c,
                       int ldc)
{
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c,
                ldc);
}

static const gd_host host = {
    .size = sizeof(gd_host),
    .sgemm = host_sgemm,
};

const gd_host *gd_core_host(void)
{
    return &host;
}

const char *gd_blas_description(void)
{
    static char buf[256];
    snprintf(buf, sizeof buf, "OpenBLAS %s (core %s)", openblas_get_config(),
             openblas_get_corename());
    return buf;
}

static int threads_set;

void gd_set_threads(int n)
{
    if (n <= 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        n = cores > 0 ? (int)cores : 1;
    }
    openblas_set_num_threads(n);
    threads_set = n;
}

int gd_get_threads(void)
{
    return threads_set ? threads_set : openblas_get_num_threads();
}
