/*
 * cli/new_templates.h: the skeletons `gradus new KIND NAME` writes, one per
 * kind, with @N@ standing for NAME. Each is a small working component (the
 * test suite compiles every one with -Wall -Wextra -Werror and passes it
 * through `gradus check`), commented where a new one differs.
 */
#ifndef GRADUS_CLI_NEW_TEMPLATES_H
#define GRADUS_CLI_NEW_TEMPLATES_H

/* The file's head, shared by every kind. */
#define NEW_HEAD(what)                                                                   \
    "/*\n"                                                                               \
    " * @N@: " what "\n"                                                                 \
    " *\n"                                                                               \
    " * Build, check and use (PLUGINS.md has the whole story):\n"                          \
    " *   cc -shared -fPIC $(pkg-config --cflags gradus) @N@.c -o @N@.so\n"             \
    " *   gradus check ./@N@.so\n"                                                      \
    " *   gradus -l ./@N@.so doc @N@\n"                                                 \
    " *\n"                                                                               \
    " * Everything is static but the entry point (GD_PLUGIN, at the end). Nothing\n"     \
    " * here may print, exit or abort: fallible calls return a gd_status with a\n"       \
    " * one-line message (gd_fail). The core owns every tensor it hands over.\n"         \
    " */\n"                                                                              \
    "#include <math.h>\n"                                                                \
    "#include <stdlib.h>\n"                                                              \
    "\n"                                                                                 \
    "#include <gradus/gradus.h>\n"                                                       \
    "\n"

/* The descriptor and entry point, shared by every kind. */
#define NEW_TAIL(kind, member, doc)                                                      \
    "static const gd_component component = {\n"                                          \
    "    .size = sizeof(gd_component),\n"                                                \
    "    .kind = " kind ",\n"                                                            \
    "    .name = \"@N@\",   /* lowercase identifier: gd.<kind>.@N@ in Lua */\n"         \
    "    .doc = \"" doc "\",   /* one line, shown by gradus list */\n"                   \
    "    .options = options,\n"                                                          \
    "    .noptions = GD_COUNT(options),\n"                                               \
    "    .vt." member " = &vtable,\n"                                                    \
    "};\n"                                                                               \
    "\n"                                                                                 \
    "static const gd_component *const components[] = { &component };\n"                 \
    "GD_PLUGIN(\"@N@\", \"0.1\", components)\n"

static const char new_optimizer[] =
    NEW_HEAD("an elementwise optimizer (here: SGD with momentum; put your rule in @N@_step).")
    "/* Options, in the order of this enum. The core checks what the user\n"
    " * writes against the table (type, range) and hands over typed values. */\n"
    "enum { LR, MOMENTUM };\n"
    "\n"
    "static const gd_option_spec options[] = {\n"
    "    GD_OPT_NUMBER_MIN(\"lr\", 0.01, 0, \"learning rate (the schedule scales it)\"),\n"
    "    GD_OPT_NUMBER_RANGE(\"momentum\", 0.9, 0, 1, GD_OPT_MAX_OPEN, \"velocity decay\"),\n"
    "};\n"
    "\n"
    "/* One update of one span. The core may cut an update into spans anywhere\n"
    " * and step them on several threads: make each element's update depend on\n"
    " * that element only. sp->slot[0..nslots) are yours, one float per weight,\n"
    " * zeroed at the start and saved in checkpoints; st->t counts from 1. */\n"
    "static void @N@_step(const gd_options *o, const gd_optim_state *st, const gd_optim_span *sp)\n"
    "{\n"
    "    const float lr = (float)st->lr, mu = (float)gd_opt_num(o, MOMENTUM);\n"
    "    float *x = sp->x, *v = sp->slot[0];\n"
    "    const float *g = sp->g;\n"
    "    for (int64_t i = 0; i < sp->n; i++) {\n"
    "        v[i] = mu * v[i] + g[i];\n"
    "        x[i] -= lr * v[i];\n"
    "    }\n"
    "}\n"
    "\n"
    "static const gd_optimizer_vtable vtable = {\n"
    "    .size = sizeof(gd_optimizer_vtable),\n"
    "    .nslots = 1,   /* v: state arrays, one float per weight (at most 4) */\n"
    "    .step = @N@_step,\n"
    "};\n"
    "\n"
    NEW_TAIL("GD_KIND_OPTIMIZER", "optimizer", "SGD with momentum: v = mu*v + g; W -= lr*v");

static const char new_layer[] =
    NEW_HEAD("a layer (here: a learned scale per channel: on an image\n"
             " * [C, H, W] one s[c] for each of the C channels, on [n] one per feature).")
    "enum { INIT };\n"
    "\n"
    "static const gd_option_spec options[] = {\n"
    "    GD_OPT_NUMBER_ANY(\"init\", 1, \"starting value of every scale\"),\n"
    "};\n"
    "\n"
    "/* The instance: what create allocates and destroy frees. */\n"
    "typedef struct @N@ {\n"
    "    int64_t c;          /* channels (features on [n]) */\n"
    "    int64_t hw;         /* values per channel and sample: H*W, or 1 */\n"
    "    float *s, *ds;      /* the parameter and its gradient: the core's memory */\n"
    "} @N@;\n"
    "\n"
    "/* Check the per-sample input shape (no batch dimension: [n], [T, d] or\n"
    " * [C, H, W], channels first), describe the output and parameters. Refuse\n"
    " * a shape you cannot take with a message naming it. */\n"
    "static gd_status @N@_create(const gd_options *o, const gd_shape *in, gd_layer_info *info,\n"
    "                            void **self, gd_error *err)\n"
    "{\n"
    "    if (in->ndim == 2)\n"
    "        return gd_fail(err, GD_EINVAL, \"@N@: takes [n] or [C, H, W], got [%lld, %lld]\",\n"
    "                       (long long)in->dim[0], (long long)in->dim[1]);\n"
    "    @N@ *l = calloc(1, sizeof *l);\n"
    "    if (!l)\n"
    "        return gd_fail(err, GD_ENOMEM, \"@N@: out of memory\");\n"
    "    l->c = in->ndim == 3 ? in->dim[0] : gd_shape_numel(in);\n"
    "    l->hw = in->ndim == 3 ? in->dim[1] * in->dim[2] : 1;\n"
    "    info->out = *in;   /* the output shape: here the input's */\n"
    "    info->nparams = 1;\n"
    "    info->params[0] = (gd_param_info){ .name = \"scale\", .role = GD_ROLE_SCALE,\n"
    "        .shape = gd_shape_1(l->c), .fan_in = 1, .fan_out = 1,\n"
    "        .init_value = (float)gd_opt_num(o, INIT) };\n"
    "    *self = l;\n"
    "    return GD_OK;\n"
    "}\n"
    "\n"
    "/* The core's memory for the parameters, in the order of info->params. */\n"
    "static void @N@_bind(void *self, float *const *params, float *const *grads,\n"
    "                     float *const *buffers)\n"
    "{\n"
    "    (void)buffers;\n"
    "    @N@ *l = self;\n"
    "    l->s = params[0];\n"
    "    l->ds = grads[0];\n"
    "}\n"
    "\n"
    "/* x is [batch, in...], y [batch, out...], both the core's, row-major:\n"
    " * value (b, c, k) of an image batch is at (b * C + c) * H*W + k. */\n"
    "static gd_status @N@_forward(void *self, const gd_layer_ctx *ctx, const gd_tensor *x,\n"
    "                             gd_tensor *y, gd_error *err)\n"
    "{\n"
    "    (void)ctx, (void)err;\n"
    "    const @N@ *l = self;\n"
    "    for (int64_t b = 0; b < gd_tensor_rows(x); b++)\n"
    "        for (int64_t c = 0; c < l->c; c++)\n"
    "            for (int64_t k = 0; k < l->hw; k++) {\n"
    "                const int64_t j = (b * l->c + c) * l->hw + k;\n"
    "                y->data[j] = x->data[j] * l->s[c];\n"
    "            }\n"
    "    return GD_OK;\n"
    "}\n"
    "\n"
    "/* ADD dL/ds into the gradient memory; write dL/dx unless dx is NULL. */\n"
    "static void @N@_backward(void *self, const gd_layer_ctx *ctx, const gd_tensor *x,\n"
    "                         const gd_tensor *y, const gd_tensor *dy, gd_tensor *dx)\n"
    "{\n"
    "    (void)ctx, (void)y;\n"
    "    @N@ *l = self;\n"
    "    for (int64_t b = 0; b < gd_tensor_rows(x); b++)\n"
    "        for (int64_t c = 0; c < l->c; c++)\n"
    "            for (int64_t k = 0; k < l->hw; k++) {\n"
    "                const int64_t j = (b * l->c + c) * l->hw + k;\n"
    "                l->ds[c] += dy->data[j] * x->data[j];\n"
    "                if (dx)\n"
    "                    dx->data[j] = dy->data[j] * l->s[c];\n"
    "            }\n"
    "}\n"
    "\n"
    "static void @N@_destroy(void *self)\n"
    "{\n"
    "    free(self);\n"
    "}\n"
    "\n"
    "static const gd_layer_vtable vtable = {\n"
    "    .size = sizeof(gd_layer_vtable),\n"
    "    .create = @N@_create,\n"
    "    .bind = @N@_bind,\n"
    "    .forward = @N@_forward,\n"
    "    .backward = @N@_backward,\n"
    "    .destroy = @N@_destroy,\n"
    "};\n"
    "\n"
    NEW_TAIL("GD_KIND_LAYER", "layer", "learned scale per channel (per feature on [n]): y = x*s");

static const char new_loss[] =
    NEW_HEAD("a loss (here: half the mean squared error, scaled).")
    "enum { SCALE };\n"
    "\n"
    "static const gd_option_spec options[] = {\n"
    "    GD_OPT_NUMBER_MIN(\"scale\", 1, 0, \"factor on the loss\"),\n"
    "};\n"
    "\n"
    "/* The mean over the batch; with grad not NULL also dLoss/dpred. */\n"
    "static double @N@_forward(const gd_options *o, const gd_tensor *pred,\n"
    "                          const gd_tensor *target, gd_tensor *grad)\n"
    "{\n"
    "    const double k = gd_opt_num(o, SCALE) / (double)gd_tensor_rows(pred);\n"
    "    double sum = 0;\n"
    "    for (int64_t i = 0; i < gd_tensor_numel(pred); i++) {\n"
    "        const double d = (double)pred->data[i] - target->data[i];\n"
    "        sum += 0.5 * d * d;\n"
    "        if (grad)\n"
    "            grad->data[i] = (float)(k * d);\n"
    "    }\n"
    "    return k * sum;\n"
    "}\n"
    "\n"
    "static const gd_loss_vtable vtable = {\n"
    "    .size = sizeof(gd_loss_vtable),\n"
    "    .target = GD_TARGET_VALUE,   /* or GD_TARGET_CLASS: [batch] class indices */\n"
    "    .forward = @N@_forward,\n"
    "};\n"
    "\n"
    NEW_TAIL("GD_KIND_LOSS", "loss", "half the mean squared error times scale");

static const char new_scheduler[] =
    NEW_HEAD("a learning-rate schedule (here: linear decay to a fraction).")
    "enum { FINAL };\n"
    "\n"
    "static const gd_option_spec options[] = {\n"
    "    GD_OPT_NUMBER_RANGE(\"final\", 0.1, 0, 1, 0, \"lr at the end, as a fraction of lr0\"),\n"
    "};\n"
    "\n"
    "/* lr at update t = 0, 1, ...: a pure function of its arguments. horizon is\n"
    " * the run's number of updates, or -1 when unknown (then: constant). */\n"
    "static double @N@_lr(const gd_options *o, int64_t t, double lr0, int64_t horizon)\n"
    "{\n"
    "    if (horizon <= 0)\n"
    "        return lr0;\n"
    "    const double f = gd_opt_num(o, FINAL), p = t < horizon ? (double)t / horizon : 1;\n"
    "    return lr0 * (1 - (1 - f) * p);\n"
    "}\n"
    "\n"
    "static const gd_scheduler_vtable vtable = {\n"
    "    .size = sizeof(gd_scheduler_vtable),\n"
    "    .lr = @N@_lr,\n"
    "};\n"
    "\n"
    NEW_TAIL("GD_KIND_SCHEDULER", "scheduler", "linear decay from lr0 to final*lr0 over the run");

static const char new_regularizer[] =
    NEW_HEAD("a regularizer (here: an L2 penalty, lambda/2 * sum w^2).")
    "enum { LAMBDA };\n"
    "\n"
    "static const gd_option_spec options[] = {\n"
    "    GD_OPT_NUMBER_MIN(\"lambda\", 1e-4, 0, \"strength\"),\n"
    "};\n"
    "\n"
    "static double @N@_penalty(const gd_options *o, int64_t n, const float *w)\n"
    "{\n"
    "    double sum = 0;\n"
    "    for (int64_t i = 0; i < n; i++)\n"
    "        sum += (double)w[i] * w[i];\n"
    "    return 0.5 * gd_opt_num(o, LAMBDA) * sum;\n"
    "}\n"
    "\n"
    "/* ADD the penalty's gradient to g (it holds the loss's). */\n"
    "static void @N@_add_grad(const gd_options *o, int64_t n, const float *w, float *g)\n"
    "{\n"
    "    const float lambda = (float)gd_opt_num(o, LAMBDA);\n"
    "    for (int64_t i = 0; i < n; i++)\n"
    "        g[i] += lambda * w[i];\n"
    "}\n"
    "\n"
    "static const gd_regularizer_vtable vtable = {\n"
    "    .size = sizeof(gd_regularizer_vtable),\n"
    "    .penalty = @N@_penalty,\n"
    "    .add_grad = @N@_add_grad,\n"
    "};\n"
    "\n"
    NEW_TAIL("GD_KIND_REGULARIZER", "regularizer", "L2 penalty lambda/2*sum(w^2)");

static const char new_initializer[] =
    NEW_HEAD("an initializer (here: uniform, scaled by 1/sqrt(fan_in)).")
    "enum { GAIN };\n"
    "\n"
    "static const gd_option_spec options[] = {\n"
    "    GD_OPT_NUMBER_MIN(\"gain\", 1, 0, \"factor on the scale\"),\n"
    "};\n"
    "\n"
    "/* Fill n numbers; draw only from rng (the run's seed decides them). */\n"
    "static gd_status @N@_fill(const gd_options *o, float *x, int64_t n, int64_t fan_in,\n"
    "                          int64_t fan_out, gd_rng *rng, gd_error *err)\n"
    "{\n"
    "    (void)fan_out;\n"
    "    if (fan_in < 1)\n"
    "        return gd_fail(err, GD_EINVAL, \"@N@: fan_in must be >= 1, got %lld\",\n"
    "                       (long long)fan_in);\n"
    "    const double a = gd_opt_num(o, GAIN) * sqrt(3.0 / (double)fan_in);\n"
    "    for (int64_t i = 0; i < n; i++)\n"
    "        x[i] = (float)(a * (2 * gd_rng_uniform(rng) - 1));\n"
    "    return GD_OK;\n"
    "}\n"
    "\n"
    "static const gd_initializer_vtable vtable = {\n"
    "    .size = sizeof(gd_initializer_vtable),\n"
    "    .fill = @N@_fill,\n"
    "};\n"
    "\n"
    NEW_TAIL("GD_KIND_INITIALIZER", "initializer", "uniform in +-gain*sqrt(3/fan_in)");

#if GD_ABI_MINOR >= 1
static const char new_tensor_optimizer[] =
    NEW_HEAD("a tensor-aware optimizer (ABI 1.1; here: momentum with a per-tensor trust\n"
             " * ratio, LARS without weight decay; put your rule in @N@_step).")
    "enum { LR, MOMENTUM, TRUST };\n"
    "\n"
    "static const gd_option_spec options[] = {\n"
    "    GD_OPT_NUMBER_MIN(\"lr\", 0.01, 0, \"learning rate (the schedule scales it)\"),\n"
    "    GD_OPT_NUMBER_RANGE(\"momentum\", 0.9, 0, 1, GD_OPT_MAX_OPEN, \"velocity decay\"),\n"
    "    GD_OPT_NUMBER_MIN(\"trust\", 1, 0, \"a matrix's step length relative to lr*|W|\"),\n"
    "};\n"
    "\n"
    "/* (optional) Floats of slot k for tensor t and how it starts (zeroed, or\n"
    " * GD_SLOT_COPY: a copy of the weights). Without it: t->numel, zeroed.\n"
    " * t->x and t->g are NULL here; t->shape and t->role are set. */\n"
    "static int64_t @N@_slot_len(const gd_options *o, const gd_optim_tensor *t, int k,\n"
    "                            gd_slot_init *init)\n"
    "{\n"
    "    (void)o, (void)k;\n"
    "    *init = GD_SLOT_ZERO;\n"
    "    return t->numel;   /* v */\n"
    "}\n"
    "\n"
    "/* One update of one whole tensor: t->shape (rank t->shape.ndim; a dense\n"
    " * weight is [out, in]), t->role, t->x updated in place from t->g. The core\n"
    " * may step different tensors on different threads: touch only t's own\n"
    " * slots. ctx->lr is this update's rate, ctx->t counts from 1, ctx->host->sgemm\n"
    " * multiplies matrices, ctx->scratch holds scratch_len floats (not kept). */\n"
    "static void @N@_step(const gd_options *o, const gd_optim_ctx *ctx, gd_optim_tensor *t)\n"
    "{\n"
    "    const float mu = (float)gd_opt_num(o, MOMENTUM);\n"
    "    float *x = t->x, *v = t->slot[0];\n"
    "    const float *g = t->g;\n"
    "    double wn = 0, vn = 0;   /* squared norms, summed in double */\n"
    "    for (int64_t i = 0; i < t->numel; i++) {\n"
    "        v[i] = mu * v[i] + g[i];\n"
    "        wn += (double)x[i] * x[i];\n"
    "        vn += (double)v[i] * v[i];\n"
    "    }\n"
    "    /* Matrices step by trust*|W| along v/|v|; vectors (biases) and a\n"
    "     * tensor at 0 take a plain momentum step. */\n"
    "    double scale = ctx->lr;\n"
    "    if (t->shape.ndim >= 2 && wn > 0 && vn > 0)\n"
    "        scale *= gd_opt_num(o, TRUST) * sqrt(wn / vn);\n"
    "    for (int64_t i = 0; i < t->numel; i++)\n"
    "        x[i] -= (float)scale * v[i];\n"
    "}\n"
    "\n"
    "static const gd_optimizer_vtable vtable = {\n"
    "    .size = sizeof(gd_optimizer_vtable),\n"
    "    .nslots = 1,                 /* v, sized by @N@_slot_len */\n"
    "    .slot_len = @N@_slot_len,\n"
    "    .step_tensor = @N@_step,     /* and .step NULL: that makes it tensor-aware */\n"
    "};\n"
    "\n"
    NEW_TAIL("GD_KIND_OPTIMIZER", "optimizer",
             "momentum with a per-tensor trust ratio: W -= lr*trust*|W|/|v|*v for matrices");
#endif

#endif
