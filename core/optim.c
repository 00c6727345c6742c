/*
 * core/optim.c: tensor-aware optimizer instances (ABI 1.1), composites
 * included.
 *
 * An instance is a tree of nodes: the outermost optimizer, then one node per
 * option of kind optimizer, recursively. Every node has its own view of each
 * tensor (same values and gradient, its own slots), its own t and scalars.
 * Elementwise optimizers can be nodes too (lookahead's inner sgd, or the
 * root of a Lua primitive, opt:step, which builds every optimizer here):
 * their step runs over the tensor as one span. Each node advances t once per
 * outer update, whether or not it touched any tensor (muon's fallback on a
 * model without biases), so every t equals the number of outer updates
 * since the start: what the reference values and a resumed run need.
 *
 * Tensors are stepped in parallel on the core's pool: each tensor whole on
 * one thread (its reductions in the plugin's own fixed order, its products
 * single-threaded: a pool job runs nested sgemm calls inline), the tensors
 * dealt to the threads largest first, each to the least loaded. Which
 * thread steps a tensor never changes what it computes, so the numbers are
 * the same at any thread count. Two-pass optimizers (step_all) step on the
 * calling thread.
 *
 * Sizes are fixed in gd_optim_new (slots, scratch per thread, the deal); a
 * step allocates nothing unless the pool's size changed since the last
 * (then the scratch and the deal are redone once).
 */
#include "optim.h"

#include <fnmatch.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "component.h"
#include "host.h"
#include "model_layer.h"
#include "pool.h"
#include "spec.h"

typedef struct node {
    gd_optim *o;
    const gd_spec *spec;
    int nslots, nscalars;       /* the optimizer's, from its vtable */
    bool tensor;                /* tensor-aware (component.h) */
    const gd_spec **tspec;      /* [n]: the spec each tensor's options come from (groups) */
    double *dbl;                /* [0] t, then nscalars */
    gd_optim_tensor *view;      /* [n]: x and g of the outer tensor, its own slots */
    gd_slot_init *init;         /* [n * GD_MAX_OPTIM_SLOTS] */
    struct node **inner;        /* [noptions]: the node of each optimizer-kind option */
} node;

struct gd_optim {
    int n, nnodes;
    gd_optim_tensor *master;    /* the caller's tensors; g set per step */
    node *nodes;                /* nodes[0] is the outermost */
    float *floats, *scratch;    /* scratch: nscratch floats per thread */
    double *dbls;
    int64_t nf, nd, nscratch;
    int *by_size;               /* [n]: tensor indices, largest first */
    int *owner;                 /* [n]: the thread that steps tensor i */
    double *loads;              /* [threads]: numbers dealt to each thread */
    int threads;                /* pool size the scratch and the deal are for */
    double lr0, lr, factor;     /* base lr, this update's, and lr / lr0 */
    gd_optim_regrad_fn regrad;
    void *regrad_ctx;
};

/* ---- the elementwise path ----
 * An elementwise update splits over the pool's threads in fixed contiguous
 * parts: the numbers are the same as one pass over everything. */
enum { PARALLEL_MIN_PARAMS = 1 << 15 };

typedef struct update_job {
    const gd_spec *opt;
    const gd_optim_state *st;
    const gd_optim_span *all;
} update_job;

static void update_part(void *arg, int part, int nparts)
{
    const update_job *j = arg;
    int64_t lo, hi;
    gd_part_range(j->all->n, 16, part, nparts, &lo, &hi);
    if (hi <= lo)
        return;
    gd_optim_span sp = { hi - lo, j->all->x + lo, j->all->g + lo, { 0 } };
    for (int k = 0; k < GD_MAX_OPTIM_SLOTS; k++)
        sp.slot[k] = j->all->slot[k] ? j->all->slot[k] + lo : NULL;
    gd_optimizer_step_span(j->opt, j->st, &sp);
}

void gd_optimizer_step(const gd_spec *opt, const gd_optim_state *st, const gd_optim_span *span)
{
    if (gd_pool_size() > 1 && span->n >= PARALLEL_MIN_PARAMS) {
        update_job j = { opt, st, span };
        gd_pool_run(update_part, &j);
    } else {
        gd_optimizer_step_span(opt, st, span);
    }
}

/* Option i of spec s when it holds an optimizer spec, else NULL. */
static const gd_spec *inner_spec(const gd_spec *s, int i)
{
    const gd_option_spec *os = gd_spec_option(s->component, i);
    const gd_value *v = &s->options->v[i];
    return os->type == GD_OPT_COMPONENT && os->kind == GD_KIND_OPTIMIZER && v->present
               ? v->u.spec : NULL;
}

static bool any_in_tree(const gd_spec *s, bool (*pred)(const gd_spec *))
{
    if (pred(s))
        return true;
    for (int i = 0; i < s->component->noptions; i++)
        if (inner_spec(s, i) && any_in_tree(inner_spec(s, i), pred))
            return true;
    return false;
}

bool gd_optimizer_is_tensor(const gd_spec *opt)
{
    if (gd_optimizer_tensor_aware(opt) || gd_spec_group_count(opt))
        return true;    /* groups need per-tensor options: the tensor path */
    for (int i = 0; i < opt->component->noptions; i++)
        if (inner_spec(opt, i))
            return true;    /* an elementwise composite still needs the tree */
    return false;
}

static void tree_names(const gd_spec *s, char *buf, size_t len, size_t *used)
{
    int n = snprintf(buf + *used, len - *used, "%s", s->component->name);
    *used += n > 0 && (size_t)n < len - *used ? (size_t)n : len - 1 - *used;
    int inner = 0;
    for (int i = 0; i < s->component->noptions; i++) {
        const gd_spec *in = inner_spec(s, i);
        if (!in)
            continue;
        n = snprintf(buf + *used, len - *used, "%s%s=", inner++ ? "," : "{",
                     gd_spec_option(s->component, i)->name);
        *used += n > 0 && (size_t)n < len - *used ? (size_t)n : len - 1 - *used;
        tree_names(in, buf, len, used);
    }
    if (inner && *used + 1 < len) {
        buf[(*used)++] = '}';
        buf[*used] = 0;
    }
}

int gd_optimizer_tree_slots(const gd_spec *opt)
{
    int n = gd_optimizer_nslots(opt);
    for (int i = 0; i < opt->component->noptions; i++)
        if (inner_spec(opt, i))
            n += gd_optimizer_tree_slots(inner_spec(opt, i));
    return n;
}

void gd_optimizer_tree_names(const gd_spec *opt, char *buf, size_t len)
{
    size_t used = 0;
    if (len) {
        buf[0] = 0;
        tree_names(opt, buf, len, &used);
    }
}

bool gd_optimizer_is_two_pass(const gd_spec *opt)
{
    return any_in_tree(opt, gd_optimizer_has_step_all);
}

static double own_lr(const gd_spec *s)
{
    int i = gd_spec_option_index(s->component, "lr");
    if (i < 0 || gd_spec_option(s->component, i)->type != GD_OPT_NUMBER ||
        !s->options->v[i].present)
        return NAN;
    return s->options->v[i].u.num;
}

/* The `lr` of the outermost optimizer that has one, searching options of
 * kind optimizer in schema order (TENSOR_OPTIMIZERS.md, composite options);
 * 1 when none has. */
double gd_optimizer_base_lr(const gd_spec *optimizer)
{
    double lr = own_lr(optimizer);
    if (!isnan(lr))
        return lr;
    for (int i = 0; i < optimizer->component->noptions; i++) {
        const gd_spec *in = inner_spec(optimizer, i);
        if (in)
            return gd_optimizer_base_lr(in);
    }
    return 1.0;
}

/* ---------------------------------------------------------------------------
 * Building
 * ------------------------------------------------------------------------- */

static int count_nodes(const gd_spec *s)
{
    int n = 1;
    for (int i = 0; i < s->component->noptions; i++)
        if (inner_spec(s, i))
            n += count_nodes(inner_spec(s, i));
    return n;
}

/* Fill nodes from *next on, depth first; returns the node made for s. */
static node *make_nodes(gd_optim *o, const gd_spec *s, int *next)
{
    node *nd = &o->nodes[(*next)++];
    nd->o = o;
    nd->spec = s;
    nd->nslots = gd_optimizer_nslots(s);
    nd->nscalars = gd_optimizer_nscalars(s);
    nd->tensor = gd_optimizer_tensor_aware(s);
    nd->inner = calloc((size_t)s->component->noptions + 1, sizeof(node *));
    if (!nd->inner)
        return NULL;
    for (int i = 0; i < s->component->noptions; i++)
        if (inner_spec(s, i) && !(nd->inner[i] = make_nodes(o, inner_spec(s, i), next)))
            return NULL;
    return nd;
}

static const char *const role_names[] = { "any", "weight", "bias", "scale", "shift",
                                           "embedding" };

/* A group's layer selects a layer by its path ("res1.dense2"), a glob over
 * paths ("res1.*", "*.shortcut") or a block's path (every layer in it). */
static bool layer_matches(const char *pattern, const char *path)
{
    size_t n = strlen(pattern);
    return strcmp(pattern, path) == 0 || fnmatch(pattern, path, 0) == 0 ||
           (strncmp(pattern, path, n) == 0 && path[n] == '.');
}

/* Each tensor's options: the first group of the outermost optimizer that
 * matches it, else its own. Inner optimizers have no groups of their own
 * here. A group that matches nothing is a mistake (a layer name misspelt),
 * refused. */
static gd_status assign_groups(gd_optim *o, gd_error *err)
{
    for (int j = 0; j < o->nnodes; j++)
        for (int i = 0; i < o->n; i++)
            o->nodes[j].tspec[i] = o->nodes[j].spec;
    const gd_spec *s = o->nodes[0].spec;
    int ng = gd_spec_group_count(s);
    for (int k = 0; k < ng; k++) {
        int role, hits = 0;
        const char *layer;
        const gd_spec *g = gd_spec_group(s, k, &role, &layer);
        for (int i = 0; i < o->n; i++) {
            const gd_optim_tensor *t = &o->master[i];
            if ((role && (int)t->role != role) || (layer && !layer_matches(layer, t->layer)))
                continue;
            hits++;
            if (o->nodes[0].tspec[i] == s)
                o->nodes[0].tspec[i] = g;
        }
        if (!hits)
            return gd_fail(err, GD_EINVAL, "%s: groups[%d] (role %s, layer %s) matches no "
                           "parameter tensor", s->component->name, k + 1,
                           role_names[role > 0 && role <= GD_ROLE_EMBEDDING ? role : 0],
                           layer ? layer : "any");
    }
    return GD_OK;
}

/* Slot lengths and rules of every node and tensor, and the scratch size. */
static gd_status plan(gd_optim *o, gd_error *err)
{
    for (int j = 0; j < o->nnodes; j++) {
        node *nd = &o->nodes[j];
        const char *name = nd->spec->component->name;
        if (j > 0 && gd_optimizer_has_step_all(nd->spec))
            return gd_fail(err, GD_EINVAL, "%s: needs the whole model (a second gradient) and "
                           "cannot be the inner optimizer of %s", name,
                           o->nodes[0].spec->component->name);
        o->nd += 1 + nd->nscalars;
        for (int i = 0; i < o->n; i++) {
            gd_optim_tensor *v = &nd->view[i];
            *v = o->master[i];
            v->g = NULL;
            for (int k = 0; k < nd->nslots; k++) {
                gd_slot_init *init = &nd->init[i * GD_MAX_OPTIM_SLOTS + k];
                *init = GD_SLOT_ZERO;
                int64_t len = v->numel;
                if (nd->tensor)
                    len = gd_optimizer_slot_len(nd->tspec[i], v, k, init);
                if (len < 0 || (*init != GD_SLOT_ZERO && *init != GD_SLOT_COPY) ||
                    (*init == GD_SLOT_COPY && len != v->numel))
                    return gd_fail(err, GD_EINVAL, "%s: slot %d of tensor %d: invalid length "
                                   "%lld or start rule", name, k + 1, i + 1, (long long)len);
                v->slot_len[k] = len;
                o->nf += len;
            }
            if (nd->tensor) {
                int64_t s = gd_optimizer_scratch_len(nd->tspec[i], v);
                if (s > o->nscratch)
                    o->nscratch = s;
            }
        }
    }
    return GD_OK;
}

/* Point every view's slots and every node's doubles into the arenas. */
static void bind_arenas(gd_optim *o)
{
    float *f = o->floats;
    double *d = o->dbls;
    for (int j = 0; j < o->nnodes; j++) {
        node *nd = &o->nodes[j];
        nd->dbl = d;
        d += 1 + nd->nscalars;
        for (int i = 0; i < o->n; i++)
            for (int k = 0; k < nd->nslots; k++) {
                nd->view[i].slot[k] = f;
                f += nd->view[i].slot_len[k];
            }
    }
}

/* Scratch for `threads` threads and the deal of tensors to them: largest
 * first, each to the thread with the fewest numbers so far (the lowest
 * index on a tie), so the deal is a pure function of the sizes and the
 * thread count. False when out of memory (the old state is kept). */
static bool deal(gd_optim *o, int threads)
{
    float *scratch = calloc((size_t)(o->nscratch * threads) + 1, sizeof(float));
    double *loads = calloc((size_t)threads, sizeof(double));
    if (!scratch || !loads) {
        free(scratch);
        free(loads);
        return false;
    }
    free(o->scratch);
    free(o->loads);
    o->scratch = scratch;
    o->loads = loads;
    o->threads = threads;
    for (int i = 0; i < o->n; i++) {    /* insertion sort, stable: n is small */
        int j = i;
        for (; j > 0 && o->master[o->by_size[j - 1]].numel < o->master[i].numel; j--)
            o->by_size[j] = o->by_size[j - 1];
        o->by_size[j] = i;
    }
    for (int k = 0; k < o->n; k++) {
        int i = o->by_size[k], best = 0;
        for (int t = 1; t < threads; t++)
            if (loads[t] < loads[best])
                best = t;
        o->owner[i] = best;
        loads[best] += (double)o->master[i].numel;
    }
    return true;
}

gd_optim *gd_optim_new(const gd_spec *opt, const gd_optim_tensor *tensors, int n,
                       gd_error *err)
{
    gd_optim *o = calloc(1, sizeof *o);
    if (!o) {
        gd_fail(err, GD_ENOMEM, "%s: out of memory", opt->component->name);
        return NULL;
    }
    o->n = n;
    o->nnodes = count_nodes(opt);
    o->master = calloc((size_t)n + 1, sizeof *o->master);
    o->nodes = calloc((size_t)o->nnodes, sizeof *o->nodes);
    bool ok = o->master && o->nodes;
    for (int j = 0; ok && j < o->nnodes; j++) {
        node *nd = &o->nodes[j];
        nd->view = calloc((size_t)n + 1, sizeof *nd->view);
        nd->init = calloc((size_t)(n + 1) * GD_MAX_OPTIM_SLOTS, sizeof *nd->init);
        nd->tspec = calloc((size_t)n + 1, sizeof *nd->tspec);
        ok = nd->view && nd->init && nd->tspec;
    }
    if (!ok) {
        gd_fail(err, GD_ENOMEM, "%s: out of memory", opt->component->name);
        gd_optim_free(o);
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        o->master[i] = tensors[i];
        o->master[i].size = sizeof(gd_optim_tensor);
        o->master[i].index = i;
        o->master[i].numel = gd_shape_numel(&tensors[i].shape);
        if (!o->master[i].layer)
            o->master[i].layer = "";
        if (!o->master[i].name)
            o->master[i].name = "";
    }
    int next = 0;
    if (!make_nodes(o, opt, &next)) {
        gd_fail(err, GD_ENOMEM, "%s: out of memory", opt->component->name);
        gd_optim_free(o);
        return NULL;
    }
    o->lr0 = gd_optimizer_base_lr(opt);
    if (assign_groups(o, err) != GD_OK || plan(o, err) != GD_OK) {
        gd_optim_free(o);
        return NULL;
    }
    o->floats = calloc((size_t)o->nf + 1, sizeof(float));
    o->dbls = calloc((size_t)o->nd + 1, sizeof(double));
    o->by_size = calloc((size_t)n + 1, sizeof *o->by_size);
    o->owner = calloc((size_t)n + 1, sizeof *o->owner);
    if (!o->floats || !o->dbls || !o->by_size || !o->owner || !deal(o, gd_pool_size())) {
        gd_fail(err, GD_ENOMEM, "%s: out of memory for %lld floats of optimizer state",
                opt->component->name, (long long)o->nf);
        gd_optim_free(o);
        return NULL;
    }
    bind_arenas(o);
    gd_optim_reset(o);
    return o;
}

void gd_optim_free(gd_optim *o)
{
    if (!o)
        return;
    for (int j = 0; o->nodes && j < o->nnodes; j++) {
        free(o->nodes[j].view);
        free(o->nodes[j].init);
        free(o->nodes[j].tspec);
        free(o->nodes[j].inner);
    }
    free(o->nodes);
    free(o->master);
    free(o->floats);
    free(o->dbls);
    free(o->scratch);
    free(o->by_size);
    free(o->owner);
    free(o->loads);
    free(o);
}

void gd_optim_reset(gd_optim *o)
{
    memset(o->floats, 0, (size_t)o->nf * sizeof(float));
    memset(o->dbls, 0, (size_t)o->nd * sizeof(double));
    for (int j = 0; j < o->nnodes; j++) {
        node *nd = &o->nodes[j];
        for (int i = 0; i < o->n; i++)
            for (int k = 0; k < nd->nslots; k++)
                if (nd->init[i * GD_MAX_OPTIM_SLOTS + k] == GD_SLOT_COPY)
                    memcpy(nd->view[i].slot[k], o->master[i].x,
                           (size_t)o->master[i].numel * sizeof(float));
    }
}

/* ---------------------------------------------------------------------------
 * Stepping
 * ------------------------------------------------------------------------- */

static void inner_step(const gd_optim_ctx *ctx, int option, const gd_optim_tensor *t);
static gd_status regrad(const gd_optim_ctx *ctx, gd_error *err);

/* The context of node nd for one tensor's options (spec), or the node's,
 * with the stepping thread's scratch. An lr equal to the base lr is this
 * update's as given (not lr0 * (lr / lr0), a rounding away, and not 0 when
 * the base is 0), so an elementwise optimizer here steps with the lr its
 * span step in the trainer gets. */
static gd_optim_ctx make_ctx(node *nd, const gd_spec *spec, float *scratch)
{
    gd_optim *o = nd->o;
    double lr = own_lr(spec);
    return (gd_optim_ctx){
        .size = sizeof(gd_optim_ctx),
        .host = gd_core_host(),
        .lr = isnan(lr) || lr == o->lr0 ? o->lr : lr * o->factor,
        .t = (int64_t)nd->dbl[0],
        .scalars = nd->dbl + 1,
        .scratch = scratch,
        .inner_step = inner_step,
        .regrad = regrad,
        .core = nd,
    };
}

static void step_tensor(node *nd, gd_optim_tensor *v, float *scratch)
{
    const gd_spec *spec = nd->tspec[v->index];
    gd_optim_ctx ctx = make_ctx(nd, spec, scratch);
    if (nd->tensor) {
        gd_optimizer_step_tensor(spec, &ctx, v);
        return;
    }
    gd_optim_state st = { ctx.lr, ctx.t, ctx.scalars };
    gd_optim_span sp = { v->numel, v->x, v->g, { 0 } };
    for (int k = 0; k < nd->nslots; k++)
        sp.slot[k] = v->slot[k];
    gd_optimizer_step_span(spec, &st, &sp);
}

static void inner_step(const gd_optim_ctx *ctx, int option, const gd_optim_tensor *t)
{
    node *nd = ctx->core;
    if (option < 0 || option >= nd->spec->component->noptions || !nd->inner[option] ||
        t->index < 0 || t->index >= nd->o->n)
        return;   /* not an optimizer option: nothing to step (documented) */
    node *in = nd->inner[option];
    gd_optim_tensor *v = &in->view[t->index];
    v->x = t->x;
    v->g = t->g;
    step_tensor(in, v, ctx->scratch);
}

static void refresh(gd_optim *o, node *nd)
{
    for (int i = 0; i < o->n; i++) {
        nd->view[i].x = o->master[i].x;
        nd->view[i].g = o->master[i].g;
    }
}

static gd_status regrad(const gd_optim_ctx *ctx, gd_error *err)
{
    node *nd = ctx->core;
    gd_optim *o = nd->o;
    if (!o->regrad)
        return gd_fail(err, GD_EINVAL, "%s: asked for a second gradient, but nothing can "
                       "compute one here", nd->spec->component->name);
    gd_status st = o->regrad(o->regrad_ctx, o, err);
    refresh(o, nd);
    return st;
}

/* Part `part` of a step: the tensors dealt to that thread, in index order. */
static void step_part(void *arg, int part, int nparts)
{
    gd_optim *o = arg;
    node *root = &o->nodes[0];
    float *scratch = o->scratch + (int64_t)part * o->nscratch;
    (void)nparts;   /* == o->threads: the pool's size, checked before the job */
    for (int i = 0; i < o->n; i++)
        if (o->owner[i] == part)
            step_tensor(root, &root->view[i], scratch);
}

void gd_optim_set_grad(gd_optim *o, int i, const float *g)
{
    if (i >= 0 && i < o->n)
        o->master[i].g = g;
}

void gd_optim_begin(gd_optim *o, double lr)
{
    o->lr = lr;
    o->factor = o->lr0 != 0 ? lr / o->lr0 : 1.0;
    for (int j = 0; j < o->nnodes; j++)
        o->nodes[j].dbl[0] += 1;
    refresh(o, &o->nodes[0]);
}

void gd_optim_step_range(gd_optim *o, int first, int count)
{
    node *root = &o->nodes[0];
    for (int i = first; i < first + count && i < o->n; i++) {
        root->view[i].g = o->master[i].g;
        step_tensor(root, &root->view[i], o->scratch);
    }
}

gd_status gd_optim_step(gd_optim *o, double lr, gd_optim_regrad_fn regrad_fn, void *ctx,
                        gd_error *err)
{
    o->regrad = regrad_fn;
    o->regrad_ctx = ctx;
    gd_optim_begin(o, lr);
    node *root = &o->nodes[0];
    if (gd_optimizer_has_step_all(root->spec)) {
        gd_optim_ctx c = make_ctx(root, root->spec, o->scratch);
        gd_status st = gd_optimizer_step_all(root->spec, &c, root->view, o->n, err);
        for (int j = 0; st != GD_OK && j < o->nnodes; j++)
            o->nodes[j].dbl[0] -= 1;   /* the plugin put x back: not an update */
        return st;
    }
    /* out of memory for a new deal: one thread, with the scratch there is */
    bool pooled = gd_pool_size() > 1 && !gd_pool_in_job() &&
                  (gd_pool_size() == o->threads || deal(o, gd_pool_size()));
    if (pooled)
        gd_pool_run(step_part, o);
    else
        gd_optim_step_range(o, 0, o->n);
    return GD_OK;
}

int64_t gd_optim_steps(const gd_optim *o)
{
    return (int64_t)o->nodes[0].dbl[0];
}

float *gd_optim_floats(gd_optim *o, int64_t *n)
{
    *n = o->nf;
    return o->floats;
}

double *gd_optim_doubles(gd_optim *o, int64_t *n)
{
    *n = o->nd;
    return o->dbls;
}

float *gd_optim_slot(gd_optim *o, int i, int k, int64_t *len)
{
    node *root = &o->nodes[0];
    if (i < 0 || i >= o->n || k < 0 || k >= root->nslots)
        return NULL;
    *len = root->view[i].slot_len[k];
    return root->view[i].slot[k];
}

/* ---------------------------------------------------------------------------
 * Over a model, and the state's shape for checkpoints
 * ------------------------------------------------------------------------- */

gd_optim *gd_optim_new_model(const gd_spec *opt, gd_model *m, gd_error *err)
{
    int n = 0, nl = gd_model_layer_count(m);
    for (int i = 0; i < nl; i++)
        n += gd_model_layer_at(m, i)->nparams;
    gd_optim_tensor *ts = calloc((size_t)n + 1, sizeof *ts);
    if (!ts) {
        gd_fail(err, GD_ENOMEM, "%s: out of memory", opt->component->name);
        return NULL;
    }
    /* The output layer: the last one with parameters (ABI 1.2's `output`). */
    int last = -1;
    for (int i = 0; i < nl; i++)
        if (gd_model_layer_at(m, i)->nparams > 0)
            last = i;
    n = 0;
    for (int i = 0; i < nl; i++) {
        gd_model_layer *l = gd_model_layer_at(m, i);
        for (int p = 0; p < l->nparams; p++)
            ts[n++] = (gd_optim_tensor){ .x = l->params[p].value, .g = l->params[p].grad,
                                         .shape = l->params[p].info->shape,
                                         .role = l->params[p].info->role, .layer = l->name,
                                         .name = l->params[p].info->name, .output = i == last };
    }
    gd_optim *o = gd_optim_new(opt, ts, n, err);
    free(ts);
    return o;
}

gd_status gd_optimizer_state_layout(const gd_spec *opt, gd_model *m, int *nslots,
                                    int64_t *slot_len, int *nscalars, gd_error *err)
{
    if (!gd_optimizer_is_tensor(opt)) {
        *nslots = gd_optimizer_nslots(opt);
        *slot_len = gd_model_param_count(m);
        *nscalars = gd_optimizer_nscalars(opt);
        return GD_OK;
    }
    gd_optim *o = gd_optim_new_model(opt, m, err);
    if (!o)
        return GD_EINVAL;
    *nslots = 1;
    *slot_len = o->nf;
    *nscalars = (int)o->nd;
    gd_optim_free(o);
    return GD_OK;
}
