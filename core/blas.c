/*
 * core/blas.c: the BLAS backends behind the host's sgemm (see blas.h).
 *
 * oneDNN (Debian's build runs on OpenMP): every call first sets the calling
 * thread's OpenMP team size, 1 under the gradus pool, so a pool worker runs
 * dnnl_sgemm on its own core and never opens a team of its own (oneDNN runs
 * a 1-thread job inline, without a parallel region, so no OpenMP thread is
 * ever made). The setting is per thread in OpenMP, hence on every call: a
 * pool worker made later has the process default (all cores) otherwise.
 *
 * oneDNN allocates its packing workspace on most dnnl_sgemm calls (one
 * posix_memalign and one free, ~650 KB at the step's shapes, from its gemm
 * driver); there is no API to hand it a buffer, so blas_dnnl_workspace.c serves
 * those requests from a buffer kept per thread, and a step allocates
 * nothing on either backend (tests/test_noalloc.c).
 */
#include "blas.h"

#include <cblas.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef GD_HAVE_ONEDNN
#include <dnnl.h>
#include <omp.h>
#endif

typedef enum backend { UNSET, OPENBLAS, ONEDNN } backend;

static backend selected = UNSET;
static int library_threads = 1;
static atomic_long calls;
static _Thread_local bool in_call;   /* inside the backend, this thread */

static backend parse(const char *name)
{
    if (strcmp(name, "openblas") == 0)
        return OPENBLAS;
    if (strcmp(name, "onednn") == 0)
        return ONEDNN;
    return UNSET;
}

bool gd_blas_available(const char *name)
{
    backend b = parse(name);
#ifdef GD_HAVE_ONEDNN
    return b != UNSET;
#else
    return b == OPENBLAS;
#endif
}

gd_status gd_blas_select(const char *name, gd_error *err)
{
    const char *what = name ? "blas backend" : "GRADUS_BLAS";
    if (!name)
        name = getenv("GRADUS_BLAS");
    if (!name || !*name)
        name = gd_blas_available("onednn") ? "onednn" : "openblas";
    backend b = parse(name);
    if (b == UNSET)
        return gd_fail(err, GD_EINVAL, "%s must be 'onednn' or 'openblas', got '%s'", what,
                       name);
    if (!gd_blas_available(name))
        return gd_fail(err, GD_EINVAL, "%s '%s': this build has no oneDNN (libdnnl-dev was "
                       "not found when it was configured)", what, name);
    selected = b;
    gd_blas_set_threads(library_threads);
    return GD_OK;
}

static backend current(void)
{
    if (selected == UNSET) {
        gd_error err;
        /* A bad GRADUS_BLAS is reported by the CLI at start-up; a library
         * user who never selected gets the default. */
        if (gd_blas_select(NULL, &err) != GD_OK)
            selected = gd_blas_available("onednn") ? ONEDNN : OPENBLAS;
    }
    return selected;
}

const char *gd_blas_name(void)
{
    return current() == ONEDNN ? "onednn" : "openblas";
}

void gd_blas_set_threads(int n)
{
    library_threads = n > 0 ? n : 1;
    openblas_set_num_threads(current() == OPENBLAS ? library_threads : 1);
}

void gd_blas_mark(bool inside)
{
    in_call = inside;
}

int gd_blas_threads(void)
{
    return library_threads;
}

bool gd_blas_in_call(void)
{
    return in_call;
}

long gd_blas_calls(void)
{
    return atomic_load_explicit(&calls, memory_order_relaxed);
}

#ifdef GD_HAVE_ONEDNN
static const char *isa_name(dnnl_cpu_isa_t isa)
{
    switch (isa) {
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_sse41: return "sse41";
    default: return "other";
    }
}
#endif

const char *gd_blas_library(void)
{
    static char buf[320];
#ifdef GD_HAVE_ONEDNN
    if (current() == ONEDNN) {
        const dnnl_version_t *v = dnnl_version();
        snprintf(buf, sizeof buf, "oneDNN %d.%d.%d, isa %s, OpenMP", v->major, v->minor,
                 v->patch, isa_name(dnnl_get_effective_cpu_isa()));
        return buf;
    }
#endif
    snprintf(buf, sizeof buf, "%s, core %s", openblas_get_config(),
             openblas_get_corename());
    return buf;
}

void gd_blas_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a,
                   int lda, const float *b, int ldb, float beta, float *c, int ldc)
{
    atomic_fetch_add_explicit(&calls, 1, memory_order_relaxed);
#ifdef GD_HAVE_ONEDNN
    if (current() == ONEDNN) {
        gd_dnnl_workspace_install();
        omp_set_num_threads(library_threads);
        in_call = true;
        dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', m, n, k, alpha, a, lda, b, ldb,
                   beta, c, ldc);
        gd_dnnl_workspace_end_call();
        in_call = false;
        return;
    }
#endif
    in_call = true;
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c,
                ldc);
    in_call = false;
}
