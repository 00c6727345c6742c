/*
 * lua/ltrain.h: what ltrain.c (gd.train's loop) and ltrain_checkpoint.c
 * (its checkpoints, signals and resuming) share. Internal to the binding.
 */
#ifndef GRADUS_LUA_LTRAIN_H
#define GRADUS_LUA_LTRAIN_H

#include "checkpoint.h"
#include "lapi.h"
#include "lgradus.h"
#include "train.h"

/* Stack slots of gd.train (absolute indices). */
enum { CFG = 1, MODEL, TRAINER, EPOCHS, SPECS, SNAP, ANCHOR, SCOPE };

/* Everything the loop needs between steps. */
typedef struct run {
    gd_train_config cfg;
    const gd_dataset *val;
    gd_trainer *tr;
    gd_model *m;
    int64_t n, batch;
    int progress, bar, has_on_step, has_on_epoch;
    double t_run;
    /* early stopping */
    int64_t patience, best_epoch, wait;
    double min_delta, best;
    int restore_best, stopped;
    float *snap;
    /* checkpoints */
    int ckpt;
    gd_run_settings rs;
    int64_t last_ckpt_step;     /* -1: none written by this run */
} run;

double lgd_now(void);
/* An integer field >= min of the table at idx, or def when absent. */
int64_t lgd_field_int(lua_State *L, int idx, const char *what, const char *key, int64_t def,
                      int64_t min);
/* Set k = v unless v is NaN (not applicable). */
void lgd_setnum_finite(lua_State *L, const char *k, double v);
/* An epoch's history record as a table. */
void lgd_push_epoch(lua_State *L, const gd_epoch_record *e);

void lgd_run_checkpoints(lua_State *L, run *r);
gd_status lgd_run_save_checkpoint(lua_State *L, run *r, const char *reason, gd_error *err);
int lgd_run_interrupt(lua_State *L, run *r);
void lgd_run_restore(lua_State *L, run *r, gd_checkpoint *ck, int fork_mode);

/* ldist.c: the distributed option (before the trainer), then rank 0's
 * checkpoints (after the checkpoint option). */
void lgd_run_distributed(lua_State *L, run *r);
void lgd_run_distributed_checkpoints(run *r);

/* ltrain_files.c: the checks and the lock before the first step. */
/* checkpoint.path of the table at ci: a path gd.train can write. */
void lgd_check_checkpoint_path(lua_State *L, int ci, const char *what);
/* Inputs fit, checkpoint path locked (to-be-closed, pushed), no other run's
 * checkpoint there; raises before anything has run. */
void lgd_run_claim(lua_State *L, run *r);
/* gd._util.check_run(cfg), for gd.compare. */
int lgd_check_run(lua_State *L);

#endif
