/*
 * l2: weight decay as a penalty, lambda/2 * sum W^2, gradient lambda*W.
 *
 * The 1/2 makes the gradient lambda*W, so lambda here equals SGD's weight
 * decay coefficient (PyTorch's weight_decay). Choices:
 * - The penalty is a sum over possibly millions of weights: accumulated in
 *   double, rounded once.
 * - The gradient term is formed in float (float(lambda) * w), the same
 *   arithmetic as the float32 reference, then added to g.
 * - lambda has no neutral default worth hiding, so it is required.
 * The core's common option `to` chooses which parameters this applies to.
 */
#include <gradus/gradus.h>

enum { LAMBDA };

static const gd_option_spec options[] = {
    { .name = "lambda", .type = GD_OPT_NUMBER, .flags = GD_OPT_REQUIRED | GD_OPT_HAS_MIN,
      .min = 0, .doc = "strength: penalty lambda/2*sum(W^2), gradient lambda*W" },
};

static double l2_penalty(const gd_options *opts, int64_t n, const float *w)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += (double)w[i] * (double)w[i];
    return 0.5 * gd_opt_num(opts, LAMBDA) * s;
}

static void l2_add_grad(const gd_options *opts, int64_t n, const float *w, float *g)
{
    const float lambda = (float)gd_opt_num(opts, LAMBDA);
    for (int64_t i = 0; i < n; i++)
        g[i] += lambda * w[i];
}

static const gd_regularizer_vtable vtable = {
    .size = sizeof(gd_regularizer_vtable),
    .penalty = l2_penalty,
    .add_grad = l2_add_grad,
};

static const gd_component l2 = {
    .size = sizeof(gd_component),
    .kind = GD_KIND_REGULARIZER,
    .name = "l2",
    .doc = "L2 penalty lambda/2*sum(W^2) (weight decay): adds lambda*W to the gradient",
    .options = options,
    .noptions = GD_COUNT(options),
    .vt.regularizer = &vtable,
};

static const gd_component *const components[] = { &l2 };
GD_PLUGIN("l2", "1.0", components)
