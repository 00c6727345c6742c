/*
 * core/run.c: the run loop (run.h). Checkpoints and the stop flag are
 * looked at between steps; a step that ends an epoch defers both to after
 * the epoch's end (validation, history), so a checkpoint never holds a
 * finished epoch without its record.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "dist.h"
#include "fs.h"
#include "optim.h"
#include "run.h"

struct gd_run {
    gd_run_config cfg;
    gd_trainer *tr;
    int64_t n, batch;
    int64_t patience, wait;
    gd_epoch_record *hist;
    int64_t cap;
    float *snap;                        /* restore_best's copy; NULL: off */
    gd_run_result res;
    gd_error err;
    gd_lock lock;                       /* the checkpoint path's, once claimed */
    bool claimed, resuming;
    double last_save;                   /* when this call started or last checkpointed */
};

double gd_run_clock(void) { return gd_clock_now(); }

static gd_status grow_history(gd_run *r, int64_t n, gd_error *err)
{
    if (n <= r->cap)
        return GD_OK;
    gd_epoch_record *h = realloc(r->hist, (size_t)n * sizeof *h);
    if (!h)
        return gd_fail(err, GD_ENOMEM, "run: out of memory");
    r->hist = h;
    r->res.epochs = h;
    r->cap = n;
    return GD_OK;
}

gd_run *gd_run_new(const gd_run_config *cfg, gd_error *err)
{
    const gd_run_settings *s = &cfg->settings;
    if (s->patience > 0 && !cfg->validation) {
        gd_fail(err, GD_EINVAL, "run: early stopping watches the validation loss: give a "
                "validation set");
        return NULL;
    }
    if (cfg->checkpoints && (!s->ckpt_path || s->ckpt_every < 0 || s->ckpt_keep < 1 ||
                             !(s->ckpt_min_interval >= 0))) {
        gd_fail(err, GD_EINVAL, "run: checkpoints need a path, every >= 0, keep >= 1 and "
                "min_interval >= 0");
        return NULL;
    }
    /* Ranks read their own clocks: they would not agree on which
     * checkpoints to write. */
    if (cfg->checkpoints && s->ckpt_min_interval > 0 && cfg->train.distributed) {
        gd_fail(err, GD_EINVAL, "run: checkpoint.min_interval is refused in a distributed run "
                "(each rank would read its own clock): use every");
        return NULL;
    }
    gd_error why;
    if (gd_run_check_data(cfg->train.train, cfg->validation, &why) != GD_OK) {
        gd_fail(err, GD_EINVAL, "run: %s", why.msg);
        return NULL;
    }
    if (cfg->checkpoints && s->ckpt_keep > GD_RUN_CKPT_KEEP_MAX) {
        gd_fail(err, GD_EINVAL, "run: checkpoint: 'keep' must be at most %d",
                GD_RUN_CKPT_KEEP_MAX);
        return NULL;
    }
    gd_run *r = calloc(1, sizeof *r);
    if (!r) {
        gd_fail(err, GD_ENOMEM, "run: out of memory");
        return NULL;
    }
    r->lock.fd = -1;
    r->cfg = *cfg;
    if (gd_run_distribute(&r->cfg.train, cfg->distribution, err) != GD_OK)
        goto fail;
    /* every rank reads a checkpoint it resumes; rank 0 alone writes */
    if (r->cfg.train.distributed && gd_dist_rank() != 0)
        r->cfg.checkpoints = false;
    if (r->cfg.train.distributed && cfg->probes) {
        gd_fail(err, GD_EINVAL, "run: monitor.probes is not supported in distributed training "
                "yet (each rank would probe its own shard)");
        goto fail;
    }
    r->cfg.settings.has_validation = cfg->validation != NULL;
    r->patience = s->patience;
    r->res.best = INFINITY;
    r->res.last_ckpt_step = -1;
    if (!(r->tr = gd_trainer_new(&r->cfg.train, err)))
        goto fail;
    /* what a checkpoint records of the data, for resuming to check */
    if (r->cfg.checkpoints &&
        (gd_dataset_identity(cfg->train.train, &r->cfg.settings.train_id, err) != GD_OK ||
         (cfg->validation &&
          gd_dataset_identity(cfg->validation, &r->cfg.settings.val_id, err) != GD_OK)))
        goto fail;
    r->n = gd_dataset_size(cfg->train.train);
    r->batch = gd_batch_size(cfg->train.batch, r->n);
    if (grow_history(r, cfg->train.epochs, err) != GD_OK)
        goto fail;
    if (s->restore_best && s->patience > 0 &&
        !(r->snap = malloc((size_t)(gd_model_state_size(cfg->train.model) + 1) *
                           sizeof(float)))) {
        gd_fail(err, GD_ENOMEM, "run: out of memory");
        goto fail;
    }
    return r;
fail:
    gd_run_free(r);
    return NULL;
}

void gd_run_free(gd_run *r)
{
    if (!r)
        return;
    gd_lock_drop(&r->lock);
    gd_trainer_free(r->tr);
    free(r->hist);
    free(r->snap);
    free(r);
}

gd_trainer *gd_run_trainer(const gd_run *r) { return r->tr; }
const gd_run_config *gd_run_config_of(const gd_run *r) { return &r->cfg; }
const gd_run_result *gd_run_result_of(const gd_run *r) { return &r->res; }

gd_status gd_run_check_data(const gd_dataset *train, const gd_dataset *val, gd_error *err)
{
    if (val && gd_dataset_features(val) != gd_dataset_features(train))
        return gd_fail(err, GD_EINVAL, "'validation' has %lld features per sample, 'data' has "
                       "%lld", (long long)gd_dataset_features(val),
                       (long long)gd_dataset_features(train));
    return GD_OK;
}

gd_status gd_run_distribute(gd_train_config *train, gd_run_distribution d, gd_error *err)
{
    bool on = train->distributed || d == GD_RUN_DIST_ON ||
              (d == GD_RUN_DIST_AUTO && gd_dist_launched() > 1);
    if (!on)
        return GD_OK;
    gd_status st = gd_dist_init(err);
    if (st == GD_OK)
        train->distributed = true;
    return st;
}

gd_status gd_run_claim(gd_run *r, gd_error *err)
{
    if (r->claimed || !r->cfg.checkpoints)
        return GD_OK;
    const char *path = r->cfg.settings.ckpt_path;
    gd_error why;
    gd_status st = gd_lock_take(&r->lock, path, &why);
    if (st != GD_OK)
        return gd_fail(err, st, "checkpoint: %s", why.msg);
    gd_remove_stale_temps(path);   /* ours to remove: we hold the path */
    if (!r->cfg.ckpt_overwrite)
        st = gd_run_check_checkpoint(r->cfg.registry, &r->cfg, r->resuming, err);
    if (st != GD_OK) {
        gd_lock_drop(&r->lock);
        return st;
    }
    r->claimed = true;
    return GD_OK;
}

static gd_status check_identity(const gd_dataset *ds, const gd_data_identity *want, bool val,
                                gd_error *err)
{
    gd_data_identity id;
    gd_status st = gd_dataset_identity(ds, &id, err);
    if (st != GD_OK)
        return st;
    if (val && (id.size != want->size || id.crc != want->crc))
        return gd_fail(err, GD_EINVAL, "the validation data is not the run's (%lld samples, "
                       "CRC %08x; the run's: %lld, %08x)", (long long)id.size, (unsigned)id.crc,
                       (long long)want->size, (unsigned)want->crc);
    if (!val && (id.size != want->size || id.features != want->features ||
                 id.classes != want->classes))
        return gd_fail(err, GD_EINVAL, "the training data is not the run's: it has %lld samples "
                       "of %lld features and %d classes, the run's had %lld, %lld and %d",
                       (long long)id.size, (long long)id.features, (int)id.classes,
                       (long long)want->size, (long long)want->features, (int)want->classes);
    if (!val && id.crc != want->crc)
        return gd_fail(err, GD_EINVAL, "the training data is not the run's: same sizes, "
                       "different values (CRC %08x, the run's %08x)", (unsigned)id.crc,
                       (unsigned)want->crc);
    return GD_OK;
}

gd_status gd_run_resume(gd_run *r, const gd_checkpoint *ck, bool fork, bool epochs_given,
                        bool *kept_optimizer, gd_error *err)
{
    gd_status st = check_identity(r->cfg.train.train, &ck->run.train_id, false, err);
    if (st == GD_OK && !fork && r->cfg.validation && ck->run.has_validation)
        st = check_identity(r->cfg.validation, &ck->run.val_id, true, err);
    if (st == GD_OK)
        st = grow_history(r, ck->progress.nepochs, err);
    if (st != GD_OK)
        return st;
    /* The same optimizer keeps its state (a new lr, say); another one
     * starts afresh from this step, and so does one of the same name with
     * other optimizers inside (lookahead's inner, sam's base). */
    char tree[sizeof ck->optimizer_tree];
    gd_optimizer_tree_names(r->cfg.train.optimizer, tree, sizeof tree);
    bool keep = strcmp(tree, ck->optimizer_tree) == 0;
    if ((st = gd_trainer_set_state(r->tr, &ck->state, keep, err)) != GD_OK)
        return st;
    if (r->cfg.train.seed != ck->seed)
        gd_model_rekey(r->cfg.train.model, r->cfg.train.seed);
    memcpy(r->hist, ck->progress.epochs, (size_t)ck->progress.nepochs * sizeof *r->hist);
    r->res.nepochs = ck->progress.nepochs;
    if (r->patience > 0 && ck->run.patience > 0) {
        r->res.best = ck->progress.best;
        r->res.best_epoch = ck->progress.best_epoch;
        r->wait = ck->progress.wait;
        if (r->snap && ck->progress.snapshot)
            memcpy(r->snap, ck->progress.snapshot,
                   (size_t)ck->progress.snapshot_len * sizeof(float));
    }
    /* A run that ended early has ended: resuming it to its own end does
     * nothing, unless given more epochs. */
    r->res.stopped = ck->progress.stopped && !epochs_given;
    if (kept_optimizer)
        *kept_optimizer = keep;
    r->resuming = true;
    return GD_OK;
}

gd_status gd_run_save(gd_run *r, const char *reason, gd_error *err)
{
    gd_run_progress p = { r->hist, r->res.nepochs, r->res.best, r->res.best_epoch, r->wait,
                          r->res.stopped, r->snap && r->res.best_epoch > 0 ? r->snap : NULL,
                          gd_model_state_size(r->cfg.train.model), r->cfg.probes };
    gd_status st = gd_checkpoint_save(r->cfg.settings.ckpt_path, r->tr, &r->cfg.settings, &p,
                                      reason, err);
    if (st == GD_OK) {
        r->res.last_ckpt_step = gd_trainer_steps_done(r->tr);
        r->last_save = gd_run_clock();
    }
    return st;
}

static gd_run_status fail(gd_run *r, gd_run_status status)
{
    r->res.status = status;
    r->res.error = status == GD_RUN_FAILED ? r->err.msg : NULL;
    return status;
}

/* The stop is agreed on (stop_requested): checkpoint (a failure is told,
 * not fatal) and stop. Distributed, rank 0 writes and tells the others. */
static gd_run_status interrupt(gd_run *r)
{
    if (r->cfg.checkpoints) {
        r->res.checkpointed = gd_run_save(r, "interrupted", &r->err) == GD_OK;
        r->res.error = r->res.checkpointed ? NULL : r->err.msg;
    }
    double lo, hi;
    if (r->cfg.train.distributed &&
        gd_dist_minmax(gd_dist_rank() == 0 ? r->res.checkpointed : -1, &lo, &hi, &r->err) ==
            GD_OK) {
        r->res.checkpointed = hi > 0;
        if (gd_dist_rank() != 0 && !r->res.checkpointed)
            r->res.error = "rank 0 could not write it (its message says why)";
    }
    r->res.status = GD_RUN_INTERRUPTED;
    return GD_RUN_INTERRUPTED;
}

/* Whether to stop after this step; sets res.signal (and signal_rank). A
 * distributed run stops on every rank after the same step, whichever rank
 * the signal reached: one rank stopping alone would leave the others in
 * MPI_Allreduce for ever. So the ranks agree, every step, on the highest
 * signal and the rank it reached. */
static bool stop_requested(gd_run *r)
{
    int local = r->cfg.stop ? *r->cfg.stop : 0;
    r->res.signal = local;
    r->res.signal_rank = -1;
    if (!r->cfg.train.distributed)
        return local != 0;
    const int size = gd_dist_size();
    double lo, hi;
    if (gd_dist_minmax(local ? (double)local * size + gd_dist_rank() : -1, &lo, &hi, &r->err) !=
        GD_OK)
        return local != 0;
    if (hi < 0)
        return false;
    r->res.signal = (int)hi / size;
    r->res.signal_rank = (int)hi % size;
    return true;
}

/* Early stopping after epoch e's validation loss. */
static void watch(gd_run *r, int64_t e, double vloss)
{
    if (r->patience <= 0)
        return;
    if (vloss < r->res.best - r->cfg.settings.min_delta) {
        r->res.best = vloss;
        r->res.best_epoch = e;
        r->wait = 0;
        if (r->snap)
            gd_model_copy_state(r->cfg.train.model, r->snap, true);
    } else if (++r->wait >= r->patience) {
        r->res.stopped = true;
        if (r->cfg.hooks.on_early_stop)
            r->cfg.hooks.on_early_stop(r->cfg.hooks.ctx, r, e);
    }
}

/* Epoch e's end: validation, the history record, on_epoch, early stopping. */
static gd_run_status end_epoch(gd_run *r, int64_t e, double t0)
{
    gd_trainer *tr = r->tr;
    const gd_run_config *c = &r->cfg;
    double lr = gd_trainer_lr_at(tr, gd_trainer_steps_done(tr) - 1, e - 1);
    double vloss = NAN, vacc = NAN, mean_loss = gd_trainer_epoch_loss(tr);
    if (c->validation && gd_model_evaluate(c->train.model, c->train.loss, c->validation,
                                           r->batch, &vloss, &vacc, &r->err) != GD_OK)
        return fail(r, GD_RUN_FAILED);
    if (grow_history(r, e, &r->err) != GD_OK)
        return fail(r, GD_RUN_FAILED);
    gd_epoch_record *rec = &r->hist[e - 1];
    *rec = (gd_epoch_record){ e, mean_loss, vloss, vacc, lr, gd_run_clock() - t0,
                              gd_trainer_epoch_penalty(tr) };
    r->res.nepochs = e;
    if (c->validation && !isfinite(vloss)) {   /* a divergence, never an "ok" run */
        char what[128];
        snprintf(what, sizeof what, "validation loss is %s after epoch %lld",
                 isnan(vloss) ? "NaN" : "infinite", (long long)e);
        gd_trainer_diverge_after(tr, e, "validation", what);
        return fail(r, GD_RUN_DIVERGED);
    }
    if (c->hooks.on_epoch) {
        bool stop = false;
        if (c->hooks.on_epoch(c->hooks.ctx, r, rec, &stop) != GD_OK)
            return fail(r, GD_RUN_ABORTED);
        r->res.stopped |= stop;
    }
    watch(r, e, vloss);
    return GD_RUN_OK;
}

/* min_interval: long enough since the run's start or the last checkpoint. */
static bool waited(const gd_run *r)
{
    double wait = r->cfg.settings.ckpt_min_interval;
    return wait <= 0 || gd_run_clock() - r->last_save >= wait;
}

static bool due_in_epoch(const gd_run *r)
{
    const gd_run_settings *s = &r->cfg.settings;
    return r->cfg.checkpoints && !s->ckpt_every_epochs && s->ckpt_every > 0 &&
           gd_trainer_steps_done(r->tr) % s->ckpt_every == 0 && waited(r);
}

static bool due_at_end(const gd_run *r, int64_t e)
{
    const gd_run_settings *s = &r->cfg.settings;
    if (!r->cfg.checkpoints || s->ckpt_every == 0)
        return false;
    return (s->ckpt_every_epochs ? e % s->ckpt_every == 0
                                 : gd_trainer_steps_done(r->tr) % s->ckpt_every == 0) &&
           waited(r);
}

/* Epoch e's steps, then its end. */
static gd_run_status run_epoch(gd_run *r, int64_t e)
{
    gd_trainer *tr = r->tr;
    const gd_run_hooks *h = &r->cfg.hooks;
    double t0 = gd_run_clock();
    int64_t k = gd_trainer_steps_done(tr) - (e - 1) * gd_trainer_steps_per_epoch(tr);
    gd_run_step ev = { .epoch = e, .first = k, .epoch_start = t0 };
    gd_step_result res = { 0 };
    gd_status st;
    gd_probe_monitor *pm = r->cfg.probes;
    for (;;) {
        int64_t done = gd_trainer_steps_done(tr);
        if (pm && gd_probe_monitor_before(pm, done, false, &r->err) != GD_OK)
            return fail(r, GD_RUN_FAILED);
        if ((st = gd_trainer_step(tr, &res, &r->err)) != GD_OK)
            return fail(r, st == GD_ENUMERIC ? GD_RUN_DIVERGED : GD_RUN_FAILED);
        if (pm && gd_probe_monitor_after(pm, done, &r->err) != GD_OK)
            return fail(r, GD_RUN_FAILED);
        k++;
        if (h->on_step) {
            ev.res = &res;
            ev.k = k;
            ev.now = gd_run_clock();
            if (h->on_step(h->ctx, r, &ev) != GD_OK)
                return fail(r, GD_RUN_ABORTED);
        }
        if (res.epoch_done)
            break;   /* checkpoints and the stop after the epoch's end */
        if (due_in_epoch(r) && gd_run_save(r, "periodic", &r->err) != GD_OK)
            return fail(r, GD_RUN_FAILED);
        if (stop_requested(r))
            return interrupt(r);
    }
    gd_run_status rs = end_epoch(r, e, t0);
    if (rs != GD_RUN_OK)
        return rs;
    bool last = e >= r->cfg.train.epochs || r->res.stopped;
    if (due_at_end(r, e) && !last && gd_run_save(r, "periodic", &r->err) != GD_OK)
        return fail(r, GD_RUN_FAILED);
    if (stop_requested(r) && !last)
        return interrupt(r);
    return GD_RUN_OK;
}

gd_run_status gd_run_execute(gd_run *r)
{
    gd_trainer *tr = r->tr;
    if (gd_run_claim(r, &r->err) != GD_OK)
        return fail(r, GD_RUN_FAILED);
    double t_run = gd_run_clock();
    r->last_save = t_run;
    int64_t first_step = gd_trainer_steps_done(tr);
    gd_run_status st = GD_RUN_OK;
    for (int64_t e = gd_trainer_epochs_done(tr) + 1;
         e <= r->cfg.train.epochs && !r->res.stopped && st == GD_RUN_OK; e++)
        st = run_epoch(r, e);
    r->res.seconds = gd_run_clock() - t_run;
    if (st != GD_RUN_OK)
        return st;
    /* The last checkpoint holds the run as it ends (the weights of its last
     * step even with restore_best, so that resuming with more epochs
     * continues from there). Not after a divergence: the previous one is
     * the last good state. Nor when this call took no step (a finished run
     * resumed): the file already holds it. Nor when the caller asked for
     * none (checkpoint.final = false). */
    int64_t done = gd_trainer_steps_done(tr);
    if (r->cfg.probes && gd_probe_monitor_before(r->cfg.probes, done, true, &r->err) != GD_OK)
        return fail(r, GD_RUN_FAILED);
    if (r->cfg.checkpoints && !r->cfg.settings.ckpt_no_final && done > first_step &&
        r->res.last_ckpt_step != done && gd_run_save(r, "final", &r->err) != GD_OK)
        return fail(r, GD_RUN_FAILED);
    if (r->snap && r->res.best_epoch > 0 && r->res.best_epoch < gd_trainer_epochs_done(tr)) {
        gd_model_copy_state(r->cfg.train.model, r->snap, false);
        r->res.restored = true;
    }
    r->res.status = GD_RUN_OK;
    r->res.seconds = gd_run_clock() - t_run;
    return GD_RUN_OK;
}
