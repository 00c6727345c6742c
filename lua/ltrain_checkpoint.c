/*
 * lua/ltrain_checkpoint.c: the checkpoint side of gd.train: the
 * `checkpoint` option (the core's run, core/run.c, writes the files), the
 * error a stop by a signal raises, and continuing a checkpoint's run
 * (gd.resume and gd.fork hand the loaded checkpoint to gd._continue,
 * lua/resume.lua).
 */
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "ltrain.h"

#include "dist.h"

static const lgd_key every_epochs_keys[] = {
    { "epochs", NULL, "required", "epochs between checkpoints",
      { .type = GD_OPT_INTEGER, .flags = GD_OPT_HAS_MIN | GD_OPT_REQUIRED, .min = 1 }, 0, NULL },
    { NULL },
};

const lgd_key lgd_checkpoint_keys[] = {
    LGD_VALUE("path", 0, "string", "required", "the file (its directory must exist)"),
    { "every", "integer >= 1 | { epochs = n }", "{ epochs = 1 }",
      "steps between checkpoints, or { epochs = n }", { 0 }, 0, every_epochs_keys },
    LGD_INT_IN("keep", 1, 1, GD_RUN_CKPT_KEEP_MAX, "the last k checkpoints kept (path, path.1, ...)"),
    LGD_BOOL("overwrite", false, "replace another run's checkpoint at path"),
    LGD_NUM("min_interval", 0, GD_OPT_HAS_MIN, 0, 0,
            "seconds a checkpoint that every makes due waits since the run's start or the last "
            "one (skipped until then; not kept in the file: give it again to gd.resume)"),
    LGD_BOOL("final", true, "write one when the run ends (false: only every's and on a signal; "
             "not kept in the file)"),
    { NULL },
};

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
    gd_value v[LGD_MAX_OPTIONS], e[LGD_MAX_OPTIONS];
    lgd_read_options(L, ci, what, lgd_checkpoint_keys, v);
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
    int every = lua_getfield(L, ci, "every");
    if (every == LUA_TTABLE) {
        lgd_read_options(L, -1, "gd.train: checkpoint.every", every_epochs_keys, e);
        r->rs.ckpt_every = e[0].u.i;
    } else if (every != LUA_TNIL) {
        static const lgd_key steps = LGD_INT("every", 1, 1, "");
        r->rs.ckpt_every = lgd_read_value(L, what, &steps).u.i;
        r->rs.ckpt_every_epochs = false;
    }
    r->rs.ckpt_keep = v[2].u.i;
    r->rs.ckpt_min_interval = v[4].u.num;
    r->rs.ckpt_no_final = !v[5].u.b;
    lua_settop(L, ci - 1);
    r->ckpt = 1;
}

/* The recipe of a data set, for the checkpoint (its bytes anchored in
 * ANCHOR[key]; the core's run records the data's identity). */
static void describe_data(lua_State *L, int idx, const char *key, unsigned char **recipe,
                          size_t *len)
{
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

static int interrupted_tostring(lua_State *L)
{
    lua_getfield(L, 1, "message");
    return 1;
}

/* The run stopped for a signal (and wrote its checkpoint if it could): end
 * the script with an error value that `gradus run` turns into its line and
 * exit status 128 + signal. */
int lgd_run_interrupt(lua_State *L, run *r)
{
    const gd_run_result *res = gd_run_result_of(r->run);
    gd_trainer *tr = gd_run_trainer(r->run);
    int sig = res->signal;
    const char *name = sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "a signal";
    /* Distributed, every rank stopped after the same step; rank 0 wrote. */
    const char *path = r->ckpt ? r->rs.ckpt_path : NULL;
    if (res->signal_rank >= 0)
        name = lua_pushfstring(L, "%s on rank %d of %d (every rank stops after the same step)",
                               name, res->signal_rank, gd_dist_size());
    lua_Integer step = (lua_Integer)gd_trainer_steps_done(tr);
    lua_Integer epoch = (lua_Integer)gd_trainer_epochs_done(tr);
    lua_createtable(L, 0, 3);
    lgd_setint(L, "signal", sig);
    if (path && res->checkpointed)
        lua_pushfstring(L, "interrupted by %s after step %I (epoch %I done): checkpoint written "
                        "to %s; resume with gd.resume(\"%s\") or gradus resume %s", name, step,
                        epoch, path, path, path);
    else if (path)
        lua_pushfstring(L, "interrupted by %s after step %I: the checkpoint could not be "
                        "written (%s)", name, step, res->error);
    else
        lua_pushfstring(L, "interrupted by %s after step %I (epoch %I done); no checkpoint: "
                        "give gd.train checkpoint = { path = ... } to be able to resume", name,
                        step, epoch);
    lua_setfield(L, -2, "message");
    lgd_setbool(L, "interrupted", 1);
    lgd_interrupt_handled();
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
        lua_getfield(L, CFG, "data");
        describe_data(L, lua_gettop(L), "train_recipe", &r->rs.train_recipe,
                      &r->rs.train_recipe_len);
        lua_pop(L, 1);
        if (r->val) {
            lua_getfield(L, CFG, "validation");
            describe_data(L, lua_gettop(L), "val_recipe", &r->rs.val_recipe,
                          &r->rs.val_recipe_len);
            lua_pop(L, 1);
        }
    }
}

/* Continue the checkpoint's run (gd.resume, gd.fork) in the core's run,
 * and say so. */
void lgd_run_restore(lua_State *L, run *r, const lgd_resume *from)
{
    gd_error err;
    gd_checkpoint *ck = from->ck;
    const char *what = from->fork ? "gd.fork" : "gd.resume";
    bool keep_optimizer;
    if (gd_run_resume(r->run, ck, from->fork, from->epochs_given, &keep_optimizer, &err) != GD_OK)
        lgd_error(L, "%s: %s", what, err.msg);
    r->kept_optimizer = keep_optimizer;
    lgd_restore_probes(L, r, ck, what);
    if (!r->progress)
        return;
    fprintf(stderr, "%s %s at step %lld (epoch %lld done%s)", from->fork ? "forking" : "resuming",
            from->path, (long long)ck->state.step, (long long)ck->state.epoch,
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
}
