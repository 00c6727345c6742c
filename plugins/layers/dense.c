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
 * Threads: each pass is cut over the pool by the layer itself (gd_host.
 * parallel) so that the thread that computes a block also finishes it: the
 * forward by columns of y, bias and ReLU included; the backward's weight
 * gradient by whole slices of W's rows, each slice's product, bias sums and
 * update on one thread. Cut by the host's sgemm instead, one core wrote a
 * block and the other read it back for the elementwise pass (Adam at batch
 * 128 on 2 threads: 181k samples/s before, 221k after, measured alternately).
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

/* Multiply-adds below which a layer's work stays on one thread: waking the
 * pool costs more than it saves (the core's sgemm draws the same line). */
enum { PARALLEL_MIN_WORK = 1 << 19 };

/* One pass of the layer cut over the pool. Each part computes a block of a
 * product and finishes it (bias, ReLU, optimizer update) while the block is
 * in its own core's cache: cut by the host's sgemm instead, one thread
 * would write a block and the other read it back for the elementwise pass. */
typedef struct dense_job {
    dense *d;
    const gd_layer_ctx *ctx;
    const float *x;
    const float *g;      /* backward: dy, masked by the ReLU */
    const float *dy;     /* backward: dy as given */
    const float *y;      /* backward: the forward's output (the ReLU mask) */
    float *out;          /* forward: y; backward: the masked dy (scratch) */
    int64_t n;           /* rows of the products: samples, or samples * positions */
    int step;            /* rows of grad_W per slice */
    float beta;          /* grad_W: 0 written and streamed, 1 added */
} dense_job;

/* Parts to cut work of this many multiply-adds into: the pool's size, or 1
 * for small work, inside a part, or on a core without gd_host.parallel. */
static int pool_parts(const gd_layer_ctx *ctx, int64_t work)
{
    if (work < PARALLEL_MIN_WORK || !GD_HAS_MEMBER(ctx->host, gd_host, parallel) ||
        !ctx->host->parallel)
        return 1;
    return ctx->host->parallel(NULL, NULL);
}

static void run_parts(const gd_layer_ctx *ctx, int parts, gd_part_fn fn, dense_job *j)
{
    if (parts > 1)
        gd_host_run(ctx->host, fn, j);
    else
        fn(j, 0, 1);
}

/* Columns lo..hi of rows r0..r1 of y = x Wᵀ + b (ReLU'd): the product into
 * the block, then the bias and the ReLU row by row over it. A part takes a
 * block of columns (its units: W's rows it updates in backward too), or of
 * rows when the layer has too few units to cut (a readout). */
static void forward_part(void *arg, int part, int nparts)
{
    const dense_job *j = arg;
    const dense *d = j->d;
    int64_t lo = 0, hi = d->out, r0 = 0, r1 = j->n;
    if (d->out >= 32 * nparts)
        gd_part_range(d->out, 16, part, nparts, &lo, &hi);
    else
        gd_part_range(j->n, 8, part, nparts, &r0, &r1);
    if (hi <= lo || r1 <= r0)
        return;
    const int64_t cols = hi - lo;
    float *y = j->out + r0 * d->out + lo;
    float beta = 0.0f;
    if (d->bias && !d->relu) {
        for (int64_t r = 0; r < r1 - r0; r++)
            gd_k_fill_rows(1, cols, d->b + lo, y + r * d->out);
        beta = 1.0f;
    }
    /* y[r0..r1, lo..hi] = x[r0..r1, in] · W[lo..hi, in]ᵀ (+ y) */
    j->ctx->host->sgemm(0, 1, (int)(r1 - r0), (int)cols, d->in, 1.0f, j->x + r0 * d->in, d->in,
                        d->w + lo * d->in, d->in, beta, y, d->out);
    for (int64_t r = 0; d->relu && r < r1 - r0; r++) {
        if (d->bias)
            gd_k_bias_relu(1, cols, d->b + lo, y + r * d->out);
        else
            gd_k_relu_inplace(cols, y + r * d->out);
    }
}

static gd_status dense_forward(void *self, const gd_layer_ctx *ctx, const gd_tensor *x,
                               gd_tensor *y, gd_error *err)
{
    dense *d = self;
    int64_t n = gd_tensor_numel(x) / d->in;
    if (gd_tensor_numel(x) != n * d->in || gd_tensor_numel(y) != n * d->out)
        return gd_fail(err, GD_EINVAL, "dense: input has %lld features per position, expected "
                       "%d", (long long)x->shape.dim[x->shape.ndim - 1], d->in);
    if (n == 0)
        return GD_OK;
    if (n > INT_MAX)
        return gd_fail(err, GD_EINVAL, "dense: batch of %lld is too large", (long long)n);
    dense_job j = { .d = d, .ctx = ctx, .x = x->data, .out = y->data, .n = n };
    run_parts(ctx, pool_parts(ctx, n * d->out * d->in), forward_part, &j);
    return GD_OK;
}

/* Rows of grad_W per slice: the rows cut into as few equal slices as keep
 * each within 64k floats (256 KB; with Adam's state for it, within a 1 MB
 * L2), since every slice's product packs x again, and into a multiple of
 * the parts so that each part gets as many. */
static int slice_rows(const dense *d, int parts)
{
    int64_t slices = ((int64_t)d->out * d->in + 65535) / 65536;
    slices = (slices + parts - 1) / parts * parts;
    if (slices > d->out)
        slices = d->out;
    return (int)((d->out + slices - 1) / slices);
}

static int row_count(const dense *d, int64_t r0, int step)
{
    return d->out - r0 < step ? (int)(d->out - r0) : step;
}

/* Rows lo..hi of dy masked by the ReLU (y > 0) into the scratch. */
static void mask_part(void *arg, int part, int nparts)
{
    const dense_job *j = arg;
    int64_t lo, hi;
    gd_part_range(j->n, 1, part, nparts, &lo, &hi);
    const int64_t w = j->d->out;
    if (hi > lo)
        gd_k_relu_mask((hi - lo) * w, j->y + lo * w, j->dy + lo * w, j->out + lo * w);
}

/* The gradients of a run of whole slices of W's rows and of the bias
 * entries of the same units: grad_b[r0..r1] = Σ_rows dy[., r0..r1], and
 * grad_W's rows by slices, = beta * themselves + dy[n, rows]ᵀ · x[n, in].
 * grad_W is always made by the same slices, added to or written: a backend
 * may round a product cut differently from the whole (OpenBLAS does), and
 * the streamed and the accumulated gradients must be the same numbers.
 * Streamed (beta 0), each slice is handed to the core as soon as it is
 * done, which updates it on this thread while it is in cache. */
static void weights_part(void *arg, int part, int nparts)
{
    const dense_job *j = arg;
    dense *d = j->d;
    const gd_layer_ctx *ctx = j->ctx;
    int64_t r0, r1;   /* whole slices: the range cut at multiples of a slice */
    gd_part_range(d->out, j->step, part, nparts, &r0, &r1);
    if (r1 <= r0)
        return;
    const bool stream = j->beta == 0.0f;
    if (d->bias) {
        if (stream)
            for (int64_t u = r0; u < r1; u++)
                d->gb[u] = 0;
        /* Row by row, so dy is read contiguously; the units' sums stay in cache. */
        for (int64_t r = 0; r < j->n; r++)
            gd_k_add_rows(1, r1 - r0, j->g + r * d->out + r0, d->gb + r0);
        if (stream)
            ctx->grad_ready(ctx, 1, r0, r1 - r0);
    }
    for (int64_t r = r0; r < r1; r += j->step) {
        const int rows = row_count(d, r, j->step);
        ctx->host->sgemm(1, 0, rows, d->in, (int)j->n, 1.0f, j->g + r, d->out, j->x, d->in,
                         j->beta, d->gw + r * d->in, d->in);
        if (stream)
            ctx->grad_ready(ctx, 0, r * d->in, (int64_t)rows * d->in);
    }
}

/* dx first, while W is unchanged (streamed slices update it); then grad_b
 * and grad_W, added to, or written and handed over slice by slice
 * (gd_layer_ctx.grad_ready, which the core may call on any part's thread). */
static void dense_backward(void *self, const gd_layer_ctx *ctx, const gd_tensor *x,
                           const gd_tensor *y, const gd_tensor *dy, gd_tensor *dx)
{
    dense *d = self;
    int64_t n = gd_tensor_numel(x) / d->in;
    if (n == 0)
        return;
    const int parts = pool_parts(ctx, n * d->out * d->in);
    dense_job j = { .d = d, .ctx = ctx, .x = x->data, .g = dy->data, .n = n,
                    .step = slice_rows(d, parts), .beta = 1.0f };
    if (d->relu) {
        j.dy = dy->data;
        j.y = y->data;
        j.out = ctx->scratch;
        run_parts(ctx, parts, mask_part, &j);
        j.g = ctx->scratch;
    }
    /* dx[n, in] = dy[n, out] · W[out, in] */
    if (dx)
        ctx->host->sgemm(0, 0, (int)n, d->in, d->out, 1.0f, j.g, d->out, d->w, d->in, 0.0f,
                         dx->data, d->in);
    if (GD_HAS_MEMBER(ctx, gd_layer_ctx, grad_ready) && ctx->grad_ready)
        j.beta = 0.0f;
    run_parts(ctx, parts, weights_part, &j);
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
