/*
 * constant: the learning rate never changes, lr(t) = lr.
 *
 * The default schedule of gd.train and of warmup's `after`. Kept as a plugin
 * like any other so that the core holds no schedule of its own.
 */
#include <gradus/gradus.h>

static double constant_lr(const gd_options *opts, int64_t t, double base_lr, int64_t horizon)
{
    (void)opts;
    (void)t;
    (void)horizon;
    return base_lr;
}

static const gd_scheduler_vtable vtable = {
    .size = sizeof(gd_scheduler_vtable),
    .lr = constant_lr,
};

static const gd_component constant = {
    .size = sizeof(gd_component),
    .kind = GD_KIND_SCHEDULER,
    .name = "constant",
    .doc = "constant learning rate: lr(t) = lr",
    .options = NULL,
    .noptions = 0,
    .vt.scheduler = &vtable,
};

static const gd_component *const components[] = { &constant };
GD_PLUGIN("constant", "1.0", components)
