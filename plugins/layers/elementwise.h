/*
 * plugins/layers/elementwise.h: what every elementwise activation plugin
 * shares (relu, leaky_relu, sigmoid, tanh): an instance holding one float
 * parameter, create (same shape out, no parameters), bind (nothing to
 * bind) and destroy. Header-only and static, so each plugin stays one
 * self-contained .so; a plugin writes only its forward and backward loops.
 */
#ifndef GRADUS_PLUGINS_ELEMENTWISE_H
#define GRADUS_PLUGINS_ELEMENTWISE_H

#include <stdlib.h>

#include <gradus/gradus.h>

/* The instance: forward and backward get no options, so a parameter such
 * as leaky_relu's slope is kept here from create. */
typedef struct elementwise {
    float param;
} elementwise;

static inline gd_status elementwise_create(const char *name, gd_activation_kind act, float param,
                                           const gd_shape *in, gd_layer_info *info, void **self,
                                           gd_error *err)
{
    elementwise *e = calloc(1, sizeof *e);
    if (!e)
        return gd_fail(err, GD_ENOMEM, "%s: out of memory", name);
    e->param = param;
    info->out = *in;
    info->nparams = 0;
    info->nbuffers = 0;
    info->activation = act;
    *self = e;
    return GD_OK;
}

static inline void elementwise_bind(void *self, float *const *params, float *const *grads,
                                    float *const *buffers)
{
    (void)self, (void)params, (void)grads, (void)buffers;
}

static inline void elementwise_destroy(void *self)
{
    free(self);
}

static inline float elementwise_param(const void *self)
{
    return ((const elementwise *)self)->param;
}

#endif
