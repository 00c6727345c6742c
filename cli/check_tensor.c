/*
 * cli/check_tensor.c: the conformance checks of tensor-aware and composite
 * optimizers (ABI 1.1: step_tensor or step_all, `step` NULL).
 *
 * The optimizer is driven as the core drives it: a model of whole tensors
 * (a matrix and a vector), each with its own slots sized by slot_len and
 * started by its rule, per-tensor scratch of scratch_len floats, t from 1,
 * and for composites the inner optimizers (options of kind optimizer) as
 * instances of their own, with their own slots and state, stepped through
 * ctx->inner_step. regrad recomputes the problem's gradient at the current
 * weights. Results that must match are compared bit for bit.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "model.h"
#include "host.h"

#if GD_ABI_MINOR >= 1

enum { MAXT = 4, MAXOPT = 16 };

typedef struct model model;
typedef double (*objective_fn)(model *m);

/* One optimizer of the tree, over every tensor of the model. */
typedef struct inst {
    const gd_component *c;
    const gd_options *o;
    double lr_option;                     /* its own `lr`, or NAN */
    int64_t t;
    double *scalars;
    float *slot[MAXT][GD_MAX_OPTIM_SLOTS];
    int64_t slot_len[MAXT][GD_MAX_OPTIM_SLOTS];
    float *scratch[MAXT];
    struct inst *inner[MAXOPT];
} inst;

struct model {
    int n;
    gd_shape shape[MAXT];
    float *x[MAXT], *g[MAXT];
    double factor;                        /* the schedule's lr_t / lr_0 */
    objective_fn f;
    int reverse;                          /* step tensors last to first */
    inst *top;
};

/* The core's view of a tensor of m for optimizer i. */
static gd_optim_tensor view(const model *m, const inst *in, int k)
{
    gd_optim_tensor t = { .size = sizeof t, .x = m->x[k], .g = m->g[k],
                          .numel = gd_shape_numel(&m->shape[k]), .shape = m->shape[k],
                          .role = m->shape[k].ndim == 1 ? GD_ROLE_BIAS : GD_ROLE_WEIGHT,
                          .layer = "check", .name = m->shape[k].ndim == 1 ? "bias" : "weight",
                          .index = k };
    for (int s = 0; s < GD_MAX_OPTIM_SLOTS; s++) {
        t.slot[s] = in ? in->slot[k][s] : NULL;
        t.slot_len[s] = in ? in->slot_len[k][s] : 0;
    }
    return t;
}

static double own_lr(const gd_component *c, const gd_options *o)
{
    int i = ck_option(c, "lr");
    return i >= 0 && c->options[i].type == GD_OPT_NUMBER ? gd_opt_num(o, i) : NAN;
}

static int is_tensor_aware(const gd_optimizer_vtable *vt)
{
    return !vt->step && (vt->step_tensor || vt->step_all);
}

/* An optimizer of the tree with its slots (zeroed or copied from the
 * weights), scratch and inner optimizers. NULL on a bad slot_len. */
static inst *inst_new(const model *m, const gd_spec *spec, char *why, size_t len)
{
    inst *in = (inst *)ck_doubles((int64_t)(sizeof(inst) / sizeof(double) + 1));
    const gd_optimizer_vtable *vt = spec->component->vt.optimizer;
    in->c = spec->component;
    in->o = spec->options;
    in->lr_option = own_lr(in->c, in->o);
    in->scalars = ck_doubles(vt->nscalars);
    for (int k = 0; k < m->n; k++) {
        gd_optim_tensor t = view(m, NULL, k);
        t.x = NULL, t.g = NULL;
        for (int s = 0; s < vt->nslots; s++) {
            gd_slot_init init = GD_SLOT_ZERO;
            int64_t n = is_tensor_aware(vt) && vt->slot_len ? vt->slot_len(in->o, &t, s, &init)
                                                             : t.numel;
            if (n < 0 || n > 64 * t.numel + 4096 || (init == GD_SLOT_COPY && n != t.numel) ||
                (init != GD_SLOT_ZERO && init != GD_SLOT_COPY)) {
                snprintf(why, len, "%s: slot_len gives %lld floats (rule %d) for slot %d of a "
                         "tensor of %lld: want >= 0, and numel for a copy", in->c->name,
                         (long long)n, (int)init, s, (long long)t.numel);
                return NULL;
            }
            in->slot[k][s] = ck_floats(n);
            in->slot_len[k][s] = n;
            if (init == GD_SLOT_COPY)
                memcpy(in->slot[k][s], m->x[k], (size_t)n * sizeof(float));
        }
        int64_t sn = is_tensor_aware(vt) && vt->scratch_len ? vt->scratch_len(in->o, &t) : 0;
        in->scratch[k] = ck_floats(sn > 0 ? sn : 0);
    }
    for (int i = 0; i < in->c->noptions && i < MAXOPT; i++) {
        const gd_option_spec *os = &in->c->options[i];
        if (os->type != GD_OPT_COMPONENT || os->kind != GD_KIND_OPTIMIZER ||
            !gd_opt_present(in->o, i) || !gd_opt_spec(in->o, i))
            continue;
        if (!(in->inner[i] = inst_new(m, gd_opt_spec(in->o, i), why, len)))
            return NULL;
    }
    return in;
}

/* This optimizer's lr for the update: its own lr times the schedule's
 * factor; without one, the first inner optimizer's, else the top's rate. */
static double inst_lr(const inst *in, double top_lr, double factor)
{
    if (!isnan(in->lr_option))
        return in->lr_option * factor;
    for (int i = 0; i < MAXOPT; i++)
        if (in->inner[i])
            return inst_lr(in->inner[i], top_lr, factor);
    return top_lr;
}

typedef struct core_ref {
    model *m;
    inst *in;
} core_ref;

static void inner_step(const gd_optim_ctx *ctx, int option, const gd_optim_tensor *t);
static gd_status regrad(const gd_optim_ctx *ctx, gd_error *err);

static gd_optim_ctx make_ctx(core_ref *ref, int64_t t)
{
    inst *in = ref->in;
    return (gd_optim_ctx){ .size = sizeof(gd_optim_ctx), .host = gd_core_host(),
                           .lr = inst_lr(in, 1e-3 * ref->m->factor, ref->m->factor), .t = t,
                           .scalars = in->scalars, .inner_step = inner_step, .regrad = regrad,
                           .core = ref };
}

/* One optimizer's update of tensor k, on x and g as given. */
static void step_one(model *m, inst *in, int k, float *x, const float *g, int64_t t)
{
    const gd_optimizer_vtable *vt = in->c->vt.optimizer;
    core_ref ref = { m, in };
    gd_optim_ctx ctx = make_ctx(&ref, t);
    if (!is_tensor_aware(vt)) {
        gd_optim_state st = { ctx.lr, t, in->scalars };
        gd_optim_span sp = { gd_shape_numel(&m->shape[k]), x, g, { 0 } };
        memcpy(sp.slot, in->slot[k], sizeof sp.slot);
        vt->step(in->o, &st, &sp);
        return;
    }
    gd_optim_tensor tv = view(m, in, k);
    tv.x = x, tv.g = g;
    ctx.scratch = in->scratch[k];
    vt->step_tensor(in->o, &ctx, &tv);
}

static void inner_step(const gd_optim_ctx *ctx, int option, const gd_optim_tensor *t)
{
    core_ref *ref = ctx->core;
    if (option < 0 || option >= MAXOPT || !ref->in->inner[option])
        return;
    inst *inner = ref->in->inner[option];
    inner->t = ctx->t;   /* once per outer update */
    step_one(ref->m, inner, t->index, t->x, t->g, inner->t);
}

static gd_status regrad(const gd_optim_ctx *ctx, gd_error *err)
{
    core_ref *ref = ctx->core;
    double f = ref->m->f(ref->m);
    return isfinite(f) ? GD_OK : gd_fail(err, GD_ENUMERIC, "check: f is not finite");
}

/* One update of the whole model by the top optimizer. */
static gd_status update(model *m, gd_error *err)
{
    inst *in = m->top;
    const gd_optimizer_vtable *vt = in->c->vt.optimizer;
    in->t++;
    if (vt->step_all) {
        core_ref ref = { m, in };
        gd_optim_ctx ctx = make_ctx(&ref, in->t);
        gd_optim_tensor ts[MAXT];
        for (int k = 0; k < m->n; k++)
            ts[k] = view(m, in, k);
        return vt->step_all(in->o, &ctx, ts, m->n, err);
    }
    for (int j = 0; j < m->n; j++) {
        int k = m->reverse ? m->n - 1 - j : j;
        step_one(m, in, k, m->x[k], m->g[k], in->t);
    }
    return GD_OK;
}

/* ---------------------------------------------------------------------------
 * Problems over the model's tensors, seen as one vector z
 * ------------------------------------------------------------------------- */

static int64_t total(const model *m)
{
    int64_t n = 0;
    for (int k = 0; k < m->n; k++)
        n += gd_shape_numel(&m->shape[k]);
    return n;
}

/* The quadratic over every weight of the model, seen as one vector. */
static double quadratic(model *m)
{
    enum { MAXZ = 64 };
    float z[MAXZ], g[MAXZ];
    const int64_t n = total(m);
    for (int k = 0, e = 0; k < m->n; k++)
        for (int64_t j = 0; j < gd_shape_numel(&m->shape[k]) && e < MAXZ; j++)
            z[e++] = m->x[k][j];
    double f = ck_quadratic(z, g, n < MAXZ ? n : MAXZ);
    for (int k = 0, e = 0; k < m->n; k++)
        for (int64_t j = 0; j < gd_shape_numel(&m->shape[k]) && e < MAXZ; j++)
            m->g[k][j] = g[e++];
    return f;
}

static double rosenbrock(model *m)
{
    return ck_rosenbrock(m->x[0], m->g[0]);
}

/* A model of the given shapes from x0 (cycled) or random weights. */
static model *new_model(ck_ctx *k, const gd_shape *shapes, int n, const float *x0, int nx0,
                        objective_fn f, double factor)
{
    model *m = (model *)ck_doubles((int64_t)(sizeof(model) / sizeof(double) + 1));
    m->n = n;
    m->f = f;
    m->factor = factor;
    gd_rng rng = ck_rng(50);
    for (int i = 0, e = 0; i < n; i++) {
        int64_t len = gd_shape_numel(&shapes[i]);
        m->shape[i] = shapes[i];
        m->x[i] = ck_floats(len);
        m->g[i] = ck_floats(len);
        for (int64_t j = 0; j < len; j++, e++)
            m->x[i][j] = x0 ? x0[e % nx0] : (float)gd_rng_normal(&rng);
    }
    m->top = inst_new(m, k->spec, k->msg, sizeof k->msg);
    return m->top ? m : NULL;
}

static const gd_shape quad_shapes[] = { { 2, { 2, 4, 0, 0 } }, { 1, { 4, 0, 0, 0 } } };
static const gd_shape rosen_shape[] = { { 1, { 2, 0, 0, 0 } } };

/* ---------------------------------------------------------------------------
 * The checks
 * ------------------------------------------------------------------------- */

static double descend(ck_ctx *k, int rosen, double factor, int *bad)
{
    model *m = rosen ? new_model(k, rosen_shape, 1, ck_rosen_x0, 2, rosenbrock, factor)
                     : new_model(k, quad_shapes, 2, ck_quad_x0, 8, quadratic, factor);
    gd_error err;
    if (!m)
        return *bad = 1, NAN;
    for (int s = 0; s < 2000; s++) {
        double f = m->f(m);
        if (!isfinite(f) || update(m, &err) != GD_OK)
            return NAN;
    }
    return m->f(m);
}

static int check_descent(ck_ctx *k, int rosen)
{
    static const double factors[] = { 1, 0.1, 0.01, 0.001, 10 };
    model *probe = rosen ? new_model(k, rosen_shape, 1, ck_rosen_x0, 2, rosenbrock, 1)
                         : new_model(k, quad_shapes, 2, ck_quad_x0, 8, quadratic, 1);
    if (!probe)
        return 0;
    const double f0 = probe->f(probe);
    int bad = 0;
    for (size_t i = 0; i < sizeof factors / sizeof factors[0]; i++) {
        double f = descend(k, rosen, factors[i], &bad);
        if (bad)
            return 0;
        if (isfinite(f) && f < 0.5 * f0)
            return ck_pass(k, "f %.4g -> %.4g in 2000 updates with lr x%g%s", f0, f, factors[i],
                           rosen ? " (a [2] vector)" : " (a [2, 4] matrix and a [4] vector)");
    }
    return ck_fail(k, "f %.4g did not halve in 2000 updates at lr x{1, 0.1, 0.01, 0.001, 10}: "
                   "not a descent method, or a sign error", f0);
}

static int check_quadratic(ck_ctx *k) { return check_descent(k, 0); }
static int check_rosenbrock(ck_ctx *k) { return check_descent(k, 1); }

static const gd_shape noisy_shapes[] = { { 2, { 6, 5, 0, 0 } }, { 1, { 5, 0, 0, 0 } },
                                         { 2, { 3, 7, 0, 0 } } };

/* Updates first..last with random gradients (or `fixed` everywhere). */
static int noisy(model *m, int first, int last, const float *fixed, gd_error *err)
{
    for (int s = first; s <= last; s++) {
        gd_rng rng = ck_rng(200 + (uint64_t)s);
        for (int i = 0; i < m->n; i++)
            for (int64_t j = 0; j < gd_shape_numel(&m->shape[i]); j++)
                m->g[i][j] = fixed ? ((j + s) % 2 ? *fixed : -*fixed)
                                   : (float)gd_rng_normal(&rng);
        if (update(m, err) != GD_OK)
            return 0;
    }
    return 1;
}

/* regrad for the random-gradient runs: the same gradient again. */
static double keep_gradient(model *m)
{
    (void)m;
    return 0;
}

static model *noisy_model(ck_ctx *k)
{
    return new_model(k, noisy_shapes, 3, NULL, 0, keep_gradient, 1);
}

static int finite_on(ck_ctx *k, float value, const char *what)
{
    model *m = noisy_model(k);
    gd_error err;
    if (!m)
        return 0;
    if (!noisy(m, 1, 10, &value, &err))
        return ck_fail(k, "the update failed with %s gradient: %s", what, err.msg);
    for (int i = 0; i < m->n; i++)
        if (!ck_all_finite(m->x[i], gd_shape_numel(&m->shape[i])))
            return ck_fail(k, "tensor %d (rank %d) is not finite after 10 updates with %s "
                           "gradient", i, m->shape[i].ndim, what);
    return ck_pass(k, "10 updates of a [6, 5], a [5] and a [3, 7] tensor, all finite");
}

static int check_zero_grad(ck_ctx *k) { return finite_on(k, 0.0f, "a zero"); }
static int check_huge_grad(ck_ctx *k) { return finite_on(k, 1e30f, "a 1e30"); }

/* Whether two trees hold the same numbers, bit for bit. */
static int same_inst(const model *a, const inst *p, const inst *q)
{
    const gd_optimizer_vtable *vt = p->c->vt.optimizer;
    if (p->t != q->t || memcmp(p->scalars, q->scalars, (size_t)vt->nscalars * sizeof(double)))
        return 0;
    for (int k = 0; k < a->n; k++)
        for (int s = 0; s < vt->nslots; s++)
            if (memcmp(p->slot[k][s], q->slot[k][s], (size_t)p->slot_len[k][s] * sizeof(float)))
                return 0;
    for (int i = 0; i < MAXOPT; i++)
        if (p->inner[i] && !same_inst(a, p->inner[i], q->inner[i]))
            return 0;
    return 1;
}

static int same_model(const model *a, const model *b)
{
    for (int k = 0; k < a->n; k++)
        if (memcmp(a->x[k], b->x[k], (size_t)gd_shape_numel(&a->shape[k]) * sizeof(float)))
            return 0;
    return same_inst(a, a->top, b->top);
}

static int check_twice(ck_ctx *k)
{
    model *a = noisy_model(k), *b = noisy_model(k);
    gd_error err;
    if (!a || !b)
        return 0;
    if (!noisy(a, 1, 30, NULL, &err) || !noisy(b, 1, 30, NULL, &err))
        return ck_fail(k, "an update failed: %s", err.msg);
    if (!same_model(a, b))
        return ck_fail(k, "two fresh runs of 30 updates differ: hidden state or randomness "
                       "(keep state in slots and scalars)");
    return ck_pass(k, "two runs of 30 updates, bit-identical weights and state");
}

/* The core may step different tensors on different threads: the order
 * in which the tensors of one update are stepped must not matter. */
static int check_order(ck_ctx *k)
{
    if (k->c->vt.optimizer->step_all)
        return ck_pass(k, "step_all: one call per update with every tensor");
    model *a = noisy_model(k), *b = noisy_model(k);
    gd_error err;
    if (!a || !b)
        return 0;
    b->reverse = 1;
    if (!noisy(a, 1, 10, NULL, &err) || !noisy(b, 1, 10, NULL, &err))
        return ck_fail(k, "an update failed: %s", err.msg);
    if (!same_model(a, b))
        return ck_fail(k, "stepping the tensors last to first changes the numbers: one "
                       "tensor's step reads state another writes");
    return ck_pass(k, "tensors stepped first to last and last to first: bit-identical");
}

/* Copy a tree's state (t, scalars, slots) into another of the same shape. */
static void copy_inst(const model *m, inst *to, const inst *from)
{
    const gd_optimizer_vtable *vt = from->c->vt.optimizer;
    to->t = from->t;
    memcpy(to->scalars, from->scalars, (size_t)vt->nscalars * sizeof(double));
    for (int k = 0; k < m->n; k++)
        for (int s = 0; s < vt->nslots; s++)
            memcpy(to->slot[k][s], from->slot[k][s], (size_t)from->slot_len[k][s] * sizeof(float));
    for (int i = 0; i < MAXOPT; i++)
        if (from->inner[i])
            copy_inst(m, to->inner[i], from->inner[i]);
}

static int check_checkpoint(ck_ctx *k)
{
    model *a = noisy_model(k), *b = noisy_model(k), *c = noisy_model(k);
    gd_error err;
    if (!a || !b || !c)
        return 0;
    if (!noisy(a, 1, 10, NULL, &err) || !noisy(b, 1, 10, NULL, &err))
        return ck_fail(k, "an update failed: %s", err.msg);
    for (int i = 0; i < c->n; i++)
        memcpy(c->x[i], b->x[i], (size_t)gd_shape_numel(&c->shape[i]) * sizeof(float));
    copy_inst(c, c->top, b->top);
    if (!noisy(a, 11, 20, NULL, &err) || !noisy(c, 11, 20, NULL, &err))
        return ck_fail(k, "an update failed: %s", err.msg);
    if (!same_model(a, c))
        return ck_fail(k, "resumed from its slots, scalars and inner optimizers after 10 "
                       "updates, the run differs from an unbroken one: state kept elsewhere");
    return ck_pass(k, "slots as slot_len sizes them, scalars, inner optimizers; resumed "
                   "after 10 updates, bit-identical");
}

static int check_bounds(ck_ctx *k)
{
    const ck_guard modes[] = { CK_GUARD_END, CK_GUARD_START };
    gd_error err;
    for (int i = 0; i < 2; i++) {
        ck_guard_mode = modes[i];
        model *m = noisy_model(k);
        if (!m)
            return 0;
        if (!noisy(m, 1, 3, NULL, &err))
            return ck_fail(k, "an update failed: %s", err.msg);
    }
    if (ck_damaged() >= 0)
        return ck_fail(k, "wrote outside a tensor, slot or scratch it was given (buffer %d)",
                       ck_damaged());
    return ck_pass(k, "guard pages before and after every tensor, slot and scratch; canaries "
                   "intact");
}

const ck_check ck_tensor_checks[] = {
    { "descent on a convex quadratic", check_quadratic },
    { "descent on rosenbrock from (-1.2, 1)", check_rosenbrock },
    { "finite on a zero gradient", check_zero_grad },
    { "finite on huge gradients", check_huge_grad },
    { "identical results twice", check_twice },
    { "independent of the order of the tensors", check_order },
    { "state restored exactly from a checkpoint", check_checkpoint },
    { "no reads or writes outside its tensors, slots and scratch", check_bounds },
};
const int ck_ntensor_checks = (int)(sizeof ck_tensor_checks / sizeof ck_tensor_checks[0]);
#endif
