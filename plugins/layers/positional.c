/*
 * positional: y[t] = x[t] + P[t] on [T, dim], for t = 1..T <= max_len.
 *
 * kind = "learned": P [max_len, dim] is a parameter (role "embedding", init
 * normal{std=0.02}); grad_P[t] sums dy[t] over the batch, rows past T get
 * nothing. kind = "sinusoidal": P is fixed (Vaswani et al. 2017, with
 * 0-based position p and feature i):
 *     P[p, 2j] = sin(p / 10000^(2j/dim)),  P[p, 2j+1] = cos(p / 10000^(2j/dim))
 * computed once in create (in double, stored as float); no parameters.
 *
 * dx = dy either way: adding a table is the identity for the input.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gradus/gradus.h>

enum { MAX_LEN, KIND, INIT };

static const char *const kinds[] = { "learned", "sinusoidal", NULL };

static const gd_option_spec options[] = {
    { .name = "max_len", .type = GD_OPT_INTEGER, .flags = GD_OPT_REQUIRED | GD_OPT_HAS_MIN,
      .min = 1, .doc = "longest sequence the table covers (required)" },
    GD_OPT_CHOICE("kind", "learned", kinds, "learned (a trained table) or sinusoidal (fixed)"),
    GD_OPT_COMPONENT_OF("init", GD_KIND_INITIALIZER, "normal{std=0.02}",
                        "initializer of a learned table"),
};

typedef struct positional {
    int64_t len, dim;      /* T and dim of the input */
    float *p, *gp;         /* learned: core arena; sinusoidal: own table, gp NULL */
    float *fixed;          /* the sinusoidal table [T, dim], owned */
} positional;

static gd_status positional_create(const gd_options *opts, const gd_shape *in,
                                   gd_layer_info *info, void **self, gd_error *err)
{
    int64_t max_len = gd_opt_int(opts, MAX_LEN);
    if (in->ndim != 2)
        return gd_fail(err, GD_EINVAL, "positional: takes a sequence [T, dim], got %d "
                       "dimensions per sample", in->ndim);
    if (in->dim[0] > max_len)
        return gd_fail(err, GD_EINVAL, "positional: the sequence has %lld positions, more "
                       "than max_len = %lld", (long long)in->dim[0], (long long)max_len);
    positional *s = calloc(1, sizeof *s);
    if (!s)
        return gd_fail(err, GD_ENOMEM, "positional: out of memory");
    s->len = in->dim[0];
    s->dim = in->dim[1];
    info->out = *in;
    if (gd_opt_enum(opts, KIND) == 0) {
        info->nparams = 1;
        info->params[0] = (gd_param_info){
            .name = "weight", .role = GD_ROLE_EMBEDDING, .shape = gd_shape_2(max_len, s->dim),
            .fan_in = max_len, .fan_out = s->dim, .init = gd_opt_spec(opts, INIT),
        };
    } else {
        s->fixed = malloc((size_t)(s->len * s->dim) * sizeof(float));
        if (!s->fixed) {
            free(s);
            return gd_fail(err, GD_ENOMEM, "positional: out of memory");
        }
        for (int64_t p = 0; p < s->len; p++)
            for (int64_t i = 0; i < s->dim; i++) {
                double a = (double)p / pow(10000.0, (double)(i - i % 2) / (double)s->dim);
                s->fixed[p * s->dim + i] = (float)(i % 2 ? cos(a) : sin(a));
            }
        s->p = s->fixed;
        info->nparams = 0;
    }
    *self = s;
    return GD_OK;
}

static void positional_bind(void *self, float *const *params, float *const *grads,
                            float *const *buffers)
{
    (void)buffers;
    positional *s = self;
    if (!s->fixed) {
        s->p = params[0];
        s->gp = grads[0];
    }
}

static gd_status positional_forward(void *self, const gd_layer_ctx *ctx, const gd_tensor *x,
                                    gd_tensor *y, gd_error *err)
{
    (void)ctx, (void)err;
    const positional *s = self;
    const int64_t per = s->len * s->dim, n = gd_tensor_numel(x) / per;
    for (int64_t b = 0; b < n; b++) {
        const float *restrict xs = x->data + b * per;
        float *restrict ys = y->data + b * per;
        for (int64_t i = 0; i < per; i++)
            ys[i] = xs[i] + s->p[i];
    }
    return GD_OK;
}

static void positional_backward(void *self, const gd_layer_ctx *ctx, const gd_tensor *x,
                                const gd_tensor *y, const gd_tensor *dy, gd_tensor *dx)
{
    (void)ctx, (void)y;
    positional *s = self;
    const int64_t per = s->len * s->dim, n = gd_tensor_numel(x) / per;
    if (s->gp)
        for (int64_t b = 0; b < n; b++) {
            const float *restrict d = dy->data + b * per;
            for (int64_t i = 0; i < per; i++)
                s->gp[i] += d[i];
        }
    if (dx)
        memcpy(dx->data, dy->data, (size_t)(n * per) * sizeof(float));
}

static void positional_destroy(void *self)
{
    positional *s = self;
    if (s)
        free(s->fixed);
    free(s);
}

static const gd_layer_vtable vtable = {
    .size = sizeof(gd_layer_vtable),
    .create = positional_create,
    .bind = positional_bind,
    .forward = positional_forward,
    .backward = positional_backward,
    .destroy = positional_destroy,
};

static const gd_component positional_component = {
    .size = sizeof(gd_component),
    .kind = GD_KIND_LAYER,
    .name = "positional",
    .doc = "adds a position table to [T, dim]: learned, or fixed sinusoids",
    .options = options,
    .noptions = GD_COUNT(options),
    .vt.layer = &vtable,
};

static const gd_component *const components[] = { &positional_component };
GD_PLUGIN("positional", "1.0", components)
