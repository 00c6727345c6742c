/*
 * tests/test_run.c: a run (core/run.h) driven from C, with no Lua: train
 * with validation, stop on the stop flag after an epoch (as a signal would)
 * with an "interrupted" checkpoint, load it, resume to the end, and get
 * the uninterrupted run's history and weights bit for bit. Early stopping
 * with restore_best puts back the best epoch's weights.
 */
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

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

int main(void)
{
    if (!test_dir_open("run"))
        return 1;
    static const test_case cases[] = {
        TEST(test_run_interrupt_checkpoint_resume),
        TEST(test_run_resume_refuses_other_data),
        TEST(test_run_early_stopping_restores_best),
        TEST_END,
    };
    int rc = test_main("run", cases);
    return test_dir_close() ? rc : 1;
}
