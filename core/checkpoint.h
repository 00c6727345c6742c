/*
 * core/checkpoint.h: files that hold a whole run (checkpoints, checkpoint.c)
 * in the container of binio.h; the sections they share with model files
 * are model_io.h's. The layout is documented in CHECKPOINTS.md.
 *
 * A checkpoint holds everything a run's future depends on: parameters and
 * buffers, every layer's RNG stream, the optimizer's slots and scalars, the
 * step, epoch and position in the epoch's order (the order itself is a pure
 * function of (seed, epoch)), the schedule's horizon, the specs, the data's
 * identity and recipe, and the history so far. Resuming from it continues
 * the run bit for bit.
 */
#ifndef GRADUS_CORE_CHECKPOINT_H
#define GRADUS_CORE_CHECKPOINT_H

#include "binio.h"
#include "checkpoint_probes.h"
#include "model_io.h"
#include "probe_monitor.h"
#include "run_record.h"
#include "train.h"

typedef struct gd_checkpoint {
    gd_file_meta meta;
    gd_model *model;
    gd_spec *loss, *optimizer, *schedule;
    char optimizer_tree[256];           /* its tree of components (gd_optimizer_tree_names),
                                           kept when the spec is moved */
    gd_spec **regularizers;
    int nregularizers;
    gd_clip_kind clip;
    double clip_value;
    int64_t epochs, batch, monitor_every;
    uint64_t seed;
    double diverge_factor;              /* 0: off (always, in a version 1 file) */
    uint32_t version;                   /* the file's format version */
    bool drop_last;                     /* false in files written before it was saved */
    gd_run_settings run;
    gd_trainer_state state;             /* arrays owned by the checkpoint */
    gd_run_progress progress;
    gd_probe_saved probes;              /* PROB, from runs with monitor.probes */
} gd_checkpoint;

/* A checkpoint's format version: 4 for a regularized run (its HIST and
 * TRNR hold the penalties, its MODL the structure), else the model's (2,
 * or 3 with blocks), the bytes an older gradus wrote and reads. */
uint32_t gd_checkpoint_file_version(const gd_train_config *cfg);

/* Write the trainer's run to path atomically (binio.h), first shifting
 * older files to path.1 .. path.(keep-1) when run->ckpt_keep > 1. */
gd_status gd_checkpoint_save(const char *path, const gd_trainer *tr,
                             const gd_run_settings *run, const gd_run_progress *progress,
                             const char *reason, gd_error *err);

/* Read and check a whole checkpoint: specs rebuilt through reg, the model
 * built and filled. NULL and "<path>: <what>" on failure; nothing of a
 * failed load survives. */
gd_checkpoint *gd_checkpoint_load(const gd_registry *reg, const char *path, gd_error *err);
/* The same from memory (tests, the fuzzer); verify_crc false reaches the
 * decoders behind the CRCs. */
gd_checkpoint *gd_checkpoint_parse(const gd_registry *reg, const unsigned char *p, size_t n,
                                   const char *name, bool verify_crc, gd_error *err);
void gd_checkpoint_free(gd_checkpoint *ck);
/* Hand the model over to the caller (the checkpoint no longer frees it). */
gd_model *gd_checkpoint_take_model(gd_checkpoint *ck);

#endif
