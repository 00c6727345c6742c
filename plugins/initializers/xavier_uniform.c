/*
 * xavier_uniform: W ~ U(-a, a), a = sqrt(6/(fan_in + fan_out)).
 *
 * Glorot & Bengio (AISTATS 2010), their eq. 16: U(-a, a) has variance a^2/3,
 * so this is the uniform with xavier_normal's variance 2/(fan_in + fan_out).
 * Values lie in [-a, a] (the float rounding of a draw may land on a).
 */
#include <math.h>

#include <gradus/gradus.h>

static gd_status xavier_uniform_fill(const gd_options *opts, float *x, int64_t n, int64_t fan_in,
                                     int64_t fan_out, gd_rng *rng, gd_error *err)
{
    (void)opts;
    if (fan_in < 0 || fan_out < 0 || fan_in + fan_out < 1)
        return gd_fail(err, GD_EINVAL, "xavier_uniform: fan_in + fan_out must be >= 1, got "
                       "fan_in %lld, fan_out %lld", (long long)fan_in, (long long)fan_out);
    const double a = sqrt(6.0 / (double)(fan_in + fan_out));
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)(a * (2.0 * gd_rng_uniform(rng) - 1.0));
    return GD_OK;
}

static const gd_initializer_vtable vtable = {
    .size = sizeof(gd_initializer_vtable),
    .fill = xavier_uniform_fill,
};

static const gd_component xavier_uniform = {
    .size = sizeof(gd_component),
    .kind = GD_KIND_INITIALIZER,
    .name = "xavier_uniform",
    .doc = "Glorot uniform: U(-a, a), a = sqrt(6/(fan_in + fan_out))",
    .options = NULL,
    .noptions = 0,
    .vt.initializer = &vtable,
};

static const gd_component *const components[] = { &xavier_uniform };
GD_PLUGIN("xavier_uniform", "1.0", components)
