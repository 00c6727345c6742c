/*
 * tests/test_out_of_tree.c: a third-party plugin, built the way the README
 * tells a user to build one.
 *
 * The test writes a small optimizer (signsgd: W -= lr * sign(g)) into a
 * fresh temp dir, compiles it with the system C compiler and the one line
 *     cc -shared -fPIC $(pkg-config --cflags gradus) signsgd.c -o signsgd.so
 * with PKG_CONFIG_PATH at the build tree's gradus-uninstalled.pc, loads it
 * and runs its step, then trains a small model with it through the C
 * trainer. It checks that the public headers are all a plugin needs: no
 * core header, no libgradus, no meson.
 */
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support.h"
#include "train.h"

#if !defined(GD_PKGCONFIG_DIR) || !defined(GD_SOURCE_INCLUDE) || \
    !defined(GD_INSTALLED_INCLUDE) || !defined(GD_INSTALLED_PLUGIN_DIR) || \
    !defined(GD_BUILD_PLUGIN_DIR)
#error "GD_PKGCONFIG_DIR and the install paths must be defined by the build"
#endif

static const char plugin_source[] =
    "/* signsgd: W -= lr * sign(g), sign(0) = 0 (Bernstein et al., 2018). */\n"
    "#include <gradus/gradus.h>\n"
    "\n"
    "static const gd_option_spec options[] = {\n"
    "    GD_OPT_NUMBER_MIN(\"lr\", 0.001, 0, \"learning rate\"),\n"
    "};\n"
    "\n"
    "static void step(const gd_options *opts, const gd_optim_state *st,\n"
    "                 const gd_optim_span *sp)\n"
    "{\n"
    "    (void)opts;\n"
    "    const float lr = (float)st->lr;\n"
    "    for (int64_t i = 0; i < sp->n; i++) {\n"
    "        float g = sp->g[i];\n"
    "        sp->x[i] -= g > 0 ? lr : g < 0 ? -lr : 0.0f;\n"
    "    }\n"
    "}\n"
    "\n"
    "static const gd_optimizer_vtable vtable = {\n"
    "    .size = sizeof(gd_optimizer_vtable),\n"
    "    .step = step,\n"
    "};\n"
    "\n"
    "static const gd_component signsgd = {\n"
    "    .size = sizeof(gd_component),\n"
    "    .kind = GD_KIND_OPTIMIZER,\n"
    "    .name = \"signsgd\",\n"
    "    .doc = \"sign gradient descent: W -= lr*sign(g)\",\n"
    "    .options = options,\n"
    "    .noptions = GD_COUNT(options),\n"
    "    .vt.optimizer = &vtable,\n"
    "};\n"
    "\n"
    "static const gd_component *const components[] = { &signsgd };\n"
    "GD_PLUGIN(\"signsgd\", \"0.1\", components)\n";

static char workdir[64];
static char so_path[128];

static void cleanup(void)
{
    if (!workdir[0])
        return;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", workdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", workdir);
}

/* Run a shell command; its output (stdout and stderr) into out. Returns
 * the exit status, or -1. */
static int run(const char *cmd, char *out, size_t len)
{
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    size_t n = fread(out, 1, len - 1, p);
    out[n] = 0;
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' '))
        out[--n] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void use_build_tree_pkgconfig(void)
{
    CU_ASSERT_EQUAL_FATAL(setenv("PKG_CONFIG_PATH", GD_PKGCONFIG_DIR, 1), 0);
    unsetenv("PKG_CONFIG_DISABLE_UNINSTALLED");
    unsetenv("PKG_CONFIG_LIBDIR");
}

/* Write signsgd.c and build signsgd.so once; the path, or NULL. */
static const char *built_plugin(void)
{
    static int done = 0;
    if (done)
        return so_path[0] ? so_path : NULL;
    done = 1;
    use_build_tree_pkgconfig();
    strcpy(workdir, "/tmp/gradus-test-oot-XXXXXX");
    if (!mkdtemp(workdir)) {
        workdir[0] = 0;
        CU_FAIL("mkdtemp");
        return NULL;
    }
    atexit(cleanup);
    char src[128];
    snprintf(src, sizeof src, "%s/signsgd.c", workdir);
    FILE *f = fopen(src, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs(plugin_source, f);
    CU_ASSERT_EQUAL_FATAL(fclose(f), 0);

    char cmd[512], out[4096];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && cc -shared -fPIC $(pkg-config --cflags gradus) signsgd.c -o signsgd.so "
             "2>&1", workdir);
    int st = run(cmd, out, sizeof out);
    if (st != 0) {
        fprintf(stderr, "\n  %s\n  exit %d: %s\n", cmd, st, out);
        CU_FAIL("the out-of-tree plugin did not compile");
        return NULL;
    }
    snprintf(so_path, sizeof so_path, "%s/signsgd.so", workdir);
    return so_path;
}

static bool contains(const char *s, const char *frag)
{
    if (strstr(s, frag))
        return true;
    fprintf(stderr, "\n  '%s' lacks '%s'\n", s, frag);
    return false;
}

/* ---- pkg-config ---- */

static void test_out_of_tree_uninstalled_pc(void)
{
    use_build_tree_pkgconfig();
    char out[1024];
    CU_ASSERT_EQUAL_FATAL(run("pkg-config --cflags gradus 2>&1", out, sizeof out), 0);
    CU_ASSERT(contains(out, "-I" GD_SOURCE_INCLUDE));
    CU_ASSERT_EQUAL(run("pkg-config --variable=plugindir gradus 2>&1", out, sizeof out), 0);
    CU_ASSERT_STRING_EQUAL(out, GD_BUILD_PLUGIN_DIR);
    CU_ASSERT_EQUAL(run("pkg-config --modversion gradus 2>&1", out, sizeof out), 0);
    CU_ASSERT_STRING_EQUAL(out, GD_VERSION);
}

/* The installed gradus.pc (same directory, read with uninstalled files
 * turned off): include dir and plugin dir of the installation. */
static void test_out_of_tree_installed_pc(void)
{
    char out[1024];
    CU_ASSERT_EQUAL_FATAL(run("PKG_CONFIG_PATH='" GD_PKGCONFIG_DIR "' "
                              "PKG_CONFIG_DISABLE_UNINSTALLED=1 PKG_CONFIG_ALLOW_SYSTEM_CFLAGS=1 "
                              "pkg-config --cflags gradus 2>&1", out, sizeof out), 0);
    /* the include dir, then the built-ins' code generation (pkgconfig/meson.build) */
    static const char want[] = "-I" GD_INSTALLED_INCLUDE " -O";
    CU_ASSERT_EQUAL(strncmp(out, want, sizeof want - 1), 0);
    CU_ASSERT(contains(out, " -fno-math-errno"));
    CU_ASSERT_EQUAL(run("PKG_CONFIG_PATH='" GD_PKGCONFIG_DIR "' PKG_CONFIG_DISABLE_UNINSTALLED=1 "
                        "pkg-config --variable=plugindir gradus 2>&1", out, sizeof out), 0);
    CU_ASSERT_STRING_EQUAL(out, GD_INSTALLED_PLUGIN_DIR);
}

/* ---- the plugin ---- */

/* What cc made is a shared object (ELF type ET_DYN) that exports the entry
 * symbol, and the entry returns a descriptor of this ABI. */
static void test_out_of_tree_builds(void)
{
    const char *so = built_plugin();
    CU_ASSERT_PTR_NOT_NULL_FATAL(so);
    unsigned char h[18] = { 0 };
    FILE *f = fopen(so, "rb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_EQUAL(fread(h, 1, sizeof h, f), sizeof h);
    fclose(f);
    CU_ASSERT(memcmp(h, "\177ELF", 4) == 0);
    CU_ASSERT_EQUAL(h[16] | h[17] << 8, 3);   /* e_type ET_DYN, little-endian */
    void *lib = dlopen(so, RTLD_NOW | RTLD_LOCAL);
    if (!lib)
        fprintf(stderr, "\n  dlopen: %s\n", dlerror());
    CU_ASSERT_PTR_NOT_NULL_FATAL(lib);
    const gd_plugin *(*entry)(void) = (const gd_plugin *(*)(void))dlsym(lib, "gradus_plugin");
    CU_ASSERT_PTR_NOT_NULL(entry);
    if (entry) {
        const gd_plugin *p = entry();
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        CU_ASSERT_EQUAL(p->abi_major, GD_ABI_MAJOR);
        CU_ASSERT_STRING_EQUAL(p->name, "signsgd");
    }
    dlclose(lib);
}

/* What a careful plugin author would build with: the public headers must
 * be warning-free C11 for them too. */
static void test_out_of_tree_headers_warning_free(void)
{
    CU_ASSERT_PTR_NOT_NULL_FATAL(built_plugin());
    char cmd[512], out[4096];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && cc -std=c11 -Wall -Wextra -Werror -c -fPIC $(pkg-config --cflags gradus) "
             "signsgd.c -o strict.o 2>&1", workdir);
    int st = run(cmd, out, sizeof out);
    if (st != 0)
        fprintf(stderr, "\n  %s\n  exit %d: %s\n", cmd, st, out);
    CU_ASSERT_EQUAL(st, 0);
}

static void test_out_of_tree_loads(void)
{
    const char *so = built_plugin();
    CU_ASSERT_PTR_NOT_NULL_FATAL(so);
    gd_registry *reg = gd_registry_new();
    gd_error err = { "" };
    CU_ASSERT_EQUAL(gd_registry_load_defaults(reg, &err), GD_OK);
    int before = gd_registry_count(reg);
    CU_ASSERT_PTR_NULL(gd_registry_find(reg, GD_KIND_OPTIMIZER, "signsgd"));
    gd_status st = gd_registry_load(reg, so, &err);
    if (st != GD_OK)
        fprintf(stderr, "\n  %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(st, GD_OK);
    CU_ASSERT_EQUAL(gd_registry_count(reg), before + 1);
    const gd_entry *e = gd_registry_find(reg, GD_KIND_OPTIMIZER, "signsgd");
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_STRING_EQUAL(e->plugin, "signsgd");
    CU_ASSERT_STRING_EQUAL(e->version, "0.1");
    CU_ASSERT(contains(e->file, "signsgd.so"));
    CU_ASSERT_EQUAL(e->abi_major, GD_ABI_MAJOR);
    /* Its schema is validated like a built-in's. */
    gd_spec *s = gd_spec_by_name(reg, GD_KIND_OPTIMIZER, "signsgd", &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_DOUBLE_EQUAL(gd_opt_num(s->options, 0), 0.001, 0);
    gd_arg a = { .type = GD_ARG_NUMBER, .num = -1 };
    CU_ASSERT_EQUAL(gd_spec_set(s, "lr", &a, &err), GD_EINVAL);
    CU_ASSERT(contains(err.msg, "signsgd: option 'lr' must be >= 0, got -1"));
    gd_spec_free(s);
    gd_registry_free(reg);
}

static void test_out_of_tree_step(void)
{
    const char *so = built_plugin();
    CU_ASSERT_PTR_NOT_NULL_FATAL(so);
    gd_registry *reg = gd_registry_new();
    gd_error err;
    CU_ASSERT_EQUAL_FATAL(gd_registry_load(reg, so, &err), GD_OK);
    gd_spec *s = gd_spec_by_name(reg, GD_KIND_OPTIMIZER, "signsgd", &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    const gd_optimizer_vtable *vt = s->component->vt.optimizer;
    CU_ASSERT_EQUAL(vt->nslots, 0);

    /* One step: each element moves by lr against its gradient's sign,
     * whatever the gradient's size, and not at all where g == 0. */
    float x[6] = { 1.0f, -2.0f, 0.5f, 3.0f, 0.0f, -0.25f };
    const float g[6] = { 0.3f, -5.0f, 0.0f, -1e-8f, 1e30f, -0.0f };
    const float lr = 0.125f;   /* a power of two: every expected value is exact */
    const float want1[6] = { 0.875f, -1.875f, 0.5f, 3.125f, -0.125f, -0.25f };
    gd_optim_span span = { .n = 6, .x = x, .g = g };
    gd_optim_state st = { .lr = lr, .t = 1 };
    vt->step(s->options, &st, &span);
    check_close("signsgd step 1", x, want1, 6, 0);

    /* Minimizing f(x) = 1/2 |x - c|^2 (g = x - c): the iterate walks to c
     * in steps of lr and then oscillates within lr of it. */
    const float c[6] = { 0.0f, 1.0f, -1.0f, 2.0f, 0.5f, -0.5f };
    float gg[6];
    span.g = gg;
    for (int t = 2; t <= 40; t++) {
        for (int i = 0; i < 6; i++)
            gg[i] = x[i] - c[i];
        st.t = t;
        vt->step(s->options, &st, &span);
    }
    for (int i = 0; i < 6; i++)
        CU_ASSERT(fabsf(x[i] - c[i]) <= lr);

    gd_spec_free(s);
    gd_registry_free(reg);
}

/* The plugin drives a real training run like a built-in optimizer: a
 * 2-16-3 MLP on three Gaussian blobs, through gd_trainer. */
static void test_out_of_tree_trains_model(void)
{
    const char *so = built_plugin();
    CU_ASSERT_PTR_NOT_NULL_FATAL(so);
    gd_registry *reg = test_registry();
    gd_error err;
    CU_ASSERT_EQUAL_FATAL(gd_registry_load(reg, so, &err), GD_OK);

    gd_dataset *ds = gd_synthetic_blobs(300, 3, 2, 1.0, 5, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ds);
    gd_spec *layers[3] = {
        test_spec(GD_KIND_LAYER, "dense", "units", 'i', 16LL, NULL),
        test_spec(GD_KIND_LAYER, "relu", NULL),
        test_spec(GD_KIND_LAYER, "dense", "units", 'i', 3LL, NULL),
    };
    gd_spec *loss = test_spec(GD_KIND_LOSS, "cross_entropy", NULL);
    gd_spec *opt = test_spec(GD_KIND_OPTIMIZER, "signsgd", "lr", 'n', 0.01, NULL);
    CU_ASSERT_FATAL(layers[0] && layers[1] && layers[2] && loss && opt);
    gd_shape in = gd_shape_1(2);
    gd_model *m = gd_model_new(reg, (const gd_spec *const *)layers, 3, &in, 1, &err);
    if (!m)
        fprintf(stderr, "\n  model: %s\n", err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);

    double loss0, acc0, loss1, acc1;
    CU_ASSERT_EQUAL_FATAL(gd_model_evaluate(m, loss, ds, 100, &loss0, &acc0, &err), GD_OK);
    gd_train_config cfg = {
        .model = m, .loss = loss, .optimizer = opt, .train = ds,
        .epochs = 20, .batch = 30, .seed = 1,
    };
    gd_trainer *tr = gd_trainer_new(&cfg, &err);
    if (!tr)
        fprintf(stderr, "\n  trainer: %s\n", err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(tr);
    while (!gd_trainer_finished(tr)) {
        gd_step_result r;
        if (gd_trainer_step(tr, &r, &err) != GD_OK) {
            fprintf(stderr, "\n  step: %s\n", err.msg);
            CU_FAIL("step failed");
            break;
        }
    }
    CU_ASSERT_EQUAL(gd_trainer_steps_done(tr), 20 * 10);
    CU_ASSERT_EQUAL(gd_model_evaluate(m, loss, ds, 100, &loss1, &acc1, &err), GD_OK);
    fprintf(stderr, " [signsgd: loss %.4f -> %.4f, accuracy %.3f -> %.3f] ", loss0, loss1, acc0,
            acc1);
    CU_ASSERT(loss1 < 0.25 * loss0);
    CU_ASSERT(acc1 >= 0.95);

    gd_trainer_free(tr);
    gd_model_free(m);
    for (int i = 0; i < 3; i++)
        gd_spec_free(layers[i]);
    gd_spec_free(loss);
    gd_spec_free(opt);
    gd_dataset_free(ds);
}

int main(void)
{
    static const test_case cases[] = {
        TEST(test_out_of_tree_uninstalled_pc),
        TEST(test_out_of_tree_installed_pc),
        TEST(test_out_of_tree_builds),
        TEST(test_out_of_tree_headers_warning_free),
        TEST(test_out_of_tree_loads),
        TEST(test_out_of_tree_step),
        TEST(test_out_of_tree_trains_model),
        TEST_END,
    };
    return test_main("out_of_tree", cases);
}
