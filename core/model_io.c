/*
 * core/model_io.c: model files (run.model:save(path), gd.load_model(path))
 * and the two sections they share with checkpoints: META (who wrote the
 * file, which plugin versions provide its components) and MODL (the model).
 *
 * A model file is the container of binio.h with magic 89 'G' 'D' 'M' 0D 0A
 * 1A 0A, format version 2 (3 for a model with blocks), and the sections
 * META and MODL; CHECKPOINTS.md documents the bytes.
 *
 *   MODL := shape, u32 nlayers, nlayers x spec, [tree], nlayers x state
 *   shape := u32 ndim, ndim x u64          the model's per-sample input shape
 *   tree := u32 nnodes, nnodes x (u8 kind, u32 count)   version 3 on: the
 *           structure in pre-order (1 layer, 2 sequential, 3 residual), its
 *           layer nodes taking the specs in order
 *   state := u32 nparams, nparams x array, u32 nbuffers, nbuffers x array
 *   array := str name, u64 count, count x f32
 *
 * Why this shape:
 * - Options go by NAME, not schema index, and enums by choice name, not
 *   index: a plugin that appends an option (or a choice) later still loads
 *   old files, the new option taking its default. Every present option is
 *   written, defaults included, so a later change of a default does not
 *   change a saved model. Loading rebuilds the specs through gd_spec_set,
 *   so a file is validated exactly as a user's spec would be.
 * - META names the plugin and version behind every component, so a file
 *   whose plugin is missing or has changed is refused with that said,
 *   before anything is built.
 * - Buffers (batchnorm's running statistics) are saved with the parameters:
 *   a model in evaluation mode depends on them. The layers' RNG streams are
 *   a checkpoint's (RNGS), not a model file's: a loaded model predicts, and
 *   gd.train on it starts a new run.
 */
#include "model_io.h"

#include "model_layer.h"
#include "component.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_LAYERS 100000u

static const unsigned char model_magic[8] = { 0x89, 'G', 'D', 'M', 0x0D, 0x0A, 0x1A, 0x0A };
static const unsigned char ckpt_magic[8] = { 0x89, 'G', 'D', 'C', 0x0D, 0x0A, 0x1A, 0x0A };

/* Version 3 adds the tree; files without blocks are still written as 2.
 * Checkpoint version 4 adds the penalties (checkpoint.c). */
const gd_format gd_model_format = { model_magic, 3, "model", NULL, NULL, 2 };
const gd_format gd_checkpoint_format = {
    ckpt_magic, 4, "checkpoint", model_magic,
    "a model: load it with gd.load_model", 1,
};

/* ---------------------------------------------------------------------------
 * META
 * ------------------------------------------------------------------------- */

typedef struct comp_list {
    const gd_component *c[GD_MAX_COMPONENT_REFS];
    int n;
} comp_list;

static void collect(comp_list *l, const gd_spec *s)
{
    if (!s)
        return;
    int seen = 0;
    for (int i = 0; i < l->n; i++)
        seen |= l->c[i] == s->component;
    if (!seen && l->n < GD_MAX_COMPONENT_REFS)
        l->c[l->n++] = s->component;
    int n = gd_spec_option_count(s->component);
    for (int i = 0; i < n; i++)
        if (gd_spec_option(s->component, i)->type == GD_OPT_COMPONENT &&
            s->options->v[i].present)
            collect(l, s->options->v[i].u.spec);
}

static const char *base_name(const char *path)
{
    const char *slash = path ? strrchr(path, '/') : NULL;
    return slash ? slash + 1 : path ? path : "";
}

void gd_put_meta(gd_buf *b, const gd_registry *reg, const gd_spec *const *specs, int nspecs,
                 const char *reason)
{
    comp_list l = { .n = 0 };
    for (int i = 0; i < nspecs; i++)
        collect(&l, specs[i]);
    gd_put_str(b, GD_VERSION);
    gd_put_u32(b, GD_ABI_MAJOR);
    gd_put_u32(b, GD_ABI_MINOR);
    gd_put_u64(b, (uint64_t)time(NULL));
    gd_put_str(b, reason);
    gd_put_u32(b, (uint32_t)l.n);
    for (int i = 0; i < l.n; i++) {
        const gd_entry *e = gd_registry_entry_of(reg, l.c[i]);
        gd_put_u8(b, (unsigned)l.c[i]->kind);
        gd_put_str(b, l.c[i]->name);
        gd_put_str(b, e ? e->plugin : "");
        gd_put_str(b, e ? e->version : "");
        gd_put_str(b, e ? base_name(e->file) : "");
    }
}

bool gd_get_meta(gd_reader *r, gd_file_meta *m)
{
    return gd_get_meta_for(r, m, false);
}

bool gd_get_meta_for(gd_reader *r, gd_file_meta *m, bool model_only)
{
    uint32_t n;
    uint64_t t;
    memset(m, 0, sizeof *m);
    if (!gd_get_str(r, "the gradus version", m->gradus_version, sizeof m->gradus_version) ||
        !gd_get_u32(r, "the ABI version", &m->abi_major) ||
        !gd_get_u32(r, "the ABI version", &m->abi_minor) ||
        !gd_get_u64(r, "the time", &t) ||
        !gd_get_str(r, "the reason", m->reason, sizeof m->reason) ||
        !gd_get_u32(r, "the component count", &n))
        return false;
    m->written = (int64_t)t;
    if (n > GD_MAX_COMPONENT_REFS) {
        gd_rfail(r, GD_EIO, "malformed section META: %u components", n);
        return false;
    }
    for (uint32_t i = 0; i < n; i++) {
        gd_component_ref *c = &m->comp[i];
        if (!gd_get_u8(r, "a component kind", &c->kind) ||
            !gd_get_str(r, "a component name", c->name, sizeof c->name) ||
            !gd_get_str(r, "a plugin name", c->plugin, sizeof c->plugin) ||
            !gd_get_str(r, "a plugin version", c->version, sizeof c->version) ||
            !gd_get_str(r, "a plugin file", c->file, sizeof c->file))
            return false;
        if (c->kind < GD_KIND_LAYER || c->kind > GD_KIND_COUNT) {
            gd_rfail(r, GD_EIO, "malformed section META: component '%s' of unknown kind %u",
                     c->name, c->kind);
            return false;
        }
        m->ncomponents = (int)i + 1;
    }
    if (!gd_reader_done(r))
        return false;
    for (int i = 0; r->reg && i < m->ncomponents; i++) {
        const gd_component_ref *c = &m->comp[i];
        if (model_only && c->kind != GD_KIND_LAYER && c->kind != GD_KIND_INITIALIZER)
            continue;
        const char *kind = gd_kind_name((gd_kind)c->kind);
        const gd_entry *e = gd_registry_find(r->reg, (gd_kind)c->kind, c->name);
        if (!e) {
            gd_rfail(r, GD_ENOTFOUND, "needs %s '%s' (plugin %s %s, %s), which no loaded "
                     "plugin provides (load it with -l or gd.plugins.load)", kind, c->name,
                     c->plugin, c->version, c->file);
            return false;
        }
        if (strcmp(e->version, c->version) != 0) {
            gd_rfail(r, GD_EINVAL, "%s '%s' was written by plugin %s %s; the loaded one (%s) "
                     "is version %s", kind, c->name, c->plugin, c->version, base_name(e->file),
                     e->version);
            return false;
        }
    }
    return true;
}

/* ---------------------------------------------------------------------------
 * MODL
 * ------------------------------------------------------------------------- */

static void put_array(gd_buf *b, const char *name, const float *x, int64_t n)
{
    gd_put_str(b, name);
    gd_put_u64(b, (uint64_t)n);
    gd_put_f32s(b, x, n);
}

void gd_put_model(gd_buf *b, gd_model *m, bool tree)
{
    const gd_shape *in = gd_model_input_shape(m);
    gd_put_u32(b, (uint32_t)in->ndim);
    for (int d = 0; d < in->ndim; d++)
        gd_put_u64(b, (uint64_t)in->dim[d]);
    int nl = gd_model_layer_count(m);
    gd_put_u32(b, (uint32_t)nl);
    for (int i = 0; i < nl; i++)
        gd_put_spec(b, gd_model_layer_at(m, i)->spec);
    if (tree) {
        gd_put_u32(b, (uint32_t)gd_model_node_count(m));
        for (int i = 0; i < gd_model_node_count(m); i++) {
            gd_put_u8(b, (unsigned)gd_model_node_kind(m, i));
            gd_put_u32(b, (uint32_t)gd_model_node_children(m, i));
        }
    }
    for (int i = 0; i < nl; i++) {
        const gd_model_layer *l = gd_model_layer_at(m, i);
        gd_put_u32(b, (uint32_t)l->nparams);
        for (int p = 0; p < l->nparams; p++)
            put_array(b, l->params[p].info->name, l->params[p].value, l->params[p].numel);
        gd_put_u32(b, (uint32_t)l->nbuffers);
        for (int k = 0; k < l->nbuffers; k++)
            put_array(b, l->buffers[k].info->name, l->buffers[k].value, l->buffers[k].numel);
    }
    /* Appended later (files written before end here): class labels, loss. */
    const double *labels = gd_model_labels(m);
    int64_t width = gd_shape_numel(gd_model_output_shape(m));
    gd_put_u32(b, labels ? (uint32_t)width : 0);
    for (int64_t k = 0; labels && k < width; k++)
        gd_put_f64(b, labels[k]);
    const gd_spec *loss = gd_model_loss(m);
    gd_put_u8(b, loss != NULL);
    if (loss)
        gd_put_spec(b, loss);
}

uint32_t gd_model_file_version(const gd_model *m)
{
    return gd_model_has_blocks(m) ? 3 : 2;
}

/* The optional tail of MODL (see gd_put_model): absent in older files. */
static bool get_model_tail(gd_reader *r, gd_model *m)
{
    if (r->pos == r->end)
        return true;
    uint32_t n;
    unsigned has_loss;
    int64_t width = gd_shape_numel(gd_model_output_shape(m));
    if (!gd_get_u32(r, "the class label count", &n))
        return false;
    if (n != 0 && n != (uint64_t)width) {
        gd_rfail(r, GD_EIO, "malformed section MODL: %u class labels for %lld outputs", n,
                 (long long)width);
        return false;
    }
    double *labels = n ? malloc(n * sizeof *labels) : NULL;
    if (n && !labels) {
        gd_rfail(r, GD_ENOMEM, "out of memory");
        return false;
    }
    bool ok = true;
    for (uint32_t k = 0; ok && k < n; k++)
        ok = gd_get_f64(r, "the class labels", &labels[k]);
    gd_error inner;
    if (ok && n && gd_model_set_labels(m, labels, n, &inner) != GD_OK)
        ok = !gd_rfail(r, GD_ENOMEM, "%s", inner.msg);
    free(labels);
    if (!ok || !gd_get_u8(r, "the loss flag", &has_loss))
        return false;
    if (has_loss > 1) {
        gd_rfail(r, GD_EIO, "malformed section MODL: loss flag %u", has_loss);
        return false;
    }
    if (!has_loss)
        return true;
    gd_spec *loss = gd_get_spec(r, "the loss");
    if (!loss)
        return false;
    if (loss->component->kind != GD_KIND_LOSS) {
        gd_rfail(r, GD_EIO, "malformed section MODL: the loss is a %s spec",
                 gd_kind_name(loss->component->kind));
        ok = false;
    } else if (gd_model_set_loss(m, loss, &inner) != GD_OK) {
        ok = !gd_rfail(r, GD_ENOMEM, "%s", inner.msg);
    }
    gd_spec_free(loss);
    return ok;
}

/* One parameter or buffer: name and count must match the model's. */
static bool get_array(gd_reader *r, const gd_model_layer *l, int li, const char *what,
                      const char *want_name, float *dst, int64_t want_n)
{
    char name[256];
    uint64_t n;
    if (!gd_get_str(r, "a parameter name", name, sizeof name) ||
        !gd_get_u64(r, "a value count", &n))
        return false;
    if (strcmp(name, want_name) != 0) {
        gd_rfail(r, GD_EINVAL, "layer %d (%s): %s '%s' in the file, the model has '%s' there",
                 li, l->name, what, name, want_name);
        return false;
    }
    if (n != (uint64_t)want_n) {
        gd_rfail(r, GD_EINVAL, "layer %d (%s): %s '%s' has %llu values in the file, the model "
                 "has %lld", li, l->name, what, name, (unsigned long long)n, (long long)want_n);
        return false;
    }
    return gd_get_f32s(r, "parameter values", dst, n);
}

static bool get_state(gd_reader *r, gd_model_layer *l, int li)
{
    uint32_t n;
    if (!gd_get_u32(r, "a parameter count", &n))
        return false;
    if (n != (uint32_t)l->nparams) {
        gd_rfail(r, GD_EINVAL, "layer %d (%s) has %u parameter tensors in the file, the model "
                 "has %d", li, l->name, n, l->nparams);
        return false;
    }
    for (int p = 0; p < l->nparams; p++)
        if (!get_array(r, l, li, "parameter", l->params[p].info->name, l->params[p].value,
                       l->params[p].numel))
            return false;
    if (!gd_get_u32(r, "a buffer count", &n))
        return false;
    if (n != (uint32_t)l->nbuffers) {
        gd_rfail(r, GD_EINVAL, "layer %d (%s) has %u buffers in the file, the model has %d", li,
                 l->name, n, l->nbuffers);
        return false;
    }
    for (int k = 0; k < l->nbuffers; k++)
        if (!get_array(r, l, li, "buffer", l->buffers[k].info->name, l->buffers[k].value,
                       l->buffers[k].numel))
            return false;
    return true;
}

/* Whether the values the layers of these specs would have (parameters and
 * buffers) fit in what is left of the section, found by creating each
 * layer's instance (small: the arenas come later) and destroying it again.
 * A crafted file with valid CRCs whose options ask for billions of values
 * is refused here, before gd_model_new allocates and zeroes them. A layer
 * that refuses its options is left to gd_model_new to report. */
typedef struct fit {
    gd_reader *r;
    gd_spec *const *specs;
    const gd_node_desc *desc;
    int n, pos, leaf;
    uint64_t room, total;
    bool give_up;         /* a layer refused: gd_model_new will say why */
} fit;

/* Node f->pos on shape *in: its output into *out. False when the values
 * cannot fit (the message is set). */
static bool fit_node(fit *f, const gd_shape *in, gd_shape *out, int depth)
{
    if (f->give_up || f->pos >= f->n || depth > GD_MAX_NESTING) {
        f->give_up = true;
        return true;
    }
    const gd_node_desc *d = &f->desc[f->pos++];
    if (d->kind == GD_NODE_SEQUENTIAL || d->kind == GD_NODE_RESIDUAL) {
        gd_shape shape = *in, first = *in;
        for (int c = 0; c < d->count && !f->give_up; c++) {
            const gd_shape *from = d->kind == GD_NODE_RESIDUAL ? in : &shape;
            if (!fit_node(f, from, &shape, depth + 1))
                return false;
            if (c == 0)
                first = shape;
        }
        *out = d->kind == GD_NODE_RESIDUAL ? first : shape;
        return true;
    }
    int i = f->leaf++;
    const gd_component *c = f->specs[i]->component;
    if (d->kind != GD_NODE_LAYER || c->kind != GD_KIND_LAYER) {
        f->give_up = true;
        return true;
    }
    gd_layer_info info = { .size = sizeof info };
    void *self = NULL;
    gd_error inner;
    if (gd_layer_create(f->specs[i], in, &info, &self, &inner) != GD_OK) {
        f->give_up = true;
        return true;
    }
    gd_layer_destroy(c, self);
    if (info.nparams < 0 || info.nparams > GD_MAX_LAYER_PARAMS || info.nbuffers < 0 ||
        info.nbuffers > GD_MAX_LAYER_BUFFERS || info.out.ndim < 1 ||
        info.out.ndim > GD_MAX_DIMS - 1) {
        f->give_up = true;
        return true;
    }
    for (int p = 0; p < info.nparams + info.nbuffers; p++) {
        int64_t n = p < info.nparams ? gd_shape_numel(&info.params[p].shape)
                                     : info.buffers[p - info.nparams].numel;
        if (n < 0 || (uint64_t)n > f->room - f->total) {
            gd_rfail(f->r, GD_EIO, "malformed section MODL: layer %d (%s) has more values "
                     "than the section holds", i + 1, c->name);
            return false;
        }
        f->total += (uint64_t)n;
    }
    /* Each layer's input is another's output: bounded like the model's. */
    int64_t nout = gd_shape_numel(&info.out);
    if (nout < 1 || nout > (1 << 26)) {
        gd_rfail(f->r, GD_EIO, "malformed section MODL: layer %d (%s) gives %lld values per "
                 "sample", i + 1, c->name, (long long)nout);
        return false;
    }
    *out = info.out;
    return true;
}

/* Whether the values the layers of these specs would have (parameters and
 * buffers) fit in what is left of the section, found by creating each
 * layer's instance (small: the arenas come later) and destroying it again.
 * A crafted file with valid CRCs whose options ask for billions of values
 * is refused here, before gd_model_new allocates and zeroes them. A layer
 * that refuses its options, or a malformed structure, is left to
 * gd_model_new_tree to report. */
static bool values_fit(gd_reader *r, gd_spec *const *specs, const gd_node_desc *desc, int n,
                       const gd_shape *in)
{
    fit f = { r, specs, desc, n, 0, 0, (r->end - r->pos) / 4, 0, false };
    gd_shape out;
    return fit_node(&f, in, &out, 0);
}

/* The structure of a version 3 MODL, or a plain sequential of nl layers. */
static gd_node_desc *get_tree(gd_reader *r, uint32_t version, gd_spec *const *specs,
                              uint32_t nl, int *nnodes)
{
    uint32_t n = nl + 1;
    if (version >= 3 && (!gd_get_u32(r, "the node count", &n)))
        return NULL;
    if (n < nl + 1 || n > 2 * MAX_LAYERS || (version >= 3 && n > (r->end - r->pos) / 5)) {
        gd_rfail(r, GD_EIO, "malformed section MODL: %u nodes for %u layers", n, nl);
        return NULL;
    }
    gd_node_desc *d = calloc(n, sizeof *d);
    if (!d) {
        gd_rfail(r, GD_ENOMEM, "out of memory");
        return NULL;
    }
    uint32_t leaf = 0;
    for (uint32_t i = 0; i < n; i++) {
        unsigned kind = GD_NODE_LAYER;
        uint32_t count = 0;
        if (version < 3) {
            kind = i == 0 ? GD_NODE_SEQUENTIAL : GD_NODE_LAYER;
            count = i == 0 ? nl : 0;
        } else if (!gd_get_u8(r, "a node kind", &kind) ||
                   !gd_get_u32(r, "a node's count", &count)) {
            free(d);
            return NULL;
        }
        if (kind < GD_NODE_LAYER || kind > GD_NODE_RESIDUAL || count > MAX_LAYERS ||
            (kind == GD_NODE_LAYER && leaf >= nl)) {
            gd_rfail(r, GD_EIO, "malformed section MODL: node %u (kind %u, %u parts) of %u "
                     "layers", i + 1, kind, count, nl);
            free(d);
            return NULL;
        }
        d[i] = (gd_node_desc){ (gd_node_kind)kind, (int)count,
                               kind == GD_NODE_LAYER ? specs[leaf++] : NULL };
    }
    if (leaf != nl) {
        gd_rfail(r, GD_EIO, "malformed section MODL: the structure holds %u of %u layers", leaf,
                 nl);
        free(d);
        return NULL;
    }
    *nnodes = (int)n;
    return d;
}

gd_model *gd_get_model(gd_reader *r, uint32_t version)
{
    gd_spec **specs = NULL;
    gd_node_desc *tree = NULL;
    int nnodes = 0;
    gd_model *m = NULL;
    uint32_t ndim, nl = 0;
    gd_shape in = { 0 };
    if (!gd_get_u32(r, "the input shape", &ndim))
        return NULL;
    if (ndim < 1 || ndim > GD_MAX_DIMS - 1) {
        gd_rfail(r, GD_EIO, "malformed section MODL: input shape has %u dimensions", ndim);
        return NULL;
    }
    in.ndim = (int)ndim;
    for (uint32_t d = 0; d < ndim; d++) {
        uint64_t v;
        if (!gd_get_u64(r, "the input shape", &v))
            return NULL;
        if (v < 1 || v > (1u << 24)) {
            gd_rfail(r, GD_EIO, "malformed section MODL: input dimension %u is %llu", d + 1,
                     (unsigned long long)v);
            return NULL;
        }
        in.dim[d] = (int64_t)v;
    }
    if (gd_shape_numel(&in) > (1 << 26)) {
        gd_rfail(r, GD_EIO, "malformed section MODL: %lld inputs per sample",
                 (long long)gd_shape_numel(&in));
        return NULL;
    }
    if (!gd_get_u32(r, "the layer count", &nl))
        return NULL;
    /* Each layer's spec takes at least 9 bytes: a bound before the calloc. */
    if (nl < 1 || nl > MAX_LAYERS || nl > (r->end - r->pos) / 9) {
        gd_rfail(r, GD_EIO, "malformed section MODL: %u layers", nl);
        return NULL;
    }
    if (!(specs = calloc(nl, sizeof *specs))) {
        gd_rfail(r, GD_ENOMEM, "out of memory");
        return NULL;
    }
    for (uint32_t i = 0; i < nl; i++) {
        char where[32];
        snprintf(where, sizeof where, "layer %u", i + 1);
        if (!(specs[i] = gd_get_spec(r, where)))
            goto done;
    }
    if (!(tree = get_tree(r, version, specs, nl, &nnodes)) ||
        !values_fit(r, specs, tree, nnodes, &in))
        goto done;
    gd_error inner;
    /* The seed only matters to initial values, all of which are overwritten. */
    if (!(m = gd_model_new_tree(r->reg, tree, nnodes, &in, 1, &inner))) {
        gd_rfail(r, GD_EINVAL, "%s", inner.msg);
        goto done;
    }
    for (uint32_t i = 0; i < nl; i++)
        if (!get_state(r, gd_model_layer_at(m, (int)i), (int)i + 1)) {
            gd_model_free(m);
            m = NULL;
            goto done;
        }
    if (!get_model_tail(r, m)) {
        gd_model_free(m);
        m = NULL;
    }
done:
    for (uint32_t i = 0; i < nl; i++)
        gd_spec_free(specs[i]);
    free(specs);
    free(tree);
    return m;
}

/* ---------------------------------------------------------------------------
 * Model files (gd_model_load also takes the model out of a checkpoint)
 * ------------------------------------------------------------------------- */

static void put_model_meta(gd_buf *b, gd_model *m, const char *reason)
{
    int nl = gd_model_layer_count(m);
    const gd_spec *specs[GD_MAX_COMPONENT_REFS];
    int n = 0;
    for (int i = 0; i < nl && n < GD_MAX_COMPONENT_REFS - 1; i++)
        specs[n++] = gd_model_layer_at(m, i)->spec;
    if (gd_model_loss(m))
        specs[n++] = gd_model_loss(m);
    gd_put_meta(b, gd_model_registry(m), specs, n, reason);
}

gd_status gd_model_save(gd_model *m, const char *path, gd_error *err)
{
    gd_buf b = { 0 };
    gd_put_header(&b, model_magic, gd_model_file_version(m), 2);
    size_t s = gd_section_begin(&b, "META");
    put_model_meta(&b, m, "model");
    gd_section_end(&b, s);
    s = gd_section_begin(&b, "MODL");
    gd_put_model(&b, m, gd_model_file_version(m) >= 3);
    gd_section_end(&b, s);
    gd_status st = b.oom ? gd_fail(err, GD_ENOMEM, "%s: out of memory", path)
                         : gd_write_atomic(path, b.p, b.n, NULL, err);
    gd_buf_free(&b);
    return st;
}

gd_model *gd_model_load(const gd_registry *reg, const char *path, gd_error *err)
{
    size_t size;
    unsigned char *buf = gd_read_file(path, &size, err);
    if (!buf)
        return NULL;
    gd_container c;
    gd_model *m = NULL;
    /* A checkpoint holds the same META and MODL sections: its model loads. */
    const gd_format *fmt = size >= 8 && memcmp(buf, ckpt_magic, 8) == 0 ? &gd_checkpoint_format
                                                                        : &gd_model_format;
    if (gd_container_open(&c, fmt, buf, size, true, path, err) == GD_OK) {
        const gd_section *meta = gd_container_find(&c, "META");
        const gd_section *modl = gd_container_find(&c, "MODL");
        gd_file_meta fm;
        if (!meta || !modl) {
            gd_reader r = { buf, 0, 0, path, "", reg, err };
            gd_rfail(&r, GD_EIO, "malformed: no %s section", meta ? "MODL" : "META");
        } else {
            gd_reader r = gd_reader_at(&c, meta, reg, path, err);
            /* A checkpoint's model needs its layers' plugins, not its
             * optimizer's or schedule's. */
            if (gd_get_meta_for(&r, &fm, true)) {
                r = gd_reader_at(&c, modl, reg, path, err);
                m = gd_get_model(&r, fmt == &gd_model_format ? c.version
                                     : c.version >= 3 ? 3 : 2);
                if (m && !gd_reader_done(&r)) {
                    gd_model_free(m);
                    m = NULL;
                }
            }
        }
    }
    free(buf);
    return m;
}
