/*
 * core/model.c: the sequential model and its parameter arena.
 */
#include "model_layer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "component.h"
#include "data.h"

struct gd_model {
    const gd_registry *reg;
    int nlayers;
    gd_model_layer *layers;
    gd_shape in, out;
    float *params, *grads;     /* arenas, nparams floats each */
    int64_t nparams;
    float *buffers;            /* all layers' buffers, one allocation */
    int64_t nbuffer_floats;
    /* Sized by gd_model_reserve for `reserved` samples. */
    int64_t reserved;
    float **acts;              /* [nlayers] layer outputs */
    float *dbuf[2];            /* ping-pong input gradients for backward */
    float **scratch;           /* [nlayers] */
    const float *last_input;   /* the last training forward's, else NULL */
    int64_t last_batch;
    double *labels;            /* [output width] class labels of the training data, or NULL */
    gd_spec *loss;             /* the loss it was trained with (owned), or NULL */
};

/* Stream ids: parameters of layer i draw from stream PARAM_STREAM + 16*i + p,
 * the layer's own stream (dropout) is LAYER_STREAM + i. Keyed by position
 * only, so two models of the same shapes built with the same seed start
 * from the same weights (common random numbers in gd.compare). */
enum { PARAM_STREAM = 1u << 20, LAYER_STREAM = 2u << 20 };

static void free_layers(gd_model *m)
{
    for (int i = 0; i < m->nlayers; i++) {
        gd_model_layer *l = &m->layers[i];
        if (l->self)   /* a layer that failed to create may have no entry */
            gd_layer_destroy(l->entry->component, l->self);
        gd_spec_free((gd_spec *)l->spec);
    }
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
    free(m->dbuf[0]);
    free(m->dbuf[1]);
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

static gd_status create_layers(gd_model *m, const gd_spec *const *specs, gd_error *err)
{
    gd_shape shape = m->in;
    for (int i = 0; i < m->nlayers; i++) {
        gd_model_layer *l = &m->layers[i];
        const gd_component *c = specs[i]->component;
        if (c->kind != GD_KIND_LAYER)
            return gd_fail(err, GD_EINVAL, "layer %d: expected a layer spec, got %s '%s'", i + 1,
                           gd_kind_name(c->kind), c->name);
        l->entry = gd_registry_entry_of(m->reg, c);
        if (!l->entry)
            return gd_fail(err, GD_EINVAL, "layer %d: '%s' is not from this registry", i + 1,
                           c->name);
        if (!(l->spec = gd_spec_copy(specs[i])))
            return gd_fail(err, GD_ENOMEM, "out of memory");
        /* Names count per component: dense1, relu1, dense2, ... */
        int same = 1;
        for (int j = 0; j < i; j++)
            same += m->layers[j].spec->component == c;
        snprintf(l->name, sizeof l->name, "%s%d", c->name, same);
        l->info.size = sizeof l->info;
        l->in = shape;
        gd_error inner;
        gd_status st = gd_layer_create(l->spec, &shape, &l->info, &l->self, &inner);
        if (st != GD_OK)
            return gd_fail(err, st, "layer %d (%s): %s", i + 1, l->name, inner.msg);
        if (l->info.nparams < 0 || l->info.nparams > GD_MAX_LAYER_PARAMS ||
            l->info.nbuffers < 0 || l->info.nbuffers > GD_MAX_LAYER_BUFFERS ||
            l->info.out.ndim < 1 || l->info.out.ndim > GD_MAX_DIMS - 1 ||
            gd_shape_numel(&l->info.out) < 1)
            return gd_fail(err, GD_EINVAL, "layer %d (%s): plugin reported an invalid shape or "
                           "parameter count", i + 1, l->name);
        l->out = l->info.out;
        shape = l->out;
    }
    m->out = shape;
    return GD_OK;
}

/* Lay parameters out in the arenas in layer order and bind them. */
static gd_status allocate_arenas(gd_model *m, gd_error *err)
{
    int64_t np = 0, nb = 0;
    for (int i = 0; i < m->nlayers; i++) {
        gd_layer_info *info = &m->layers[i].info;
        for (int p = 0; p < info->nparams; p++)
            np += gd_shape_numel(&info->params[p].shape);
        for (int b = 0; b < info->nbuffers; b++)
            nb += info->buffers[b].numel;
    }
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

gd_model *gd_model_new(const gd_registry *reg, const gd_spec *const *layers, int nlayers,
                       const gd_shape *in, uint64_t seed, gd_error *err)
{
    if (nlayers < 1) {
        gd_fail(err, GD_EINVAL, "model: needs at least one layer");
        return NULL;
    }
    if (in->ndim < 1 || in->ndim > GD_MAX_DIMS - 1 || gd_shape_numel(in) < 1) {
        gd_fail(err, GD_EINVAL, "model: invalid input shape");
        return NULL;
    }
    gd_model *m = calloc(1, sizeof *m);
    if (!m || !(m->layers = calloc((size_t)nlayers, sizeof *m->layers))) {
        free(m);
        gd_fail(err, GD_ENOMEM, "model: out of memory");
        return NULL;
    }
    m->reg = reg;
    m->nlayers = nlayers;
    m->in = *in;
    if (create_layers(m, layers, err) != GD_OK || allocate_arenas(m, err) != GD_OK ||
        gd_model_init(m, seed, err) != GD_OK) {
        gd_model_free(m);
        return NULL;
    }
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

gd_status gd_model_reserve(gd_model *m, int64_t batch, gd_error *err)
{
    if (batch <= m->reserved)
        return GD_OK;
    if (batch < 1)
        return gd_fail(err, GD_EINVAL, "model: batch must be >= 1");
    int64_t widest = gd_shape_numel(&m->in);
    float **acts = calloc((size_t)m->nlayers, sizeof *acts);
    float **scratch = calloc((size_t)m->nlayers, sizeof *scratch);
    bool ok = acts && scratch;
    for (int i = 0; ok && i < m->nlayers; i++) {
        gd_model_layer *l = &m->layers[i];
        int64_t n = gd_shape_numel(&l->out);
        if (n > widest)
            widest = n;
        int64_t s = gd_model_layer_scratch(l, batch);
        ok = (acts[i] = aligned_alloc(64, (size_t)((batch * n * 4 + 63) / 64 * 64))) != NULL;
        if (ok && s > 0)
            ok = (scratch[i] = calloc((size_t)s, sizeof(float))) != NULL;
    }
    float *d0 = ok ? aligned_alloc(64, (size_t)((batch * widest * 4 + 63) / 64 * 64)) : NULL;
    float *d1 = d0 ? aligned_alloc(64, (size_t)((batch * widest * 4 + 63) / 64 * 64)) : NULL;
    if (!ok || !d1) {
        for (int i = 0; acts && scratch && i < m->nlayers; i++) {
            free(acts[i]);
            free(scratch[i]);
        }
        free(acts); free(scratch); free(d0); free(d1);
        return gd_fail(err, GD_ENOMEM, "model: out of memory for a batch of %lld",
                       (long long)batch);
    }
    if (m->acts)
        for (int i = 0; i < m->nlayers; i++) {
            free(m->acts[i]);
            free(m->scratch[i]);
        }
    free(m->acts); free(m->scratch); free(m->dbuf[0]); free(m->dbuf[1]);
    m->acts = acts;
    m->scratch = scratch;
    m->dbuf[0] = d0;
    m->dbuf[1] = d1;
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
    gd_layer_ctx ctx = { sizeof ctx, gd_core_host(), training, &l->rng, m->scratch[i] };
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

gd_status gd_model_forward(gd_model *m, const float *x, int64_t batch, bool training,
                           const float **out, gd_error *err)
{
    if (batch < 1 || batch > m->reserved)
        return gd_fail(err, GD_EINVAL, "model: batch %lld exceeds the reserved %lld",
                       (long long)batch, (long long)m->reserved);
    gd_tensor xin = batch_tensor((float *)x, batch, &m->in);
    for (int i = 0; i < m->nlayers; i++) {
        gd_model_layer *l = &m->layers[i];
        gd_tensor y = batch_tensor(m->acts[i], batch, &l->out);
        gd_layer_ctx ctx = layer_ctx(m, l, i, training);
        gd_error inner;
        gd_status st = gd_model_layer_forward(l, &ctx, &xin, &y, &inner);
        if (st != GD_OK)
            return gd_fail(err, st, "%s: %s", l->name, inner.msg);
        xin = y;
    }
    /* An evaluation forward overwrites the activations backward reads, and
     * its input may be gone by then: only a training forward enables it. */
    m->last_input = training ? x : NULL;
    m->last_batch = batch;
    *out = m->acts[m->nlayers - 1];
    return GD_OK;
}

void gd_model_backward(gd_model *m, const float *dout)
{
    gd_model_backward_each(m, dout, false, NULL, NULL);
}

void gd_model_backward_each(gd_model *m, const float *dout, bool zero_first,
                            gd_layer_done_fn done, void *done_ctx)
{
    int64_t batch = m->last_batch;
    gd_tensor dy = batch_tensor((float *)dout, batch, &m->out);
    for (int i = m->nlayers - 1; i >= 0; i--) {
        gd_model_layer *l = &m->layers[i];
        gd_tensor x = i ? batch_tensor(m->acts[i - 1], batch, &l->in)
                        : batch_tensor((float *)m->last_input, batch, &m->in);
        gd_tensor y = batch_tensor(m->acts[i], batch, &l->out);
        /* The first layer's input gradient is nobody's: skip it (for a
         * 784-wide input this saves a third of the first layer's work). */
        gd_tensor dx = batch_tensor(m->dbuf[i & 1], batch, &l->in);
        gd_layer_ctx ctx = layer_ctx(m, l, i, true);
        if (zero_first && l->param_count)
            memset(m->grads + l->param_offset, 0, (size_t)l->param_count * sizeof(float));
        gd_model_layer_backward(l, &ctx, &x, &y, &dy, i ? &dx : NULL);
        if (done)
            done(done_ctx, i);
        dy = dx;
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
        memcpy(snap, m->params, np * sizeof(float));
        if (nb)
            memcpy(snap + np, m->buffers, nb * sizeof(float));
    } else {
        memcpy(m->params, snap, np * sizeof(float));
        if (nb)
            memcpy(m->buffers, snap + np, nb * sizeof(float));
    }
}
