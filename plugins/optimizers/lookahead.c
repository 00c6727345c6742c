/*
 * lookahead: slow and fast weights (Zhang, Lucas, Hinton & Ba 2019).
 *
 *     every update: the inner optimizer steps W (the fast weights)
 *     after update t with t mod k = 0:  S = S + alpha*(W - S);  W = S
 *
 * S (the slow weights) starts as a copy of the parameters. The inner
 * optimizer keeps its state across syncs (no reset), as in the paper's
 * reference code.
 *
 * Slot 0: the slow weights S (copy-initialized).
 */
#include <gradus/gradus.h>

enum { K, ALPHA, INNER };

static const gd_option_spec options[] = {
    GD_OPT_INTEGER_MIN("k", 5, 1, "inner updates between syncs"),
    GD_OPT_NUMBER_RANGE("alpha", 0.5, 0, 1, 0, "step of the slow weights toward the fast ones"),
    GD_OPT_COMPONENT_OF("inner", GD_KIND_OPTIMIZER, "sgd{lr=0.01}",
                        "the optimizer that steps the fast weights"),
};

static int64_t lookahead_slot(const gd_options *o, const gd_optim_tensor *t, int k,
                              gd_slot_init *init)
{
    (void)o, (void)k;
    *init = GD_SLOT_COPY;
    return t->numel;
}

static void lookahead_step(const gd_options *o, const gd_optim_ctx *ctx, gd_optim_tensor *t)
{
    ctx->inner_step(ctx, INNER, t);
    if (ctx->t % gd_opt_int(o, K) != 0)
        return;
    const float alpha = (float)gd_opt_num(o, ALPHA);
    float *s = t->slot[0], *x = t->x;
    for (int64_t i = 0; i < t->numel; i++) {
        s[i] += alpha * (x[i] - s[i]);
        x[i] = s[i];
    }
}

static const gd_optimizer_vtable vtable = {
    .size = sizeof(gd_optimizer_vtable),
    .nslots = 1,
    .slot_len = lookahead_slot,
    .step_tensor = lookahead_step,
};

static const gd_component lookahead = {
    .size = sizeof(gd_component),
    .kind = GD_KIND_OPTIMIZER,
    .name = "lookahead",
    .doc = "Lookahead: an inner optimizer on fast weights, slow weights synced every k steps",
    .options = options,
    .noptions = GD_COUNT(options),
    .vt.optimizer = &vtable,
};

static const gd_component *const components[] = { &lookahead };
GD_PLUGIN("lookahead", "1.0", components)
