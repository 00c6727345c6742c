/*
 * batchnorm: batch normalization per feature (Ioffe & Szegedy 2015).
 *
 * On [N, C] (a per-sample shape [d1, d2, ...] counts as C = d1·d2·... features):
 *   train:  μ = mean_n x,  σ² = mean_n (x − μ)²  (biased),
 *           x̂ = (x − μ)/√(σ² + ε),  y = γ x̂ + β
 *           running_mean = (1 − m)·running_mean + m·μ
 *           running_var  = (1 − m)·running_var  + m·σ²·N/(N − 1)  (unbiased)
 *   eval:   x̂ = (x − running_mean)/√(running_var + ε),  y = γ x̂ + β
 * Backward through the batch statistics (train), with s = 1/√(σ² + ε):
 *   grad_β += Σ_n dy,  grad_γ += Σ_n dy·x̂,
 *   dx = γ·s/N · (N·dy − Σ_n dy − x̂·Σ_n dy·x̂)
 * and in eval, where the statistics are constants, dx = γ·dy/√(running_var + ε).
 * These are PyTorch's BatchNorm1d semantics (momentum 0.1, eps 1e-5).
 *
 * On images [N, C, H, W] (a 3-D per-sample shape) the statistics are per
 * channel over N, H and W, as BatchNorm2d: every formula above with the
 * sums over n running over the N·H·W values of a channel (M of them; the
 * running variance is unbiased over M). gamma, beta and the buffers are [C].
 *
 * Parameters gamma (role SCALE, starts at 1) and beta (role SHIFT, starts
 * at 0); buffers running_mean (0) and running_var (1), saved with the model.
 * Scratch (kept from forward to backward): s per channel, then x̂ per element.
 *
 * Choices: statistics and the backward sums are accumulated in double, with
 * a second pass for the variance, so large batches and large means lose no
 * precision. A training batch of one sample has no unbiased variance: then
 * running_var is left as it is (running_mean is still updated), and x̂ = 0,
 * so y = β and dx = 0, as the formulas give. PyTorch refuses such a batch;
 * here it can happen as the last, smaller batch of an epoch, so it passes.
 */
#include <math.h>
#include <stdlib.h>

#include <gradus/gradus.h>

enum { MOMENTUM, EPS };

static const gd_option_spec options[] = {
    GD_OPT_NUMBER_RANGE("momentum", 0.1, 0, 1, 0,
                        "weight of the batch statistics in the running averages"),
    GD_OPT_NUMBER_ABOVE("eps", 1e-5, 0, "added to the variance before the square root"),
};

typedef struct batchnorm {
    int64_t c;                             /* channels (features on [n]) */
    int64_t s;                             /* values per channel and sample: H·W, or 1 */
    double momentum, eps;
    float *gamma, *beta, *ggamma, *gbeta;  /* core arenas */
    float *run_mean, *run_var;             /* core buffers */
    double *acc1, *acc2;                   /* 2·c doubles of workspace, owned */
} batchnorm;

static gd_status bn_create(const gd_options *opts, const gd_shape *in, gd_layer_info *info,
                           void **self, gd_error *err)
{
    int64_t c = gd_shape_numel(in), s = 1;
    if (in->ndim == 3) {   /* [C, H, W]: per channel */
        c = in->dim[0];
        s = in->dim[1] * in->dim[2];
    }
    if (in->ndim < 1 || c < 1)
        return gd_fail(err, GD_EINVAL, "batchnorm: input must have at least one feature");
    batchnorm *b = calloc(1, sizeof *b);
    double *acc = calloc((size_t)c * 2, sizeof *acc);
    if (!b || !acc) {
        free(b);
        free(acc);
        return gd_fail(err, GD_ENOMEM, "batchnorm: out of memory");
    }
    b->c = c;
    b->s = s;
    b->momentum = gd_opt_num(opts, MOMENTUM);
    b->eps = gd_opt_num(opts, EPS);
    b->acc1 = acc;
    b->acc2 = acc + c;

    info->out = *in;
    info->nparams = 2;
    info->params[0] = (gd_param_info){ .name = "gamma", .role = GD_ROLE_SCALE,
        .shape = gd_shape_1(c), .fan_in = c, .fan_out = c, .init = NULL, .init_value = 1.0f };
    info->params[1] = (gd_param_info){ .name = "beta", .role = GD_ROLE_SHIFT,
        .shape = gd_shape_1(c), .fan_in = c, .fan_out = c, .init = NULL, .init_value = 0.0f };
    info->nbuffers = 2;
    info->buffers[0] = (gd_buffer_info){ .name = "running_mean", .numel = c, .init_value = 0.0f };
    info->buffers[1] = (gd_buffer_info){ .name = "running_var", .numel = c, .init_value = 1.0f };
    info->scratch_per_sample = c * s;   /* x-hat */
    info->scratch_fixed = c;        /* 1/sqrt(var + eps) */
    info->activation = GD_ACT_NONE;
    if (GD_HAS_MEMBER(info, gd_layer_info, min_batch) && s == 1)
        info->min_batch = 2;    /* one sample has no batch variance to normalize by */
    *self = b;
    return GD_OK;
}

static void bn_bind(void *self, float *const *params, float *const *grads, float *const *buffers)
{
    batchnorm *b = self;
    b->gamma = params[0];
    b->beta = params[1];
    b->ggamma = grads[0];
    b->gbeta = grads[1];
    b->run_mean = buffers[0];
    b->run_var = buffers[1];
}

/* Batch mean into acc1 and sum of squared deviations into acc2 per
 * channel, over m = n·s values, reading x contiguously. */
static void batch_stats(batchnorm *b, const float *x, int64_t n)
{
    const int64_t c = b->c, s = b->s;
    double *restrict mean = b->acc1, *restrict ss = b->acc2;
    for (int64_t j = 0; j < c; j++)
        mean[j] = ss[j] = 0;
    for (int64_t r = 0; r < n; r++)
        for (int64_t j = 0; j < c; j++)
            for (int64_t k = 0; k < s; k++)
                mean[j] += x[(r * c + j) * s + k];
    for (int64_t j = 0; j < c; j++)
        mean[j] /= (double)(n * s);
    for (int64_t r = 0; r < n; r++)
        for (int64_t j = 0; j < c; j++)
            for (int64_t k = 0; k < s; k++) {
                double d = x[(r * c + j) * s + k] - mean[j];
                ss[j] += d * d;
            }
}

static gd_status bn_forward(void *self, const gd_layer_ctx *ctx, const gd_tensor *x,
                            gd_tensor *y, gd_error *err)
{
    batchnorm *b = self;
    const int64_t c = b->c, s = b->s, n = gd_tensor_rows(x), m = n * s;
    if (gd_tensor_cols(x) != c * s)
        return gd_fail(err, GD_EINVAL, "batchnorm: input has %lld features per sample, "
                       "expected %lld", (long long)gd_tensor_cols(x), (long long)(c * s));
    if (!ctx->scratch)
        return gd_fail(err, GD_EINVAL, "batchnorm: forward needs scratch");
    if (n == 0)
        return GD_OK;
    float *restrict inv = ctx->scratch, *restrict xhat = ctx->scratch + c;
    if (ctx->training) {
        batch_stats(b, x->data, n);
        const double mo = b->momentum;
        for (int64_t j = 0; j < c; j++) {
            double var = b->acc2[j] / (double)m;
            inv[j] = (float)(1.0 / sqrt(var + b->eps));
            b->run_mean[j] = (float)((1 - mo) * b->run_mean[j] + mo * b->acc1[j]);
            if (m > 1)
                b->run_var[j] = (float)((1 - mo) * b->run_var[j]
                                        + mo * b->acc2[j] / (double)(m - 1));
        }
    } else {
        for (int64_t j = 0; j < c; j++) {
            b->acc1[j] = b->run_mean[j];
            inv[j] = (float)(1.0 / sqrt((double)b->run_var[j] + b->eps));
        }
    }
    const double *restrict mean = b->acc1;
    const float *restrict xs = x->data, *restrict g = b->gamma, *restrict be = b->beta;
    float *restrict ys = y->data;
    for (int64_t r = 0; r < n; r++)
        for (int64_t j = 0; j < c; j++)
            for (int64_t q = 0; q < s; q++) {
                int64_t k = (r * c + j) * s + q;
                float h = (float)((xs[k] - mean[j]) * inv[j]);
                xhat[k] = h;
                ys[k] = g[j] * h + be[j];
            }
    return GD_OK;
}

static void bn_backward(void *self, const gd_layer_ctx *ctx, const gd_tensor *x,
                        const gd_tensor *y, const gd_tensor *dy, gd_tensor *dx)
{
    (void)y;
    batchnorm *b = self;
    const int64_t c = b->c, s = b->s, n = gd_tensor_rows(x), m = n * s;
    if (n == 0)
        return;
    const float *restrict inv = ctx->scratch, *restrict xhat = ctx->scratch + c;
    const float *restrict g = dy->data;
    double *restrict sdy = b->acc1, *restrict sdyx = b->acc2;
    for (int64_t j = 0; j < c; j++)
        sdy[j] = sdyx[j] = 0;
    for (int64_t r = 0; r < n; r++)
        for (int64_t j = 0; j < c; j++)
            for (int64_t q = 0; q < s; q++) {
                int64_t k = (r * c + j) * s + q;
                sdy[j] += g[k];
                sdyx[j] += (double)g[k] * xhat[k];
            }
    for (int64_t j = 0; j < c; j++) {
        b->gbeta[j] += (float)sdy[j];
        b->ggamma[j] += (float)sdyx[j];
    }
    if (!dx)
        return;
    float *restrict out = dx->data;
    if (!ctx->training) {
        for (int64_t r = 0; r < n; r++)
            for (int64_t j = 0; j < c; j++)
                for (int64_t q = 0; q < s; q++) {
                    int64_t k = (r * c + j) * s + q;
                    out[k] = b->gamma[j] * inv[j] * g[k];
                }
        return;
    }
    /* dx = γ·s/M·(M·dy − Σdy − x̂·Σdy·x̂) = γ·s·(dy − mean dy − x̂·mean dy·x̂). */
    for (int64_t j = 0; j < c; j++) {
        sdy[j] /= (double)m;
        sdyx[j] /= (double)m;
    }
    for (int64_t r = 0; r < n; r++)
        for (int64_t j = 0; j < c; j++)
            for (int64_t q = 0; q < s; q++) {
                int64_t k = (r * c + j) * s + q;
                double t = g[k] - sdy[j] - xhat[k] * sdyx[j];
                out[k] = (float)(b->gamma[j] * inv[j] * t);
            }
}

static void bn_destroy(void *self)
{
    batchnorm *b = self;
    if (b)
        free(b->acc1);
    free(b);
}

static const gd_layer_vtable vtable = {
    .size = sizeof(gd_layer_vtable),
    .create = bn_create,
    .bind = bn_bind,
    .forward = bn_forward,
    .backward = bn_backward,
    .destroy = bn_destroy,
};

static const gd_component batchnorm_component = {
    .size = sizeof(gd_component),
    .kind = GD_KIND_LAYER,
    .name = "batchnorm",
    .doc = "batch normalization per feature (per channel on [C, H, W]), learnable gamma and beta, running statistics",
    .options = options,
    .noptions = GD_COUNT(options),
    .vt.layer = &vtable,
};

static const gd_component *const components[] = { &batchnorm_component };
GD_PLUGIN("batchnorm", "1.0", components)
