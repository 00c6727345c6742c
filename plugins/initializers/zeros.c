/*
 * zeros: W = 0.
 *
 * The usual start for biases and shifts. For the weights of a hidden layer
 * it is the classic mistake the lecture shows: every unit gets the same
 * gradient, so symmetry is never broken. Draws nothing from the stream.
 */
#include <gradus/gradus.h>

static gd_status zeros_fill(const gd_options *opts, float *x, int64_t n, int64_t fan_in,
                            int64_t fan_out, gd_rng *rng, gd_error *err)
{
    (void)opts;
    (void)fan_in;
    (void)fan_out;
    (void)rng;
    (void)err;
    for (int64_t i = 0; i < n; i++)
        x[i] = 0.0f;
    return GD_OK;
}

static const gd_initializer_vtable vtable = {
    .size = sizeof(gd_initializer_vtable),
    .fill = zeros_fill,
};

static const gd_component zeros = {
    .size = sizeof(gd_component),
    .kind = GD_KIND_INITIALIZER,
    .name = "zeros",
    .doc = "all zeros (biases; symmetric, so never for weights of hidden layers)",
    .options = NULL,
    .noptions = 0,
    .vt.initializer = &vtable,
};

static const gd_component *const components[] = { &zeros };
GD_PLUGIN("zeros", "1.0", components)
