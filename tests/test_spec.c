/*
 * tests/test_spec.c: option validation against a component's schema.
 *
 * Built-in sgd covers the common case; the fixture optimizer 'fixture_opt'
 * (tests/fixtures/fixture_good.c, loaded into the test registry) has an
 * option of every type, so every error class is tested whatever built-ins
 * exist: lr >= 0, beta in (0, 1), frac in [0, 1], steps integer in
 * [1, 1000], flag boolean, mode enum {fast, slow, exact}, label string,
 * scale required number, schedule an optional scheduler.
 */
#include <math.h>
#include <string.h>

#include "support.h"

#ifndef GD_FIXTURE_DIR
#error "GD_FIXTURE_DIR must be defined by the build"
#endif

static void expect_refusal(gd_status st, const char *fragment)
{
    CU_ASSERT_NOT_EQUAL(st, GD_OK);
    if (!strstr(test_last_error.msg, fragment)) {
        fprintf(stderr, "\n  message '%s' lacks '%s'\n", test_last_error.msg, fragment);
        CU_FAIL("message");
    }
}

static void test_spec_defaults(void)
{
    gd_spec *s = test_spec(GD_KIND_OPTIMIZER, "sgd", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_DOUBLE_EQUAL(gd_opt_num(s->options, 0), 0.01, 0);
    gd_spec_free(s);
}

static void test_spec_unknown_option(void)
{
    gd_spec *s;
    gd_status st = test_spec_try(&s, &test_last_error, GD_KIND_OPTIMIZER, "sgd", "lrr", 'n', 0.1,
                                 NULL);
    expect_refusal(st, "sgd: unknown option 'lrr' (did you mean 'lr'? options: lr)");
}

static void test_spec_wrong_type(void)
{
    gd_spec *s;
    gd_status st = test_spec_try(&s, &test_last_error, GD_KIND_OPTIMIZER, "sgd", "lr", 's', "big",
                                 NULL);
    expect_refusal(st, "sgd: option 'lr' must be a number, got string");
}

static void test_spec_out_of_range(void)
{
    gd_spec *s;
    gd_status st = test_spec_try(&s, &test_last_error, GD_KIND_OPTIMIZER, "sgd", "lr", 'n', -1.0,
                                 NULL);
    expect_refusal(st, "sgd: option 'lr' must be >= 0, got -1");
}

static void test_spec_unknown_component(void)
{
    gd_spec *s;
    gd_status st = test_spec_try(&s, &test_last_error, GD_KIND_OPTIMIZER, "sgdd", NULL);
    expect_refusal(st, "unknown optimizer 'sgdd' (did you mean 'sgd'?");
}

/* ---- every error class, on the fixture optimizer ---- */

/* The test registry plus the fixture plugins (loading twice is a no-op). */
static gd_registry *fixture_registry(void)
{
    gd_registry *reg = test_registry();
    gd_error err;
    static const char *const files[] = {
        GD_FIXTURE_DIR "/fixture_good.so", GD_FIXTURE_DIR "/fixture_sched.so",
    };
    for (int i = 0; i < 2; i++)
        if (gd_registry_load(reg, files[i], &err) != GD_OK) {
            fprintf(stderr, "\n  %s\n", err.msg);
            CU_FAIL_FATAL("fixture plugin did not load");
        }
    return reg;
}

/* fixture_opt with scale given plus the options that follow (NULL-ended
 * name/type/value triples as test_spec_try takes), expecting a refusal. */
#define REFUSE(fragment, ...)                                                          \
    do {                                                                               \
        gd_spec *s_;                                                                   \
        fixture_registry();                                                            \
        gd_status st_ = test_spec_try(&s_, &test_last_error, GD_KIND_OPTIMIZER,        \
                                      "fixture_opt", "scale", 'n', 1.0, __VA_ARGS__);  \
        expect_refusal(st_, fragment);                                                 \
        CU_ASSERT_PTR_NULL(s_);                                                        \
    } while (0)

/* The same, expecting acceptance; returns the finished spec. */
static gd_spec *accept_spec(gd_spec *s)
{
    if (!s) {
        fprintf(stderr, "\n  refused: %s\n", test_last_error.msg);
        CU_FAIL("spec refused");
    }
    return s;
}
#define ACCEPT(...) \
    (fixture_registry(), accept_spec(test_spec(GD_KIND_OPTIMIZER, "fixture_opt", \
                                               "scale", 'n', 1.0, __VA_ARGS__)))

enum { LR, BETA, FRAC, STEPS, FLAG, MODE, LABEL, SCALE, SCHEDULE };

static void test_spec_fixture_defaults(void)
{
    gd_spec *s = ACCEPT(NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_EQUAL(s->options->n, 9);
    CU_ASSERT_DOUBLE_EQUAL(gd_opt_num(s->options, LR), 0.01, 0);
    CU_ASSERT_DOUBLE_EQUAL(gd_opt_num(s->options, BETA), 0.9, 0);
    CU_ASSERT_DOUBLE_EQUAL(gd_opt_num(s->options, FRAC), 0.5, 0);
    CU_ASSERT_EQUAL(gd_opt_int(s->options, STEPS), 10);
    CU_ASSERT_EQUAL(gd_opt_bool(s->options, FLAG), 1);
    CU_ASSERT_EQUAL(gd_opt_enum(s->options, MODE), 0);
    CU_ASSERT_STRING_EQUAL(gd_opt_str(s->options, LABEL), "none");
    CU_ASSERT_DOUBLE_EQUAL(gd_opt_num(s->options, SCALE), 1.0, 0);
    CU_ASSERT_FALSE(gd_opt_present(s->options, SCHEDULE));   /* optional, no default */
    char buf[512];
    CU_ASSERT_PTR_NOT_NULL(strstr(gd_spec_describe(s, buf, sizeof buf),
                                  "fixture_opt{lr=0.01, beta=0.9"));
    gd_spec_free(s);
}

static void test_spec_unknown_option_did_you_mean(void)
{
    REFUSE("fixture_opt: unknown option 'bta' (did you mean 'beta'? options: lr, beta, frac, "
           "steps, flag, mode, label, scale, schedule)", "bta", 'n', 0.5, NULL);
    REFUSE("fixture_opt: unknown option 'shedule' (did you mean 'schedule'?", "shedule", 's',
           "fixture_sched", NULL);
    /* Nothing close: the list alone. */
    REFUSE("fixture_opt: unknown option 'momentum' (options: lr, beta,", "momentum", 'n', 0.9,
           NULL);
    CU_ASSERT_PTR_NULL(strstr(test_last_error.msg, "did you mean"));
}

static void test_spec_wrong_type_every_kind(void)
{
    REFUSE("fixture_opt: option 'lr' must be a number, got string", "lr", 's', "0.1", NULL);
    REFUSE("fixture_opt: option 'lr' must be a number, got boolean", "lr", 'b', 1, NULL);
    REFUSE("fixture_opt: option 'steps' must be an integer, got boolean", "steps", 'b', 1, NULL);
    REFUSE("fixture_opt: option 'steps' must be an integer, got string", "steps", 's', "10",
           NULL);
    REFUSE("fixture_opt: option 'flag' must be a boolean, got number", "flag", 'n', 1.0, NULL);
    REFUSE("fixture_opt: option 'flag' must be a boolean, got integer", "flag", 'i', 1LL, NULL);
    REFUSE("fixture_opt: option 'mode' must be a string, got number", "mode", 'n', 1.0, NULL);
    REFUSE("fixture_opt: option 'label' must be a string, got integer", "label", 'i', 3LL, NULL);
    REFUSE("fixture_opt: option 'schedule' must be a scheduler (a spec or a name), got number",
           "schedule", 'n', 1.0, NULL);
    /* A number option takes an integer as it is. */
    gd_spec *s = ACCEPT("lr", 'i', 2LL, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_DOUBLE_EQUAL(gd_opt_num(s->options, LR), 2.0, 0);
    gd_spec_free(s);
}

static void test_spec_min_bound(void)
{
    REFUSE("fixture_opt: option 'lr' must be >= 0, got -0.001", "lr", 'n', -0.001, NULL);
    gd_spec *s = ACCEPT("lr", 'n', 0.0, NULL);   /* closed: the bound itself is fine */
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_DOUBLE_EQUAL(gd_opt_num(s->options, LR), 0.0, 0);
    gd_spec_free(s);
}

static void test_spec_open_bounds(void)
{
    REFUSE("fixture_opt: option 'beta' must be in (0, 1), got 0", "beta", 'n', 0.0, NULL);
    REFUSE("fixture_opt: option 'beta' must be in (0, 1), got 1", "beta", 'n', 1.0, NULL);
    REFUSE("fixture_opt: option 'beta' must be in (0, 1), got 1.5", "beta", 'n', 1.5, NULL);
    REFUSE("fixture_opt: option 'beta' must be in (0, 1), got -0.5", "beta", 'n', -0.5, NULL);
    gd_spec *s = ACCEPT("beta", 'n', 1e-12, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    gd_spec_free(s);
    s = ACCEPT("beta", 'n', 0.999999, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_DOUBLE_EQUAL(gd_opt_num(s->options, BETA), 0.999999, 0);
    gd_spec_free(s);
}

static void test_spec_closed_bounds(void)
{
    REFUSE("fixture_opt: option 'frac' must be in [0, 1], got 1.5", "frac", 'n', 1.5, NULL);
    REFUSE("fixture_opt: option 'frac' must be in [0, 1], got -0.25", "frac", 'n', -0.25, NULL);
    gd_spec *s = ACCEPT("frac", 'n', 0.0, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    gd_spec_free(s);
    s = ACCEPT("frac", 'n', 1.0, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_DOUBLE_EQUAL(gd_opt_num(s->options, FRAC), 1.0, 0);
    gd_spec_free(s);
}

static void test_spec_integer_bounds(void)
{
    REFUSE("fixture_opt: option 'steps' must be in [1, 1000], got 0", "steps", 'i', 0LL, NULL);
    REFUSE("fixture_opt: option 'steps' must be in [1, 1000], got 1001", "steps", 'i', 1001LL,
           NULL);
    REFUSE("fixture_opt: option 'steps' must be in [1, 1000], got -3", "steps", 'n', -3.0, NULL);
    gd_spec *s = ACCEPT("steps", 'i', 1000LL, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_EQUAL(gd_opt_int(s->options, STEPS), 1000);
    gd_spec_free(s);
}

static void test_spec_not_finite(void)
{
    REFUSE("fixture_opt: option 'lr' must be >= 0, got inf", "lr", 'n', INFINITY, NULL);
    REFUSE("fixture_opt: option 'lr' must be >= 0, got nan", "lr", 'n', NAN, NULL);
    REFUSE("fixture_opt: option 'frac' must be in [0, 1], got nan", "frac", 'n', NAN, NULL);
    REFUSE("fixture_opt: option 'steps' must be an integer, got inf", "steps", 'n', INFINITY,
           NULL);
}

static void test_spec_integer_integral_float(void)
{
    REFUSE("fixture_opt: option 'steps' must be an integer, got 10.5", "steps", 'n', 10.5, NULL);
    gd_spec *s = ACCEPT("steps", 'n', 10.0, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_EQUAL(gd_opt_int(s->options, STEPS), 10);
    gd_spec_free(s);
    s = ACCEPT("steps", 'i', 7LL, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_EQUAL(gd_opt_int(s->options, STEPS), 7);
    gd_spec_free(s);
}

static void test_spec_missing_required(void)
{
    gd_spec *s;
    fixture_registry();
    gd_status st = test_spec_try(&s, &test_last_error, GD_KIND_OPTIMIZER, "fixture_opt", "lr",
                                 'n', 0.1, NULL);
    expect_refusal(st, "fixture_opt: option 'scale' is required (a required number)");
    CU_ASSERT_PTR_NULL(s);
    /* By name (all defaults) too. */
    CU_ASSERT_PTR_NULL(gd_spec_by_name(fixture_registry(), GD_KIND_OPTIMIZER, "fixture_opt",
                                       &test_last_error));
    expect_refusal(GD_EINVAL, "option 'scale' is required");
}

static void test_spec_unknown_enum_value(void)
{
    REFUSE("fixture_opt: option 'mode' must be one of 'fast', 'slow', 'exact', got 'fastest'",
           "mode", 's', "fastest", NULL);
    REFUSE("got 'Fast'", "mode", 's', "Fast", NULL);   /* case matters */
    gd_spec *s = ACCEPT("mode", 's', "exact", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_EQUAL(gd_opt_enum(s->options, MODE), 2);
    gd_spec_free(s);
}

static void test_spec_component_by_name_and_spec(void)
{
    gd_spec *s = ACCEPT("schedule", 's', "fixture_sched", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_TRUE(gd_opt_present(s->options, SCHEDULE));
    CU_ASSERT_STRING_EQUAL(gd_opt_spec(s->options, SCHEDULE)->component->name, "fixture_sched");
    CU_ASSERT_DOUBLE_EQUAL(gd_spec_lr(gd_opt_spec(s->options, SCHEDULE), 5, 0.25, -1), 0.25, 0);

    /* Given a spec, the option holds its own copy: freeing the caller's
     * spec leaves it intact. */
    gd_spec *sched = test_spec(GD_KIND_SCHEDULER, "fixture_sched", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sched);
    gd_spec *t = ACCEPT("schedule", 'p', sched, NULL);
    gd_spec_free(sched);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_STRING_EQUAL(gd_opt_spec(t->options, SCHEDULE)->component->name, "fixture_sched");
    /* Copies are deep: a copy outlives its source. */
    gd_spec *u = gd_spec_copy(t);
    gd_spec_free(t);
    CU_ASSERT_PTR_NOT_NULL_FATAL(u);
    CU_ASSERT_STRING_EQUAL(gd_opt_spec(u->options, SCHEDULE)->component->name, "fixture_sched");
    CU_ASSERT_STRING_EQUAL(gd_opt_str(u->options, LABEL), "none");
    gd_spec_free(u);
    gd_spec_free(s);
}

static void test_spec_component_wrong_kind(void)
{
    gd_spec *sgd = test_spec(GD_KIND_OPTIMIZER, "sgd", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sgd);
    REFUSE("fixture_opt: option 'schedule' must be a scheduler, got optimizer 'sgd'",
           "schedule", 'p', sgd, NULL);
    /* A name of another kind is an unknown name of this kind. */
    REFUSE("fixture_opt: option 'schedule': unknown scheduler 'sgd'", "schedule", 's', "sgd",
           NULL);
    gd_spec_free(sgd);
}

static void test_spec_component_unknown_name(void)
{
    REFUSE("fixture_opt: option 'schedule': unknown scheduler 'fixture_schd' (did you mean "
           "'fixture_sched'?", "schedule", 's', "fixture_schd", NULL);
    REFUSE("available: ", "schedule", 's', "qqqqqqqqqq", NULL);
}

/* A refused set changes nothing: each option keeps the value it had. */
static void test_spec_failed_set_keeps_value(void)
{
    gd_registry *reg = fixture_registry();
    const gd_entry *e = gd_registry_find(reg, GD_KIND_OPTIMIZER, "fixture_opt");
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    gd_error err;
    gd_spec *s = gd_spec_begin(reg, e->component, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    gd_spec *sched = test_spec(GD_KIND_SCHEDULER, "fixture_sched", NULL);
    gd_spec *sgd = test_spec(GD_KIND_OPTIMIZER, "sgd", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sched);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sgd);

    gd_arg a = { .type = GD_ARG_NUMBER, .num = 0.5 };
    CU_ASSERT_EQUAL(gd_spec_set(s, "lr", &a, &err), GD_OK);
    a.num = -1;
    CU_ASSERT_EQUAL(gd_spec_set(s, "lr", &a, &err), GD_EINVAL);
    CU_ASSERT_DOUBLE_EQUAL(gd_opt_num(s->options, LR), 0.5, 0);
    a = (gd_arg){ .type = GD_ARG_STRING, .s = "big" };
    CU_ASSERT_EQUAL(gd_spec_set(s, "lr", &a, &err), GD_EINVAL);
    CU_ASSERT_DOUBLE_EQUAL(gd_opt_num(s->options, LR), 0.5, 0);

    a = (gd_arg){ .type = GD_ARG_NUMBER, .num = 1.0 };
    CU_ASSERT_EQUAL(gd_spec_set(s, "beta", &a, &err), GD_EINVAL);
    CU_ASSERT_DOUBLE_EQUAL(gd_opt_num(s->options, BETA), 0.9, 0);

    a = (gd_arg){ .type = GD_ARG_INTEGER, .i = 20 };
    CU_ASSERT_EQUAL(gd_spec_set(s, "steps", &a, &err), GD_OK);
    a = (gd_arg){ .type = GD_ARG_NUMBER, .num = 10.5 };
    CU_ASSERT_EQUAL(gd_spec_set(s, "steps", &a, &err), GD_EINVAL);
    CU_ASSERT_EQUAL(gd_opt_int(s->options, STEPS), 20);

    a = (gd_arg){ .type = GD_ARG_STRING, .s = "yes" };
    CU_ASSERT_EQUAL(gd_spec_set(s, "flag", &a, &err), GD_EINVAL);
    CU_ASSERT_EQUAL(gd_opt_bool(s->options, FLAG), 1);

    a = (gd_arg){ .type = GD_ARG_STRING, .s = "slow" };
    CU_ASSERT_EQUAL(gd_spec_set(s, "mode", &a, &err), GD_OK);
    a.s = "slower";
    CU_ASSERT_EQUAL(gd_spec_set(s, "mode", &a, &err), GD_EINVAL);
    CU_ASSERT_EQUAL(gd_opt_enum(s->options, MODE), 1);

    a = (gd_arg){ .type = GD_ARG_STRING, .s = "mine" };
    CU_ASSERT_EQUAL(gd_spec_set(s, "label", &a, &err), GD_OK);
    a = (gd_arg){ .type = GD_ARG_NUMBER, .num = 3 };
    CU_ASSERT_EQUAL(gd_spec_set(s, "label", &a, &err), GD_EINVAL);
    CU_ASSERT_STRING_EQUAL(gd_opt_str(s->options, LABEL), "mine");

    a = (gd_arg){ .type = GD_ARG_SPEC, .spec = sched };
    CU_ASSERT_EQUAL(gd_spec_set(s, "schedule", &a, &err), GD_OK);
    const gd_spec *held = gd_opt_spec(s->options, SCHEDULE);
    a.spec = sgd;
    CU_ASSERT_EQUAL(gd_spec_set(s, "schedule", &a, &err), GD_EINVAL);
    a = (gd_arg){ .type = GD_ARG_STRING, .s = "nope" };
    CU_ASSERT_EQUAL(gd_spec_set(s, "schedule", &a, &err), GD_EINVAL);
    CU_ASSERT_PTR_EQUAL(gd_opt_spec(s->options, SCHEDULE), held);
    CU_ASSERT_STRING_EQUAL(held->component->name, "fixture_sched");

    /* An unknown option changes nothing either; the spec still finishes
     * once the required option is given, with the values set before. */
    a = (gd_arg){ .type = GD_ARG_NUMBER, .num = 1 };
    CU_ASSERT_EQUAL(gd_spec_set(s, "sclae", &a, &err), GD_EINVAL);
    CU_ASSERT_EQUAL(gd_spec_finish(s, &err), GD_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "option 'scale' is required"));
    CU_ASSERT_EQUAL(gd_spec_set(s, "scale", &a, &err), GD_OK);
    CU_ASSERT_EQUAL(gd_spec_finish(s, &err), GD_OK);
    char buf[512];
    CU_ASSERT_STRING_EQUAL(gd_spec_describe(s, buf, sizeof buf),
                           "fixture_opt{lr=0.5, beta=0.9, frac=0.5, steps=20, flag=true, "
                           "mode=\"slow\", label=\"mine\", scale=1, schedule=fixture_sched{"
                           "unit=\"step\"}}");
    gd_spec_free(sgd);
    gd_spec_free(sched);
    gd_spec_free(s);
}

/* Options the core adds to every scheduler (unit) are validated alike. */
static void test_spec_common_option(void)
{
    fixture_registry();
    gd_spec *s;
    gd_status st = test_spec_try(&s, &test_last_error, GD_KIND_SCHEDULER, "fixture_sched",
                                 "unit", 's', "epochs", NULL);
    expect_refusal(st, "fixture_sched: option 'unit' must be one of 'step', 'epoch', got "
                       "'epochs'");
    s = test_spec(GD_KIND_SCHEDULER, "fixture_sched", "unit", 's', "epoch", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_EQUAL(gd_opt_enum(s->options, 0), 1);
    gd_spec_free(s);
}

int main(void)
{
    static const test_case cases[] = {
        TEST(test_spec_defaults),
        TEST(test_spec_unknown_option),
        TEST(test_spec_wrong_type),
        TEST(test_spec_out_of_range),
        TEST(test_spec_unknown_component),
        TEST(test_spec_fixture_defaults),
        TEST(test_spec_unknown_option_did_you_mean),
        TEST(test_spec_wrong_type_every_kind),
        TEST(test_spec_min_bound),
        TEST(test_spec_open_bounds),
        TEST(test_spec_closed_bounds),
        TEST(test_spec_integer_bounds),
        TEST(test_spec_not_finite),
        TEST(test_spec_integer_integral_float),
        TEST(test_spec_missing_required),
        TEST(test_spec_unknown_enum_value),
        TEST(test_spec_component_by_name_and_spec),
        TEST(test_spec_component_wrong_kind),
        TEST(test_spec_component_unknown_name),
        TEST(test_spec_failed_set_keeps_value),
        TEST(test_spec_common_option),
        TEST_END,
    };
    return test_main("spec", cases);
}
