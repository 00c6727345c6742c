/*
 * core/probe.c: the probes of probe.h.
 *
 * A probe call brackets its work with begin/end: begin saves the model's
 * parameters and buffers (gd_model_copy_state) and its gradient arena and
 * turns on probe mode; end puts all three back with memcpy, so whatever the
 * call did in between (perturbed weights, batch-norm statistics moved by
 * training-mode passes, gradients of the probe set) leaves no trace, bit
 * for bit. Scratch vectors are allocated once per probe (or once per call
 * for Lanczos' basis), never per pass.
 */
#include "probe.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "component.h"
#include "model_layer.h"
#include "pool.h"

/* The probe's random stream ids (of its seed): which samples, and the
 * stream its random vectors come from. */
enum { SAMPLE_STREAM = 7u << 20, VECTOR_STREAM = 8u << 20 };

/* Parameters above which trace's exact method (one HVP each) is refused. */
#define EXACT_TRACE_MAX 20000

struct gd_probe {
    gd_model *m;
    const gd_spec *loss;
    gd_target_kind target;
    int64_t n;                  /* parameters */
    int64_t N, feat, tw, outw;  /* probe set size, floats per sample, target, output */
    int64_t chunk;
    uint64_t seed;
    gd_rng rng;
    float *x, *y;               /* the probe set [N, feat], [N, tw] */
    float *xc, *yc;             /* one chunk gathered by index */
    float *dout;                /* [chunk, outw] dLoss/dpred */
    float *state;               /* parameters then buffers, saved by begin */
    float *gsave;               /* the gradient arena, saved by begin */
    float *t1, *t2;             /* scratch vectors of n floats */
    double *acc;                /* n doubles (exact noise scale) */
    int64_t *idx;               /* [N] */
    bool forward;               /* forward differences (gd_probe_config) */
    float *g0;                  /* forward: g(w0), valid when g0_ok */
    bool g0_ok;
    double w0_norm;             /* |w0|, < 0 until computed (begin resets it) */
    /* Lanczos' basis and tridiagonal work, kept between calls (a probe in
     * training allocates them at its first measurement only). */
    float *V;
    int vcap;                   /* vectors V holds */
    double *lz;
    int *lzorder;
    int lzcap;                  /* iterations lz is sized for */
};

/* ---------------------------------------------------------------------------
 * Vectors
 * ------------------------------------------------------------------------- */

/* Summed in double in 32 running sums, element i into sum i % 32, added
 * pairwise at the end: one sum is a chain of dependent adds (0.18 ms for
 * the 235,146 parameters of the benchmark MLP, two of them in every HVP),
 * separate sums vectorize, and the order is the same on every run. */
double gd_vec_dot(const float *a, const float *b, int64_t n)
{
    typedef float f8 __attribute__((vector_size(32)));
    typedef double d8 __attribute__((vector_size(64)));
    d8 sum[4] = { { 0 } };
    int64_t i = 0;
    for (; i + 32 <= n; i += 32)
        for (int k = 0; k < 4; k++) {
            f8 x, y;
            memcpy(&x, a + i + 8 * k, sizeof x);
            memcpy(&y, b + i + 8 * k, sizeof y);
            sum[k] += __builtin_convertvector(x, d8) * __builtin_convertvector(y, d8);
        }
    for (int k = 0; i < n; i++, k++)
        sum[k / 8][k % 8] += (double)a[i] * b[i];
    d8 t = (sum[0] + sum[1]) + (sum[2] + sum[3]);
    return ((t[0] + t[1]) + (t[2] + t[3])) + ((t[4] + t[5]) + (t[6] + t[7]));
}

double gd_vec_norm(const float *a, int64_t n) { return sqrt(gd_vec_dot(a, a, n)); }

void gd_vec_axpy(float *y, double a, const float *x, int64_t n)
{
    float af = (float)a;
    for (int64_t i = 0; i < n; i++)
        y[i] += af * x[i];
}

void gd_vec_scale(float *y, double a, int64_t n)
{
    float af = (float)a;
    for (int64_t i = 0; i < n; i++)
        y[i] *= af;
}

/* ---------------------------------------------------------------------------
 * Creation
 * ------------------------------------------------------------------------- */

void gd_probe_free(gd_probe *p)
{
    if (!p)
        return;
    free(p->x); free(p->y); free(p->xc); free(p->yc); free(p->dout);
    free(p->state); free(p->gsave); free(p->t1); free(p->t2); free(p->acc); free(p->idx);
    free(p->V); free(p->lz); free(p->lzorder); free(p->g0);
    free(p);
}

static void *alloc_n(int64_t n, size_t size, bool *ok)
{
    void *q = calloc((size_t)(n > 0 ? n : 1), size);
    if (!q)
        *ok = false;
    return q;
}

gd_probe *gd_probe_new(const gd_probe_config *cfg, gd_error *err)
{
    gd_model *m = cfg->model;
    const gd_dataset *ds = cfg->data;
    int64_t avail = gd_dataset_size(ds), feat = gd_dataset_features(ds);
    const gd_shape *in = gd_model_input_shape(m);
    int64_t outw = gd_shape_numel(gd_model_output_shape(m));
    gd_target_kind target = gd_loss_target(cfg->loss);
    int classes = gd_dataset_classes(ds);
    int64_t tw = gd_dataset_target_width(ds);
    if (feat != gd_shape_numel(in)) {
        gd_fail(err, GD_EINVAL, "probe: the data has %lld features per sample, the model takes "
                "%lld", (long long)feat, (long long)gd_shape_numel(in));
        return NULL;
    }
    if (avail < 2) {
        gd_fail(err, GD_EINVAL, "probe: the data has %lld samples, a probe needs at least 2",
                (long long)avail);
        return NULL;
    }
    if (target == GD_TARGET_CLASS && (classes < 1 || classes > outw)) {
        gd_fail(err, GD_EINVAL, "probe: %s needs class labels 1..%lld, the data has %d classes",
                cfg->loss->component->name, (long long)outw, classes);
        return NULL;
    }
    if (target == GD_TARGET_VALUE && tw != outw) {
        gd_fail(err, GD_EINVAL, "probe: the model gives %lld outputs, the data has %lld targets "
                "per sample", (long long)outw, (long long)tw);
        return NULL;
    }
    if (cfg->samples < 0) {
        gd_fail(err, GD_EINVAL, "probe: samples must be >= 2 or all");
        return NULL;
    }
    gd_probe *p = calloc(1, sizeof *p);
    if (!p) {
        gd_fail(err, GD_ENOMEM, "probe: out of memory");
        return NULL;
    }
    p->m = m;
    p->loss = cfg->loss;
    p->target = target;
    p->n = gd_model_param_count(m);
    p->N = cfg->samples == 0 || cfg->samples >= avail ? avail : cfg->samples;
    p->feat = feat;
    p->tw = tw;
    p->outw = outw;
    p->chunk = cfg->chunk > 0 ? cfg->chunk : 256;
    if (p->chunk > p->N)
        p->chunk = p->N;
    p->seed = cfg->seed;
    p->rng = gd_rng_stream(cfg->seed, VECTOR_STREAM);
    bool ok = true;
    p->x = alloc_n(p->N * feat, sizeof(float), &ok);
    p->y = alloc_n(p->N * tw, sizeof(float), &ok);
    p->xc = alloc_n(p->chunk * feat, sizeof(float), &ok);
    p->yc = alloc_n(p->chunk * tw, sizeof(float), &ok);
    p->dout = alloc_n(p->chunk * outw, sizeof(float), &ok);
    p->state = alloc_n(gd_model_state_size(m), sizeof(float), &ok);
    p->gsave = alloc_n(p->n, sizeof(float), &ok);
    p->t1 = alloc_n(p->n, sizeof(float), &ok);
    p->t2 = alloc_n(p->n, sizeof(float), &ok);
    p->idx = alloc_n(avail, sizeof(int64_t), &ok);
    p->forward = cfg->forward;
    if (p->forward)
        p->g0 = alloc_n(p->n, sizeof(float), &ok);
    if (!ok) {
        gd_probe_free(p);
        gd_fail(err, GD_ENOMEM, "probe: out of memory for %lld samples", (long long)avail);
        return NULL;
    }
    /* The probe set: the first N of a permutation drawn from the seed (all
     * of the data, in order, when N is everything). */
    for (int64_t i = 0; i < avail; i++)
        p->idx[i] = i;
    if (p->N < avail) {
        gd_rng r = gd_rng_stream(cfg->seed, SAMPLE_STREAM);
        for (int64_t i = 0; i < p->N; i++) {
            int64_t j = i + (int64_t)gd_rng_below(&r, (uint64_t)(avail - i));
            int64_t t = p->idx[i];
            p->idx[i] = p->idx[j];
            p->idx[j] = t;
        }
    }
    gd_dataset_gather(ds, p->idx, p->N, p->x, p->y);
    return p;
}

int64_t gd_probe_nparams(const gd_probe *p) { return p->n; }
int64_t gd_probe_samples(const gd_probe *p) { return p->N; }

void gd_probe_reseed(gd_probe *p, uint64_t id)
{
    p->rng = gd_rng_stream(p->seed, VECTOR_STREAM + 1 + id);
}

/* ---------------------------------------------------------------------------
 * Passes
 * ------------------------------------------------------------------------- */

static gd_status begin(gd_probe *p, gd_error *err)
{
    gd_status st = gd_model_reserve(p->m, p->chunk, err);
    if (st != GD_OK)
        return st;
    gd_model_copy_state(p->m, p->state, true);
    gd_pool_memcpy(p->gsave, gd_model_grads(p->m), (size_t)p->n * sizeof(float));
    gd_model_set_probe_mode(p->m, true);
    p->g0_ok = false;
    p->w0_norm = -1;
    return GD_OK;
}

static gd_status end(gd_probe *p, gd_status st)
{
    gd_model_copy_state(p->m, p->state, false);
    gd_pool_memcpy(gd_model_grads(p->m), p->gsave, (size_t)p->n * sizeof(float));
    gd_model_set_probe_mode(p->m, false);
    return st;
}

/* The saved parameters (the weights the call started from). */
static const float *w0(const gd_probe *p) { return p->state; }

/* Mean loss over `count` probe samples (rows idx[0..count), or the first
 * count rows when idx is NULL) into *loss; with grad, their mean gradient
 * into the gradient arena. Chunks are balanced (sizes differ by at most
 * one) so that no chunk is a lone sample batch norm cannot take. */
static gd_status pass(gd_probe *p, const int64_t *idx, int64_t count, bool grad, double *loss,
                      gd_error *err)
{
    gd_model *m = p->m;
    if (grad)
        gd_model_zero_grad(m);
    int64_t nch = (count + p->chunk - 1) / p->chunk;
    double total = 0;
    for (int64_t c = 0, start = 0; c < nch; c++) {
        int64_t nb = count / nch + (c < count % nch);
        const float *x = p->x + start * p->feat, *y = p->y + start * p->tw;
        if (idx) {
            for (int64_t k = 0; k < nb; k++) {
                memcpy(p->xc + k * p->feat, p->x + idx[start + k] * p->feat,
                       (size_t)p->feat * sizeof(float));
                memcpy(p->yc + k * p->tw, p->y + idx[start + k] * p->tw,
                       (size_t)p->tw * sizeof(float));
            }
            x = p->xc;
            y = p->yc;
        }
        const float *out;
        gd_status st = gd_model_forward(m, x, nb, grad, &out, err);
        if (st != GD_OK)
            return st;
        /* [nb, output shape...]; class targets [nb] or [nb, positions] */
        const gd_shape *os = gd_model_output_shape(m);
        gd_tensor pred = { (float *)out, { os->ndim + 1, { nb, 0, 0, 0 } } };
        for (int d = 0; d < os->ndim && d + 1 < GD_MAX_DIMS; d++)
            pred.shape.dim[d + 1] = os->dim[d];
        gd_tensor tgt = p->target == GD_TARGET_CLASS
                            ? (gd_tensor){ (float *)y, { p->tw > 1 ? 2 : 1, { nb, p->tw, 0, 0 } } }
                            : (gd_tensor){ (float *)y, pred.shape };
        gd_tensor dout = { p->dout, pred.shape };
        double l = gd_loss_forward(p->loss, &pred, &tgt, grad ? &dout : NULL);
        total += l * (double)nb;
        if (grad) {
            gd_vec_scale(p->dout, (double)nb / (double)count, nb * p->outw);
            gd_model_backward(m, p->dout);
        }
        start += nb;
    }
    *loss = total / (double)count;
    return GD_OK;
}

/* The probes' passes over the parameters, cut over the pool: at the
 * benchmark MLP's 235,146 parameters each is 20-60 us on one thread, and a
 * Hessian-vector product makes several around its two gradient passes.
 * Elementwise, so the numbers do not depend on the cut. */
enum { VEC_SET, VEC_DIFF };

typedef struct vec_job {
    int op;
    float *out;
    const float *base, *d1, *d2;   /* VEC_SET: out = base + a·d1 (+ b·d2) */
    float a, b;
    double inv;                    /* VEC_DIFF: out = (out - d1)·inv, in double */
    int64_t n;
} vec_job;

static void vec_part(void *arg, int part, int nparts)
{
    const vec_job *j = arg;
    int64_t lo, hi;
    gd_part_range(j->n, 16, part, nparts, &lo, &hi);
    float *out = j->out;
    if (j->op == VEC_SET) {
        for (int64_t i = lo; i < hi; i++)
            out[i] = j->base[i] + j->a * j->d1[i] + (j->d2 ? j->b * j->d2[i] : 0.0f);
    } else {
        for (int64_t i = lo; i < hi; i++)
            out[i] = (float)(((double)out[i] - j->d1[i]) * j->inv);
    }
}

/* Below this many floats a pass stays on the calling thread: the line
 * gd_pool_memcpy draws (256 KB), where waking the pool stops paying. */
enum { VEC_PARALLEL_MIN = 1 << 16 };

static void vec_run(vec_job *j)
{
    if (j->n >= VEC_PARALLEL_MIN)
        gd_pool_run(vec_part, j);
    else
        vec_part(j, 0, 1);
}

/* Parameters = w0 + a·d1 + b·d2 (d2 may be NULL). */
static void set_params(gd_probe *p, double a, const float *d1, double b, const float *d2)
{
    vec_job j = { .op = VEC_SET, .out = gd_model_params(p->m), .base = w0(p), .d1 = d1,
                  .d2 = d2, .a = (float)a, .b = (float)b, .n = p->n };
    vec_run(&j);
}

/* Parameters = w0 again. */
static void restore_params(gd_probe *p)
{
    gd_pool_memcpy(gd_model_params(p->m), w0(p), (size_t)p->n * sizeof(float));
}

/* |w0|, once per begin. */
static double w0_norm(gd_probe *p)
{
    if (p->w0_norm < 0)
        p->w0_norm = gd_vec_norm(w0(p), p->n);
    return p->w0_norm;
}

/* hv = H·v at w0, inside begin/end, with a step of `step`·|w|/|v|. */
static gd_status hvp_step(gd_probe *p, const float *v, float *hv, double step, gd_error *err)
{
    double nv = gd_vec_norm(v, p->n);
    if (!(nv > 0)) {
        memset(hv, 0, (size_t)p->n * sizeof(float));
        return GD_OK;
    }
    double nw = w0_norm(p);
    double eps = step * (nw > 0 ? nw : 1.0) / nv;
    double l;
    float *g = gd_model_grads(p->m);
    gd_status st;
    vec_job diff = { .op = VEC_DIFF, .out = hv, .n = p->n };
    if (p->forward) {
        if (!p->g0_ok) {   /* g(w0), once per call */
            restore_params(p);
            if ((st = pass(p, NULL, p->N, true, &l, err)) != GD_OK)
                return st;
            gd_pool_memcpy(p->g0, g, (size_t)p->n * sizeof(float));
            p->g0_ok = true;
        }
        set_params(p, eps, v, 0, NULL);
        if ((st = pass(p, NULL, p->N, true, &l, err)) != GD_OK)
            return st;
        /* hv = (g - g0) / eps */
        gd_pool_memcpy(hv, g, (size_t)p->n * sizeof(float));
        diff.d1 = p->g0;
        diff.inv = 1.0 / eps;
        vec_run(&diff);
        restore_params(p);
        return GD_OK;
    }
    set_params(p, eps, v, 0, NULL);
    st = pass(p, NULL, p->N, true, &l, err);
    if (st != GD_OK)
        return st;
    gd_pool_memcpy(hv, g, (size_t)p->n * sizeof(float));
    set_params(p, -eps, v, 0, NULL);
    if ((st = pass(p, NULL, p->N, true, &l, err)) != GD_OK)
        return st;
    diff.d1 = g;
    diff.inv = 1.0 / (2 * eps);
    vec_run(&diff);
    restore_params(p);
    return GD_OK;
}

/* The step of the central differences, relative to |w|/|v|. Smaller steps
 * lose float32 digits in the gradients' difference; larger ones cross more
 * ReLU kinks, which bend H·v off the autograd Hessian's (on the reference
 * ReLU net, 3e-3 moved one Lanczos run's third eigenvalue by 34 %, 1e-3
 * keeps every eigenvalue within 1e-5 over seeds; 1e-4 loses 1e-4). */
#define HVP_STEP 1e-3

static gd_status hvp_in(gd_probe *p, const float *v, float *hv, gd_error *err)
{
    return hvp_step(p, v, hv, HVP_STEP, err);
}

/* ---------------------------------------------------------------------------
 * Loss, gradient, HVP
 * ------------------------------------------------------------------------- */

gd_status gd_probe_loss(gd_probe *p, double *loss, gd_error *err)
{
    gd_status st = begin(p, err);
    if (st != GD_OK)
        return st;
    return end(p, pass(p, NULL, p->N, false, loss, err));
}

gd_status gd_probe_grad(gd_probe *p, float *g, double *loss, gd_error *err)
{
    gd_status st = begin(p, err);
    if (st != GD_OK)
        return st;
    double l;
    st = pass(p, NULL, p->N, true, &l, err);
    if (st == GD_OK) {
        memcpy(g, gd_model_grads(p->m), (size_t)p->n * sizeof(float));
        if (loss)
            *loss = l;
    }
    return end(p, st);
}

gd_status gd_probe_hvp(gd_probe *p, const float *v, float *hv, gd_error *err)
{
    gd_status st = begin(p, err);
    if (st != GD_OK)
        return st;
    return end(p, hvp_in(p, v, hv, err));
}

void gd_probe_draw(gd_probe *p, int64_t *idx, int64_t count)
{
    for (int64_t i = 0; i < p->N; i++)
        p->idx[i] = i;
    for (int64_t i = 0; i < count; i++) {
        int64_t j = i + (int64_t)gd_rng_below(&p->rng, (uint64_t)(p->N - i));
        int64_t t = p->idx[i];
        p->idx[i] = p->idx[j];
        p->idx[j] = t;
        idx[i] = p->idx[i];
    }
}

gd_status gd_probe_batch(gd_probe *p, const int64_t *idx, int64_t count, float *g, double *loss,
                         gd_error *err)
{
    for (int64_t i = 0; i < count; i++)
        if (idx[i] < 0 || idx[i] >= p->N)
            return gd_fail(err, GD_EINVAL, "probe: sample %lld outside the probe set of %lld",
                           (long long)idx[i], (long long)p->N);
    gd_status st = begin(p, err);
    if (st != GD_OK)
        return st;
    st = pass(p, idx, count, true, loss, err);
    if (st == GD_OK)
        memcpy(g, gd_model_grads(p->m), (size_t)p->n * sizeof(float));
    return end(p, st);
}

/* ---------------------------------------------------------------------------
 * Eigenvalues: Lanczos with full reorthogonalization
 * ------------------------------------------------------------------------- */

/* Eigen-decomposition of the symmetric n x n matrix a (row-major, destroyed)
 * by cyclic Jacobi rotations: values into w, vectors into the columns of v. */
static void jacobi_eigen(double *a, int n, double *w, double *v)
{
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            v[i * n + j] = i == j;
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0, diag = 0;
        for (int i = 0; i < n; i++) {
            diag += a[i * n + i] * a[i * n + i];
            for (int j = i + 1; j < n; j++)
                off += a[i * n + j] * a[i * n + j];
        }
        if (off <= 1e-30 * diag || off == 0)
            break;
        for (int pi = 0; pi < n; pi++)
            for (int q = pi + 1; q < n; q++) {
                double apq = a[pi * n + q];
                if (apq == 0)
                    continue;
                double theta = (a[q * n + q] - a[pi * n + pi]) / (2 * apq);
                double t = (theta >= 0 ? 1 : -1) / (fabs(theta) + sqrt(theta * theta + 1));
                double c = 1 / sqrt(t * t + 1), s = t * c;
                for (int k = 0; k < n; k++) {   /* columns p, q */
                    double akp = a[k * n + pi], akq = a[k * n + q];
                    a[k * n + pi] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for (int k = 0; k < n; k++) {   /* rows p, q */
                    double apk = a[pi * n + k], aqk = a[q * n + k];
                    a[pi * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
                for (int k = 0; k < n; k++) {
                    double vkp = v[k * n + pi], vkq = v[k * n + q];
                    v[k * n + pi] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
    }
    for (int i = 0; i < n; i++)
        w[i] = a[i * n + i];
}

typedef struct lanczos {
    int m;                      /* steps taken */
    double *alpha, *beta;       /* [iters] */
    double *T, *S, *theta;      /* [iters^2], [iters^2], [iters] */
    int *order;                 /* Ritz values, largest first */
} lanczos;

/* Ritz values of the m x m tridiagonal, sorted largest first in order[]
 * (smallest first when smallest). */
static void ritz(lanczos *z, bool smallest)
{
    int m = z->m;
    memset(z->T, 0, (size_t)m * m * sizeof(double));
    for (int i = 0; i < m; i++) {
        z->T[i * m + i] = z->alpha[i];
        if (i + 1 < m)
            z->T[i * m + i + 1] = z->T[(i + 1) * m + i] = z->beta[i];
    }
    jacobi_eigen(z->T, m, z->theta, z->S);
    for (int i = 0; i < m; i++)
        z->order[i] = i;
    for (int i = 1; i < m; i++)   /* insertion sort, descending */
        for (int j = i; j > 0 && (z->theta[z->order[j]] > z->theta[z->order[j - 1]]) != smallest;
             j--) {
            int t = z->order[j];
            z->order[j] = z->order[j - 1];
            z->order[j - 1] = t;
        }
}

gd_status gd_probe_eigen(gd_probe *p, const gd_probe_eigen_opts *o, double *values,
                         float *vectors, double *residuals, int *iters, gd_error *err)
{
    int64_t n = p->n;
    int k = o->k, maxit = o->iters;
    if (k < 1 || k > n)
        return gd_fail(err, GD_EINVAL, "probe:eigen: k must be in 1..%lld (the parameters), got %d",
                       (long long)n, k);
    if (maxit > n)
        maxit = (int)n;
    if (maxit < k)
        return gd_fail(err, GD_EINVAL, "probe:eigen: iters (%d) must be >= k (%d)", o->iters, k);
    lanczos z = { 0 };
    gd_status st = GD_OK;
    if (p->vcap < maxit + 1) {
        float *nv = realloc(p->V, (size_t)(maxit + 1) * (size_t)n * sizeof(float));
        if (!nv)
            return gd_fail(err, GD_ENOMEM, "probe:eigen: out of memory for %d Lanczos vectors "
                           "of %lld", maxit + 1, (long long)n);
        p->V = nv;
        p->vcap = maxit + 1;
    }
    if (p->lzcap < maxit) {
        size_t len = (size_t)maxit * (2 * (size_t)maxit + 4);
        double *nl = realloc(p->lz, len * sizeof(double));
        if (nl)
            p->lz = nl;
        int *no = nl ? realloc(p->lzorder, (size_t)maxit * sizeof(int)) : NULL;
        if (!no)
            return gd_fail(err, GD_ENOMEM, "probe:eigen: out of memory");
        p->lzorder = no;
        p->lzcap = maxit;
    }
    float *V = p->V;
    z.alpha = p->lz;
    z.beta = z.alpha + maxit;
    z.theta = z.beta + maxit;
    z.T = z.theta + maxit;
    z.S = z.T + (size_t)maxit * maxit;
    z.order = p->lzorder;
    if (o->start)
        memcpy(V, o->start, (size_t)n * sizeof(float));
    else
        for (int64_t i = 0; i < n; i++)
            V[i] = (float)gd_rng_normal(&p->rng);
    double nq = gd_vec_norm(V, n);
    if (!(nq > 0) || !isfinite(nq)) {
        return gd_fail(err, GD_EINVAL, "probe:eigen: the start vector is zero or not finite");
    }
    gd_vec_scale(V, 1 / nq, n);
    if ((st = begin(p, err)) != GD_OK)
        return st;
    float *w = p->t1;
    for (int j = 0; j < maxit; j++) {
        float *q = V + (size_t)j * n;
        if ((st = hvp_in(p, q, w, err)) != GD_OK)
            break;
        if (j > 0)
            gd_vec_axpy(w, -z.beta[j - 1], q - n, n);
        z.alpha[j] = gd_vec_dot(q, w, n);
        gd_vec_axpy(w, -z.alpha[j], q, n);
        for (int pass2 = 0; pass2 < 2; pass2++)   /* twice is enough (Kahan) */
            for (int i = 0; i <= j; i++)
                gd_vec_axpy(w, -gd_vec_dot(V + (size_t)i * n, w, n), V + (size_t)i * n, n);
        z.beta[j] = gd_vec_norm(w, n);
        z.m = j + 1;
        if (!isfinite(z.alpha[j]) || !isfinite(z.beta[j])) {
            st = gd_fail(err, GD_ENUMERIC, "probe:eigen: the Hessian-vector product is not "
                         "finite (the loss or its gradient is NaN or Inf at these weights)");
            break;
        }
        bool done = z.m == maxit;
        if (z.m >= k) {
            ritz(&z, o->smallest);
            double scale = fabs(z.theta[z.order[0]]);
            done = done || z.beta[j] <= 1e-9 * (scale > 0 ? scale : 1);
            bool conv = true;
            for (int i = 0; i < k; i++) {
                int c = z.order[i];
                double r = z.beta[j] * fabs(z.S[j * z.m + c]);
                conv = conv && r <= o->tol * fabs(z.theta[c]);
            }
            done = done || conv;
        }
        if (done)
            break;
        memcpy(V + (size_t)(j + 1) * n, w, (size_t)n * sizeof(float));
        gd_vec_scale(V + (size_t)(j + 1) * n, 1 / z.beta[j], n);
    }
    st = end(p, st);
    if (st != GD_OK)
        return st;
    int m = z.m;
    for (int i = 0; i < k; i++) {
        int c = z.order[i];
        values[i] = z.theta[c];
        residuals[i] = z.beta[m - 1] * fabs(z.S[(m - 1) * m + c]);
        if (vectors) {
            float *y = vectors + (size_t)i * n;
            memset(y, 0, (size_t)n * sizeof(float));
            for (int l = 0; l < m; l++)
                gd_vec_axpy(y, z.S[l * m + c], V + (size_t)l * n, n);
        }
    }
    *iters = m;
    return GD_OK;
}

/* ---------------------------------------------------------------------------
 * Trace
 * ------------------------------------------------------------------------- */

gd_status gd_probe_trace(gd_probe *p, int probes, bool exact, double *trace, double *se,
                         gd_error *err)
{
    int64_t n = p->n;
    if (exact && n > EXACT_TRACE_MAX)
        return gd_fail(err, GD_EINVAL, "probe:trace: method = \"exact\" takes one Hessian-vector "
                       "product per parameter; this model has %lld (at most %d): use Hutchinson",
                       (long long)n, EXACT_TRACE_MAX);
    if (!exact && probes < 1)
        return gd_fail(err, GD_EINVAL, "probe:trace: probes must be >= 1, got %d", probes);
    gd_status st = begin(p, err);
    if (st != GD_OK)
        return st;
    float *v = p->t1, *hv = p->t2;
    double sum = 0, sumsq = 0;
    int64_t count = exact ? n : probes;
    for (int64_t i = 0; i < count && st == GD_OK; i++) {
        if (exact) {
            memset(v, 0, (size_t)n * sizeof(float));
            v[i] = 1;
        } else {
            for (int64_t j = 0; j < n; j++)
                v[j] = gd_rng_u64(&p->rng) >> 63 ? 1.0f : -1.0f;
        }
        /* A coordinate vector moves one weight by the whole step: scale it
         * to what a dense unit vector moves each weight by (1/√n). */
        if ((st = hvp_step(p, v, hv, exact ? HVP_STEP / sqrt((double)n) : HVP_STEP, err)) != GD_OK)
            break;
        double s = exact ? hv[i] : gd_vec_dot(v, hv, n);
        sum += s;
        sumsq += s * s;
    }
    st = end(p, st);
    if (st != GD_OK)
        return st;
    if (exact) {
        *trace = sum;
        *se = 0;
    } else {
        double mean = sum / probes;
        double var = probes > 1 ? (sumsq - probes * mean * mean) / (probes - 1) : NAN;
        *trace = mean;
        *se = sqrt(var > 0 ? var : 0) / sqrt((double)probes);
        if (probes < 2)
            *se = NAN;
    }
    return GD_OK;
}

/* ---------------------------------------------------------------------------
 * Gradient noise scale
 * ------------------------------------------------------------------------- */

gd_status gd_probe_noise_scale(gd_probe *p, int64_t small, int64_t big, int repeats,
                               gd_probe_noise *out, gd_error *err)
{
    int64_t N = p->N, n = p->n;
    if (small < 1 || big <= small || big > N)
        return gd_fail(err, GD_EINVAL, "probe:noise_scale: needs 1 <= small < big <= %lld (the "
                       "probe set), got small = %lld, big = %lld", (long long)N,
                       (long long)small, (long long)big);
    if (repeats < 1)
        return gd_fail(err, GD_EINVAL, "probe:noise_scale: repeats must be >= 1, got %d",
                       repeats);
    gd_status st = begin(p, err);
    if (st != GD_OK)
        return st;
    float *gs = p->t1, *g = gd_model_grads(p->m);
    double g2 = 0, tr = 0, l;
    for (int r = 0; r < repeats && st == GD_OK; r++) {
        /* A big batch without replacement (a partial Fisher-Yates). */
        for (int64_t i = 0; i < N; i++)
            p->idx[i] = i;
        for (int64_t i = 0; i < big; i++) {
            int64_t j = i + (int64_t)gd_rng_below(&p->rng, (uint64_t)(N - i));
            int64_t t = p->idx[i];
            p->idx[i] = p->idx[j];
            p->idx[j] = t;
        }
        if ((st = pass(p, p->idx, small, true, &l, err)) != GD_OK)
            break;
        memcpy(gs, g, (size_t)n * sizeof(float));
        if ((st = pass(p, p->idx + small, big - small, true, &l, err)) != GD_OK)
            break;
        /* The big batch's mean gradient from its two parts. */
        double ws = (double)small / big, wr = 1 - ws, gs2 = 0, gb2 = 0;
        for (int64_t i = 0; i < n; i++) {
            double b = ws * gs[i] + wr * g[i];
            gs2 += (double)gs[i] * gs[i];
            gb2 += b * b;
        }
        /* E|G_B|² = |G|² + S²(1/B − 1/N) for B samples without replacement
         * from N (S² = tr Σ, divided by N − 1): solved for S² and |G|². */
        double s2 = (gs2 - gb2) / (1.0 / small - 1.0 / big);
        tr += s2;
        g2 += (big * gb2 - small * gs2) / (double)(big - small) + s2 / N;
    }
    st = end(p, st);
    if (st != GD_OK)
        return st;
    out->tr_sigma = tr / repeats;
    out->grad_sq = g2 / repeats;
    out->b_simple = out->tr_sigma / out->grad_sq;
    out->small = small;
    out->big = big;
    out->repeats = repeats;
    return GD_OK;
}

gd_status gd_probe_noise_exact(gd_probe *p, gd_probe_noise *out, gd_error *err)
{
    int nl = gd_model_layer_count(p->m);
    for (int i = 0; i < nl; i++) {
        const gd_model_layer *l = gd_model_layer_at(p->m, i);
        if (l->info.min_batch > 1)
            return gd_fail(err, GD_EINVAL, "probe:noise_scale: exact = true needs per-example "
                           "gradients, and %s cannot take a batch of one sample: use the "
                           "two-batch estimator (small, big)", l->name);
    }
    int64_t n = p->n, N = p->N;
    if (!p->acc && !(p->acc = calloc((size_t)n, sizeof(double))))
        return gd_fail(err, GD_ENOMEM, "probe:noise_scale: out of memory");
    gd_status st = begin(p, err);
    if (st != GD_OK)
        return st;
    memset(p->acc, 0, (size_t)n * sizeof(double));
    const float *g = gd_model_grads(p->m);
    double sumsq = 0, l;
    for (int64_t s = 0; s < N && st == GD_OK; s++) {
        p->idx[0] = s;
        if ((st = pass(p, p->idx, 1, true, &l, err)) != GD_OK)
            break;
        for (int64_t i = 0; i < n; i++) {
            p->acc[i] += g[i];
            sumsq += (double)g[i] * g[i];
        }
    }
    st = end(p, st);
    if (st != GD_OK)
        return st;
    double g2 = 0;
    for (int64_t i = 0; i < n; i++) {
        double m = p->acc[i] / N;
        g2 += m * m;
    }
    out->grad_sq = g2;
    out->tr_sigma = (sumsq - N * g2) / (double)(N - 1);
    out->b_simple = out->tr_sigma / g2;
    out->small = out->big = 0;
    out->repeats = 0;
    return GD_OK;
}

/* ---------------------------------------------------------------------------
 * Landscapes
 * ------------------------------------------------------------------------- */

gd_status gd_probe_losses_at(gd_probe *p, const float *d1, const float *d2, const double *a,
                             const double *b, int64_t npoints, double *loss, gd_error *err)
{
    gd_status st = begin(p, err);
    if (st != GD_OK)
        return st;
    for (int64_t i = 0; i < npoints && st == GD_OK; i++) {
        set_params(p, a[i], d1, d2 ? b[i] : 0, d2);
        st = pass(p, NULL, p->N, false, &loss[i], err);
    }
    return end(p, st);
}

void gd_probe_random_direction(gd_probe *p, float *d, bool filter)
{
    for (int64_t i = 0; i < p->n; i++)
        d[i] = (float)gd_rng_normal(&p->rng);
    if (filter)
        gd_probe_filter_normalize(p, d);
}

void gd_probe_filter_normalize(gd_probe *p, float *d)
{
    const float *w = gd_model_params(p->m);
    int nl = gd_model_layer_count(p->m);
    for (int i = 0; i < nl; i++) {
        const gd_model_layer *l = gd_model_layer_at(p->m, i);
        for (int k = 0; k < l->nparams; k++) {
            const gd_model_param *mp = &l->params[k];
            const gd_param_info *info = mp->info;
            float *dv = d + mp->offset;
            const float *wv = w + mp->offset;
            gd_param_role r = info->role;
            if (info->shape.ndim < 2 || r == GD_ROLE_BIAS || r == GD_ROLE_SCALE ||
                r == GD_ROLE_SHIFT) {
                memset(dv, 0, (size_t)mp->numel * sizeof(float));
                continue;
            }
            int64_t rows = info->shape.dim[0], len = mp->numel / rows;
            for (int64_t row = 0; row < rows; row++) {
                double nd = gd_vec_norm(dv + row * len, len);
                double nw = gd_vec_norm(wv + row * len, len);
                gd_vec_scale(dv + row * len, nd > 0 ? nw / nd : 0, len);
            }
        }
    }
}
