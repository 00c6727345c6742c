/*
 * core/conv.h: the convolution the core lends to layers through gd_host
 * (conv.c says how and why).
 */
#ifndef GRADUS_CORE_CONV_H
#define GRADUS_CORE_CONV_H

#include <gradus/plugin.h>

gd_conv2d *gd_conv2d_new(const gd_conv2d_geom *g);
gd_status gd_conv2d_forward(gd_conv2d *c, int64_t n, const float *x, const float *w,
                            const float *b, float *y, gd_error *err);
void gd_conv2d_backward(gd_conv2d *c, int64_t n, const float *x, const float *w, const float *y,
                        const float *dy, float *dx, float *gw, float *gb);
void gd_conv2d_free(gd_conv2d *c);

#endif
