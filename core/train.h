/*
 * core/train.h: the C training step (train.c) and the trainer's state for
 * checkpoints (train_state.c); the loop of a run around it is run.h's.
 *
 * One step: gather a batch, forward, loss, backward, regularizers, clipping,
 * optimizer update, with the lr from the schedule. After gd_trainer_new
 * sizes every buffer, steps allocate nothing and call no Lua.
 *
 * Every piece of mutable state (parameters and buffers in the model,
 * optimizer slots and scalars, RNG streams, the step/epoch counters and the
 * epoch's permutation) lives in the trainer or the model and is reachable
 * through gd_trainer_state for checkpoints.
 */
#ifndef GRADUS_CORE_TRAIN_H
#define GRADUS_CORE_TRAIN_H

#include <stdbool.h>
#include <stdint.h>

#include "clip.h"
#include "data.h"
#include "model.h"
#include "telemetry.h"

typedef struct gd_train_config {
    gd_model *model;                        /* borrowed */
    const gd_spec *loss;                    /* borrowed */
    const gd_spec *optimizer;               /* borrowed */
    const gd_spec *schedule;                /* borrowed; NULL: constant */
    const gd_spec *const *regularizers;     /* borrowed */
    int nregularizers;
    gd_clip_kind clip;
    double clip_value;
    const gd_dataset *train;                /* borrowed */
    int64_t epochs;                         /* >= 1 */
    int64_t batch;                          /* >= 1; 0: the whole set (batch GD) */
    uint64_t seed;
    int64_t monitor_every;                  /* 0: no telemetry */
    int64_t horizon_epochs;                 /* the schedules' T, in epochs; 0: epochs. A
                                               resumed run keeps its first one. */
    double diverge_factor;                  /* > 1: the run diverges ("loss exploded")
                                               when a step's loss exceeds this times
                                               the first step's; 0: no such check */
    bool drop_last;                         /* drop an epoch's last, partial batch (its
                                               samples change with each epoch's order) */
    bool distributed;                       /* data-parallel over the MPI ranks (dist.h):
                                               batch is the batch of all ranks together */
} gd_train_config;

typedef struct gd_step_result {
    double loss;            /* data loss + penalty of this batch */
    double penalty;
    double lr;
    int64_t step;           /* index of this update */
    int64_t epoch;
    bool epoch_done;        /* this step finished the epoch */
    bool monitored;         /* a gd_step_record was written */
} gd_step_result;

typedef struct gd_divergence {
    int64_t step;
    int64_t epoch;
    int layer;              /* index of the first layer where it appeared, -1: the loss */
    char layer_name[GD_MAX_PATH];
    char what[128];         /* "loss is NaN", "gradient of dense2.weight is Inf", ... */
    const char *reason;     /* "not finite" or "loss exploded"; static */
} gd_divergence;

typedef struct gd_trainer gd_trainer;

/* The batch a run of n samples takes: batch, or n when batch is 0 or > n. */
int64_t gd_batch_size(int64_t batch, int64_t n);

gd_trainer *gd_trainer_new(const gd_train_config *cfg, gd_error *err);
void gd_trainer_free(gd_trainer *tr);

/* One update. Returns GD_ENUMERIC when the run diverged (see
 * gd_trainer_divergence); the model then holds the last finite state? No:
 * the state at divergence, and the trainer refuses further steps. */
gd_status gd_trainer_step(gd_trainer *tr, gd_step_result *res, gd_error *err);
/* Run the rest of the current epoch. mean_loss: mean of the epoch's batch losses. */
gd_status gd_trainer_epoch(gd_trainer *tr, double *mean_loss, gd_error *err);

bool gd_trainer_finished(const gd_trainer *tr);   /* all epochs done */
int64_t gd_trainer_steps_done(const gd_trainer *tr);
int64_t gd_trainer_epochs_done(const gd_trainer *tr);
int64_t gd_trainer_steps_per_epoch(const gd_trainer *tr);
const gd_divergence *gd_trainer_divergence(const gd_trainer *tr);  /* NULL unless diverged */
/* The run diverged outside a step, at the end of epoch `epoch` (a
 * validation loss that is not finite): recorded at the last step taken,
 * `where` naming it ("validation"); the trainer refuses further steps. */
void gd_trainer_diverge_after(gd_trainer *tr, int64_t epoch, const char *where, const char *what);
double gd_trainer_lr_at(const gd_trainer *tr, int64_t step, int64_t epoch);

int64_t gd_trainer_record_count(const gd_trainer *tr);
const gd_step_record *gd_trainer_record(const gd_trainer *tr, int64_t i);

/* The trainer's mutable state, for checkpoints. The model's (parameters,
 * buffers, RNG streams) is the model's. */
typedef struct gd_trainer_state {
    int64_t step, epoch, pos;       /* updates done, epochs done, samples into this epoch */
    uint64_t epoch_seed;            /* the seed of this epoch's order */
    int64_t opt_step0;              /* the step at which the optimizer started */
    double epoch_loss;              /* sum of loss * batch over this epoch so far */
    int64_t epoch_samples;
    double epoch_penalty;           /* the penalty's part of epoch_loss; NaN: unknown
                                       (resumed part way from a file without it) */
    int64_t horizon_epochs;
    double first_loss;              /* the run's step 0 loss (the diverge check's
                                       reference); NaN: not taken yet, or unknown */
    int nslots, nscalars;
    int64_t slot_len;               /* floats per slot: the model's parameter count */
    float *slots[GD_MAX_OPTIM_SLOTS];
    double *scalars;
    int64_t nrecords;
    int nlayers;                    /* per record */
    gd_step_record *records;
} gd_trainer_state;

/* Views into the trainer, valid until its next step. */
void gd_trainer_get_state(const gd_trainer *tr, gd_trainer_state *st);
/* Continue from st: counters, the epoch's order, telemetry records and,
 * when keep_optimizer, the optimizer's slots and scalars (else the
 * optimizer starts afresh at st->step, its own step count from 1). Checks
 * everything before it changes anything. */
gd_status gd_trainer_set_state(gd_trainer *tr, const gd_trainer_state *st, bool keep_optimizer,
                               gd_error *err);
const gd_train_config *gd_trainer_config(const gd_trainer *tr);
/* Mean loss over the current (or just finished) epoch's steps so far. */
double gd_trainer_epoch_loss(const gd_trainer *tr);
/* The regularizers' part of it (0 without any); NaN when unknown (the
 * epoch was resumed from a checkpoint part way). */
double gd_trainer_epoch_penalty(const gd_trainer *tr);

/* Timing of step phases since creation, seconds (gather, forward, loss,
 * backward, update, and telemetry on monitored steps), for the benchmark.
 * Measured only when enabled. */
typedef struct gd_step_timing {
    double gather, forward, loss, backward, update, monitor;
    int64_t steps;
} gd_step_timing;
void gd_trainer_enable_timing(gd_trainer *tr, bool on);
const gd_step_timing *gd_trainer_timing(const gd_trainer *tr);

#endif
