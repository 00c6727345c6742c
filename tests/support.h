/*
 * tests/support.h: shared fixtures for the CUnit tests.
 *
 * - the registry of built-in plugins (from the build tree)
 * - reference files from ../shared/reference, read with Lua (the files are
 *   Lua chunks), with floats rounded to float32 as their README asks
 * - specs from C arguments or from a reference case's `options` table
 * - a CUnit main that runs the suites a test file registers
 */
#ifndef GRADUS_TESTS_SUPPORT_H
#define GRADUS_TESTS_SUPPORT_H

#include <CUnit/CUnit.h>
#include <lua.h>
#include <stdbool.h>

#include "model.h"
#include "registry.h"

/* The registry with every built-in plugin; loaded once, freed at exit. */
gd_registry *test_registry(void);
/* A new registry with every built-in plugin but the one providing the
 * component (kind, skip): "a plugin is missing". Free it with
 * gd_registry_free. */
gd_registry *test_registry_without(gd_kind kind, const char *skip);

/* A finished spec of component (kind, name) with options given as a NULL-
 * terminated list of (name, type, value) triples:
 *   test_spec(GD_KIND_OPTIMIZER, "adam", "lr", 'n', 0.1, "eps_inside", 'b', 0, NULL)
 * types: 'n' number (double), 'i' integer (long long), 'b' boolean (int),
 * 's' string (const char *), 'p' spec (const gd_spec *). Fails the current
 * test (and returns NULL) when the spec is refused; the message is in
 * test_last_error. */
gd_spec *test_spec(gd_kind kind, const char *name, ...);
/* The same, returning the status and message instead of failing. */
gd_status test_spec_try(gd_spec **out, gd_error *err, gd_kind kind, const char *name, ...);
extern gd_error test_last_error;

/* A ReLU MLP on `inputs` features: depth x (dense(hidden), relu), then
 * dense(outputs), default initializers, weights from `seed`. Fails the
 * test (fatally) when the model cannot be built. Free with gd_model_free. */
gd_model *test_relu_mlp(int64_t inputs, int hidden, int depth, int outputs, uint64_t seed);

/* ---- reference files ---- */

/* Open ../shared/reference/<file>.lua (dir from GD_REFERENCE_DIR); returns a
 * state with the file's table at index 1. Fails the test, naming the path it
 * looked in, when missing. */
lua_State *ref_open(const char *file);
void ref_close(lua_State *L);
int ref_case_count(lua_State *L);
/* Push case i (1-based) onto the stack. */
void ref_push_case(lua_State *L, int i);
/* Fields of the table at the top of the stack. */
const char *ref_string(lua_State *L, const char *field);    /* NULL if absent */
double ref_number(lua_State *L, const char *field, double dflt);
bool ref_has(lua_State *L, const char *field);
/* Field `field` of the `dev` table of the case at the top (NaN if absent). */
double ref_dev(lua_State *L, const char *field);
/* A reference tensor { shape = {...}, v1, v2, ... } as malloc'd floats, each
 * rounded to float32. shape may be NULL. NULL if the field is absent. */
float *ref_tensor(lua_State *L, const char *field, gd_shape *shape);
/* Build a spec of (kind, name) from the `options` table of the table at the
 * top of the stack (number/integer/boolean/string values; a nested
 * { name =, options = } table becomes a nested spec of the option's kind).
 * Refusals fail the test. */
gd_spec *ref_spec(lua_State *L, gd_kind kind, const char *name);

/* ---- numeric checks ---- */

/* |got - want| <= tol elementwise; on failure reports the first bad index.
 * Returns true when all match. */
bool check_close(const char *what, const float *got, const float *want, int64_t n, double tol);
double max_abs(const float *x, int64_t n);
/* A deterministic value in [-1, 1) from (seed, i): test data without an RNG. */
float test_value(uint64_t seed, int64_t i);

/* ---- running ---- */

typedef struct test_case {
    const char *name;
    void (*fn)(void);
} test_case;

/* Register one suite and run everything; returns the process exit status. */
int test_main(const char *suite, const test_case *cases);
/* Whether the data file at path (a Debian data set setup.sh installs) is
 * there. When it is not, the calling test fails, unless GRADUS_ALLOW_NO_DATA=1
 * says a missing data set is expected: then the test is skipped, and
 * test_main returns meson's skip status, 77, after printing the reason
 * (unless something failed). */
bool test_have_data(const char *path, const char *package);

#define TEST(fn) { #fn, fn }
#define TEST_END { NULL, NULL }

#endif
