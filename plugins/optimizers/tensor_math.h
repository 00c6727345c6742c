/*
 * tensor_math.h: small helpers shared by the tensor-aware optimizers (a
 * header of static inline functions, so each .so stays self-contained).
 */
#ifndef GRADUS_PLUGINS_TENSOR_MATH_H
#define GRADUS_PLUGINS_TENSOR_MATH_H

#include <math.h>
#include <stdint.h>

/* Sum of squares in double (TENSOR_OPTIMIZERS.md: norms are summed in double
 * and used as float). */
static inline double sum_sq(const float *x, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += (double)x[i] * x[i];
    return s;
}

/* L2 (Frobenius) norm, used as float. */
static inline float norm2(const float *x, int64_t n)
{
    return (float)sqrt(sum_sq(x, n));
}

/* True when a tensor counts as a vector for `exclude_1d` (rank 1). */
static inline int is_vector(const gd_optim_tensor *t)
{
    return t->shape.ndim == 1;
}

#endif
