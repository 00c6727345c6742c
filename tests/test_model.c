/*
 * tests/test_model.c: the model of core/model.c and core/model_tree.c: the
 * parameter arena, initialization from a seed, a residual block's numbers
 * by hand (forward and the input gradient), the state copied out and back,
 * and the refusals of a structure or a batch that cannot work.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model_layer.h"   /* white-box: the layer's fields */
#include "support.h"

/* Moved from test_train.c. Parameters are contiguous in layer order;
 * biases start at 0, weights do not. */
static void test_model_shapes_and_arena(void)
{
    gd_model *m = test_relu_mlp(2, 32, 2, 3, 1);
    CU_ASSERT_EQUAL(gd_model_param_count(m), (2 * 32 + 32) + (32 * 32 + 32) + (32 * 3 + 3));
    CU_ASSERT_EQUAL(gd_model_output_shape(m)->dim[0], 3);
    int64_t off = 0;
    for (int i = 0; i < gd_model_layer_count(m); i++) {
        gd_model_layer *l = gd_model_layer_at(m, i);
        CU_ASSERT_EQUAL(l->param_offset, off);
        for (int p = 0; p < l->nparams; p++) {
            CU_ASSERT_PTR_EQUAL(l->params[p].value, gd_model_params(m) + off);
            CU_ASSERT_PTR_EQUAL(l->params[p].grad, gd_model_grads(m) + off);
            off += l->params[p].numel;
        }
    }
    CU_ASSERT_EQUAL(off, gd_model_param_count(m));
    CU_ASSERT_STRING_EQUAL(gd_model_layer_at(m, 2)->name, "dense2");
    gd_model_layer *d1 = gd_model_layer_at(m, 0);
    CU_ASSERT_EQUAL(max_abs(d1->params[1].value, d1->params[1].numel), 0);
    CU_ASSERT(max_abs(d1->params[0].value, d1->params[0].numel) > 0);
    gd_model_free(m);
}

/* Moved from test_train.c, and more: the same seed gives the same weights,
 * another seed others; gd_model_init(seed) puts back what gd_model_new made. */
static void test_model_seed_decides_init(void)
{
    gd_model *a = test_relu_mlp(2, 32, 2, 2, 9), *b = test_relu_mlp(2, 32, 2, 2, 9);
    gd_model *c = test_relu_mlp(2, 32, 2, 2, 10);
    int64_t n = gd_model_param_count(a);
    CU_ASSERT_EQUAL(memcmp(gd_model_params(a), gd_model_params(b), n * 4), 0);
    CU_ASSERT_NOT_EQUAL(memcmp(gd_model_params(a), gd_model_params(c), n * 4), 0);
    gd_error err;
    CU_ASSERT_EQUAL(gd_model_init(c, 9, &err), GD_OK);
    CU_ASSERT_EQUAL(memcmp(gd_model_params(a), gd_model_params(c), n * 4), 0);
    gd_model_free(a);
    gd_model_free(b);
    gd_model_free(c);
}

/* residual{ dense 2 without bias } on 2 features: y = W x + x, and for a
 * loss L = c . y the input gradient is W^T c + c. W set by hand. */
static void test_model_residual_by_hand(void)
{
    gd_spec *dense = test_spec(GD_KIND_LAYER, "dense", "units", 'i', 2LL, "bias", 'b', 0, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(dense);
    const gd_node_desc nodes[] = {
        { GD_NODE_SEQUENTIAL, 1, NULL },
        { GD_NODE_RESIDUAL, 1, NULL },
        { GD_NODE_SEQUENTIAL, 1, NULL },
        { GD_NODE_LAYER, 0, dense },
    };
    gd_shape in = gd_shape_1(2);
    gd_error err;
    gd_model *m = gd_model_new_tree(test_registry(), nodes, 4, &in, 1, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_TRUE(gd_model_has_blocks(m));
    CU_ASSERT_STRING_EQUAL(gd_model_layer_name(gd_model_layer_at(m, 0)), "res1.dense1");
    CU_ASSERT_EQUAL_FATAL(gd_model_param_count(m), 4);
    const float w[4] = { 0.5f, -1.0f, 2.0f, 0.25f };   /* [out, in] */
    memcpy(gd_model_params(m), w, sizeof w);
    CU_ASSERT_EQUAL_FATAL(gd_model_reserve(m, 2, &err), GD_OK);
    const float x[4] = { 1.0f, 2.0f, -3.0f, 0.5f };   /* two samples */
    const float *y;
    CU_ASSERT_EQUAL_FATAL(gd_model_forward(m, x, 2, true, &y, &err), GD_OK);
    for (int s = 0; s < 2; s++)
        for (int o = 0; o < 2; o++) {
            double want = w[o * 2] * x[s * 2] + w[o * 2 + 1] * x[s * 2 + 1] + x[s * 2 + o];
            CU_ASSERT_DOUBLE_EQUAL(y[s * 2 + o], want, 1e-6);
        }
    const float c[4] = { 1.0f, -2.0f, 0.5f, 3.0f };
    float dx[4];
    gd_model_zero_grad(m);
    gd_model_backward_input(m, c, dx);
    for (int s = 0; s < 2; s++)
        for (int i = 0; i < 2; i++) {
            double want = w[i] * c[s * 2] + w[2 + i] * c[s * 2 + 1] + c[s * 2 + i];
            CU_ASSERT_DOUBLE_EQUAL(dx[s * 2 + i], want, 1e-6);
        }
    /* dL/dW[o][i] = sum over samples of c[o] x[i] */
    const float *g = gd_model_grads(m);
    for (int o = 0; o < 2; o++)
        for (int i = 0; i < 2; i++)
            CU_ASSERT_DOUBLE_EQUAL(g[o * 2 + i], c[o] * x[i] + c[2 + o] * x[2 + i], 1e-6);
    gd_model_free(m);
    gd_spec_free(dense);
}

/* A body that changes the shape needs a shortcut; a malformed structure is
 * refused by what is wrong with it. Nothing is returned either way. */
static void test_model_refuses_bad_structure(void)
{
    gd_spec *dense3 = test_spec(GD_KIND_LAYER, "dense", "units", 'i', 3LL, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(dense3);
    gd_shape in = gd_shape_1(2);
    gd_error err;
    const gd_node_desc no_shortcut[] = {
        { GD_NODE_SEQUENTIAL, 1, NULL },
        { GD_NODE_RESIDUAL, 1, NULL },
        { GD_NODE_SEQUENTIAL, 1, NULL },
        { GD_NODE_LAYER, 0, dense3 },
    };
    CU_ASSERT_PTR_NULL(gd_model_new_tree(test_registry(), no_shortcut, 4, &in, 1, &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "res1: the body turns [2] into [3], but a residual "
                                           "block"));
    const gd_node_desc unfinished[] = {
        { GD_NODE_SEQUENTIAL, 2, NULL },
        { GD_NODE_LAYER, 0, dense3 },
    };
    CU_ASSERT_PTR_NULL(gd_model_new_tree(test_registry(), unfinished, 2, &in, 1, &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "model: the structure ends inside a block"));
    const gd_node_desc empty[] = { { GD_NODE_SEQUENTIAL, 0, NULL } };
    CU_ASSERT_PTR_NULL(gd_model_new_tree(test_registry(), empty, 1, &in, 1, &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "model: the structure must start with a sequential "
                                           "of at least one layer"));
    const gd_node_desc empty_inner[] = {
        { GD_NODE_SEQUENTIAL, 2, NULL },
        { GD_NODE_LAYER, 0, dense3 },
        { GD_NODE_SEQUENTIAL, 0, NULL },
    };
    CU_ASSERT_PTR_NULL(gd_model_new_tree(test_registry(), empty_inner, 3, &in, 1, &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "model: a sequential needs at least one layer"));
    gd_spec_free(dense3);
}

/* A batch beyond what was reserved is refused, not overrun; the state
 * (parameters and buffers) copies out and back exactly. */
static void test_model_batch_and_state(void)
{
    gd_model *m = test_relu_mlp(3, 4, 1, 2, 5);
    gd_error err;
    CU_ASSERT_EQUAL_FATAL(gd_model_reserve(m, 2, &err), GD_OK);
    float x[9] = { 0 };
    const float *y;
    CU_ASSERT_EQUAL(gd_model_forward(m, x, 3, false, &y, &err), GD_EINVAL);
    CU_ASSERT_STRING_EQUAL(err.msg, "model: batch 3 exceeds the reserved 2");
    CU_ASSERT_EQUAL(gd_model_forward(m, x, 2, false, &y, &err), GD_OK);
    CU_ASSERT_FALSE(gd_model_can_backward(m));   /* an evaluation forward */

    int64_t n = gd_model_state_size(m);
    CU_ASSERT_EQUAL(n, gd_model_param_count(m));  /* an MLP has no buffers */
    float *snap = malloc((size_t)n * sizeof(float)), *orig = malloc((size_t)n * sizeof(float));
    CU_ASSERT_PTR_NOT_NULL_FATAL(snap && orig);
    memcpy(orig, gd_model_params(m), (size_t)n * sizeof(float));
    gd_model_copy_state(m, snap, true);
    for (int64_t i = 0; i < n; i++)
        gd_model_params(m)[i] += 1.0f;
    gd_model_copy_state(m, snap, false);
    CU_ASSERT_EQUAL(memcmp(gd_model_params(m), orig, (size_t)n * sizeof(float)), 0);
    free(snap);
    free(orig);
    gd_model_free(m);
}

int main(void)
{
    static const test_case cases[] = {
        TEST(test_model_shapes_and_arena),
        TEST(test_model_seed_decides_init),
        TEST(test_model_residual_by_hand),
        TEST(test_model_refuses_bad_structure),
        TEST(test_model_batch_and_state),
        TEST_END,
    };
    return test_main("model", cases);
}
