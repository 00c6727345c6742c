/*
 * core/dist.c: data-parallel training over MPI (see dist.h).
 *
 * The gradient arena is summed with MPI_Allreduce in place, in chunks of at
 * most INT_MAX floats (MPI counts are int). The batch's mean loss comes
 * along in a second, one-double reduction. Ranks that see their launcher
 * (OMPI_COMM_WORLD_*, PMI_*, SLURM_*) share the node's cores among them.
 */
#include "dist.h"

#include <limits.h>
#include <stdlib.h>
#include <time.h>

static int rank_, size_ = 1;
static double seconds_;

static int env_int(const char *const *names)
{
    for (int i = 0; names[i]; i++) {
        const char *v = getenv(names[i]);
        if (v && *v)
            return atoi(v);
    }
    return 0;
}

int gd_dist_launched(void)
{
    static const char *const names[] = { "OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", NULL };
    return env_int(names);
}

int gd_dist_launched_local(void)
{
    static const char *const names[] = { "OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS",
                                         "PMI_LOCAL_SIZE", NULL };
    int n = env_int(names);
    return n > 0 ? n : gd_dist_launched();
}

int gd_dist_rank(void) { return rank_; }
int gd_dist_size(void) { return size_; }
double gd_dist_seconds(void) { return seconds_; }

void gd_dist_shard(int64_t nb, int64_t *lo, int64_t *hi)
{
    *lo = nb * rank_ / size_;
    *hi = nb * (rank_ + 1) / size_;
}

#ifdef GD_HAVE_MPI
#include <mpi.h>

bool gd_dist_available(void) { return true; }

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void finalize(void)
{
    int done = 0;
    MPI_Finalized(&done);
    if (!done)
        MPI_Finalize();
}

gd_status gd_dist_init(gd_error *err)
{
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited) {
        int provided;
        /* only the thread that trains calls MPI; the pool's threads never do */
        if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
            return gd_fail(err, GD_EINVAL, "distributed: MPI_Init failed");
        atexit(finalize);
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    return GD_OK;
}

gd_status gd_dist_allreduce(float *x, int64_t n, double *scalar, gd_error *err)
{
    double t0 = now();
    for (int64_t at = 0; at < n; at += INT_MAX) {
        int k = n - at < INT_MAX ? (int)(n - at) : INT_MAX;
        if (MPI_Allreduce(MPI_IN_PLACE, x + at, k, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD) !=
            MPI_SUCCESS)
            return gd_fail(err, GD_EINVAL, "distributed: MPI_Allreduce of the gradients failed");
    }
    if (scalar &&
        MPI_Allreduce(MPI_IN_PLACE, scalar, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD) != MPI_SUCCESS)
        return gd_fail(err, GD_EINVAL, "distributed: MPI_Allreduce of the loss failed");
    seconds_ += now() - t0;
    return GD_OK;
}

gd_status gd_dist_minmax(double x, double *min, double *max, gd_error *err)
{
    double v[2] = { x, -x };
    if (MPI_Allreduce(MPI_IN_PLACE, v, 2, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD) != MPI_SUCCESS)
        return gd_fail(err, GD_EINVAL, "distributed: MPI_Allreduce failed");
    *max = v[0];
    *min = -v[1];
    return GD_OK;
}

#else

bool gd_dist_available(void) { return false; }

gd_status gd_dist_init(gd_error *err)
{
    return gd_fail(err, GD_EINVAL, "distributed training needs gradus built with MPI "
                   "(meson configure build -Dmpi=enabled; Debian: libopenmpi-dev openmpi-bin)");
}

gd_status gd_dist_allreduce(float *x, int64_t n, double *scalar, gd_error *err)
{
    (void)x, (void)n, (void)scalar;
    return gd_dist_init(err);
}

gd_status gd_dist_minmax(double x, double *min, double *max, gd_error *err)
{
    (void)err;
    *min = *max = x;
    return GD_OK;
}

#endif
