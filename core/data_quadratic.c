/*
 * core/data_quadratic.c: the data of DeepOBS's quadratic_deep problem
 * (Schneider, Balles & Hennig, DeepOBS, ICLR 2019, §3), as a set a recipe
 * can rebuild bit for bit in a sweep's worker.
 *
 * The problem: loss(θ) = mean over samples x of ½ (θ − x)ᵀ Q (θ − x),
 * θ ∈ R¹⁰⁰, Q = Rᵀ D R, D = diag(90 eigenvalues from U(0, 1), then 10 from
 * U(30, 60)), R a Haar-distributed rotation, x ~ N(0, noise² I).
 *
 * As a gradus set: with A = √50 · D^½ R, ½ (θ − x)ᵀ Q (θ − x) is
 * (1/100) ‖Aθ − Ax‖², the mse of the prediction Aθ against the target Ax.
 * A sample's input is A laid out as [100 channels, 100, 1] (channel c holds
 * column c of A), so a bias-free 1×1 conv2d with one filter whose weight is
 * θ computes Aθ; its target is Ax, computed from the float A the set
 * stores, so the loss is exactly the quadratic of Q = AᵀA / 50 as stored.
 * Since R is orthogonal, A Aᵀ = 50 D: a reader of the set recovers D, R
 * and every x from it (tests/lua/benchmark.lua does).
 *
 * Q depends only on `problem` (streams 1: eigenvalues, 2: the Gaussian
 * matrix made a rotation), the samples only on `seed`, so the train,
 * validation and test sets of one problem share Q.
 */
#include "data.h"

#include <math.h>
#include <stdlib.h>

enum { DIM = 100, N_SMALL = 90 };
enum { STREAM_EIGEN = 1, STREAM_ROTATION = 2, STREAM_SAMPLES = 1 };

#define MAX_SAMPLES (((int64_t)1 << 30) / (DIM * DIM))

/* A Haar rotation into r (rows orthonormal): Gram–Schmidt, done twice for
 * accuracy, on a Gaussian matrix, which is the QR with R's diagonal made
 * positive (Mezzadri 2007). */
static void haar(double *r, uint64_t problem)
{
    gd_rng g = gd_rng_stream(problem, STREAM_ROTATION);
    for (int i = 0; i < DIM * DIM; i++)
        r[i] = gd_rng_normal(&g);
    for (int i = 0; i < DIM; i++) {
        double *v = r + i * DIM;
        for (int pass = 0; pass < 2; pass++) {
            for (int j = 0; j < i; j++) {
                const double *q = r + j * DIM;
                double d = 0;
                for (int k = 0; k < DIM; k++)
                    d += v[k] * q[k];
                for (int k = 0; k < DIM; k++)
                    v[k] -= d * q[k];
            }
        }
        double norm = 0;
        for (int k = 0; k < DIM; k++)
            norm += v[k] * v[k];
        norm = sqrt(norm);
        for (int k = 0; k < DIM; k++)
            v[k] /= norm;
    }
}

/* A = √50 · D^½ R as floats, row h scaled by √(50 d_h). */
static void operator_a(float *a, double *r, uint64_t problem)
{
    gd_rng e = gd_rng_stream(problem, STREAM_EIGEN);
    double eig[DIM];
    for (int h = 0; h < DIM; h++)
        eig[h] = h < N_SMALL ? gd_rng_uniform(&e) : 30.0 + 30.0 * gd_rng_uniform(&e);
    haar(r, problem);
    for (int h = 0; h < DIM; h++) {
        double s = sqrt(50.0 * eig[h]);
        for (int k = 0; k < DIM; k++)
            a[h * DIM + k] = (float)(s * r[h * DIM + k]);
    }
}

gd_dataset *gd_synthetic_quadratic_deep(int64_t n, double noise, uint64_t problem, uint64_t seed,
                                        gd_error *err)
{
    if (n < 1 || n > MAX_SAMPLES) {
        gd_fail(err, GD_EINVAL, "quadratic_deep: n must be in 1..%lld, got %lld",
                (long long)MAX_SAMPLES, (long long)n);
        return NULL;
    }
    if (!isfinite(noise) || noise < 0) {
        gd_fail(err, GD_EINVAL, "quadratic_deep: noise must be finite and >= 0, got %g", noise);
        return NULL;
    }
    float *a = malloc(DIM * DIM * sizeof *a);
    double *r = malloc(DIM * DIM * sizeof *r);
    float *x = malloc((size_t)n * DIM * DIM * sizeof *x);
    float *y = malloc((size_t)n * DIM * sizeof *y);
    gd_dataset *ds = NULL;
    if (!a || !r || !x || !y) {
        gd_fail(err, GD_ENOMEM, "quadratic_deep: out of memory for %lld samples", (long long)n);
        goto done;
    }
    operator_a(a, r, problem);
    gd_rng g = gd_rng_stream(seed, STREAM_SAMPLES);
    for (int64_t s = 0; s < n; s++) {
        float *in = x + s * DIM * DIM;
        for (int c = 0; c < DIM; c++)
            for (int h = 0; h < DIM; h++)
                in[c * DIM + h] = a[h * DIM + c];
        double xs[DIM];
        for (int k = 0; k < DIM; k++)
            xs[k] = noise * gd_rng_normal(&g);
        for (int h = 0; h < DIM; h++) {
            double acc = 0;
            for (int k = 0; k < DIM; k++)
                acc += (double)a[h * DIM + k] * xs[k];
            y[s * DIM + h] = (float)acc;
        }
    }
    gd_shape shape = { 3, { DIM, DIM, 1, 0 } };
    ds = gd_dataset_from_floats(n, &shape, x, DIM, y, 0, err);
    if (ds)
        gd_dataset_set_name(ds, "quadratic_deep");
done:
    free(a);
    free(r);
    free(x);
    free(y);
    return ds;
}
