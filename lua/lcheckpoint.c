/*
 * lua/lcheckpoint.c: checkpoints as seen from Lua (gd.resume and gd.fork
 * are written in Lua, lua/resume.lua, on top of these), the byte encoding
 * of data recipes, and the signal handling of `gradus run`.
 *
 *   gd._checkpoint_load(path) -> checkpoint   (core/checkpoint.h, all checks)
 *   checkpoint:config() -> the run's gd.train options, the model included
 *                          (moved out: once per checkpoint)
 *   checkpoint:info()   -> what it holds, for gradus inspect and scripts
 *   gd._inspect(path)   -> the container alone (sections, META), read with
 *                          no plugin at all, so a file whose plugin is
 *                          missing can still be looked at
 *
 * A recipe (ldata.c) is stored as tagged values: u8 tag, then 1 false,
 * 2 true, 3 i64, 4 f64, 5 u32 length + bytes, 6 u32 count + count (key,
 * value) pairs with string or integer keys. Decoding never runs code: it
 * builds tables of plain values, bounded in depth and by the bytes there.
 */
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "lgradus.h"
#include "ltrain.h"

/* ---------------------------------------------------------------------------
 * Recipes <-> bytes
 * ------------------------------------------------------------------------- */

enum { V_FALSE = 1, V_TRUE, V_INT, V_NUM, V_STR, V_TABLE, MAX_DEPTH = 16 };

/* Raise on anything a recipe cannot hold; encode() then cannot fail, so
 * no buffer is left behind by an error. */
static void check_value(lua_State *L, int idx, int depth)
{
    idx = lua_absindex(L, idx);
    int t = lua_type(L, idx);
    if (t == LUA_TBOOLEAN || t == LUA_TNUMBER || t == LUA_TSTRING)
        return;
    if (t != LUA_TTABLE)
        lgd_error(L, "data recipe: holds a %s (plain values only)", luaL_typename(L, idx));
    if (depth >= MAX_DEPTH)
        lgd_error(L, "data recipe: nested deeper than %d", MAX_DEPTH);
    luaL_checkstack(L, 4, "data recipe");
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        int kt = lua_type(L, -2);
        if (kt != LUA_TSTRING && !(kt == LUA_TNUMBER && lua_isinteger(L, -2)))
            lgd_error(L, "data recipe: a key is a %s (string and integer keys only)",
                      luaL_typename(L, -2));
        check_value(L, -1, depth + 1);
        lua_pop(L, 1);
    }
}

static void encode(lua_State *L, int idx, gd_buf *b)
{
    idx = lua_absindex(L, idx);
    switch (lua_type(L, idx)) {
    case LUA_TBOOLEAN:
        gd_put_u8(b, lua_toboolean(L, idx) ? V_TRUE : V_FALSE);
        break;
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) {
            gd_put_u8(b, V_INT);
            gd_put_u64(b, (uint64_t)lua_tointeger(L, idx));
        } else {
            gd_put_u8(b, V_NUM);
            gd_put_f64(b, lua_tonumber(L, idx));
        }
        break;
    case LUA_TSTRING: {
        size_t n;
        const char *s = lua_tolstring(L, idx, &n);
        gd_put_u8(b, V_STR);
        gd_put_u32(b, (uint32_t)n);
        gd_put(b, s, n);
        break;
    }
    default: {   /* a table, checked */
        uint32_t count = 0;
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            lua_pop(L, 1);
            count++;
        }
        gd_put_u8(b, V_TABLE);
        gd_put_u32(b, count);
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            encode(L, -2, b);
            encode(L, -1, b);
            lua_pop(L, 1);
        }
    }
    }
}

void lgd_encode_recipe(lua_State *L, int idx, gd_buf *b)
{
    check_value(L, idx, 0);
    encode(L, idx, b);
}

typedef struct dec {
    const unsigned char *p;
    size_t pos, n;
} dec;

static void malformed(lua_State *L, const dec *d, const char *what)
{
    lgd_error(L, "data recipe: malformed (%s at byte %zu of %zu)", what, d->pos, d->n);
}

static uint64_t dec_le(lua_State *L, dec *d, int bytes)
{
    if (d->n - d->pos < (size_t)bytes)
        malformed(L, d, "runs past the end");
    uint64_t v = 0;
    for (int k = bytes - 1; k >= 0; k--)
        v = v << 8 | d->p[d->pos + (size_t)k];
    d->pos += (size_t)bytes;
    return v;
}

static void decode(lua_State *L, dec *d, int depth, int key)
{
    luaL_checkstack(L, 3, "data recipe");
    unsigned tag = (unsigned)dec_le(L, d, 1);
    if (key && tag != V_STR && tag != V_INT)
        malformed(L, d, "a key that is not a string or an integer");
    switch (tag) {
    case V_FALSE:
    case V_TRUE:
        lua_pushboolean(L, tag == V_TRUE);
        break;
    case V_INT:
        lua_pushinteger(L, (lua_Integer)dec_le(L, d, 8));
        break;
    case V_NUM: {
        uint64_t u = dec_le(L, d, 8);
        double x;
        memcpy(&x, &u, sizeof x);
        lua_pushnumber(L, x);
        break;
    }
    case V_STR: {
        uint32_t n = (uint32_t)dec_le(L, d, 4);
        if (n > d->n - d->pos)
            malformed(L, d, "a string runs past the end");
        lua_pushlstring(L, (const char *)d->p + d->pos, n);
        d->pos += n;
        break;
    }
    case V_TABLE: {
        if (depth >= MAX_DEPTH)
            malformed(L, d, "tables nested too deep");
        uint32_t n = (uint32_t)dec_le(L, d, 4);
        if (n > (d->n - d->pos) / 4)   /* a pair takes at least 4 bytes */
            malformed(L, d, "a table runs past the end");
        lua_createtable(L, 0, (int)n);
        for (uint32_t i = 0; i < n; i++) {
            decode(L, d, depth + 1, 1);
            decode(L, d, depth + 1, 0);
            lua_rawset(L, -3);
        }
        break;
    }
    default:
        malformed(L, d, "an unknown tag");
    }
}

void lgd_decode_recipe(lua_State *L, const unsigned char *p, size_t n)
{
    dec d = { p, 0, n };
    decode(L, &d, 0, 0);
    if (d.pos != n)
        malformed(L, &d, "bytes after the value");
}

/* gd._recipe_encode(t) -> string; gd._recipe_decode(s) -> t (tests) */
static int recipe_encode(lua_State *L)
{
    gd_buf b = { 0 };
    lua_settop(L, 1);
    lgd_encode_recipe(L, 1, &b);
    if (b.oom) {
        gd_buf_free(&b);
        return lgd_error(L, "data recipe: out of memory");
    }
    lua_pushlstring(L, (const char *)b.p, b.n);   /* a memory error here leaks b */
    gd_buf_free(&b);
    return 1;
}

static int recipe_decode(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    lgd_decode_recipe(L, (const unsigned char *)s, n);
    return 1;
}

/* ---------------------------------------------------------------------------
 * Signals
 * ------------------------------------------------------------------------- */

/* pending_signal: the signal that asked the run to stop; handled: the run
 * stopped for it and said so, so it is spent when training is left. */
static volatile sig_atomic_t pending_signal, training_depth, handled;

static void on_signal(int sig)
{
    if (training_depth > 0 && !pending_signal) {
        pending_signal = sig;
        return;
    }
    /* Outside training, or a second signal: what it would have done. */
    signal(sig, SIG_DFL);
    raise(sig);
}

/* The handler runs on a stack of its own. On the interrupted thread's
 * stack, a signal that lands inside oneDNN (its sgemm, its convolutions)
 * corrupts the heap: the kernel writes the handler's frame below the stack
 * pointer, where oneDNN's code evidently keeps data it reads back.
 * Reproduced by tests/lua/checkpoint.lua (SIGTERM at random moments of a
 * CNN's training under glibc's heap check: it failed 3 times of 3 before,
 * never since). Pool threads block these signals (core/pool.c), so the
 * main thread, which has this stack, is the one that takes them. */
static void use_signal_stack(void)
{
    static void *mem;
    if (mem)
        return;
    long min = sysconf(_SC_SIGSTKSZ);
    size_t size = 1 << 16;
    if (min > 0 && (size_t)min * 4 > size)
        size = (size_t)min * 4;
    if (!(mem = malloc(size)))
        return;
    stack_t ss = { .ss_sp = mem, .ss_size = size, .ss_flags = 0 };
    if (sigaltstack(&ss, NULL) != 0) {
        free(mem);
        mem = NULL;
    }
}

void lgd_install_interrupt_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    use_signal_stack();
    sa.sa_handler = on_signal;
    /* SA_RESTART: a read or write under way goes on, not EINTR */
    sa.sa_flags = SA_RESTART | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int lgd_interrupted(void) { return pending_signal; }
const volatile sig_atomic_t *lgd_interrupt_flag(void) { return &pending_signal; }
/* Only a signal pending here is spent: a run stopped by another rank's
 * leaves a later one of this rank's pending. */
void lgd_interrupt_handled(void) { handled = pending_signal != 0; }
void lgd_training_enter(void) { training_depth = training_depth + 1; }

/* Leaving the outermost training after a handled signal clears it, so a
 * later gd.train runs in full. No signal is lost: until depth is 0 another
 * one finds the flag set and acts at once (on_signal), and from then on it
 * finds depth 0 and acts at once too. A signal the run ended before
 * handling stays pending: the next gd.train stops after its first step. */
void lgd_training_leave(void)
{
    training_depth = training_depth - 1;
    if (training_depth == 0 && handled) {
        pending_signal = 0;
        handled = 0;
    }
}

/* gd._util.hold_interrupts(fn) -> ok, value, signal: fn called as if it
 * were a training, so that a signal arriving between its trainings (while
 * it loads data or builds a model) is held and stops its next training
 * after one step, with the interrupted error, instead of ending the process
 * without a word. ok, value: pcall's. signal: the number of a signal fn
 * left pending (it came after fn's last training; nil if none), handed to
 * the caller to act on now: it no longer stops a later training. */
int lgd_util_hold_interrupts(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_settop(L, 1);
    lgd_training_enter();
    int status = lua_pcall(L, 0, 1, 0);
    int left = handled ? 0 : pending_signal;
    lgd_training_leave();
    if (left)
        pending_signal = 0;
    lua_pushboolean(L, status == LUA_OK);
    lua_insert(L, -2);
    if (left)
        lua_pushinteger(L, left);
    else
        lua_pushnil(L);
    return 3;
}

/* gd._util.interrupt_pending() -> the number of the signal held so far
 * (inside hold_interrupts), or nil: for a wait that no training ends, such
 * as a sweep following its Slurm job, to look at between its polls. */
int lgd_util_interrupt_pending(lua_State *L)
{
    if (pending_signal && !handled)
        lua_pushinteger(L, pending_signal);
    else
        lua_pushnil(L);
    return 1;
}

/* ---------------------------------------------------------------------------
 * The checkpoint userdata
 * ------------------------------------------------------------------------- */

gd_checkpoint *lgd_testcheckpoint(lua_State *L, int idx)
{
    lgd_checkpoint *b = luaL_testudata(L, idx, LGD_CHECKPOINT);
    return b ? b->ck : NULL;
}

static gd_checkpoint *checkck(lua_State *L, int idx)
{
    gd_checkpoint *ck = lgd_testcheckpoint(L, idx);
    if (!ck)
        luaL_argerror(L, idx, "checkpoint expected");
    return ck;
}

static int ck_gc(lua_State *L)
{
    lgd_checkpoint *b = luaL_checkudata(L, 1, LGD_CHECKPOINT);
    gd_checkpoint_free(b->ck);
    b->ck = NULL;
    return 0;
}

static int checkpoint_load(lua_State *L)
{
    const char *path = lgd_checkpath(L, 1, "checkpoint");
    lgd_checkpoint *b = lua_newuserdatauv(L, sizeof *b, 0);
    b->ck = NULL;
    luaL_setmetatable(L, LGD_CHECKPOINT);
    gd_error err;
    if (!(b->ck = gd_checkpoint_load(lgd_registry(L), path, &err)))
        return lgd_raise(L, &err);
    return 1;
}

/* Push a spec the checkpoint owns, moving it to Lua. */
static void move_spec(lua_State *L, gd_spec **s)
{
    if (!*s) {
        lua_pushnil(L);
        return;
    }
    lgd_push_spec(L, *s);
    *s = NULL;
}

static void push_recipe(lua_State *L, const unsigned char *p, size_t n)
{
    if (p && n)
        lgd_decode_recipe(L, p, n);
    else
        lua_pushnil(L);
}

/* checkpoint:config(): the run's gd.train options. The model and the specs
 * move to Lua, so it can be taken once per checkpoint. */
static int ck_config(lua_State *L)
{
    gd_checkpoint *ck = checkck(L, 1);
    if (!ck->loss)
        return lgd_error(L, "checkpoint: config() was already taken");
    lua_settop(L, 1);
    lua_createtable(L, 0, 20);
    lgd_model *md = lgd_new_model_box(L);
    md->m = gd_checkpoint_take_model(ck);
    lua_setfield(L, 2, "model");
    move_spec(L, &ck->loss);
    lua_setfield(L, 2, "loss");
    move_spec(L, &ck->optimizer);
    lua_setfield(L, 2, "optimizer");
    move_spec(L, &ck->schedule);
    lua_setfield(L, 2, "schedule");
    lua_createtable(L, ck->nregularizers, 0);
    for (int i = 0; i < ck->nregularizers; i++) {
        move_spec(L, &ck->regularizers[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, 2, "regularizers");
    if (ck->clip != GD_CLIP_NONE) {
        lua_createtable(L, 0, 1);
        lgd_setnum(L, ck->clip == GD_CLIP_NORM ? "norm" : "value", ck->clip_value);
        lua_setfield(L, 2, "clip");
    }
    lgd_setint(L, "epochs", (lua_Integer)ck->epochs);
    if (ck->batch == 0)
        lgd_setstr(L, "batch", "full");
    else
        lgd_setint(L, "batch", (lua_Integer)ck->batch);
    lgd_setint(L, "seed", (lua_Integer)ck->seed);
    if (ck->drop_last)
        lgd_setbool(L, "drop_last", 1);
    if (ck->monitor_every > 0 || ck->probes.present) {
        lua_createtable(L, 0, 2);
        if (ck->monitor_every > 0)
            lgd_setint(L, "every", (lua_Integer)ck->monitor_every);
        if (ck->probes.present) {
            lgd_push_probe_plan(L, &ck->probes.plan);
            lua_setfield(L, -2, "probes");
        }
        lua_setfield(L, 2, "monitor");
    }
    if (ck->diverge_factor > 0) {
        lua_createtable(L, 0, 1);
        lgd_setnum(L, "factor", ck->diverge_factor);
        lua_setfield(L, 2, "diverge");
    } else {
        lgd_setbool(L, "diverge", 0);
    }
    const gd_run_settings *run = &ck->run;
    if (run->patience > 0) {
        lua_createtable(L, 0, 3);
        lgd_setint(L, "patience", (lua_Integer)run->patience);
        lgd_setnum(L, "min_delta", run->min_delta);
        lgd_setbool(L, "restore_best", run->restore_best);
        lua_setfield(L, 2, "early_stopping");
    }
    if (run->ckpt_path && run->ckpt_path[0]) {
        lua_createtable(L, 0, 3);
        lgd_setstr(L, "path", run->ckpt_path);
        if (run->ckpt_every && run->ckpt_every_epochs) {
            lua_createtable(L, 0, 1);
            lgd_setint(L, "epochs", (lua_Integer)run->ckpt_every);
            lua_setfield(L, -2, "every");
        } else if (run->ckpt_every) {
            lgd_setint(L, "every", (lua_Integer)run->ckpt_every);
        }
        lgd_setint(L, "keep", (lua_Integer)run->ckpt_keep);
        lua_setfield(L, 2, "checkpoint");
    }
    if (run->name && run->name[0])
        lgd_setstr(L, "name", run->name);
    push_recipe(L, run->train_recipe, run->train_recipe_len);
    lua_setfield(L, 2, "data_recipe");
    push_recipe(L, run->val_recipe, run->val_recipe_len);
    lua_setfield(L, 2, "validation_recipe");
    lgd_setbool(L, "has_validation", run->has_validation);
    return 1;
}

static void push_identity(lua_State *L, const gd_data_identity *id)
{
    lua_createtable(L, 0, 5);
    lgd_setint(L, "size", (lua_Integer)id->size);
    lgd_setint(L, "features", (lua_Integer)id->features);
    lgd_setint(L, "target_width", (lua_Integer)id->target_width);
    lgd_setint(L, "classes", (lua_Integer)id->classes);
    lgd_setint(L, "crc", (lua_Integer)id->crc);
}

static void push_meta(lua_State *L, const gd_file_meta *m)
{
    lgd_setstr(L, "gradus_version", m->gradus_version);
    lua_pushfstring(L, "%d.%d", (int)m->abi_major, (int)m->abi_minor);
    lua_setfield(L, -2, "abi");
    lgd_setint(L, "written", (lua_Integer)m->written);
    lgd_setstr(L, "reason", m->reason);
    lua_createtable(L, m->ncomponents, 0);
    for (int i = 0; i < m->ncomponents; i++) {
        const gd_component_ref *c = &m->comp[i];
        lua_createtable(L, 0, 5);
        lgd_setstr(L, "kind", gd_kind_name((gd_kind)c->kind));
        lgd_setstr(L, "name", c->name);
        lgd_setstr(L, "plugin", c->plugin);
        lgd_setstr(L, "version", c->version);
        lgd_setstr(L, "file", c->file);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "components");
}

/* checkpoint:info(): where the run stands and what the file holds. */
static int ck_info(lua_State *L)
{
    gd_checkpoint *ck = checkck(L, 1);
    const gd_trainer_state *st = &ck->state;
    lua_createtable(L, 0, 24);
    push_meta(L, &ck->meta);
    lgd_setint(L, "step", (lua_Integer)st->step);
    lgd_setint(L, "epoch", (lua_Integer)st->epoch);
    lgd_setint(L, "position", (lua_Integer)st->pos);
    lgd_setint(L, "epochs", (lua_Integer)ck->epochs);
    lgd_setint(L, "horizon_epochs", (lua_Integer)st->horizon_epochs);
    lgd_setint(L, "seed", (lua_Integer)ck->seed);
    lgd_setint(L, "optimizer_since", (lua_Integer)st->opt_step0);
    lgd_setnum(L, "diverge_factor", ck->diverge_factor);
    if (!isnan(st->first_loss))
        lgd_setnum(L, "first_loss", st->first_loss);
    lgd_setint(L, "optimizer_slots", st->nslots);
    lgd_setint(L, "optimizer_scalars", st->nscalars);
    lgd_setint(L, "parameters", (lua_Integer)st->slot_len);
    lgd_setint(L, "telemetry_records", (lua_Integer)st->nrecords);
    lgd_setint(L, "history_epochs", (lua_Integer)ck->progress.nepochs);
    if (ck->progress.nepochs > 0) {
        const gd_epoch_record *e = &ck->progress.epochs[ck->progress.nepochs - 1];
        lua_createtable(L, 0, 5);
        lgd_setint(L, "epoch", (lua_Integer)e->epoch);
        lgd_setnum(L, "train_loss", e->train_loss);
        if (!isnan(e->val_loss))
            lgd_setnum(L, "val_loss", e->val_loss);
        if (!isnan(e->val_accuracy))
            lgd_setnum(L, "val_accuracy", e->val_accuracy);
        lgd_setnum(L, "lr", e->lr);
        lua_setfield(L, -2, "last_epoch");
    }
    if (ck->run.patience > 0 && ck->progress.best_epoch > 0) {
        lgd_setnum(L, "best_val_loss", ck->progress.best);
        lgd_setint(L, "best_epoch", (lua_Integer)ck->progress.best_epoch);
    }
    push_identity(L, &ck->run.train_id);
    lua_setfield(L, -2, "data");
    if (ck->run.has_validation) {
        push_identity(L, &ck->run.val_id);
        lua_setfield(L, -2, "validation");
    }
    lgd_setbool(L, "data_rebuildable", ck->run.train_recipe != NULL);
    return 1;
}

/* gd._inspect(path): the container and META, no plugin needed. */
static int inspect(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    gd_error err;
    size_t n;
    unsigned char *p = gd_read_file(path, &n, &err);
    if (!p)
        return lgd_raise(L, &err);
    const gd_format *fmt = n >= 4 && p[3] == 'M' ? &gd_model_format : &gd_checkpoint_format;
    gd_container c;
    if (gd_container_open(&c, fmt, p, n, true, path, &err) != GD_OK) {
        free(p);
        return lgd_raise(L, &err);
    }
    lua_createtable(L, 0, 8);
    lgd_setstr(L, "kind", fmt->kind);
    lgd_setint(L, "format_version", (lua_Integer)c.version);
    lgd_setint(L, "bytes", (lua_Integer)n);
    lua_createtable(L, c.nsections, 0);
    for (int i = 0; i < c.nsections; i++) {
        lua_createtable(L, 0, 2);
        lgd_setstr(L, "tag", c.sec[i].tag);
        lgd_setint(L, "bytes", (lua_Integer)c.sec[i].len);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "sections");
    const gd_section *meta = gd_container_find(&c, "META");
    gd_file_meta fm;
    if (meta) {
        gd_reader r = gd_reader_at(&c, meta, NULL, path, &err);
        if (gd_get_meta(&r, &fm))
            push_meta(L, &fm);
    }
    free(p);
    return 1;
}

void lgd_open_checkpoint(lua_State *L)
{
    static const luaL_Reg methods[] = {
        { "config", ck_config },
        { "info", ck_info },
        { NULL, NULL },
    };
    luaL_newmetatable(L, LGD_CHECKPOINT);
    lua_pushcfunction(L, ck_gc);
    lua_setfield(L, -2, "__gc");
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    static const luaL_Reg fns[] = {
        { "_checkpoint_load", checkpoint_load },
        { "_inspect", inspect },
        { "_recipe_encode", recipe_encode },
        { "_recipe_decode", recipe_decode },
        { NULL, NULL },
    };
    luaL_setfuncs(L, fns, 0);
}
