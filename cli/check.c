/*
 * cli/check.c: `gradus check [--timeout S] PLUGIN.so...`, the conformance
 * suite for third-party plugins.
 *
 * Every check runs in a child process with a time limit (fork, then alarm):
 * a plugin that crashes or hangs fails that check with the signal, and the
 * next check starts from a clean copy of this process. Loading comes first,
 * also in a child (a plugin's gradus_plugin() may itself crash); then the
 * schema checks every kind shares, then the kind's own (check_*.c). One line
 * per check, a verdict per file, exit status 1 when anything failed.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

enum { DEFAULT_TIMEOUT = 10 };

typedef struct kind_checks {
    const ck_check *checks;
    const int *n;
} kind_checks;

static kind_checks checks_of(const gd_component *c)
{
    switch (c->kind) {
    case GD_KIND_LAYER: return (kind_checks){ ck_layer_checks, &ck_nlayer_checks };
    case GD_KIND_LOSS: return (kind_checks){ ck_loss_checks, &ck_nloss_checks };
    case GD_KIND_OPTIMIZER:
#if GD_ABI_MINOR >= 1
        if (!c->vt.optimizer->step)
            return (kind_checks){ ck_tensor_checks, &ck_ntensor_checks };
#endif
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
    default: return "a signal";
    }
}

/* ---------------------------------------------------------------------------
 * Running one check in a child
 * ------------------------------------------------------------------------- */

typedef struct runner {
    int timeout;
    int run, failed;
    const char *label;        /* component name, or the file for the load check */
} runner;

/* Child: default dispositions, so a fault kills it with its signal even
 * under a sanitizer that installs handlers of its own; then the time limit. */
static void child_setup(int timeout)
{
    const int sigs[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGALRM };
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        signal(sigs[i], SIG_DFL);
    alarm((unsigned)timeout);
}

static void report(runner *r, const char *name, int pass, const char *detail)
{
    r->run++;
    r->failed += !pass;
    printf("  %s  %s: %s%s%s\n", pass ? "ok  " : "FAIL", r->label, name, *detail ? ": " : "",
           detail);
    fflush(stdout);
}

/* Run fn(k) in a child; report its line. Returns 1 when it passed. */
static int run_one(runner *r, const char *name, ck_fn fn, ck_ctx *k)
{
    int fd[2];
    fflush(stdout);
    fflush(stderr);
    if (pipe(fd) != 0) {
        report(r, name, 0, "cannot create a pipe for the child");
        return 0;
    }
    pid_t pid = fork();
    if (pid < 0) {
        close(fd[0]);
        close(fd[1]);
        report(r, name, 0, "cannot fork a child to run the check");
        return 0;
    }
    if (pid == 0) {
        close(fd[0]);
        child_setup(r->timeout);
        k->msg[0] = 0;
        int pass = fn(k);
        ssize_t w = write(fd[1], k->msg, strlen(k->msg));
        (void)w;
        _exit(pass ? 0 : 1);   /* no atexit handlers: the parent owns them */
    }
    close(fd[1]);
    char msg[sizeof k->msg];
    size_t got = 0;
    ssize_t m;
    while (got < sizeof msg - 1 && (m = read(fd[0], msg + got, sizeof msg - 1 - got)) > 0)
        got += (size_t)m;
    msg[got] = 0;
    close(fd[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        ;
    int pass = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
        snprintf(msg, sizeof msg, "timed out after %d s (an endless loop?)", r->timeout);
    else if (WIFSIGNALED(status))
        snprintf(msg, sizeof msg, "killed by %s", signal_name(WTERMSIG(status)));
    else if (!pass && !got)
        snprintf(msg, sizeof msg, "stopped with status %d before its verdict (a sanitizer's "
                 "report above, or an exit in the plugin)", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    report(r, name, pass, msg);
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

typedef struct load_job {
    gd_registry *reg;
    const char *path;
} load_job;

static load_job the_load;

static int check_load(ck_ctx *k)
{
    gd_error err;
    int before = gd_registry_count(the_load.reg);
    if (gd_registry_load(the_load.reg, the_load.path, &err) != GD_OK)
        return ck_fail(k, "%s", err.msg);
    return ck_pass(k, "ABI %d.%d, no clash with the %d components loaded before it",
                   GD_ABI_MAJOR, GD_ABI_MINOR, before);
}

static int valid_identifier(const char *s)
{
    if (!s || !*s || (*s >= '0' && *s <= '9'))
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return 0;
    return 1;
}

/* Option names follow the reference's spelling (cosine's T): any case. */
static int option_identifier(const char *s)
{
    if (!s || !*s || (*s >= '0' && *s <= '9'))
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return 0;
    return 1;
}

static int one_line(const char *s)
{
    return s && *s && !strchr(s, '\n');
}

/* Whether a number default lies in the option's declared range. */
static int default_in_range(const gd_option_spec *o)
{
    if ((o->flags & GD_OPT_HAS_MIN) &&
        (o->def < o->min || ((o->flags & GD_OPT_MIN_OPEN) && o->def == o->min)))
        return 0;
    if ((o->flags & GD_OPT_HAS_MAX) &&
        (o->def > o->max || ((o->flags & GD_OPT_MAX_OPEN) && o->def == o->max)))
        return 0;
    return o->type != GD_OPT_INTEGER || o->def == (double)(int64_t)o->def;
}

static int choice_known(const gd_option_spec *o)
{
    if (!o->def_str)
        return 1;
    for (const char *const *c = o->choices; c && *c; c++)
        if (strcmp(*c, o->def_str) == 0)
            return 1;
    return 0;
}

static int check_descriptor(ck_ctx *k)
{
    const gd_component *c = k->c;
    if (!valid_identifier(c->name))
        return ck_fail(k, "name '%s' is not a lowercase identifier", c->name);
    if (!one_line(c->doc))
        return ck_fail(k, "doc must be one non-empty line (gradus list shows it)");
    return ck_pass(k, "%s '%s': %s", gd_kind_name(c->kind), c->name, c->doc);
}

static int check_schema(ck_ctx *k)
{
    const gd_component *c = k->c;
    for (int i = 0; i < c->noptions; i++) {
        const gd_option_spec *o = &c->options[i];
        if (!option_identifier(o->name))
            return ck_fail(k, "option %d: name '%s' is not an identifier", i + 1,
                           o->name ? o->name : "(null)");
        for (int j = 0; j < i; j++)
            if (strcmp(c->options[j].name, o->name) == 0)
                return ck_fail(k, "option '%s' is declared twice", o->name);
        if (!one_line(o->doc))
            return ck_fail(k, "option '%s' has no one-line doc", o->name);
        if (o->flags & (GD_OPT_REQUIRED | GD_OPT_OPTIONAL))
            continue;
        int num = o->type == GD_OPT_NUMBER || o->type == GD_OPT_INTEGER;
        if (num && !default_in_range(o))
            return ck_fail(k, "option '%s': default %g is outside its range %s%g, %g%s", o->name,
                           o->def, (o->flags & GD_OPT_MIN_OPEN) ? "(" : "[",
                           (o->flags & GD_OPT_HAS_MIN) ? o->min : -1.0 / 0.0,
                           (o->flags & GD_OPT_HAS_MAX) ? o->max : 1.0 / 0.0,
                           (o->flags & GD_OPT_MAX_OPEN) ? ")" : "]");
        if (o->type == GD_OPT_ENUM && !choice_known(o))
            return ck_fail(k, "option '%s': default '%s' is not one of its choices", o->name,
                           o->def_str);
    }
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

static void check_component(runner *r, const gd_registry *reg, const gd_component *c)
{
    ck_ctx k = { .reg = reg, .c = c };
    r->label = c->name;
    int ok = 1;
    for (size_t i = 0; i < sizeof common_checks / sizeof common_checks[0]; i++)
        ok &= run_one(r, common_checks[i].name, common_checks[i].fn, &k);
    if (!ok)
        return;   /* the kind's checks need a spec */
    gd_error err;
    gd_spec *s = default_spec(reg, c, &err);
    if (!s)
        return;
    k.spec = s;
    kind_checks kc = checks_of(c);
    for (int i = 0; i < *kc.n; i++)
        run_one(r, kc.checks[i].name, kc.checks[i].fn, &k);
    gd_spec_free(s);
}

static int check_file(gd_registry *reg, const char *path, int timeout)
{
    runner r = { .timeout = timeout, .label = path };
    ck_ctx k = { .reg = reg };
    printf("%s\n", path);
    the_load = (load_job){ reg, path };
    if (run_one(&r, "loads", check_load, &k)) {
        gd_error err;
        if (gd_registry_load(reg, path, &err) != GD_OK)
            report(&r, "loads in this process", 0, err.msg);
        char *real = realpath(path, NULL);
        for (int i = 0; real && i < gd_registry_count(reg); i++) {
            const gd_entry *e = gd_registry_at(reg, i);
            if (strcmp(e->file, real) == 0)
                check_component(&r, reg, e->component);
        }
        free(real);
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
    int timeout = DEFAULT_TIMEOUT, nfiles = 0, failed = 0;
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
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--timeout") == 0) {
            i++;
            continue;
        }
        nfiles++;
        failed += check_file(reg, argv[i], timeout);
    }
    gd_registry_free(reg);
    if (!nfiles)
        return usage_error("%s", "check needs a plugin file: gradus check PLUGIN.so...");
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
