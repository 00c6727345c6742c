/*
 * tests/plugins/test_dropout.c: dropout masks, scalings and reproducibility.
 *
 * Statistics: the kept fraction of n independent Bernoulli(1 − rate) draws
 * has standard error √(p(1 − p)/n); a correct mask lands within 4 of them
 * with probability > 0.9999, and the test is deterministic anyway (fixed
 * seed), so it cannot flake.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "layer_harness.h"
#include "support.h"

#define ROWS 1000
#define COLS 100
#define N ((int64_t)ROWS * COLS)

/* A dropout layer over [ROWS, COLS] with the given options, rng from seed. */
static gd_status make(lh_layer *l, gd_spec *s, uint64_t seed)
{
    gd_error err;
    gd_status st = lh_create(l, s, &(gd_shape){ 1, { COLS } }, ROWS, NULL, NULL, seed, &err);
    if (st != GD_OK)
        fprintf(stderr, "\n  dropout create: %s\n", err.msg);
    return st;
}

/* x_i = 1 + (i mod 7)/8: positive and varied, so 0 means dropped. */
static float *input(void)
{
    float *x = malloc((size_t)N * sizeof *x);
    for (int64_t i = 0; i < N; i++)
        x[i] = 1.0f + (float)(i % 7) / 8.0f;
    return x;
}

static void test_dropout_kept_fraction(void)
{
    static const double rates[] = { 0.1, 0.5, 0.8 };
    float *x = input();
    for (size_t k = 0; k < sizeof rates / sizeof rates[0]; k++) {
        gd_spec *s = test_spec(GD_KIND_LAYER, "dropout", "rate", 'n', rates[k], NULL);
        CU_ASSERT_PTR_NOT_NULL_FATAL(s);
        lh_layer l;
        CU_ASSERT_EQUAL_FATAL(make(&l, s, 11), GD_OK);
        gd_error err;
        CU_ASSERT_EQUAL(lh_forward(&l, x, true, &err), GD_OK);
        int64_t kept = 0;
        for (int64_t i = 0; i < N; i++)
            kept += l.y[i] != 0;
        double p = 1.0 - rates[k], frac = (double)kept / (double)N;
        double se = sqrt(p * (1 - p) / (double)N);
        if (!(fabs(frac - p) <= 4 * se)) {
            fprintf(stderr, "\n  rate %g: kept %.5f, expected %.5f ± %.5f\n", rates[k], frac, p,
                    4 * se);
            CU_FAIL("kept fraction");
        }
        lh_free(&l);
        gd_spec_free(s);
    }
    free(x);
}

/* Every y is 0 or scale·x; returns how many are 0. */
static int64_t check_values(const char *what, const float *y, const float *x, float scale)
{
    int64_t zeros = 0;
    for (int64_t i = 0; i < N; i++) {
        if (y[i] == 0) {
            zeros++;
            continue;
        }
        float want = scale * x[i];
        if (!(fabs(y[i] - want) <= 1e-6 * fabs(want))) {
            fprintf(stderr, "\n  %s[%lld] = %.9g, want 0 or %.9g\n", what, (long long)i, y[i],
                    want);
            CU_FAIL("dropout value");
            break;
        }
    }
    return zeros;
}

static void test_dropout_inverted_scaling(void)
{
    gd_spec *s = test_spec(GD_KIND_LAYER, "dropout", "rate", 'n', 0.3, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    lh_layer l;
    CU_ASSERT_EQUAL_FATAL(make(&l, s, 3), GD_OK);
    float *x = input();
    gd_error err;
    CU_ASSERT_EQUAL(lh_forward(&l, x, true, &err), GD_OK);
    int64_t zeros = check_values("inverted train y", l.y, x, (float)(1 / 0.7));
    CU_ASSERT_TRUE(zeros > 0 && zeros < N);
    /* backward applies the same mask and scale: dy = 1 gives dx = y/x */
    float *ones = malloc((size_t)N * sizeof *ones);
    for (int64_t i = 0; i < N; i++)
        ones[i] = 1;
    lh_backward(&l, x, ones, true, true);
    for (int64_t i = 0; i < N; i++)
        if ((l.y[i] == 0) != (l.dx[i] == 0) || fabs(l.dx[i] * x[i] - l.y[i]) > 2e-6 * x[i]) {
            fprintf(stderr, "\n  dx[%lld] = %g does not follow the mask (y %g)\n", (long long)i,
                    l.dx[i], l.y[i]);
            CU_FAIL("backward mask");
            break;
        }
    /* evaluation: the identity, forward and backward */
    CU_ASSERT_EQUAL(lh_forward(&l, x, false, &err), GD_OK);
    check_close("inverted eval y", l.y, x, N, 0);
    lh_backward(&l, x, ones, false, true);
    check_close("inverted eval dx", l.dx, ones, N, 0);
    free(ones);
    free(x);
    lh_free(&l);
    gd_spec_free(s);
}

static void test_dropout_test_scaling(void)
{
    gd_spec *s = test_spec(GD_KIND_LAYER, "dropout", "rate", 'n', 0.25, "scaling", 's', "test",
                           NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    lh_layer l;
    CU_ASSERT_EQUAL_FATAL(make(&l, s, 5), GD_OK);
    float *x = input();
    gd_error err;
    CU_ASSERT_EQUAL(lh_forward(&l, x, true, &err), GD_OK);
    int64_t zeros = check_values("test-scaling train y", l.y, x, 1.0f);
    CU_ASSERT_TRUE(zeros > 0 && zeros < N);
    CU_ASSERT_EQUAL(lh_forward(&l, x, false, &err), GD_OK);
    float *want = malloc((size_t)N * sizeof *want);
    for (int64_t i = 0; i < N; i++)
        want[i] = 0.75f * x[i];
    check_close("test-scaling eval y", l.y, want, N, 1e-6 * 2);
    free(want);
    free(x);
    lh_free(&l);
    gd_spec_free(s);
}

static void test_dropout_rate_zero_keeps_all(void)
{
    gd_spec *s = test_spec(GD_KIND_LAYER, "dropout", "rate", 'n', 0.0, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    lh_layer l;
    CU_ASSERT_EQUAL_FATAL(make(&l, s, 5), GD_OK);
    float *x = input();
    gd_error err;
    CU_ASSERT_EQUAL(lh_forward(&l, x, true, &err), GD_OK);
    check_close("rate 0 train y", l.y, x, N, 0);
    free(x);
    lh_free(&l);
    gd_spec_free(s);
}

/* The mask of one training forward from an rng of seed `seed`. */
static float *mask_of(uint64_t seed)
{
    gd_spec *s = test_spec(GD_KIND_LAYER, "dropout", NULL);
    lh_layer l;
    if (!s || make(&l, s, seed) != GD_OK) {
        gd_spec_free(s);
        return NULL;
    }
    float *x = input(), *y = malloc((size_t)N * sizeof *y);
    gd_error err;
    CU_ASSERT_EQUAL(lh_forward(&l, x, true, &err), GD_OK);
    memcpy(y, l.y, (size_t)N * sizeof *y);
    free(x);
    lh_free(&l);
    gd_spec_free(s);
    return y;
}

static void test_dropout_seed_determines_mask(void)
{
    float *a = mask_of(21), *b = mask_of(21), *c = mask_of(22);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(memcmp(a, b, (size_t)N * sizeof *a), 0);
    int64_t differ = 0;
    for (int64_t i = 0; i < N; i++)
        differ += (a[i] == 0) != (c[i] == 0);
    /* Independent masks at rate 0.5 differ in about half the places. */
    CU_ASSERT_TRUE(differ > N / 4);
    free(a);
    free(b);
    free(c);
}

static void test_dropout_successive_masks_differ(void)
{
    gd_spec *s = test_spec(GD_KIND_LAYER, "dropout", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    lh_layer l;
    CU_ASSERT_EQUAL_FATAL(make(&l, s, 9), GD_OK);
    float *x = input(), *first = malloc((size_t)N * sizeof *first);
    gd_error err;
    CU_ASSERT_EQUAL(lh_forward(&l, x, true, &err), GD_OK);
    memcpy(first, l.y, (size_t)N * sizeof *first);
    CU_ASSERT_EQUAL(lh_forward(&l, x, true, &err), GD_OK);
    CU_ASSERT_NOT_EQUAL(memcmp(first, l.y, (size_t)N * sizeof *first), 0);
    free(first);
    free(x);
    lh_free(&l);
    gd_spec_free(s);
}

static void test_dropout_rate_one_refused(void)
{
    gd_spec *s = NULL;
    gd_error err;
    CU_ASSERT_EQUAL(test_spec_try(&s, &err, GD_KIND_LAYER, "dropout", "rate", 'n', 1.0, NULL),
                    GD_EINVAL);
    CU_ASSERT_PTR_NULL(s);
    if (!strstr(err.msg, "must be in [0, 1)")) {
        fprintf(stderr, "\n  message '%s'\n", err.msg);
        CU_FAIL("rate = 1 message");
    }
    CU_ASSERT_EQUAL(test_spec_try(&s, &err, GD_KIND_LAYER, "dropout", "rate", 'n', -0.1, NULL),
                    GD_EINVAL);
    CU_ASSERT_EQUAL(test_spec_try(&s, &err, GD_KIND_LAYER, "dropout", "scaling", 's', "train",
                                  NULL), GD_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "'inverted', 'test'"));
}

int main(void)
{
    static const test_case cases[] = {
        TEST(test_dropout_kept_fraction),
        TEST(test_dropout_inverted_scaling),
        TEST(test_dropout_test_scaling),
        TEST(test_dropout_rate_zero_keeps_all),
        TEST(test_dropout_seed_determines_mask),
        TEST(test_dropout_successive_masks_differ),
        TEST(test_dropout_rate_one_refused),
        TEST_END,
    };
    return test_main("dropout", cases);
}
