/*
 * plugins/layers/conv2d_impl.h: conv2d's instance, shared by its plain path
 * (conv2d.c) and its oneDNN path (conv2d_dnnl.c), both in conv2d.so.
 */
#ifndef GRADUS_PLUGINS_CONV2D_IMPL_H
#define GRADUS_PLUGINS_CONV2D_IMPL_H

#include <gradus/gradus.h>

#include "spatial.h"

typedef struct conv2d_fast conv2d_fast;

typedef struct conv2d {
    sp_geom g;
    int64_t f, ckk, p;        /* filters, C·kh·kw, OH·OW */
    int bias, relu;
    float *w, *b, *gw, *gb;   /* core arenas */
    conv2d_fast *fast;        /* oneDNN state, or NULL on the plain path */
} conv2d;

#ifdef GD_HAVE_ONEDNN
/* True when the fast path should be used: oneDNN is the backend in use. */
int conv2d_fast_wanted(void);
gd_status conv2d_fast_create(conv2d *cv, gd_error *err);
gd_status conv2d_fast_forward(conv2d *cv, const gd_layer_ctx *ctx, const float *x, float *y,
                              int64_t n, gd_error *err);
void conv2d_fast_backward(conv2d *cv, const gd_layer_ctx *ctx, const float *x, const float *y,
                          const float *dy, float *dx, int64_t n);
void conv2d_fast_destroy(conv2d *cv);
#else
static inline int conv2d_fast_wanted(void) { return 0; }
static inline gd_status conv2d_fast_create(conv2d *cv, gd_error *err)
{ (void)cv; (void)err; return GD_OK; }
static inline gd_status conv2d_fast_forward(conv2d *cv, const gd_layer_ctx *ctx, const float *x,
                                            float *y, int64_t n, gd_error *err)
{ (void)cv; (void)ctx; (void)x; (void)y; (void)n; return gd_fail(err, GD_EINVAL, "no oneDNN"); }
static inline void conv2d_fast_backward(conv2d *cv, const gd_layer_ctx *ctx, const float *x,
                                        const float *y, const float *dy, float *dx, int64_t n)
{ (void)cv; (void)ctx; (void)x; (void)y; (void)dy; (void)dx; (void)n; }
static inline void conv2d_fast_destroy(conv2d *cv) { (void)cv; }
#endif

#endif
