/*
 * cross_entropy: softmax + negative log-likelihood on logits, mean over the
 * batch.
 *
 * For logits z [N, C] and 0-based class indices t [N] (stored as floats):
 *     loss = 1/N Σ_n ( log Σ_j e^(z_nj) − z_n,t_n )
 *     dloss/dz_nj = (softmax(z_n)_j − [j = t_n]) / N
 * The row maximum is subtracted before exponentiating (log-sum-exp), so
 * logits above ~88, where e^z overflows float32, work. The gradient is
 * written in the same pass over the row as the sum: e^(z − max) is stored in
 * grad first and normalized once the row's sum is known.
 *
 * Per position: logits [N, T, C] with targets [N, T] (any prediction whose
 * element count is a multiple of the targets') are N*T rows of C, and the
 * mean runs over all N*T rows, as a language model's loss does.
 *
 * Choices: sums are in double. A target that is not an integer in [0, C) is
 * not clamped (that would train silently on a wrong class): the loss is NaN
 * and so is that row's gradient, which the trainer reports as divergence.
 */
#include <math.h>

#include <gradus/gradus.h>

static double ce_forward(const gd_options *opts, const gd_tensor *pred, const gd_tensor *target,
                         gd_tensor *grad)
{
    (void)opts;
    /* One target per row: [N] for [N, C], [N, T] for [N, T, C]. */
    const int64_t n = gd_tensor_numel(target);
    const int64_t c = n ? gd_tensor_numel(pred) / n : 0;
    if (n == 0 || c == 0 || c * n != gd_tensor_numel(pred))
        return NAN;
    const double inv_n = 1.0 / (double)n;
    double total = 0;
    for (int64_t r = 0; r < n; r++) {
        const float *restrict z = pred->data + r * c;
        float *restrict g = grad ? grad->data + r * c : NULL;
        const float tf = target->data[r];
        const int valid = tf >= 0 && tf < (float)c && tf == floorf(tf);
        const int64_t t = valid ? (int64_t)tf : -1;
        float zmax = z[0];
        for (int64_t j = 1; j < c; j++)
            if (z[j] > zmax)
                zmax = z[j];
        double sum = 0;
        if (g) {
            for (int64_t j = 0; j < c; j++) {
                g[j] = expf(z[j] - zmax);
                sum += g[j];
            }
        } else {
            for (int64_t j = 0; j < c; j++)
                sum += expf(z[j] - zmax);
        }
        if (!valid) {
            total = NAN;
            if (g)
                for (int64_t j = 0; j < c; j++)
                    g[j] = NAN;
            continue;
        }
        total += log(sum) + (double)zmax - (double)z[t];
        if (g) {
            const float scale = (float)(inv_n / sum);
            for (int64_t j = 0; j < c; j++)
                g[j] *= scale;
            g[t] -= (float)inv_n;
        }
    }
    return total * inv_n;
}

static const gd_loss_vtable vtable = {
    .size = sizeof(gd_loss_vtable),
    .target = GD_TARGET_CLASS,
    .forward = ce_forward,
};

static const gd_component cross_entropy = {
    .size = sizeof(gd_component),
    .kind = GD_KIND_LOSS,
    .name = "cross_entropy",
    .doc = "softmax + negative log-likelihood on logits and class indices, mean over the batch (and positions)",
    .options = NULL,
    .noptions = 0,
    .vt.loss = &vtable,
};

static const gd_component *const components[] = { &cross_entropy };
GD_PLUGIN("cross_entropy", "1.0", components)
