/*
 * inverse_time: lr(t) = lr / (1 + alpha*t).
 *
 * The 1/t decay of the Robbins-Monro conditions (sum lr = inf, sum lr^2 <
 * inf) that makes SGD converge on convex problems; TensorFlow's
 * InverseTimeDecay with decay_steps = 1. alpha has no sensible default (it
 * sets the time scale 1/alpha of the decay), so it is required.
 */
#include <gradus/gradus.h>

enum { ALPHA };

static const gd_option_spec options[] = {
    { .name = "alpha", .type = GD_OPT_NUMBER, .flags = GD_OPT_REQUIRED | GD_OPT_HAS_MIN,
      .min = 0, .doc = "decay rate: lr is halved after 1/alpha updates" },
};

static double inverse_time_lr(const gd_options *opts, int64_t t, double base_lr, int64_t horizon)
{
    (void)horizon;
    return base_lr / (1.0 + gd_opt_num(opts, ALPHA) * (double)t);
}

static const gd_scheduler_vtable vtable = {
    .size = sizeof(gd_scheduler_vtable),
    .lr = inverse_time_lr,
};

static const gd_component inverse_time = {
    .size = sizeof(gd_component),
    .kind = GD_KIND_SCHEDULER,
    .name = "inverse_time",
    .doc = "inverse-time decay: lr(t) = lr/(1 + alpha*t)",
    .options = options,
    .noptions = GD_COUNT(options),
    .vt.scheduler = &vtable,
};

static const gd_component *const components[] = { &inverse_time };
GD_PLUGIN("inverse_time", "1.0", components)
