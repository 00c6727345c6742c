/*
 * he_uniform: W ~ U(-a, a), a = sqrt(6/fan_in).
 *
 * He et al. (ICCV 2015) with a uniform draw: variance a^2/3 = 2/fan_in, the
 * same as he_normal. Fan-in mode (PyTorch's kaiming_uniform_ with relu
 * gain). Values lie in [-a, a].
 */
#include <math.h>

#include <gradus/gradus.h>

static gd_status he_uniform_fill(const gd_options *opts, float *x, int64_t n, int64_t fan_in,
                                 int64_t fan_out, gd_rng *rng, gd_error *err)
{
    (void)opts;
    (void)fan_out;
    if (fan_in < 1)
        return gd_fail(err, GD_EINVAL, "he_uniform: fan_in must be >= 1, got %lld",
                       (long long)fan_in);
    const double a = sqrt(6.0 / (double)fan_in);
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)(a * (2.0 * gd_rng_uniform(rng) - 1.0));
    return GD_OK;
}

static const gd_initializer_vtable vtable = {
    .size = sizeof(gd_initializer_vtable),
    .fill = he_uniform_fill,
};

static const gd_component he_uniform = {
    .size = sizeof(gd_component),
    .kind = GD_KIND_INITIALIZER,
    .name = "he_uniform",
    .doc = "He/Kaiming uniform: U(-a, a), a = sqrt(6/fan_in), for ReLU layers",
    .options = NULL,
    .noptions = 0,
    .vt.initializer = &vtable,
};

static const gd_component *const components[] = { &he_uniform };
GD_PLUGIN("he_uniform", "1.0", components)
