/*
 * tests/layer_harness.h: run one layer plugin without the core model.
 *
 * The harness does what the model does for one layer, in the plainest way,
 * so layer tests depend on the plugin and the ABI only: create from a spec
 * and a per-sample input shape, allocate every parameter, gradient and
 * buffer (filled from given arrays, else from the initializer spec, else
 * init_value), bind, and allocate y, dx and scratch for a fixed batch.
 *
 *     lh_layer l;
 *     if (lh_create(&l, spec, &in, 4, NULL, NULL, 1, &err) != GD_OK) ...
 *     lh_forward(&l, x, true, &err);   // output in l.y
 *     lh_backward(&l, x, dy, true);    // dx in l.dx, grads in l.grads[i]
 *     lh_free(&l);
 */
#ifndef GRADUS_TESTS_LAYER_HARNESS_H
#define GRADUS_TESTS_LAYER_HARNESS_H

#include <stdbool.h>
#include <stdint.h>

#include "gradus/gradus.h"

typedef struct lh_layer {
    const gd_spec *spec;           /* borrowed */
    const gd_layer_vtable *vt;
    gd_layer_info info;
    void *self;
    gd_shape in, out;              /* per-sample */
    int64_t batch;
    int64_t in_numel, out_numel;   /* per sample */
    float *params[GD_MAX_LAYER_PARAMS];
    float *grads[GD_MAX_LAYER_PARAMS];
    int64_t param_numel[GD_MAX_LAYER_PARAMS];
    float *buffers[GD_MAX_LAYER_BUFFERS];
    float *y, *dx, *scratch;       /* [batch, out], [batch, in], scratch */
    int64_t scratch_numel;
    gd_rng rng;                    /* ctx->rng; tests may reset it */
} lh_layer;

/* Create the layer of `spec` for per-sample input shape *in and batch size
 * `batch`. values[i] (may be NULL, or have NULL entries) fills parameter i;
 * buffer_values likewise for buffers. Parameters without values use their
 * initializer spec with a stream of `seed`, or init_value. Gradients start
 * at 0. On failure *l holds nothing to free. */
gd_status lh_create(lh_layer *l, const gd_spec *spec, const gd_shape *in, int64_t batch,
                    const float *const *values, const float *const *buffer_values,
                    uint64_t seed, gd_error *err);

/* Forward x ([batch, in...] floats) into l->y. */
gd_status lh_forward(lh_layer *l, const float *x, bool training, gd_error *err);

/* Backward from dy ([batch, out...]) after a forward of the same x; writes
 * l->dx when want_dx, else passes dx = NULL. Adds into l->grads. */
void lh_backward(lh_layer *l, const float *x, const float *dy, bool training, bool want_dx);

void lh_zero_grad(lh_layer *l);
/* Index of the parameter / buffer called name, or -1. */
int lh_param_index(const lh_layer *l, const char *name);
int lh_buffer_index(const lh_layer *l, const char *name);

void lh_free(lh_layer *l);

#endif
