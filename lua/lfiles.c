/*
 * lua/lfiles.c: paths and locks for the binding (core/fs.h), and the
 * gd._util helpers gd.report writes a whole directory with:
 *
 *   gd._util.check_path(path, what)   NUL byte, system limits
 *   gd._util.lock(path, what)         -> a lock, released by :release(),
 *                                        by <close> or when collected
 *   gd._util.temp_dir(path)           a fresh directory beside path
 *   gd._util.remove_stale(path)       temporaries killed writers left
 *   gd._util.remove_tree(path)
 *   gd._util.replace_dir(tmp, dir)    tmp becomes dir in one step, the
 *                                     old dir removed once it has
 *   gd._util.stall_point()            test hook (GRADUS_TEST_STALL_REPORT)
 *   gd._util.check_run(cfg)           gd.train's checks (ltrain_files.c)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs.h"
#include "lgradus.h"
#include "ltrain.h"

#define LGD_LOCK "gradus.lock"

const char *lgd_checkpath(lua_State *L, int idx, const char *what)
{
    size_t len;
    const char *p = luaL_checklstring(L, idx, &len);
    gd_error err;
    if (gd_path_check(p, len, what, &err) != GD_OK)
        lgd_raise(L, &err);
    return p;
}

void lgd_check_output(lua_State *L, int idx, const char *what)
{
    const char *path = lgd_checkpath(L, idx, what);
    char dir[4096], msg[512];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = 0;
        if (lgd_mkdir_p(dir, msg, sizeof msg) != 0)
            lgd_error(L, "%s: cannot create the directory for %s: %s", what, path, msg);
    }
    gd_error err;
    if (gd_output_check(path, &err) != GD_OK)
        lgd_error(L, "%s: %s", what, err.msg);
}

static int lock_release(lua_State *L)
{
    gd_lock_drop(luaL_checkudata(L, 1, LGD_LOCK));
    return 0;
}

void lgd_push_lock(lua_State *L, const char *path, const char *what)
{
    gd_lock *lk = lua_newuserdatauv(L, sizeof *lk, 0);
    lk->fd = -1;
    lk->file = NULL;
    if (luaL_newmetatable(L, LGD_LOCK)) {
        static const luaL_Reg meta[] = {
            { "__gc", lock_release }, { "__close", lock_release }, { "release", lock_release },
            { NULL, NULL },
        };
        luaL_setfuncs(L, meta, 0);
        lua_pushvalue(L, -1);
        lua_setfield(L, -2, "__index");
    }
    lua_setmetatable(L, -2);
    gd_error err;
    if (gd_lock_take(lk, path, &err) != GD_OK)
        lgd_error(L, "%s: %s", what, err.msg);
}

static int util_check_path(lua_State *L)
{
    lgd_checkpath(L, 1, luaL_checkstring(L, 2));
    return 0;
}

static int util_lock(lua_State *L)
{
    lgd_push_lock(L, lgd_checkpath(L, 1, "lock"), luaL_checkstring(L, 2));
    return 1;
}

static int util_temp_dir(lua_State *L)
{
    char *tmp = gd_temp_name(luaL_checkstring(L, 1));
    if (!tmp)
        return lgd_error(L, "out of memory");
    int e = mkdir(tmp, 0777) != 0 ? errno : 0;
    lua_pushstring(L, tmp);
    free(tmp);
    if (e)
        return lgd_error(L, "cannot create %s: %s", lua_tostring(L, -1), strerror(e));
    return 1;
}

static int util_remove_stale(lua_State *L)
{
    gd_remove_stale_temps(luaL_checkstring(L, 1));
    return 0;
}

static int util_remove_tree(lua_State *L)
{
    gd_remove_tree(luaL_checkstring(L, 1));
    return 0;
}

/* tmp and dir swapped in one step where the system can (Linux's
 * RENAME_EXCHANGE), so dir always names a whole report; else dir ->
 * dir.prev, tmp -> dir, dir.prev removed, so at every moment the old
 * directory or the new one is whole under one of the two names. */
static int util_replace_dir(lua_State *L)
{
    const char *tmp = luaL_checkstring(L, 1), *dir = luaL_checkstring(L, 2);
    lua_pushfstring(L, "%s.prev", dir);
    const char *prev = lua_tostring(L, -1);
    struct stat sb;
    int had = lstat(dir, &sb) == 0;
    if (had && !S_ISDIR(sb.st_mode))
        return lgd_error(L, "%s is %s, not a directory", dir, gd_file_kind(sb.st_mode));
#ifdef RENAME_EXCHANGE
    if (had && renameat2(AT_FDCWD, tmp, AT_FDCWD, dir, RENAME_EXCHANGE) == 0) {
        gd_remove_tree(tmp);   /* the old report, now under the temporary name */
        return 0;
    }
#endif
    gd_remove_tree(prev);
    if (had && rename(dir, prev) != 0)
        return lgd_error(L, "cannot move %s to %s: %s", dir, prev, strerror(errno));
    if (rename(tmp, dir) != 0) {
        int e = errno;
        if (had)
            rename(prev, dir);
        return lgd_error(L, "cannot move %s to %s: %s", tmp, dir, strerror(e));
    }
    gd_remove_tree(prev);
    return 0;
}

/* With GRADUS_TEST_STALL_REPORT=N the Nth call never returns: a test kills
 * the report's writer there, mid-write for certain. */
static int util_stall_point(lua_State *L)
{
    static long calls;
    const char *s = getenv("GRADUS_TEST_STALL_REPORT");
    if (s && *s && ++calls == strtol(s, NULL, 10))
        for (;;)
            pause();
    (void)L;
    return 0;
}

void lgd_files_util(lua_State *L)
{
    static const luaL_Reg fns[] = {
        { "check_path", util_check_path }, { "lock", util_lock },
        { "temp_dir", util_temp_dir }, { "remove_stale", util_remove_stale },
        { "remove_tree", util_remove_tree }, { "replace_dir", util_replace_dir },
        { "stall_point", util_stall_point }, { "check_run", lgd_check_run }, { NULL, NULL },
    };
    luaL_setfuncs(L, fns, 0);
}
