/*
 * lua/ltrain_files.c: what gd.train checks and holds on disk before its
 * first step, so that a run never fails for a path or a shape after it has
 * begun, and never writes over another run's file:
 *
 * - every output path is one the system can hold, in a writable directory,
 *   and not a device node or FIFO; the validation set fits the data;
 * - the core's gd_run_claim (core/run.h, core/run_files.c): the checkpoint
 *   path is locked for the run's life (a second run naming it is refused at
 *   its start, naming the process that holds it), and a checkpoint already
 *   at the path must be of this run (same specs, seed, batch and data)
 *   unless checkpoint = { ..., overwrite = true }.
 *
 * gd.compare makes the same checks of every run before the first one
 * (gd._util.check_run), with the same messages.
 */
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
    gd_error err;
    if (gd_run_check_data(train, val, &err) != GD_OK)
        lgd_error(L, "gd.train: %s", err.msg);
}

void lgd_run_check_inputs(lua_State *L, const run *r)
{
    check_inputs(L, r->cfg.train, r->val);
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

void lgd_run_claim(lua_State *L, run *r)
{
    gd_error err;
    if (gd_run_claim(r->run, &err) != GD_OK)
        lgd_error(L, "gd.train: %s", err.msg);
}
