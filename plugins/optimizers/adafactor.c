/*
 * adafactor: factored second moments (Shazeer & Stern 2018, Algorithms 4
 * and 5; no relative step size, no first moment).
 *
 *     rho_t = 1 - t^(-decay)                         (rho_1 = 0)
 *     [r, c] matrix: Q = G^2 + eps1
 *                    R = rho*R + (1-rho)*rowmean(Q);  C = rho*C + (1-rho)*colmean(Q)
 *                    Vh[i,j] = (R[i]/mean(R)) * C[j]
 *     otherwise:     Vh = v = rho*v + (1-rho)*(G^2 + eps1)
 *     U = G/sqrt(Vh);  U /= max(1, RMS(U)/clip);  W -= lr*U
 *
 * Choices:
 * - (R[i]/mean(R))*C[j] in that order: R[i]*C[j] first is about 1e-60 for a
 *   zero gradient (R, C ~ eps1 = 1e-30) and underflows to 0 in float32.
 * - Where Vh is 0 anyway the gradient is 0 too (Q >= eps1 > 0 until it
 *   underflows); U is taken as 0 there, not 0/0: W does not move.
 * - Row and column means and RMS(U) are summed in double.
 *
 * Slot 0: R then C (r + c floats) for a matrix, v (numel) otherwise. Rank
 * 2 and higher are factored, a higher rank as the matrix [dim0, numel/dim0]
 * (a conv2d W [filters, C, kh, kw] as [filters, C*kh*kw]); rank 0 and 1
 * take the unfactored path.
 */
#include <gradus/gradus.h>

#include "tensor_math.h"

enum { LR, DECAY, EPS1, CLIP };

static const gd_option_spec options[] = {
    GD_OPT_NUMBER_MIN("lr", 1e-2, 0, "learning rate (the schedule scales it)"),
    GD_OPT_NUMBER_MIN("decay", 0.8, 0, "rho_t = 1 - t^(-decay)"),
    GD_OPT_NUMBER_ABOVE("eps1", 1e-30, 0, "added to G^2 before averaging"),
    GD_OPT_NUMBER_ABOVE("clip", 1.0, 0, "update clipping threshold d: U /= max(1, RMS(U)/d)"),
};

/* Rank >= 2: factored over the matrix [dim0, numel/dim0] (a conv2d W
 * [filters, C, kh, kw] as [filters, C*kh*kw]). */
static int factored(const gd_optim_tensor *t)
{
    int64_t r, c;
    return as_matrix(t, &r, &c);
}

static int64_t adafactor_slot(const gd_options *o, const gd_optim_tensor *t, int k,
                              gd_slot_init *init)
{
    (void)o, (void)k;
    *init = GD_SLOT_ZERO;
    int64_t r = 0, c = 0;
    return as_matrix(t, &r, &c) ? r + c : t->numel;
}

static int64_t adafactor_scratch(const gd_options *o, const gd_optim_tensor *t)
{
    (void)o;
    return t->numel;
}

/* Vh into u for an [r, c] matrix, from R and C updated with rho. */
static void factored_vh(const gd_optim_tensor *t, float rho, float eps1, float *u)
{
    int64_t r = 0, c = 0;
    as_matrix(t, &r, &c);
    float *R = t->slot[0], *C = t->slot[0] + r;
    const float *g = t->g;
    double rsum = 0;
    for (int64_t i = 0; i < r; i++) {
        double s = 0;
        for (int64_t j = 0; j < c; j++)
            s += (double)(g[i * c + j] * g[i * c + j] + eps1);
        R[i] = rho * R[i] + (1 - rho) * (float)(s / (double)c);
        rsum += R[i];
    }
    for (int64_t j = 0; j < c; j++) {
        double s = 0;
        for (int64_t i = 0; i < r; i++)
            s += (double)(g[i * c + j] * g[i * c + j] + eps1);
        C[j] = rho * C[j] + (1 - rho) * (float)(s / (double)r);
    }
    const float rmean = (float)(rsum / (double)r);
    for (int64_t i = 0; i < r; i++)
        for (int64_t j = 0; j < c; j++)
            u[i * c + j] = (R[i] / rmean) * C[j];
}

static void adafactor_step(const gd_options *o, const gd_optim_ctx *ctx, gd_optim_tensor *t)
{
    const float rho = (float)(1.0 - pow((double)ctx->t, -gd_opt_num(o, DECAY)));
    const float eps1 = (float)gd_opt_num(o, EPS1);
    float *u = ctx->scratch, *x = t->x;
    const float *g = t->g;
    if (factored(t)) {
        factored_vh(t, rho, eps1, u);
    } else {
        float *v = t->slot[0];
        for (int64_t i = 0; i < t->numel; i++)
            u[i] = v[i] = rho * v[i] + (1 - rho) * (g[i] * g[i] + eps1);
    }
    for (int64_t i = 0; i < t->numel; i++)
        u[i] = u[i] > 0 ? g[i] / sqrtf(u[i]) : 0.0f;
    const double rms = sqrt(sum_sq(u, t->numel) / (double)(t->numel ? t->numel : 1));
    const double d = rms / gd_opt_num(o, CLIP);
    const float step = (float)(ctx->lr / (d > 1 ? d : 1));
    for (int64_t i = 0; i < t->numel; i++)
        x[i] -= step * u[i];
}

static const gd_optimizer_vtable vtable = {
    .size = sizeof(gd_optimizer_vtable),
    .nslots = 1,
    .slot_len = adafactor_slot,
    .scratch_len = adafactor_scratch,
    .step_tensor = adafactor_step,
};

static const gd_component adafactor = {
    .size = sizeof(gd_component),
    .kind = GD_KIND_OPTIMIZER,
    .name = "adafactor",
    .doc = "Adafactor: row and column second moments for matrices, update clipping",
    .options = options,
    .noptions = GD_COUNT(options),
    .vt.optimizer = &vtable,
};

static const gd_component *const components[] = { &adafactor };
GD_PLUGIN("adafactor", "1.0", components)
