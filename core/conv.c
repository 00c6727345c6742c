/*
 * core/conv.c: the convolution the core lends to layers (gd_host.conv2d_*,
 * ABI 1.2), on oneDNN 2.x's primitives.
 *
 * Why in the core and not in the conv2d plugin: the core owns threading and
 * the backend choice (GRADUS_BLAS, GRADUS_THREADING), and oneDNN allocates
 * a little inside every primitive execution (its argument map), which only
 * the core can tell apart from the step's own allocations (blas.c's
 * in-call mark, as for dnnl_sgemm). A third-party layer gets the same speed
 * through gd_host without linking oneDNN.
 *
 * Threading: the batch is cut into contiguous parts, one per pool thread,
 * and each part runs the primitives single-threaded (OpenMP team of one, no
 * parallel region), so a step has one threading model. Under
 * GRADUS_THREADING=blas the pool has one thread and oneDNN its own team.
 * Weight gradients are computed per part and summed in part order: the same
 * thread count gives the same numbers.
 *
 * Layouts: the tensors between layers stay row-major NCHW. Each primitive
 * is created with format "any" (oneDNN picks its blocked layout, e.g.
 * nChw16c) and a reorder converts at the layer's boundary, once per tensor
 * and call, only where the formats differ. Weights are reordered once per
 * forward and once per backward (not per part).
 *
 * Memory: primitives, memory objects, streams and buffers are made on the
 * first forward of a batch size (a cache of CACHE sizes, least recently
 * used replaced) and kept; the scratchpad is ours (user mode). A
 * steady-state step allocates nothing outside oneDNN's execute.
 */
#include "conv.h"

#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "pool.h"
#include "threads.h"

#ifdef GD_HAVE_ONEDNN
#include <dnnl.h>
#include <omp.h>

enum { CACHE = 6, MAX_PARTS = 16 };

/* Tensors a part passes to primitives; each has a memory object per part. */
enum role {
    X_USER, X_FWD, Y_FWD, Y_USER, W_FWD, B,        /* forward */
    DY_USER, DY_BW, X_BW, DW_BW, DB,               /* backward weights */
    DY_BD, W_BD, DX_BD, DX_USER,                   /* backward data */
    PAD, NROLES
};

/* Primitives for one sub-batch size. */
typedef struct entry {
    int64_t n;                 /* samples per part; 0: unused */
    unsigned long used;
    dnnl_primitive_t fwd, bwd_w, bwd_d;
    /* reorders, NULL where the formats agree */
    dnnl_primitive_t x_in, y_out, w_fwd, dy_bw, x_bw, dw_out, dy_bd, w_bd, dx_out;
    dnnl_memory_desc_t md[NROLES];
    dnnl_memory_t mem[MAX_PARTS][NROLES];
    dnnl_memory_t wmem_user, wmem_fwd, wmem_bd, dwmem_user;   /* serial reorders */
    float *w_fwd_buf, *w_bd_buf;                              /* blocked weights */
    int dy_shared;             /* backward data reads dy in backward weights' layout */
} entry;

/* What a thread owns: its stream and buffers (grow-only). */
typedef struct part {
    dnnl_stream_t stream;
    float *buf[NROLES];
    size_t cap[NROLES];
    int64_t lo, hi;            /* this call's samples */
} part;

struct gd_conv2d {
    gd_conv2d_geom g;
    int64_t oh, ow;
    dnnl_engine_t eng;
    dnnl_stream_t serial;
    entry cache[CACHE];
    unsigned long clock;
    part parts[MAX_PARTS];
    int nparts;
    float *dw_user;            /* one part's weight gradient in [F, C, kh, kw] */
    dnnl_memory_t dw_part_mem; /* bound to a part's DW_BW buffer for the reorder */
    /* the current call */
    entry *ent[MAX_PARTS];
    const float *x, *w, *b, *y, *dy;
    float *out, *dx;
    int failed;
};

static int ok(dnnl_status_t s)
{
    return s == dnnl_success;
}

static void desc4(dnnl_memory_desc_t *md, int64_t a, int64_t b, int64_t c, int64_t d,
                  dnnl_format_tag_t tag)
{
    dnnl_dims_t dims = { a, b, c, d };
    dnnl_memory_desc_init_by_tag(md, 4, dims, dnnl_f32, tag);
}

static void destroy_entry(entry *e)
{
    dnnl_primitive_t *prims[] = { &e->fwd, &e->bwd_w, &e->bwd_d, &e->x_in, &e->y_out,
                                  &e->w_fwd, &e->dy_bw, &e->x_bw, &e->dw_out, &e->dy_bd,
                                  &e->w_bd, &e->dx_out };
    for (size_t i = 0; i < sizeof prims / sizeof *prims; i++)
        if (*prims[i])
            dnnl_primitive_destroy(*prims[i]);
    for (int p = 0; p < MAX_PARTS; p++)
        for (int r = 0; r < NROLES; r++)
            if (e->mem[p][r])
                dnnl_memory_destroy(e->mem[p][r]);
    dnnl_memory_t mems[] = { e->wmem_user, e->wmem_fwd, e->wmem_bd, e->dwmem_user };
    for (size_t i = 0; i < sizeof mems / sizeof *mems; i++)
        if (mems[i])
            dnnl_memory_destroy(mems[i]);
    free(e->w_fwd_buf);
    free(e->w_bd_buf);
    memset(e, 0, sizeof *e);
}

/* A reorder from `from` to `to`, or NULL when they are the same layout. */
static int make_reorder(gd_conv2d *c, const dnnl_memory_desc_t *from,
                        const dnnl_memory_desc_t *to, dnnl_primitive_t *out, size_t *pad)
{
    *out = NULL;
    if (dnnl_memory_desc_equal(from, to))
        return 1;
    dnnl_primitive_attr_t attr;
    dnnl_primitive_desc_t pd = NULL;
    if (!ok(dnnl_primitive_attr_create(&attr)))
        return 0;
    dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    int good = ok(dnnl_reorder_primitive_desc_create(&pd, from, c->eng, to, c->eng, attr));
    dnnl_primitive_attr_destroy(attr);
    if (good) {
        size_t s = dnnl_memory_desc_get_size(dnnl_primitive_desc_query_md(
            pd, dnnl_query_scratchpad_md, 0));
        if (s > *pad)
            *pad = s;
        good = ok(dnnl_primitive_create(out, pd));
    }
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    return good;
}

static size_t pd_pad(dnnl_primitive_desc_t pd)
{
    return dnnl_memory_desc_get_size(dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0));
}

/* Build the primitives for `n` samples per part. */
static int build_entry(gd_conv2d *c, entry *e, int64_t n)
{
    const gd_conv2d_geom *g = &c->g;
    memset(e, 0, sizeof *e);
    e->n = n;
    dnnl_memory_desc_t any_x, any_w, any_y, bias;
    desc4(&e->md[X_USER], n, g->c, g->h, g->w, dnnl_nchw);
    desc4(&e->md[Y_USER], n, g->filters, c->oh, c->ow, dnnl_nchw);
    desc4(&any_x, n, g->c, g->h, g->w, dnnl_format_tag_any);
    desc4(&any_y, n, g->filters, c->oh, c->ow, dnnl_format_tag_any);
    desc4(&any_w, g->filters, g->c, g->kh, g->kw, dnnl_format_tag_any);
    dnnl_memory_desc_t w_user;
    desc4(&w_user, g->filters, g->c, g->kh, g->kw, dnnl_oihw);
    dnnl_dims_t bdim = { g->filters };
    dnnl_memory_desc_init_by_tag(&bias, 1, bdim, dnnl_f32, dnnl_x);
    e->md[DY_USER] = e->md[Y_USER];
    e->md[DX_USER] = e->md[X_USER];
    e->md[B] = e->md[DB] = bias;
    dnnl_dims_t strides = { g->sh, g->sw }, pl = { g->ph, g->pw };
    dnnl_dims_t pr = { (c->oh - 1) * g->sh + g->kh - g->h - g->ph,
                       (c->ow - 1) * g->sw + g->kw - g->w - g->pw };

    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_desc_t fpd = NULL, wpd = NULL, dpd = NULL;
    size_t pad = 0;
    int good = ok(dnnl_primitive_attr_create(&attr));
    if (good)
        dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    if (good && g->relu) {
        good = ok(dnnl_post_ops_create(&po)) &&
               ok(dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f)) &&
               ok(dnnl_primitive_attr_set_post_ops(attr, po));
    }
    dnnl_convolution_desc_t fd, wd, dd;
    good = good && ok(dnnl_convolution_forward_desc_init(&fd, dnnl_forward_training,
                          dnnl_convolution_direct, &any_x, &any_w, g->bias ? &bias : NULL,
                          &any_y, strides, pl, pr)) &&
           ok(dnnl_primitive_desc_create(&fpd, &fd, attr, c->eng, NULL));
    if (po)
        dnnl_primitive_attr_set_post_ops(attr, NULL), dnnl_post_ops_destroy(po);
    /* backward primitives without the post-op (dy is masked by hand) */
    dnnl_primitive_attr_t battr = NULL;
    good = good && ok(dnnl_primitive_attr_create(&battr));
    if (good)
        dnnl_primitive_attr_set_scratchpad_mode(battr, dnnl_scratchpad_mode_user);
    good = good && ok(dnnl_convolution_backward_weights_desc_init(&wd, dnnl_convolution_direct,
                          &any_x, &any_w, g->bias ? &bias : NULL, &any_y, strides, pl, pr)) &&
           ok(dnnl_primitive_desc_create(&wpd, &wd, battr, c->eng, fpd)) &&
           ok(dnnl_convolution_backward_data_desc_init(&dd, dnnl_convolution_direct, &any_x,
                          &any_w, &any_y, strides, pl, pr)) &&
           ok(dnnl_primitive_desc_create(&dpd, &dd, battr, c->eng, fpd));
    if (good) {
        e->md[X_FWD] = *dnnl_primitive_desc_query_md(fpd, dnnl_query_src_md, 0);
        e->md[W_FWD] = *dnnl_primitive_desc_query_md(fpd, dnnl_query_weights_md, 0);
        e->md[Y_FWD] = *dnnl_primitive_desc_query_md(fpd, dnnl_query_dst_md, 0);
        e->md[X_BW] = *dnnl_primitive_desc_query_md(wpd, dnnl_query_src_md, 0);
        e->md[DW_BW] = *dnnl_primitive_desc_query_md(wpd, dnnl_query_diff_weights_md, 0);
        e->md[DY_BW] = *dnnl_primitive_desc_query_md(wpd, dnnl_query_diff_dst_md, 0);
        e->md[DY_BD] = *dnnl_primitive_desc_query_md(dpd, dnnl_query_diff_dst_md, 0);
        e->md[W_BD] = *dnnl_primitive_desc_query_md(dpd, dnnl_query_weights_md, 0);
        e->md[DX_BD] = *dnnl_primitive_desc_query_md(dpd, dnnl_query_diff_src_md, 0);
        pad = pd_pad(fpd);
        if (pd_pad(wpd) > pad) pad = pd_pad(wpd);
        if (pd_pad(dpd) > pad) pad = pd_pad(dpd);
        good = ok(dnnl_primitive_create(&e->fwd, fpd)) && ok(dnnl_primitive_create(&e->bwd_w, wpd)) &&
               ok(dnnl_primitive_create(&e->bwd_d, dpd)) &&
               make_reorder(c, &e->md[X_USER], &e->md[X_FWD], &e->x_in, &pad) &&
               make_reorder(c, &e->md[Y_FWD], &e->md[Y_USER], &e->y_out, &pad) &&
               make_reorder(c, &w_user, &e->md[W_FWD], &e->w_fwd, &pad) &&
               make_reorder(c, &e->md[DY_USER], &e->md[DY_BW], &e->dy_bw, &pad) &&
               make_reorder(c, &e->md[X_USER], &e->md[X_BW], &e->x_bw, &pad) &&
               make_reorder(c, &e->md[DW_BW], &w_user, &e->dw_out, &pad) &&
               make_reorder(c, &e->md[DY_USER], &e->md[DY_BD], &e->dy_bd, &pad) &&
               ((e->dy_shared = dnnl_memory_desc_equal(&e->md[DY_BD], &e->md[DY_BW])), 1) &&
               make_reorder(c, &w_user, &e->md[W_BD], &e->w_bd, &pad) &&
               make_reorder(c, &e->md[DX_BD], &e->md[DX_USER], &e->dx_out, &pad);
    }
    dnnl_dims_t pdim = { (int64_t)(pad ? pad : 1) };
    dnnl_memory_desc_init_by_tag(&e->md[PAD], 1, pdim, dnnl_u8, dnnl_x);
    if (fpd) dnnl_primitive_desc_destroy(fpd);
    if (wpd) dnnl_primitive_desc_destroy(wpd);
    if (dpd) dnnl_primitive_desc_destroy(dpd);
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (battr) dnnl_primitive_attr_destroy(battr);
    /* serial weight buffers and memory objects */
    if (good) {
        size_t fs = dnnl_memory_desc_get_size(&e->md[W_FWD]);
        size_t bs = dnnl_memory_desc_get_size(&e->md[W_BD]);
        good = (e->w_fwd_buf = aligned_alloc(64, (fs + 63) / 64 * 64)) &&
               (e->w_bd_buf = aligned_alloc(64, (bs + 63) / 64 * 64)) &&
               ok(dnnl_memory_create(&e->wmem_user, &w_user, c->eng, DNNL_MEMORY_NONE)) &&
               ok(dnnl_memory_create(&e->wmem_fwd, &e->md[W_FWD], c->eng, e->w_fwd_buf)) &&
               ok(dnnl_memory_create(&e->wmem_bd, &e->md[W_BD], c->eng, e->w_bd_buf)) &&
               ok(dnnl_memory_create(&e->dwmem_user, &w_user, c->eng, DNNL_MEMORY_NONE));
    }
    for (int p = 0; good && p < MAX_PARTS; p++)
        for (int r = 0; good && r < NROLES; r++)
            good = ok(dnnl_memory_create(&e->mem[p][r], &e->md[r], c->eng, DNNL_MEMORY_NONE));
    if (!good)
        destroy_entry(e);
    return good;
}

/* The entry for n samples per part, built when missing. */
static entry *entry_for(gd_conv2d *c, int64_t n)
{
    entry *victim = &c->cache[0];
    for (int i = 0; i < CACHE; i++) {
        entry *e = &c->cache[i];
        if (e->n == n) {
            e->used = ++c->clock;
            return e;
        }
        if (e->used < victim->used)
            victim = e;
    }
    if (victim->n)
        destroy_entry(victim);
    if (!build_entry(c, victim, n))
        return NULL;
    victim->used = ++c->clock;
    return victim;
}

/* Buffer r of part p, at least the size of entry e's descriptor. */
static int part_buffer(part *p, const entry *e, int r)
{
    size_t need = dnnl_memory_desc_get_size(&e->md[r]);
    if (need <= p->cap[r])
        return 1;
    free(p->buf[r]);
    p->cap[r] = 0;
    if (!(p->buf[r] = aligned_alloc(64, (need + 63) / 64 * 64)))
        return 0;
    p->cap[r] = (need + 63) / 64 * 64;
    return 1;
}

/* Cut n samples over the pool; entries and buffers for every part. */
static int prepare(gd_conv2d *c, int64_t n)
{
    int nparts = gd_host_parallel(NULL, NULL);
    if (nparts > MAX_PARTS)
        nparts = MAX_PARTS;
    if ((int64_t)nparts > n)
        nparts = (int)n;
    c->nparts = nparts;
    for (int k = 0; k < nparts; k++) {
        part *p = &c->parts[k];
        gd_part_range(n, 1, k, nparts, &p->lo, &p->hi);
        if (!p->stream && !ok(dnnl_stream_create(&p->stream, c->eng, dnnl_stream_default_flags)))
            return 0;
        entry *e = entry_for(c, p->hi - p->lo);
        if (!e)
            return 0;
        c->ent[k] = e;
        static const int roles[] = { X_FWD, Y_FWD, DY_USER, DY_BW, X_BW, DW_BW, DB, DY_BD,
                                     DX_BD, PAD };
        for (size_t r = 0; r < sizeof roles / sizeof *roles; r++)
            if (!part_buffer(p, e, roles[r]))
                return 0;
    }
    /* entry_for may have replaced an entry an earlier part uses; part 0's
     * scratchpad serves the serial reorders of every entry */
    for (int k = 0; k < nparts; k++)
        if (c->ent[k]->n != c->parts[k].hi - c->parts[k].lo ||
            !part_buffer(&c->parts[0], c->ent[k], PAD))
            return 0;
    return 1;
}

static void bind(entry *e, int k, int r, const void *data)
{
    dnnl_memory_set_data_handle(e->mem[k][r], (void *)data);
}

static void run(dnnl_primitive_t prim, dnnl_stream_t s, int n, const dnnl_exec_arg_t *args)
{
    dnnl_primitive_execute(prim, s, n, args);
    dnnl_stream_wait(s);
}

/* Reorder from role a to role b of part k (or nothing when prim is NULL). */
static void reorder(entry *e, int k, dnnl_primitive_t prim, dnnl_stream_t s, int a, int b)
{
    if (!prim)
        return;
    dnnl_exec_arg_t args[] = { { DNNL_ARG_FROM, e->mem[k][a] }, { DNNL_ARG_TO, e->mem[k][b] },
                               { DNNL_ARG_SCRATCHPAD, e->mem[k][PAD] } };
    run(prim, s, 3, args);
}

/* Enter oneDNN on this thread: a team of one inside a pool part, the
 * library's threads when the whole call runs on one thread. */
static void enter(int nparts)
{
    omp_set_num_threads(nparts > 1 ? 1 : gd_blas_threads());
    gd_blas_mark(true);
}

static void forward_part(void *arg, int k, int nparts)
{
    gd_conv2d *c = arg;
    (void)nparts;
    if (k >= c->nparts)
        return;
    enter(c->nparts);
    part *p = &c->parts[k];
    entry *e = c->ent[k];
    const gd_conv2d_geom *g = &c->g;
    const int64_t in = g->c * g->h * g->w, out = g->filters * c->oh * c->ow;
    bind(e, k, X_USER, c->x + p->lo * in);
    bind(e, k, Y_USER, c->out + p->lo * out);
    bind(e, k, X_FWD, e->x_in ? p->buf[X_FWD] : (void *)(c->x + p->lo * in));
    bind(e, k, Y_FWD, e->y_out ? p->buf[Y_FWD] : (void *)(c->out + p->lo * out));
    bind(e, k, W_FWD, e->w_fwd ? e->w_fwd_buf : (void *)c->w);
    bind(e, k, B, c->b);
    bind(e, k, PAD, p->buf[PAD]);
    reorder(e, k, e->x_in, p->stream, X_USER, X_FWD);
    dnnl_exec_arg_t args[] = { { DNNL_ARG_SRC, e->mem[k][X_FWD] },
                               { DNNL_ARG_WEIGHTS, e->mem[k][W_FWD] },
                               { DNNL_ARG_DST, e->mem[k][Y_FWD] },
                               { DNNL_ARG_SCRATCHPAD, e->mem[k][PAD] },
                               { DNNL_ARG_BIAS, e->mem[k][B] } };
    run(e->fwd, p->stream, g->bias ? 5 : 4, args);
    reorder(e, k, e->y_out, p->stream, Y_FWD, Y_USER);
    gd_blas_mark(false);
}

/* Reorder the user weights into entry e's forward or backward-data layout. */
static void weights_in(gd_conv2d *c, entry *e, dnnl_primitive_t prim, dnnl_memory_t to,
                       const float *w)
{
    if (!prim)
        return;
    dnnl_memory_set_data_handle(e->wmem_user, (void *)w);
    dnnl_memory_set_data_handle(e->mem[0][PAD], c->parts[0].buf[PAD]);
    dnnl_exec_arg_t args[] = { { DNNL_ARG_FROM, e->wmem_user }, { DNNL_ARG_TO, to },
                               { DNNL_ARG_SCRATCHPAD, e->mem[0][PAD] } };
    run(prim, c->serial, 3, args);
}

static gd_status conv_forward(gd_conv2d *c, int64_t n, const float *x, const float *w,
                              const float *b, float *y, gd_error *err)
{
    if (n < 1)
        return GD_OK;
    if (!prepare(c, n))
        return gd_fail(err, GD_ENOMEM, "conv2d: oneDNN could not set up a batch of %lld "
                       "(out of memory?)", (long long)n);
    enter(1);
    for (int k = 0; k < c->nparts; k++)
        if (k == 0 || c->ent[k] != c->ent[k - 1])
            weights_in(c, c->ent[k], c->ent[k]->w_fwd, c->ent[k]->wmem_fwd, w);
    gd_blas_mark(false);
    c->x = x;
    c->w = w;
    c->b = b;
    c->out = y;
    gd_host_parallel(forward_part, c);
    return GD_OK;
}

static void backward_part(void *arg, int k, int nparts)
{
    gd_conv2d *c = arg;
    (void)nparts;
    if (k >= c->nparts)
        return;
    enter(c->nparts);
    part *p = &c->parts[k];
    entry *e = c->ent[k];
    const gd_conv2d_geom *g = &c->g;
    const int64_t in = g->c * g->h * g->w, out = g->filters * c->oh * c->ow;
    const float *dy = c->dy + p->lo * out;
    if (g->relu) {   /* the fused ReLU's mask */
        const float *y = c->y + p->lo * out;
        float *m = p->buf[DY_USER];
        for (int64_t i = 0; i < (p->hi - p->lo) * out; i++)
            m[i] = y[i] > 0 ? dy[i] : 0.0f;
        dy = m;
    }
    bind(e, k, DY_USER, dy);
    bind(e, k, X_USER, c->x + p->lo * in);
    bind(e, k, DY_BW, e->dy_bw ? p->buf[DY_BW] : (void *)dy);
    bind(e, k, X_BW, e->x_bw ? p->buf[X_BW] : (void *)(c->x + p->lo * in));
    bind(e, k, DW_BW, p->buf[DW_BW]);
    bind(e, k, DB, p->buf[DB]);
    bind(e, k, PAD, p->buf[PAD]);
    reorder(e, k, e->dy_bw, p->stream, DY_USER, DY_BW);
    reorder(e, k, e->x_bw, p->stream, X_USER, X_BW);
    dnnl_exec_arg_t wargs[] = { { DNNL_ARG_SRC, e->mem[k][X_BW] },
                                { DNNL_ARG_DIFF_DST, e->mem[k][DY_BW] },
                                { DNNL_ARG_DIFF_WEIGHTS, e->mem[k][DW_BW] },
                                { DNNL_ARG_SCRATCHPAD, e->mem[k][PAD] },
                                { DNNL_ARG_DIFF_BIAS, e->mem[k][DB] } };
    run(e->bwd_w, p->stream, g->bias ? 5 : 4, wargs);
    if (c->dx) {
        /* dy reordered once when both backward primitives read one layout */
        bind(e, k, DY_BD, !e->dy_bd ? (void *)dy : e->dy_shared ? p->buf[DY_BW] : p->buf[DY_BD]);
        bind(e, k, W_BD, e->w_bd ? e->w_bd_buf : (void *)c->w);
        bind(e, k, DX_USER, c->dx + p->lo * in);
        bind(e, k, DX_BD, e->dx_out ? p->buf[DX_BD] : (void *)(c->dx + p->lo * in));
        if (!e->dy_shared)
            reorder(e, k, e->dy_bd, p->stream, DY_USER, DY_BD);
        dnnl_exec_arg_t dargs[] = { { DNNL_ARG_DIFF_DST, e->mem[k][DY_BD] },
                                    { DNNL_ARG_WEIGHTS, e->mem[k][W_BD] },
                                    { DNNL_ARG_DIFF_SRC, e->mem[k][DX_BD] },
                                    { DNNL_ARG_SCRATCHPAD, e->mem[k][PAD] } };
        run(e->bwd_d, p->stream, 4, dargs);
        reorder(e, k, e->dx_out, p->stream, DX_BD, DX_USER);
    }
    gd_blas_mark(false);
}

static void conv_backward(gd_conv2d *c, int64_t n, const float *x, const float *w,
                          const float *y, const float *dy, float *dx, float *gw, float *gb)
{
    if (n < 1)
        return;
    /* forward of this batch size built everything: prepare only re-cuts */
    if (!prepare(c, n))
        return;
    const gd_conv2d_geom *g = &c->g;
    enter(1);
    if (dx)
        for (int k = 0; k < c->nparts; k++)
            if (k == 0 || c->ent[k] != c->ent[k - 1])
                weights_in(c, c->ent[k], c->ent[k]->w_bd, c->ent[k]->wmem_bd, w);
    gd_blas_mark(false);
    c->x = x;
    c->w = w;
    c->y = y;
    c->dy = dy;
    c->dx = dx;
    gd_host_parallel(backward_part, c);
    /* sum the parts' weight gradients, in part order */
    const int64_t nw = g->filters * g->c * g->kh * g->kw;
    for (int k = 0; k < c->nparts; k++) {
        entry *e = c->ent[k];
        const float *dwk = c->parts[k].buf[DW_BW];
        if (e->dw_out) {
            enter(1);
            dnnl_memory_set_data_handle(e->mem[0][DW_BW], c->parts[k].buf[DW_BW]);
            dnnl_memory_set_data_handle(e->dwmem_user, c->dw_user);
            dnnl_memory_set_data_handle(e->mem[0][PAD], c->parts[0].buf[PAD]);
            dnnl_exec_arg_t args[] = { { DNNL_ARG_FROM, e->mem[0][DW_BW] },
                                       { DNNL_ARG_TO, e->dwmem_user },
                                       { DNNL_ARG_SCRATCHPAD, e->mem[0][PAD] } };
            run(e->dw_out, c->serial, 3, args);
            gd_blas_mark(false);
            dwk = c->dw_user;
        }
        for (int64_t i = 0; i < nw; i++)
            gw[i] += dwk[i];
        if (g->bias)
            for (int64_t f = 0; f < g->filters; f++)
                gb[f] += c->parts[k].buf[DB][f];
    }
}

static void conv_free(gd_conv2d *c)
{
    if (!c)
        return;
    for (int i = 0; i < CACHE; i++)
        if (c->cache[i].n)
            destroy_entry(&c->cache[i]);
    for (int k = 0; k < MAX_PARTS; k++) {
        if (c->parts[k].stream)
            dnnl_stream_destroy(c->parts[k].stream);
        for (int r = 0; r < NROLES; r++)
            free(c->parts[k].buf[r]);
    }
    if (c->serial)
        dnnl_stream_destroy(c->serial);
    if (c->eng)
        dnnl_engine_destroy(c->eng);
    free(c->dw_user);
    free(c);
}

static gd_conv2d *conv_new(const gd_conv2d_geom *g)
{
    if (!g || g->size < sizeof *g || strcmp(gd_blas_name(), "onednn") != 0)
        return NULL;
    if (g->c < 1 || g->h < 1 || g->w < 1 || g->filters < 1 || g->kh < 1 || g->kw < 1 ||
        g->sh < 1 || g->sw < 1 || g->ph < 0 || g->pw < 0 || g->kh > g->h + 2 * g->ph ||
        g->kw > g->w + 2 * g->pw)
        return NULL;
    gd_conv2d *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->g = *g;
    c->oh = (g->h + 2 * g->ph - g->kh) / g->sh + 1;
    c->ow = (g->w + 2 * g->pw - g->kw) / g->sw + 1;
    int64_t nw = g->filters * g->c * g->kh * g->kw;
    enter(1);
    int good = ok(dnnl_engine_create(&c->eng, dnnl_cpu, 0)) &&
               ok(dnnl_stream_create(&c->serial, c->eng, dnnl_stream_default_flags)) &&
               (c->dw_user = malloc((size_t)nw * sizeof(float)));
    /* Try a batch of one now: a geometry oneDNN cannot do is found here,
     * and the layer then takes its plain path. */
    good = good && entry_for(c, 1);
    gd_blas_mark(false);
    if (!good) {
        conv_free(c);
        return NULL;
    }
    return c;
}

#else /* no oneDNN: nothing is lent */

static gd_conv2d *conv_new(const gd_conv2d_geom *g)
{
    (void)g;
    return NULL;
}

static gd_status conv_forward(gd_conv2d *c, int64_t n, const float *x, const float *w,
                              const float *b, float *y, gd_error *err)
{
    (void)c; (void)n; (void)x; (void)w; (void)b; (void)y;
    return gd_fail(err, GD_EINVAL, "conv2d: not lent by this build");
}

static void conv_backward(gd_conv2d *c, int64_t n, const float *x, const float *w,
                          const float *y, const float *dy, float *dx, float *gw, float *gb)
{
    (void)c; (void)n; (void)x; (void)w; (void)y; (void)dy; (void)dx; (void)gw; (void)gb;
}

static void conv_free(gd_conv2d *c)
{
    (void)c;
}

#endif

gd_conv2d *gd_conv2d_new(const gd_conv2d_geom *g)
{
    return conv_new(g);
}

gd_status gd_conv2d_forward(gd_conv2d *c, int64_t n, const float *x, const float *w,
                            const float *b, float *y, gd_error *err)
{
    return conv_forward(c, n, x, w, b, y, err);
}

void gd_conv2d_backward(gd_conv2d *c, int64_t n, const float *x, const float *w, const float *y,
                        const float *dy, float *dx, float *gw, float *gb)
{
    conv_backward(c, n, x, w, y, dy, dx, gw, gb);
}

void gd_conv2d_free(gd_conv2d *c)
{
    conv_free(c);
}
