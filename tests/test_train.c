/*
 * tests/test_train.c: the C training step, end to end through plugins
 * loaded at run time (the model alone: test_model.c).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model_layer.h"   /* white-box: the layer's fields */
#include "support.h"
#include "threads.h"
#include "train.h"

typedef struct mlp {
    gd_model *model;
} mlp;

/* 2 -> 32 -> 32 -> classes, ReLU. */
static void mlp_make(mlp *m, int classes, uint64_t seed)
{
    m->model = test_relu_mlp(2, 32, 2, classes, seed);
}

static void mlp_free(mlp *m)
{
    gd_model_free(m->model);
}

/* A run on spirals: the data, the 2-32-32-2 MLP, cross-entropy, an
 * optimizer and its trainer, made and freed together. */
typedef struct fixture {
    gd_dataset *ds;
    mlp m;
    gd_spec *loss, *opt;
    const gd_spec *regs[1];
    gd_trainer *tr;
} fixture;

/* n spirals points (data seed 7), model seed `model_seed`, `opt` and `reg`
 * (a regularizer or NULL, both owned by the fixture); cfg gives the rest of the run (model, loss, optimizer and
 * data are filled in). */
static void fixture_open(fixture *f, int64_t n, uint64_t model_seed, gd_spec *opt,
                         gd_spec *reg, gd_train_config cfg)
{
    gd_error err;
    memset(f, 0, sizeof *f);
    f->ds = gd_synthetic_spirals(n, 2, 0.05, 7, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f->ds);
    mlp_make(&f->m, 2, model_seed);
    f->loss = test_spec(GD_KIND_LOSS, "cross_entropy", NULL);
    f->opt = opt;
    f->regs[0] = reg;
    cfg.regularizers = f->regs;
    cfg.nregularizers = reg ? 1 : 0;
    cfg.model = f->m.model;
    cfg.loss = f->loss;
    cfg.optimizer = opt;
    cfg.train = f->ds;
    f->tr = gd_trainer_new(&cfg, &err);
    if (!f->tr)
        fprintf(stderr, "\n  trainer: %s\n", err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f->tr);
}

static void fixture_close(fixture *f)
{
    gd_trainer_free(f->tr);
    gd_spec_free(f->loss);
    gd_spec_free(f->opt);
    gd_spec_free((gd_spec *)f->regs[0]);
    mlp_free(&f->m);
    gd_dataset_free(f->ds);
}

/* Train on spirals and return the final epoch's mean loss; losses[] gets
 * every step's loss when not NULL. */
static double train_spirals(uint64_t seed, int epochs, double *losses, int64_t max_losses,
                            double *accuracy)
{
    gd_error err;
    fixture f;
    fixture_open(&f, 600, seed, test_spec(GD_KIND_OPTIMIZER, "sgd", "lr", 'n', 0.2, NULL), NULL,
                 (gd_train_config){ .epochs = epochs, .batch = 16, .seed = seed });
    int64_t k = 0;
    while (!gd_trainer_finished(f.tr)) {
        gd_step_result r;
        if (gd_trainer_step(f.tr, &r, &err) != GD_OK) {
            fprintf(stderr, "\n  step: %s\n", err.msg);
            CU_FAIL("step failed");
            break;
        }
        if (losses && k < max_losses)
            losses[k++] = r.loss;
    }
    double l = NAN;
    CU_ASSERT_EQUAL(gd_model_evaluate(f.m.model, f.loss, f.ds, 128, &l, accuracy, &err), GD_OK);
    fixture_close(&f);
    return l;
}

static void test_train_spirals_converge(void)
{
    double acc = 0;
    double loss = train_spirals(1, 150, NULL, 0, &acc);
    fprintf(stderr, " [spirals: loss %.4f, accuracy %.4f] ", loss, acc);
    CU_ASSERT(acc >= 0.95);
}

static void test_train_same_seed_bit_identical(void)
{
    enum { N = 38 * 5 };
    static double a[N], b[N], c[N];
    double acc;
    train_spirals(3, 5, a, N, &acc);
    train_spirals(3, 5, b, N, &acc);
    train_spirals(4, 5, c, N, &acc);
    CU_ASSERT_EQUAL(memcmp(a, b, sizeof a), 0);
    CU_ASSERT_NOT_EQUAL(memcmp(a, c, sizeof a), 0);
}

static void test_train_refuses_width_mismatch(void)
{
    gd_error err;
    gd_dataset *ds = gd_synthetic_spirals(100, 2, 0.05, 7, &err);
    mlp m;
    mlp_make(&m, 3, 1);
    gd_spec *loss = test_spec(GD_KIND_LOSS, "cross_entropy", NULL);
    gd_spec *opt = test_spec(GD_KIND_OPTIMIZER, "sgd", NULL);
    gd_train_config cfg = { .model = m.model, .loss = loss, .optimizer = opt, .train = ds,
                            .epochs = 1, .batch = 10, .seed = 1 };
    CU_ASSERT_PTR_NULL(gd_trainer_new(&cfg, &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "output width is 3 but the data has 2 classes"));
    cfg.optimizer = loss;
    CU_ASSERT_PTR_NULL(gd_trainer_new(&cfg, &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "'optimizer' must be an optimizer, got loss"));
    gd_spec_free(loss);
    gd_spec_free(opt);
    mlp_free(&m);
    gd_dataset_free(ds);
}

static void test_train_divergence_reported(void)
{
    gd_error err;
    fixture f;
    fixture_open(&f, 200, 1, test_spec(GD_KIND_OPTIMIZER, "sgd", "lr", 'n', 1e30, NULL), NULL,
                 (gd_train_config){ .epochs = 50, .batch = 20, .seed = 1 });
    gd_status st = GD_OK;
    while (st == GD_OK && !gd_trainer_finished(f.tr))
        st = gd_trainer_step(f.tr, NULL, &err);
    CU_ASSERT_EQUAL(st, GD_ENUMERIC);
    const gd_divergence *d = gd_trainer_divergence(f.tr);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    /* Step 0's update multiplies the weights by ~1e30: at step 1 dense1's
     * output is still finite (~1e30) and dense2's (~1e60) is not. In the
     * 2-32-32-2 MLP (dense1 relu1 dense2 relu2 dense3) dense2 is layer 2. */
    CU_ASSERT_EQUAL(d->step, 1);
    CU_ASSERT_EQUAL(d->epoch, 1);   /* 1-based, as the run reports epochs */
    CU_ASSERT_EQUAL(d->layer, 2);
    CU_ASSERT_STRING_EQUAL(d->layer_name, "dense2");
    CU_ASSERT_STRING_EQUAL(d->what, "loss is NaN: output of dense2 is not finite");
    CU_ASSERT_STRING_EQUAL(err.msg,
                           "train: diverged at step 1: loss is NaN: output of dense2 is not finite");
    /* A diverged trainer refuses further steps. */
    CU_ASSERT_EQUAL(gd_trainer_step(f.tr, NULL, &err), GD_ENUMERIC);
    fixture_close(&f);
}

/* A loss that explodes but stays finite ends the run when the factor is
 * set: at the first step whose loss exceeds factor x step 0's, with the
 * numbers in the message, before that step's update. 0 means no check. */
static void test_train_loss_exploded(void)
{
    gd_error err;
    fixture f;
    fixture_open(&f, 200, 1, test_spec(GD_KIND_OPTIMIZER, "sgd", "lr", 'n', 1e3, NULL), NULL,
                 (gd_train_config){ .epochs = 5, .batch = 20, .seed = 1,
                                    .diverge_factor = 50 });
    double loss[64];
    gd_step_result r = { 0 };
    gd_status st = GD_OK;
    int64_t k = 0;
    while (st == GD_OK && k < 50 && (st = gd_trainer_step(f.tr, &r, &err)) == GD_OK)
        loss[k++] = r.loss;
    CU_ASSERT_EQUAL_FATAL(st, GD_ENUMERIC);
    const gd_divergence *d = gd_trainer_divergence(f.tr);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    CU_ASSERT_STRING_EQUAL(d->reason, "loss exploded");
    CU_ASSERT_EQUAL(d->layer, -1);
    CU_ASSERT_EQUAL(d->step, k);
    for (int64_t i = 1; i < k; i++)   /* every step before it was within the factor */
        CU_ASSERT(loss[i] <= 50 * loss[0]);
    double exploded;
    CU_ASSERT_EQUAL_FATAL(sscanf(d->what, "loss exploded: %lg at step", &exploded), 1);
    CU_ASSERT(isfinite(exploded) && exploded > 50 * loss[0]);
    char want[256];
    snprintf(want, sizeof want, "train: diverged at step %lld: loss exploded: %.4g at step %lld "
             "is more than 50 times the first step's loss (%.4g)", (long long)k, exploded,
             (long long)k, loss[0]);
    CU_ASSERT_STRING_EQUAL(err.msg, want);
    fixture_close(&f);

    /* the same run without the check goes on */
    fixture_open(&f, 200, 1, test_spec(GD_KIND_OPTIMIZER, "sgd", "lr", 'n', 1e3, NULL), NULL,
                 (gd_train_config){ .epochs = 5, .batch = 20, .seed = 1 });
    for (int64_t i = 0; i <= k; i++)
        CU_ASSERT_EQUAL(gd_trainer_step(f.tr, &r, &err), GD_OK);
    fixture_close(&f);

    /* a factor that would stop a run at once is refused */
    fixture_open(&f, 20, 1, test_spec(GD_KIND_OPTIMIZER, "sgd", NULL), NULL,
                 (gd_train_config){ .epochs = 1, .batch = 20, .seed = 1 });
    gd_train_config bad = *gd_trainer_config(f.tr);
    bad.diverge_factor = 0.5;
    CU_ASSERT_PTR_NULL(gd_trainer_new(&bad, &err));
    CU_ASSERT_STRING_EQUAL(err.msg, "train: the diverge factor must be a number > 1 (or 0: off), "
                           "got 0.5");
    fixture_close(&f);
}

static double norm_of(const float *x, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += (double)x[i] * x[i];
    return sqrt(s);
}

/* Telemetry of a monitored step equals a direct computation from the
 * layer's tensors: parameters before and after, gradients, activations. */
static void test_train_telemetry_matches_tensors(void)
{
    gd_error err;
    fixture f;
    fixture_open(&f, 64, 5, test_spec(GD_KIND_OPTIMIZER, "adam", "lr", 'n', 0.01, NULL), NULL,
                 (gd_train_config){ .epochs = 1, .batch = 64, .seed = 1, .monitor_every = 1 });
    int64_t np = gd_model_param_count(f.m.model);
    float *before = malloc(np * sizeof(float));
    memcpy(before, gd_model_params(f.m.model), np * sizeof(float));
    gd_step_result r;
    CU_ASSERT_EQUAL_FATAL(gd_trainer_step(f.tr, &r, &err), GD_OK);
    CU_ASSERT(r.monitored);
    CU_ASSERT_EQUAL_FATAL(gd_trainer_record_count(f.tr), 1);
    const gd_step_record *rec = gd_trainer_record(f.tr, 0);
    CU_ASSERT_EQUAL(rec->step, 0);
    CU_ASSERT_DOUBLE_EQUAL(rec->lr, 0.01, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(rec->grad_norm, norm_of(gd_model_grads(f.m.model), np),
                           1e-9 * rec->grad_norm);
    CU_ASSERT(rec->effective_lr > 0 && isfinite(rec->effective_lr));
    for (int i = 0; i < gd_model_layer_count(f.m.model); i++) {
        gd_model_layer *l = gd_model_layer_at(f.m.model, i);
        const gd_layer_telemetry *t = &rec->layers[i];
        gd_tensor a = gd_model_activation(f.m.model, i);
        int64_t n = gd_tensor_numel(&a);
        double s = 0, s2 = 0, dead = 0;
        for (int64_t k = 0; k < n; k++) {
            s += a.data[k];
            s2 += (double)a.data[k] * a.data[k];
        }
        int64_t rows = gd_tensor_rows(&a), cols = gd_tensor_cols(&a);
        for (int64_t c = 0; c < cols; c++) {
            bool all_zero = true;
            for (int64_t r = 0; r < rows; r++)
                all_zero &= a.data[r * cols + c] == 0;
            dead += all_zero;
        }
        double mean = s / n, sd = sqrt(s2 / n - mean * mean);
        CU_ASSERT_DOUBLE_EQUAL(t->act_mean, mean, 1e-9 + 1e-9 * fabs(mean));
        CU_ASSERT_DOUBLE_EQUAL(t->act_std, sd, 1e-6 * (sd + 1e-9));
        if (l->nparams == 0) {
            CU_ASSERT(isnan(t->grad_norm) && isnan(t->update_ratio));
            CU_ASSERT_DOUBLE_EQUAL(t->dead, dead / cols, 1e-12); /* relu: dead units */
            continue;
        }
        CU_ASSERT(isnan(t->dead) && isnan(t->saturated)); /* dense: not an activation */
        const float *w = gd_model_params(f.m.model) + l->param_offset;
        const float *g = gd_model_grads(f.m.model) + l->param_offset;
        const float *b = before + l->param_offset;
        double ds = 0;
        for (int64_t k = 0; k < l->param_count; k++)
            ds += ((double)w[k] - b[k]) * ((double)w[k] - b[k]);
        double gn = norm_of(g, l->param_count), wn = norm_of(b, l->param_count);
        CU_ASSERT_DOUBLE_EQUAL(t->grad_norm, gn, 1e-9 * gn);
        CU_ASSERT_DOUBLE_EQUAL(t->update_ratio, sqrt(ds) / wn, 1e-9 * sqrt(ds) / wn);
        /* Adam's first step moves each weight by about lr: a plausibility check. */
        CU_ASSERT(t->update_ratio > 1e-4 && t->update_ratio < 1);
    }
    free(before);
    fixture_close(&f);
}

/* Clipping by norm inside the step: the recorded norm is the one before
 * clipping, the flag says it fired, and the update used the clipped gradient. */
static void test_train_clip_norm_in_step(void)
{
    gd_error err;
    fixture f;
    fixture_open(&f, 64, 5, test_spec(GD_KIND_OPTIMIZER, "sgd", "lr", 'n', 1.0, NULL), NULL,
                 (gd_train_config){ .epochs = 1, .batch = 64, .seed = 1, .monitor_every = 1,
                                    .clip = GD_CLIP_NORM, .clip_value = 1e-3 });
    int64_t np = gd_model_param_count(f.m.model);
    float *before = malloc(np * sizeof(float));
    memcpy(before, gd_model_params(f.m.model), np * sizeof(float));
    CU_ASSERT_EQUAL_FATAL(gd_trainer_step(f.tr, NULL, &err), GD_OK);
    const gd_step_record *rec = gd_trainer_record(f.tr, 0);
    CU_ASSERT(rec->clipped);
    CU_ASSERT(rec->grad_norm > 1e-3);
    /* sgd with lr 1: the step is the clipped gradient, of norm 1e-3. */
    double moved = 0;
    const float *w = gd_model_params(f.m.model);
    for (int64_t k = 0; k < np; k++)
        moved += ((double)w[k] - before[k]) * ((double)w[k] - before[k]);
    CU_ASSERT_DOUBLE_EQUAL(sqrt(moved), 1e-3, 1e-6);
    free(before);
    fixture_close(&f);
}

/* Losses of 3 epochs of a net wide enough that its products, its update
 * and its gather all run split over the thread pool. */
static void wide_losses(double *out, int n)
{
    gd_error err;
    gd_dataset *ds = gd_synthetic_spirals(512, 2, 0.05, 3, &err);
    gd_model *m = test_relu_mlp(2, 512, 2, 2, 1);
    gd_spec *loss = test_spec(GD_KIND_LOSS, "cross_entropy", NULL);
    gd_spec *opt = test_spec(GD_KIND_OPTIMIZER, "adam", NULL);
    gd_train_config cfg = { .model = m, .loss = loss, .optimizer = opt, .train = ds,
                            .epochs = 3, .batch = 128, .seed = 2 };
    gd_trainer *tr = gd_trainer_new(&cfg, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(tr);
    for (int i = 0; i < n; i++) {
        gd_step_result r;
        CU_ASSERT_EQUAL(gd_trainer_step(tr, &r, &err), GD_OK);
        out[i] = r.loss;
    }
    gd_trainer_free(tr);
    gd_model_free(m);
    gd_spec_free(loss);
    gd_spec_free(opt);
    gd_dataset_free(ds);
}

/* Losses of `n` steps of Adam + L2 on spirals, monitored every `every`
 * steps (0: never). */
static void adam_l2_losses(double *out, int n, int64_t every)
{
    gd_error err;
    fixture f;
    fixture_open(&f, 256, 4, test_spec(GD_KIND_OPTIMIZER, "adam", "lr", 'n', 0.01, NULL),
                 test_spec(GD_KIND_REGULARIZER, "l2", "lambda", 'n', 1e-3, NULL),
                 (gd_train_config){ .epochs = 4, .batch = 32, .seed = 2, .monitor_every = every });
    for (int i = 0; i < n; i++) {
        gd_step_result r;
        CU_ASSERT_EQUAL(gd_trainer_step(f.tr, &r, &err), GD_OK);
        out[i] = r.loss;
    }
    fixture_close(&f);
}

/* Updating each layer right after its backward (the default when nothing
 * needs all gradients first) gives the same numbers as one update of the
 * whole arena after backward (taken on monitored steps). */
static void test_train_fused_update_matches_whole(void)
{
    enum { N = 30 };
    double fused[N], whole[N];
    adam_l2_losses(fused, N, 0);
    adam_l2_losses(whole, N, 1);
    CU_ASSERT_EQUAL(memcmp(fused, whole, sizeof fused), 0);
    CU_ASSERT(fused[N - 1] < fused[0]);
}

/* Same seed and thread count: the same losses, bit for bit, with the work
 * split over 1 and over 2 threads. */
static void test_train_threads_bit_identical(void)
{
    enum { N = 12 };
    double a[N], b[N];
    for (int threads = 1; threads <= 2; threads++) {
        gd_set_threads(threads);
        CU_ASSERT_EQUAL(gd_get_threads(), threads);
        wide_losses(a, N);
        wide_losses(b, N);
        CU_ASSERT_EQUAL(memcmp(a, b, sizeof a), 0);
        CU_ASSERT(a[N - 1] < a[0]);
    }
    gd_set_threads(0);
}

int main(void)
{
    static const test_case cases[] = {
        TEST(test_train_spirals_converge),
        TEST(test_train_same_seed_bit_identical),
        TEST(test_train_refuses_width_mismatch),
        TEST(test_train_divergence_reported),
        TEST(test_train_loss_exploded),
        TEST(test_train_telemetry_matches_tensors),
        TEST(test_train_clip_norm_in_step),
        TEST(test_train_threads_bit_identical),
        TEST(test_train_fused_update_matches_whole),
        TEST_END,
    };
    return test_main("train", cases);
}
