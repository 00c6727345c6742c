/*
 * gradus/tensor.h: the float32 tensor view every interface passes around.
 *
 * A gd_tensor is a view: it does not own its data. Data are contiguous and
 * row-major (last index fastest). Activations are [batch, features...]: dim 0
 * is always the batch. Up to GD_MAX_DIMS dimensions.
 */
#ifndef GRADUS_TENSOR_H
#define GRADUS_TENSOR_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Frozen by the ABI: it sizes gd_shape, which plugins hold by value. */
#define GD_MAX_DIMS 4

/* A shape: ndim in 0..GD_MAX_DIMS, dim[i] >= 1 for i < ndim. */
typedef struct gd_shape {
    int ndim;
    int64_t dim[GD_MAX_DIMS];
} gd_shape;

typedef struct gd_tensor {
    float *data;      /* borrowed; never freed through the view */
    gd_shape shape;
} gd_tensor;

/* Number of elements of a shape (1 for a scalar, ndim == 0). */
static inline int64_t gd_shape_numel(const gd_shape *s)
{
    int64_t n = 1;
    for (int i = 0; i < s->ndim; i++)
        n *= s->dim[i];
    return n;
}

static inline int64_t gd_tensor_numel(const gd_tensor *t)
{
    return gd_shape_numel(&t->shape);
}

/* Rows and columns of a [batch, features...] tensor seen as a matrix. */
static inline int64_t gd_tensor_rows(const gd_tensor *t)
{
    return t->shape.ndim ? t->shape.dim[0] : 1;
}

static inline int64_t gd_tensor_cols(const gd_tensor *t)
{
    int64_t r = gd_tensor_rows(t);
    return r ? gd_tensor_numel(t) / r : 0;
}

static inline gd_shape gd_shape_1(int64_t a)
{
    gd_shape s = { 1, { a, 0, 0, 0 } };
    return s;
}

static inline gd_shape gd_shape_2(int64_t a, int64_t b)
{
    gd_shape s = { 2, { a, b, 0, 0 } };
    return s;
}

#ifdef __cplusplus
}
#endif
#endif
