/*
 * tests/fuzz/make_corpus.c: the fuzzer's seed corpus. Writes a few valid
 * checkpoints (and one model file) into a directory, each from a short real
 * run, so that mutations start from files that reach every section decoder.
 *
 *   make_corpus DIR
 *
 * The runs differ in what they put in the file: batchnorm buffers, dropout
 * RNG streams, optimizer slots and scalars (adam, momentum, sgd), a nested
 * schedule spec (warmup{after = cosine}), regularizers (and their penalties,
 * format version 4), clipping, telemetry records, epoch history, data
 * recipes and restore_best's snapshot.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "registry.h"

static gd_registry *reg;

static void die(const char *what, const gd_error *err)
{
    fprintf(stderr, "make_corpus: %s: %s\n", what, err ? err->msg : "failed");
    exit(1);
}

/* A finished spec from (name, type, value) triples ending with NULL; types
 * as in tests/support.h: 'n' double, 'i' long long, 'b' int, 's' string,
 * 'p' spec (consumed: freed here). */
static gd_spec *spec(gd_kind kind, const char *name, ...)
{
    gd_error err;
    const gd_entry *e = gd_registry_find(reg, kind, name);
    if (!e) {
        gd_registry_fail_unknown(reg, kind, name, &err);
        die(name, &err);
    }
    gd_spec *s = gd_spec_begin(reg, e->component, &err);
    if (!s)
        die(name, &err);
    va_list ap;
    va_start(ap, name);
    const char *opt;
    while ((opt = va_arg(ap, const char *))) {
        gd_arg a = { 0 };
        gd_spec *owned = NULL;
        switch (va_arg(ap, int)) {
        case 'n': a.type = GD_ARG_NUMBER; a.num = va_arg(ap, double); break;
        case 'i': a.type = GD_ARG_INTEGER; a.i = va_arg(ap, long long); break;
        case 'b': a.type = GD_ARG_BOOLEAN; a.b = va_arg(ap, int); break;
        case 's': a.type = GD_ARG_STRING; a.s = va_arg(ap, const char *); break;
        case 'p': a.type = GD_ARG_SPEC; a.spec = owned = va_arg(ap, gd_spec *); break;
        default: die("bad option type", NULL);
        }
        gd_status st = gd_spec_set(s, opt, &a, &err);
        gd_spec_free(owned);
        if (st != GD_OK)
            die(opt, &err);
    }
    va_end(ap);
    if (gd_spec_finish(s, &err) != GD_OK)
        die(name, &err);
    return s;
}

typedef struct run_desc {
    const char *file;
    gd_spec *layers[8];
    int nlayers;
    gd_spec *optimizer, *schedule, *regularizer;
    gd_clip_kind clip;
    double clip_value;
    int64_t epochs_done, epochs, batch, monitor_every;
    bool snapshot;
    const char *model_file;     /* also save the model there (NULL: no) */
    const gd_node_desc *tree;   /* blocks: the structure, its layers taken from
                                   `layers` in order (NULL: a plain sequential) */
    int ntree;
} run_desc;

static void write_run(const char *dir, run_desc *d)
{
    gd_error err;
    gd_dataset *ds = gd_synthetic_spirals(64, 2, 0.05, 7, &err);
    if (!ds)
        die("spirals", &err);
    gd_shape in = gd_shape_1(2);
    gd_node_desc tree[16];
    for (int i = 0, k = 0; d->tree && i < d->ntree && i < 16; i++) {
        tree[i] = d->tree[i];
        if (tree[i].kind == GD_NODE_LAYER)
            tree[i].spec = d->layers[k++];
    }
    gd_model *m = d->tree ? gd_model_new_tree(reg, tree, d->ntree, &in, 3, &err)
                          : gd_model_new(reg, (const gd_spec *const *)d->layers, d->nlayers, &in,
                                         3, &err);
    if (!m)
        die(d->file, &err);
    gd_spec *loss = spec(GD_KIND_LOSS, "cross_entropy", NULL);
    const gd_spec *regs[1] = { d->regularizer };
    gd_train_config cfg = {
        .model = m, .loss = loss, .optimizer = d->optimizer, .schedule = d->schedule,
        .regularizers = regs, .nregularizers = d->regularizer ? 1 : 0,
        .clip = d->clip, .clip_value = d->clip_value, .train = ds, .epochs = d->epochs,
        .batch = d->batch, .seed = 11, .monitor_every = d->monitor_every,
    };
    gd_trainer *tr = gd_trainer_new(&cfg, &err);
    if (!tr)
        die(d->file, &err);
    gd_epoch_record hist[8];
    for (int64_t e = 0; e < d->epochs_done; e++) {
        double mean;
        if (gd_trainer_epoch(tr, &mean, &err) != GD_OK)
            die(d->file, &err);
        hist[e] = (gd_epoch_record){ e + 1, mean, mean * 1.1, 0.5, 0.01, 0.001,
                                     gd_trainer_epoch_penalty(tr) };
    }
    /* Stop mid-epoch too, so the position and the epoch's loss are not 0. */
    if (gd_trainer_step(tr, NULL, &err) != GD_OK)
        die(d->file, &err);

    unsigned char recipe[] = "spirals{n=64, classes=2, noise=0.05, seed=7}";
    gd_run_settings run = {
        .name = "fuzz-seed", .ckpt_path = "run.ckpt", .ckpt_every = 2,
        .ckpt_every_epochs = true, .ckpt_keep = 2, .patience = 3, .min_delta = 1e-4,
        .restore_best = d->snapshot, .has_validation = true,
        .train_recipe = recipe, .train_recipe_len = sizeof recipe - 1,
        .val_recipe = recipe, .val_recipe_len = 8,
    };
    if (gd_dataset_identity(ds, &run.train_id, &err) != GD_OK ||
        gd_dataset_identity(ds, &run.val_id, &err) != GD_OK)
        die("identity", &err);
    int64_t ns = gd_model_state_size(m);
    float *snap = d->snapshot ? malloc((size_t)ns * sizeof *snap) : NULL;
    if (snap)
        gd_model_copy_state(m, snap, true);
    gd_run_progress prog = { .epochs = hist, .nepochs = d->epochs_done,
                             .best = hist[0].val_loss, .best_epoch = 1,
                             .wait = d->epochs_done - 1, .snapshot = snap, .snapshot_len = ns };

    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, d->file);
    if (gd_checkpoint_save(path, tr, &run, &prog, "periodic", &err) != GD_OK)
        die(path, &err);
    if (d->model_file) {
        snprintf(path, sizeof path, "%s/%s", dir, d->model_file);
        if (gd_model_save(m, path, &err) != GD_OK)
            die(path, &err);
    }
    free(snap);
    gd_trainer_free(tr);
    gd_model_free(m);
    gd_spec_free(loss);
    for (int i = 0; i < d->nlayers; i++)
        gd_spec_free(d->layers[i]);
    gd_spec_free(d->optimizer);
    gd_spec_free(d->schedule);
    gd_spec_free(d->regularizer);
    gd_dataset_free(ds);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: make_corpus DIR\n");
        return 2;
    }
    gd_error err;
    reg = gd_registry_new();
    if (!reg || gd_registry_load_defaults(reg, &err) != GD_OK)
        die("plugins", reg ? &err : NULL);

    /* dense, batchnorm, relu, dropout, dense; adam; warmup then cosine;
     * l2 (format version 4: the penalties in TRNR and HIST); clipping by
     * norm; telemetry every step; a snapshot. */
    run_desc a = {
        .file = "mlp_adam.ckpt", .model_file = "mlp.gdm",
        .layers = {
            spec(GD_KIND_LAYER, "dense", "units", 'i', 8LL, NULL),
            spec(GD_KIND_LAYER, "batchnorm", NULL),
            spec(GD_KIND_LAYER, "relu", NULL),
            spec(GD_KIND_LAYER, "dropout", "rate", 'n', 0.25, NULL),
            spec(GD_KIND_LAYER, "dense", "units", 'i', 2LL, NULL),
        },
        .nlayers = 5,
        .optimizer = spec(GD_KIND_OPTIMIZER, "adam", "lr", 'n', 0.01, NULL),
        .schedule = spec(GD_KIND_SCHEDULER, "warmup", "steps", 'i', 3LL,
                         "after", 'p', spec(GD_KIND_SCHEDULER, "cosine", NULL), NULL),
        .regularizer = spec(GD_KIND_REGULARIZER, "l2", "lambda", 'n', 1e-4, NULL),
        .clip = GD_CLIP_NORM, .clip_value = 5.0,
        .epochs_done = 2, .epochs = 4, .batch = 16, .monitor_every = 1, .snapshot = true,
    };
    write_run(argv[1], &a);

    /* tanh MLP with momentum, a step schedule counted in epochs, clipping by
     * value, telemetry every other step. */
    run_desc b = {
        .file = "mlp_momentum.ckpt",
        .layers = {
            spec(GD_KIND_LAYER, "dense", "units", 'i', 4LL, "init", 'p',
                 spec(GD_KIND_INITIALIZER, "he_normal", NULL), NULL),
            spec(GD_KIND_LAYER, "tanh", NULL),
            spec(GD_KIND_LAYER, "dense", "units", 'i', 2LL, "bias", 'b', 0, NULL),
        },
        .nlayers = 3,
        .optimizer = spec(GD_KIND_OPTIMIZER, "momentum", "gamma", 'n', 0.8, NULL),
        .schedule = spec(GD_KIND_SCHEDULER, "step", "size", 'i', 1LL, "unit", 's', "epoch",
                         NULL),
        .clip = GD_CLIP_VALUE, .clip_value = 1.0,
        .epochs_done = 1, .epochs = 3, .batch = 32, .monitor_every = 2,
    };
    write_run(argv[1], &b);

    /* The smallest: one dense layer, sgd, no schedule, no telemetry. */
    run_desc c = {
        .file = "dense_sgd.ckpt",
        .layers = { spec(GD_KIND_LAYER, "dense", "units", 'i', 2LL, NULL) },
        .nlayers = 1,
        .optimizer = spec(GD_KIND_OPTIMIZER, "sgd", NULL),
        .epochs_done = 1, .epochs = 2, .batch = 64,
    };
    write_run(argv[1], &c);

    /* Blocks (format version 3): dense, residual{ dense, tanh }, residual{
     * dense, shortcut = sequential{ dense } }, dense; adam, telemetry. */
    static const gd_node_desc blocks[] = {
        { GD_NODE_SEQUENTIAL, 4, NULL }, { GD_NODE_LAYER, 0, NULL },
        { GD_NODE_RESIDUAL, 1, NULL }, { GD_NODE_SEQUENTIAL, 2, NULL },
        { GD_NODE_LAYER, 0, NULL }, { GD_NODE_LAYER, 0, NULL },
        { GD_NODE_RESIDUAL, 2, NULL }, { GD_NODE_SEQUENTIAL, 1, NULL },
        { GD_NODE_LAYER, 0, NULL }, { GD_NODE_SEQUENTIAL, 1, NULL },
        { GD_NODE_LAYER, 0, NULL }, { GD_NODE_LAYER, 0, NULL },
    };
    run_desc e = {
        .file = "residual_adam.ckpt", .model_file = "residual.gdm",
        .layers = {
            spec(GD_KIND_LAYER, "dense", "units", 'i', 6LL, NULL),
            spec(GD_KIND_LAYER, "dense", "units", 'i', 6LL, NULL),
            spec(GD_KIND_LAYER, "tanh", NULL),
            spec(GD_KIND_LAYER, "dense", "units", 'i', 3LL, NULL),
            spec(GD_KIND_LAYER, "dense", "units", 'i', 3LL, NULL),
            spec(GD_KIND_LAYER, "dense", "units", 'i', 2LL, NULL),
        },
        .nlayers = 6, .tree = blocks, .ntree = (int)(sizeof blocks / sizeof *blocks),
        .optimizer = spec(GD_KIND_OPTIMIZER, "adam", NULL),
        .epochs_done = 1, .epochs = 2, .batch = 16, .monitor_every = 2,
    };
    write_run(argv[1], &e);

    gd_registry_free(reg);
    printf("make_corpus: wrote 4 checkpoints and 2 model files to %s\n", argv[1]);
    return 0;
}
