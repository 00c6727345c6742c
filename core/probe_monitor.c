/*
 * core/probe_monitor.c: probes during training (probe_monitor.h).
 *
 * One gd_probe per kind of measurement, each with its own probe set (drawn
 * once from the run's seed) and passes of the run's batch size, so a probe
 * never grows the model's buffers. Every buffer is allocated here or at a
 * probe's first measurement; records grow by doubling, at probe steps only.
 */
#include "probe_monitor.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model_layer.h"

/* Seeds of the probe sets, one per kind (of the run's seed). */
enum { SHARP_SET = 11, TRACE_SET, NOISE_SET, ALPHA_SET };

struct gd_probe_monitor {
    gd_probe_plan plan;
    gd_model *m;
    int nl;
    int64_t n;
    gd_probe *sharp, *trace, *noise, *alpha;
    float *start;               /* w at the start of the call */
    float *vec;                 /* alpha's gradient after the step */
    float *eigvec;              /* the last top eigenvector: the next Lanczos start */
    bool warm;                  /* eigvec holds one */
    float *w_before, *g_before; /* alpha: w_k and the batch's gradient there */
    int64_t *alpha_idx;
    double alpha_f0;
    int64_t alpha_step;         /* the update alpha is bracketing; -1: none */
    gd_probe_record *rec;
    double *dist;               /* cap x nl */
    int64_t nrec, cap;
};

static bool due(int64_t every, int64_t step) { return every > 0 && step % every == 0; }

void gd_probe_monitor_free(gd_probe_monitor *pm)
{
    if (!pm)
        return;
    gd_probe_free(pm->sharp); gd_probe_free(pm->trace);
    gd_probe_free(pm->noise); gd_probe_free(pm->alpha);
    free(pm->start); free(pm->vec); free(pm->eigvec); free(pm->w_before); free(pm->g_before);
    free(pm->alpha_idx); free(pm->rec); free(pm->dist);
    free(pm);
}

static gd_probe *make_probe(gd_probe_monitor *pm, const gd_spec *loss, const gd_dataset *ds,
                            int64_t samples, uint64_t set, gd_error *err)
{
    /* Central differences: forward ones cost half the passes, but their
     * O(ε) error is the third derivative along v, which is large exactly
     * where sharpness matters (at the edge of stability they moved the top
     * eigenvalue of a tanh MLP by 5-10 % and made Lanczos' operator
     * inconsistent from one start to another). Passes of
     * up to 1024 samples (sgemm runs better on them) unless a layer keeps
     * batch statistics: then the run's batch, the statistics it trains with. */
    int64_t chunk = pm->plan.batch;
    bool stats = false;
    for (int i = 0; i < pm->nl; i++)
        stats = stats || gd_model_layer_nbuffers(gd_model_layer_at(pm->m, i)) > 0;
    if (!stats && chunk < 1024)
        chunk = samples < 1024 ? samples : 1024;
    gd_probe_config c = { pm->m, loss, ds, samples, pm->plan.seed * 64 + set, chunk, false };
    return gd_probe_new(&c, err);
}

gd_probe_monitor *gd_probe_monitor_new(const gd_probe_plan *plan, gd_model *m,
                                       const gd_spec *loss, const gd_dataset *train,
                                       gd_error *err)
{
    gd_probe_monitor *pm = calloc(1, sizeof *pm);
    if (!pm) {
        gd_fail(err, GD_ENOMEM, "probes: out of memory");
        return NULL;
    }
    pm->plan = *plan;
    pm->m = m;
    pm->nl = gd_model_layer_count(m);
    pm->n = gd_model_param_count(m);
    pm->alpha_step = -1;
    const gd_probe_plan *p = plan;
    bool ok = true;
    if (p->sharpness_every && !(pm->sharp = make_probe(pm, loss, train, p->sharpness_samples,
                                                       SHARP_SET, err)))
        ok = false;
    if (ok && p->trace_every && !(pm->trace = make_probe(pm, loss, train, p->trace_samples,
                                                         TRACE_SET, err)))
        ok = false;
    if (ok && p->noise_every) {
        if (!(pm->noise = make_probe(pm, loss, train, p->noise_samples, NOISE_SET, err))) {
            ok = false;
        } else if (p->noise_big > gd_probe_samples(pm->noise) || p->noise_small >= p->noise_big) {
            gd_fail(err, GD_EINVAL, "monitor.probes.noise_scale: needs small < big <= samples, "
                    "got small = %lld, big = %lld, samples = %lld", (long long)p->noise_small,
                    (long long)p->noise_big, (long long)gd_probe_samples(pm->noise));
            ok = false;
        }
    }
    if (ok && p->alpha_every) {
        if (!(pm->alpha = make_probe(pm, loss, train, p->alpha_samples, ALPHA_SET, err)))
            ok = false;
        else if (p->batch > gd_probe_samples(pm->alpha))
            pm->plan.batch = gd_probe_samples(pm->alpha);
    }
    int64_t n = pm->n > 0 ? pm->n : 1;
    if (ok) {
        pm->start = malloc((size_t)n * sizeof(float));
        pm->vec = malloc((size_t)n * sizeof(float));
        pm->eigvec = malloc((size_t)n * sizeof(float));
        pm->w_before = malloc((size_t)n * sizeof(float));
        pm->g_before = malloc((size_t)n * sizeof(float));
        pm->alpha_idx = malloc((size_t)(pm->plan.batch > 0 ? pm->plan.batch : 1) *
                               sizeof(int64_t));
        if (!pm->start || !pm->vec || !pm->eigvec || !pm->w_before || !pm->g_before || !pm->alpha_idx) {
            gd_fail(err, GD_ENOMEM, "probes: out of memory");
            ok = false;
        }
    }
    if (!ok) {
        gd_probe_monitor_free(pm);
        return NULL;
    }
    memcpy(pm->start, gd_model_params(m), (size_t)pm->n * sizeof(float));
    return pm;
}

bool gd_probe_monitor_due(const gd_probe_monitor *pm, int64_t step)
{
    const gd_probe_plan *p = &pm->plan;
    return due(p->sharpness_every, step) || due(p->trace_every, step) ||
           due(p->noise_every, step) || due(p->distance_every, step) || due(p->alpha_every, step);
}

/* The record of `step`: the last one when it is that step's, else a new one. */
static gd_probe_record *record_at(gd_probe_monitor *pm, int64_t step, gd_error *err)
{
    if (pm->nrec && pm->rec[pm->nrec - 1].step == step)
        return &pm->rec[pm->nrec - 1];
    if (pm->nrec == pm->cap) {
        int64_t cap = pm->cap ? 2 * pm->cap : 64;
        gd_probe_record *r = realloc(pm->rec, (size_t)cap * sizeof *r);
        if (r)
            pm->rec = r;
        double *d = r ? realloc(pm->dist, (size_t)(cap * (pm->nl ? pm->nl : 1)) * sizeof *d)
                      : NULL;
        if (!d) {
            gd_fail(err, GD_ENOMEM, "probes: out of memory for %lld records", (long long)cap);
            return NULL;
        }
        pm->dist = d;
        pm->cap = cap;
        for (int64_t i = 0; i < pm->nrec; i++)   /* the array moved */
            pm->rec[i].layer_distance = pm->dist + i * pm->nl;
    }
    gd_probe_record *r = &pm->rec[pm->nrec];
    *r = (gd_probe_record){ .step = step, .sharpness = NAN, .sharpness_residual = NAN,
                            .trace = NAN, .trace_se = NAN, .noise_scale = NAN,
                            .noise_tr_sigma = NAN, .noise_grad_sq = NAN, .distance = NAN,
                            .alpha = NAN, .alpha_loss_before = NAN, .alpha_loss_after = NAN };
    r->layer_distance = pm->dist + pm->nrec * pm->nl;
    for (int i = 0; i < pm->nl; i++)
        r->layer_distance[i] = NAN;
    pm->nrec++;
    return r;
}

static void distances(gd_probe_monitor *pm, gd_probe_record *r)
{
    const float *w = gd_model_params(pm->m);
    double total = 0;
    for (int i = 0; i < pm->nl; i++) {
        const gd_model_layer *l = gd_model_layer_at(pm->m, i);
        if (!l->param_count)
            continue;
        double s = 0;
        for (int64_t j = l->param_offset; j < l->param_offset + l->param_count; j++) {
            double d = (double)w[j] - pm->start[j];
            s += d * d;
        }
        r->layer_distance[i] = sqrt(s);
        total += s;
    }
    r->distance = sqrt(total);
}

gd_status gd_probe_monitor_before(gd_probe_monitor *pm, int64_t step, bool last, gd_error *err)
{
    const gd_probe_plan *p = &pm->plan;
    bool alpha = !last && due(p->alpha_every, step);
    /* A record of this step exists when a run that ended here (its final
     * measurement) is resumed: only alpha, which needs the next update, is
     * left to do; measuring again would move sharpness' warm start. */
    bool have = pm->nrec && pm->rec[pm->nrec - 1].step == step;
    if (!gd_probe_monitor_due(pm, step) || (have && !alpha))
        return GD_OK;
    gd_probe_record *r = record_at(pm, step, err);
    if (!r)
        return GD_ENOMEM;
    gd_status st = GD_OK;
    if (!have && due(p->distance_every, step))
        distances(pm, r);
    if (!have && pm->sharp && due(p->sharpness_every, step)) {
        gd_probe_reseed(pm->sharp, (uint64_t)step);
        /* Started from the last measurement's eigenvector plus a random
         * vector of the same norm: the eigenvector alone can still be one
         * of the new Hessian's, though no longer the top one, and Lanczos
         * would stop on it at once; the random half keeps every direction
         * in the Krylov space, as a cold start does. */
        const float *start = NULL;
        if (pm->warm) {
            gd_probe_random_direction(pm->sharp, pm->vec, false);
            double nr = gd_vec_norm(pm->vec, pm->n), ne = gd_vec_norm(pm->eigvec, pm->n);
            if (nr > 0 && ne > 0) {
                gd_vec_scale(pm->vec, ne / nr, pm->n);
                gd_vec_axpy(pm->vec, 1.0, pm->eigvec, pm->n);
                start = pm->vec;
            }
        }
        gd_probe_eigen_opts o = { 1, p->sharpness_iters, p->sharpness_tol, start, false };
        double v, res;
        int it;
        if ((st = gd_probe_eigen(pm->sharp, &o, &v, pm->eigvec, &res, &it, err)) != GD_OK)
            return st;
        pm->warm = true;
        r->sharpness = v;
        r->sharpness_residual = res;
        r->sharpness_iters = it;
    }
    if (!have && pm->trace && due(p->trace_every, step)) {
        gd_probe_reseed(pm->trace, (uint64_t)step);
        if ((st = gd_probe_trace(pm->trace, p->trace_probes, false, &r->trace, &r->trace_se,
                                 err)) != GD_OK)
            return st;
    }
    if (!have && pm->noise && due(p->noise_every, step)) {
        gd_probe_reseed(pm->noise, (uint64_t)step);
        gd_probe_noise ns;
        if ((st = gd_probe_noise_scale(pm->noise, p->noise_small, p->noise_big, p->noise_repeats,
                                       &ns, err)) != GD_OK)
            return st;
        r->noise_scale = ns.b_simple;
        r->noise_tr_sigma = ns.tr_sigma;
        r->noise_grad_sq = ns.grad_sq;
    }
    if (pm->alpha && alpha) {
        gd_probe_reseed(pm->alpha, (uint64_t)step);
        gd_probe_draw(pm->alpha, pm->alpha_idx, p->batch);
        if ((st = gd_probe_batch(pm->alpha, pm->alpha_idx, p->batch, pm->g_before,
                                 &pm->alpha_f0, err)) != GD_OK)
            return st;
        memcpy(pm->w_before, gd_model_params(pm->m), (size_t)pm->n * sizeof(float));
        pm->alpha_step = step;
    }
    return GD_OK;
}

/* Cockpit's α from f(0), f'(0), f(1), f'(1) along the step: the quadratic
 * a·t² + b·t + c fitted to the four by least squares, its minimum at
 * t* = −b/2a, and α = 1/t* − 1: 0 when the step lands on the minimum,
 * −1 when it barely moves, 1 when it lands as high on the other side. */
static double cockpit_alpha(double f0, double d0, double f1, double d1)
{
    /* Normal equations of the rows (0,0,1)=f0, (1,1,1)=f1, (0,1,0)=d0, (2,1,0)=d1. */
    double A[3][3] = { { 5, 3, 1 }, { 3, 3, 1 }, { 1, 1, 2 } };
    double y[3] = { f1 + 2 * d1, f1 + d0 + d1, f0 + f1 };
    double det = A[0][0] * (A[1][1] * A[2][2] - A[1][2] * A[2][1]) -
                 A[0][1] * (A[1][0] * A[2][2] - A[1][2] * A[2][0]) +
                 A[0][2] * (A[1][0] * A[2][1] - A[1][1] * A[2][0]);
    double sol[2];
    for (int c = 0; c < 2; c++) {   /* Cramer's rule for a and b */
        double M[3][3];
        memcpy(M, A, sizeof M);
        for (int i = 0; i < 3; i++)
            M[i][c] = y[i];
        sol[c] = (M[0][0] * (M[1][1] * M[2][2] - M[1][2] * M[2][1]) -
                  M[0][1] * (M[1][0] * M[2][2] - M[1][2] * M[2][0]) +
                  M[0][2] * (M[1][0] * M[2][1] - M[1][1] * M[2][0])) / det;
    }
    double a = sol[0], b = sol[1];
    if (!(b < 0))
        return NAN;   /* not a descent direction: no step size to judge */
    return -2 * a / b - 1;
}

gd_status gd_probe_monitor_after(gd_probe_monitor *pm, int64_t step, gd_error *err)
{
    if (pm->alpha_step != step)
        return GD_OK;
    pm->alpha_step = -1;
    int64_t n = pm->n;
    float *g1 = pm->vec;
    double f1;
    gd_status st = gd_probe_batch(pm->alpha, pm->alpha_idx, pm->plan.batch, g1, &f1, err);
    if (st != GD_OK)
        return st;
    const float *w1 = gd_model_params(pm->m);
    double d0 = 0, d1 = 0;
    for (int64_t i = 0; i < n; i++) {
        double dw = (double)w1[i] - pm->w_before[i];
        d0 += pm->g_before[i] * dw;
        d1 += g1[i] * dw;
    }
    gd_probe_record *r = &pm->rec[pm->nrec - 1];
    r->alpha = cockpit_alpha(pm->alpha_f0, d0, f1, d1);
    r->alpha_loss_before = pm->alpha_f0;
    r->alpha_loss_after = f1;
    return GD_OK;
}

int64_t gd_probe_monitor_count(const gd_probe_monitor *pm) { return pm->nrec; }

const gd_probe_record *gd_probe_monitor_record(const gd_probe_monitor *pm, int64_t i)
{
    return i >= 0 && i < pm->nrec ? &pm->rec[i] : NULL;
}

const gd_probe_plan *gd_probe_monitor_plan(const gd_probe_monitor *pm) { return &pm->plan; }
int gd_probe_monitor_layers(const gd_probe_monitor *pm) { return pm->nl; }
int64_t gd_probe_monitor_nparams(const gd_probe_monitor *pm) { return pm->n; }
const float *gd_probe_monitor_start(const gd_probe_monitor *pm) { return pm->start; }
const float *gd_probe_monitor_warm(const gd_probe_monitor *pm)
{
    return pm->warm ? pm->eigvec : NULL;
}

gd_status gd_probe_monitor_restore(gd_probe_monitor *pm, const gd_probe_record *recs,
                                   int64_t n, const float *w_start, const float *warm,
                                   gd_error *err)
{
    pm->warm = warm != NULL;
    if (warm)
        memcpy(pm->eigvec, warm, (size_t)pm->n * sizeof(float));
    pm->nrec = 0;
    for (int64_t i = 0; i < n; i++) {
        gd_probe_record *r = record_at(pm, recs[i].step, err);
        if (!r)
            return GD_ENOMEM;
        double *ld = r->layer_distance;
        *r = recs[i];
        r->layer_distance = ld;
        memcpy(ld, recs[i].layer_distance, (size_t)pm->nl * sizeof(double));
    }
    if (w_start)
        memcpy(pm->start, w_start, (size_t)pm->n * sizeof(float));
    return GD_OK;
}
