/*
 * relabel.h: the passes of a layer that only gives its input another
 * per-sample shape (flatten, reshape). Row-major data are the same bytes in
 * either shape, so forward and backward are copies. Define RELABEL_NAME
 * (the layer's name, for the message) before including it.
 */
#ifndef GRADUS_PLUGINS_RELABEL_H
#define GRADUS_PLUGINS_RELABEL_H

#include <string.h>

#include <gradus/gradus.h>

static void relabel_bind(void *self, float *const *params, float *const *grads,
                         float *const *buffers)
{
    (void)self; (void)params; (void)grads; (void)buffers;
}

static gd_status relabel_forward(void *self, const gd_layer_ctx *ctx, const gd_tensor *x,
                                 gd_tensor *y, gd_error *err)
{
    (void)self; (void)ctx;
    if (gd_tensor_numel(x) != gd_tensor_numel(y))
        return gd_fail(err, GD_EINVAL, RELABEL_NAME ": input and output sizes differ");
    memcpy(y->data, x->data, (size_t)gd_tensor_numel(x) * sizeof(float));
    return GD_OK;
}

static void relabel_backward(void *self, const gd_layer_ctx *ctx, const gd_tensor *x,
                             const gd_tensor *y, const gd_tensor *dy, gd_tensor *dx)
{
    (void)self; (void)ctx; (void)x; (void)y;
    if (dx)
        memcpy(dx->data, dy->data, (size_t)gd_tensor_numel(dy) * sizeof(float));
}

#endif
