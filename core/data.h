/*
 * core/data.h: data sets.
 *
 * A data set is a shared base (samples stored once, as uint8 pixels or
 * floats) plus an index list, so split and subset make views, not copies.
 * Batches are gathered into caller-provided float buffers: uint8 pixels
 * become floats in [0, 1] at gather time (4x less memory than float storage).
 */
#ifndef GRADUS_CORE_DATA_H
#define GRADUS_CORE_DATA_H

#include <stdbool.h>
#include <stdint.h>

#include "gradus/gradus.h"

typedef struct gd_dataset gd_dataset;

/* From memory. x: n * features floats (copied); y: n values (copied), class
 * numbers 0..classes-1 as floats when classes > 0, else n * targets regression
 * values. */
gd_dataset *gd_dataset_from_floats(int64_t n, const gd_shape *sample_shape, const float *x,
                                   int64_t targets, const float *y, int classes, gd_error *err);
/* From uint8 samples scaled by 1/255 at gather; labels are 0-based classes. Takes
 * ownership of x and labels (malloc'd) on success only. */
gd_dataset *gd_dataset_from_u8(int64_t n, const gd_shape *sample_shape, uint8_t *x,
                               uint8_t *labels, int classes, gd_error *err);

/* A new reference to the same data set (views share the base). */
gd_dataset *gd_dataset_ref(gd_dataset *ds);
void gd_dataset_free(gd_dataset *ds);   /* drops one reference */

int64_t gd_dataset_size(const gd_dataset *ds);
int64_t gd_dataset_features(const gd_dataset *ds);   /* floats per sample */
const gd_shape *gd_dataset_sample_shape(const gd_dataset *ds);
int gd_dataset_classes(const gd_dataset *ds);        /* 0 for regression */
int64_t gd_dataset_target_width(const gd_dataset *ds); /* 1 for classes, else values per sample */
const char *gd_dataset_name(const gd_dataset *ds);

/* Shuffle with `seed`, then the first n_val samples are validation. */
gd_status gd_dataset_split(const gd_dataset *ds, int64_t n_val, uint64_t seed,
                           gd_dataset **train, gd_dataset **val, gd_error *err);
/* The first n samples (n <= size). */
gd_dataset *gd_dataset_subset(const gd_dataset *ds, int64_t n, gd_error *err);
/* Per-feature mean and std from `stats_from`, applied to ds as a new data set
 * (float storage). */
gd_dataset *gd_dataset_standardize(const gd_dataset *ds, const gd_dataset *stats_from,
                                   gd_error *err);

/* Gather samples idx[0..n) (positions in this view) into x [n, features]
 * and y [n] (classes, as floats) or [n, target_width]. No allocation. */
void gd_dataset_gather(const gd_dataset *ds, const int64_t *idx, int64_t n, float *x, float *y);

/* Loaders (data_idx.c, data_csv.c, data_synthetic.c). Every failure names
 * the file and what is wrong; nothing is half-loaded. */
gd_status gd_idx_load(const char *images_path, const char *labels_path, gd_dataset **out,
                      gd_error *err);
/* split: "train" or "test"; dir NULL: $GRADUS_DATA, else
 * /usr/share/datasets/fashion-mnist. limit 0: all. */
gd_status gd_fashion_mnist_load(const char *dir, const char *split, int64_t limit,
                                gd_dataset **out, gd_error *err);

typedef struct gd_csv_options {
    const char *path;
    const char *target_name;  /* column name (needs header), or NULL */
    int target_index;         /* 1-based column, used when target_name is NULL; 0: last */
    bool header;
    bool classes;             /* target is a class label (integers 0..K-1 or 1..K?) */
} gd_csv_options;
gd_status gd_csv_load(const gd_csv_options *o, gd_dataset **out, gd_error *err);

gd_dataset *gd_synthetic_spirals(int64_t n, int classes, double noise, uint64_t seed,
                                 gd_error *err);
gd_dataset *gd_synthetic_blobs(int64_t n, int classes, int64_t features, double spread,
                               uint64_t seed, gd_error *err);
gd_dataset *gd_synthetic_xor(int64_t n, double noise, uint64_t seed, gd_error *err);
gd_dataset *gd_synthetic_regression(int64_t n, int64_t features, double noise, uint64_t seed,
                                    gd_error *err);

#endif
