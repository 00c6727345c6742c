/*
 * lua/ldist.c: gd.train's `distributed` option and gd.dist (core/dist.h).
 *
 * distributed = true, or nothing under an MPI launcher (mpirun sets
 * OMPI_COMM_WORLD_SIZE), trains data-parallel over the ranks: `batch` is
 * the batch of all ranks together, each rank computes its shard and the C
 * step sums the gradients. Rank 0 alone prints progress and writes
 * checkpoints; every rank runs the callbacks and returns the run.
 */
#include "ltrain.h"

#include "dist.h"

/* Before the trainer is made: the option (nil: the core's default, on
 * under an MPI launcher; gd.train's reader has checked it is a boolean),
 * MPI started, and progress from rank 0 alone. The core's run keeps
 * checkpoints to rank 0 (core/run.h). */
void lgd_run_distributed(lua_State *L, run *r)
{
    int t = lua_getfield(L, CFG, "distributed");
    r->dist = t == LUA_TNIL ? GD_RUN_DIST_AUTO
              : lua_toboolean(L, -1) ? GD_RUN_DIST_ON : GD_RUN_DIST_OFF;
    lua_pop(L, 1);
    gd_error err;
    if (gd_run_distribute(&r->cfg, r->dist, &err) != GD_OK)
        lgd_error(L, "gd.train: %s", err.msg);
    if (r->cfg.distributed && gd_dist_rank() != 0)
        r->progress = 0;
}

/* gd.dist.rank(), gd.dist.size(): 0 and 1 until a distributed run. */
static int dist_rank(lua_State *L)
{
    lua_pushinteger(L, gd_dist_rank());
    return 1;
}

static int dist_size(lua_State *L)
{
    lua_pushinteger(L, gd_dist_size());
    return 1;
}

/* gd.dist.minmax(x) -> min, max of x over the ranks (every rank must call it). */
static int dist_minmax(lua_State *L)
{
    double x = luaL_checknumber(L, 1), lo, hi;
    gd_error err;
    if (gd_dist_minmax(x, &lo, &hi, &err) != GD_OK)
        return lgd_error(L, "gd.dist.minmax: %s", err.msg);
    lua_pushnumber(L, lo);
    lua_pushnumber(L, hi);
    return 2;
}

/* gd.dist.seconds(): time spent summing gradients, since the start. */
static int dist_seconds(lua_State *L)
{
    lua_pushnumber(L, gd_dist_seconds());
    return 1;
}

void lgd_open_dist(lua_State *L)
{
    static const luaL_Reg fns[] = {
        { "rank", dist_rank },
        { "size", dist_size },
        { "minmax", dist_minmax },
        { "seconds", dist_seconds },
        { NULL, NULL },
    };
    luaL_newlib(L, fns);
    lua_pushboolean(L, gd_dist_available());
    lua_setfield(L, -2, "available");
    lua_setfield(L, -2, "dist");
}
