/*
 * core/checkpoint.c: a whole run in one file, written and read back.
 *
 * The container (binio.h) with magic 89 'G' 'D' 'C' 0D 0A 1A 0A, format
 * version 2, 3 for a model with blocks (its MODL holds the structure,
 * model_io.c), 4 for a regularized run (the structure too, and the
 * penalties at the end of TRNR and in HIST's epochs). Older files still
 * read: version 1 lacks the diverge factor at the end of CONF and the first
 * step's loss at the end of TRNR; before 4, a regularized run's penalties
 * read as unknown (NaN). Eight sections in this order (bytes in
 * CHECKPOINTS.md):
 *   META  who wrote it; the plugin and version behind every component
 *   MODL  the model: input shape, layer specs, parameters, buffers
 *   RNGS  every layer's RNG stream (key, draws taken)
 *   CONF  the run's specs and settings, the data's identity and recipe
 *   OPTM  the optimizer's slots and scalars
 *   TRNR  step, epoch, position in the epoch, the epoch's seed, the
 *         epoch's loss (and, version 4, penalty) so far, the schedules' horizon
 *   HIST  per-epoch history (version 4: with the penalties) and telemetry
 *         records so far
 *   STOP  early stopping: best loss, its epoch, epochs waited, whether the
 *         run stopped before its epochs, restore_best's snapshot
 *
 * Reading builds everything into a fresh gd_checkpoint and hands it over
 * only when every section has checked out, so a bad file changes nothing.
 */
#include "checkpoint.h"
#include "model_layer.h"

#include "optim.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bounds no well-formed file reaches; checked before allocating. */
#define MAX_REGULARIZERS 64
#define MAX_SCALARS 64
#define MAX_KEEP 100
#define TELEMETRY_FIELDS 7

/* ---------------------------------------------------------------------------
 * Writing
 * ------------------------------------------------------------------------- */

static void put_identity(gd_buf *b, const gd_data_identity *id)
{
    gd_put_u64(b, (uint64_t)id->size);
    gd_put_u64(b, (uint64_t)id->features);
    gd_put_u64(b, (uint64_t)id->target_width);
    gd_put_u32(b, (uint32_t)id->classes);
    gd_put_u32(b, id->crc);
}

static void put_bytes(gd_buf *b, const unsigned char *p, size_t n)
{
    gd_put_u64(b, p ? (uint64_t)n : 0);
    if (p)
        gd_put(b, p, n);
}

static void put_conf(gd_buf *b, const gd_train_config *cfg, const gd_run_settings *run)
{
    gd_put_spec(b, cfg->loss);
    gd_put_spec(b, cfg->optimizer);
    gd_put_u8(b, cfg->schedule != NULL);
    if (cfg->schedule)
        gd_put_spec(b, cfg->schedule);
    gd_put_u32(b, (uint32_t)cfg->nregularizers);
    for (int i = 0; i < cfg->nregularizers; i++)
        gd_put_spec(b, cfg->regularizers[i]);
    gd_put_u8(b, (unsigned)cfg->clip);
    gd_put_f64(b, cfg->clip_value);
    gd_put_u64(b, (uint64_t)cfg->epochs);
    gd_put_u64(b, (uint64_t)cfg->batch);
    gd_put_u64(b, cfg->seed);
    gd_put_u64(b, (uint64_t)cfg->monitor_every);
    gd_put_str(b, run->name);
    gd_put_str(b, run->ckpt_path);
    gd_put_u64(b, (uint64_t)run->ckpt_every);
    gd_put_u8(b, run->ckpt_every_epochs);
    gd_put_u64(b, (uint64_t)run->ckpt_keep);
    gd_put_u64(b, (uint64_t)run->patience);
    gd_put_f64(b, run->min_delta);
    gd_put_u8(b, run->restore_best);
    gd_put_u8(b, run->has_validation);
    put_identity(b, &run->train_id);
    put_identity(b, &run->val_id);
    put_bytes(b, run->train_recipe, run->train_recipe_len);
    put_bytes(b, run->val_recipe, run->val_recipe_len);
    gd_put_f64(b, cfg->diverge_factor);   /* version 2 */
    gd_put_u8(b, cfg->drop_last);   /* appended later: older files end before it */
    /* The optimizer's parameter groups (ABI 1.1), last and only when it has
     * some, so a file without groups is what a gradus without them writes. */
    int ng = gd_spec_group_count(cfg->optimizer);
    if (ng > 0)
        gd_put_u32(b, (uint32_t)ng);
    for (int i = 0; i < ng; i++) {
        int role;
        const char *layer;
        const gd_spec *g = gd_spec_group(cfg->optimizer, i, &role, &layer);
        gd_put_u8(b, (unsigned)role);
        gd_put_u8(b, layer != NULL);
        gd_put_str(b, layer ? layer : "");
        gd_put_spec(b, g);
    }
}

/* The optimizer's parameter groups, when the section goes on after
 * drop_last (files without groups end there). */
static bool get_groups(gd_reader *r, gd_checkpoint *ck)
{
    uint32_t ng = 0;
    if (r->pos < r->end && !gd_get_u32(r, "the group count", &ng))
        return false;
    if (ng > 1024) {
        gd_rfail(r, GD_EIO, "malformed section CONF: %u parameter groups", ng);
        return false;
    }
    for (uint32_t i = 0; i < ng; i++) {
        unsigned role, has_layer;
        char layer[64];
        gd_spec *g;
        if (!gd_get_u8(r, "a group role", &role) || !gd_get_u8(r, "a group flag", &has_layer) ||
            !gd_get_str(r, "a group layer", layer, sizeof layer) ||
            !(g = gd_get_spec(r, "a parameter group")))
            return false;
        gd_error inner;
        if (gd_spec_add_group(ck->optimizer, (int)role, has_layer ? layer : NULL, g,
                              &inner) != GD_OK) {
            gd_rfail(r, GD_EIO, "malformed section CONF: %s", inner.msg);
            return false;
        }
    }
    return true;
}

static void put_record(gd_buf *b, const gd_step_record *r, int nl)
{
    gd_put_u64(b, (uint64_t)r->step);
    gd_put_u64(b, (uint64_t)r->epoch);
    gd_put_f64(b, r->loss);
    gd_put_f64(b, r->penalty);
    gd_put_f64(b, r->lr);
    gd_put_f64(b, r->grad_norm);
    gd_put_u8(b, r->clipped);
    gd_put_f64(b, r->effective_lr);
    for (int j = 0; j < nl; j++) {
        const gd_layer_telemetry *t = &r->layers[j];
        const double v[TELEMETRY_FIELDS] = { t->grad_norm, t->param_norm, t->update_ratio,
                                             t->act_mean, t->act_std, t->saturated, t->dead };
        for (int k = 0; k < TELEMETRY_FIELDS; k++)
            gd_put_f64(b, v[k]);
    }
}

uint32_t gd_checkpoint_file_version(const gd_train_config *cfg)
{
    return cfg->nregularizers > 0 ? 4 : gd_model_file_version(cfg->model);
}

static void put_sections(gd_buf *b, const gd_trainer *tr, const gd_run_settings *run,
                         const gd_run_progress *prog, const char *reason)
{
    const gd_train_config *cfg = gd_trainer_config(tr);
    gd_model *m = cfg->model;
    int nl = gd_model_layer_count(m);
    gd_trainer_state st;
    gd_trainer_get_state(tr, &st);
    const uint32_t version = gd_checkpoint_file_version(cfg);

    gd_put_header(b, gd_checkpoint_format.magic, version, prog->probes ? 9 : 8);
    size_t s = gd_section_begin(b, "META");
    const gd_spec *specs[GD_MAX_COMPONENT_REFS];
    int n = 0;
    for (int i = 0; i < nl && n < GD_MAX_COMPONENT_REFS - 3; i++)
        specs[n++] = gd_model_layer_at(m, i)->spec;
    specs[n++] = cfg->loss;
    specs[n++] = cfg->optimizer;
    if (cfg->schedule)
        specs[n++] = cfg->schedule;
    for (int i = 0; i < cfg->nregularizers && n < GD_MAX_COMPONENT_REFS; i++)
        specs[n++] = cfg->regularizers[i];
    gd_put_meta(b, gd_model_registry(m), specs, n, reason);
    gd_section_end(b, s);

    s = gd_section_begin(b, "MODL");
    gd_put_model(b, m, version >= 3);
    gd_section_end(b, s);

    s = gd_section_begin(b, "RNGS");
    gd_put_u32(b, (uint32_t)nl);
    for (int i = 0; i < nl; i++) {
        gd_put_u64(b, gd_model_layer_at(m, i)->rng.key);
        gd_put_u64(b, gd_model_layer_at(m, i)->rng.counter);
    }
    gd_section_end(b, s);

    s = gd_section_begin(b, "CONF");
    put_conf(b, cfg, run);
    gd_section_end(b, s);

    s = gd_section_begin(b, "OPTM");
    gd_put_u32(b, (uint32_t)st.nslots);
    gd_put_u32(b, (uint32_t)st.nscalars);
    gd_put_u64(b, (uint64_t)st.slot_len);
    for (int k = 0; k < st.nslots; k++)
        gd_put_f32s(b, st.slots[k], st.slot_len);
    for (int k = 0; k < st.nscalars; k++)
        gd_put_f64(b, st.scalars[k]);
    gd_section_end(b, s);

    s = gd_section_begin(b, "TRNR");
    gd_put_u64(b, (uint64_t)st.step);
    gd_put_u64(b, (uint64_t)st.epoch);
    gd_put_u64(b, (uint64_t)st.pos);
    gd_put_u64(b, st.epoch_seed);
    gd_put_u64(b, (uint64_t)st.opt_step0);
    gd_put_f64(b, st.epoch_loss);
    gd_put_u64(b, (uint64_t)st.epoch_samples);
    gd_put_u64(b, (uint64_t)st.horizon_epochs);
    gd_put_f64(b, st.first_loss);         /* version 2 */
    if (version >= 4)
        gd_put_f64(b, st.epoch_penalty);
    gd_section_end(b, s);

    s = gd_section_begin(b, "HIST");
    gd_put_u64(b, (uint64_t)prog->nepochs);
    for (int64_t i = 0; i < prog->nepochs; i++) {
        const gd_epoch_record *e = &prog->epochs[i];
        gd_put_u64(b, (uint64_t)e->epoch);
        gd_put_f64(b, e->train_loss);
        gd_put_f64(b, e->val_loss);
        gd_put_f64(b, e->val_accuracy);
        gd_put_f64(b, e->lr);
        gd_put_f64(b, e->seconds);
        if (version >= 4)
            gd_put_f64(b, e->penalty);
    }
    gd_put_u64(b, (uint64_t)st.nrecords);
    gd_put_u32(b, (uint32_t)nl);
    for (int64_t i = 0; i < st.nrecords; i++)
        put_record(b, &st.records[i], nl);
    gd_section_end(b, s);

    s = gd_section_begin(b, "STOP");
    gd_put_f64(b, prog->best);
    gd_put_u64(b, (uint64_t)prog->best_epoch);
    gd_put_u64(b, (uint64_t)prog->wait);
    gd_put_u8(b, prog->stopped);
    gd_put_u64(b, prog->snapshot ? (uint64_t)prog->snapshot_len : 0);
    if (prog->snapshot)
        gd_put_f32s(b, prog->snapshot, prog->snapshot_len);
    gd_section_end(b, s);
    if (prog->probes) {
        s = gd_section_begin(b, "PROB");
        gd_put_probes(b, prog->probes);
        gd_section_end(b, s);
    }
}

/* path.(k-1) -> path.k, ..., path.1 -> path.2: room for the newest-but-one
 * at path.1, which gd_write_atomic links there. */
static gd_status shift_older(const char *path, int64_t keep, char *prev, size_t cap,
                             gd_error *err)
{
    char from[4096], to[4096];
    for (int64_t k = keep - 1; k >= 2; k--) {
        snprintf(from, sizeof from, "%s.%lld", path, (long long)(k - 1));
        snprintf(to, sizeof to, "%s.%lld", path, (long long)k);
        if (rename(from, to) != 0 && errno != ENOENT)
            return gd_fail(err, GD_EIO, "%s: cannot move %s to %s: %s", path, from, to,
                           strerror(errno));
    }
    snprintf(prev, cap, "%s.1", path);
    return GD_OK;
}

gd_status gd_checkpoint_save(const char *path, const gd_trainer *tr,
                             const gd_run_settings *run, const gd_run_progress *progress,
                             const char *reason, gd_error *err)
{
    if (strlen(path) > 4000)
        return gd_fail(err, GD_EINVAL, "checkpoint: path too long");
    gd_buf b = { 0 };
    put_sections(&b, tr, run, progress, reason);
    if (b.oom) {
        gd_buf_free(&b);
        return gd_fail(err, GD_ENOMEM, "%s: out of memory for the checkpoint", path);
    }
    char prev[4096];
    int64_t keep = run->ckpt_keep < 1 ? 1 : run->ckpt_keep;
    gd_status st = keep > 1 ? shift_older(path, keep, prev, sizeof prev, err) : GD_OK;
    if (st == GD_OK)
        st = gd_write_atomic(path, b.p, b.n, keep > 1 ? prev : NULL, err);
    gd_buf_free(&b);
    return st;
}

/* ---------------------------------------------------------------------------
 * Reading
 * ------------------------------------------------------------------------- */

void gd_checkpoint_free(gd_checkpoint *ck)
{
    if (!ck)
        return;
    gd_model_free(ck->model);
    gd_spec_free(ck->loss);
    gd_spec_free(ck->optimizer);
    gd_spec_free(ck->schedule);
    for (int i = 0; i < ck->nregularizers; i++)
        gd_spec_free(ck->regularizers[i]);
    free(ck->regularizers);
    free(ck->run.name);
    free(ck->run.ckpt_path);
    free(ck->run.train_recipe);
    free(ck->run.val_recipe);
    for (int k = 0; k < GD_MAX_OPTIM_SLOTS; k++)
        free(ck->state.slots[k]);
    free(ck->state.scalars);
    if (ck->state.records)
        free(ck->state.records[0].layers);
    free(ck->state.records);
    free(ck->progress.epochs);
    free(ck->progress.snapshot);
    gd_probe_saved_free(&ck->probes);
    free(ck);
}

gd_model *gd_checkpoint_take_model(gd_checkpoint *ck)
{
    gd_model *m = ck->model;
    ck->model = NULL;
    return m;
}

static bool get_rngs(gd_reader *r, gd_model *m)
{
    uint32_t nl;
    if (!gd_get_u32(r, "the layer count", &nl))
        return false;
    if (nl != (uint32_t)gd_model_layer_count(m)) {
        gd_rfail(r, GD_EIO, "malformed section RNGS: %u streams for %d layers", nl,
                 gd_model_layer_count(m));
        return false;
    }
    for (uint32_t i = 0; i < nl; i++) {
        gd_rng *g = &gd_model_layer_at(m, (int)i)->rng;
        if (!gd_get_u64(r, "a stream key", &g->key) ||
            !gd_get_u64(r, "a stream counter", &g->counter))
            return false;
    }
    return gd_reader_done(r);
}

/* A non-negative integer setting no larger than max. */
static bool get_int(gd_reader *r, const char *what, int64_t max, int64_t *v)
{
    if (!gd_get_i64(r, what, v))
        return false;
    if (*v < 0 || *v > max) {
        gd_rfail(r, GD_EIO, "malformed section %s: %s is %lld", r->section, what,
                 (long long)*v);
        return false;
    }
    return true;
}

static bool get_flag(gd_reader *r, const char *what, bool *v)
{
    unsigned u;
    if (!gd_get_u8(r, what, &u))
        return false;
    if (u > 1) {
        gd_rfail(r, GD_EIO, "malformed section %s: %s is %u", r->section, what, u);
        return false;
    }
    *v = u != 0;
    return true;
}

static bool get_identity(gd_reader *r, gd_data_identity *id)
{
    uint32_t classes;
    if (!get_int(r, "a data size", INT64_MAX / 2, &id->size) ||
        !get_int(r, "a feature count", INT64_MAX / 2, &id->features) ||
        !get_int(r, "a target width", INT64_MAX / 2, &id->target_width) ||
        !gd_get_u32(r, "a class count", &classes) || !gd_get_u32(r, "a data CRC", &id->crc))
        return false;
    id->classes = (int32_t)classes;
    return true;
}

static bool get_bytes(gd_reader *r, const char *what, unsigned char **p, size_t *n)
{
    uint64_t len;
    if (!gd_get_count(r, what, 1, &len))
        return false;
    *n = (size_t)len;
    if (len == 0)
        return true;
    if (!(*p = malloc((size_t)len))) {
        gd_rfail(r, GD_ENOMEM, "out of memory");
        return false;
    }
    memcpy(*p, r->p + r->pos, (size_t)len);
    r->pos += (size_t)len;
    return true;
}

static bool expect_kind(gd_reader *r, const gd_spec *s, gd_kind kind, const char *where)
{
    if (s->component->kind == kind)
        return true;
    gd_rfail(r, GD_EIO, "malformed section CONF: %s is %s '%s'", where,
             gd_kind_name(s->component->kind), s->component->name);
    return false;
}

static bool tree_names(gd_checkpoint *ck)
{
    gd_optimizer_tree_names(ck->optimizer, ck->optimizer_tree, sizeof ck->optimizer_tree);
    return true;
}

static bool get_conf(gd_reader *r, gd_checkpoint *ck)
{
    gd_run_settings *run = &ck->run;
    bool has_schedule;
    uint32_t nregs;
    unsigned clip;
    if (!(ck->loss = gd_get_spec(r, "the loss")) ||
        !expect_kind(r, ck->loss, GD_KIND_LOSS, "the loss") ||
        !(ck->optimizer = gd_get_spec(r, "the optimizer")) ||
        !expect_kind(r, ck->optimizer, GD_KIND_OPTIMIZER, "the optimizer") ||
        !tree_names(ck) ||
        !get_flag(r, "the schedule flag", &has_schedule))
        return false;
    if (has_schedule && (!(ck->schedule = gd_get_spec(r, "the schedule")) ||
                         !expect_kind(r, ck->schedule, GD_KIND_SCHEDULER, "the schedule")))
        return false;
    if (!gd_get_u32(r, "the regularizer count", &nregs))
        return false;
    if (nregs > MAX_REGULARIZERS) {
        gd_rfail(r, GD_EIO, "malformed section CONF: %u regularizers", nregs);
        return false;
    }
    if (!(ck->regularizers = calloc(nregs + 1, sizeof *ck->regularizers))) {
        gd_rfail(r, GD_ENOMEM, "out of memory");
        return false;
    }
    for (uint32_t i = 0; i < nregs; i++) {
        char where[32];
        snprintf(where, sizeof where, "regularizer %u", i + 1);
        if (!(ck->regularizers[i] = gd_get_spec(r, where)))
            return false;
        ck->nregularizers = (int)i + 1;
        if (!expect_kind(r, ck->regularizers[i], GD_KIND_REGULARIZER, where))
            return false;
    }
    int64_t seed;
    if (!gd_get_u8(r, "the clipping kind", &clip) ||
        !gd_get_f64(r, "the clipping threshold", &ck->clip_value) ||
        !get_int(r, "the epoch count", INT64_MAX / 2, &ck->epochs) ||
        !get_int(r, "the batch size", INT64_MAX / 2, &ck->batch) ||
        !gd_get_i64(r, "the seed", &seed) ||
        !get_int(r, "the monitoring interval", INT64_MAX / 2, &ck->monitor_every))
        return false;
    ck->seed = (uint64_t)seed;
    if (clip > GD_CLIP_VALUE || ck->epochs < 1 ||
        (clip != GD_CLIP_NONE && !(ck->clip_value > 0 && isfinite(ck->clip_value)))) {
        gd_rfail(r, GD_EIO, "malformed section CONF: clipping %u at %g over %lld epochs", clip,
                 ck->clip_value, (long long)ck->epochs);
        return false;
    }
    ck->clip = (gd_clip_kind)clip;
    if (!(run->name = gd_get_str_dup(r, "the run's name")) ||
        !(run->ckpt_path = gd_get_str_dup(r, "the checkpoint path")) ||
        !get_int(r, "the checkpoint interval", INT64_MAX / 2, &run->ckpt_every) ||
        !get_flag(r, "the checkpoint unit", &run->ckpt_every_epochs) ||
        !get_int(r, "the checkpoints kept", MAX_KEEP, &run->ckpt_keep) ||
        !get_int(r, "the patience", INT64_MAX / 2, &run->patience) ||
        !gd_get_f64(r, "min_delta", &run->min_delta) ||
        !get_flag(r, "restore_best", &run->restore_best) ||
        !get_flag(r, "the validation flag", &run->has_validation) ||
        !get_identity(r, &run->train_id) || !get_identity(r, &run->val_id) ||
        !get_bytes(r, "the data recipe", &run->train_recipe, &run->train_recipe_len) ||
        !get_bytes(r, "the validation recipe", &run->val_recipe, &run->val_recipe_len))
        return false;
    if (ck->version >= 2) {
        if (!gd_get_f64(r, "the diverge factor", &ck->diverge_factor))
            return false;
        if (ck->diverge_factor != 0 && !(ck->diverge_factor > 1 && isfinite(ck->diverge_factor))) {
            gd_rfail(r, GD_EIO, "malformed section CONF: diverge factor %g", ck->diverge_factor);
            return false;
        }
    }
    if (r->pos < r->end && !get_flag(r, "drop_last", &ck->drop_last))
        return false;
    return get_groups(r, ck) && gd_reader_done(r);
}

static bool get_optm(gd_reader *r, gd_checkpoint *ck)
{
    gd_trainer_state *st = &ck->state;
    uint32_t nslots, nscalars;
    uint64_t len;
    if (!gd_get_u32(r, "the slot count", &nslots) ||
        !gd_get_u32(r, "the scalar count", &nscalars) ||
        !gd_get_u64(r, "the slot length", &len))
        return false;
    int64_t np = gd_model_param_count(ck->model), want_len;
    int want_slots, want_scalars;
    gd_error lerr;
    if (gd_optimizer_state_layout(ck->optimizer, ck->model, &want_slots, &want_len,
                                  &want_scalars, &lerr) != GD_OK) {
        gd_rfail(r, GD_EINVAL, "%s", lerr.msg);
        return false;
    }
    if (nslots != (uint32_t)want_slots || nscalars != (uint32_t)want_scalars ||
        (nslots && len != (uint64_t)want_len)) {
        gd_rfail(r, GD_EIO, "malformed section OPTM: %u slots of %llu and %u scalars; "
                 "optimizer '%s' on %lld parameters has %d, %lld and %d", nslots,
                 (unsigned long long)len, nscalars, ck->optimizer->component->name,
                 (long long)np, want_slots, (long long)want_len, want_scalars);
        return false;
    }
    if ((uint64_t)nslots * len > (r->end - r->pos) / 4) {
        gd_rfail(r, GD_EIO, "malformed section OPTM: slots run past its end");
        return false;
    }
    st->nslots = (int)nslots;
    st->nscalars = (int)nscalars;
    st->slot_len = (int64_t)len;
    for (uint32_t k = 0; k < nslots; k++) {
        if (!(st->slots[k] = malloc((size_t)(len ? len : 1) * sizeof(float)))) {
            gd_rfail(r, GD_ENOMEM, "out of memory");
            return false;
        }
        if (!gd_get_f32s(r, "a slot", st->slots[k], len))
            return false;
    }
    if (!(st->scalars = calloc(nscalars + 1, sizeof(double)))) {
        gd_rfail(r, GD_ENOMEM, "out of memory");
        return false;
    }
    for (uint32_t k = 0; k < nscalars; k++)
        if (!gd_get_f64(r, "a scalar", &st->scalars[k]))
            return false;
    return gd_reader_done(r);
}

static bool get_trnr(gd_reader *r, gd_checkpoint *ck)
{
    gd_trainer_state *st = &ck->state;
    const int64_t big = INT64_MAX / 4;
    int64_t seed;
    if (!get_int(r, "the step", big, &st->step) || !get_int(r, "the epoch", big, &st->epoch) ||
        !get_int(r, "the position", big, &st->pos) ||
        !gd_get_i64(r, "the epoch's seed", &seed) ||
        !get_int(r, "the optimizer's first step", big, &st->opt_step0) ||
        !gd_get_f64(r, "the epoch's loss", &st->epoch_loss) ||
        !get_int(r, "the epoch's samples", big, &st->epoch_samples) ||
        !get_int(r, "the horizon", big, &st->horizon_epochs))
        return false;
    st->first_loss = NAN;   /* version 1: not recorded, so not checked */
    if (ck->version >= 2 && !gd_get_f64(r, "the first step's loss", &st->first_loss))
        return false;
    /* before version 4: 0 without regularizers, else unknown */
    st->epoch_penalty = ck->nregularizers ? NAN : 0;
    if (ck->version >= 4 && !gd_get_f64(r, "the epoch's penalty", &st->epoch_penalty))
        return false;
    st->epoch_seed = (uint64_t)seed;
    if (st->opt_step0 > st->step || st->horizon_epochs < 1 || st->epoch > ck->epochs) {
        gd_rfail(r, GD_EIO, "malformed section TRNR: step %lld, optimizer from %lld, epoch %lld "
                 "of %lld, horizon %lld", (long long)st->step, (long long)st->opt_step0,
                 (long long)st->epoch, (long long)ck->epochs, (long long)st->horizon_epochs);
        return false;
    }
    return gd_reader_done(r);
}

static bool get_record(gd_reader *r, gd_step_record *rec, int nl)
{
    unsigned clipped;
    if (!gd_get_i64(r, "a record's step", &rec->step) ||
        !gd_get_i64(r, "a record's epoch", &rec->epoch) ||
        !gd_get_f64(r, "a record's loss", &rec->loss) ||
        !gd_get_f64(r, "a record's penalty", &rec->penalty) ||
        !gd_get_f64(r, "a record's lr", &rec->lr) ||
        !gd_get_f64(r, "a record's gradient norm", &rec->grad_norm) ||
        !gd_get_u8(r, "a record's clipping flag", &clipped) ||
        !gd_get_f64(r, "a record's effective lr", &rec->effective_lr))
        return false;
    rec->clipped = clipped != 0;
    for (int j = 0; j < nl; j++) {
        gd_layer_telemetry *t = &rec->layers[j];
        double *v[TELEMETRY_FIELDS] = { &t->grad_norm, &t->param_norm, &t->update_ratio,
                                        &t->act_mean, &t->act_std, &t->saturated, &t->dead };
        for (int k = 0; k < TELEMETRY_FIELDS; k++)
            if (!gd_get_f64(r, "telemetry", v[k]))
                return false;
    }
    return true;
}

static bool get_hist(gd_reader *r, gd_checkpoint *ck)
{
    gd_run_progress *p = &ck->progress;
    gd_trainer_state *st = &ck->state;
    uint64_t n;
    uint32_t nl;
    if (!gd_get_count(r, "the epoch count", ck->version >= 4 ? 56 : 48, &n))
        return false;
    if (!(p->epochs = calloc((size_t)n + 1, sizeof *p->epochs))) {
        gd_rfail(r, GD_ENOMEM, "out of memory");
        return false;
    }
    p->nepochs = (int64_t)n;
    for (uint64_t i = 0; i < n; i++) {
        gd_epoch_record *e = &p->epochs[i];
        if (!gd_get_i64(r, "an epoch", &e->epoch) ||
            !gd_get_f64(r, "an epoch's train loss", &e->train_loss) ||
            !gd_get_f64(r, "an epoch's validation loss", &e->val_loss) ||
            !gd_get_f64(r, "an epoch's validation accuracy", &e->val_accuracy) ||
            !gd_get_f64(r, "an epoch's lr", &e->lr) ||
            !gd_get_f64(r, "an epoch's seconds", &e->seconds))
            return false;
        /* before version 4: 0 without regularizers, else unknown */
        e->penalty = ck->nregularizers ? NAN : 0;
        if (ck->version >= 4 && !gd_get_f64(r, "an epoch's penalty", &e->penalty))
            return false;
    }
    if (!gd_get_count(r, "the record count", 49, &n) || !gd_get_u32(r, "the layer count", &nl))
        return false;
    if (nl != (uint32_t)gd_model_layer_count(ck->model)) {
        gd_rfail(r, GD_EIO, "malformed section HIST: records of %u layers, the model has %d",
                 nl, gd_model_layer_count(ck->model));
        return false;
    }
    if (n > (r->end - r->pos) / (49 + 56 * (uint64_t)nl)) {
        gd_rfail(r, GD_EIO, "malformed section HIST: %llu records run past its end",
                 (unsigned long long)n);
        return false;
    }
    st->records = calloc((size_t)n + 1, sizeof *st->records);
    gd_layer_telemetry *tele = calloc((size_t)(n * nl) + 1, sizeof *tele);
    if (!st->records || !tele) {
        free(tele);
        gd_rfail(r, GD_ENOMEM, "out of memory");
        return false;
    }
    for (uint64_t i = 0; i <= n; i++)
        st->records[i].layers = tele + i * nl;   /* [0] owns the block */
    st->nlayers = (int)nl;
    for (uint64_t i = 0; i < n; i++) {
        if (!get_record(r, &st->records[i], (int)nl))
            return false;
        st->nrecords = (int64_t)i + 1;
    }
    return gd_reader_done(r);
}

static bool get_stop(gd_reader *r, gd_checkpoint *ck)
{
    gd_run_progress *p = &ck->progress;
    uint64_t n;
    if (!gd_get_f64(r, "the best loss", &p->best) ||
        !get_int(r, "the best epoch", INT64_MAX / 2, &p->best_epoch) ||
        !get_int(r, "the epochs waited", INT64_MAX / 2, &p->wait) ||
        !get_flag(r, "the stopped flag", &p->stopped) ||
        !gd_get_count(r, "the snapshot length", 4, &n))
        return false;
    if (n && n != (uint64_t)gd_model_state_size(ck->model)) {
        gd_rfail(r, GD_EIO, "malformed section STOP: a snapshot of %llu values for a model of "
                 "%lld", (unsigned long long)n, (long long)gd_model_state_size(ck->model));
        return false;
    }
    if (n) {
        if (!(p->snapshot = malloc((size_t)n * sizeof(float)))) {
            gd_rfail(r, GD_ENOMEM, "out of memory");
            return false;
        }
        p->snapshot_len = (int64_t)n;
        if (!gd_get_f32s(r, "the snapshot", p->snapshot, n))
            return false;
    }
    return gd_reader_done(r);
}

static bool get_meta_section(gd_reader *r, gd_checkpoint *ck)
{
    return gd_get_meta(r, &ck->meta);
}

static bool get_model_section(gd_reader *r, gd_checkpoint *ck)
{
    /* Checkpoint version 3 is model version 3: the structure in MODL. */
    return (ck->model = gd_get_model(r, ck->version >= 3 ? 3 : 2)) && gd_reader_done(r);
}

static bool get_rngs_section(gd_reader *r, gd_checkpoint *ck)
{
    return get_rngs(r, ck->model);
}

/* The sections in the order they must appear, each decoded once the ones
 * before it have checked out (RNGS and OPTM need the model, OPTM the
 * optimizer spec from CONF). */
static const struct {
    const char *tag;
    bool (*get)(gd_reader *r, gd_checkpoint *ck);
} sections[] = {
    { "META", get_meta_section }, { "MODL", get_model_section }, { "RNGS", get_rngs_section },
    { "CONF", get_conf },         { "OPTM", get_optm },          { "TRNR", get_trnr },
    { "HIST", get_hist },         { "STOP", get_stop },
};

gd_checkpoint *gd_checkpoint_parse(const gd_registry *reg, const unsigned char *p, size_t n,
                                   const char *name, bool verify_crc, gd_error *err)
{
    gd_container c;
    if (gd_container_open(&c, &gd_checkpoint_format, p, n, verify_crc, name, err) != GD_OK)
        return NULL;
    gd_reader r0 = { p, 0, 0, name, "", reg, err };
    int nsec = (int)(sizeof sections / sizeof *sections);
    /* A run with probes appends PROB (checkpoint_probes.c). */
    bool prob = c.nsections == nsec + 1 && memcmp(c.sec[nsec].tag, "PROB", 4) == 0;
    if (c.nsections != nsec && !prob) {
        gd_rfail(&r0, GD_EIO, "malformed: %d sections, a checkpoint has %d (or %d with PROB)",
                 c.nsections, nsec, nsec + 1);
        return NULL;
    }
    for (int i = 0; i < nsec; i++)
        if (memcmp(c.sec[i].tag, sections[i].tag, 4) != 0) {
            gd_rfail(&r0, GD_EIO, "malformed: section %d is %s, expected %s", i + 1,
                     c.sec[i].tag, sections[i].tag);
            return NULL;
        }
    gd_checkpoint *ck = calloc(1, sizeof *ck);
    if (!ck) {
        gd_rfail(&r0, GD_ENOMEM, "out of memory");
        return NULL;
    }
    ck->progress.best = INFINITY;
    ck->version = c.version;
    for (int i = 0; i < nsec; i++) {
        gd_reader r = gd_reader_at(&c, &c.sec[i], reg, name, err);
        if (!sections[i].get(&r, ck)) {
            gd_checkpoint_free(ck);
            return NULL;
        }
    }
    if (prob) {
        gd_reader r = gd_reader_at(&c, &c.sec[nsec], reg, name, err);
        if (!gd_get_probes(&r, ck->model, &ck->probes)) {
            gd_checkpoint_free(ck);
            return NULL;
        }
    }
    return ck;
}

gd_checkpoint *gd_checkpoint_load(const gd_registry *reg, const char *path, gd_error *err)
{
    size_t n;
    unsigned char *buf = gd_read_file(path, &n, err);
    if (!buf)
        return NULL;
    gd_checkpoint *ck = gd_checkpoint_parse(reg, buf, n, path, true, err);
    free(buf);
    return ck;
}
