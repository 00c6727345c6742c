/*
 * lua/llib.c: the Lua-written parts of the module and the helpers they need.
 *
 * gd.compare, gd.report, gd.plot and the diagnoses are table work and text
 * formatting, clearer in Lua than in C; they are embedded at build time
 * (lua/embed.c) and preloaded as gradus.stats, gradus.json, ... so the
 * module needs no Lua search path. What Lua cannot do portably (mkdir -p,
 * SHA-256, which plugins and BLAS are in use) is in gd._util here.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lgradus.h"
#include "llib.h"
#include "model.h"
#include "sha256.h"
#include "threads.h"

static int load_embedded(lua_State *L)
{
    const lgd_embedded *e = lua_touserdata(L, lua_upvalueindex(1));
    char chunk[96];
    snprintf(chunk, sizeof chunk, "=[gradus] %s", e->name);
    if (luaL_loadbuffer(L, e->source, e->len, chunk) != LUA_OK)
        return lua_error(L);
    lua_pushstring(L, e->name);
    lua_call(L, 1, 1);
    return 1;
}

/* mkdir -p: 0, or -1 with a message in msg (the part that failed). */
int lgd_mkdir_p(const char *path, char *msg, size_t cap)
{
    char buf[4096];
    if (strlen(path) >= sizeof buf) {
        snprintf(msg, cap, "path too long");
        return -1;
    }
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1;; p++) {
        char c = *p;
        if (c != '/' && c != 0)
            continue;
        *p = 0;
        struct stat sb;
        if (stat(buf, &sb) != 0) {
            if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
                snprintf(msg, cap, "%s: %s", buf, strerror(errno));
                return -1;
            }
        } else if (!S_ISDIR(sb.st_mode)) {
            snprintf(msg, cap, "%s is not a directory", buf);
            return -1;
        }
        *p = c;
        if (c == 0)
            break;
    }
    return 0;
}

/* gd._util.mkdir_p(path) -> true | nil, message */
static int util_mkdir_p(lua_State *L)
{
    char msg[512];
    if (lgd_mkdir_p(luaL_checkstring(L, 1), msg, sizeof msg) != 0) {
        lua_pushnil(L);
        lua_pushstring(L, msg);
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* gd._util.sha256(path) -> hex | nil */
static int util_sha256(lua_State *L)
{
    char hex[65];
    if (gd_sha256_file(luaL_checkstring(L, 1), hex) != 0)
        lua_pushnil(L);
    else
        lua_pushstring(L, hex);
    return 1;
}

/* gd._util.plugins() -> { { file, plugin, version, abi, sha256, components = {...} }, ... } */
static int util_plugins(lua_State *L)
{
    gd_registry *reg = lgd_registry(L);
    lua_newtable(L);
    int n = 0;
    const char *last = NULL;
    for (int i = 0; i < gd_registry_count(reg); i++) {
        const gd_entry *e = gd_registry_at(reg, i);
        if (!last || strcmp(last, e->file) != 0) {
            if (last)
                lua_pop(L, 2); /* components, plugin table */
            last = e->file;
            lua_newtable(L);
            lgd_setstr(L, "file", e->file);
            lgd_setstr(L, "plugin", e->plugin);
            lgd_setstr(L, "version", e->version);
            lua_pushfstring(L, "%d.%d", (int)e->abi_major, (int)e->abi_minor);
            lua_setfield(L, -2, "abi");
            char hex[65];
            if (gd_sha256_file(e->file, hex) == 0)
                lgd_setstr(L, "sha256", hex);
            lua_pushvalue(L, -1);
            lua_rawseti(L, -3, ++n);
            lua_newtable(L);
            lua_pushvalue(L, -1);
            lua_setfield(L, -3, "components");
        }
        lua_pushfstring(L, "%s.%s", gd_kind_short_name(e->component->kind), e->component->name);
        lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
    }
    if (last)
        lua_pop(L, 2);
    return 1;
}

static int util_threads(lua_State *L)
{
    lua_pushinteger(L, gd_get_threads());
    return 1;
}

/* gd._util.cores() -> the cores online (a sweep's default number of jobs) */
static int util_cores(lua_State *L)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    lua_pushinteger(L, n > 0 ? n : 1);
    return 1;
}

static int util_blas(lua_State *L)
{
    lua_pushstring(L, gd_blas_description());
    return 1;
}

/* gd._util.embedded(name) -> the source of an embedded file | nil
 * (gradus benchmark keys its cache by a shipped problem's text). */
static int util_embedded(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    for (const lgd_embedded *e = lgd_embedded_sources; e->name; e++) {
        if (strcmp(e->name, name) == 0) {
            lua_pushlstring(L, e->source, e->len);
            return 1;
        }
    }
    lua_pushnil(L);
    return 1;
}

void lgd_open_lib(lua_State *L)
{
    /* package.preload[name] = loader, for every embedded file */
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "preload");
    for (const lgd_embedded *e = lgd_embedded_sources; e->name; e++) {
        lua_pushlightuserdata(L, (void *)e);
        lua_pushcclosure(L, load_embedded, 1);
        lua_setfield(L, -2, e->name);
    }
    lua_pop(L, 2);

    static const luaL_Reg util[] = {
        { "mkdir_p", util_mkdir_p },
        { "sha256", util_sha256 },
        { "plugins", util_plugins },
        { "threads", util_threads },
        { "blas", util_blas },
        { "cores", util_cores },
        { "embedded", util_embedded },
        { "hold_interrupts", lgd_util_hold_interrupts },
        { "interrupt_pending", lgd_util_interrupt_pending },
        { NULL, NULL },
    };
    luaL_newlib(L, util);
    lgd_files_util(L);
    lgd_sweep_util(L);
    lgd_shared_data_util(L);
    lua_setfield(L, -2, "_util");

    /* require("gradus.glue")(gd) */
    lua_getglobal(L, "require");
    lua_pushliteral(L, "gradus.glue");
    lua_call(L, 1, 1);
    lua_pushvalue(L, -2);
    lua_call(L, 1, 0);
}
