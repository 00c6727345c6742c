/*
 * core/data.h: data sets.
 *
 * A data set is a shared base (samples stored once, as uint8 pixels or
 * floats) plus an index list, so split and subset make views, not copies.
 * Batches are gathered into caller-provided float buffers: uint8 pixels
 * become floats in [0, 1] at gather time (4x less memory than float storage).
 *
 * A gd_dataset is immutable once made, so views and references may be shared
 * freely. Reference counts are not atomic: share across threads only after
 * taking the references you need.
 */
#ifndef GRADUS_CORE_DATA_H
#define GRADUS_CORE_DATA_H

#include <stdbool.h>
#include <stdint.h>

#include "gradus/gradus.h"

typedef struct gd_dataset gd_dataset;

/* From memory. n >= 1. x: n * features floats (copied; must be finite); y
 * (copied): when classes > 0, n class numbers 0..classes-1 as floats and
 * targets must be 1; when classes == 0, n * targets regression values,
 * targets >= 1. Named "tensor" until gd_dataset_set_name. */
gd_dataset *gd_dataset_from_floats(int64_t n, const gd_shape *sample_shape, const float *x,
                                   int64_t targets, const float *y, int classes, gd_error *err);
/* From uint8 samples scaled by 1/255 at gather; labels are 0-based classes,
 * each checked < classes (1..256). Takes ownership of x and labels (malloc'd)
 * on success only. */
gd_dataset *gd_dataset_from_u8(int64_t n, const gd_shape *sample_shape, uint8_t *x,
                               uint8_t *labels, int classes, gd_error *err);

/* A character-level language-modelling set over a text of `len` token ids
 * (0..nvocab-1; vocab[i] is the code point of id i): sample k is x = the
 * `context` ids at offset k*context and y = the ids one further, for the
 * (len - 1) / context windows whose targets fit; classes = nvocab, targets
 * per sample = context, sample shape [context]. Takes ownership of ids and
 * vocab (malloc'd) on success only. */
gd_dataset *gd_dataset_from_text(uint16_t *ids, int64_t len, int64_t context, uint32_t *vocab,
                                 int nvocab, gd_error *err);
/* For a text set: its vocabulary size (the ids its x holds), and the code
 * points of its ids (do not free); 0 and NULL for other sets. */
int64_t gd_dataset_input_ids(const gd_dataset *ds);
const uint32_t *gd_dataset_vocab(const gd_dataset *ds);

/* A new reference to the same data set (views share the base). */
gd_dataset *gd_dataset_ref(gd_dataset *ds);
void gd_dataset_free(gd_dataset *ds);   /* drops one reference */

int64_t gd_dataset_size(const gd_dataset *ds);
int64_t gd_dataset_features(const gd_dataset *ds);   /* floats per sample */
const gd_shape *gd_dataset_sample_shape(const gd_dataset *ds);
/* Give the samples another shape of as many elements ([784] → [1, 28, 28]);
 * every view of the same samples sees it. Refused, changing nothing, when
 * the element count differs or a dimension is < 1. */
gd_status gd_dataset_set_shape(gd_dataset *ds, const gd_shape *shape, gd_error *err);
int gd_dataset_classes(const gd_dataset *ds);        /* 0 for regression */
int64_t gd_dataset_target_width(const gd_dataset *ds); /* 1 for classes, else values per sample */
const char *gd_dataset_name(const gd_dataset *ds);
/* Set the name (truncated to 63 bytes); only on a data set nobody else holds
 * yet, i.e. right after making it (loaders name theirs this way). */
void gd_dataset_set_name(gd_dataset *ds, const char *name);
/* The label each class had in the source file (class c: labels[c]), for
 * CSV sets loaded with classes: NULL when the set has none. Shared with the
 * set's views (do not free). */
const double *gd_dataset_labels(const gd_dataset *ds);
/* Give the set (and the views sharing its samples) gd_dataset_classes(ds)
 * labels, copied. */
gd_status gd_dataset_set_labels(gd_dataset *ds, const double *labels, gd_error *err);

/* The samples under ds, as stored: every row of its base (a view's
 * positions aside), to hand a loaded set to another process (a sweep's
 * workers, lua/lshared_data.c). Either the byte or the float pair is set.
 * Text sets are not handed over: GD_EINVAL. The pointers are ds's (do not
 * free). */
typedef struct gd_data_storage {
    int64_t n, features, target_width;
    int classes;                    /* 0: regression */
    gd_shape shape;
    const uint8_t *x8, *y8;         /* [n, features] and [n] bytes, or NULL */
    const float *xf, *yf;           /* [n, features] and [n, target_width], or NULL */
    const double *labels;           /* [classes] or NULL */
} gd_data_storage;
gd_status gd_dataset_storage(const gd_dataset *ds, gd_data_storage *out, gd_error *err);
/* A set over storage someone else keeps (a read-only mapping of another
 * process's gd_dataset_storage), validated as gd_dataset_from_u8 and
 * _from_floats validate theirs (labels ignored: gd_dataset_set_labels) and
 * never written; release(keeper) is called when the last view of it goes,
 * or at once when this fails. */
gd_dataset *gd_dataset_over(const gd_data_storage *st, void (*release)(void *keeper),
                            void *keeper, gd_error *err);

/* Shuffle the view's positions with `seed` (Fisher-Yates on
 * gd_rng_stream(seed, GD_DATA_SPLIT_STREAM)), then the first n_val samples
 * are validation and the other size - n_val training, in shuffled order.
 * 1 <= n_val < size. Both are views sharing ds's base; *train and *val are
 * written only on success. */
#define GD_DATA_SPLIT_STREAM 0x73706c6974ULL /* "split" */
gd_status gd_dataset_split(const gd_dataset *ds, int64_t n_val, uint64_t seed,
                           gd_dataset **train, gd_dataset **val, gd_error *err);
/* A view of the first n samples, 1 <= n <= size. */
gd_dataset *gd_dataset_subset(const gd_dataset *ds, int64_t n, gd_error *err);
/* Per-feature mean and population std (divide by N) over the samples of
 * `stats_from`, applied to a compact copy of ds with float storage:
 * (x - mean) / std, std 0 replaced by 1. Targets are copied unchanged.
 * Feature counts must agree. */
gd_dataset *gd_dataset_standardize(const gd_dataset *ds, const gd_dataset *stats_from,
                                   gd_error *err);

/* Gather samples idx[0..n) (positions in this view, each in 0..size-1; not
 * checked, the caller owns the indices) into x [n, features] and y [n]
 * (classes, as floats) or [n, target_width]. y may be NULL. No allocation. */
void gd_dataset_gather(const gd_dataset *ds, const int64_t *idx, int64_t n, float *x, float *y);
/* Ask the cache for the bytes of rows idx[0..n-1] (byte-stored sets; a
 * no-op otherwise): the trainer names the next batch's rows while it
 * gathers this one, so that they arrive during this step's products. */
void gd_dataset_prefetch(const gd_dataset *ds, const int64_t *idx, int64_t n);
/* The same for a training epoch: a text set's window k then starts at a
 * random offset in k*T .. k*T + T-1 (clamped to the text), a pure function
 * of (key, k), so every epoch sees the text cut differently while a resumed
 * run sees what the uninterrupted one saw. key 0, and other sets: as
 * gd_dataset_gather. */
void gd_dataset_gather_epoch(const gd_dataset *ds, const int64_t *idx, int64_t n, float *x,
                             float *y, uint64_t key);

/* What a checkpoint records to check that a rebuilt data set is the one it
 * was trained on. crc is zlib's crc32 over every sample in order: its
 * features as gathered (float32, little-endian bytes), then its targets as
 * gathered (float32 LE; class numbers 0-based), so the value is the same on
 * every host. */
typedef struct gd_data_identity {
    int64_t size, features, target_width;
    int32_t classes;      /* 0: regression */
    uint32_t crc;
} gd_data_identity;
/* Gathers in chunks of a few hundred samples into a small buffer (never the
 * whole set); fails only for lack of memory, leaving *id unwritten. */
gd_status gd_dataset_identity(const gd_dataset *ds, gd_data_identity *id, gd_error *err);

/* Loaders (data_idx.c, data_csv.c, data_synthetic.c). Every failure names
 * the file and what is wrong; nothing is half-loaded. */
/* IDX files (gzip or plain, read through zlib): images of unsigned bytes
 * (type 0x08) with >= 2 dimensions, labels with 1. Samples get the flat
 * shape [prod(dims[1..])] so dense layers take them directly. Classes are
 * max label + 1. */
gd_status gd_idx_load(const char *images_path, const char *labels_path, gd_dataset **out,
                      gd_error *err);
typedef struct gd_idx_options {
    const char *images;       /* path */
    const char *labels;       /* path */
    int64_t limit;            /* read only the first `limit` samples; 0: all */
    int classes;              /* labels must be < classes; 0: max label + 1 */
} gd_idx_options;
/* With a limit, bytes after the first `limit` samples are not read, so
 * corruption there (and the gzip CRC) goes unnoticed; without one the whole
 * stream is checked, trailing bytes included. */
gd_status gd_idx_load_with(const gd_idx_options *o, gd_dataset **out, gd_error *err);
/* split: "train" or "test"; dir NULL: $GRADUS_DATA when set and non-empty,
 * else /usr/share/datasets/fashion-mnist. Each file is looked for as NAME.gz,
 * then NAME. limit 0: all; a limit above the split's size loads all of it.
 * Named "fashion_mnist/<split>", 10 classes, samples of shape [784]. */
gd_status gd_fashion_mnist_load(const char *dir, const char *split, int64_t limit,
                                gd_dataset **out, gd_error *err);

/* Character-level text sets (data_text.c). */
typedef struct gd_text_options {
    const char *path;         /* a UTF-8 file */
    int64_t context;          /* T: characters per sample */
    const char *split;        /* "train" (first 90 %), "val" (next 5 %), "test" (last 5 %) */
} gd_text_options;
/* Refuses invalid UTF-8 naming the byte offset, and a text too short for
 * one window of context + 1 characters in every split. Named
 * "<file>/<split>". */
gd_status gd_text_load(const gd_text_options *o, gd_dataset **out, gd_error *err);
/* Strict UTF-8 to code points (malloc'd *cps, *len of them); `what` opens
 * the message ("invalid UTF-8 at byte N (0xNN)"). */
gd_status gd_text_decode(const char *what, const char *bytes, size_t n, uint32_t **cps,
                         int64_t *len, gd_error *err);
/* The King James Bible as plain text, one verse a line (headings and verse
 * numbers dropped), at <cache_dir>/kjv.txt (path): written there once from
 * Debian's bible-kjv (`bible`), atomically; *created says whether this call
 * wrote it. */
gd_status gd_text_kjv(const char *cache_dir, char *path, size_t path_len, int *created,
                      gd_error *err);

typedef struct gd_csv_options {
    const char *path;
    const char *target_name;  /* column name (needs header), or NULL */
    int target_index;         /* 1-based column, used when target_name is NULL; 0: last */
    bool header;
    bool classes;             /* target is a class label: integers, the K distinct values
                                 sorted ascending map to 0..K-1; else regression */
} gd_csv_options;
/* Comma-separated numbers, one sample per line; blank lines are skipped, a
 * field may be double-quoted, CRLF is accepted. Features are the other
 * columns in file order, shape [columns - 1]. Named after the file. */
gd_status gd_csv_load(const gd_csv_options *o, gd_dataset **out, gd_error *err);

/* Synthetic sets, deterministic given the seed (streams of include/gradus/rng.h);
 * formulas in data_synthetic.c. In spirals and blobs sample i has class
 * i % classes, so every prefix is balanced; xor labels come from the point.
 * spirals: 2 features, noise = angle jitter in radians; blobs: spread = the
 * clusters' std; regression: 1 target, y = x.w + b + noise*N(0,1). */
gd_dataset *gd_synthetic_spirals(int64_t n, int classes, double noise, uint64_t seed,
                                 gd_error *err);
gd_dataset *gd_synthetic_blobs(int64_t n, int classes, int64_t features, double spread,
                               uint64_t seed, gd_error *err);
gd_dataset *gd_synthetic_xor(int64_t n, double noise, uint64_t seed, gd_error *err);
gd_dataset *gd_synthetic_regression(int64_t n, int64_t features, double noise, uint64_t seed,
                                    gd_error *err);
/* DeepOBS's quadratic_deep (data_quadratic.c): inputs [100, 100, 1] (the
 * operator A = √50 D^½ R of the problem seeded `problem`), targets A·x with
 * x ~ N(0, noise² I) from `seed`. */
gd_dataset *gd_synthetic_quadratic_deep(int64_t n, double noise, uint64_t problem, uint64_t seed,
                                        gd_error *err);

#endif
