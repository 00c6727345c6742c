/*
 * momentum: classical (heavy-ball) momentum, Polyak 1964.
 *
 *     v = gamma*v + lr*g;  W -= v          (v starts at 0)
 *
 * lr sits inside the velocity, as in the lecture's form (and Sutskever et al.
 * 2013), not outside it as in PyTorch's SGD(momentum) (v = gamma*v + g;
 * W -= lr*v). The two agree for a constant lr; they differ when a schedule
 * changes lr: here a velocity built up under the old lr keeps its size,
 * there it is rescaled at once.
 *
 * Slot 0: the velocity v.
 */
#include <gradus/gradus.h>

enum { LR, GAMMA };

static const gd_option_spec options[] = {
    GD_OPT_NUMBER_MIN("lr", 0.01, 0, "learning rate (the schedule scales it)"),
    GD_OPT_NUMBER_RANGE("gamma", 0.9, 0, 1, GD_OPT_MAX_OPEN,
                        "momentum coefficient: the fraction of the velocity kept per step"),
};

/* One fused pass: each element's velocity and parameter are read and
 * written once. The arrays are restrict *parameters* (GCC ignores restrict
 * on local pointers), so the loop vectorizes without a runtime alias check. */
static void update(int64_t n, float *restrict x, const float *restrict g, float *restrict v,
                   float lr, float gamma)
{
    for (int64_t i = 0; i < n; i++) {
        const float vi = gamma * v[i] + lr * g[i];
        v[i] = vi;
        x[i] -= vi;
    }
}

static void momentum_step(const gd_options *opts, const gd_optim_state *st,
                          const gd_optim_span *sp)
{
    update(sp->n, sp->x, sp->g, sp->slot[0], (float)st->lr, (float)gd_opt_num(opts, GAMMA));
}

static const gd_optimizer_vtable vtable = {
    .size = sizeof(gd_optimizer_vtable),
    .nslots = 1,
    .step = momentum_step,
};

static const gd_component momentum = {
    .size = sizeof(gd_component),
    .kind = GD_KIND_OPTIMIZER,
    .name = "momentum",
    .doc = "classical momentum: v = gamma*v + lr*g; W -= v",
    .options = options,
    .noptions = GD_COUNT(options),
    .vt.optimizer = &vtable,
};

static const gd_component *const components[] = { &momentum };
GD_PLUGIN("momentum", "1.0", components)
