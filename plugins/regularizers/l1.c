/*
 * l1: lasso penalty, lambda * sum |W|, (sub)gradient lambda*sign(W).
 *
 * Drives weights to exactly zero (sparsity), unlike L2. |w| has no
 * derivative at 0; the subgradient 0 is taken there (sign(0) = 0, as
 * PyTorch's sign), so a weight that sits at 0 is not pushed off it.
 * Choices: the penalty is accumulated in double; the gradient term is the
 * float lambda with the sign applied, as in the float32 reference; lambda is
 * required. The core's common option `to` chooses the parameters.
 */
#include <math.h>

#include <gradus/gradus.h>

enum { LAMBDA };

static const gd_option_spec options[] = {
    { .name = "lambda", .type = GD_OPT_NUMBER, .flags = GD_OPT_REQUIRED | GD_OPT_HAS_MIN,
      .min = 0, .doc = "strength: penalty lambda*sum|W|, gradient lambda*sign(W)" },
};

static double l1_penalty(const gd_options *opts, int64_t n, const float *w)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += fabs((double)w[i]);
    return gd_opt_num(opts, LAMBDA) * s;
}

static void l1_add_grad(const gd_options *opts, int64_t n, const float *w, float *g)
{
    const float lambda = (float)gd_opt_num(opts, LAMBDA);
    for (int64_t i = 0; i < n; i++)
        g[i] += w[i] > 0 ? lambda : w[i] < 0 ? -lambda : 0.0f;
}

static const gd_regularizer_vtable vtable = {
    .size = sizeof(gd_regularizer_vtable),
    .penalty = l1_penalty,
    .add_grad = l1_add_grad,
};

static const gd_component l1 = {
    .size = sizeof(gd_component),
    .kind = GD_KIND_REGULARIZER,
    .name = "l1",
    .doc = "L1 penalty lambda*sum|W| (sparsity): adds lambda*sign(W) to the gradient",
    .options = options,
    .noptions = GD_COUNT(options),
    .vt.regularizer = &vtable,
};

static const gd_component *const components[] = { &l1 };
GD_PLUGIN("l1", "1.0", components)
