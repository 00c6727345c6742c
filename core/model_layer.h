/*
 * core/model_layer.h: the fields of a model's layer, for the core's own
 * files (model, model files, checkpoints, trainer, optimizers) and white-box
 * tests; lua/ and cli/ read a layer through model.h's accessors.
 */
#ifndef GRADUS_CORE_MODEL_LAYER_H
#define GRADUS_CORE_MODEL_LAYER_H

#include "model.h"

struct gd_model_layer {
    char name[32];              /* "dense1", "relu1", ... */
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

#endif
