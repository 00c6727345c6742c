/*
 * tests/test_noalloc.c: the steady-state training step allocates nothing.
 *
 * This binary interposes malloc and friends: the executable's definitions
 * win over glibc's for every shared object (libgradus, plugins, OpenBLAS),
 * count calls while `counting` is set, and forward to glibc's __libc_*
 * functions. Built only without sanitizers, which interpose malloc too.
 *
 * A step allocates nothing on either backend, inside the sgemm backend
 * included (counted apart, to say where): oneDNN's packing workspace comes
 * from a buffer kept per thread (core/blas_dnnl_workspace.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "data.h"
#include "support.h"
#include "threads.h"
#include "train.h"

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static volatile int counting;
static volatile long allocations, in_backend;

/* One allocation call: inside the sgemm backend or the step's own. */
static void count(void)
{
    if (!counting)
        return;
    if (gd_blas_in_call())
        in_backend++;
    else
        allocations++;
}

void *malloc(size_t n)
{
    count();
    return __libc_malloc(n);
}

void *calloc(size_t n, size_t m)
{
    count();
    return __libc_calloc(n, m);
}

void *realloc(void *p, size_t n)
{
    count();
    return __libc_realloc(p, n);
}

void *aligned_alloc(size_t a, size_t n)
{
    count();
    return __libc_memalign(a, n);
}

void *memalign(size_t a, size_t n)
{
    count();
    return __libc_memalign(a, n);
}

int posix_memalign(void **p, size_t a, size_t n)
{
    count();
    *p = __libc_memalign(a, n);
    return *p ? 0 : 12;
}

void free(void *p)
{
    if (p)
        count();
    __libc_free(p);
}

/* dense 256, relu, residual{ dense 256, relu, dense 256 }, residual{
 * dense 64, tanh, shortcut = sequential{ dense 64 } }, dense 3: both kinds
 * of block, a nested sequential, the gradient add at each fork. */
static gd_model *residual_model(void)
{
    gd_spec *s[] = {
        test_spec(GD_KIND_LAYER, "dense", "units", 'i', 256LL, NULL),
        test_spec(GD_KIND_LAYER, "relu", NULL),
        test_spec(GD_KIND_LAYER, "dense", "units", 'i', 256LL, NULL),
        test_spec(GD_KIND_LAYER, "relu", NULL),
        test_spec(GD_KIND_LAYER, "dense", "units", 'i', 256LL, NULL),
        test_spec(GD_KIND_LAYER, "dense", "units", 'i', 64LL, NULL),
        test_spec(GD_KIND_LAYER, "tanh", NULL),
        test_spec(GD_KIND_LAYER, "dense", "units", 'i', 64LL, NULL),
        test_spec(GD_KIND_LAYER, "dense", "units", 'i', 3LL, NULL),
    };
    const gd_node_desc tree[] = {
        { GD_NODE_SEQUENTIAL, 5, NULL }, { GD_NODE_LAYER, 0, s[0] }, { GD_NODE_LAYER, 0, s[1] },
        { GD_NODE_RESIDUAL, 1, NULL }, { GD_NODE_SEQUENTIAL, 3, NULL },
        { GD_NODE_LAYER, 0, s[2] }, { GD_NODE_LAYER, 0, s[3] }, { GD_NODE_LAYER, 0, s[4] },
        { GD_NODE_RESIDUAL, 2, NULL }, { GD_NODE_SEQUENTIAL, 2, NULL },
        { GD_NODE_LAYER, 0, s[5] }, { GD_NODE_LAYER, 0, s[6] },
        { GD_NODE_SEQUENTIAL, 1, NULL }, { GD_NODE_LAYER, 0, s[7] },
        { GD_NODE_LAYER, 0, s[8] },
    };
    gd_shape in = gd_shape_1(2);
    gd_error err;
    gd_model *m = gd_model_new_tree(test_registry(), tree, (int)(sizeof tree / sizeof *tree), &in,
                                    1, &err);
    for (size_t i = 0; i < sizeof s / sizeof *s; i++)
        gd_spec_free(s[i]);
    if (!m)
        fprintf(stderr, "\n  model: %s\n", err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_STRING_EQUAL(gd_model_layer_name(gd_model_layer_at(m, 7)), "res2.shortcut.dense1");
    return m;
}

/* Allocations outside the sgemm backend in 100 steady-state steps on
 * `blas`; inside it there must be none. */
static long steady_state_allocations_of(const char *blas, const char *optimizer, bool monitor,
                                        const char *reg, bool residual)
{
    gd_error err;
    CU_ASSERT_EQUAL_FATAL(gd_blas_select(blas, &err), GD_OK);
    gd_dataset *ds = gd_synthetic_spirals(1000, 3, 0.1, 1, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ds);
    /* Wide enough that products, update and gather run on the thread pool. */
    gd_set_threads(2);
    gd_model *m = residual ? residual_model() : test_relu_mlp(2, 256, 2, 3, 1);
    gd_spec *loss = test_spec(GD_KIND_LOSS, "cross_entropy", NULL);
    gd_spec *opt = test_spec(GD_KIND_OPTIMIZER, optimizer, NULL);
    gd_spec *r = reg ? test_spec(GD_KIND_REGULARIZER, reg, "lambda", 'n', 1e-4, NULL) : NULL;
    const gd_spec *regs[] = { r };
    gd_train_config cfg = {
        .model = m, .loss = loss, .optimizer = opt, .train = ds, .epochs = 30, .batch = 128,
        .seed = 1, .monitor_every = monitor ? 7 : 0, .clip = GD_CLIP_NORM, .clip_value = 1.0,
        .regularizers = regs, .nregularizers = r ? 1 : 0,
    };
    gd_trainer *tr = gd_trainer_new(&cfg, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(tr);
    /* Warm up: the first steps may let OpenBLAS set up its buffers. */
    for (int i = 0; i < 40; i++)
        CU_ASSERT_EQUAL(gd_trainer_step(tr, NULL, &err), GD_OK);
    allocations = in_backend = 0;
    long calls = gd_blas_calls();
    counting = 1;
    int ok = 0;
    for (int i = 0; i < 100; i++)
        ok += gd_trainer_step(tr, NULL, &err) == GD_OK;
    counting = 0;
    CU_ASSERT_EQUAL(ok, 100);
    calls = gd_blas_calls() - calls;
    /* 3 dense layers: 3 forward + 3 weight-gradient + 2 input-gradient
     * products a step, some cut in two by the pool. */
    CU_ASSERT(calls >= 100 * 8);
    if (in_backend)
        fprintf(stderr, "\n  %s, %s: %ld allocations inside the backend in 100 steps\n", blas,
                optimizer, (long)in_backend);
    CU_ASSERT_EQUAL(in_backend, 0);
    long n = allocations;
    gd_trainer_free(tr);
    gd_model_free(m);
    gd_spec_free(loss);
    gd_spec_free(opt);
    gd_spec_free(r);
    gd_dataset_free(ds);
    return n;
}

static long steady_state_allocations(const char *blas, const char *optimizer, bool monitor,
                                     const char *reg)
{
    return steady_state_allocations_of(blas, optimizer, monitor, reg, false);
}

/* A model with residual blocks: its sums and gradient adds use buffers
 * sized once, like the layers'. */
static void test_noalloc_residual_model(void)
{
    static const char *const names[] = { "adam", "sam" };
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        long n = steady_state_allocations_of("openblas", names[i], true, "l2", true);
        if (n != 0)
            fprintf(stderr, "\n  %s on a residual model: %ld allocations in 100 steps\n",
                    names[i], n);
        CU_ASSERT_EQUAL(n, 0);
    }
}

static void test_noalloc_sgd_step(void)
{
    CU_ASSERT_EQUAL(steady_state_allocations("openblas", "sgd", false, NULL), 0);
}

static void test_noalloc_adam_monitored_regularized(void)
{
    CU_ASSERT_EQUAL(steady_state_allocations("openblas", "adam", true, "l2"), 0);
}

static void test_noalloc_onednn(void)
{
    if (!gd_blas_available("onednn")) {
        fputs("\n  (no oneDNN in this build: only the OpenBLAS cases ran) ", stderr);
        return;
    }
    CU_ASSERT_EQUAL(steady_state_allocations("onednn", "sgd", false, NULL), 0);
    CU_ASSERT_EQUAL(steady_state_allocations("onednn", "adam", true, "l2"), 0);
}

/* The tensor path (ABI 1.1): every tensor-aware and composite optimizer,
 * SAM's second pass included, allocates nothing per step either (outside
 * oneDNN's own workspace, on that backend). */
static void test_noalloc_tensor_optimizers(void)
{
    static const char *const names[] = { "lars", "lamb", "adafactor", "muon", "lookahead", "sam" };
    static const char *const blas[] = { "openblas", "onednn" };
    int nblas = gd_blas_available("onednn") ? 2 : 1;
    for (int b = 0; b < nblas; b++)
        for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
            long n = steady_state_allocations(blas[b], names[i], true, "l2");
            if (n != 0)
                fprintf(stderr, "\n  %s on %s: %ld allocations in 100 steps\n", names[i],
                        blas[b], n);
            CU_ASSERT_EQUAL(n, 0);
        }
}

/* A small CNN with every image layer (conv2d on both of its paths: the
 * core's oneDNN convolution and the plain im2col one), batch norm and layer
 * norm on images: the step allocates nothing outside oneDNN's own calls
 * (its primitives allocate their argument maps, marked like its sgemm),
 * and nothing at all on OpenBLAS. */
static long cnn_allocations(const char *blas, long *inside)
{
    gd_error err;
    CU_ASSERT_EQUAL_FATAL(gd_blas_select(blas, &err), GD_OK);
    gd_dataset *ds = gd_synthetic_blobs(600, 3, 2 * 8 * 8, 1.0, 1, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ds);
    gd_shape image = { 3, { 2, 8, 8, 0 } };
    CU_ASSERT_EQUAL_FATAL(gd_dataset_set_shape(ds, &image, &err), GD_OK);
    gd_set_threads(2);
    gd_spec *l[] = {
        test_spec(GD_KIND_LAYER, "conv2d", "filters", 'i', 8LL, "kernel", 'i', 3LL, "padding", 's',
                  "same", "activation", 's', "relu", NULL),
        test_spec(GD_KIND_LAYER, "batchnorm", NULL),
        test_spec(GD_KIND_LAYER, "max_pool2d", NULL),
        test_spec(GD_KIND_LAYER, "conv2d", "filters", 'i', 8LL, "kernel", 'i', 3LL, "padding", 'i',
                  1LL, NULL),
        test_spec(GD_KIND_LAYER, "layer_norm", NULL),
        test_spec(GD_KIND_LAYER, "avg_pool2d", NULL),
        test_spec(GD_KIND_LAYER, "flatten", NULL),
        test_spec(GD_KIND_LAYER, "reshape", "shape", 's', "8,2,2", NULL),
        test_spec(GD_KIND_LAYER, "global_avg_pool", NULL),
        test_spec(GD_KIND_LAYER, "dense", "units", 'i', 3LL, NULL),
    };
    enum { N = sizeof l / sizeof *l };
    gd_model *m = gd_model_new(test_registry(), (const gd_spec *const *)l, N, &image, 1, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    gd_spec *loss = test_spec(GD_KIND_LOSS, "cross_entropy", NULL);
    gd_spec *opt = test_spec(GD_KIND_OPTIMIZER, "adam", NULL);
    gd_train_config cfg = { .model = m, .loss = loss, .optimizer = opt, .train = ds,
                            .epochs = 30, .batch = 64, .seed = 1, .monitor_every = 5 };
    gd_trainer *tr = gd_trainer_new(&cfg, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(tr);
    for (int i = 0; i < 30; i++)   /* two epochs: the last, smaller batch too */
        CU_ASSERT_EQUAL(gd_trainer_step(tr, NULL, &err), GD_OK);
    allocations = in_backend = 0;
    counting = 1;
    int ok = 0;
    for (int i = 0; i < 50; i++)
        ok += gd_trainer_step(tr, NULL, &err) == GD_OK;
    counting = 0;
    CU_ASSERT_EQUAL(ok, 50);
    *inside = in_backend;
    long n = allocations;
    gd_trainer_free(tr);
    gd_model_free(m);
    gd_spec_free(loss);
    gd_spec_free(opt);
    for (int i = 0; i < N; i++)
        gd_spec_free(l[i]);
    gd_dataset_free(ds);
    return n;
}

static void test_noalloc_cnn(void)
{
    long inside;
    CU_ASSERT_EQUAL(cnn_allocations("openblas", &inside), 0);
    CU_ASSERT_EQUAL(inside, 0);
    if (!gd_blas_available("onednn"))
        return;
    long n = cnn_allocations("onednn", &inside);
    if (n != 0)
        fprintf(stderr, "\n  cnn on onednn: %ld allocations outside oneDNN in 50 steps\n", n);
    CU_ASSERT_EQUAL(n, 0);
}

/* A small pre-LN transformer on a text set: embedding, positional,
 * residual{ layer_norm, attention }, residual{ layer_norm, dense, gelu,
 * dense }, readout; adamw and muon. Attention's scratch comes from the core
 * and its per-head products run in the pool's parts: nothing is allocated
 * outside the sgemm backend. */
static long transformer_allocations(const char *blas, const char *optimizer, long *inside)
{
    enum { T = 16, D = 16, V = 11 };
    gd_error err;
    CU_ASSERT_EQUAL_FATAL(gd_blas_select(blas, &err), GD_OK);
    gd_set_threads(2);
    uint16_t *ids = malloc(4097 * sizeof *ids);
    uint32_t *vocab = malloc(V * sizeof *vocab);
    for (int i = 0; i < 4097; i++)
        ids[i] = (uint16_t)((i * 7 + i / 5) % V);
    for (int i = 0; i < V; i++)
        vocab[i] = (uint32_t)('a' + i);
    gd_dataset *ds = gd_dataset_from_text(ids, 4097, T, vocab, V, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ds);
    gd_spec *s[] = {
        test_spec(GD_KIND_LAYER, "embedding", "vocab", 'i', (long long)V, "dim", 'i', (long long)D,
                  NULL),
        test_spec(GD_KIND_LAYER, "positional", "max_len", 'i', (long long)T, NULL),
        test_spec(GD_KIND_LAYER, "layer_norm", NULL),
        test_spec(GD_KIND_LAYER, "attention", "heads", 'i', 2LL, NULL),
        test_spec(GD_KIND_LAYER, "dense", "units", 'i', 4LL * D, NULL),
        test_spec(GD_KIND_LAYER, "gelu", NULL),
        test_spec(GD_KIND_LAYER, "dense", "units", 'i', (long long)D, NULL),
        test_spec(GD_KIND_LAYER, "dense", "units", 'i', (long long)V, NULL),
    };
    const gd_node_desc tree[] = {
        { GD_NODE_SEQUENTIAL, 5, NULL }, { GD_NODE_LAYER, 0, s[0] }, { GD_NODE_LAYER, 0, s[1] },
        { GD_NODE_RESIDUAL, 1, NULL }, { GD_NODE_SEQUENTIAL, 2, NULL },
        { GD_NODE_LAYER, 0, s[2] }, { GD_NODE_LAYER, 0, s[3] },
        { GD_NODE_RESIDUAL, 1, NULL }, { GD_NODE_SEQUENTIAL, 4, NULL },
        { GD_NODE_LAYER, 0, s[2] }, { GD_NODE_LAYER, 0, s[4] }, { GD_NODE_LAYER, 0, s[5] },
        { GD_NODE_LAYER, 0, s[6] },
        { GD_NODE_LAYER, 0, s[7] },
    };
    gd_shape in = gd_shape_1(T);
    gd_model *m = gd_model_new_tree(test_registry(), tree, (int)(sizeof tree / sizeof *tree), &in,
                                    1, &err);
    if (!m)
        fprintf(stderr, "\n  model: %s\n", err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    gd_spec *loss = test_spec(GD_KIND_LOSS, "cross_entropy", NULL);
    gd_spec *opt = test_spec(GD_KIND_OPTIMIZER, optimizer, NULL);
    gd_train_config cfg = { .model = m, .loss = loss, .optimizer = opt, .train = ds,
                            .epochs = 30, .batch = 16, .seed = 1 };
    gd_trainer *tr = gd_trainer_new(&cfg, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(tr);
    for (int i = 0; i < 20; i++)
        CU_ASSERT_EQUAL(gd_trainer_step(tr, NULL, &err), GD_OK);
    allocations = in_backend = 0;
    counting = 1;
    int ok = 0;
    for (int i = 0; i < 40; i++)
        ok += gd_trainer_step(tr, NULL, &err) == GD_OK;
    counting = 0;
    CU_ASSERT_EQUAL(ok, 40);
    *inside = in_backend;
    gd_trainer_free(tr);
    gd_model_free(m);
    for (size_t i = 0; i < sizeof s / sizeof *s; i++)
        gd_spec_free(s[i]);
    gd_spec_free(loss);
    gd_spec_free(opt);
    gd_dataset_free(ds);
    gd_set_threads(1);
    return allocations;
}

static void test_noalloc_transformer(void)
{
    static const char *const names[] = { "adamw", "muon" };
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        long inside;
        long n = transformer_allocations("openblas", names[i], &inside);
        if (n != 0)
            fprintf(stderr, "\n  transformer, %s: %ld allocations in 40 steps\n", names[i], n);
        CU_ASSERT_EQUAL(n, 0);
        CU_ASSERT_EQUAL(inside, 0);
        if (gd_blas_available("onednn"))
            CU_ASSERT_EQUAL(transformer_allocations("onednn", names[i], &inside), 0);
    }
}

static void test_noalloc_counter_works(void)
{
    /* The interposition itself must count, or the tests above prove nothing. */
    allocations = 0;
    counting = 1;
    void *volatile p = malloc(16);
    free(p);
    counting = 0;
    CU_ASSERT_EQUAL(allocations, 2);
}

int main(void)
{
    static const test_case cases[] = {
        TEST(test_noalloc_counter_works),
        TEST(test_noalloc_sgd_step),
        TEST(test_noalloc_adam_monitored_regularized),
        TEST(test_noalloc_onednn),
        TEST(test_noalloc_tensor_optimizers),
        TEST(test_noalloc_residual_model),
        TEST(test_noalloc_cnn),
        TEST(test_noalloc_transformer),
        TEST_END,
    };
    return test_main("noalloc", cases);
}
