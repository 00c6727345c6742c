/*
 * adam: adaptive moment estimation (Kingma & Ba 2015, Algorithm 1).
 *
 *     m = beta1*m + (1-beta1)*g;  v = beta2*v + (1-beta2)*g^2
 *     mh = m/(1-beta1^t);  vh = v/(1-beta2^t)          t = 1 at the first update
 *     W -= lr*mh/sqrt(vh + eps)      eps_inside = true (default)
 *     W -= lr*mh/(sqrt(vh) + eps)    eps_inside = false (Kingma-Ba, PyTorch)
 *
 * bias_correction = false uses m and v as they are (mh = m, vh = v), which
 * shows in a lecture why the correction exists: m and v start at 0, so the
 * first step is off by (1-beta1)/sqrt(1-beta2) (about 3x too large with the
 * defaults) until the EMAs warm up.
 *
 * Choices:
 * - eps must be > 0: a coordinate whose gradient has been 0 so far has
 *   m = v = 0, and eps = 0 would make its update 0/0 = NaN.
 * - The per-step constants (1-beta^t, lr/(1-beta1^t), ...) are computed once
 *   per call in double, where beta2^t for t in the millions keeps its
 *   precision, then cast to float; the loop itself is float32, one fused
 *   pass over m, v and W, branch-free so that GCC vectorizes it (sqrtf needs
 *   -fno-math-errno, which the build sets).
 * - The eps-outside loop follows PyTorch's order of operations,
 *   W -= (lr/bc1) * (m / (sqrt(v)/sqrt(bc2) + eps)), so its float32 results
 *   sit within rounding of the reference.
 *
 * Slot 0: the first moment m. Slot 1: the second moment v.
 */
#include <math.h>

#include <gradus/gradus.h>
#include <gradus/kernels.h>

enum { LR, BETA1, BETA2, EPS, EPS_INSIDE, BIAS_CORRECTION };

static const gd_option_spec options[] = {
    GD_OPT_NUMBER_MIN("lr", 1e-3, 0, "learning rate (the schedule scales it)"),
    GD_OPT_NUMBER_RANGE("beta1", 0.9, 0, 1, GD_OPT_MAX_OPEN, "decay of the first-moment EMA"),
    GD_OPT_NUMBER_RANGE("beta2", 0.999, 0, 1, GD_OPT_MAX_OPEN, "decay of the second-moment EMA"),
    GD_OPT_NUMBER_ABOVE("eps", 1e-8, 0, "added to the denominator, avoids a division by zero"),
    GD_OPT_BOOL("eps_inside", 1, "true: mh/sqrt(vh+eps); false: mh/(sqrt(vh)+eps)"),
    GD_OPT_BOOL("bias_correction", 1, "divide m, v by 1-beta^t (false: use them as they are)"),
};

/* 1 - beta1^t and 1 - beta2^t, or 1 when bias correction is off. A t below
 * 1 (never passed by the core) is read as 1 rather than dividing by 0. */
static void bias_corrections(const gd_options *opts, int64_t t, double *bc1, double *bc2)
{
    *bc1 = *bc2 = 1.0;
    if (!gd_opt_bool(opts, BIAS_CORRECTION))
        return;
    const double tt = (double)(t > 0 ? t : 1);
    *bc1 = 1.0 - pow(gd_opt_num(opts, BETA1), tt);
    *bc2 = 1.0 - pow(gd_opt_num(opts, BETA2), tt);
}

/* Per-step constants, computed in double and cast once per call. */
typedef struct consts {
    float a1, c1;     /* beta1, 1 - beta1 */
    float a2, c2;     /* beta2, 1 - beta2 */
    float step;       /* lr / (1 - beta1^t) */
    float bc2;        /* eps inside: 1 / (1 - beta2^t); outside: sqrt(1 - beta2^t) */
    float eps;
} consts;

static void adam_step(const gd_options *opts, const gd_optim_state *st, const gd_optim_span *sp)
{
    const double b1 = gd_opt_num(opts, BETA1), b2 = gd_opt_num(opts, BETA2);
    const int inside = gd_opt_bool(opts, EPS_INSIDE);
    double bc1, bc2;
    bias_corrections(opts, st->t, &bc1, &bc2);
    const consts k = {
        .a1 = (float)b1, .c1 = (float)(1.0 - b1),
        .a2 = (float)b2, .c2 = (float)(1.0 - b2),
        .step = (float)(st->lr / bc1),
        .bc2 = inside ? (float)(1.0 / bc2) : (float)sqrt(bc2),
        .eps = (float)gd_opt_num(opts, EPS),
    };
    /* The fused passes: gradus/kernels.h (vectorized, with a scalar twin). */
    if (inside)
        gd_k_adam_inside(sp->n, sp->x, sp->g, sp->slot[0], sp->slot[1], k.a1, k.c1, k.a2, k.c2,
                         k.step, k.bc2, k.eps);
    else
        gd_k_adam_outside(sp->n, sp->x, sp->g, sp->slot[0], sp->slot[1], k.a1, k.c1, k.a2,
                          k.c2, k.step, k.bc2, k.eps);
}

/* Mean over the span of the per-element step size applied to mh:
 * lr/sqrt(vh+eps) (eps_inside) or lr/(sqrt(vh)+eps), from the current v and
 * st->t (call it after the step it describes). 0 for an empty span, so that
 * a caller weighting spans by length is not poisoned by NaN. */
static double adam_effective_lr(const gd_options *opts, const gd_optim_state *st,
                                const gd_optim_span *sp)
{
    if (sp->n <= 0)
        return 0.0;
    double bc1, bc2;
    bias_corrections(opts, st->t, &bc1, &bc2);
    const double eps = gd_opt_num(opts, EPS);
    const int inside = gd_opt_bool(opts, EPS_INSIDE);
    const float *v = sp->slot[1];
    double sum = 0.0;
    for (int64_t i = 0; i < sp->n; i++) {
        const double vh = (double)v[i] / bc2;
        sum += inside ? 1.0 / sqrt(vh + eps) : 1.0 / (sqrt(vh) + eps);
    }
    return st->lr * sum / (double)sp->n;
}

static const gd_optimizer_vtable vtable = {
    .size = sizeof(gd_optimizer_vtable),
    .nslots = 2,
    .step = adam_step,
    .effective_lr = adam_effective_lr,
};

static const gd_component adam = {
    .size = sizeof(gd_component),
    .kind = GD_KIND_OPTIMIZER,
    .name = "adam",
    .doc = "Adam: bias-corrected moment EMAs m, v; W -= lr*mh/sqrt(vh+eps)",
    .options = options,
    .noptions = GD_COUNT(options),
    .vt.optimizer = &vtable,
};

static const gd_component *const components[] = { &adam };
GD_PLUGIN("adam", "1.0", components)
