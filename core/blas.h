/*
 * core/blas.h: the BLAS backend behind the host's sgemm.
 *
 * Two backends, one chosen per process: oneDNN's dnnl_sgemm (built in when
 * libdnnl-dev was found; its kernels follow the CPU's feature bits, AVX-512
 * included) and OpenBLAS (always there, the portable fallback). The choice
 * is made at start-up from GRADUS_BLAS=onednn|openblas, else oneDNN when it
 * is built in. Every call here is single-threaded unless
 * gd_blas_set_threads asked otherwise (GRADUS_THREADING=blas).
 */
#ifndef GRADUS_CORE_BLAS_H
#define GRADUS_CORE_BLAS_H

#include <stdbool.h>

#include <gradus/error.h>

/* Select the backend by name ("onednn", "openblas"), or from GRADUS_BLAS
 * when name is NULL (unset or empty: the default). Fails, changing
 * nothing, on an unknown name or one this build lacks. */
gd_status gd_blas_select(const char *name, gd_error *err);
/* "onednn" or "openblas": the backend in use (selecting the default on
 * first use). */
const char *gd_blas_name(void);
/* True when this build has backend `name`. */
bool gd_blas_available(const char *name);
/* Threads the backend itself may use (1 under the gradus pool). */
void gd_blas_set_threads(int n);
/* Row-major sgemm on the selected backend, in the calling thread. */
void gd_blas_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a,
                   int lda, const float *b, int ldb, float beta, float *c, int ldc);
/* "oneDNN 2.6.3, isa avx512_core_bf16, OpenMP" or "OpenBLAS <config>, core
 * <name>": the selected backend's library, version and kernels. */
const char *gd_blas_library(void);
/* True while the calling thread is inside the backend (for the test that
 * tells oneDNN's own allocations from the step's). */
bool gd_blas_in_call(void);
/* Serve oneDNN's sgemm workspace from a buffer kept per thread (core/
 * blas_dnnl_workspace.c); true when in place. Done on the first oneDNN call. */
bool gd_dnnl_workspace_install(void);
/* After each dnnl_sgemm: a workspace oneDNN kept is left to it. */
void gd_dnnl_workspace_end_call(void);
/* Mark the calling thread as inside the backend (conv.c around oneDNN's
 * primitives), for gd_blas_in_call. */
void gd_blas_mark(bool inside);
/* Threads the backend may use on one call (1 under the gradus pool). */
int gd_blas_threads(void);
/* sgemm calls made so far (each part of a pooled product counts once). */
long gd_blas_calls(void);

#endif
