/*
 * core/probe.h: curvature, gradient noise and loss-landscape probes of a
 * model on a fixed probe set (DESIGN.md §11).
 *
 * Everything is built from the model's own forward and backward, so any
 * model whose layers are plugins works and nothing new is asked of a layer:
 * a Hessian-vector product is a central difference of two gradients,
 * Hv ≈ (g(w + εv) − g(w − εv)) / 2ε with ε = 1e-3·|w|/|v|. The probe set is
 * drawn once, from the seed, and passed through in chunks (batch norm in
 * training mode on each chunk, dropout off: gd_model_set_probe_mode).
 *
 * Every call leaves the model as it found it, bit for bit: parameters,
 * gradients, buffers (batch norm's running statistics) and RNG streams
 * (probes draw only from the probe's own stream).
 *
 *   gd_probe_new -> gd_probe_loss / grad / hvp / eigen / ... -> gd_probe_free
 */
#ifndef GRADUS_CORE_PROBE_H
#define GRADUS_CORE_PROBE_H

#include <stdbool.h>
#include <stdint.h>

#include "data.h"
#include "model.h"

typedef struct gd_probe gd_probe;

typedef struct gd_probe_config {
    gd_model *model;            /* borrowed; must outlive the probe */
    const gd_spec *loss;        /* borrowed */
    const gd_dataset *data;     /* borrowed; the probe copies its samples */
    int64_t samples;            /* probe set size; 0 or >= the data's: all of it */
    uint64_t seed;              /* which samples, and the probe's random stream */
    int64_t chunk;              /* samples per forward/backward pass; 0: 256 */
    bool forward;               /* H·v ≈ (g(w + εv) − g(w))/ε: one pass per HVP after the
                                   first of a call, error O(ε) instead of O(ε²): the third
                                   derivative along v, large at the edge of stability */
} gd_probe_config;

gd_probe *gd_probe_new(const gd_probe_config *cfg, gd_error *err);
void gd_probe_free(gd_probe *p);

int64_t gd_probe_nparams(const gd_probe *p);
int64_t gd_probe_samples(const gd_probe *p);
/* Restart the probe's random stream as stream `id` of its seed (training
 * probes use the step, so they are a pure function of where the run is). */
void gd_probe_reseed(gd_probe *p, uint64_t id);

/* Mean data loss over the probe set (no regularizer penalty). */
gd_status gd_probe_loss(gd_probe *p, double *loss, gd_error *err);
/* Mean gradient over the probe set into g[nparams] (params order); the
 * loss too when loss is not NULL. */
gd_status gd_probe_grad(gd_probe *p, float *g, double *loss, gd_error *err);
/* count distinct probe-set rows drawn from the probe's stream into idx. */
void gd_probe_draw(gd_probe *p, int64_t *idx, int64_t count);
/* Mean loss and gradient (g[nparams]) over probe-set rows idx[0..count). */
gd_status gd_probe_batch(gd_probe *p, const int64_t *idx, int64_t count, float *g, double *loss,
                         gd_error *err);
/* hv = H·v (central differences). */
gd_status gd_probe_hvp(gd_probe *p, const float *v, float *hv, gd_error *err);

/* Top-k Hessian eigenpairs by Lanczos with full reorthogonalization. */
typedef struct gd_probe_eigen_opts {
    int k;                      /* >= 1 */
    int iters;                  /* Lanczos steps at most (one HVP each) */
    double tol;                 /* stop when every residual <= tol·|value| */
    const float *start;         /* first Lanczos vector, or NULL: random */
    bool smallest;              /* the k smallest instead, smallest first */
} gd_probe_eigen_opts;

/* values[k] largest first (smallest first when o->smallest); vectors (k·nparams floats, may be NULL) unit
 * eigenvectors; residuals[k] ‖H·y − θ·y‖ estimated by Lanczos; *iters the
 * HVPs used. */
gd_status gd_probe_eigen(gd_probe *p, const gd_probe_eigen_opts *o, double *values,
                         float *vectors, double *residuals, int *iters, gd_error *err);

/* Hutchinson's estimate of tr(H) from `probes` Rademacher vectors and its
 * standard error; exact: Σ eᵢᵀHeᵢ, one HVP per parameter (se = 0). */
gd_status gd_probe_trace(gd_probe *p, int probes, bool exact, double *trace, double *se,
                         gd_error *err);

/* The gradient noise scale B_simple = tr(Σ)/|G|² (McCandlish et al.). */
typedef struct gd_probe_noise {
    double b_simple;            /* tr_sigma / grad_sq */
    double tr_sigma;            /* tr(Σ), per-example covariance (divided by N − 1) */
    double grad_sq;             /* |G|², G the mean gradient */
    int64_t small, big;         /* batch sizes used (0: exact) */
    int repeats;
} gd_probe_noise;
/* Two-batch estimator: `repeats` times a big batch (without replacement
 * from the probe set) and its first `small` samples; the unbiased
 * estimates of |G|² and tr(Σ) are averaged separately before dividing. */
gd_status gd_probe_noise_scale(gd_probe *p, int64_t small, int64_t big, int repeats,
                               gd_probe_noise *out, gd_error *err);
/* Exact, from the per-example gradients of the probe set (refused for
 * models with a layer that cannot take a batch of one, such as batch norm). */
gd_status gd_probe_noise_exact(gd_probe *p, gd_probe_noise *out, gd_error *err);

/* loss[i] = L(w + a[i]·d1 + b[i]·d2) for i < npoints (d2 may be NULL). */
gd_status gd_probe_losses_at(gd_probe *p, const float *d1, const float *d2, const double *a,
                             const double *b, int64_t npoints, double *loss, gd_error *err);
/* A random normal direction from the probe's stream, filter-normalized
 * when filter (gd_probe_filter_normalize). */
void gd_probe_random_direction(gd_probe *p, float *d, bool filter);
/* Li et al.'s filter normalization of d in place: each row of a weight
 * tensor of rank >= 2 (a filter, a unit's weights) scaled to the norm of
 * the same row of the weights; biases, norm parameters and other rank-1
 * tensors zeroed. */
void gd_probe_filter_normalize(gd_probe *p, float *d);

/* Vector helpers over n floats, summed in double. */
double gd_vec_dot(const float *a, const float *b, int64_t n);
double gd_vec_norm(const float *a, int64_t n);
void gd_vec_axpy(float *y, double a, const float *x, int64_t n);   /* y += a·x */
void gd_vec_scale(float *y, double a, int64_t n);

#endif
