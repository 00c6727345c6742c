/*
 * core/clip.h: gradient clipping (clip.c), the trainer's and gd.clip_norm /
 * gd.clip_value's.
 */
#ifndef GRADUS_CORE_CLIP_H
#define GRADUS_CORE_CLIP_H

#include <stdbool.h>
#include <stdint.h>

typedef enum gd_clip_kind { GD_CLIP_NONE = 0, GD_CLIP_NORM, GD_CLIP_VALUE } gd_clip_kind;

/* Clip `count` tensors g[k] of n[k] floats. Return the total L2 norm before
 * clipping; *clipped (may be NULL) tells whether anything changed. */
double gd_clip_by_norm(float *const *g, const int64_t *n, int count, double max_norm,
                       bool *clipped);
double gd_clip_by_value(float *const *g, const int64_t *n, int count, double c, bool *clipped);

#endif
