/*
 * tests/plugins/test_layers.c: layer and loss plugins against the reference
 * values of ../shared/reference/layers.lua, and against finite differences.
 *
 * Reference cases are read generically: a layer case feeds `x`, each
 * parameter from the field named after it (dense's weight/bias are W/b) and
 * each buffer from the field of its name, then checks `y`, `grad_x`,
 * `grad_<field>` and `<buffer>_after`. A case field that no check consumed
 * fails the test, so a new kind of expectation cannot pass unnoticed.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "layer_harness.h"
#include "support.h"

/* ---------------------------------------------------------------------------
 * Reference cases
 * ------------------------------------------------------------------------- */

/* Fields a case may carry that are not tensors to check. */
static const char *const meta_fields[] = { "name", "layer", "loss", "options", "mode",
                                           "targets_base", NULL };

#define MAX_USED 32

typedef struct used_fields {
    char name[MAX_USED][64];
    int n;
} used_fields;

static void use(used_fields *u, const char *field)
{
    if (u->n < MAX_USED)
        snprintf(u->name[u->n++], sizeof u->name[0], "%s", field);
}

/* Fail on every field of the case table (top of the stack) nobody used. */
static void check_all_used(lua_State *L, const char *case_name, const used_fields *u)
{
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING)
            continue;
        const char *key = lua_tostring(L, -1);
        bool known = false;
        for (int i = 0; meta_fields[i] && !known; i++)
            known = strcmp(key, meta_fields[i]) == 0;
        for (int i = 0; i < u->n && !known; i++)
            known = strcmp(key, u->name[i]) == 0;
        if (!known) {
            fprintf(stderr, "\n  case %s: field '%s' is not checked by this test\n", case_name,
                    key);
            CU_FAIL("unhandled reference field");
        }
    }
}

/* The reference field holding a parameter: dense's are spelled W and b. */
static const char *param_field(const char *param)
{
    if (strcmp(param, "weight") == 0)
        return "W";
    if (strcmp(param, "bias") == 0)
        return "b";
    return param;
}

/* A reference tensor that must exist and have n elements. */
static float *need_tensor(lua_State *L, const char *case_name, const char *field, int64_t n,
                          used_fields *u)
{
    gd_shape s;
    float *t = ref_tensor(L, field, &s);
    if (!t) {
        fprintf(stderr, "\n  case %s: missing field '%s'\n", case_name, field);
        CU_FAIL("missing reference field");
        return NULL;
    }
    if (gd_shape_numel(&s) != n) {
        fprintf(stderr, "\n  case %s: '%s' has %lld elements, expected %lld\n", case_name, field,
                (long long)gd_shape_numel(&s), (long long)n);
        CU_FAIL("reference tensor size");
        free(t);
        return NULL;
    }
    use(u, field);
    return t;
}

/* The README's per-tensor tolerance: 1e-5·max|want| + 1e-6·max|grad_y|. */
static bool check_ref(const char *case_name, const char *what, const float *got,
                      const float *want, int64_t n, double gy_max)
{
    char label[160];
    snprintf(label, sizeof label, "%s: %s", case_name, what);
    return check_close(label, got, want, n, 1e-5 * max_abs(want, n) + 1e-6 * gy_max);
}

static void run_layer_case(lua_State *L, const char *case_name, const char *layer)
{
    used_fields u = { .n = 0 };
    gd_spec *spec = ref_spec(L, GD_KIND_LAYER, layer);
    if (!spec)
        return; /* ref_spec failed the test (unknown layer or refused options) */
    const char *mode = ref_string(L, "mode");
    bool training = mode && strcmp(mode, "train") == 0;
    if (!mode || (!training && strcmp(mode, "eval") != 0)) {
        fprintf(stderr, "\n  case %s: unknown mode '%s'\n", case_name, mode ? mode : "(none)");
        CU_FAIL("unknown mode");
        gd_spec_free(spec);
        return;
    }
    gd_shape xs;
    float *x = ref_tensor(L, "x", &xs);
    CU_ASSERT_PTR_NOT_NULL_FATAL(x);
    use(&u, "x");
    gd_shape in = { xs.ndim - 1, { 0 } };
    for (int d = 1; d < xs.ndim; d++)
        in.dim[d - 1] = xs.dim[d];
    int64_t batch = xs.dim[0];

    lh_layer l;
    gd_error err;
    if (lh_create(&l, spec, &in, batch, NULL, NULL, 1, &err) != GD_OK) {
        fprintf(stderr, "\n  case %s: %s\n", case_name, err.msg);
        CU_FAIL("layer create");
        free(x);
        gd_spec_free(spec);
        return;
    }
    float *gy = need_tensor(L, case_name, "grad_y", batch * l.out_numel, &u);
    float *want_y = need_tensor(L, case_name, "y", batch * l.out_numel, &u);
    float *want_dx = need_tensor(L, case_name, "grad_x", batch * l.in_numel, &u);
    float *before[GD_MAX_LAYER_BUFFERS] = { 0 };
    bool ok = gy && want_y && want_dx;
    for (int i = 0; ok && i < l.info.nparams; i++) {
        float *v = need_tensor(L, case_name, param_field(l.info.params[i].name),
                               l.param_numel[i], &u);
        ok = v != NULL;
        if (ok)
            memcpy(l.params[i], v, (size_t)l.param_numel[i] * sizeof(float));
        free(v);
    }
    for (int i = 0; ok && i < l.info.nbuffers; i++) {
        before[i] = need_tensor(L, case_name, l.info.buffers[i].name, l.info.buffers[i].numel,
                                &u);
        ok = before[i] != NULL;
        if (ok)
            memcpy(l.buffers[i], before[i], (size_t)l.info.buffers[i].numel * sizeof(float));
    }
    if (ok) {
        double gy_max = max_abs(gy, batch * l.out_numel);
        CU_ASSERT_EQUAL(lh_forward(&l, x, training, &err), GD_OK);
        check_ref(case_name, "y", l.y, want_y, batch * l.out_numel, gy_max);
        lh_backward(&l, x, gy, training, true);
        check_ref(case_name, "grad_x", l.dx, want_dx, batch * l.in_numel, gy_max);
        for (int i = 0; i < l.info.nparams; i++) {
            char field[64];
            snprintf(field, sizeof field, "grad_%s", param_field(l.info.params[i].name));
            float *want = need_tensor(L, case_name, field, l.param_numel[i], &u);
            if (want)
                check_ref(case_name, field, l.grads[i], want, l.param_numel[i], gy_max);
            free(want);
        }
        for (int i = 0; i < l.info.nbuffers; i++) {
            char field[64];
            int64_t n = l.info.buffers[i].numel;
            snprintf(field, sizeof field, "%s_after", l.info.buffers[i].name);
            float *want = ref_tensor(L, field, NULL);
            if (want) {
                use(&u, field);
                check_ref(case_name, field, l.buffers[i], want, n, gy_max);
            } else if (!training) {
                /* Evaluation must not touch the running statistics. */
                check_close(field, l.buffers[i], before[i], n, 0);
            }
            free(want);
        }
        /* Without dx the parameter gradients are the same, bit for bit. */
        float *g0[GD_MAX_LAYER_PARAMS] = { 0 };
        for (int i = 0; i < l.info.nparams; i++) {
            g0[i] = malloc((size_t)l.param_numel[i] * sizeof(float));
            memcpy(g0[i], l.grads[i], (size_t)l.param_numel[i] * sizeof(float));
        }
        lh_zero_grad(&l);
        lh_backward(&l, x, gy, training, false);
        for (int i = 0; i < l.info.nparams; i++)
            check_close("grad without dx", l.grads[i], g0[i], l.param_numel[i], 0);
        /* A second backward adds to the gradients, it does not overwrite them. */
        lh_backward(&l, x, gy, training, false);
        for (int i = 0; i < l.info.nparams; i++) {
            int64_t n = l.param_numel[i];
            for (int64_t k = 0; k < n; k++)
                g0[i][k] *= 2;
            check_close("grad after two backwards", l.grads[i], g0[i], n,
                        1e-6 * max_abs(g0[i], n));
            free(g0[i]);
        }
    }
    check_all_used(L, case_name, &u);
    for (int i = 0; i < GD_MAX_LAYER_BUFFERS; i++)
        free(before[i]);
    free(gy);
    free(want_y);
    free(want_dx);
    free(x);
    lh_free(&l);
    gd_spec_free(spec);
}

/* The first of two spellings a loss case may use for a field. */
static const char *pick(lua_State *L, const char *a, const char *b)
{
    return ref_has(L, a) ? a : b;
}

static void run_loss_case(lua_State *L, const char *case_name, const char *loss)
{
    used_fields u = { .n = 0 };
    gd_spec *spec = ref_spec(L, GD_KIND_LOSS, loss);
    if (!spec)
        return;
    const gd_loss_vtable *vt = spec->component->vt.loss;
    const char *pred_f = pick(L, "logits", "pred");
    const char *grad_f = pick(L, "grad_logits", "grad");
    const char *target_f = pick(L, "targets", "target");
    gd_tensor pred, target, grad;
    pred.data = ref_tensor(L, pred_f, &pred.shape);
    target.data = ref_tensor(L, target_f, &target.shape);
    float *want = ref_tensor(L, grad_f, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(pred.data);
    CU_ASSERT_PTR_NOT_NULL_FATAL(target.data);
    CU_ASSERT_PTR_NOT_NULL_FATAL(want);
    CU_ASSERT_TRUE_FATAL(ref_has(L, "loss_value"));
    use(&u, pred_f);
    use(&u, grad_f);
    use(&u, target_f);
    use(&u, "loss_value");
    int64_t n = gd_tensor_numel(&pred);
    if (vt->target == GD_TARGET_CLASS) {
        /* Lua targets are class numbers; the ABI takes 0-based indices. */
        double base = ref_number(L, "targets_base", 1);
        for (int64_t i = 0; i < gd_tensor_numel(&target); i++)
            target.data[i] -= (float)base;
    }
    grad.shape = pred.shape;
    grad.data = calloc((size_t)n, sizeof(float));
    double want_v = ref_number(L, "loss_value", NAN);
    double v = vt->forward(spec->options, &pred, &target, &grad);
    double v_nograd = vt->forward(spec->options, &pred, &target, NULL);
    double tol = 1e-5 * fabs(want_v);
    if (!(fabs(v - want_v) <= tol) || !(fabs(v_nograd - want_v) <= tol)) {
        fprintf(stderr, "\n  case %s: loss %.9g (without grad %.9g), want %.9g\n", case_name, v,
                v_nograd, want_v);
        CU_FAIL("loss value differs from the reference");
    }
    char label[160];
    snprintf(label, sizeof label, "%s: %s", case_name, grad_f);
    check_close(label, grad.data, want, n, 1e-5 * max_abs(want, n));
    check_all_used(L, case_name, &u);
    free(grad.data);
    free(want);
    free(pred.data);
    free(target.data);
    gd_spec_free(spec);
}

static void test_layers_reference(void)
{
    lua_State *L = ref_open("layers");
    int n = ref_case_count(L), layers = 0, losses = 0;
    for (int i = 1; i <= n; i++) {
        ref_push_case(L, i);
        const char *name = ref_string(L, "name");
        const char *layer = ref_string(L, "layer"), *loss = ref_string(L, "loss");
        if (layer) {
            run_layer_case(L, name, layer);
            layers++;
        } else if (loss) {
            run_loss_case(L, name, loss);
            losses++;
        } else {
            fprintf(stderr, "\n  case %s is neither a layer nor a loss case\n", name);
            CU_FAIL("unknown case type");
        }
        lua_pop(L, 1);
    }
    CU_ASSERT_TRUE(layers > 0);
    CU_ASSERT_TRUE(losses > 0);
    CU_ASSERT_EQUAL(layers + losses, n);
    ref_close(L);
}

/* ---------------------------------------------------------------------------
 * Finite differences
 *
 * Central differences in float with step h = 1e-2 on the scalar
 * L = Σ y⊙R (R fixed, random), accumulated in double; the step actually
 * taken is (x+h) − (x−h) as rounded to float. Error budget: truncation is
 * h²/6·|L'''| ≈ 2e-5 for the smooth layers here (unit-scale inputs), and
 * rounding is about n·ulp(y)·|R| / 2h ≈ 60·6e-8·2/0.02 ≈ 4e-4 at worst for
 * the largest tensors used (measured worst: 2.2e-5, batchnorm dx). So
 * |fd − analytic| ≤ 2e-3·max(1, max|analytic|) passes a correct gradient
 * with margin, while a wrong factor, sign, missing term (e.g. batchnorm
 * without the backward through the variance) or transposed product is off
 * by O(0.1) or more.
 * ------------------------------------------------------------------------- */

#define FD_H 1e-2f
#define FD_TOL 2e-3

static void fill_normal(gd_rng *r, float *x, int64_t n, double scale)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)(scale * gd_rng_normal(r));
}

/* Values at distance >= 0.25 from 0, where relu/leaky_relu are smooth. */
static void fill_away_from_zero(gd_rng *r, float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        double v = gd_rng_normal(r);
        x[i] = (float)(v < 0 ? v - 0.25 : v + 0.25);
    }
}

typedef struct fd_setup {
    lh_layer *l;
    float *x;
    const float *r;
    bool training;
    gd_rng rng0;   /* layer rng before each forward: the same dropout mask */
} fd_setup;

static double objective(fd_setup *s)
{
    gd_error err;
    s->l->rng = s->rng0;
    CU_ASSERT_EQUAL(lh_forward(s->l, s->x, s->training, &err), GD_OK);
    double sum = 0;
    int64_t n = s->l->batch * s->l->out_numel;
    for (int64_t i = 0; i < n; i++)
        sum += (double)s->l->y[i] * s->r[i];
    return sum;
}

/* Compare analytic gradient g (n values) with central differences of the
 * objective in the n values at v. */
static bool fd_compare(const char *what, fd_setup *s, float *v, const float *g, int64_t n)
{
    double gmax = fmax(1.0, max_abs(g, n)), worst = 0;
    bool ok = true;
    for (int64_t i = 0; i < n; i++) {
        float keep = v[i];
        float hi = keep + FD_H, lo = keep - FD_H;
        v[i] = hi;
        double fp = objective(s);
        v[i] = lo;
        double fm = objective(s);
        v[i] = keep;
        double fd = (fp - fm) / ((double)hi - (double)lo);
        double d = fabs(fd - g[i]);
        worst = fmax(worst, d / gmax);
        if (!(d <= FD_TOL * gmax) && ok) {
            fprintf(stderr, "\n  %s[%lld]: analytic %.7g, finite difference %.7g\n", what,
                    (long long)i, g[i], fd);
            ok = false;
        }
    }
    if (!ok)
        CU_FAIL("gradient differs from finite differences");
    return ok;
}

/* Check dx and every parameter gradient of the layer of spec. */
static void fd_layer(gd_spec *spec, gd_shape in, int64_t batch, bool training, bool away)
{
    CU_ASSERT_PTR_NOT_NULL_FATAL(spec);
    lh_layer l;
    gd_error err;
    CU_ASSERT_EQUAL_FATAL(lh_create(&l, spec, &in, batch, NULL, NULL, 7, &err), GD_OK);
    gd_rng r = gd_rng_stream(42, 0);
    int64_t nx = batch * l.in_numel, ny = batch * l.out_numel;
    float *x = malloc((size_t)nx * sizeof *x), *R = malloc((size_t)ny * sizeof *R);
    if (away)
        fill_away_from_zero(&r, x, nx);
    else
        fill_normal(&r, x, nx, 1.0);
    fill_normal(&r, R, ny, 1.0);
    /* Parameters away from their starting values (gamma 1, beta 0, bias 0). */
    for (int i = 0; i < l.info.nparams; i++)
        for (int64_t k = 0; k < l.param_numel[i]; k++)
            l.params[i][k] += (float)(0.5 * gd_rng_normal(&r));

    fd_setup s = { &l, x, R, training, l.rng };
    l.rng = s.rng0;
    CU_ASSERT_EQUAL(lh_forward(&l, x, training, &err), GD_OK);
    lh_zero_grad(&l);
    lh_backward(&l, x, R, training, true);
    float *dx = malloc((size_t)nx * sizeof *dx);
    memcpy(dx, l.dx, (size_t)nx * sizeof *dx);
    char what[96];
    snprintf(what, sizeof what, "%s dx", spec->component->name);
    fd_compare(what, &s, x, dx, nx);
    for (int i = 0; i < l.info.nparams; i++) {
        snprintf(what, sizeof what, "%s d%s", spec->component->name, l.info.params[i].name);
        fd_compare(what, &s, l.params[i], l.grads[i], l.param_numel[i]);
    }
    free(dx);
    free(x);
    free(R);
    lh_free(&l);
    gd_spec_free(spec);
}

static void test_layers_fd_dense(void)
{
    /* A [2, 3] per-sample input is a sequence: W shared by both positions. */
    gd_shape in = { 2, { 2, 3 } };
    fd_layer(test_spec(GD_KIND_LAYER, "dense", "units", 'i', 4LL, NULL), in, 3, true, false);
    fd_layer(test_spec(GD_KIND_LAYER, "dense", "units", 'i', 2LL, "bias", 'b', 0, NULL),
             gd_shape_1(5), 1, true, false);
}

/* dense{activation = "relu"} computes what dense then relu compute: the
 * same units zeroed, values and gradients within the rounding of where the
 * bias is added. */
static void test_layers_dense_fused_relu(void)
{
    enum { B = 5, IN = 7, OUT = 6 };
    gd_error err;
    lh_layer fused, plain, relu;
    gd_spec *sf = test_spec(GD_KIND_LAYER, "dense", "units", 'i', (long long)OUT, "activation",
                            's', "relu", NULL);
    gd_spec *sp = test_spec(GD_KIND_LAYER, "dense", "units", 'i', (long long)OUT, NULL);
    gd_spec *sr = test_spec(GD_KIND_LAYER, "relu", NULL);
    gd_shape in = gd_shape_1(IN), out = gd_shape_1(OUT);
    CU_ASSERT_EQUAL_FATAL(lh_create(&fused, sf, &in, B, NULL, NULL, 3, &err), GD_OK);
    CU_ASSERT_EQUAL_FATAL(lh_create(&plain, sp, &in, B, NULL, NULL, 3, &err), GD_OK);
    CU_ASSERT_EQUAL_FATAL(lh_create(&relu, sr, &out, B, NULL, NULL, 3, &err), GD_OK);
    CU_ASSERT_EQUAL(fused.info.activation, GD_ACT_RELU);
    gd_rng r = gd_rng_stream(5, 0);
    float x[B * IN], dy[B * OUT];
    fill_normal(&r, x, B * IN, 1.0);
    fill_normal(&r, dy, B * OUT, 1.0);
    for (int k = 0; k < OUT; k++) /* a bias that moves units across zero */
        fused.params[1][k] = plain.params[1][k] = (float)(0.7 * gd_rng_normal(&r));
    CU_ASSERT_EQUAL(lh_forward(&fused, x, true, &err), GD_OK);
    CU_ASSERT_EQUAL(lh_forward(&plain, x, true, &err), GD_OK);
    CU_ASSERT_EQUAL(lh_forward(&relu, plain.y, true, &err), GD_OK);
    int zeros = 0;
    for (int i = 0; i < B * OUT; i++) {
        CU_ASSERT((fused.y[i] == 0) == (relu.y[i] == 0));
        CU_ASSERT_DOUBLE_EQUAL(fused.y[i], relu.y[i], 1e-5);
        zeros += fused.y[i] == 0;
    }
    CU_ASSERT(zeros > 0 && zeros < B * OUT);
    lh_backward(&fused, x, dy, true, true);
    lh_backward(&relu, plain.y, dy, true, true);
    lh_backward(&plain, x, relu.dx, true, true);
    for (int i = 0; i < B * IN; i++)
        CU_ASSERT_DOUBLE_EQUAL(fused.dx[i], plain.dx[i], 1e-5);
    for (int p = 0; p < 2; p++)
        for (int64_t i = 0; i < fused.param_numel[p]; i++)
            CU_ASSERT_DOUBLE_EQUAL(fused.grads[p][i], plain.grads[p][i], 1e-5);
    lh_free(&fused);
    lh_free(&plain);
    lh_free(&relu);
    gd_spec_free(sf);
    gd_spec_free(sp);
    gd_spec_free(sr);
}

static void test_layers_fd_activations(void)
{
    fd_layer(test_spec(GD_KIND_LAYER, "sigmoid", NULL), gd_shape_1(6), 4, true, false);
    fd_layer(test_spec(GD_KIND_LAYER, "tanh", NULL), gd_shape_1(6), 4, true, false);
    fd_layer(test_spec(GD_KIND_LAYER, "relu", NULL), gd_shape_1(6), 4, true, true);
    fd_layer(test_spec(GD_KIND_LAYER, "leaky_relu", "slope", 'n', 0.2, NULL), gd_shape_1(6), 4,
             true, true);
}

static void test_layers_fd_batchnorm(void)
{
    fd_layer(test_spec(GD_KIND_LAYER, "batchnorm", NULL), gd_shape_1(4), 6, true, false);
    /* eval: the statistics are constants (running_mean 0, running_var 1) */
    fd_layer(test_spec(GD_KIND_LAYER, "batchnorm", NULL), gd_shape_1(4), 6, false, false);
}

static void test_layers_fd_dropout(void)
{
    fd_layer(test_spec(GD_KIND_LAYER, "dropout", "rate", 'n', 0.3, NULL), gd_shape_1(6), 4, true,
             false);
    fd_layer(test_spec(GD_KIND_LAYER, "dropout", "rate", 'n', 0.3, "scaling", 's', "test", NULL),
             gd_shape_1(6), 4, true, false);
    fd_layer(test_spec(GD_KIND_LAYER, "dropout", "rate", 'n', 0.3, "scaling", 's', "test", NULL),
             gd_shape_1(6), 4, false, false);
}

/* Losses: the objective is the loss itself. */
static void fd_loss(const char *name, int64_t n, int64_t c)
{
    gd_spec *spec = test_spec(GD_KIND_LOSS, name, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(spec);
    const gd_loss_vtable *vt = spec->component->vt.loss;
    gd_rng r = gd_rng_stream(43, 0);
    gd_tensor pred = { malloc((size_t)(n * c) * sizeof(float)), gd_shape_2(n, c) };
    gd_tensor grad = { malloc((size_t)(n * c) * sizeof(float)), gd_shape_2(n, c) };
    gd_tensor target;
    if (vt->target == GD_TARGET_CLASS) {
        target = (gd_tensor){ malloc((size_t)n * sizeof(float)), gd_shape_1(n) };
        for (int64_t i = 0; i < n; i++)
            target.data[i] = (float)gd_rng_below(&r, (uint64_t)c);
    } else {
        target = (gd_tensor){ malloc((size_t)(n * c) * sizeof(float)), gd_shape_2(n, c) };
        fill_normal(&r, target.data, n * c, 1.0);
    }
    fill_normal(&r, pred.data, n * c, 2.0);
    vt->forward(spec->options, &pred, &target, &grad);
    double gmax = fmax(1.0, max_abs(grad.data, n * c));
    for (int64_t i = 0; i < n * c; i++) {
        float keep = pred.data[i], hi = keep + FD_H, lo = keep - FD_H;
        pred.data[i] = hi;
        double fp = vt->forward(spec->options, &pred, &target, NULL);
        pred.data[i] = lo;
        double fm = vt->forward(spec->options, &pred, &target, NULL);
        pred.data[i] = keep;
        double fd = (fp - fm) / ((double)hi - (double)lo);
        if (!(fabs(fd - grad.data[i]) <= FD_TOL * gmax)) {
            fprintf(stderr, "\n  %s grad[%lld]: analytic %.7g, finite difference %.7g\n", name,
                    (long long)i, grad.data[i], fd);
            CU_FAIL("loss gradient differs from finite differences");
            break;
        }
    }
    free(pred.data);
    free(grad.data);
    free(target.data);
    gd_spec_free(spec);
}

static void test_layers_fd_losses(void)
{
    fd_loss("cross_entropy", 5, 4);
    fd_loss("mse", 3, 4);
}

/* ---------------------------------------------------------------------------
 * Contracts beyond the reference
 * ------------------------------------------------------------------------- */

static void test_layers_info(void)
{
    gd_error err;
    lh_layer l;
    gd_spec *s = test_spec(GD_KIND_LAYER, "dense", "units", 'i', 3LL, NULL);
    gd_shape in = { 2, { 2, 5 } };
    CU_ASSERT_EQUAL_FATAL(lh_create(&l, s, &in, 2, NULL, NULL, 1, &err), GD_OK);
    /* [2, 5] is a sequence: the same W [3, 5] at both positions */
    CU_ASSERT_TRUE(l.info.out.ndim == 2 && l.info.out.dim[0] == 2 && l.info.out.dim[1] == 3);
    CU_ASSERT_EQUAL(l.info.nparams, 2);
    const gd_param_info *w = &l.info.params[0], *b = &l.info.params[1];
    CU_ASSERT_EQUAL(w->role, GD_ROLE_WEIGHT);
    CU_ASSERT_TRUE(w->shape.ndim == 2 && w->shape.dim[0] == 3 && w->shape.dim[1] == 5);
    CU_ASSERT_TRUE(w->fan_in == 5 && w->fan_out == 3);
    CU_ASSERT_TRUE(w->init && strcmp(w->init->component->name, "xavier_uniform") == 0);
    CU_ASSERT_EQUAL(b->role, GD_ROLE_BIAS);
    CU_ASSERT_PTR_NULL(b->init);
    CU_ASSERT_EQUAL(b->init_value, 0.0f);
    CU_ASSERT_EQUAL(l.info.activation, GD_ACT_NONE);
    lh_free(&l);
    gd_spec_free(s);

    s = test_spec(GD_KIND_LAYER, "dense", "units", 'i', 3LL, "bias", 'b', 0, NULL);
    CU_ASSERT_EQUAL_FATAL(lh_create(&l, s, &in, 2, NULL, NULL, 1, &err), GD_OK);
    CU_ASSERT_EQUAL(l.info.nparams, 1);
    lh_free(&l);
    gd_spec_free(s);

    gd_spec *bad;
    CU_ASSERT_NOT_EQUAL(test_spec_try(&bad, &err, GD_KIND_LAYER, "dense", NULL), GD_OK);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "'units' is required"));
    CU_ASSERT_NOT_EQUAL(test_spec_try(&bad, &err, GD_KIND_LAYER, "dense", "units", 'i', 0LL,
                                      NULL), GD_OK);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "must be >= 1"));

    static const struct { const char *name; gd_activation_kind act; } acts[] = {
        { "sigmoid", GD_ACT_SIGMOID }, { "tanh", GD_ACT_TANH }, { "relu", GD_ACT_RELU },
        { "leaky_relu", GD_ACT_NONE }, { "dropout", GD_ACT_NONE },
    };
    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++) {
        s = test_spec(GD_KIND_LAYER, acts[i].name, NULL);
        CU_ASSERT_EQUAL_FATAL(lh_create(&l, s, &in, 2, NULL, NULL, 1, &err), GD_OK);
        CU_ASSERT_EQUAL(l.info.activation, acts[i].act);
        CU_ASSERT_EQUAL(l.info.nparams, 0);
        CU_ASSERT_TRUE(l.info.out.ndim == 2 && l.info.out.dim[0] == 2 && l.info.out.dim[1] == 5);
        lh_free(&l);
        gd_spec_free(s);
    }

    s = test_spec(GD_KIND_LAYER, "batchnorm", NULL);
    CU_ASSERT_EQUAL_FATAL(lh_create(&l, s, &in, 2, NULL, NULL, 1, &err), GD_OK);
    CU_ASSERT_EQUAL(l.info.nparams, 2);
    CU_ASSERT_EQUAL(l.info.params[0].role, GD_ROLE_SCALE);
    CU_ASSERT_EQUAL(l.info.params[0].init_value, 1.0f);
    CU_ASSERT_EQUAL(l.info.params[1].role, GD_ROLE_SHIFT);
    CU_ASSERT_EQUAL(l.info.params[1].init_value, 0.0f);
    CU_ASSERT_EQUAL(l.info.nbuffers, 2);
    CU_ASSERT_STRING_EQUAL(l.info.buffers[0].name, "running_mean");
    CU_ASSERT_EQUAL(l.info.buffers[0].init_value, 0.0f);
    CU_ASSERT_STRING_EQUAL(l.info.buffers[1].name, "running_var");
    CU_ASSERT_EQUAL(l.info.buffers[1].init_value, 1.0f);
    lh_free(&l);
    gd_spec_free(s);
    CU_ASSERT_NOT_EQUAL(test_spec_try(&bad, &err, GD_KIND_LAYER, "batchnorm", "eps", 'n', 0.0,
                                      NULL), GD_OK);
    CU_ASSERT_NOT_EQUAL(test_spec_try(&bad, &err, GD_KIND_LAYER, "leaky_relu", "slope", 'n',
                                      -0.1, NULL), GD_OK);
}

/* A training batch of one: running_var stays, running_mean moves, y = beta,
 * dx = 0 (x - mean is 0). */
static void test_layers_batchnorm_batch_of_one(void)
{
    gd_spec *s = test_spec(GD_KIND_LAYER, "batchnorm", "momentum", 'n', 0.5, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    static const float gamma[] = { 2, 3 }, beta[] = { 0.5f, -1 };
    static const float rm[] = { 1, 1 }, rv[] = { 4, 9 };
    const float *pv[] = { gamma, beta }, *bv[] = { rm, rv };
    lh_layer l;
    gd_error err;
    CU_ASSERT_EQUAL_FATAL(lh_create(&l, s, &(gd_shape){ 1, { 2 } }, 1, pv, bv, 1, &err), GD_OK);
    const float x[] = { 3, -5 }, dy[] = { 1, 1 };
    CU_ASSERT_EQUAL(lh_forward(&l, x, true, &err), GD_OK);
    CU_ASSERT_EQUAL(l.y[0], 0.5f);
    CU_ASSERT_EQUAL(l.y[1], -1.0f);
    CU_ASSERT_EQUAL(l.buffers[0][0], 2.0f);   /* 0.5·1 + 0.5·3 */
    CU_ASSERT_EQUAL(l.buffers[0][1], -2.0f);  /* 0.5·1 + 0.5·(−5) */
    CU_ASSERT_EQUAL(l.buffers[1][0], 4.0f);
    CU_ASSERT_EQUAL(l.buffers[1][1], 9.0f);
    lh_backward(&l, x, dy, true, true);
    CU_ASSERT_EQUAL(l.dx[0], 0.0f);
    CU_ASSERT_EQUAL(l.dx[1], 0.0f);
    CU_ASSERT_EQUAL(l.grads[1][0], 1.0f);     /* grad_beta = Σ dy */
    lh_free(&l);
    gd_spec_free(s);
}

static void test_layers_cross_entropy_invalid_target(void)
{
    gd_spec *s = test_spec(GD_KIND_LOSS, "cross_entropy", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    float logits[6] = { 1, 2, 3, 0, 0, 0 }, g[6];
    gd_tensor pred = { logits, gd_shape_2(2, 3) }, grad = { g, gd_shape_2(2, 3) };
    static const float bad[][2] = { { 0, 3 }, { -1, 0 }, { 0.5f, 1 }, { 0, NAN } };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        float t[2] = { bad[k][0], bad[k][1] };
        gd_tensor target = { t, gd_shape_1(2) };
        CU_ASSERT_TRUE(isnan(s->component->vt.loss->forward(s->options, &pred, &target, &grad)));
        CU_ASSERT_TRUE(isnan(s->component->vt.loss->forward(s->options, &pred, &target, NULL)));
    }
    float t[2] = { 2, 0 };
    gd_tensor target = { t, gd_shape_1(2) };
    CU_ASSERT_TRUE(isfinite(s->component->vt.loss->forward(s->options, &pred, &target, &grad)));
    gd_spec_free(s);
}

int main(void)
{
    static const test_case cases[] = {
        TEST(test_layers_reference),
        TEST(test_layers_fd_dense),
        TEST(test_layers_dense_fused_relu),
        TEST(test_layers_fd_activations),
        TEST(test_layers_fd_batchnorm),
        TEST(test_layers_fd_dropout),
        TEST(test_layers_fd_losses),
        TEST(test_layers_info),
        TEST(test_layers_batchnorm_batch_of_one),
        TEST(test_layers_cross_entropy_invalid_target),
        TEST_END,
    };
    return test_main("layers", cases);
}
