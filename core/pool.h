/*
 * core/pool.h: the process's thread pool (see pool.c for why it exists).
 */
#ifndef GRADUS_CORE_POOL_H
#define GRADUS_CORE_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* fn(arg, part, nparts): do part `part` of nparts of a job. */
typedef void (*gd_pool_fn)(void *arg, int part, int nparts);

/* Threads in the pool including the caller (>= 1). Resizing stops the old
 * workers; it must not be called while a job runs. Returns the new size. */
int gd_pool_resize(int n);
int gd_pool_size(void);

/* Run fn on every thread and wait. Called from inside a job (fn calling
 * it again, on any thread) it runs fn(arg, 0, 1) inline instead. */
void gd_pool_run(gd_pool_fn fn, void *arg);
/* True while the calling thread runs a part of a job. */
bool gd_pool_in_job(void);

/* A job's parts are cut with gd_part_range (gradus/plugin.h), as plugins
 * cut theirs. */

/* memcpy, cut over the pool when it is large enough to gain from it (the
 * probes' saves and restores of a model's parameters and gradients). */
void gd_pool_memcpy(void *dst, const void *src, size_t bytes);

#endif
