/*
 * gradus/plugin.h: the plugin ABI.
 *
 * A plugin is a shared object exporting one function, `gradus_plugin`, that
 * returns a pointer to a static, read-only gd_plugin. Nothing else runs at
 * load time. The core checks abi_major before it reads anything else, then
 * reads each member of a descriptor or vtable only when it lies within the
 * struct's `size` (set by the plugin to sizeof), so the ABI grows by
 * appending members under a new minor version, as LV2 does.
 *
 * Component kinds and what their vtables do:
 *   layer        create from options and input shape; forward; backward
 *   loss         value and gradient w.r.t. predictions, given targets
 *   optimizer    one fused update over a flat span of parameters
 *   scheduler    lr at update t, a pure function
 *   regularizer  penalty and its gradient
 *   initializer  fill a parameter tensor
 *
 * Ownership: the core owns every tensor, parameter, gradient, optimizer slot
 * and buffer. A plugin owns only what its create allocated. No plugin keeps
 * mutable global state. Nothing in a plugin prints, exits or aborts; fallible
 * calls return gd_status and write into the caller's gd_error.
 *
 * Minimal plugin (`gradus new KIND NAME` writes a complete one; PLUGINS.md):
 *
 *     static const gd_component *const components[] = { &lion };
 *     GD_PLUGIN("lion", "1.0", components)
 */
#ifndef GRADUS_PLUGIN_H
#define GRADUS_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "options.h"
#include "rng.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ABI 1.0. A plugin with another major is refused; a newer minor than the
 * core's is refused too (it may rely on members the core does not know). */
#define GD_ABI_MAJOR 1
#define GD_ABI_MINOR 0

#if defined(_WIN32)
#define GD_EXPORT __declspec(dllexport)
#else
#define GD_EXPORT __attribute__((visibility("default")))
#endif

/* True when member `m` of struct pointer `p` lies within p->size: the way
 * the core reads members added after ABI 1.0. */
#define GD_HAS_MEMBER(p, type, m) \
    ((p)->size >= offsetof(type, m) + sizeof(((type *)0)->m))

/* ---------------------------------------------------------------------------
 * Host functions: what the core lends to plugins (added in ABI 1.0).
 * Reached through gd_layer_ctx.host, so plugins need not link libgradus nor
 * a BLAS of their own, and the core keeps control of threads.
 * ------------------------------------------------------------------------- */

/* Row-major C = alpha * op(A) * op(B) + beta * C, op(X) = X or X^T when
 * trans_x != 0; A is m x k after op, B is k x n after op. As cblas_sgemm. */
typedef void (*gd_sgemm_fn)(int trans_a, int trans_b, int m, int n, int k, float alpha,
                            const float *a, int lda, const float *b, int ldb, float beta,
                            float *c, int ldc);

typedef struct gd_host {
    size_t size;
    gd_sgemm_fn sgemm;
} gd_host;

/* ---------------------------------------------------------------------------
 * Layers
 * ------------------------------------------------------------------------- */

typedef enum gd_param_role {
    GD_ROLE_WEIGHT = 1,  /* regularized by default */
    GD_ROLE_BIAS,
    GD_ROLE_SCALE,       /* e.g. batchnorm gamma */
    GD_ROLE_SHIFT        /* e.g. batchnorm beta */
} gd_param_role;

/* How the core reads this layer's output for the saturation/dead statistics. */
typedef enum gd_activation_kind {
    GD_ACT_NONE = 0,
    GD_ACT_SIGMOID,   /* saturated: y < 0.01 or y > 0.99 */
    GD_ACT_TANH,      /* saturated: |y| > 0.99 */
    GD_ACT_RELU       /* dead: y == 0 */
} gd_activation_kind;

#define GD_MAX_LAYER_PARAMS 4
#define GD_MAX_LAYER_BUFFERS 4

typedef struct gd_param_info {
    const char *name;        /* "weight", "bias", "gamma", ... (static) */
    gd_param_role role;
    gd_shape shape;
    int64_t fan_in, fan_out; /* for initializers */
    /* Initializer spec (borrowed from the layer's options), or NULL: then
     * every element starts at init_value. */
    const gd_spec *init;
    float init_value;
} gd_param_info;

typedef struct gd_buffer_info {
    const char *name;        /* "running_mean", ... (static) */
    int64_t numel;
    float init_value;
} gd_buffer_info;

/* Filled by a layer's create. */
typedef struct gd_layer_info {
    size_t size;             /* set by the core before create */
    gd_shape out;            /* per-sample output shape (no batch dim) */
    int nparams;
    gd_param_info params[GD_MAX_LAYER_PARAMS];
    int nbuffers;            /* non-trained state saved with the model */
    gd_buffer_info buffers[GD_MAX_LAYER_BUFFERS];
    /* Scratch the core provides at every forward/backward, in floats:
     * scratch_per_sample * batch + scratch_fixed. Kept between a forward
     * and the following backward (dropout's mask, batchnorm's x-hat). */
    int64_t scratch_per_sample;
    int64_t scratch_fixed;
    gd_activation_kind activation;
} gd_layer_info;

/* What forward and backward receive besides tensors. */
typedef struct gd_layer_ctx {
    size_t size;
    const gd_host *host;
    int training;            /* 1 in training mode, 0 in evaluation */
    gd_rng *rng;             /* this layer's own stream (dropout) */
    float *scratch;          /* see gd_layer_info; core-owned */
} gd_layer_ctx;

typedef struct gd_layer_vtable {
    size_t size;
    /* Validate against the per-sample input shape, fill *info, allocate the
     * instance. Parameters do not exist yet: see bind. */
    gd_status (*create)(const gd_options *opts, const gd_shape *in, gd_layer_info *info,
                        void **self, gd_error *err);
    /* Hand the layer its parameter, gradient and buffer memory (core arenas,
     * in the order of info->params / info->buffers). Called once after create
     * and before any forward; the pointers stay valid until destroy. */
    void (*bind)(void *self, float *const *params, float *const *grads, float *const *buffers);
    /* y = f(x). x is [batch, in...], y preallocated [batch, out...]. */
    gd_status (*forward)(void *self, const gd_layer_ctx *ctx, const gd_tensor *x, gd_tensor *y,
                         gd_error *err);
    /* Given dL/dy, ADD the parameter gradients into the grad memory given to
     * bind and write dL/dx into dx. dx is NULL when nobody needs it (the
     * first layer): skip that work. x and y are those of the last forward. */
    void (*backward)(void *self, const gd_layer_ctx *ctx, const gd_tensor *x, const gd_tensor *y,
                     const gd_tensor *dy, gd_tensor *dx);
    void (*destroy)(void *self);   /* (optional) frees what create allocated */
} gd_layer_vtable;

/* ---------------------------------------------------------------------------
 * Losses
 * ------------------------------------------------------------------------- */

typedef enum gd_target_kind {
    GD_TARGET_CLASS = 1,  /* target [batch]: 0-based class index stored as float */
    GD_TARGET_VALUE       /* target has the prediction's shape */
} gd_target_kind;

typedef struct gd_loss_vtable {
    size_t size;
    gd_target_kind target;
    /* Mean loss over the batch. When grad is not NULL also write
     * dLoss/dpred (same shape as pred) into it, in the same pass. */
    double (*forward)(const gd_options *opts, const gd_tensor *pred, const gd_tensor *target,
                      gd_tensor *grad);
} gd_loss_vtable;

/* ---------------------------------------------------------------------------
 * Optimizers
 * ------------------------------------------------------------------------- */

#define GD_MAX_OPTIM_SLOTS 4

/* A flat run of parameters. The core keeps all parameters of a model in one
 * contiguous arena, gradients and each slot in parallel arenas, so a step is
 * usually one span over everything (or one per parameter group). */
typedef struct gd_optim_span {
    int64_t n;
    float *x;                          /* parameters, updated in place */
    const float *g;                    /* gradients (after regularizers, clipping) */
    float *slot[GD_MAX_OPTIM_SLOTS];   /* nslots per-parameter states, zeroed at start */
} gd_optim_span;

typedef struct gd_optim_state {
    double lr;        /* this update's learning rate, from the schedule */
    int64_t t;        /* update count, 1 for the first update */
    double *scalars;  /* nscalars values, zeroed at start, checkpointed */
} gd_optim_state;

typedef struct gd_optimizer_vtable {
    size_t size;
    int nslots;       /* per-parameter state arrays (Adam: 2) */
    int nscalars;     /* scalar state (doubles) */
    /* (optional) cross-option checks beyond the schema. */
    gd_status (*check)(const gd_options *opts, gd_error *err);
    /* One update over one span. Called once per span per update. */
    void (*step)(const gd_options *opts, const gd_optim_state *st, const gd_optim_span *span);
    /* (optional) mean effective per-element step size over the span (Adam:
     * lr/(sqrt(v-hat)+eps) averaged), for telemetry. Adaptive optimizers only. */
    double (*effective_lr)(const gd_options *opts, const gd_optim_state *st,
                           const gd_optim_span *span);
} gd_optimizer_vtable;

/* ---------------------------------------------------------------------------
 * Schedulers: lr(t) as a pure function of the update index t = 0, 1, ...
 * ------------------------------------------------------------------------- */

typedef struct gd_scheduler_vtable {
    size_t size;
    /* (optional) checks that need the run: horizon is the number of updates
     * from where this schedule starts to the end of the run, or -1 when
     * unknown (a schedule queried outside a run). */
    gd_status (*check)(const gd_options *opts, int64_t horizon, gd_error *err);
    double (*lr)(const gd_options *opts, int64_t t, double base_lr, int64_t horizon);
} gd_scheduler_vtable;

/* Call a nested schedule (warmup's `after`). */
static inline double gd_spec_lr(const gd_spec *s, int64_t t, double base_lr, int64_t horizon);

/* ---------------------------------------------------------------------------
 * Regularizers
 * ------------------------------------------------------------------------- */

typedef struct gd_regularizer_vtable {
    size_t size;
    double (*penalty)(const gd_options *opts, int64_t n, const float *w);
    /* g += d penalty / d w */
    void (*add_grad)(const gd_options *opts, int64_t n, const float *w, float *g);
} gd_regularizer_vtable;

/* ---------------------------------------------------------------------------
 * Initializers
 * ------------------------------------------------------------------------- */

typedef struct gd_initializer_vtable {
    size_t size;
    gd_status (*fill)(const gd_options *opts, float *x, int64_t n, int64_t fan_in,
                      int64_t fan_out, gd_rng *rng, gd_error *err);
} gd_initializer_vtable;

/* ---------------------------------------------------------------------------
 * Descriptors
 * ------------------------------------------------------------------------- */

typedef struct gd_component {
    size_t size;
    gd_kind kind;
    const char *name;                /* lowercase identifier, unique per kind */
    const char *doc;                 /* one line */
    const gd_option_spec *options;   /* may be NULL when noptions == 0 */
    int noptions;
    union {
        const gd_layer_vtable *layer;
        const gd_loss_vtable *loss;
        const gd_optimizer_vtable *optimizer;
        const gd_scheduler_vtable *scheduler;
        const gd_regularizer_vtable *regularizer;
        const gd_initializer_vtable *initializer;
    } vt;
} gd_component;

typedef struct gd_plugin {
    uint32_t abi_major;              /* first: checked before anything else */
    uint32_t abi_minor;
    size_t size;
    const char *name;
    const char *version;
    const gd_component *const *components;
    int ncomponents;
} gd_plugin;

typedef const gd_plugin *(*gd_plugin_entry_fn)(void);

#define GD_PLUGIN_ENTRY_SYMBOL "gradus_plugin"

/* Define the entry point of a plugin from an array of component pointers. */
#define GD_PLUGIN(name_, version_, components_)                                 \
    GD_EXPORT const gd_plugin *gradus_plugin(void);                             \
    GD_EXPORT const gd_plugin *gradus_plugin(void)                              \
    {                                                                           \
        static const gd_plugin plugin = {                                       \
            GD_ABI_MAJOR, GD_ABI_MINOR, sizeof(gd_plugin), (name_), (version_), \
            (components_), (int)(sizeof(components_) / sizeof((components_)[0])) \
        };                                                                      \
        return &plugin;                                                         \
    }

#define GD_COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

static inline double gd_spec_lr(const gd_spec *s, int64_t t, double base_lr, int64_t horizon)
{
    return s->component->vt.scheduler->lr(s->options, t, base_lr, horizon);
}

#ifdef __cplusplus
}
#endif
#endif
