/*
 * lars: layer-wise adaptive rate scaling (You, Gitman & Ginsburg 2017), per
 * parameter tensor W with gradient G:
 *
 *     rank 1 with exclude_1d: local = 1, no weight decay
 *     else: G' = G + wd*W
 *           local = trust*|W| / (|G| + wd*|W| + eps)  when |W| > 0 and |G| > 0, else 1
 *     v = momentum*v + lr*local*G';  W -= v
 *
 * The trust ratio sits inside the momentum (as in the paper's Algorithm 1
 * and TENSOR_OPTIMIZERS.md) and uses |G| before decay. A tensor that starts
 * at 0 (a bias) or has a zero gradient gets local = 1 rather than 0/0.
 *
 * Slot 0: the velocity v.
 */
#include <gradus/gradus.h>

#include "tensor_math.h"

enum { LR, MOMENTUM, WEIGHT_DECAY, TRUST, EPS, EXCLUDE_1D };

static const gd_option_spec options[] = {
    GD_OPT_NUMBER_MIN("lr", 0.1, 0, "global learning rate (the schedule scales it)"),
    GD_OPT_NUMBER_RANGE("momentum", 0.9, 0, 1, GD_OPT_MAX_OPEN, "momentum coefficient"),
    GD_OPT_NUMBER_MIN("weight_decay", 0, 0, "L2 decay added to the gradient"),
    GD_OPT_NUMBER_MIN("trust", 0.001, 0, "trust coefficient of the layer-wise ratio"),
    GD_OPT_NUMBER_MIN("eps", 1e-8, 0, "added to the ratio's denominator"),
    GD_OPT_BOOL("exclude_1d", 1, "rank-1 tensors (biases, batch-norm) get local = 1, no decay"),
};

static void lars_step(const gd_options *o, const gd_optim_ctx *ctx, gd_optim_tensor *t)
{
    const int vec = gd_opt_bool(o, EXCLUDE_1D) && is_vector(t);
    const float wd = vec ? 0.0f : (float)gd_opt_num(o, WEIGHT_DECAY);
    float local = 1.0f;
    if (!vec) {
        double wss, gss;
        sum_sq2(t->x, t->g, t->numel, &wss, &gss);
        const float wn = (float)sqrt(wss), gn = (float)sqrt(gss);
        if (wn > 0 && gn > 0)
            local = (float)gd_opt_num(o, TRUST) * wn /
                    (gn + wd * wn + (float)gd_opt_num(o, EPS));
    }
    const float mom = (float)gd_opt_num(o, MOMENTUM), step = (float)ctx->lr * local;
    float *x = t->x, *v = t->slot[0];
    const float *g = t->g;
    for (int64_t i = 0; i < t->numel; i++) {
        v[i] = mom * v[i] + step * (g[i] + wd * x[i]);
        x[i] -= v[i];
    }
}

static const gd_optimizer_vtable vtable = {
    .size = sizeof(gd_optimizer_vtable),
    .nslots = 1,
    .step_tensor = lars_step,
};

static const gd_component lars = {
    .size = sizeof(gd_component),
    .kind = GD_KIND_OPTIMIZER,
    .name = "lars",
    .doc = "LARS: momentum SGD with a per-tensor trust ratio trust*|W|/(|G|+wd*|W|+eps)",
    .options = options,
    .noptions = GD_COUNT(options),
    .vt.optimizer = &vtable,
};

static const gd_component *const components[] = { &lars };
GD_PLUGIN("lars", "1.0", components)
