/*
 * core/dist.h: data-parallel training over MPI (the optional -Dmpi build).
 *
 * Every rank holds the whole model and trains on its shard of every batch;
 * gd_dist_allreduce sums the gradient arena over the ranks once per step,
 * inside gd_trainer_step, so that every rank applies the same update. Built
 * without MPI, these are one-rank stubs and gd_dist_init fails saying how to
 * build it.
 */
#ifndef GRADUS_DIST_H
#define GRADUS_DIST_H

#include <stdbool.h>
#include <stdint.h>

#include "gradus/error.h"

/* Whether this build has MPI. */
bool gd_dist_available(void);
/* Ranks on this node (and in all) announced by an MPI launcher's
 * environment (mpirun, srun), without initializing MPI; 0: no launcher. */
int gd_dist_launched_local(void);
int gd_dist_launched(void);
/* Initialize MPI once (later calls do nothing); it is finalized at exit. */
gd_status gd_dist_init(gd_error *err);
int gd_dist_rank(void);   /* 0 before gd_dist_init */
int gd_dist_size(void);   /* 1 before gd_dist_init */
/* Samples [*lo, *hi) of a batch of nb that this rank trains on. */
void gd_dist_shard(int64_t nb, int64_t *lo, int64_t *hi);
/* Sum x[0..n) and *scalar over the ranks, in place. */
gd_status gd_dist_allreduce(float *x, int64_t n, double *scalar, gd_error *err);
/* The min and max of x over the ranks; a barrier. */
gd_status gd_dist_minmax(double x, double *min, double *max, gd_error *err);
/* Seconds spent in gd_dist_allreduce since the start. */
double gd_dist_seconds(void);

#endif
