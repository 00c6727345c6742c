/*
 * lua/ltrain.h: what ltrain.c (gd.train, the binding of core/run.h) and
 * ltrain_checkpoint.c (its checkpoints, signals and resuming) share.
 * Internal to the binding.
 */
#ifndef GRADUS_LUA_LTRAIN_H
#define GRADUS_LUA_LTRAIN_H

#include "checkpoint.h"
#include "lapi.h"
#include "lgradus.h"
#include "run.h"
#include "train.h"

/* Stack slots of gd.train (absolute indices). */
enum { CFG = 1, MODEL, RUN, EPOCHS, SPECS, ANCHOR, SCOPE };

/* The options read from the table, before and while the core's run
 * (core/run.h) runs. */
typedef struct run {
    gd_train_config cfg;
    const gd_dataset *val;
    gd_model *m;
    const gd_spec *regs[64];
    int64_t n, batch;
    int progress, bar, show_bar, has_on_step, has_on_epoch;
    double t_run, last_draw;    /* the progress bar's clock */
    int ckpt;                   /* checkpoint = { path = ... } given (distributed, the
                                   core's run has rank 0 alone write them) */
    gd_run_distribution dist;   /* the distributed option (ldist.c) */
    bool kept_optimizer;        /* resumed or forked with the checkpoint's optimizer state */
    gd_run_settings rs;
    gd_run *run;                /* the core's run, once made */
    gd_probe_monitor *probes;   /* monitor.probes (ltrain_probes.c); NULL: none */
    lua_State *L;
} run;

/* Where a run continues from (gd.resume, gd.fork: gd._continue's
 * arguments): ck NULL for a fresh run. */
typedef struct lgd_resume {
    gd_checkpoint *ck;
    bool fork, epochs_given;    /* gd.fork; gd.resume given a number of epochs */
    const char *path;           /* the file, for messages and run.resumed_from */
} lgd_resume;

/* Set k = v unless v is NaN (not applicable). */
void lgd_setnum_finite(lua_State *L, const char *k, double v);
/* An epoch's history record as a table. */
void lgd_push_epoch(lua_State *L, const gd_epoch_record *e);

/* ltrain_checkpoint.c: the checkpoint option; the error a stop by a
 * signal raises; continuing a loaded checkpoint's run. */
void lgd_run_checkpoints(lua_State *L, run *r);
int lgd_run_interrupt(lua_State *L, run *r);
void lgd_run_restore(lua_State *L, run *r, const lgd_resume *from);

/* ltrain_probes.c: monitor.probes into the run (after the model and the
 * checkpoint option, before the run is made), and run.history.probes into
 * the history table at the top. */
extern const lgd_key lgd_monitor_keys[], lgd_monitor_probe_keys[];
/* ltrain_checkpoint.c: the checkpoint option's keys. */
extern const lgd_key lgd_checkpoint_keys[];
void lgd_run_probes(lua_State *L, run *r);
void lgd_push_probe_history(lua_State *L, const run *r);
/* A probe plan as monitor.probes options (pushed); a checkpoint's records
 * and start into the run's monitor (gd.resume, gd.fork). */
void lgd_push_probe_plan(lua_State *L, const gd_probe_plan *p);
void lgd_restore_probes(lua_State *L, run *r, const gd_checkpoint *ck, const char *what);

/* ldist.c: the distributed option, MPI started when on (before the
 * trainer; rank 0 alone prints progress). */
void lgd_run_distributed(lua_State *L, run *r);

/* ltrain_files.c: the checks and the lock before the first step. */
/* checkpoint.path of the table at ci: a path gd.train can write. */
void lgd_check_checkpoint_path(lua_State *L, int ci, const char *what);
/* The validation set fits the data (before the run is made). */
void lgd_run_check_inputs(lua_State *L, const run *r);
/* The core's gd_run_claim (checkpoint path locked for the run's life, no
 * other run's checkpoint there); raises before anything has run. */
void lgd_run_claim(lua_State *L, run *r);
/* gd._util.check_run(cfg), for gd.compare. */
int lgd_check_run(lua_State *L);

#endif
