/*
 * core/checkpoint_probes.c: the PROB section of a checkpoint (CHECKPOINTS.md),
 * written only by runs with monitor.probes: what a resumed run needs to go
 * on measuring bit for bit (the plan, the weights distances count from) and
 * the records so far.
 *
 *   plan    i64 sharpness every, samples, iters; f64 tol;
 *           i64 trace every, samples, probes;
 *           i64 noise every, samples, small, big, repeats;
 *           i64 distance every; i64 alpha every, samples; i64 batch; u64 seed
 *   u64 n, n x f32          w_start
 *   u8 warm, (warm) n x f32 the last top eigenvector (sharpness' next start)
 *   u64 count, u32 nlayers, count x record:
 *           i64 step; f64 sharpness, residual; i64 iters; f64 trace, se;
 *           f64 noise scale, tr Σ, |G|²; f64 distance, nlayers x f64;
 *           f64 alpha, loss before, loss after
 */
#include "checkpoint_probes.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void gd_put_probes(gd_buf *b, const gd_probe_monitor *pm)
{
    const gd_probe_plan *p = gd_probe_monitor_plan(pm);
    gd_put_u64(b, (uint64_t)p->sharpness_every);
    gd_put_u64(b, (uint64_t)p->sharpness_samples);
    gd_put_u64(b, (uint64_t)p->sharpness_iters);
    gd_put_f64(b, p->sharpness_tol);
    gd_put_u64(b, (uint64_t)p->trace_every);
    gd_put_u64(b, (uint64_t)p->trace_samples);
    gd_put_u64(b, (uint64_t)p->trace_probes);
    gd_put_u64(b, (uint64_t)p->noise_every);
    gd_put_u64(b, (uint64_t)p->noise_samples);
    gd_put_u64(b, (uint64_t)p->noise_small);
    gd_put_u64(b, (uint64_t)p->noise_big);
    gd_put_u64(b, (uint64_t)p->noise_repeats);
    gd_put_u64(b, (uint64_t)p->distance_every);
    gd_put_u64(b, (uint64_t)p->alpha_every);
    gd_put_u64(b, (uint64_t)p->alpha_samples);
    gd_put_u64(b, (uint64_t)p->batch);
    gd_put_u64(b, p->seed);
    const float *start = gd_probe_monitor_start(pm);
    int64_t n = gd_probe_monitor_nparams(pm);
    gd_put_u64(b, (uint64_t)n);
    gd_put_f32s(b, start, n);
    const float *warm = gd_probe_monitor_warm(pm);
    gd_put_u8(b, warm != NULL);
    if (warm)
        gd_put_f32s(b, warm, n);
    int nl = gd_probe_monitor_layers(pm);
    int64_t count = gd_probe_monitor_count(pm);
    gd_put_u64(b, (uint64_t)count);
    gd_put_u32(b, (uint32_t)nl);
    for (int64_t i = 0; i < count; i++) {
        const gd_probe_record *r = gd_probe_monitor_record(pm, i);
        gd_put_u64(b, (uint64_t)r->step);
        gd_put_f64(b, r->sharpness);
        gd_put_f64(b, r->sharpness_residual);
        gd_put_u64(b, (uint64_t)r->sharpness_iters);
        gd_put_f64(b, r->trace);
        gd_put_f64(b, r->trace_se);
        gd_put_f64(b, r->noise_scale);
        gd_put_f64(b, r->noise_tr_sigma);
        gd_put_f64(b, r->noise_grad_sq);
        gd_put_f64(b, r->distance);
        for (int l = 0; l < nl; l++)
            gd_put_f64(b, r->layer_distance[l]);
        gd_put_f64(b, r->alpha);
        gd_put_f64(b, r->alpha_loss_before);
        gd_put_f64(b, r->alpha_loss_after);
    }
}

void gd_probe_saved_free(gd_probe_saved *s)
{
    free(s->start);
    free(s->warm);
    free(s->recs);
    free(s->dist);
    memset(s, 0, sizeof *s);
}

/* A count in 0..max. */
static bool get_n(gd_reader *r, const char *what, int64_t max, int64_t *v)
{
    if (!gd_get_i64(r, what, v))
        return false;
    if (*v < 0 || *v > max) {
        gd_rfail(r, GD_EIO, "malformed section PROB: %s is %lld", what, (long long)*v);
        return false;
    }
    return true;
}

bool gd_get_probes(gd_reader *r, gd_model *m, gd_probe_saved *out)
{
    gd_probe_saved s = { .present = true };
    gd_probe_plan *p = &s.plan;
    const int64_t big = INT64_MAX / 4, ibig = INT64_C(1) << 30;
    int64_t it = 0, pr = 0, rep = 0;
    uint64_t n, count;
    uint32_t nl;
    if (!get_n(r, "sharpness.every", big, &p->sharpness_every) ||
        !get_n(r, "sharpness.samples", big, &p->sharpness_samples) ||
        !get_n(r, "sharpness.iters", ibig, &it) ||
        !gd_get_f64(r, "sharpness.tol", &p->sharpness_tol) ||
        !get_n(r, "trace.every", big, &p->trace_every) ||
        !get_n(r, "trace.samples", big, &p->trace_samples) ||
        !get_n(r, "trace.probes", ibig, &pr) ||
        !get_n(r, "noise_scale.every", big, &p->noise_every) ||
        !get_n(r, "noise_scale.samples", big, &p->noise_samples) ||
        !get_n(r, "noise_scale.small", big, &p->noise_small) ||
        !get_n(r, "noise_scale.big", big, &p->noise_big) ||
        !get_n(r, "noise_scale.repeats", ibig, &rep) ||
        !get_n(r, "distance.every", big, &p->distance_every) ||
        !get_n(r, "alpha.every", big, &p->alpha_every) ||
        !get_n(r, "alpha.samples", big, &p->alpha_samples) ||
        !get_n(r, "the batch", big, &p->batch) ||
        !gd_get_u64(r, "the seed", &p->seed))
        return false;
    p->sharpness_iters = (int)it;
    p->trace_probes = (int)pr;
    p->noise_repeats = (int)rep;
    if (!gd_get_count(r, "the start's length", 4, &n))
        return false;
    if (n != (uint64_t)gd_model_param_count(m)) {
        gd_rfail(r, GD_EIO, "malformed section PROB: a start of %llu weights for a model of %lld",
                 (unsigned long long)n, (long long)gd_model_param_count(m));
        return false;
    }
    if (!(s.start = malloc((size_t)(n ? n : 1) * sizeof(float)))) {
        gd_rfail(r, GD_ENOMEM, "out of memory");
        return false;
    }
    s.nstart = (int64_t)n;
    unsigned warm;
    if (!gd_get_f32s(r, "the start", s.start, n) || !gd_get_u8(r, "the warm flag", &warm))
        goto fail;
    if (warm > 1) {
        gd_rfail(r, GD_EIO, "malformed section PROB: the warm flag is %u", warm);
        goto fail;
    }
    if (warm) {
        if (!(s.warm = malloc((size_t)(n ? n : 1) * sizeof(float)))) {
            gd_rfail(r, GD_ENOMEM, "out of memory");
            goto fail;
        }
        if (!gd_get_f32s(r, "the last eigenvector", s.warm, n))
            goto fail;
    }
    if (!gd_get_count(r, "the records", 8 * 12, &count) || !gd_get_u32(r, "the layers", &nl))
        goto fail;
    if ((int)nl != gd_model_layer_count(m)) {
        gd_rfail(r, GD_EIO, "malformed section PROB: records of %u layers for a model of %d",
                 nl, gd_model_layer_count(m));
        goto fail;
    }
    s.nlayers = (int)nl;
    s.recs = calloc((size_t)(count ? count : 1), sizeof *s.recs);
    s.dist = calloc((size_t)(count * nl) + 1, sizeof *s.dist);
    if (!s.recs || !s.dist) {
        gd_rfail(r, GD_ENOMEM, "out of memory");
        goto fail;
    }
    s.nrecs = (int64_t)count;
    for (uint64_t i = 0; i < count; i++) {
        gd_probe_record *q = &s.recs[i];
        q->layer_distance = s.dist + i * nl;
        int64_t iters;
        bool ok = get_n(r, "a record's step", big, &q->step) &&
                  gd_get_f64(r, "sharpness", &q->sharpness) &&
                  gd_get_f64(r, "its residual", &q->sharpness_residual) &&
                  get_n(r, "its iterations", ibig, &iters) &&
                  gd_get_f64(r, "trace", &q->trace) && gd_get_f64(r, "its se", &q->trace_se) &&
                  gd_get_f64(r, "noise scale", &q->noise_scale) &&
                  gd_get_f64(r, "tr sigma", &q->noise_tr_sigma) &&
                  gd_get_f64(r, "|G|^2", &q->noise_grad_sq) &&
                  gd_get_f64(r, "distance", &q->distance);
        for (uint32_t l = 0; ok && l < nl; l++)
            ok = gd_get_f64(r, "a layer's distance", &q->layer_distance[l]);
        ok = ok && gd_get_f64(r, "alpha", &q->alpha) &&
             gd_get_f64(r, "its loss before", &q->alpha_loss_before) &&
             gd_get_f64(r, "its loss after", &q->alpha_loss_after);
        if (!ok)
            goto fail;
        q->sharpness_iters = (int)iters;
        if (i > 0 && q->step <= s.recs[i - 1].step) {
            gd_rfail(r, GD_EIO, "malformed section PROB: record steps out of order");
            goto fail;
        }
    }
    if (!gd_reader_done(r))
        goto fail;
    *out = s;
    return true;
fail:
    gd_probe_saved_free(&s);
    return false;
}
