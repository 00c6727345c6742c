/*
 * core/telemetry.c: the records of monitored steps (telemetry.h).
 */
#include "telemetry.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model_layer.h"

/* The records are sized for the whole run up front (a step allocates
 * nothing): a cap this large is refused rather than met in calloc. */
bool gd_telemetry_too_many(int64_t cap, int nl) { return cap > (INT64_C(1) << 28) / (nl + 1); }

gd_status gd_telemetry_reserve(gd_telemetry *t, gd_model *m, int64_t cap, gd_error *err)
{
    if (cap <= t->cap)
        return GD_OK;
    int nl = gd_model_layer_count(m);
    gd_step_record *rec = calloc((size_t)cap, sizeof *rec);
    gd_layer_telemetry *layers = calloc((size_t)(cap * nl) + 1, sizeof *layers);
    float *before = t->before ? t->before
                              : malloc((size_t)(gd_model_param_count(m) + 1) * sizeof(float));
    if (!rec || !layers || !before) {
        free(rec);
        free(layers);
        if (before != t->before)
            free(before);
        return gd_fail(err, GD_ENOMEM, "train: out of memory for %lld telemetry records",
                       (long long)cap);
    }
    /* the records so far move over with their layers */
    for (int64_t i = 0; i < t->n; i++) {
        rec[i] = t->records[i];
        memcpy(layers + i * nl, t->records[i].layers, (size_t)nl * sizeof *layers);
    }
    free(t->records);
    free(t->layers);
    t->records = rec;
    t->layers = layers;
    t->before = before;
    for (int64_t i = 0; i < cap; i++)
        t->records[i].layers = t->layers + i * nl;
    t->cap = cap;
    return GD_OK;
}

void gd_telemetry_free(gd_telemetry *t)
{
    free(t->records);
    free(t->layers);
    free(t->before);
    *t = (gd_telemetry){ 0 };
}

void gd_telemetry_keep_params(gd_telemetry *t, gd_model *m)
{
    memcpy(t->before, gd_model_params(m), (size_t)gd_model_param_count(m) * sizeof(float));
}

void gd_telemetry_layers(const gd_telemetry *tel, gd_model *m, gd_step_record *rec)
{
    int nl = gd_model_layer_count(m);
    for (int i = 0; i < nl; i++) {
        gd_model_layer *l = gd_model_layer_at(m, i);
        gd_layer_telemetry *t = &rec->layers[i];
        double gs = 0, ws = 0, ds = 0;
        const float *w = gd_model_params(m) + l->param_offset;
        const float *g = gd_model_grads(m) + l->param_offset;
        const float *b = tel->before + l->param_offset;
        for (int64_t k = 0; k < l->param_count; k++) {
            gs += (double)g[k] * g[k];
            ws += (double)b[k] * b[k];
            double d = (double)w[k] - b[k];
            ds += d * d;
        }
        t->grad_norm = l->param_count ? sqrt(gs) : NAN;
        t->param_norm = l->param_count ? sqrt(ws) : NAN;
        t->update_ratio = l->param_count && ws > 0 ? sqrt(ds) / sqrt(ws) : NAN;
        gd_tensor a = gd_model_activation(m, i);
        int64_t n = gd_tensor_numel(&a), rows = gd_tensor_rows(&a), cols = gd_tensor_cols(&a);
        double s = 0, s2 = 0;
        int64_t sat = 0;
        for (int64_t k = 0; k < n; k++) {
            double v = a.data[k];
            s += v;
            s2 += v * v;
            sat += l->info.activation == GD_ACT_SIGMOID ? (v < 0.01 || v > 0.99)
                 : l->info.activation == GD_ACT_TANH ? fabs(v) > 0.99 : 0;
        }
        /* A dead unit outputs 0 for every sample of the batch: half the
         * outputs of a healthy ReLU layer are 0, but not for the same units. */
        int64_t dead = 0;
        for (int64_t c = 0; l->info.activation == GD_ACT_RELU && c < cols; c++) {
            int64_t r = 0;
            while (r < rows && a.data[r * cols + c] == 0)
                r++;
            dead += r == rows;
        }
        double mean = s / (double)n, var = s2 / (double)n - mean * mean;
        t->act_mean = mean;
        t->act_std = sqrt(var > 0 ? var : 0);
        t->saturated = l->info.activation == GD_ACT_SIGMOID || l->info.activation == GD_ACT_TANH
                           ? (double)sat / (double)n : NAN;
        t->dead = l->info.activation == GD_ACT_RELU ? (double)dead / (double)cols : NAN;
    }
}

/* The length of the update over the length of the gradient it was made
 * with. */
double gd_telemetry_step_per_gradient(const gd_telemetry *t, gd_model *m)
{
    const float *w = gd_model_params(m), *g = gd_model_grads(m);
    double d2 = 0, g2 = 0;
    for (int64_t i = 0; i < gd_model_param_count(m); i++) {
        double d = (double)w[i] - t->before[i];
        d2 += d * d;
        g2 += (double)g[i] * g[i];
    }
    return g2 > 0 ? sqrt(d2 / g2) : 0;
}
