/*
 * he_normal: W ~ N(0, 2/fan_in).
 *
 * He et al., "Delving Deep into Rectifiers" (ICCV 2015): a ReLU zeroes half
 * of its inputs, halving the second moment, so the variance 2/fan_in (twice
 * LeCun's 1/fan_in) keeps activations from shrinking layer after layer.
 * Fan-in mode, not truncated (PyTorch's kaiming_normal_ with relu gain).
 */
#include <math.h>

#include <gradus/gradus.h>

static gd_status he_normal_fill(const gd_options *opts, float *x, int64_t n, int64_t fan_in,
                                int64_t fan_out, gd_rng *rng, gd_error *err)
{
    (void)opts;
    (void)fan_out;
    if (fan_in < 1)
        return gd_fail(err, GD_EINVAL, "he_normal: fan_in must be >= 1, got %lld",
                       (long long)fan_in);
    const double std = sqrt(2.0 / (double)fan_in);
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)(std * gd_rng_normal(rng));
    return GD_OK;
}

static const gd_initializer_vtable vtable = {
    .size = sizeof(gd_initializer_vtable),
    .fill = he_normal_fill,
};

static const gd_component he_normal = {
    .size = sizeof(gd_component),
    .kind = GD_KIND_INITIALIZER,
    .name = "he_normal",
    .doc = "He/Kaiming normal: N(0, 2/fan_in), for ReLU layers",
    .options = NULL,
    .noptions = 0,
    .vt.initializer = &vtable,
};

static const gd_component *const components[] = { &he_normal };
GD_PLUGIN("he_normal", "1.0", components)
