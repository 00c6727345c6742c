/*
 * core/checkpoint.h: files that hold a model (.gdm, model_io.c) or a whole
 * run (checkpoints, checkpoint.c), in the container of binio.h. The layout
 * of both is documented in CHECKPOINTS.md.
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
#include "probe_monitor.h"
#include "train.h"

/* ---- the sections both kinds of file share (model_io.c) ---- */

/* META: who wrote the file and which plugin version provides each
 * component it names. */
typedef struct gd_component_ref {
    unsigned kind;
    char name[64], plugin[64], version[32], file[128];
} gd_component_ref;

enum { GD_MAX_COMPONENT_REFS = 64 };

typedef struct gd_file_meta {
    char gradus_version[32];
    uint32_t abi_major, abi_minor;
    int64_t written;            /* unix time */
    char reason[16];            /* "model", "periodic", "final", "interrupted" */
    int ncomponents;
    gd_component_ref comp[GD_MAX_COMPONENT_REFS];
} gd_file_meta;

/* The components of these specs (nested ones included), each once. */
void gd_put_meta(gd_buf *b, const gd_registry *reg, const gd_spec *const *specs, int nspecs,
                 const char *reason);
/* Read META; with a registry, every component must be provided by a loaded
 * plugin of the same version ("needs optimizer 'adam' (plugin adam 1.0),
 * which no loaded plugin provides" / "... is version 1.1 here"). */
bool gd_get_meta(gd_reader *r, gd_file_meta *meta);
/* The same, checking only layers and initializers when model_only (a
 * model taken out of a checkpoint). */
bool gd_get_meta_for(gd_reader *r, gd_file_meta *meta, bool model_only);

/* MODL: the input shape, the layer specs, the structure (when tree: format
 * version 3 and later), parameters and buffers. A file holding a model with
 * blocks is version 3 (gd_model_file_version), any other stays version 2,
 * readable by a gradus from before blocks. */
void gd_put_model(gd_buf *b, gd_model *m, bool tree);
gd_model *gd_get_model(gd_reader *r, uint32_t version);
uint32_t gd_model_file_version(const gd_model *m);

/* ---- checkpoints (checkpoint.c) ---- */

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

extern const gd_format gd_model_format, gd_checkpoint_format;

#endif
