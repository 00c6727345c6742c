/*
 * tests/test_optim.c: core/optim.c apart from threading (that is
 * test_optim_threads.c): the elementwise step split over the pool, the
 * spec's tree (names, slots, base lr, which path it needs), instances over
 * tensors (a composite's numbers by hand, groups, reset, the refusals) and
 * the state layout a checkpoint holds.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "component.h"
#include "optim.h"
#include "support.h"
#include "threads.h"

static gd_spec *opt(const char *name, double lr)
{
    return test_spec(GD_KIND_OPTIMIZER, name, "lr", 'n', lr, NULL);
}

/* One Adam update of a span larger than the split threshold, cut over three
 * threads, is the update of one pass bit for bit; and it is Adam's first
 * step, m-hat = g and v-hat = g^2: x - lr g / sqrt(g^2 + eps) (eps inside,
 * the default). */
static void test_optim_elementwise_split_is_one_pass(void)
{
    enum { N = (1 << 16) + 5 };
    gd_spec *adam = opt("adam", 0.01);
    float *x1 = malloc(N * sizeof(float)), *x2 = malloc(N * sizeof(float));
    float *g = malloc(N * sizeof(float)), *x0 = malloc(N * sizeof(float));
    float *s[4];
    for (int k = 0; k < 4; k++)
        s[k] = calloc(N, sizeof(float));
    CU_ASSERT_PTR_NOT_NULL_FATAL(x1 && x2 && g && x0 && s[0] && s[1] && s[2] && s[3]);
    for (int64_t i = 0; i < N; i++) {
        x0[i] = x1[i] = x2[i] = test_value(1, i);
        g[i] = test_value(2, i);
    }
    double scalars[8] = { 0 };
    gd_optim_state st = { 0.01, 1, scalars };
    gd_set_threads(3);
    CU_ASSERT_EQUAL(gd_get_threads(), 3);
    gd_optim_span split = { N, x1, g, { s[0], s[1] } };
    gd_optimizer_step(adam, &st, &split);
    gd_optim_span one = { N, x2, g, { s[2], s[3] } };
    gd_optimizer_step_span(adam, &st, &one);
    CU_ASSERT_EQUAL(memcmp(x1, x2, N * sizeof(float)), 0);
    CU_ASSERT_EQUAL(memcmp(s[0], s[2], N * sizeof(float)), 0);
    CU_ASSERT_EQUAL(memcmp(s[1], s[3], N * sizeof(float)), 0);
    int bad = 0;
    for (int64_t i = 0; i < N; i++) {
        double want = x0[i] - 0.01 * g[i] / sqrt((double)g[i] * g[i] + 1e-8);
        bad += fabs(x1[i] - want) > 1e-6;
    }
    CU_ASSERT_EQUAL(bad, 0);
    gd_set_threads(1);
    for (int k = 0; k < 4; k++)
        free(s[k]);
    free(x0), free(x1), free(x2), free(g);
    gd_spec_free(adam);
}

/* The tree of a composite: its names, its slots, its base lr (the first lr
 * in it, outermost first) and the path it needs. */
static void test_optim_spec_tree(void)
{
    gd_spec *adam = opt("adam", 0.02), *sgd = opt("sgd", 0.05);
    gd_spec *la = test_spec(GD_KIND_OPTIMIZER, "lookahead", "inner", 'p', adam, NULL);
    gd_spec *sam = test_spec(GD_KIND_OPTIMIZER, "sam", "base", 'p', sgd, NULL);
    gd_spec *muon = test_spec(GD_KIND_OPTIMIZER, "muon", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(adam && sgd && la && sam && muon);
    char buf[128];
    gd_optimizer_tree_names(la, buf, sizeof buf);
    CU_ASSERT_STRING_EQUAL(buf, "lookahead{inner=adam}");
    gd_optimizer_tree_names(adam, buf, sizeof buf);
    CU_ASSERT_STRING_EQUAL(buf, "adam");
    gd_optimizer_tree_names(la, buf, 8);   /* cut, still terminated */
    CU_ASSERT_STRING_EQUAL(buf, "lookahe");
    CU_ASSERT_EQUAL(gd_optimizer_tree_slots(adam), 2);
    CU_ASSERT_EQUAL(gd_optimizer_tree_slots(la), 1 + 2);
    CU_ASSERT_DOUBLE_EQUAL(gd_optimizer_base_lr(adam), 0.02, 0);
    CU_ASSERT_DOUBLE_EQUAL(gd_optimizer_base_lr(la), 0.02, 0);    /* lookahead has no lr */
    CU_ASSERT_DOUBLE_EQUAL(gd_optimizer_base_lr(sam), 0.05, 0);
    CU_ASSERT_FALSE(gd_optimizer_is_tensor(adam));
    CU_ASSERT_TRUE(gd_optimizer_is_tensor(la));      /* an elementwise inner: still the tree */
    CU_ASSERT_TRUE(gd_optimizer_is_tensor(muon));
    CU_ASSERT_FALSE(gd_optimizer_is_two_pass(la));
    CU_ASSERT_TRUE(gd_optimizer_is_two_pass(sam));
    CU_ASSERT_FALSE(gd_optimizer_tensor_aware(adam));
    CU_ASSERT_TRUE(gd_optimizer_tensor_aware(la));
    CU_ASSERT_TRUE(gd_optimizer_has_step_all(sam));
    CU_ASSERT_FALSE(gd_optimizer_has_step_all(la));
    gd_spec_free(la), gd_spec_free(sam), gd_spec_free(muon);
    gd_spec_free(adam), gd_spec_free(sgd);
}

enum { NA = 6, NB = 4 };

/* Two tensors, of layers "a" and "b", with gradients g = test_value(seed, i). */
typedef struct pair {
    float xa[NA], xb[NB], ga[NA], gb[NB];
    gd_optim_tensor t[2];
} pair;

static void pair_init(pair *p)
{
    for (int i = 0; i < NA; i++)
        p->xa[i] = test_value(3, i), p->ga[i] = test_value(4, i);
    for (int i = 0; i < NB; i++)
        p->xb[i] = test_value(5, i), p->gb[i] = test_value(6, i);
    p->t[0] = (gd_optim_tensor){ .x = p->xa, .shape = gd_shape_2(2, 3), .role = GD_ROLE_WEIGHT,
                                 .layer = "a", .name = "weight" };
    p->t[1] = (gd_optim_tensor){ .x = p->xb, .shape = gd_shape_1(NB), .role = GD_ROLE_BIAS,
                                 .layer = "b", .name = "bias" };
}

/* Lookahead (k = 2, alpha = 0.5) over SGD, by hand: after update 1 the fast
 * weights are x0 - lr g; update 2 takes them to x0 - 2 lr g and the sync
 * halfway back from the slow weights (x0): x0 - lr g. Reset starts again:
 * t = 0 and the slow weights a copy of the weights of now. */
static void test_optim_lookahead_by_hand_and_reset(void)
{
    const double lr = 0.1;
    gd_spec *sgd = opt("sgd", lr);
    gd_spec *la = test_spec(GD_KIND_OPTIMIZER, "lookahead", "inner", 'p', sgd, "k", 'i', 2LL,
                            "alpha", 'n', 0.5, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sgd && la);
    pair p;
    pair_init(&p);
    float x0[NA];
    memcpy(x0, p.xa, sizeof x0);
    gd_error err;
    gd_optim *o = gd_optim_new(la, p.t, 2, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(o);
    gd_optim_set_grad(o, 0, p.ga);
    gd_optim_set_grad(o, 1, p.gb);
    CU_ASSERT_EQUAL(gd_optim_step(o, lr, NULL, NULL, &err), GD_OK);
    for (int i = 0; i < NA; i++)
        CU_ASSERT_DOUBLE_EQUAL(p.xa[i], x0[i] - lr * p.ga[i], 1e-6);
    CU_ASSERT_EQUAL(gd_optim_step(o, lr, NULL, NULL, &err), GD_OK);
    for (int i = 0; i < NA; i++)
        CU_ASSERT_DOUBLE_EQUAL(p.xa[i], x0[i] - lr * p.ga[i], 1e-6);
    CU_ASSERT_EQUAL(gd_optim_steps(o), 2);
    int64_t len = 0;
    float *slow = gd_optim_slot(o, 0, 0, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(slow);
    CU_ASSERT_EQUAL(len, NA);
    CU_ASSERT_EQUAL(memcmp(slow, p.xa, sizeof p.xa), 0);   /* synced: S = W */
    CU_ASSERT_PTR_NULL(gd_optim_slot(o, 0, 1, &len));      /* lookahead has one slot */
    CU_ASSERT_PTR_NULL(gd_optim_slot(o, 2, 0, &len));
    for (int i = 0; i < NA; i++)
        p.xa[i] += 1.0f;                                   /* weights of now */
    gd_optim_reset(o);
    CU_ASSERT_EQUAL(gd_optim_steps(o), 0);
    CU_ASSERT_EQUAL(memcmp(slow, p.xa, sizeof p.xa), 0);
    gd_optim_free(o);
    gd_spec_free(la), gd_spec_free(sgd);
}

/* A group gives its tensors its own options (lr 0 for layer "b": it does
 * not move) and the others keep the spec's; a group that matches no tensor
 * is refused by name. */
static void test_optim_groups(void)
{
    gd_error err;
    gd_spec *sgd = opt("sgd", 0.1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sgd);
    CU_ASSERT_EQUAL_FATAL(gd_spec_add_group(sgd, 0, "b", opt("sgd", 0.0), &err), GD_OK);
    pair p;
    pair_init(&p);
    float xa0[NA], xb0[NB];
    memcpy(xa0, p.xa, sizeof xa0);
    memcpy(xb0, p.xb, sizeof xb0);
    CU_ASSERT_TRUE(gd_optimizer_is_tensor(sgd));   /* groups take the tensor path */
    gd_optim *o = gd_optim_new(sgd, p.t, 2, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(o);
    gd_optim_set_grad(o, 0, p.ga);
    gd_optim_set_grad(o, 1, p.gb);
    CU_ASSERT_EQUAL(gd_optim_step(o, 0.1, NULL, NULL, &err), GD_OK);
    CU_ASSERT_EQUAL(memcmp(p.xb, xb0, sizeof xb0), 0);
    for (int i = 0; i < NA; i++)
        CU_ASSERT_DOUBLE_EQUAL(p.xa[i], xa0[i] - 0.1f * p.ga[i], 1e-7);
    gd_optim_free(o);

    gd_spec *miss = opt("sgd", 0.1);
    CU_ASSERT_EQUAL_FATAL(gd_spec_add_group(miss, GD_ROLE_BIAS, "a", opt("sgd", 0.0), &err),
                          GD_OK);
    CU_ASSERT_PTR_NULL(gd_optim_new(miss, p.t, 2, &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "sgd: groups[1] (role bias, layer a) matches no "
                                           "parameter tensor"));
    gd_spec_free(miss), gd_spec_free(sgd);
}

/* An optimizer that needs a second gradient cannot be inner: refused when
 * the instance is made, naming both. */
static void test_optim_inner_two_pass_refused(void)
{
    gd_spec *sam = test_spec(GD_KIND_OPTIMIZER, "sam", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sam);
    gd_spec *la = test_spec(GD_KIND_OPTIMIZER, "lookahead", "inner", 'p', sam, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(la);
    pair p;
    pair_init(&p);
    gd_error err;
    CU_ASSERT_PTR_NULL(gd_optim_new(la, p.t, 2, &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "sam: needs the whole model (a second gradient) "
                                           "and cannot be the inner optimizer of lookahead"));
    gd_spec_free(la), gd_spec_free(sam);
}

/* What a checkpoint's OPTM section holds: an elementwise optimizer's slots
 * over the parameter arena and its scalars; a composite's whole float arena
 * as one slot (every node's slots) and every node's t and scalars. */
static void test_optim_state_layout(void)
{
    gd_model *m = test_relu_mlp(4, 8, 1, 3, 7);
    gd_spec *adam = opt("adam", 0.01);
    gd_spec *la = test_spec(GD_KIND_OPTIMIZER, "lookahead", "inner", 'p', adam, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(adam && la);
    int64_t np = gd_model_param_count(m), len;
    int nslots, nscalars;
    gd_error err;
    CU_ASSERT_EQUAL(gd_optimizer_state_layout(adam, m, &nslots, &len, &nscalars, &err), GD_OK);
    CU_ASSERT_EQUAL(nslots, 2);
    CU_ASSERT_EQUAL(len, np);
    CU_ASSERT_EQUAL(nscalars, gd_optimizer_nscalars(adam));
    CU_ASSERT_EQUAL(gd_optimizer_state_layout(la, m, &nslots, &len, &nscalars, &err), GD_OK);
    CU_ASSERT_EQUAL(nslots, 1);
    CU_ASSERT_EQUAL(len, np * (1 + 2));
    CU_ASSERT_EQUAL(nscalars, (1 + gd_optimizer_nscalars(la)) + (1 + gd_optimizer_nscalars(adam)));
    gd_optim *o = gd_optim_new_model(la, m, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(o);
    int64_t nf, nd;
    gd_optim_floats(o, &nf);
    gd_optim_doubles(o, &nd);
    CU_ASSERT_EQUAL(nf, len);
    CU_ASSERT_EQUAL(nd, nscalars);
    gd_optim_free(o);
    gd_spec_free(la), gd_spec_free(adam);
    gd_model_free(m);
}

int main(void)
{
    static const test_case cases[] = {
        TEST(test_optim_elementwise_split_is_one_pass),
        TEST(test_optim_spec_tree),
        TEST(test_optim_lookahead_by_hand_and_reset),
        TEST(test_optim_groups),
        TEST(test_optim_inner_two_pass_refused),
        TEST(test_optim_state_layout),
        TEST_END,
    };
    return test_main("optim", cases);
}
