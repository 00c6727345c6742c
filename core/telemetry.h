/*
 * core/telemetry.h: what a monitored step records (telemetry.c): the loss,
 * lr and gradient norm of the step and, per layer, the norms of its
 * gradient and parameters, the size of its update and the statistics of
 * its output. The trainer (train.c) keeps the records of a whole run in one
 * gd_telemetry, sized before the run starts, so a monitored step allocates
 * nothing.
 */
#ifndef GRADUS_CORE_TELEMETRY_H
#define GRADUS_CORE_TELEMETRY_H

#include <stdbool.h>
#include <stdint.h>

#include "model.h"

/* Per-layer telemetry of one monitored step. */
typedef struct gd_layer_telemetry {
    double grad_norm;      /* L2 norm of the layer's parameter gradients (NaN: none) */
    double param_norm;
    double update_ratio;   /* ||delta W|| / ||W|| of this update (NaN: no params) */
    double act_mean, act_std;
    double saturated;      /* fraction (sigmoid/tanh layers, else NaN) */
    double dead;           /* fraction of units that are 0 for the whole batch (relu, else NaN) */
} gd_layer_telemetry;

typedef struct gd_step_record {
    int64_t step;           /* update index, from 0 */
    int64_t epoch;          /* from 1 */
    double loss;            /* data loss + penalty */
    double penalty;
    double lr;
    double grad_norm;       /* global, before clipping */
    bool clipped;
    double effective_lr;    /* adaptive: mean step scale; tensor-aware: |dW| / |G|; else NaN */
    gd_layer_telemetry *layers;  /* [nlayers], owned by the trainer */
} gd_step_record;

/* The records of a run and the parameters before the monitored update. */
typedef struct gd_telemetry {
    gd_step_record *records;        /* [cap]; record i's layers: layers + i * nlayers */
    gd_layer_telemetry *layers;
    int64_t n, cap;                 /* records written, room for */
    float *before;                  /* [parameter count] */
} gd_telemetry;

/* Whether cap records of nlayers layers are too many to hold (refused with
 * a message rather than met in calloc). */
bool gd_telemetry_too_many(int64_t cap, int nlayers);
/* Room for cap records of model m's layers, the records so far kept (a
 * no-op when there is room already). Unchanged on failure. */
gd_status gd_telemetry_reserve(gd_telemetry *t, gd_model *m, int64_t cap, gd_error *err);
void gd_telemetry_free(gd_telemetry *t);
/* The next record to fill (the caller checks n < cap). */
static inline gd_step_record *gd_telemetry_next(gd_telemetry *t) { return &t->records[t->n++]; }
/* Keep m's parameters as they are before the update. */
void gd_telemetry_keep_params(gd_telemetry *t, gd_model *m);
/* Fill rec->layers from m after the update: its gradients, parameters,
 * activations of the last forward, and the parameters kept before. */
void gd_telemetry_layers(const gd_telemetry *t, gd_model *m, gd_step_record *rec);
/* A tensor-aware optimizer's effective lr: |W - W_before| / |G| over all
 * parameters (lr itself for plain SGD); 0 when the gradient is 0. */
double gd_telemetry_step_per_gradient(const gd_telemetry *t, gd_model *m);

#endif
