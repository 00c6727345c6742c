/*
 * max_pool2d: the maximum of each window of an image (torch max_pool2d).
 * [C, H, W] → [C, OH, OW]; options and loops in pool2d.h.
 */
#include "pool2d.h"

static const gd_option_spec options[] = { POOL_OPTIONS };

static gd_status create(const gd_options *opts, const gd_shape *in, gd_layer_info *info,
                        void **self, gd_error *err)
{
    return pool_create("max_pool2d", 1, opts, in, info, self, err);
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
    .name = "max_pool2d",
    .doc = "max pooling over 2-D windows of [C, H, W] (the gradient goes to each maximum)",
    .options = options,
    .noptions = GD_COUNT(options),
    .vt.layer = &vtable,
};

static const gd_component *const components[] = { &component };
GD_PLUGIN("max_pool2d", "1.0", components)
