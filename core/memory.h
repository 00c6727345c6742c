/*
 * core/memory.h: what a model and a run will need, checked against what the
 * process may still allocate, before anything is allocated.
 *
 * Under a cgroup memory limit (Slurm, containers) an allocation far beyond
 * the limit succeeds (overcommit) and the process is OOM-killed when it
 * touches the pages; with an address-space limit it fails with a bare "out
 * of memory". Checked first, a model too large for the machine is refused
 * with its estimate and the limit it meets.
 */
#ifndef GRADUS_CORE_MEMORY_H
#define GRADUS_CORE_MEMORY_H

#include <stddef.h>
#include <stdint.h>

#include "gradus/error.h"

/* Bytes, by what they hold. */
typedef struct gd_memory_estimate {
    int64_t params, grads, buffers;   /* the model's arenas */
    int64_t optimizer;                /* the optimizer's slots */
    int64_t activations;              /* a batch's outputs, gradients and inputs */
    int64_t workspace;                /* layers' scratch, the shuffle order */
} gd_memory_estimate;

int64_t gd_memory_total(const gd_memory_estimate *e);

/* Bytes this process may still allocate: the tightest of the cgroup memory
 * limit (v2, every level up to the root; or v1), RLIMIT_AS less the address
 * space in use, and available memory plus free swap. `what` receives the
 * limit's name and size ("the cgroup memory limit of 3.0 GB"). */
int64_t gd_memory_headroom(char *what, size_t len);

/* Refuse, naming `who`, the estimate and the limit, when `pending` bytes
 * (what is still to be allocated of e) exceed the headroom. */
gd_status gd_memory_check(const char *who, const gd_memory_estimate *e, int64_t pending,
                          gd_error *err);

/* "1.5 GB", "12 MB", "800 kB", "12 bytes". */
const char *gd_memory_format(int64_t bytes, char *buf, size_t len);

#endif
