/*
 * lion: the PLUGINS.md walk-through's result, `gradus new optimizer lion`
 * with its step rewritten (Chen et al. 2023, "Symbolic Discovery of
 * Optimization Algorithms"):
 *
 *     c = beta1*m + (1-beta1)*g;  W -= lr*(sign(c) + wd*W);  m = beta2*m + (1-beta2)*g
 *
 * Build, check and use (PLUGINS.md has the whole story):
 *   cc -shared -fPIC $(pkg-config --cflags gradus) lion.c -o lion.so
 *   gradus check ./lion.so
 *   gradus -l ./lion.so run scripts/new_optimizer.lua lion
 *
 * Everything is static but the entry point (GD_PLUGIN, at the end). Nothing
 * here may print, exit or abort: fallible calls return a gd_status with a
 * one-line message (gd_fail). The core owns every tensor it hands over.
 */
#include <gradus/gradus.h>

/* Options, in the order of this enum. The core checks what the user
 * writes against the table (type, range) and hands over typed values. */
enum { LR, BETA1, BETA2, WEIGHT_DECAY };

static const gd_option_spec options[] = {
    GD_OPT_NUMBER_MIN("lr", 1e-4, 0, "learning rate (the schedule scales it)"),
    GD_OPT_NUMBER_RANGE("beta1", 0.9, 0, 1, GD_OPT_MAX_OPEN, "interpolation for the update"),
    GD_OPT_NUMBER_RANGE("beta2", 0.99, 0, 1, GD_OPT_MAX_OPEN, "decay of the momentum EMA"),
    GD_OPT_NUMBER_MIN("weight_decay", 0, 0, "decoupled weight decay"),
};

/* One update of one span, elementwise: the core may cut an update into
 * spans anywhere and step them on several threads. slot[0] is m. */
static void lion_step(const gd_options *o, const gd_optim_state *st, const gd_optim_span *sp)
{
    const float lr = (float)st->lr, b1 = (float)gd_opt_num(o, BETA1);
    const float b2 = (float)gd_opt_num(o, BETA2), wd = (float)gd_opt_num(o, WEIGHT_DECAY);
    float *x = sp->x, *m = sp->slot[0];
    const float *g = sp->g;
    for (int64_t i = 0; i < sp->n; i++) {
        const float c = b1 * m[i] + (1 - b1) * g[i];
        const float sign = (float)((c > 0) - (c < 0));
        x[i] -= lr * (sign + wd * x[i]);
        m[i] = b2 * m[i] + (1 - b2) * g[i];
    }
}

static const gd_optimizer_vtable vtable = {
    .size = sizeof(gd_optimizer_vtable),
    .nslots = 1,   /* m */
    .step = lion_step,
};

static const gd_component component = {
    .size = sizeof(gd_component),
    .kind = GD_KIND_OPTIMIZER,
    .name = "lion",
    .doc = "Lion: W -= lr*(sign(beta1*m + (1-beta1)*g) + wd*W); m = beta2*m + (1-beta2)*g",
    .options = options,
    .noptions = GD_COUNT(options),
    .vt.optimizer = &vtable,
};

static const gd_component *const components[] = { &component };
GD_PLUGIN("lion", "1.0", components)
