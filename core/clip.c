/*
 * core/clip.c: gradient clipping, by global norm and by value.
 *
 * By norm: one global L2 norm over every gradient tensor; when c/(norm+1e-6)
 * is below 1, all tensors are scaled by it (PyTorch's clip_grad_norm_, with
 * its 1e-6 guard, so the reference values match). The norm is summed in
 * double: 235k squares in float would lose the small ones.
 */
#include <math.h>

#include "clip.h"

static double sum_squares(const float *g, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += (double)g[i] * g[i];
    return s;
}

double gd_clip_by_norm(float *const *g, const int64_t *n, int count, double max_norm,
                       bool *clipped)
{
    double total = 0;
    for (int k = 0; k < count; k++)
        total += sum_squares(g[k], n[k]);
    total = sqrt(total);
    double scale = max_norm / (total + 1e-6);
    bool clip = scale < 1.0;
    if (clip) {
        const float s = (float)scale;
        for (int k = 0; k < count; k++)
            for (int64_t i = 0; i < n[k]; i++)
                g[k][i] *= s;
    }
    if (clipped)
        *clipped = clip;
    return total;
}

double gd_clip_by_value(float *const *g, const int64_t *n, int count, double c, bool *clipped)
{
    double total = 0;
    const float hi = (float)c, lo = (float)-c;
    int64_t changed = 0;
    for (int k = 0; k < count; k++) {
        total += sum_squares(g[k], n[k]);
        float *restrict x = g[k];
        for (int64_t i = 0; i < n[k]; i++) {
            changed += x[i] > hi || x[i] < lo;
            x[i] = x[i] > hi ? hi : (x[i] < lo ? lo : x[i]);
        }
    }
    if (clipped)
        *clipped = changed > 0;
    return sqrt(total);
}
