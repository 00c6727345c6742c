/*
 * nesterov: Nesterov's accelerated gradient in its momentum form
 * (Nesterov 1983; Sutskever, Martens, Dahl & Hinton 2013, eq. 3-4).
 *
 * The look-ahead form takes the gradient at a point the parameters have not
 * reached yet:
 *
 *     v = gamma*v + lr*grad(W_la - gamma*v);  W_la -= v
 *
 * A trainer only has the gradient at the parameters it stores, so this
 * plugin stores W = W_la - gamma*v instead (Bengio, Boulanger-Lewandowski &
 * Pascanu 2013). With g = grad(W), the same update reads
 *
 *     v' = gamma*v + lr*g
 *     W' = W_la' - gamma*v' = (W + gamma*v) - v' - gamma*v'
 *        = W - (v' - gamma*v) - gamma*v' = W - (gamma*v' + lr*g)
 *
 * so the step is  v = gamma*v + lr*g;  W -= gamma*v + lr*g.  lr enters only
 * through v', so the identity holds for any lr sequence (a schedule), and
 * since v starts at 0 both forms start from the same point. The stored W is
 * the point where gradients are taken; the look-ahead parameters, if wanted,
 * are W + gamma*v. tests/plugins/test_optimizers.c checks this equivalence
 * against a double-precision look-ahead implementation, with lr changing
 * between steps.
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

/* One fused pass; restrict parameters (not locals, which GCC ignores) let
 * the loop vectorize without a runtime alias check. */
static void update(int64_t n, float *restrict x, const float *restrict g, float *restrict v,
                   float lr, float gamma)
{
    for (int64_t i = 0; i < n; i++) {
        const float step = lr * g[i];
        const float vi = gamma * v[i] + step;
        v[i] = vi;
        x[i] -= gamma * vi + step;
    }
}

static void nesterov_step(const gd_options *opts, const gd_optim_state *st,
                          const gd_optim_span *sp)
{
    update(sp->n, sp->x, sp->g, sp->slot[0], (float)st->lr, (float)gd_opt_num(opts, GAMMA));
}

static const gd_optimizer_vtable vtable = {
    .size = sizeof(gd_optimizer_vtable),
    .nslots = 1,
    .step = nesterov_step,
};

static const gd_component nesterov = {
    .size = sizeof(gd_component),
    .kind = GD_KIND_OPTIMIZER,
    .name = "nesterov",
    .doc = "Nesterov momentum (reparametrized): v = gamma*v + lr*g; W -= gamma*v + lr*g",
    .options = options,
    .noptions = GD_COUNT(options),
    .vt.optimizer = &vtable,
};

static const gd_component *const components[] = { &nesterov };
GD_PLUGIN("nesterov", "1.0", components)
