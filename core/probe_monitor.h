/*
 * core/probe_monitor.h: probes during training (monitor.probes of gd.train,
 * DESIGN.md §11), run by the run loop (run.c) between steps.
 *
 * Before update k (k updates done) the probes due at k measure the weights
 * w_k: sharpness (the top Hessian eigenvalue, Lanczos), the Hessian trace
 * (Hutchinson), the gradient noise scale (two batches), the distance
 * ‖w_k − w_start‖ per layer and in total. `alpha` brackets update k: the
 * loss and gradient of one batch at w_k, the same batch at w_(k+1), and
 * Cockpit's step-size quality of the quadratic fitted through them. Each
 * probe draws its vectors from a stream keyed by k, and its samples once
 * from the run's seed, so a probed run is a pure function of its seed and
 * the probes change nothing of the training (probe.h).
 */
#ifndef GRADUS_CORE_PROBE_MONITOR_H
#define GRADUS_CORE_PROBE_MONITOR_H

#include "probe.h"

/* What to measure and how often (every 0: off). */
typedef struct gd_probe_plan {
    int64_t sharpness_every, sharpness_samples;
    int sharpness_iters;
    double sharpness_tol;
    int64_t trace_every, trace_samples;
    int trace_probes;
    int64_t noise_every, noise_samples, noise_small, noise_big;
    int noise_repeats;
    int64_t distance_every;
    int64_t alpha_every, alpha_samples;
    int64_t batch;              /* passes of this many samples (the run's batch) */
    uint64_t seed;              /* the run's */
} gd_probe_plan;

/* One measurement; NaN: not measured at this step. */
typedef struct gd_probe_record {
    int64_t step;               /* updates done when measured */
    double sharpness, sharpness_residual;
    int sharpness_iters;
    double trace, trace_se;
    double noise_scale, noise_tr_sigma, noise_grad_sq;
    double distance;            /* ‖w − w_start‖ */
    double *layer_distance;     /* [nlayers], NaN for layers without parameters */
    double alpha;               /* of update `step` (w_step -> w_step+1) */
    double alpha_loss_before, alpha_loss_after;
} gd_probe_record;

typedef struct gd_probe_monitor gd_probe_monitor;

/* w_start: the model's weights now (the start of the training call). */
gd_probe_monitor *gd_probe_monitor_new(const gd_probe_plan *plan, gd_model *m,
                                       const gd_spec *loss, const gd_dataset *train,
                                       gd_error *err);
void gd_probe_monitor_free(gd_probe_monitor *pm);

/* Whether any probe is due with `step` updates done. */
bool gd_probe_monitor_due(const gd_probe_monitor *pm, int64_t step);
/* Before update `step`; last: no update follows (the run's end). */
gd_status gd_probe_monitor_before(gd_probe_monitor *pm, int64_t step, bool last, gd_error *err);
/* After update `step` (alpha's second half). */
gd_status gd_probe_monitor_after(gd_probe_monitor *pm, int64_t step, gd_error *err);

int64_t gd_probe_monitor_count(const gd_probe_monitor *pm);
const gd_probe_record *gd_probe_monitor_record(const gd_probe_monitor *pm, int64_t i);
const gd_probe_plan *gd_probe_monitor_plan(const gd_probe_monitor *pm);
int gd_probe_monitor_layers(const gd_probe_monitor *pm);
int64_t gd_probe_monitor_nparams(const gd_probe_monitor *pm);

/* The state a checkpoint keeps: the records, w_start and the last top
 * eigenvector (sharpness' next start; NULL: none yet), nparams floats each.
 * Restore replaces them; counts must match the model. */
const float *gd_probe_monitor_start(const gd_probe_monitor *pm);
const float *gd_probe_monitor_warm(const gd_probe_monitor *pm);
gd_status gd_probe_monitor_restore(gd_probe_monitor *pm, const gd_probe_record *recs,
                                   int64_t n, const float *w_start, const float *warm,
                                   gd_error *err);

#endif
