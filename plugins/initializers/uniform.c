/*
 * uniform: W ~ U(low, high).
 *
 * A fixed-scale uniform draw (Keras's RandomUniform). Both bounds are
 * required: a default range would be wrong for most layers. low < high is a
 * cross-option condition the schema cannot express and initializers have no
 * check hook, so fill refuses it before writing anything. Values lie in
 * [low, high] (the float rounding of a draw may land on high).
 */
#include <gradus/gradus.h>

enum { LOW, HIGH };

static const gd_option_spec options[] = {
    { .name = "low", .type = GD_OPT_NUMBER, .flags = GD_OPT_REQUIRED,
      .doc = "lower bound (must be < high)" },
    { .name = "high", .type = GD_OPT_NUMBER, .flags = GD_OPT_REQUIRED,
      .doc = "upper bound" },
};

static gd_status uniform_fill(const gd_options *opts, float *x, int64_t n, int64_t fan_in,
                              int64_t fan_out, gd_rng *rng, gd_error *err)
{
    (void)fan_in;
    (void)fan_out;
    const double low = gd_opt_num(opts, LOW), high = gd_opt_num(opts, HIGH);
    if (!(low < high))
        return gd_fail(err, GD_EINVAL, "uniform: option 'low' must be < 'high', got low %.10g, "
                       "high %.10g", low, high);
    const double width = high - low;
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)(low + width * gd_rng_uniform(rng));
    return GD_OK;
}

static const gd_initializer_vtable vtable = {
    .size = sizeof(gd_initializer_vtable),
    .fill = uniform_fill,
};

static const gd_component uniform = {
    .size = sizeof(gd_component),
    .kind = GD_KIND_INITIALIZER,
    .name = "uniform",
    .doc = "U(low, high), independent of the fans",
    .options = options,
    .noptions = GD_COUNT(options),
    .vt.initializer = &vtable,
};

static const gd_component *const components[] = { &uniform };
GD_PLUGIN("uniform", "1.0", components)
