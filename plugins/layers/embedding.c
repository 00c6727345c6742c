/*
 * embedding: token ids [T] -> vectors [T, dim], y[t] = W[id[t]].
 *
 * W is [vocab, dim] with role "embedding" (GD_ROLE_EMBEDDING): not
 * regularized by default, and left by Muon to its fallback. The input holds
 * 0-based ids stored as floats (the core's convention for class numbers;
 * Lua passes 1-based ids and the binding converts them, info->input_ids
 * tells it this layer takes ids). An id that is not an integer in
 * 0..vocab-1 fails the forward with its position: it is never clamped,
 * which would train silently on a wrong row.
 *
 * Backward: grad_W[id[t]] += dy[t] for every position, so a row used twice
 * gets both; rows not used get nothing. Ids have no gradient: dx, when
 * asked for, is 0.
 *
 * Default init normal{std=0.02}, as GPT-2.
 */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gradus/gradus.h>

enum { VOCAB, DIM, INIT };

static const gd_option_spec options[] = {
    { .name = "vocab", .type = GD_OPT_INTEGER, .flags = GD_OPT_REQUIRED | GD_OPT_HAS_MIN,
      .min = 1, .doc = "number of token ids (required; a text set's #ds:vocab())" },
    { .name = "dim", .type = GD_OPT_INTEGER, .flags = GD_OPT_REQUIRED | GD_OPT_HAS_MIN,
      .min = 1, .doc = "length of each vector (required)" },
    GD_OPT_COMPONENT_OF("init", GD_KIND_INITIALIZER, "normal{std=0.02}",
                        "initializer of the table (a name or a gd.init spec)"),
};

typedef struct embedding {
    int64_t vocab, dim, len;
    float *w, *gw;
} embedding;

static gd_status embedding_create(const gd_options *opts, const gd_shape *in,
                                  gd_layer_info *info, void **self, gd_error *err)
{
    int64_t vocab = gd_opt_int(opts, VOCAB), dim = gd_opt_int(opts, DIM);
    if (in->ndim != 1)
        return gd_fail(err, GD_EINVAL, "embedding: takes a sequence of token ids [T], got %d "
                       "dimensions per sample", in->ndim);
    if (vocab > INT_MAX || dim > INT_MAX || in->dim[0] > INT_MAX / dim)
        return gd_fail(err, GD_EINVAL, "embedding: vocab, dim or T * dim is too large");
    embedding *e = calloc(1, sizeof *e);
    if (!e)
        return gd_fail(err, GD_ENOMEM, "embedding: out of memory");
    e->vocab = vocab;
    e->dim = dim;
    e->len = in->dim[0];
    info->out = gd_shape_2(in->dim[0], dim);
    info->nparams = 1;
    info->params[0] = (gd_param_info){
        .name = "weight", .role = GD_ROLE_EMBEDDING, .shape = gd_shape_2(vocab, dim),
        .fan_in = vocab, .fan_out = dim, .init = gd_opt_spec(opts, INIT),
    };
    if (GD_HAS_MEMBER(info, gd_layer_info, input_ids))
        info->input_ids = vocab;
    *self = e;
    return GD_OK;
}

static void embedding_bind(void *self, float *const *params, float *const *grads,
                           float *const *buffers)
{
    (void)buffers;
    embedding *e = self;
    e->w = params[0];
    e->gw = grads[0];
}

/* The row of id v, or -1 when v is not an integer in 0..vocab-1. */
static int64_t row_of(const embedding *e, float v)
{
    return v >= 0 && v < (float)e->vocab && v == floorf(v) ? (int64_t)v : -1;
}

static gd_status embedding_forward(void *self, const gd_layer_ctx *ctx, const gd_tensor *x,
                                   gd_tensor *y, gd_error *err)
{
    (void)ctx;
    const embedding *e = self;
    int64_t n = gd_tensor_numel(x);
    for (int64_t i = 0; i < n; i++) {
        int64_t r = row_of(e, x->data[i]);
        if (r < 0)
            return gd_fail(err, GD_EINVAL, "embedding: input %lld holds id %g, not one of "
                           "0..%lld (0-based) of the vocabulary", (long long)i,
                           (double)x->data[i], (long long)e->vocab - 1);
        memcpy(y->data + i * e->dim, e->w + r * e->dim, (size_t)e->dim * sizeof(float));
    }
    return GD_OK;
}

static void embedding_backward(void *self, const gd_layer_ctx *ctx, const gd_tensor *x,
                               const gd_tensor *y, const gd_tensor *dy, gd_tensor *dx)
{
    (void)ctx, (void)y;
    embedding *e = self;
    int64_t n = gd_tensor_numel(x);
    for (int64_t i = 0; i < n; i++) {
        int64_t r = row_of(e, x->data[i]);
        if (r < 0)
            continue;   /* the forward refused this batch; never write outside W */
        float *restrict g = e->gw + r * e->dim;
        const float *restrict d = dy->data + i * e->dim;
        for (int64_t k = 0; k < e->dim; k++)
            g[k] += d[k];
    }
    if (dx)
        memset(dx->data, 0, (size_t)n * sizeof(float));
}

static void embedding_destroy(void *self)
{
    free(self);
}

static const gd_layer_vtable vtable = {
    .size = sizeof(gd_layer_vtable),
    .create = embedding_create,
    .bind = embedding_bind,
    .forward = embedding_forward,
    .backward = embedding_backward,
    .destroy = embedding_destroy,
};

static const gd_component embedding_component = {
    .size = sizeof(gd_component),
    .kind = GD_KIND_LAYER,
    .name = "embedding",
    .doc = "token ids [T] -> rows of a learned table W [vocab, dim]: [T, dim]",
    .options = options,
    .noptions = GD_COUNT(options),
    .vt.layer = &vtable,
};

static const gd_component *const components[] = { &embedding_component };
GD_PLUGIN("embedding", "1.0", components)
