/*
 * tests/test_kernels.c: every vectorized kernel of gradus/kernels.h gives
 * the same bits as its scalar twin, at every length from 0 to 100 (whole
 * vectors and every tail) and at unaligned starts; and both compute what
 * the formula says on hand-picked values.
 */
#include <math.h>
#include <string.h>

#include <gradus/kernels.h>
#include <gradus/rng.h>

#include "support.h"

enum { MAXN = 100, PAD = 3, LEN = MAXN * 8 + PAD };

/* Mixed signs and magnitudes, exact zeros, tiny and huge values. */
static void fill(float *x, int64_t n, uint64_t seed)
{
    gd_rng r = gd_rng_stream(seed, 7);
    for (int64_t i = 0; i < n; i++) {
        double u = gd_rng_normal(&r);
        x[i] = i % 11 == 0 ? 0.0f : i % 13 == 0 ? (float)(u * 1e-30) : (float)(u * (1 + i % 5));
    }
}

static void test_kernels_elementwise_match_scalar(void)
{
    static float x[LEN], dy[LEN], a[LEN], b[LEN];
    for (int off = 0; off <= PAD; off++)
        for (int64_t n = 0; n <= MAXN; n++) {
            fill(x, LEN, (uint64_t)n);
            fill(dy, LEN, (uint64_t)n + 1000);
            gd_k_relu(n, x + off, a);
            gd_k_relu_scalar(n, x + off, b);
            CU_ASSERT_EQUAL(memcmp(a, b, (size_t)n * sizeof *a), 0);
            memcpy(a, x + off, (size_t)n * sizeof *a);
            gd_k_relu_inplace(n, a);
            CU_ASSERT_EQUAL(memcmp(a, b, (size_t)n * sizeof *a), 0);
            gd_k_relu_backward(n, x + off, dy, a);
            gd_k_relu_backward_scalar(n, x + off, dy, b);
            CU_ASSERT_EQUAL(memcmp(a, b, (size_t)n * sizeof *a), 0);
            gd_k_relu_mask(n, x + off, dy, a);
            gd_k_relu_mask_scalar(n, x + off, dy, b);
            CU_ASSERT_EQUAL(memcmp(a, b, (size_t)n * sizeof *a), 0);
        }
}

static void test_kernels_rows_match_scalar(void)
{
    static float bias[MAXN], dy[LEN * 4], a[LEN * 4], b[LEN * 4];
    for (int64_t rows = 1; rows <= 5; rows++)
        for (int64_t cols = 1; cols <= MAXN; cols += 7) {
            fill(bias, cols, (uint64_t)cols);
            gd_k_fill_rows(rows, cols, bias, a);
            gd_k_fill_rows_scalar(rows, cols, bias, b);
            CU_ASSERT_EQUAL(memcmp(a, b, (size_t)(rows * cols) * sizeof *a), 0);
            CU_ASSERT_EQUAL(memcmp(a + (rows - 1) * cols, bias, (size_t)cols * sizeof *a), 0);
            fill(a, rows * cols, (uint64_t)rows + 50);
            memcpy(b, a, (size_t)(rows * cols) * sizeof *a);
            gd_k_bias_relu(rows, cols, bias, a);
            gd_k_bias_relu_scalar(rows, cols, bias, b);
            CU_ASSERT_EQUAL(memcmp(a, b, (size_t)(rows * cols) * sizeof *a), 0);
            fill(dy, rows * cols, (uint64_t)rows);
            memcpy(a, bias, (size_t)cols * sizeof *a);
            memcpy(b, bias, (size_t)cols * sizeof *b);
            gd_k_add_rows(rows, cols, dy, a);
            gd_k_add_rows_scalar(rows, cols, dy, b);
            CU_ASSERT_EQUAL(memcmp(a, b, (size_t)cols * sizeof *a), 0);
        }
}

static void test_kernels_bytes_match_scalar(void)
{
    static uint8_t s[LEN];
    static float a[LEN], b[LEN];
    for (int i = 0; i < LEN; i++)
        s[i] = (uint8_t)(i * 37 + 11);
    for (int off = 0; off <= PAD; off++)
        for (int64_t n = 0; n <= MAXN; n++) {
            gd_k_bytes_to_unit(n, s + off, a);
            gd_k_bytes_to_unit_scalar(n, s + off, b);
            CU_ASSERT_EQUAL(memcmp(a, b, (size_t)n * sizeof *a), 0);
        }
    for (int v = 0; v < 256; v++) {   /* every byte: exactly v / 255 */
        uint8_t one = (uint8_t)v;
        gd_k_bytes_to_unit(1, &one, a);
        CU_ASSERT_EQUAL(a[0], (float)v / 255.0f);
    }
}

/* One Adam pass of each kind on copies of the same state. */
static void adam_pair(int64_t n, int off, int inside)
{
    static float x[2][LEN], g[LEN], m[2][LEN], v[2][LEN];
    fill(g, LEN, (uint64_t)n + 5);
    for (int k = 0; k < 2; k++) {
        fill(x[k], LEN, (uint64_t)n);
        fill(m[k], LEN, (uint64_t)n + 1);
        fill(v[k], LEN, (uint64_t)n + 2);
        for (int i = 0; i < LEN; i++)
            v[k][i] = fabsf(v[k][i]);
    }
    void (*fn[2])(int64_t, float *restrict, const float *restrict, float *restrict,
                  float *restrict, float, float, float, float, float, float, float) = {
        inside ? gd_k_adam_inside : gd_k_adam_outside,
        inside ? gd_k_adam_inside_scalar : gd_k_adam_outside_scalar,
    };
    for (int k = 0; k < 2; k++)
        fn[k](n, x[k] + off, g + off, m[k] + off, v[k] + off, 0.9f, 0.1f, 0.999f, 0.001f,
              1e-3f / 0.1f, inside ? 1.0f / 0.001f : sqrtf(0.001f), 1e-8f);
    CU_ASSERT_EQUAL(memcmp(x[0], x[1], sizeof x[0]), 0);
    CU_ASSERT_EQUAL(memcmp(m[0], m[1], sizeof m[0]), 0);
    CU_ASSERT_EQUAL(memcmp(v[0], v[1], sizeof v[0]), 0);
}

static void test_kernels_adam_match_scalar(void)
{
    for (int inside = 0; inside <= 1; inside++)
        for (int off = 0; off <= PAD; off++)
            for (int64_t n = 0; n <= MAXN; n++)
                adam_pair(n, off, inside);
}

static void test_kernels_values(void)
{
    const float x[4] = { -1.5f, 0.0f, 2.0f, NAN }, dy[4] = { 10, 20, 30, 40 };
    float y[4], dx[4];
    gd_k_relu(4, x, y);
    CU_ASSERT(y[0] == 0 && y[1] == 0 && y[2] == 2.0f && y[3] == 0);
    gd_k_relu_backward(4, x, dy, dx);
    CU_ASSERT(dx[0] == 0 && dx[1] == 0 && dx[2] == 30 && dx[3] == 0);
    float yb[4] = { 1, -1, 0.5f, -3 };
    const float bias[2] = { -1.5f, 2 };
    gd_k_bias_relu(2, 2, bias, yb);
    CU_ASSERT(yb[0] == 0 && yb[1] == 1 && yb[2] == 0 && yb[3] == 0);
    float g[2] = { 1, 2 };
    const float rows[6] = { 1, 10, 2, 20, 3, 30 };
    gd_k_add_rows(3, 2, rows, g);
    CU_ASSERT(g[0] == 7 && g[1] == 62);
    /* Adam, first step from m = v = 0, bias-corrected: x -= lr * sign(g) */
    float p = 1, grad = 0.5f, m = 0, v = 0;
    gd_k_adam_outside(1, &p, &grad, &m, &v, 0.9f, 0.1f, 0.999f, 0.001f, 0.01f / 0.1f,
                      sqrtf(0.001f), 1e-8f);
    CU_ASSERT_DOUBLE_EQUAL(p, 1 - 0.01, 1e-6);
}

int main(void)
{
    static const test_case cases[] = {
        TEST(test_kernels_elementwise_match_scalar),
        TEST(test_kernels_rows_match_scalar),
        TEST(test_kernels_bytes_match_scalar),
        TEST(test_kernels_adam_match_scalar),
        TEST(test_kernels_values),
        TEST_END,
    };
    return test_main("kernels", cases);
}
