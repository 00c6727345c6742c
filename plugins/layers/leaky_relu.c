/*
 * leaky_relu: y = x for x > 0, slope·x otherwise, elementwise.
 *
 * Backward: dx = dy for x > 0, slope·dy otherwise. The small negative-side
 * slope keeps a gradient flowing through units that a plain ReLU would let
 * die. Its output is never exactly 0 for x != 0, so the core's dead-unit
 * statistic does not apply: info->activation is GD_ACT_NONE.
 */
#include "elementwise.h"

enum { SLOPE };

static const gd_option_spec options[] = {
    GD_OPT_NUMBER_MIN("slope", 0.01, 0, "slope for x <= 0"),
};

static gd_status leaky_create(const gd_options *opts, const gd_shape *in, gd_layer_info *info,
                              void **self, gd_error *err)
{
    return elementwise_create("leaky_relu", GD_ACT_NONE, (float)gd_opt_num(opts, SLOPE), in, info,
                              self, err);
}

static gd_status leaky_forward(void *self, const gd_layer_ctx *ctx, const gd_tensor *x,
                               gd_tensor *y, gd_error *err)
{
    (void)ctx, (void)err;
    const float slope = elementwise_param(self);
    int64_t n = gd_tensor_numel(x);
    const float *restrict xs = x->data;
    float *restrict ys = y->data;
    for (int64_t i = 0; i < n; i++)
        ys[i] = xs[i] > 0 ? xs[i] : slope * xs[i];
    return GD_OK;
}

static void leaky_backward(void *self, const gd_layer_ctx *ctx, const gd_tensor *x,
                           const gd_tensor *y, const gd_tensor *dy, gd_tensor *dx)
{
    (void)ctx, (void)y;
    if (!dx)
        return;
    const float slope = elementwise_param(self);
    int64_t n = gd_tensor_numel(x);
    const float *restrict xs = x->data, *restrict g = dy->data;
    float *restrict out = dx->data;
    for (int64_t i = 0; i < n; i++)
        out[i] = xs[i] > 0 ? g[i] : slope * g[i];
}

static const gd_layer_vtable vtable = {
    .size = sizeof(gd_layer_vtable),
    .create = leaky_create,
    .bind = elementwise_bind,
    .forward = leaky_forward,
    .backward = leaky_backward,
    .destroy = elementwise_destroy,
};

static const gd_component leaky_relu = {
    .size = sizeof(gd_component),
    .kind = GD_KIND_LAYER,
    .name = "leaky_relu",
    .doc = "leaky rectified linear unit: y = x for x > 0, slope*x otherwise",
    .options = options,
    .noptions = GD_COUNT(options),
    .vt.layer = &vtable,
};

static const gd_component *const components[] = { &leaky_relu };
GD_PLUGIN("leaky_relu", "1.0", components)
