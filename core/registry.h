/*
 * core/registry.h: loading plugins and finding components; building specs.
 *
 * A registry owns the dlopen handles of the plugins it loaded and closes them
 * in reverse order when freed; every spec and instance made from it must be
 * freed first.
 */
#ifndef GRADUS_CORE_REGISTRY_H
#define GRADUS_CORE_REGISTRY_H

#include <stdbool.h>
#include <stdint.h>

#include "gradus/gradus.h"

typedef struct gd_registry gd_registry;

/* One registered component and where it came from. */
typedef struct gd_entry {
    const gd_component *component;
    const char *file;        /* the .so path (owned by the registry) */
    const char *plugin;      /* plugin name */
    const char *version;     /* plugin version */
    uint32_t abi_major, abi_minor;
} gd_entry;

gd_registry *gd_registry_new(void);
void gd_registry_free(gd_registry *reg);

/* Load one plugin file and register its components. On any refusal (not a
 * shared object, no gradus_plugin symbol, ABI mismatch, malformed descriptor,
 * duplicate (kind, name)) the registry is unchanged. Loading the same file
 * twice is a no-op. */
gd_status gd_registry_load(gd_registry *reg, const char *path, gd_error *err);

/* The checks every component's descriptor passes, at load and in `gradus
 * check` alike: a lowercase identifier for a name, a one-line doc, a vtable
 * with its required members, a well-formed option schema (identifiers,
 * no duplicates, one-line docs, defaults in range and among the choices).
 * Messages start with FILE. */
gd_status gd_component_validate(const char *file, const gd_component *c, gd_error *err);

/* Load every *.so of a directory in name order; a missing dir is not an error. */
gd_status gd_registry_load_dir(gd_registry *reg, const char *dir, gd_error *err);

/* The user plugin dir, under $HOME. */
#define GD_USER_PLUGIN_DIR ".local/lib/gradus/plugins"

/* The built-in plugin dir, then $HOME/GD_USER_PLUGIN_DIR, then each dir of
 * GRADUS_PLUGIN_PATH; an entry of GRADUS_PLUGIN_PATH that is not a
 * directory is skipped and named by gd_registry_warning. */
gd_status gd_registry_load_defaults(gd_registry *reg, gd_error *err);
/* One line naming the GRADUS_PLUGIN_PATH entries the last
 * gd_registry_load_defaults skipped, or NULL: for the caller to print (the
 * library prints nothing). Owned by the registry. */
const char *gd_registry_warning(const gd_registry *reg);

/* The built-in plugin dir, found beside libgradus (no path is compiled in,
 * so an installed tree can be staged or moved): <libdir>/gradus/plugins
 * when installed, build/plugins in the build tree. */
const char *gd_registry_builtin_dir(void);

const gd_entry *gd_registry_find(const gd_registry *reg, gd_kind kind, const char *name);
int gd_registry_count(const gd_registry *reg);
const gd_entry *gd_registry_at(const gd_registry *reg, int i);
/* The entry of a component pointer (NULL if not from this registry). */
const gd_entry *gd_registry_entry_of(const gd_registry *reg, const gd_component *c);

/* Unknown-name message with did-you-mean and the list of names of the kind:
 * "unknown optimizer 'adamm' (did you mean 'adam'? available: adam, sgd)". */
gd_status gd_registry_fail_unknown(const gd_registry *reg, gd_kind kind, const char *name,
                                   gd_error *err);

/* Kind names: "layer", "loss", "optimizer", "scheduler", "regularizer",
 * "initializer"; short forms "layer", "loss", "optim", "sched", "reg", "init". */
const char *gd_kind_name(gd_kind kind);
const char *gd_kind_short_name(gd_kind kind);
/* Accepts long or short forms; 0 when unknown. */
gd_kind gd_kind_from_name(const char *name);

/* An option's type as the docs name it: "number", "integer", "boolean",
 * "enum", "string", or a component option's kind. */
const char *gd_option_type_name(const gd_option_spec *o);
/* Its bounds as "[0, 1)", "> 0", ">= 1" or "<= 5" into buf; false (and "")
 * when it has none. */
bool gd_option_bounds(const gd_option_spec *o, char *buf, size_t len);

/* Edit distance used for did-you-mean. */
int gd_edit_distance(const char *a, const char *b);

/* Did-you-mean over candidates offered one at a time: the closest within 2
 * edits; with prefixes, failing that, the first that starts with the name
 * asked for (at most 3 edits away). best is NULL when none is close. */
typedef struct gd_nearest {
    const char *want, *best;
    int dist;
    bool prefixes;
} gd_nearest;
gd_nearest gd_nearest_start(const char *want, bool prefixes);
/* True when name became the best so far. */
bool gd_nearest_offer(gd_nearest *n, const char *name);
/* Append ", name" (or "name" first) to the list of used bytes in buf. */
void gd_list_append(char *buf, size_t size, size_t *used, const char *name);

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
