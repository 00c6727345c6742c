/*
 * core/component.c: calls into plugins' vtables (see component.h). The
 * registry has checked at load that each required member is set and each
 * vtable's size covers the members of the ABI it was built for; the
 * optional members are tested here, with GD_HAS_MEMBER where a member came
 * after 1.0.
 */
#include "component.h"

#include <math.h>

gd_status gd_layer_create(const gd_spec *s, const gd_shape *in, gd_layer_info *info,
                          void **self, gd_error *err)
{
    return s->component->vt.layer->create(s->options, in, info, self, err);
}

void gd_layer_bind(const gd_component *c, void *self, float *const *params,
                   float *const *grads, float *const *buffers)
{
    c->vt.layer->bind(self, params, grads, buffers);
}

gd_status gd_layer_forward(const gd_component *c, void *self, const gd_layer_ctx *ctx,
                           const gd_tensor *x, gd_tensor *y, gd_error *err)
{
    return c->vt.layer->forward(self, ctx, x, y, err);
}

void gd_layer_backward(const gd_component *c, void *self, const gd_layer_ctx *ctx,
                       const gd_tensor *x, const gd_tensor *y, const gd_tensor *dy,
                       gd_tensor *dx)
{
    c->vt.layer->backward(self, ctx, x, y, dy, dx);
}

void gd_layer_destroy(const gd_component *c, void *self)
{
    if (self && c->vt.layer->destroy)
        c->vt.layer->destroy(self);
}

gd_target_kind gd_loss_target(const gd_spec *s) { return s->component->vt.loss->target; }

double gd_loss_forward(const gd_spec *s, const gd_tensor *pred, const gd_tensor *target,
                       gd_tensor *grad)
{
    return s->component->vt.loss->forward(s->options, pred, target, grad);
}

int gd_optimizer_nslots(const gd_spec *s) { return s->component->vt.optimizer->nslots; }
int gd_optimizer_nscalars(const gd_spec *s) { return s->component->vt.optimizer->nscalars; }

gd_status gd_optimizer_check(const gd_spec *s, gd_error *err)
{
    const gd_optimizer_vtable *v = s->component->vt.optimizer;
    return v->check ? v->check(s->options, err) : GD_OK;
}

void gd_optimizer_step_span(const gd_spec *s, const gd_optim_state *st,
                            const gd_optim_span *span)
{
    s->component->vt.optimizer->step(s->options, st, span);
}

double gd_optimizer_effective_lr(const gd_spec *s, const gd_optim_state *st,
                                 const gd_optim_span *span)
{
    const gd_optimizer_vtable *v = s->component->vt.optimizer;
    return GD_HAS_MEMBER(v, gd_optimizer_vtable, effective_lr) && v->effective_lr
               ? v->effective_lr(s->options, st, span) : NAN;
}

bool gd_optimizer_vtable_tensor(const gd_optimizer_vtable *v)
{
    return (GD_HAS_MEMBER(v, gd_optimizer_vtable, step_tensor) && v->step_tensor) ||
           (GD_HAS_MEMBER(v, gd_optimizer_vtable, step_all) && v->step_all);
}

bool gd_optimizer_tensor_aware(const gd_spec *s)
{
    return gd_optimizer_vtable_tensor(s->component->vt.optimizer);
}

bool gd_optimizer_has_step_all(const gd_spec *s)
{
    const gd_optimizer_vtable *v = s->component->vt.optimizer;
    return GD_HAS_MEMBER(v, gd_optimizer_vtable, step_all) && v->step_all;
}

int64_t gd_optimizer_slot_len(const gd_spec *s, const gd_optim_tensor *v, int k,
                              gd_slot_init *init)
{
    const gd_optimizer_vtable *vt = s->component->vt.optimizer;
    return GD_HAS_MEMBER(vt, gd_optimizer_vtable, slot_len) && vt->slot_len
               ? vt->slot_len(s->options, v, k, init) : v->numel;
}

int64_t gd_optimizer_scratch_len(const gd_spec *s, const gd_optim_tensor *v)
{
    const gd_optimizer_vtable *vt = s->component->vt.optimizer;
    return GD_HAS_MEMBER(vt, gd_optimizer_vtable, scratch_len) && vt->scratch_len
               ? vt->scratch_len(s->options, v) : 0;
}

void gd_optimizer_step_tensor(const gd_spec *s, const gd_optim_ctx *ctx, gd_optim_tensor *v)
{
    s->component->vt.optimizer->step_tensor(s->options, ctx, v);
}

gd_status gd_optimizer_step_all(const gd_spec *s, const gd_optim_ctx *ctx, gd_optim_tensor *v,
                                int n, gd_error *err)
{
    return s->component->vt.optimizer->step_all(s->options, ctx, v, n, err);
}

/* gd_spec_lr (plugin.h) is the same call for plugins that hold a schedule. */
double gd_schedule_lr(const gd_spec *s, int64_t t, double base_lr, int64_t horizon)
{
    return s ? gd_spec_lr(s, t, base_lr, horizon) : base_lr;
}

gd_status gd_schedule_check(const gd_spec *s, int64_t horizon, gd_error *err)
{
    const gd_scheduler_vtable *v = s ? s->component->vt.scheduler : NULL;
    return v && v->check ? v->check(s->options, horizon, err) : GD_OK;
}

double gd_regularizer_penalty(const gd_spec *s, int64_t n, const float *w)
{
    return s->component->vt.regularizer->penalty(s->options, n, w);
}

void gd_regularizer_add_grad(const gd_spec *s, int64_t n, const float *w, float *g)
{
    s->component->vt.regularizer->add_grad(s->options, n, w, g);
}

gd_status gd_initializer_fill(const gd_spec *s, float *x, int64_t n, int64_t fan_in,
                              int64_t fan_out, gd_rng *rng, gd_error *err)
{
    return s->component->vt.initializer->fill(s->options, x, n, fan_in, fan_out, rng, err);
}
