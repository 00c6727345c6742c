/*
 * core/model_layer.h: the fields of a model, its layers and its blocks, for
 * the core's own files (model, model tree, model files, checkpoints,
 * trainer, optimizers) and white-box tests; lua/ and cli/ read them through
 * model.h's accessors.
 */
#ifndef GRADUS_CORE_MODEL_LAYER_H
#define GRADUS_CORE_MODEL_LAYER_H

#include "model.h"

struct gd_model_layer {
    char name[GD_MAX_PATH];     /* "dense1", "res1.dense2", "res1.shortcut", ... */
    const gd_spec *spec;        /* owned by the model */
    const gd_entry *entry;      /* where the component came from */
    gd_layer_info info;
    gd_shape in, out;           /* per-sample shapes */
    void *self;                 /* plugin instance */
    gd_rng rng;                 /* the layer's stream (dropout masks) */
    int nparams;
    gd_model_param params[GD_MAX_LAYER_PARAMS];
    int nbuffers;
    gd_model_buffer buffers[GD_MAX_LAYER_BUFFERS];
    int64_t param_offset, param_count;  /* the layer's range in the arena */
};

/* A node of the model's structure, in pre-order (node 0 is the root
 * sequential). A node's children follow it: child c+1 starts where child
 * c's subtree (size nodes) ends. Its layers are layers[first_leaf ..
 * first_leaf + nleaves), contiguous because parameters are ordered depth
 * first, so a block's parameters are one range of the arena too. */
typedef struct gd_model_node {
    gd_node_kind kind;
    int count;                  /* children (sequential), 1 or 2 (residual: body, shortcut) */
    int size;                   /* nodes in its subtree, itself included */
    int level;                  /* containers nested around it, the root's 0: picks
                                   its gradient buffers in backward */
    int last, prev;             /* its last child; its previous sibling (-1: none) */
    int leaf;                   /* a layer node's index in layers[] */
    int first_leaf, nleaves;
    char name[GD_MAX_PATH];     /* the path; "" for the root; a body has its block's */
    gd_shape in, out;
    float *act;                 /* residual: its output, [reserved x out] */
    const float *x;             /* a layer node's input in the last forward */
} gd_model_node;

enum { GD_GBUF_PER_LEVEL = 3 };   /* a sequential's ping-pong pair, a residual's sum */

struct gd_model {
    const gd_registry *reg;
    int nlayers;
    gd_model_layer *layers;    /* the layers (leaves), depth first */
    int nnodes;
    gd_model_node *nodes;      /* the structure, pre-order */
    int nlevels;
    gd_shape in, out;
    float *params, *grads;     /* arenas, nparams floats each */
    int64_t nparams;
    float *buffers;            /* all layers' buffers, one allocation */
    int64_t nbuffer_floats;
    /* Sized by gd_model_reserve for `reserved` samples. */
    int64_t reserved;
    float **acts;              /* [nlayers] layer outputs */
    float **gbuf;              /* [nlevels * GD_GBUF_PER_LEVEL] input gradients in backward */
    float **scratch;           /* [nlayers] */
    const float *last_input;   /* the last training forward's, else NULL */
    int64_t last_batch;
    double *labels;            /* [output width] class labels of the training data, or NULL */
    gd_spec *loss;             /* the loss it was trained with (owned), or NULL */
};

/* core/model_tree.c: check the structure, lay out nodes and layers, name
 * them by path and create every layer on its input shape (the shape
 * checks). On failure the model is left for gd_model_free. */
gd_status gd_model_build_tree(gd_model *m, const gd_node_desc *desc, int ndesc, gd_error *err);

#endif
