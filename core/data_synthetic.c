/*
 * core/data_synthetic.c: small generated data sets for lectures and tests.
 *
 * Each is a pure function of its arguments: draws come from counter-based
 * streams of include/gradus/rng.h (gd_rng_stream(seed, id), one id per
 * purpose), taken in sample order, so the same seed gives the same bytes on
 * every machine and thread count. In spirals and blobs sample i has class
 * i % classes, so any prefix (gd_dataset_subset) stays balanced.
 *
 *   spirals     K interleaved arms (the CS231n example): arm c, position
 *               t in [0, 1]: r = t, angle = 2*pi*c/K + 4t + noise*N(0,1),
 *               x = (r sin(angle), r cos(angle)). noise is in radians.
 *   blobs       K Gaussian clusters, centres uniform in [-10, 10]^features
 *               (as scikit-learn's make_blobs), x = centre + spread*N(0, I).
 *   xor         p uniform in [-1, 1]^2, class (p0 > 0) xor (p1 > 0), then
 *               x = p + noise*N(0, I): labels come from the clean point.
 *   regression  y = x.w + b + noise*N(0,1), x ~ N(0, I), w ~ N(0, I),
 *               b ~ N(0, 1): a linear target with a known best MSE, noise^2.
 */
#include "data.h"

#include <math.h>
#include <stdlib.h>

/* Stream ids: one per purpose, so changing n never changes the centres. */
enum { STREAM_POINTS = 1, STREAM_CENTERS = 2, STREAM_WEIGHTS = 3 };

#define MAX_SAMPLES ((int64_t)1 << 26)
#define MAX_VALUES ((int64_t)1 << 30)

static bool check_common(const char *what, int64_t n, int64_t features, double noise,
                         gd_error *err)
{
    if (n < 1 || n > MAX_SAMPLES) {
        gd_fail(err, GD_EINVAL, "%s: n must be in 1..%lld, got %lld", what,
                (long long)MAX_SAMPLES, (long long)n);
        return false;
    }
    if (features < 1 || features > MAX_VALUES / n) {
        gd_fail(err, GD_EINVAL, "%s: features must be >= 1 and n * features <= %lld, got %lld",
                what, (long long)MAX_VALUES, (long long)features);
        return false;
    }
    if (!isfinite(noise) || noise < 0) {
        gd_fail(err, GD_EINVAL, "%s: noise must be finite and >= 0, got %g", what, noise);
        return false;
    }
    return true;
}

static bool check_classes(const char *what, int classes, gd_error *err)
{
    if (classes < 2 || classes > 1000) {
        gd_fail(err, GD_EINVAL, "%s: classes must be in 2..1000, got %d", what, classes);
        return false;
    }
    return true;
}

/* Make the data set from malloc'd x and y, freeing both either way. */
static gd_dataset *finish(const char *name, int64_t n, int64_t features, float *x, float *y,
                          int classes, gd_error *err)
{
    gd_dataset *ds = NULL;
    if (!x || !y) {
        gd_fail(err, GD_ENOMEM, "%s: out of memory for %lld samples", name, (long long)n);
    } else {
        gd_shape shape = gd_shape_1(features);
        ds = gd_dataset_from_floats(n, &shape, x, 1, y, classes, err);
        if (ds)
            gd_dataset_set_name(ds, name);
    }
    free(x);
    free(y);
    return ds;
}

gd_dataset *gd_synthetic_spirals(int64_t n, int classes, double noise, uint64_t seed,
                                 gd_error *err)
{
    if (!check_common("spirals", n, 2, noise, err) || !check_classes("spirals", classes, err))
        return NULL;
    float *x = malloc((size_t)n * 2 * sizeof *x), *y = malloc((size_t)n * sizeof *y);
    if (x && y) {
        gd_rng r = gd_rng_stream(seed, STREAM_POINTS);
        int64_t per_arm = (n + classes - 1) / classes;
        for (int64_t i = 0; i < n; i++) {
            int c = (int)(i % classes);
            double t = per_arm > 1 ? (double)(i / classes) / (double)(per_arm - 1) : 0.0;
            double a = 6.283185307179586 * c / classes + 4.0 * t + noise * gd_rng_normal(&r);
            x[2 * i] = (float)(t * sin(a));
            x[2 * i + 1] = (float)(t * cos(a));
            y[i] = (float)c;
        }
    }
    return finish("spirals", n, 2, x, y, classes, err);
}

gd_dataset *gd_synthetic_blobs(int64_t n, int classes, int64_t features, double spread,
                               uint64_t seed, gd_error *err)
{
    if (!check_common("blobs", n, features, spread, err) || !check_classes("blobs", classes, err))
        return NULL;
    float *x = malloc((size_t)(n * features) * sizeof *x), *y = malloc((size_t)n * sizeof *y);
    double *centers = malloc((size_t)(classes * features) * sizeof *centers);
    if (x && y && centers) {
        gd_rng rc = gd_rng_stream(seed, STREAM_CENTERS), r = gd_rng_stream(seed, STREAM_POINTS);
        for (int64_t k = 0; k < classes * features; k++)
            centers[k] = -10.0 + 20.0 * gd_rng_uniform(&rc);
        for (int64_t i = 0; i < n; i++) {
            int c = (int)(i % classes);
            for (int64_t j = 0; j < features; j++)
                x[i * features + j] = (float)(centers[c * features + j] +
                                              spread * gd_rng_normal(&r));
            y[i] = (float)c;
        }
    }
    if (!centers) {
        free(x);
        x = NULL;
    }
    free(centers);
    return finish("blobs", n, features, x, y, classes, err);
}

gd_dataset *gd_synthetic_xor(int64_t n, double noise, uint64_t seed, gd_error *err)
{
    if (!check_common("xor", n, 2, noise, err))
        return NULL;
    float *x = malloc((size_t)n * 2 * sizeof *x), *y = malloc((size_t)n * sizeof *y);
    if (x && y) {
        gd_rng r = gd_rng_stream(seed, STREAM_POINTS);
        for (int64_t i = 0; i < n; i++) {
            double p0 = 2.0 * gd_rng_uniform(&r) - 1.0, p1 = 2.0 * gd_rng_uniform(&r) - 1.0;
            x[2 * i] = (float)(p0 + noise * gd_rng_normal(&r));
            x[2 * i + 1] = (float)(p1 + noise * gd_rng_normal(&r));
            y[i] = (float)((p0 > 0) != (p1 > 0));
        }
    }
    return finish("xor", n, 2, x, y, 2, err);
}

gd_dataset *gd_synthetic_regression(int64_t n, int64_t features, double noise, uint64_t seed,
                                    gd_error *err)
{
    if (!check_common("regression", n, features, noise, err))
        return NULL;
    float *x = malloc((size_t)(n * features) * sizeof *x), *y = malloc((size_t)n * sizeof *y);
    double *w = malloc((size_t)(features + 1) * sizeof *w);
    if (x && y && w) {
        gd_rng rw = gd_rng_stream(seed, STREAM_WEIGHTS), r = gd_rng_stream(seed, STREAM_POINTS);
        for (int64_t j = 0; j <= features; j++)   /* w[features] is the bias b */
            w[j] = gd_rng_normal(&rw);
        for (int64_t i = 0; i < n; i++) {
            double s = w[features];
            for (int64_t j = 0; j < features; j++) {
                float v = (float)gd_rng_normal(&r);
                x[i * features + j] = v;
                s += v * w[j];   /* with the float x the set stores: y is exact for it */
            }
            y[i] = (float)(s + noise * gd_rng_normal(&r));
        }
    }
    if (!w) {
        free(x);
        x = NULL;
    }
    free(w);
    return finish("regression", n, features, x, y, 0, err);
}
