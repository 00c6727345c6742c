/*
 * warmup: linear warmup, then another schedule,
 *
 *     lr(t) = lr * t/steps          for t < steps,
 *     lr(t) = after(t - steps)      for t >= steps.
 *
 * Goyal et al., "Accurate, Large Minibatch SGD" (2017): a ramp from 0 keeps
 * the first, badly scaled updates of a large lr from blowing the weights up.
 * Choices:
 * - The ramp starts at 0 (t = 0 gives lr 0) and reaches lr exactly where
 *   `after` takes over at its own t = 0, so the curve has no jump.
 * - `after` sees the run as starting where the warmup ends: its horizon is
 *   the run's horizon minus steps (so a cosine without T anneals over the
 *   rest of the run), -1 when the horizon is unknown, 0 when the warmup
 *   outlasts the run (then `after` is never reached).
 * - check forwards to `after`'s check with that horizon, prefixing the
 *   message with where the nested schedule sits.
 * - The outer schedule's `unit` governs t; the nested one's is ignored.
 */
#include <gradus/gradus.h>

enum { STEPS, AFTER };

static const gd_option_spec options[] = {
    { .name = "steps", .type = GD_OPT_INTEGER, .flags = GD_OPT_REQUIRED | GD_OPT_HAS_MIN,
      .min = 1, .doc = "length of the linear ramp from 0 to lr" },
    GD_OPT_COMPONENT_OF("after", GD_KIND_SCHEDULER, "constant",
                        "schedule followed after the warmup, from its own t = 0"),
};

static int64_t nested_horizon(const gd_options *opts, int64_t horizon)
{
    const int64_t steps = gd_opt_int(opts, STEPS);
    if (horizon < 0)
        return -1;
    return horizon > steps ? horizon - steps : 0;
}

static gd_status warmup_check(const gd_options *opts, int64_t horizon, gd_error *err)
{
    const gd_spec *after = gd_opt_spec(opts, AFTER);
    const gd_scheduler_vtable *vt = after->component->vt.scheduler;
    if (!vt->check)
        return GD_OK;
    gd_error inner;
    gd_status st = vt->check(after->options, nested_horizon(opts, horizon), &inner);
    if (st != GD_OK)
        return gd_fail(err, st, "warmup: option 'after': %s", inner.msg);
    return GD_OK;
}

static double warmup_lr(const gd_options *opts, int64_t t, double base_lr, int64_t horizon)
{
    const int64_t steps = gd_opt_int(opts, STEPS);
    if (t < steps)
        return base_lr * (double)t / (double)steps;
    return gd_spec_lr(gd_opt_spec(opts, AFTER), t - steps, base_lr,
                      nested_horizon(opts, horizon));
}

static const gd_scheduler_vtable vtable = {
    .size = sizeof(gd_scheduler_vtable),
    .check = warmup_check,
    .lr = warmup_lr,
};

static const gd_component warmup = {
    .size = sizeof(gd_component),
    .kind = GD_KIND_SCHEDULER,
    .name = "warmup",
    .doc = "linear warmup lr*t/steps for t < steps, then `after` at t - steps",
    .options = options,
    .noptions = GD_COUNT(options),
    .vt.scheduler = &vtable,
};

static const gd_component *const components[] = { &warmup };
GD_PLUGIN("warmup", "1.0", components)
