/*
 * core/run_record.h: what a run is beyond its step (name, checkpoint
 * timing, early stopping, the data's identity) and what it has done so far
 * (the history, the early-stopping state): run.c keeps them, checkpoint.c
 * saves and loads them. A header of its own so that run.h can include
 * checkpoint.h without checkpoint.h including run.h.
 */
#ifndef GRADUS_CORE_RUN_RECORD_H
#define GRADUS_CORE_RUN_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "data.h"
#include "probe_monitor.h"

typedef struct gd_epoch_record {
    int64_t epoch;
    double train_loss, val_loss, val_accuracy, lr, seconds;   /* NaN: not measured */
    /* The regularizers' mean penalty within train_loss (0 without any);
     * NaN: unknown (a regularized run's epoch before a resume from a
     * checkpoint of version 3 or older, which did not hold it). */
    double penalty;
} gd_epoch_record;

/* What a run is beyond gd_train_config (run.h's gd_run_config). */
typedef struct gd_run_settings {
    char *name;                         /* NULL: none */
    char *ckpt_path;                    /* where periodic checkpoints go */
    int64_t ckpt_every;                 /* 0: only at the end and on interruption */
    bool ckpt_every_epochs;             /* every counts epochs, not steps */
    int64_t ckpt_keep;                  /* files kept: path, path.1, ... */
    /* Not kept in the file (a resume gives them again): */
    double ckpt_min_interval;           /* seconds a periodic checkpoint waits after the
                                         * run's start or the last one; 0: none */
    bool ckpt_no_final;                 /* none when the run ends (a sweep's trial, whose
                                         * result is its record) */
    int64_t patience;                   /* early stopping; 0: off */
    double min_delta;
    bool restore_best;
    bool has_validation;
    gd_data_identity train_id, val_id;
    unsigned char *train_recipe, *val_recipe;   /* opaque to the core; NULL: none */
    size_t train_recipe_len, val_recipe_len;
} gd_run_settings;

/* The history so far and the early-stopping state. */
typedef struct gd_run_progress {
    gd_epoch_record *epochs;
    int64_t nepochs;
    double best;                        /* best validation loss (Inf: none yet) */
    int64_t best_epoch, wait;
    bool stopped;                       /* ended before its epochs (early stopping, on_epoch) */
    float *snapshot;                    /* restore_best's copy; NULL: none */
    int64_t snapshot_len;
    const gd_probe_monitor *probes;     /* monitor.probes (saved as PROB); NULL: none */
} gd_run_progress;

#endif
