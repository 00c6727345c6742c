/*
 * core/spec.h: specs, a component plus options checked against its schema
 * (spec.c), and the schema read as the docs show it.
 *
 * Kept apart from the registry (registry.h), which loads plugins and finds
 * components: a spec is built through a registry, never the other way round.
 */
#ifndef GRADUS_CORE_SPEC_H
#define GRADUS_CORE_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gradus/gradus.h"

typedef struct gd_registry gd_registry;

/* An option's type as the docs name it: "number", "integer", "boolean",
 * "enum", "string", or a component option's kind. */
const char *gd_option_type_name(const gd_option_spec *o);
/* Its bounds as "[0, 1)", "> 0", ">= 1" or "<= 5" into buf; false (and "")
 * when it has none. */
bool gd_option_bounds(const gd_option_spec *o, char *buf, size_t len);

/* ---------------------------------------------------------------------------
 * Specs: a component plus validated options. Built in three steps:
 *   gd_spec *s = gd_spec_begin(reg, component);  -- all defaults
 *   gd_spec_set(s, "lr", &arg, err)  ...          -- each user option
 *   gd_spec_finish(s, err)                        -- required present, checks
 * A failed set or finish leaves the spec as it was; free it with gd_spec_free.
 * ------------------------------------------------------------------------- */

typedef enum gd_arg_type {
    GD_ARG_NUMBER = 1,   /* a float */
    GD_ARG_INTEGER,      /* an integer (Lua integer subtype) */
    GD_ARG_BOOLEAN,
    GD_ARG_STRING,
    GD_ARG_SPEC          /* a spec (copied, the caller keeps its own) */
} gd_arg_type;

typedef struct gd_arg {
    gd_arg_type type;
    double num;
    int64_t i;
    int b;
    const char *s;
    const gd_spec *spec;
} gd_arg;

/* Common options the core appends to every component of a kind, after the
 * plugin's own: schedulers get `unit` ("step" | "epoch"), regularizers get
 * `to` ("weights" | "all"). Index = component->noptions + GD_COMMON_*. */
enum { GD_COMMON_UNIT = 0 };   /* scheduler */
enum { GD_COMMON_TO = 0 };     /* regularizer */
enum { GD_UNIT_STEP = 0, GD_UNIT_EPOCH = 1 };
enum { GD_TO_WEIGHTS = 0, GD_TO_ALL = 1 };

/* Number and schema of the common options of a kind (0 / NULL if none). */
int gd_common_option_count(gd_kind kind);
const gd_option_spec *gd_common_options(gd_kind kind);
/* Option i of a component: its own, then the common ones. */
int gd_spec_option_count(const gd_component *c);
const gd_option_spec *gd_spec_option(const gd_component *c, int i);
int gd_spec_option_index(const gd_component *c, const char *name);

gd_spec *gd_spec_begin(const gd_registry *reg, const gd_component *c, gd_error *err);
gd_status gd_spec_set(gd_spec *s, const char *name, const gd_arg *arg, gd_error *err);
gd_status gd_spec_finish(gd_spec *s, gd_error *err);
gd_spec *gd_spec_copy(const gd_spec *s);
void gd_spec_free(gd_spec *s);
/* Build a spec of kind from a name with default options. */
gd_spec *gd_spec_by_name(const gd_registry *reg, gd_kind kind, const char *name, gd_error *err);
/* Parameter groups of an optimizer spec, as PyTorch's param_groups: group
 * i matches the tensors of `role` (a gd_param_role; 0: any) in the layer
 * named `layer` (NULL: any), and g (the same optimizer, its options with
 * the group's overrides; ownership passes, also on failure) gives their
 * options. A tensor takes the first group that matches it, else the spec's
 * own options. Copies of the spec keep the groups. */
gd_status gd_spec_add_group(gd_spec *s, int role, const char *layer, gd_spec *g,
                            gd_error *err);
int gd_spec_group_count(const gd_spec *s);
const gd_spec *gd_spec_group(const gd_spec *s, int i, int *role, const char **layer);
/* A copy of optimizer spec s with base lr `lr` (lr0: its base lr now, as
 * gd_optimizer_base_lr gives it): the lr it comes from set to lr, every
 * other lr of the tree and of the groups scaled by lr / lr0, as a schedule
 * would scale them. What gd.fork{ lr = } and tuning use. */
gd_spec *gd_spec_with_lr(const gd_spec *s, double lr0, double lr, gd_error *err);
/* "adam{lr=0.001, beta1=0.9, ...}" into buf; returns buf. */
char *gd_spec_describe(const gd_spec *s, char *buf, size_t len);


#endif
