/*
 * cli/bench_transformer.c: `gradus bench transformer`.
 *
 * The model of scripts/char_transformer.lua (embedding, positional, 4 pre-LN
 * blocks gd.residual{ layer_norm, attention } + gd.residual{ layer_norm,
 * dense 4d, gelu, dense d }, layer_norm, dense readout; d 128, 4 heads,
 * context 128) trained with AdamW at batch 32 x 128 tokens, on a text of
 * random ids over 65 characters (the speed does not depend on the text).
 * For each thread count: training tokens/s (median of the timed epochs),
 * GFLOP/s from the FLOP count per token stated in the header, its share of
 * the FMA peak (one core's, measured here, times the threads), and heap
 * allocations per step. Then the step split by layer kind: each kind alone,
 * as a one-layer model at the step's shapes (forward + backward), times its
 * count in the model. Figures, never assertions.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "blas.h"
#include "clock.h"
#include "data.h"
#include "model.h"
#include "threads.h"
#include "train.h"

enum { T = 128, D = 128, HEADS = 4, BLOCKS = 4, VOCAB = 65, BATCH = 32 };

/* A layer spec with up to two integer options (k NULL: none). */
static gd_spec *layer(const gd_registry *reg, const char *name, const char *k1, int64_t v1,
                      const char *k2, int64_t v2, gd_error *err)
{
    const gd_entry *e = gd_registry_find(reg, GD_KIND_LAYER, name);
    if (!e) {
        gd_registry_fail_unknown(reg, GD_KIND_LAYER, name, err);
        return NULL;
    }
    gd_spec *s = gd_spec_begin(reg, e->component, err);
    gd_arg a = { .type = GD_ARG_INTEGER, .i = v1 }, b = { .type = GD_ARG_INTEGER, .i = v2 };
    if (s && ((k1 && gd_spec_set(s, k1, &a, err) != GD_OK) ||
              (k2 && gd_spec_set(s, k2, &b, err) != GD_OK))) {
        gd_spec_free(s);
        return NULL;
    }
    if (s && gd_spec_finish(s, err) != GD_OK) {
        gd_spec_free(s);
        return NULL;
    }
    return s;
}

/* The kinds of layer in the model, with their input shapes and counts. */
typedef struct kind {
    const char *label, *name, *key;
    int64_t value;
    gd_shape in;
    int count;
    double flops;          /* per token, training step (forward + backward) */
    gd_spec *spec;
    double seconds;        /* per step, alone */
} kind;

static void kinds_init(kind *k)
{
    const double d = D, t = T;
    /* Dense: 2 in*out forward, 4 backward (dW and dx). Attention: its two
     * projections (8d^2 forward), and q.k and p.v over the (T+1)/2 keys a
     * causal query sees on average (2d(T+1) forward), backward twice that. */
    kind all[] = {
        { "embedding", "embedding", "vocab", VOCAB, gd_shape_1(T), 1, 0, NULL, 0 },
        { "positional", "positional", "max_len", T, gd_shape_2(T, D), 1, 0, NULL, 0 },
        { "layer_norm", "layer_norm", NULL, 0, gd_shape_2(T, D), 2 * BLOCKS + 1, 0, NULL, 0 },
        { "attention", "attention", "heads", HEADS, gd_shape_2(T, D), BLOCKS,
          3 * (8 * d * d + 2 * d * (t + 1)), NULL, 0 },
        { "dense d->4d", "dense", "units", 4 * D, gd_shape_2(T, D), BLOCKS, 6 * d * 4 * d, NULL,
          0 },
        { "gelu", "gelu", NULL, 0, gd_shape_2(T, 4 * D), BLOCKS, 0, NULL, 0 },
        { "dense 4d->d", "dense", "units", D, gd_shape_2(T, 4 * D), BLOCKS, 6 * d * 4 * d, NULL,
          0 },
        { "dense readout", "dense", "units", VOCAB, gd_shape_2(T, D), 1, 6 * d * VOCAB, NULL, 0 },
    };
    memcpy(k, all, sizeof all);
}
#define NKINDS 8

/* The model as a tree (model.h): root, embedding, positional, the blocks,
 * layer_norm, readout. */
static gd_model *make_model(const gd_registry *reg, kind *k, gd_error *err)
{
    gd_node_desc n[64];
    int c = 0;
    n[c++] = (gd_node_desc){ GD_NODE_SEQUENTIAL, 2 + 2 * BLOCKS + 2, NULL };
    n[c++] = (gd_node_desc){ GD_NODE_LAYER, 0, k[0].spec };
    n[c++] = (gd_node_desc){ GD_NODE_LAYER, 0, k[1].spec };
    for (int b = 0; b < BLOCKS; b++) {
        n[c++] = (gd_node_desc){ GD_NODE_RESIDUAL, 1, NULL };
        n[c++] = (gd_node_desc){ GD_NODE_SEQUENTIAL, 2, NULL };
        n[c++] = (gd_node_desc){ GD_NODE_LAYER, 0, k[2].spec };
        n[c++] = (gd_node_desc){ GD_NODE_LAYER, 0, k[3].spec };
        n[c++] = (gd_node_desc){ GD_NODE_RESIDUAL, 1, NULL };
        n[c++] = (gd_node_desc){ GD_NODE_SEQUENTIAL, 4, NULL };
        n[c++] = (gd_node_desc){ GD_NODE_LAYER, 0, k[2].spec };
        n[c++] = (gd_node_desc){ GD_NODE_LAYER, 0, k[4].spec };
        n[c++] = (gd_node_desc){ GD_NODE_LAYER, 0, k[5].spec };
        n[c++] = (gd_node_desc){ GD_NODE_LAYER, 0, k[6].spec };
    }
    n[c++] = (gd_node_desc){ GD_NODE_LAYER, 0, k[2].spec };
    n[c++] = (gd_node_desc){ GD_NODE_LAYER, 0, k[7].spec };
    gd_shape in = gd_shape_1(T);
    return gd_model_new_tree(reg, n, c, &in, 1, err);
}

/* A text of random ids: `windows` samples of T. */
static gd_dataset *random_text(int64_t windows, gd_error *err)
{
    int64_t len = windows * T + 1;
    uint16_t *ids = malloc((size_t)len * sizeof *ids);
    uint32_t *vocab = malloc(VOCAB * sizeof *vocab);
    if (!ids || !vocab) {
        free(ids);
        free(vocab);
        gd_fail(err, GD_ENOMEM, "bench: out of memory");
        return NULL;
    }
    gd_rng r = gd_rng_stream(7, 0);
    for (int64_t i = 0; i < len; i++)
        ids[i] = (uint16_t)gd_rng_below(&r, VOCAB);
    for (int i = 0; i < VOCAB; i++)
        vocab[i] = (uint32_t)(' ' + i);
    gd_dataset *ds = gd_dataset_from_text(ids, len, T, vocab, VOCAB, err);
    if (!ds) {
        free(ids);
        free(vocab);
    }
    return ds;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Seconds per forward + backward of one kind alone at batch BATCH. */
static gd_status time_kind(const gd_registry *reg, kind *k, double min_seconds, gd_error *err)
{
    gd_model *m = gd_model_new(reg, (const gd_spec *const *)&k->spec, 1, &k->in, 1, err);
    if (!m || gd_model_reserve(m, BATCH, err) != GD_OK) {
        gd_model_free(m);
        return GD_EINVAL;
    }
    int64_t nin = BATCH * gd_shape_numel(&k->in);
    int64_t nout = BATCH * gd_shape_numel(gd_model_output_shape(m));
    float *x = malloc((size_t)nin * sizeof *x), *dy = malloc((size_t)nout * sizeof *dy);
    gd_status st = x && dy ? GD_OK : gd_fail(err, GD_ENOMEM, "bench: out of memory");
    gd_rng r = gd_rng_stream(3, 0);
    for (int64_t i = 0; x && i < nin; i++)
        x[i] = k->value == VOCAB && k->name[0] == 'e' ? (float)gd_rng_below(&r, VOCAB)
                                                      : (float)gd_rng_normal(&r);
    for (int64_t i = 0; dy && i < nout; i++)
        dy[i] = (float)gd_rng_normal(&r) * 1e-3f;
    double t0 = gd_clock_now(), dt = 0;
    int64_t reps = 0;
    while (st == GD_OK && (dt < min_seconds || reps < 3)) {
        const float *y;
        st = gd_model_forward(m, x, BATCH, true, &y, err);
        if (st == GD_OK)
            gd_model_backward(m, dy);
        reps++;
        dt = gd_clock_now() - t0;
    }
    k->seconds = dt / (double)reps;
    free(x);
    free(dy);
    gd_model_free(m);
    return st;
}

/* Train `epochs` epochs of `steps` steps; tokens/s is the median over the
 * epochs after the first, allocations per step those of the last. */
static gd_status time_training(const gd_registry *reg, kind *k, const gd_dataset *ds, int epochs,
                               double *tokens_per_s, double *allocs, gd_error *err)
{
    gd_spec *loss = gd_spec_by_name(reg, GD_KIND_LOSS, "cross_entropy", err);
    gd_spec *opt = loss ? gd_spec_by_name(reg, GD_KIND_OPTIMIZER, "adamw", err) : NULL;
    gd_model *m = opt ? make_model(reg, k, err) : NULL;
    gd_train_config cfg = { .model = m, .loss = loss, .optimizer = opt, .train = ds,
                            .epochs = epochs, .batch = BATCH, .seed = 1 };
    gd_trainer *tr = m ? gd_trainer_new(&cfg, err) : NULL;
    gd_status st = tr ? GD_OK : GD_EINVAL;
    double rates[16];
    int n = 0;
    for (int e = 0; st == GD_OK && e < epochs; e++) {
        long a0 = gd_bench_allocations();
        double t0 = gd_clock_now();
        st = gd_trainer_epoch(tr, NULL, err);
        double dt = gd_clock_now() - t0;
        if (e > 0 && n < 16)
            rates[n++] = (double)gd_dataset_size(ds) * T / dt;
        *allocs = (double)(gd_bench_allocations() - a0) / (double)gd_trainer_steps_per_epoch(tr);
    }
    qsort(rates, (size_t)n, sizeof rates[0], cmp_double);
    *tokens_per_s = n ? rates[n / 2] : NAN;
    gd_trainer_free(tr);
    gd_model_free(m);
    gd_spec_free(loss);
    gd_spec_free(opt);
    return st;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: gradus bench transformer [--threads LIST] [--steps N] [--epochs N]\n"
               "  the char_transformer model (d 128, 4 heads, 4 blocks, T 128) with adamw at\n"
               "  batch 32 x 128 tokens: tokens/s, share of the FMA peak, allocations per\n"
               "  step, the step split by layer kind. --threads 1,2 (default), --steps 20 per\n"
               "  epoch, --epochs 3 (the first is not timed).\n");
}

int gd_bench_transformer(const gd_registry *reg, int argc, char **argv)
{
    long threads[8] = { 1, 2 };
    int nt = 2, steps = 20, epochs = 3;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (!v) {
            usage(stderr);
            return 2;
        }
        if (strcmp(a, "--threads") == 0) {
            nt = 0;
            for (char *s = (char *)v, *end; *s && nt < 8; s = *end ? end + 1 : end) {
                threads[nt] = strtol(s, &end, 10);
                if (end == s || threads[nt] < 1 || threads[nt] > 256)
                    nt = 8;
                nt++;
            }
        } else if (strcmp(a, "--steps") == 0) {
            steps = atoi(v);
        } else if (strcmp(a, "--epochs") == 0) {
            epochs = atoi(v);
        } else {
            nt = 9;
        }
        i++;
        if (nt > 8 || steps < 1 || steps > 100000 || epochs < 2 || epochs > 16) {
            fprintf(stderr, "gradus: bench transformer: bad option %s %s\n", a, v);
            usage(stderr);
            return 2;
        }
    }
    kind k[NKINDS];
    kinds_init(k);
    gd_error err;
    gd_dataset *ds = NULL;
    int rc = 1;
    for (int i = 0; i < NKINDS; i++)
        if (!(k[i].spec = layer(reg, k[i].name, k[i].key, k[i].value,
                                i == 0 ? "dim" : NULL, D, &err)))
            goto done;
    if (!(ds = random_text((int64_t)steps * BATCH, &err)))
        goto done;
    double flops = 0;
    for (int i = 0; i < NKINDS; i++)
        flops += k[i].count * k[i].flops;
    printf("transformer: embedding, positional, %d pre-LN blocks (d %d, %d heads, 4d MLP, "
           "gelu), layer_norm, readout to %d; T %d, batch %d; adamw\n", BLOCKS, D, HEADS, VOCAB,
           T, BATCH);
    printf("FLOPs per token of a training step: %.2f M (products only: dense %.2f M, attention "
           "%.2f M of which q.k and p.v %.2f M over the causal half)\n", flops / 1e6,
           (flops - BLOCKS * k[3].flops) / 1e6, BLOCKS * k[3].flops / 1e6,
           BLOCKS * 3.0 * 2 * D * (T + 1) / 1e6);
    printf("%-8s %12s %10s %12s %12s %12s\n", "threads", "tokens/s", "GFLOP/s", "FMA peak",
           "% of peak", "allocs/step");
    const char *unit = "";
    for (int t = 0; t < nt; t++) {
        gd_set_threads((int)threads[t]);
        double tps, allocs;
        if (time_training(reg, k, ds, epochs, &tps, &allocs, &err) != GD_OK)
            goto done;
        double peak = (double)gd_get_threads() * gd_bench_fma_sample(0.05, &unit);
        printf("%-8d %12.0f %10.1f %12.1f %11.1f%% %12.1f\n", gd_get_threads(), tps,
               tps * flops / 1e9, peak / 1e9, 100 * tps * flops / peak, allocs);
    }
    printf("(FMA peak: one core's %s loop times the threads, measured after each run)\n", unit);
    if (strcmp(gd_blas_name(), "onednn") == 0)
        printf("(sgemm on oneDNN, which allocates its packing workspace inside most calls, 2\n"
               " allocations each: these are those; none are made outside it, tests/test_noalloc.c;\n"
               " GRADUS_BLAS=openblas makes none at all)\n");
    gd_set_threads(1);
    printf("\nsplit by layer kind, 1 thread, each kind alone at the step's shapes "
           "(forward + backward):\n%-16s %6s %12s %8s\n", "kind", "count", "ms/step", "share");
    double total = 0;
    for (int i = 0; i < NKINDS; i++) {
        if (time_kind(reg, &k[i], 0.2, &err) != GD_OK)
            goto done;
        total += k[i].count * k[i].seconds;
    }
    for (int i = 0; i < NKINDS; i++)
        printf("%-16s %6d %12.2f %7.1f%%\n", k[i].label, k[i].count,
               1e3 * k[i].count * k[i].seconds, 100 * k[i].count * k[i].seconds / total);
    printf("%-16s %6s %12.2f\n", "sum", "", 1e3 * total);
    rc = 0;
done:
    if (rc)
        fprintf(stderr, "gradus: bench transformer: %s\n", err.msg);
    for (int i = 0; i < NKINDS; i++)
        gd_spec_free(k[i].spec);
    gd_dataset_free(ds);
    return rc;
}
