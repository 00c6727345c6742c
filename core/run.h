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
 *   gd_run_new -> [gd_run_resume] -> [gd_run_claim] -> gd_run_execute -> gd_run_result
 *     -> gd_run_free
 *
 * The run's policy is the core's, whichever language starts it: the
 * checkpoint path is locked for the run's life and a checkpoint of another
 * run there is refused (gd_run_claim, gd_run_check_checkpoint); under an MPI launcher a
 * run is distributed unless told otherwise, and rank 0 alone writes
 * checkpoints (gd_run_distribution).
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

/* Whether a run trains data-parallel over the MPI ranks (dist.h). */
typedef enum gd_run_distribution {
    GD_RUN_DIST_AUTO = 0,   /* when an MPI launcher started more than one process */
    GD_RUN_DIST_OFF,
    GD_RUN_DIST_ON,         /* as train.distributed = true */
} gd_run_distribution;

/* checkpoint keep: files path, path.1, ... up to this many. */
enum { GD_RUN_CKPT_KEEP_MAX = 100 };

typedef struct gd_run_config {
    gd_train_config train;              /* the step's; train.model borrowed */
    const gd_dataset *validation;       /* borrowed; NULL: none */
    /* Name, checkpoint timing, early stopping (patience 0: off), the data's
     * identity and recipes; the strings are borrowed. */
    gd_run_settings settings;
    bool checkpoints;                   /* write them to settings.ckpt_path (keep <=
                                           GD_RUN_CKPT_KEEP_MAX); distributed, rank 0 only */
    bool ckpt_overwrite;                /* replace whatever is at the path, even another
                                           run's checkpoint; false: refuse that */
    const gd_registry *registry;        /* borrowed: reads a checkpoint already at the
                                           path; NULL: a file there is refused */
    gd_run_distribution distribution;   /* AUTO (0): distributed under an MPI launcher */
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

/* Checks the config (early stopping needs validation, checkpoint limits),
 * starts MPI when distributed (then only rank 0 writes checkpoints) and
 * makes the trainer. The config is copied. */
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

/* The validation data fits the training data, else "'validation' has N
 * features per sample, 'data' has M" (gd_run_new checks it; gd.train
 * before anything is built). val NULL: none. */
gd_status gd_run_check_data(const gd_dataset *train, const gd_dataset *val, gd_error *err);

/* Resolve the distribution into train->distributed and start MPI when on
 * (gd_run_new does; a caller that needs to know earlier may call it first,
 * it is idempotent). */
gd_status gd_run_distribute(gd_train_config *train, gd_run_distribution d, gd_error *err);

/* Take the checkpoint path for the run's life (released by gd_run_free):
 * "checkpoint: <path>: in use by process N (...)" when another run holds
 * it; remove the temporaries killed writers left beside it; refuse a
 * checkpoint of another run there unless ckpt_overwrite
 * (gd_run_check_checkpoint). After gd_run_resume (a resumed run may go
 * past its finished end); gd_run_execute calls it when the caller has not,
 * failing the run with its message. A no-op without checkpoints (and on
 * ranks other than 0). */
gd_status gd_run_claim(gd_run *run, gd_error *err);

/* Whether the checkpoint at a run's path may be written over (core/run_files.c,
 * a part of this unit): gd_run_claim calls it with the path locked. */
/* GD_OK when nothing is at cfg->settings.ckpt_path, or a checkpoint of
 * this run is (the same specs, clip, batch, seed and data; a resume, or
 * the same program run again; another number of epochs only when the run
 * there has not finished or resuming). Else GD_EINVAL and "checkpoint:
 * <path> holds another run (the optimizer differs); ..." and the like,
 * the messages gd.train shows after its "gd.train: ". cfg->settings must
 * hold the data's identity (gd_run_new records it). reg reads the file;
 * NULL: a file at the path is refused. */
gd_status gd_run_check_checkpoint(const gd_registry *reg, const gd_run_config *cfg,
                                  bool resuming, gd_error *err);


/* Run to the end (or the stop). */
gd_run_status gd_run_execute(gd_run *run);
const gd_run_result *gd_run_result_of(const gd_run *run);
gd_trainer *gd_run_trainer(const gd_run *run);
const gd_run_config *gd_run_config_of(const gd_run *run);

/* Write a checkpoint of the run now (reason: "periodic", "final", ...). */
gd_status gd_run_save(gd_run *run, const char *reason, gd_error *err);

#endif
