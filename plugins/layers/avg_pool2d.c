/*
 * avg_pool2d: the mean of each window's cells inside the image (torch
 * avg_pool2d with count_include_pad = false).
 * [C, H, W] → [C, OH, OW]; options and loops in pool2d.h.
 */
#include "pool2d.h"

static const gd_option_spec options[] = { POOL_OPTIONS };

static gd_status create(const gd_options *opts, const gd_shape *in, gd_layer_info *info,
                        void **self, gd_error *err)
{
    return pool_create("avg_pool2d", 0, opts, in, info, self, err);
}

static const gd_layer_vtable vtable = {
    .size = sizeof(gd_layer_vtable),
    .create = create,
    .bind = pool_bind,
    .forward = pool_forward,
    .backward = pool_backward,
    .destroy = pool_destroy,
};

static const gd_component component = {
    .size = sizeof(gd_component),
    .kind = GD_KIND_LAYER,
    .name = "avg_pool2d",
    .doc = "average pooling over 2-D windows of [C, H, W] (mean of the cells inside the image)",
    .options = options,
    .noptions = GD_COUNT(options),
    .vt.layer = &vtable,
};

static const gd_component *const components[] = { &component };
GD_PLUGIN("avg_pool2d", "1.0", components)
