/*
 * tests/plugins/test_initializers.c: every initializer on a square
 * (512 x 512, fan_in = fan_out = 512) and a non-square (256 x 784,
 * fan_in = 784, fan_out = 256) tensor.
 *
 * Random ones: sample mean and variance within 4 standard errors of the
 * formula. For N(mu, s^2): se(mean) = s/sqrt(n), se(var) = sqrt(2 s^4/(n-1)).
 * For U(c-a, c+a): var = a^2/3, se(mean) = sqrt(a^2/3/n), and the variance
 * estimate has se sqrt((a^4/5 - a^4/9)/n) (the variance of x^2). Uniform
 * draws stay within [c-a, c+a]. Deterministic ones are exact. Same (seed,
 * stream) gives the same numbers, another stream others.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

enum dist { NORMAL, UNIFORM, EXACT };

/* The law an initializer should follow for given fans. */
typedef struct law {
    enum dist dist;
    double center;   /* mean */
    double scale;    /* NORMAL: std; UNIFORM: half-width a; EXACT: unused */
} law;

typedef struct init_case {
    const char *name;
    gd_spec *(*make)(void);
    law (*law_of)(int64_t fan_in, int64_t fan_out);
} init_case;

static gd_spec *plain(const char *name) { return test_spec(GD_KIND_INITIALIZER, name, NULL); }
static gd_spec *make_xn(void) { return plain("xavier_normal"); }
static gd_spec *make_xu(void) { return plain("xavier_uniform"); }
static gd_spec *make_hn(void) { return plain("he_normal"); }
static gd_spec *make_hu(void) { return plain("he_uniform"); }
static gd_spec *make_zeros(void) { return plain("zeros"); }
static gd_spec *make_constant(void)
{
    return test_spec(GD_KIND_INITIALIZER, "constant", "value", 'n', 0.25, NULL);
}
static gd_spec *make_normal(void)
{
    return test_spec(GD_KIND_INITIALIZER, "normal", "mean", 'n', 0.5, "std", 'n', 0.2, NULL);
}
static gd_spec *make_uniform(void)
{
    return test_spec(GD_KIND_INITIALIZER, "uniform", "low", 'n', -0.3, "high", 'n', 0.7, NULL);
}

static law law_xn(int64_t i, int64_t o)
{
    return (law){ NORMAL, 0, sqrt(2.0 / (double)(i + o)) };
}
static law law_xu(int64_t i, int64_t o)
{
    return (law){ UNIFORM, 0, sqrt(6.0 / (double)(i + o)) };
}
static law law_hn(int64_t i, int64_t o)
{
    (void)o;
    return (law){ NORMAL, 0, sqrt(2.0 / (double)i) };
}
static law law_hu(int64_t i, int64_t o)
{
    (void)o;
    return (law){ UNIFORM, 0, sqrt(6.0 / (double)i) };
}
/* The fixed laws of the make_* specs above. */
static law law_zeros(int64_t i, int64_t o) { (void)i; (void)o; return (law){ EXACT, 0, 0 }; }
static law law_constant(int64_t i, int64_t o) { (void)i; (void)o; return (law){ EXACT, 0.25, 0 }; }
static law law_normal(int64_t i, int64_t o) { (void)i; (void)o; return (law){ NORMAL, 0.5, 0.2 }; }
static law law_uniform(int64_t i, int64_t o) { (void)i; (void)o; return (law){ UNIFORM, .2, .5 }; }

static const init_case cases[] = {
    { "xavier_normal", make_xn, law_xn },
    { "xavier_uniform", make_xu, law_xu },
    { "he_normal", make_hn, law_hn },
    { "he_uniform", make_hu, law_hu },
    { "zeros", make_zeros, law_zeros },
    { "constant", make_constant, law_constant },
    { "normal", make_normal, law_normal },
    { "uniform", make_uniform, law_uniform },
};

static const struct { int64_t rows, cols, fan_in, fan_out; } shapes[] = {
    { 512, 512, 512, 512 },
    { 256, 784, 784, 256 },   /* dense{units=256} on 784 inputs: W is [out, in] */
};

#define SENTINEL 12345.0f

/* Fill n values (plus a sentinel past the end that must survive). */
static float *fill(const gd_spec *s, int64_t n, int64_t fan_in, int64_t fan_out, uint64_t seed,
                   uint64_t stream)
{
    float *x = malloc((size_t)(n + 1) * sizeof *x);
    if (!x)
        return NULL;
    x[n] = SENTINEL;
    gd_rng rng = gd_rng_stream(seed, stream);
    gd_error err;
    gd_status st = s->component->vt.initializer->fill(s->options, x, n, fan_in, fan_out, &rng,
                                                      &err);
    if (st != GD_OK) {
        fprintf(stderr, "\n  %s: fill failed: %s\n", s->component->name, err.msg);
        CU_FAIL("fill failed");
        free(x);
        return NULL;
    }
    CU_ASSERT_EQUAL(x[n], SENTINEL);
    return x;
}

static void check_stats(const char *what, const float *x, int64_t n, law l)
{
    double sum = 0;
    for (int64_t i = 0; i < n; i++)
        sum += x[i];
    const double mean = sum / (double)n;
    double ss = 0;
    for (int64_t i = 0; i < n; i++)
        ss += ((double)x[i] - mean) * ((double)x[i] - mean);
    const double var = ss / (double)(n - 1);

    double want_var, se_mean, se_var;
    if (l.dist == NORMAL) {
        const double s2 = l.scale * l.scale;
        want_var = s2;
        se_mean = l.scale / sqrt((double)n);
        se_var = sqrt(2.0 * s2 * s2 / (double)(n - 1));
    } else {
        const double a2 = l.scale * l.scale, a4 = a2 * a2;
        want_var = a2 / 3.0;
        se_mean = sqrt(want_var / (double)n);
        se_var = sqrt((a4 / 5.0 - a4 / 9.0) / (double)n);
        const float lo = (float)(l.center - l.scale), hi = (float)(l.center + l.scale);
        int64_t out = 0;
        for (int64_t i = 0; i < n; i++)
            out += !(x[i] >= lo && x[i] <= hi);
        if (out) {
            fprintf(stderr, "\n  %s: %lld values outside [%.9g, %.9g]\n", what, (long long)out,
                    lo, hi);
            CU_FAIL("uniform draw out of bounds");
        }
    }
    if (!(fabs(mean - l.center) <= 4 * se_mean)) {
        fprintf(stderr, "\n  %s: mean %.6g, want %.6g +- %.3g\n", what, mean, l.center,
                4 * se_mean);
        CU_FAIL("sample mean too far from the formula");
    }
    if (!(fabs(var - want_var) <= 4 * se_var)) {
        fprintf(stderr, "\n  %s: variance %.6g, want %.6g +- %.3g\n", what, var, want_var,
                4 * se_var);
        CU_FAIL("sample variance too far from the formula");
    }
}

static void test_initializers_distributions(void)
{
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        gd_spec *s = cases[c].make();
        CU_ASSERT_PTR_NOT_NULL_FATAL(s);
        for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
            const int64_t n = shapes[k].rows * shapes[k].cols;
            const law l = cases[c].law_of(shapes[k].fan_in, shapes[k].fan_out);
            float *x = fill(s, n, shapes[k].fan_in, shapes[k].fan_out, 42, 3 + k);
            if (!x)
                continue;
            char what[96];
            snprintf(what, sizeof what, "%s %lldx%lld", cases[c].name,
                     (long long)shapes[k].rows, (long long)shapes[k].cols);
            if (l.dist == EXACT) {
                const float want = (float)l.center;
                int64_t bad = 0;
                for (int64_t i = 0; i < n; i++)
                    bad += x[i] != want;
                if (bad) {
                    fprintf(stderr, "\n  %s: %lld values differ from %g\n", what,
                            (long long)bad, want);
                    CU_FAIL("deterministic initializer not exact");
                }
            } else {
                check_stats(what, x, n, l);
            }
            free(x);
        }
        gd_spec_free(s);
    }
}

static void test_initializers_reproducible_by_stream(void)
{
    const int64_t n = 4096, fi = 64, fo = 64;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        gd_spec *s = cases[c].make();
        CU_ASSERT_PTR_NOT_NULL_FATAL(s);
        float *a = fill(s, n, fi, fo, 7, 1);
        float *b = fill(s, n, fi, fo, 7, 1);
        float *d = fill(s, n, fi, fo, 7, 2);
        float *e = fill(s, n, fi, fo, 8, 1);
        if (a && b && d && e) {
            CU_ASSERT_EQUAL(memcmp(a, b, (size_t)n * sizeof *a), 0);
            if (cases[c].law_of(fi, fo).dist != EXACT) {
                int64_t same_stream = 0, same_seed = 0;
                for (int64_t i = 0; i < n; i++) {
                    same_stream += a[i] == d[i];
                    same_seed += a[i] == e[i];
                }
                /* Independent continuous draws coincide almost never. */
                CU_ASSERT(same_stream < n / 100);
                CU_ASSERT(same_seed < n / 100);
            }
        }
        free(a);
        free(b);
        free(d);
        free(e);
        gd_spec_free(s);
    }
}

static void expect_fill_refused(const gd_spec *s, int64_t fan_in, int64_t fan_out,
                                const char *fragment)
{
    float x[8];
    for (int i = 0; i < 8; i++)
        x[i] = SENTINEL;
    gd_rng rng = gd_rng_stream(1, 1);
    gd_error err = { "" };
    gd_status st = s->component->vt.initializer->fill(s->options, x, 8, fan_in, fan_out, &rng,
                                                      &err);
    CU_ASSERT_EQUAL(st, GD_EINVAL);
    if (!strstr(err.msg, fragment)) {
        fprintf(stderr, "\n  message '%s' lacks '%s'\n", err.msg, fragment);
        CU_FAIL("message");
    }
    for (int i = 0; i < 8; i++)
        CU_ASSERT_EQUAL(x[i], SENTINEL);   /* a refused fill writes nothing */
}

static void test_initializers_uniform_low_not_below_high_refused(void)
{
    gd_spec *s = test_spec(GD_KIND_INITIALIZER, "uniform", "low", 'n', 0.5, "high", 'n', -0.5,
                           NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    expect_fill_refused(s, 4, 4, "uniform: option 'low' must be < 'high', got low 0.5, high -0.5");
    gd_spec_free(s);
    s = test_spec(GD_KIND_INITIALIZER, "uniform", "low", 'n', 1.0, "high", 'n', 1.0, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    expect_fill_refused(s, 4, 4, "uniform: option 'low' must be < 'high'");
    gd_spec_free(s);
}

static void test_initializers_bad_fans_refused(void)
{
    gd_spec *s = plain("he_normal");
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    expect_fill_refused(s, 0, 10, "he_normal: fan_in must be >= 1, got 0");
    gd_spec_free(s);
    s = plain("xavier_uniform");
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    expect_fill_refused(s, 0, 0, "xavier_uniform: fan_in + fan_out must be >= 1");
    gd_spec_free(s);
}

static void test_initializers_options_refused(void)
{
    gd_spec *s = NULL;
    gd_status st = test_spec_try(&s, &test_last_error, GD_KIND_INITIALIZER, "normal", "std", 'n',
                                 -1.0, NULL);
    CU_ASSERT_NOT_EQUAL(st, GD_OK);
    CU_ASSERT_PTR_NOT_NULL(strstr(test_last_error.msg, "normal: option 'std' must be >= 0"));
    st = test_spec_try(&s, &test_last_error, GD_KIND_INITIALIZER, "normal", NULL);
    CU_ASSERT_PTR_NOT_NULL(strstr(test_last_error.msg, "normal: option 'std' is required"));
    st = test_spec_try(&s, &test_last_error, GD_KIND_INITIALIZER, "constant", NULL);
    CU_ASSERT_PTR_NOT_NULL(strstr(test_last_error.msg, "constant: option 'value' is required"));
    st = test_spec_try(&s, &test_last_error, GD_KIND_INITIALIZER, "uniform", "low", 'n', 0.0,
                       NULL);
    CU_ASSERT_NOT_EQUAL(st, GD_OK);
    CU_ASSERT_PTR_NOT_NULL(strstr(test_last_error.msg, "uniform: option 'high' is required"));
}

int main(void)
{
    static const test_case tests[] = {
        TEST(test_initializers_distributions),
        TEST(test_initializers_reproducible_by_stream),
        TEST(test_initializers_uniform_low_not_below_high_refused),
        TEST(test_initializers_bad_fans_refused),
        TEST(test_initializers_options_refused),
        TEST_END,
    };
    return test_main("initializers", tests);
}
