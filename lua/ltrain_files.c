/*
 * lua/ltrain_files.c: what gd.train checks and holds on disk before its
 * first step, so that a run never fails for a path or a shape after it has
 * begun, and never writes over another run's file:
 *
 * - every output path is one the system can hold, in a writable directory,
 *   and not a device node or FIFO; the validation set fits the data;
 * - the checkpoint path is locked for the run's life (a second run naming
 *   it is refused at its start, naming the process that holds it);
 * - a checkpoint already at the path must be of this run (same specs, seed,
 *   batch and data) unless checkpoint = { ..., overwrite = true }.
 *
 * gd.compare makes the same checks of every run before the first one
 * (gd._util.check_run), with the same messages.
 */
#include <string.h>
#include <sys/stat.h>

#include "fs.h"
#include "ltrain.h"

void lgd_check_checkpoint_path(lua_State *L, int ci, const char *what)
{
    if (lua_getfield(L, ci, "path") != LUA_TSTRING || lua_rawlen(L, -1) == 0)
        lgd_error(L, "%s: 'path' must be a non-empty string (e.g. \"out/run.ckpt\")", what);
    lgd_check_output(L, lua_gettop(L), what);
    lua_pop(L, 1);
}

static void check_inputs(lua_State *L, const gd_dataset *train, const gd_dataset *val)
{
    if (val && gd_dataset_features(val) != gd_dataset_features(train))
        lgd_error(L, "gd.train: 'validation' has %lld features per sample, 'data' has %lld",
                  (long long)gd_dataset_features(val), (long long)gd_dataset_features(train));
}

/* gd._util.check_run(cfg): gd.train's checks of its inputs and output paths
 * on a table of gd.train options, without building anything. */
int lgd_check_run(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_getfield(L, 1, "data");
    lua_getfield(L, 1, "validation");
    const gd_dataset *train = lgd_testdataset(L, -2), *val = lgd_testdataset(L, -1);
    if (train)
        check_inputs(L, train, val);
    if (lua_getfield(L, 1, "checkpoint") == LUA_TTABLE && !lgd_testspec(L, -1))
        lgd_check_checkpoint_path(L, lua_gettop(L), "gd.train: checkpoint");
    return 0;
}

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
        if (!same_spec(gd_model_layer_spec(gd_model_layer_at(a, i)), gd_model_layer_spec(gd_model_layer_at(b, i))))
            return false;
    return true;
}

/* What makes the checkpoint another run than r, or NULL: a resume (or the
 * same script run again) is the same run; a new number of epochs is too. */
static const char *run_difference(gd_checkpoint *ck, const run *r)
{
    const gd_train_config *c = &r->cfg;
    if (!same_model(ck->model, r->m))
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
    if (!same_identity(&ck->run.train_id, &r->rs.train_id))
        return "the training data";
    if (ck->run.has_validation != r->rs.has_validation ||
        (r->rs.has_validation && !same_identity(&ck->run.val_id, &r->rs.val_id)))
        return "the validation data";
    return NULL;
}

static void check_same_run(lua_State *L, const run *r)
{
    const char *path = r->rs.ckpt_path;
    struct stat sb;
    lua_getfield(L, ANCHOR, "ckpt_overwrite");
    int overwrite = lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (overwrite || stat(path, &sb) != 0)
        return;
    gd_error err;
    gd_checkpoint *ck = gd_checkpoint_load(lgd_registry(L), path, &err);
    bool loaded = ck != NULL;
    const char *diff = ck ? run_difference(ck, r) : NULL;
    gd_checkpoint_free(ck);
    if (!loaded)
        lgd_error(L, "gd.train: checkpoint: not writing over %s, which is not a checkpoint "
                  "this run can replace (%s); give checkpoint = { ..., overwrite = true } to "
                  "replace it", path, err.msg);
    if (diff)
        lgd_error(L, "gd.train: checkpoint: %s holds another run (%s differs); give "
                  "checkpoint = { ..., overwrite = true } to replace it, or another path",
                  path, diff);
}

void lgd_run_claim(lua_State *L, run *r)
{
    check_inputs(L, r->cfg.train, r->val);
    if (!r->ckpt)
        return;
    /* To-be-closed: released however the run ends, an error included. */
    lgd_push_lock(L, r->rs.ckpt_path, "gd.train: checkpoint");
    lua_toclose(L, -1);
    gd_remove_stale_temps(r->rs.ckpt_path);
    check_same_run(L, r);
}
