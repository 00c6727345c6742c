/*
 * rmsprop: gradient scaled by a running RMS (Tieleman & Hinton 2012,
 * Coursera lecture 6.5).
 *
 *     s = alpha*s + (1-alpha)*g^2;  W -= lr*g/(sqrt(s) + eps)
 *
 * Choices:
 * - eps outside the square root, as PyTorch and Keras do, and as the
 *   reference cases expect.
 * - eps must be > 0: a coordinate whose gradient has been 0 so far has
 *   s = 0, and eps = 0 would make its update 0/0 = NaN.
 * - No bias correction: s starts at 0, so the first steps are large
 *   (about lr/sqrt(1-alpha) per coordinate); that is the method as published
 *   and one reason Adam added the correction.
 *
 * Slot 0: the mean square s.
 */
#include <math.h>

#include <gradus/gradus.h>

enum { LR, ALPHA, EPS };

static const gd_option_spec options[] = {
    GD_OPT_NUMBER_MIN("lr", 0.01, 0, "learning rate (the schedule scales it)"),
    GD_OPT_NUMBER_RANGE("alpha", 0.99, 0, 1, GD_OPT_MAX_OPEN,
                        "decay of the running mean of g^2"),
    GD_OPT_NUMBER_ABOVE("eps", 1e-8, 0, "added to the denominator, avoids a division by zero"),
};

/* One fused pass; restrict parameters (not locals, which GCC ignores) let
 * it vectorize without a runtime alias check. a = alpha, c = 1 - alpha. */
static void update(int64_t n, float *restrict x, const float *restrict g, float *restrict s,
                   float lr, float a, float c, float eps)
{
    for (int64_t i = 0; i < n; i++) {
        const float gi = g[i];
        const float si = a * s[i] + c * gi * gi;
        s[i] = si;
        x[i] -= lr * gi / (sqrtf(si) + eps);
    }
}

static void rmsprop_step(const gd_options *opts, const gd_optim_state *st,
                         const gd_optim_span *sp)
{
    const double alpha = gd_opt_num(opts, ALPHA);
    update(sp->n, sp->x, sp->g, sp->slot[0], (float)st->lr, (float)alpha, (float)(1.0 - alpha),
           (float)gd_opt_num(opts, EPS));
}

/* Mean of lr/(sqrt(s)+eps) over the span; 0 for an empty span. */
static double rmsprop_effective_lr(const gd_options *opts, const gd_optim_state *st,
                                   const gd_optim_span *sp)
{
    if (sp->n <= 0)
        return 0.0;
    const double eps = gd_opt_num(opts, EPS);
    const float *s = sp->slot[0];
    double sum = 0.0;
    for (int64_t i = 0; i < sp->n; i++)
        sum += 1.0 / (sqrt((double)s[i]) + eps);
    return st->lr * sum / (double)sp->n;
}

static const gd_optimizer_vtable vtable = {
    .size = sizeof(gd_optimizer_vtable),
    .nslots = 1,
    .step = rmsprop_step,
    .effective_lr = rmsprop_effective_lr,
};

static const gd_component rmsprop = {
    .size = sizeof(gd_component),
    .kind = GD_KIND_OPTIMIZER,
    .name = "rmsprop",
    .doc = "RMSprop: s = alpha*s + (1-alpha)*g^2; W -= lr*g/(sqrt(s)+eps)",
    .options = options,
    .noptions = GD_COUNT(options),
    .vt.optimizer = &vtable,
};

static const gd_component *const components[] = { &rmsprop };
GD_PLUGIN("rmsprop", "1.0", components)
