/*
 * tests/test_registry.c: the registry (core/registry.c): loading plugins, refusing bad
 * ones, finding components.
 *
 * The fixture plugins are built by meson from the .c files of tests/fixtures/ into
 * GD_FIXTURE_DIR. Every refusal is checked for its status, a fragment of its
 * message, and a registry left exactly as it was (same entries, in order,
 * and still able to load the good plugin afterwards).
 */
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "support.h"

#ifndef GD_FIXTURE_DIR
#error "GD_FIXTURE_DIR must be defined by the build"
#endif

#define FIXTURE(name) GD_FIXTURE_DIR "/" name ".so"

static bool has(const char *msg, const char *fragment)
{
    if (strstr(msg, fragment))
        return true;
    fprintf(stderr, "\n  message '%s' lacks '%s'\n", msg, fragment);
    return false;
}

/* A registry with the built-in plugins (fresh, unlike test_registry()). */
static gd_registry *builtin_registry(void)
{
    gd_registry *reg = gd_registry_new();
    gd_error err;
    CU_ASSERT_PTR_NOT_NULL_FATAL(reg);
    if (gd_registry_load_defaults(reg, &err) != GD_OK) {
        fprintf(stderr, "\n  built-ins: %s\n", err.msg);
        CU_FAIL_FATAL("built-in plugins did not load");
    }
    CU_ASSERT_PTR_NOT_NULL_FATAL(gd_registry_find(reg, GD_KIND_OPTIMIZER, "sgd"));
    return reg;
}

/* Load path into reg expecting a refusal with status st and each of the
 * NULL-terminated message fragments; then check that nothing changed, that
 * loading the same file again is refused again (a refused file is not
 * remembered as loaded) and that the good plugin still loads. */
static void expect_refused(gd_registry *reg, const char *path, gd_status want, ...)
{
    int before = gd_registry_count(reg);
    const gd_component *snapshot[256];
    CU_ASSERT_FATAL(before <= 256);
    for (int i = 0; i < before; i++)
        snapshot[i] = gd_registry_at(reg, i)->component;

    gd_error err = { "" };
    gd_status st = gd_registry_load(reg, path, &err);
    CU_ASSERT_EQUAL(st, want);
    if (st != want)
        fprintf(stderr, "\n  %s: status %d, want %d (%s)\n", path, (int)st, (int)want, err.msg);
    va_list ap;
    va_start(ap, want);
    for (const char *frag; (frag = va_arg(ap, const char *));)
        CU_ASSERT(has(err.msg, frag));
    va_end(ap);

    CU_ASSERT_EQUAL(gd_registry_count(reg), before);
    for (int i = 0; i < before && i < gd_registry_count(reg); i++)
        CU_ASSERT_PTR_EQUAL(gd_registry_at(reg, i)->component, snapshot[i]);

    gd_error again;
    CU_ASSERT_EQUAL(gd_registry_load(reg, path, &again), want);
    CU_ASSERT_STRING_EQUAL(again.msg, err.msg);
    CU_ASSERT_EQUAL(gd_registry_count(reg), before);

    gd_error good;
    CU_ASSERT_EQUAL(gd_registry_load(reg, FIXTURE("fixture_good"), &good), GD_OK);
    CU_ASSERT_EQUAL(gd_registry_count(reg), before + 1);
    CU_ASSERT_PTR_NOT_NULL(gd_registry_find(reg, GD_KIND_OPTIMIZER, "fixture_opt"));
}

/* ---- temp dirs ---- */

static char *make_tmpdir(void)
{
    char tmpl[] = "/tmp/gradus-test-loader-XXXXXX";
    char *d = mkdtemp(tmpl);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    return strdup(d);
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static void rm_tree(char *dir)
{
    CU_ASSERT_EQUAL(nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
    free(dir);
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_EQUAL(fwrite(data, 1, n, f), n);
    CU_ASSERT_EQUAL(fclose(f), 0);
}

static void copy_file(const char *from, const char *to)
{
    FILE *f = fopen(from, "rb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n);
    CU_ASSERT_EQUAL(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    write_file(to, buf, (size_t)n);
    free(buf);
}

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* ---- loading ---- */

static void test_registry_good_plugin(void)
{
    gd_registry *reg = gd_registry_new();
    gd_error err;
    CU_ASSERT_EQUAL(gd_registry_count(reg), 0);
    CU_ASSERT_EQUAL_FATAL(gd_registry_load(reg, FIXTURE("fixture_good"), &err), GD_OK);
    CU_ASSERT_EQUAL(gd_registry_count(reg), 1);
    const gd_entry *e = gd_registry_find(reg, GD_KIND_OPTIMIZER, "fixture_opt");
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_PTR_EQUAL(gd_registry_at(reg, 0), e);
    CU_ASSERT_PTR_EQUAL(gd_registry_entry_of(reg, e->component), e);
    CU_ASSERT_STRING_EQUAL(e->plugin, "fixture_good");
    CU_ASSERT_STRING_EQUAL(e->version, "1.0");
    CU_ASSERT_EQUAL(e->abi_major, GD_ABI_MAJOR);
    CU_ASSERT_EQUAL(e->abi_minor, GD_ABI_MINOR);
    CU_ASSERT(has(e->file, "fixture_good.so"));
    CU_ASSERT_EQUAL(e->file[0], '/');   /* stored resolved, so messages are unambiguous */
    CU_ASSERT_EQUAL(e->component->kind, GD_KIND_OPTIMIZER);
    /* The name is registered under its own kind only. */
    CU_ASSERT_PTR_NULL(gd_registry_find(reg, GD_KIND_SCHEDULER, "fixture_opt"));
    gd_registry_free(reg);
}

static void test_registry_same_file_twice_is_noop(void)
{
    gd_registry *reg = gd_registry_new();
    gd_error err;
    CU_ASSERT_EQUAL(gd_registry_load(reg, FIXTURE("fixture_good"), &err), GD_OK);
    const gd_entry *first = gd_registry_find(reg, GD_KIND_OPTIMIZER, "fixture_opt");
    CU_ASSERT_EQUAL(gd_registry_load(reg, FIXTURE("fixture_good"), &err), GD_OK);
    /* Another spelling of the same file is the same file. */
    CU_ASSERT_EQUAL(gd_registry_load(reg, GD_FIXTURE_DIR "/./fixture_good.so", &err), GD_OK);
    CU_ASSERT_EQUAL(gd_registry_count(reg), 1);
    CU_ASSERT_PTR_EQUAL(gd_registry_find(reg, GD_KIND_OPTIMIZER, "fixture_opt"), first);
    gd_registry_free(reg);
}

static void test_registry_free_accepts_null(void)
{
    gd_registry_free(NULL);
    CU_PASS("no crash");
}

/* ---- refusals ---- */

static void test_registry_wrong_abi_refused(void)
{
    gd_registry *reg = builtin_registry();
    char found[64], expected[64];
    snprintf(found, sizeof found, "plugin ABI %d.0", GD_ABI_MAJOR + 1);
    snprintf(expected, sizeof expected, "(ABI %d.%d)", GD_ABI_MAJOR, GD_ABI_MINOR);
    expect_refused(reg, FIXTURE("fixture_bad_abi"), GD_EABI, "fixture_bad_abi.so", found,
                   "does not match this gradus", expected, "rebuild", NULL);
    gd_registry_free(reg);
}

static void test_registry_missing_entry_refused(void)
{
    gd_registry *reg = builtin_registry();
    expect_refused(reg, FIXTURE("fixture_no_entry"), GD_ENOTFOUND, "fixture_no_entry.so",
                   "no 'gradus_plugin' symbol", "not a gradus plugin", NULL);
    gd_registry_free(reg);
}

static void test_registry_duplicate_within_plugin_refused(void)
{
    gd_registry *reg = builtin_registry();
    expect_refused(reg, FIXTURE("fixture_dup_within"), GD_EEXIST, "fixture_dup_within.so",
                   "duplicate optimizer 'fixture_twin' within the plugin", NULL);
    CU_ASSERT_PTR_NULL(gd_registry_find(reg, GD_KIND_OPTIMIZER, "fixture_twin"));
    gd_registry_free(reg);
}

static void test_registry_duplicate_builtin_refused(void)
{
    gd_registry *reg = builtin_registry();
    const gd_entry *sgd = gd_registry_find(reg, GD_KIND_OPTIMIZER, "sgd");
    const gd_component *builtin = sgd->component;
    char *sgd_file = strdup(sgd->file);
    /* Both files named: the newcomer and the one already registered. */
    expect_refused(reg, FIXTURE("fixture_dup_builtin"), GD_EEXIST, "duplicate optimizer 'sgd'",
                   "fixture_dup_builtin.so", sgd_file, "already registered from", NULL);
    CU_ASSERT(has(sgd_file, "sgd.so"));
    /* The plugin's other, unique component was refused with it. */
    CU_ASSERT_PTR_NULL(gd_registry_find(reg, GD_KIND_OPTIMIZER, "fixture_unique"));
    CU_ASSERT_PTR_EQUAL(gd_registry_find(reg, GD_KIND_OPTIMIZER, "sgd")->component, builtin);
    free(sgd_file);
    gd_registry_free(reg);
}

static void test_registry_duplicate_across_files_refused(void)
{
    /* A copy of the good plugin under another name is another file with
     * the same component: refused, naming both. */
    char *dir = make_tmpdir();
    char *copy = join(dir, "again.so");
    copy_file(FIXTURE("fixture_good"), copy);
    gd_registry *reg = gd_registry_new();
    gd_error err;
    CU_ASSERT_EQUAL(gd_registry_load(reg, FIXTURE("fixture_good"), &err), GD_OK);
    CU_ASSERT_EQUAL(gd_registry_load(reg, copy, &err), GD_EEXIST);
    CU_ASSERT(has(err.msg, "duplicate optimizer 'fixture_opt'"));
    CU_ASSERT(has(err.msg, "again.so"));
    CU_ASSERT(has(err.msg, "fixture_good.so"));
    CU_ASSERT_EQUAL(gd_registry_count(reg), 1);
    gd_registry_free(reg);
    free(copy);
    rm_tree(dir);
}

static void test_registry_short_size_refused(void)
{
    gd_registry *reg = builtin_registry();
    expect_refused(reg, FIXTURE("fixture_short_size"), GD_EABI, "fixture_short_size.so",
                   "component 1 has a short or missing descriptor", NULL);
    CU_ASSERT_PTR_NULL(gd_registry_find(reg, GD_KIND_OPTIMIZER, "fixture_short"));
    gd_registry_free(reg);
}

static void test_registry_text_file_refused(void)
{
    char *dir = make_tmpdir();
    char *path = join(dir, "x.so");
    static const char text[] = "this is not a shared object\n";
    write_file(path, text, sizeof text - 1);
    gd_registry *reg = builtin_registry();
    expect_refused(reg, path, GD_EIO, "x.so", "cannot load", NULL);
    gd_registry_free(reg);
    free(path);
    rm_tree(dir);
}

static void test_registry_missing_file_refused(void)
{
    gd_registry *reg = builtin_registry();
    expect_refused(reg, GD_FIXTURE_DIR "/no_such_plugin.so", GD_ENOTFOUND,
                   "no_such_plugin.so", "no such file", NULL);
    gd_registry_free(reg);
}

static void test_registry_directory_refused(void)
{
    char *dir = make_tmpdir();
    char *sub = join(dir, "dir.so");
    CU_ASSERT_EQUAL_FATAL(mkdir(sub, 0700), 0);
    gd_registry *reg = builtin_registry();
    expect_refused(reg, sub, GD_EIO, "dir.so", "not a regular file", NULL);
    gd_registry_free(reg);
    free(sub);
    rm_tree(dir);
}

/* ---- directories and GRADUS_PLUGIN_PATH ---- */

static void test_registry_load_dir(void)
{
    /* dir/fixture_sched.so, dir/optimizers/good.so (one level of
     * subdirectories, as the build tree's plugins/<kind>/), and files that
     * are not plugins by name: skipped, not refused. */
    char *dir = make_tmpdir();
    char *sub = join(dir, "optimizers");
    CU_ASSERT_EQUAL_FATAL(mkdir(sub, 0700), 0);
    char *good = join(sub, "good.so"), *sched = join(dir, "fixture_sched.so");
    char *readme = join(dir, "README.txt"), *hidden = join(dir, ".hidden.so");
    copy_file(FIXTURE("fixture_good"), good);
    copy_file(FIXTURE("fixture_sched"), sched);
    write_file(readme, "not a plugin\n", 13);
    write_file(hidden, "not a plugin either\n", 20);

    gd_registry *reg = gd_registry_new();
    gd_error err = { "" };
    gd_status st = gd_registry_load_dir(reg, dir, &err);
    CU_ASSERT_EQUAL(st, GD_OK);
    if (st != GD_OK)
        fprintf(stderr, "\n  load_dir: %s\n", err.msg);
    CU_ASSERT_EQUAL(gd_registry_count(reg), 2);
    const gd_entry *opt = gd_registry_find(reg, GD_KIND_OPTIMIZER, "fixture_opt");
    CU_ASSERT_PTR_NOT_NULL(opt);
    if (opt)
        CU_ASSERT(has(opt->file, "optimizers/good.so"));
    CU_ASSERT_PTR_NOT_NULL(gd_registry_find(reg, GD_KIND_SCHEDULER, "fixture_sched"));
    /* Again: every file is already loaded, so nothing changes. */
    CU_ASSERT_EQUAL(gd_registry_load_dir(reg, dir, &err), GD_OK);
    CU_ASSERT_EQUAL(gd_registry_count(reg), 2);
    /* A missing directory is not an error. */
    char *missing = join(dir, "absent");
    CU_ASSERT_EQUAL(gd_registry_load_dir(reg, missing, &err), GD_OK);
    CU_ASSERT_EQUAL(gd_registry_count(reg), 2);
    gd_registry_free(reg);

    /* A refused plugin in a directory fails the load and names the file. */
    char *bad = join(dir, "x.so");
    write_file(bad, "text\n", 5);
    reg = gd_registry_new();
    CU_ASSERT_EQUAL(gd_registry_load_dir(reg, dir, &err), GD_EIO);
    CU_ASSERT(has(err.msg, "x.so"));
    CU_ASSERT(has(err.msg, "cannot load"));
    gd_registry_free(reg);

    free(bad);
    free(missing);
    free(good);
    free(sched);
    free(readme);
    free(hidden);
    free(sub);
    rm_tree(dir);
}

/* An environment variable's value (a copy, or NULL when unset), and putting
 * it back: tests change HOME and GRADUS_PLUGIN_PATH for themselves only. */
static char *save_env(const char *name)
{
    const char *v = getenv(name);
    return v ? strdup(v) : NULL;
}

static void restore_env(const char *name, char *saved)
{
    if (saved)
        setenv(name, saved, 1);
    else
        unsetenv(name);
    free(saved);
}

static void test_registry_plugin_path(void)
{
    char *a = make_tmpdir(), *b = make_tmpdir();
    char *good = join(a, "good.so"), *sched = join(b, "sched.so");
    copy_file(FIXTURE("fixture_good"), good);
    copy_file(FIXTURE("fixture_sched"), sched);
    char *saved = save_env("GRADUS_PLUGIN_PATH");

    /* Colon-separated, empty elements and missing dirs ignored. */
    size_t n = strlen(a) + strlen(b) + 64;
    char *path = malloc(n);
    snprintf(path, n, "%s::%s:/nonexistent/gradus-plugins", a, b);
    CU_ASSERT_EQUAL_FATAL(setenv("GRADUS_PLUGIN_PATH", path, 1), 0);
    gd_registry *reg = gd_registry_new();
    gd_error err = { "" };
    gd_status st = gd_registry_load_defaults(reg, &err);
    CU_ASSERT_EQUAL(st, GD_OK);
    if (st != GD_OK)
        fprintf(stderr, "\n  load_defaults: %s\n", err.msg);
    CU_ASSERT_PTR_NOT_NULL(gd_registry_find(reg, GD_KIND_OPTIMIZER, "sgd"));
    CU_ASSERT_PTR_NOT_NULL(gd_registry_find(reg, GD_KIND_OPTIMIZER, "fixture_opt"));
    CU_ASSERT_PTR_NOT_NULL(gd_registry_find(reg, GD_KIND_SCHEDULER, "fixture_sched"));
    /* Built-ins come first: the search order is part of the contract. */
    const gd_entry *builtin = gd_registry_find(reg, GD_KIND_OPTIMIZER, "sgd");
    const gd_entry *extra = gd_registry_find(reg, GD_KIND_OPTIMIZER, "fixture_opt");
    CU_ASSERT(builtin && extra && builtin < extra);
    int with_path = gd_registry_count(reg);
    gd_registry_free(reg);

    /* Without it, only the built-ins. */
    CU_ASSERT_EQUAL(setenv("GRADUS_PLUGIN_PATH", "", 1), 0);
    reg = gd_registry_new();
    CU_ASSERT_EQUAL(gd_registry_load_defaults(reg, &err), GD_OK);
    CU_ASSERT_PTR_NULL(gd_registry_find(reg, GD_KIND_OPTIMIZER, "fixture_opt"));
    CU_ASSERT_EQUAL(gd_registry_count(reg), with_path - 2);
    gd_registry_free(reg);

    /* A plugin that clashes with a built-in fails the defaults by name. */
    char *clash = join(a, "zz_clash.so");
    copy_file(FIXTURE("fixture_dup_builtin"), clash);
    CU_ASSERT_EQUAL(setenv("GRADUS_PLUGIN_PATH", a, 1), 0);
    reg = gd_registry_new();
    CU_ASSERT_EQUAL(gd_registry_load_defaults(reg, &err), GD_EEXIST);
    CU_ASSERT(has(err.msg, "zz_clash.so"));
    CU_ASSERT(has(err.msg, "duplicate optimizer 'sgd'"));
    gd_registry_free(reg);

    restore_env("GRADUS_PLUGIN_PATH", saved);
    free(path);
    free(clash);
    free(good);
    free(sched);
    rm_tree(a);
    rm_tree(b);
}

/* ~/.local/lib/gradus/plugins: loaded after the built-ins and before
 * GRADUS_PLUGIN_PATH, with no configuration; nothing when HOME is unset. */
static void test_registry_user_dir(void)
{
    char *home = make_tmpdir(), *extra = make_tmpdir();
    char *dir = join(home, GD_USER_PLUGIN_DIR);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
    CU_ASSERT_EQUAL_FATAL(system(cmd), 0);
    char *good = join(dir, "good.so"), *sched = join(extra, "sched.so");
    copy_file(FIXTURE("fixture_good"), good);
    copy_file(FIXTURE("fixture_sched"), sched);
    char *saved_home = save_env("HOME"), *saved_path = save_env("GRADUS_PLUGIN_PATH");
    CU_ASSERT_EQUAL_FATAL(setenv("HOME", home, 1), 0);
    CU_ASSERT_EQUAL_FATAL(setenv("GRADUS_PLUGIN_PATH", extra, 1), 0);

    gd_registry *reg = gd_registry_new();
    gd_error err = { "" };
    gd_status st = gd_registry_load_defaults(reg, &err);
    if (st != GD_OK)
        fprintf(stderr, "\n  load_defaults: %s\n", err.msg);
    CU_ASSERT_EQUAL(st, GD_OK);
    const gd_entry *builtin = gd_registry_find(reg, GD_KIND_OPTIMIZER, "sgd");
    const gd_entry *user = gd_registry_find(reg, GD_KIND_OPTIMIZER, "fixture_opt");
    const gd_entry *path = gd_registry_find(reg, GD_KIND_SCHEDULER, "fixture_sched");
    CU_ASSERT_FATAL(builtin && user && path);
    CU_ASSERT(has(user->file, GD_USER_PLUGIN_DIR "/good.so"));
    CU_ASSERT(builtin < user && user < path);
    gd_registry_free(reg);

    /* No HOME: no user dir, and no error. */
    unsetenv("HOME");
    reg = gd_registry_new();
    CU_ASSERT_EQUAL(gd_registry_load_defaults(reg, &err), GD_OK);
    CU_ASSERT_PTR_NULL(gd_registry_find(reg, GD_KIND_OPTIMIZER, "fixture_opt"));
    CU_ASSERT_PTR_NOT_NULL(gd_registry_find(reg, GD_KIND_SCHEDULER, "fixture_sched"));
    gd_registry_free(reg);

    restore_env("HOME", saved_home);
    restore_env("GRADUS_PLUGIN_PATH", saved_path);
    free(good);
    free(sched);
    free(dir);
    rm_tree(home);
    rm_tree(extra);
}

/* ---- unknown names ---- */

static void test_registry_unknown_did_you_mean(void)
{
    gd_registry *reg = builtin_registry();
    gd_error err;
    CU_ASSERT_EQUAL(gd_registry_load(reg, FIXTURE("fixture_good"), &err), GD_OK);

    CU_ASSERT_EQUAL(gd_registry_fail_unknown(reg, GD_KIND_OPTIMIZER, "fixture_op", &err),
                    GD_ENOTFOUND);
    CU_ASSERT(has(err.msg, "unknown optimizer 'fixture_op' (did you mean 'fixture_opt'?"));
    CU_ASSERT(has(err.msg, "available: "));
    CU_ASSERT(has(err.msg, "sgd"));

    /* Through a spec by name: the same message. */
    CU_ASSERT_PTR_NULL(gd_spec_by_name(reg, GD_KIND_OPTIMIZER, "sgdd", &err));
    CU_ASSERT(has(err.msg, "unknown optimizer 'sgdd' (did you mean 'sgd'?"));

    /* Nothing close: the list without a guess. */
    CU_ASSERT_EQUAL(gd_registry_fail_unknown(reg, GD_KIND_OPTIMIZER, "qqqqqqqqqq", &err),
                    GD_ENOTFOUND);
    CU_ASSERT(has(err.msg, "unknown optimizer 'qqqqqqqqqq' (available: "));
    CU_ASSERT_PTR_NULL(strstr(err.msg, "did you mean"));

    /* Only names of the asked kind are suggested. */
    CU_ASSERT_EQUAL(gd_registry_fail_unknown(reg, GD_KIND_LOSS, "fixture_opt", &err),
                    GD_ENOTFOUND);
    CU_ASSERT_PTR_NULL(strstr(err.msg, "did you mean 'fixture_opt'"));
    gd_registry_free(reg);

    /* An empty registry says so. */
    reg = gd_registry_new();
    gd_registry_fail_unknown(reg, GD_KIND_OPTIMIZER, "adam", &err);
    CU_ASSERT_STRING_EQUAL(err.msg, "unknown optimizer 'adam' (available: none loaded; if a "
                           "plugin provides it, load it: gradus -l FILE.so, "
                           "gd.plugins.load(FILE) or a directory in GRADUS_PLUGIN_PATH)");
    gd_registry_free(reg);
}

int main(void)
{
    static const test_case cases[] = {
        TEST(test_registry_good_plugin),
        TEST(test_registry_same_file_twice_is_noop),
        TEST(test_registry_free_accepts_null),
        TEST(test_registry_wrong_abi_refused),
        TEST(test_registry_missing_entry_refused),
        TEST(test_registry_duplicate_within_plugin_refused),
        TEST(test_registry_duplicate_builtin_refused),
        TEST(test_registry_duplicate_across_files_refused),
        TEST(test_registry_short_size_refused),
        TEST(test_registry_text_file_refused),
        TEST(test_registry_missing_file_refused),
        TEST(test_registry_directory_refused),
        TEST(test_registry_load_dir),
        TEST(test_registry_plugin_path),
        TEST(test_registry_user_dir),
        TEST(test_registry_unknown_did_you_mean),
        TEST_END,
    };
    return test_main("registry", cases);
}
