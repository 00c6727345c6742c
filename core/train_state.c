/*
 * core/train_state.c: a trainer's state as a checkpoint holds it: taken
 * out (gd_trainer_get_state, views into the trainer) and put back
 * (gd_trainer_set_state, checked whole before anything changes), so that a
 * resumed run continues bit for bit.
 */
#include "train_fields.h"

#include <math.h>
#include <string.h>

#include "component.h"

void gd_trainer_get_state(const gd_trainer *tr, gd_trainer_state *st)
{
    int nslots = gd_optimizer_nslots(tr->cfg.optimizer);
    memset(st, 0, sizeof *st);
    st->step = tr->step;
    st->epoch = tr->epoch;
    st->pos = tr->pos;
    st->epoch_seed = tr->epoch_seed;
    st->opt_step0 = tr->opt_step0;
    st->epoch_loss = tr->epoch_loss;
    st->epoch_samples = tr->epoch_samples;
    st->epoch_penalty = tr->epoch_penalty_samples == tr->epoch_samples ? tr->epoch_penalty : NAN;
    st->horizon_epochs = tr->horizon_epochs;
    st->first_loss = tr->first_loss;
    st->nslots = nslots;
    st->nscalars = gd_optimizer_nscalars(tr->cfg.optimizer);
    st->slot_len = gd_model_param_count(tr->m);
    for (int k = 0; k < nslots; k++)
        st->slots[k] = tr->slots[k];
    st->scalars = tr->scalars;
    if (tr->topt) {   /* the whole tree as one slot and its doubles (gd_optimizer_state_layout) */
        int64_t nd;
        st->nslots = 1;
        st->slots[0] = gd_optim_floats(tr->topt, &st->slot_len);
        st->scalars = gd_optim_doubles(tr->topt, &nd);
        st->nscalars = (int)nd;
    }
    st->nrecords = tr->tele.n;
    st->nlayers = gd_model_layer_count(tr->m);
    st->records = tr->tele.records;
}

gd_status gd_trainer_set_state(gd_trainer *tr, const gd_trainer_state *st, bool keep_optimizer,
                               gd_error *err)
{
    const int nslots = gd_optimizer_nslots(tr->cfg.optimizer);
    const int nscalars = gd_optimizer_nscalars(tr->cfg.optimizer);
    int64_t np = gd_model_param_count(tr->m);
    int nl = gd_model_layer_count(tr->m);
    int want_slots = nslots, want_scalars = nscalars;
    int64_t want_len = np;
    if (tr->topt) {
        want_slots = 1;
        gd_optim_floats(tr->topt, &want_len);
        int64_t nd;
        gd_optim_doubles(tr->topt, &nd);
        want_scalars = (int)nd;
    }
    if (st->epoch < 0 || st->pos < 0 || st->pos >= tr->per_epoch || st->step < 0)
        return gd_fail(err, GD_EINVAL, "train: cannot continue at epoch %lld, sample %lld of "
                       "%lld", (long long)st->epoch, (long long)st->pos, (long long)tr->per_epoch);
    /* The step count follows from the position when the batch size is the
     * same: a different data set or batch cannot continue this run. */
    int64_t want = st->epoch * tr->steps_per_epoch + (st->pos + tr->batch - 1) / tr->batch;
    if (st->step != want || st->pos % tr->batch != 0)
        return gd_fail(err, GD_EINVAL, "train: the state (step %lld, epoch %lld, sample %lld) "
                       "does not fit %lld samples in batches of %lld", (long long)st->step,
                       (long long)st->epoch, (long long)st->pos, (long long)tr->n,
                       (long long)tr->batch);
    if (st->epoch > tr->cfg.epochs || (st->epoch == tr->cfg.epochs && st->pos > 0))
        return gd_fail(err, GD_EINVAL, "train: the run is at epoch %lld; epochs must be at "
                       "least %lld", (long long)(st->epoch + (st->pos > 0)),
                       (long long)(st->epoch + (st->pos > 0)));
    if (keep_optimizer && (st->nslots != want_slots || st->nscalars != want_scalars ||
                           (st->nslots > 0 && st->slot_len != want_len)))
        return gd_fail(err, GD_EINVAL, "train: the optimizer state has %d slots of %lld and %d "
                       "scalars; optimizer '%s' needs %d of %lld and %d", st->nslots,
                       (long long)st->slot_len, st->nscalars,
                       tr->cfg.optimizer->component->name, want_slots, (long long)want_len,
                       want_scalars);
    if (st->nrecords < 0 || (st->nrecords > 0 && st->nlayers != nl))
        return gd_fail(err, GD_EINVAL, "train: telemetry records are for %d layers, the model "
                       "has %d", st->nlayers, nl);
    /* Records so far plus room for the rest of the run. */
    int64_t cap = tr->cfg.monitor_every > 0
                      ? st->nrecords + (tr->total_steps - st->step) / tr->cfg.monitor_every + 2
                      : st->nrecords;
    if (gd_telemetry_too_many(cap, nl))
        return gd_fail(err, GD_EINVAL, "train: %lld telemetry records are too many; use a "
                       "larger monitor.every", (long long)cap);
    gd_status rs = gd_telemetry_reserve(&tr->tele, tr->m, cap, err);
    if (rs != GD_OK)
        return rs;
    for (int64_t i = 0; i < st->nrecords; i++) {
        gd_layer_telemetry *layers = tr->tele.records[i].layers;
        tr->tele.records[i] = st->records[i];
        tr->tele.records[i].layers = layers;
        memcpy(layers, st->records[i].layers, (size_t)nl * sizeof *layers);
    }
    tr->tele.n = st->nrecords;
    tr->step = st->step;
    tr->epoch = st->epoch;
    tr->pos = st->pos;
    tr->epoch_seed = st->epoch_seed;
    tr->epoch_loss = st->epoch_loss;
    tr->epoch_samples = st->epoch_samples;
    /* NaN: the epoch's penalty so far is unknown (a checkpoint from before
     * it was saved), and so is the epoch's */
    bool penalty_known = !isnan(st->epoch_penalty);
    tr->epoch_penalty = penalty_known ? st->epoch_penalty : 0;
    tr->epoch_penalty_samples = penalty_known ? st->epoch_samples : 0;
    tr->first_loss = st->first_loss;
    if (tr->topt) {
        int64_t nf, nd;
        float *f = gd_optim_floats(tr->topt, &nf);
        double *d = gd_optim_doubles(tr->topt, &nd);
        if (keep_optimizer && nf)
            memcpy(f, st->slots[0], (size_t)nf * sizeof(float));
        if (keep_optimizer && nd)
            memcpy(d, st->scalars, (size_t)nd * sizeof(double));
        if (!keep_optimizer)
            gd_optim_reset(tr->topt);   /* t from 1, slots from the weights of now */
        tr->opt_step0 = keep_optimizer ? st->opt_step0 : st->step;
    } else if (keep_optimizer) {
        for (int k = 0; k < nslots; k++)
            memcpy(tr->slots[k], st->slots[k], (size_t)np * sizeof(float));
        if (nscalars)
            memcpy(tr->scalars, st->scalars, (size_t)nscalars * sizeof(double));
        tr->opt_step0 = st->opt_step0;
    } else {
        tr->opt_step0 = st->step;   /* slots and scalars are still as created: zero */
    }
    if (tr->pos > 0)
        gd_trainer_shuffle(tr);   /* this epoch's order, from the seed it was drawn with */
    return GD_OK;
}
