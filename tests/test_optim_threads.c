/*
 * tests/test_optim_threads.c: tensor-aware optimizers step their tensors in
 * parallel on the pool (core/optim.c) and give the same numbers, bit for
 * bit, on 1, 2 and 3 threads, on either sgemm backend.
 *
 * The tensors: matrices both ways round (muon works on the transpose when
 * r > c) and large enough that muon's products would be cut across threads
 * if a step inside a pool job were not run on one thread; vectors for the
 * rank-1 rules and muon's fallback.
 *
 * On one thread the trainer steps each layer's tensors right after its
 * backward, and an elementwise optimizer each slice of a streamed weight
 * gradient as it is made (dense); the numbers are those of one update
 * after the whole backward (what a monitored step does).
 *
 * Also here: a monitored step of a tensor-aware optimizer records an
 * effective lr, |update| / |gradient|, which is the lr itself for SGD run
 * through the tensor path (lookahead before its first synchronization).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "model.h"
#include "optim.h"
#include "support.h"
#include "threads.h"
#include "train.h"

enum { NT = 6, STEPS = 4 };

static const gd_shape shapes[NT] = {
    { 2, { 160, 96, 0, 0 } }, { 1, { 96, 0, 0, 0 } }, { 2, { 96, 128, 0, 0 } },
    { 1, { 128, 0, 0, 0 } },  { 2, { 3, 5, 0, 0 } },  { 1, { 7, 0, 0, 0 } },
};

typedef struct run {
    float *x[NT], *g[NT];
    float *state;          /* a copy of every slot after the last step */
    int64_t nstate;
} run;

/* STEPS updates of `opt` on `threads` threads from the same start. */
static void run_steps(const gd_spec *opt, int threads, run *r)
{
    gd_error err;
    gd_optim_tensor ts[NT];
    gd_set_threads(threads);
    CU_ASSERT_EQUAL(gd_get_threads(), threads);
    for (int i = 0; i < NT; i++) {
        int64_t n = gd_shape_numel(&shapes[i]);
        r->x[i] = malloc((size_t)n * sizeof(float));
        r->g[i] = malloc((size_t)n * sizeof(float));
        for (int64_t k = 0; k < n; k++)
            r->x[i][k] = 0.1f * test_value(100 + (uint64_t)i, k);
        ts[i] = (gd_optim_tensor){ .x = r->x[i], .shape = shapes[i],
                                   .role = shapes[i].ndim == 2 ? GD_ROLE_WEIGHT : GD_ROLE_BIAS,
                                   .layer = "dense", .name = "w" };
    }
    gd_optim *o = gd_optim_new(opt, ts, NT, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(o);
    for (int s = 0; s < STEPS; s++) {
        for (int i = 0; i < NT; i++) {
            for (int64_t k = 0; k < gd_shape_numel(&shapes[i]); k++)
                r->g[i][k] = test_value(1000 * (uint64_t)s + (uint64_t)i, k);
            gd_optim_set_grad(o, i, r->g[i]);
        }
        CU_ASSERT_EQUAL(gd_optim_step(o, 0.01, NULL, NULL, &err), GD_OK);
    }
    float *f = gd_optim_floats(o, &r->nstate);
    r->state = malloc((size_t)r->nstate * sizeof(float) + 1);
    memcpy(r->state, f, (size_t)r->nstate * sizeof(float));
    gd_optim_free(o);
}

static void run_free(run *r)
{
    for (int i = 0; i < NT; i++) {
        free(r->x[i]);
        free(r->g[i]);
    }
    free(r->state);
}

/* Same parameters and state on every thread count; the parameters moved. */
static void check_optimizer(const char *blas, gd_spec *opt)
{
    gd_error err;
    CU_ASSERT_EQUAL_FATAL(gd_blas_select(blas, &err), GD_OK);
    run one, many;
    run_steps(opt, 1, &one);
    for (int threads = 2; threads <= 3; threads++) {
        run_steps(opt, threads, &many);
        bool same = one.nstate == many.nstate &&
                    memcmp(one.state, many.state, (size_t)one.nstate * sizeof(float)) == 0;
        for (int i = 0; i < NT; i++)
            same = same && memcmp(one.x[i], many.x[i],
                                  (size_t)gd_shape_numel(&shapes[i]) * sizeof(float)) == 0;
        if (!same)
            fprintf(stderr, "\n  %s on %s: 1 and %d threads differ\n", opt->component->name,
                    blas, threads);
        CU_ASSERT(same);
        run_free(&many);
    }
    float moved = 0;
    for (int64_t k = 0; k < gd_shape_numel(&shapes[0]); k++)
        moved = fmaxf(moved, fabsf(one.x[0][k] - 0.1f * test_value(100, k)));
    CU_ASSERT(moved > 0 && isfinite(moved));
    run_free(&one);
    gd_spec_free(opt);
}

static void test_optim_threads_bit_identical(void)
{
    static const char *const blas[] = { "openblas", "onednn" };
    for (int b = 0; b < (gd_blas_available("onednn") ? 2 : 1); b++) {
        gd_kind k = GD_KIND_OPTIMIZER;
        check_optimizer(blas[b], test_spec(k, "lars", "weight_decay", 'n', 1e-3, NULL));
        check_optimizer(blas[b], test_spec(k, "lamb", NULL));
        check_optimizer(blas[b], test_spec(k, "adafactor", NULL));
        check_optimizer(blas[b], test_spec(k, "muon", NULL));
        gd_spec *inner = test_spec(k, "lars", NULL);
        check_optimizer(blas[b], test_spec(k, "lookahead", "k", 'i', 2LL, "inner", 'p', inner,
                                           NULL));
        gd_spec_free(inner);
    }
    gd_set_threads(0);
}

/* Losses of n steps of `optim` (an L2 penalty with `l2`) on spirals with
 * the model 2-300-300-2 (the 300x300 layer's weight gradient comes in 2
 * slices of rows when streamed), monitored every `every` steps (0: never,
 * so fused), on one thread. The parameters after them into params. */
static void run_losses(const char *optim, bool l2reg, double *out, int n, int64_t every,
                       float *params, int64_t nparams)
{
    gd_error err;
    gd_set_threads(1);
    gd_dataset *ds = gd_synthetic_spirals(256, 2, 0.05, 7, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ds);
    gd_model *m = test_relu_mlp(2, 300, 2, 2, 4);
    CU_ASSERT_EQUAL_FATAL(gd_model_param_count(m), nparams);
    gd_spec *loss = test_spec(GD_KIND_LOSS, "cross_entropy", NULL);
    gd_spec *opt = test_spec(GD_KIND_OPTIMIZER, optim, "lr", 'n', 0.01, NULL);
    gd_spec *l2 = l2reg ? test_spec(GD_KIND_REGULARIZER, "l2", "lambda", 'n', 1e-3, NULL) : NULL;
    const gd_spec *regs[] = { l2 };
    gd_train_config cfg = { .model = m, .loss = loss, .optimizer = opt, .train = ds,
                            .epochs = 2, .batch = 32, .seed = 2, .monitor_every = every,
                            .regularizers = regs, .nregularizers = l2 ? 1 : 0 };
    gd_trainer *tr = gd_trainer_new(&cfg, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(tr);
    for (int i = 0; i < n; i++) {
        gd_step_result r;
        CU_ASSERT_EQUAL(gd_trainer_step(tr, &r, &err), GD_OK);
        out[i] = r.loss;
    }
    memcpy(params, gd_model_params(m), (size_t)nparams * sizeof(float));
    gd_trainer_free(tr);
    gd_spec_free(l2);
    gd_spec_free(opt);
    gd_spec_free(loss);
    gd_model_free(m);
    gd_dataset_free(ds);
    gd_set_threads(0);
}

/* Fused (each layer's tensors stepped after its backward; for adam each
 * weight-gradient slice as it is made) and whole (after the backward, as
 * a monitored step does) give the same numbers, on either backend. */
static void test_optim_threads_fused_matches_whole(void)
{
    enum { N = 12, NP = 2 * 300 + 300 + 300 * 300 + 300 + 300 * 2 + 2 };
    static const char *const blas[] = { "openblas", "onednn" };
    static const struct { const char *optim; bool l2; } runs[] = {
        { "lamb", true }, { "adam", false }, { "sgd", false },
    };
    for (int b = 0; b < (gd_blas_available("onednn") ? 2 : 1); b++) {
        gd_error err;
        CU_ASSERT_EQUAL_FATAL(gd_blas_select(blas[b], &err), GD_OK);
        for (size_t r = 0; r < sizeof runs / sizeof *runs; r++) {
            double fused[N], whole[N];
            static float pf[NP], pw[NP];
            run_losses(runs[r].optim, runs[r].l2, fused, N, 0, pf, NP);
            run_losses(runs[r].optim, runs[r].l2, whole, N, 1, pw, NP);
            bool same = memcmp(fused, whole, sizeof fused) == 0 && memcmp(pf, pw, sizeof pf) == 0;
            if (!same)
                fprintf(stderr, "\n  %s on %s: fused and whole differ\n", runs[r].optim,
                        blas[b]);
            CU_ASSERT(same);
            CU_ASSERT(fused[N - 1] < fused[0]);
        }
    }
}

/* Monitored steps of `opt` on spirals; the records' effective lr. */
static void effective_lrs(gd_spec *opt, double *out, int n)
{
    gd_error err;
    gd_dataset *ds = gd_synthetic_spirals(64, 2, 0.05, 7, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ds);
    gd_model *m = test_relu_mlp(2, 16, 1, 2, 3);
    gd_spec *loss = test_spec(GD_KIND_LOSS, "cross_entropy", NULL);
    gd_train_config cfg = { .model = m, .loss = loss, .optimizer = opt, .train = ds,
                            .epochs = 1, .batch = 8, .seed = 1, .monitor_every = 1 };
    gd_trainer *tr = gd_trainer_new(&cfg, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(tr);
    for (int i = 0; i < n; i++) {
        CU_ASSERT_EQUAL(gd_trainer_step(tr, NULL, &err), GD_OK);
        out[i] = gd_trainer_record(tr, i)->effective_lr;
    }
    gd_trainer_free(tr);
    gd_spec_free(loss);
    gd_spec_free(opt);
    gd_model_free(m);
    gd_dataset_free(ds);
}

static void test_optim_threads_effective_lr(void)
{
    enum { N = 4 };
    double e[N];
    gd_spec *sgd = test_spec(GD_KIND_OPTIMIZER, "sgd", "lr", 'n', 0.05, NULL);
    effective_lrs(test_spec(GD_KIND_OPTIMIZER, "lookahead", "k", 'i', 100LL, "inner", 'p', sgd,
                            NULL), e, N);
    for (int i = 0; i < N; i++)
        CU_ASSERT_DOUBLE_EQUAL(e[i], 0.05, 1e-6);
    effective_lrs(test_spec(GD_KIND_OPTIMIZER, "lars", NULL), e, N);
    for (int i = 0; i < N; i++)
        CU_ASSERT(isfinite(e[i]) && e[i] > 0);
    gd_spec_free(sgd);
}

int main(void)
{
    static const test_case cases[] = {
        TEST(test_optim_threads_bit_identical),
        TEST(test_optim_threads_effective_lr),
        TEST(test_optim_threads_fused_matches_whole),
        TEST_END,
    };
    return test_main("optim_threads", cases);
}
