/*
 * core/run_files.c: "is the checkpoint at this path of the same run?"
 * (declared in run.h). A run is its model's structure and layer specs, its loss,
 * optimizer, schedule, regularizers, clip, batch, seed and data; the
 * number of epochs is not (resuming to more epochs continues the run).
 */
#include <string.h>
#include <sys/stat.h>

#include "run.h"

static bool same_spec(const gd_spec *a, const gd_spec *b)
{
    if (!a || !b)
        return a == b;
    gd_buf x = { 0 }, y = { 0 };
    gd_put_spec(&x, a);
    gd_put_spec(&y, b);
    bool same = !x.oom && !y.oom && x.n == y.n && memcmp(x.p, y.p, x.n) == 0;
    gd_buf_free(&x);
    gd_buf_free(&y);
    return same;
}

static bool same_identity(const gd_data_identity *a, const gd_data_identity *b)
{
    return a->size == b->size && a->features == b->features &&
           a->target_width == b->target_width && a->classes == b->classes && a->crc == b->crc;
}

static bool same_model(gd_model *a, gd_model *b)
{
    const gd_shape *ia = gd_model_input_shape(a), *ib = gd_model_input_shape(b);
    int n = gd_model_layer_count(a);
    if (n != gd_model_layer_count(b) || !gd_model_same_structure(a, b) || ia->ndim != ib->ndim ||
        memcmp(ia->dim, ib->dim, (size_t)ia->ndim * sizeof ia->dim[0]) != 0)
        return false;
    for (int i = 0; i < n; i++)
        if (!same_spec(gd_model_layer_spec(gd_model_layer_at(a, i)),
                       gd_model_layer_spec(gd_model_layer_at(b, i))))
            return false;
    return true;
}

/* What makes the checkpoint another run than cfg's, or NULL. */
static const char *run_difference(const gd_checkpoint *ck, const gd_run_config *cfg)
{
    const gd_train_config *c = &cfg->train;
    const gd_run_settings *s = &cfg->settings;
    if (!same_model(ck->model, c->model))
        return "the model";
    if (!same_spec(ck->loss, c->loss))
        return "the loss";
    if (!same_spec(ck->optimizer, c->optimizer))
        return "the optimizer";
    if (!same_spec(ck->schedule, c->schedule))
        return "the schedule";
    bool regs = ck->nregularizers == c->nregularizers;
    for (int i = 0; regs && i < c->nregularizers; i++)
        regs = same_spec(ck->regularizers[i], c->regularizers[i]);
    if (!regs)
        return "the regularizers";
    if (ck->clip != c->clip || (c->clip && ck->clip_value != c->clip_value))
        return "clip";
    if (ck->batch != c->batch)
        return "the batch size";
    if (ck->seed != c->seed)
        return "the seed";
    if (!same_identity(&ck->run.train_id, &s->train_id))
        return "the training data";
    if (ck->run.has_validation != s->has_validation ||
        (s->has_validation && !same_identity(&ck->run.val_id, &s->val_id)))
        return "the validation data";
    return NULL;
}

/* A finished run (all its epochs, or stopped early) of another length than
 * this one: its result would be replaced by a shorter or restarted run. */
static bool finished_elsewhere(const gd_checkpoint *ck, int64_t epochs, int64_t *done)
{
    *done = ck->state.epoch;
    return (ck->state.epoch >= ck->epochs || ck->progress.stopped) && ck->epochs != epochs;
}

gd_status gd_run_check_checkpoint(const gd_registry *reg, const gd_run_config *cfg,
                                  bool resuming, gd_error *err)
{
    const char *path = cfg->settings.ckpt_path;
    const int64_t epochs = cfg->train.epochs;
    struct stat sb;
    if (stat(path, &sb) != 0)
        return GD_OK;
    if (!reg)
        return gd_fail(err, GD_EINVAL, "checkpoint: not writing over %s, which this run cannot "
                       "read (no registry given to check it is this run's)", path);
    gd_error why;
    gd_checkpoint *ck = gd_checkpoint_load(reg, path, &why);
    if (!ck)
        return gd_fail(err, GD_EINVAL, "checkpoint: not writing over %s, which is not a "
                       "checkpoint this run can replace (%s); give checkpoint = { ..., "
                       "overwrite = true } to replace it", path, why.msg);
    const char *diff = run_difference(ck, cfg);
    int64_t done = 0;
    bool finished = !diff && !resuming && finished_elsewhere(ck, epochs, &done);
    gd_checkpoint_free(ck);
    if (diff)
        return gd_fail(err, GD_EINVAL, "checkpoint: %s holds another run (%s differs); give "
                       "checkpoint = { ..., overwrite = true } to replace it, or another path",
                       path, diff);
    if (finished && epochs > done)
        return gd_fail(err, GD_EINVAL, "checkpoint: %s holds this run, finished after %lld "
                       "epochs; not starting it over: resume it to train on (gd.resume(\"%s\", "
                       "{ epochs = %lld }), or gradus resume %s %lld), give another path, or "
                       "checkpoint = { ..., overwrite = true } to replace it", path,
                       (long long)done, path, (long long)epochs, path, (long long)epochs);
    if (finished)
        return gd_fail(err, GD_EINVAL, "checkpoint: %s holds this run, finished after %lld "
                       "epochs; a run of %lld epochs would replace it: give another path, or "
                       "checkpoint = { ..., overwrite = true } to replace it", path,
                       (long long)done, (long long)epochs);
    return GD_OK;
}
