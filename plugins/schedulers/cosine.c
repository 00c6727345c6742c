/*
 * cosine: cosine annealing from lr down to lr_min over T updates,
 *
 *     lr(t) = lr_min + (lr - lr_min)/2 * (1 + cos(pi*t/T))   for t <= T,
 *     lr(t) = lr_min                                          for t > T.
 *
 * Loshchilov & Hutter, "SGDR" (ICLR 2017), without restarts; PyTorch's
 * CosineAnnealingLR in closed form. Choices:
 * - T is optional. Absent, it is the run's horizon: the number of updates
 *   from where this schedule starts to the end of the run (under warmup, the
 *   run length minus the warmup steps), which the caller passes as
 *   `horizon` and fixes when the run starts. Outside a run (horizon < 0) T
 *   must be given, and check says so.
 * - Past T the rate stays at lr_min instead of rising again (no restarts).
 * - lr() never divides by zero: with no usable T it returns lr unchanged;
 *   check is where a missing T is refused.
 */
#include <math.h>

#include <gradus/gradus.h>

enum { T_MAX, LR_MIN };

/* M_PI is POSIX, not C11. */
static const double pi = 3.14159265358979323846;

static const gd_option_spec options[] = {
    { .name = "T", .type = GD_OPT_INTEGER, .flags = GD_OPT_OPTIONAL | GD_OPT_HAS_MIN, .min = 1,
      .doc = "updates to anneal over (default: the run's length from where this schedule "
             "starts)" },
    GD_OPT_NUMBER_MIN("lr_min", 0, 0, "learning rate reached at t = T and kept after"),
};

/* The T in force: the option, else the horizon; <= 0 when unknown. */
static int64_t period(const gd_options *opts, int64_t horizon)
{
    return gd_opt_present(opts, T_MAX) ? gd_opt_int(opts, T_MAX) : horizon;
}

static gd_status cosine_check(const gd_options *opts, int64_t horizon, gd_error *err)
{
    if (!gd_opt_present(opts, T_MAX) && horizon < 0)
        return gd_fail(err, GD_EINVAL, "cosine: option 'T' is required outside a run (inside "
                       "gd.train it defaults to the run's length)");
    /* A T past the run's end would leave the annealing unfinished: the run
     * would end at a high lr nobody chose. */
    if (gd_opt_present(opts, T_MAX) && horizon >= 0 && gd_opt_int(opts, T_MAX) > horizon)
        return gd_fail(err, GD_EINVAL, "cosine: T = %lld is beyond the run, which has %lld steps "
                       "of the schedule from where it starts (updates, or epochs with unit = "
                       "\"epoch\"): leave T out to anneal over the whole run, or give T <= %lld",
                       (long long)gd_opt_int(opts, T_MAX), (long long)horizon, (long long)horizon);
    return GD_OK;
}

static double cosine_lr(const gd_options *opts, int64_t t, double base_lr, int64_t horizon)
{
    const int64_t T = period(opts, horizon);
    const double lr_min = gd_opt_num(opts, LR_MIN);
    if (T <= 0)
        return base_lr;
    if (t > T)
        return lr_min;
    /* At t = T, cos(pi) is exactly -1 in double, so the end point is lr_min
     * exactly (the reference's cosine_T50_endpoint case). */
    return lr_min + 0.5 * (base_lr - lr_min) * (1.0 + cos(pi * (double)t / (double)T));
}

static const gd_scheduler_vtable vtable = {
    .size = sizeof(gd_scheduler_vtable),
    .check = cosine_check,
    .lr = cosine_lr,
};

static const gd_component cosine = {
    .size = sizeof(gd_component),
    .kind = GD_KIND_SCHEDULER,
    .name = "cosine",
    .doc = "cosine annealing: lr_min + (lr - lr_min)(1 + cos(pi*t/T))/2, lr_min after T",
    .options = options,
    .noptions = GD_COUNT(options),
    .vt.scheduler = &vtable,
};

static const gd_component *const components[] = { &cosine };
GD_PLUGIN("cosine", "1.0", components)
