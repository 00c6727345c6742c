/*
 * dense: a fully connected layer, y = x Wᵀ + b.
 *
 * W is [out, in] (PyTorch's nn.Linear layout, so a row of W is one unit's
 * weights) and b is [out], starting at 0. A sample is [in] features, or a
 * sequence [T, in]: then the same W and b apply at every position, [T, in]
 * -> [T, units], which is one product over the batch*T rows because tensors
 * are contiguous and row-major (gradients sum over positions too). An image
 * [C, H, W] is refused: flattening it silently would hide a missing layer.
 *
 * Backward (dy is [batch, out]):
 *     grad_W += dyᵀ x      grad_b += Σ_rows dy      dx = dy W
 * The matrix products go through the host's sgemm (OpenBLAS in the core), so
 * the plugin links no BLAS and shares the core's thread pool. grad_W is
 * accumulated by sgemm itself (beta = 1) and dx is skipped when nobody needs
 * it (the first layer).
 *
 * Choices: the bias is written into y before the product and sgemm adds x Wᵀ
 * on top (beta = 1), so y is traversed once more, not twice.
 *
 * Streamed gradients (gd_layer_ctx.grad_ready, set by the trainer's fused
 * update): dx first, then grad_b, then grad_W written (beta = 0, nothing
 * zeroed first) in slices of rows of up to 256 KB, each handed to the core as
 * soon as it is done, which updates it while it is in cache.
 *
 * activation = "relu" fuses a ReLU into the layer: y = max(0, x Wᵀ + b),
 * the bias and the ReLU applied in one pass over the product (sgemm with
 * beta = 0), and in backward the ReLU's mask is applied to dy once, into
 * the layer's scratch, which the three products then read. The numbers are
 * those of dense followed by relu up to the rounding of where the bias is
 * added (after the product here, before it unfused).
 */
#include <limits.h>
#include <stdlib.h>

#include <gradus/gradus.h>
#include <gradus/kernels.h>

enum { UNITS, INIT, BIAS, ACTIVATION };

static const char *const activations[] = { "none", "relu", NULL };

static const gd_option_spec options[] = {
    { .name = "units", .type = GD_OPT_INTEGER, .flags = GD_OPT_REQUIRED | GD_OPT_HAS_MIN,
      .min = 1, .doc = "number of output units (required)" },
    GD_OPT_COMPONENT_OF("init", GD_KIND_INITIALIZER, "xavier_uniform",
                        "initializer of the weights (a name or a gd.init spec)"),
    GD_OPT_BOOL("bias", 1, "add a learned bias (starts at 0)"),
    GD_OPT_CHOICE("activation", "none", activations,
                  "none, or relu: y = max(0, x*W^T + b) fused into the layer"),
};

typedef struct dense {
    int in, out;
    int bias, relu;
    float *w, *b;    /* parameters (core arena) */
    float *gw, *gb;  /* their gradients (core arena) */
} dense;

static gd_status dense_create(const gd_options *opts, const gd_shape *in, gd_layer_info *info,
                              void **self, gd_error *err)
{
    int64_t units = gd_opt_int(opts, UNITS);
    if (in->ndim > 2)
        return gd_fail(err, GD_EINVAL, "dense: gets [%lld, %lld, %lld] and needs a flat input: "
                       "put gd.layer.flatten{} between them", (long long)in->dim[0],
                       (long long)in->dim[1], (long long)in->dim[2]);
    /* Features per position: the last dimension ([in], or [T, in]). */
    int64_t nin = in->ndim >= 1 ? in->dim[in->ndim - 1] : 0;
    /* sgemm takes int dimensions. */
    if (in->ndim < 1 || nin < 1 || nin > INT_MAX)
        return gd_fail(err, GD_EINVAL, "dense: input must have 1 to %d features per sample, "
                       "got %lld", INT_MAX, (long long)nin);
    if (units > INT_MAX)
        return gd_fail(err, GD_EINVAL, "dense: option 'units' must be <= %d, got %lld", INT_MAX,
                       (long long)units);
    dense *d = calloc(1, sizeof *d);
    if (!d)
        return gd_fail(err, GD_ENOMEM, "dense: out of memory");
    d->in = (int)nin;
    d->out = (int)units;
    d->bias = gd_opt_bool(opts, BIAS);
    d->relu = gd_opt_enum(opts, ACTIVATION) == 1;

    info->out = in->ndim == 2 ? gd_shape_2(in->dim[0], units) : gd_shape_1(units);
    info->nparams = d->bias ? 2 : 1;
    info->params[0] = (gd_param_info){
        .name = "weight", .role = GD_ROLE_WEIGHT, .shape = gd_shape_2(units, nin),
        .fan_in = nin, .fan_out = units, .init = gd_opt_spec(opts, INIT),
    };
    if (d->bias)
        info->params[1] = (gd_param_info){
            .name = "bias", .role = GD_ROLE_BIAS, .shape = gd_shape_1(units),
            .fan_in = nin, .fan_out = units, .init = NULL, .init_value = 0.0f,
        };
    info->nbuffers = 0;
    info->scratch_per_sample = d->relu ? gd_shape_numel(&info->out) : 0; /* the masked dy */
    info->scratch_fixed = 0;
    info->activation = d->relu ? GD_ACT_RELU : GD_ACT_NONE;
    if (GD_HAS_MEMBER(info, gd_layer_info, streams_grads))
        info->streams_grads = 1;
    *self = d;
    return GD_OK;
}

static void dense_bind(void *self, float *const *params, float *const *grads,
                       float *const *buffers)
{
    (void)buffers;
    dense *d = self;
    d->w = params[0];
    d->gw = grads[0];
    if (d->bias) {
        d->b = params[1];
        d->gb = grads[1];
    }
}

static gd_status dense_forward(void *self, const gd_layer_ctx *ctx, const gd_tensor *x,
                               gd_tensor *y, gd_error *err)
{
    const dense *d = self;
    /* Rows of the product: samples, or samples * positions. */
    int64_t n = gd_tensor_numel(x) / d->in;
    if (gd_tensor_numel(x) != n * d->in || gd_tensor_numel(y) != n * d->out)
        return gd_fail(err, GD_EINVAL, "dense: input has %lld features per position, expected "
                       "%d", (long long)x->shape.dim[x->shape.ndim - 1], d->in);
    if (n == 0)
        return GD_OK;
    if (n > INT_MAX)
        return gd_fail(err, GD_EINVAL, "dense: batch of %lld is too large", (long long)n);
    float beta = 0.0f;
    if (d->bias && !d->relu) {
        gd_k_fill_rows(n, d->out, d->b, y->data);
        beta = 1.0f;
    }
    /* y[n, out] = x[n, in] · W[out, in]ᵀ (+ y) */
    ctx->host->sgemm(0, 1, (int)n, d->out, d->in, 1.0f, x->data, d->in, d->w, d->in, beta,
                     y->data, d->out);
    if (d->relu && d->bias)
        gd_k_bias_relu(n, d->out, d->b, y->data);
    else if (d->relu)
        gd_k_relu_inplace(n * d->out, y->data);
    return GD_OK;
}

/* Rows of grad_W per slice: the rows cut into as few equal slices as keep
 * each within 64k floats (256 KB; with Adam's state for it, within a 1 MB
 * L2), since every slice's product packs x again. */
static int slice_rows(const dense *d)
{
    int64_t slices = ((int64_t)d->out * d->in + 65535) / 65536;
    return (int)((d->out + slices - 1) / slices);
}

static int row_count(const dense *d, int r0, int step)
{
    return d->out - r0 < step ? d->out - r0 : step;
}

/* grad_W's rows r0 .. r0+step-1 (fewer at the end) = beta * themselves +
 * dy[n, rows]ᵀ · x[n, in]. grad_W is always made by the same slices, added
 * to or written: a backend may round a product cut differently from the
 * whole (OpenBLAS does), and the streamed and the accumulated gradients
 * must be the same numbers. */
static void weight_grad_rows(dense *d, const gd_layer_ctx *ctx, const gd_tensor *x,
                             const float *g, int64_t n, int r0, int step, float beta)
{
    ctx->host->sgemm(1, 0, row_count(d, r0, step), d->in, (int)n, 1.0f, g + r0, d->out,
                     x->data, d->in, beta, d->gw + (int64_t)r0 * d->in, d->in);
}

/* The streamed backward (gd_layer_ctx.grad_ready): dx first, while W is
 * unchanged; then grad_b, and grad_W by slices of rows, each written
 * (beta = 0) and handed over as soon as it is done. */
static void backward_streamed(dense *d, const gd_layer_ctx *ctx, const gd_tensor *x,
                              const float *g, int64_t n, gd_tensor *dx)
{
    if (dx)
        ctx->host->sgemm(0, 0, (int)n, d->in, d->out, 1.0f, g, d->out, d->w, d->in, 0.0f,
                         dx->data, d->in);
    if (d->bias) {
        for (int j = 0; j < d->out; j++)
            d->gb[j] = 0;
        gd_k_add_rows(n, d->out, g, d->gb);
        ctx->grad_ready(ctx, 1, 0, d->out);
    }
    for (int r0 = 0, step = slice_rows(d); r0 < d->out; r0 += step) {
        weight_grad_rows(d, ctx, x, g, n, r0, step, 0.0f);
        ctx->grad_ready(ctx, 0, (int64_t)r0 * d->in, (int64_t)row_count(d, r0, step) * d->in);
    }
}

static void dense_backward(void *self, const gd_layer_ctx *ctx, const gd_tensor *x,
                           const gd_tensor *y, const gd_tensor *dy, gd_tensor *dx)
{
    dense *d = self;
    int64_t n = gd_tensor_numel(x) / d->in;
    if (n == 0)
        return;
    const float *g = dy->data;
    if (d->relu) {
        gd_k_relu_mask(n * d->out, y->data, dy->data, ctx->scratch);
        g = ctx->scratch;
    }
    if (GD_HAS_MEMBER(ctx, gd_layer_ctx, grad_ready) && ctx->grad_ready) {
        backward_streamed(d, ctx, x, g, n, dx);
        return;
    }
    /* grad_W[out, in] += dy[n, out]ᵀ · x[n, in] */
    for (int r0 = 0, step = slice_rows(d); r0 < d->out; r0 += step)
        weight_grad_rows(d, ctx, x, g, n, r0, step, 1.0f);
    /* Row by row, so dy is read contiguously; gb stays in cache. */
    if (d->bias)
        gd_k_add_rows(n, d->out, g, d->gb);
    /* dx[n, in] = dy[n, out] · W[out, in] */
    if (dx)
        ctx->host->sgemm(0, 0, (int)n, d->in, d->out, 1.0f, g, d->out, d->w, d->in, 0.0f,
                         dx->data, d->in);
}

static void dense_destroy(void *self)
{
    free(self);
}

static const gd_layer_vtable vtable = {
    .size = sizeof(gd_layer_vtable),
    .create = dense_create,
    .bind = dense_bind,
    .forward = dense_forward,
    .backward = dense_backward,
    .destroy = dense_destroy,
};

static const gd_component dense_component = {
    .size = sizeof(gd_component),
    .kind = GD_KIND_LAYER,
    .name = "dense",
    .doc = "fully connected layer: y = x*W^T + b, W is [units, in]; on [T, in] at each position",
    .options = options,
    .noptions = GD_COUNT(options),
    .vt.layer = &vtable,
};

static const gd_component *const components[] = { &dense_component };
GD_PLUGIN("dense", "1.0", components)
