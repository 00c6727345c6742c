/*
 * core/model_tree.c: a model's structure (sequentials and residual blocks
 * around layer plugins): checked, named by path, and built on the input
 * shape, each layer on what the one before gives.
 *
 * Blocks are the core's: a plugin sees only its own input and output, so a
 * third-party layer works inside a block unchanged. A shape a layer cannot
 * take is the layer's to say (its create fails with "dense: needs a flat
 * input: ..."); the core adds who gave that shape, so the message names
 * both layers and the shape between them.
 */
#include "model_layer.h"

#include <stdlib.h>
#include <string.h>

#include "component.h"

/* ---------------------------------------------------------------------------
 * Structure: pre-order descriptions to nodes
 * ------------------------------------------------------------------------- */

typedef struct walker {
    gd_model *m;
    const gd_node_desc *desc;
    int n, pos, leaves;
    gd_error *err;
} walker;

static gd_status parse_node(walker *w, int level);

/* The count children of nd, linked back to front for backward. */
static gd_status parse_children(walker *w, gd_model_node *nd, int count, int level)
{
    for (int c = 0; c < count; c++) {
        int at = w->pos;
        if (parse_node(w, level + 1) != GD_OK)
            return GD_EINVAL;
        w->m->nodes[at].prev = nd->last;
        nd->last = at;
    }
    return GD_OK;
}

static gd_status parse_node(walker *w, int level)
{
    if (w->pos >= w->n)
        return gd_fail(w->err, GD_EINVAL, "model: the structure ends inside a block (%d nodes)",
                       w->n);
    if (level > GD_MAX_NESTING)
        return gd_fail(w->err, GD_EINVAL, "model: blocks nested more than %d deep",
                       GD_MAX_NESTING);
    int i = w->pos++;
    const gd_node_desc *d = &w->desc[i];
    gd_model_node *nd = &w->m->nodes[i];
    nd->kind = d->kind;
    nd->count = d->kind == GD_NODE_LAYER ? 0 : d->count;
    nd->level = level;
    nd->leaf = -1;
    nd->last = nd->prev = -1;
    nd->first_leaf = w->leaves;
    switch (d->kind) {
    case GD_NODE_LAYER:
        if (!d->spec)
            return gd_fail(w->err, GD_EINVAL, "model: node %d is a layer without a spec", i + 1);
        nd->leaf = w->leaves++;
        break;
    case GD_NODE_SEQUENTIAL:
        if (d->count < 1)
            return gd_fail(w->err, GD_EINVAL, "model: a sequential needs at least one layer");
        if (parse_children(w, nd, d->count, level) != GD_OK)
            return GD_EINVAL;
        break;
    case GD_NODE_RESIDUAL:
        if (d->count < 1 || d->count > 2)
            return gd_fail(w->err, GD_EINVAL, "model: a residual block has a body and at most "
                           "one shortcut, got %d parts", d->count);
        if (w->pos < w->n && w->desc[w->pos].kind != GD_NODE_SEQUENTIAL)
            return gd_fail(w->err, GD_EINVAL, "model: a residual block's body must be a "
                           "sequential");
        if (parse_children(w, nd, d->count, level) != GD_OK)
            return GD_EINVAL;
        break;
    default:
        return gd_fail(w->err, GD_EINVAL, "model: node %d has unknown kind %d", i + 1,
                       (int)d->kind);
    }
    nd->size = w->pos - i;
    nd->nleaves = w->leaves - nd->first_leaf;
    if (level + 1 > w->m->nlevels && d->kind != GD_NODE_LAYER)
        w->m->nlevels = level + 1;
    return GD_OK;
}

/* The next child after child c (a node index) of the same parent. */
static int next_sibling(const gd_model *m, int c) { return c + m->nodes[c].size; }

/* ---------------------------------------------------------------------------
 * Names: paths, counting per component (or block kind) within a container
 * ------------------------------------------------------------------------- */

static const char *own_kind(const gd_model *m, const gd_node_desc *desc, int i)
{
    switch (m->nodes[i].kind) {
    case GD_NODE_RESIDUAL: return "res";
    case GD_NODE_SEQUENTIAL: return "seq";
    default: return desc[i].spec->component->name;
    }
}

static gd_status set_path(gd_model_node *nd, const char *prefix, const char *own, int k,
                          gd_error *err)
{
    char num[16] = "";
    if (k > 0)
        snprintf(num, sizeof num, "%d", k);
    int n = snprintf(nd->name, sizeof nd->name, "%s%s%s%s", prefix, *prefix ? "." : "", own,
                     num);
    if (n < 0 || n >= (int)sizeof nd->name)
        return gd_fail(err, GD_EINVAL, "model: the path %s%s%s%s is longer than %d characters "
                       "(blocks nested too deep)", prefix, *prefix ? "." : "", own, num,
                       GD_MAX_PATH - 1);
    return GD_OK;
}

static gd_status name_node(gd_model *m, const gd_node_desc *desc, int i, gd_error *err);

/* Name the children of container i, whose own path is already set. */
static gd_status name_children(gd_model *m, const gd_node_desc *desc, int i, gd_error *err)
{
    gd_model_node *nd = &m->nodes[i];
    int c = i + 1;
    for (int k = 0; k < nd->count; k++, c = next_sibling(m, c)) {
        gd_model_node *ch = &m->nodes[c];
        gd_status st;
        if (nd->kind == GD_NODE_RESIDUAL && k == 0) {        /* the body: the block's level */
            memcpy(ch->name, nd->name, sizeof ch->name);
            st = GD_OK;
        } else if (nd->kind == GD_NODE_RESIDUAL) {
            st = set_path(ch, nd->name, "shortcut", 0, err);
        } else {
            const char *kind = own_kind(m, desc, c);
            int same = 1;
            for (int s = i + 1; s < c; s = next_sibling(m, s))
                same += strcmp(own_kind(m, desc, s), kind) == 0;
            st = set_path(ch, nd->name, kind, same, err);
        }
        if (st != GD_OK || name_node(m, desc, c, err) != GD_OK)
            return GD_EINVAL;
    }
    return GD_OK;
}

static gd_status name_node(gd_model *m, const gd_node_desc *desc, int i, gd_error *err)
{
    gd_model_node *nd = &m->nodes[i];
    if (nd->kind != GD_NODE_LAYER)
        return name_children(m, desc, i, err);
    memcpy(m->layers[nd->leaf].name, nd->name, sizeof nd->name);
    return GD_OK;
}

/* ---------------------------------------------------------------------------
 * Shapes: every layer created on what the one before gives
 * ------------------------------------------------------------------------- */

static const char *shape_text(const gd_shape *s, char *buf, size_t cap)
{
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < s->ndim && n < cap; d++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", d ? ", " : "", (long long)s->dim[d]);
    if (n < cap)
        snprintf(buf + n, cap - n, "]");
    return buf;
}

static bool same_shape(const gd_shape *a, const gd_shape *b)
{
    if (a->ndim != b->ndim)
        return false;
    for (int d = 0; d < a->ndim; d++)
        if (a->dim[d] != b->dim[d])
            return false;
    return true;
}

/* What gives the current shape, for messages: "the model's input" or a path. */
typedef struct source {
    char name[GD_MAX_PATH + 24];
} source;

static gd_status create_layer(gd_model *m, const gd_node_desc *desc, int i, const gd_shape *in,
                              source *src, gd_error *err)
{
    gd_model_node *nd = &m->nodes[i];
    gd_model_layer *l = &m->layers[nd->leaf];
    const gd_component *c = desc[i].spec->component;
    if (c->kind != GD_KIND_LAYER)
        return gd_fail(err, GD_EINVAL, "%s: expected a layer spec, got %s '%s'", nd->name,
                       gd_kind_name(c->kind), c->name);
    if (!(l->entry = gd_registry_entry_of(m->reg, c)))
        return gd_fail(err, GD_EINVAL, "%s: '%s' is not from this registry", nd->name, c->name);
    if (!(l->spec = gd_spec_copy(desc[i].spec)))
        return gd_fail(err, GD_ENOMEM, "out of memory");
    l->info.size = sizeof l->info;
    l->in = *in;
    gd_error inner;
    gd_status st = gd_layer_create(l->spec, in, &l->info, &l->self, &inner);
    if (st != GD_OK) {
        /* A layer built alone (layer:build, a model of one layer) has no
         * neighbour to name: its own message says it all. */
        if (m->nlayers == 1)
            return gd_fail(err, st, "%s", inner.msg);
        /* "dense: needs a flat input: ..." reads on after the layer's path. */
        const char *why = inner.msg;
        size_t cn = strlen(c->name);
        if (strncmp(why, c->name, cn) == 0 && why[cn] == ':' && why[cn + 1] == ' ')
            why += cn + 2;
        char s[96];
        return gd_fail(err, st, "%s %s %s; %s %s", src->name,
                       strcmp(src->name, "the model's input") == 0 ? "is" : "gives",
                       shape_text(in, s, sizeof s), nd->name, why);
    }
    if (l->info.nparams < 0 || l->info.nparams > GD_MAX_LAYER_PARAMS ||
        l->info.nbuffers < 0 || l->info.nbuffers > GD_MAX_LAYER_BUFFERS ||
        l->info.out.ndim < 1 || l->info.out.ndim > GD_MAX_DIMS - 1 ||
        gd_shape_numel(&l->info.out) < 1)
        return gd_fail(err, GD_EINVAL, "%s: plugin '%s' reported an invalid shape or parameter "
                       "count", nd->name, c->name);
    l->out = l->info.out;
    nd->out = l->out;
    snprintf(src->name, sizeof src->name, "%s", nd->name);
    return GD_OK;
}

/* A shortcut that would make the block work, for the message. */
static void suggest_shortcut(const gd_shape *in, const gd_shape *out, char *buf, size_t cap)
{
    if (out->ndim == 1) {
        snprintf(buf, cap, "shortcut = gd.layer.dense{ units = %lld }", (long long)out->dim[0]);
    } else if (out->ndim == 3 && in->ndim == 3 && out->dim[1] > 0 && out->dim[2] > 0 &&
               in->dim[1] % out->dim[1] == 0 && in->dim[1] / out->dim[1] ==
               (in->dim[2] + out->dim[2] - 1) / out->dim[2]) {
        long long stride = (long long)(in->dim[1] / out->dim[1]);
        if (stride > 1)
            snprintf(buf, cap, "shortcut = gd.layer.conv2d{ filters = %lld, kernel = 1, "
                     "stride = %lld }", (long long)out->dim[0], stride);
        else
            snprintf(buf, cap, "shortcut = gd.layer.conv2d{ filters = %lld, kernel = 1 }",
                     (long long)out->dim[0]);
    } else {
        snprintf(buf, cap, "a shortcut layer that gives that shape");
    }
}

static gd_status create_node(gd_model *m, const gd_node_desc *desc, int i, const gd_shape *in,
                             source *src, gd_error *err)
{
    gd_model_node *nd = &m->nodes[i];
    nd->in = *in;
    if (nd->kind == GD_NODE_LAYER)
        return create_layer(m, desc, i, in, src, err);
    if (nd->kind == GD_NODE_SEQUENTIAL) {
        gd_shape shape = *in;
        for (int k = 0, c = i + 1; k < nd->count; k++, c = next_sibling(m, c)) {
            if (create_node(m, desc, c, &shape, src, err) != GD_OK)
                return GD_EINVAL;
            shape = m->nodes[c].out;
        }
        nd->out = shape;
        return GD_OK;
    }
    /* A residual: body and shortcut both start from the block's input. */
    source from = *src;
    int body = i + 1, shortcut = next_sibling(m, body);
    if (create_node(m, desc, body, in, src, err) != GD_OK)
        return GD_EINVAL;
    const gd_shape *bout = &m->nodes[body].out;
    char a[96], b[96], hint[128];
    if (nd->count == 2) {
        *src = from;
        if (create_node(m, desc, shortcut, in, src, err) != GD_OK)
            return GD_EINVAL;
        const gd_shape *sout = &m->nodes[shortcut].out;
        if (!same_shape(bout, sout))
            return gd_fail(err, GD_EINVAL, "%s: the body gives %s and the shortcut %s: they are "
                           "added, so they must give the same shape", nd->name,
                           shape_text(bout, a, sizeof a), shape_text(sout, b, sizeof b));
    } else if (!same_shape(bout, in)) {
        suggest_shortcut(in, bout, hint, sizeof hint);
        return gd_fail(err, GD_EINVAL, "%s: the body turns %s into %s, but a residual block "
                       "without a shortcut must keep the shape (y = body(x) + x): keep it, or "
                       "give the block %s", nd->name, shape_text(in, a, sizeof a),
                       shape_text(bout, b, sizeof b), hint);
    }
    nd->out = *bout;
    snprintf(src->name, sizeof src->name, "%s", nd->name);
    return GD_OK;
}

gd_status gd_model_build_tree(gd_model *m, const gd_node_desc *desc, int ndesc, gd_error *err)
{
    if (ndesc < 2 || desc[0].kind != GD_NODE_SEQUENTIAL)
        return gd_fail(err, GD_EINVAL, "model: the structure must start with a sequential of "
                       "at least one layer");
    int nleaves = 0;
    for (int i = 0; i < ndesc; i++)
        nleaves += desc[i].kind == GD_NODE_LAYER;
    if (nleaves < 1)
        return gd_fail(err, GD_EINVAL, "model: needs at least one layer");
    m->nodes = calloc((size_t)ndesc, sizeof *m->nodes);
    m->layers = calloc((size_t)nleaves, sizeof *m->layers);
    if (!m->nodes || !m->layers)
        return gd_fail(err, GD_ENOMEM, "model: out of memory");
    m->nnodes = ndesc;
    m->nlayers = nleaves;
    walker w = { m, desc, ndesc, 0, 0, err };
    if (parse_node(&w, 0) != GD_OK)
        return GD_EINVAL;
    if (w.pos != ndesc)
        return gd_fail(err, GD_EINVAL, "model: %d nodes after the root's end", ndesc - w.pos);
    if (name_node(m, desc, 0, err) != GD_OK)
        return GD_EINVAL;
    source src = { "the model's input" };
    if (create_node(m, desc, 0, &m->in, &src, err) != GD_OK)
        return GD_EINVAL;
    m->out = m->nodes[0].out;
    return GD_OK;
}

/* ---------------------------------------------------------------------------
 * Accessors
 * ------------------------------------------------------------------------- */

int gd_model_node_count(const gd_model *m) { return m->nnodes; }
gd_node_kind gd_model_node_kind(const gd_model *m, int i) { return m->nodes[i].kind; }
int gd_model_node_children(const gd_model *m, int i) { return m->nodes[i].count; }
int gd_model_node_depth(const gd_model *m, int i) { return m->nodes[i].level; }
const char *gd_model_node_name(const gd_model *m, int i) { return m->nodes[i].name; }
const gd_shape *gd_model_node_input(const gd_model *m, int i) { return &m->nodes[i].in; }
const gd_shape *gd_model_node_output(const gd_model *m, int i) { return &m->nodes[i].out; }
int gd_model_node_layer(const gd_model *m, int i) { return m->nodes[i].leaf; }

int64_t gd_model_node_param_count(const gd_model *m, int i)
{
    const gd_model_node *nd = &m->nodes[i];
    int64_t n = 0;
    for (int k = nd->first_leaf; k < nd->first_leaf + nd->nleaves; k++)
        n += m->layers[k].param_count;
    return n;
}

bool gd_model_node_is_body(const gd_model *m, int i)
{
    return i > 0 && m->nodes[i - 1].kind == GD_NODE_RESIDUAL;
}

bool gd_model_has_blocks(const gd_model *m)
{
    return m->nnodes != m->nlayers + 1;
}

bool gd_model_same_structure(const gd_model *a, const gd_model *b)
{
    if (a->nnodes != b->nnodes || !same_shape(&a->in, &b->in))
        return false;
    for (int i = 0; i < a->nnodes; i++)
        if (a->nodes[i].kind != b->nodes[i].kind || a->nodes[i].count != b->nodes[i].count)
            return false;
    return true;
}
