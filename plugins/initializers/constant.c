/*
 * constant: W = value.
 *
 * Batchnorm's scale starts at 1, some biases at a small positive value (so
 * ReLUs start alive). value is required: a constant initializer without one
 * would just be zeros. Draws nothing from the stream.
 */
#include <gradus/gradus.h>

enum { VALUE };

static const gd_option_spec options[] = {
    { .name = "value", .type = GD_OPT_NUMBER, .flags = GD_OPT_REQUIRED,
      .doc = "the value of every element" },
};

static gd_status constant_fill(const gd_options *opts, float *x, int64_t n, int64_t fan_in,
                               int64_t fan_out, gd_rng *rng, gd_error *err)
{
    (void)fan_in;
    (void)fan_out;
    (void)rng;
    (void)err;
    const float v = (float)gd_opt_num(opts, VALUE);
    for (int64_t i = 0; i < n; i++)
        x[i] = v;
    return GD_OK;
}

static const gd_initializer_vtable vtable = {
    .size = sizeof(gd_initializer_vtable),
    .fill = constant_fill,
};

static const gd_component constant = {
    .size = sizeof(gd_component),
    .kind = GD_KIND_INITIALIZER,
    .name = "constant",
    .doc = "every element set to `value`",
    .options = options,
    .noptions = GD_COUNT(options),
    .vt.initializer = &vtable,
};

static const gd_component *const components[] = { &constant };
GD_PLUGIN("constant", "1.0", components)
