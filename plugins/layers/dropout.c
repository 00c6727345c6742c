/*
 * dropout: zero each activation with probability `rate` in training.
 *
 * A mask r ~ Bernoulli(1 - rate) is drawn per element, per forward, from the
 * layer's own rng stream (ctx->rng), so masks are reproducible from the run
 * seed and independent of other layers and of threads. Two scalings:
 *   "inverted" (default):  train y = r⊙x / (1 - rate),   eval y = x
 *   "test" (the lecture's form, Srivastava et al. 2014):
 *                          train y = r⊙x,                eval y = (1 - rate)·x
 * Both keep E[y] in training equal to y in evaluation; "inverted" puts the
 * factor in training so evaluation costs nothing.
 *
 * The mask times its scale (0 or 1/(1-rate), 0 or 1) is kept in ctx->scratch
 * between forward and backward (info->scratch_per_sample = features), so
 * backward is dx = dy ⊙ mask without touching the rng again.
 *
 * Choices: an element is kept when u < 1 - rate for u uniform on [0, 1) (53
 * bits), so rate = 0 keeps everything exactly. rate = 1 is refused by the
 * schema: nothing would pass and inverted scaling would divide by 0.
 */
#include <stdlib.h>

#include <gradus/gradus.h>

enum { RATE, SCALING };
enum { SCALE_INVERTED, SCALE_TEST };

static const char *const scalings[] = { "inverted", "test", NULL };

static const gd_option_spec options[] = {
    GD_OPT_NUMBER_RANGE("rate", 0.5, 0, 1, GD_OPT_MAX_OPEN,
                        "probability of dropping an activation in training"),
    GD_OPT_CHOICE("scaling", "inverted", scalings,
                  "'inverted': scale by 1/(1-rate) in training; 'test': by (1-rate) at eval"),
};

typedef struct dropout {
    double keep;      /* 1 - rate */
    int scaling;
    float train_scale; /* value of a kept element's mask */
    float eval_scale;  /* y = eval_scale * x in evaluation */
} dropout;

static gd_status dropout_create(const gd_options *opts, const gd_shape *in, gd_layer_info *info,
                                void **self, gd_error *err)
{
    dropout *d = calloc(1, sizeof *d);
    if (!d)
        return gd_fail(err, GD_ENOMEM, "dropout: out of memory");
    double rate = gd_opt_num(opts, RATE);
    d->keep = 1.0 - rate;
    d->scaling = gd_opt_enum(opts, SCALING);
    d->train_scale = d->scaling == SCALE_INVERTED ? (float)(1.0 / d->keep) : 1.0f;
    d->eval_scale = d->scaling == SCALE_INVERTED ? 1.0f : (float)d->keep;
    info->out = *in;
    info->nparams = 0;
    info->nbuffers = 0;
    info->scratch_per_sample = gd_shape_numel(in);
    info->scratch_fixed = 0;
    info->activation = GD_ACT_NONE;
    *self = d;
    return GD_OK;
}

static void dropout_bind(void *self, float *const *params, float *const *grads,
                         float *const *buffers)
{
    (void)self, (void)params, (void)grads, (void)buffers;
}

static gd_status dropout_forward(void *self, const gd_layer_ctx *ctx, const gd_tensor *x,
                                 gd_tensor *y, gd_error *err)
{
    const dropout *d = self;
    int64_t n = gd_tensor_numel(x);
    const float *restrict xs = x->data;
    float *restrict ys = y->data;
    if (!ctx->training) {
        for (int64_t i = 0; i < n; i++)
            ys[i] = d->eval_scale * xs[i];
        return GD_OK;
    }
    if (!ctx->rng || !ctx->scratch)
        return gd_fail(err, GD_EINVAL, "dropout: training forward needs an rng and scratch");
    float *restrict mask = ctx->scratch;
    for (int64_t i = 0; i < n; i++) {
        mask[i] = gd_rng_uniform(ctx->rng) < d->keep ? d->train_scale : 0.0f;
        ys[i] = mask[i] * xs[i];
    }
    return GD_OK;
}

static void dropout_backward(void *self, const gd_layer_ctx *ctx, const gd_tensor *x,
                             const gd_tensor *y, const gd_tensor *dy, gd_tensor *dx)
{
    (void)y;
    const dropout *d = self;
    if (!dx)
        return;
    int64_t n = gd_tensor_numel(x);
    const float *restrict g = dy->data;
    float *restrict out = dx->data;
    if (!ctx->training) {
        for (int64_t i = 0; i < n; i++)
            out[i] = d->eval_scale * g[i];
        return;
    }
    const float *restrict mask = ctx->scratch;
    for (int64_t i = 0; i < n; i++)
        out[i] = mask[i] * g[i];
}

static void dropout_destroy(void *self)
{
    free(self);
}

static const gd_layer_vtable vtable = {
    .size = sizeof(gd_layer_vtable),
    .create = dropout_create,
    .bind = dropout_bind,
    .forward = dropout_forward,
    .backward = dropout_backward,
    .destroy = dropout_destroy,
};

static const gd_component dropout_component = {
    .size = sizeof(gd_component),
    .kind = GD_KIND_LAYER,
    .name = "dropout",
    .doc = "drop activations with probability rate in training (inverted or test-time scaling)",
    .options = options,
    .noptions = GD_COUNT(options),
    .vt.layer = &vtable,
};

static const gd_component *const components[] = { &dropout_component };
GD_PLUGIN("dropout", "1.0", components)
