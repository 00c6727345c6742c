/*
 * flatten: [d1, d2, ...] → [d1·d2·...], row-major (last index fastest), so
 * the data are copied unchanged; backward copies the gradient back.
 * What goes between a conv2d or pool and a dense layer.
 */

#include <gradus/gradus.h>

#define RELABEL_NAME "flatten"
#include "relabel.h"

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

static const gd_layer_vtable vtable = {
    .size = sizeof(gd_layer_vtable),
    .create = flatten_create,
    .bind = relabel_bind,
    .forward = relabel_forward,
    .backward = relabel_backward,
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
