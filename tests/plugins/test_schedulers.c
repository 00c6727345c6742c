/*
 * tests/plugins/test_schedulers.c: every schedule against
 * shared/reference/schedulers.lua (relative tolerance 1e-12), the run's
 * horizon standing in for an absent cosine T, and the refusals.
 */
#include <lauxlib.h>
#include <math.h>
#include <string.h>

#include "support.h"

#define REL_TOL 1e-12

static void expect_refusal(gd_status st, const char *msg, const char *fragment)
{
    CU_ASSERT_NOT_EQUAL(st, GD_OK);
    if (!strstr(msg, fragment)) {
        fprintf(stderr, "\n  message '%s' lacks '%s'\n", msg, fragment);
        CU_FAIL("message");
    }
}

static const gd_scheduler_vtable *vt_of(const gd_spec *s)
{
    return s->component->vt.scheduler;
}

/* Run the schedule's check (when it has one) with this horizon. */
static gd_status run_check(const gd_spec *s, int64_t horizon, gd_error *err)
{
    return vt_of(s)->check ? vt_of(s)->check(s->options, horizon, err) : GD_OK;
}

/* Compare lr(t), t = 0 .. #want-1, with the case's `lr` list (at the top of
 * the stack). Returns false after reporting the first mismatch. */
static bool check_sequence(lua_State *L, const char *what, const gd_spec *s, double lr0,
                           int64_t horizon)
{
    lua_getfield(L, -1, "lr");
    if (!lua_istable(L, -1)) {
        lua_pop(L, 1);
        fprintf(stderr, "\n  %s: case has no 'lr' list\n", what);
        CU_FAIL("malformed reference case");
        return false;
    }
    lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
    bool ok = n > 0;
    for (lua_Integer i = 1; i <= n && ok; i++) {
        lua_rawgeti(L, -1, i);
        double want = lua_tonumber(L, -1);  /* float64 values: not rounded to float */
        lua_pop(L, 1);
        double got = vt_of(s)->lr(s->options, (int64_t)(i - 1), lr0, horizon);
        if (!(fabs(got - want) <= REL_TOL * fabs(want))) {
            fprintf(stderr, "\n  %s: lr(t = %lld) = %.17g, want %.17g (rel diff %.3g)\n", what,
                    (long long)(i - 1), got, want, fabs(got - want) / fabs(want));
            ok = false;
        }
    }
    lua_pop(L, 1);
    if (ok) {
        CU_PASS("sequence matches");
    } else {
        CU_FAIL("schedule differs from the reference");
    }
    return ok;
}

/* Pushes f(case) -> { options = <case options without T> }, T-or-nil; nil
 * when neither the schedule nor its nested `after` has a T. */
static const char *strip_t_chunk =
    "return function(c)\n"
    "  local function copy(t) local r = {} for k, v in pairs(t) do r[k] = v end return r end\n"
    "  local o = copy(c.options or {})\n"
    "  if o.T ~= nil then local T = o.T; o.T = nil; return { options = o }, T end\n"
    "  local a = o.after\n"
    "  if type(a) == 'table' and type(a.options) == 'table' and a.options.T ~= nil then\n"
    "    local T = a.options.T\n"
    "    o.after = { name = a.name, options = copy(a.options) }\n"
    "    o.after.options.T = nil\n"
    "    return { options = o }, T\n"
    "  end\n"
    "  return nil\n"
    "end\n";

/* With T removed, the same case must come out of the horizon: T itself for
 * a top-level cosine, run_length for a warmup (its nested cosine then gets
 * run_length - steps). */
static void check_without_t(lua_State *L, const char *name, const char *schedule, double lr0)
{
    int top = lua_gettop(L);
    if (luaL_dostring(L, strip_t_chunk) != LUA_OK) {
        CU_FAIL("strip chunk");
        lua_settop(L, top);
        return;
    }
    lua_pushvalue(L, top);
    lua_call(L, 1, 2);
    if (lua_isnil(L, -2)) {
        lua_settop(L, top);
        return;
    }
    int64_t T = (int64_t)lua_tointeger(L, -1);
    lua_pop(L, 1);
    lua_pushvalue(L, top);               /* the case, to read run_length */
    int64_t horizon = (int64_t)ref_number(L, "run_length", (double)T);
    lua_pop(L, 1);
    gd_spec *s = ref_spec(L, GD_KIND_SCHEDULER, schedule);
    lua_settop(L, top);
    if (!s)
        return;
    gd_error err;
    CU_ASSERT_EQUAL(run_check(s, horizon, &err), GD_OK);
    /* Outside a run there is no horizon: the missing T is refused. */
    CU_ASSERT_NOT_EQUAL(run_check(s, -1, &err), GD_OK);
    char what[160];
    snprintf(what, sizeof what, "%s without T (horizon %lld)", name, (long long)horizon);
    check_sequence(L, what, s, lr0, horizon);
    gd_spec_free(s);
}

static void test_schedulers_reference(void)
{
    lua_State *L = ref_open("schedulers");
    int n = ref_case_count(L);
    CU_ASSERT_FATAL(n > 0);
    for (int i = 1; i <= n; i++) {
        ref_push_case(L, i);
        const char *name = ref_string(L, "name");
        const char *schedule = ref_string(L, "schedule");
        if (!name || !schedule || !ref_has(L, "lr0") || !ref_has(L, "lr")) {
            fprintf(stderr, "\n  case %d: unknown case type (needs name, schedule, lr0, lr)\n",
                    i);
            CU_FAIL("unknown case type");
            lua_pop(L, 1);
            continue;
        }
        double lr0 = ref_number(L, "lr0", 0);
        /* A warmup case states its run's length; other cases are queried
         * outside a run, where their options must suffice. */
        int64_t horizon = (int64_t)ref_number(L, "run_length", -1);
        gd_spec *s = ref_spec(L, GD_KIND_SCHEDULER, schedule);
        if (s) {
            gd_error err;
            gd_status st = run_check(s, horizon, &err);
            if (st != GD_OK)
                fprintf(stderr, "\n  %s: check refused: %s\n", name, err.msg);
            CU_ASSERT_EQUAL(st, GD_OK);
            check_sequence(L, name, s, lr0, horizon);
            gd_spec_free(s);
        }
        check_without_t(L, name, schedule, lr0);
        lua_pop(L, 1);
    }
    ref_close(L);
}

static void test_schedulers_step_size_zero_refused(void)
{
    gd_spec *s = NULL;
    gd_status st = test_spec_try(&s, &test_last_error, GD_KIND_SCHEDULER, "step", "size", 'i',
                                 0LL, NULL);
    expect_refusal(st, test_last_error.msg, "step: option 'size' must be >= 1, got 0");
    CU_ASSERT_PTR_NULL(s);
    st = test_spec_try(&s, &test_last_error, GD_KIND_SCHEDULER, "step", "size", 'n', 2.5, NULL);
    expect_refusal(st, test_last_error.msg, "step: option 'size' must be an integer, got 2.5");
}

static void test_schedulers_required_options_refused(void)
{
    static const struct { const char *name, *fragment; } cases[] = {
        { "inverse_time", "inverse_time: option 'alpha' is required" },
        { "step", "step: option 'size' is required" },
        { "exponential", "exponential: option 'decay' is required" },
        { "warmup", "warmup: option 'steps' is required" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        gd_spec *s = NULL;
        gd_status st = test_spec_try(&s, &test_last_error, GD_KIND_SCHEDULER, cases[i].name,
                                     NULL);
        expect_refusal(st, test_last_error.msg, cases[i].fragment);
    }
    gd_spec *s = NULL;
    gd_status st = test_spec_try(&s, &test_last_error, GD_KIND_SCHEDULER, "exponential",
                                 "decay", 'n', -0.1, NULL);
    expect_refusal(st, test_last_error.msg, "exponential: option 'decay' must be >= 0, got -0.1");
}

static void test_schedulers_warmup_after_must_be_scheduler(void)
{
    gd_spec *init = test_spec(GD_KIND_INITIALIZER, "zeros", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(init);
    gd_spec *s = NULL;
    gd_status st = test_spec_try(&s, &test_last_error, GD_KIND_SCHEDULER, "warmup", "steps", 'i',
                                 5LL, "after", 'p', init, NULL);
    expect_refusal(st, test_last_error.msg,
                   "warmup: option 'after' must be a scheduler, got initializer 'zeros'");
    CU_ASSERT_PTR_NULL(s);
    gd_spec_free(init);
}

static void test_schedulers_cosine_without_t_outside_run_refused(void)
{
    gd_spec *c = test_spec(GD_KIND_SCHEDULER, "cosine", "lr_min", 'n', 0.01, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    gd_error err = { "" };
    expect_refusal(run_check(c, -1, &err), err.msg,
                   "cosine: option 'T' is required outside a run (inside gd.train it defaults "
                   "to the run's length)");
    CU_ASSERT_EQUAL(run_check(c, 100, &err), GD_OK);
    /* lr itself never divides by zero: without a T it leaves lr alone. */
    CU_ASSERT_EQUAL(vt_of(c)->lr(c->options, 7, 0.1, -1), 0.1);
    CU_ASSERT_EQUAL(vt_of(c)->lr(c->options, 0, 0.1, 0), 0.1);

    /* Nested: warmup forwards its horizon minus steps, or -1. */
    gd_spec *w = test_spec(GD_KIND_SCHEDULER, "warmup", "steps", 'i', 10LL, "after", 'p', c,
                           NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(w);
    expect_refusal(run_check(w, -1, &err), err.msg,
                   "warmup: option 'after': cosine: option 'T' is required outside a run");
    CU_ASSERT_EQUAL(run_check(w, 60, &err), GD_OK);
    CU_ASSERT(isfinite(vt_of(w)->lr(w->options, 30, 0.1, -1)));
    gd_spec_free(w);

    /* With T given, no run is needed. */
    gd_spec *t = test_spec(GD_KIND_SCHEDULER, "cosine", "T", 'i', 20LL, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_EQUAL(run_check(t, -1, &err), GD_OK);
    gd_spec_free(t);
    gd_spec_free(c);
}

static void test_schedulers_cosine_stays_at_lr_min_after_t(void)
{
    gd_spec *c = test_spec(GD_KIND_SCHEDULER, "cosine", "T", 'i', 10LL, "lr_min", 'n', 0.002,
                           NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    for (int64_t t = 10; t < 40; t++)
        CU_ASSERT_EQUAL(vt_of(c)->lr(c->options, t, 0.1, -1), 0.002);
    CU_ASSERT_DOUBLE_EQUAL(vt_of(c)->lr(c->options, 5, 0.1, -1), 0.051, 1e-15);
    gd_spec_free(c);
}

static void test_schedulers_warmup_defaults_to_constant(void)
{
    gd_spec *w = test_spec(GD_KIND_SCHEDULER, "warmup", "steps", 'i', 4LL, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(w);
    const double want[] = { 0, 0.025, 0.05, 0.075, 0.1, 0.1, 0.1 };
    for (int t = 0; t < 7; t++)
        CU_ASSERT_DOUBLE_EQUAL(vt_of(w)->lr(w->options, t, 0.1, -1), want[t], 1e-15);
    gd_error err;
    CU_ASSERT_EQUAL(run_check(w, -1, &err), GD_OK);
    gd_spec_free(w);
}

static void test_schedulers_warmup_longer_than_run(void)
{
    /* The nested cosine is never reached, and nothing divides by zero. */
    gd_spec *c = test_spec(GD_KIND_SCHEDULER, "cosine", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    gd_spec *w = test_spec(GD_KIND_SCHEDULER, "warmup", "steps", 'i', 50LL, "after", 'p', c,
                           NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(w);
    gd_error err;
    CU_ASSERT_EQUAL(run_check(w, 20, &err), GD_OK);
    for (int64_t t = 0; t < 60; t++)
        CU_ASSERT(isfinite(vt_of(w)->lr(w->options, t, 0.1, 20)));
    gd_spec_free(w);
    gd_spec_free(c);
}

static void test_schedulers_unit_option_appended(void)
{
    const char *names[] = { "constant", "cosine", "warmup" };
    for (int i = 0; i < 3; i++) {
        const gd_entry *e = gd_registry_find(test_registry(), GD_KIND_SCHEDULER, names[i]);
        CU_ASSERT_PTR_NOT_NULL_FATAL(e);
        CU_ASSERT_EQUAL(gd_spec_option_index(e->component, "unit"),
                        e->component->noptions + GD_COMMON_UNIT);
    }
}

int main(void)
{
    static const test_case cases[] = {
        TEST(test_schedulers_reference),
        TEST(test_schedulers_step_size_zero_refused),
        TEST(test_schedulers_required_options_refused),
        TEST(test_schedulers_warmup_after_must_be_scheduler),
        TEST(test_schedulers_cosine_without_t_outside_run_refused),
        TEST(test_schedulers_cosine_stays_at_lr_min_after_t),
        TEST(test_schedulers_warmup_defaults_to_constant),
        TEST(test_schedulers_warmup_longer_than_run),
        TEST(test_schedulers_unit_option_appended),
        TEST_END,
    };
    return test_main("schedulers", cases);
}
