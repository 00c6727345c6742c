/*
 * core/registry.c: the plugin loader and the component registry.
 *
 * Loading is all-or-nothing: a plugin's descriptor is checked completely
 * (ABI first, then every size, name and vtable) before any component is
 * registered, so a refused file leaves the registry as it was.
 */
#include "registry.h"

#include "component.h"

#include <dirent.h>
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct handle {
    void *dl;
    char *path;
} handle;

struct gd_registry {
    gd_entry *entries;
    int nentries, cap;
    handle *handles;
    int nhandles;
    char warning[GD_ERROR_SIZE];   /* GRADUS_PLUGIN_PATH dirs that are not there */
};

static const char *const kind_names[] = {
    NULL, "layer", "loss", "optimizer", "scheduler", "regularizer", "initializer",
};
static const char *const kind_short[] = {
    NULL, "layer", "loss", "optim", "sched", "reg", "init",
};

const char *gd_kind_name(gd_kind kind)
{
    return kind >= 1 && kind <= GD_KIND_COUNT ? kind_names[kind] : "component";
}

const char *gd_kind_short_name(gd_kind kind)
{
    return kind >= 1 && kind <= GD_KIND_COUNT ? kind_short[kind] : "component";
}

gd_kind gd_kind_from_name(const char *name)
{
    for (int k = 1; k <= GD_KIND_COUNT; k++)
        if (strcmp(name, kind_names[k]) == 0 || strcmp(name, kind_short[k]) == 0)
            return (gd_kind)k;
    if (strcmp(name, "layers") == 0) return GD_KIND_LAYER;
    if (strcmp(name, "losses") == 0) return GD_KIND_LOSS;
    if (strcmp(name, "optimizers") == 0) return GD_KIND_OPTIMIZER;
    if (strcmp(name, "schedulers") == 0) return GD_KIND_SCHEDULER;
    if (strcmp(name, "regularizers") == 0) return GD_KIND_REGULARIZER;
    if (strcmp(name, "initializers") == 0) return GD_KIND_INITIALIZER;
    return (gd_kind)0;
}

gd_registry *gd_registry_new(void)
{
    return calloc(1, sizeof(gd_registry));
}

void gd_registry_free(gd_registry *reg)
{
    if (!reg)
        return;
    for (int i = reg->nhandles - 1; i >= 0; i--) {
        dlclose(reg->handles[i].dl);
        free(reg->handles[i].path);
    }
    free(reg->handles);
    free(reg->entries);
    free(reg);
}

const gd_entry *gd_registry_find(const gd_registry *reg, gd_kind kind, const char *name)
{
    for (int i = 0; i < reg->nentries; i++) {
        const gd_component *c = reg->entries[i].component;
        if (c->kind == kind && strcmp(c->name, name) == 0)
            return &reg->entries[i];
    }
    return NULL;
}

int gd_registry_count(const gd_registry *reg) { return reg->nentries; }

const gd_entry *gd_registry_at(const gd_registry *reg, int i)
{
    return i >= 0 && i < reg->nentries ? &reg->entries[i] : NULL;
}

const gd_entry *gd_registry_entry_of(const gd_registry *reg, const gd_component *c)
{
    for (int i = 0; i < reg->nentries; i++)
        if (reg->entries[i].component == c)
            return &reg->entries[i];
    return NULL;
}

/* ---------------------------------------------------------------------------
 * Descriptor checks
 * ------------------------------------------------------------------------- */

/* Option names follow the reference's spelling (cosine's T): any case. */
static bool option_identifier(const char *s)
{
    if (!s || !*s || (*s >= '0' && *s <= '9'))
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return false;
    return true;
}

static bool one_line(const char *s)
{
    return s && *s && !strchr(s, '\n');
}

/* Whether a number default lies in the option's declared range. */
static bool default_in_range(const gd_option_spec *o)
{
    if ((o->flags & GD_OPT_HAS_MIN) &&
        (o->def < o->min || ((o->flags & GD_OPT_MIN_OPEN) && o->def == o->min)))
        return false;
    if ((o->flags & GD_OPT_HAS_MAX) &&
        (o->def > o->max || ((o->flags & GD_OPT_MAX_OPEN) && o->def == o->max)))
        return false;
    return o->type != GD_OPT_INTEGER || o->def == (double)(int64_t)o->def;
}

static bool choice_known(const gd_option_spec *o)
{
    if (!o->def_str)
        return true;
    for (const char *const *c = o->choices; c && *c; c++)
        if (strcmp(*c, o->def_str) == 0)
            return true;
    return false;
}

static gd_status check_schema(const char *file, const gd_component *c, gd_error *err)
{
    if (c->noptions < 0 || (c->noptions > 0 && !c->options))
        return gd_fail(err, GD_EINVAL, "%s: component '%s' has a malformed option table", file,
                       c->name);
    for (int i = 0; i < c->noptions; i++) {
        const gd_option_spec *o = &c->options[i];
        if (!o->name || o->type < GD_OPT_NUMBER || o->type > GD_OPT_INTS)
            return gd_fail(err, GD_EINVAL, "%s: component '%s' option %d is malformed", file,
                           c->name, i + 1);
        if (!option_identifier(o->name))
            return gd_fail(err, GD_EINVAL, "%s: %s: option %d: name '%s' is not an identifier",
                           file, c->name, i + 1, o->name);
        for (int j = 0; j < i; j++)
            if (strcmp(c->options[j].name, o->name) == 0)
                return gd_fail(err, GD_EINVAL, "%s: %s: option '%s' is declared twice", file,
                               c->name, o->name);
        if (!one_line(o->doc))
            return gd_fail(err, GD_EINVAL, "%s: %s: option '%s' has no one-line doc", file,
                           c->name, o->name);
        if (o->type == GD_OPT_ENUM) {
            if (!o->choices || !o->choices[0])
                return gd_fail(err, GD_EINVAL, "%s: %s: enum option '%s' has no choices", file,
                               c->name, o->name);
        }
        if (o->type == GD_OPT_COMPONENT && (o->kind < 1 || o->kind > GD_KIND_COUNT))
            return gd_fail(err, GD_EINVAL, "%s: %s: option '%s' names no valid kind", file,
                           c->name, o->name);
        if (o->flags & (GD_OPT_REQUIRED | GD_OPT_OPTIONAL))
            continue;
        bool num = o->type == GD_OPT_NUMBER || o->type == GD_OPT_INTEGER;
        if (num && !default_in_range(o))
            return gd_fail(err, GD_EINVAL, "%s: %s: option '%s': default %g is outside its "
                           "range %s%g, %g%s", file, c->name, o->name, o->def,
                           (o->flags & GD_OPT_MIN_OPEN) ? "(" : "[",
                           (o->flags & GD_OPT_HAS_MIN) ? o->min : -1.0 / 0.0,
                           (o->flags & GD_OPT_HAS_MAX) ? o->max : 1.0 / 0.0,
                           (o->flags & GD_OPT_MAX_OPEN) ? ")" : "]");
        if (o->type == GD_OPT_ENUM && !choice_known(o))
            return gd_fail(err, GD_EINVAL, "%s: %s: option '%s': default '%s' is not one of "
                           "its choices", file, c->name, o->name, o->def_str);
    }
    return GD_OK;
}

static gd_status check_vtable(const char *file, const gd_component *c, gd_error *err)
{
    const void *vt = c->vt.layer;
    const char *missing = NULL;
    if (!vt)
        return gd_fail(err, GD_EINVAL, "%s: component '%s' has no vtable", file, c->name);
    switch (c->kind) {
    case GD_KIND_LAYER: {
        const gd_layer_vtable *v = c->vt.layer;
        if (v->size < offsetof(gd_layer_vtable, destroy)) missing = "size";
        else if (!v->create) missing = "create";
        else if (!v->bind) missing = "bind";
        else if (!v->forward) missing = "forward";
        else if (!v->backward) missing = "backward";
        break;
    }
    case GD_KIND_LOSS: {
        const gd_loss_vtable *v = c->vt.loss;
        if (v->size < sizeof(gd_loss_vtable)) missing = "size";
        else if (!v->forward) missing = "forward";
        else if (v->target != GD_TARGET_CLASS && v->target != GD_TARGET_VALUE) missing = "target";
        break;
    }
    case GD_KIND_OPTIMIZER: {
        const gd_optimizer_vtable *v = c->vt.optimizer;
        if (v->size < offsetof(gd_optimizer_vtable, effective_lr)) missing = "size";
        else if (!v->step && !gd_optimizer_vtable_tensor(v)) missing = "step";
        else if (v->nslots < 0 || v->nslots > GD_MAX_OPTIM_SLOTS) missing = "nslots";
        else if (v->nscalars < 0 || v->nscalars > 64) missing = "nscalars";
        break;
    }
    case GD_KIND_SCHEDULER: {
        const gd_scheduler_vtable *v = c->vt.scheduler;
        if (v->size < sizeof(gd_scheduler_vtable)) missing = "size";
        else if (!v->lr) missing = "lr";
        break;
    }
    case GD_KIND_REGULARIZER: {
        const gd_regularizer_vtable *v = c->vt.regularizer;
        if (v->size < sizeof(gd_regularizer_vtable)) missing = "size";
        else if (!v->penalty) missing = "penalty";
        else if (!v->add_grad) missing = "add_grad";
        break;
    }
    case GD_KIND_INITIALIZER: {
        const gd_initializer_vtable *v = c->vt.initializer;
        if (v->size < sizeof(gd_initializer_vtable)) missing = "size";
        else if (!v->fill) missing = "fill";
        break;
    }
    default:
        return gd_fail(err, GD_EINVAL, "%s: component '%s' has unknown kind %d", file, c->name,
                       (int)c->kind);
    }
    if (missing)
        return gd_fail(err, GD_EINVAL, "%s: %s '%s': vtable member '%s' is missing or invalid",
                       file, gd_kind_name(c->kind), c->name, missing);
    return GD_OK;
}

/* A lowercase identifier: a letter or '_' first (a name must work as a Lua
 * field: gd.optim.NAME). */
static bool valid_name(const char *s)
{
    if (!s || !*s || (*s >= '0' && *s <= '9'))
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return false;
    return true;
}

gd_status gd_component_validate(const char *file, const gd_component *c, gd_error *err)
{
    if (!valid_name(c->name))
        return gd_fail(err, GD_EINVAL, "%s: component '%s' has an invalid name (a lowercase "
                       "letter first, then lowercase letters, digits, '_')", file,
                       c->name ? c->name : "(null)");
    if (!one_line(c->doc))
        return gd_fail(err, GD_EINVAL, "%s: %s '%s': doc must be one non-empty line (gradus "
                       "list shows it)", file, gd_kind_name(c->kind), c->name);
    gd_status st = check_vtable(file, c, err);
    return st == GD_OK ? check_schema(file, c, err) : st;
}

static gd_status check_plugin(const gd_registry *reg, const char *file, const gd_plugin *p,
                              gd_error *err)
{
    if (!p)
        return gd_fail(err, GD_EINVAL, "%s: gradus_plugin() returned NULL", file);
    /* Any minor of this major: members beyond what the core knows are never
     * read (see GD_ABI_MINOR in plugin.h). */
    if (p->abi_major != GD_ABI_MAJOR)
        return gd_fail(err, GD_EABI,
                       "%s: plugin ABI %u.%u does not match this gradus (ABI %d.%d): rebuild "
                       "the plugin against this version",
                       file, p->abi_major, p->abi_minor, GD_ABI_MAJOR, GD_ABI_MINOR);
    if (p->size < sizeof(gd_plugin))
        return gd_fail(err, GD_EABI, "%s: plugin descriptor size %zu is smaller than %zu", file,
                       p->size, sizeof(gd_plugin));
    if (!p->name || p->ncomponents < 0 || (p->ncomponents > 0 && !p->components))
        return gd_fail(err, GD_EINVAL, "%s: malformed plugin descriptor", file);
    for (int i = 0; i < p->ncomponents; i++) {
        const gd_component *c = p->components[i];
        if (!c || c->size < sizeof(gd_component))
            return gd_fail(err, GD_EABI, "%s: component %d has a short or missing descriptor",
                           file, i + 1);
        gd_status st = gd_component_validate(file, c, err);
        if (st != GD_OK)
            return st;
        for (int j = 0; j < i; j++) {
            const gd_component *o = p->components[j];
            if (o->kind == c->kind && strcmp(o->name, c->name) == 0)
                return gd_fail(err, GD_EEXIST, "%s: duplicate %s '%s' within the plugin", file,
                               gd_kind_name(c->kind), c->name);
        }
        const gd_entry *e = gd_registry_find(reg, c->kind, c->name);
        if (e)
            return gd_fail(err, GD_EEXIST, "duplicate %s '%s': %s (already registered from %s)",
                           gd_kind_name(c->kind), c->name, file, e->file);
    }
    return GD_OK;
}

gd_status gd_registry_load(gd_registry *reg, const char *path, gd_error *err)
{
    char *real = realpath(path, NULL);
    if (!real)
        return gd_fail(err, GD_ENOTFOUND, "plugin '%s': no such file", path);
    for (int i = 0; i < reg->nhandles; i++)
        if (strcmp(reg->handles[i].path, real) == 0) {
            free(real);
            return GD_OK;
        }
    struct stat sb;
    if (stat(real, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        free(real);
        return gd_fail(err, GD_EIO, "plugin '%s': not a regular file", path);
    }
    void *dl = dlopen(real, RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        const char *why = dlerror();
        gd_fail(err, GD_EIO, "plugin '%s': cannot load: %s", path, why ? why : "unknown error");
        free(real);
        return GD_EIO;
    }
    gd_plugin_entry_fn entry;
    *(void **)&entry = dlsym(dl, GD_PLUGIN_ENTRY_SYMBOL);
    if (!entry) {
        dlclose(dl);
        free(real);
        return gd_fail(err, GD_ENOTFOUND,
                       "plugin '%s': no '" GD_PLUGIN_ENTRY_SYMBOL "' symbol: not a gradus plugin",
                       path);
    }
    const gd_plugin *p = entry();
    gd_status st = check_plugin(reg, path, p, err);
    if (st != GD_OK)
        goto fail;
    handle *nh = realloc(reg->handles, (size_t)(reg->nhandles + 1) * sizeof *nh);
    if (!nh)
        goto nomem;
    reg->handles = nh;
    if (reg->nentries + p->ncomponents > reg->cap) {
        int cap = reg->cap * 2 + p->ncomponents + 16;
        gd_entry *ne = realloc(reg->entries, (size_t)cap * sizeof *ne);
        if (!ne)
            goto nomem;
        /* Entries moved: nothing outside holds gd_entry pointers across a
         * load except through gd_registry_find, which callers re-query. */
        reg->entries = ne;
        reg->cap = cap;
    }
    reg->handles[reg->nhandles++] = (handle){ dl, real };
    for (int i = 0; i < p->ncomponents; i++)
        reg->entries[reg->nentries++] = (gd_entry){
            p->components[i], real, p->name, p->version ? p->version : "", p->abi_major,
            p->abi_minor,
        };
    return GD_OK;
nomem:
    st = gd_fail(err, GD_ENOMEM, "plugin '%s': out of memory", path);
fail:
    dlclose(dl);
    free(real);
    return st;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Load every .so in dir, and in its immediate subdirectories (the build tree
 * keeps plugins in plugins/<kind>/), in sorted order so that load order and
 * duplicate messages do not depend on the file system. */
static gd_status load_dir(gd_registry *reg, const char *dir, int depth, gd_error *err)
{
    DIR *d = opendir(dir);
    if (!d)
        return GD_OK;
    char **names = NULL;
    size_t n = 0, cap = 0;
    gd_status st = GD_OK;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap * 2 + 16;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn) { st = gd_fail(err, GD_ENOMEM, "out of memory"); break; }
            names = nn;
        }
        names[n] = strdup(de->d_name);
        if (!names[n]) { st = gd_fail(err, GD_ENOMEM, "out of memory"); break; }
        n++;
    }
    closedir(d);
    if (st == GD_OK)
        qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n && st == GD_OK; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        struct stat sb;
        if (stat(path, &sb) != 0)
            continue;
        size_t len = strlen(names[i]);
        if (S_ISDIR(sb.st_mode) && depth > 0)
            st = load_dir(reg, path, depth - 1, err);
        else if (S_ISREG(sb.st_mode) && len > 3 && strcmp(names[i] + len - 3, ".so") == 0)
            st = gd_registry_load(reg, path, err);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return st;
}

gd_status gd_registry_load_dir(gd_registry *reg, const char *dir, gd_error *err)
{
    return load_dir(reg, dir, 1, err);
}

/* Built-in plugins live beside libgradus. Found through dladdr so a build
 * tree and an installation both work without configuration. */
const char *gd_registry_builtin_dir(void)
{
    static char dir[4096];
    Dl_info info;
    if (!dladdr((void *)gd_registry_builtin_dir, &info) || !info.dli_fname)
        return NULL;
    char *lib = realpath(info.dli_fname, NULL);
    if (!lib)
        return NULL;
    char *slash = strrchr(lib, '/');
    if (slash)
        *slash = 0;
    /* Installed: <libdir>/gradus/plugins. Build tree: libgradus is in
     * build/core/, plugins in build/plugins/<kind>/. */
    static const char *const candidates[] = { "%s/gradus/plugins", "%s/../plugins" };
    struct stat sb;
    for (size_t i = 0; i < sizeof candidates / sizeof *candidates; i++) {
        snprintf(dir, sizeof dir, candidates[i], lib);
        if (stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode))
            break;
    }
    free(lib);
    return dir;
}

/* The user's own plugins, found without configuration after an install:
 * ~/.local/lib/gradus/plugins (none when HOME is unset). */
static gd_status load_user_dir(gd_registry *reg, gd_error *err)
{
    const char *home = getenv("HOME");
    if (!home || !*home)
        return GD_OK;
    char dir[4096];
    if (snprintf(dir, sizeof dir, "%s/" GD_USER_PLUGIN_DIR, home) >= (int)sizeof dir)
        return gd_fail(err, GD_EINVAL, "HOME is too long for the user plugin directory");
    return gd_registry_load_dir(reg, dir, err);
}

gd_status gd_registry_load_defaults(gd_registry *reg, gd_error *err)
{
    reg->warning[0] = 0;
    const char *builtin = gd_registry_builtin_dir();
    gd_status st = builtin ? gd_registry_load_dir(reg, builtin, err) : GD_OK;
    if (st == GD_OK)
        st = load_user_dir(reg, err);
    const char *env = getenv("GRADUS_PLUGIN_PATH");
    if (st != GD_OK || !env || !*env)
        return st;
    char *copy = strdup(env);
    if (!copy)
        return gd_fail(err, GD_ENOMEM, "out of memory");
    char *save = NULL;
    size_t used = 0;
    for (char *p = strtok_r(copy, ":", &save); p && st == GD_OK; p = strtok_r(NULL, ":", &save)) {
        struct stat sb;
        if (stat(p, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
            /* Most likely a typo: say so (the caller prints it), load on. */
            int w = snprintf(reg->warning + used, sizeof reg->warning - used, "%s%s",
                             used ? ", " : "GRADUS_PLUGIN_PATH: no such directory: ", p);
            if (w > 0 && (size_t)w < sizeof reg->warning - used)
                used += (size_t)w;
            continue;
        }
        st = gd_registry_load_dir(reg, p, err);
    }
    free(copy);
    return st;
}

const char *gd_registry_warning(const gd_registry *reg)
{
    return reg->warning[0] ? reg->warning : NULL;
}

/* ---------------------------------------------------------------------------
 * Did-you-mean
 * ------------------------------------------------------------------------- */

int gd_edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return 64;
    int row[64];
    for (size_t j = 0; j <= lb; j++)
        row[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        int prev = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int cur = row[j];
            int sub = prev + (a[i - 1] != b[j - 1]);
            int del = row[j] + 1, ins = row[j - 1] + 1;
            row[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
            prev = cur;
        }
    }
    return row[lb];
}

gd_nearest gd_nearest_start(const char *want, bool prefixes)
{
    return (gd_nearest){ want, NULL, 3, prefixes };
}

bool gd_nearest_offer(gd_nearest *n, const char *name)
{
    int d = gd_edit_distance(n->want, name);
    bool prefix = n->prefixes && !n->best && d <= 3 && strstr(name, n->want) == name;
    if (!(d < n->dist || prefix))
        return false;
    n->dist = d;
    n->best = name;
    return true;
}

void gd_list_append(char *buf, size_t size, size_t *used, const char *name)
{
    int w = snprintf(buf + *used, size - *used, "%s%s", *used ? ", " : "", name);
    if (w > 0 && (size_t)w < size - *used)
        *used += (size_t)w;
}

gd_status gd_registry_fail_unknown(const gd_registry *reg, gd_kind kind, const char *name,
                                   gd_error *err)
{
    char list[GD_ERROR_SIZE / 2] = "";
    size_t used = 0;
    gd_nearest near = gd_nearest_start(name, true);
    for (int i = 0; i < reg->nentries; i++) {
        const gd_component *c = reg->entries[i].component;
        if (c->kind != kind)
            continue;
        gd_nearest_offer(&near, c->name);
        gd_list_append(list, sizeof list, &used, c->name);
    }
    /* The hint stays beside a did-you-mean: 'lion' is near 'muon' and may
     * still be a plugin the user has not loaded. */
    char mean[96] = "";
    if (near.best)
        snprintf(mean, sizeof mean, "did you mean '%s'? ", near.best);
    return gd_fail(err, GD_ENOTFOUND, "unknown %s '%s' (%savailable: %s; if a plugin provides "
                   "it, load it: gradus -l FILE.so, gd.plugins.load(FILE) or a directory in "
                   "GRADUS_PLUGIN_PATH)", gd_kind_name(kind), name, mean,
                   used ? list : "none loaded");
}
