/*
 * tanh: y = tanh(x), elementwise.
 *
 * Backward uses the output: dy/dx = 1 - y², so nothing is kept besides y.
 * Zero-centred, unlike the sigmoid, but it saturates the same way; the core
 * reports saturation (|y| > 0.99) from info->activation.
 */
#include <math.h>

#include "elementwise.h"

static gd_status tanh_create(const gd_options *opts, const gd_shape *in, gd_layer_info *info,
                             void **self, gd_error *err)
{
    (void)opts;
    return elementwise_create("tanh", GD_ACT_TANH, 0, in, info, self, err);
}

static gd_status tanh_forward(void *self, const gd_layer_ctx *ctx, const gd_tensor *x,
                              gd_tensor *y, gd_error *err)
{
    (void)self, (void)ctx, (void)err;
    int64_t n = gd_tensor_numel(x);
    const float *restrict xs = x->data;
    float *restrict ys = y->data;
    for (int64_t i = 0; i < n; i++)
        ys[i] = tanhf(xs[i]);
    return GD_OK;
}

static void tanh_backward(void *self, const gd_layer_ctx *ctx, const gd_tensor *x,
                          const gd_tensor *y, const gd_tensor *dy, gd_tensor *dx)
{
    (void)self, (void)ctx;
    if (!dx)
        return;
    int64_t n = gd_tensor_numel(x);
    const float *restrict ys = y->data, *restrict g = dy->data;
    float *restrict out = dx->data;
    for (int64_t i = 0; i < n; i++)
        out[i] = g[i] * (1.0f - ys[i] * ys[i]);
}

static const gd_layer_vtable vtable = {
    .size = sizeof(gd_layer_vtable),
    .create = tanh_create,
    .bind = elementwise_bind,
    .forward = tanh_forward,
    .backward = tanh_backward,
    .destroy = elementwise_destroy,
};

static const gd_component tanh_component = {
    .size = sizeof(gd_component),
    .kind = GD_KIND_LAYER,
    .name = "tanh",
    .doc = "hyperbolic tangent activation, elementwise",
    .options = NULL,
    .noptions = 0,
    .vt.layer = &vtable,
};

static const gd_component *const components[] = { &tanh_component };
GD_PLUGIN("tanh", "1.0", components)
