/*
 * cli/check_loss.c: the conformance checks of losses.
 *
 * Predictions are [batch, 5]; targets are class indices (stored as floats)
 * or values of the prediction's shape, as the loss declares.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"

enum { COLS = 5 };

typedef struct batch {
    gd_tensor pred, target, grad;
} batch;

static batch make_batch(const ck_ctx *k, int64_t rows)
{
    batch b = { { ck_floats(rows * COLS), gd_shape_2(rows, COLS) },
                { NULL, gd_shape_1(rows) },
                { ck_floats(rows * COLS), gd_shape_2(rows, COLS) } };
    gd_rng rng = ck_rng(20);
    ck_fill_normal(b.pred.data, rows * COLS, &rng, 1.0);
    if (k->c->vt.loss->target == GD_TARGET_CLASS) {
        b.target.data = ck_floats(rows);
        for (int64_t i = 0; i < rows; i++)
            b.target.data[i] = (float)gd_rng_below(&rng, COLS);
    } else {
        b.target = (gd_tensor){ ck_floats(rows * COLS), gd_shape_2(rows, COLS) };
        ck_fill_normal(b.target.data, rows * COLS, &rng, 1.0);
    }
    return b;
}

static double value(const ck_ctx *k, batch *b, gd_tensor *grad)
{
    return k->c->vt.loss->forward(k->spec->options, &b->pred, &b->target, grad);
}

static int check_gradient(ck_ctx *k)
{
    batch b = make_batch(k, 4);
    double v = value(k, &b, &b.grad);
    if (!isfinite(v))
        return ck_fail(k, "the loss is %g on random predictions", v);
    const float h = 3e-3f;
    float *p = b.pred.data;
    for (int64_t i = 0; i < 4 * COLS; i++) {
        const float keep = p[i];
        p[i] = keep + h;
        double up = value(k, &b, NULL);
        p[i] = keep - h;
        double down = value(k, &b, NULL);
        p[i] = keep;
        double fd = (up - down) / (2.0 * h), an = b.grad.data[i];
        if (!(fabs(fd - an) <= 1e-3 + 1e-2 * fmax(fabs(fd), fabs(an))))
            return ck_fail(k, "dpred[%lld]: the loss's gradient is %.6g, finite differences "
                           "%.6g (a mean over the batch?)", (long long)i, an, fd);
    }
    return ck_pass(k, "loss %.4g; its gradient matches finite differences, batch 4", v);
}

static int check_without_grad(ck_ctx *k)
{
    batch b = make_batch(k, 4);
    double with = value(k, &b, &b.grad), without = value(k, &b, NULL), again = value(k, &b, NULL);
    if (with != without || without != again)
        return ck_fail(k, "the loss is %.17g with a gradient asked and %.17g, %.17g without",
                       with, without, again);
    return ck_pass(k, "the same value with and without a gradient, twice");
}

static int check_batch1(ck_ctx *k)
{
    batch b = make_batch(k, 1);
    double v = value(k, &b, &b.grad);
    if (!isfinite(v) || !ck_all_finite(b.grad.data, COLS))
        return ck_fail(k, "a batch of one gives loss %g or a non-finite gradient", v);
    return ck_pass(k, "loss %.4g and its gradient finite", v);
}

static int check_bounds(ck_ctx *k)
{
    const ck_guard modes[] = { CK_GUARD_END, CK_GUARD_START };
    for (int m = 0; m < 2; m++) {
        ck_guard_mode = modes[m];
        batch b = make_batch(k, 3);
        int64_t nt = gd_tensor_numel(&b.target);
        float *p0 = ck_floats(3 * COLS), *t0 = ck_floats(nt);
        memcpy(p0, b.pred.data, 3 * COLS * sizeof(float));
        memcpy(t0, b.target.data, (size_t)nt * sizeof(float));
        value(k, &b, &b.grad);
        value(k, &b, NULL);
        if (memcmp(p0, b.pred.data, 3 * COLS * sizeof(float)) ||
            memcmp(t0, b.target.data, (size_t)nt * sizeof(float)))
            return ck_fail(k, "changed its predictions or targets (they are read-only)");
    }
    if (ck_damaged() >= 0)
        return ck_fail(k, "wrote outside a tensor it was given (buffer %d)", ck_damaged());
    return ck_pass(k, "guard pages before and after pred, target and grad; inputs unchanged");
}

const ck_check ck_loss_checks[] = {
    { "gradient matches finite differences", check_gradient },
    { "value without a gradient", check_without_grad },
    { "a batch of one", check_batch1 },
    { "no reads or writes outside the given tensors", check_bounds },
};
const int ck_nloss_checks = (int)(sizeof ck_loss_checks / sizeof ck_loss_checks[0]);
