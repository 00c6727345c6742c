/*
 * reshape{shape}: the same values, row-major, seen with another per-sample
 * shape of as many elements (1 to 3 dimensions; one of them may be -1,
 * then it is what the others leave, as in PyTorch). [784] → { 1, 28, 28 }
 * turns flat data into images.
 */
#include <string.h>

#include <gradus/gradus.h>

#define RELABEL_NAME "reshape"
#include "relabel.h"

#include "spatial.h"

enum { SHAPE };

static const gd_option_spec options[] = {
    GD_OPT_INTS_MIN("shape", NULL, -1, NULL, GD_OPT_REQUIRED,
                    "the per-sample output shape, e.g. { 1, 28, 28 }; one entry may be -1 "
                    "(inferred) (required)"),
};

static gd_status reshape_create(const gd_options *opts, const gd_shape *in, gd_layer_info *info,
                                void **self, gd_error *err)
{
    int64_t v[4];
    int n, infer = -1;
    gd_opt_ints(opts, SHAPE, NULL, v, &n);
    gd_shape out = { n, { 0, 0, 0, 0 } };
    int64_t known = 1, total = gd_shape_numel(in);
    char a[96], b[96];
    if (n > GD_MAX_DIMS - 1)
        return gd_fail(err, GD_EINVAL, "reshape: a sample has at most %d dimensions, 'shape' "
                       "has %d", GD_MAX_DIMS - 1, n);
    for (int i = 0; i < n; i++) {
        if (v[i] == 0 || (v[i] == -1 && infer >= 0))
            return gd_fail(err, GD_EINVAL, "reshape: 'shape' entries must be >= 1, with at "
                           "most one -1 (inferred), got %lld at %d", (long long)v[i], i + 1);
        if (v[i] == -1)
            infer = i;
        else
            known *= v[i];
        out.dim[i] = v[i];
    }
    if (infer >= 0 && known > 0 && total % known == 0)
        out.dim[infer] = total / known;
    if (infer >= 0 && out.dim[infer] < 1)
        out.dim[infer] = -1;
    if (gd_shape_numel(&out) != total || out.dim[infer >= 0 ? infer : 0] < 1) {
        gd_shape asked = { n, { v[0], v[1], v[2], v[3] } };
        return gd_fail(err, GD_EINVAL, "reshape: input %s has %lld elements, 'shape' %s cannot "
                       "hold them", sp_shape_str(in, a, sizeof a), (long long)total,
                       sp_shape_str(&asked, b, sizeof b));
    }
    info->out = out;
    info->nparams = 0;
    info->nbuffers = 0;
    info->activation = GD_ACT_NONE;
    *self = NULL;
    return GD_OK;
}

static const gd_layer_vtable vtable = {
    .size = sizeof(gd_layer_vtable),
    .create = reshape_create,
    .bind = relabel_bind,
    .forward = relabel_forward,
    .backward = relabel_backward,
};

static const gd_component reshape_component = {
    .size = sizeof(gd_component),
    .kind = GD_KIND_LAYER,
    .name = "reshape",
    .doc = "the same values with another per-sample shape of as many elements",
    .options = options,
    .noptions = GD_COUNT(options),
    .vt.layer = &vtable,
};

static const gd_component *const components[] = { &reshape_component };
GD_PLUGIN("reshape", "1.0", components)
