/*
 * lua/lsweep.c: what a sweep needs from the system, in gd._util:
 *
 *   read_file(path, cap)      -> text | nil, message: a regular file of at
 *                                most cap bytes, opened without blocking (a
 *                                FIFO or a device is refused, never read)
 *   write_file(path, text [, no_dir_sync]) -> true | nil, message: written
 *                                beside path, fsync'd, renamed over it,
 *                                directory fsync'd (unless no_dir_sync)
 *   sync_dir(path)            -> true | nil, message: path's directory fsync'd
 *   hostname(), pid(), self_exe(), realpath(path), builtin_dir()
 *   run(argv)                 -> output, exit status: a command without a
 *                                shell (sbatch, squeue), stdout captured
 *   spawn_workers(cmds, on_line [, env [, shared_fd]]) -> { exit statuses }, signal: the workers
 *                                as children in a process group of their own
 *                                that die with this process (SIGTERM when it
 *                                dies, SIGKILL included; SIGINT and SIGTERM
 *                                sent to it are passed on); each line they
 *                                write to stdout goes to on_line(line); env:
 *                                { "NAME=value", ... } added to their
 *                                environment where it does not set NAME
 *   rebuild_cached(recipe)    gd.data.rebuild, base sets loaded once per
 *                                process (lua/ldata_rebuild.c)
 *   rebuild_seed(recipe, ds)  ds, handed over by the sweep, is what the
 *                                source recipe builds (lua/ldata_rebuild.c)
 *   log_to(path), log_restore(), status(line): a worker's stdout and
 *                                stderr into a trial's log; status lines to
 *                                the stdout it was started with
 *
 * Test hook: GRADUS_TEST_ENOSPC=N makes the Nth write_file fail with
 * ENOSPC, where a full file system cannot be mounted.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fs.h"
#include "ldata.h"
#include "lgradus.h"

static int push_fail(lua_State *L, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    lua_pushnil(L);
    lua_pushvfstring(L, fmt, ap);
    va_end(ap);
    return 2;
}

/* gd._util.read_file(path, cap) */
static int util_read_file(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    lua_Integer cap = luaL_checkinteger(L, 2);
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return push_fail(L, "%s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        int e = errno;
        close(fd);
        return S_ISREG(sb.st_mode) ? push_fail(L, "%s: %s", path, strerror(e))
                                   : push_fail(L, "%s: is %s, expected a regular file", path,
                                               gd_file_kind(sb.st_mode));
    }
    if (sb.st_size > cap) {
        close(fd);
        return push_fail(L, "%s: %I bytes, more than the %I bytes a file of this kind may have",
                         path, (lua_Integer)sb.st_size, cap);
    }
    /* the buffer is the file's size (plus one byte to see it grow), never
     * the cap: most files are far smaller than their cap */
    size_t want = (size_t)sb.st_size + 1;
    luaL_Buffer b;
    char *p = luaL_buffinitsize(L, &b, want);
    size_t n = 0;
    while (n < want) {
        ssize_t r = read(fd, p + n, want - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            return push_fail(L, "%s: %s", path, strerror(e));
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    if (n == want)
        return push_fail(L, "%s: grew while it was read", path);
    luaL_pushresultsize(&b, n);
    return 1;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* The injected failure of GRADUS_TEST_ENOSPC (0: none). */
static int injected_failure(void)
{
    static long calls;
    const char *s = getenv("GRADUS_TEST_ENOSPC");
    return s && *s && ++calls == strtol(s, NULL, 10) ? ENOSPC : 0;
}

/* fsync of the directory holding path: 0 or errno. */
static int sync_dir_of(const char *path)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *(slash == dir ? slash + 1 : slash) = 0;
    int dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return errno;
    int e = fsync(dfd) != 0 && errno != EINVAL ? errno : 0;
    close(dfd);
    return e;
}

/* gd._util.write_file(path, text [, no_dir_sync]): nothing reaches path unless every byte
 * reached the disk first, so a reader sees the old file or the whole new
 * one, after a crash too. */
static int util_write_file(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    size_t len;
    const char *text = luaL_checklstring(L, 2, &len);
    const char *tmp = lua_pushfstring(L, "%s.tmp-%d", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
        return push_fail(L, "cannot write %s: %s", path, strerror(errno));
    int e = injected_failure();
    if (!e && (write_all(fd, text, len) != 0 || fsync(fd) != 0))
        e = errno;
    if (close(fd) != 0 && !e)
        e = errno;
    if (!e && rename(tmp, path) != 0)
        e = errno;
    if (e) {
        unlink(tmp);
        return push_fail(L, "cannot write %s: %s", path, strerror(e));
    }
    /* the rename itself reaches the disk with the directory (unless the
     * caller syncs the directory once after several files) */
    if (!lua_toboolean(L, 3) && (e = sync_dir_of(path)) != 0)
        return push_fail(L, "cannot write %s: %s", path, strerror(e));
    lua_pushboolean(L, 1);
    return 1;
}

/* gd._util.sync_dir(path): the directory holding path to disk (its
 * renames durable) -> true | nil, message */
static int util_sync_dir(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    int e = sync_dir_of(path);
    if (e)
        return push_fail(L, "cannot sync the directory of %s: %s", path, strerror(e));
    lua_pushboolean(L, 1);
    return 1;
}

static int util_hostname(lua_State *L)
{
    char h[256] = { 0 };
    if (gethostname(h, sizeof h - 1) != 0)
        snprintf(h, sizeof h, "unknown");
    lua_pushstring(L, h);
    return 1;
}

static int util_pid(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)getpid());
    return 1;
}

static int util_realpath(lua_State *L)
{
    char *p = realpath(luaL_checkstring(L, 1), NULL);
    if (!p)
        return push_fail(L, "%s: %s", lua_tostring(L, 1), strerror(errno));
    lua_pushstring(L, p);
    free(p);
    return 1;
}

/* gd._util.builtin_dir() -> the built-in plugins' directory (real path) | nil */
static int util_builtin_dir(lua_State *L)
{
    const char *d = gd_registry_builtin_dir();
    char *p = d ? realpath(d, NULL) : NULL;
    if (!p)
        return 0;
    lua_pushstring(L, p);
    free(p);
    return 1;
}

static int util_self_exe(lua_State *L)
{
    char p[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", p, sizeof p - 1);
    if (n <= 0)
        return 0;
    lua_pushlstring(L, p, (size_t)n);
    return 1;
}

/* The argv of the table at idx, in a userdata (freed with it): strings
 * only, at most 65536 of them. */
static char **checkargv(lua_State *L, int idx)
{
    luaL_checktype(L, idx, LUA_TTABLE);
    lua_Integer n = luaL_len(L, idx);
    if (n < 1 || n > 65536)
        luaL_error(L, "a command needs 1 to 65536 arguments");
    char **argv = lua_newuserdatauv(L, (size_t)(n + 1) * sizeof *argv, 0);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_geti(L, idx, i);
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "argument %d of a command is not a string", (int)i);
        argv[i - 1] = (char *)lua_tostring(L, -1);   /* the table keeps it alive */
        lua_pop(L, 1);
    }
    argv[n] = NULL;
    return argv;
}

static int exit_code(int status)
{
    return WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 1;
}

/* gd._util.run(argv): stdout, exit status (127: could not start). */
static int util_run(lua_State *L)
{
    char **argv = checkargv(L, 1);
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0)
        return luaL_error(L, "pipe: %s", strerror(errno));
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pfd[1], 1);
        int devnull = open("/dev/null", O_RDWR);
        if (devnull >= 0) {
            dup2(devnull, 0);
            dup2(devnull, 2);
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    close(pfd[1]);
    if (pid < 0) {
        close(pfd[0]);
        return luaL_error(L, "fork: %s", strerror(errno));
    }
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    char buf[4096];
    ssize_t r;
    while ((r = read(pfd[0], buf, sizeof buf)) != 0) {
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            break;
        luaL_addlstring(&b, buf, (size_t)r);
    }
    close(pfd[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    luaL_pushresult(&b);
    lua_pushinteger(L, exit_code(status));
    return 2;
}

/* ---------------------------------------------------------------------------
 * Workers
 * ------------------------------------------------------------------------- */

static volatile sig_atomic_t workers_pgid, parent_signal;

static void pass_on(int sig)
{
    if (!parent_signal)
        parent_signal = sig;
    if (workers_pgid > 0)
        kill(-(pid_t)workers_pgid, SIGTERM);
}

/* This process's environment plus the "NAME=value" strings of the table at
 * idx whose NAME it does not set, and `forced` ("NAME=value" or NULL) in
 * place of any NAME it sets, in a userdata (the table and the caller keep
 * the strings alive); built before fork, where the child may not allocate. */
static char **child_environ(lua_State *L, int idx, const char *forced)
{
    extern char **environ;
    size_t total = 0, have = 0, forced_name = forced ? strcspn(forced, "=") + 1 : 0;
    while (environ[total])
        total++;
    lua_Integer extra = lua_isnoneornil(L, idx) ? 0 : luaL_len(L, idx);
    if (extra < 0 || extra > 64)
        luaL_error(L, "spawn_workers: at most 64 environment entries");
    char **env = lua_newuserdatauv(L, (total + (size_t)extra + 2) * sizeof *env, 0);
    for (size_t i = 0; i < total; i++)
        if (!forced || strncmp(environ[i], forced, forced_name) != 0)
            env[have++] = environ[i];
    if (forced)
        env[have++] = (char *)forced;
    for (lua_Integer i = 1; i <= extra; i++) {
        /* a string only: lua_tostring would turn a number into one in the
         * popped copy, not in the table that keeps the bytes alive */
        const char *kv = lua_geti(L, idx, i) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        const char *eq = kv ? strchr(kv, '=') : NULL;
        if (!eq || eq == kv)
            luaL_error(L, "spawn_workers: environment entry %d is not NAME=value", (int)i);
        lua_pop(L, 1);
        char name[256];
        size_t len = (size_t)(eq - kv);
        if (len >= sizeof name)
            luaL_error(L, "spawn_workers: environment entry %d has too long a name", (int)i);
        memcpy(name, kv, len);
        name[len] = '\0';
        if (!getenv(name))
            env[have++] = (char *)kv;
    }
    env[have] = NULL;
    return env;
}

/* gd._util.spawn_workers({ argv, ... }, on_line [, env [, shared_fd]]):
 * runs them all at once, calls on_line(line) for each line of their stdout,
 * waits for all. shared_fd (from share_data) is left open in each worker
 * and named by GRADUS_SHARED_DATA. Returns { exit status of each }, and the
 * signal this process got (0). */
static int util_spawn_workers(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    if (!lua_isnoneornil(L, 3))
        luaL_checktype(L, 3, LUA_TTABLE);
    int shared = -1;
    if (!lua_isnoneornil(L, 4)) {
        lua_Integer fd = luaL_checkinteger(L, 4);
        luaL_argcheck(L, fd >= 0 && fd <= INT_MAX && fcntl((int)fd, F_GETFD) >= 0, 4,
                      "not an open descriptor");
        shared = (int)fd;
    }
    lua_settop(L, 4);
    char forced[48];
    snprintf(forced, sizeof forced, "GRADUS_SHARED_DATA=%d", shared);
    char **env = child_environ(L, 3, shared >= 0 ? forced : NULL);
    int n = (int)luaL_len(L, 1);
    if (n < 1 || n > 1024)
        return luaL_error(L, "spawn_workers: 1 to 1024 workers");
    pid_t *pids = lua_newuserdatauv(L, (size_t)n * sizeof *pids, 0);
    /* every command checked before anything starts: no error below
     * leaves a worker alone or a handler installed */
    char ***argvs = lua_newuserdatauv(L, (size_t)n * sizeof *argvs, 0);
    luaL_checkstack(L, 2 * n, "too many workers");
    for (int i = 0; i < n; i++) {
        lua_geti(L, 1, i + 1);
        argvs[i] = checkargv(L, lua_gettop(L));   /* its userdata stays on the stack */
    }
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0)
        return luaL_error(L, "pipe: %s", strerror(errno));
    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = pass_on;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    parent_signal = 0;
    workers_pgid = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    pid_t parent = getpid();
    int started = 0, spawn_errno = 0;
    for (int i = 0; i < n && !parent_signal; i++) {
        char **argv = argvs[i];
        pid_t pgid = (pid_t)workers_pgid;
        pid_t pid = fork();
        if (pid == 0) {
            /* only async-signal-safe calls from here to exec */
            signal(SIGINT, SIG_DFL);
            signal(SIGTERM, SIG_DFL);
            setpgid(0, pgid);
            prctl(PR_SET_PDEATHSIG, SIGTERM);
            if (getppid() != parent)   /* the parent died before prctl */
                _exit(128 + SIGTERM);
            dup2(pfd[1], 1);
            int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
            if (devnull > 0)
                dup2(devnull, 0);   /* the copy at 0 stays open across the exec */
            else if (devnull == 0)
                fcntl(0, F_SETFD, 0);
            if (shared >= 0)
                fcntl(shared, F_SETFD, 0);   /* this one descriptor crosses the exec */
            execvpe(argv[0], argv, env);
            _exit(127);
        }
        if (pid < 0) {
            spawn_errno = errno;
            break;
        }
        setpgid(pid, pgid);   /* both sides, so neither races the other */
        if (!workers_pgid)
            workers_pgid = pid;
        pids[started++] = pid;
    }
    close(pfd[1]);
    if ((parent_signal || spawn_errno) && workers_pgid)
        kill(-(pid_t)workers_pgid, SIGTERM);   /* none goes on alone */
    /* Lines until every worker has closed the pipe. */
    char buf[4096];
    size_t have = 0;
    char *acc = NULL;
    ssize_t r;
    while ((r = read(pfd[0], buf, sizeof buf)) != 0) {
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            break;
        char *grown = realloc(acc, have + (size_t)r);
        if (!grown)
            break;
        acc = grown;
        memcpy(acc + have, buf, (size_t)r);
        have += (size_t)r;
        size_t start = 0;
        for (size_t k = 0; k < have; k++) {
            if (acc[k] != '\n')
                continue;
            lua_pushvalue(L, 2);
            lua_pushlstring(L, acc + start, k - start);
            if (lua_pcall(L, 1, 0, 0) != LUA_OK)
                lua_pop(L, 1);   /* a logging error must not orphan workers */
            start = k + 1;
        }
        memmove(acc, acc + start, have - start);
        have -= start;
        if (have > (1 << 20))   /* a line that never ends: dropped, not hoarded */
            have = 0;
    }
    free(acc);
    close(pfd[0]);
    lua_createtable(L, started, 0);
    for (int i = 0; i < started; i++) {
        int status = 0;
        while (waitpid(pids[i], &status, 0) < 0 && errno == EINTR) {
        }
        lua_pushinteger(L, exit_code(status));
        lua_rawseti(L, -2, i + 1);
    }
    workers_pgid = 0;
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    if (spawn_errno)
        return luaL_error(L, "cannot start a worker: %s", strerror(spawn_errno));
    lua_pushinteger(L, parent_signal);
    return 2;
}

/* A worker's own stdout, kept for status lines while 1 and 2 go to logs. */
static int status_fd = -1, saved_err = -1;

static int util_log_to(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    fflush(stdout);
    fflush(stderr);
    if (status_fd < 0) {
        status_fd = fcntl(1, F_DUPFD_CLOEXEC, 3);
        saved_err = fcntl(2, F_DUPFD_CLOEXEC, 3);
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
        return push_fail(L, "cannot write %s: %s", path, strerror(errno));
    dup2(fd, 1);
    dup2(fd, 2);
    close(fd);
    lua_pushboolean(L, 1);
    return 1;
}

static int util_log_restore(lua_State *L)
{
    (void)L;
    fflush(stdout);
    fflush(stderr);
    if (status_fd >= 0) {
        dup2(status_fd, 1);
        dup2(saved_err, 2);
    }
    return 0;
}

/* One line (newlines in it made spaces) to the worker's status output. */
static int util_status(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    luaL_Buffer b;
    char *p = luaL_buffinitsize(L, &b, n + 1);
    for (size_t i = 0; i < n; i++)
        p[i] = s[i] == '\n' || s[i] == '\r' ? ' ' : s[i];
    p[n] = '\n';
    luaL_pushresultsize(&b, n + 1);
    size_t len;
    const char *line = lua_tolstring(L, -1, &len);
    fflush(stdout);
    write_all(status_fd >= 0 ? status_fd : 1, line, len);
    return 0;
}

void lgd_sweep_util(lua_State *L)
{
    static const luaL_Reg fns[] = {
        { "read_file", util_read_file }, { "write_file", util_write_file },
        { "sync_dir", util_sync_dir },
        { "hostname", util_hostname }, { "pid", util_pid }, { "self_exe", util_self_exe },
        { "realpath", util_realpath }, { "builtin_dir", util_builtin_dir },
        { "run", util_run }, { "spawn_workers", util_spawn_workers },
        { "log_to", util_log_to }, { "log_restore", util_log_restore },
        { "status", util_status }, { "rebuild_cached", lgd_data_rebuild_cached },
        { "rebuild_seed", lgd_data_rebuild_seed },
        { NULL, NULL },
    };
    luaL_setfuncs(L, fns, 0);
}
