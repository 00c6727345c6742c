/*
 * sgd: plain gradient descent, W -= lr * g.
 *
 * Batch, stochastic and mini-batch gradient descent are this same update;
 * they differ only in the trainer's `batch` (the whole set, 1, or n).
 */
#include <gradus/gradus.h>

static const gd_option_spec options[] = {
    GD_OPT_NUMBER_MIN("lr", 0.01, 0, "learning rate (the schedule scales it)"),
};

static void sgd_step(const gd_options *opts, const gd_optim_state *st, const gd_optim_span *sp)
{
    (void)opts;
    const float lr = (float)st->lr;
    float *restrict x = sp->x;
    const float *restrict g = sp->g;
    for (int64_t i = 0; i < sp->n; i++)
        x[i] -= lr * g[i];
}

static const gd_optimizer_vtable vtable = {
    .size = sizeof(gd_optimizer_vtable),
    .nslots = 0,
    .step = sgd_step,
};

static const gd_component sgd = {
    .size = sizeof(gd_component),
    .kind = GD_KIND_OPTIMIZER,
    .name = "sgd",
    .doc = "gradient descent: W -= lr*g (batch, stochastic or mini-batch by the trainer's batch)",
    .options = options,
    .noptions = GD_COUNT(options),
    .vt.optimizer = &vtable,
};

static const gd_component *const components[] = { &sgd };
GD_PLUGIN("sgd", "1.0", components)
