/*
 * TEMPLATE.c: a complete gradus plugin to start from. It builds and loads
 * as it is (tests build it and train with it):
 *
 *   cc -shared -fPIC $(pkg-config --cflags gradus) TEMPLATE.c -o lion.so
 *   build/gradus -l ./lion.so doc lion
 *
 * This one is Lion (Chen et al. 2023, "Symbolic Discovery of Optimization
 * Algorithms"): c = beta1*m + (1-beta1)*g; W -= lr*(sign(c) + wd*W);
 * m = beta2*m + (1-beta2)*g. To write another component:
 *   1. rename the file and the component (name: lowercase, digits, '_');
 *   2. declare the options in `options` and an enum with the same order;
 *   3. fill in the vtable of your kind (include/gradus/plugin.h documents
 *      every member: who calls it, when, and who owns what);
 *   4. list the component in `components`; GD_PLUGIN exports the entry.
 * Keep everything static: the entry point is the only exported symbol.
 */
#include <gradus/gradus.h>

/* Step 2: options, in the order of this enum. The core validates what the
 * user writes against the table and hands over typed, checked values. */
enum { LR, BETA1, BETA2, WEIGHT_DECAY };

static const gd_option_spec options[] = {
    GD_OPT_NUMBER_MIN("lr", 1e-4, 0, "learning rate (the schedule scales it)"),
    GD_OPT_NUMBER_RANGE("beta1", 0.9, 0, 1, GD_OPT_MAX_OPEN, "interpolation for the update"),
    GD_OPT_NUMBER_RANGE("beta2", 0.99, 0, 1, GD_OPT_MAX_OPEN, "decay of the momentum EMA"),
    GD_OPT_NUMBER_MIN("weight_decay", 0, 0, "decoupled weight decay"),
};

/* Step 3: the vtable. An optimizer gets one flat span of parameters, their
 * gradients and its state slots (zeroed by the core, saved in checkpoints);
 * st->lr is this update's rate from the schedule, st->t counts from 1. */
static void lion_step(const gd_options *o, const gd_optim_state *st, const gd_optim_span *sp)
{
    const float lr = (float)st->lr, b1 = (float)gd_opt_num(o, BETA1);
    const float b2 = (float)gd_opt_num(o, BETA2), wd = (float)gd_opt_num(o, WEIGHT_DECAY);
    float *x = sp->x, *m = sp->slot[0];
    const float *g = sp->g;
    for (int64_t i = 0; i < sp->n; i++) {
        float c = b1 * m[i] + (1 - b1) * g[i];
        float sign = (float)((c > 0) - (c < 0));
        x[i] -= lr * (sign + wd * x[i]);
        m[i] = b2 * m[i] + (1 - b2) * g[i];
    }
}

static const gd_optimizer_vtable vtable = {
    .size = sizeof(gd_optimizer_vtable),
    .nslots = 1,   /* m */
    .step = lion_step,
};

static const gd_component lion = {
    .size = sizeof(gd_component),
    .kind = GD_KIND_OPTIMIZER,
    .name = "lion",
    .doc = "Lion: W -= lr*(sign(beta1*m + (1-beta1)*g) + wd*W); m = beta2*m + (1-beta2)*g",
    .options = options,
    .noptions = GD_COUNT(options),
    .vt.optimizer = &vtable,
};

/* Step 4: the components of this file and the entry point. */
static const gd_component *const components[] = { &lion };
GD_PLUGIN("lion", "1.0", components)
