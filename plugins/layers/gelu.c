/*
 * gelu: y = x*Phi(x), elementwise (Hendrycks & Gimpel 2016).
 *
 * approximate = "none": Phi is the normal CDF, 0.5*(1 + erf(x/sqrt(2))),
 *     dy/dx = Phi(x) + x*phi(x), phi the normal density.
 * approximate = "tanh": 0.5*x*(1 + tanh(u)), u = sqrt(2/pi)*(x + 0.044715x^3),
 *     dy/dx = 0.5*(1 + t) + 0.5*x*(1 - t^2)*sqrt(2/pi)*(1 + 3*0.044715x^2).
 * Both as torch.nn.functional.gelu. Backward recomputes from x (the core
 * keeps x), so nothing is stored. erf, exp and tanh are vec_math.h's
 * branch-free forms, which the compiler vectorizes (libm's are scalar calls
 * and made gelu a third of a transformer step); they agree with libm's to
 * ~1e-7, far inside the reference tolerance.
 */
#include <math.h>

#include "elementwise.h"
#include "vec_math.h"

static const char *const approximations[] = { "none", "tanh", NULL };

static const gd_option_spec options[] = {
    GD_OPT_CHOICE("approximate", "none", approximations,
                  "none (the exact normal CDF) or tanh (the tanh approximation)"),
};

#define SQRT_2_OVER_PI 0.7978845608028654f
#define INV_SQRT_2 0.7071067811865476f
#define INV_SQRT_2PI 0.3989422804014327f
#define GELU_C 0.044715f

static gd_status gelu_create(const gd_options *opts, const gd_shape *in, gd_layer_info *info,
                             void **self, gd_error *err)
{
    return elementwise_create("gelu", GD_ACT_NONE, (float)gd_opt_enum(opts, 0), in, info, self,
                              err);
}

static gd_status gelu_forward(void *self, const gd_layer_ctx *ctx, const gd_tensor *x,
                              gd_tensor *y, gd_error *err)
{
    (void)ctx, (void)err;
    const int64_t n = gd_tensor_numel(x);
    const float *restrict xs = x->data;
    float *restrict ys = y->data;
    if (elementwise_param(self) == 0.0f) {
        for (int64_t i = 0; i < n; i++)
            ys[i] = 0.5f * xs[i] * (1.0f + gm_erf(xs[i] * INV_SQRT_2));
    } else {
        for (int64_t i = 0; i < n; i++) {
            float v = xs[i];
            ys[i] = 0.5f * v * (1.0f + gm_tanh(SQRT_2_OVER_PI * (v + GELU_C * v * v * v)));
        }
    }
    return GD_OK;
}

static void gelu_backward(void *self, const gd_layer_ctx *ctx, const gd_tensor *x,
                          const gd_tensor *y, const gd_tensor *dy, gd_tensor *dx)
{
    (void)ctx, (void)y;
    if (!dx)
        return;
    const int64_t n = gd_tensor_numel(x);
    const float *restrict xs = x->data, *restrict g = dy->data;
    float *restrict out = dx->data;
    if (elementwise_param(self) == 0.0f) {
        for (int64_t i = 0; i < n; i++) {
            float v = xs[i];
            float cdf = 0.5f * (1.0f + gm_erf(v * INV_SQRT_2));
            out[i] = g[i] * (cdf + v * INV_SQRT_2PI * gm_exp(-0.5f * v * v));
        }
    } else {
        for (int64_t i = 0; i < n; i++) {
            float v = xs[i];
            float t = gm_tanh(SQRT_2_OVER_PI * (v + GELU_C * v * v * v));
            float du = SQRT_2_OVER_PI * (1.0f + 3.0f * GELU_C * v * v);
            out[i] = g[i] * (0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * du);
        }
    }
}

static const gd_layer_vtable vtable = {
    .size = sizeof(gd_layer_vtable),
    .create = gelu_create,
    .bind = elementwise_bind,
    .forward = gelu_forward,
    .backward = gelu_backward,
    .destroy = elementwise_destroy,
};

static const gd_component gelu_component = {
    .size = sizeof(gd_component),
    .kind = GD_KIND_LAYER,
    .name = "gelu",
    .doc = "Gaussian error linear unit x*Phi(x), elementwise (exact or tanh approximation)",
    .options = options,
    .noptions = GD_COUNT(options),
    .vt.layer = &vtable,
};

static const gd_component *const components[] = { &gelu_component };
GD_PLUGIN("gelu", "1.0", components)
