/*
 * core/model_io.h: the sections a model file (.gdm) and a checkpoint share,
 * and both files' container formats (model_io.c; the layout is in
 * CHECKPOINTS.md). gd_model_save and gd_model_load are in model.h.
 */
#ifndef GRADUS_CORE_MODEL_IO_H
#define GRADUS_CORE_MODEL_IO_H

#include "binio.h"
#include "model.h"

/* META: who wrote the file and which plugin version provides each
 * component it names. */
typedef struct gd_component_ref {
    unsigned kind;
    char name[64], plugin[64], version[32], file[128];
} gd_component_ref;

enum { GD_MAX_COMPONENT_REFS = 64 };

typedef struct gd_file_meta {
    char gradus_version[32];
    uint32_t abi_major, abi_minor;
    int64_t written;            /* unix time */
    char reason[16];            /* "model", "periodic", "final", "interrupted" */
    int ncomponents;
    gd_component_ref comp[GD_MAX_COMPONENT_REFS];
} gd_file_meta;

/* The components of these specs (nested ones included), each once. */
void gd_put_meta(gd_buf *b, const gd_registry *reg, const gd_spec *const *specs, int nspecs,
                 const char *reason);
/* Read META; with a registry, every component must be provided by a loaded
 * plugin of the same version ("needs optimizer 'adam' (plugin adam 1.0),
 * which no loaded plugin provides" / "... is version 1.1 here"). */
bool gd_get_meta(gd_reader *r, gd_file_meta *meta);
/* The same, checking only layers and initializers when model_only (a
 * model taken out of a checkpoint). */
bool gd_get_meta_for(gd_reader *r, gd_file_meta *meta, bool model_only);

/* MODL: the input shape, the layer specs, the structure (when tree: format
 * version 3 and later), parameters and buffers. A file holding a model with
 * blocks is version 3 (gd_model_file_version), any other stays version 2,
 * readable by a gradus from before blocks. */
void gd_put_model(gd_buf *b, gd_model *m, bool tree);
gd_model *gd_get_model(gd_reader *r, uint32_t version);
uint32_t gd_model_file_version(const gd_model *m);

extern const gd_format gd_model_format, gd_checkpoint_format;

#endif
