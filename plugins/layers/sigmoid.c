/*
 * sigmoid: y = 1 / (1 + e^(-x)), elementwise.
 *
 * Backward uses the output: dy/dx = y (1 - y), so nothing is kept besides y.
 * Its derivative is at most 1/4, which is why stacks of sigmoids make
 * gradients vanish (the lecture's point); the core reports saturation
 * (y < 0.01 or y > 0.99) from info->activation.
 *
 * Choice: for x < 0 the form e^x / (1 + e^x) is used, so e^(-x) never
 * overflows and the result keeps full relative precision near 0.
 */
#include <math.h>

#include "elementwise.h"

static gd_status sigmoid_create(const gd_options *opts, const gd_shape *in, gd_layer_info *info,
                                void **self, gd_error *err)
{
    (void)opts;
    return elementwise_create("sigmoid", GD_ACT_SIGMOID, 0, in, info, self, err);
}

static gd_status sigmoid_forward(void *self, const gd_layer_ctx *ctx, const gd_tensor *x,
                                 gd_tensor *y, gd_error *err)
{
    (void)self, (void)ctx, (void)err;
    int64_t n = gd_tensor_numel(x);
    const float *restrict xs = x->data;
    float *restrict ys = y->data;
    for (int64_t i = 0; i < n; i++) {
        float v = xs[i];
        if (v >= 0) {
            ys[i] = 1.0f / (1.0f + expf(-v));
        } else {
            float e = expf(v);
            ys[i] = e / (1.0f + e);
        }
    }
    return GD_OK;
}

static void sigmoid_backward(void *self, const gd_layer_ctx *ctx, const gd_tensor *x,
                             const gd_tensor *y, const gd_tensor *dy, gd_tensor *dx)
{
    (void)self, (void)ctx;
    if (!dx)
        return;
    int64_t n = gd_tensor_numel(x);
    const float *restrict ys = y->data, *restrict g = dy->data;
    float *restrict out = dx->data;
    for (int64_t i = 0; i < n; i++)
        out[i] = g[i] * ys[i] * (1.0f - ys[i]);
}

static const gd_layer_vtable vtable = {
    .size = sizeof(gd_layer_vtable),
    .create = sigmoid_create,
    .bind = elementwise_bind,
    .forward = sigmoid_forward,
    .backward = sigmoid_backward,
    .destroy = elementwise_destroy,
};

static const gd_component sigmoid = {
    .size = sizeof(gd_component),
    .kind = GD_KIND_LAYER,
    .name = "sigmoid",
    .doc = "logistic activation: y = 1/(1 + exp(-x)), elementwise",
    .options = NULL,
    .noptions = 0,
    .vt.layer = &vtable,
};

static const gd_component *const components[] = { &sigmoid };
GD_PLUGIN("sigmoid", "1.0", components)
