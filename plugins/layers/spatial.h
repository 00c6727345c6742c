/*
 * plugins/layers/spatial.h: what the image layers (conv2d, the pools) share:
 * reading a [C, H, W] input, the window options (size, stride, padding as
 * one integer or { h, w }) and the output size ⌊(H + 2p − k)/s⌋ + 1.
 * Header-only: each layer is its own .so.
 */
#ifndef GRADUS_PLUGINS_SPATIAL_H
#define GRADUS_PLUGINS_SPATIAL_H

#include <stdio.h>

#include <gradus/gradus.h>

/* A 2-D window over a [C, H, W] image and the [C', OH, OW] it gives. */
typedef struct sp_geom {
    int64_t c, h, w;          /* input */
    int64_t kh, kw, sh, sw, ph, pw;
    int64_t oh, ow;           /* output */
} sp_geom;

/* "[1, 2, 3]" into buf */
static inline const char *sp_shape_str(const gd_shape *s, char *buf, size_t len)
{
    size_t used = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < s->ndim && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%lld", i ? ", " : "",
                                 (long long)s->dim[i]);
    if (used < len)
        snprintf(buf + used, len - used, "]");
    return buf;
}

/* The input must be an image [C, H, W]. */
static inline gd_status sp_image(const char *layer, const gd_shape *in, sp_geom *g, gd_error *err)
{
    if (in->ndim != 3) {
        char s[96];
        return gd_fail(err, GD_EINVAL, "%s: needs an image input [C, H, W], got %s (give the "
                       "data set a shape, e.g. shape = { 1, 28, 28 }, or put "
                       "gd.layer.reshape{ shape = { C, H, W } } before it)", layer,
                       sp_shape_str(in, s, sizeof s));
    }
    g->c = in->dim[0];
    g->h = in->dim[1];
    g->w = in->dim[2];
    return GD_OK;
}

/* Option `opt` (GD_OPT_INTS) as a pair { h, w }: one integer for both or
 * two. Returns the choice index when a choice was given, else -1; -2 with
 * err set when it has another count. */
static inline int sp_pair(const char *layer, const gd_options *o, int opt, const char *name,
                          const char *const *choices, int64_t *h, int64_t *w, gd_error *err)
{
    int64_t v[4];
    int n;
    int k = gd_opt_ints(o, opt, choices, v, &n);
    if (k >= 0)
        return k;
    if (n == 1 || n == 2) {
        *h = v[0];
        *w = v[n - 1];
        return -1;
    }
    gd_fail(err, GD_EINVAL, "%s: option '%s' must be one integer or { h, w }, got %d integers",
            layer, name, n);
    return -2;
}

/* Output size of the window, refusing a window that does not fit. */
static inline gd_status sp_output(const char *layer, const char *what, sp_geom *g, gd_error *err)
{
    if (g->kh > g->h + 2 * g->ph || g->kw > g->w + 2 * g->pw)
        return gd_fail(err, GD_EINVAL, "%s: %s %lldx%lld is larger than the padded input "
                       "%lldx%lld (H + 2*padding by W + 2*padding)", layer, what,
                       (long long)g->kh, (long long)g->kw, (long long)(g->h + 2 * g->ph),
                       (long long)(g->w + 2 * g->pw));
    g->oh = (g->h + 2 * g->ph - g->kh) / g->sh + 1;
    g->ow = (g->w + 2 * g->pw - g->kw) / g->sw + 1;
    return GD_OK;
}

static inline gd_shape sp_shape3(int64_t a, int64_t b, int64_t c)
{
    gd_shape s = { 3, { a, b, c, 0 } };
    return s;
}

#endif
