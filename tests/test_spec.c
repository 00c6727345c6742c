/*
 * tests/test_spec.c: option validation against a component's schema.
 */
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

int main(void)
{
    static const test_case cases[] = {
        TEST(test_spec_defaults),
        TEST(test_spec_unknown_option),
        TEST(test_spec_wrong_type),
        TEST(test_spec_out_of_range),
        TEST(test_spec_unknown_component),
        TEST_END,
    };
    return test_main("spec", cases);
}
