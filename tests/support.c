/*
 * tests/support.c: see support.h.
 */
#include "support.h"

#include <CUnit/Basic.h>
#include <lauxlib.h>
#include <lualib.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef GD_REFERENCE_DIR
#error "GD_REFERENCE_DIR must be defined by the build"
#endif

gd_error test_last_error;
static gd_registry *registry;

static void free_registry(void)
{
    gd_registry_free(registry);
    registry = NULL;
}

gd_registry *test_registry(void)
{
    if (registry)
        return registry;
    registry = gd_registry_new();
    gd_error err;
    if (gd_registry_load_defaults(registry, &err) != GD_OK) {
        fprintf(stderr, "cannot load built-in plugins: %s\n", err.msg);
        CU_FAIL_FATAL("built-in plugins did not load");
    }
    atexit(free_registry);
    return registry;
}

static gd_status spec_va(gd_spec **out, gd_error *err, gd_kind kind, const char *name,
                         va_list ap)
{
    *out = NULL;
    const gd_entry *e = gd_registry_find(test_registry(), kind, name);
    if (!e)
        return gd_registry_fail_unknown(test_registry(), kind, name, err);
    gd_spec *s = gd_spec_begin(test_registry(), e->component, err);
    if (!s)
        return GD_ENOMEM;
    const char *opt;
    gd_status st = GD_OK;
    while (st == GD_OK && (opt = va_arg(ap, const char *))) {
        int type = va_arg(ap, int);
        gd_arg a = { 0 };
        switch (type) {
        case 'n': a.type = GD_ARG_NUMBER; a.num = va_arg(ap, double); break;
        case 'i': a.type = GD_ARG_INTEGER; a.i = va_arg(ap, long long); break;
        case 'b': a.type = GD_ARG_BOOLEAN; a.b = va_arg(ap, int); break;
        case 's': a.type = GD_ARG_STRING; a.s = va_arg(ap, const char *); break;
        case 'p': a.type = GD_ARG_SPEC; a.spec = va_arg(ap, const gd_spec *); break;
        default: return gd_fail(err, GD_EINVAL, "test_spec: bad type '%c'", type);
        }
        st = gd_spec_set(s, opt, &a, err);
    }
    if (st == GD_OK)
        st = gd_spec_finish(s, err);
    if (st != GD_OK) {
        gd_spec_free(s);
        return st;
    }
    *out = s;
    return GD_OK;
}

gd_status test_spec_try(gd_spec **out, gd_error *err, gd_kind kind, const char *name, ...)
{
    va_list ap;
    va_start(ap, name);
    gd_status st = spec_va(out, err, kind, name, ap);
    va_end(ap);
    return st;
}

gd_spec *test_spec(gd_kind kind, const char *name, ...)
{
    va_list ap;
    va_start(ap, name);
    gd_spec *s;
    gd_status st = spec_va(&s, &test_last_error, kind, name, ap);
    va_end(ap);
    if (st != GD_OK) {
        fprintf(stderr, "\n  spec %s refused: %s\n", name, test_last_error.msg);
        CU_FAIL("spec refused");
        return NULL;
    }
    return s;
}

gd_model *test_relu_mlp(int64_t inputs, int hidden, int depth, int outputs, uint64_t seed)
{
    enum { MAX_DEPTH = 16 };
    gd_spec *layers[2 * MAX_DEPTH + 1];
    int n = 0;
    CU_ASSERT_FATAL(depth >= 0 && depth <= MAX_DEPTH);
    for (int i = 0; i < depth; i++) {
        layers[n++] = test_spec(GD_KIND_LAYER, "dense", "units", 'i', (long long)hidden, NULL);
        layers[n++] = test_spec(GD_KIND_LAYER, "relu", NULL);
    }
    layers[n++] = test_spec(GD_KIND_LAYER, "dense", "units", 'i', (long long)outputs, NULL);
    gd_shape in = gd_shape_1(inputs);
    gd_error err;
    /* The model keeps copies of the specs. */
    gd_model *m = gd_model_new(test_registry(), (const gd_spec *const *)layers, n, &in, seed, &err);
    for (int i = 0; i < n; i++)
        gd_spec_free(layers[i]);
    if (!m)
        fprintf(stderr, "\n  model: %s\n", err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    return m;
}

/* ---- reference files ---- */

lua_State *ref_open(const char *file)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.lua", GD_REFERENCE_DIR, file);
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    if (luaL_dofile(L, path) != LUA_OK || !lua_istable(L, -1)) {
        fprintf(stderr, "\n  reference file %s not loadable (looked in %s; set -Dreference_dir="
                "): %s\n", file, path, lua_isstring(L, -1) ? lua_tostring(L, -1) : "not a table");
        lua_close(L);
        CU_FAIL_FATAL("reference file missing");
        return NULL;
    }
    lua_getfield(L, -1, "cases");
    lua_remove(L, -2);
    return L;
}

void ref_close(lua_State *L)
{
    if (L)
        lua_close(L);
}

int ref_case_count(lua_State *L)
{
    return (int)lua_rawlen(L, 1);
}

void ref_push_case(lua_State *L, int i)
{
    lua_rawgeti(L, 1, i);
}

const char *ref_string(lua_State *L, const char *field)
{
    lua_getfield(L, -1, field);
    const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    lua_pop(L, 1); /* the string stays alive: it is referenced by the table */
    return s;
}

double ref_number(lua_State *L, const char *field, double dflt)
{
    lua_getfield(L, -1, field);
    double v = lua_isnumber(L, -1) ? lua_tonumber(L, -1) : dflt;
    lua_pop(L, 1);
    return v;
}

bool ref_has(lua_State *L, const char *field)
{
    lua_getfield(L, -1, field);
    bool has = !lua_isnil(L, -1);
    lua_pop(L, 1);
    return has;
}

double ref_dev(lua_State *L, const char *field)
{
    lua_getfield(L, -1, "dev");
    double d = lua_istable(L, -1) ? ref_number(L, field, NAN) : NAN;
    lua_pop(L, 1);
    return d;
}

float *ref_tensor(lua_State *L, const char *field, gd_shape *shape)
{
    lua_getfield(L, -1, field);
    if (!lua_istable(L, -1)) {
        lua_pop(L, 1);
        return NULL;
    }
    size_t n = lua_rawlen(L, -1);
    float *x = malloc((n ? n : 1) * sizeof *x);
    for (size_t i = 0; i < n; i++) {
        lua_rawgeti(L, -1, (lua_Integer)i + 1);
        x[i] = (float)lua_tonumber(L, -1);
        lua_pop(L, 1);
    }
    if (shape) {
        memset(shape, 0, sizeof *shape);
        lua_getfield(L, -1, "shape");
        if (lua_istable(L, -1)) {
            shape->ndim = (int)lua_rawlen(L, -1);
            for (int d = 0; d < shape->ndim && d < GD_MAX_DIMS; d++) {
                lua_rawgeti(L, -1, d + 1);
                shape->dim[d] = lua_tointeger(L, -1);
                lua_pop(L, 1);
            }
        } else {
            *shape = gd_shape_1((int64_t)n);
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return x;
}

static gd_spec *spec_from_table(lua_State *L, gd_kind kind, const char *name, int opts_idx)
{
    const gd_entry *e = gd_registry_find(test_registry(), kind, name);
    if (!e) {
        gd_registry_fail_unknown(test_registry(), kind, name, &test_last_error);
        fprintf(stderr, "\n  %s\n", test_last_error.msg);
        CU_FAIL("unknown component in reference case");
        return NULL;
    }
    gd_spec *s = gd_spec_begin(test_registry(), e->component, &test_last_error);
    gd_status st = s ? GD_OK : GD_ENOMEM;
    if (st == GD_OK && opts_idx && lua_istable(L, opts_idx)) {
        lua_pushnil(L);
        while (st == GD_OK && lua_next(L, opts_idx)) {
            const char *key = lua_tostring(L, -2);
            gd_arg a = { 0 };
            gd_spec *child = NULL;
            switch (lua_type(L, -1)) {
            case LUA_TNUMBER:
                if (lua_isinteger(L, -1)) { a.type = GD_ARG_INTEGER; a.i = lua_tointeger(L, -1); }
                else { a.type = GD_ARG_NUMBER; a.num = lua_tonumber(L, -1); }
                break;
            case LUA_TBOOLEAN: a.type = GD_ARG_BOOLEAN; a.b = lua_toboolean(L, -1); break;
            case LUA_TSTRING: a.type = GD_ARG_STRING; a.s = lua_tostring(L, -1); break;
            case LUA_TTABLE: {
                int idx = gd_spec_option_index(e->component, key);
                gd_kind ck = idx >= 0 ? gd_spec_option(e->component, idx)->kind : kind;
                lua_getfield(L, -1, "name");
                lua_getfield(L, -2, "options");
                child = spec_from_table(L, ck, lua_tostring(L, -2), lua_gettop(L));
                lua_pop(L, 2);
                if (!child) { st = GD_EINVAL; break; }
                a.type = GD_ARG_SPEC;
                a.spec = child;
                break;
            }
            default: a.type = GD_ARG_STRING; a.s = "?"; break;
            }
            if (st == GD_OK)
                st = gd_spec_set(s, key, &a, &test_last_error);
            gd_spec_free(child);
            lua_pop(L, 1);
        }
        if (st != GD_OK)
            lua_pop(L, 1); /* the key left by the interrupted lua_next */
    }
    if (st == GD_OK)
        st = gd_spec_finish(s, &test_last_error);
    if (st != GD_OK) {
        fprintf(stderr, "\n  reference options for %s refused: %s\n", name, test_last_error.msg);
        CU_FAIL("reference options refused");
        gd_spec_free(s);
        return NULL;
    }
    return s;
}

gd_spec *ref_spec(lua_State *L, gd_kind kind, const char *name)
{
    lua_getfield(L, -1, "options");
    gd_spec *s = spec_from_table(L, kind, name, lua_istable(L, -1) ? lua_gettop(L) : 0);
    lua_pop(L, 1);
    return s;
}

/* ---- numeric checks ---- */

float test_value(uint64_t seed, int64_t i)
{
    uint64_t z = seed * 0x9E3779B97F4A7C15u + (uint64_t)i * 0xBF58476D1CE4E5B9u + 1;
    z ^= z >> 31;
    z *= 0x94D049BB133111EBu;
    z ^= z >> 29;
    return (float)((double)(z >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

double max_abs(const float *x, int64_t n)
{
    double m = 0;
    for (int64_t i = 0; i < n; i++)
        if (fabs(x[i]) > m)
            m = fabs(x[i]);
    return m;
}

bool check_close(const char *what, const float *got, const float *want, int64_t n, double tol)
{
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)want[i]);
        if (!(d <= tol)) {
            fprintf(stderr, "\n  %s[%lld]: got %.9g, want %.9g (|diff| %.3g > tol %.3g)\n", what,
                    (long long)i, got[i], want[i], d, tol);
            CU_FAIL("values differ from the reference");
            return false;
        }
    }
    CU_PASS("close");
    return true;
}

/* ---- running ---- */

static char skip_reason[512];

bool test_have_data(const char *path, const char *package)
{
    if (access(path, R_OK) == 0)
        return true;
    const char *allow = getenv("GRADUS_ALLOW_NO_DATA");
    char reason[512];
    snprintf(reason, sizeof reason, "%s is missing (the Debian package %s, which setup.sh "
             "installs)", path, package);
    if (allow && strcmp(allow, "1") == 0) {
        snprintf(skip_reason, sizeof skip_reason, "%s", reason);
        printf("\n  SKIPPED: %s\n", reason);
        return false;
    }
    fprintf(stderr, "\n  %s; set GRADUS_ALLOW_NO_DATA=1 to skip instead\n", reason);
    CU_FAIL("a data set setup.sh installs is missing");
    return false;
}

int test_main(const char *suite_name, const test_case *cases)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite suite = CU_add_suite(suite_name, NULL, NULL);
    for (const test_case *t = cases; t->name; t++)
        CU_add_test(suite, t->name, t->fn);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    unsigned run = CU_get_number_of_tests_run();
    CU_cleanup_registry();
    if (failed || run == 0)
        return 1;
    if (skip_reason[0]) {
        printf("SKIP: %s\n", skip_reason);
        return 77;   /* meson's skip status */
    }
    return 0;
}

gd_registry *test_registry_without(gd_kind kind, const char *skip)
{
    gd_registry *all = test_registry(), *reg = gd_registry_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(reg);
    const char *skip_file = gd_registry_find(all, kind, skip)->file;
    for (int i = 0; i < gd_registry_count(all); i++) {
        const gd_entry *e = gd_registry_at(all, i);
        gd_error err;
        if (strcmp(e->file, skip_file) != 0)
            CU_ASSERT_EQUAL(gd_registry_load(reg, e->file, &err), GD_OK);
    }
    CU_ASSERT_PTR_NULL(gd_registry_find(reg, kind, skip));
    return reg;
}
