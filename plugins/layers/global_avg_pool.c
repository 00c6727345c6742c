/*
 * global_avg_pool: [C, H, W] → [C], the mean of each channel over H and W;
 * backward spreads each channel's gradient evenly over its H·W cells.
 */
#include <gradus/gradus.h>

#include "spatial.h"

static gd_status gap_create(const gd_options *opts, const gd_shape *in, gd_layer_info *info,
                            void **self, gd_error *err)
{
    (void)opts;
    sp_geom g = { 0 };
    gd_status st = sp_image("global_avg_pool", in, &g, err);
    if (st != GD_OK)
        return st;
    info->out = gd_shape_1(g.c);
    info->nparams = 0;
    info->nbuffers = 0;
    info->activation = GD_ACT_NONE;
    *self = NULL;
    return GD_OK;
}

static void gap_bind(void *self, float *const *params, float *const *grads,
                     float *const *buffers)
{
    (void)self; (void)params; (void)grads; (void)buffers;
}

static gd_status gap_forward(void *self, const gd_layer_ctx *ctx, const gd_tensor *x,
                             gd_tensor *y, gd_error *err)
{
    (void)self; (void)ctx;
    int64_t planes = gd_tensor_numel(y), hw = planes ? gd_tensor_numel(x) / planes : 0;
    if (planes && gd_tensor_numel(x) != planes * hw)
        return gd_fail(err, GD_EINVAL, "global_avg_pool: input and output sizes differ");
    for (int64_t p = 0; p < planes; p++) {
        double s = 0;
        for (int64_t i = 0; i < hw; i++)
            s += x->data[p * hw + i];
        y->data[p] = (float)(s / (double)hw);
    }
    return GD_OK;
}

static void gap_backward(void *self, const gd_layer_ctx *ctx, const gd_tensor *x,
                         const gd_tensor *y, const gd_tensor *dy, gd_tensor *dx)
{
    (void)self; (void)ctx; (void)y;
    if (!dx)
        return;
    int64_t planes = gd_tensor_numel(dy), hw = gd_tensor_numel(x) / planes;
    for (int64_t p = 0; p < planes; p++) {
        float v = dy->data[p] / (float)hw;
        for (int64_t i = 0; i < hw; i++)
            dx->data[p * hw + i] = v;
    }
}

static const gd_layer_vtable vtable = {
    .size = sizeof(gd_layer_vtable),
    .create = gap_create,
    .bind = gap_bind,
    .forward = gap_forward,
    .backward = gap_backward,
};

static const gd_component gap_component = {
    .size = sizeof(gd_component),
    .kind = GD_KIND_LAYER,
    .name = "global_avg_pool",
    .doc = "[C, H, W] to [C]: the mean of each channel over H and W",
    .options = NULL,
    .noptions = 0,
    .vt.layer = &vtable,
};

static const gd_component *const components[] = { &gap_component };
GD_PLUGIN("global_avg_pool", "1.0", components)
