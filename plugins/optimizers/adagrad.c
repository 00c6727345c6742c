/*
 * adagrad: per-coordinate step sizes from the sum of squared gradients
 * (Duchi, Hazan & Singer 2011, "Adaptive subgradient methods").
 *
 *     G += g^2;  W -= lr*g/sqrt(G + eps)      eps_inside = true (default)
 *                W -= lr*g/(sqrt(G) + eps)    eps_inside = false (PyTorch's form)
 *
 * Choices:
 * - eps must be > 0, not merely >= 0: a coordinate whose gradient has been 0
 *   so far has G = 0, and eps = 0 would turn its update into 0/0 = NaN.
 * - eps inside the square root is the lecture's form; it bounds the step by
 *   lr*|g|/sqrt(eps) smoothly. Outside is PyTorch's; for G >> eps^2 the two
 *   agree, early on they differ (the reference cases tell them apart).
 * - The branch on eps_inside is taken once, outside the loop, so each loop
 *   body stays branch-free and vectorizes.
 *
 * Slot 0: the accumulator G.
 */
#include <math.h>

#include <gradus/gradus.h>

enum { LR, EPS, EPS_INSIDE };

static const gd_option_spec options[] = {
    GD_OPT_NUMBER_MIN("lr", 0.01, 0, "learning rate (the schedule scales it)"),
    GD_OPT_NUMBER_ABOVE("eps", 1e-8, 0, "added to the denominator, avoids a division by zero"),
    GD_OPT_BOOL("eps_inside", 1, "true: lr*g/sqrt(G+eps); false: lr*g/(sqrt(G)+eps)"),
};

/* The two fused passes. restrict parameters (not locals, which GCC
 * ignores) let them vectorize without a runtime alias check. */
static void update_inside(int64_t n, float *restrict x, const float *restrict g,
                          float *restrict G, float lr, float eps)
{
    for (int64_t i = 0; i < n; i++) {
        const float gi = g[i];
        const float Gi = G[i] + gi * gi;
        G[i] = Gi;
        x[i] -= lr * gi / sqrtf(Gi + eps);
    }
}

static void update_outside(int64_t n, float *restrict x, const float *restrict g,
                           float *restrict G, float lr, float eps)
{
    for (int64_t i = 0; i < n; i++) {
        const float gi = g[i];
        const float Gi = G[i] + gi * gi;
        G[i] = Gi;
        x[i] -= lr * gi / (sqrtf(Gi) + eps);
    }
}

static void adagrad_step(const gd_options *opts, const gd_optim_state *st,
                         const gd_optim_span *sp)
{
    const float lr = (float)st->lr;
    const float eps = (float)gd_opt_num(opts, EPS);
    if (gd_opt_bool(opts, EPS_INSIDE))
        update_inside(sp->n, sp->x, sp->g, sp->slot[0], lr, eps);
    else
        update_outside(sp->n, sp->x, sp->g, sp->slot[0], lr, eps);
}

/* Mean of the per-element step size lr/sqrt(G+eps) (or lr/(sqrt(G)+eps))
 * over the span, from the current accumulator; 0 for an empty span, so
 * that a caller weighting spans by their length is not poisoned by NaN. */
static double adagrad_effective_lr(const gd_options *opts, const gd_optim_state *st,
                                   const gd_optim_span *sp)
{
    if (sp->n <= 0)
        return 0.0;
    const double eps = gd_opt_num(opts, EPS);
    const int inside = gd_opt_bool(opts, EPS_INSIDE);
    const float *G = sp->slot[0];
    double sum = 0.0;
    for (int64_t i = 0; i < sp->n; i++)
        sum += inside ? 1.0 / sqrt((double)G[i] + eps) : 1.0 / (sqrt((double)G[i]) + eps);
    return st->lr * sum / (double)sp->n;
}

static const gd_optimizer_vtable vtable = {
    .size = sizeof(gd_optimizer_vtable),
    .nslots = 1,
    .step = adagrad_step,
    .effective_lr = adagrad_effective_lr,
};

static const gd_component adagrad = {
    .size = sizeof(gd_component),
    .kind = GD_KIND_OPTIMIZER,
    .name = "adagrad",
    .doc = "AdaGrad: G += g^2; W -= lr*g/sqrt(G+eps)",
    .options = options,
    .noptions = GD_COUNT(options),
    .vt.optimizer = &vtable,
};

static const gd_component *const components[] = { &adagrad };
GD_PLUGIN("adagrad", "1.0", components)
