/*
 * conv2d: 2-D convolution (cross-correlation, as torch.nn.functional.conv2d).
 *
 * x [N, C, H, W], W [F, C, kh, kw], b [F] → y [N, F, OH, OW] with
 *   y[n, f, oy, ox] = b[f] + Σ_{c,i,j} W[f, c, i, j] · x[n, c, oy·sh − ph + i, ox·sw − pw + j]
 * (cells outside the image are 0), OH = ⌊(H + 2ph − kh)/sh⌋ + 1, likewise OW.
 * `padding = "same"` is (k − 1)/2 on each side and needs an odd kernel.
 * Initializers see fan_in = C·kh·kw and fan_out = F·kh·kw.
 * activation = "relu" fuses y = max(0, ·) as dense does (the dead-unit
 * statistics then read this layer).
 *
 * Two paths computing the same function:
 *   fast   the convolution the core lends (gd_host.conv2d_*, ABI 1.2:
 *          oneDNN's primitives when it is the backend in use, GRADUS_BLAS),
 *          set up at the first forward, where the host is known.
 *   plain  per sample, im2col then the host's sgemm:
 *              col [C·kh·kw, OH·OW] = im2col(x_n),   y_n = W · col
 *              grad_W += dy_n · colᵀ,   dx_n = col2im(Wᵀ · dy_n)
 *          the scalar twin the tests compare the fast path with, and the
 *          path of an OpenBLAS build (GRADUS_BLAS=openblas selects it).
 * Both are exercised by tests/lua/ref_layers_spatial.lua.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <gradus/gradus.h>
#include <gradus/kernels.h>

#include "spatial.h"

enum { FILTERS, KERNEL, STRIDE, PADDING, BIAS, INIT, ACTIVATION };

static const char *const activations[] = { "none", "relu", NULL };
static const char *const same[] = { "same", NULL };

static const gd_option_spec options[] = {
    { .name = "filters", .type = GD_OPT_INTEGER, .flags = GD_OPT_REQUIRED | GD_OPT_HAS_MIN,
      .min = 1, .doc = "number of output channels (required)" },
    GD_OPT_INTS_MIN("kernel", NULL, 1, NULL, GD_OPT_REQUIRED,
                    "kernel size: an integer or { kh, kw } (required)"),
    GD_OPT_INTS_MIN("stride", "1", 1, NULL, 0, "step of the window: an integer or { sh, sw }"),
    GD_OPT_INTS_MIN("padding", "0", 0, same, 0,
                    "zeros on each side: an integer, { ph, pw } or \"same\" ((k - 1)/2, odd k)"),
    GD_OPT_BOOL("bias", 1, "add a learned bias per filter (starts at 0)"),
    GD_OPT_COMPONENT_OF("init", GD_KIND_INITIALIZER, "xavier_uniform",
                        "initializer of the weights (fan_in = C*kh*kw, fan_out = filters*kh*kw)"),
    GD_OPT_CHOICE("activation", "none", activations,
                  "none, or relu: y = max(0, conv(x) + b) fused into the layer"),
};

typedef struct conv2d {
    sp_geom g;
    int64_t f, ckk, p;        /* filters, C·kh·kw, OH·OW */
    int bias, relu;
    float *w, *b, *gw, *gb;   /* core arenas */
    int asked;                /* the host was asked for a convolution */
    gd_conv2d *fast;          /* the host's, or NULL: the plain path */
    const gd_host *host;      /* that gave it */
} conv2d;

static gd_status conv_create(const gd_options *opts, const gd_shape *in, gd_layer_info *info,
                             void **self, gd_error *err)
{
    conv2d *cv = NULL;
    sp_geom g = { 0 };
    gd_status st = sp_image("conv2d", in, &g, err);
    if (st != GD_OK)
        return st;
    if (sp_pair("conv2d", opts, KERNEL, "kernel", NULL, &g.kh, &g.kw, err) == -2 ||
        sp_pair("conv2d", opts, STRIDE, "stride", NULL, &g.sh, &g.sw, err) == -2)
        return GD_EINVAL;
    int pad = sp_pair("conv2d", opts, PADDING, "padding", same, &g.ph, &g.pw, err);
    if (pad == -2)
        return GD_EINVAL;
    if (pad == 0) {   /* "same" */
        if (g.kh % 2 == 0 || g.kw % 2 == 0)
            return gd_fail(err, GD_EINVAL, "conv2d: padding \"same\" needs an odd kernel, got "
                           "%lldx%lld (give the padding as an integer)", (long long)g.kh,
                           (long long)g.kw);
        g.ph = (g.kh - 1) / 2;
        g.pw = (g.kw - 1) / 2;
    }
    if ((st = sp_output("conv2d", "kernel", &g, err)) != GD_OK)
        return st;
    int64_t f = gd_opt_int(opts, FILTERS), ckk = g.c * g.kh * g.kw, p = g.oh * g.ow;
    /* sgemm and oneDNN take int dimensions */
    if (f > INT_MAX || ckk > INT_MAX || p > INT_MAX || f * p > INT_MAX || g.c * g.h * g.w > INT_MAX)
        return gd_fail(err, GD_EINVAL, "conv2d: too large (%lld filters, %lld inputs per "
                       "output, %lld outputs per channel)", (long long)f, (long long)ckk,
                       (long long)p);
    if (!(cv = calloc(1, sizeof *cv)))
        return gd_fail(err, GD_ENOMEM, "conv2d: out of memory");
    cv->g = g;
    cv->f = f;
    cv->ckk = ckk;
    cv->p = p;
    cv->bias = gd_opt_bool(opts, BIAS);
    cv->relu = gd_opt_enum(opts, ACTIVATION) == 1;

    info->out = sp_shape3(f, g.oh, g.ow);
    info->nparams = cv->bias ? 2 : 1;
    info->params[0] = (gd_param_info){
        .name = "weight", .role = GD_ROLE_WEIGHT, .shape = { 4, { f, g.c, g.kh, g.kw } },
        .fan_in = ckk, .fan_out = f * g.kh * g.kw, .init = gd_opt_spec(opts, INIT),
    };
    if (cv->bias)
        info->params[1] = (gd_param_info){
            .name = "bias", .role = GD_ROLE_BIAS, .shape = gd_shape_1(f), .fan_in = ckk,
            .fan_out = f * g.kh * g.kw, .init = NULL, .init_value = 0.0f,
        };
    info->nbuffers = 0;
    info->activation = cv->relu ? GD_ACT_RELU : GD_ACT_NONE;
    /* The plain path's col and dcol of one sample and its masked dy (the
     * host is not known yet, so always). */
    info->scratch_fixed = 2 * ckk * p + (cv->relu ? f * p : 0);
    info->scratch_per_sample = 0;
    *self = cv;
    return GD_OK;
}

static void conv_bind(void *self, float *const *params, float *const *grads,
                      float *const *buffers)
{
    (void)buffers;
    conv2d *cv = self;
    cv->w = params[0];
    cv->gw = grads[0];
    if (cv->bias) {
        cv->b = params[1];
        cv->gb = grads[1];
    }
}

/* col[(c·kh + i)·kw + j][oy·OW + ox] = x[c][oy·sh − ph + i][ox·sw − pw + j], 0 outside. */
static void im2col(const sp_geom *g, const float *x, float *col)
{
    const int64_t p = g->oh * g->ow;
    for (int64_t c = 0; c < g->c; c++)
        for (int64_t i = 0; i < g->kh; i++)
            for (int64_t j = 0; j < g->kw; j++) {
                float *row = col + ((c * g->kh + i) * g->kw + j) * p;
                for (int64_t oy = 0; oy < g->oh; oy++) {
                    int64_t iy = oy * g->sh - g->ph + i;
                    float *r = row + oy * g->ow;
                    if (iy < 0 || iy >= g->h) {
                        memset(r, 0, (size_t)g->ow * sizeof *r);
                        continue;
                    }
                    const float *src = x + (c * g->h + iy) * g->w;
                    for (int64_t ox = 0; ox < g->ow; ox++) {
                        int64_t ix = ox * g->sw - g->pw + j;
                        r[ox] = ix >= 0 && ix < g->w ? src[ix] : 0.0f;
                    }
                }
            }
}

/* The adjoint of im2col: dx[c][iy][ix] += col[...] for every cell col read. */
static void col2im(const sp_geom *g, const float *col, float *dx)
{
    const int64_t p = g->oh * g->ow;
    memset(dx, 0, (size_t)(g->c * g->h * g->w) * sizeof *dx);
    for (int64_t c = 0; c < g->c; c++)
        for (int64_t i = 0; i < g->kh; i++)
            for (int64_t j = 0; j < g->kw; j++) {
                const float *row = col + ((c * g->kh + i) * g->kw + j) * p;
                for (int64_t oy = 0; oy < g->oh; oy++) {
                    int64_t iy = oy * g->sh - g->ph + i;
                    if (iy < 0 || iy >= g->h)
                        continue;
                    float *dst = dx + (c * g->h + iy) * g->w;
                    for (int64_t ox = 0; ox < g->ow; ox++) {
                        int64_t ix = ox * g->sw - g->pw + j;
                        if (ix >= 0 && ix < g->w)
                            dst[ix] += row[oy * g->ow + ox];
                    }
                }
            }
}

static gd_status conv_forward(void *self, const gd_layer_ctx *ctx, const gd_tensor *x,
                              gd_tensor *y, gd_error *err)
{
    conv2d *cv = self;
    const sp_geom *g = &cv->g;
    const int64_t n = gd_tensor_rows(x), in = g->c * g->h * g->w, out = cv->f * cv->p;
    if (gd_tensor_cols(x) != in || gd_tensor_cols(y) != out)
        return gd_fail(err, GD_EINVAL, "conv2d: input has %lld values per sample, expected "
                       "%lld", (long long)gd_tensor_cols(x), (long long)in);
    if (n == 0)
        return GD_OK;
    if (!cv->asked) {
        cv->asked = 1;
        const gd_host *h = ctx->host;
        if (GD_HAS_MEMBER(h, gd_host, conv2d_free) && h->conv2d_new) {
            gd_conv2d_geom cg = { sizeof cg, g->c, g->h, g->w, cv->f, g->kh, g->kw, g->sh, g->sw,
                                  g->ph, g->pw, cv->bias, cv->relu };
            cv->fast = h->conv2d_new(&cg);
            cv->host = h;
        }
    }
    if (cv->fast)
        return cv->host->conv2d_forward(cv->fast, n, x->data, cv->w, cv->b, y->data, err);
    float *col = ctx->scratch;
    for (int64_t s = 0; s < n; s++) {
        float *ys = y->data + s * out;
        im2col(g, x->data + s * in, col);
        if (cv->bias)
            for (int64_t f = 0; f < cv->f; f++)
                for (int64_t q = 0; q < cv->p; q++)
                    ys[f * cv->p + q] = cv->b[f];
        /* y_n [F, P] = W [F, CKK] · col [CKK, P] (+ bias) */
        ctx->host->sgemm(0, 0, (int)cv->f, (int)cv->p, (int)cv->ckk, 1.0f, cv->w, (int)cv->ckk,
                         col, (int)cv->p, cv->bias ? 1.0f : 0.0f, ys, (int)cv->p);
        if (cv->relu)
            gd_k_relu_inplace(out, ys);
    }
    return GD_OK;
}

static void conv_backward(void *self, const gd_layer_ctx *ctx, const gd_tensor *x,
                          const gd_tensor *y, const gd_tensor *dy, gd_tensor *dx)
{
    conv2d *cv = self;
    const sp_geom *g = &cv->g;
    const int64_t n = gd_tensor_rows(x), in = g->c * g->h * g->w, out = cv->f * cv->p;
    if (n == 0)
        return;
    if (cv->fast) {
        cv->host->conv2d_backward(cv->fast, n, x->data, cv->w, y->data, dy->data,
                                  dx ? dx->data : NULL, cv->gw, cv->gb);
        return;
    }
    float *col = ctx->scratch, *dcol = col + cv->ckk * cv->p, *masked = dcol + cv->ckk * cv->p;
    for (int64_t s = 0; s < n; s++) {
        const float *gs = dy->data + s * out;
        if (cv->relu) {
            gd_k_relu_mask(out, y->data + s * out, gs, masked);
            gs = masked;
        }
        im2col(g, x->data + s * in, col);
        /* grad_W [F, CKK] += dy_n [F, P] · colᵀ */
        ctx->host->sgemm(0, 1, (int)cv->f, (int)cv->ckk, (int)cv->p, 1.0f, gs, (int)cv->p, col,
                         (int)cv->p, 1.0f, cv->gw, (int)cv->ckk);
        if (cv->bias)
            for (int64_t f = 0; f < cv->f; f++) {
                double sum = 0;
                for (int64_t q = 0; q < cv->p; q++)
                    sum += gs[f * cv->p + q];
                cv->gb[f] += (float)sum;
            }
        if (!dx)
            continue;
        /* dcol [CKK, P] = Wᵀ · dy_n */
        ctx->host->sgemm(1, 0, (int)cv->ckk, (int)cv->p, (int)cv->f, 1.0f, cv->w, (int)cv->ckk,
                         gs, (int)cv->p, 0.0f, dcol, (int)cv->p);
        col2im(g, dcol, dx->data + s * in);
    }
}

static void conv_destroy(void *self)
{
    conv2d *cv = self;
    if (cv && cv->fast)
        cv->host->conv2d_free(cv->fast);
    free(cv);
}

static const gd_layer_vtable vtable = {
    .size = sizeof(gd_layer_vtable),
    .create = conv_create,
    .bind = conv_bind,
    .forward = conv_forward,
    .backward = conv_backward,
    .destroy = conv_destroy,
};

static const gd_component conv2d_component = {
    .size = sizeof(gd_component),
    .kind = GD_KIND_LAYER,
    .name = "conv2d",
    .doc = "2-D convolution on [C, H, W]: W is [filters, C, kh, kw], optional fused ReLU",
    .options = options,
    .noptions = GD_COUNT(options),
    .vt.layer = &vtable,
};

static const gd_component *const components[] = { &conv2d_component };
GD_PLUGIN("conv2d", "1.0", components)
