/*
 * cli/check_layer.c: the conformance checks of layers and losses.
 *
 * A layer is created, bound and run as the core does it: parameters,
 * gradients, buffers and scratch in memory the check owns, the core's sgemm
 * as host, a batch dimension in front of the per-sample shape. Gradients are
 * checked against central finite differences of L = sum(y * r) for a random
 * r (or a one-sided one where a kink lies within the step), in training mode, with the layer's random stream restarted before each
 * forward so dropout draws the same mask every time.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "model.h"
#include "host.h"

enum { BATCH = 3 };

typedef struct inst {
    const gd_layer_vtable *vt;
    void *self;
    gd_layer_info info;
    gd_shape in;
    float *params[GD_MAX_LAYER_PARAMS], *grads[GD_MAX_LAYER_PARAMS];
    float *buffers[GD_MAX_LAYER_BUFFERS], *scratch;
} inst;

/* Per-sample input shapes tried, in order: a vector, a sequence, a small
 * image, then two images [C, H, W] of random sizes (C 1..3, H and W 4..8,
 * from the check's fixed stream, so a failure is reproducible) for layers
 * that need room for a kernel or a window. */
enum { NSHAPES = 5 };
static gd_shape shapes[NSHAPES] = { { 1, { 5, 0, 0, 0 } }, { 2, { 2, 3, 0, 0 } },
                                    { 3, { 2, 2, 3, 0 } } };

static void random_images(void)
{
    gd_rng rng = ck_rng(16);
    for (int s = 3; s < NSHAPES; s++)
        shapes[s] = (gd_shape){ 3, { 1 + (int64_t)(gd_rng_uniform(&rng) * 3),
                                     4 + (int64_t)(gd_rng_uniform(&rng) * 5),
                                     4 + (int64_t)(gd_rng_uniform(&rng) * 5), 0 } };
}

/* "[5], [2, 3], [2, 2, 3], [3, 5, 7], [1, 8, 4]" */
static const char *shapes_text(char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = 0;
    for (int s = 0; s < NSHAPES && used < len; s++) {
        used += (size_t)snprintf(buf + used, len - used, "%s[", s ? ", " : "");
        for (int d = 0; d < shapes[s].ndim && used < len; d++)
            used += (size_t)snprintf(buf + used, len - used, "%s%lld", d ? ", " : "",
                                     (long long)shapes[s].dim[d]);
        if (used < len)
            used += (size_t)snprintf(buf + used, len - used, "]");
    }
    return buf;
}

static int valid_shape(const gd_shape *s)
{
    if (s->ndim < 0 || s->ndim > GD_MAX_DIMS - 1)
        return 0;
    for (int i = 0; i < s->ndim; i++)
        if (s->dim[i] < 1)
            return 0;
    return 1;
}

/* Create and bind on `in`; 0 with err set when the layer refuses it or
 * fills its info wrongly. */
static int make(const ck_ctx *k, const gd_shape *in, inst *L, gd_error *err)
{
    memset(L, 0, sizeof *L);
    L->vt = k->c->vt.layer;
    L->in = *in;
    L->info.size = sizeof L->info;
    if (L->vt->create(k->spec->options, in, &L->info, &L->self, err) != GD_OK)
        return 0;
    const gd_layer_info *f = &L->info;
    if (!valid_shape(&f->out) || f->nparams < 0 || f->nparams > GD_MAX_LAYER_PARAMS ||
        f->nbuffers < 0 || f->nbuffers > GD_MAX_LAYER_BUFFERS || f->scratch_per_sample < 0 ||
        f->scratch_fixed < 0) {
        gd_fail(err, GD_EINVAL, "create filled gd_layer_info wrongly (output shape, counts "
                "or scratch out of range)");
        return 0;
    }
    gd_rng rng = ck_rng(10);
    for (int p = 0; p < f->nparams; p++) {
        int64_t n = gd_shape_numel(&f->params[p].shape);
        L->params[p] = ck_floats(n);
        L->grads[p] = ck_floats(n);
        ck_fill_normal(L->params[p], n, &rng, 0.5);
    }
    for (int b = 0; b < f->nbuffers; b++) {
        L->buffers[b] = ck_floats(f->buffers[b].numel);
        for (int64_t i = 0; i < f->buffers[b].numel; i++)
            L->buffers[b][i] = f->buffers[b].init_value;
    }
    L->scratch = ck_floats(f->scratch_per_sample * BATCH + f->scratch_fixed);
    L->vt->bind(L->self, L->params, L->grads, L->buffers);
    return 1;
}

/* The first input shape the layer accepts (its index), or -1. */
static int make_any(ck_ctx *k, inst *L)
{
    gd_error err = { "" };
    char tried[160];
    random_images();
    for (int s = 0; s < NSHAPES; s++)
        if (make(k, &shapes[s], L, &err))
            return s;
    ck_fail(k, "refuses every input shape tried (%s): %s", shapes_text(tried, sizeof tried),
            err.msg);
    return -1;
}

static gd_tensor batched(float *data, const gd_shape *s, int64_t batch)
{
    gd_tensor t = { data, { s->ndim + 1, { batch, 0, 0, 0 } } };
    for (int i = 0; i < s->ndim; i++)
        t.shape.dim[i + 1] = s->dim[i];
    return t;
}

static gd_layer_ctx layer_ctx(inst *L, int training, gd_rng *rng)
{
    *rng = ck_rng(11);   /* the same stream at every forward */
    return (gd_layer_ctx){ .size = sizeof(gd_layer_ctx), .host = gd_core_host(),
                           .training = training, .rng = rng, .scratch = L->scratch };
}

/* The layer's input: token ids below info.input_ids (ABI 1.2) for a layer
 * that takes ids, else normal numbers. */
static void fill_input(const inst *L, float *x, int64_t n, gd_rng *rng)
{
    int64_t ids = GD_HAS_MEMBER(&L->info, gd_layer_info, input_ids) ? L->info.input_ids : 0;
    if (ids <= 0) {
        ck_fill_normal(x, n, rng, 1.0);
        return;
    }
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)gd_rng_below(rng, (uint64_t)ids);
}

static int forward(inst *L, int training, float *x, float *y, int64_t batch, gd_error *err)
{
    gd_rng rng;
    gd_layer_ctx ctx = layer_ctx(L, training, &rng);
    gd_tensor tx = batched(x, &L->in, batch), ty = batched(y, &L->info.out, batch);
    return L->vt->forward(L->self, &ctx, &tx, &ty, err) == GD_OK;
}

static void backward(inst *L, float *x, float *y, float *dy, float *dx, int64_t batch)
{
    gd_rng rng;
    gd_layer_ctx ctx = layer_ctx(L, 1, &rng);
    gd_tensor tx = batched(x, &L->in, batch), ty = batched(y, &L->info.out, batch);
    gd_tensor tdy = batched(dy, &L->info.out, batch), tdx = batched(dx, &L->in, batch);
    L->vt->backward(L->self, &ctx, &tx, &ty, &tdy, dx ? &tdx : NULL);
}

/* ---------------------------------------------------------------------------
 * Gradients
 * ------------------------------------------------------------------------- */

typedef struct fd_case {
    inst *L;
    float *x, *y, *r;
    int64_t nx, ny;
} fd_case;

static double objective(fd_case *c)
{
    gd_error err;
    if (!forward(c->L, 1, c->x, c->y, BATCH, &err))
        return NAN;
    double s = 0;
    for (int64_t i = 0; i < c->ny; i++)
        s += (double)c->y[i] * c->r[i];
    return s;
}

static int agrees(double fd, double an)
{
    return fabs(fd - an) <= 2e-3 + 1e-2 * fmax(fabs(fd), fabs(an));
}

/* Compare an analytic gradient with central differences of the objective
 * in the n floats at v; 0 with the detail on the first disagreement. */
static int compare_fd(ck_ctx *k, fd_case *c, float *v, const float *analytic, int64_t n,
                      const char *what)
{
    const float h = 3e-3f;
    for (int64_t i = 0; i < n; i++) {
        const float keep = v[i];
        v[i] = keep + h;
        double up = objective(c);
        v[i] = keep - h;
        double down = objective(c);
        v[i] = keep;
        double fd = (up - down) / (2.0 * h), an = analytic[i];
        if (agrees(fd, an))
            continue;
        /* A kink (ReLU, a max) within h of the point: the side without it
         * gives the gradient backward computed. */
        double mid = objective(c);
        if (agrees((up - mid) / h, an) || agrees((mid - down) / h, an))
            continue;
        return ck_fail(k, "%s[%lld]: backward gives %.6g, finite differences %.6g", what,
                       (long long)i, an, fd);
    }
    return 1;
}

static int gradient_on(ck_ctx *k, const gd_shape *in, int *checked)
{
    inst L;
    gd_error err;
    if (!make(k, in, &L, &err))
        return 1;   /* not every layer takes every shape */
    int64_t nx = gd_shape_numel(in) * BATCH, ny = gd_shape_numel(&L.info.out) * BATCH;
    fd_case c = { &L, ck_floats(nx), ck_floats(ny), ck_floats(ny), nx, ny };
    float *dx = ck_floats(nx);
    gd_rng rng = ck_rng(12);
    fill_input(&L, c.x, nx, &rng);
    ck_fill_normal(c.r, ny, &rng, 1.0);
    if (!forward(&L, 1, c.x, c.y, BATCH, &err))
        return ck_fail(k, "forward failed: %s", err.msg);
    backward(&L, c.x, c.y, c.r, dx, BATCH);
    /* token ids have no gradient to compare */
    if (!(L.info.input_ids > 0) && !compare_fd(k, &c, c.x, dx, nx, "dx"))
        return 0;
    for (int p = 0; p < L.info.nparams; p++) {
        int64_t n = gd_shape_numel(&L.info.params[p].shape);
        if (!compare_fd(k, &c, L.params[p], L.grads[p], n, L.info.params[p].name))
            return 0;
    }
    (*checked)++;
    return 1;
}

static int check_gradient(ck_ctx *k)
{
    int checked = 0;
    char tried[160];
    random_images();
    for (int s = 0; s < NSHAPES; s++)
        if (!gradient_on(k, &shapes[s], &checked))
            return 0;
    if (!checked)
        return ck_fail(k, "refuses every input shape tried (%s)", shapes_text(tried, sizeof tried));
    return ck_pass(k, "dx and every parameter's gradient match finite differences on %d of "
                   "the input shapes %s, batch %d", checked, shapes_text(tried, sizeof tried),
                   BATCH);
}

/* ---------------------------------------------------------------------------
 * Modes, a batch of one, bounds
 * ------------------------------------------------------------------------- */

static int check_modes(ck_ctx *k)
{
    inst L;
    gd_error err;
    if (make_any(k, &L) < 0)
        return 0;
    int64_t in = gd_shape_numel(&L.in), out = gd_shape_numel(&L.info.out);
    float *x = ck_floats(in * BATCH), *y = ck_floats(out * BATCH), *y2 = ck_floats(out * BATCH);
    gd_rng rng = ck_rng(13);
    fill_input(&L, x, in * BATCH, &rng);
    if (!forward(&L, 1, x, y, BATCH, &err) || !ck_all_finite(y, out * BATCH))
        return ck_fail(k, "training-mode forward failed or gave a non-finite output");
    if (!forward(&L, 0, x, y, BATCH, &err) || !forward(&L, 0, x, y2, BATCH, &err))
        return ck_fail(k, "evaluation-mode forward failed: %s", err.msg);
    if (memcmp(y, y2, (size_t)(out * BATCH) * sizeof(float)))
        return ck_fail(k, "two evaluation-mode forwards of the same batch differ");
    for (int b = 0; b < BATCH; b++) {
        if (!forward(&L, 0, x + b * in, y2, 1, &err))
            return ck_fail(k, "evaluation-mode forward of one sample failed: %s", err.msg);
        for (int64_t i = 0; i < out; i++)
            if (!(fabsf(y2[i] - y[b * out + i]) <= 1e-5f * (1 + fabsf(y[b * out + i]))))
                return ck_fail(k, "in evaluation mode, sample %d gives %g alone and %g in a "
                               "batch of %d: samples must not depend on each other", b,
                               (double)y2[i], (double)y[b * out + i], BATCH);
    }
    return ck_pass(k, "training finite; evaluation deterministic, each sample independent of "
                   "the batch");
}

static int check_batch1(ck_ctx *k)
{
    inst L;
    gd_error err;
    if (make_any(k, &L) < 0)
        return 0;
    int64_t in = gd_shape_numel(&L.in), out = gd_shape_numel(&L.info.out);
    float *x = ck_floats(in), *y = ck_floats(out), *dy = ck_floats(out), *dx = ck_floats(in);
    gd_rng rng = ck_rng(14);
    fill_input(&L, x, in, &rng);
    ck_fill_normal(dy, out, &rng, 1.0);
    for (int training = 1; training >= 0; training--)
        if (!forward(&L, training, x, y, 1, &err) || !ck_all_finite(y, out))
            return ck_fail(k, "%s-mode forward of a batch of one failed or is not finite",
                           training ? "training" : "evaluation");
    forward(&L, 1, x, y, 1, &err);
    backward(&L, x, y, dy, dx, 1);
    if (!ck_all_finite(dx, in))
        return ck_fail(k, "backward of a batch of one gives a non-finite dx");
    for (int p = 0; p < L.info.nparams; p++)
        if (!ck_all_finite(L.grads[p], gd_shape_numel(&L.info.params[p].shape)))
            return ck_fail(k, "backward of a batch of one gives a non-finite '%s' gradient",
                           L.info.params[p].name);
    return ck_pass(k, "forward in both modes and backward finite");
}

static int bounds_run(ck_ctx *k, ck_guard mode)
{
    inst L;
    gd_error err;
    ck_guard_mode = mode;
    if (make_any(k, &L) < 0)
        return 0;
    int64_t nx = gd_shape_numel(&L.in) * BATCH, ny = gd_shape_numel(&L.info.out) * BATCH;
    float *x = ck_floats(nx), *y = ck_floats(ny), *dy = ck_floats(ny), *dx = ck_floats(nx);
    float *x0 = ck_floats(nx), *dy0 = ck_floats(ny);
    gd_rng rng = ck_rng(15);
    fill_input(&L, x, nx, &rng);
    ck_fill_normal(dy, ny, &rng, 1.0);
    memcpy(x0, x, (size_t)nx * sizeof(float));
    memcpy(dy0, dy, (size_t)ny * sizeof(float));
    forward(&L, 1, x, y, BATCH, &err);
    backward(&L, x, y, dy, dx, BATCH);
    backward(&L, x, y, dy, NULL, BATCH);
    forward(&L, 0, x, y, BATCH, &err);
    if (memcmp(x, x0, (size_t)nx * sizeof(float)) || memcmp(dy, dy0, (size_t)ny * sizeof(float)))
        return ck_fail(k, "changed its input x or dy (they are read-only)");
    return 1;
}

static int check_bounds(ck_ctx *k)
{
    if (!bounds_run(k, CK_GUARD_END) || !bounds_run(k, CK_GUARD_START))
        return 0;
    if (ck_damaged() >= 0)
        return ck_fail(k, "wrote outside a tensor it was given (a canary beside buffer %d is "
                       "overwritten)", ck_damaged());
    return ck_pass(k, "guard pages before and after every tensor, parameter and scratch; "
                   "inputs unchanged");
}

const ck_check ck_layer_checks[] = {
    { "gradients match finite differences", check_gradient },
    { "training vs evaluation mode", check_modes },
    { "a batch of one", check_batch1 },
    { "no reads or writes outside the given tensors", check_bounds },
};
const int ck_nlayer_checks = (int)(sizeof ck_layer_checks / sizeof ck_layer_checks[0]);
