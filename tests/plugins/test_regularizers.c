/*
 * tests/plugins/test_regularizers.c: l1 and l2 against
 * shared/reference/regularizers.lua (penalty 1e-5 relative, gradients 1e-6
 * relative to the largest element), sign(0) = 0, and the refusals.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

static void expect_refusal(gd_status st, const char *fragment)
{
    CU_ASSERT_NOT_EQUAL(st, GD_OK);
    if (!strstr(test_last_error.msg, fragment)) {
        fprintf(stderr, "\n  message '%s' lacks '%s'\n", test_last_error.msg, fragment);
        CU_FAIL("message");
    }
}

static int64_t count_if(const float *w, int64_t n, int sign)
{
    int64_t c = 0;
    for (int64_t i = 0; i < n; i++)
        c += sign == 0 ? w[i] == 0.0f : sign < 0 ? w[i] < 0.0f : w[i] > 0.0f;
    return c;
}

static void run_case(lua_State *L, const char *name, const char *reg)
{
    gd_shape shape, gshape;
    float *w = ref_tensor(L, "W", &shape);
    float *grad_in = ref_tensor(L, "grad_in", &gshape);
    float *added = ref_tensor(L, "grad_added", NULL);
    float *out = ref_tensor(L, "grad_out", NULL);
    bool have_penalty = ref_has(L, "penalty");
    double want_penalty = ref_number(L, "penalty", 0);
    gd_spec *s = ref_spec(L, GD_KIND_REGULARIZER, reg);
    if (!w || !grad_in || !added || !out || !have_penalty) {
        fprintf(stderr, "\n  %s: unknown case type (needs W, grad_in, grad_added, grad_out, "
                "penalty)\n", name);
        CU_FAIL("unknown case type");
        goto done;
    }
    if (!s)
        goto done;
    const int64_t n = gd_shape_numel(&shape);
    CU_ASSERT_EQUAL(gd_shape_numel(&gshape), n);
    /* The file's own counts: the data loaded as it was written. */
    CU_ASSERT_EQUAL(count_if(w, n, 0), (int64_t)ref_number(L, "zeros", -1));
    CU_ASSERT_EQUAL(count_if(w, n, -1), (int64_t)ref_number(L, "negatives", -1));

    const gd_regularizer_vtable *vt = s->component->vt.regularizer;
    double p = vt->penalty(s->options, n, w);
    if (!(fabs(p - want_penalty) <= 1e-5 * fabs(want_penalty))) {
        fprintf(stderr, "\n  %s: penalty %.9g, want %.9g\n", name, p, want_penalty);
        CU_FAIL("penalty differs from the reference");
    }

    char what[128];
    float *g = calloc((size_t)n, sizeof *g);
    vt->add_grad(s->options, n, w, g);              /* the term alone */
    snprintf(what, sizeof what, "%s grad_added", name);
    check_close(what, g, added, n, 1e-6 * max_abs(added, n));
    for (int64_t i = 0; i < n; i++)
        if (w[i] == 0.0f)
            CU_ASSERT_EQUAL(g[i], 0.0f);            /* sign(0) = 0; l2: 0*lambda */
    memcpy(g, grad_in, (size_t)n * sizeof *g);
    vt->add_grad(s->options, n, w, g);              /* added to a gradient */
    snprintf(what, sizeof what, "%s grad_out", name);
    check_close(what, g, out, n, 1e-6 * max_abs(out, n));
    free(g);
done:
    gd_spec_free(s);
    free(w);
    free(grad_in);
    free(added);
    free(out);
}

static void test_regularizers_reference(void)
{
    lua_State *L = ref_open("regularizers");
    int n = ref_case_count(L);
    CU_ASSERT_FATAL(n > 0);
    for (int i = 1; i <= n; i++) {
        ref_push_case(L, i);
        const char *name = ref_string(L, "name");
        const char *reg = ref_string(L, "regularizer");
        if (!name || !reg) {
            fprintf(stderr, "\n  case %d: unknown case type (needs name, regularizer)\n", i);
            CU_FAIL("unknown case type");
        } else {
            run_case(L, name, reg);
        }
        lua_pop(L, 1);
    }
    ref_close(L);
}

static void test_regularizers_negative_lambda_refused(void)
{
    gd_spec *s = NULL;
    gd_status st = test_spec_try(&s, &test_last_error, GD_KIND_REGULARIZER, "l2", "lambda", 'n',
                                 -0.1, NULL);
    expect_refusal(st, "l2: option 'lambda' must be >= 0, got -0.1");
    CU_ASSERT_PTR_NULL(s);
    st = test_spec_try(&s, &test_last_error, GD_KIND_REGULARIZER, "l1", "lambda", 'n', -1e-3,
                       NULL);
    expect_refusal(st, "l1: option 'lambda' must be >= 0, got -0.001");
    CU_ASSERT_PTR_NULL(s);
}

static void test_regularizers_lambda_required(void)
{
    gd_spec *s = NULL;
    gd_status st = test_spec_try(&s, &test_last_error, GD_KIND_REGULARIZER, "l2", NULL);
    expect_refusal(st, "l2: option 'lambda' is required");
    st = test_spec_try(&s, &test_last_error, GD_KIND_REGULARIZER, "l1", NULL);
    expect_refusal(st, "l1: option 'lambda' is required");
}

/* Three million terms of 0.01: a float accumulator drifts by ~1e-3
 * relative; the penalty must be the double sum. */
static void test_regularizers_penalty_accumulates_in_double(void)
{
    const int64_t n = 3000000;
    float *w = malloc((size_t)n * sizeof *w);
    CU_ASSERT_PTR_NOT_NULL_FATAL(w);
    for (int64_t i = 0; i < n; i++)
        w[i] = (i & 1) ? 0.1f : -0.1f;
    const double a = fabs((double)0.1f);
    gd_spec *l2 = test_spec(GD_KIND_REGULARIZER, "l2", "lambda", 'n', 2.0, NULL);
    gd_spec *l1 = test_spec(GD_KIND_REGULARIZER, "l1", "lambda", 'n', 1.0, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(l2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(l1);
    double p2 = l2->component->vt.regularizer->penalty(l2->options, n, w);
    double p1 = l1->component->vt.regularizer->penalty(l1->options, n, w);
    CU_ASSERT_DOUBLE_EQUAL(p2, (double)n * a * a, 1e-9 * (double)n * a * a);
    CU_ASSERT_DOUBLE_EQUAL(p1, (double)n * a, 1e-9 * (double)n * a);
    gd_spec_free(l2);
    gd_spec_free(l1);
    free(w);
}

static void test_regularizers_to_option_appended(void)
{
    const char *names[] = { "l1", "l2" };
    for (int i = 0; i < 2; i++) {
        const gd_entry *e = gd_registry_find(test_registry(), GD_KIND_REGULARIZER, names[i]);
        CU_ASSERT_PTR_NOT_NULL_FATAL(e);
        CU_ASSERT_EQUAL(gd_spec_option_index(e->component, "to"),
                        e->component->noptions + GD_COMMON_TO);
    }
}

int main(void)
{
    static const test_case cases[] = {
        TEST(test_regularizers_reference),
        TEST(test_regularizers_negative_lambda_refused),
        TEST(test_regularizers_lambda_required),
        TEST(test_regularizers_penalty_accumulates_in_double),
        TEST(test_regularizers_to_option_appended),
        TEST_END,
    };
    return test_main("regularizers", cases);
}
