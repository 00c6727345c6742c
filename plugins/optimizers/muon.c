/*
 * muon: momentum orthogonalized by Newton-Schulz (Jordan et al. 2024), for
 * a W seen as the matrix [r, c] (rank 2 as it is; a conv2d W [filters, C,
 * kh, kw] as [filters, C*kh*kw], tensor_math.h's as_matrix):
 *
 *     B = momentum*B + G;  M = G + momentum*B (nesterov) or B
 *     X = M/(|M| + 1e-7);  on X^T when r > c
 *     ns_steps times: A = X X^T;  P = b*A + c*A*A;  X = a*X + P X
 *         (a, b, c) = (3.4445, -4.7750, 2.0315)
 *     W -= lr*sqrt(max(1, r/c))*X
 *
 * Every tensor of rank 0 or 1 (biases, batch-norm) is updated by the
 * `fallback` optimizer, with its own options, slots, lr and step count
 * (default adam{lr=3e-4}). Matrix products go through the host's sgemm, the
 * BLAS the dense layers use.
 *
 * Choices: working on X^T when r > c keeps A at min(r, c) squared (the
 * iteration is p(X X^T) X either way); the result is transposed back into
 * scratch before W moves.
 *
 * Slot 0: the momentum buffer B.
 */
#include <gradus/gradus.h>

#include "tensor_math.h"

enum { LR, MOMENTUM, NESTEROV, NS_STEPS, FALLBACK };

static const gd_option_spec options[] = {
    GD_OPT_NUMBER_MIN("lr", 0.02, 0, "learning rate of the matrices (the schedule scales it)"),
    GD_OPT_NUMBER_RANGE("momentum", 0.95, 0, 1, GD_OPT_MAX_OPEN, "momentum coefficient"),
    GD_OPT_BOOL("nesterov", 1, "orthogonalize G + momentum*B instead of B"),
    GD_OPT_INTEGER_MIN("ns_steps", 5, 0, "Newton-Schulz iterations"),
    GD_OPT_COMPONENT_OF("fallback", GD_KIND_OPTIMIZER, "adam{lr=3e-4}",
                        "optimizer for every tensor of rank 0 or 1"),
};

static const float NS_A = 3.4445f, NS_B = -4.7750f, NS_C = 2.0315f;

static int64_t muon_scratch(const gd_options *o, const gd_optim_tensor *t)
{
    (void)o;
    int64_t r, c;
    if (!as_matrix(t, &r, &c))
        return 0;
    const int64_t m = r < c ? r : c;   /* rows of the matrix iterated on */
    return 3 * t->numel + 2 * m * m;   /* X, X', M; A, P */
}

/* X [m, n] <- p(X X^T) X, ns times; y and a, p are scratch. Returns where
 * the result is (x or y). */
static float *newton_schulz(const gd_host *h, int m, int n, int64_t ns, float *x, float *y,
                            float *a, float *p)
{
    for (int64_t s = 0; s < ns; s++) {
        h->sgemm(0, 1, m, m, n, 1.0f, x, n, x, n, 0.0f, a, m);          /* A = X X^T */
        h->sgemm(0, 0, m, m, m, NS_C, a, m, a, m, 0.0f, p, m);          /* P = c A A */
        for (int64_t i = 0; i < (int64_t)m * m; i++)
            p[i] += NS_B * a[i];                                       /* P += b A */
        for (int64_t i = 0; i < (int64_t)m * n; i++)
            y[i] = NS_A * x[i];
        h->sgemm(0, 0, m, n, m, 1.0f, p, m, x, n, 1.0f, y, n);          /* Y = a X + P X */
        float *t = x;
        x = y;
        y = t;
    }
    return x;
}

static void muon_step(const gd_options *o, const gd_optim_ctx *ctx, gd_optim_tensor *t)
{
    int64_t r, c;
    if (!as_matrix(t, &r, &c)) {
        ctx->inner_step(ctx, FALLBACK, t);
        return;
    }
    const int64_t n = t->numel, m = r < c ? r : c;
    const float mom = (float)gd_opt_num(o, MOMENTUM);
    const int nesterov = gd_opt_bool(o, NESTEROV);
    float *b = t->slot[0], *x = ctx->scratch, *y = x + n, *mm = y + n, *a = mm + n;
    float *p = a + m * m;
    for (int64_t i = 0; i < n; i++) {
        b[i] = mom * b[i] + t->g[i];
        mm[i] = nesterov ? t->g[i] + mom * b[i] : b[i];
    }
    const float scale = 1.0f / (norm2(mm, n) + 1e-7f);
    /* X is [m, n/m]: M itself, or M^T when r > c. */
    for (int64_t i = 0; i < r; i++)
        for (int64_t j = 0; j < c; j++)
            x[r > c ? j * r + i : i * c + j] = mm[i * c + j] * scale;
    float *res = newton_schulz(ctx->host, (int)m, (int)(n / m), gd_opt_int(o, NS_STEPS), x, y,
                               a, p);
    const float step = (float)(ctx->lr * sqrt(r > c ? (double)r / (double)c : 1.0));
    for (int64_t i = 0; i < r; i++)
        for (int64_t j = 0; j < c; j++)
            t->x[i * c + j] -= step * res[r > c ? j * r + i : i * c + j];
}

static const gd_optimizer_vtable vtable = {
    .size = sizeof(gd_optimizer_vtable),
    .nslots = 1,
    .scratch_len = muon_scratch,
    .step_tensor = muon_step,
};

static const gd_component muon = {
    .size = sizeof(gd_component),
    .kind = GD_KIND_OPTIMIZER,
    .name = "muon",
    .doc = "Muon: Newton-Schulz-orthogonalized momentum for matrices, a fallback for the rest",
    .options = options,
    .noptions = GD_COUNT(options),
    .vt.optimizer = &vtable,
};

static const gd_component *const components[] = { &muon };
GD_PLUGIN("muon", "1.0", components)
