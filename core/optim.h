/*
 * core/optim.h: optimizer instances over whole parameter tensors (ABI 1.1).
 *
 * Two paths. The elementwise one: gd_optimizer_step over a flat span
 * (below). The other: an instance of an optimizer spec over a list
 * of tensors, with the tree of inner optimizers its options of kind
 * optimizer name (lookahead's inner, sam's base, muon's fallback), each node
 * with its own per-tensor slots, scalars and step count. All of that state
 * sits in one float arena and one double arena, so a checkpoint saves it as
 * two arrays. The trainer drives tensor-aware optimizers through the
 * gd_optim_* functions, and the Lua instances (opt:step) drive every
 * optimizer through them, elementwise ones included, so a later engine can
 * move the dispatch without touching plugins.
 */
#ifndef GRADUS_CORE_OPTIM_H
#define GRADUS_CORE_OPTIM_H

#include <stdbool.h>
#include <stdint.h>

#include "gradus/gradus.h"

typedef struct gd_optim gd_optim;

/* One update of an elementwise optimizer `opt` over a span, split into
 * contiguous parts over the thread pool when the span is large (the
 * optimizers are elementwise, so the numbers are those of one pass). The
 * trainer's and the benchmark's. */
void gd_optimizer_step(const gd_spec *opt, const gd_optim_state *st, const gd_optim_span *span);

/* Base lr of an optimizer spec: its number option `lr` (as given, else the
 * schema's default, which the spec holds); 1.0 when the optimizer has no
 * such option or leaves an optional one unset, so that the schedule's value
 * is used as it is. Schedules scale this base (gd.sched.*:lr(t, base)). */
double gd_optimizer_base_lr(const gd_spec *optimizer);

/* True when the spec's optimizer, or any optimizer among its options, needs
 * the tensor path. */
bool gd_optimizer_is_tensor(const gd_spec *opt);
/* Slots per parameter of the spec's whole tree (each node's nslots; a
 * tensor-aware slot may be smaller than its tensor: an upper bound). */
int gd_optimizer_tree_slots(const gd_spec *opt);
/* The component names of the spec's tree of optimizers, as
 * "lookahead{inner=adam}": what a checkpoint's optimizer state belongs to
 * (a fork keeps the state only when this is the same). Cut to len. */
void gd_optimizer_tree_names(const gd_spec *opt, char *buf, size_t len);
/* True when it asks for a second gradient (a step_all anywhere in the tree). */
bool gd_optimizer_is_two_pass(const gd_spec *opt);

/* A second-gradient callback: recompute every tensor's gradient at the
 * current values (the owner may point tensors at new gradient memory with
 * gd_optim_set_grad). */
typedef gd_status (*gd_optim_regrad_fn)(void *ctx, gd_optim *o, gd_error *err);

/* An instance over n tensors (x, shape, role, layer, name of each; the rest
 * ignored). The tensors' values must stay where they are while it lives;
 * copy-initialized slots are copied from them now. */
gd_optim *gd_optim_new(const gd_spec *opt, const gd_optim_tensor *tensors, int n,
                       gd_error *err);
void gd_optim_free(gd_optim *o);

/* Gradient memory of tensor i for the next step (numel floats). */
void gd_optim_set_grad(gd_optim *o, int i, const float *g);
/* One update with lr (the schedule's value for the outermost optimizer;
 * every inner lr is scaled by lr / base lr). regrad may be NULL when the
 * optimizer is not two-pass. */
gd_status gd_optim_step(gd_optim *o, double lr, gd_optim_regrad_fn regrad, void *ctx,
                        gd_error *err);
/* The same update in parts, for a caller that steps each layer's tensors
 * as soon as their gradients are complete: begin once per update, then
 * every tensor exactly once, on the calling thread. Not for two-pass
 * optimizers (gd_optimizer_is_two_pass). */
void gd_optim_begin(gd_optim *o, double lr);
void gd_optim_step_range(gd_optim *o, int first, int count);
/* Back to the start: t = 0, slots zeroed or copied from the current values. */
void gd_optim_reset(gd_optim *o);
int64_t gd_optim_steps(const gd_optim *o);

/* The whole state, for checkpoints: floats (every slot of every node) and
 * doubles (each node's t and scalars). Live views. */
float *gd_optim_floats(gd_optim *o, int64_t *n);
double *gd_optim_doubles(gd_optim *o, int64_t *n);

/* An instance over every parameter tensor of a model, in layer order (the
 * trainer's; gradients in the model's gradient arena). */
struct gd_model;
gd_optim *gd_optim_new_model(const gd_spec *opt, struct gd_model *m, gd_error *err);
/* The optimizer state of `opt` on model m as a checkpoint's OPTM section
 * holds it: nslots arrays of slot_len floats and nscalars doubles. For an
 * elementwise optimizer its slots over the parameter arena and its scalars;
 * for a tensor-aware or composite one a single "slot", the whole float
 * arena of gd_optim_floats, and the doubles of gd_optim_doubles. */
gd_status gd_optimizer_state_layout(const gd_spec *opt, struct gd_model *m, int *nslots,
                                    int64_t *slot_len, int *nscalars, gd_error *err);

/* Live view of slot k of tensor i of the outermost optimizer (NULL if none). */
float *gd_optim_slot(gd_optim *o, int i, int k, int64_t *len);

#endif
