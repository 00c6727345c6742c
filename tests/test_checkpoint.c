/*
 * tests/test_checkpoint.c: checkpoints (core/checkpoint.c) written, read
 * back, continued from, and refused when bad.
 *
 * The run: an MLP (dense, batchnorm, relu, dropout, dense) on synthetic
 * spirals, cross-entropy, warmup -> cosine schedule, an l2 regularizer,
 * clipping by norm, telemetry every 3 steps. So a checkpoint holds every
 * kind of state: parameters, batchnorm's running statistics, dropout's RNG
 * stream, optimizer slots, counters mid-epoch, telemetry records.
 *
 * - Round trip: every field comes back, bit for bit.
 * - Continuation: N steps straight equal k steps, save, load into a fresh
 *   model and trainer, N-k steps (memcmp), for every optimizer in the
 *   registry, mid-epoch, at an epoch boundary and at the last step.
 * - Refusals: each bad file (made from a good one; crafted ones with their
 *   CRCs recomputed by tests/container.h) gets its own message.
 * - A fuzz loop of a few thousand mutated files: each is refused with a
 *   message or loads; nothing crashes or leaks (ASan in the sanitizer build).
 * - Atomicity: a writer killed mid-write (GRADUS_TEST_STALL_WRITE) leaves
 *   the old checkpoint whole; keep = 3 rotates path, path.1, path.2.
 * - gd_trainer_set_state refuses inconsistent state and changes nothing.
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "model_layer.h"   /* white-box: the layer's fields */
#include "fs.h"
#include "checkpoint.h"
#include "clock.h"
#include "container.h"
#include "gradus/rng.h"
#include "files.h"
#include "support.h"

/* ---- fixture directory (as in test_model_io.c) ---- */


static off_t file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? sb.st_size : -1;
}

/* ---- the run ---- */

enum { NLAYERS = 5, NSAMPLES = 120, BATCH = 32, EPOCHS = 3, STEPS_PER_EPOCH = 4,
       TOTAL = EPOCHS * STEPS_PER_EPOCH, SEED = 11 };

typedef struct fixture {
    gd_spec *layers[NLAYERS];
    gd_spec *loss, *opt, *sched, *reg;
    const gd_spec *regs[1];
    gd_dataset *ds, *val;
    gd_model *model;
    gd_trainer *tr;
    /* what gd_checkpoint_save takes beyond the trainer */
    gd_run_settings rs;
    gd_run_progress prog;
    gd_epoch_record hist[2];
    float *snapshot;
} fixture;

static const unsigned char recipe[] = "spirals{n=120, classes=3, noise=0.1, seed=3}\0\x01\xff";
static const unsigned char val_recipe[] = "blobs\0\0\x7f";

/* Optimizer `name` with lr 0.05 when it has an lr (defaults otherwise). */
static gd_spec *optimizer_spec(const char *name)
{
    const gd_entry *e = gd_registry_find(test_registry(), GD_KIND_OPTIMIZER, name);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    gd_error err;
    gd_spec *s = gd_spec_begin(test_registry(), e->component, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    gd_arg lr = { .type = GD_ARG_NUMBER, .num = 0.05 };
    if (gd_spec_option_index(e->component, "lr") >= 0)
        CU_ASSERT_EQUAL(gd_spec_set(s, "lr", &lr, &err), GD_OK);
    gd_status st = gd_spec_finish(s, &err);
    if (st != GD_OK)
        fprintf(stderr, "\n  optimizer '%s' with its defaults: %s\n", name, err.msg);
    CU_ASSERT_EQUAL_FATAL(st, GD_OK);
    return s;
}

/* The run with optimizer `opt`; `plain`: no clipping and no telemetry, so
 * the trainer takes its fused per-layer update path instead. */
static void fx_make(fixture *f, const char *opt, bool plain)
{
    memset(f, 0, sizeof *f);
    f->layers[0] = test_spec(GD_KIND_LAYER, "dense", "units", 'i', 16LL, NULL);
    f->layers[1] = test_spec(GD_KIND_LAYER, "batchnorm", "momentum", 'n', 0.2, NULL);
    f->layers[2] = test_spec(GD_KIND_LAYER, "relu", NULL);
    f->layers[3] = test_spec(GD_KIND_LAYER, "dropout", "rate", 'n', 0.2, NULL);
    f->layers[4] = test_spec(GD_KIND_LAYER, "dense", "units", 'i', 3LL, "init", 's',
                             "he_uniform", NULL);
    gd_spec *cosine = test_spec(GD_KIND_SCHEDULER, "cosine", "lr_min", 'n', 0.001, NULL);
    f->sched = test_spec(GD_KIND_SCHEDULER, "warmup", "steps", 'i', 3LL, "after", 'p', cosine,
                         NULL);
    gd_spec_free(cosine);
    f->reg = test_spec(GD_KIND_REGULARIZER, "l2", "lambda", 'n', 1e-3, NULL);
    f->regs[0] = f->reg;
    f->loss = test_spec(GD_KIND_LOSS, "cross_entropy", NULL);
    f->opt = optimizer_spec(opt);
    gd_error err;
    f->ds = gd_synthetic_spirals(NSAMPLES, 3, 0.1, 3, &err);
    f->val = gd_synthetic_blobs(30, 3, 2, 0.5, 4, &err);
    CU_ASSERT_FATAL(f->ds && f->val);
    gd_shape in = gd_shape_1(2);
    f->model = gd_model_new(test_registry(), (const gd_spec *const *)f->layers, NLAYERS, &in,
                            SEED, &err);
    if (!f->model)
        fprintf(stderr, "\n  model: %s\n", err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f->model);
    gd_train_config cfg = {
        .model = f->model, .loss = f->loss, .optimizer = f->opt, .schedule = f->sched,
        .regularizers = f->regs, .nregularizers = 1,
        .clip = plain ? GD_CLIP_NONE : GD_CLIP_NORM, .clip_value = 1.0,
        .train = f->ds, .epochs = EPOCHS, .batch = BATCH, .seed = SEED,
        .monitor_every = plain ? 0 : 3, .diverge_factor = 1e3,
    };
    f->tr = gd_trainer_new(&cfg, &err);
    if (!f->tr)
        fprintf(stderr, "\n  trainer: %s\n", err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f->tr);
    CU_ASSERT_EQUAL(gd_trainer_steps_per_epoch(f->tr), STEPS_PER_EPOCH);

    /* the run's settings and progress, every field away from its zero */
    gd_run_settings *rs = &f->rs;
    rs->name = "ckpt-test";
    rs->ckpt_path = "runs/ckpt-test.gdc";
    rs->ckpt_every = 5;
    rs->ckpt_every_epochs = true;
    rs->ckpt_keep = 1;
    rs->patience = 4;
    rs->min_delta = 1e-4;
    rs->restore_best = true;
    rs->has_validation = true;
    CU_ASSERT_EQUAL(gd_dataset_identity(f->ds, &rs->train_id, &err), GD_OK);
    CU_ASSERT_EQUAL(gd_dataset_identity(f->val, &rs->val_id, &err), GD_OK);
    rs->train_recipe = (unsigned char *)recipe;
    rs->train_recipe_len = sizeof recipe;
    rs->val_recipe = (unsigned char *)val_recipe;
    rs->val_recipe_len = sizeof val_recipe;
    f->hist[0] = (gd_epoch_record){ 1, 1.05, 1.01, 0.4, 0.05, 0.25, 0.01 };
    f->hist[1] = (gd_epoch_record){ 2, 0.93, NAN, NAN, 0.04, 0.5, 0.02 };
    gd_run_progress *p = &f->prog;
    p->epochs = f->hist;
    p->nepochs = 2;
    p->best = 1.01;
    p->best_epoch = 1;
    p->wait = 1;
    p->stopped = false;
    p->snapshot_len = gd_model_state_size(f->model);
    f->snapshot = malloc((size_t)p->snapshot_len * sizeof(float));
    CU_ASSERT_PTR_NOT_NULL_FATAL(f->snapshot);
    gd_model_copy_state(f->model, f->snapshot, true);
    f->snapshot[0] = -0.0f;   /* bits, not values, must come back */
    p->snapshot = f->snapshot;
}

static void fx_free(fixture *f)
{
    gd_trainer_free(f->tr);
    gd_model_free(f->model);
    for (int i = 0; i < NLAYERS; i++)
        gd_spec_free(f->layers[i]);
    gd_spec_free(f->loss);
    gd_spec_free(f->opt);
    gd_spec_free(f->sched);
    gd_spec_free(f->reg);
    gd_dataset_free(f->ds);
    gd_dataset_free(f->val);
    free(f->snapshot);
}

/* k steps of a trainer; the losses go to loss[step] when given. */
static void steps(gd_trainer *tr, int64_t k, double *loss)
{
    for (int64_t i = 0; i < k; i++) {
        gd_step_result r;
        gd_error err;
        gd_status st = gd_trainer_step(tr, &r, &err);
        if (st != GD_OK)
            fprintf(stderr, "\n  step: %s\n", err.msg);
        CU_ASSERT_EQUAL_FATAL(st, GD_OK);
        if (loss)
            loss[r.step] = r.loss;
    }
}

static void save(const fixture *f, const char *path, const char *reason)
{
    gd_error err;
    gd_status st = gd_checkpoint_save(path, f->tr, &f->rs, &f->prog, reason, &err);
    if (st != GD_OK)
        fprintf(stderr, "\n  save: %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(st, GD_OK);
}

/* The model's parameters and buffers, malloc'd. */
static float *state_of(gd_model *m)
{
    float *s = malloc((size_t)gd_model_state_size(m) * sizeof *s);
    gd_model_copy_state(m, s, true);
    return s;
}

static bool same_state(gd_model *a, gd_model *b)
{
    int64_t n = gd_model_state_size(a);
    if (n != gd_model_state_size(b))
        return false;
    float *sa = state_of(a), *sb = state_of(b);
    bool same = memcmp(sa, sb, (size_t)n * sizeof *sa) == 0;
    free(sa);
    free(sb);
    for (int i = 0; same && i < gd_model_layer_count(a); i++)
        same = gd_model_layer_at(a, i)->rng.key == gd_model_layer_at(b, i)->rng.key &&
               gd_model_layer_at(a, i)->rng.counter == gd_model_layer_at(b, i)->rng.counter;
    return same;
}

static bool same_bits(double a, double b) { return memcmp(&a, &b, sizeof a) == 0; }

static bool same_record(const gd_step_record *a, const gd_step_record *b, int nl)
{
    bool same = a->step == b->step && a->epoch == b->epoch && same_bits(a->loss, b->loss) &&
                same_bits(a->penalty, b->penalty) && same_bits(a->lr, b->lr) &&
                same_bits(a->grad_norm, b->grad_norm) && a->clipped == b->clipped &&
                same_bits(a->effective_lr, b->effective_lr);
    for (int j = 0; same && j < nl; j++) {
        const gd_layer_telemetry *x = &a->layers[j], *y = &b->layers[j];
        same = same_bits(x->grad_norm, y->grad_norm) && same_bits(x->param_norm, y->param_norm) &&
               same_bits(x->update_ratio, y->update_ratio) &&
               same_bits(x->act_mean, y->act_mean) && same_bits(x->act_std, y->act_std) &&
               same_bits(x->saturated, y->saturated) && same_bits(x->dead, y->dead);
    }
    return same;
}

static char *describe(const gd_spec *s, char *buf)
{
    return gd_spec_describe(s, buf, 512);
}

/* A model and trainer continuing a checkpoint's run on data ds, as gd.resume
 * does: specs and settings from the checkpoint, the schedule's horizon kept,
 * the optimizer's state kept. */
typedef struct resumed {
    gd_checkpoint *ck;
    gd_model *model;
    gd_trainer *tr;
} resumed;

static void resume(resumed *r, const char *path, const gd_dataset *ds, bool keep_optimizer)
{
    gd_error err;
    r->ck = gd_checkpoint_load(test_registry(), path, &err);
    if (!r->ck)
        fprintf(stderr, "\n  load: %s\n", err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r->ck);
    gd_checkpoint *ck = r->ck;
    r->model = gd_checkpoint_take_model(ck);
    CU_ASSERT_PTR_NULL(ck->model);
    gd_train_config cfg = {
        .model = r->model, .loss = ck->loss, .optimizer = ck->optimizer,
        .schedule = ck->schedule, .regularizers = (const gd_spec *const *)ck->regularizers,
        .nregularizers = ck->nregularizers, .clip = ck->clip, .clip_value = ck->clip_value,
        .train = ds, .epochs = ck->epochs, .batch = ck->batch, .seed = ck->seed,
        .monitor_every = ck->monitor_every, .horizon_epochs = ck->state.horizon_epochs,
        .diverge_factor = ck->diverge_factor,
        .drop_last = ck->drop_last,
    };
    r->tr = gd_trainer_new(&cfg, &err);
    if (!r->tr)
        fprintf(stderr, "\n  trainer: %s\n", err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r->tr);
    gd_status st = gd_trainer_set_state(r->tr, &ck->state, keep_optimizer, &err);
    if (st != GD_OK)
        fprintf(stderr, "\n  set_state: %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(st, GD_OK);
}

static void resumed_free(resumed *r)
{
    gd_trainer_free(r->tr);
    gd_model_free(r->model);
    gd_checkpoint_free(r->ck);
}

/* ---- round trip ---- */

static void test_checkpoint_round_trip(void)
{
    fixture f;
    fx_make(&f, "adam", false);
    steps(f.tr, 7, NULL);   /* epoch 2, 3 batches in; records at steps 0, 3, 6 */
    char p[512];
    save(&f, test_at(p, "rt.gdc"), "periodic");
    char tmp[520];
    snprintf(tmp, sizeof tmp, "%s.tmp", p);
    CU_ASSERT_EQUAL(access(tmp, F_OK), -1);
    gd_error err;
    gd_checkpoint *ck = gd_checkpoint_load(test_registry(), p, &err);
    if (!ck)
        fprintf(stderr, "\n  load: %s\n", err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ck);

    /* the container: magic, version 4 (a regularized run), eight sections
     * in order */
    size_t n;
    unsigned char *b = test_slurp(p, &n);
    static const unsigned char magic[8] = { 0x89, 'G', 'D', 'C', 0x0D, 0x0A, 0x1A, 0x0A };
    CU_ASSERT_EQUAL(memcmp(b, magic, 8), 0);
    CU_ASSERT_EQUAL(tc_get_le(b + 8, 4), 4);
    CU_ASSERT_EQUAL(ck->version, 4);
    tc_section sec[TC_MAX_SECTIONS];
    CU_ASSERT_EQUAL_FATAL(tc_sections(b, n, sec, TC_MAX_SECTIONS), 8);
    const char *order[] = { "META", "MODL", "RNGS", "CONF", "OPTM", "TRNR", "HIST", "STOP" };
    for (int i = 0; i < 8; i++)
        CU_ASSERT_STRING_EQUAL(sec[i].tag, order[i]);
    free(b);

    /* META: who wrote it, and every component (nested ones too) with its
     * plugin version */
    CU_ASSERT_STRING_EQUAL(ck->meta.gradus_version, GD_VERSION);
    CU_ASSERT_EQUAL(ck->meta.abi_major, GD_ABI_MAJOR);
    CU_ASSERT_EQUAL(ck->meta.abi_minor, GD_ABI_MINOR);
    CU_ASSERT_STRING_EQUAL(ck->meta.reason, "periodic");
    CU_ASSERT(ck->meta.written > 1600000000);
    const char *names[] = { "dense", "xavier_uniform", "he_uniform", "batchnorm", "relu",
                            "dropout", "cross_entropy", "adam", "warmup", "cosine", "l2" };
    int nnames = (int)(sizeof names / sizeof *names);
    CU_ASSERT_EQUAL(ck->meta.ncomponents, nnames);
    for (int k = 0; k < nnames; k++) {
        int found = 0;
        for (int i = 0; i < ck->meta.ncomponents; i++)
            if (!strcmp(ck->meta.comp[i].name, names[k])) {
                found++;
                CU_ASSERT_STRING_EQUAL(ck->meta.comp[i].version, "1.0");
                CU_ASSERT_STRING_EQUAL(ck->meta.comp[i].plugin, names[k]);
            }
        if (found != 1)
            fprintf(stderr, "\n  META names '%s' %d times\n", names[k], found);
        CU_ASSERT_EQUAL(found, 1);
    }

    /* specs: same components, same options */
    char da[512], db[512];
    CU_ASSERT_EQUAL_FATAL(gd_model_layer_count(ck->model), NLAYERS);
    for (int i = 0; i < NLAYERS; i++)
        CU_ASSERT_STRING_EQUAL(describe(f.layers[i], da),
                               describe(gd_model_layer_at(ck->model, i)->spec, db));
    CU_ASSERT_STRING_EQUAL(describe(f.loss, da), describe(ck->loss, db));
    CU_ASSERT_STRING_EQUAL(describe(f.opt, da), describe(ck->optimizer, db));
    CU_ASSERT_STRING_EQUAL(ck->optimizer_tree, "adam");
    CU_ASSERT_PTR_NOT_NULL_FATAL(ck->schedule);
    CU_ASSERT_STRING_EQUAL(describe(f.sched, da), describe(ck->schedule, db));
    CU_ASSERT_EQUAL_FATAL(ck->nregularizers, 1);
    CU_ASSERT_STRING_EQUAL(describe(f.reg, da), describe(ck->regularizers[0], db));

    /* the model: parameters, buffers, RNG streams, bit for bit */
    CU_ASSERT(same_state(f.model, ck->model));
    CU_ASSERT(gd_model_layer_at(ck->model, 3)->rng.counter > 0);   /* dropout drew masks */

    /* settings */
    CU_ASSERT_EQUAL(ck->clip, GD_CLIP_NORM);
    CU_ASSERT_EQUAL(ck->clip_value, 1.0);
    CU_ASSERT_EQUAL(ck->epochs, EPOCHS);
    CU_ASSERT_EQUAL(ck->batch, BATCH);
    CU_ASSERT_EQUAL(ck->seed, SEED);
    CU_ASSERT_EQUAL(ck->monitor_every, 3);
    const gd_run_settings *rs = &ck->run;
    CU_ASSERT_STRING_EQUAL(rs->name, "ckpt-test");
    CU_ASSERT_STRING_EQUAL(rs->ckpt_path, "runs/ckpt-test.gdc");
    CU_ASSERT_EQUAL(rs->ckpt_every, 5);
    CU_ASSERT(rs->ckpt_every_epochs);
    CU_ASSERT_EQUAL(rs->ckpt_keep, 1);
    CU_ASSERT_EQUAL(rs->patience, 4);
    CU_ASSERT_EQUAL(rs->min_delta, 1e-4);
    CU_ASSERT(rs->restore_best && rs->has_validation);
    CU_ASSERT_EQUAL(memcmp(&rs->train_id, &f.rs.train_id, sizeof rs->train_id), 0);
    CU_ASSERT_EQUAL(memcmp(&rs->val_id, &f.rs.val_id, sizeof rs->val_id), 0);
    CU_ASSERT_EQUAL(rs->train_id.size, NSAMPLES);
    CU_ASSERT_NOT_EQUAL(rs->train_id.crc, rs->val_id.crc);
    CU_ASSERT_EQUAL_FATAL(rs->train_recipe_len, sizeof recipe);
    CU_ASSERT_EQUAL(memcmp(rs->train_recipe, recipe, sizeof recipe), 0);
    CU_ASSERT_EQUAL_FATAL(rs->val_recipe_len, sizeof val_recipe);
    CU_ASSERT_EQUAL(memcmp(rs->val_recipe, val_recipe, sizeof val_recipe), 0);

    /* trainer state: counters, slots, scalars, records */
    gd_trainer_state want;
    gd_trainer_get_state(f.tr, &want);
    const gd_trainer_state *got = &ck->state;
    CU_ASSERT_EQUAL(got->step, 7);
    CU_ASSERT_EQUAL(got->epoch, 1);
    CU_ASSERT_EQUAL(got->pos, 3 * BATCH);
    CU_ASSERT_EQUAL(got->step, want.step);
    CU_ASSERT_EQUAL(got->epoch, want.epoch);
    CU_ASSERT_EQUAL(got->pos, want.pos);
    CU_ASSERT_EQUAL(got->epoch_seed, want.epoch_seed);
    CU_ASSERT_EQUAL(got->opt_step0, want.opt_step0);
    CU_ASSERT(same_bits(got->epoch_loss, want.epoch_loss));
    CU_ASSERT_EQUAL(got->epoch_samples, want.epoch_samples);
    CU_ASSERT(want.epoch_penalty > 0);
    CU_ASSERT(same_bits(got->epoch_penalty, want.epoch_penalty));
    CU_ASSERT_EQUAL(got->horizon_epochs, EPOCHS);
    /* the diverge check's settings and reference: step 0's loss */
    CU_ASSERT_EQUAL(ck->diverge_factor, 1e3);
    CU_ASSERT(isfinite(want.first_loss) && want.first_loss > 0);
    CU_ASSERT(same_bits(got->first_loss, want.first_loss));
    CU_ASSERT_EQUAL_FATAL(got->nslots, 2);
    CU_ASSERT_EQUAL_FATAL(got->nslots, want.nslots);
    CU_ASSERT_EQUAL_FATAL(got->slot_len, want.slot_len);
    CU_ASSERT_EQUAL_FATAL(got->nscalars, want.nscalars);
    for (int k = 0; k < got->nslots; k++)
        CU_ASSERT_EQUAL(memcmp(got->slots[k], want.slots[k],
                               (size_t)want.slot_len * sizeof(float)), 0);
    for (int k = 0; k < got->nscalars; k++)
        CU_ASSERT(same_bits(got->scalars[k], want.scalars[k]));
    CU_ASSERT_EQUAL_FATAL(got->nrecords, 3);
    CU_ASSERT_EQUAL_FATAL(got->nrecords, want.nrecords);
    CU_ASSERT_EQUAL_FATAL(got->nlayers, NLAYERS);
    for (int64_t i = 0; i < got->nrecords; i++)
        CU_ASSERT(same_record(&got->records[i], &want.records[i], NLAYERS));
    CU_ASSERT_EQUAL(got->records[2].step, 6);

    /* progress: history, early stopping, the snapshot */
    const gd_run_progress *pr = &ck->progress;
    CU_ASSERT_EQUAL_FATAL(pr->nepochs, 2);
    for (int i = 0; i < 2; i++) {
        const gd_epoch_record *x = &pr->epochs[i], *y = &f.hist[i];
        CU_ASSERT(x->epoch == y->epoch && same_bits(x->train_loss, y->train_loss) &&
                  same_bits(x->val_loss, y->val_loss) &&
                  same_bits(x->val_accuracy, y->val_accuracy) && same_bits(x->lr, y->lr) &&
                  same_bits(x->seconds, y->seconds) && same_bits(x->penalty, y->penalty));
    }
    CU_ASSERT_EQUAL(pr->best, 1.01);
    CU_ASSERT_EQUAL(pr->best_epoch, 1);
    CU_ASSERT_EQUAL(pr->wait, 1);
    CU_ASSERT(!pr->stopped);
    CU_ASSERT_EQUAL_FATAL(pr->snapshot_len, f.prog.snapshot_len);
    CU_ASSERT_EQUAL(memcmp(pr->snapshot, f.snapshot, (size_t)pr->snapshot_len * 4), 0);

    /* the model can be taken: the checkpoint then frees the rest only */
    gd_model *m = gd_checkpoint_take_model(ck);
    CU_ASSERT_PTR_NOT_NULL(m);
    CU_ASSERT_PTR_NULL(gd_checkpoint_take_model(ck));
    gd_checkpoint_free(ck);
    gd_model_free(m);

    /* a run without schedule, regularizers, recipes, records, snapshot */
    gd_error e2;
    gd_train_config cfg = { .model = f.model, .loss = f.loss, .optimizer = f.opt,
                            .train = f.ds, .epochs = 1, .batch = 0, .seed = 3 };
    gd_trainer *tr = gd_trainer_new(&cfg, &e2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(tr);
    gd_run_settings bare = { 0 };
    gd_run_progress none = { .best = INFINITY };
    CU_ASSERT_EQUAL(gd_checkpoint_save(p, tr, &bare, &none, "final", &e2), GD_OK);
    gd_trainer_free(tr);
    ck = gd_checkpoint_load(test_registry(), p, &e2);
    if (!ck)
        fprintf(stderr, "\n  load: %s\n", e2.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ck);
    CU_ASSERT_PTR_NULL(ck->schedule);
    CU_ASSERT_EQUAL(ck->nregularizers, 0);
    CU_ASSERT_EQUAL(ck->version, 2);   /* what a gradus before penalties and blocks wrote */
    CU_ASSERT_EQUAL(ck->state.epoch_penalty, 0);   /* known: no regularizers */
    CU_ASSERT_EQUAL(ck->run.train_recipe_len, 0);
    CU_ASSERT_PTR_NULL(ck->run.train_recipe);
    CU_ASSERT_EQUAL(ck->state.nrecords, 0);
    CU_ASSERT_EQUAL(ck->state.step, 0);
    CU_ASSERT_PTR_NULL(ck->progress.snapshot);
    CU_ASSERT(isinf(ck->progress.best));
    CU_ASSERT_EQUAL(ck->batch, 0);
    CU_ASSERT_STRING_EQUAL(ck->meta.reason, "final");
    gd_checkpoint_free(ck);
    unlink(p);
    fx_free(&f);
}

/* ---- continuation, bit for bit ---- */

/* Trainer A: all TOTAL steps. Trainer B: k steps, a checkpoint, then a new
 * model and trainer from the file run the rest. Same losses, parameters,
 * buffers, RNG streams, records. Returns whether all matched. */
static bool continues(const char *opt, bool plain, int64_t k)
{
    unsigned before = CU_get_number_of_failures();
    double la[TOTAL], lb[TOTAL];
    fixture a, b;
    fx_make(&a, opt, plain);
    steps(a.tr, TOTAL, la);
    CU_ASSERT(gd_trainer_finished(a.tr));

    fx_make(&b, opt, plain);
    steps(b.tr, k, lb);
    char p[512];
    save(&b, test_at(p, "cont.gdc"), "periodic");
    fx_free(&b);   /* nothing of B but the file is used again */
    resumed r;
    resume(&r, p, a.ds, true);
    CU_ASSERT_EQUAL(gd_trainer_steps_done(r.tr), k);
    CU_ASSERT_EQUAL(gd_trainer_epochs_done(r.tr), k / STEPS_PER_EPOCH);
    steps(r.tr, TOTAL - k, lb);
    CU_ASSERT(gd_trainer_finished(r.tr));

    for (int64_t s = 0; s < TOTAL; s++)
        CU_ASSERT(same_bits(la[s], lb[s]));
    int64_t np = gd_model_param_count(a.model);
    CU_ASSERT_EQUAL_FATAL(gd_model_param_count(r.model), np);
    CU_ASSERT_EQUAL(memcmp(gd_model_params(a.model), gd_model_params(r.model),
                           (size_t)np * sizeof(float)), 0);
    CU_ASSERT(same_state(a.model, r.model));
    CU_ASSERT(same_bits(gd_trainer_epoch_loss(a.tr), gd_trainer_epoch_loss(r.tr)));
    /* the penalty within it, over an epoch that spans the resume too */
    CU_ASSERT(gd_trainer_epoch_penalty(a.tr) > 0);
    CU_ASSERT(same_bits(gd_trainer_epoch_penalty(a.tr), gd_trainer_epoch_penalty(r.tr)));
    gd_trainer_state sa, sr;
    gd_trainer_get_state(a.tr, &sa);
    gd_trainer_get_state(r.tr, &sr);
    for (int s = 0; s < sa.nslots; s++)
        CU_ASSERT_EQUAL(memcmp(sa.slots[s], sr.slots[s], (size_t)sa.slot_len * sizeof(float)), 0);
    CU_ASSERT_EQUAL_FATAL(gd_trainer_record_count(a.tr), gd_trainer_record_count(r.tr));
    for (int64_t i = 0; i < gd_trainer_record_count(a.tr); i++)
        CU_ASSERT(same_record(gd_trainer_record(a.tr, i), gd_trainer_record(r.tr, i), NLAYERS));
    resumed_free(&r);
    fx_free(&a);
    unlink(p);
    bool ok = CU_get_number_of_failures() == before;
    if (!ok)
        fprintf(stderr, "\n  optimizer '%s'%s: continuation after %lld steps differs\n", opt,
                plain ? " (fused path)" : "", (long long)k);
    return ok;
}

static void test_checkpoint_continuation_every_optimizer(void)
{
    /* mid-epoch, at an epoch boundary, just before the end */
    const int64_t ks[] = { 6, STEPS_PER_EPOCH, TOTAL - 1 };
    gd_registry *reg = test_registry();
    int nopt = 0;
    for (int i = 0; i < gd_registry_count(reg); i++) {
        const gd_component *c = gd_registry_at(reg, i)->component;
        if (c->kind != GD_KIND_OPTIMIZER)
            continue;
        nopt++;
        for (size_t j = 0; j < sizeof ks / sizeof *ks; j++)
            for (int plain = 0; plain < 2; plain++)
                continues(c->name, plain, ks[j]);
    }
    /* sgd, momentum, nesterov, adagrad, rmsprop, adam, adamw at least */
    CU_ASSERT(nopt >= 7);
}

/* The comparison above has teeth: the same continuation with the
 * optimizer's state dropped does not match. */
static void test_checkpoint_continuation_needs_optimizer_state(void)
{
    fixture a, b;
    fx_make(&a, "adam", false);
    steps(a.tr, TOTAL, NULL);
    fx_make(&b, "adam", false);
    steps(b.tr, 6, NULL);
    char p[512];
    save(&b, test_at(p, "fresh.gdc"), "periodic");
    resumed r;
    resume(&r, p, a.ds, false);
    steps(r.tr, TOTAL - 6, NULL);
    CU_ASSERT_NOT_EQUAL(memcmp(gd_model_params(a.model), gd_model_params(r.model),
                               (size_t)gd_model_param_count(a.model) * sizeof(float)), 0);
    resumed_free(&r);
    fx_free(&a);
    fx_free(&b);
    unlink(p);
}

/* ---- refused files ---- */

/* A good checkpoint's bytes (adam, 7 steps, every field set), made once. */
static unsigned char *good;
static size_t ngood;

static unsigned char *good_copy(size_t *n)
{
    if (!good) {
        fixture f;
        fx_make(&f, "adam", false);
        steps(f.tr, 7, NULL);
        char p[512];
        save(&f, test_at(p, "good.gdc"), "periodic");
        good = test_slurp(p, &ngood);
        unlink(p);
        fx_free(&f);
    }
    unsigned char *b = malloc(ngood + 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    memcpy(b, good, ngood);
    *n = ngood;
    return b;
}

static const char *const NAME = "mem.gdc";

/* A one-line message naming the file, holding `fragment`. */
static bool message_ok(const gd_error *err, const char *fragment)
{
    size_t nl = strlen(NAME);
    return strncmp(err->msg, NAME, nl) == 0 && !strncmp(err->msg + nl, ": ", 2) &&
           strlen(err->msg) > nl + 2 && !strchr(err->msg, '\n') &&
           (!fragment || strstr(err->msg, fragment));
}

static void expect_refused_by(const gd_registry *reg, const unsigned char *b, size_t n,
                              bool verify, const char *fragment)
{
    gd_error err = { "" };
    gd_checkpoint *ck = gd_checkpoint_parse(reg, b, n, NAME, verify, &err);
    CU_ASSERT_PTR_NULL(ck);
    gd_checkpoint_free(ck);
    if (!message_ok(&err, fragment)) {
        fprintf(stderr, "\n  message \"%s\" lacks \"%s\"\n", err.msg, fragment);
        CU_FAIL("wrong message");
    }
}

static void expect_refused(const unsigned char *b, size_t n, const char *fragment)
{
    expect_refused_by(test_registry(), b, n, true, fragment);
}

static tc_section section(const unsigned char *b, size_t n, const char *tag)
{
    tc_section s;
    bool found = tc_find(b, n, tag, &s);
    CU_ASSERT_FATAL(found);
    return s;
}

static void test_checkpoint_not_a_checkpoint(void)
{
    size_t n;
    unsigned char *b = good_copy(&n);
    expect_refused(b, 0, "empty file, not a gradus checkpoint");
    const char text[] = "return { step = 3 }\n";
    expect_refused((const unsigned char *)text, sizeof text - 1,
                   "not a gradus checkpoint (bad magic)");
    b[3] = 'X';
    expect_refused(b, n, "not a gradus checkpoint (bad magic)");
    b[3] = 'C';
    /* through the file too: the path names it */
    char p[512];
    test_spit(test_at(p, "empty.gdc"), "", 0);
    gd_error err = { "" };
    CU_ASSERT_PTR_NULL(gd_checkpoint_load(test_registry(), p, &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, p));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "empty file, not a gradus checkpoint"));
    unlink(p);
    CU_ASSERT_PTR_NULL(gd_checkpoint_load(test_registry(), test_at(p, "missing.gdc"), &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "cannot open: No such file"));

    /* a model file given as a checkpoint says what it is */
    fixture f;
    fx_make(&f, "adam", false);
    CU_ASSERT_EQUAL_FATAL(gd_model_save(f.model, test_at(p, "model.gdm"), &err), GD_OK);
    size_t nm;
    unsigned char *m = test_slurp(p, &nm);
    expect_refused(m, nm, "not a checkpoint but a model: load it with gd.load_model");
    free(m);
    unlink(p);
    fx_free(&f);

    /* another format version */
    tc_put_le(b + 8, 5, 4);
    tc_fix_header_crc(b);
    expect_refused(b, n, "mem.gdc: unsupported format version 5 (this gradus reads versions 1 "
                   "to 4)");
    tc_put_le(b + 8, 0, 4);
    expect_refused(b, 12, "mem.gdc: unsupported format version 0 (this gradus reads versions 1 "
                   "to 4)");
    free(b);
}

/* The good file as a gradus before version 4 wrote it (version 2): without
 * the structure in MODL (a plain sequential of the 5 layers), the epoch's
 * penalty at the end of TRNR and each epoch's at the end of its HIST record. */
static unsigned char *version_2_copy(size_t *n)
{
    unsigned char *b = good_copy(n);
    unsigned char tree[4 + 6 * 5] = { 6, 0, 0, 0, 2, NLAYERS };   /* 6 nodes: the root, */
    for (int i = 0; i < NLAYERS; i++)
        tree[4 + 5 * (i + 1)] = 1;                                /* then 5 layers */
    long at = tc_find_in(b, *n, "MODL", tree, sizeof tree, 0);
    CU_ASSERT_FATAL(at > 0 && tc_find_in(b, *n, "MODL", tree, sizeof tree, (size_t)at + 1) < 0);
    CU_ASSERT_FATAL(tc_splice(&b, n, "MODL", (size_t)at, sizeof tree, "", 0));
    CU_ASSERT_FATAL(tc_splice(&b, n, "TRNR", section(b, *n, "TRNR").len - 8, 8, "", 0));
    CU_ASSERT_FATAL(tc_get_le(b + section(b, *n, "HIST").off, 8) == 2);
    for (size_t e = 2; e >= 1; e--)   /* u64 n, then records of 7 f64, the penalty last */
        CU_ASSERT_FATAL(tc_splice(&b, n, "HIST", 8 + 56 * e - 8, 8, "", 0));
    tc_put_le(b + 8, 2, 4);
    tc_fix_header_crc(b);
    return b;
}

/* A version 2 or 3 file of a regularized run, written before penalties
 * were saved: it loads with them unknown (NaN), not 0, and everything else
 * as written; a run continued from it does not know its epoch's penalty. */
static void test_checkpoint_reads_version_2_penalties_unknown(void)
{
    size_t n;
    unsigned char *b = version_2_copy(&n);
    gd_error err;
    gd_checkpoint *v2 = gd_checkpoint_parse(test_registry(), b, n, NAME, true, &err);
    if (!v2)
        fprintf(stderr, "\n  %s\n", err.msg);
    gd_checkpoint *v4 = gd_checkpoint_parse(test_registry(), good, ngood, NAME, true, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(v2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(v4);
    CU_ASSERT_EQUAL(v2->version, 2);
    CU_ASSERT_EQUAL(v4->version, 4);
    CU_ASSERT(same_state(v2->model, v4->model));
    CU_ASSERT(same_bits(v2->state.epoch_loss, v4->state.epoch_loss));
    CU_ASSERT(same_bits(v2->state.first_loss, v4->state.first_loss));
    CU_ASSERT(isnan(v2->state.epoch_penalty) && v4->state.epoch_penalty > 0);
    CU_ASSERT_EQUAL_FATAL(v2->progress.nepochs, 2);
    for (int i = 0; i < 2; i++) {
        CU_ASSERT(same_bits(v2->progress.epochs[i].train_loss, v4->progress.epochs[i].train_loss));
        CU_ASSERT(isnan(v2->progress.epochs[i].penalty));
        CU_ASSERT(v4->progress.epochs[i].penalty > 0);
    }
    CU_ASSERT_EQUAL(v2->state.nrecords, v4->state.nrecords);
    gd_checkpoint_free(v2);
    gd_checkpoint_free(v4);

    /* continued at step 7: the epoch it is in has no known penalty; the
     * next has */
    fixture f;
    fx_make(&f, "adam", false);
    char p[512];
    test_spit(test_at(p, "v2.gdc"), b, n);
    resumed r;
    resume(&r, p, f.ds, true);
    steps(r.tr, 1, NULL);
    CU_ASSERT_EQUAL(gd_trainer_epochs_done(r.tr), 2);
    CU_ASSERT(isnan(gd_trainer_epoch_penalty(r.tr)));
    CU_ASSERT(isfinite(gd_trainer_epoch_loss(r.tr)));
    steps(r.tr, 1, NULL);
    CU_ASSERT(gd_trainer_epoch_penalty(r.tr) > 0);
    resumed_free(&r);
    fx_free(&f);
    unlink(p);
    free(b);
}

/* A version 1 file, written before the diverge check: the version 2 bytes
 * without the factor at the end of CONF and the first step's loss at the
 * end of TRNR. It still loads, with the check off (no reference loss), and
 * everything else as written. */
static void test_checkpoint_reads_version_1(void)
{
    size_t n;
    unsigned char *b = version_2_copy(&n);
    CU_ASSERT_FATAL(tc_splice(&b, &n, "CONF", section(b, n, "CONF").len - 8, 8, "", 0));
    CU_ASSERT_FATAL(tc_splice(&b, &n, "TRNR", section(b, n, "TRNR").len - 8, 8, "", 0));
    /* still marked version 2, the cut fields are missed */
    expect_refused(b, n, "mem.gdc: malformed section CONF: the diverge factor runs past its "
                   "end");
    tc_put_le(b + 8, 1, 4);
    tc_fix_header_crc(b);
    gd_error err;
    gd_checkpoint *v1 = gd_checkpoint_parse(test_registry(), b, n, NAME, true, &err);
    gd_checkpoint *v2 = gd_checkpoint_parse(test_registry(), good, ngood, NAME, true, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(v1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(v2);
    CU_ASSERT_EQUAL(v1->version, 1);
    CU_ASSERT_EQUAL(v1->diverge_factor, 0);
    CU_ASSERT(isnan(v1->state.first_loss));
    CU_ASSERT_EQUAL(v2->diverge_factor, 1e3);
    CU_ASSERT(v2->state.first_loss > 0);
    CU_ASSERT_EQUAL(v1->state.step, v2->state.step);
    CU_ASSERT_EQUAL(v1->state.pos, v2->state.pos);
    CU_ASSERT(same_bits(v1->state.epoch_loss, v2->state.epoch_loss));
    CU_ASSERT_EQUAL(v1->state.nrecords, v2->state.nrecords);
    CU_ASSERT(same_state(v1->model, v2->model));
    gd_checkpoint_free(v1);
    gd_checkpoint_free(v2);
    free(b);
}

static void test_checkpoint_truncated(void)
{
    size_t n;
    unsigned char *b = good_copy(&n);
    tc_section s[TC_MAX_SECTIONS];
    int ns = tc_sections(b, n, s, TC_MAX_SECTIONS);
    CU_ASSERT_EQUAL_FATAL(ns, 8);
    char want[160];
    /* every section boundary: before its tag, after its tag and length,
     * before its CRC, inside its CRC */
    for (int i = 0; i < ns; i++) {
        snprintf(want, sizeof want, "truncated after %.10s (%zu bytes; section %d of 8 is "
                 "missing)", i ? s[i - 1].tag : "the header", s[i].head, i + 1);
        expect_refused(b, s[i].head, want);
        snprintf(want, sizeof want, "truncated after %.10s (%zu bytes; section %d of 8 is "
                 "missing)", i ? s[i - 1].tag : "the header", s[i].head + 11, i + 1);
        expect_refused(b, s[i].head + 11, want);
        const size_t cuts[] = { s[i].off, s[i].off + s[i].len, s[i].off + s[i].len + 3 };
        for (size_t k = 0; k < 3; k++) {
            snprintf(want, sizeof want, "truncated in section %.4s (%zu bytes", s[i].tag, cuts[k]);
            expect_refused(b, cuts[k], want);
        }
    }
    expect_refused(b, 20, "truncated (20 bytes, shorter than the 32-byte header)");
    /* 200 random cuts */
    gd_rng rng = gd_rng_stream(2024, 1);
    for (int k = 0; k < 200; k++) {
        size_t cut = 1 + (size_t)gd_rng_below(&rng, n - 1);
        expect_refused(b, cut, "truncated");
    }
    /* a cut file on disk */
    char p[512];
    test_spit(test_at(p, "cut.gdc"), b, n / 2);
    gd_error err = { "" };
    CU_ASSERT_PTR_NULL(gd_checkpoint_load(test_registry(), p, &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, p));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "truncated"));
    unlink(p);
    free(b);
}

/* Single flipped bytes anywhere: the CRCs catch every one. */
static void test_checkpoint_corrupt(void)
{
    size_t n;
    unsigned char *b = good_copy(&n);
    tc_section modl = section(b, n, "MODL");
    b[modl.off + modl.len / 2] ^= 0x04;
    expect_refused(b, n, "corrupt section MODL (CRC mismatch)");
    b[modl.off + modl.len / 2] ^= 0x04;
    b[29] ^= 0x80;
    expect_refused(b, n, "corrupt header (CRC mismatch)");
    b[29] ^= 0x80;
    gd_rng rng = gd_rng_stream(2024, 2);
    static const char *const ok[] = { "corrupt", "truncated", "malformed", "bad magic",
                                      "unsupported", "not a checkpoint but a model" };
    for (int k = 0; k < 300; k++) {
        size_t at_ = (size_t)gd_rng_below(&rng, n);
        unsigned char mask = (unsigned char)(1 + gd_rng_below(&rng, 255));
        b[at_] ^= mask;
        gd_error err = { "" };
        gd_checkpoint *ck = gd_checkpoint_parse(test_registry(), b, n, NAME, true, &err);
        CU_ASSERT_PTR_NULL(ck);
        gd_checkpoint_free(ck);
        bool known = false;
        for (size_t j = 0; j < sizeof ok / sizeof *ok; j++)
            known |= strstr(err.msg, ok[j]) != NULL;
        if (!message_ok(&err, NULL) || !known) {
            fprintf(stderr, "\n  byte %zu ^ %02x: \"%s\"\n", at_, mask, err.msg);
            CU_FAIL("flipped byte not refused as corrupt");
        }
        b[at_] ^= mask;
    }
    /* and the bytes are good again */
    gd_error err;
    gd_checkpoint *ck = gd_checkpoint_parse(test_registry(), b, n, NAME, true, &err);
    CU_ASSERT_PTR_NOT_NULL(ck);
    gd_checkpoint_free(ck);
    free(b);
}

static void test_checkpoint_missing_plugin(void)
{
    size_t n;
    unsigned char *b = good_copy(&n);
    gd_registry *reg = test_registry_without(GD_KIND_OPTIMIZER, "adam");
    expect_refused_by(reg, b, n, true, "needs optimizer 'adam' (plugin adam 1.0, adam.so), "
                      "which no loaded plugin provides");
    gd_registry_free(reg);
    /* a nested component: warmup's `after` */
    reg = test_registry_without(GD_KIND_SCHEDULER, "cosine");
    expect_refused_by(reg, b, n, true, "needs scheduler 'cosine' (plugin cosine 1.0");
    gd_registry_free(reg);
    free(b);
}

/* META says another version of adam's plugin wrote the file. */
static void test_checkpoint_plugin_version(void)
{
    size_t n;
    unsigned char *b = good_copy(&n);
    static const unsigned char entry[] = { GD_KIND_OPTIMIZER, 4, 0, 0, 0, 'a', 'd', 'a', 'm',
                                           4, 0, 0, 0, 'a', 'd', 'a', 'm',
                                           3, 0, 0, 0, '1', '.', '0' };
    long e = tc_find_in(b, n, "META", entry, sizeof entry, 0);
    CU_ASSERT_FATAL(e >= 0);
    CU_ASSERT_FATAL(tc_patch(b, n, "META", (size_t)e + sizeof entry - 3, "0.5", 3));
    expect_refused(b, n, "optimizer 'adam' was written by plugin adam 0.5; the loaded one "
                   "(adam.so) is version 1.0");
    /* a longer version string: the section's length follows */
    static const unsigned char v[] = { 5, 0, 0, 0, '1', '.', '0', '.', '1' };
    CU_ASSERT_FATAL(tc_splice(&b, &n, "META", (size_t)e + sizeof entry - 7, 7, v, sizeof v));
    expect_refused(b, n, "optimizer 'adam' was written by plugin adam 1.0.1; the loaded one "
                   "(adam.so) is version 1.0");
    /* a name holding control bytes: quoted, the message stays one line */
    CU_ASSERT_FATAL(tc_patch(b, n, "META", (size_t)e + 7, "\n\033", 2));
    expect_refused(b, n, "needs optimizer 'ad?" "?' (plugin adam 1.0.1, adam.so), which no "
                   "loaded plugin provides");
    free(b);
}

/* Crafted files whose CRCs are right but whose content is not. */
/* A checkpoint written before CONF ended with drop_last, and before MODL
 * ended with the class labels and the loss, still loads. */
static void test_checkpoint_older_tails_load(void)
{
    size_t n;
    unsigned char *b = good_copy(&n);
    tc_section conf, modl;
    CU_ASSERT_FATAL(tc_find(b, n, "CONF", &conf) && tc_find(b, n, "MODL", &modl));
    CU_ASSERT_EQUAL_FATAL(b[conf.off + conf.len - 1], 0);           /* drop_last false */
    CU_ASSERT_FATAL(tc_splice(&b, &n, "CONF", conf.len - 1, 1, NULL, 0));
    CU_ASSERT_FATAL(tc_find(b, n, "MODL", &modl));
    /* this model has no labels nor loss of its own: the tail is u32 0, u8 0 */
    CU_ASSERT_FATAL(memcmp(b + modl.off + modl.len - 5, "\0\0\0\0\0", 5) == 0);
    CU_ASSERT_FATAL(tc_splice(&b, &n, "MODL", modl.len - 5, 5, NULL, 0));
    gd_error err = { "" };
    gd_checkpoint *ck = gd_checkpoint_parse(test_registry(), b, n, NAME, true, &err);
    if (!ck)
        fprintf(stderr, "\n  %s\n", err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ck);
    CU_ASSERT(!ck->drop_last);
    CU_ASSERT_PTR_NULL(gd_model_loss(ck->model));
    gd_checkpoint_free(ck);
    free(b);
}

static void test_checkpoint_crafted(void)
{
    size_t n;
    unsigned char *b = good_copy(&n);
    unsigned char le[8];

    /* dense1's units 16 -> 12: its weight in the file no longer fits */
    long u = tc_find_in(b, n, "MODL", "units", 5, 0);
    CU_ASSERT_FATAL(u >= 0);
    tc_put_le(le, 12, 8);
    CU_ASSERT_FATAL(tc_patch(b, n, "MODL", (size_t)u + 6, le, 8));
    expect_refused(b, n, "layer 1 (dense1): parameter 'weight' has 32 values in the file, the "
                   "model has 24");
    tc_put_le(le, 1u << 30, 8);
    CU_ASSERT_FATAL(tc_patch(b, n, "MODL", (size_t)u + 6, le, 8));
    expect_refused(b, n, "malformed section MODL: layer 1 (dense) has more values than the "
                   "section holds");
    free(b);

    /* OPTM: adam has 2 slots, the file says 1 (then 3) */
    b = good_copy(&n);
    tc_put_le(le, 1, 4);
    CU_ASSERT_FATAL(tc_patch(b, n, "OPTM", 0, le, 4));
    expect_refused(b, n, "malformed section OPTM: 1 slots of");
    expect_refused(b, n, "optimizer 'adam' on");
    tc_put_le(le, 3, 4);
    CU_ASSERT_FATAL(tc_patch(b, n, "OPTM", 0, le, 4));
    expect_refused(b, n, "malformed section OPTM: 3 slots of");
    /* the slot length not the model's parameter count */
    tc_put_le(le, 2, 4);
    CU_ASSERT_FATAL(tc_patch(b, n, "OPTM", 0, le, 4));
    tc_section optm = section(b, n, "OPTM");
    uint64_t len = tc_get_le(b + optm.off + 8, 8);
    tc_put_le(le, len - 1, 8);
    CU_ASSERT_FATAL(tc_patch(b, n, "OPTM", 8, le, 8));
    expect_refused(b, n, "malformed section OPTM: 2 slots of");
    free(b);

    /* RNGS for another number of layers */
    b = good_copy(&n);
    tc_put_le(le, 4, 4);
    CU_ASSERT_FATAL(tc_patch(b, n, "RNGS", 0, le, 4));
    expect_refused(b, n, "malformed section RNGS: 4 streams for 5 layers");
    free(b);

    /* sections out of order: a tag renamed */
    b = good_copy(&n);
    tc_section trnr = section(b, n, "TRNR");
    memcpy(b + trnr.head, "TRNX", 4);
    tc_fix_section_crc(b, &trnr);
    expect_refused(b, n, "malformed: section 6 is TRNX, expected TRNR");
    free(b);

    /* TRNR: past the run's epochs */
    b = good_copy(&n);
    tc_put_le(le, EPOCHS + 1, 8);
    CU_ASSERT_FATAL(tc_patch(b, n, "TRNR", 8, le, 8));
    expect_refused(b, n, "malformed section TRNR");
    free(b);

    /* trailing bytes inside a section */
    b = good_copy(&n);
    CU_ASSERT_FATAL(tc_splice(&b, &n, "STOP", section(b, n, "STOP").len, 0, "xy", 2));
    expect_refused(b, n, "malformed section STOP: 2 unexpected bytes at its end");
    free(b);

    /* the loss slot holding an optimizer: the loss's spec (up to adam's,
     * which follows it) replaced by sgd{} */
    b = good_copy(&n);
    static const unsigned char adam[] = { GD_KIND_OPTIMIZER, 4, 0, 0, 0, 'a', 'd', 'a', 'm' };
    long o = tc_find_in(b, n, "CONF", adam, sizeof adam, 0);
    CU_ASSERT_FATAL(o > 0);
    static const unsigned char sgd[] = { GD_KIND_OPTIMIZER, 3, 0, 0, 0, 's', 'g', 'd',
                                         0, 0, 0, 0 };
    CU_ASSERT_FATAL(tc_splice(&b, &n, "CONF", 0, (size_t)o, sgd, sizeof sgd));
    expect_refused(b, n, "malformed section CONF: the loss is optimizer 'sgd'");
    free(b);
}

/* A checkpoint's run lengths reach gd_trainer_new as they are (the epoch
 * count up to 2^62, the schedule's horizon up to 2^61): a resumed trainer
 * must refuse those whose step counts overflow, not compute them. */
static void test_checkpoint_huge_run(void)
{
    size_t n;
    unsigned char *b = good_copy(&n);
    /* CONF: ... u64 epochs, u64 batch, u64 seed, u64 monitor_every ... */
    unsigned char run[24];
    tc_put_le(run, EPOCHS, 8);
    tc_put_le(run + 8, BATCH, 8);
    tc_put_le(run + 16, SEED, 8);
    long e = tc_find_in(b, n, "CONF", run, sizeof run, 0);
    CU_ASSERT_FATAL(e > 0);
    unsigned char le[8];
    tc_put_le(le, (uint64_t)INT64_MAX / 2, 8);
    CU_ASSERT_FATAL(tc_patch(b, n, "CONF", (size_t)e, le, 8));
    tc_put_le(le, 0, 8);   /* no telemetry: no records to size */
    CU_ASSERT_FATAL(tc_patch(b, n, "CONF", (size_t)e + 24, le, 8));
    gd_error err;
    gd_dataset *ds = gd_synthetic_spirals(NSAMPLES, 3, 0.1, 3, &err);
    for (int horizon = 0; horizon < 2; horizon++) {
        if (horizon) {
            /* TRNR: step, epoch, pos, seed, opt_step0, loss, samples, horizon */
            tc_put_le(le, (uint64_t)INT64_MAX / 4, 8);
            CU_ASSERT_FATAL(tc_patch(b, n, "TRNR", 56, le, 8));
            tc_put_le(le, EPOCHS, 8);
            CU_ASSERT_FATAL(tc_patch(b, n, "CONF", (size_t)e, le, 8));
        }
        gd_checkpoint *ck = gd_checkpoint_parse(test_registry(), b, n, NAME, true, &err);
        if (!ck)
            fprintf(stderr, "\n  parse: %s\n", err.msg);
        CU_ASSERT_PTR_NOT_NULL_FATAL(ck);
        CU_ASSERT_EQUAL(horizon ? ck->state.horizon_epochs : ck->epochs,
                        horizon ? INT64_MAX / 4 : INT64_MAX / 2);
        gd_train_config cfg = {
            .model = ck->model, .loss = ck->loss, .optimizer = ck->optimizer,
            .schedule = ck->schedule, .regularizers = (const gd_spec *const *)ck->regularizers,
            .nregularizers = ck->nregularizers, .clip = ck->clip, .clip_value = ck->clip_value,
            .train = ds, .epochs = ck->epochs, .batch = ck->batch, .seed = ck->seed,
            .monitor_every = ck->monitor_every, .horizon_epochs = ck->state.horizon_epochs,
        };
        gd_trainer *tr = gd_trainer_new(&cfg, &err);
        CU_ASSERT_PTR_NULL(tr);
        if (!strstr(err.msg, "train: ") || !strstr(err.msg, "too long")) {
            fprintf(stderr, "\n  message \"%s\"\n", tr ? "(accepted)" : err.msg);
            CU_FAIL("an overflowing run was not refused");
        }
        gd_trainer_free(tr);
        gd_checkpoint_free(ck);
    }
    gd_dataset_free(ds);
    free(b);
}

/* ---- the fuzz loop ---- */

enum { FUZZ_FILES = 20000 };

/* One mutation of the good bytes into buf (room for n + 64); returns the
 * new length. *verify: whether to check CRCs when parsing. */
static size_t mutate(gd_rng *g, const unsigned char *src, size_t n, unsigned char *buf,
                     bool *verify, int *kind)
{
    memcpy(buf, src, n);
    size_t m = n;
    *verify = true;
    *kind = (int)gd_rng_below(g, 8);
    size_t pos = (size_t)gd_rng_below(g, n);
    switch (*kind) {
    case 0:   /* truncation */
        return (size_t)gd_rng_below(g, n);
    case 1: { /* bit flips */
        int k = 1 + (int)gd_rng_below(g, 4);
        for (int i = 0; i < k; i++)
            buf[gd_rng_below(g, n)] ^= (unsigned char)(1u << gd_rng_below(g, 8));
        return m;
    }
    case 2: { /* byte overwrites */
        int k = 1 + (int)gd_rng_below(g, 8);
        for (int i = 0; i < k; i++)
            buf[gd_rng_below(g, n)] = (unsigned char)gd_rng_u64(g);
        return m;
    }
    case 3: { /* inserted bytes */
        size_t k = 1 + (size_t)gd_rng_below(g, 16);
        memmove(buf + pos + k, buf + pos, n - pos);
        for (size_t i = 0; i < k; i++)
            buf[pos + i] = (unsigned char)gd_rng_u64(g);
        return n + k;
    }
    case 4: { /* deleted bytes */
        size_t k = 1 + (size_t)gd_rng_below(g, 16);
        if (k > n - pos)
            k = n - pos;
        memmove(buf + pos, buf + pos + k, n - pos - k);
        return n - k;
    }
    default: { /* 5-7: inside one section's payload, then its CRC fixed (5, 6) or not
                * checked (7), so the decoders behind the CRCs see the damage */
        tc_section s[TC_MAX_SECTIONS];
        int ns = tc_sections(buf, n, s, TC_MAX_SECTIONS);
        const tc_section *t = &s[gd_rng_below(g, (uint64_t)ns)];
        if (t->len == 0)
            return m;
        /* small sections and the specs at MODL's start matter more than floats */
        size_t span = t->len < 256 || gd_rng_below(g, 2) ? t->len : 256;
        size_t off = t->off + (size_t)gd_rng_below(g, span);
        static const unsigned char interesting[] = { 0, 1, 2, 0x7f, 0x80, 0xff, 0xfe, 0x10 };
        int k = 1 + (int)gd_rng_below(g, 3);
        for (int i = 0; i < k && off + (size_t)i < t->off + t->len; i++) {
            uint64_t how = gd_rng_below(g, 3);
            unsigned char *x = &buf[off + (size_t)i];
            *x = how == 0 ? interesting[gd_rng_below(g, sizeof interesting)]
               : how == 1 ? (unsigned char)(*x ^ (1u << gd_rng_below(g, 8)))
                          : (unsigned char)gd_rng_u64(g);
        }
        if (*kind == 6 && gd_rng_below(g, 2)) {
            /* an inserted or deleted byte inside the payload, lengths kept right */
            size_t rel = off - t->off;
            unsigned char *p = malloc(n);
            memcpy(p, buf, n);
            size_t pn = n;
            unsigned char ins = (unsigned char)gd_rng_u64(g);
            bool done = gd_rng_below(g, 2) ? tc_splice(&p, &pn, t->tag, rel, 0, &ins, 1)
                                           : tc_splice(&p, &pn, t->tag, rel, 1, NULL, 0);
            if (done && pn <= n + 64) {
                memcpy(buf, p, pn);
                m = pn;
            }
            free(p);
        }
        if (*kind == 7)
            *verify = false;
        else
            tc_fix_all_crcs(buf, m);
        return m;
    }
    }
}

/* Use what a mutated file gave: a trainer continuing it must either refuse
 * or take a step, never crash. */
static void use(gd_checkpoint *ck, const gd_dataset *ds)
{
    gd_error err;
    /* gd_trainer_new sizes the telemetry records of the whole run up front:
     * a damaged epoch count asks for terabytes (ENOMEM, but an abort under
     * ASan). Long runs without telemetry are still tried. */
    if (ck->monitor_every > 0 && ck->epochs > 1000)
        return;
    gd_model *m = gd_checkpoint_take_model(ck);
    gd_train_config cfg = {
        .model = m, .loss = ck->loss, .optimizer = ck->optimizer, .schedule = ck->schedule,
        .regularizers = (const gd_spec *const *)ck->regularizers,
        .nregularizers = ck->nregularizers, .clip = ck->clip, .clip_value = ck->clip_value,
        .train = ds, .epochs = ck->epochs, .batch = ck->batch, .seed = ck->seed,
        .monitor_every = ck->monitor_every, .horizon_epochs = ck->state.horizon_epochs,
        .diverge_factor = ck->diverge_factor,
        .drop_last = ck->drop_last,
    };
    gd_trainer *tr = gd_trainer_new(&cfg, &err);
    if (tr && gd_trainer_set_state(tr, &ck->state, true, &err) == GD_OK &&
        !gd_trainer_finished(tr)) {
        gd_step_result r;
        gd_trainer_step(tr, &r, &err);
    }
    gd_trainer_free(tr);
    gd_model_free(m);
}

static void test_checkpoint_fuzz(void)
{
    size_t n;
    unsigned char *src = good_copy(&n);
    unsigned char *buf = malloc(n + 64);
    gd_error err;
    gd_dataset *ds = gd_synthetic_spirals(NSAMPLES, 3, 0.1, 3, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ds);
    gd_rng g = gd_rng_stream(0x66757a7aULL, 7);   /* fixed: the same files every run */
    int refused[8] = { 0 }, loaded[8] = { 0 }, unchanged[8] = { 0 };
    unsigned before = CU_get_number_of_failures();
    double t0 = gd_clock_now();
    for (int i = 0; i < FUZZ_FILES; i++) {
        bool verify;
        int kind;
        size_t m = mutate(&g, src, n, buf, &verify, &kind);
        gd_error e = { "" };
        unchanged[kind] += m == n && memcmp(buf, src, n) == 0;
        gd_checkpoint *ck = gd_checkpoint_parse(test_registry(), buf, m, NAME, verify, &e);
        if (ck) {
            loaded[kind]++;
            /* a CRC-checked file loads only when the mutation changed nothing */
            if (verify && kind < 5 && (m != n || memcmp(buf, src, n) != 0)) {
                fprintf(stderr, "\n  file %d (mutation %d): damaged bytes loaded\n", i, kind);
                CU_FAIL("a damaged file passed the CRCs");
            }
            use(ck, ds);
            gd_checkpoint_free(ck);
        } else {
            refused[kind]++;
            if (!message_ok(&e, NULL)) {
                fprintf(stderr, "\n  file %d (mutation %d): message \"%s\"\n", i, kind, e.msg);
                CU_FAIL("a refusal without a proper message");
            }
        }
        if (CU_get_number_of_failures() > before + 5)
            break;
    }
    double dt = gd_clock_now() - t0;
    int nref = 0, nload = 0;
    for (int k = 0; k < 8; k++) {
        nref += refused[k];
        nload += loaded[k];
    }
    fprintf(stderr, "\n  fuzz: %d files in %.2f s: %d refused, %d loaded (by mutation: ",
            nref + nload, dt, nref, nload);
    for (int k = 0; k < 8; k++)
        fprintf(stderr, "%s%d/%d", k ? " " : "", refused[k], loaded[k]);
    fprintf(stderr, ")\n");
    /* the CRCs decide the raw mutations (0-4): exactly the files a mutation
     * left unchanged load, and every kind was refused many times */
    for (int k = 0; k < 5; k++)
        CU_ASSERT_EQUAL(loaded[k], unchanged[k]);
    for (int k = 0; k < 8; k++)
        CU_ASSERT(refused[k] > 100);
    /* the decoders behind the CRCs were reached: crafted files (5-7) both
     * loaded (damage a decoder accepts, such as a changed float) and were
     * refused */
    CU_ASSERT(loaded[5] + loaded[6] + loaded[7] > 100);
    gd_dataset_free(ds);
    free(buf);
    free(src);
}

/* ---- atomic writes ---- */

/* The temporary file a writer of path made ("<path>.tmp-<pid>-<n>") in
 * buf, or false when there is none. */
static bool temp_of(const char *path, char *buf, size_t cap)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    *slash = 0;
    size_t bl = strlen(slash + 1);
    DIR *d = opendir(dir);
    struct dirent *e;
    bool found = false;
    while (d && !found && (e = readdir(d)))
        if (strncmp(e->d_name, slash + 1, bl) == 0 && strncmp(e->d_name + bl, ".tmp-", 5) == 0)
            found = (size_t)snprintf(buf, cap, "%s/%s", dir, e->d_name) < cap;
    if (d)
        closedir(d);
    return found;
}

/* A writer killed after N bytes of its temporary file leaves the old file
 * whole; the next run's writer (holding the path's lock) removes the
 * leftover. */
static void test_checkpoint_killed_mid_write(void)
{
    fixture f;
    fx_make(&f, "adam", false);
    steps(f.tr, 2, NULL);
    char p[512], tmp[600] = "";
    save(&f, test_at(p, "atomic.gdc"), "periodic");
    size_t nold;
    unsigned char *old = test_slurp(p, &nold);
    steps(f.tr, 3, NULL);   /* the new checkpoint differs */
    const size_t stall = 1000;
    CU_ASSERT_FATAL(stall < nold);
    fflush(NULL);
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        char v[32];
        snprintf(v, sizeof v, "%zu", stall);
        setenv("GRADUS_TEST_STALL_WRITE", v, 1);
        gd_error err;
        gd_checkpoint_save(p, f.tr, &f.rs, &f.prog, "periodic", &err);
        _exit(3);   /* not reached: the writer stalls for good */
    }
    /* wait for the stall: no timing assert, only a bound against a hang */
    bool reached = false;
    for (int i = 0; i < 30000 && !reached; i++) {
        reached = temp_of(p, tmp, sizeof tmp) && file_size(tmp) == (off_t)stall;
        if (!reached)
            usleep(1000);
    }
    CU_ASSERT(reached);
    kill(pid, SIGKILL);
    int status = 0;
    CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
    CU_ASSERT(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    CU_ASSERT_EQUAL(file_size(tmp), (off_t)stall);   /* the kill landed mid-write */

    size_t nnow;
    unsigned char *now_ = test_slurp(p, &nnow);
    CU_ASSERT(nnow == nold && memcmp(now_, old, nold) == 0);
    free(now_);
    gd_error err;
    gd_checkpoint *ck = gd_checkpoint_load(test_registry(), p, &err);
    CU_ASSERT_PTR_NOT_NULL(ck);
    if (ck)
        CU_ASSERT_EQUAL(ck->state.step, 2);
    gd_checkpoint_free(ck);
    /* the partial file is no checkpoint */
    ck = gd_checkpoint_load(test_registry(), tmp, &err);
    CU_ASSERT_PTR_NULL(ck);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "truncated"));
    /* and the next save goes through; the leftover goes with the stale
     * temporaries the lock holder removes */
    save(&f, p, "periodic");
    CU_ASSERT_EQUAL(access(tmp, F_OK), 0);
    gd_remove_stale_temps(p);
    CU_ASSERT_EQUAL(access(tmp, F_OK), -1);
    ck = gd_checkpoint_load(test_registry(), p, &err);
    CU_ASSERT_PTR_NOT_NULL(ck);
    if (ck)
        CU_ASSERT_EQUAL(ck->state.step, 5);
    gd_checkpoint_free(ck);
    unlink(p);
    free(old);
    fx_free(&f);
}

/* keep = 3: path, path.1, path.2 hold the last three saves, newest first. */
static void test_checkpoint_keep_rotation(void)
{
    fixture f;
    fx_make(&f, "adam", false);
    f.rs.ckpt_keep = 3;
    char p[512], q[520];
    test_at(p, "keep.gdc");
    for (int k = 1; k <= 4; k++) {
        steps(f.tr, 1, NULL);
        save(&f, p, "periodic");
    }
    const int64_t want[] = { 4, 3, 2 };
    for (int k = 0; k < 3; k++) {
        if (k)
            snprintf(q, sizeof q, "%s.%d", p, k);
        else
            snprintf(q, sizeof q, "%s", p);
        gd_error err;
        gd_checkpoint *ck = gd_checkpoint_load(test_registry(), q, &err);
        if (!ck)
            fprintf(stderr, "\n  %s: %s\n", q, err.msg);
        CU_ASSERT_PTR_NOT_NULL(ck);
        if (ck) {
            CU_ASSERT_EQUAL(ck->state.step, want[k]);
            CU_ASSERT_EQUAL(ck->run.ckpt_keep, 3);
        }
        gd_checkpoint_free(ck);
        unlink(q);
    }
    snprintf(q, sizeof q, "%s.3", p);
    CU_ASSERT_EQUAL(access(q, F_OK), -1);
    snprintf(q, sizeof q, "%s.tmp", p);
    CU_ASSERT_EQUAL(access(q, F_OK), -1);
    fx_free(&f);
}

/* ---- gd_trainer_set_state refuses what does not fit ---- */

static void expect_set_state_refused(fixture *f, const gd_trainer_state *st, bool keep,
                                     const char *fragment)
{
    int64_t np = gd_model_param_count(f->model);
    float *before = state_of(f->model);
    gd_trainer_state was;
    gd_trainer_get_state(f->tr, &was);
    float *slot0 = malloc((size_t)np * sizeof(float));
    memcpy(slot0, was.slots[0], (size_t)np * sizeof(float));
    int64_t nrec = gd_trainer_record_count(f->tr);
    gd_error err = { "" };
    CU_ASSERT_EQUAL(gd_trainer_set_state(f->tr, st, keep, &err), GD_EINVAL);
    if (!strstr(err.msg, fragment)) {
        fprintf(stderr, "\n  message \"%s\" lacks \"%s\"\n", err.msg, fragment);
        CU_FAIL("wrong message");
    }
    /* nothing changed */
    float *after = state_of(f->model);
    CU_ASSERT_EQUAL(memcmp(before, after, (size_t)gd_model_state_size(f->model) * 4), 0);
    gd_trainer_state now_;
    gd_trainer_get_state(f->tr, &now_);
    CU_ASSERT(now_.step == was.step && now_.epoch == was.epoch && now_.pos == was.pos &&
              now_.epoch_seed == was.epoch_seed && now_.opt_step0 == was.opt_step0 &&
              same_bits(now_.epoch_loss, was.epoch_loss) &&
              now_.epoch_samples == was.epoch_samples);
    CU_ASSERT_EQUAL(memcmp(slot0, now_.slots[0], (size_t)np * sizeof(float)), 0);
    CU_ASSERT_EQUAL(gd_trainer_record_count(f->tr), nrec);
    free(before);
    free(after);
    free(slot0);
}

static void test_checkpoint_set_state_refuses(void)
{
    fixture a, twin;
    fx_make(&a, "adam", false);
    fx_make(&twin, "adam", false);
    steps(a.tr, 5, NULL);
    steps(twin.tr, 5, NULL);
    gd_trainer_state good_st, st;
    gd_trainer_get_state(a.tr, &good_st);

    /* the step does not follow from the position */
    st = good_st;
    st.step = good_st.step + 1;
    expect_set_state_refused(&a, &st, true, "train: the state (step 6, epoch 1, sample 32) "
                             "does not fit 120 samples in batches of 32");
    st = good_st;
    st.pos = 33;
    st.step = 6;
    expect_set_state_refused(&a, &st, true, "does not fit 120 samples in batches of 32");
    /* past the end of the epoch's samples */
    st = good_st;
    st.pos = NSAMPLES;
    expect_set_state_refused(&a, &st, true, "train: cannot continue at epoch 1, sample 120 of "
                             "120");
    /* more epochs done than the run has */
    st = good_st;
    st.epoch = EPOCHS;
    st.pos = BATCH;
    st.step = EPOCHS * STEPS_PER_EPOCH + 1;
    expect_set_state_refused(&a, &st, true, "train: the run is at epoch 4; epochs must be at "
                             "least 4");
    /* the optimizer's slots: wrong count, wrong length */
    st = good_st;
    st.nslots = 1;
    expect_set_state_refused(&a, &st, true, "train: the optimizer state has 1 slots of");
    st = good_st;
    st.slot_len = good_st.slot_len - 1;
    expect_set_state_refused(&a, &st, true, "optimizer 'adam' needs 2 of");
    /* records for another model */
    st = good_st;
    CU_ASSERT_FATAL(st.nrecords > 0);
    st.nlayers = NLAYERS + 1;
    expect_set_state_refused(&a, &st, true, "train: telemetry records are for 6 layers, the "
                             "model has 5");

    /* still the same run as its untouched twin */
    steps(a.tr, 3, NULL);
    steps(twin.tr, 3, NULL);
    CU_ASSERT(same_state(a.model, twin.model));
    /* and its own state, as gd_trainer_get_state gives it, is taken as a no-op */
    gd_trainer_get_state(a.tr, &st);
    gd_error err;
    CU_ASSERT_EQUAL(gd_trainer_set_state(a.tr, &st, true, &err), GD_OK);
    steps(a.tr, 1, NULL);
    steps(twin.tr, 1, NULL);
    CU_ASSERT(same_state(a.model, twin.model));
    fx_free(&a);
    fx_free(&twin);
}

int main(void)
{
    if (!test_dir_open("checkpoint"))
        return 1;
    static const test_case cases[] = {
        TEST(test_checkpoint_round_trip),
        TEST(test_checkpoint_continuation_every_optimizer),
        TEST(test_checkpoint_continuation_needs_optimizer_state),
        TEST(test_checkpoint_not_a_checkpoint),
        TEST(test_checkpoint_truncated),
        TEST(test_checkpoint_corrupt),
        TEST(test_checkpoint_missing_plugin),
        TEST(test_checkpoint_plugin_version),
        TEST(test_checkpoint_reads_version_2_penalties_unknown),
        TEST(test_checkpoint_reads_version_1),
        TEST(test_checkpoint_older_tails_load),
        TEST(test_checkpoint_crafted),
        TEST(test_checkpoint_huge_run),
        TEST(test_checkpoint_fuzz),
        TEST(test_checkpoint_killed_mid_write),
        TEST(test_checkpoint_keep_rotation),
        TEST(test_checkpoint_set_state_refuses),
        TEST_END,
    };
    int rc = test_main("checkpoint", cases);
    free(good);
    return test_dir_close() ? rc : 1;
}
