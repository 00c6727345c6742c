/*
 * cli/main.c: the `gradus` command.
 *
 *   gradus [-l PLUGIN.so]... [--threads N] run SCRIPT [ARGS]
 *   gradus list [KIND]      gradus doc NAME      gradus version
 *   gradus inspect FILE     (a checkpoint or a model file)
 *   gradus resume FILE [EPOCHS]
 *   gradus sweep [SWEEP OPTIONS] SCRIPT [ARGS]   gradus collect DIR [OUTDIR]
 *   gradus trial FILE...    (a sweep's worker: runs trial files, never a script)
 *   gradus report DIR [DIR...]  (index.html again from saved results)
 *
 * `run` is a Lua 5.4 interpreter with the gradus module preloaded, so a
 * script's `require "gradus"` gets the same module a stock lua5.4 would load
 * from gradus.so (and the same registry, with the -l plugins in it). The
 * script sees `arg` and `...` as under `lua`. `list` and `doc` read the
 * plugin registry, whose option schemas are the documentation.
 *
 * Results go to stdout; errors to stderr as one line "gradus: ...", plus the
 * Lua traceback for a script error; any error exits non-zero. SIGINT or
 * SIGTERM during a run's training ends it after the current step (with a
 * checkpoint when it has them) and exits with 128 + the signal number.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "bench.h"
#include "blas.h"
#include "check.h"
#include "lapi.h"
#include "lgradus.h"
#include "model.h"
#include "threads.h"

#define MAX_PLUGINS 64

typedef struct cli {
    const char *plugins[MAX_PLUGINS];
    int nplugins;
    int threads;              /* -1: not given */
    const char *command;
    int argc, first;          /* argv[first..argc) are the command's arguments */
    char **argv;
    int script;               /* run: index of SCRIPT in argv */
} cli;

static const char usage[] =
    "usage: gradus [OPTIONS] COMMAND [ARGS]\n"
    "\n"
    "commands:\n"
    "  run SCRIPT [ARGS]   run a Lua experiment (require \"gradus\"; ARGS in `arg` and ...)\n"
    "  list [KIND]         list the components the plugins provide\n"
    "  doc NAME            everything about one component: NAME, or KIND.NAME when the\n"
    "                      name exists in several kinds (gradus doc sched.constant);\n"
    "                      or the keys of a Lua call or table: train, compare, report,\n"
    "                      plot, resume, fork, model, data, data.text, data.csv, history,\n"
    "                      results, probe, tensor\n"
    "  resume FILE [EPOCHS]  continue a checkpoint's run (to its end, or to EPOCHS)\n"
    "  sweep [OPTS] SCRIPT [ARGS]  run SCRIPT with each gd.compare as a sweep of processes:\n"
    "                      --backend local|slurm, --jobs N, --dir DIR, --name NAME, --resume,\n"
    "                      --partition P, --account A, --time T, --cpus N, --array-limit N\n"
    "  trial FILE...       run a sweep's trial files (DIR/TRIAL/trial.json), those not done\n"
    "                      and not held by another worker; what a sweep's workers run\n"
    "  benchmark [OPTS] OPTIMIZER...  tuned optimizers against tuned sgd, momentum and adam\n"
    "                      on the shipped problems (gradus benchmark --help)\n"
    "  collect DIR [OUTDIR]  a sweep's results from its directory: the report table (and\n"
    "                      gd.report's files in OUTDIR); names missing or corrupt trials\n"
    "  report DIR [DIR...]  rebuild DIR/index.html from the results gd.report saved there;\n"
    "                      several DIRs are merged into one page (written to the first)\n"
    "  inspect FILE        what a checkpoint (or a model file) holds: where the run\n"
    "                      stands, its settings, plugins, data and history\n"
    "  version             print the versions of gradus, its plugin ABI and Lua, and the\n"
    "                      sgemm backend in use (GRADUS_BLAS)\n"
    "  bench mlp|cnn|transformer|optim|gemm|probes|peak  training throughput against\n"
    "                      the FMA peak and the sgemm alone, optimizer cost, sgemm backends,\n"
    "                      the cost of each probe in training steps, the FMA peak's loop\n"
    "                      alone (bench mlp --help, bench transformer --help, bench peak --help)\n"
    "  new KIND NAME [--tensor]  write a skeleton plugin NAME.c of that kind (and a\n"
    "                      meson.build); --tensor: a tensor-aware optimizer\n"
    "  check PLUGIN.so...  run the conformance checks on plugins ([--timeout S] per check)\n"
    "\n"
    "options:\n"
    "  -l PLUGIN.so        load an extra plugin (repeatable)\n"
    "  --threads N         threads for the linear algebra (default $GRADUS_THREADS, else\n"
    "                      all cores)\n"
    "  -h, --help          show this help\n"
    "\n"
    "kinds: layer, loss, optimizer (optim), scheduler (sched), regularizer (reg),\n"
    "       initializer (init)\n"
    "plugins load from the built-in directory, then ~/.local/lib/gradus/plugins,\n"
    "then each directory of $GRADUS_PLUGIN_PATH (colon-separated), then -l\n";

static int fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("gradus: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return EXIT_FAILURE;
}

/* A message for fail(): the module's own errors already start with
 * "gradus: ", which fail() adds. */
static const char *unprefixed(const char *msg)
{
    return msg && strncmp(msg, "gradus: ", 8) == 0 ? msg + 8 : msg;
}

/* ---------------------------------------------------------------------------
 * Arguments
 * ------------------------------------------------------------------------- */

/* Options may come before the command and, except after run's SCRIPT,
 * after it. Returns 0 on success, or an exit status. */
static int parse(cli *c, int argc, char **argv, int *done)
{
    memset(c, 0, sizeof *c);
    c->threads = -1;
    c->argc = argc;
    c->argv = argv;
    *done = 0;
    int rest = 0;  /* positional arguments of the command */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (c->script)
            break;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage, stdout);
            *done = 1;
            return EXIT_SUCCESS;
        } else if (strcmp(a, "-l") == 0 || strncmp(a, "-l", 2) == 0) {
            const char *p = a[2] ? a + 2 : (i + 1 < argc ? argv[++i] : NULL);
            if (!p)
                return fail("-l needs a plugin file (gradus -l lion.so ...)");
            if (c->nplugins == MAX_PLUGINS)
                return fail("too many -l plugins (at most %d)", MAX_PLUGINS);
            c->plugins[c->nplugins++] = p;
        } else if (strcmp(a, "--threads") == 0 || strncmp(a, "--threads=", 10) == 0) {
            const char *v = a[9] == '=' ? a + 10 : (i + 1 < argc ? argv[++i] : NULL);
            if (!v || !gd_threads_parse(v, &c->threads))
                return fail("--threads needs a number of threads in 0..4096 (0: all cores), "
                            "got '%s'", v ? v : "");
        } else if (a[0] == '-' && a[1]) {
            return fail("unknown option '%s' (see gradus --help)", a);
        } else if (!c->command) {
            c->command = a;
            c->first = i + 1;
            if (strcmp(a, "sweep") == 0 || strcmp(a, "benchmark") == 0)
                break;   /* their options are read by gradus.sweep, gradus.benchmark */
        } else {
            if (strcmp(c->command, "run") == 0)
                c->script = i;
            rest++;
        }
    }
    (void)rest;
    if (!c->command) {
        fputs(usage, stderr);
        return EXIT_FAILURE;
    }
    return 0;
}

/* Positional arguments of list/doc (options removed). */
static int positionals(const cli *c, const char **out, int max)
{
    int n = 0;
    for (int i = c->first; i < c->argc; i++) {
        const char *a = c->argv[i];
        if (strcmp(a, "-l") == 0 || strcmp(a, "--threads") == 0) {
            i++;
            continue;
        }
        if (a[0] == '-' && a[1])
            continue;
        if (n < max)
            out[n] = a;
        n++;
    }
    return n;
}

/* ---------------------------------------------------------------------------
 * The Lua state
 * ------------------------------------------------------------------------- */

/* Protected: require "gradus" (creating the registry with the built-in and
 * GRADUS_PLUGIN_PATH plugins), then load the -l plugins. */
static int setup(lua_State *L)
{
    const cli *c = lua_touserdata(L, 1);
    luaL_openlibs(L);
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushcfunction(L, luaopen_gradus);
    lua_setfield(L, -2, "gradus");
    lua_pop(L, 1);
    lua_getglobal(L, "require");
    lua_pushstring(L, "gradus");
    lua_call(L, 1, 0);
    gd_registry *reg = lgd_registry(L);
    for (int i = 0; i < c->nplugins; i++) {
        gd_error err;
        if (gd_registry_load(reg, c->plugins[i], &err) != GD_OK)
            return luaL_error(L, "%s", err.msg);
    }
    return 0;
}

/* gd.train's error value after a signal: { interrupted = true, signal =,
 * message = } (lua/ltrain.c). */
static int interrupted_signal(lua_State *L, int idx)
{
    if (!lua_istable(L, idx))
        return 0;
    idx = lua_absindex(L, idx);
    lua_getfield(L, idx, "interrupted");
    lua_getfield(L, idx, "signal");
    int sig = lua_toboolean(L, -2) ? (int)lua_tointeger(L, -1) : 0;
    lua_pop(L, 2);
    return sig;
}

/* The traceback of a script's error through the script's own frames: the
 * module's embedded chunks ("=[gradus] ...") and C functions are how
 * gradus works, not where the user went wrong. GRADUS_DEBUG=1 shows all. */
static void user_traceback(lua_State *L, const char *msg)
{
    const char *debug = getenv("GRADUS_DEBUG");
    if (debug && strcmp(debug, "1") == 0) {
        luaL_traceback(L, L, msg, 1);
        return;
    }
    lua_Debug ar;
    int hidden = 0;
    for (int level = 1; lua_getstack(L, level, &ar); level++) {
        lua_getinfo(L, "S", &ar);
        hidden += *ar.what == 'C' || strncmp(ar.source, "=[gradus]", 9) == 0;
    }
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    luaL_addstring(&b, msg);
    luaL_addstring(&b, hidden ? "\nstack traceback (GRADUS_DEBUG=1 shows gradus's own frames):"
                              : "\nstack traceback:");
    for (int level = 1; lua_getstack(L, level, &ar); level++) {
        lua_getinfo(L, "Sln", &ar);
        if (*ar.what == 'C' || strncmp(ar.source, "=[gradus]", 9) == 0)
            continue;
        if (*ar.namewhat)
            lua_pushfstring(L, "\n\t%s:%d: in %s '%s'", ar.short_src, ar.currentline,
                            ar.namewhat, ar.name);
        else if (*ar.what == 'm')
            lua_pushfstring(L, "\n\t%s:%d: in main chunk", ar.short_src, ar.currentline);
        else
            lua_pushfstring(L, "\n\t%s:%d: in function <%s:%d>", ar.short_src,
                            ar.currentline, ar.short_src, ar.linedefined);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
}

static int msghandler(lua_State *L)
{
    if (interrupted_signal(L, 1))
        return 1;   /* no traceback: the run was stopped, nothing went wrong */
    const char *msg = lua_tostring(L, 1);
    if (!msg) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
            return 1;
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    user_traceback(L, msg);
    return 1;
}

/* ---------------------------------------------------------------------------
 * gradus list / doc
 * ------------------------------------------------------------------------- */

static void print_kind_header(gd_kind k)
{
    printf("%s (gd.%s)\n", gd_kind_name(k), gd_kind_short_name(k));
}

static int cmd_list(const gd_registry *reg, const char *kind_name)
{
    gd_kind only = (gd_kind)0;
    if (kind_name && !(only = gd_kind_from_name(kind_name)))
        return fail("unknown kind '%s' (kinds: layer, loss, optimizer, scheduler, regularizer, "
                    "initializer; or optim, sched, reg, init)", kind_name);
    int n = gd_registry_count(reg), width = 8;
    for (int i = 0; i < n; i++) {
        int w = (int)strlen(gd_registry_at(reg, i)->component->name);
        if (w > width)
            width = w;
    }
    int printed = 0;
    for (int k = 1; k <= GD_KIND_COUNT; k++) {
        if (only && k != (int)only)
            continue;
        int header = 0;
        for (int i = 0; i < n; i++) {
            const gd_component *c = gd_registry_at(reg, i)->component;
            if ((int)c->kind != k)
                continue;
            if (!header) {
                if (printed)
                    putchar('\n');
                print_kind_header((gd_kind)k);
                header = 1;
            }
            printf("  %-*s  %s\n", width, c->name, c->doc ? c->doc : "");
            printed++;
        }
        if (only && !header)
            printf("no %s components loaded\n", gd_kind_name((gd_kind)k));
    }
    if (!only && !printed)
        printf("no components loaded (built-in plugin dir: %s)\n",
               gd_registry_builtin_dir() ? gd_registry_builtin_dir() : "unknown");
    return EXIT_SUCCESS;
}

/* A component default with options ("sgd{lr=0.01}", ABI 1.1) as the Lua
 * a user would write: gd.optim.sgd{ lr = 0.01 }. */
static void format_spec_default(const gd_option_spec *o, char *buf, size_t len)
{
    const char *d = o->def_str, *brace = strchr(d, '{');
    size_t used = (size_t)snprintf(buf, len, "gd.%s.%.*s{ ", gd_kind_short_name(o->kind),
                                   (int)(brace - d), d);
    for (const char *p = brace + 1; *p && *p != '}' && used + 4 < len; p++)
        used += (size_t)snprintf(buf + used, len - used, *p == '=' ? " = " : *p == ',' ? ", " : "%c",
                                 *p);
    if (used + 3 < len)
        snprintf(buf + used, len - used, " }");
}

static void format_default(const gd_option_spec *o, char *buf, size_t len)
{
    if (o->flags & GD_OPT_REQUIRED) {
        snprintf(buf, len, "required");
        return;
    }
    if (o->flags & GD_OPT_OPTIONAL) {
        snprintf(buf, len, "(none)");
        return;
    }
    switch (o->type) {
    case GD_OPT_NUMBER: snprintf(buf, len, "%.10g", o->def); break;
    case GD_OPT_INTEGER: snprintf(buf, len, "%lld", (long long)o->def); break;
    case GD_OPT_BOOLEAN: snprintf(buf, len, "%s", o->def != 0 ? "true" : "false"); break;
    case GD_OPT_ENUM:
        snprintf(buf, len, "\"%s\"", o->def_str ? o->def_str : o->choices[0]);
        break;
    case GD_OPT_STRING:
        snprintf(buf, len, o->def_str ? "\"%s\"" : "(none)", o->def_str);
        break;
    case GD_OPT_INTS:
        if (!o->def_str)
            snprintf(buf, len, "(none)");
        else if (strchr(o->def_str, ',') || !(o->def_str[0] == '-' || isdigit((unsigned char)o->def_str[0])))
            snprintf(buf, len, strchr(o->def_str, ',') ? "{ %s }" : "\"%s\"", o->def_str);
        else
            snprintf(buf, len, "%s", o->def_str);
        break;
    case GD_OPT_COMPONENT:
        if (o->def_str && strchr(o->def_str, '{'))
            format_spec_default(o, buf, len);
        else
            snprintf(buf, len, "%s", o->def_str ? o->def_str : "(none)");
        break;
    }
}

static void format_type(const gd_option_spec *o, char *buf, size_t len)
{
    /* an enum's value is written as a string */
    snprintf(buf, len, "%s", o->type == GD_OPT_ENUM ? "string" : gd_option_type_name(o));
}

static void format_allowed(const gd_option_spec *o, char *buf, size_t len)
{
    buf[0] = 0;
    if (o->type == GD_OPT_ENUM) {
        size_t used = 0;
        for (int k = 0; o->choices[k] && used < len; k++)
            used += (size_t)snprintf(buf + used, len - used, "%s%s", k ? " | " : "",
                                     o->choices[k]);
    } else if (o->type == GD_OPT_COMPONENT) {
        snprintf(buf, len, "gd.%s spec or name", gd_kind_short_name(o->kind));
    } else if (o->type == GD_OPT_INTS) {
        char b[64] = "";
        gd_option_bounds(o, b, sizeof b);
        size_t used = (size_t)snprintf(buf, len, "1 to 4 integers %s", b);
        for (int k = 0; o->choices && o->choices[k] && used < len; k++)
            used += (size_t)snprintf(buf + used, len - used, " | %s", o->choices[k]);
    } else if (!gd_option_bounds(o, buf, len)) {
        snprintf(buf, len, "%s", o->type == GD_OPT_BOOLEAN ? "true | false" : "any");
    }
}

/* A line showing where the spec goes. */
static void print_usage(const gd_component *c)
{
    const char *k = gd_kind_short_name(c->kind), *n = c->name;
    switch (c->kind) {
    case GD_KIND_OPTIMIZER:
        printf("  gd.train{ ..., optimizer = gd.%s.%s{ ... } }\n", k, n);
        printf("  local opt = gd.%s.%s{ ... }:build{ x }  opt:step{ g }   -- by hand\n", k, n);
        break;
    case GD_KIND_SCHEDULER:
        printf("  gd.train{ ..., schedule = gd.%s.%s{ ... } }  -- scales the optimizer's lr\n",
               k, n);
        printf("  gd.%s.%s{ ... }:lr(t, base_lr)                -- its value at update t\n",
               k, n);
        break;
    case GD_KIND_LAYER:
        printf("  gd.sequential{ ..., gd.%s.%s{ ... }, ... }\n", k, n);
        printf("  local l = gd.%s.%s{ ... }:build{ inputs = n or { C, H, W }, seed = 1 }  -- by hand\n", k, n);
        break;
    case GD_KIND_LOSS:
        printf("  gd.train{ ..., loss = gd.%s.%s{ ... } }\n", k, n);
        printf("  local l = gd.%s.%s{}:build{}  l:forward(pred, target)  l:backward()\n", k, n);
        break;
    case GD_KIND_REGULARIZER:
        printf("  gd.train{ ..., regularizers = { gd.%s.%s{ ... } } }\n", k, n);
        printf("  local r = gd.%s.%s{ ... }:build{}  r:penalty(W)  r:grad(W)\n", k, n);
        break;
    case GD_KIND_INITIALIZER:
        printf("  gd.layer.dense{ units = 10, init = gd.%s.%s{ ... } }  (or init = \"%s\")\n", k,
               n, n);
        break;
    }
}

static void print_doc(const gd_entry *e)
{
    const gd_component *c = e->component;
    printf("%s.%s: %s\n", gd_kind_short_name(c->kind), c->name, gd_kind_name(c->kind));
    printf("  %s\n\n", c->doc && *c->doc ? c->doc : "(no description)");
    printf("usage\n");
    printf("  local s = gd.%s.%s{", gd_kind_short_name(c->kind), c->name);
    int n = gd_spec_option_count(c), shown = 0;
    for (int i = 0; i < n && shown < 3; i++) {
        const gd_option_spec *o = gd_spec_option(c, i);
        if (i >= c->noptions && !(o->flags & GD_OPT_REQUIRED))
            continue;
        char d[64];
        format_default(o, d, sizeof d);
        if (o->flags & (GD_OPT_REQUIRED | GD_OPT_OPTIONAL))
            snprintf(d, sizeof d, "...");
        else if (o->type == GD_OPT_COMPONENT && o->def_str && strchr(o->def_str, '{'))
            format_spec_default(o, d, sizeof d);
        else if (o->type == GD_OPT_COMPONENT)
            snprintf(d, sizeof d, "\"%s\"", o->def_str ? o->def_str : "...");
        printf("%s %s = %s", shown ? "," : "", o->name, d);
        shown++;
    }
    printf("%s}\n", shown ? " " : "");
    print_usage(c);
    printf("\n");
    if (n == 0) {
        printf("options\n  none\n\n");
    } else {
        int wn = 4, wt = 4, wd = 7, wa = 7;
        char buf[256];
        for (int i = 0; i < n; i++) {
            const gd_option_spec *o = gd_spec_option(c, i);
            int w = (int)strlen(o->name);
            wn = w > wn ? w : wn;
            format_type(o, buf, sizeof buf);
            wt = (int)strlen(buf) > wt ? (int)strlen(buf) : wt;
            format_default(o, buf, sizeof buf);
            wd = (int)strlen(buf) > wd ? (int)strlen(buf) : wd;
            format_allowed(o, buf, sizeof buf);
            wa = (int)strlen(buf) > wa ? (int)strlen(buf) : wa;
        }
        printf("options\n  %-*s  %-*s  %-*s  %-*s  %s\n", wn, "name", wt, "type", wd, "default",
               wa, "allowed", "meaning");
        for (int i = 0; i < n; i++) {
            const gd_option_spec *o = gd_spec_option(c, i);
            char t[64], d[128], a[256];
            format_type(o, t, sizeof t);
            format_default(o, d, sizeof d);
            format_allowed(o, a, sizeof a);
            printf("  %-*s  %-*s  %-*s  %-*s  %s", wn, o->name, wt, t, wd, d, wa, a,
                   o->doc ? o->doc : "");
            if (i >= c->noptions)
                printf(" (every %s has it)", gd_kind_name(c->kind));
            putchar('\n');
        }
        printf("\n");
        printf("  integer options accept integral floats (10.0) and refuse others (10.5);\n"
               "  an unknown or misspelled option is an error, never ignored\n\n");
    }
    printf("file\n  %s\n  plugin %s %s, ABI %u.%u\n", e->file, e->plugin, e->version,
           e->abi_major, e->abi_minor);
}

static int cmd_doc(lua_State *L, const gd_registry *reg, const char *name)
{
    if (lgd_doc_page(L, name)) {   /* gd.train's keys and the like (lua/lapi.c) */
        fputs(lua_tostring(L, -1), stdout);
        lua_pop(L, 1);
        return EXIT_SUCCESS;
    }
    const char *dot = strchr(name, '.');
    if (dot) {
        char kind_name[32];
        size_t kl = (size_t)(dot - name);
        if (kl >= sizeof kind_name)
            kl = sizeof kind_name - 1;
        memcpy(kind_name, name, kl);
        kind_name[kl] = 0;
        gd_kind kind = gd_kind_from_name(kind_name);
        if (!kind)
            return fail("unknown kind '%s' in '%s' (kinds: layer, loss, optimizer, scheduler, "
                        "regularizer, initializer; or optim, sched, reg, init)", kind_name, name);
        const gd_entry *e = gd_registry_find(reg, kind, dot + 1);
        if (!e) {
            gd_error err;
            gd_registry_fail_unknown(reg, kind, dot + 1, &err);
            return fail("%s", err.msg);
        }
        print_doc(e);
        return EXIT_SUCCESS;
    }
    const gd_entry *found[GD_KIND_COUNT];
    int nfound = 0, n = gd_registry_count(reg);
    for (int i = 0; i < n && nfound < GD_KIND_COUNT; i++) {
        const gd_entry *e = gd_registry_at(reg, i);
        if (strcmp(e->component->name, name) == 0)
            found[nfound++] = e;
    }
    if (nfound == 1) {
        print_doc(found[0]);
        return EXIT_SUCCESS;
    }
    if (nfound > 1) {
        char list[512];
        size_t used = 0;
        for (int i = 0; i < nfound && used < sizeof list; i++)
            used += (size_t)snprintf(list + used, sizeof list - used, "%s%s.%s",
                                     i ? ", " : "", gd_kind_short_name(found[i]->component->kind),
                                     name);
        return fail("'%s' is ambiguous: %s; write KIND.NAME, e.g. gradus doc %s.%s", name, list,
                    gd_kind_short_name(found[nfound - 1]->component->kind), name);
    }
    if (gd_kind_from_name(name))
        return cmd_list(reg, name);
    gd_nearest near = gd_nearest_start(name, false);
    gd_kind best_kind = (gd_kind)0;
    for (int i = 0; i < n; i++) {
        const gd_component *c = gd_registry_at(reg, i)->component;
        if (gd_nearest_offer(&near, c->name))
            best_kind = c->kind;
    }
    const char *best = near.best;
    if (best)
        return fail("no component named '%s' (did you mean %s.%s? see gradus list; if a "
                    "plugin provides it: gradus -l FILE.so doc %s)", name,
                    gd_kind_short_name(best_kind), best, name);
    return fail("no component or page named '%s' (see gradus list; pages: %s; if a plugin "
                "provides it: gradus -l FILE.so doc %s)", name, lgd_doc_pages(), name);
}

/* ---------------------------------------------------------------------------
 * gradus run
 * ------------------------------------------------------------------------- */

/* arg as lua.c makes it: arg[0] the script, arg[1..] its arguments,
 * negative indices what came before. */
static void create_arg(lua_State *L, char **argv, int argc, int script)
{
    lua_createtable(L, argc - script - 1, script + 1);
    for (int i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i - script);
    }
    lua_setglobal(L, "arg");
}

/* The exit status of a failed lua_pcall (its error at the top), with one
 * line on stderr: 128 + the signal for a run stopped by SIGINT/SIGTERM,
 * else 1. */
static int call_failed(lua_State *L)
{
    int sig = interrupted_signal(L, -1);
    if (!sig)
        return fail("%s", unprefixed(lua_tostring(L, -1)));
    lua_getfield(L, -1, "message");
    fail("%s", lua_tostring(L, -1));
    return 128 + sig;
}

static int cmd_run(lua_State *L, const cli *c)
{
    if (!c->script)
        return fail("run needs a script: gradus run SCRIPT.lua [ARGS]");
    const char *path = c->argv[c->script];
    FILE *f = fopen(path, "r");
    if (!f)
        return fail("cannot open script '%s': %s", path, strerror(errno));
    fclose(f);
    create_arg(L, c->argv, c->argc, c->script);
    lua_pushcfunction(L, msghandler);
    int base = lua_gettop(L);
    if (luaL_loadfile(L, path) != LUA_OK)
        return fail("%s", lua_tostring(L, -1));
    int nargs = c->argc - c->script - 1;
    luaL_checkstack(L, nargs, "too many arguments to the script");
    for (int i = c->script + 1; i < c->argc; i++)
        lua_pushstring(L, c->argv[i]);
    lgd_install_interrupt_handlers();
    return lua_pcall(L, nargs, 0, base) == LUA_OK ? EXIT_SUCCESS : call_failed(L);
}

/* Push require(module)[field] (the module itself when field is NULL), then
 * require "gradus": an embedded command's function and its first argument.
 * 0, or the exit status of a failure. */
static int push_command(lua_State *L, const char *module, const char *field)
{
    lua_getglobal(L, "require");
    lua_pushstring(L, module);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK)
        return fail("%s", lua_tostring(L, -1));
    if (field)
        lua_getfield(L, -1, field);
    lua_getglobal(L, "require");
    lua_pushstring(L, "gradus");
    if (lua_pcall(L, 1, 1, 0) != LUA_OK)
        return fail("%s", lua_tostring(L, -1));
    return 0;
}

/* push_command, then the command's two positional arguments (the second
 * nil when absent). */
static int push_command_args(lua_State *L, const char *module, const char *field,
                             const char *const *pos, int np)
{
    int st = push_command(L, module, field);
    if (st)
        return st;
    lua_pushstring(L, pos[0]);
    if (np > 1)
        lua_pushstring(L, pos[1]);
    else
        lua_pushnil(L);
    return 0;
}

/* gradus resume FILE [EPOCHS]: gd.resume from the shell (gradus.resume). */
static int cmd_resume(lua_State *L, const char *const *pos, int np)
{
    if (np < 1 || np > 2)
        return fail("resume takes a checkpoint and optionally a new total of epochs: "
                    "gradus resume FILE [EPOCHS]");
    int st = push_command_args(L, "gradus.resume", "cli", pos, np);
    if (st)
        return st;
    lgd_install_interrupt_handlers();
    if (lua_pcall(L, 3, 1, 0) != LUA_OK)   /* no traceback: not the user's script */
        return call_failed(L);
    return lua_toboolean(L, -1) ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* gradus sweep [OPTIONS] SCRIPT [ARGS]: gradus.sweep reads the options,
 * then the script runs as under `run`. */
static int cmd_sweep(lua_State *L, cli *c)
{
    int st = push_command(L, "gradus.sweep", "cli");
    if (st)
        return st;
    lua_pop(L, 1);   /* cli takes the arguments only */
    lua_createtable(L, c->argc - c->first, 0);
    for (int i = c->first; i < c->argc; i++) {
        lua_pushstring(L, c->argv[i]);
        lua_rawseti(L, -2, i - c->first + 1);
    }
    if (lua_pcall(L, 1, 1, 0) != LUA_OK)
        return fail("%s", lua_tostring(L, -1));
    c->script = c->first + (int)lua_tointeger(L, -1) - 1;
    lua_pop(L, 1);
    return cmd_run(L, c);
}

/* gradus trial FILE... (gradus.sweep): the exit status it returns. */
static int cmd_trial(lua_State *L, const cli *c)
{
    const char *files[4096];
    int n = positionals(c, files, 4096);
    if (n > 4096)
        return fail("trial takes at most 4096 files, got %d", n);
    int st = push_command(L, "gradus.sweep", "trial_cli");
    if (st)
        return st;
    lua_pushboolean(L, c->threads >= 0);
    luaL_checkstack(L, n, "too many trial files");
    for (int i = 0; i < n; i++)
        lua_pushstring(L, files[i]);
    lgd_install_interrupt_handlers();
    if (lua_pcall(L, 2 + n, 1, 0) != LUA_OK)
        return call_failed(L);
    return (int)lua_tointeger(L, -1);
}

/* gradus benchmark [OPTIONS] OPTIMIZER... (gradus.benchmark reads them all). */
static int cmd_benchmark(lua_State *L, const cli *c)
{
    int st = push_command(L, "gradus.benchmark", "cli");
    if (st)
        return st;
    lua_pop(L, 1);   /* cli takes the arguments only */
    lua_createtable(L, c->argc - c->first, 0);
    for (int i = c->first; i < c->argc; i++) {
        lua_pushstring(L, c->argv[i]);
        lua_rawseti(L, -2, i - c->first + 1);
    }
    lgd_install_interrupt_handlers();
    if (lua_pcall(L, 1, 1, 0) != LUA_OK)
        return call_failed(L);
    return lua_tointeger(L, -1) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* gradus collect DIR [OUTDIR] (gradus.sweep). */
static int cmd_collect(lua_State *L, const char *const *pos, int np)
{
    if (np < 1 || np > 2)
        return fail("collect takes a sweep directory and optionally a report directory: "
                    "gradus collect DIR [OUTDIR]");
    int st = push_command_args(L, "gradus.sweep", "collect_cli", pos, np);
    if (st)
        return st;
    if (lua_pcall(L, 3, 1, 0) != LUA_OK)
        return fail("%s", lua_tostring(L, -1));
    return lua_toboolean(L, -1) ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* gradus inspect FILE: the printing is Lua (gradus.inspect). */
static int cmd_inspect(lua_State *L, const char *path)
{
    int st = push_command(L, "gradus.inspect", NULL);
    if (st)
        return st;
    lua_pushstring(L, path);
    if (lua_pcall(L, 2, 1, 0) != LUA_OK)
        return fail("%s", lua_tostring(L, -1));
    return lua_toboolean(L, -1) ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* gradus report DIR [DIR...]: the page from saved results (gradus.report). */
static int cmd_report(lua_State *L, const cli *c)
{
    const char *dirs[64];
    int n = positionals(c, dirs, 64);
    if (n > 64)
        return fail("report merges at most 64 directories, got %d", n);
    int st = push_command(L, "gradus.report", "cli");
    if (st)
        return st;
    for (int i = 0; i < n; i++)
        lua_pushstring(L, dirs[i]);
    if (lua_pcall(L, 1 + n, 1, 0) != LUA_OK)
        return call_failed(L);
    return lua_toboolean(L, -1) ? EXIT_SUCCESS : EXIT_FAILURE;
}

static int run_bench(int argc, char **argv)
{
    gd_error err;
    gd_registry *reg = gd_registry_new();
    if (!reg)
        return fail("out of memory");
    if (gd_registry_load_defaults(reg, &err) != GD_OK) {
        gd_registry_free(reg);
        return fail("%s", err.msg);
    }
    int st = gd_cli_bench(reg, argc, argv);
    gd_registry_free(reg);
    return st;
}

int main(int argc, char **argv)
{
    gd_error err;
    if (gd_blas_select(NULL, &err) != GD_OK)
        return fail("%s", err.msg);
    /* bench has options of its own (--threads 1,2 is a list there); global
     * -l options before it reach it as its own. */
    int lead = 1;
    while (lead < argc && strncmp(argv[lead], "-l", 2) == 0)
        lead += argv[lead][2] || lead + 1 == argc ? 1 : 2;
    if (lead < argc && strcmp(argv[lead], "bench") == 0) {
        for (int i = lead; i > 1; i--)   /* bench -l X ...: the -l options after it */
            argv[i] = argv[i - 1];
        argv[1] = "bench";
        return run_bench(argc - 2, argv + 2);
    }
    if (argc >= 2 && strcmp(argv[1], "new") == 0)
        return gd_cli_new(argc - 2, argv + 2);
    if (argc >= 2 && strcmp(argv[1], "check") == 0)
        return gd_cli_check(argc - 2, argv + 2);
    cli c;
    int done;
    int st = parse(&c, argc, argv, &done);
    if (st || done)
        return st;
    if (strcmp(c.command, "version") == 0) {
        printf("gradus %s (plugin ABI %d.%d, %s)\n", GD_VERSION, GD_ABI_MAJOR, GD_ABI_MINOR,
               LUA_RELEASE);
        printf("blas: %s\n  built with openblas%s; GRADUS_BLAS=onednn|openblas chooses\n",
               gd_blas_description(), gd_blas_available("onednn") ? " and onednn" : " only");
        const char *dir = gd_registry_builtin_dir();
        char *real = dir ? realpath(dir, NULL) : NULL;
        printf("built-in plugins: %s\n", real ? real : dir ? dir : "unknown");
        free(real);
        return EXIT_SUCCESS;
    }
    if (strcmp(c.command, "run") && strcmp(c.command, "list") && strcmp(c.command, "doc") &&
        strcmp(c.command, "inspect") && strcmp(c.command, "resume") &&
        strcmp(c.command, "report") && strcmp(c.command, "sweep") && strcmp(c.command, "collect") &&
        strcmp(c.command, "trial") && strcmp(c.command, "benchmark"))
        return fail("unknown command '%s' (commands: run, sweep, trial, collect, resume, report, benchmark, list, "
                    "doc, inspect, version, bench, new, check; "
                    "see gradus --help)", c.command);

    if (c.threads >= 0) {
        gd_set_threads(c.threads);
    } else {
        int n;
        gd_error err;
        if (gd_threads_from_env(&n, &err) != GD_OK)
            return fail("%s", err.msg);
        gd_set_threads(n);
    }

    lua_State *L = luaL_newstate();
    if (!L)
        return fail("cannot create a Lua state: out of memory");
    lua_pushcfunction(L, setup);
    lua_pushlightuserdata(L, &c);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
        st = fail("%s", unprefixed(lua_tostring(L, -1)));
        lua_close(L);
        return st;
    }
    /* The module re-reads GRADUS_THREADS; --threads wins. */
    if (c.threads >= 0)
        gd_set_threads(c.threads);

    if (strcmp(c.command, "run") == 0) {
        st = cmd_run(L, &c);
    } else if (strcmp(c.command, "sweep") == 0) {
        st = cmd_sweep(L, &c);
    } else if (strcmp(c.command, "report") == 0) {
        st = cmd_report(L, &c);
    } else if (strcmp(c.command, "trial") == 0) {
        st = cmd_trial(L, &c);
    } else if (strcmp(c.command, "benchmark") == 0) {
        st = cmd_benchmark(L, &c);
    } else {
        const char *pos[3];
        int np = positionals(&c, pos, 3);
        gd_registry *reg = lgd_registry(L);  /* exists: setup succeeded */
        if (strcmp(c.command, "resume") == 0)
            st = cmd_resume(L, pos, np);
        else if (strcmp(c.command, "collect") == 0)
            st = cmd_collect(L, pos, np);
        else if (strcmp(c.command, "inspect") == 0)
            st = np != 1 ? fail("inspect takes one file: gradus inspect FILE") : cmd_inspect(L, pos[0]);
        else if (strcmp(c.command, "list") == 0)
            st = np > 1 ? fail("list takes at most one kind") : cmd_list(reg, np ? pos[0] : NULL);
        else
            st = np != 1 ? fail("doc takes one name: gradus doc NAME (or KIND.NAME)")
                         : cmd_doc(L, reg, pos[0]);
    }
    lua_close(L);
    return st;
}
