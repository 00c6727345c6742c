/*
 * core/train_fields.h: the fields of a trainer, for the files that make it
 * up: the step (train.c) and its state for checkpoints (train_state.c).
 * Everything else reads a trainer through train.h.
 */
#ifndef GRADUS_CORE_TRAIN_FIELDS_H
#define GRADUS_CORE_TRAIN_FIELDS_H

#include "train.h"

#include "optim.h"

struct gd_trainer {
    gd_train_config cfg;
    gd_model *m;
    const gd_spec **regs;
    float *slots[GD_MAX_OPTIM_SLOTS];
    double *scalars;
    int64_t n, batch, steps_per_epoch, total_steps;
    int64_t per_epoch;                   /* samples an epoch uses: n, or whole batches only */
    int64_t step, epoch, pos;            /* updates done, epochs done, position in epoch */
    int64_t *perm;
    uint64_t epoch_seed;                 /* the seed of this epoch's order */
    int64_t opt_step0;                   /* the step at which the optimizer started */
    int64_t horizon_epochs;
    float *xb, *yb, *dout;
    double base_lr;
    int64_t horizon;                     /* in the schedule's unit */
    bool sched_epochs;
    gd_divergence div;
    bool diverged;
    double first_loss;                   /* step 0's data loss; NaN: not yet */
    gd_telemetry tele;                   /* records of monitored steps */
    double epoch_loss;
    int64_t epoch_samples;
    /* The penalty's part of epoch_loss, over epoch_penalty_samples: fewer
     * than epoch_samples after a resume within the epoch (then unknown). */
    double epoch_penalty;
    int64_t epoch_penalty_samples;
    bool timing_on;
    gd_step_timing timing;
    /* Tensor-aware and composite optimizers (core/optim.c), and for
     * two-pass ones what the second pass needs to see the first's batch
     * exactly: the layers' RNG streams before it and a place to keep
     * batch-norm's running statistics while it runs. */
    gd_optim *topt;
    gd_rng *rng_snap;
    float *buf_snap;
    int64_t nb, nb_all;                  /* this step's rows here, and in all ranks */
};

/* Draw epoch tr->epoch's order of the samples into tr->perm, from
 * tr->epoch_seed (train.c). */
void gd_trainer_shuffle(gd_trainer *tr);

#endif
