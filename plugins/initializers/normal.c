/*
 * normal: W ~ N(mean, std^2).
 *
 * A fixed-scale Gaussian, the "small random numbers" of early networks;
 * with a deep stack it shows vanishing (std too small) or exploding (too
 * large) signals, which xavier_* and he_* fix by scaling with the fans.
 * std is required, since any default would be wrong for most layers; mean
 * defaults to 0. Not truncated.
 */
#include <gradus/gradus.h>

enum { MEAN, STD };

static const gd_option_spec options[] = {
    GD_OPT_NUMBER_ANY("mean", 0, "mean of the distribution"),
    { .name = "std", .type = GD_OPT_NUMBER, .flags = GD_OPT_REQUIRED | GD_OPT_HAS_MIN, .min = 0,
      .doc = "standard deviation" },
};

static gd_status normal_fill(const gd_options *opts, float *x, int64_t n, int64_t fan_in,
                             int64_t fan_out, gd_rng *rng, gd_error *err)
{
    (void)fan_in;
    (void)fan_out;
    (void)err;
    const double mean = gd_opt_num(opts, MEAN), std = gd_opt_num(opts, STD);
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)(mean + std * gd_rng_normal(rng));
    return GD_OK;
}

static const gd_initializer_vtable vtable = {
    .size = sizeof(gd_initializer_vtable),
    .fill = normal_fill,
};

static const gd_component normal = {
    .size = sizeof(gd_component),
    .kind = GD_KIND_INITIALIZER,
    .name = "normal",
    .doc = "N(mean, std^2), independent of the fans",
    .options = options,
    .noptions = GD_COUNT(options),
    .vt.initializer = &vtable,
};

static const gd_component *const components[] = { &normal };
GD_PLUGIN("normal", "1.0", components)
