/*
 * core/model.h: a sequential model over layer plugins, with its parameters
 * in one contiguous arena.
 *
 * All parameters of all layers sit in one float buffer, their gradients in a
 * parallel one (same offsets), as in Torch7 and kann, so an optimizer step
 * is a loop over flat spans and a checkpoint is a few memcpy's. Activation
 * buffers are sized by gd_model_reserve for a maximum batch; after that,
 * forward and backward allocate nothing.
 */
#ifndef GRADUS_CORE_MODEL_H
#define GRADUS_CORE_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "gradus/gradus.h"
#include "registry.h"
#include "spec.h"

typedef struct gd_model gd_model;

/* One parameter tensor of a layer, as seen from outside. */
typedef struct gd_model_param {
    const gd_param_info *info;  /* shape, role, fans, init (do not free) */
    float *value;               /* in the parameter arena */
    float *grad;                /* in the gradient arena */
    int64_t offset;             /* offset in the arenas */
    int64_t numel;
} gd_model_param;

typedef struct gd_model_buffer {
    const gd_buffer_info *info;
    float *value;
    int64_t numel;
} gd_model_buffer;

/* A layer of a model: opaque outside core/ (its fields are in
 * core/model_layer.h); the accessors below are what lua/ and cli/ read. */
typedef struct gd_model_layer gd_model_layer;

/* Create the layers in order from the per-sample input shape, allocate the
 * arenas and initialize parameters from stream ids derived from `seed` and
 * the layer's position (so the same seed gives the same initial weights). */
gd_model *gd_model_new(const gd_registry *reg, const gd_spec *const *layers, int nlayers,
                       const gd_shape *in, uint64_t seed, gd_error *err);

/* ---- blocks ----
 * A model is a tree: a sequential of layers, sequentials and residual
 * blocks (y = body(x) + x, or body(x) + shortcut(x)), to any depth. The
 * layers (leaves) are numbered depth first, a block's body before its
 * shortcut, which is the order of their parameters in the arena; every
 * per-layer API above and below (names, telemetry, RNG streams, files)
 * counts layers in that order. Layers are named by path: "dense1",
 * "res1.dense2", "res1.shortcut", "res2.seq1.relu1" (names count per
 * component within their container; a residual's body is its own level, its
 * shortcut is "shortcut"). Plugins never see blocks. */
enum { GD_MAX_PATH = 96, GD_MAX_NESTING = 16 };

typedef enum gd_node_kind {
    GD_NODE_LAYER = 1,
    GD_NODE_SEQUENTIAL,
    GD_NODE_RESIDUAL
} gd_node_kind;

/* A model's structure as its builder gives it: nodes in pre-order. A
 * sequential is followed by its `count` (>= 1) children; a residual by its
 * body (a sequential) and, when count is 2, its shortcut (any node); a
 * layer holds its spec (borrowed; the model keeps a copy). The root is a
 * sequential. */
typedef struct gd_node_desc {
    gd_node_kind kind;
    int count;
    const gd_spec *spec;
} gd_node_desc;

/* gd_model_new over a tree. Refuses a malformed structure, a layer that
 * cannot take what the one before gives (naming both, both shapes and the
 * layer's own reason), and a residual whose body changes the shape without
 * a shortcut, or whose shortcut gives another shape than its body. */
gd_model *gd_model_new_tree(const gd_registry *reg, const gd_node_desc *nodes, int nnodes,
                            const gd_shape *in, uint64_t seed, gd_error *err);
/* The structure, pre-order as given (node 0: the root sequential). Name:
 * the block's path ("" for the root; a body has its residual's); params:
 * its layers' parameter count; first/nleaves: its layers' range. */
int gd_model_node_count(const gd_model *m);
gd_node_kind gd_model_node_kind(const gd_model *m, int i);
int gd_model_node_children(const gd_model *m, int i);
int gd_model_node_depth(const gd_model *m, int i);
const char *gd_model_node_name(const gd_model *m, int i);
const gd_shape *gd_model_node_input(const gd_model *m, int i);
const gd_shape *gd_model_node_output(const gd_model *m, int i);
int64_t gd_model_node_param_count(const gd_model *m, int i);
/* A layer node's layer index, else -1. */
int gd_model_node_layer(const gd_model *m, int i);
/* Whether a node is a residual's body (shown as part of its block). */
bool gd_model_node_is_body(const gd_model *m, int i);
/* Whether the model has any block (then its files are format version 3). */
bool gd_model_has_blocks(const gd_model *m);
/* Same structure (node kinds and counts) and input shape; the layers'
 * specs are compared by the caller. */
bool gd_model_same_structure(const gd_model *a, const gd_model *b);
void gd_model_free(gd_model *m);

/* Re-initialize parameters and buffers from `seed`, as gd_model_new did. */
gd_status gd_model_init(gd_model *m, uint64_t seed, gd_error *err);

int gd_model_layer_count(const gd_model *m);
gd_model_layer *gd_model_layer_at(gd_model *m, int i);
/* One layer's name ("dense1"), spec, per-sample shapes, the scratch its
 * forward needs for `batch` samples, its RNG stream (dropout masks), its
 * parameters (views into the model's arenas) and buffers. Do not free. */
const char *gd_model_layer_name(const gd_model_layer *l);
const gd_spec *gd_model_layer_spec(const gd_model_layer *l);
const gd_shape *gd_model_layer_input(const gd_model_layer *l);
const gd_shape *gd_model_layer_output(const gd_model_layer *l);
int64_t gd_model_layer_scratch(const gd_model_layer *l, int64_t batch);
/* The vocabulary of token ids the layer takes (gd_layer_info.input_ids), 0
 * when it takes features. gd_model_input_ids: the first layer's. */
int64_t gd_model_layer_input_ids(const gd_model_layer *l);
int64_t gd_model_input_ids(const gd_model *m);
gd_rng *gd_model_layer_rng(gd_model_layer *l);
int64_t gd_model_layer_param_count(const gd_model_layer *l);
int gd_model_layer_nparams(const gd_model_layer *l);
const gd_model_param *gd_model_layer_param(const gd_model_layer *l, int p);
int gd_model_layer_nbuffers(const gd_model_layer *l);
const gd_model_buffer *gd_model_layer_buffer(const gd_model_layer *l, int b);
/* One layer's forward or backward on tensors the caller provides (the Lua
 * layer primitive's; the model's own passes use them too). */
gd_status gd_model_layer_forward(const gd_model_layer *l, const gd_layer_ctx *ctx,
                                 const gd_tensor *x, gd_tensor *y, gd_error *err);
void gd_model_layer_backward(const gd_model_layer *l, const gd_layer_ctx *ctx,
                             const gd_tensor *x, const gd_tensor *y, const gd_tensor *dy,
                             gd_tensor *dx);
const gd_shape *gd_model_input_shape(const gd_model *m);
const gd_shape *gd_model_output_shape(const gd_model *m);
int64_t gd_model_param_count(const gd_model *m);
float *gd_model_params(gd_model *m);
float *gd_model_grads(gd_model *m);

/* Size activation, gradient and scratch buffers for batches up to `batch`.
 * Allocates only when growing. */
gd_status gd_model_reserve(gd_model *m, int64_t batch, gd_error *err);
/* Bytes the model holds and would hold at `batch` (memory.h): its arenas,
 * and the activations and scratch gd_model_reserve allocates, of which
 * *pending are not allocated yet. */
struct gd_memory_estimate;
void gd_model_memory(const gd_model *m, int64_t batch, struct gd_memory_estimate *e,
                     int64_t *pending);

/* Forward a batch (x: batch * input numel floats; batch <= reserved).
 * The output stays in the model's buffer: *out (batch * output numel floats),
 * valid until the next forward. Layer outputs stay for backward and
 * telemetry. */
gd_status gd_model_forward(gd_model *m, const float *x, int64_t batch, bool training,
                           const float **out, gd_error *err);
/* Backward from dL/dout after a training forward. Adds into the gradient
 * arena; does not compute the input gradient. */
void gd_model_backward(gd_model *m, const float *dout);
/* The same, zeroing each layer's gradients just before its backward when
 * zero_first, and calling done(ctx, i) once layer i's gradients are
 * complete (the trainer updates that layer there, while they are in cache). */
typedef void (*gd_layer_done_fn)(void *ctx, int layer);
/* With `slice` set, a layer that streams its gradients (gd_layer_info.
 * streams_grads; its gradients then are not zeroed first) hands each
 * finished slice of parameter `param` to slice(ctx, layer, param, first,
 * count) during its backward (gd_layer_ctx.grad_ready); done still follows. */
typedef void (*gd_grad_slice_fn)(void *ctx, int layer, int param, int64_t first,
                                 int64_t count);
void gd_model_backward_each(gd_model *m, const float *dout, bool zero_first,
                            gd_layer_done_fn done, gd_grad_slice_fn slice, void *ctx);
/* gd_model_backward, also writing dL/dx into dx ([batch x input numel]):
 * the Lua primitives' backward, which returns the input gradient. */
void gd_model_backward_input(gd_model *m, const float *dout, float *dx);
void gd_model_zero_grad(gd_model *m);
/* Probe mode (core/probe.c): every forward and backward runs layers that
 * keep buffers (batch norm) in training mode and all others in evaluation
 * mode (dropout off), whatever `training` says; the caller saves and puts
 * back the buffers. Leaving it forgets the last input (no backward). */
void gd_model_set_probe_mode(gd_model *m, bool on);

/* Output of layer i of the last forward ([batch, out...]). */
gd_tensor gd_model_activation(gd_model *m, int i);
int64_t gd_model_last_batch(const gd_model *m);
/* The labels of the classes the outputs stand for (output k: labels[k]),
 * kept from the data the model was trained on (CSV class labels), or NULL.
 * Set copies n (= output width) labels; NULL clears them. Saved in model
 * files and checkpoints. */
const double *gd_model_labels(const gd_model *m);
gd_status gd_model_set_labels(gd_model *m, const double *labels, int64_t n, gd_error *err);
/* The loss the model was trained with (a copy it owns), or NULL; saved in
 * model files so evaluate on a loaded model uses it. */
const gd_spec *gd_model_loss(const gd_model *m);
gd_status gd_model_set_loss(gd_model *m, const gd_spec *loss, gd_error *err);
/* Whether backward may run: the last forward was a training one (nothing
 * since has replaced its activations). */
bool gd_model_can_backward(const gd_model *m);

/* Mean loss and accuracy (classification; else NaN) over a data set, in
 * evaluation mode, in batches of `batch`. */
struct gd_dataset;
gd_status gd_model_evaluate(gd_model *m, const gd_spec *loss, const struct gd_dataset *ds,
                            int64_t batch, double *loss_out, double *accuracy_out,
                            gd_error *err);

/* Save the model's layer specs, parameters and buffers (batchnorm's running
 * statistics) to `path` (format: core/model_io.c). Writes "<path>.tmp" and
 * renames it over path, so a failure leaves no partial file. */
gd_status gd_model_save(gd_model *m, const char *path, gd_error *err);
/* A model saved by gd_model_save, its specs rebuilt through `reg` (which
 * must provide every component the file names). NULL with a one-line
 * message naming the file on failure (not a model, unsupported version,
 * truncated, corrupt, a component not loaded, counts that disagree). */
gd_model *gd_model_load(const gd_registry *reg, const char *path, gd_error *err);

const gd_registry *gd_model_registry(const gd_model *m);
/* Parameters and buffers as one array of gd_model_state_size floats:
 * copied out (save) or back in (early stopping's best epoch). */
int64_t gd_model_state_size(gd_model *m);
void gd_model_copy_state(gd_model *m, float *snap, bool save);
/* Give every layer's RNG stream the key it would have under `seed`, keeping
 * how many draws it has taken (a fork with another seed: from here on the
 * dropout masks differ; with the run's own seed nothing changes). */
void gd_model_rekey(gd_model *m, uint64_t seed);

#endif
