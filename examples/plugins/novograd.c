/*
 * novograd: the tensor-aware half of the PLUGINS.md walk-through,
 * `gradus new optimizer novograd --tensor` with its step rewritten
 * (Ginsburg et al. 2019, "Stochastic Gradient Methods with Layer-wise
 * Adaptive Moments"). Per tensor W with gradient G:
 *
 *     v = |G|^2 at t = 1, then v = beta2*v + (1-beta2)*|G|^2   (one number per tensor)
 *     m = beta1*m + G/(sqrt(v) + eps) + wd*W
 *     W -= lr*m
 *
 * The second moment is one number per tensor, not per weight: slot 0 has
 * length 1 (novograd_slot_len), slot 1 (m) one float per weight. The norm
 * is summed in double.
 *
 * Build, check and use (PLUGINS.md has the whole story):
 *   cc -shared -fPIC $(pkg-config --cflags gradus) novograd.c -o novograd.so
 *   gradus check ./novograd.so
 *   gradus -l ./novograd.so run scripts/new_optimizer.lua novograd
 */
#include <math.h>

#include <gradus/gradus.h>

enum { LR, BETA1, BETA2, EPS, WEIGHT_DECAY };

static const gd_option_spec options[] = {
    GD_OPT_NUMBER_MIN("lr", 0.01, 0, "learning rate (the schedule scales it)"),
    GD_OPT_NUMBER_RANGE("beta1", 0.95, 0, 1, GD_OPT_MAX_OPEN, "decay of the first moment"),
    GD_OPT_NUMBER_RANGE("beta2", 0.98, 0, 1, GD_OPT_MAX_OPEN, "decay of the per-tensor second moment"),
    { .name = "eps", .type = GD_OPT_NUMBER, .flags = GD_OPT_HAS_MIN | GD_OPT_MIN_OPEN,
      .def = 1e-8, .min = 0, .doc = "added to sqrt(v): a zero gradient stays finite" },
    GD_OPT_NUMBER_MIN("weight_decay", 0, 0, "decay added to the normalized gradient"),
};

/* Slot 0: v, one number per tensor. Slot 1: m, one per weight. */
static int64_t novograd_slot_len(const gd_options *o, const gd_optim_tensor *t, int k,
                                 gd_slot_init *init)
{
    (void)o;
    *init = GD_SLOT_ZERO;
    return k == 0 ? 1 : t->numel;
}

static void novograd_step(const gd_options *o, const gd_optim_ctx *ctx, gd_optim_tensor *t)
{
    const double b2 = gd_opt_num(o, BETA2);
    double gg = 0;
    for (int64_t i = 0; i < t->numel; i++)
        gg += (double)t->g[i] * t->g[i];
    float *v = t->slot[0], *m = t->slot[1], *x = t->x;
    v[0] = ctx->t == 1 ? (float)gg : (float)(b2 * v[0] + (1 - b2) * gg);
    const float inv = (float)(1.0 / (sqrt((double)v[0]) + gd_opt_num(o, EPS)));
    const float b1 = (float)gd_opt_num(o, BETA1), wd = (float)gd_opt_num(o, WEIGHT_DECAY);
    const float lr = (float)ctx->lr;
    for (int64_t i = 0; i < t->numel; i++) {
        m[i] = b1 * m[i] + t->g[i] * inv + wd * x[i];
        x[i] -= lr * m[i];
    }
}

static const gd_optimizer_vtable vtable = {
    .size = sizeof(gd_optimizer_vtable),
    .nslots = 2,
    .slot_len = novograd_slot_len,
    .step_tensor = novograd_step,   /* and .step NULL: tensor-aware */
};

static const gd_component component = {
    .size = sizeof(gd_component),
    .kind = GD_KIND_OPTIMIZER,
    .name = "novograd",
    .doc = "NovoGrad: per-tensor second moment v of |G|^2; m = beta1*m + G/(sqrt(v)+eps) + wd*W; "
           "W -= lr*m",
    .options = options,
    .noptions = GD_COUNT(options),
    .vt.optimizer = &vtable,
};

static const gd_component *const components[] = { &component };
GD_PLUGIN("novograd", "1.0", components)
