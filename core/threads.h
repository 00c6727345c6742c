/*
 * core/threads.h: how many threads the core's work runs on (the pool of
 * pool.c, or the BLAS library's own under GRADUS_THREADING=blas), and the
 * two entries of gd_host that use them (threads.c).
 */
#ifndef GRADUS_CORE_THREADS_H
#define GRADUS_CORE_THREADS_H

#include "gradus/gradus.h"

/* "onednn (oneDNN 2.6.3, isa ...), gradus pool threading": the backend
 * behind sgemm, its library and threading, for manifests. */
const char *gd_blas_description(void);
/* Threads for the products, update and gather (n <= 0: all cores). */
void gd_set_threads(int n);
int gd_get_threads(void);
/* A thread count as --threads and GRADUS_THREADS take it: a whole decimal
 * number in 0..4096 (0: all cores), nothing else. 1 if valid, else 0. */
int gd_threads_parse(const char *s, int *n);
/* GRADUS_THREADS into *n (0 when unset or empty); a bad value fails with a
 * message naming the variable. The one reader for the CLI and the module. */
gd_status gd_threads_from_env(int *n, gd_error *err);
/* Stop and join the pool's workers and stay on one thread until the next
 * gd_set_threads: called when a Lua state closes the module, before lua_close
 * may dlclose the code the workers run. */
void gd_threads_stop(void);

/* gd_host.parallel: fn over the pool's threads, or on the calling thread
 * alone inside a part or under GRADUS_THREADING=blas. Returns the number of
 * parts; fn NULL runs nothing and says how many. */
int gd_host_parallel(gd_part_fn fn, void *arg);
/* gd_host.sgemm: the BLAS backend's product (blas.h), cut into blocks of
 * rows or columns over the pool when it is large enough to gain. */
void gd_host_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a,
                   int lda, const float *b, int ldb, float beta, float *c, int ldc);

#endif
