/*
 * cli/check.c: `gradus check [--timeout S] PLUGIN.so...`, the conformance
 * suite for third-party plugins.
 *
 * Every check runs in a child process that loads the plugin itself, under a
 * time limit the parent keeps: a plugin that crashes, hangs, exits or stops
 * fails that check, and the next check starts from a clean copy of this
 * process, which never runs plugin code. Loading comes first (a plugin's
 * constructor or gradus_plugin() may itself crash); then the descriptor
 * checks every kind shares, then the kind's own (check_*.c). One line per
 * check, a verdict per file, exit status 1 when anything failed.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "spec.h"

enum { DEFAULT_TIMEOUT = 10 };

typedef struct kind_checks {
    const ck_check *checks;
    const int *n;
} kind_checks;

static kind_checks checks_of(gd_kind kind, int tensor)
{
    switch (kind) {
    case GD_KIND_LAYER: return (kind_checks){ ck_layer_checks, &ck_nlayer_checks };
    case GD_KIND_LOSS: return (kind_checks){ ck_loss_checks, &ck_nloss_checks };
    case GD_KIND_OPTIMIZER:
        if (tensor)
            return (kind_checks){ ck_tensor_checks, &ck_ntensor_checks };
        return (kind_checks){ ck_optimizer_checks, &ck_noptimizer_checks };
    case GD_KIND_SCHEDULER: return (kind_checks){ ck_scheduler_checks, &ck_nscheduler_checks };
    case GD_KIND_REGULARIZER:
        return (kind_checks){ ck_regularizer_checks, &ck_nregularizer_checks };
    default: return (kind_checks){ ck_initializer_checks, &ck_ninitializer_checks };
    }
}

static const char *signal_name(int sig)
{
    switch (sig) {
    case SIGSEGV: return "SIGSEGV (a read or write of memory it was not given)";
    case SIGBUS: return "SIGBUS (a bad memory access)";
    case SIGFPE: return "SIGFPE (an arithmetic trap)";
    case SIGILL: return "SIGILL (an illegal instruction)";
    case SIGABRT: return "SIGABRT (an abort or a failed assert)";
    case SIGKILL: return "SIGKILL";
    case SIGTERM: return "SIGTERM (a kill() in the plugin?)";
    default: return strsignal(sig);
    }
}

/* ---------------------------------------------------------------------------
 * Running one check in a child
 *
 * The parent runs no plugin code: every check, loading included, happens in
 * a child that loads the plugin itself. The child leads a process group of
 * its own (a kill(0, ...) in the plugin reaches only that group), and the
 * parent keeps the clock: at the deadline it kills the whole group, so no
 * signal mask, handler, alarm(0), SIGSTOP or grandchild holding the pipe
 * can stall a check. A child passes only with a verdict written through the
 * pipe and a clean exit: an exit(0) inside the plugin is no pass.
 * ------------------------------------------------------------------------- */

typedef struct runner {
    int timeout;
    int run, failed;
    const char *label;         /* component name, or the file for the load check */
    gd_registry *reg;          /* the built-ins; each child loads into its copy */
    const char *const *paths;  /* plugins the child loads, the one under check last */
    int npaths;                /* how many of paths the child loads first */
    gd_kind kind;              /* the component under check (name in label) */
} runner;

enum { VERDICT_PASS = 'P', VERDICT_FAIL = 'F' };

/* What the load check lists for the parent (one "kind tensor name" line per
 * component); written after the verdict's NUL. */
static char listing[8192];

static void child_setup(pid_t parent)
{
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);   /* an interrupted check leaves no child */
    if (getppid() != parent)
        _exit(127);
    /* Default dispositions, so a fault kills it with its signal even under a
     * sanitizer that installs handlers of its own; nothing blocked (a mask
     * is inherited through fork). */
    const int sigs[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTERM, SIGINT };
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        signal(sigs[i], SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

/* In the child: load the plugins, find the component, build its spec. */
static gd_spec *default_spec(const gd_registry *reg, const gd_component *c, gd_error *err);

static int child_prepare(const runner *r, ck_ctx *k)
{
    gd_error err;
    for (int i = 0; i < r->npaths; i++)
        if (gd_registry_load(r->reg, r->paths[i], &err) != GD_OK)
            return ck_fail(k, "%s", err.msg);
    if (!r->kind)
        return 1;   /* the load check: it loads the file under check itself */
    const gd_entry *e = gd_registry_find(r->reg, r->kind, r->label);
    if (!e)
        return ck_fail(k, "%s '%s' is gone on a second load", gd_kind_name(r->kind), r->label);
    k->reg = r->reg;
    k->c = e->component;
    k->spec = NULL;
    gd_spec *s = default_spec(r->reg, k->c, &err);
    if (!s && k->need_spec)
        return ck_fail(k, "%s", err.msg);
    k->spec = s;
    return 1;
}

static void report(runner *r, const char *name, const char *verdict, int pass, const char *detail)
{
    r->run++;
    r->failed += !pass;
    printf("  %s  %s: %s%s%s\n", verdict, r->label, name, *detail ? ": " : "", detail);
    fflush(stdout);
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef enum ended { ENDED_EXIT, ENDED_STOPPED, ENDED_TIMEOUT } ended;

/* Wait for the child (not reaping it yet) or the deadline, reading what it
 * writes meanwhile. A grandchild may hold the pipe open: the child's exit,
 * not the end of the pipe, ends the wait. */
static ended await_child(pid_t pid, int fd, double deadline, char *buf, size_t cap, size_t *got)
{
    int open_pipe = 1;
    for (int tick = 1;; tick = tick < 20 ? tick + 1 : 20) {
        siginfo_t si = { 0 };
        if (waitid(P_PID, (id_t)pid, &si, WEXITED | WSTOPPED | WNOHANG | WNOWAIT) == 0 &&
            si.si_pid == pid) {
            ssize_t m;
            while (*got < cap && (m = read(fd, buf + *got, cap - *got)) > 0)
                *got += (size_t)m;
            return si.si_code == CLD_STOPPED ? ENDED_STOPPED : ENDED_EXIT;
        }
        double left = deadline - now_s();
        if (left <= 0)
            return ENDED_TIMEOUT;
        int wait_ms = (int)(left * 1000) + 1 < tick ? (int)(left * 1000) + 1 : tick;
        if (open_pipe) {
            struct pollfd p = { .fd = fd, .events = POLLIN };
            if (poll(&p, 1, wait_ms) > 0) {
                ssize_t m = *got < cap ? read(fd, buf + *got, cap - *got) : 0;
                if (m > 0)
                    *got += (size_t)m;
                else if (m == 0 || (m < 0 && errno != EAGAIN && errno != EINTR))
                    open_pipe = 0;
            }
        } else {
            poll(NULL, 0, wait_ms);
        }
    }
}

/* Run fn(k) in a child; report its line. Returns 1 when it passed. */
static int run_one(runner *r, const char *name, ck_fn fn, ck_ctx *k)
{
    int fd[2];
    fflush(stdout);
    fflush(stderr);
    if (pipe(fd) != 0) {
        report(r, name, "FAIL", 0, "cannot create a pipe for the child");
        return 0;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        close(fd[0]);
        close(fd[1]);
        report(r, name, "FAIL", 0, "cannot fork a child to run the check");
        return 0;
    }
    if (pid == 0) {
        close(fd[0]);
        child_setup(parent);
        k->msg[0] = 0;
        listing[0] = 0;
        int pass = child_prepare(r, k) && fn(k);
        char out[sizeof k->msg + sizeof listing + 2];
        int n = snprintf(out, sizeof out, "%c%s%c%s", pass ? VERDICT_PASS : VERDICT_FAIL, k->msg,
                         0, listing);
        ssize_t w = write(fd[1], out, (size_t)n < sizeof out ? (size_t)n : sizeof out - 1);
        (void)w;
        _exit(pass ? 0 : 1);   /* no atexit handlers: the parent owns them */
    }
    setpgid(pid, pid);   /* also here: no window in which the child shares our group */
    close(fd[1]);
    fcntl(fd[0], F_SETFL, fcntl(fd[0], F_GETFL) | O_NONBLOCK);
    char buf[sizeof k->msg + sizeof listing + 2];
    size_t got = 0;
    ended how = await_child(pid, fd[0], now_s() + r->timeout, buf, sizeof buf - 1, &got);
    buf[got] = 0;
    close(fd[0]);
    kill(-pid, SIGKILL);   /* the child if it is still there, and whatever it forked */
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    char msg[sizeof k->msg];
    size_t mlen = got > 1 ? strnlen(buf + 1, sizeof msg - 1) : 0;   /* cut to fit */
    memcpy(msg, buf + 1, mlen);
    msg[mlen] = 0;
    const char *list = got > 1 + strlen(buf + 1) + 1 ? buf + 1 + strlen(buf + 1) + 1 : "";
    snprintf(listing, sizeof listing, "%s", list);
    int verdict = got ? buf[0] : 0;
    int pass = how == ENDED_EXIT && WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
               verdict == VERDICT_PASS;
    if (how == ENDED_TIMEOUT)
        snprintf(msg, sizeof msg, "timed out after %d s (an endless loop?)", r->timeout);
    else if (how == ENDED_STOPPED)
        snprintf(msg, sizeof msg, "stopped itself (SIGSTOP or a read from the terminal): "
                 "killed, counted as a failure");
    else if (WIFSIGNALED(status))
        snprintf(msg, sizeof msg, "killed by %s", signal_name(WTERMSIG(status)));
    else if (!verdict)
        snprintf(msg, sizeof msg, "exited with status %d before its verdict (an exit() in the "
                 "plugin, or a sanitizer's report above)", WEXITSTATUS(status));
    report(r, name, pass ? "ok  " : "FAIL", pass, msg);
    return pass;
}

/* ---------------------------------------------------------------------------
 * Shared helpers of the checks
 * ------------------------------------------------------------------------- */

static int vdetail(ck_ctx *k, int result, const char *fmt, va_list ap)
{
    vsnprintf(k->msg, sizeof k->msg, fmt, ap);
    return result;
}

int ck_fail(ck_ctx *k, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = vdetail(k, 0, fmt, ap);
    va_end(ap);
    return r;
}

int ck_pass(ck_ctx *k, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = vdetail(k, 1, fmt, ap);
    va_end(ap);
    return r;
}

int ck_option(const gd_component *c, const char *name)
{
    for (int i = 0; i < c->noptions; i++)
        if (c->options[i].name && strcmp(c->options[i].name, name) == 0)
            return i;
    return -1;
}

/* ---------------------------------------------------------------------------
 * Loading and the schema
 * ------------------------------------------------------------------------- */

static const char *the_load;   /* the file the load check loads */

/* A plugin's build, from the marker GD_PLUGIN emits (plugin.h): whether the
 * file that holds its descriptor was compiled with optimization and with
 * -fno-math-errno. -1: no marker (a header older than the marker). */
static int build_flags(const char *path)
{
    char *real = realpath(path, NULL);
    void *dl = real ? dlopen(real, RTLD_NOW | RTLD_NOLOAD) : NULL;
    free(real);
    const unsigned *flags = dl ? (const unsigned *)dlsym(dl, GD_PLUGIN_BUILD_SYMBOL) : NULL;
    int f = flags ? (int)*flags : -1;
    if (dl)
        dlclose(dl);
    return f;
}

static int check_load(ck_ctx *k)
{
    gd_error err;
    gd_registry *reg = (gd_registry *)k->reg;
    int before = gd_registry_count(reg);
    if (gd_registry_load(reg, the_load, &err) != GD_OK)
        return ck_fail(k, "%s", err.msg);
    size_t used = 0;
    used += (size_t)snprintf(listing, sizeof listing, "%d\n", build_flags(the_load));
    char *real = realpath(the_load, NULL);   /* a built-in was loaded before: its entries */
    for (int i = 0; real && i < gd_registry_count(reg) && used < sizeof listing; i++) {
        if (strcmp(gd_registry_at(reg, i)->file, real) != 0)
            continue;
        const gd_component *c = gd_registry_at(reg, i)->component;
        int tensor = c->kind == GD_KIND_OPTIMIZER && !c->vt.optimizer->step;
        used += (size_t)snprintf(listing + used, sizeof listing - used, "%d %d %s\n",
                                 (int)c->kind, tensor, c->name);
    }
    free(real);
    if (used >= sizeof listing)
        return ck_fail(k, "too many components for gradus check to list");
    return ck_pass(k, "ABI %d.%d, no clash with the %d components loaded before it",
                   GD_ABI_MAJOR, GD_ABI_MINOR, before);
}

/* The loader has refused any component that fails gd_component_validate:
 * these lines show what was checked, with the same function. */
static int check_descriptor(ck_ctx *k)
{
    const gd_component *c = k->c;
    gd_error err;
    if (gd_component_validate(gd_registry_entry_of(k->reg, c)->file, c, &err) != GD_OK)
        return ck_fail(k, "%s", err.msg);
    return ck_pass(k, "%s '%s': %s", gd_kind_name(c->kind), c->name, c->doc);
}

static int check_schema(ck_ctx *k)
{
    const gd_component *c = k->c;
    return ck_pass(k, "%d option%s, names, docs and defaults in range", c->noptions,
                   c->noptions == 1 ? "" : "s");
}

/* A value for required option i, inside its range; numbers grow with i,
 * so that pairs such as uniform's low < high hold. */
static gd_arg required_value(const gd_registry *reg, const gd_option_spec *o, int i)
{
    gd_arg a = { .type = GD_ARG_NUMBER };
    double lo = (o->flags & GD_OPT_HAS_MIN) ? o->min : 0;
    double hi = (o->flags & GD_OPT_HAS_MAX) ? o->max : lo + 4;
    switch (o->type) {
    case GD_OPT_NUMBER: a.num = (o->flags & GD_OPT_HAS_MAX) ? 0.5 * (lo + hi) : lo + 1 + i; break;
    case GD_OPT_INTEGER: a.type = GD_ARG_INTEGER; a.i = (int64_t)(lo + 2 <= hi ? lo + 2 : lo); break;
    case GD_OPT_BOOLEAN: a.type = GD_ARG_BOOLEAN; break;
    case GD_OPT_ENUM: a.type = GD_ARG_STRING; a.s = o->choices[0]; break;
    case GD_OPT_STRING: a.type = GD_ARG_STRING; a.s = "x"; break;
    case GD_OPT_INTS:   /* -1 where allowed: reshape's "infer it" */
        a.type = GD_ARG_INTEGER;
        a.i = lo <= -1 ? -1 : (int64_t)lo + 1;
        break;
    case GD_OPT_COMPONENT:
        a.type = GD_ARG_STRING;
        for (int j = 0; j < gd_registry_count(reg) && !a.s; j++)
            if (gd_registry_at(reg, j)->component->kind == o->kind)
                a.s = gd_registry_at(reg, j)->component->name;
        break;
    }
    return a;
}

/* The component with its defaults and a value for each required option. */
static gd_spec *default_spec(const gd_registry *reg, const gd_component *c, gd_error *err)
{
    gd_spec *s = gd_spec_begin(reg, c, err);
    for (int i = 0; s && i < c->noptions; i++) {
        if (!(c->options[i].flags & GD_OPT_REQUIRED))
            continue;
        gd_arg a = required_value(reg, &c->options[i], i);
        if (gd_spec_set(s, c->options[i].name, &a, err) != GD_OK) {
            gd_spec_free(s);
            return NULL;
        }
    }
    if (s && gd_spec_finish(s, err) != GD_OK) {
        gd_spec_free(s);
        return NULL;
    }
    return s;
}

static int check_defaults(ck_ctx *k)
{
    gd_error err;
    gd_spec *s = default_spec(k->reg, k->c, &err);
    if (!s)
        return ck_fail(k, "%s", err.msg);
    char buf[300];
    ck_pass(k, "%s", gd_spec_describe(s, buf, sizeof buf));
    gd_spec_free(s);
    return 1;
}

static const ck_check common_checks[] = {
    { "descriptor", check_descriptor },
    { "option schema", check_schema },
    { "builds with its defaults", check_defaults },
};

/* ---------------------------------------------------------------------------
 * The command
 * ------------------------------------------------------------------------- */

static void check_component(runner *r, gd_kind kind, int tensor, const char *name)
{
    ck_ctx k = { .reg = r->reg };
    r->label = name;
    r->kind = kind;
    int ok = 1;
    for (size_t i = 0; i < sizeof common_checks / sizeof common_checks[0]; i++)
        ok &= run_one(r, common_checks[i].name, common_checks[i].fn, &k);
    if (!ok)
        return;   /* the kind's checks need a spec */
    kind_checks kc = checks_of(kind, tensor);
    k.need_spec = 1;
    for (int i = 0; i < *kc.n; i++)
        run_one(r, kc.checks[i].name, kc.checks[i].fn, &k);
}

static void warn_build(const char *path, int flags)
{
    if (flags < 0)
        return;
    if (!(flags & GD_PLUGIN_BUILD_OPTIMIZED))
        printf("  warn  %s: built without optimization (-O0): its updates run many times "
               "slower than the built-ins'; build with $(pkg-config --cflags gradus)\n", path);
    else if (!(flags & GD_PLUGIN_BUILD_NO_MATH_ERRNO))
        printf("  warn  %s: built without -fno-math-errno: sqrtf does not vectorize; build "
               "with $(pkg-config --cflags gradus)\n", path);
}

/* paths[0..n-1] passed before; paths[n] is the file to check. */
static int check_file(gd_registry *reg, const char *const *paths, int n, int timeout,
                      int *loaded)
{
    const char *path = paths[n];
    runner r = { .timeout = timeout, .label = path, .reg = reg, .paths = paths, .npaths = n };
    ck_ctx k = { .reg = reg };
    printf("%s\n", path);
    the_load = path;
    *loaded = run_one(&r, "loads", check_load, &k);
    if (*loaded) {
        char list[sizeof listing];
        snprintf(list, sizeof list, "%s", listing);
        char *line = list, *next;
        warn_build(path, atoi(line));
        r.npaths = n + 1;
        while ((next = strchr(line, '\n')) && next[1]) {
            line = next + 1;
            int kind, tensor, used = 0;
            if (sscanf(line, "%d %d %n", &kind, &tensor, &used) == 2 && used) {
                char name[256];
                size_t len = strcspn(line + used, "\n");
                snprintf(name, sizeof name, "%.*s", (int)len, line + used);
                check_component(&r, (gd_kind)kind, tensor, name);
            }
        }
    }
    if (r.failed)
        printf("verdict: %s FAILS %d of %d checks\n", path, r.failed, r.run);
    else
        printf("verdict: %s passes all %d checks\n", path, r.run);
    return r.failed != 0;
}

static int usage_error(const char *fmt, const char *arg)
{
    fputs("gradus: ", stderr);
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    return EXIT_FAILURE;
}

int gd_cli_check(int argc, char **argv)
{
    int timeout = DEFAULT_TIMEOUT, nfiles = 0, nfiles_seen = 0, failed = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--timeout") == 0) {
            char *end = NULL;
            const char *v = i + 1 < argc ? argv[++i] : "";
            long t = strtol(v, &end, 10);
            if (end == v || *end || t < 1 || t > 3600)
                return usage_error("check: --timeout needs a number of seconds in 1..3600, "
                                   "got '%s'", v);
            timeout = (int)t;
        } else if (argv[i][0] == '-') {
            return usage_error("check: unknown option '%s' (gradus check [--timeout S] "
                               "PLUGIN.so...)", argv[i]);
        }
    }
    gd_error err;
    gd_registry *reg = gd_registry_new();
    if (!reg || gd_registry_load_defaults(reg, &err) != GD_OK) {
        gd_registry_free(reg);
        return usage_error("check: %s", reg ? err.msg : "out of memory");
    }
    /* The files that loaded, in order: each later check loads them first. */
    const char **paths = calloc((size_t)argc + 1, sizeof *paths);
    for (int i = 0; paths && i < argc; i++) {
        if (strcmp(argv[i], "--timeout") == 0) {
            i++;
            continue;
        }
        int loaded = 0;
        paths[nfiles] = argv[i];
        failed += check_file(reg, paths, nfiles, timeout, &loaded);
        nfiles += loaded;
        nfiles_seen++;
    }
    free(paths);
    gd_registry_free(reg);
    if (!nfiles_seen)
        return usage_error("%s", "check needs a plugin file: gradus check PLUGIN.so...");
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
