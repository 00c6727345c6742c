/*
 * lamb: layer-wise adaptive moments (You et al. 2019, v3 of the paper), per
 * tensor:
 *
 *     m = b1*m + (1-b1)*G;  v = b2*v + (1-b2)*G^2;  mh = m/(1-b1^t);  vh = v/(1-b2^t)
 *     r = mh/(sqrt(vh) + eps) + wd*W          (wd = 0 for rank 1 with exclude_1d)
 *     trust = |W|/|r| when both are > 0, else 1 (rank 1 with exclude_1d: 1)
 *     W -= lr*trust*r
 *
 * r needs the whole tensor before any W moves (its norm), so it is kept in
 * scratch between the two passes rather than recomputed.
 *
 * Slot 0: m. Slot 1: v.
 */
#include <gradus/gradus.h>

#include "tensor_math.h"

enum { LR, BETA1, BETA2, EPS, WEIGHT_DECAY, EXCLUDE_1D };

static const gd_option_spec options[] = {
    GD_OPT_NUMBER_MIN("lr", 1e-3, 0, "learning rate (the schedule scales it)"),
    GD_OPT_NUMBER_RANGE("beta1", 0.9, 0, 1, GD_OPT_MAX_OPEN, "decay of the first-moment EMA"),
    GD_OPT_NUMBER_RANGE("beta2", 0.999, 0, 1, GD_OPT_MAX_OPEN, "decay of the second-moment EMA"),
    GD_OPT_NUMBER_ABOVE("eps", 1e-6, 0, "added to sqrt(vh), avoids a division by zero"),
    GD_OPT_NUMBER_MIN("weight_decay", 0.01, 0, "decoupled decay inside the trust ratio"),
    GD_OPT_BOOL("exclude_1d", 0, "rank-1 tensors: no decay and trust = 1"),
};

static int64_t lamb_scratch(const gd_options *o, const gd_optim_tensor *t)
{
    (void)o;
    return t->numel;
}

static void lamb_step(const gd_options *o, const gd_optim_ctx *ctx, gd_optim_tensor *t)
{
    const double b1 = gd_opt_num(o, BETA1), b2 = gd_opt_num(o, BETA2);
    const int vec = gd_opt_bool(o, EXCLUDE_1D) && is_vector(t);
    const float wd = vec ? 0.0f : (float)gd_opt_num(o, WEIGHT_DECAY);
    const float a1 = (float)b1, c1 = (float)(1 - b1), a2 = (float)b2, c2 = (float)(1 - b2);
    /* the bias corrections as factors: one division per element, not three */
    const float ibc1 = (float)(1 / (1 - pow(b1, (double)ctx->t)));
    const float ibc2 = (float)(1 / (1 - pow(b2, (double)ctx->t)));
    const float eps = (float)gd_opt_num(o, EPS);
    float *x = t->x, *m = t->slot[0], *v = t->slot[1], *r = ctx->scratch;
    const float *g = t->g;
    for (int64_t i = 0; i < t->numel; i++) {
        m[i] = a1 * m[i] + c1 * g[i];
        v[i] = a2 * v[i] + c2 * g[i] * g[i];
        r[i] = (m[i] * ibc1) / (sqrtf(v[i] * ibc2) + eps) + wd * x[i];
    }
    float trust = 1.0f;
    if (!vec) {
        double wss, rss;
        sum_sq2(x, r, t->numel, &wss, &rss);
        const float wn = (float)sqrt(wss), rn = (float)sqrt(rss);
        if (wn > 0 && rn > 0)
            trust = wn / rn;
    }
    const float step = (float)ctx->lr * trust;
    for (int64_t i = 0; i < t->numel; i++)
        x[i] -= step * r[i];
}

static const gd_optimizer_vtable vtable = {
    .size = sizeof(gd_optimizer_vtable),
    .nslots = 2,
    .scratch_len = lamb_scratch,
    .step_tensor = lamb_step,
};

static const gd_component lamb = {
    .size = sizeof(gd_component),
    .kind = GD_KIND_OPTIMIZER,
    .name = "lamb",
    .doc = "LAMB: Adam direction plus decoupled decay, scaled per tensor by |W|/|r|",
    .options = options,
    .noptions = GD_COUNT(options),
    .vt.optimizer = &vtable,
};

static const gd_component *const components[] = { &lamb };
GD_PLUGIN("lamb", "1.0", components)
