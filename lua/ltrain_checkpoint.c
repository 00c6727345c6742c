/*
 * lua/ltrain_checkpoint.c: the checkpoint side of gd.train: the
 * `checkpoint` option, writing a checkpoint of the running trainer, the
 * stop after a signal, and continuing a checkpoint's run (gd.resume and
 * gd.fork hand the C gd.train the loaded checkpoint in a second argument,
 * which it keeps as _resume in its own copy of the options).
 */
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "ltrain.h"

static const char *const checkpoint_keys[] = { "path", "every", "keep", "overwrite", NULL };

/* checkpoint = { path =, every = N | { epochs = N }, keep = K } or false. */
static void parse_checkpoint(lua_State *L, run *r)
{
    const char *what = "gd.train: checkpoint";
    int t = lua_getfield(L, CFG, "checkpoint");
    if (t == LUA_TNIL || (t == LUA_TBOOLEAN && !lua_toboolean(L, -1))) {
        lua_pop(L, 1);
        return;
    }
    int ci = lua_gettop(L);
    if (t != LUA_TTABLE || lgd_testspec(L, ci))
        lgd_error(L, "%s must be { path = \"...\", every = n | { epochs = n }, keep = k }", what);
    lua_pushnil(L);
    while (lua_next(L, ci)) {
        lua_pop(L, 1);
        const char *k = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "?";
        int ok = 0;
        for (int i = 0; checkpoint_keys[i]; i++)
            ok |= strcmp(k, checkpoint_keys[i]) == 0;
        if (!ok)
            lgd_error(L, "%s: unknown option '%s' (options: path, every, keep, overwrite)",
                      what, k);
    }
    lgd_check_checkpoint_path(L, ci, what);
    lua_getfield(L, ci, "overwrite");
    lua_setfield(L, ANCHOR, "ckpt_overwrite");
    lua_getfield(L, ci, "path");
    lua_setfield(L, ANCHOR, "ckpt_path");
    lua_getfield(L, ANCHOR, "ckpt_path");
    r->rs.ckpt_path = (char *)lua_tostring(L, -1);
    lua_pop(L, 1);
    r->rs.ckpt_every = 1;
    r->rs.ckpt_every_epochs = true;
    if (lua_getfield(L, ci, "every") == LUA_TTABLE) {
        r->rs.ckpt_every = lgd_field_int(L, lua_gettop(L), what, "epochs", 0, 1);
        if (r->rs.ckpt_every == 0)
            lgd_error(L, "%s: 'every' must be a number of steps or { epochs = n }", what);
    } else if (!lua_isnil(L, -1)) {
        r->rs.ckpt_every = lgd_field_int(L, ci, what, "every", 1, 1);
        r->rs.ckpt_every_epochs = false;
    }
    lua_pop(L, 1);
    r->rs.ckpt_keep = lgd_field_int(L, ci, what, "keep", 1, 1);
    if (r->rs.ckpt_keep > 100)
        lgd_error(L, "%s: 'keep' must be at most 100", what);
    lua_settop(L, ci - 1);
    r->ckpt = 1;
}

/* Identity and recipe of a data set, for the checkpoint (recipe bytes are
 * anchored in ANCHOR[key]). */
static void describe_data(lua_State *L, int idx, const gd_dataset *ds, const char *key,
                          gd_data_identity *id, unsigned char **recipe, size_t *len)
{
    gd_error err;
    if (gd_dataset_identity(ds, id, &err) != GD_OK)
        lgd_raise(L, &err);
    if (!lgd_dataset_push_recipe(L, idx)) {
        lua_pop(L, 1);
        return;
    }
    gd_buf b = { 0 };
    lgd_encode_recipe(L, -1, &b);
    lua_pop(L, 1);
    if (b.oom) {
        gd_buf_free(&b);
        lgd_error(L, "gd.train: out of memory");
    }
    lua_pushlstring(L, (const char *)b.p, b.n);
    gd_buf_free(&b);
    lua_setfield(L, ANCHOR, key);
    lua_getfield(L, ANCHOR, key);
    *recipe = (unsigned char *)lua_tolstring(L, -1, len);
    lua_pop(L, 1);
}

static double field_num(lua_State *L, int idx, const char *k)
{
    lua_getfield(L, idx, k);
    double v = lua_isnumber(L, -1) ? lua_tonumber(L, -1) : NAN;
    lua_pop(L, 1);
    return v;
}

/* Write a checkpoint now. A failure ends the run as "failed" (the caller
 * asked for checkpoints: carrying on without them would be worse). */
gd_status lgd_run_save_checkpoint(lua_State *L, run *r, const char *reason, gd_error *err)
{
    lua_Integer ne = (lua_Integer)lua_rawlen(L, EPOCHS);
    gd_epoch_record *recs = calloc((size_t)ne + 1, sizeof *recs);
    if (!recs)
        return gd_fail(err, GD_ENOMEM, "checkpoint: out of memory");
    for (lua_Integer i = 1; i <= ne; i++) {
        lua_rawgeti(L, EPOCHS, i);
        gd_epoch_record *e = &recs[i - 1];
        e->epoch = (int64_t)field_num(L, -1, "epoch");
        e->train_loss = field_num(L, -1, "train_loss");
        e->val_loss = field_num(L, -1, "val_loss");
        e->val_accuracy = field_num(L, -1, "val_accuracy");
        e->lr = field_num(L, -1, "lr");
        e->seconds = field_num(L, -1, "seconds");
        lua_pop(L, 1);
    }
    gd_run_progress p = { recs, ne, r->best, r->best_epoch, r->wait, r->stopped != 0,
                          r->snap && r->best_epoch > 0 ? r->snap : NULL,
                          gd_model_state_size(r->m) };
    gd_status st = gd_checkpoint_save(r->rs.ckpt_path, r->tr, &r->rs, &p, reason, err);
    free(recs);
    if (st == GD_OK)
        r->last_ckpt_step = gd_trainer_steps_done(r->tr);
    return st;
}

static int interrupted_tostring(lua_State *L)
{
    lua_getfield(L, 1, "message");
    return 1;
}

/* A signal arrived: checkpoint, then end the script with an error value
 * that `gradus run` turns into its line and exit status 128 + signal. */
int lgd_run_interrupt(lua_State *L, run *r)
{
    int sig = lgd_interrupted();
    const char *name = sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "a signal";
    int64_t step = gd_trainer_steps_done(r->tr), epoch = gd_trainer_epochs_done(r->tr);
    gd_error err;
    lua_createtable(L, 0, 3);
    lgd_setint(L, "signal", sig);
    if (r->ckpt && lgd_run_save_checkpoint(L, r, "interrupted", &err) == GD_OK)
        lua_pushfstring(L, "interrupted by %s after step %I (epoch %I done): checkpoint written "
                        "to %s; resume with gd.resume(\"%s\") or gradus resume %s", name,
                        (lua_Integer)step, (lua_Integer)epoch, r->rs.ckpt_path, r->rs.ckpt_path,
                        r->rs.ckpt_path);
    else if (r->ckpt)
        lua_pushfstring(L, "interrupted by %s after step %I: the checkpoint could not be "
                        "written (%s)", name, (lua_Integer)step, err.msg);
    else
        lua_pushfstring(L, "interrupted by %s after step %I (epoch %I done); no checkpoint: "
                        "give gd.train checkpoint = { path = ... } to be able to resume", name,
                        (lua_Integer)step, (lua_Integer)epoch);
    lua_setfield(L, -2, "message");
    lgd_setbool(L, "interrupted", 1);
    if (luaL_newmetatable(L, "gradus.interrupted")) {
        lua_pushcfunction(L, interrupted_tostring);
        lua_setfield(L, -2, "__tostring");
    }
    lua_setmetatable(L, -2);
    return lua_error(L);
}

/* The checkpoint option, and what a checkpoint of this run records
 * beyond the trainer: name, early stopping settings, the data's identity
 * and recipes. */
void lgd_run_checkpoints(lua_State *L, run *r)
{
    parse_checkpoint(L, r);
    if (r->ckpt) {
        lua_getfield(L, CFG, "name");
        if (lua_type(L, -1) == LUA_TSTRING) {
            lua_setfield(L, ANCHOR, "name");
            lua_getfield(L, ANCHOR, "name");
            r->rs.name = (char *)lua_tostring(L, -1);
        }
        lua_pop(L, 1);
        r->rs.patience = r->patience;
        r->rs.min_delta = r->min_delta;
        r->rs.restore_best = r->restore_best != 0;
        r->rs.has_validation = r->val != NULL;
        lua_getfield(L, CFG, "data");
        describe_data(L, lua_gettop(L), r->cfg.train, "train_recipe", &r->rs.train_id,
                      &r->rs.train_recipe, &r->rs.train_recipe_len);
        lua_pop(L, 1);
        if (r->val) {
            lua_getfield(L, CFG, "validation");
            describe_data(L, lua_gettop(L), r->val, "val_recipe", &r->rs.val_id,
                          &r->rs.val_recipe, &r->rs.val_recipe_len);
            lua_pop(L, 1);
        }
    }
}

/* Continue the checkpoint's run (gd.resume, gd.fork): its state into the
 * new trainer, its history and early-stopping state into the run. */
void lgd_run_restore(lua_State *L, run *r, gd_checkpoint *ck, int fork_mode)
{
    gd_error err;
    gd_data_identity id;
    const gd_data_identity *want = &ck->run.train_id;
    const char *what = fork_mode ? "gd.fork" : "gd.resume";
    if (gd_dataset_identity(r->cfg.train, &id, &err) != GD_OK)
        lgd_raise(L, &err);
    if (id.size != want->size || id.features != want->features || id.classes != want->classes)
        lgd_error(L, "%s: the training data is not the run's: it has %lld samples of %lld "
                  "features and %d classes, the run's had %lld, %lld and %d", what,
                  (long long)id.size, (long long)id.features, (int)id.classes,
                  (long long)want->size, (long long)want->features, (int)want->classes);
    if (id.crc != want->crc)
        lgd_error(L, "%s: the training data is not the run's: same sizes, different values "
                  "(CRC %08x, the run's %08x)", what, (unsigned)id.crc, (unsigned)want->crc);
    if (!fork_mode && r->val && ck->run.has_validation) {
        if (gd_dataset_identity(r->val, &id, &err) != GD_OK)
            lgd_raise(L, &err);
        if (id.size != ck->run.val_id.size || id.crc != ck->run.val_id.crc)
            lgd_error(L, "gd.resume: the validation data is not the run's (%lld samples, CRC "
                      "%08x; the run's: %lld, %08x)", (long long)id.size, (unsigned)id.crc,
                      (long long)ck->run.val_id.size, (unsigned)ck->run.val_id.crc);
    }
    /* The same optimizer keeps its state (a new lr, say); another one
     * starts afresh from this step. */
    bool keep_optimizer = strcmp(r->cfg.optimizer->component->name, ck->optimizer_name) == 0;
    if (gd_trainer_set_state(r->tr, &ck->state, keep_optimizer, &err) != GD_OK)
        lgd_error(L, "%s: %s", what, err.msg);
    if (r->cfg.seed != ck->seed)
        gd_model_rekey(r->m, r->cfg.seed);
    if (r->progress) {
        lua_getfield(L, CFG, "_path");
        fprintf(stderr, "%s %s at step %lld (epoch %lld done%s)", fork_mode ? "forking" : "resuming",
                lua_tostring(L, -1), (long long)ck->state.step, (long long)ck->state.epoch,
                ck->state.pos ? ", mid-epoch" : "");
        if (r->ckpt)
            fprintf(stderr, "; checkpoints to %s", r->rs.ckpt_path);
        else
            fprintf(stderr, "; no checkpoints");
        if (!keep_optimizer)
            fprintf(stderr, "; %s starts afresh", r->cfg.optimizer->component->name);
        if (r->cfg.schedule && r->cfg.epochs > ck->state.horizon_epochs)
            fprintf(stderr, "; the schedule keeps the horizon of %lld epochs it started with",
                    (long long)ck->state.horizon_epochs);
        fputc('\n', stderr);
        lua_pop(L, 1);
    }
    for (int64_t i = 0; i < ck->progress.nepochs; i++) {
        lgd_push_epoch(L, &ck->progress.epochs[i]);
        lua_rawseti(L, EPOCHS, (lua_Integer)i + 1);
    }
    if (r->patience > 0 && ck->run.patience > 0) {
        r->best = ck->progress.best;
        r->best_epoch = ck->progress.best_epoch;
        r->wait = ck->progress.wait;
        if (r->snap && ck->progress.snapshot)
            memcpy(r->snap, ck->progress.snapshot,
                   (size_t)ck->progress.snapshot_len * sizeof(float));
    }
    /* A run that ended early has ended: resuming it to its own end does
     * nothing, unless given more epochs. */
    lua_getfield(L, CFG, "_epochs_given");
    r->stopped = ck->progress.stopped && !lua_toboolean(L, -1);
    lua_pop(L, 1);
}
