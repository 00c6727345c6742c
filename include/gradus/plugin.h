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
 *   optimizer    one fused update over a flat span of parameters, or (ABI
 *                1.1) one update of a whole tensor, with its shape and role
 *   scheduler    lr at update t, a pure function
 *   regularizer  penalty and its gradient
 *   initializer  fill a parameter tensor
 *
 * Optional members: a vtable member marked "(optional; absent: ...)" may be
 * NULL or lie beyond the vtable's `size`; the core then does what that says
 * (core/component.c is where it does so). Every other function member of a
 * vtable is required, the core refusing the component at load by the
 * member's name, except the optimizer's three steps: `step` (elementwise)
 * or `step_tensor` or `step_all` (tensor-aware) is set.
 *
 * Frozen by the ABI: within major 1, never changed, only appended to: the
 * numeric value of every enum constant (gd_status, gd_kind, gd_option_type
 * and the option flags, gd_param_role, gd_activation_kind, gd_target_kind,
 * gd_slot_init), the sizes GD_MAX_DIMS, GD_MAX_LAYER_PARAMS,
 * GD_MAX_LAYER_BUFFERS, GD_MAX_OPTIM_SLOTS and GD_ERROR_SIZE (they size
 * arrays inside ABI structs), the symbol names GD_PLUGIN_ENTRY_SYMBOL and
 * GD_PLUGIN_BUILD_SYMBOL, and the order and type of every struct member up
 * to its last member of the current minor. Each is marked "frozen" where it
 * is defined.
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

/* ABI 1.2 (1.2 added gd_host.parallel, gd_host.conv2d_*, GD_OPT_INTS
 * options, the embedding role, gd_layer_info.input_ids and streams_grads,
 * gd_layer_ctx.grad_ready and core, and gd_optim_tensor.output; a plugin built against 1.1 loads and runs
 * unchanged). A plugin with another major is refused. Any minor loads (from
 * gradus with ABI 1.1 on): the core reads only the members it knows, each
 * within the struct's `size`, so a plugin built with newer headers that uses
 * nothing new runs in an older core. A component that cannot work without a
 * newer member leaves a member the older core requires NULL, so the older
 * core refuses it by name (a tensor-aware optimizer leaves `step` NULL:
 * "vtable member 'step' is missing"). A 1.0 core refused every minor > 0;
 * that rule is gone, not retro-fitted. */
#define GD_ABI_MAJOR 1
#define GD_ABI_MINOR 2

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

/* fn(arg, part, nparts): do part `part` of nparts of a job. */
typedef void (*gd_part_fn)(void *arg, int part, int nparts);

/* Part `part` of nparts of [0, total) as [*lo, *hi): contiguous ranges
 * whose bounds are multiples of align (the last may end short), the same
 * for any caller, so a job cut this way is cut the same way everywhere
 * (the core's pool splits by it too). */
static inline void gd_part_range(int64_t total, int64_t align, int part, int nparts,
                                 int64_t *lo, int64_t *hi)
{
    int64_t chunks = (total + align - 1) / align;
    int64_t a = chunks * part / nparts * align, b = chunks * (part + 1) / nparts * align;
    *lo = a < total ? a : total;
    *hi = b < total ? b : total;
}

/* A 2-D convolution the core computes for a layer (added in ABI 1.2), on
 * row-major [n, C, H, W] input, W [filters, C, kh, kw], b [filters] and
 * [n, filters, OH, OW] output, OH = (H + 2ph - kh)/sh + 1 (likewise OW). */
typedef struct gd_conv2d_geom {
    size_t size;                       /* sizeof(gd_conv2d_geom) */
    int64_t c, h, w;                   /* per-sample input */
    int64_t filters, kh, kw, sh, sw, ph, pw;
    int bias;                          /* add b */
    int relu;                          /* y = max(0, conv + b), fused */
} gd_conv2d_geom;

typedef struct gd_conv2d gd_conv2d;    /* the core's, opaque */

typedef struct gd_host {
    size_t size;
    gd_sgemm_fn sgemm;
    /* Added in ABI 1.2: run fn(arg, k, n) for k = 0..n-1 on the core's
     * thread pool (the caller is part 0) and return when all are done; n
     * is the pool's size, 1 when single-threaded. Cut the work into fixed
     * contiguous parts (never by timing) so results do not depend on
     * scheduling. Inside a part, sgemm, parallel and conv2d_* run on the
     * calling thread alone. fn NULL runs nothing and returns n. A layer
     * that links a library with threads of its own runs it single-threaded
     * inside each part: one threading model per step. Check with
     * GD_HAS_MEMBER(host, gd_host, parallel). */
    int (*parallel)(gd_part_fn fn, void *arg);
    /* Added in ABI 1.2: convolution at the machine's speed (oneDNN's
     * primitives, the batch cut over the pool, no allocation after the
     * first call of a batch size). conv2d_new returns NULL when the core
     * does not lend it (the OpenBLAS backend, or a geometry it cannot do):
     * then compute it yourself (conv2d.c's plain path). conv2d_forward
     * writes y; conv2d_backward ADDS the gradients into gw (and gb with a
     * bias), writes dx unless it is NULL, and with relu masks dy by y > 0
     * itself. x, w, b, y are those of the last forward of the same batch
     * size. A handle is used by one layer, from one thread at a time. */
    gd_conv2d *(*conv2d_new)(const gd_conv2d_geom *geom);
    gd_status (*conv2d_forward)(gd_conv2d *c, int64_t n, const float *x, const float *w,
                                const float *b, float *y, gd_error *err);
    void (*conv2d_backward)(gd_conv2d *c, int64_t n, const float *x, const float *w,
                            const float *y, const float *dy, float *dx, float *gw, float *gb);
    void (*conv2d_free)(gd_conv2d *c);
} gd_host;

/* fn over the core's pool (gd_host.parallel), or fn(arg, 0, 1) on a core
 * without it. */
static inline void gd_host_run(const gd_host *host, gd_part_fn fn, void *arg)
{
    if (GD_HAS_MEMBER(host, gd_host, parallel) && host->parallel)
        host->parallel(fn, arg);
    else
        fn(arg, 0, 1);
}

/* ---------------------------------------------------------------------------
 * Layers
 * ------------------------------------------------------------------------- */

/* Values frozen by the ABI (append only). */
typedef enum gd_param_role {
    GD_ROLE_WEIGHT = 1,  /* regularized by default */
    GD_ROLE_BIAS,
    GD_ROLE_SCALE,       /* e.g. batchnorm gamma */
    GD_ROLE_SHIFT,       /* e.g. batchnorm beta */
    /* Added in ABI 1.2: a lookup table whose rows are picked by token ids
     * (an embedding's [vocab, dim], a learned positional table). Not
     * regularized by default; matrix optimizers (Muon) leave it to their
     * fallback, since only the rows in use get a gradient. */
    GD_ROLE_EMBEDDING
} gd_param_role;

/* How the core reads this layer's output for the saturation/dead
 * statistics. Values frozen by the ABI (append only). */
typedef enum gd_activation_kind {
    GD_ACT_NONE = 0,
    GD_ACT_SIGMOID,   /* saturated: y < 0.01 or y > 0.99 */
    GD_ACT_TANH,      /* saturated: |y| > 0.99 */
    GD_ACT_RELU       /* dead: y == 0 */
} gd_activation_kind;

/* Frozen by the ABI: they size gd_layer_info's arrays. */
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
    /* Added in ABI 1.1: the smallest training batch the layer can learn
     * from (batchnorm: 2, a batch of one has no variance); 0 or 1: any. The
     * core zeroes it before create and refuses a run whose batches (the
     * last, partial one included) would be smaller. Write it only when
     * GD_HAS_MEMBER(info, gd_layer_info, min_batch). */
    int min_batch;
    /* Added in ABI 1.2: > 0 when the layer's input holds token ids, not
     * features: integers 0..input_ids-1 stored as floats (an embedding: its
     * vocab). The core checks data against it (a data set with a larger
     * vocabulary is refused when the run starts) and the Lua binding turns
     * the 1-based ids a script passes into these. The core zeroes it before
     * create; write it only when GD_HAS_MEMBER(info, gd_layer_info,
     * input_ids). */
    int64_t input_ids;
    /* Added in ABI 1.2: 1 when backward honours gd_layer_ctx.grad_ready
     * (below). The core zeroes it before create. Write it only when
     * GD_HAS_MEMBER(info, gd_layer_info, streams_grads). */
    int streams_grads;
} gd_layer_info;

/* What forward and backward receive besides tensors. */
typedef struct gd_layer_ctx {
    size_t size;
    const gd_host *host;
    int training;            /* 1 in training mode, 0 in evaluation */
    gd_rng *rng;             /* this layer's own stream (dropout) */
    float *scratch;          /* see gd_layer_info; core-owned */
    /* Added in ABI 1.2, for layers that set info.streams_grads; NULL
     * otherwise (check with GD_HAS_MEMBER first). When set, backward
     * WRITES the parameter gradients (they are not zeroed first, and not
     * added to) and hands every finished slice to the core right away:
     * grad_ready(ctx, param, first, count) once the gradient of elements
     * first .. first+count-1 of parameter `param` is complete. Every
     * element of every parameter exactly once. The core may update those
     * parameters at once (while the slice is in cache), so after handing a
     * slice over the layer must not read it, value or gradient, in this
     * backward: compute dx first. grad_ready may be called from inside
     * the parts of gd_host.parallel, on several threads at once for
     * disjoint slices (dense hands over each part's rows of W that way). */
    void (*grad_ready)(const struct gd_layer_ctx *ctx, int param, int64_t first,
                       int64_t count);
    void *core;              /* the core's, for grad_ready */
} gd_layer_ctx;

typedef struct gd_layer_vtable {
    size_t size;
    /* Validate against the per-sample input shape, fill *info, allocate the
     * instance. Parameters do not exist yet: see bind. An input shape the
     * layer cannot take is refused with its own part of the message after
     * its name ("dense: needs a flat input: put gd.layer.flatten{} between
     * them"): the core composes the rest ("conv2d2 gives [64, 7, 7]; dense1
     * needs a flat input: ..."). Layers never see blocks (residuals,
     * nested sequentials): those are the core's. */
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
    /* (optional; absent: nothing is freed) frees what create allocated.
     * Called once per instance, when the model is freed, on the thread
     * that frees it. */
    void (*destroy)(void *self);
} gd_layer_vtable;

/* ---------------------------------------------------------------------------
 * Losses
 * ------------------------------------------------------------------------- */

/* Values frozen by the ABI (append only). */
typedef enum gd_target_kind {
    GD_TARGET_CLASS = 1,  /* target [batch]: 0-based class index stored as float */
    GD_TARGET_VALUE       /* target has the prediction's shape */
} gd_target_kind;

/* Called by the trainer once per step (on the thread that runs the step,
 * after the forward), by evaluation once per batch (grad NULL), by probes
 * and by the Lua primitive gd.loss.*. A loss cannot report failure (the
 * ABI has no error path for it; see PLUGINS.md): a loss that cannot be
 * computed returns NaN, which ends a training run as a divergence ("loss
 * is NaN") at that step, with nothing written after it. */
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

/* Frozen by the ABI: it sizes the slot arrays of gd_optim_span and
 * gd_optim_tensor. */
#define GD_MAX_OPTIM_SLOTS 4

/* What the core guarantees each kind of optimizer.
 *
 * Elementwise (ABI 1.0: `step` set, `step_tensor` and `step_all` NULL):
 *   step is called once per span per update, after regularizers and
 *   clipping, on spans cut at arbitrary points (tensor boundaries are not
 *   kept) and possibly on several pool threads at once for different parts
 *   of one update; in the fused path (no clipping, not a monitored step)
 *   each layer's span is stepped as soon as its backward is done, and a
 *   layer that streams its gradients (gd_layer_ctx.grad_ready; without
 *   regularizers) has each slice stepped as soon as it is made. Slots are
 *   one float per parameter, zeroed at the start; scalars are shared by all
 *   spans of an update (write them from one span only, or not at all).
 *
 * Tensor-aware (added in ABI 1.1: `step` NULL, `step_tensor` or `step_all`
 *   set): the core calls step_tensor once per parameter tensor per update
 *   (or step_all once per update with every tensor), once its gradient is
 *   complete: after the whole backward, regularizers and clipping, or (one
 *   thread, no clipping, not monitored, not step_all) each layer's tensors
 *   right after that layer's backward. On more threads the tensors of one
 *   update are stepped in parallel, each whole on one thread (nested
 *   host->sgemm calls then run on that thread), so never let one tensor's
 *   call write state another reads. Slots are per tensor, sized
 *   by slot_len and started by its rule (zero, or a copy of the parameters).
 *
 * For both: t counts this optimizer's updates from 1. A resumed run goes on
 *   with the saved t, slots and scalars; a fork (gd.fork with an optimizer)
 *   starts the optimizer afresh: t = 1 at its first update, slots zeroed or
 *   copied from the weights at the fork point. lr is this update's rate: the
 *   base lr (the optimizer's own `lr` option, or for an optimizer without
 *   one the lr of its first optimizer-kind option, recursively) scaled by
 *   the schedule. In a composite, every optimizer of the tree gets its own
 *   `lr` option times the one factor lr_t / lr_0 (TENSOR_OPTIMIZERS.md);
 *   one without an `lr` option gets lr_t itself. Inner optimizers (options
 *   of kind optimizer) are instances of the core: their slots, scalars and
 *   t are their own, advance once per outer update, and are checkpointed.
 */

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

/* ---- Tensor-aware optimizers (added in ABI 1.1) ------------------------ */

/* How a slot starts (slot_len's *init). Values frozen by the ABI. */
typedef enum gd_slot_init {
    GD_SLOT_ZERO = 0,     /* every number 0 */
    GD_SLOT_COPY = 1      /* a copy of the parameters (its length must be numel) */
} gd_slot_init;

/* One parameter tensor as a tensor-aware optimizer sees it (added in ABI
 * 1.1). Built by the core; valid for the call it is passed to. */
typedef struct gd_optim_tensor {
    size_t size;
    float *x;                          /* values, updated in place */
    const float *g;                    /* gradient (after regularizers, clipping); NULL
                                          in slot_len and scratch_len */
    int64_t numel;
    gd_shape shape;                    /* rank = shape.ndim; a dense weight is [out, in], a
                                          conv2d weight [filters, C, kh, kw]: the matrix-
                                          wise optimizers (muon, adafactor) read rank >= 2
                                          as [dim0, numel/dim0], i.e. [filters, C*kh*kw] */
    gd_param_role role;
    const char *layer;                 /* owning layer's name ("dense1"), or "" */
    const char *name;                  /* the parameter's name ("weight"), or "" */
    int index;                         /* position among the optimizer's tensors, from 0 */
    float *slot[GD_MAX_OPTIM_SLOTS];   /* nslots states of slot_len[k] floats each */
    int64_t slot_len[GD_MAX_OPTIM_SLOTS];
    /* Added in ABI 1.2: 1 when the tensor belongs to the model's output
     * layer (the last layer with parameters), else 0 (also for tensors
     * handed to opt:build from Lua, unless the entry says output = true).
     * With role GD_ROLE_EMBEDDING this is how a tensor-aware optimizer
     * tells apart the matrices that are not hidden weights: Muon's authors
     * give the embedding and the output layer to AdamW, and muon.c sends
     * them to its fallback. Read it only when GD_HAS_MEMBER(t,
     * gd_optim_tensor, output). */
    int output;
} gd_optim_tensor;

/* What a tensor-aware step receives besides tensors (added in ABI 1.1). */
typedef struct gd_optim_ctx gd_optim_ctx;
struct gd_optim_ctx {
    size_t size;
    const gd_host *host;               /* sgemm: the BLAS dense layers use */
    double lr;                         /* this optimizer's lr for this update (see above) */
    int64_t t;                         /* its update count, 1 for the first */
    double *scalars;                   /* nscalars, zeroed at start, checkpointed */
    float *scratch;                    /* scratch_len floats for this tensor; not kept */
    /* Step the optimizer held by option `option` (an index into the
     * schema, of kind optimizer) on tensor t: its own slots, t and lr, on
     * t->x with t->g. For composites (lookahead's inner, muon's fallback).
     * Any tensor-aware or elementwise optimizer can be inner, except one
     * with step_all (refused when the optimizer is created). An option that
     * holds no optimizer steps nothing. */
    void (*inner_step)(const gd_optim_ctx *ctx, int option, const gd_optim_tensor *t);
    /* Two-pass optimizers, from step_all only: the core computes the
     * gradient again at the current x on the same batch (same dropout
     * masks; batch-norm running statistics are updated by the first pass
     * only), applies regularizers and clipping, and writes it into every
     * tensor's g. The step's loss stays the first pass's. On failure, put x
     * back and return the status. */
    gd_status (*regrad)(const gd_optim_ctx *ctx, gd_error *err);
    void *core;                        /* the core's; do not touch */
};

typedef struct gd_optimizer_vtable {
    size_t size;
    int nslots;       /* per-parameter state arrays (Adam: 2) */
    int nscalars;     /* scalar state (doubles) */
    /* (optional; absent: every combination the schema allows is accepted)
     * cross-option checks beyond the schema, when a spec is built. */
    gd_status (*check)(const gd_options *opts, gd_error *err);
    /* One update over one span. Called once per span per update. Required
     * of an elementwise optimizer; NULL in a tensor-aware one. */
    void (*step)(const gd_options *opts, const gd_optim_state *st, const gd_optim_span *span);
    /* (optional; absent: telemetry records NaN) mean effective per-element
     * step size over the span (Adam: lr/(sqrt(v-hat)+eps) averaged), for
     * telemetry. Adaptive optimizers only. Lies beyond `size` in the
     * smallest vtable the core accepts, so read with GD_HAS_MEMBER. */
    double (*effective_lr)(const gd_options *opts, const gd_optim_state *st,
                           const gd_optim_span *span);
    /* ---- added in ABI 1.1: tensor-aware optimizers (leave `step` NULL) ---- */
    /* (optional; absent: t->numel floats, zeroed) floats of slot k for
     * tensor t (t->x and t->g are NULL) and how it starts. Called once per
     * tensor and slot when the optimizer is created. */
    int64_t (*slot_len)(const gd_options *opts, const gd_optim_tensor *t, int k,
                        gd_slot_init *init);
    /* (optional; absent: no scratch) floats of scratch the step of tensor
     * t needs (ctx->scratch). The step allocates nothing: ask here. */
    int64_t (*scratch_len)(const gd_options *opts, const gd_optim_tensor *t);
    /* One update of one tensor. opts are that tensor's: the optimizer's,
     * with the overrides of the parameter group it falls in. A tensor-aware
     * optimizer sets this or step_all (and leaves `step` NULL); an
     * elementwise one leaves both NULL. */
    void (*step_tensor)(const gd_options *opts, const gd_optim_ctx *ctx, gd_optim_tensor *t);
    /* One update of all n tensors at once, for optimizers that need the
     * whole model (SAM's global norm and second gradient). Used instead of
     * step_tensor when set; on the thread that runs the step. A failure
     * (regrad's, passed on) ends the run with the message. */
    gd_status (*step_all)(const gd_options *opts, const gd_optim_ctx *ctx, gd_optim_tensor *ts,
                          int n, gd_error *err);
} gd_optimizer_vtable;

/* ---------------------------------------------------------------------------
 * Schedulers: lr(t) as a pure function of the update index t = 0, 1, ...
 * ------------------------------------------------------------------------- */

/* Who calls a scheduler, and when:
 *   check  once when a run starts (gd_trainer_new, before the run's
 *          buffers are allocated), and before gd.sched.*:lr answers from
 *          Lua (horizon -1). A failure refuses the run, or the Lua call,
 *          with the plugin's message; nothing has run yet.
 *   lr     by the trainer once per update, before the optimizer's update,
 *          on the thread that runs the step (never on the pool's threads),
 *          and when an epoch's history record is written; from Lua by
 *          gd.sched.*:lr; by a composite schedule through gd_spec_lr
 *          (warmup's `after`). t counts from 0 in the
 *          schedule's unit (updates, or epochs with the common option
 *          unit = "epoch"), and can pass the horizon (a resumed run given
 *          more epochs keeps its first horizon): answer for any t >= 0.
 *          lr cannot fail: return a finite rate >= 0. A NaN or Inf reaches
 *          the parameters and ends the run as a divergence at the next
 *          step. */
typedef struct gd_scheduler_vtable {
    size_t size;
    /* (optional; absent: every horizon is accepted) checks that need the
     * run: horizon is the number of updates (or epochs) from where this
     * schedule starts to the end of the run, or -1 when unknown (a
     * schedule queried outside a run). */
    gd_status (*check)(const gd_options *opts, int64_t horizon, gd_error *err);
    /* The rate at t: base_lr (the optimizer's lr) scaled. A pure function
     * of its arguments: no state, so a resumed run gets the same rates. */
    double (*lr)(const gd_options *opts, int64_t t, double base_lr, int64_t horizon);
} gd_scheduler_vtable;

/* Call a nested schedule (warmup's `after`). */
static inline double gd_spec_lr(const gd_spec *s, int64_t t, double base_lr, int64_t horizon);

/* ---------------------------------------------------------------------------
 * Regularizers
 * ------------------------------------------------------------------------- */

/* Who calls a regularizer, and when: the trainer, at every update, after
 * the backward and before clipping and the optimizer: penalty, then
 * add_grad, once for each parameter tensor it applies to (role weight, or
 * every tensor with the common option to = "all"), layers last first; when
 * no step needs all gradients at once, right after that layer's backward.
 * Always on the thread that runs the step (never on the pool's threads),
 * one call at a time. A two-pass optimizer's second gradient calls add_grad
 * and penalty again. From Lua, gd.reg.*:penalty, :grad and :add_grad call
 * them. Neither
 * can fail: a penalty that is NaN or Inf makes the step's loss not finite
 * and ends the run as a divergence at that step. */
typedef struct gd_regularizer_vtable {
    size_t size;
    /* The penalty of the n weights w (added to the step's loss). */
    double (*penalty)(const gd_options *opts, int64_t n, const float *w);
    /* g += d penalty / d w; w is read only. */
    void (*add_grad)(const gd_options *opts, int64_t n, const float *w, float *g);
} gd_regularizer_vtable;

/* ---------------------------------------------------------------------------
 * Initializers
 * ------------------------------------------------------------------------- */

/* Who calls an initializer, and when: the core, when a model is built or
 * re-initialized (gd_model_new, gd_model_init: model:reset(seed) in Lua), once
 * for each parameter tensor whose layer names it (gd_param_info.init), in
 * layer order, on the thread building the model; and gd.init.*:fill from
 * Lua. rng is the tensor's own stream, derived from the seed and the
 * tensor's place in the model, so the same seed gives the same weights.
 * fill writes all n numbers of x. A failure (GD_EINVAL with a message, say
 * for fans it cannot use) fails the model's construction with
 * "LAYER.PARAM: NAME: message"; no model is returned. */
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
    const gd_option_spec *options;   /* [noptions]; may be NULL when noptions == 0 */
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

/* Frozen by the ABI. */
#define GD_PLUGIN_ENTRY_SYMBOL "gradus_plugin"

/* How the file holding GD_PLUGIN was compiled, exported beside the entry
 * point as GD_PLUGIN_BUILD_SYMBOL (an unsigned): `gradus check` warns about a
 * plugin built without optimization (at -O0 an update runs 10-60 times
 * slower than the built-ins') or without -fno-math-errno. Not part of the
 * descriptor: a plugin built before the marker existed simply has none. */
#define GD_PLUGIN_BUILD_SYMBOL "gradus_plugin_build"
#define GD_PLUGIN_BUILD_OPTIMIZED 1u
#define GD_PLUGIN_BUILD_NO_MATH_ERRNO 2u
#ifdef __OPTIMIZE__
#define GD_PLUGIN_BUILD_OPT_ GD_PLUGIN_BUILD_OPTIMIZED
#else
#define GD_PLUGIN_BUILD_OPT_ 0u
#endif
#ifdef __NO_MATH_ERRNO__
#define GD_PLUGIN_BUILD_ERRNO_ GD_PLUGIN_BUILD_NO_MATH_ERRNO
#else
#define GD_PLUGIN_BUILD_ERRNO_ 0u
#endif

/* Define the entry point of a plugin from an array of component pointers. */
#define GD_PLUGIN(name_, version_, components_)                                 \
    GD_EXPORT extern const unsigned gradus_plugin_build;                        \
    GD_EXPORT const unsigned gradus_plugin_build =                              \
        GD_PLUGIN_BUILD_OPT_ | GD_PLUGIN_BUILD_ERRNO_;                          \
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
