/*
 * xavier_normal: W ~ N(0, 2/(fan_in + fan_out)).
 *
 * Glorot & Bengio, "Understanding the difficulty of training deep
 * feedforward neural networks" (AISTATS 2010): a variance of
 * 2/(fan_in + fan_out) keeps the variance of activations (forward) and of
 * gradients (backward) roughly constant across linear/tanh layers, the
 * compromise between 1/fan_in and 1/fan_out. Not truncated (as PyTorch's
 * xavier_normal_). Draws come from the caller's stream, one Box-Muller pair
 * per value, so the numbers depend only on (seed, stream).
 */
#include <math.h>

#include <gradus/gradus.h>

static gd_status xavier_normal_fill(const gd_options *opts, float *x, int64_t n, int64_t fan_in,
                                    int64_t fan_out, gd_rng *rng, gd_error *err)
{
    (void)opts;
    if (fan_in < 0 || fan_out < 0 || fan_in + fan_out < 1)
        return gd_fail(err, GD_EINVAL, "xavier_normal: fan_in + fan_out must be >= 1, got "
                       "fan_in %lld, fan_out %lld", (long long)fan_in, (long long)fan_out);
    const double std = sqrt(2.0 / (double)(fan_in + fan_out));
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)(std * gd_rng_normal(rng));
    return GD_OK;
}

static const gd_initializer_vtable vtable = {
    .size = sizeof(gd_initializer_vtable),
    .fill = xavier_normal_fill,
};

static const gd_component xavier_normal = {
    .size = sizeof(gd_component),
    .kind = GD_KIND_INITIALIZER,
    .name = "xavier_normal",
    .doc = "Glorot normal: N(0, 2/(fan_in + fan_out))",
    .options = NULL,
    .noptions = 0,
    .vt.initializer = &vtable,
};

static const gd_component *const components[] = { &xavier_normal };
GD_PLUGIN("xavier_normal", "1.0", components)
