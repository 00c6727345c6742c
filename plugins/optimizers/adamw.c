/*
 * adamw: Adam with decoupled weight decay (Loshchilov & Hutter 2019,
 * Algorithm 2; PyTorch's AdamW).
 *
 *     W -= lr*weight_decay*W                      decay first, from the old W
 *     m = beta1*m + (1-beta1)*g;  v = beta2*v + (1-beta2)*g^2
 *     mh = m/(1-beta1^t);  vh = v/(1-beta2^t)     t = 1 at the first update
 *     W -= lr*mh/(sqrt(vh) + eps)
 *
 * The decay does not pass through g, so unlike L2 regularization with Adam
 * it is not divided by sqrt(vh): every weight shrinks by the same factor.
 *
 * Choices:
 * - Decay is multiplied by lr (the schedule's), as PyTorch does, so a
 *   schedule anneals it too. The factor 1 - lr*wd is computed in double and
 *   applied as a multiplication, as PyTorch's param.mul_(1 - lr*wd).
 * - check() refuses lr*weight_decay >= 1: the factor would be <= 0 and flip
 *   or erase every weight at each step.
 * - eps outside the square root (the Kingma-Ba / PyTorch form); eps > 0, as
 *   in adam.c, because eps = 0 gives 0/0 for a coordinate never updated.
 * - One fused float32 pass: decay, moments and step per element, with the
 *   per-step constants hoisted and computed in double.
 *
 * Slot 0: the first moment m. Slot 1: the second moment v.
 */
#include <math.h>

#include <gradus/gradus.h>

enum { LR, BETA1, BETA2, EPS, WEIGHT_DECAY };

static const gd_option_spec options[] = {
    GD_OPT_NUMBER_MIN("lr", 1e-3, 0, "learning rate (the schedule scales it)"),
    GD_OPT_NUMBER_RANGE("beta1", 0.9, 0, 1, GD_OPT_MAX_OPEN, "decay of the first-moment EMA"),
    GD_OPT_NUMBER_RANGE("beta2", 0.999, 0, 1, GD_OPT_MAX_OPEN, "decay of the second-moment EMA"),
    GD_OPT_NUMBER_ABOVE("eps", 1e-8, 0, "added to the denominator, avoids a division by zero"),
    GD_OPT_NUMBER_MIN("weight_decay", 0.01, 0,
                      "decoupled decay: W -= lr*weight_decay*W before the Adam step"),
};

static gd_status adamw_check(const gd_options *opts, gd_error *err)
{
    const double f = gd_opt_num(opts, LR) * gd_opt_num(opts, WEIGHT_DECAY);
    if (f >= 1.0)
        return gd_fail(err, GD_EINVAL,
                       "adamw: lr*weight_decay must be < 1 (the decay factor 1 - lr*weight_decay "
                       "would be <= 0), got %.10g", f);
    return GD_OK;
}

/* Per-step constants, computed in double and cast once per call. */
typedef struct consts {
    float a1, c1;     /* beta1, 1 - beta1 */
    float a2, c2;     /* beta2, 1 - beta2 */
    float decay;      /* 1 - lr*weight_decay */
    float step;       /* lr / (1 - beta1^t) */
    float sqrt_bc2;   /* sqrt(1 - beta2^t) */
    float eps;
} consts;

/* The fused pass. The arrays are restrict parameters (GCC ignores restrict
 * on locals), so it vectorizes without a runtime alias check. The decay
 * uses the old W, as PyTorch's param.mul_ before addcdiv_. */
static void update(int64_t n, float *restrict x, const float *restrict g, float *restrict m,
                   float *restrict v, consts k)
{
    for (int64_t i = 0; i < n; i++) {
        const float gi = g[i];
        const float mi = k.a1 * m[i] + k.c1 * gi;
        const float vi = k.a2 * v[i] + k.c2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        x[i] = x[i] * k.decay - k.step * (mi / (sqrtf(vi) / k.sqrt_bc2 + k.eps));
    }
}

static void adamw_step(const gd_options *opts, const gd_optim_state *st,
                       const gd_optim_span *sp)
{
    const double b1 = gd_opt_num(opts, BETA1), b2 = gd_opt_num(opts, BETA2);
    const double tt = (double)(st->t > 0 ? st->t : 1);
    const consts k = {
        .a1 = (float)b1, .c1 = (float)(1.0 - b1),
        .a2 = (float)b2, .c2 = (float)(1.0 - b2),
        .decay = (float)(1.0 - st->lr * gd_opt_num(opts, WEIGHT_DECAY)),
        .step = (float)(st->lr / (1.0 - pow(b1, tt))),
        .sqrt_bc2 = (float)sqrt(1.0 - pow(b2, tt)),
        .eps = (float)gd_opt_num(opts, EPS),
    };
    update(sp->n, sp->x, sp->g, sp->slot[0], sp->slot[1], k);
}

/* Mean of lr/(sqrt(vh)+eps) over the span (the adaptive part; the decay is
 * the same lr*weight_decay for every weight); 0 for an empty span. */
static double adamw_effective_lr(const gd_options *opts, const gd_optim_state *st,
                                 const gd_optim_span *sp)
{
    if (sp->n <= 0)
        return 0.0;
    const double tt = (double)(st->t > 0 ? st->t : 1);
    const double bc2 = 1.0 - pow(gd_opt_num(opts, BETA2), tt);
    const double eps = gd_opt_num(opts, EPS);
    const float *v = sp->slot[1];
    double sum = 0.0;
    for (int64_t i = 0; i < sp->n; i++)
        sum += 1.0 / (sqrt((double)v[i] / bc2) + eps);
    return st->lr * sum / (double)sp->n;
}

static const gd_optimizer_vtable vtable = {
    .size = sizeof(gd_optimizer_vtable),
    .nslots = 2,
    .check = adamw_check,
    .step = adamw_step,
    .effective_lr = adamw_effective_lr,
};

static const gd_component adamw = {
    .size = sizeof(gd_component),
    .kind = GD_KIND_OPTIMIZER,
    .name = "adamw",
    .doc = "AdamW: W -= lr*weight_decay*W, then the Adam step (eps outside the sqrt)",
    .options = options,
    .noptions = GD_COUNT(options),
    .vt.optimizer = &vtable,
};

static const gd_component *const components[] = { &adamw };
GD_PLUGIN("adamw", "1.0", components)
