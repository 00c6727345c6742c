/*
 * layer_norm{eps}: layer normalization (Ba, Kiros & Hinton 2016), per sample.
 *
 * Each sample is normalized over its whole shape ([n], [C, H, W]); a
 * [T, d] sample over d at each of its T positions (the sequence layout).
 * For one group of G values:
 *   μ = mean x,  σ² = mean (x − μ)² (biased),  s = 1/√(σ² + ε),
 *   x̂ = (x − μ)·s,  y = γ ⊙ x̂ + β
 * γ (role SCALE, starts at 1) and β (SHIFT, 0) have the shape of a group:
 * the sample's shape, or [d]. Backward, per group:
 *   grad_γ += dy ⊙ x̂,  grad_β += dy,  ĝ = γ ⊙ dy,
 *   dx = s·(ĝ − mean ĝ − x̂·mean(ĝ ⊙ x̂))
 * Training and evaluation are the same: no batch statistics, no buffers.
 * Statistics and sums are accumulated in double. Scratch keeps x̂ and s
 * from forward to backward.
 */
#include <math.h>
#include <stdlib.h>

#include <gradus/gradus.h>

enum { EPS };

static const gd_option_spec options[] = {
    GD_OPT_NUMBER_ABOVE("eps", 1e-5, 0, "added to the variance before the square root"),
};

typedef struct layer_norm {
    int64_t group, groups;     /* values per group, groups per sample */
    double eps;
    float *gamma, *beta, *ggamma, *gbeta;
} layer_norm;

static gd_status ln_create(const gd_options *opts, const gd_shape *in, gd_layer_info *info,
                           void **self, gd_error *err)
{
    int64_t n = gd_shape_numel(in);
    if (in->ndim < 1 || n < 1)
        return gd_fail(err, GD_EINVAL, "layer_norm: input must have at least one feature");
    layer_norm *l = calloc(1, sizeof *l);
    if (!l)
        return gd_fail(err, GD_ENOMEM, "layer_norm: out of memory");
    gd_shape pshape = *in;
    l->group = n;
    l->groups = 1;
    if (in->ndim == 2) {   /* [T, d]: over d at each position */
        l->group = in->dim[1];
        l->groups = in->dim[0];
        pshape = gd_shape_1(in->dim[1]);
    }
    l->eps = gd_opt_num(opts, EPS);
    info->out = *in;
    info->nparams = 2;
    info->params[0] = (gd_param_info){ .name = "gamma", .role = GD_ROLE_SCALE, .shape = pshape,
        .fan_in = l->group, .fan_out = l->group, .init = NULL, .init_value = 1.0f };
    info->params[1] = (gd_param_info){ .name = "beta", .role = GD_ROLE_SHIFT, .shape = pshape,
        .fan_in = l->group, .fan_out = l->group, .init = NULL, .init_value = 0.0f };
    info->nbuffers = 0;
    info->scratch_per_sample = n + l->groups;   /* x̂, then s per group */
    info->scratch_fixed = 0;
    info->activation = GD_ACT_NONE;
    *self = l;
    return GD_OK;
}

static void ln_bind(void *self, float *const *params, float *const *grads, float *const *buffers)
{
    (void)buffers;
    layer_norm *l = self;
    l->gamma = params[0];
    l->beta = params[1];
    l->ggamma = grads[0];
    l->gbeta = grads[1];
}

/* A pass over the rows (groups) cut over the host's pool: rows are
 * independent, and the parameters' gradients are summed by columns, each
 * column over the rows in order, so the numbers are the same bits at any
 * thread count. Small inputs run inline: a wake-up costs microseconds. */
enum { PARALLEL_MIN_VALUES = 1 << 15 };

typedef struct ln_job {
    const layer_norm *l;
    int64_t rows;
    int backward;
    const float *x, *dy;
    float *y, *dx, *xhat, *inv;
} ln_job;

static void forward_rows(const ln_job *jb, int64_t lo, int64_t hi)
{
    const layer_norm *l = jb->l;
    const int64_t G = l->group;
    for (int64_t r = lo; r < hi; r++) {
        const float *xs = jb->x + r * G;
        double mean = 0, ss = 0;
        for (int64_t j = 0; j < G; j++)
            mean += xs[j];
        mean /= (double)G;
        for (int64_t j = 0; j < G; j++)
            ss += (xs[j] - mean) * (xs[j] - mean);
        double s = 1.0 / sqrt(ss / (double)G + l->eps);
        jb->inv[r] = (float)s;
        for (int64_t j = 0; j < G; j++) {
            float h = (float)((xs[j] - mean) * s);
            jb->xhat[r * G + j] = h;
            jb->y[r * G + j] = l->gamma[j] * h + l->beta[j];
        }
    }
}

/* dx for rows lo..hi-1, then grad_γ and grad_β for this part's columns. */
static void backward_rows(const ln_job *jb, int64_t lo, int64_t hi, int part, int nparts)
{
    const layer_norm *l = jb->l;
    const int64_t G = l->group;
    for (int64_t r = lo; jb->dx && r < hi; r++) {
        const float *g = jb->dy + r * G, *h = jb->xhat + r * G;
        double m1 = 0, m2 = 0;
        for (int64_t j = 0; j < G; j++) {
            double gh = (double)l->gamma[j] * g[j];
            m1 += gh;
            m2 += gh * h[j];
        }
        m1 /= (double)G;
        m2 /= (double)G;
        for (int64_t j = 0; j < G; j++)
            jb->dx[r * G + j] =
                (float)(jb->inv[r] * ((double)l->gamma[j] * g[j] - m1 - h[j] * m2));
    }
    int64_t c0, c1;
    gd_part_range(G, 16, part, nparts, &c0, &c1);
    for (int64_t r = 0; c1 > c0 && r < jb->rows; r++) {
        const float *g = jb->dy + r * G, *h = jb->xhat + r * G;
        for (int64_t j = c0; j < c1; j++) {
            l->ggamma[j] += g[j] * h[j];
            l->gbeta[j] += g[j];
        }
    }
}

/* This part's run of rows, forward or backward. */
static void rows_part(void *arg, int part, int nparts)
{
    const ln_job *jb = arg;
    int64_t lo, hi;
    gd_part_range(jb->rows, 1, part, nparts, &lo, &hi);
    if (jb->backward)
        backward_rows(jb, lo, hi, part, nparts);
    else
        forward_rows(jb, lo, hi);
}

static void run_rows(const gd_layer_ctx *ctx, ln_job *j)
{
    if (j->rows * j->l->group >= PARALLEL_MIN_VALUES)
        gd_host_run(ctx->host, rows_part, j);
    else
        rows_part(j, 0, 1);
}

static gd_status ln_forward(void *self, const gd_layer_ctx *ctx, const gd_tensor *x,
                            gd_tensor *y, gd_error *err)
{
    const layer_norm *l = self;
    const int64_t G = l->group, rows = gd_tensor_rows(x) * l->groups;
    if (gd_tensor_cols(x) != G * l->groups)
        return gd_fail(err, GD_EINVAL, "layer_norm: input has %lld values per sample, "
                       "expected %lld", (long long)gd_tensor_cols(x), (long long)(G * l->groups));
    ln_job j = { .l = l, .rows = rows, .x = x->data, .y = y->data, .xhat = ctx->scratch,
                 .inv = ctx->scratch + rows * G };
    run_rows(ctx, &j);
    return GD_OK;
}

static void ln_backward(void *self, const gd_layer_ctx *ctx, const gd_tensor *x,
                        const gd_tensor *y, const gd_tensor *dy, gd_tensor *dx)
{
    (void)y;
    const layer_norm *l = self;
    const int64_t G = l->group, rows = gd_tensor_rows(x) * l->groups;
    ln_job j = { .l = l, .rows = rows, .backward = 1, .dy = dy->data,
                 .dx = dx ? dx->data : NULL, .xhat = ctx->scratch, .inv = ctx->scratch + rows * G };
    run_rows(ctx, &j);
}

static void ln_destroy(void *self)
{
    free(self);
}

static const gd_layer_vtable vtable = {
    .size = sizeof(gd_layer_vtable),
    .create = ln_create,
    .bind = ln_bind,
    .forward = ln_forward,
    .backward = ln_backward,
    .destroy = ln_destroy,
};

static const gd_component layer_norm_component = {
    .size = sizeof(gd_component),
    .kind = GD_KIND_LAYER,
    .name = "layer_norm",
    .doc = "layer normalization per sample (per position on [T, d]), learnable gamma and beta",
    .options = options,
    .noptions = GD_COUNT(options),
    .vt.layer = &vtable,
};

static const gd_component *const components[] = { &layer_norm_component };
GD_PLUGIN("layer_norm", "1.0", components)
