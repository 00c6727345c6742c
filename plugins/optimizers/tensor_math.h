/*
 * tensor_math.h: small helpers shared by the tensor-aware optimizers (a
 * header of static inline functions, so each .so stays self-contained).
 */
#ifndef GRADUS_PLUGINS_TENSOR_MATH_H
#define GRADUS_PLUGINS_TENSOR_MATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* Sums in double (TENSOR_OPTIMIZERS.md: norms are summed in double and used
 * as float) run in SUM_LANES running sums, element i into sum i % SUM_LANES,
 * added up pairwise at the end: one sum is a chain of dependent adds, and
 * separate sums vectorize without reassociating anything, so the order
 * stays the same on every run and thread (results bit-reproducible). The
 * lanes are GCC vector types: 4 vectors of 8 doubles, whatever the ISA. */
enum { SUM_LANES = 32 };

typedef float gd_f8 __attribute__((vector_size(32)));
typedef double gd_d8 __attribute__((vector_size(64)));

typedef struct lanes {
    gd_d8 v[SUM_LANES / 8];
} lanes;

/* Elements i..i+7 of x, widened to double. */
static inline gd_d8 load_d8(const float *x)
{
    gd_f8 f;
    memcpy(&f, x, sizeof f);
    return __builtin_convertvector(f, gd_d8);
}

/* Adds x[i]^2 for i in [0, n) to the lanes, element i into lane i % SUM_LANES. */
static inline void lanes_add_sq(lanes *l, const float *x, int64_t n)
{
    int64_t i = 0;
    for (; i + SUM_LANES <= n; i += SUM_LANES)
        for (int k = 0; k < SUM_LANES / 8; k++) {
            gd_d8 d = load_d8(x + i + 8 * k);
            l->v[k] += d * d;
        }
    for (int k = 0; i < n; i++, k++)
        l->v[k / 8][k % 8] += (double)x[i] * x[i];
}

/* Adds x[i] for i in [0, n) to the lanes, element i into lane i % SUM_LANES. */
static inline void lanes_add(lanes *l, const float *x, int64_t n)
{
    int64_t i = 0;
    for (; i + SUM_LANES <= n; i += SUM_LANES)
        for (int k = 0; k < SUM_LANES / 8; k++)
            l->v[k] += load_d8(x + i + 8 * k);
    for (int k = 0; i < n; i++, k++)
        l->v[k / 8][k % 8] += (double)x[i];
}

/* The lanes' total, pairwise in a fixed order. */
static inline double lanes_total(const lanes *l)
{
    gd_d8 a = (l->v[0] + l->v[1]) + (l->v[2] + l->v[3]);
    return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

/* Sum of squares of x. */
static inline double sum_sq(const float *x, int64_t n)
{
    lanes l = { 0 };
    lanes_add_sq(&l, x, n);
    return lanes_total(&l);
}

/* Sums of squares of x and of y. */
static inline void sum_sq2(const float *x, const float *y, int64_t n, double *sx, double *sy)
{
    *sx = sum_sq(x, n);
    *sy = sum_sq(y, n);
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
