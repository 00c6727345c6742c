/*
 * core/data.c: the data set: a refcounted base that stores the samples once,
 * and views (an index list into the base) made by split and subset.
 *
 * Storage is uint8 (pixels, with uint8 class labels) or float. uint8 samples
 * become floats only in gd_dataset_gather, dividing by 255.0f, so the 60000
 * Fashion-MNIST training images take 47 MB instead of 188 MB.
 *
 * gd_dataset_identity fingerprints what gather yields (not the storage), so
 * a set rebuilt from a checkpoint's recipe is checked sample for sample.
 */
#include "data.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <gradus/kernels.h>

typedef struct data_base {
    int refs;
    int64_t n;              /* samples stored */
    int64_t features;       /* floats per sample */
    int64_t target_width;   /* 1 for classes */
    int classes;            /* 0: regression */
    gd_shape shape;
    uint8_t *x8;            /* [n, features] bytes, or NULL */
    uint8_t *y8;            /* [n] labels, with x8 */
    float *xf;              /* [n, features] floats, or NULL */
    float *yf;              /* [n, target_width], with xf */
    double *labels;         /* [classes] the file's label of each class, or NULL */
    /* A text set (gd_dataset_from_text): row k is the window of `features`
     * ids at offset k*features, its targets the window one further. */
    uint16_t *text;         /* [text_len] token ids, or NULL */
    int64_t text_len;
    uint32_t *vocab;        /* [classes] the code point of each id */
    /* x8/y8 or xf/yf are someone else's (gd_dataset_over): release(keeper)
     * instead of free when the last view goes */
    void (*release)(void *keeper);
    void *keeper;
} data_base;

#define NAME_SIZE 64

struct gd_dataset {
    int refs;
    data_base *base;        /* one reference held */
    int64_t n;
    int64_t *idx;           /* base rows of positions 0..n-1; NULL: rows 0..n-1 */
    char name[NAME_SIZE];
    bool has_id;            /* id computed: samples never change, so it is kept */
    gd_data_identity id;
};

/* ---- construction ---- */

static void base_unref(data_base *b)
{
    if (!b || --b->refs > 0)
        return;
    if (b->release) {
        b->release(b->keeper);
    } else {
        free(b->x8);
        free(b->y8);
        free(b->xf);
        free(b->yf);
    }
    free(b->labels);
    free(b->text);
    free(b->vocab);
    free(b);
}

/* A view of `n` samples of b. On success it holds the reference to b the
 * caller took for it and owns idx; on failure it touches neither. */
static gd_dataset *view_new(data_base *b, int64_t n, int64_t *idx, const char *name,
                            gd_error *err)
{
    gd_dataset *ds = calloc(1, sizeof *ds);
    if (!ds) {
        gd_fail(err, GD_ENOMEM, "dataset: out of memory");
        return NULL;
    }
    ds->refs = 1;
    ds->base = b;
    ds->n = n;
    ds->idx = idx;
    gd_dataset_set_name(ds, name);
    return ds;
}

/* Sample shape, n and the product n * features, checked so sizes fit size_t. */
static gd_status check_layout(int64_t n, const gd_shape *shape, int64_t *features,
                              gd_error *err)
{
    if (n < 1)
        return gd_fail(err, GD_EINVAL, "dataset: needs at least 1 sample, got %lld",
                       (long long)n);
    if (!shape || shape->ndim < 1 || shape->ndim > GD_MAX_DIMS)
        return gd_fail(err, GD_EINVAL, "dataset: sample shape must have 1..%d dimensions",
                       GD_MAX_DIMS);
    int64_t f = 1;
    for (int i = 0; i < shape->ndim; i++) {
        if (shape->dim[i] < 1 || shape->dim[i] > ((int64_t)1 << 40) / f)
            return gd_fail(err, GD_EINVAL, "dataset: sample shape dimension %d is %lld, "
                           "must be >= 1 and the sample small enough", i,
                           (long long)shape->dim[i]);
        f *= shape->dim[i];
    }
    if (n > (int64_t)(SIZE_MAX / sizeof(float)) / f)
        return gd_fail(err, GD_EINVAL, "dataset: %lld samples of %lld features do not fit "
                       "in memory", (long long)n, (long long)f);
    *features = f;
    return GD_OK;
}

/* Float samples and targets as gd_dataset_from_floats takes them. */
static gd_status check_floats(int64_t n, int64_t f, const float *x, int64_t targets,
                              const float *y, int classes, gd_error *err)
{
    if (classes < 0 || (classes > 0 && targets != 1) || (classes == 0 && targets < 1))
        return gd_fail(err, GD_EINVAL, "dataset: %d classes with %lld targets per sample "
                       "(classes need 1 target, regression >= 1)", classes, (long long)targets);
    if (n > (int64_t)(SIZE_MAX / sizeof(float)) / targets)
        return gd_fail(err, GD_EINVAL, "dataset: %lld samples of %lld targets do not fit "
                       "in memory", (long long)n, (long long)targets);
    if (!x || !y)
        return gd_fail(err, GD_EINVAL, "dataset: x and y are required");
    for (int64_t i = 0; i < n * f; i++)
        if (!isfinite(x[i]))
            return gd_fail(err, GD_ENUMERIC, "dataset: feature %lld of sample %lld is not "
                           "finite", (long long)(i % f + 1), (long long)(i / f + 1));
    for (int64_t i = 0; i < n * targets; i++) {
        if (!isfinite(y[i]))
            return gd_fail(err, GD_ENUMERIC, "dataset: target %lld of sample %lld is not "
                           "finite", (long long)(i % targets + 1), (long long)(i / targets + 1));
        if (classes > 0 && (y[i] != floorf(y[i]) || y[i] < 0 || y[i] >= (float)classes))
            return gd_fail(err, GD_EINVAL, "dataset: label %g of sample %lld is not a class "
                           "number in 0..%d", (double)y[i], (long long)i + 1, classes - 1);
    }
    return GD_OK;
}

gd_dataset *gd_dataset_from_floats(int64_t n, const gd_shape *sample_shape, const float *x,
                                   int64_t targets, const float *y, int classes, gd_error *err)
{
    int64_t f;
    if (check_layout(n, sample_shape, &f, err) != GD_OK ||
        check_floats(n, f, x, targets, y, classes, err) != GD_OK)
        return NULL;
    data_base *b = calloc(1, sizeof *b);
    float *xf = malloc((size_t)(n * f) * sizeof *xf);
    float *yf = malloc((size_t)(n * targets) * sizeof *yf);
    if (!b || !xf || !yf) {
        free(b);
        free(xf);
        free(yf);
        gd_fail(err, GD_ENOMEM, "dataset: out of memory for %lld samples", (long long)n);
        return NULL;
    }
    memcpy(xf, x, (size_t)(n * f) * sizeof *xf);
    memcpy(yf, y, (size_t)(n * targets) * sizeof *yf);
    *b = (data_base){ .refs = 1, .n = n, .features = f, .target_width = targets,
                      .classes = classes, .shape = *sample_shape, .xf = xf, .yf = yf };
    gd_dataset *ds = view_new(b, n, NULL, "tensor", err);
    if (!ds)
        base_unref(b);
    return ds;
}

gd_dataset *gd_dataset_from_u8(int64_t n, const gd_shape *sample_shape, uint8_t *x,
                               uint8_t *labels, int classes, gd_error *err)
{
    int64_t f;
    if (check_layout(n, sample_shape, &f, err) != GD_OK)
        return NULL;
    if (classes < 1 || classes > 256) {
        gd_fail(err, GD_EINVAL, "dataset: uint8 labels need 1..256 classes, got %d", classes);
        return NULL;
    }
    if (!x || !labels) {
        gd_fail(err, GD_EINVAL, "dataset: x and labels are required");
        return NULL;
    }
    for (int64_t i = 0; i < n; i++)
        if (labels[i] >= classes) {
            gd_fail(err, GD_EINVAL, "dataset: label %d of sample %lld is not a class number "
                    "in 0..%d", labels[i], (long long)i + 1, classes - 1);
            return NULL;
        }
    data_base *b = calloc(1, sizeof *b);
    if (!b) {
        gd_fail(err, GD_ENOMEM, "dataset: out of memory");
        return NULL;
    }
    *b = (data_base){ .refs = 1, .n = n, .features = f, .target_width = 1,
                      .classes = classes, .shape = *sample_shape, .x8 = x, .y8 = labels };
    gd_dataset *ds = view_new(b, n, NULL, "tensor", err);
    if (!ds)
        free(b);   /* not base_unref: on failure x and labels stay the caller's */
    return ds;
}

gd_dataset *gd_dataset_over(const gd_data_storage *st, void (*release)(void *keeper),
                            void *keeper, gd_error *err)
{
    gd_dataset *ds = NULL;
    int64_t f;
    if (check_layout(st->n, &st->shape, &f, err) != GD_OK)
        goto out;
    if (f != st->features) {
        gd_fail(err, GD_EINVAL, "dataset: a sample shape of %lld elements for %lld features",
                (long long)f, (long long)st->features);
        goto out;
    }
    if (st->x8) {
        /* validated as from_u8 validates; never written (x8 and y8 are not const
         * in the base only because the base frees its own) */
        ds = gd_dataset_from_u8(st->n, &st->shape, (uint8_t *)st->x8, (uint8_t *)st->y8,
                                st->classes, err);
    } else {
        if (check_floats(st->n, f, st->xf, st->target_width, st->yf, st->classes, err) != GD_OK)
            goto out;
        data_base *b = calloc(1, sizeof *b);
        if (!b) {
            gd_fail(err, GD_ENOMEM, "dataset: out of memory");
            goto out;
        }
        *b = (data_base){ .refs = 1, .n = st->n, .features = f,
                          .target_width = st->target_width, .classes = st->classes,
                          .shape = st->shape, .xf = (float *)st->xf, .yf = (float *)st->yf };
        ds = view_new(b, st->n, NULL, "tensor", err);
        if (!ds)
            free(b);
    }
out:
    if (!ds) {
        release(keeper);
        return NULL;
    }
    ds->base->release = release;
    ds->base->keeper = keeper;
    return ds;
}

gd_dataset *gd_dataset_from_text(uint16_t *ids, int64_t len, int64_t context, uint32_t *vocab,
                                 int nvocab, gd_error *err)
{
    if (context < 1 || len < context + 1) {
        gd_fail(err, GD_EINVAL, "dataset: a text of %lld tokens has no window of %lld + 1",
                (long long)len, (long long)context);
        return NULL;
    }
    if (nvocab < 1 || nvocab > 65535) {
        gd_fail(err, GD_EINVAL, "dataset: a vocabulary of %d tokens (1..65535 allowed)", nvocab);
        return NULL;
    }
    for (int64_t i = 0; i < len; i++)
        if (ids[i] >= nvocab) {
            gd_fail(err, GD_EINVAL, "dataset: token %lld is id %d, outside the vocabulary of %d",
                    (long long)i, ids[i], nvocab);
            return NULL;
        }
    data_base *b = calloc(1, sizeof *b);
    if (!b) {
        gd_fail(err, GD_ENOMEM, "dataset: out of memory");
        return NULL;
    }
    /* Windows at offsets 0, T, 2T, ... whose targets (one further) fit. */
    int64_t n = (len - 1) / context;
    *b = (data_base){ .refs = 1, .n = n, .features = context, .target_width = context,
                      .classes = nvocab, .shape = gd_shape_1(context), .text = ids,
                      .text_len = len, .vocab = vocab };
    gd_dataset *ds = view_new(b, n, NULL, "text", err);
    if (!ds)
        free(b);   /* on failure ids and vocab stay the caller's */
    return ds;
}

gd_dataset *gd_dataset_ref(gd_dataset *ds)
{
    if (ds)
        ds->refs++;
    return ds;
}

void gd_dataset_free(gd_dataset *ds)
{
    if (!ds || --ds->refs > 0)
        return;
    base_unref(ds->base);
    free(ds->idx);
    free(ds);
}

/* ---- accessors ---- */

int64_t gd_dataset_size(const gd_dataset *ds) { return ds->n; }
int64_t gd_dataset_features(const gd_dataset *ds) { return ds->base->features; }
const gd_shape *gd_dataset_sample_shape(const gd_dataset *ds) { return &ds->base->shape; }
int gd_dataset_classes(const gd_dataset *ds) { return ds->base->classes; }

/* "[1, 28, 28]" */
static const char *shape_text(const gd_shape *s, char *buf, size_t len)
{
    size_t used = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < s->ndim && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%lld", i ? ", " : "",
                                 (long long)s->dim[i]);
    if (used < len)
        snprintf(buf + used, len - used, "]");
    return buf;
}

gd_status gd_dataset_set_shape(gd_dataset *ds, const gd_shape *shape, gd_error *err)
{
    int64_t f;
    if (shape->ndim > GD_MAX_DIMS - 1)
        return gd_fail(err, GD_EINVAL, "a sample has at most %d dimensions, got %d",
                       GD_MAX_DIMS - 1, shape->ndim);
    gd_status st = check_layout(1, shape, &f, err);
    if (st != GD_OK)
        return st;
    if (f != ds->base->features) {
        char a[64], b[64];
        return gd_fail(err, GD_EINVAL, "shape %s has %lld elements, a sample has %lld (%s)",
                       shape_text(shape, a, sizeof a), (long long)f,
                       (long long)ds->base->features,
                       shape_text(&ds->base->shape, b, sizeof b));
    }
    ds->base->shape = *shape;
    return GD_OK;
}
int64_t gd_dataset_target_width(const gd_dataset *ds) { return ds->base->target_width; }
const char *gd_dataset_name(const gd_dataset *ds) { return ds->name; }
const double *gd_dataset_labels(const gd_dataset *ds) { return ds->base->labels; }
int64_t gd_dataset_input_ids(const gd_dataset *ds)
{
    return ds->base->text ? ds->base->classes : 0;
}
const uint32_t *gd_dataset_vocab(const gd_dataset *ds) { return ds->base->vocab; }

gd_status gd_dataset_set_labels(gd_dataset *ds, const double *labels, gd_error *err)
{
    int k = ds->base->classes;
    if (k < 1)
        return gd_fail(err, GD_EINVAL, "dataset: class labels need a classification set");
    double *copy = malloc((size_t)k * sizeof *copy);
    if (!copy)
        return gd_fail(err, GD_ENOMEM, "dataset: out of memory for %d labels", k);
    memcpy(copy, labels, (size_t)k * sizeof *copy);
    free(ds->base->labels);   /* shared by every view of the base */
    ds->base->labels = copy;
    return GD_OK;
}

void gd_dataset_set_name(gd_dataset *ds, const char *name)
{
    snprintf(ds->name, sizeof ds->name, "%s", name ? name : "");
}

static inline int64_t row_of(const gd_dataset *ds, int64_t pos)
{
    return ds->idx ? ds->idx[pos] : pos;
}

/* ---- views ---- */

/* Base rows of ds positions pos[0..n) (pos NULL: 0..n-1), as a new array. */
static int64_t *rows_of(const gd_dataset *ds, const int64_t *pos, int64_t n)
{
    int64_t *rows = malloc((size_t)n * sizeof *rows);
    if (rows)
        for (int64_t i = 0; i < n; i++)
            rows[i] = row_of(ds, pos ? pos[i] : i);
    return rows;
}

gd_status gd_dataset_split(const gd_dataset *ds, int64_t n_val, uint64_t seed,
                           gd_dataset **train, gd_dataset **val, gd_error *err)
{
    if (n_val < 1 || n_val >= ds->n)
        return gd_fail(err, GD_EINVAL, "dataset '%s': split validation size must be in "
                       "1..%lld (at least one training sample left), got %lld", ds->name,
                       (long long)(ds->n - 1), (long long)n_val);
    int64_t *perm = malloc((size_t)ds->n * sizeof *perm);
    if (!perm)
        return gd_fail(err, GD_ENOMEM, "dataset: out of memory for a split");
    for (int64_t i = 0; i < ds->n; i++)
        perm[i] = i;
    gd_rng r = gd_rng_stream(seed, GD_DATA_SPLIT_STREAM);
    for (int64_t i = ds->n - 1; i > 0; i--) {
        int64_t j = (int64_t)gd_rng_below(&r, (uint64_t)i + 1);
        int64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    int64_t *vrows = rows_of(ds, perm, n_val);
    int64_t *trows = rows_of(ds, perm + n_val, ds->n - n_val);
    free(perm);
    if (!vrows || !trows) {
        free(vrows);
        free(trows);
        return gd_fail(err, GD_ENOMEM, "dataset: out of memory for a split");
    }
    gd_dataset *v = view_new(ds->base, n_val, vrows, ds->name, err);
    gd_dataset *t = v ? view_new(ds->base, ds->n - n_val, trows, ds->name, err) : NULL;
    if (!v || !t) {
        free(v);   /* never handed out and holds no reference yet */
        free(vrows);
        free(trows);
        return GD_ENOMEM;
    }
    ds->base->refs += 2;
    *train = t;
    *val = v;
    return GD_OK;
}

gd_dataset *gd_dataset_subset(const gd_dataset *ds, int64_t n, gd_error *err)
{
    if (n < 1 || n > ds->n) {
        gd_fail(err, GD_EINVAL, "dataset '%s': subset size must be in 1..%lld, got %lld",
                ds->name, (long long)ds->n, (long long)n);
        return NULL;
    }
    int64_t *rows = NULL;
    if (ds->idx) {
        rows = rows_of(ds, NULL, n);
        if (!rows) {
            gd_fail(err, GD_ENOMEM, "dataset: out of memory for a subset");
            return NULL;
        }
    }
    gd_dataset *v = view_new(ds->base, n, rows, ds->name, err);
    if (!v) {
        free(rows);
        return NULL;
    }
    ds->base->refs++;
    return v;
}

/* ---- gathering and standardizing ---- */

static void gather_row(const data_base *b, int64_t row, float *x)
{
    int64_t f = b->features;
    if (b->x8) {
        gd_k_bytes_to_unit(f, b->x8 + row * f, x);
    } else {
        memcpy(x, b->xf + row * f, (size_t)f * sizeof *x);
    }
}

static void gather_text(const data_base *b, int64_t row, uint64_t key, float *x, float *y)
{
    const int64_t T = b->features, last = b->text_len - T - 1;
    int64_t off = row * T;
    if (key) {
        /* every bit of key and row reaches the shift, the same on any thread */
        off += (int64_t)(gd_mix64(key + gd_mix64((uint64_t)row)) % (uint64_t)T);
        off = off > last ? last : off;
    }
    const uint16_t *t = b->text + off;
    for (int64_t i = 0; i < T; i++)
        x[i] = t[i];
    if (y)
        for (int64_t i = 0; i < T; i++)
            y[i] = t[i + 1];
}

void gd_dataset_gather_epoch(const gd_dataset *ds, const int64_t *idx, int64_t n, float *x,
                             float *y, uint64_t key)
{
    const data_base *b = ds->base;
    if (!b->text) {
        gd_dataset_gather(ds, idx, n, x, y);
        return;
    }
    for (int64_t i = 0; i < n; i++)
        gather_text(b, row_of(ds, idx[i]), key, x + i * b->features,
                    y ? y + i * b->features : NULL);
}

void gd_dataset_prefetch(const gd_dataset *ds, const int64_t *idx, int64_t n)
{
    const data_base *b = ds->base;
    if (!b->x8)
        return;
    for (int64_t i = 0; i < n; i++) {
        const uint8_t *p = b->x8 + row_of(ds, idx[i]) * b->features;
        for (int64_t off = 0; off < b->features; off += 64)
            __builtin_prefetch(p + off, 0, 1);
    }
}

void gd_dataset_gather(const gd_dataset *ds, const int64_t *idx, int64_t n, float *x, float *y)
{
    const data_base *b = ds->base;
    int64_t tw = b->target_width;
    if (b->text) {
        gd_dataset_gather_epoch(ds, idx, n, x, y, 0);
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        int64_t row = row_of(ds, idx[i]);
        /* Rows come in shuffled order, so the hardware prefetcher cannot
         * guess the next one; ask for it a few rows ahead. */
        if (i + 4 < n && b->x8) {
            const uint8_t *next = b->x8 + row_of(ds, idx[i + 4]) * b->features;
            for (int64_t off = 0; off < b->features; off += 64)
                __builtin_prefetch(next + off);
        }
        gather_row(b, row, x + i * b->features);
        if (!y)
            continue;
        if (b->y8)
            y[i] = (float)b->y8[row];
        else
            memcpy(y + i * tw, b->yf + row * tw, (size_t)tw * sizeof *y);
    }
}

gd_dataset *gd_dataset_standardize(const gd_dataset *ds, const gd_dataset *stats_from,
                                   gd_error *err)
{
    int64_t f = ds->base->features, n = ds->n, tw = ds->base->target_width;
    if (ds->base->text || stats_from->base->text) {
        gd_fail(err, GD_EINVAL, "dataset: standardize '%s': a text set holds token ids, not "
                "features", ds->base->text ? ds->name : stats_from->name);
        return NULL;
    }
    if (stats_from->base->features != f) {
        gd_fail(err, GD_EINVAL, "dataset: standardize '%s' (%lld features) with statistics "
                "of '%s' (%lld features): feature counts differ", ds->name, (long long)f,
                stats_from->name, (long long)stats_from->base->features);
        return NULL;
    }
    double *sum = calloc((size_t)f, sizeof *sum);
    double *sq = calloc((size_t)f, sizeof *sq);
    float *row = malloc((size_t)f * sizeof *row);
    float *x = malloc((size_t)(n * f) * sizeof *x);
    float *y = malloc((size_t)(n * tw) * sizeof *y);
    gd_dataset *out = NULL;
    if (!sum || !sq || !row || !x || !y) {
        gd_fail(err, GD_ENOMEM, "dataset: out of memory to standardize '%s'", ds->name);
        goto done;
    }
    /* Two passes (mean, then squared deviations) in double: the one-pass
     * sum-of-squares form loses every digit when mean >> std. */
    int64_t m = stats_from->n;
    for (int64_t i = 0; i < m; i++) {
        gather_row(stats_from->base, row_of(stats_from, i), row);
        for (int64_t j = 0; j < f; j++)
            sum[j] += row[j];
    }
    for (int64_t j = 0; j < f; j++)
        sum[j] /= (double)m;
    for (int64_t i = 0; i < m; i++) {
        gather_row(stats_from->base, row_of(stats_from, i), row);
        for (int64_t j = 0; j < f; j++)
            sq[j] += (row[j] - sum[j]) * (row[j] - sum[j]);
    }
    for (int64_t j = 0; j < f; j++) {
        double sd = sqrt(sq[j] / (double)m);
        sq[j] = sd > 0 ? sd : 1.0;   /* a constant feature stays centred, not divided by 0 */
    }
    for (int64_t i = 0; i < n; i++) {
        int64_t r = row_of(ds, i);
        gather_row(ds->base, r, x + i * f);
        for (int64_t j = 0; j < f; j++)
            x[i * f + j] = (float)((x[i * f + j] - sum[j]) / sq[j]);
        if (ds->base->y8)
            y[i] = (float)ds->base->y8[r];
        else
            memcpy(y + i * tw, ds->base->yf + r * tw, (size_t)tw * sizeof *y);
    }
    out = gd_dataset_from_floats(n, &ds->base->shape, x, tw, y, ds->base->classes, err);
    if (out)
        gd_dataset_set_name(out, ds->name);
    if (out && ds->base->labels && gd_dataset_set_labels(out, ds->base->labels, err) != GD_OK) {
        gd_dataset_free(out);
        out = NULL;
    }
done:
    free(sum);
    free(sq);
    free(row);
    free(x);
    free(y);
    return out;
}

gd_status gd_dataset_storage(const gd_dataset *ds, gd_data_storage *out, gd_error *err)
{
    const data_base *b = ds->base;
    if (b->text)
        return gd_fail(err, GD_EINVAL, "dataset '%s': a text set's storage is not handed over",
                       ds->name);
    *out = (gd_data_storage){ .n = b->n, .features = b->features,
                              .target_width = b->target_width, .classes = b->classes,
                              .shape = b->shape, .x8 = b->x8, .y8 = b->y8, .xf = b->xf,
                              .yf = b->yf, .labels = b->labels };
    return GD_OK;
}

/* ---- identity ---- */

/* Rewrite n floats in place as their little-endian bytes; a no-op on
 * little-endian hosts (the test folds to a constant). */
static void floats_to_le(float *v, int64_t n)
{
    const uint32_t one = 1;
    if (*(const unsigned char *)&one == 1)
        return;
    unsigned char *p = (unsigned char *)v;
    for (int64_t i = 0; i < n; i++, p += 4) {
        uint32_t u;
        memcpy(&u, p, 4);
        p[0] = (unsigned char)u;
        p[1] = (unsigned char)(u >> 8);
        p[2] = (unsigned char)(u >> 16);
        p[3] = (unsigned char)(u >> 24);
    }
}

/* crc32 takes a uInt length; a sample may in principle be longer. */
static uLong crc_bytes(uLong crc, const unsigned char *p, size_t n)
{
    while (n > 0) {
        uInt len = n > (1u << 30) ? (1u << 30) : (uInt)n;
        crc = crc32(crc, p, len);
        p += len;
        n -= len;
    }
    return crc;
}

gd_status gd_dataset_identity(const gd_dataset *ds, gd_data_identity *id, gd_error *err)
{
    if (ds->has_id) {   /* every run with checkpoints asks: a sweep's worker, once per trial */
        *id = ds->id;
        return GD_OK;
    }
    const data_base *b = ds->base;
    int64_t f = b->features, tw = b->target_width;
    /* About 1 MB of buffer: 256 samples of Fashion-MNIST, fewer when samples
     * are large, at least one. */
    int64_t chunk = ((int64_t)1 << 18) / (f + tw);
    chunk = chunk < 1 ? 1 : chunk > 256 ? 256 : chunk;
    if (chunk > ds->n)
        chunk = ds->n;
    int64_t idx[256];
    float *x = malloc((size_t)(chunk * f) * sizeof *x);
    float *y = malloc((size_t)(chunk * tw) * sizeof *y);
    if (!x || !y) {
        free(x);
        free(y);
        return gd_fail(err, GD_ENOMEM, "dataset '%s': out of memory for its identity",
                       ds->name);
    }
    uLong crc = crc32(0L, Z_NULL, 0);
    for (int64_t first = 0; first < ds->n; first += chunk) {
        int64_t m = ds->n - first < chunk ? ds->n - first : chunk;
        for (int64_t i = 0; i < m; i++)
            idx[i] = first + i;
        gd_dataset_gather(ds, idx, m, x, y);
        floats_to_le(x, m * f);
        floats_to_le(y, m * tw);
        for (int64_t i = 0; i < m; i++) {
            crc = crc_bytes(crc, (const unsigned char *)(x + i * f), (size_t)f * sizeof *x);
            crc = crc_bytes(crc, (const unsigned char *)(y + i * tw), (size_t)tw * sizeof *y);
        }
    }
    free(x);
    free(y);
    *id = (gd_data_identity){ .size = ds->n, .features = f, .target_width = tw,
                              .classes = b->classes, .crc = (uint32_t)crc };
    gd_dataset *cache = (gd_dataset *)ds;   /* a memo, not a change of the set */
    cache->id = *id;
    cache->has_id = true;
    return GD_OK;
}
