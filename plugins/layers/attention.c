/*
 * attention: multi-head self-attention on [T, d] (Vaswani et al. 2017), the
 * layout of torch.nn.MultiheadAttention with in_proj_weight = W_qkv:
 *
 *     qkv = x W_qkv^T + b_qkv          W_qkv [3d, d]: q | k | v features
 *     head h (0-based) takes features h*dh .. (h+1)*dh-1 of q, k and v, dh = d/heads
 *     P_h = softmax(q_h k_h^T / sqrt(dh))   future keys (j > i) masked when causal
 *     a = [P_1 v_1, ..., P_H v_H]      heads concatenated in order
 *     y = a W_o^T + b_o                W_o [d, d]
 *
 * Backward, per head (dS the gradient of the scaled scores):
 *     dP = dA v^T;  dS = P*(dP - rowsum(P*dP)) / sqrt(dh)
 *     dq = dS k;  dk = dS^T q;  dv = P^T dA
 *
 * Choices:
 * - The two projections are one sgemm each over all N*T positions. The
 *   per-(sample, head) products go through the host's sgemm inside the
 *   host's `parallel`, the N*H pairs cut into contiguous parts, so the small
 *   [T, T] products of different heads and samples run on different
 *   threads, and each pair's numbers are the same whatever the thread count.
 * - Causal: queries are cut into blocks of BLOCK rows; block [i0, i1) only
 *   computes keys 0..i1-1, so masked scores are neither computed nor
 *   exponentiated nor multiplied (only the upper half of each diagonal
 *   block is, and set to 0). Backward reads the same blocks.
 * - Softmax subtracts the row maximum before exponentiating, with
 *   vec_math.h's exp (relative error < 2e-7), which the loop vectorizes:
 *   libm's expf, a call per score, was half of the forward over the heads.
 * - Scratch (from the core, kept from forward to backward) holds qkv, P, a,
 *   da, dqkv and dS: 8*T*d + 2*heads*T*T floats per sample. Nothing is
 *   allocated per step.
 */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gradus/gradus.h>
#include <gradus/kernels.h>

#include "vec_math.h"

enum { HEADS, CAUSAL, BIAS, INIT };
enum { BLOCK = 32 };

static const gd_option_spec options[] = {
    { .name = "heads", .type = GD_OPT_INTEGER, .flags = GD_OPT_REQUIRED | GD_OPT_HAS_MIN,
      .min = 1, .doc = "number of heads; must divide d (required)" },
    GD_OPT_BOOL("causal", 1, "mask the future: position t attends to 1..t only"),
    GD_OPT_BOOL("bias", 1, "learned biases b_qkv and b_o (start at 0)"),
    GD_OPT_COMPONENT_OF("init", GD_KIND_INITIALIZER, "xavier_uniform",
                        "initializer of W_qkv and W_o"),
};

typedef struct attention {
    int T, d, heads, dh, causal, bias;
    float scale;
    float *wqkv, *bqkv, *wo, *bo;
    float *gwqkv, *gbqkv, *gwo, *gbo;
} attention;

/* The regions of the scratch for a batch of n samples. */
typedef struct regions {
    float *qkv, *p, *a, *da, *dqkv, *ds;
} regions;

static regions regions_of(const attention *s, float *scratch, int64_t n)
{
    const int64_t td = (int64_t)s->T * s->d, tt = (int64_t)s->heads * s->T * s->T;
    regions r;
    r.qkv = scratch;
    r.p = r.qkv + n * 3 * td;
    r.a = r.p + n * tt;
    r.da = r.a + n * td;
    r.dqkv = r.da + n * td;
    r.ds = r.dqkv + n * 3 * td;
    return r;
}

static gd_status attention_create(const gd_options *opts, const gd_shape *in,
                                  gd_layer_info *info, void **self, gd_error *err)
{
    const int64_t heads = gd_opt_int(opts, HEADS);
    if (in->ndim != 2)
        return gd_fail(err, GD_EINVAL, "attention: takes a sequence [T, d], got %d dimensions "
                       "per sample", in->ndim);
    const int64_t T = in->dim[0], d = in->dim[1];
    if (d % heads)
        return gd_fail(err, GD_EINVAL, "attention: d = %lld is not divisible by heads = %lld",
                       (long long)d, (long long)heads);
    if (T > 65536 || d > 65536 / 3)
        return gd_fail(err, GD_EINVAL, "attention: T = %lld or d = %lld is too large",
                       (long long)T, (long long)d);
    attention *s = calloc(1, sizeof *s);
    if (!s)
        return gd_fail(err, GD_ENOMEM, "attention: out of memory");
    s->T = (int)T;
    s->d = (int)d;
    s->heads = (int)heads;
    s->dh = (int)(d / heads);
    s->causal = gd_opt_bool(opts, CAUSAL);
    s->bias = gd_opt_bool(opts, BIAS);
    s->scale = (float)(1.0 / sqrt((double)s->dh));
    const gd_spec *init = gd_opt_spec(opts, INIT);
    info->out = *in;
    int k = 0;
    info->params[k++] = (gd_param_info){ .name = "qkv_weight", .role = GD_ROLE_WEIGHT,
                                         .shape = gd_shape_2(3 * d, d), .fan_in = d,
                                         .fan_out = 3 * d, .init = init };
    if (s->bias)
        info->params[k++] = (gd_param_info){ .name = "qkv_bias", .role = GD_ROLE_BIAS,
                                             .shape = gd_shape_1(3 * d), .fan_in = d,
                                             .fan_out = 3 * d };
    info->params[k++] = (gd_param_info){ .name = "out_weight", .role = GD_ROLE_WEIGHT,
                                         .shape = gd_shape_2(d, d), .fan_in = d, .fan_out = d,
                                         .init = init };
    if (s->bias)
        info->params[k++] = (gd_param_info){ .name = "out_bias", .role = GD_ROLE_BIAS,
                                             .shape = gd_shape_1(d), .fan_in = d, .fan_out = d };
    info->nparams = k;
    info->scratch_per_sample = 8 * T * d + 2 * heads * T * T;
    *self = s;
    return GD_OK;
}

static void attention_bind(void *self, float *const *params, float *const *grads,
                           float *const *buffers)
{
    (void)buffers;
    attention *s = self;
    int k = 0;
    s->wqkv = params[k];
    s->gwqkv = grads[k++];
    if (s->bias) {
        s->bqkv = params[k];
        s->gbqkv = grads[k++];
    }
    s->wo = params[k];
    s->gwo = grads[k++];
    if (s->bias) {
        s->bo = params[k];
        s->gbo = grads[k];
    }
}

/* Keys a query block [i0, i1) reads: 0..i1-1 when causal, all otherwise. */
static int keys_of(const attention *s, int i1)
{
    return s->causal ? i1 : s->T;
}

static int block_of(const attention *s)
{
    return s->causal ? BLOCK : s->T;
}

/* The (sample, head) pairs' job. */
typedef struct head_job {
    const attention *s;
    const gd_host *host;
    regions r;
    int64_t count;                              /* pairs: N * heads */
    void (*fn)(const struct head_job *, int64_t);
} head_job;

static void head_forward(const head_job *j, int64_t item)
{
    const attention *s = j->s;
    const int T = s->T, d = s->d, dh = s->dh, ld = 3 * d, bs = block_of(s);
    const int64_t n = item / s->heads, h = item % s->heads;
    const float *q = j->r.qkv + n * T * ld + h * dh, *k = q + d, *v = q + 2 * d;
    float *p = j->r.p + item * T * T, *a = j->r.a + n * T * d + h * dh;
    for (int i0 = 0; i0 < T; i0 += bs) {
        const int i1 = i0 + bs < T ? i0 + bs : T, kend = keys_of(s, i1);
        j->host->sgemm(0, 1, i1 - i0, kend, dh, s->scale, q + (int64_t)i0 * ld, ld, k, ld,
                       0.0f, p + (int64_t)i0 * T, T);
        for (int i = i0; i < i1; i++) {
            float *row = p + (int64_t)i * T;
            const int valid = s->causal ? i + 1 : T;
            float mx = row[0];
            for (int c = 1; c < valid; c++)
                mx = row[c] > mx ? row[c] : mx;
            /* vectorized exp (vec_math.h), then the sum in order */
            for (int c = 0; c < valid; c++)
                row[c] = gm_exp(row[c] - mx);
            float sum = 0;
            for (int c = 0; c < valid; c++)
                sum += row[c];
            const float inv = 1.0f / sum;
            for (int c = 0; c < valid; c++)
                row[c] *= inv;
            for (int c = valid; c < kend; c++)
                row[c] = 0;
        }
        j->host->sgemm(0, 0, i1 - i0, dh, kend, 1.0f, p + (int64_t)i0 * T, T, v, ld, 0.0f,
                       a + (int64_t)i0 * d, d);
    }
}

static void head_backward(const head_job *j, int64_t item)
{
    const attention *s = j->s;
    const int T = s->T, d = s->d, dh = s->dh, ld = 3 * d, bs = block_of(s);
    const int64_t n = item / s->heads, h = item % s->heads;
    const float *q = j->r.qkv + n * T * ld + h * dh, *k = q + d, *v = q + 2 * d;
    const float *p = j->r.p + item * T * T, *da = j->r.da + n * T * d + h * dh;
    float *ds = j->r.ds + item * T * T;
    float *dq = j->r.dqkv + n * T * ld + h * dh, *dk = dq + d, *dv = dq + 2 * d;
    for (int i0 = 0; i0 < T; i0 += bs) {
        const int i1 = i0 + bs < T ? i0 + bs : T, kend = keys_of(s, i1);
        /* dP = dA v^T, then dS in place */
        j->host->sgemm(0, 1, i1 - i0, kend, dh, 1.0f, da + (int64_t)i0 * d, d, v, ld, 0.0f,
                       ds + (int64_t)i0 * T, T);
        for (int i = i0; i < i1; i++) {
            const float *pr = p + (int64_t)i * T;
            float *row = ds + (int64_t)i * T;
            const int valid = s->causal ? i + 1 : T;
            float dot = 0;
            for (int c = 0; c < valid; c++)
                dot += pr[c] * row[c];
            for (int c = 0; c < valid; c++)
                row[c] = pr[c] * (row[c] - dot) * s->scale;
            for (int c = valid; c < kend; c++)
                row[c] = 0;
        }
        j->host->sgemm(0, 0, i1 - i0, dh, kend, 1.0f, ds + (int64_t)i0 * T, T, k, ld, 0.0f,
                       dq + (int64_t)i0 * ld, ld);
    }
    /* Key block [j0, j1) is read by queries j0..T-1 when causal. */
    for (int j0 = 0; j0 < T; j0 += bs) {
        const int j1 = j0 + bs < T ? j0 + bs : T, qs = s->causal ? j0 : 0;
        j->host->sgemm(1, 0, j1 - j0, dh, T - qs, 1.0f, ds + (int64_t)qs * T + j0, T,
                       q + (int64_t)qs * ld, ld, 0.0f, dk + (int64_t)j0 * ld, ld);
        j->host->sgemm(1, 0, j1 - j0, dh, T - qs, 1.0f, p + (int64_t)qs * T + j0, T,
                       da + (int64_t)qs * d, d, 0.0f, dv + (int64_t)j0 * ld, ld);
    }
}

/* Part `part` of nparts: a contiguous run of pairs. */
static void heads_part(void *arg, int part, int nparts)
{
    const head_job *j = arg;
    int64_t lo, hi;
    gd_part_range(j->count, 1, part, nparts, &lo, &hi);
    for (int64_t i = lo; i < hi; i++)
        j->fn(j, i);
}

static void for_each_head(head_job *j, int64_t count,
                          void (*fn)(const head_job *, int64_t))
{
    j->count = count;
    j->fn = fn;
    gd_host_run(j->host, heads_part, j);
}

static gd_status attention_forward(void *self, const gd_layer_ctx *ctx, const gd_tensor *x,
                                   gd_tensor *y, gd_error *err)
{
    const attention *s = self;
    const int64_t n = gd_tensor_numel(x) / ((int64_t)s->T * s->d), rows = n * s->T;
    if (rows == 0)
        return GD_OK;
    if (rows > INT_MAX)
        return gd_fail(err, GD_EINVAL, "attention: batch of %lld is too large", (long long)n);
    const int d = s->d;
    head_job j = { s, ctx->host, regions_of(s, ctx->scratch, n), 0, NULL };
    float beta = 0;
    if (s->bias) {
        gd_k_fill_rows(rows, 3 * d, s->bqkv, j.r.qkv);
        beta = 1;
    }
    ctx->host->sgemm(0, 1, (int)rows, 3 * d, d, 1.0f, x->data, d, s->wqkv, d, beta, j.r.qkv,
                     3 * d);
    for_each_head(&j, n * s->heads, head_forward);
    beta = 0;
    if (s->bias) {
        gd_k_fill_rows(rows, d, s->bo, y->data);
        beta = 1;
    }
    ctx->host->sgemm(0, 1, (int)rows, d, d, 1.0f, j.r.a, d, s->wo, d, beta, y->data, d);
    return GD_OK;
}

static void attention_backward(void *self, const gd_layer_ctx *ctx, const gd_tensor *x,
                               const gd_tensor *y, const gd_tensor *dy, gd_tensor *dx)
{
    (void)y;
    attention *s = self;
    const int64_t n = gd_tensor_numel(x) / ((int64_t)s->T * s->d), rows = n * s->T;
    if (rows == 0)
        return;
    const int d = s->d, r = (int)rows;
    const gd_host *host = ctx->host;
    head_job j = { s, host, regions_of(s, ctx->scratch, n), 0, NULL };
    /* y = a W_o^T + b_o */
    host->sgemm(1, 0, d, d, r, 1.0f, dy->data, d, j.r.a, d, 1.0f, s->gwo, d);
    if (s->bias)
        gd_k_add_rows(rows, d, dy->data, s->gbo);
    host->sgemm(0, 0, r, d, d, 1.0f, dy->data, d, s->wo, d, 0.0f, j.r.da, d);
    for_each_head(&j, n * s->heads, head_backward);
    /* qkv = x W_qkv^T + b_qkv */
    host->sgemm(1, 0, 3 * d, d, r, 1.0f, j.r.dqkv, 3 * d, x->data, d, 1.0f, s->gwqkv, d);
    if (s->bias)
        gd_k_add_rows(rows, 3 * d, j.r.dqkv, s->gbqkv);
    if (dx)
        host->sgemm(0, 0, r, d, 3 * d, 1.0f, j.r.dqkv, 3 * d, s->wqkv, d, 0.0f, dx->data, d);
}

static void attention_destroy(void *self)
{
    free(self);
}

static const gd_layer_vtable vtable = {
    .size = sizeof(gd_layer_vtable),
    .create = attention_create,
    .bind = attention_bind,
    .forward = attention_forward,
    .backward = attention_backward,
    .destroy = attention_destroy,
};

static const gd_component attention_component = {
    .size = sizeof(gd_component),
    .kind = GD_KIND_LAYER,
    .name = "attention",
    .doc = "multi-head self-attention on [T, d], causal by default",
    .options = options,
    .noptions = GD_COUNT(options),
    .vt.layer = &vtable,
};

static const gd_component *const components[] = { &attention_component };
GD_PLUGIN("attention", "1.0", components)
