/*
 * relu: y = max(0, x), elementwise.
 *
 * Backward: dx = dy where x > 0, else 0 (the subgradient 0 is taken at x = 0,
 * as PyTorch does). A unit whose output is 0 for every sample gets no
 * gradient at all: the "dead ReLU" the core counts from info->activation.
 */
#include <gradus/kernels.h>

#include "elementwise.h"

static gd_status relu_create(const gd_options *opts, const gd_shape *in, gd_layer_info *info,
                             void **self, gd_error *err)
{
    (void)opts;
    return elementwise_create("relu", GD_ACT_RELU, 0, in, info, self, err);
}

static gd_status relu_forward(void *self, const gd_layer_ctx *ctx, const gd_tensor *x,
                              gd_tensor *y, gd_error *err)
{
    (void)self, (void)ctx, (void)err;
    gd_k_relu(gd_tensor_numel(x), x->data, y->data);
    return GD_OK;
}

static void relu_backward(void *self, const gd_layer_ctx *ctx, const gd_tensor *x,
                          const gd_tensor *y, const gd_tensor *dy, gd_tensor *dx)
{
    (void)self, (void)ctx, (void)y;
    if (!dx)
        return;
    gd_k_relu_backward(gd_tensor_numel(x), x->data, dy->data, dx->data);
}

static const gd_layer_vtable vtable = {
    .size = sizeof(gd_layer_vtable),
    .create = relu_create,
    .bind = elementwise_bind,
    .forward = relu_forward,
    .backward = relu_backward,
    .destroy = elementwise_destroy,
};

static const gd_component relu = {
    .size = sizeof(gd_component),
    .kind = GD_KIND_LAYER,
    .name = "relu",
    .doc = "rectified linear unit: y = max(0, x), elementwise",
    .options = NULL,
    .noptions = 0,
    .vt.layer = &vtable,
};

static const gd_component *const components[] = { &relu };
GD_PLUGIN("relu", "1.0", components)
