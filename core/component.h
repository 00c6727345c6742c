/*
 * core/component.h: the one place the core calls a plugin's vtable.
 *
 * The registry checks each vtable's size and required members when a
 * plugin loads; here are the calls, with the defaults of the optional
 * members (each stated where plugin.h declares it: an absent check
 * passes, an absent destroy frees nothing, an absent effective_lr gives
 * NaN, an absent slot_len gives numel zeroed floats) applied once. Everything outside core/
 * (lua/, cli/) goes through these or through the model, trainer and
 * optimizer objects built on them, and never touches ->vt. itself.
 * Tensor-aware optimizers are driven by core/optim.c (gd_optim_*) through
 * the calls below.
 */
#ifndef GRADUS_CORE_COMPONENT_H
#define GRADUS_CORE_COMPONENT_H

#include <stdbool.h>
#include <stdint.h>

#include "gradus/gradus.h"

/* Layers: a component of kind layer and an instance it created. */
gd_status gd_layer_create(const gd_spec *s, const gd_shape *in, gd_layer_info *info,
                          void **self, gd_error *err);
void gd_layer_bind(const gd_component *c, void *self, float *const *params,
                   float *const *grads, float *const *buffers);
gd_status gd_layer_forward(const gd_component *c, void *self, const gd_layer_ctx *ctx,
                           const gd_tensor *x, gd_tensor *y, gd_error *err);
void gd_layer_backward(const gd_component *c, void *self, const gd_layer_ctx *ctx,
                       const gd_tensor *x, const gd_tensor *y, const gd_tensor *dy,
                       gd_tensor *dx);
void gd_layer_destroy(const gd_component *c, void *self);   /* self may be NULL */

/* Losses. */
gd_target_kind gd_loss_target(const gd_spec *s);
double gd_loss_forward(const gd_spec *s, const gd_tensor *pred, const gd_tensor *target,
                       gd_tensor *grad);

/* Optimizers. Elementwise ones step one span on this thread
 * (gd_optimizer_step in optim.h splits a large span over the pool). */
int gd_optimizer_nslots(const gd_spec *s);
int gd_optimizer_nscalars(const gd_spec *s);
gd_status gd_optimizer_check(const gd_spec *s, gd_error *err);
void gd_optimizer_step_span(const gd_spec *s, const gd_optim_state *st,
                            const gd_optim_span *span);
/* Mean effective step size for telemetry; NaN when the optimizer has none. */
double gd_optimizer_effective_lr(const gd_spec *s, const gd_optim_state *st,
                                 const gd_optim_span *span);
/* Tensor-aware optimizers (ABI 1.1; core/optim.c drives them). A vtable is
 * tensor-aware when its step_tensor or step_all is set within its size
 * (the registry asks this of a vtable at load, before any spec exists). */
bool gd_optimizer_vtable_tensor(const gd_optimizer_vtable *v);
bool gd_optimizer_tensor_aware(const gd_spec *s);
/* Whether it sets step_all (needs a second gradient; steps all tensors at once). */
bool gd_optimizer_has_step_all(const gd_spec *s);
/* Floats of slot k of tensor v and how it starts (*init); absent slot_len:
 * v->numel, zeroed (*init left as the caller set it). */
int64_t gd_optimizer_slot_len(const gd_spec *s, const gd_optim_tensor *v, int k,
                              gd_slot_init *init);
/* Scratch floats the step of tensor v needs; absent scratch_len: 0. */
int64_t gd_optimizer_scratch_len(const gd_spec *s, const gd_optim_tensor *v);
void gd_optimizer_step_tensor(const gd_spec *s, const gd_optim_ctx *ctx, gd_optim_tensor *v);
gd_status gd_optimizer_step_all(const gd_spec *s, const gd_optim_ctx *ctx, gd_optim_tensor *v,
                                int n, gd_error *err);

/* Schedules: the lr at update (or epoch) t; s NULL means a constant base_lr.
 * horizon -1: outside a run. */
double gd_schedule_lr(const gd_spec *s, int64_t t, double base_lr, int64_t horizon);
gd_status gd_schedule_check(const gd_spec *s, int64_t horizon, gd_error *err);

/* Regularizers and initializers. */
double gd_regularizer_penalty(const gd_spec *s, int64_t n, const float *w);
void gd_regularizer_add_grad(const gd_spec *s, int64_t n, const float *w, float *g);
gd_status gd_initializer_fill(const gd_spec *s, float *x, int64_t n, int64_t fan_in,
                              int64_t fan_out, gd_rng *rng, gd_error *err);

#endif
