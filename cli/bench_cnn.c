/*
 * cli/bench_cnn.c: `gradus bench cnn`, DeepOBS's fmnist_2c2d trained on
 * Fashion-MNIST images [1, 28, 28]:
 *
 *   conv 5x5 32 "same" ReLU → max pool 2 → conv 5x5 64 "same" ReLU →
 *   max pool 2 → flatten → dense 1024 ReLU → dense 10,   momentum (lr 0.01)
 *
 * Per batch size and thread count: training samples/s (median of epochs
 * 2..N), GFLOP/s against the FMA peak of one core times the threads
 * measured in the same process between the epochs (on the thread's CPU
 * clock, so a loaded machine does not lower it), the same against the
 * samples per CPU-second of the process (what load cannot stretch), the step split into
 * gather/forward/loss/backward/update (the trainer's own timing), each
 * layer's forward and backward time (a separate pass over one batch,
 * layer by layer, after training), heap allocations per step, and the
 * process's peak RSS beside an estimate of what it holds. Figures, never
 * assertions: this is a measurement tool. bench/torch_cnn.py runs the same
 * network in PyTorch.
 *
 * FLOPs per training sample (multiply-add = 2), forward + weight gradient
 * + input gradient (none for the first layer, whose input needs none):
 *   conv1  2·32·1·25·784 · 2        =  2,508,800
 *   conv2  2·64·32·25·196 · 3       = 60,211,200
 *   dense1 2·3136·1024 · 3          = 19,267,584
 *   dense2 2·1024·10 · 3            =     61,440
 *   total                             82,049,024  (pools, ReLUs, loss: not counted)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "blas.h"
#include "clock.h"
#include "component.h"
#include "host.h"
#include "model.h"
#include "train.h"
#include "threads.h"

enum { NLAYERS = 7, MAX_ROWS = 8 };

/* Each layer's spec as option strings: name, then key=value pairs. */
static const char *const net[NLAYERS][6] = {
    { "conv2d", "filters=32", "kernel=5", "padding=same", "activation=relu", NULL },
    { "max_pool2d", "size=2", NULL },
    { "conv2d", "filters=64", "kernel=5", "padding=same", "activation=relu", NULL },
    { "max_pool2d", "size=2", NULL },
    { "flatten", NULL },
    { "dense", "units=1024", "activation=relu", NULL },
    { "dense", "units=10", NULL },
};

double gd_bench_cnn_flops(void)
{
    return 2.0 * 32 * 25 * 784 * 2 + 2.0 * 64 * 32 * 25 * 196 * 3 + 2.0 * 3136 * 1024 * 3 +
           2.0 * 1024 * 10 * 3;
}

/* One value: an integer when it reads as one, else a string. */
static gd_status set_text(gd_spec *s, const char *kv, gd_error *err)
{
    char key[32];
    const char *eq = strchr(kv, '=');
    snprintf(key, sizeof key, "%.*s", (int)(eq - kv), kv);
    char *end;
    long v = strtol(eq + 1, &end, 10);
    gd_arg a = *end ? (gd_arg){ .type = GD_ARG_STRING, .s = eq + 1 }
                    : (gd_arg){ .type = GD_ARG_INTEGER, .i = v };
    return gd_spec_set(s, key, &a, err);
}

static gd_model *make_cnn(const gd_registry *reg, uint64_t seed, gd_error *err)
{
    gd_spec *specs[NLAYERS] = { 0 };
    gd_model *m = NULL;
    for (int i = 0; i < NLAYERS; i++) {
        const gd_entry *e = gd_registry_find(reg, GD_KIND_LAYER, net[i][0]);
        if (!e) {
            gd_registry_fail_unknown(reg, GD_KIND_LAYER, net[i][0], err);
            goto done;
        }
        gd_spec *s = gd_spec_begin(reg, e->component, err);
        for (int k = 1; s && net[i][k]; k++)
            if (set_text(s, net[i][k], err) != GD_OK) {
                gd_spec_free(s);
                s = NULL;
            }
        if (!s || gd_spec_finish(s, err) != GD_OK) {
            gd_spec_free(s);
            goto done;
        }
        specs[i] = s;
    }
    gd_shape in = { 3, { 1, 28, 28, 0 } };
    m = gd_model_new(reg, (const gd_spec *const *)specs, NLAYERS, &in, seed, err);
done:
    for (int i = 0; i < NLAYERS; i++)
        gd_spec_free(specs[i]);
    return m;
}

/* CPU seconds of this process (all its threads). */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct cnn_result {
    double samples_per_s, peak;
    double samples_per_cpu_s;     /* per CPU-second: what a loaded machine cannot hide */
    gd_step_timing split;
    double allocs_per_step;
    double layer_fwd[NLAYERS], layer_bwd[NLAYERS];   /* seconds per batch */
    long rss_kib;
    double estimate_mib;
} cnn_result;

static gd_tensor batched(float *data, int64_t batch, const gd_shape *s)
{
    gd_tensor t = { data, { s->ndim + 1, { batch, 0, 0, 0 } } };
    for (int i = 0; i < s->ndim; i++)
        t.shape.dim[i + 1] = s->dim[i];
    return t;
}

/* Each layer's forward and backward on one batch of x, in training mode:
 * CPU seconds of the process (all threads; a pool worker waiting for work
 * spins briefly and counts too), the best of `reps` runs each. */
static gd_status profile_layers(gd_model *m, const float *x, int64_t batch, int reps,
                                cnn_result *r, gd_error *err)
{
    float *acts[NLAYERS + 1] = { (float *)x }, *dys[NLAYERS + 1] = { 0 }, *scratch[NLAYERS] = { 0 };
    gd_status st = GD_OK;
    for (int i = 0; i < NLAYERS; i++) {
        gd_model_layer *l = gd_model_layer_at(m, i);
        int64_t out = gd_shape_numel(gd_model_layer_output(l)) * batch;
        acts[i + 1] = calloc((size_t)out, sizeof(float));
        dys[i + 1] = calloc((size_t)out, sizeof(float));
        dys[i] = dys[i] ? dys[i] : calloc((size_t)(gd_shape_numel(gd_model_layer_input(l)) * batch), sizeof(float));
        scratch[i] = calloc((size_t)gd_model_layer_scratch(l, batch) + 1, sizeof(float));
        if (!acts[i + 1] || !dys[i + 1] || !dys[i] || !scratch[i])
            st = gd_fail(err, GD_ENOMEM, "bench cnn: out of memory");
    }
    for (int i = 0; st == GD_OK && i < NLAYERS; i++) {
        gd_model_layer *l = gd_model_layer_at(m, i);
        gd_layer_ctx ctx = { .size = sizeof ctx, .host = gd_core_host(), .training = 1,
                             .rng = gd_model_layer_rng(l), .scratch = scratch[i] };
        gd_tensor tx = batched(acts[i], batch, gd_model_layer_input(l));
        gd_tensor ty = batched(acts[i + 1], batch, gd_model_layer_output(l));
        gd_tensor tdy = batched(dys[i + 1], batch, gd_model_layer_output(l));
        gd_tensor tdx = batched(dys[i], batch, gd_model_layer_input(l));
        r->layer_fwd[i] = r->layer_bwd[i] = INFINITY;
        for (int k = 0; k < reps && st == GD_OK; k++) {
            double t0 = cpu_now();
            st = gd_model_layer_forward(l, &ctx, &tx, &ty, err);
            double t1 = cpu_now();
            for (int64_t j = 0; j < gd_shape_numel(&ty.shape); j++)
                dys[i + 1][j] = 1e-3f * (float)((j % 7) - 3);
            double t2 = cpu_now();
            gd_model_layer_backward(l, &ctx, &tx, &ty, &tdy, i ? &tdx : NULL);
            double t3 = cpu_now();
            r->layer_fwd[i] = fmin(r->layer_fwd[i], t1 - t0);
            r->layer_bwd[i] = fmin(r->layer_bwd[i], t3 - t2);
        }
    }
    for (int i = 0; i <= NLAYERS; i++) {
        if (i)
            free(acts[i]);
        free(dys[i]);
        if (i < NLAYERS)
            free(scratch[i]);
    }
    return st;
}

/* What the process should hold, MiB: parameters, gradients and one
 * momentum slot; activations (every layer's output) and the two input-
 * gradient buffers at the batch; the layers' scratch; oneDNN's part buffers
 * (about four copies of each conv layer's input and output, reordered);
 * the data set as bytes. */
static double estimate_mib(gd_model *m, int64_t batch, int64_t samples)
{
    double floats = 3.0 * (double)gd_model_param_count(m), widest = 0, conv = 0;
    for (int i = 0; i < NLAYERS; i++) {
        gd_model_layer *l = gd_model_layer_at(m, i);
        double in = (double)gd_shape_numel(gd_model_layer_input(l));
        double out = (double)gd_shape_numel(gd_model_layer_output(l));
        floats += out * (double)batch + (double)gd_model_layer_scratch(l, batch);
        widest = fmax(widest, in);
        if (strcmp(net[i][0], "conv2d") == 0)
            conv += 4.0 * (in + out) * (double)batch;
    }
    floats += 2.0 * widest * (double)batch;
    if (strcmp(gd_blas_name(), "onednn") == 0)
        floats += conv;
    return (floats * 4.0 + (double)samples * 785.0) / (1024.0 * 1024.0);
}

static gd_status run_cnn(const gd_registry *reg, const gd_dataset *train, long batch, int epochs,
                         cnn_result *r, gd_error *err)
{
    memset(r, 0, sizeof *r);
    gd_spec *loss = gd_spec_by_name(reg, GD_KIND_LOSS, "cross_entropy", err);
    gd_spec *opt = loss ? gd_spec_by_name(reg, GD_KIND_OPTIMIZER, "momentum", err) : NULL;
    gd_model *m = opt ? make_cnn(reg, 1, err) : NULL;
    gd_trainer *tr = NULL;
    gd_status st = m ? GD_OK : GD_EINVAL;
    if (st == GD_OK) {
        gd_train_config cfg = { .model = m, .loss = loss, .optimizer = opt, .train = train,
                                .epochs = epochs, .batch = batch, .seed = 1 };
        if (!(tr = gd_trainer_new(&cfg, err)))
            st = GD_EINVAL;
    }
    double rates[64], cpu_rates[64];
    int nrates = 0;
    const char *unit;
    for (int e = 0; st == GD_OK && e < epochs; e++) {
        if (e == 1)   /* the first epoch builds primitives and pages memory in */
            gd_trainer_enable_timing(tr, true);
        long a0 = gd_bench_allocations();
        double t0 = gd_clock_now(), c0 = cpu_now();
        st = gd_trainer_epoch(tr, NULL, err);
        double dt = gd_clock_now() - t0, dc = cpu_now() - c0;
        if (e >= 1 && nrates < 64) {
            cpu_rates[nrates] = (double)gd_dataset_size(train) / dc;
            rates[nrates++] = (double)gd_dataset_size(train) / dt;
        }
        if (e == epochs - 1)
            r->allocs_per_step = (double)(gd_bench_allocations() - a0) /
                                 (double)gd_trainer_steps_per_epoch(tr);
        r->peak = fmax(r->peak, gd_get_threads() * gd_bench_fma_sample(0.03, &unit));
    }
    if (st == GD_OK) {
        r->samples_per_s = gd_bench_median(rates, nrates);
        r->samples_per_cpu_s = gd_bench_median(cpu_rates, nrates);
        r->split = *gd_trainer_timing(tr);
        r->rss_kib = gd_bench_peak_rss_kib();
        r->estimate_mib = estimate_mib(m, batch, gd_dataset_size(train));
        float *x = calloc((size_t)(batch * 784), sizeof(float));
        for (int64_t i = 0; x && i < batch * 784; i++)
            x[i] = (float)((i * 7919) % 255) / 255.0f;
        st = x ? profile_layers(m, x, batch, 5, r, err)
               : gd_fail(err, GD_ENOMEM, "bench cnn: out of memory");
        free(x);
    }
    gd_trainer_free(tr);
    gd_model_free(m);
    gd_spec_free(loss);
    gd_spec_free(opt);
    return st;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: gradus bench cnn [--batch 128,32] [--threads 1,2] [--epochs 3] "
               "[--limit 6400] [--blas onednn,openblas]\n"
               "  DeepOBS fmnist_2c2d on Fashion-MNIST [1, 28, 28] with momentum; --limit N "
               "trains on the first N images (0: all 60,000)\n");
}

static void print_row(const char *blas, long threads, long batch, const cnn_result *r)
{
    const gd_step_timing *s = &r->split;
    double tot = s->gather + s->forward + s->loss + s->backward + s->update;
    double flops = r->samples_per_s * gd_bench_cnn_flops();
    if (tot <= 0)
        tot = 1;
    /* per CPU-second against one core's peak: the efficiency of the cores
     * the run actually got */
    double cpu_share = r->samples_per_cpu_s * gd_bench_cnn_flops() / (r->peak / (double)threads);
    printf("%-8s %3ld %5ld %9.0f %8.1f %7.1f %7.1f %5.1f%% %9.0f %5.1f%%   "
           "%4.1f/%4.1f/%4.1f/%4.1f/%4.1f %7.2f %7.1f %8.1f\n", blas, threads, batch,
           r->samples_per_s, 1e3 * batch / r->samples_per_s, flops / 1e9, r->peak / 1e9,
           100 * flops / r->peak, r->samples_per_cpu_s, 100 * cpu_share,
           100 * s->gather / tot, 100 * s->forward / tot, 100 * s->loss / tot,
           100 * s->backward / tot, 100 * s->update / tot, r->allocs_per_step,
           r->rss_kib / 1024.0, r->estimate_mib);
    double lt = 0;
    for (int i = 0; i < NLAYERS; i++)
        lt += r->layer_fwd[i] + r->layer_bwd[i];
    printf("    per layer, CPU ms per batch fwd/bwd (%% of the layers' total):");
    for (int i = 0; i < NLAYERS; i++)
        printf("%s %s%d %.2f/%.2f (%.0f%%)", i ? "," : "", net[i][0], i + 1,
               1e3 * r->layer_fwd[i], 1e3 * r->layer_bwd[i],
               100 * (r->layer_fwd[i] + r->layer_bwd[i]) / lt);
    printf("\n");
}

int gd_bench_cnn(const gd_registry *reg, int argc, char **argv)
{
    long batches[MAX_ROWS] = { 128, 32 }, threads[MAX_ROWS] = { 1, 2 }, limit = 6400;
    int nb = 2, nt = 2, epochs = 3, nblas = 0;
    char blasbuf[64];
    const char *blas[4];
    snprintf(blasbuf, sizeof blasbuf, "%s", gd_blas_name());
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0) { usage(stdout); return 0; }
        if (!v) { fprintf(stderr, "gradus: bench cnn: %s needs a value\n", a); return 2; }
        i++;
        if (strcmp(a, "--batch") == 0) nb = gd_bench_parse_list(v, batches, MAX_ROWS);
        else if (strcmp(a, "--threads") == 0) nt = gd_bench_parse_list(v, threads, MAX_ROWS);
        else if (strcmp(a, "--epochs") == 0) epochs = atoi(v);
        else if (strcmp(a, "--limit") == 0) limit = atol(v);
        else if (strcmp(a, "--blas") == 0) snprintf(blasbuf, sizeof blasbuf, "%s", v);
        else { fprintf(stderr, "gradus: bench cnn: unknown option '%s'\n", a); usage(stderr); return 2; }
        if (nb < 1 || nt < 1) { fprintf(stderr, "gradus: bench cnn: bad list '%s'\n", v); return 2; }
    }
    if (epochs < 2 || epochs > 64 || limit < 0) {
        fprintf(stderr, "gradus: bench cnn: --epochs must be in [2, 64], --limit >= 0\n");
        return 2;
    }
    gd_error err;
    for (char *save = NULL, *p = strtok_r(blasbuf, ",", &save); p && nblas < 4;
         p = strtok_r(NULL, ",", &save)) {
        if (!gd_blas_available(p)) {
            gd_blas_select(p, &err);
            fprintf(stderr, "gradus: bench cnn: --%s\n", err.msg);
            return 2;
        }
        blas[nblas++] = p;
    }
    gd_dataset *train = NULL;
    gd_shape image = { 3, { 1, 28, 28, 0 } };
    if (gd_fashion_mnist_load(NULL, "train", limit, &train, &err) != GD_OK ||
        gd_dataset_set_shape(train, &image, &err) != GD_OK) {
        fprintf(stderr, "gradus: bench cnn: %s\n", err.msg);
        gd_dataset_free(train);
        return 1;
    }
    char cpu[128];
    const char *unit = gd_bench_fma_unit();
    printf("gradus bench cnn: DeepOBS fmnist_2c2d (conv5x5x32 same relu, pool2, conv5x5x64 same "
           "relu, pool2, dense 1024 relu, dense 10), momentum,\n%lld images [1, 28, 28], "
           "%.1f MFLOPs per training sample (fwd + weight grad + input grad but the first "
           "layer's)\ncpu: %s; widest vector unit: %s\n",
           (long long)gd_dataset_size(train), gd_bench_cnn_flops() / 1e6,
           gd_bench_cpu_name(cpu, sizeof cpu), unit);
    for (int i = 0; i < nblas; i++) {
        gd_blas_select(blas[i], &err);
        printf("%s: %s; conv2d %s\n", blas[i], gd_blas_library(),
               strcmp(blas[i], "onednn") == 0 ? "on oneDNN's primitives, lent by the core"
                                               : "on its plain path (im2col + sgemm)");
    }
    printf("median of epochs 2..%d; peak = FMA peak of one core x threads (timed on the thread's "
           "CPU clock), best of samples taken after every epoch\nper cpu-s = samples per CPU-second of the process, and "
           "that rate against one core's peak (on a loaded machine the\nwall-clock rate "
           "counts time the run was not scheduled; this one does not)\nrss = peak RSS of "
           "the process so far, est = what this row should hold (MiB)\n\n"
           "%-8s %3s %5s %9s %8s %7s %7s %6s %9s %6s   %-24s %7s %7s %8s\n",
           epochs, "blas", "thr", "batch", "samples/s", "ms/step", "GFLOP/s", "peak", "%",
           "per cpu-s", "%", "split % gath/fwd/loss/bwd/upd", "allocs", "rss", "est");
    int rc = 0;
    for (int li = 0; li < nblas && !rc; li++) {
        gd_blas_select(blas[li], &err);
        for (int ti = 0; ti < nt && !rc; ti++) {
            gd_set_threads((int)threads[ti]);
            for (int bi = 0; bi < nb && !rc; bi++) {
                cnn_result r;
                if (run_cnn(reg, train, batches[bi], epochs, &r, &err) != GD_OK) {
                    fprintf(stderr, "gradus: bench cnn: %s\n", err.msg);
                    rc = 1;
                    break;
                }
                print_row(blas[li], threads[ti], batches[bi], &r);
                fflush(stdout);
            }
        }
    }
    gd_bench_print_threads();
    gd_dataset_free(train);
    return rc;
}
