/*
 * tests/plugins/test_layers_sequence.c: the sequence layers (embedding,
 * positional, gelu, attention, dense on [T, d]) and cross_entropy per
 * position, against finite differences and a plain attention written here;
 * and their refusals. The reference values are checked through Lua
 * (tests/lua/ref_layers_sequence.lua).
 *
 * Finite differences as in test_layers.c: central, h = 1e-2 in float, on
 * L = sum(y * R) with R fixed and random, accumulated in double;
 * |fd - analytic| <= 2e-3 * max(1, max|analytic|). A wrong factor, a
 * missing term (the row sum in softmax's backward), a transposed product or
 * a head reading another head's features is off by O(0.1) or more.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../plugins/layers/vec_math.h"
#include "layer_harness.h"
#include "support.h"

#define FD_H 1e-2f
#define FD_TOL 2e-3

static void fill_normal(gd_rng *r, float *x, int64_t n, double scale)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)(scale * gd_rng_normal(r));
}

typedef struct fd_setup {
    lh_layer *l;
    float *x;
    const float *r;
} fd_setup;

static double objective(fd_setup *s)
{
    gd_error err;
    CU_ASSERT_EQUAL(lh_forward(s->l, s->x, true, &err), GD_OK);
    double sum = 0;
    for (int64_t i = 0; i < s->l->batch * s->l->out_numel; i++)
        sum += (double)s->l->y[i] * s->r[i];
    return sum;
}

static void fd_compare(const char *what, fd_setup *s, float *v, const float *g, int64_t n)
{
    double gmax = fmax(1.0, max_abs(g, n));
    for (int64_t i = 0; i < n; i++) {
        float keep = v[i], hi = keep + FD_H, lo = keep - FD_H;
        v[i] = hi;
        double fp = objective(s);
        v[i] = lo;
        double fm = objective(s);
        v[i] = keep;
        double fd = (fp - fm) / ((double)hi - (double)lo);
        if (!(fabs(fd - g[i]) <= FD_TOL * gmax)) {
            fprintf(stderr, "\n  %s[%lld]: analytic %.7g, finite difference %.7g\n", what,
                    (long long)i, g[i], fd);
            CU_FAIL("gradient differs from finite differences");
            return;
        }
    }
}

/* dx (unless the input is ids) and every parameter gradient of spec's layer
 * on per-sample shape in; ids > 0: the input is random ids below it. */
static void fd_layer(gd_spec *spec, gd_shape in, int64_t batch, int64_t ids)
{
    CU_ASSERT_PTR_NOT_NULL_FATAL(spec);
    lh_layer l;
    gd_error err;
    CU_ASSERT_EQUAL_FATAL(lh_create(&l, spec, &in, batch, NULL, NULL, 7, &err), GD_OK);
    gd_rng r = gd_rng_stream(42, 0);
    int64_t nx = batch * l.in_numel, ny = batch * l.out_numel;
    float *x = malloc((size_t)nx * sizeof *x), *R = malloc((size_t)ny * sizeof *R);
    for (int64_t i = 0; i < nx; i++)
        x[i] = ids ? (float)gd_rng_below(&r, (uint64_t)ids) : (float)gd_rng_normal(&r);
    fill_normal(&r, R, ny, 1.0);
    /* Parameters away from their starting values (biases 0, small tables). */
    for (int i = 0; i < l.info.nparams; i++)
        for (int64_t k = 0; k < l.param_numel[i]; k++)
            l.params[i][k] += (float)(0.5 * gd_rng_normal(&r));
    fd_setup s = { &l, x, R };
    CU_ASSERT_EQUAL(lh_forward(&l, x, true, &err), GD_OK);
    lh_zero_grad(&l);
    lh_backward(&l, x, R, true, true);
    char what[96];
    if (!ids) {
        float *dx = malloc((size_t)nx * sizeof *dx);
        memcpy(dx, l.dx, (size_t)nx * sizeof *dx);
        snprintf(what, sizeof what, "%s dx", spec->component->name);
        fd_compare(what, &s, x, dx, nx);
        free(dx);
    }
    for (int i = 0; i < l.info.nparams; i++) {
        snprintf(what, sizeof what, "%s d%s", spec->component->name, l.info.params[i].name);
        fd_compare(what, &s, l.params[i], l.grads[i], l.param_numel[i]);
    }
    free(x);
    free(R);
    lh_free(&l);
    gd_spec_free(spec);
}

static gd_shape seq(int64_t t, int64_t d)
{
    return gd_shape_2(t, d);
}

static void test_layers_sequence_fd_attention(void)
{
    /* T = 40 spans two causal blocks of 32 rows. */
    fd_layer(test_spec(GD_KIND_LAYER, "attention", "heads", 'i', 2LL, NULL), seq(40, 4), 1, 0);
    fd_layer(test_spec(GD_KIND_LAYER, "attention", "heads", 'i', 2LL, "causal", 'b', 0, NULL),
             seq(5, 6), 2, 0);
    fd_layer(test_spec(GD_KIND_LAYER, "attention", "heads", 'i', 3LL, "bias", 'b', 0, NULL),
             seq(4, 6), 2, 0);
    fd_layer(test_spec(GD_KIND_LAYER, "attention", "heads", 'i', 1LL, "causal", 'b', 0,
                       "bias", 'b', 0, NULL), seq(3, 4), 2, 0);
}

static void test_layers_sequence_fd_others(void)
{
    fd_layer(test_spec(GD_KIND_LAYER, "embedding", "vocab", 'i', 5LL, "dim", 'i', 3LL, NULL),
             gd_shape_1(6), 2, 5);
    fd_layer(test_spec(GD_KIND_LAYER, "positional", "max_len", 'i', 6LL, NULL), seq(4, 3), 2, 0);
    fd_layer(test_spec(GD_KIND_LAYER, "positional", "max_len", 'i', 4LL, "kind", 's',
                       "sinusoidal", NULL), seq(4, 5), 2, 0);
    fd_layer(test_spec(GD_KIND_LAYER, "gelu", NULL), seq(3, 5), 2, 0);
    fd_layer(test_spec(GD_KIND_LAYER, "gelu", "approximate", 's', "tanh", NULL), seq(3, 5), 2, 0);
    fd_layer(test_spec(GD_KIND_LAYER, "dense", "units", 'i', 4LL, NULL), seq(3, 5), 2, 0);
}

/* softmax(q k^T / sqrt(dh)) v per head, written the plain way. */
static void plain_attention(const float *x, const float *wqkv, const float *bqkv,
                            const float *wo, const float *bo, int T, int d, int heads,
                            int causal, float *y)
{
    const int dh = d / heads;
    float *qkv = calloc((size_t)T * 3 * d, sizeof *qkv), *a = calloc((size_t)T * d, sizeof *a);
    for (int t = 0; t < T; t++)
        for (int o = 0; o < 3 * d; o++) {
            double v = bqkv[o];
            for (int i = 0; i < d; i++)
                v += (double)x[t * d + i] * wqkv[o * d + i];
            qkv[t * 3 * d + o] = (float)v;
        }
    double *w = malloc((size_t)T * sizeof *w);
    for (int h = 0; h < heads; h++)
        for (int i = 0; i < T; i++) {
            double mx = -INFINITY, sum = 0;
            for (int j = 0; j < T; j++) {
                double s = 0;
                for (int c = 0; c < dh; c++)
                    s += (double)qkv[i * 3 * d + h * dh + c] * qkv[j * 3 * d + d + h * dh + c];
                w[j] = causal && j > i ? -INFINITY : s / sqrt((double)dh);
                mx = fmax(mx, w[j]);
            }
            for (int j = 0; j < T; j++)
                sum += (w[j] = exp(w[j] - mx));
            for (int c = 0; c < dh; c++) {
                double v = 0;
                for (int j = 0; j < T; j++)
                    v += w[j] / sum * qkv[j * 3 * d + 2 * d + h * dh + c];
                a[i * d + h * dh + c] = (float)v;
            }
        }
    for (int t = 0; t < T; t++)
        for (int o = 0; o < d; o++) {
            double v = bo[o];
            for (int i = 0; i < d; i++)
                v += (double)a[t * d + i] * wo[o * d + i];
            y[t * d + o] = (float)v;
        }
    free(w);
    free(qkv);
    free(a);
}

/* Longer than a causal block (77 = 2*32 + 13), several samples and heads:
 * the blocked, parallel forward equals the plain one. */
static void test_layers_sequence_attention_plain(void)
{
    enum { T = 77, D = 8, H = 2, N = 3 };
    for (int causal = 0; causal < 2; causal++) {
        gd_spec *s = test_spec(GD_KIND_LAYER, "attention", "heads", 'i', (long long)H, "causal",
                               'b', causal, NULL);
        CU_ASSERT_PTR_NOT_NULL_FATAL(s);
        lh_layer l;
        gd_error err;
        gd_shape in = seq(T, D);
        CU_ASSERT_EQUAL_FATAL(lh_create(&l, s, &in, N, NULL, NULL, 3, &err), GD_OK);
        gd_rng r = gd_rng_stream(9, 0);
        for (int p = 0; p < 4; p++)
            fill_normal(&r, l.params[p], l.param_numel[p], 0.5);
        float *x = malloc(sizeof(float) * N * T * D), *want = malloc(sizeof(float) * T * D);
        fill_normal(&r, x, N * T * D, 1.0);
        CU_ASSERT_EQUAL(lh_forward(&l, x, true, &err), GD_OK);
        for (int n = 0; n < N; n++) {
            plain_attention(x + n * T * D, l.params[0], l.params[1], l.params[2], l.params[3], T,
                            D, H, causal, want);
            check_close("attention y", l.y + n * T * D, want, T * D, 1e-5);
        }
        free(x);
        free(want);
        lh_free(&l);
        gd_spec_free(s);
    }
}

/* cross_entropy on [N, T, C] with [N, T] targets: the mean over N*T rows. */
static void test_layers_sequence_fd_cross_entropy(void)
{
    enum { N = 2, T = 3, C = 4 };
    gd_spec *spec = test_spec(GD_KIND_LOSS, "cross_entropy", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(spec);
    const gd_loss_vtable *vt = spec->component->vt.loss;
    gd_rng r = gd_rng_stream(43, 0);
    float z[N * T * C], g[N * T * C], t[N * T];
    fill_normal(&r, z, N * T * C, 2.0);
    for (int i = 0; i < N * T; i++)
        t[i] = (float)gd_rng_below(&r, C);
    gd_tensor pred = { z, { 3, { N, T, C } } }, grad = { g, { 3, { N, T, C } } };
    gd_tensor target = { t, gd_shape_2(N, T) };
    double loss = vt->forward(spec->options, &pred, &target, &grad);
    double want = 0;
    for (int i = 0; i < N * T; i++) {
        double sum = 0;
        for (int c = 0; c < C; c++)
            sum += exp(z[i * C + c]);
        want += log(sum) - z[i * C + (int)t[i]];
    }
    CU_ASSERT_DOUBLE_EQUAL(loss, want / (N * T), 1e-6);
    for (int i = 0; i < N * T * C; i++) {
        float keep = z[i], hi = keep + FD_H, lo = keep - FD_H;
        z[i] = hi;
        double fp = vt->forward(spec->options, &pred, &target, NULL);
        z[i] = lo;
        double fm = vt->forward(spec->options, &pred, &target, NULL);
        z[i] = keep;
        CU_ASSERT_DOUBLE_EQUAL((fp - fm) / ((double)hi - (double)lo), g[i], FD_TOL);
    }
    gd_spec_free(spec);
}

/* The vectorizable exp, erf and tanh of gelu and attention's softmax
 * against libm's, over the range a network feeds them: exp on (-87, 20]
 * (the softmax's scores minus their maximum reach down to where float
 * underflows; below -87 it clamps), erf and tanh on [-40, 40]. */
static void test_layers_sequence_vec_math_plain(void)
{
    double worst_exp = 0, worst_erf = 0, worst_tanh = 0;
    for (int i = -86999; i <= 20000; i++) {
        float x = (float)i * 1e-3f;
        worst_exp = fmax(worst_exp, fabs(gm_exp(x) - exp((double)x)) / exp((double)x));
    }
    for (int i = -40000; i <= 40000; i++) {
        float x = (float)i * 1e-3f;   /* [-40, 40] */
        worst_erf = fmax(worst_erf, fabs(gm_erf(x) - erf((double)x)));
        worst_tanh = fmax(worst_tanh, fabs(gm_tanh(x) - tanh((double)x)));
    }
    CU_ASSERT(worst_exp < 4e-7);
    CU_ASSERT(worst_erf < 5e-7);   /* 1.5e-7 in exact arithmetic, 4.1e-7 in float */
    CU_ASSERT(worst_tanh < 3e-7);
    CU_ASSERT_EQUAL(gm_exp(-200.0f) < 1e-37f, 1);
    CU_ASSERT(isfinite(gm_exp(200.0f)) && gm_tanh(50.0f) == 1.0f && gm_tanh(-50.0f) == -1.0f);
}

static void expect_refused(gd_spec *s, gd_shape in, const char *fragment)
{
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    lh_layer l;
    gd_error err;
    CU_ASSERT_NOT_EQUAL(lh_create(&l, s, &in, 2, NULL, NULL, 1, &err), GD_OK);
    if (!strstr(err.msg, fragment)) {
        fprintf(stderr, "\n  message \"%s\" lacks \"%s\"\n", err.msg, fragment);
        CU_FAIL("wrong message");
    }
    gd_spec_free(s);
}

static void test_layers_sequence_refusals(void)
{
    expect_refused(test_spec(GD_KIND_LAYER, "attention", "heads", 'i', 3LL, NULL), seq(4, 8),
                   "attention: d = 8 is not divisible by heads = 3");
    expect_refused(test_spec(GD_KIND_LAYER, "attention", "heads", 'i', 2LL, NULL),
                   gd_shape_1(8), "attention: takes a sequence [T, d]");
    gd_shape img = { 3, { 64, 7, 7 } };
    expect_refused(test_spec(GD_KIND_LAYER, "dense", "units", 'i', 4LL, NULL), img,
                   "dense: gets [64, 7, 7] and needs a flat input: put gd.layer.flatten{} "
                   "between them");
    expect_refused(test_spec(GD_KIND_LAYER, "positional", "max_len", 'i', 3LL, NULL), seq(4, 2),
                   "positional: the sequence has 4 positions, more than max_len = 3");
    expect_refused(test_spec(GD_KIND_LAYER, "embedding", "vocab", 'i', 3LL, "dim", 'i', 2LL,
                             NULL), seq(4, 2), "embedding: takes a sequence of token ids [T]");

    /* An id outside the vocabulary fails the forward, naming it. */
    gd_spec *s = test_spec(GD_KIND_LAYER, "embedding", "vocab", 'i', 3LL, "dim", 'i', 2LL, NULL);
    lh_layer l;
    gd_error err;
    gd_shape in = gd_shape_1(2);
    CU_ASSERT_EQUAL_FATAL(lh_create(&l, s, &in, 1, NULL, NULL, 1, &err), GD_OK);
    CU_ASSERT_EQUAL(l.info.input_ids, 3);
    CU_ASSERT_EQUAL(l.info.params[0].role, GD_ROLE_EMBEDDING);
    const float bad[] = { 1, 3 };
    CU_ASSERT_NOT_EQUAL(lh_forward(&l, bad, true, &err), GD_OK);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "input 1 holds id 3, not one of 0..2"));
    lh_free(&l);
    gd_spec_free(s);
}

int main(void)
{
    static const test_case cases[] = {
        TEST(test_layers_sequence_fd_attention),
        TEST(test_layers_sequence_fd_others),
        TEST(test_layers_sequence_attention_plain),
        TEST(test_layers_sequence_fd_cross_entropy),
        TEST(test_layers_sequence_vec_math_plain),
        TEST(test_layers_sequence_refusals),
        TEST_END,
    };
    return test_main("layers_sequence", cases);
}
