/*
 * core/train.c: the training step (the trainer's fields: train_fields.h;
 * its state for checkpoints: train_state.c; the records of monitored
 * steps: telemetry.c).
 *
 * Order within a step: gather, forward, loss (+ its gradient), zero grads,
 * backward, regularizers (penalty and gradient), clipping, lr from the
 * schedule, optimizer update. When nothing needs all gradients at once (no
 * clipping, not a monitored step) each layer is regularized and updated as
 * soon as its backward is done, while its gradients are in cache; the
 * numbers are the same. Everything is sized in gd_trainer_new; a step
 * allocates nothing.
 *
 * Divergence is caught cheaply: the loss is checked every step (a NaN/Inf
 * anywhere upstream reaches it within a step), and when it is not finite a
 * scan names the first layer whose activations, gradients or parameters
 * hold a NaN or Inf. Monitored steps also check the gradient norm.
 *
 * A loss can also explode while staying finite (lr = 1e4 reaches 2e21):
 * with cfg.diverge_factor, a step whose data loss exceeds that factor times
 * the run's first step's loss ends the run the same way, as "loss
 * exploded". The reference loss is part of the trainer's state, so a
 * resumed run checks against its own first step.
 */
#include "train_fields.h"

#include "clock.h"
#include "component.h"
#include "dist.h"
#include "memory.h"
#include "model_layer.h"
#include "pool.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Batch order of epoch e is a pure function of (seed, e): a checkpoint
 * needs only the counters to reproduce it. */
enum { SHUFFLE_STREAM = 3u << 20 };

static bool schedule_in_epochs(const gd_spec *s)
{
    return s && s->options->v[s->component->noptions + GD_COMMON_UNIT].u.e == GD_UNIT_EPOCH;
}

void gd_trainer_free(gd_trainer *tr)
{
    if (!tr)
        return;
    for (int k = 0; k < GD_MAX_OPTIM_SLOTS; k++)
        free(tr->slots[k]);
    free(tr->scalars);
    free(tr->regs);
    free(tr->perm);
    free(tr->xb);
    free(tr->yb);
    free(tr->dout);
    gd_telemetry_free(&tr->tele);
    gd_optim_free(tr->topt);
    free(tr->rng_snap);
    free(tr->buf_snap);
    free(tr);
}

int64_t gd_batch_size(int64_t batch, int64_t n)
{
    return batch == 0 || batch > n ? n : batch;
}

/* A layer that declares a smallest training batch (gd_layer_info.min_batch;
 * batchnorm: 2, since one sample has no variance: the running variance
 * would stay as it was and the gradient would be zero) refuses a run whose
 * batches, the last partial one included, would be smaller. Refused before
 * the run, naming the data size, the batch and the remedies, rather than
 * met at the end of an epoch. */
static gd_status check_min_batch(const gd_train_config *c, gd_error *err)
{
    int64_t n = gd_dataset_size(c->train);
    int64_t batch = gd_batch_size(c->batch, n);
    int64_t last = c->drop_last || n % batch == 0 ? batch : n % batch;
    for (int i = 0; i < gd_model_layer_count(c->model); i++) {
        const gd_model_layer *l = gd_model_layer_at(c->model, i);
        int64_t min = l->info.min_batch;
        if (batch >= min && last >= min)
            continue;
        char few[48] = "a batch of one sample";
        if (min > 2)
            snprintf(few, sizeof few, "a batch of fewer than %lld samples", (long long)min);
        const char *what = l->spec->component->name;
        if (batch < min)
            return gd_fail(err, GD_EINVAL, "train: layer %s (%s) cannot train on %s, and %lld "
                           "samples in batches of %lld make every batch %s: use a batch of at "
                           "least %lld", l->name, what, few, (long long)n, (long long)batch,
                           batch == 1 ? "one" : "too small", (long long)min);
        int64_t other = batch + 1;
        while (other < n && n % other != 0 && n % other < min)
            other++;
        return gd_fail(err, GD_EINVAL, "train: layer %s (%s) cannot train on %s, and %lld samples "
                       "in batches of %lld leave a last batch of %lld: set drop_last = true, or "
                       "use another batch size (%lld leaves none)", l->name, what, few,
                       (long long)n, (long long)batch, (long long)last, (long long)other);
    }
    return GD_OK;
}

static gd_status check_config(const gd_train_config *c, gd_error *err)
{
    if (!c->model || !c->loss || !c->optimizer || !c->train)
        return gd_fail(err, GD_EINVAL, "train: model, loss, optimizer and data are required");
    if (c->loss->component->kind != GD_KIND_LOSS)
        return gd_fail(err, GD_EINVAL, "train: 'loss' must be a loss, got %s '%s'",
                       gd_kind_name(c->loss->component->kind), c->loss->component->name);
    if (c->optimizer->component->kind != GD_KIND_OPTIMIZER)
        return gd_fail(err, GD_EINVAL, "train: 'optimizer' must be an optimizer, got %s '%s'",
                       gd_kind_name(c->optimizer->component->kind),
                       c->optimizer->component->name);
    if (c->schedule && c->schedule->component->kind != GD_KIND_SCHEDULER)
        return gd_fail(err, GD_EINVAL, "train: 'schedule' must be a scheduler, got %s '%s'",
                       gd_kind_name(c->schedule->component->kind), c->schedule->component->name);
    for (int i = 0; i < c->nregularizers; i++)
        if (c->regularizers[i]->component->kind != GD_KIND_REGULARIZER)
            return gd_fail(err, GD_EINVAL, "train: regularizers[%d] must be a regularizer, got "
                           "%s '%s'", i + 1, gd_kind_name(c->regularizers[i]->component->kind),
                           c->regularizers[i]->component->name);
    if (c->epochs < 1)
        return gd_fail(err, GD_EINVAL, "train: epochs must be >= 1, got %lld",
                       (long long)c->epochs);
    if (c->batch < 0)
        return gd_fail(err, GD_EINVAL, "train: batch must be >= 1 or \"full\"");
    if (c->diverge_factor != 0 && !(c->diverge_factor > 1 && isfinite(c->diverge_factor)))
        return gd_fail(err, GD_EINVAL, "train: the diverge factor must be a number > 1 (or 0: "
                       "off), got %g", c->diverge_factor);
    if (c->distributed) {
        int64_t n = gd_dataset_size(c->train), b = gd_batch_size(c->batch, n);
        int64_t last = n % b && !c->drop_last ? n % b : b;
        if ((last < b ? last : b) < gd_dist_size())
            return gd_fail(err, GD_EINVAL, "train: distributed over %d ranks, every batch needs "
                           "at least %d samples (batch %lld, the epoch's last %lld)",
                           gd_dist_size(), gd_dist_size(), (long long)b, (long long)last);
    }
    if (c->clip != GD_CLIP_NONE && !(c->clip_value > 0 && isfinite(c->clip_value)))
        return gd_fail(err, GD_EINVAL, "train: clip threshold must be > 0, got %g", c->clip_value);
    const gd_shape *in = gd_model_input_shape(c->model), *out = gd_model_output_shape(c->model);
    int64_t feat = gd_dataset_features(c->train), outw = gd_shape_numel(out);
    if (feat != gd_shape_numel(in))
        return gd_fail(err, GD_EINVAL, "train: the data has %lld features per sample, the model "
                       "takes %lld", (long long)feat, (long long)gd_shape_numel(in));
    if (gd_dataset_size(c->train) < 1)
        return gd_fail(err, GD_EINVAL, "train: the training set is empty");
    int classes = gd_dataset_classes(c->train);
    int64_t ids = gd_model_input_ids(c->model), data_ids = gd_dataset_input_ids(c->train);
    if (ids > 0 && data_ids > ids)
        return gd_fail(err, GD_EINVAL, "train: the data has a vocabulary of %lld tokens, the "
                       "model's %s takes %lld ids: give it vocab = %lld (#ds:vocab())",
                       (long long)data_ids, gd_model_layer_name(gd_model_layer_at(c->model, 0)),
                       (long long)ids, (long long)data_ids);
    if (gd_loss_target(c->loss) == GD_TARGET_CLASS) {
        /* One class number per position: [T, classes] outputs for T targets. */
        int64_t tw = gd_dataset_target_width(c->train);
        if (classes < 1)
            return gd_fail(err, GD_EINVAL, "train: loss '%s' needs class labels, the data has "
                           "regression targets", c->loss->component->name);
        if (tw > 1 && outw != tw * classes)
            return gd_fail(err, GD_EINVAL, "train: the model gives %lld outputs per sample, "
                           "the data needs %lld positions of %d classes", (long long)outw,
                           (long long)tw, classes);
        if (tw == 1 && outw != classes)
            return gd_fail(err, GD_EINVAL, "train: the model's output width is %lld but the "
                           "data has %d classes", (long long)outw, classes);
    } else if (gd_dataset_target_width(c->train) != outw) {
        return gd_fail(err, GD_EINVAL, "train: the model gives %lld outputs per sample, the "
                       "data has %lld targets", (long long)outw,
                       (long long)gd_dataset_target_width(c->train));
    }
    return check_min_batch(c, err);
}

static gd_status alloc_telemetry(gd_trainer *tr, gd_error *err)
{
    int64_t cap = tr->total_steps / tr->cfg.monitor_every + 2;
    if (gd_telemetry_too_many(cap, gd_model_layer_count(tr->m)))
        return gd_fail(err, GD_EINVAL, "train: monitor.every = %lld over %lld steps keeps %lld "
                       "telemetry records; use a larger monitor.every",
                       (long long)tr->cfg.monitor_every, (long long)tr->total_steps,
                       (long long)cap);
    return gd_telemetry_reserve(&tr->tele, tr->m, cap, err);
}

static int64_t buffer_floats(gd_model *m)
{
    int64_t n = 0;
    for (int i = 0; i < gd_model_layer_count(m); i++)
        for (int b = 0; b < gd_model_layer_at(m, i)->nbuffers; b++)
            n += gd_model_layer_at(m, i)->buffers[b].numel;
    return n;
}

static gd_status setup_tensor_optimizer(gd_trainer *tr, gd_error *err)
{
    if (!(tr->topt = gd_optim_new_model(tr->cfg.optimizer, tr->m, err)))
        return GD_EINVAL;
    if (!gd_optimizer_is_two_pass(tr->cfg.optimizer))
        return GD_OK;
    tr->rng_snap = calloc((size_t)gd_model_layer_count(tr->m) + 1, sizeof *tr->rng_snap);
    tr->buf_snap = calloc((size_t)buffer_floats(tr->m) + 1, sizeof(float));
    if (!tr->rng_snap || !tr->buf_snap)
        return gd_fail(err, GD_ENOMEM, "train: out of memory for the second pass");
    return GD_OK;
}

gd_trainer *gd_trainer_new(const gd_train_config *cfg, gd_error *err)
{
    if (check_config(cfg, err) != GD_OK)
        return NULL;
    gd_trainer *tr = calloc(1, sizeof *tr);
    if (!tr) {
        gd_fail(err, GD_ENOMEM, "train: out of memory");
        return NULL;
    }
    tr->cfg = *cfg;
    tr->m = cfg->model;
    tr->first_loss = NAN;
    tr->n = gd_dataset_size(cfg->train);
    tr->batch = gd_batch_size(cfg->batch, tr->n);
    tr->per_epoch = cfg->drop_last ? tr->n / tr->batch * tr->batch : tr->n;
    tr->steps_per_epoch = (tr->per_epoch + tr->batch - 1) / tr->batch;
    /* Steps are counted in int64: a run or horizon too long for that (a
     * resumed checkpoint's counts come from a file) is refused, not
     * overflowed. */
    int64_t longest = INT64_MAX / 4 / tr->steps_per_epoch;
    if (cfg->epochs > longest || cfg->horizon_epochs > longest) {
        gd_fail(err, GD_EINVAL, "train: a run of %lld epochs (schedule horizon %lld) of %lld "
                "steps is too long", (long long)cfg->epochs, (long long)cfg->horizon_epochs,
                (long long)tr->steps_per_epoch);
        free(tr);
        return NULL;
    }
    tr->total_steps = tr->steps_per_epoch * cfg->epochs;
    tr->base_lr = gd_optimizer_base_lr(cfg->optimizer);
    tr->sched_epochs = schedule_in_epochs(cfg->schedule);
    tr->horizon_epochs = cfg->horizon_epochs > 0 ? cfg->horizon_epochs : cfg->epochs;
    tr->horizon = tr->sched_epochs ? tr->horizon_epochs
                                   : tr->steps_per_epoch * tr->horizon_epochs;
    cfg = &tr->cfg; /* regularizer pointers are copied below */
    int64_t np = gd_model_param_count(tr->m), feat = gd_dataset_features(cfg->train);
    int64_t tw = gd_dataset_target_width(cfg->train);
    int64_t outw = gd_shape_numel(gd_model_output_shape(tr->m));
    gd_status st = gd_schedule_check(cfg->schedule, tr->horizon, err);
    bool tensor = gd_optimizer_is_tensor(cfg->optimizer);
    if (st == GD_OK) {   /* before allocating: refused with the estimate, not OOM-killed */
        gd_memory_estimate e;
        int64_t pending;
        gd_model_memory(tr->m, tr->batch, &e, &pending);
        e.optimizer = 4 * np * gd_optimizer_tree_slots(cfg->optimizer);
        e.activations += 4 * tr->batch * (feat + tw + outw);
        e.workspace += 8 * tr->n;
        pending += e.optimizer + 4 * tr->batch * (feat + tw + outw) + 8 * tr->n;
        st = gd_memory_check("train", &e, pending, err);
    }
    for (int k = 0; st == GD_OK && !tensor && k < gd_optimizer_nslots(cfg->optimizer); k++)
        if (!(tr->slots[k] = calloc((size_t)(np ? np : 1), sizeof(float))))
            st = gd_fail(err, GD_ENOMEM, "train: out of memory for optimizer state");
    if (st == GD_OK) {
        tr->scalars = calloc((size_t)gd_optimizer_nscalars(cfg->optimizer) + 1, sizeof(double));
        tr->regs = calloc((size_t)cfg->nregularizers + 1, sizeof *tr->regs);
        tr->perm = malloc((size_t)tr->n * sizeof(int64_t));
        tr->xb = malloc((size_t)(tr->batch * feat) * sizeof(float));
        tr->yb = malloc((size_t)(tr->batch * tw) * sizeof(float));
        tr->dout = malloc((size_t)(tr->batch * outw) * sizeof(float));
        if (!tr->scalars || !tr->regs || !tr->perm || !tr->xb || !tr->yb || !tr->dout)
            st = gd_fail(err, GD_ENOMEM, "train: out of memory for batch buffers");
    }
    if (st == GD_OK) {
        for (int i = 0; i < cfg->nregularizers; i++)
            tr->regs[i] = cfg->regularizers[i];
        tr->cfg.regularizers = tr->regs;
        st = gd_model_reserve(tr->m, tr->batch, err);
    }
    if (st == GD_OK && cfg->monitor_every > 0)
        st = alloc_telemetry(tr, err);
    if (st == GD_OK && tensor)
        st = setup_tensor_optimizer(tr, err);
    if (st != GD_OK) {
        gd_trainer_free(tr);
        return NULL;
    }
    return tr;
}

void gd_trainer_shuffle(gd_trainer *tr)
{
    gd_rng rng = gd_rng_stream(tr->epoch_seed, SHUFFLE_STREAM + (uint64_t)tr->epoch);
    for (int64_t i = 0; i < tr->n; i++)
        tr->perm[i] = i;
    for (int64_t i = tr->n - 1; i > 0; i--) {
        int64_t j = (int64_t)gd_rng_below(&rng, (uint64_t)i + 1);
        int64_t t = tr->perm[i];
        tr->perm[i] = tr->perm[j];
        tr->perm[j] = t;
    }
}

static bool param_selected(const gd_spec *reg, const gd_param_info *p)
{
    int to = reg->options->v[reg->component->noptions + GD_COMMON_TO].u.e;
    return to == GD_TO_ALL || p->role == GD_ROLE_WEIGHT;
}

/* Penalty of layer i's selected parameters; adds their gradient terms. */
static double regularize_layer(gd_trainer *tr, int i)
{
    double penalty = 0;
    gd_model_layer *l = gd_model_layer_at(tr->m, i);
    for (int r = 0; r < tr->cfg.nregularizers; r++) {
        const gd_spec *reg = tr->regs[r];
        for (int p = 0; p < l->nparams; p++) {
            gd_model_param *mp = &l->params[p];
            if (!param_selected(reg, mp->info))
                continue;
            penalty += gd_regularizer_penalty(reg, mp->numel, mp->value);
            gd_regularizer_add_grad(reg, mp->numel, mp->value, mp->grad);
        }
    }
    return penalty;
}

/* Last layer first, the order of the fused step (update_layer), so both
 * sum the same penalties in the same order, bit for bit. */
static double apply_regularizers(gd_trainer *tr)
{
    double penalty = 0;
    for (int i = gd_model_layer_count(tr->m) - 1; i >= 0; i--)
        penalty += regularize_layer(tr, i);
    return penalty;
}

static bool all_finite(const float *x, int64_t n)
{
    /* Sum of x*0: stays 0 for finite x, becomes NaN for NaN or Inf. */
    float acc = 0;
    for (int64_t i = 0; i < n; i++)
        acc += x[i] * 0.0f;
    return acc == 0;
}

/* The run ends at this step: the record, at the loss until located. */
static gd_divergence *divergence_here(gd_trainer *tr, const char *reason)
{
    gd_divergence *d = &tr->div;
    d->step = tr->step;
    d->epoch = tr->epoch + 1;
    d->layer = -1;
    d->reason = reason;
    snprintf(d->layer_name, sizeof d->layer_name, "loss");
    tr->diverged = true;
    return d;
}

/* Name the first place holding a NaN/Inf, in forward order. */
static void locate_divergence(gd_trainer *tr, const char *fallback)
{
    gd_divergence *d = divergence_here(tr, "not finite");
    snprintf(d->what, sizeof d->what, "%s", fallback);
    int nl = gd_model_layer_count(tr->m);
    for (int i = 0; i < nl; i++) {
        gd_model_layer *l = gd_model_layer_at(tr->m, i);
        const char *what = NULL, *pname = NULL;
        for (int p = 0; p < l->nparams && !what; p++) {
            if (!all_finite(l->params[p].value, l->params[p].numel))
                what = "parameters", pname = l->params[p].info->name;
            else if (!all_finite(l->params[p].grad, l->params[p].numel))
                what = "gradient", pname = l->params[p].info->name;
        }
        gd_tensor a = gd_model_activation(tr->m, i);
        if (!what && !all_finite(a.data, gd_tensor_numel(&a)))
            what = "output";
        if (what) {
            d->layer = i;
            snprintf(d->layer_name, sizeof d->layer_name, "%s", l->name);
            if (pname)
                snprintf(d->what, sizeof d->what, "%s: %s of %s.%s is not finite", fallback,
                         what, l->name, pname);
            else
                snprintf(d->what, sizeof d->what, "%s: output of %s is not finite", fallback,
                         l->name);
            break;
        }
    }
}

static gd_status diverge(gd_trainer *tr, const char *why, gd_error *err)
{
    locate_divergence(tr, why);
    return gd_fail(err, GD_ENUMERIC, "train: diverged at step %lld: %s", (long long)tr->step,
                   tr->div.what);
}

/* A finite loss far above where the run started: nothing to locate, the
 * numbers are the message. */
static gd_status explode(gd_trainer *tr, double loss, gd_error *err)
{
    gd_divergence *d = divergence_here(tr, "loss exploded");
    snprintf(d->what, sizeof d->what, "loss exploded: %.4g at step %lld is more than %g times "
             "the first step's loss (%.4g)", loss, (long long)tr->step, tr->cfg.diverge_factor,
             tr->first_loss);
    return gd_fail(err, GD_ENUMERIC, "train: diverged at step %lld: %s", (long long)tr->step,
                   d->what);
}

/* Checks a finite data loss against the first step's (and takes that). */
static bool exploded(gd_trainer *tr, double loss)
{
    if (tr->step == 0)
        tr->first_loss = loss;
    /* NaN compares false: no reference (an old checkpoint), no check; a
     * first loss of 0 gives no scale to compare with. */
    return tr->cfg.diverge_factor > 0 && tr->first_loss > 0 &&
           loss > tr->cfg.diverge_factor * tr->first_loss;
}

/* The batch gather is per-sample, so it splits over the pool's threads in
 * fixed contiguous parts: the numbers are the same as one pass. */
enum { PARALLEL_MIN_FLOATS = 1 << 15 };

typedef struct gather_job {
    const gd_trainer *tr;
    int64_t nb, first;   /* samples first .. first + nb of the batch */
} gather_job;

static void gather_part(void *arg, int part, int nparts)
{
    const gather_job *j = arg;
    const gd_trainer *tr = j->tr;
    int64_t lo, hi, feat = gd_dataset_features(tr->cfg.train);
    int64_t tw = gd_dataset_target_width(tr->cfg.train);
    gd_part_range(j->nb, 1, part, nparts, &lo, &hi);
    /* The epoch's key: text windows start at other offsets every epoch. */
    uint64_t key = tr->epoch_seed * 0x9e3779b97f4a7c15ULL + (uint64_t)tr->epoch + 1;
    if (hi > lo)
        gd_dataset_gather_epoch(tr->cfg.train, tr->perm + tr->pos + j->first + lo, hi - lo,
                                tr->xb + lo * feat, tr->yb + lo * tw, key ? key : 1);
    /* Shuffled rows defeat the hardware prefetcher: name this part's rows
     * of the next batch now (measured: the gather's share of an Adam step
     * at batch 128 fell from 5-6 % to 4 %). */
    int64_t next = tr->pos + tr->batch + j->first;
    if (hi > lo && next + hi <= tr->per_epoch)
        gd_dataset_prefetch(tr->cfg.train, tr->perm + next + lo, hi - lo);
}

static void gather_batch(const gd_trainer *tr, int64_t first, int64_t nb)
{
    gather_job j = { tr, nb, first };
    if (gd_pool_size() > 1 && nb * gd_dataset_features(tr->cfg.train) >= PARALLEL_MIN_FLOATS)
        gd_pool_run(gather_part, &j);
    else
        gather_part(&j, 0, 1);
}

/* The fused step: as soon as a layer's gradients are complete, regularize
 * and update that layer, while its gradients are still in cache. Used when
 * nothing needs all gradients first (clipping by a global norm, telemetry);
 * the optimizers are elementwise, so the numbers are the same as one update
 * over the whole arena after backward (a test compares the two). */
typedef struct fused_ctx {
    gd_trainer *tr;
    const gd_optim_state *st;
    double penalty;
    bool stream;         /* layers that stream their gradients are updated by slice */
} fused_ctx;

/* A streaming layer's finished slice (gd_layer_ctx.grad_ready): updated at
 * once, while it is in cache, so that a dense layer's weight gradient
 * block goes from its product to the optimizer without leaving the cache
 * (no zeroing pass, no whole-arena gradient traffic). Elementwise
 * optimizers only, without regularizers (their penalty is a whole-tensor
 * sum): the numbers are those of the whole-layer update. */
static void update_slice(void *arg, int layer, int param, int64_t first, int64_t count)
{
    fused_ctx *f = arg;
    gd_model *m = f->tr->m;
    int64_t off = gd_model_layer_at(m, layer)->params[param].value - gd_model_params(m) + first;
    gd_optim_span span = { count, gd_model_params(m) + off, gd_model_grads(m) + off, { 0 } };
    for (int k = 0; k < GD_MAX_OPTIM_SLOTS; k++)
        span.slot[k] = f->tr->slots[k] ? f->tr->slots[k] + off : NULL;
    gd_optimizer_step(f->tr->cfg.optimizer, f->st, &span);
}

static void update_layer(void *arg, int i)
{
    fused_ctx *f = arg;
    gd_model_layer *l = gd_model_layer_at(f->tr->m, i);
    if (!l->param_count || (f->stream && l->info.streams_grads))
        return;
    if (f->tr->cfg.nregularizers)
        f->penalty += regularize_layer(f->tr, i);
    if (f->tr->topt) {   /* tensors are numbered in layer order (gd_optim_new_model) */
        int first = 0;
        for (int k = 0; k < i; k++)
            first += gd_model_layer_at(f->tr->m, k)->nparams;
        gd_optim_step_range(f->tr->topt, first, l->nparams);
        return;
    }
    int64_t off = l->param_offset;
    gd_optim_span span = { l->param_count, gd_model_params(f->tr->m) + off,
                           gd_model_grads(f->tr->m) + off, { 0 } };
    for (int k = 0; k < GD_MAX_OPTIM_SLOTS; k++)
        span.slot[k] = f->tr->slots[k] ? f->tr->slots[k] + off : NULL;
    gd_optimizer_step(f->tr->cfg.optimizer, f->st, &span);
}

/* Data loss of the batch whose output is `out`; its gradient into tr->dout. */
static double batch_loss(gd_trainer *tr, const float *out, int64_t nb)
{
    const gd_shape *os = gd_model_output_shape(tr->m);
    gd_tensor pred = { (float *)out, { 2, { nb, gd_shape_numel(os), 0, 0 } } };
    gd_tensor grad = { tr->dout, pred.shape };
    /* Class targets: one per sample, or one per position of a text set. */
    int64_t tw = gd_dataset_target_width(tr->cfg.train);
    gd_tensor tgt = gd_loss_target(tr->cfg.loss) == GD_TARGET_CLASS
                        ? (gd_tensor){ tr->yb, { 1, { nb * tw, 0, 0, 0 } } }
                        : (gd_tensor){ tr->yb, pred.shape };
    return gd_loss_forward(tr->cfg.loss, &pred, &tgt, &grad);
}

/* Batch-norm running statistics (every layer buffer) into or out of buf_snap. */
static void keep_buffers(gd_trainer *tr, bool save)
{
    float *p = tr->buf_snap;
    for (int i = 0; i < gd_model_layer_count(tr->m); i++) {
        gd_model_layer *l = gd_model_layer_at(tr->m, i);
        for (int b = 0; b < l->nbuffers; b++) {
            size_t bytes = (size_t)l->buffers[b].numel * sizeof(float);
            memcpy(save ? p : l->buffers[b].value, save ? l->buffers[b].value : p, bytes);
            p += l->buffers[b].numel;
        }
    }
}

static gd_status dist_loss(gd_trainer *tr, double *loss, int64_t nr, int64_t nb, gd_error *err);

/* The second gradient of a two-pass optimizer (SAM): forward and backward
 * again on this step's batch at the weights the optimizer moved, with the
 * dropout masks of the first pass (each layer's stream rewound) and the
 * running statistics left as the first pass set them; then, as for the
 * first gradient, the sum over ranks when distributed, regularizers and
 * clipping. Its loss is not reported. */
static gd_status second_pass(void *arg, gd_optim *o, gd_error *err)
{
    gd_trainer *tr = arg;
    (void)o;
    for (int i = 0; i < gd_model_layer_count(tr->m); i++)
        gd_model_layer_at(tr->m, i)->rng = tr->rng_snap[i];
    keep_buffers(tr, true);
    const float *out;
    gd_status st = gd_model_forward(tr->m, tr->xb, tr->nb, true, &out, err);
    keep_buffers(tr, false);
    if (st != GD_OK)
        return st;
    double loss = batch_loss(tr, out, tr->nb);
    if (tr->cfg.distributed && (st = dist_loss(tr, &loss, tr->nb, tr->nb_all, err)) != GD_OK)
        return st;
    if (!isfinite(loss))
        return gd_fail(err, GD_ENUMERIC, "train: the second pass's loss is not finite at step "
                       "%lld", (long long)tr->step);
    gd_model_zero_grad(tr->m);
    gd_model_backward(tr->m, tr->dout);
    if (tr->cfg.distributed &&
        (st = gd_dist_allreduce(gd_model_grads(tr->m), gd_model_param_count(tr->m), NULL, err)))
        return st;
    if (tr->cfg.nregularizers)
        apply_regularizers(tr);
    float *grads = gd_model_grads(tr->m);
    int64_t np = gd_model_param_count(tr->m);
    if (tr->cfg.clip == GD_CLIP_NORM)
        gd_clip_by_norm(&grads, &np, 1, tr->cfg.clip_value, NULL);
    else if (tr->cfg.clip == GD_CLIP_VALUE)
        gd_clip_by_value(&grads, &np, 1, tr->cfg.clip_value, NULL);
    return GD_OK;
}

double gd_trainer_lr_at(const gd_trainer *tr, int64_t step, int64_t epoch)
{
    return gd_schedule_lr(tr->cfg.schedule, tr->sched_epochs ? epoch : step, tr->base_lr,
                          tr->horizon);
}

/* Counters and the caller's result, after a step's update. */
static void finish_step(gd_trainer *tr, gd_step_result *res, double loss, double penalty,
                        double lr, int64_t nb, bool monitored)
{
    if (tr->timing_on)
        tr->timing.steps++;
    tr->epoch_loss += loss * (double)nb;
    tr->epoch_samples += nb;
    tr->epoch_penalty += penalty * (double)nb;
    tr->epoch_penalty_samples += nb;
    if (res) {
        res->loss = loss;
        res->penalty = penalty;
        res->lr = lr;
        res->step = tr->step;
        res->epoch = tr->epoch + 1;
        res->monitored = monitored;
    }
    tr->step++;
    tr->pos += nb;
    bool done = tr->pos >= tr->per_epoch;
    if (done) {
        tr->pos = 0;
        tr->epoch++;
    }
    if (res)
        res->epoch_done = done;
}

/* Distributed: a rank's loss and its gradient are means over its nr
 * samples; weighted by nr / nb and summed over the ranks they are the
 * batch's mean, as one process would compute it. The loss is summed here,
 * before the checks that end a run, so that every rank takes the same
 * decision; the gradients after backward (dout scaled now: backward is
 * linear in it). */
static gd_status dist_loss(gd_trainer *tr, double *loss, int64_t nr, int64_t nb, gd_error *err)
{
    float w = (float)nr / (float)nb;
    int64_t n = nr * gd_shape_numel(gd_model_output_shape(tr->m));
    for (int64_t i = 0; i < n; i++)
        tr->dout[i] *= w;
    *loss *= (double)nr / (double)nb;
    return gd_dist_allreduce(NULL, 0, loss, err);
}

/* A step in flight: what its stages pass on, and the timing mark the next
 * stage's share is measured from. */
typedef struct step_state {
    double t0;                 /* when the stage being timed started */
    double loss, penalty, lr;
    gd_optim_state os;
    int64_t nb;                /* the batch's samples, over every rank */
    bool monitored;
} step_state;

/* Time since the last mark into one share of the step's timing. */
static inline void lap(gd_trainer *tr, step_state *s, double *share)
{
    if (!tr->timing_on)
        return;
    double t1 = gd_clock_now();
    *share += t1 - s->t0;
    s->t0 = t1;
}

/* The divergence check every stage that changes the loss ends with. */
static gd_status check_loss(gd_trainer *tr, double loss, gd_error *err)
{
    if (!isfinite(loss))
        return diverge(tr, isnan(loss) ? "loss is NaN" : "loss is infinite", err);
    return GD_OK;
}

/* Gather this rank's shard of the next batch, forward, data loss. */
static gd_status forward_batch(gd_trainer *tr, step_state *s, gd_error *err)
{
    if (tr->pos == 0) {
        tr->epoch_seed = tr->cfg.seed;
        gd_trainer_shuffle(tr);
        tr->epoch_loss = 0;
        tr->epoch_samples = 0;
        tr->epoch_penalty = 0;
        tr->epoch_penalty_samples = 0;
    }
    int64_t nb = tr->per_epoch - tr->pos < tr->batch ? tr->per_epoch - tr->pos : tr->batch;
    int64_t lo = 0, hi = nb;   /* this rank's shard of the batch: all of it unless distributed */
    if (tr->cfg.distributed)
        gd_dist_shard(nb, &lo, &hi);
    int64_t nr = hi - lo;
    gather_batch(tr, lo, nr);
    lap(tr, s, &tr->timing.gather);
    const float *out;
    tr->nb = nr;
    tr->nb_all = s->nb = nb;
    for (int i = 0; tr->rng_snap && i < gd_model_layer_count(tr->m); i++)
        tr->rng_snap[i] = gd_model_layer_at(tr->m, i)->rng;
    gd_status st = gd_model_forward(tr->m, tr->xb, nr, true, &out, err);
    if (st != GD_OK)
        return st;
    lap(tr, s, &tr->timing.forward);
    s->loss = batch_loss(tr, out, nr);
    if (tr->cfg.distributed && (st = dist_loss(tr, &s->loss, nr, nb, err)) != GD_OK)
        return st;
    lap(tr, s, &tr->timing.loss);
    if ((st = check_loss(tr, s->loss, err)) != GD_OK)
        return st;
    return exploded(tr, s->loss) ? explode(tr, s->loss, err) : GD_OK;
}

/* Backward with each layer regularized and updated as soon as its
 * gradients are complete (see fused_ctx). */
static gd_status update_fused(gd_trainer *tr, step_state *s, gd_error *err)
{
    fused_ctx f = { tr, &s->os, 0, !tr->topt && !tr->cfg.nregularizers };
    if (tr->topt)
        gd_optim_begin(tr->topt, s->lr);
    gd_model_backward_each(tr->m, tr->dout, true, update_layer, f.stream ? update_slice : NULL,
                           &f);
    s->penalty = f.penalty;
    s->loss += f.penalty;
    lap(tr, s, &tr->timing.backward);
    return check_loss(tr, s->loss, err);
}

/* Backward over the whole model, the sum over ranks, the regularizers. */
static gd_status backward_all(gd_trainer *tr, step_state *s, gd_error *err)
{
    gd_model_zero_grad(tr->m);
    gd_model_backward(tr->m, tr->dout);
    gd_status st;
    /* every rank adds the others' gradients before anything reads them */
    if (tr->cfg.distributed &&
        (st = gd_dist_allreduce(gd_model_grads(tr->m), gd_model_param_count(tr->m), NULL, err)))
        return st;
    s->penalty = tr->cfg.nregularizers ? apply_regularizers(tr) : 0;
    s->loss += s->penalty;
    lap(tr, s, &tr->timing.backward);
    return check_loss(tr, s->loss, err);
}

/* The monitored step's record, after the update. */
static void record_step(gd_trainer *tr, const step_state *s, double gnorm, bool clipped,
                        const gd_optim_span *span)
{
    gd_step_record *rec = gd_telemetry_next(&tr->tele);
    rec->step = tr->step;
    rec->epoch = tr->epoch + 1;
    rec->loss = s->loss;
    rec->penalty = s->penalty;
    rec->lr = s->lr;
    rec->grad_norm = gnorm;
    rec->clipped = clipped;
    rec->effective_lr = tr->topt ? gd_telemetry_step_per_gradient(&tr->tele, tr->m)
                                 : gd_optimizer_effective_lr(tr->cfg.optimizer, &s->os, span);
    gd_telemetry_layers(&tr->tele, tr->m, rec);
}

/* Every gradient first, then clipping, telemetry and one update of all. */
static gd_status update_all(gd_trainer *tr, step_state *s, gd_error *err)
{
    gd_status st = backward_all(tr, s, err);
    if (st != GD_OK)
        return st;
    float *grads = gd_model_grads(tr->m), *params = gd_model_params(tr->m);
    int64_t np = gd_model_param_count(tr->m);
    double gnorm = NAN;
    bool clipped = false;
    if (tr->cfg.clip == GD_CLIP_NORM)
        gnorm = gd_clip_by_norm(&grads, &np, 1, tr->cfg.clip_value, &clipped);
    else if (tr->cfg.clip == GD_CLIP_VALUE)
        gnorm = gd_clip_by_value(&grads, &np, 1, tr->cfg.clip_value, &clipped);
    /* Telemetry work is timed on its own (and taken out of the update's
     * share) so the benchmark can report what monitoring costs. */
    double tm = s->monitored && tr->timing_on ? gd_clock_now() : 0;
    if (s->monitored && tr->cfg.clip == GD_CLIP_NONE)
        gnorm = gd_clip_by_norm(&grads, &np, 1, INFINITY, NULL);
    if (s->monitored && !isfinite(gnorm))
        return diverge(tr, "gradient norm is not finite", err);
    if (s->monitored)
        gd_telemetry_keep_params(&tr->tele, tr->m);
    if (s->monitored && tr->timing_on) {
        double dt = gd_clock_now() - tm;
        tr->timing.monitor += dt;
        s->t0 += dt;
    }
    gd_optim_span span = { np, params, grads, { 0 } };
    for (int k = 0; k < GD_MAX_OPTIM_SLOTS; k++)
        span.slot[k] = tr->slots[k];
    if (tr->topt && (st = gd_optim_step(tr->topt, s->lr, second_pass, tr, err)) != GD_OK)
        return st;
    if (!tr->topt)
        gd_optimizer_step(tr->cfg.optimizer, &s->os, &span);
    lap(tr, s, &tr->timing.update);
    if (s->monitored) {
        record_step(tr, s, gnorm, clipped, &span);
        lap(tr, s, &tr->timing.monitor);
    }
    return GD_OK;
}

gd_status gd_trainer_step(gd_trainer *tr, gd_step_result *res, gd_error *err)
{
    if (tr->diverged)
        return gd_fail(err, GD_ENUMERIC, "train: the run diverged at step %lld: %s",
                       (long long)tr->div.step, tr->div.what);
    if (gd_trainer_finished(tr))
        return gd_fail(err, GD_EINVAL, "train: all %lld epochs are done",
                       (long long)tr->cfg.epochs);
    step_state s = { .t0 = tr->timing_on ? gd_clock_now() : 0 };
    gd_status st = forward_batch(tr, &s, err);
    if (st != GD_OK)
        return st;
    s.monitored = tr->cfg.monitor_every > 0 && tr->step % tr->cfg.monitor_every == 0 &&
                  tr->tele.n < tr->tele.cap;
    s.lr = gd_trainer_lr_at(tr, tr->step, tr->epoch);
    s.os = (gd_optim_state){ s.lr, tr->step - tr->opt_step0 + 1, tr->scalars };
    /* Fused unless something needs every gradient before the update. A
     * tensor-aware optimizer is fused on one thread; on more, its tensors
     * are stepped in parallel after the whole backward (core/optim.c). */
    bool fused = tr->cfg.clip == GD_CLIP_NONE && !s.monitored && !tr->cfg.distributed &&
                 (!tr->topt ||
                  (gd_pool_size() == 1 && !gd_optimizer_is_two_pass(tr->cfg.optimizer)));
    st = fused ? update_fused(tr, &s, err) : update_all(tr, &s, err);
    if (st != GD_OK)
        return st;
    finish_step(tr, res, s.loss, s.penalty, s.lr, s.nb, s.monitored);
    return GD_OK;
}

gd_status gd_trainer_epoch(gd_trainer *tr, double *mean_loss, gd_error *err)
{
    gd_step_result r = { 0 };
    do {
        gd_status st = gd_trainer_step(tr, &r, err);
        if (st != GD_OK)
            return st;
    } while (!r.epoch_done);
    if (mean_loss)
        *mean_loss = tr->epoch_loss / (double)tr->epoch_samples;
    return GD_OK;
}

bool gd_trainer_finished(const gd_trainer *tr) { return tr->epoch >= tr->cfg.epochs; }
int64_t gd_trainer_steps_done(const gd_trainer *tr) { return tr->step; }
int64_t gd_trainer_epochs_done(const gd_trainer *tr) { return tr->epoch; }
int64_t gd_trainer_steps_per_epoch(const gd_trainer *tr) { return tr->steps_per_epoch; }
int64_t gd_trainer_record_count(const gd_trainer *tr) { return tr->tele.n; }

void gd_trainer_diverge_after(gd_trainer *tr, int64_t epoch, const char *where, const char *what)
{
    gd_divergence *d = divergence_here(tr, "not finite");
    d->step = tr->step > 0 ? tr->step - 1 : 0;
    d->epoch = epoch;
    snprintf(d->layer_name, sizeof d->layer_name, "%s", where);
    snprintf(d->what, sizeof d->what, "%s", what);
}

const gd_divergence *gd_trainer_divergence(const gd_trainer *tr)
{
    return tr->diverged ? &tr->div : NULL;
}

const gd_step_record *gd_trainer_record(const gd_trainer *tr, int64_t i)
{
    return i >= 0 && i < tr->tele.n ? &tr->tele.records[i] : NULL;
}

void gd_trainer_enable_timing(gd_trainer *tr, bool on) { tr->timing_on = on; }
const gd_step_timing *gd_trainer_timing(const gd_trainer *tr) { return &tr->timing; }

const gd_train_config *gd_trainer_config(const gd_trainer *tr) { return &tr->cfg; }

double gd_trainer_epoch_loss(const gd_trainer *tr)
{
    return tr->epoch_samples ? tr->epoch_loss / (double)tr->epoch_samples : NAN;
}

double gd_trainer_epoch_penalty(const gd_trainer *tr)
{
    return tr->epoch_samples && tr->epoch_penalty_samples == tr->epoch_samples
               ? tr->epoch_penalty / (double)tr->epoch_samples
               : NAN;
}
