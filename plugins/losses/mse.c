/*
 * mse: mean squared error over all elements.
 *
 *     loss = 1/M Σ_i (pred_i − target_i)²,   dloss/dpred_i = 2 (pred_i − target_i) / M
 * with M the number of elements (batch × outputs), as PyTorch's MSELoss with
 * reduction "mean". The difference is taken in float, as the gradient
 * uses it, whether or not a gradient is asked for (so the value does not depend
 * on it), and the sum is accumulated in double.
 */
#include <math.h>

#include <gradus/gradus.h>

static double mse_forward(const gd_options *opts, const gd_tensor *pred, const gd_tensor *target,
                          gd_tensor *grad)
{
    (void)opts;
    const int64_t m = gd_tensor_numel(pred);
    if (m == 0 || gd_tensor_numel(target) != m)
        return NAN;
    const float *restrict p = pred->data, *restrict t = target->data;
    const float scale = (float)(2.0 / (double)m);
    double sum = 0;
    if (grad) {
        float *restrict g = grad->data;
        for (int64_t i = 0; i < m; i++) {
            float d = p[i] - t[i];
            sum += (double)d * d;
            g[i] = scale * d;
        }
    } else {
        for (int64_t i = 0; i < m; i++) {
            float d = p[i] - t[i];
            sum += (double)d * d;
        }
    }
    return sum / (double)m;
}

static const gd_loss_vtable vtable = {
    .size = sizeof(gd_loss_vtable),
    .target = GD_TARGET_VALUE,
    .forward = mse_forward,
};

static const gd_component mse = {
    .size = sizeof(gd_component),
    .kind = GD_KIND_LOSS,
    .name = "mse",
    .doc = "mean squared error over all elements",
    .options = NULL,
    .noptions = 0,
    .vt.loss = &vtable,
};

static const gd_component *const components[] = { &mse };
GD_PLUGIN("mse", "1.0", components)
