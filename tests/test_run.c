/*
 * tests/test_run.c: a run (core/run.h) driven from C, with no Lua: train
 * with validation, stop on the stop flag after an epoch (as a signal would)
 * with an "interrupted" checkpoint, load it, resume to the end, and get
 * the uninterrupted run's history and weights bit for bit. Early stopping
 * with restore_best puts back the best epoch's weights.
 *
 * The run's policy is the core's, as gd.train's (tests/lua/files.lua,
 * honest_results.lua check the same messages there): the checkpoint path
 * is locked for the run's life, a checkpoint of another run there is
 * refused, killed writers' temporaries are cleaned. `test_run mpi` (under
 * mpirun -np 2, the test test_run_mpi) checks that a run started by an
 * MPI launcher is distributed by default and that rank 0 alone writes.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dist.h"
#include "files.h"
#include "run.h"
#include "support.h"

enum { EPOCHS = 4, SEED = 5 };

typedef struct fixture {
    gd_dataset *train, *val;
    gd_spec *loss, *opt;
    gd_model *m;
} fixture;

static void fx_open(fixture *f)
{
    gd_error err;
    f->train = gd_synthetic_spirals(240, 2, 0.05, 7, &err);
    f->val = gd_synthetic_spirals(80, 2, 0.05, 8, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f->train);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f->val);
    f->loss = test_spec(GD_KIND_LOSS, "cross_entropy", NULL);
    f->opt = test_spec(GD_KIND_OPTIMIZER, "sgd", "lr", 'n', 0.2, NULL);
    f->m = test_relu_mlp(2, 16, 1, 2, SEED);
}

static void fx_close(fixture *f)
{
    gd_model_free(f->m);
    gd_spec_free(f->loss);
    gd_spec_free(f->opt);
    gd_dataset_free(f->train);
    gd_dataset_free(f->val);
}

static gd_run_config config(const fixture *f, gd_model *m, int64_t epochs)
{
    return (gd_run_config){
        .train = { .model = m, .loss = f->loss, .optimizer = f->opt, .train = f->train,
                   .epochs = epochs, .batch = 32, .seed = SEED },
        .validation = f->val,
    };
}

/* The hooks' side: epochs seen, and the flag a "signal" sets after
 * stop_after epochs. */
typedef struct seen {
    int64_t epochs, stop_after, early_stops;
    volatile sig_atomic_t flag;
} seen;

static gd_status on_epoch(void *ctx, gd_run *run, const gd_epoch_record *e, bool *stop)
{
    (void)run;
    (void)stop;
    seen *s = ctx;
    s->epochs++;
    CU_ASSERT(isfinite(e->val_loss) && e->val_accuracy >= 0 && e->val_accuracy <= 1);
    if (s->stop_after && e->epoch == s->stop_after)
        s->flag = SIGINT;
    return GD_OK;
}

static void on_early_stop(void *ctx, gd_run *run, int64_t e)
{
    (void)run;
    (void)e;
    ((seen *)ctx)->early_stops++;
}

static float *state_of(gd_model *m)
{
    float *p = malloc((size_t)gd_model_state_size(m) * sizeof *p);
    gd_model_copy_state(m, p, true);
    return p;
}

static bool same_history(const gd_run_result *a, const gd_run_result *b)
{
    if (a->nepochs != b->nepochs)
        return false;
    for (int64_t i = 0; i < a->nepochs; i++)
        if (a->epochs[i].epoch != b->epochs[i].epoch ||
            a->epochs[i].train_loss != b->epochs[i].train_loss ||
            a->epochs[i].val_loss != b->epochs[i].val_loss ||
            a->epochs[i].val_accuracy != b->epochs[i].val_accuracy)
            return false;
    return true;
}

static void test_run_interrupt_checkpoint_resume(void)
{
    fixture f;
    fx_open(&f);
    gd_error err;
    /* straight through */
    gd_run_config c = config(&f, f.m, EPOCHS);
    gd_run *whole = gd_run_new(&c, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(whole);
    CU_ASSERT_EQUAL(gd_run_execute(whole), GD_RUN_OK);
    const gd_run_result *rw = gd_run_result_of(whole);
    CU_ASSERT_EQUAL(rw->nepochs, EPOCHS);
    CU_ASSERT(rw->epochs[EPOCHS - 1].val_loss < rw->epochs[0].val_loss);   /* it learns */
    float *want = state_of(f.m);

    /* stopped by the flag after epoch 2, checkpointed */
    char path[512];
    test_at(path, "run.gdc");
    gd_model *m2 = test_relu_mlp(2, 16, 1, 2, SEED);
    seen s = { .stop_after = 2 };
    c = config(&f, m2, EPOCHS);
    c.checkpoints = true;
    c.settings = (gd_run_settings){ .ckpt_path = path, .ckpt_every = 1,
                                    .ckpt_every_epochs = true, .ckpt_keep = 1 };
    c.stop = &s.flag;
    c.hooks = (gd_run_hooks){ .ctx = &s, .on_epoch = on_epoch };
    gd_run *first = gd_run_new(&c, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(first);
    CU_ASSERT_EQUAL(gd_run_execute(first), GD_RUN_INTERRUPTED);
    const gd_run_result *rf = gd_run_result_of(first);
    CU_ASSERT_EQUAL(rf->signal, SIGINT);
    CU_ASSERT(rf->checkpointed);
    CU_ASSERT_EQUAL(s.epochs, 2);
    CU_ASSERT_EQUAL(rf->last_ckpt_step, gd_trainer_steps_done(gd_run_trainer(first)));
    gd_run_free(first);
    gd_model_free(m2);

    /* loaded and resumed to the end: the same run */
    gd_checkpoint *ck = gd_checkpoint_load(test_registry(), path, &err);
    if (!ck)
        fprintf(stderr, "\n  load: %s\n", err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ck);
    CU_ASSERT_STRING_EQUAL(ck->meta.reason, "interrupted");
    CU_ASSERT_EQUAL(ck->progress.nepochs, 2);
    gd_model *m3 = gd_checkpoint_take_model(ck);
    c = config(&f, m3, EPOCHS);
    c.train.horizon_epochs = ck->state.horizon_epochs;
    gd_run *rest = gd_run_new(&c, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rest);
    bool kept = false;
    CU_ASSERT_EQUAL(gd_run_resume(rest, ck, false, false, &kept, &err), GD_OK);
    CU_ASSERT(kept);
    CU_ASSERT_EQUAL(gd_run_execute(rest), GD_RUN_OK);
    CU_ASSERT(same_history(gd_run_result_of(rest), rw));
    float *got = state_of(m3);
    CU_ASSERT_EQUAL(memcmp(got, want, (size_t)gd_model_state_size(m3) * sizeof *got), 0);

    free(got);
    free(want);
    gd_run_free(rest);
    gd_model_free(m3);
    gd_checkpoint_free(ck);
    gd_run_free(whole);
    fx_close(&f);
}

/* Resuming checks the data is the run's, with a specific message. */
static void test_run_resume_refuses_other_data(void)
{
    fixture f;
    fx_open(&f);
    gd_error err;
    char path[512];
    test_at(path, "other.gdc");
    gd_run_config c = config(&f, f.m, 1);
    c.checkpoints = true;
    c.settings = (gd_run_settings){ .ckpt_path = path, .ckpt_keep = 1 };
    gd_run *a = gd_run_new(&c, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_EQUAL(gd_run_execute(a), GD_RUN_OK);
    gd_run_free(a);
    gd_checkpoint *ck = gd_checkpoint_load(test_registry(), path, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ck);
    c = config(&f, ck->model, 2);
    c.train.train = f.val;
    gd_run *b = gd_run_new(&c, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_EQUAL(gd_run_resume(b, ck, false, false, NULL, &err), GD_EINVAL);
    CU_ASSERT_STRING_EQUAL(err.msg, "the training data is not the run's: it has 80 samples of "
                           "2 features and 2 classes, the run's had 240, 2 and 2");
    gd_run_free(b);
    gd_checkpoint_free(ck);
    fx_close(&f);
}

/* patience 1 and a min_delta no epoch can beat: the run stops after epoch
 * 2 and puts back epoch 1's weights, those of a one-epoch run. */
static void test_run_early_stopping_restores_best(void)
{
    fixture f;
    fx_open(&f);
    gd_error err;
    gd_run_config c = config(&f, f.m, 1);
    gd_run *one = gd_run_new(&c, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(one);
    CU_ASSERT_EQUAL(gd_run_execute(one), GD_RUN_OK);
    float *want = state_of(f.m);

    gd_model *m = test_relu_mlp(2, 16, 1, 2, SEED);
    seen s = { 0 };
    c = config(&f, m, EPOCHS);
    c.settings = (gd_run_settings){ .patience = 1, .min_delta = 1e9, .restore_best = true };
    c.hooks = (gd_run_hooks){ .ctx = &s, .on_epoch = on_epoch, .on_early_stop = on_early_stop };
    gd_run *r = gd_run_new(&c, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    CU_ASSERT_EQUAL(gd_run_execute(r), GD_RUN_OK);
    const gd_run_result *res = gd_run_result_of(r);
    CU_ASSERT(res->stopped && res->restored);
    CU_ASSERT_EQUAL(res->best_epoch, 1);
    CU_ASSERT_EQUAL(res->nepochs, 2);
    CU_ASSERT_EQUAL(s.early_stops, 1);
    float *got = state_of(m);
    CU_ASSERT_EQUAL(memcmp(got, want, (size_t)gd_model_state_size(m) * sizeof *got), 0);

    /* and it needs validation data to watch */
    c.validation = NULL;
    CU_ASSERT_PTR_NULL(gd_run_new(&c, &err));
    CU_ASSERT_STRING_EQUAL(err.msg, "run: early stopping watches the validation loss: give a "
                           "validation set");
    free(got);
    free(want);
    gd_run_free(r);
    gd_model_free(m);
    gd_run_free(one);
    fx_close(&f);
}

/* A run writing checkpoints to path, with the registry that reads one
 * already there (as gd.train's). */
static gd_run_config ckpt_config(const fixture *f, gd_model *m, int64_t epochs, const char *path)
{
    gd_run_config c = config(f, m, epochs);
    c.checkpoints = true;
    c.registry = test_registry();
    c.settings = (gd_run_settings){ .ckpt_path = (char *)path, .ckpt_every = 1,
                                    .ckpt_every_epochs = true, .ckpt_keep = 1 };
    return c;
}

static bool exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

static size_t slurp(const char *path, unsigned char *buf, size_t cap)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return 0;
    size_t n = fread(buf, 1, cap, fp);
    fclose(fp);
    return n;
}

/* gd_run_new that must succeed (says why when it does not). */
static gd_run *must_new(const gd_run_config *c)
{
    gd_error err;
    gd_run *r = gd_run_new(c, &err);
    if (!r)
        fprintf(stderr, "\n  gd_run_new: %s\n", err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    return r;
}

/* Two runs naming one checkpoint path: the second is refused (by
 * gd_run_claim, or by gd_run_execute when the caller did not claim) with
 * gd.train's message naming this process, until the first is freed. */
static void test_run_locked_checkpoint_path_is_refused(void)
{
    fixture f;
    fx_open(&f);
    gd_error err;
    char path[512], want[1200];
    test_at(path, "locked.gdc");
    gd_run_config c = ckpt_config(&f, f.m, 1, path);
    gd_run *a = must_new(&c);
    CU_ASSERT_EQUAL_FATAL(gd_run_claim(a, &err), GD_OK);
    CU_ASSERT_EQUAL(gd_run_claim(a, &err), GD_OK);   /* claiming again: a no-op */

    gd_model *m2 = test_relu_mlp(2, 16, 1, 2, SEED);
    c = ckpt_config(&f, m2, 1, path);
    gd_run *b = must_new(&c);
    snprintf(want, sizeof want, "checkpoint: %s: in use by process %ld (%s.lock, host ", path,
             (long)getpid(), path);
    CU_ASSERT_EQUAL(gd_run_claim(b, &err), GD_EEXIST);
    CU_ASSERT_EQUAL(strncmp(err.msg, want, strlen(want)), 0);
    CU_ASSERT_EQUAL(gd_run_execute(b), GD_RUN_FAILED);
    const gd_run_result *rb = gd_run_result_of(b);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rb->error);
    CU_ASSERT_EQUAL(strncmp(rb->error, want, strlen(want)), 0);
    CU_ASSERT_EQUAL(gd_trainer_steps_done(gd_run_trainer(b)), 0);   /* no step taken */
    CU_ASSERT_FALSE(exists(path));
    gd_run_free(b);

    /* the first one runs; once freed, the path is free again */
    CU_ASSERT_EQUAL(gd_run_execute(a), GD_RUN_OK);
    CU_ASSERT(exists(path));
    gd_run_free(a);
    char lock[600];
    snprintf(lock, sizeof lock, "%s.lock", path);
    CU_ASSERT_FALSE(exists(lock));
    c = ckpt_config(&f, m2, 1, path);
    b = must_new(&c);
    CU_ASSERT_EQUAL(gd_run_claim(b, &err), GD_OK);
    gd_run_free(b);
    gd_model_free(m2);
    unlink(path);
    fx_close(&f);
}

/* A checkpoint of another run at the path is refused with gd.train's
 * message (without its "gd.train: "), the file untouched; the same run
 * again is allowed, a finished run is not replaced by one of another
 * length, ckpt_overwrite replaces it, and without a registry to read the
 * file it is refused. */
static void test_run_other_runs_checkpoint_is_refused(void)
{
    fixture f;
    fx_open(&f);
    gd_error err;
    char path[512], want[1500];
    test_at(path, "mine.gdc");
    gd_run_config c = ckpt_config(&f, f.m, 2, path);
    gd_run *a = must_new(&c);
    CU_ASSERT_EQUAL_FATAL(gd_run_execute(a), GD_RUN_OK);
    gd_run_free(a);
    static unsigned char before[1 << 16], after[1 << 16];
    size_t n = slurp(path, before, sizeof before);
    CU_ASSERT_FATAL(n > 0 && n < sizeof before);

    /* another optimizer: another run */
    gd_spec *other = test_spec(GD_KIND_OPTIMIZER, "sgd", "lr", 'n', 0.1, NULL);
    gd_model *m2 = test_relu_mlp(2, 16, 1, 2, SEED);
    c = ckpt_config(&f, m2, 2, path);
    c.train.optimizer = other;
    gd_run *b = must_new(&c);
    snprintf(want, sizeof want, "checkpoint: %s holds another run (the optimizer differs); "
             "give checkpoint = { ..., overwrite = true } to replace it, or another path", path);
    CU_ASSERT_EQUAL(gd_run_execute(b), GD_RUN_FAILED);
    CU_ASSERT_STRING_EQUAL(gd_run_result_of(b)->error, want);
    CU_ASSERT_EQUAL(gd_trainer_steps_done(gd_run_trainer(b)), 0);
    gd_run_free(b);
    CU_ASSERT(slurp(path, after, sizeof after) == n && memcmp(before, after, n) == 0);

    /* another seed, through gd_run_claim */
    c = ckpt_config(&f, m2, 2, path);
    c.train.seed = SEED + 1;
    b = must_new(&c);
    CU_ASSERT_EQUAL(gd_run_claim(b, &err), GD_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, " holds another run (the seed differs); "));
    gd_run_free(b);

    /* the same run finished: one of 1 epoch would replace it */
    c = ckpt_config(&f, m2, 1, path);
    b = must_new(&c);
    snprintf(want, sizeof want, "checkpoint: %s holds this run, finished after 2 epochs; a run "
             "of 1 epochs would replace it: give another path, or checkpoint = { ..., "
             "overwrite = true } to replace it", path);
    CU_ASSERT_EQUAL(gd_run_claim(b, &err), GD_EINVAL);
    CU_ASSERT_STRING_EQUAL(err.msg, want);
    gd_run_free(b);

    /* no registry to read it with */
    c = ckpt_config(&f, m2, 2, path);
    c.registry = NULL;
    b = must_new(&c);
    CU_ASSERT_EQUAL(gd_run_claim(b, &err), GD_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "which this run cannot read"));
    gd_run_free(b);
    CU_ASSERT(slurp(path, after, sizeof after) == n && memcmp(before, after, n) == 0);

    /* the same run again is allowed */
    c = ckpt_config(&f, m2, 2, path);
    b = must_new(&c);
    CU_ASSERT_EQUAL(gd_run_claim(b, &err), GD_OK);
    gd_run_free(b);

    /* overwrite replaces the other run's file */
    gd_model_free(m2);
    m2 = test_relu_mlp(2, 16, 1, 2, SEED);
    c = ckpt_config(&f, m2, 1, path);
    c.train.optimizer = other;
    c.ckpt_overwrite = true;
    b = must_new(&c);
    CU_ASSERT_EQUAL(gd_run_execute(b), GD_RUN_OK);
    gd_run_free(b);
    gd_checkpoint *ck = gd_checkpoint_load(test_registry(), path, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ck);
    CU_ASSERT_EQUAL(ck->epochs, 1);
    gd_checkpoint_free(ck);

    gd_model_free(m2);
    gd_spec_free(other);
    unlink(path);
    fx_close(&f);
}

/* What writers killed mid-write left beside the path ("<path>.tmp-*",
 * files and directories) is removed when a run claims it; another file's
 * temporaries are not. */
static void test_run_stale_temporaries_are_removed(void)
{
    fixture f;
    fx_open(&f);
    char path[512], file[600], dir[600], inner[700], unrelated[600];
    test_at(path, "stale.gdc");
    snprintf(file, sizeof file, "%s.tmp-999999-0", path);
    snprintf(dir, sizeof dir, "%s.tmp-999998-3", path);
    snprintf(inner, sizeof inner, "%s/part", dir);
    test_at(unrelated, "other.gdc.tmp-999997-0");
    FILE *fp = fopen(file, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
    fputs("half a checkpoint", fp);
    fclose(fp);
    CU_ASSERT_EQUAL_FATAL(mkdir(dir, 0777), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(fp = fopen(inner, "w"));
    fclose(fp);
    CU_ASSERT_PTR_NOT_NULL_FATAL(fp = fopen(unrelated, "w"));
    fclose(fp);
    gd_run_config c = ckpt_config(&f, f.m, 1, path);
    gd_run *r = must_new(&c);
    CU_ASSERT(exists(file) && exists(inner));   /* not before the claim */
    CU_ASSERT_EQUAL(gd_run_execute(r), GD_RUN_OK);
    CU_ASSERT_FALSE(exists(file));
    CU_ASSERT_FALSE(exists(dir));
    CU_ASSERT(exists(unrelated));
    CU_ASSERT(exists(path));
    gd_run_free(r);
    unlink(unrelated);
    unlink(path);
    fx_close(&f);
}

/* A config the run cannot keep to is refused before anything runs: a
 * validation set of other samples than the data (gd.train's message), more
 * than 100 kept checkpoints, a negative min_interval, and min_interval in a
 * distributed run. */
static void test_run_new_refuses_what_gd_train_refuses(void)
{
    fixture f;
    fx_open(&f);
    gd_error err;
    gd_dataset *wide = gd_synthetic_blobs(30, 2, 3, 1.0, 4, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(wide);
    gd_run_config c = config(&f, f.m, 1);
    c.validation = wide;
    CU_ASSERT_PTR_NULL(gd_run_new(&c, &err));
    CU_ASSERT_STRING_EQUAL(err.msg, "run: 'validation' has 3 features per sample, 'data' has 2");
    char path[512];
    c = ckpt_config(&f, f.m, 1, test_at(path, "many.gdc"));
    c.settings.ckpt_keep = GD_RUN_CKPT_KEEP_MAX + 1;
    CU_ASSERT_PTR_NULL(gd_run_new(&c, &err));
    CU_ASSERT_STRING_EQUAL(err.msg, "run: checkpoint: 'keep' must be at most 100");
    c.settings.ckpt_keep = GD_RUN_CKPT_KEEP_MAX;
    c.settings.ckpt_min_interval = -1;
    CU_ASSERT_PTR_NULL(gd_run_new(&c, &err));
    CU_ASSERT_STRING_EQUAL(err.msg, "run: checkpoints need a path, every >= 0, keep >= 1 and "
                           "min_interval >= 0");
    /* ranks would each read their own clock */
    c.settings.ckpt_min_interval = 60;
    c.train.distributed = true;
    CU_ASSERT_PTR_NULL(gd_run_new(&c, &err));
    CU_ASSERT_STRING_EQUAL(err.msg, "run: checkpoint.min_interval is refused in a distributed "
                           "run (each rank would read its own clock): use every");
    c.train.distributed = false;
    gd_run *r = gd_run_new(&c, &err);
    CU_ASSERT_PTR_NOT_NULL(r);
    gd_run_free(r);
    CU_ASSERT_FALSE(exists(path));
    gd_dataset_free(wide);
    fx_close(&f);
}

/* `test_run mpi`, on 2 ranks: the run is distributed without being told
 * (the MPI default, as gd.train's), and only rank 0 writes checkpoints:
 * each rank names a path in its own directory, and rank 1's stays absent,
 * lock file included. */
static void test_run_mpi_rank_0_alone_writes(void)
{
    fixture f;
    fx_open(&f);
    gd_error err;
    char path[512], lock[600];
    test_at(path, "ranks.gdc");
    snprintf(lock, sizeof lock, "%s.lock", path);
    gd_run_config c = ckpt_config(&f, f.m, 2, path);
    gd_run *r = must_new(&c);
    CU_ASSERT(gd_run_config_of(r)->train.distributed);
    CU_ASSERT_EQUAL(gd_dist_size(), 2);
    const int rank = gd_dist_rank();
    CU_ASSERT_EQUAL(gd_run_config_of(r)->checkpoints, rank == 0);
    CU_ASSERT_EQUAL(gd_run_claim(r, &err), GD_OK);
    CU_ASSERT_EQUAL(exists(lock), rank == 0);   /* rank 0 holds the path */
    CU_ASSERT_EQUAL(gd_run_execute(r), GD_RUN_OK);
    const gd_run_result *res = gd_run_result_of(r);
    CU_ASSERT_EQUAL(res->nepochs, 2);
    CU_ASSERT_EQUAL(exists(path), rank == 0);
    if (rank == 0) {
        CU_ASSERT_EQUAL(res->last_ckpt_step, gd_trainer_steps_done(gd_run_trainer(r)));
        gd_checkpoint *ck = gd_checkpoint_load(test_registry(), path, &err);
        CU_ASSERT_PTR_NOT_NULL_FATAL(ck);
        CU_ASSERT_STRING_EQUAL(ck->meta.reason, "final");
        CU_ASSERT_EQUAL(ck->progress.nepochs, 2);
        gd_checkpoint_free(ck);
    } else {
        CU_ASSERT_EQUAL(res->last_ckpt_step, -1);
    }
    gd_run_free(r);
    CU_ASSERT_FALSE(exists(lock));
    unlink(path);
    fx_close(&f);
}

int main(int argc, char **argv)
{
    if (!test_dir_open("run"))
        return 1;
    static const test_case cases[] = {
        TEST(test_run_interrupt_checkpoint_resume),
        TEST(test_run_resume_refuses_other_data),
        TEST(test_run_early_stopping_restores_best),
        TEST(test_run_locked_checkpoint_path_is_refused),
        TEST(test_run_other_runs_checkpoint_is_refused),
        TEST(test_run_stale_temporaries_are_removed),
        TEST(test_run_new_refuses_what_gd_train_refuses),
        TEST_END,
    };
    static const test_case mpi_cases[] = {
        TEST(test_run_mpi_rank_0_alone_writes),
        TEST_END,
    };
    bool mpi = argc > 1 && strcmp(argv[1], "mpi") == 0;
    int rc = test_main("run", mpi ? mpi_cases : cases);
    return test_dir_close() ? rc : 1;
}
