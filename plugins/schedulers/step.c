/*
 * step: lr(t) = lr * gamma^floor(t/size).
 *
 * Piecewise-constant decay by a factor gamma every `size` updates (PyTorch's
 * StepLR). size is required: the right interval depends entirely on the run.
 * Integer division gives the floor exactly because t >= 0; pow of an integer
 * exponent keeps gamma^k as close to exact as a product would.
 */
#include <math.h>

#include <gradus/gradus.h>

enum { SIZE, GAMMA };

static const gd_option_spec options[] = {
    { .name = "size", .type = GD_OPT_INTEGER, .flags = GD_OPT_REQUIRED | GD_OPT_HAS_MIN,
      .min = 1, .doc = "updates (or epochs, with unit = \"epoch\") between two decays" },
    GD_OPT_NUMBER_MIN("gamma", 0.1, 0, "factor applied at each decay"),
};

static double step_lr(const gd_options *opts, int64_t t, double base_lr, int64_t horizon)
{
    (void)horizon;
    int64_t k = t > 0 ? t / gd_opt_int(opts, SIZE) : 0;
    return base_lr * pow(gd_opt_num(opts, GAMMA), (double)k);
}

static const gd_scheduler_vtable vtable = {
    .size = sizeof(gd_scheduler_vtable),
    .lr = step_lr,
};

static const gd_component step = {
    .size = sizeof(gd_component),
    .kind = GD_KIND_SCHEDULER,
    .name = "step",
    .doc = "step decay: lr(t) = lr*gamma^floor(t/size)",
    .options = options,
    .noptions = GD_COUNT(options),
    .vt.scheduler = &vtable,
};

static const gd_component *const components[] = { &step };
GD_PLUGIN("step", "1.0", components)
