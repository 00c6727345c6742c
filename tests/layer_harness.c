/*
 * tests/layer_harness.c: see layer_harness.h.
 */
#include "layer_harness.h"

#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "host.h"

static gd_tensor view(float *data, int64_t batch, const gd_shape *per_sample)
{
    gd_tensor t = { data, { 0, { 0 } } };
    t.shape.ndim = per_sample->ndim + 1;
    t.shape.dim[0] = batch;
    for (int d = 0; d < per_sample->ndim && d + 1 < GD_MAX_DIMS; d++)
        t.shape.dim[d + 1] = per_sample->dim[d];
    return t;
}

static float *alloc_floats(int64_t n)
{
    return calloc((size_t)(n > 0 ? n : 1), sizeof(float));
}

gd_status lh_create(lh_layer *l, const gd_spec *spec, const gd_shape *in, int64_t batch,
                    const float *const *values, const float *const *buffer_values,
                    uint64_t seed, gd_error *err)
{
    memset(l, 0, sizeof *l);
    if (spec->component->kind != GD_KIND_LAYER)
        return gd_fail(err, GD_EINVAL, "harness: %s is not a layer", spec->component->name);
    if (in->ndim + 1 > GD_MAX_DIMS)
        return gd_fail(err, GD_EINVAL, "harness: input shape has too many dimensions");
    l->spec = spec;
    l->vt = spec->component->vt.layer;
    l->in = *in;
    l->batch = batch;
    l->info.size = sizeof l->info;
    gd_status st = l->vt->create(spec->options, in, &l->info, &l->self, err);
    if (st != GD_OK) {
        memset(l, 0, sizeof *l);
        return st;
    }
    l->out = l->info.out;
    l->in_numel = gd_shape_numel(&l->in);
    l->out_numel = gd_shape_numel(&l->out);
    gd_rng init_rng = gd_rng_stream(seed, 1);
    for (int i = 0; i < l->info.nparams; i++) {
        const gd_param_info *p = &l->info.params[i];
        int64_t n = gd_shape_numel(&p->shape);
        l->param_numel[i] = n;
        l->params[i] = alloc_floats(n);
        l->grads[i] = alloc_floats(n);
        if (!l->params[i] || !l->grads[i]) {
            st = gd_fail(err, GD_ENOMEM, "harness: out of memory");
            goto fail;
        }
        if (values && values[i]) {
            memcpy(l->params[i], values[i], (size_t)n * sizeof(float));
        } else if (p->init) {
            st = p->init->component->vt.initializer->fill(p->init->options, l->params[i], n,
                                                          p->fan_in, p->fan_out, &init_rng, err);
            if (st != GD_OK)
                goto fail;
        } else {
            for (int64_t k = 0; k < n; k++)
                l->params[i][k] = p->init_value;
        }
    }
    for (int i = 0; i < l->info.nbuffers; i++) {
        const gd_buffer_info *b = &l->info.buffers[i];
        l->buffers[i] = alloc_floats(b->numel);
        if (!l->buffers[i]) {
            st = gd_fail(err, GD_ENOMEM, "harness: out of memory");
            goto fail;
        }
        for (int64_t k = 0; k < b->numel; k++)
            l->buffers[i][k] = buffer_values && buffer_values[i] ? buffer_values[i][k]
                                                                 : b->init_value;
    }
    l->scratch_numel = l->info.scratch_per_sample * batch + l->info.scratch_fixed;
    l->y = alloc_floats(batch * l->out_numel);
    l->dx = alloc_floats(batch * l->in_numel);
    l->scratch = alloc_floats(l->scratch_numel);
    if (!l->y || !l->dx || !l->scratch) {
        st = gd_fail(err, GD_ENOMEM, "harness: out of memory");
        goto fail;
    }
    l->vt->bind(l->self, l->params, l->grads, l->buffers);
    l->rng = gd_rng_stream(seed, 2);
    return GD_OK;

fail:
    lh_free(l);
    return st;
}

static gd_layer_ctx make_ctx(lh_layer *l, bool training)
{
    gd_layer_ctx ctx = {
        .size = sizeof(gd_layer_ctx),
        .host = gd_core_host(),
        .training = training,
        .rng = &l->rng,
        .scratch = l->scratch,
    };
    return ctx;
}

gd_status lh_forward(lh_layer *l, const float *x, bool training, gd_error *err)
{
    gd_layer_ctx ctx = make_ctx(l, training);
    gd_tensor tx = view((float *)x, l->batch, &l->in);
    gd_tensor ty = view(l->y, l->batch, &l->out);
    return l->vt->forward(l->self, &ctx, &tx, &ty, err);
}

void lh_backward(lh_layer *l, const float *x, const float *dy, bool training, bool want_dx)
{
    gd_layer_ctx ctx = make_ctx(l, training);
    gd_tensor tx = view((float *)x, l->batch, &l->in);
    gd_tensor ty = view(l->y, l->batch, &l->out);
    gd_tensor tdy = view((float *)dy, l->batch, &l->out);
    gd_tensor tdx = view(l->dx, l->batch, &l->in);
    l->vt->backward(l->self, &ctx, &tx, &ty, &tdy, want_dx ? &tdx : NULL);
}

void lh_zero_grad(lh_layer *l)
{
    for (int i = 0; i < l->info.nparams; i++)
        memset(l->grads[i], 0, (size_t)l->param_numel[i] * sizeof(float));
}

int lh_param_index(const lh_layer *l, const char *name)
{
    for (int i = 0; i < l->info.nparams; i++)
        if (strcmp(l->info.params[i].name, name) == 0)
            return i;
    return -1;
}

int lh_buffer_index(const lh_layer *l, const char *name)
{
    for (int i = 0; i < l->info.nbuffers; i++)
        if (strcmp(l->info.buffers[i].name, name) == 0)
            return i;
    return -1;
}

void lh_free(lh_layer *l)
{
    if (l->self && l->vt->destroy)
        l->vt->destroy(l->self);
    for (int i = 0; i < GD_MAX_LAYER_PARAMS; i++) {
        free(l->params[i]);
        free(l->grads[i]);
    }
    for (int i = 0; i < GD_MAX_LAYER_BUFFERS; i++)
        free(l->buffers[i]);
    free(l->y);
    free(l->dx);
    free(l->scratch);
    memset(l, 0, sizeof *l);
}
