/*
 * sam: sharpness-aware minimization (Foret, Kleiner, Mobahi & Neyshabur
 * 2021), on one batch:
 *
 *     G = grad L(W);  n = |G| over all parameters together
 *     e = rho*G/(n + 1e-12);  G' = grad L(W + e)  (same batch, same masks)
 *     W = the saved W (a copy, not W + e - e);  the base optimizer steps W with G'
 *
 * It needs the whole model at once (one global norm, one second pass), so
 * it implements step_all and asks the core for the second gradient through
 * ctx->regrad. The reported loss is L(W), the first pass's. The scale
 * rho/(n + 1e-12) is formed first and multiplies G, as PyTorch's reference
 * implementation does.
 *
 * Slot 0: a copy of W taken before the perturbation (only live within a
 * step; zero between steps is as good).
 */
#include <gradus/gradus.h>

#include <string.h>

#include "tensor_math.h"

enum { RHO, BASE };

static const gd_option_spec options[] = {
    GD_OPT_NUMBER_MIN("rho", 0.05, 0, "radius of the perturbation"),
    GD_OPT_COMPONENT_OF("base", GD_KIND_OPTIMIZER, "sgd{lr=0.01}",
                        "the optimizer that steps W with the second gradient"),
};

static gd_status sam_step(const gd_options *o, const gd_optim_ctx *ctx, gd_optim_tensor *ts,
                          int n, gd_error *err)
{
    double total = 0;
    for (int i = 0; i < n; i++)
        total += sum_sq(ts[i].g, ts[i].numel);
    const float scale = (float)gd_opt_num(o, RHO) / ((float)sqrt(total) + 1e-12f);
    for (int i = 0; i < n; i++) {
        memcpy(ts[i].slot[0], ts[i].x, (size_t)ts[i].numel * sizeof(float));
        for (int64_t j = 0; j < ts[i].numel; j++)
            ts[i].x[j] += ts[i].g[j] * scale;
    }
    gd_status st = ctx->regrad(ctx, err);
    for (int i = 0; i < n; i++)
        memcpy(ts[i].x, ts[i].slot[0], (size_t)ts[i].numel * sizeof(float));
    if (st != GD_OK)
        return st;
    for (int i = 0; i < n; i++)
        ctx->inner_step(ctx, BASE, &ts[i]);
    return GD_OK;
}

static const gd_optimizer_vtable vtable = {
    .size = sizeof(gd_optimizer_vtable),
    .nslots = 1,
    .step_all = sam_step,
};

static const gd_component sam = {
    .size = sizeof(gd_component),
    .kind = GD_KIND_OPTIMIZER,
    .name = "sam",
    .doc = "SAM: the base optimizer steps with the gradient at W + rho*G/|G|",
    .options = options,
    .noptions = GD_COUNT(options),
    .vt.optimizer = &vtable,
};

static const gd_component *const components[] = { &sam };
GD_PLUGIN("sam", "1.0", components)
