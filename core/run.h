/*
 * core/run.h: a run, the loop around the step (train.h): epochs,
 * validation, early stopping and restore_best, checkpoints when due (and
 * their rotation, checkpoint.c), the stop that a signal asks for, the
 * history, and continuing a checkpoint's run.
 *
 * The caller (the Lua binding, a C program) hears of the run through hooks:
 * after each step only when it sets on_step (so the step stays free of the
 * caller otherwise), after each epoch's end, and when early stopping ends
 * the run. The core prints nothing: progress lines are the caller's.
 *
 *   gd_run_new -> [gd_run_resume] -> gd_run_execute -> gd_run_result -> gd_run_free
 */
#ifndef GRADUS_CORE_RUN_H
#define GRADUS_CORE_RUN_H

#include <signal.h>

#include "checkpoint.h"
#include "probe_monitor.h"

typedef struct gd_run gd_run;

/* What on_step sees. */
typedef struct gd_run_step {
    const gd_step_result *res;
    int64_t epoch;          /* the epoch this step belongs to, from 1 */
    int64_t k;              /* steps into the epoch, this one included */
    int64_t first;          /* steps into the epoch when this call began it */
    double epoch_start;     /* gd_run_clock() at the epoch's start */
    double now;             /* gd_run_clock() after the step */
} gd_run_step;

/* A hook returning anything but GD_OK ends the run at once as
 * GD_RUN_ABORTED (no checkpoint, no restore_best): the caller's error. */
typedef struct gd_run_hooks {
    void *ctx;
    gd_status (*on_step)(void *ctx, gd_run *run, const gd_run_step *s);   /* NULL: none */
    /* After validation and the history record; *stop = true ends the run.
     * NULL: none (the run goes on). */
    gd_status (*on_epoch)(void *ctx, gd_run *run, const gd_epoch_record *e, bool *stop);
    /* Early stopping ended the run after epoch e. NULL: none. */
    void (*on_early_stop)(void *ctx, gd_run *run, int64_t e);
} gd_run_hooks;

typedef struct gd_run_config {
    gd_train_config train;              /* the step's; train.model borrowed */
    const gd_dataset *validation;       /* borrowed; NULL: none */
    /* Name, checkpoint timing, early stopping (patience 0: off), the data's
     * identity and recipes; the strings are borrowed. */
    gd_run_settings settings;
    bool checkpoints;                   /* write them to settings.ckpt_path */
    /* Nonzero (a signal number; a handler sets it): stop after this step,
     * with an "interrupted" checkpoint. NULL: never. */
    const volatile sig_atomic_t *stop;
    gd_run_hooks hooks;
    gd_probe_monitor *probes;           /* borrowed; NULL: no probes (probe_monitor.h) */
} gd_run_config;

typedef enum gd_run_status {
    GD_RUN_OK = 0,
    GD_RUN_DIVERGED,        /* gd_trainer_divergence says where */
    GD_RUN_FAILED,          /* error says why */
    GD_RUN_INTERRUPTED,     /* the stop flag: signal, checkpointed, error */
    GD_RUN_ABORTED,         /* a hook failed */
} gd_run_status;

typedef struct gd_run_result {
    gd_run_status status;
    const char *error;                  /* FAILED: why; INTERRUPTED: why no checkpoint */
    int signal;                         /* INTERRUPTED: the flag's value */
    int signal_rank;                    /* distributed: the rank it reached; -1: not */
    bool checkpointed;                  /* INTERRUPTED: its checkpoint was written */
    double seconds;
    bool stopped;                       /* early stopping or on_epoch ended it */
    int64_t best_epoch;                 /* 0: none */
    double best;                        /* best validation loss */
    bool restored;                      /* restore_best put the best epoch's weights back */
    int64_t last_ckpt_step;             /* -1: no checkpoint written by this run */
    const gd_epoch_record *epochs;      /* the history, resumed epochs included */
    int64_t nepochs;
} gd_run_result;

double gd_run_clock(void);   /* seconds, monotonic */

/* Checks the config (early stopping needs validation) and makes the
 * trainer. The config is copied. */
gd_run *gd_run_new(const gd_run_config *cfg, gd_error *err);
void gd_run_free(gd_run *run);

/* Continue ck's run (before gd_run_execute): the data must be the run's;
 * the trainer takes ck's state (the optimizer's when its component is the
 * same: *kept_optimizer), the history and early-stopping state come back.
 * A run that stopped early stays stopped unless epochs_given. fork: a new
 * branch (its validation data may differ). The config's train.horizon_epochs
 * should be ck's. */
gd_status gd_run_resume(gd_run *run, const gd_checkpoint *ck, bool fork, bool epochs_given,
                        bool *kept_optimizer, gd_error *err);

/* Run to the end (or the stop). */
gd_run_status gd_run_execute(gd_run *run);
const gd_run_result *gd_run_result_of(const gd_run *run);
gd_trainer *gd_run_trainer(const gd_run *run);
const gd_run_config *gd_run_config_of(const gd_run *run);

/* Write a checkpoint of the run now (reason: "periodic", "final", ...). */
gd_status gd_run_save(gd_run *run, const char *reason, gd_error *err);

#endif
