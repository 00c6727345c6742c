/*
 * tensor_math.h: small helpers shared by the tensor-aware optimizers (a
 * header of static inline functions, so each .so stays self-contained).
 */
#ifndef GRADUS_PLUGINS_TENSOR_MATH_H
#define GRADUS_PLUGINS_TENSOR_MATH_H

#include <math.h>
#include <stdint.h>

/* Sum of squares in double (TENSOR_OPTIMIZERS.md: norms are summed in double
 * and used as float). Four running sums in a fixed order: one sum is a chain
 * of dependent adds (a quarter of the speed), and the order stays the same
 * for every run, so results stay bit-reproducible. */
static inline double sum_sq(const float *x, int64_t n)
{
    double s[4] = { 0, 0, 0, 0 };
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (int k = 0; k < 4; k++)
            s[k] += (double)x[i + k] * x[i + k];
    for (; i < n; i++)
        s[0] += (double)x[i] * x[i];
    return (s[0] + s[1]) + (s[2] + s[3]);
}

/* L2 (Frobenius) norm, used as float. */
static inline float norm2(const float *x, int64_t n)
{
    return (float)sqrt(sum_sq(x, n));
}

/* A tensor of rank >= 2 as the matrix [dim0, numel/dim0]: a dense W
 * [out, in] as itself, a conv2d W [filters, C, kh, kw] as [filters,
 * C*kh*kw] (row-major, so no copy). 0 for rank 0 and 1. */
static inline int as_matrix(const gd_optim_tensor *t, int64_t *rows, int64_t *cols)
{
    if (t->shape.ndim < 2 || t->shape.dim[0] < 1)
        return 0;
    *rows = t->shape.dim[0];
    *cols = t->numel / t->shape.dim[0];
    return 1;
}

/* True when a tensor counts as a vector for `exclude_1d` (rank 1). */
static inline int is_vector(const gd_optim_tensor *t)
{
    return t->shape.ndim == 1;
}

#endif
