/*
 * core/checkpoint_probes.h: a checkpoint's PROB section, the state of a
 * run's probes (checkpoint_probes.c; the probes themselves:
 * probe_monitor.h).
 */
#ifndef GRADUS_CORE_CHECKPOINT_PROBES_H
#define GRADUS_CORE_CHECKPOINT_PROBES_H

#include <stdbool.h>
#include <stdint.h>

#include "binio.h"
#include "probe_monitor.h"

/* The section as read: the plan, w_start and
 * the records of a run with probes. present false: the run had none. */
typedef struct gd_probe_saved {
    bool present;
    gd_probe_plan plan;
    float *start;               /* nstart floats */
    float *warm;                /* nstart floats, or NULL */
    int64_t nstart;
    gd_probe_record *recs;      /* nrecs, layer_distance into dist */
    double *dist;               /* nrecs x nlayers */
    int64_t nrecs;
    int nlayers;
} gd_probe_saved;

void gd_put_probes(gd_buf *b, const gd_probe_monitor *pm);
/* Reads the section into *out, checking the counts against the model's. */
bool gd_get_probes(gd_reader *r, gd_model *m, gd_probe_saved *out);
void gd_probe_saved_free(gd_probe_saved *s);

#endif
