/*
 * exponential: lr(t) = lr * e^(-decay*t).
 *
 * Continuous exponential decay (PyTorch's ExponentialLR with gamma =
 * e^-decay). Written with exp rather than as a repeated product so that
 * lr(t) is a pure function of t, exact to the last bits at any t. decay is
 * required: it sets the time scale 1/decay and has no neutral default.
 */
#include <math.h>

#include <gradus/gradus.h>

enum { DECAY };

static const gd_option_spec options[] = {
    { .name = "decay", .type = GD_OPT_NUMBER, .flags = GD_OPT_REQUIRED | GD_OPT_HAS_MIN,
      .min = 0, .doc = "decay rate: lr shrinks by e after 1/decay updates" },
};

static double exponential_lr(const gd_options *opts, int64_t t, double base_lr, int64_t horizon)
{
    (void)horizon;
    return base_lr * exp(-gd_opt_num(opts, DECAY) * (double)t);
}

static const gd_scheduler_vtable vtable = {
    .size = sizeof(gd_scheduler_vtable),
    .lr = exponential_lr,
};

static const gd_component exponential = {
    .size = sizeof(gd_component),
    .kind = GD_KIND_SCHEDULER,
    .name = "exponential",
    .doc = "exponential decay: lr(t) = lr*exp(-decay*t)",
    .options = options,
    .noptions = GD_COUNT(options),
    .vt.scheduler = &vtable,
};

static const gd_component *const components[] = { &exponential };
GD_PLUGIN("exponential", "1.0", components)
