/*
 * plugins/layers/pool2d.h: max_pool2d and avg_pool2d, which differ only in
 * what a window gives (its maximum, or the mean of its cells inside the
 * image) and where its gradient goes. Header-only: each is its own .so.
 *
 * Options size (2), stride (= size), padding (0, at most half the window,
 * as PyTorch: so every window holds at least one cell of the image). An
 * integer or { h, w } each. Padded cells never win a max and are not
 * counted in a mean.
 *
 * Backward of the max finds each window's maximum again from x (the first
 * one in row-major order on ties), so the layer keeps no scratch. The loops
 * run per (sample, channel) plane over the host's pool; windows that tile
 * the image (stride = size, no padding) take a loop without bounds checks.
 * Pooling is a pass over memory with a compare or add per value: plain
 * loops, not a lent oneDNN primitive (bench cnn shows its share).
 */
#ifndef GRADUS_PLUGINS_POOL2D_H
#define GRADUS_PLUGINS_POOL2D_H

#include <float.h>
#include <stdlib.h>
#include <string.h>

#include "spatial.h"

enum { POOL_SIZE, POOL_STRIDE, POOL_PADDING };

#define POOL_OPTIONS                                                                        \
    GD_OPT_INTS_MIN("size", "2", 1, NULL, 0, "window size: an integer or { h, w }"),       \
    GD_OPT_INTS_MIN("stride", NULL, 1, NULL, GD_OPT_OPTIONAL,                              \
                    "step of the window: an integer or { h, w } (default: size)"),        \
    GD_OPT_INTS_MIN("padding", "0", 0, NULL, 0,                                            \
                    "cells added on each side, at most half the window: an integer or { h, w }")

typedef struct pool2d {
    const char *name;
    int is_max;
    sp_geom g;
} pool2d;

static gd_status pool_create(const char *name, int is_max, const gd_options *opts,
                             const gd_shape *in, gd_layer_info *info, void **self, gd_error *err)
{
    sp_geom g = { 0 };
    gd_status st = sp_image(name, in, &g, err);
    if (st != GD_OK)
        return st;
    if (sp_pair(name, opts, POOL_SIZE, "size", NULL, &g.kh, &g.kw, err) == -2 ||
        sp_pair(name, opts, POOL_PADDING, "padding", NULL, &g.ph, &g.pw, err) == -2)
        return GD_EINVAL;
    g.sh = g.kh;
    g.sw = g.kw;
    if (gd_opt_present(opts, POOL_STRIDE) &&
        sp_pair(name, opts, POOL_STRIDE, "stride", NULL, &g.sh, &g.sw, err) == -2)
        return GD_EINVAL;
    if (2 * g.ph > g.kh || 2 * g.pw > g.kw)
        return gd_fail(err, GD_EINVAL, "%s: padding %lldx%lld is more than half the window "
                       "%lldx%lld", name, (long long)g.ph, (long long)g.pw, (long long)g.kh,
                       (long long)g.kw);
    if ((st = sp_output(name, "window", &g, err)) != GD_OK)
        return st;
    pool2d *p = calloc(1, sizeof *p);
    if (!p)
        return gd_fail(err, GD_ENOMEM, "%s: out of memory", name);
    p->name = name;
    p->is_max = is_max;
    p->g = g;
    info->out = sp_shape3(g.c, g.oh, g.ow);
    info->nparams = 0;
    info->nbuffers = 0;
    info->activation = GD_ACT_NONE;
    *self = p;
    return GD_OK;
}

static void pool_bind(void *self, float *const *params, float *const *grads,
                      float *const *buffers)
{
    (void)self; (void)params; (void)grads; (void)buffers;
}

/* The window of output cell (oy, ox), clipped to the image. */
static inline void pool_window(const sp_geom *g, int64_t oy, int64_t ox, int64_t *y0, int64_t *y1,
                               int64_t *x0, int64_t *x1)
{
    *y0 = oy * g->sh - g->ph;
    *x0 = ox * g->sw - g->pw;
    *y1 = *y0 + g->kh < g->h ? *y0 + g->kh : g->h;
    *x1 = *x0 + g->kw < g->w ? *x0 + g->kw : g->w;
    if (*y0 < 0)
        *y0 = 0;
    if (*x0 < 0)
        *x0 = 0;
}

/* Index (within the plane) of the window's maximum. */
static inline int64_t pool_argmax(const sp_geom *g, const float *plane, int64_t oy, int64_t ox)
{
    int64_t y0, y1, x0, x1, best = -1;
    float m = -FLT_MAX;
    pool_window(g, oy, ox, &y0, &y1, &x0, &x1);
    for (int64_t iy = y0; iy < y1; iy++)
        for (int64_t ix = x0; ix < x1; ix++)
            if (best < 0 || plane[iy * g->w + ix] > m) {
                m = plane[iy * g->w + ix];
                best = iy * g->w + ix;
            }
    return best;
}

typedef struct pool_job {
    const pool2d *p;
    const float *x, *dy;
    float *y, *dx;
    int64_t planes;
} pool_job;

/* Windows that tile the image (stride = size, no padding: the common
 * max_pool2d{ size = 2 }): each cell is in at most one window, so the loops
 * run over rows with fixed offsets. */
static inline int pool_tiles(const sp_geom *g)
{
    return g->sh == g->kh && g->sw == g->kw && g->ph == 0 && g->pw == 0;
}

static void tiled_forward(const pool2d *p, const float *plane, float *out)
{
    const sp_geom *g = &p->g;
    const float scale = 1.0f / (float)(g->kh * g->kw);
    for (int64_t oy = 0; oy < g->oh; oy++) {
        const float *row = plane + oy * g->kh * g->w;
        float *o = out + oy * g->ow;
        for (int64_t ox = 0; ox < g->ow; ox++) {
            const float *cell = row + ox * g->kw;
            float m = cell[0], s = 0;
            for (int64_t i = 0; i < g->kh; i++)
                for (int64_t k = 0; k < g->kw; k++) {
                    float v = cell[i * g->w + k];
                    m = v > m ? v : m;
                    s += v;
                }
            o[ox] = p->is_max ? m : s * scale;
        }
    }
}

static void tiled_backward(const pool2d *p, const float *plane, const float *d, float *out)
{
    const sp_geom *g = &p->g;
    const float scale = 1.0f / (float)(g->kh * g->kw);
    /* Cells no window covers (an odd last row or column) get 0; with even
     * H and W the 2x2 loop below writes every cell itself. */
    if (!(p->is_max && g->kh == 2 && g->kw == 2 && g->h % 2 == 0 && g->w % 2 == 0))
        memset(out, 0, (size_t)(g->h * g->w) * sizeof *out);
    if (p->is_max && g->kh == 2 && g->kw == 2) {   /* max_pool2d{}: branch-free */
        for (int64_t oy = 0; oy < g->oh; oy++) {
            const float *r0 = plane + 2 * oy * g->w, *r1 = r0 + g->w;
            float *o0 = out + 2 * oy * g->w, *o1 = o0 + g->w;
            for (int64_t ox = 0; ox < g->ow; ox++) {
                float a = r0[2 * ox], b = r0[2 * ox + 1], c = r1[2 * ox], e = r1[2 * ox + 1];
                float v = d[oy * g->ow + ox];
                int ia = a >= b && a >= c && a >= e, ib = !ia && b >= c && b >= e;
                int ic = !ia && !ib && c >= e, ie = !ia && !ib && !ic;
                o0[2 * ox] = ia ? v : 0.0f;
                o0[2 * ox + 1] = ib ? v : 0.0f;
                o1[2 * ox] = ic ? v : 0.0f;
                o1[2 * ox + 1] = ie ? v : 0.0f;
            }
        }
        return;
    }
    for (int64_t oy = 0; oy < g->oh; oy++)
        for (int64_t ox = 0; ox < g->ow; ox++) {
            int64_t base = oy * g->kh * g->w + ox * g->kw, best = base;
            float v = d[oy * g->ow + ox];
            for (int64_t i = 0; i < g->kh; i++)
                for (int64_t k = 0; k < g->kw; k++) {
                    int64_t at = base + i * g->w + k;
                    if (p->is_max)
                        best = plane[at] > plane[best] ? at : best;
                    else
                        out[at] = v * scale;
                }
            if (p->is_max)
                out[best] = v;
        }
}

static void pool_forward_part(void *arg, int part, int nparts)
{
    const pool_job *j = arg;
    const sp_geom *g = &j->p->g;
    const int64_t hw = g->h * g->w, ohw = g->oh * g->ow;
    int64_t lo, hi;
    gd_part_range(j->planes, 1, part, nparts, &lo, &hi);
    if (pool_tiles(g)) {
        for (int64_t pl = lo; pl < hi; pl++)
            tiled_forward(j->p, j->x + pl * hw, j->y + pl * ohw);
        return;
    }
    for (int64_t pl = lo; pl < hi; pl++) {
        const float *plane = j->x + pl * hw;
        float *out = j->y + pl * ohw;
        for (int64_t oy = 0; oy < g->oh; oy++)
            for (int64_t ox = 0; ox < g->ow; ox++) {
                if (j->p->is_max) {
                    out[oy * g->ow + ox] = plane[pool_argmax(g, plane, oy, ox)];
                    continue;
                }
                int64_t y0, y1, x0, x1;
                pool_window(g, oy, ox, &y0, &y1, &x0, &x1);
                float s = 0;
                for (int64_t iy = y0; iy < y1; iy++)
                    for (int64_t ix = x0; ix < x1; ix++)
                        s += plane[iy * g->w + ix];
                out[oy * g->ow + ox] = s / (float)((y1 - y0) * (x1 - x0));
            }
    }
}

static void pool_backward_part(void *arg, int part, int nparts)
{
    const pool_job *j = arg;
    const sp_geom *g = &j->p->g;
    const int64_t hw = g->h * g->w, ohw = g->oh * g->ow;
    int64_t lo, hi;
    gd_part_range(j->planes, 1, part, nparts, &lo, &hi);
    if (pool_tiles(g)) {
        for (int64_t pl = lo; pl < hi; pl++)
            tiled_backward(j->p, j->x + pl * hw, j->dy + pl * ohw, j->dx + pl * hw);
        return;
    }
    for (int64_t pl = lo; pl < hi; pl++) {
        const float *plane = j->x + pl * hw, *d = j->dy + pl * ohw;
        float *out = j->dx + pl * hw;
        memset(out, 0, (size_t)hw * sizeof *out);
        for (int64_t oy = 0; oy < g->oh; oy++)
            for (int64_t ox = 0; ox < g->ow; ox++) {
                float v = d[oy * g->ow + ox];
                if (j->p->is_max) {
                    out[pool_argmax(g, plane, oy, ox)] += v;
                    continue;
                }
                int64_t y0, y1, x0, x1;
                pool_window(g, oy, ox, &y0, &y1, &x0, &x1);
                v /= (float)((y1 - y0) * (x1 - x0));
                for (int64_t iy = y0; iy < y1; iy++)
                    for (int64_t ix = x0; ix < x1; ix++)
                        out[iy * g->w + ix] += v;
            }
    }
}

static gd_status pool_forward(void *self, const gd_layer_ctx *ctx, const gd_tensor *x,
                              gd_tensor *y, gd_error *err)
{
    const pool2d *p = self;
    const sp_geom *g = &p->g;
    if (gd_tensor_cols(x) != g->c * g->h * g->w)
        return gd_fail(err, GD_EINVAL, "%s: input has %lld values per sample, expected %lld",
                       p->name, (long long)gd_tensor_cols(x), (long long)(g->c * g->h * g->w));
    pool_job j = { p, x->data, NULL, y->data, NULL, gd_tensor_rows(x) * g->c };
    gd_host_run(ctx->host, pool_forward_part, &j);
    return GD_OK;
}

static void pool_backward(void *self, const gd_layer_ctx *ctx, const gd_tensor *x,
                          const gd_tensor *y, const gd_tensor *dy, gd_tensor *dx)
{
    (void)y;
    const pool2d *p = self;
    if (!dx)
        return;
    pool_job j = { p, x->data, dy->data, NULL, dx->data, gd_tensor_rows(x) * p->g.c };
    gd_host_run(ctx->host, pool_backward_part, &j);
}

static void pool_destroy(void *self)
{
    free(self);
}

/* The plugin of one pooling layer (each .c is its own .so): its options,
 * create, vtable, component and entry. */
#define POOL2D_PLUGIN(NAME, IS_MAX, DOC)                                                    \
    static const gd_option_spec options[] = { POOL_OPTIONS };                               \
    static gd_status create(const gd_options *opts, const gd_shape *in, gd_layer_info *info, \
                            void **self, gd_error *err)                                     \
    {                                                                                       \
        return pool_create(NAME, IS_MAX, opts, in, info, self, err);                       \
    }                                                                                       \
    static const gd_layer_vtable vtable = {                                                 \
        .size = sizeof(gd_layer_vtable),                                                    \
        .create = create,                                                                   \
        .bind = pool_bind,                                                                  \
        .forward = pool_forward,                                                            \
        .backward = pool_backward,                                                          \
        .destroy = pool_destroy,                                                            \
    };                                                                                      \
    static const gd_component component = {                                                \
        .size = sizeof(gd_component),                                                       \
        .kind = GD_KIND_LAYER,                                                              \
        .name = NAME,                                                                       \
        .doc = DOC,                                                                         \
        .options = options,                                                                 \
        .noptions = GD_COUNT(options),                                                      \
        .vt.layer = &vtable,                                                                \
    };                                                                                      \
    static const gd_component *const components[] = { &component };                       \
    GD_PLUGIN(NAME, "1.0", components)

#endif
