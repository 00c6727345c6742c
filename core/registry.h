/*
 * core/registry.h: loading plugins and finding their components (specs of
 * them: spec.h).
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

#endif
