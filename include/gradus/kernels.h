/*
 * gradus/kernels.h: the elementwise loops of the training step, each in
 * two builds from one body: NAME, vectorized by the compiler at the
 * machine's width (the build sets -march=native and prefers 512-bit
 * vectors), and NAME_scalar, the same loop with vectorization turned off:
 * the reference a test compares NAME with, bit for bit
 * (tests/test_kernels.c). Both keep the C order of operations (no
 * reassociation, no approximations), so they agree exactly: a lane of a
 * vector instruction rounds as the scalar instruction does.
 *
 * Header-only and static, shared by the core and the built-in plugins
 * without linking (plugins link nothing of gradus).
 *
 * What is stable: not part of the plugin ABI. Every kernel is compiled into
 * the file that includes it, so a built plugin never depends on this file;
 * names, signatures and the set of kernels may change from one gradus
 * release to the next, and a plugin that uses one compiles against the
 * headers it is built with. What each kernel computes (the C order of its
 * operations, and NAME == NAME_scalar bit for bit) is kept: the reference
 * values of the built-in plugins depend on it. It stays in the installed
 * headers so an out-of-tree plugin can match the built-ins' numbers.
 */
#ifndef GRADUS_KERNELS_H
#define GRADUS_KERNELS_H

#include <stdint.h>

#if defined(__clang__)
#define GD_NOVEC_LOOP _Pragma("clang loop vectorize(disable) interleave(disable)")
#define GD_SCALAR_FN __attribute__((unused, noinline))
#else
#define GD_NOVEC_LOOP
#define GD_SCALAR_FN __attribute__((unused, noinline, optimize("no-tree-vectorize")))
#endif

/* static inline NAME(PARAMS) and its scalar twin NAME_scalar(PARAMS); the
 * body is one loop (the pragma that keeps clang from vectorizing it must
 * stand right before it). */
#define GD_KERNEL(name, params, ...)                                      \
    __attribute__((unused)) static inline void name params { __VA_ARGS__ } \
    GD_SCALAR_FN static void name##_scalar params { GD_NOVEC_LOOP __VA_ARGS__ }

/* y[r][j] = b[j] for r < rows, j < cols: the bias written before sgemm adds
 * x W^T on top (dense forward). */
GD_KERNEL(gd_k_fill_rows, (int64_t rows, int64_t cols, const float *restrict b,
                           float *restrict y),
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < cols; j++)
            y[r * cols + j] = b[j];
)

/* y[r][j] = max(0, y[r][j] + b[j]): dense's bias and ReLU in one pass over
 * the product (the bias is added after it, as an unfused y + b would). */
GD_KERNEL(gd_k_bias_relu, (int64_t rows, int64_t cols, const float *restrict b,
                           float *restrict y),
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < cols; j++) {
            const float t = y[r * cols + j] + b[j];
            y[r * cols + j] = t > 0 ? t : 0.0f;
        }
)

/* g[j] += Σ_r dy[r][j], row after row (so each g[j] sums in row order). */
GD_KERNEL(gd_k_add_rows, (int64_t rows, int64_t cols, const float *restrict dy,
                          float *restrict g),
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < cols; j++)
            g[j] += dy[r * cols + j];
)

/* y = max(0, x); a NaN gives 0 (x > 0 is false). */
GD_KERNEL(gd_k_relu, (int64_t n, const float *restrict x, float *restrict y),
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] > 0 ? x[i] : 0.0f;
)

/* y = max(0, y) in place. */
GD_KERNEL(gd_k_relu_inplace, (int64_t n, float *restrict y),
    for (int64_t i = 0; i < n; i++)
        y[i] = y[i] > 0 ? y[i] : 0.0f;
)

/* dx = dy where x > 0, else 0. */
GD_KERNEL(gd_k_relu_backward, (int64_t n, const float *restrict x, const float *restrict dy,
                               float *restrict dx),
    for (int64_t i = 0; i < n; i++)
        dx[i] = x[i] > 0 ? dy[i] : 0.0f;
)

/* ReLU's backward from its output y (y > 0 exactly where its input was). */
GD_KERNEL(gd_k_relu_mask, (int64_t n, const float *restrict y, const float *restrict dy,
                           float *restrict out),
    for (int64_t i = 0; i < n; i++)
        out[i] = y[i] > 0 ? dy[i] : 0.0f;
)

/* x = s / 255 for bytes s: the gather of 8-bit images. */
GD_KERNEL(gd_k_bytes_to_unit, (int64_t n, const uint8_t *restrict s, float *restrict x),
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)s[i] / 255.0f;
)

/* Adam's moments at element i, into the locals mi and vi (both passes). */
#define GD_ADAM_MOMENTS                                \
    const float gi = g[i];                             \
    const float mi = a1 * m[i] + c1 * gi;              \
    const float vi = a2 * v[i] + c2 * gi * gi;         \
    m[i] = mi;                                         \
    v[i] = vi;

/* Adam's fused pass, eps inside the root: m, v, then
 * x -= step * m / sqrt(v * bc2 + eps). */
GD_KERNEL(gd_k_adam_inside, (int64_t n, float *restrict x, const float *restrict g,
                             float *restrict m, float *restrict v, float a1, float c1, float a2,
                             float c2, float step, float bc2, float eps),
    for (int64_t i = 0; i < n; i++) {
        GD_ADAM_MOMENTS
        x[i] -= step * (mi / __builtin_sqrtf(vi * bc2 + eps));
    }
)

/* Eps outside the root (PyTorch's order): x -= step * (m / (sqrt(v) / bc2 + eps)). */
GD_KERNEL(gd_k_adam_outside, (int64_t n, float *restrict x, const float *restrict g,
                              float *restrict m, float *restrict v, float a1, float c1, float a2,
                              float c2, float step, float bc2, float eps),
    for (int64_t i = 0; i < n; i++) {
        GD_ADAM_MOMENTS
        x[i] -= step * (mi / (__builtin_sqrtf(vi) / bc2 + eps));
    }
)

#endif
