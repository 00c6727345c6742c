/*
 * flatten: [d1, d2, ...] → [d1·d2·...], row-major (last index fastest), so
 * the data are copied unchanged; backward copies the gradient back.
 * What goes between a conv2d or pool and a dense layer.
 */
#include <string.h>

#include <gradus/gradus.h>

static gd_status flatten_create(const gd_options *opts, const gd_shape *in, gd_layer_info *info,
                                void **self, gd_error *err)
{
    (void)opts;
    (void)err;
    info->out = gd_shape_1(gd_shape_numel(in));
    info->nparams = 0;
    info->nbuffers = 0;
    info->activation = GD_ACT_NONE;
    *self = NULL;
    return GD_OK;
}

static void flatten_bind(void *self, float *const *params, float *const *grads,
                         float *const *buffers)
{
    (void)self; (void)params; (void)grads; (void)buffers;
}

static gd_status flatten_forward(void *self, const gd_layer_ctx *ctx, const gd_tensor *x,
                                 gd_tensor *y, gd_error *err)
{
    (void)self; (void)ctx;
    if (gd_tensor_numel(x) != gd_tensor_numel(y))
        return gd_fail(err, GD_EINVAL, "flatten: input and output sizes differ");
    memcpy(y->data, x->data, (size_t)gd_tensor_numel(x) * sizeof(float));
    return GD_OK;
}

static void flatten_backward(void *self, const gd_layer_ctx *ctx, const gd_tensor *x,
                             const gd_tensor *y, const gd_tensor *dy, gd_tensor *dx)
{
    (void)self; (void)ctx; (void)x; (void)y;
    if (dx)
        memcpy(dx->data, dy->data, (size_t)gd_tensor_numel(dy) * sizeof(float));
}

static const gd_layer_vtable vtable = {
    .size = sizeof(gd_layer_vtable),
    .create = flatten_create,
    .bind = flatten_bind,
    .forward = flatten_forward,
    .backward = flatten_backward,
};

static const gd_component flatten_component = {
    .size = sizeof(gd_component),
    .kind = GD_KIND_LAYER,
    .name = "flatten",
    .doc = "[C, H, W] (any shape) to [C*H*W], row-major; no parameters",
    .options = NULL,
    .noptions = 0,
    .vt.layer = &vtable,
};

static const gd_component *const components[] = { &flatten_component };
GD_PLUGIN("flatten", "1.0", components)
