/*
 * core/model.c: a model's parameter arena, its buffers, and forward and
 * backward through its layers and blocks (the structure: model_tree.c).
 *
 * Forward walks the tree: a layer writes its own output buffer, a residual
 * block sums its body's output and its input (or its shortcut's output)
 * into its own. Backward walks it back, last layer first: a sequential
 * passes gradients through a ping-pong pair of buffers of its nesting
 * level, a residual gives the same dL/dy to its shortcut (whose input
 * gradient goes straight to the block's) and to its body (into the
 * level's third buffer, then added): the gradient add at the fork. Each
 * level has its own buffers, so a block's dy is still there when its
 * second branch reads it; all are sized once by gd_model_reserve.
 */
#include "model_layer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "component.h"
#include "data.h"
#include "host.h"
#include "memory.h"
#include "pool.h"

/* Stream ids: parameters of layer i draw from stream PARAM_STREAM + 16*i + p,
 * the layer's own stream (dropout) is LAYER_STREAM + i. Keyed by position
 * only, so two models of the same shapes built with the same seed start
 * from the same weights (common random numbers in gd.compare). */
enum { PARAM_STREAM = 1u << 20, LAYER_STREAM = 2u << 20 };

static void free_layers(gd_model *m)
{
    for (int i = 0; m->layers && i < m->nlayers; i++) {
        gd_model_layer *l = &m->layers[i];
        if (l->self)   /* a layer that failed to create may have no entry */
            gd_layer_destroy(l->entry->component, l->self);
        gd_spec_free((gd_spec *)l->spec);
    }
}

static void free_gbufs(gd_model *m)
{
    for (int i = 0; m->gbuf && i < m->nlevels * GD_GBUF_PER_LEVEL; i++)
        free(m->gbuf[i]);
    free(m->gbuf);
    for (int i = 0; m->nodes && i < m->nnodes; i++) {
        free(m->nodes[i].act);
        m->nodes[i].act = NULL;
    }
    m->gbuf = NULL;
}

void gd_model_free(gd_model *m)
{
    if (!m)
        return;
    free_layers(m);
    free(m->layers);
    free(m->params);
    free(m->grads);
    free(m->buffers);
    if (m->acts)
        for (int i = 0; i < m->nlayers; i++)
            free(m->acts[i]);
    if (m->scratch)
        for (int i = 0; i < m->nlayers; i++)
            free(m->scratch[i]);
    free(m->acts);
    free(m->scratch);
    free_gbufs(m);
    free(m->nodes);
    free(m->labels);
    gd_spec_free(m->loss);
    free(m);
}

const double *gd_model_labels(const gd_model *m) { return m->labels; }
const gd_spec *gd_model_loss(const gd_model *m) { return m->loss; }

gd_status gd_model_set_labels(gd_model *m, const double *labels, int64_t n, gd_error *err)
{
    double *copy = NULL;
    if (labels) {
        int64_t width = gd_shape_numel(&m->out);
        if (n != width)
            return gd_fail(err, GD_EINVAL, "model: %lld class labels for %lld outputs",
                           (long long)n, (long long)width);
        if (!(copy = malloc((size_t)n * sizeof *copy)))
            return gd_fail(err, GD_ENOMEM, "model: out of memory for labels");
        memcpy(copy, labels, (size_t)n * sizeof *copy);
    }
    free(m->labels);
    m->labels = copy;
    return GD_OK;
}

gd_status gd_model_set_loss(gd_model *m, const gd_spec *loss, gd_error *err)
{
    gd_spec *copy = NULL;
    if (loss && !(copy = gd_spec_copy(loss)))
        return gd_fail(err, GD_ENOMEM, "model: out of memory for the loss spec");
    gd_spec_free(m->loss);
    m->loss = copy;
    return GD_OK;
}

/* Lay parameters out in the arenas in layer order and bind them. */
static void arena_sizes(const gd_model *m, int64_t *np, int64_t *nb);

static gd_status allocate_arenas(gd_model *m, gd_error *err)
{
    int64_t np, nb;
    arena_sizes(m, &np, &nb);
    /* Over-allocate one cache line so optimizer loops may run on aligned
     * data; calloc'ing 0 bytes is avoided for parameter-free models. */
    m->params = aligned_alloc(64, (size_t)((np * 4 + 64 + 63) / 64 * 64));
    m->grads = aligned_alloc(64, (size_t)((np * 4 + 64 + 63) / 64 * 64));
    m->buffers = calloc((size_t)(nb ? nb : 1), sizeof(float));
    if (!m->params || !m->grads || !m->buffers)
        return gd_fail(err, GD_ENOMEM, "model: out of memory for %lld parameters",
                       (long long)np);
    memset(m->params, 0, (size_t)np * sizeof(float));
    memset(m->grads, 0, (size_t)np * sizeof(float));
    m->nparams = np;
    m->nbuffer_floats = nb;
    int64_t po = 0, bo = 0;
    for (int i = 0; i < m->nlayers; i++) {
        gd_model_layer *l = &m->layers[i];
        float *pv[GD_MAX_LAYER_PARAMS], *gv[GD_MAX_LAYER_PARAMS], *bv[GD_MAX_LAYER_BUFFERS];
        l->param_offset = po;
        l->nparams = l->info.nparams;
        for (int p = 0; p < l->nparams; p++) {
            int64_t n = gd_shape_numel(&l->info.params[p].shape);
            l->params[p] = (gd_model_param){ &l->info.params[p], m->params + po, m->grads + po,
                                             po, n };
            pv[p] = m->params + po;
            gv[p] = m->grads + po;
            po += n;
        }
        l->param_count = po - l->param_offset;
        l->nbuffers = l->info.nbuffers;
        for (int b = 0; b < l->nbuffers; b++) {
            int64_t n = l->info.buffers[b].numel;
            l->buffers[b] = (gd_model_buffer){ &l->info.buffers[b], m->buffers + bo, n };
            bv[b] = m->buffers + bo;
            bo += n;
        }
        gd_layer_bind(l->entry->component, l->self, pv, gv, bv);
    }
    return GD_OK;
}

gd_status gd_model_init(gd_model *m, uint64_t seed, gd_error *err)
{
    for (int i = 0; i < m->nlayers; i++) {
        gd_model_layer *l = &m->layers[i];
        for (int p = 0; p < l->nparams; p++) {
            gd_model_param *mp = &l->params[p];
            const gd_param_info *pi = mp->info;
            if (!pi->init) {
                for (int64_t k = 0; k < mp->numel; k++)
                    mp->value[k] = pi->init_value;
                continue;
            }
            const gd_component *ic = pi->init->component;
            if (ic->kind != GD_KIND_INITIALIZER)
                return gd_fail(err, GD_EINVAL, "%s.%s: init is a %s, not an initializer",
                               l->name, pi->name, gd_kind_name(ic->kind));
            gd_rng rng = gd_rng_stream(seed, PARAM_STREAM + 16u * (uint64_t)i + (uint64_t)p);
            gd_error inner;
            gd_status st = gd_initializer_fill(pi->init, mp->value, mp->numel, pi->fan_in,
                                               pi->fan_out, &rng, &inner);
            if (st != GD_OK)
                return gd_fail(err, st, "%s.%s: %s: %s", l->name, pi->name, ic->name, inner.msg);
        }
        for (int b = 0; b < l->nbuffers; b++)
            for (int64_t k = 0; k < l->buffers[b].numel; k++)
                l->buffers[b].value[k] = l->buffers[b].info->init_value;
        l->rng = gd_rng_stream(seed, LAYER_STREAM + (uint64_t)i);
    }
    memset(m->grads, 0, (size_t)m->nparams * sizeof(float));
    return GD_OK;
}

/* The arenas allocate_arenas would make. */
static void arena_sizes(const gd_model *m, int64_t *np, int64_t *nb)
{
    *np = *nb = 0;
    for (int i = 0; i < m->nlayers; i++) {
        const gd_layer_info *info = &m->layers[i].info;
        for (int p = 0; p < info->nparams; p++)
            *np += gd_shape_numel(&info->params[p].shape);
        for (int b = 0; b < info->nbuffers; b++)
            *nb += info->buffers[b].numel;
    }
}

void gd_model_memory(const gd_model *m, int64_t batch, gd_memory_estimate *e, int64_t *pending)
{
    int64_t np, nb, widest = gd_shape_numel(&m->in), outs = 0, scratch = 0;
    arena_sizes(m, &np, &nb);
    for (int i = 0; i < m->nlayers; i++) {
        int64_t n = gd_shape_numel(&m->layers[i].out);
        widest = n > widest ? n : widest;
        outs += n;
        scratch += gd_model_layer_scratch(&m->layers[i], batch);
    }
    *e = (gd_memory_estimate){ .params = 4 * np, .grads = 4 * np, .buffers = 4 * nb,
                               .activations = 4 * batch * (outs + 2 * widest),
                               .workspace = 4 * scratch };
    *pending = batch <= m->reserved ? 0 : e->activations + e->workspace;
}

gd_model *gd_model_new_tree(const gd_registry *reg, const gd_node_desc *nodes, int nnodes,
                            const gd_shape *in, uint64_t seed, gd_error *err)
{
    if (in->ndim < 1 || in->ndim > GD_MAX_DIMS - 1 || gd_shape_numel(in) < 1) {
        gd_fail(err, GD_EINVAL, "model: invalid input shape");
        return NULL;
    }
    gd_model *m = calloc(1, sizeof *m);
    if (!m) {
        gd_fail(err, GD_ENOMEM, "model: out of memory");
        return NULL;
    }
    m->reg = reg;
    m->in = *in;
    gd_status st = gd_model_build_tree(m, nodes, nnodes, err);
    if (st == GD_OK) {   /* before the arenas: too large a model is refused, not OOM-killed */
        int64_t np, nb;
        arena_sizes(m, &np, &nb);
        gd_memory_estimate e = { .params = 4 * np, .grads = 4 * np, .buffers = 4 * nb };
        st = gd_memory_check("model", &e, gd_memory_total(&e), err);
    }
    if (st != GD_OK || allocate_arenas(m, err) != GD_OK || gd_model_init(m, seed, err) != GD_OK) {
        gd_model_free(m);
        return NULL;
    }
    return m;
}

gd_model *gd_model_new(const gd_registry *reg, const gd_spec *const *layers, int nlayers,
                       const gd_shape *in, uint64_t seed, gd_error *err)
{
    if (nlayers < 1) {
        gd_fail(err, GD_EINVAL, "model: needs at least one layer");
        return NULL;
    }
    gd_node_desc *d = calloc((size_t)nlayers + 1, sizeof *d);
    if (!d) {
        gd_fail(err, GD_ENOMEM, "model: out of memory");
        return NULL;
    }
    d[0] = (gd_node_desc){ GD_NODE_SEQUENTIAL, nlayers, NULL };
    for (int i = 0; i < nlayers; i++)
        d[i + 1] = (gd_node_desc){ GD_NODE_LAYER, 0, layers[i] };
    gd_model *m = gd_model_new_tree(reg, d, nlayers + 1, in, seed, err);
    free(d);
    return m;
}

int gd_model_layer_count(const gd_model *m) { return m->nlayers; }
gd_model_layer *gd_model_layer_at(gd_model *m, int i) { return &m->layers[i]; }
const char *gd_model_layer_name(const gd_model_layer *l) { return l->name; }
const gd_spec *gd_model_layer_spec(const gd_model_layer *l) { return l->spec; }
const gd_shape *gd_model_layer_input(const gd_model_layer *l) { return &l->in; }
const gd_shape *gd_model_layer_output(const gd_model_layer *l) { return &l->out; }
int64_t gd_model_layer_input_ids(const gd_model_layer *l)
{
    return l->info.input_ids > 0 ? l->info.input_ids : 0;
}

int64_t gd_model_input_ids(const gd_model *m)
{
    return m->nlayers ? gd_model_layer_input_ids(&m->layers[0]) : 0;
}

int64_t gd_model_layer_scratch(const gd_model_layer *l, int64_t batch)
{
    return l->info.scratch_per_sample * batch + l->info.scratch_fixed;
}
gd_rng *gd_model_layer_rng(gd_model_layer *l) { return &l->rng; }
int64_t gd_model_layer_param_count(const gd_model_layer *l) { return l->param_count; }
int gd_model_layer_nparams(const gd_model_layer *l) { return l->nparams; }
const gd_model_param *gd_model_layer_param(const gd_model_layer *l, int p) { return &l->params[p]; }
int gd_model_layer_nbuffers(const gd_model_layer *l) { return l->nbuffers; }
const gd_model_buffer *gd_model_layer_buffer(const gd_model_layer *l, int b) { return &l->buffers[b]; }
const gd_shape *gd_model_input_shape(const gd_model *m) { return &m->in; }
const gd_shape *gd_model_output_shape(const gd_model *m) { return &m->out; }
int64_t gd_model_param_count(const gd_model *m) { return m->nparams; }
float *gd_model_params(gd_model *m) { return m->params; }
float *gd_model_grads(gd_model *m) { return m->grads; }
int64_t gd_model_last_batch(const gd_model *m) { return m->last_batch; }
bool gd_model_can_backward(const gd_model *m) { return m->last_input != NULL; }

static float *alloc_floats(int64_t n)
{
    return aligned_alloc(64, (size_t)((n * 4 + 63) / 64 * 64));
}

/* Which of a level's gradient buffers backward uses: the ping-pong pair of
 * a sequential of two or more parts, the sum of a residual with a shortcut. */
static bool gbuf_needed(const gd_model *m, int k)
{
    int level = k / GD_GBUF_PER_LEVEL, which = k % GD_GBUF_PER_LEVEL;
    for (int i = 0; i < m->nnodes; i++) {
        const gd_model_node *nd = &m->nodes[i];
        if (nd->level != level)
            continue;
        if (which < 2 && nd->kind == GD_NODE_SEQUENTIAL && nd->count > 1)
            return true;
        if (which == 2 && nd->kind == GD_NODE_RESIDUAL && nd->count == 2)
            return true;
    }
    return false;
}

typedef struct batch_buffers {
    float **acts, **scratch, **gbuf, **racts;
} batch_buffers;

static void free_batch_buffers(const gd_model *m, batch_buffers *b)
{
    for (int i = 0; b->acts && i < m->nlayers; i++)
        free(b->acts[i]);
    for (int i = 0; b->scratch && i < m->nlayers; i++)
        free(b->scratch[i]);
    for (int i = 0; b->gbuf && i < m->nlevels * GD_GBUF_PER_LEVEL; i++)
        free(b->gbuf[i]);
    for (int i = 0; b->racts && i < m->nnodes; i++)
        free(b->racts[i]);
    free(b->acts); free(b->scratch); free(b->gbuf); free(b->racts);
}

gd_status gd_model_reserve(gd_model *m, int64_t batch, gd_error *err)
{
    if (batch <= m->reserved)
        return GD_OK;
    if (batch < 1)
        return gd_fail(err, GD_EINVAL, "model: batch must be >= 1");
    int64_t widest = gd_shape_numel(&m->in);
    for (int i = 0; i < m->nnodes; i++)
        if (gd_shape_numel(&m->nodes[i].out) > widest)
            widest = gd_shape_numel(&m->nodes[i].out);
    int ng = m->nlevels * GD_GBUF_PER_LEVEL;
    batch_buffers nb = { calloc((size_t)m->nlayers, sizeof(float *)),
                         calloc((size_t)m->nlayers, sizeof(float *)),
                         calloc((size_t)ng + 1, sizeof(float *)),
                         calloc((size_t)m->nnodes, sizeof(float *)) };
    bool ok = nb.acts && nb.scratch && nb.gbuf && nb.racts;
    for (int i = 0; ok && i < m->nlayers; i++) {
        gd_model_layer *l = &m->layers[i];
        int64_t s = gd_model_layer_scratch(l, batch);
        ok = (nb.acts[i] = alloc_floats(batch * gd_shape_numel(&l->out))) != NULL;
        if (ok && s > 0)
            ok = (nb.scratch[i] = calloc((size_t)s, sizeof(float))) != NULL;
    }
    for (int k = 0; ok && k < ng; k++)
        if (gbuf_needed(m, k))
            ok = (nb.gbuf[k] = alloc_floats(batch * widest)) != NULL;
    for (int i = 0; ok && i < m->nnodes; i++)
        if (m->nodes[i].kind == GD_NODE_RESIDUAL)
            ok = (nb.racts[i] = alloc_floats(batch * gd_shape_numel(&m->nodes[i].out))) != NULL;
    if (!ok) {
        free_batch_buffers(m, &nb);
        return gd_fail(err, GD_ENOMEM, "model: out of memory for a batch of %lld",
                       (long long)batch);
    }
    batch_buffers old = { m->acts, m->scratch, NULL, NULL };
    free_batch_buffers(m, &old);
    free_gbufs(m);   /* and the residuals' outputs */
    m->acts = nb.acts;
    m->scratch = nb.scratch;
    m->gbuf = nb.gbuf;
    for (int i = 0; i < m->nnodes; i++)
        m->nodes[i].act = nb.racts[i];
    free(nb.racts);
    m->reserved = batch;
    m->last_batch = 0;
    m->last_input = NULL;
    return GD_OK;
}

static gd_tensor batch_tensor(float *data, int64_t batch, const gd_shape *sample)
{
    gd_tensor t = { data, { sample->ndim + 1, { batch, 0, 0, 0 } } };
    for (int d = 0; d < sample->ndim; d++)
        t.shape.dim[d + 1] = sample->dim[d];
    return t;
}

static gd_layer_ctx layer_ctx(gd_model *m, gd_model_layer *l, int i, bool training)
{
    if (m->probe_mode)   /* batch statistics on, dropout off */
        training = l->nbuffers > 0;
    gd_layer_ctx ctx = { .size = sizeof ctx, .host = gd_core_host(), .training = training,
                         .rng = &l->rng, .scratch = m->scratch[i] };
    return ctx;
}

gd_status gd_model_layer_forward(const gd_model_layer *l, const gd_layer_ctx *ctx,
                                 const gd_tensor *x, gd_tensor *y, gd_error *err)
{
    return gd_layer_forward(l->entry->component, l->self, ctx, x, y, err);
}

void gd_model_layer_backward(const gd_model_layer *l, const gd_layer_ctx *ctx,
                             const gd_tensor *x, const gd_tensor *y, const gd_tensor *dy,
                             gd_tensor *dx)
{
    gd_layer_backward(l->entry->component, l->self, ctx, x, y, dy, dx);
}

/* ---------------------------------------------------------------------------
 * Forward and backward through the tree
 * ------------------------------------------------------------------------- */

/* What a streaming layer's grad_ready reaches the caller's slice through. */
typedef struct slice_route {
    gd_grad_slice_fn slice;
    void *ctx;
    int layer;
} slice_route;

static void route_slice(const gd_layer_ctx *ctx, int param, int64_t first, int64_t count)
{
    const slice_route *r = ctx->core;
    r->slice(r->ctx, r->layer, param, first, count);
}

typedef struct pass {
    gd_model *m;
    int64_t batch;
    bool training;
    gd_error *err;
    /* backward */
    bool zero_first;
    gd_layer_done_fn done;
    gd_grad_slice_fn slice;    /* streamed gradients (gd_model_backward_each) */
    void *done_ctx;
} pass;

static int next_child(const gd_model *m, int c) { return c + m->nodes[c].size; }

static void add_into(float *restrict y, const float *restrict a, int64_t n)
{
    for (int64_t k = 0; k < n; k++)
        y[k] += a[k];
}

static void sum_into(float *restrict y, const float *restrict a, const float *restrict b,
                     int64_t n)
{
    for (int64_t k = 0; k < n; k++)
        y[k] = a[k] + b[k];
}

/* Node i on x; *y: where its output is (a layer's or residual's buffer). */
static gd_status forward_node(pass *p, int i, const float *x, const float **y)
{
    gd_model *m = p->m;
    gd_model_node *nd = &m->nodes[i];
    if (nd->kind == GD_NODE_LAYER) {
        gd_model_layer *l = &m->layers[nd->leaf];
        gd_tensor xin = batch_tensor((float *)x, p->batch, &l->in);
        gd_tensor out = batch_tensor(m->acts[nd->leaf], p->batch, &l->out);
        gd_layer_ctx ctx = layer_ctx(m, l, nd->leaf, p->training);
        gd_error inner;
        gd_status st = gd_model_layer_forward(l, &ctx, &xin, &out, &inner);
        if (st != GD_OK)
            return gd_fail(p->err, st, "%s: %s", l->name, inner.msg);
        nd->x = x;
        *y = out.data;
        return GD_OK;
    }
    if (nd->kind == GD_NODE_SEQUENTIAL) {
        for (int k = 0, c = i + 1; k < nd->count; k++, c = next_child(m, c))
            if (forward_node(p, c, x, &x) != GD_OK)
                return GD_EINVAL;
        *y = x;
        return GD_OK;
    }
    const float *body, *other = x;
    int b = i + 1;
    if (forward_node(p, b, x, &body) != GD_OK ||
        (nd->count == 2 && forward_node(p, next_child(m, b), x, &other) != GD_OK))
        return GD_EINVAL;
    sum_into(nd->act, body, other, p->batch * gd_shape_numel(&nd->out));
    *y = nd->act;
    return GD_OK;
}

gd_status gd_model_forward(gd_model *m, const float *x, int64_t batch, bool training,
                           const float **out, gd_error *err)
{
    if (batch < 1 || batch > m->reserved)
        return gd_fail(err, GD_EINVAL, "model: batch %lld exceeds the reserved %lld",
                       (long long)batch, (long long)m->reserved);
    pass p = { .m = m, .batch = batch, .training = training, .err = err };
    gd_status st = forward_node(&p, 0, x, out);
    /* An evaluation forward overwrites the activations backward reads, and
     * its input may be gone by then: only a training forward enables it. */
    m->last_input = st == GD_OK && training ? x : NULL;
    m->last_batch = batch;
    return st;
}

/* Node i's backward from dy, its input gradient into dx (NULL: nobody's,
 * skipped: for a 784-wide input this saves a third of the first layer's
 * work). Layers go last first, a residual's shortcut before its body: the
 * reverse of the arena's order. */
static void backward_node(pass *p, int i, const float *dy, float *dx)
{
    gd_model *m = p->m;
    gd_model_node *nd = &m->nodes[i];
    float **gb = m->gbuf + nd->level * GD_GBUF_PER_LEVEL;
    if (nd->kind == GD_NODE_LAYER) {
        gd_model_layer *l = &m->layers[nd->leaf];
        gd_tensor x = batch_tensor((float *)nd->x, p->batch, &l->in);
        gd_tensor y = batch_tensor(m->acts[nd->leaf], p->batch, &l->out);
        gd_tensor gy = batch_tensor((float *)dy, p->batch, &l->out);
        gd_tensor gx = batch_tensor(dx, p->batch, &l->in);
        gd_layer_ctx ctx = layer_ctx(m, l, nd->leaf, true);
        slice_route route = { p->slice, p->done_ctx, nd->leaf };
        if (p->slice && p->zero_first && l->info.streams_grads && l->param_count) {
            ctx.grad_ready = route_slice;   /* the layer writes, not adds: no zeroing */
            ctx.core = &route;
        } else if (p->zero_first && l->param_count) {
            memset(m->grads + l->param_offset, 0, (size_t)l->param_count * sizeof(float));
        }
        gd_model_layer_backward(l, &ctx, &x, &y, &gy, dx ? &gx : NULL);
        if (p->done)
            p->done(p->done_ctx, nd->leaf);
        return;
    }
    if (nd->kind == GD_NODE_SEQUENTIAL) {
        for (int k = nd->count - 1, c = nd->last; k >= 0; k--, c = m->nodes[c].prev) {
            float *to = k == 0 ? dx : gb[k & 1];
            backward_node(p, c, dy, to);
            dy = to;
        }
        return;
    }
    int b = i + 1;
    int64_t n = p->batch * gd_shape_numel(&nd->in);
    if (nd->count == 2) {
        backward_node(p, next_child(m, b), dy, dx);
        backward_node(p, b, dy, dx ? gb[2] : NULL);
        if (dx)
            add_into(dx, gb[2], n);
    } else {
        backward_node(p, b, dy, dx);
        if (dx)
            add_into(dx, dy, n);
    }
}

static void backward_from(gd_model *m, const float *dout, float *dx, bool zero_first,
                          gd_layer_done_fn done, gd_grad_slice_fn slice, void *done_ctx)
{
    pass p = { .m = m, .batch = m->last_batch, .training = true, .zero_first = zero_first,
               .done = done, .slice = slice, .done_ctx = done_ctx };
    backward_node(&p, 0, dout, dx);
}

void gd_model_backward(gd_model *m, const float *dout)
{
    backward_from(m, dout, NULL, false, NULL, NULL, NULL);
}

void gd_model_backward_each(gd_model *m, const float *dout, bool zero_first,
                            gd_layer_done_fn done, gd_grad_slice_fn slice, void *done_ctx)
{
    backward_from(m, dout, NULL, zero_first, done, slice, done_ctx);
}

void gd_model_backward_input(gd_model *m, const float *dout, float *dx)
{
    backward_from(m, dout, dx, false, NULL, NULL, NULL);
}

void gd_model_set_probe_mode(gd_model *m, bool on)
{
    m->probe_mode = on;
    if (!on) {   /* the probe's input is its own: backward may not read it later */
        m->last_input = NULL;
        m->last_batch = 0;
    }
}

void gd_model_zero_grad(gd_model *m)
{
    memset(m->grads, 0, (size_t)m->nparams * sizeof(float));
}

gd_tensor gd_model_activation(gd_model *m, int i)
{
    return batch_tensor(m->acts[i], m->last_batch, &m->layers[i].out);
}

gd_status gd_model_evaluate(gd_model *m, const gd_spec *loss, const gd_dataset *ds,
                            int64_t batch, double *loss_out, double *accuracy_out, gd_error *err)
{
    gd_target_kind target = gd_loss_target(loss);
    int64_t n = gd_dataset_size(ds), feat = gd_dataset_features(ds);
    int64_t tw = gd_dataset_target_width(ds), outw = gd_shape_numel(&m->out);
    int classes = gd_dataset_classes(ds);
    if (feat != gd_shape_numel(&m->in))
        return gd_fail(err, GD_EINVAL, "evaluate: data has %lld features, the model takes %lld",
                       (long long)feat, (long long)gd_shape_numel(&m->in));
    if (n < 1)
        return gd_fail(err, GD_EINVAL, "evaluate: empty data set");
    /* Class targets: tw per sample (positions of a text set), classes each. */
    const int64_t width = target == GD_TARGET_CLASS && tw > 1 ? outw / tw : outw;
    if (target == GD_TARGET_CLASS && (classes < 1 || classes > width || width * tw != outw))
        return gd_fail(err, GD_EINVAL, "evaluate: %s needs class labels (0..%lld), the data has "
                       "%d classes", loss->component->name, (long long)outw - 1, classes);
    if (target == GD_TARGET_VALUE && tw != outw)
        return gd_fail(err, GD_EINVAL, "evaluate: the model gives %lld outputs, the data has %lld "
                       "targets per sample", (long long)outw, (long long)tw);
    if (batch < 1)
        batch = 256;
    if (batch > n)
        batch = n;
    gd_status st = gd_model_reserve(m, batch, err);
    if (st != GD_OK)
        return st;
    float *x = malloc((size_t)(batch * feat) * sizeof(float));
    float *y = malloc((size_t)(batch * tw) * sizeof(float));
    int64_t *idx = malloc((size_t)batch * sizeof(int64_t));
    if (!x || !y || !idx) {
        free(x); free(y); free(idx);
        return gd_fail(err, GD_ENOMEM, "evaluate: out of memory");
    }
    double total = 0;
    int64_t correct = 0;
    for (int64_t start = 0; start < n && st == GD_OK; start += batch) {
        int64_t nb = n - start < batch ? n - start : batch;
        for (int64_t k = 0; k < nb; k++)
            idx[k] = start + k;
        gd_dataset_gather(ds, idx, nb, x, y);
        const float *out;
        if ((st = gd_model_forward(m, x, nb, false, &out, err)) != GD_OK)
            break;
        gd_tensor pred = batch_tensor((float *)out, nb, &m->out);
        gd_tensor tgt = target == GD_TARGET_CLASS
                            ? (gd_tensor){ y, { 1, { nb * tw, 0, 0, 0 } } }
                            : batch_tensor(y, nb, &m->out);
        total += gd_loss_forward(loss, &pred, &tgt, NULL) * (double)nb;
        for (int64_t k = 0; classes > 0 && k < nb * tw; k++) {
            const float *row = out + k * width;
            int64_t best = 0;
            for (int64_t c = 1; c < width; c++)
                if (row[c] > row[best])
                    best = c;
            correct += best == (int64_t)y[k];
        }
    }
    free(x); free(y); free(idx);
    if (st != GD_OK)
        return st;
    *loss_out = total / (double)n;
    *accuracy_out = classes > 0 ? (double)correct / (double)(n * tw) : NAN;
    return GD_OK;
}

const gd_registry *gd_model_registry(const gd_model *m) { return m->reg; }

void gd_model_rekey(gd_model *m, uint64_t seed)
{
    for (int i = 0; i < m->nlayers; i++)
        m->layers[i].rng.key = gd_rng_stream(seed, LAYER_STREAM + (uint64_t)i).key;
}

int64_t gd_model_state_size(gd_model *m)
{
    return m->nparams + m->nbuffer_floats;
}

void gd_model_copy_state(gd_model *m, float *snap, bool save)
{
    size_t np = (size_t)m->nparams, nb = (size_t)m->nbuffer_floats;
    if (save) {
        gd_pool_memcpy(snap, m->params, np * sizeof(float));
        if (nb)
            memcpy(snap + np, m->buffers, nb * sizeof(float));
    } else {
        gd_pool_memcpy(m->params, snap, np * sizeof(float));
        if (nb)
            memcpy(m->buffers, snap + np, nb * sizeof(float));
    }
}
