/*
 * lua/lgradus.h: internals shared by the files of the Lua binding.
 *
 * Not a public header: only lua/ and cli/ include it (and lua.h). Each file
 * of the binding owns one area and registers its functions into the module
 * table through an lgd_open_* function called by luaopen_gradus:
 *
 *   lgradus.c  module entry, the per-state registry, namespaces, plugins
 *   lspec.c    specs (gd.optim.adam{...}) and their methods
 *   ltensor.c  float32 tensors, owning or viewing core memory
 *   lprim.c    primitive instances (layer, loss, regularizer), clip
 *   loptim.c   optimizer instances (one type for every optimizer)
 *   lmodel.c   gd.sequential and model instances
 *   lblock.c   gd.residual and the structure of model specs
 *   ldata.c    data sets
 *   ltrain.c   gd.train
 *
 * Lifetimes: every userdata made from a registry (specs, instances, models)
 * holds the registry's userdata through a user value, and the registry's
 * userdata is anchored in the Lua registry, so the dlopen handles outlive
 * everything whose code or descriptors live in a plugin. At lua_close Lua
 * runs finalizers in reverse order of marking; the registry is marked first,
 * so it is finalized last.
 *
 * Errors: core calls fill a gd_error on the C stack; the binding raises it
 * with lgd_raise only after every malloc'd thing it made is owned by a
 * userdata with __gc (or freed), since a Lua error longjmps.
 */
#ifndef GRADUS_LUA_LGRADUS_H
#define GRADUS_LUA_LGRADUS_H

#include <signal.h>

#include <lauxlib.h>
#include <lua.h>

#include "data.h"
#include "model.h"
#include "registry.h"

/* Metatable names (luaL_newmetatable / luaL_checkudata). */
#define LGD_REGISTRY "gradus.registry"
#define LGD_SPEC "gradus.spec"
#define LGD_TENSOR "gradus.tensor"
#define LGD_OPTIMIZER "gradus.optimizer"
#define LGD_LAYER "gradus.layer"
#define LGD_LOSS "gradus.loss"
#define LGD_REGULARIZER "gradus.regularizer"
#define LGD_MODEL "gradus.model"
#define LGD_DATASET "gradus.dataset"
#define LGD_SEQUENTIAL "gradus.sequential"
#define LGD_RESIDUAL "gradus.residual"
#define LGD_TRAINER "gradus.trainer"

/* ---- lgradus.c ---------------------------------------------------------- */

int luaopen_gradus(lua_State *L);
/* The registry of this state (created by luaopen_gradus). Raises if the
 * module was not opened. */
gd_registry *lgd_registry(lua_State *L);
/* Push the registry's userdata (to store as a user value). */
void lgd_push_registry(lua_State *L);
/* Raise a core error as a Lua error (adds the caller's position). */
int lgd_raise(lua_State *L, const gd_error *err);
/* luaL_error, but the position is the user's code, skipping the module's
 * embedded Lua (gd.compare calling gd.train). */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
int lgd_error(lua_State *L, const char *fmt, ...);
/* Set a field of the table at the top of the stack. */
void lgd_setnum(lua_State *L, const char *k, double v);
void lgd_setint(lua_State *L, const char *k, lua_Integer v);
void lgd_setstr(lua_State *L, const char *k, const char *v);
void lgd_setbool(lua_State *L, const char *k, int v);
/* Create a metatable `name` holding the metamethods ("__gc", ...) of `fns`
 * and an __index table of the others, so that a finalizer is never reachable
 * as a method (each function gets the nup values below the top as upvalues,
 * popped); leaves the metatable on the stack. */
void lgd_newclass(lua_State *L, const char *name, const luaL_Reg *fns, int nup);

/* ---- lspec.c ------------------------------------------------------------ */

typedef struct lgd_spec {
    gd_spec *spec;   /* owned; NULL only while being built */
} lgd_spec;

void lgd_open_spec(lua_State *L);
/* A GD_OPT_INTS value (its canonical text) as a Lua value (lspec.c). */
void lgd_push_ints(lua_State *L, const gd_option_spec *o, const char *text);
/* The constructor gd.<ns>.<name>{...} for an entry, as a C closure. */
void lgd_push_constructor(lua_State *L, const gd_entry *e);
/* Build a spec of entry e from the table at idx (or no options if idx is 0
 * or nil) and push its userdata. */
void lgd_spec_from_table(lua_State *L, const gd_entry *e, int idx);
/* Push a new spec userdata owning s (takes ownership even on error). */
void lgd_push_spec(lua_State *L, gd_spec *s);
/* The spec at idx, which must be a spec of `kind` (0: any); else an argument
 * error naming what was expected and what was given. */
const gd_spec *lgd_checkspec(lua_State *L, int idx, gd_kind kind);
const gd_spec *lgd_testspec(lua_State *L, int idx);
/* The same for a table field: "what: 'field' must be an optimizer spec, got
 * number"; NULL when absent and not required. The spec stays owned by the
 * table at idx. */
const gd_spec *lgd_field_spec(lua_State *L, int idx, const char *what, const char *field,
                              gd_kind kind, int required);
/* "optimizer spec 'adam'" / "number" for messages. */
const char *lgd_describe_value(lua_State *L, int idx, char *buf, size_t len);
/* The integer at idx, for every integer option: a Lua number with an
 * integral value (10.0 too), never a string that looks like one. */
lua_Integer lgd_tointeger(lua_State *L, int idx, int *isint);
/* A value as an option's error shows it: 5, 2.5, the string "5", table. */
const char *lgd_value_text(lua_State *L, int idx);
/* Push the options of a spec as a table. */
void lgd_push_options(lua_State *L, const gd_spec *s);
/* The parameter role named by the string at idx (a gd_param_role), else
 * "<where>: role must be one of weight, bias, ..." raised. */
int lgd_check_role(lua_State *L, int idx, const char *where);
/* The `groups` of the options table at idx into optimizer spec s (finished). */
void lgd_spec_groups(lua_State *L, gd_spec *s, int idx);
/* The { inputs = n | shape, seed = s } table at idx of layer:build and
 * block:build (`what`: "dense:build"); any other key, a missing inputs, a
 * bad shape or seed raises. Leaves the stack as it was. */
void lgd_build_args(lua_State *L, int idx, const char *what, gd_shape *in, uint64_t *seed);

/* ---- ltensor.c ---------------------------------------------------------- */

typedef struct lgd_tensor {
    float *data;     /* the floats after this header, or a view into core memory */
    gd_shape shape;
    int64_t numel;
    int view;        /* 1: data belongs to the user value 1 (the owner) */
    /* For a view of an owner with a finalizer: the owner's pointer that its
     * __gc frees and sets to NULL (the first member of the owner's block,
     * which the user value keeps allocated). NULL for everything else. */
    void *const *alive;
} lgd_tensor;

void lgd_open_tensor(lua_State *L);
/* A new tensor owning zeroed storage of `shape`. */
lgd_tensor *lgd_tensor_new(lua_State *L, const gd_shape *shape);
/* A view into memory owned by the value at owner_idx (kept alive through
 * user value 1). Lua runs finalizers newest first, so an older object's
 * finalizer may still reach a view after the owner's __gc freed its memory:
 * every access then raises instead. An owner userdata whose metatable has a
 * __gc must begin with the pointer that __gc frees and sets to NULL. */
lgd_tensor *lgd_tensor_view(lua_State *L, float *data, const gd_shape *shape, int owner_idx);
/* A new owning tensor copying n floats. */
lgd_tensor *lgd_tensor_copy(lua_State *L, const float *data, const gd_shape *shape);
lgd_tensor *lgd_checktensor(lua_State *L, int idx);
lgd_tensor *lgd_testtensor(lua_State *L, int idx);
/* A tensor from the value at idx: a tensor (returned as is) or a Lua table
 * (converted to a new tensor pushed on the stack; *pushed set to 1). */
lgd_tensor *lgd_totensor(lua_State *L, int idx, int *pushed);
/* "[2, 3]" into buf. */
const char *lgd_shape_str(const gd_shape *s, char *buf, size_t len);
int lgd_shape_equal(const gd_shape *a, const gd_shape *b);
/* A shape from a number or a table of numbers at idx; raises (naming
 * `what`) when invalid. */
gd_shape lgd_checkshape(lua_State *L, int idx, const char *what);
/* Push a shape as a table { d1, d2, ... }. */
void lgd_push_shape(lua_State *L, const gd_shape *s);

/* ---- lseq.c ------------------------------------------------------------- */
/* For a layer or model taking token ids (vocab > 0): check that every value
 * of t is an id 1..vocab and turn it into the core's 0-based id, in place;
 * raises naming `who` otherwise. Nothing to do when vocab is 0. */
void lgd_ids_to_core(lua_State *L, lgd_tensor *t, int64_t vocab, const char *who);
/* Give model m the characters of its [T, V] outputs (labels: vocab[c] for
 * output (t, c)); none when the output is not a multiple of v. */
void lgd_model_set_vocab(lua_State *L, gd_model *m, const uint32_t *vocab, int64_t v);
/* model:generate{ prompt =, tokens =, temperature =, seed = } */
int lgd_model_generate(lua_State *L);

/* ---- lprim.c ------------------------------------------------------------ */

void lgd_open_prim(lua_State *L);
/* spec:build{...} for optimizer, layer, loss and regularizer specs. */
int lgd_build(lua_State *L);
/* Entry i of list `list`: a tensor or field `field` of a table, left on the
 * stack; raises naming `what` otherwise. */
lgd_tensor *lgd_entry_tensor(lua_State *L, int list, lua_Integer i, const char *field,
                             const char *what);
/* The instance userdata at idx of metatable `name` ("gradus.loss"), its
 * spec (user value 1) still alive; else "loss: its spec has been freed". */
void *lgd_check_instance(lua_State *L, int idx, const char *name);

/* ---- loptim.c ----------------------------------------------------------- */

/* The optimizer instance type and gd._optim_with_lr (into the module table
 * at the top of the stack). */
void lgd_open_optimizer(lua_State *L);
/* spec:build{...} for every optimizer spec: one gd_optim (core/optim.h). */
int lgd_build_optimizer(lua_State *L, const gd_spec *s);

/* ---- lmodel.c ----------------------------------------------------------- */

typedef struct lgd_model {
    gd_model *m;     /* owned */
} lgd_model;

void lgd_open_model(lua_State *L);
int lgd_is_sequential(lua_State *L, int idx);
/* Build a model from the gd.sequential (or gd.residual) spec at seq_idx; pushes the model
 * userdata (top) above one internal value. Raises on failure. */
lgd_model *lgd_model_build(lua_State *L, int seq_idx, const gd_shape *in, uint64_t seed);
lgd_model *lgd_checkmodel(lua_State *L, int idx);
/* Push an empty model userdata (m = NULL) for the caller to fill. */
lgd_model *lgd_new_model_box(lua_State *L);
/* The loss spec model:evaluate uses by default (gd.train sets it; the
 * model keeps a copy, saved in its file). */
void lgd_model_set_loss(lua_State *L, int model_idx, int loss_idx);
/* Keep the class labels of the data a model is trained on (none: cleared). */
void lgd_model_set_labels(lua_State *L, int model_idx, const gd_dataset *ds);
/* Push n class labels as a list (integral ones as integers). */
void lgd_push_labels(lua_State *L, const double *labels, int64_t n);

/* ---- lblock.c ----------------------------------------------------------- */

void lgd_open_block(lua_State *L);
/* A gd.sequential or gd.residual; a part: one of those or a layer spec. */
int lgd_is_block(lua_State *L, int idx);
int lgd_is_part(lua_State *L, int idx);
/* Push the text of a part ("residual{ dense{...}, shortcut = ... }"). */
void lgd_push_part_text(lua_State *L, int idx);
/* Append the layer specs of the part at idx, depth first, to the list on top. */
void lgd_add_leaves(lua_State *L, int idx);
/* Push (a userdata holding) the pre-order structure of the part at idx for
 * gd_model_new_tree; the specs stay the parts'. */
const gd_node_desc *lgd_push_tree(lua_State *L, int idx, int *n);
/* block:build{ inputs =, seed = } */
int lgd_block_build(lua_State *L);

/* ---- ldata.c ------------------------------------------------------------ */

typedef struct lgd_dataset {
    gd_dataset *ds;  /* owned reference */
} lgd_dataset;

void lgd_open_data(lua_State *L);
gd_dataset *lgd_checkdataset(lua_State *L, int idx);
gd_dataset *lgd_testdataset(lua_State *L, int idx);
/* Push a deep copy of the recipe of the data set at idx (a plain table that
 * gd.data.rebuild turns back into the same set; see ldata.c) and return 1,
 * or push nil and return 0 when it has none (gd.data.tensor and its views).
 * Raises if idx is not a data set. */
int lgd_dataset_push_recipe(lua_State *L, int idx);

/* ---- ltrain.c ----------------------------------------------------------- */

void lgd_open_train(lua_State *L);
void lgd_open_dist(lua_State *L);   /* gd.dist (ldist.c) */
void lgd_open_probe(lua_State *L);  /* gd.probe (lprobe.c) */

/* ---- lcheckpoint.c ------------------------------------------------------ */

#define LGD_CHECKPOINT "gradus.checkpoint"

struct gd_buf;
struct gd_checkpoint;

typedef struct lgd_checkpoint {
    struct gd_checkpoint *ck;
} lgd_checkpoint;

void lgd_open_checkpoint(lua_State *L);
struct gd_checkpoint *lgd_testcheckpoint(lua_State *L, int idx);
/* A recipe table <-> bytes (tagged values; see lcheckpoint.c). Encoding
 * raises on a value a recipe cannot hold; decoding raises "malformed". */
void lgd_encode_recipe(lua_State *L, int idx, struct gd_buf *b);
void lgd_decode_recipe(lua_State *L, const unsigned char *p, size_t n);

/* Signals during `gradus run` (SIGINT, SIGTERM): inside gd.train they end
 * the run after the current step (and a checkpoint); elsewhere they act as
 * usual. lgd_interrupted() is the pending signal, 0 if none. */
void lgd_install_interrupt_handlers(void);
int lgd_interrupted(void);
/* The flag the handlers set, for the core's run (gd_run_config.stop). */
const volatile sig_atomic_t *lgd_interrupt_flag(void);
void lgd_training_enter(void);
void lgd_training_leave(void);
/* The run stopped for the pending signal and said so: leaving training
 * clears it. */
void lgd_interrupt_handled(void);
/* gd._util.hold_interrupts(fn): fn's signals held as a training's. */
int lgd_util_hold_interrupts(lua_State *L);
/* gd._util.interrupt_pending(): the signal held so far, or nil. */
int lgd_util_interrupt_pending(lua_State *L);

/* ---- llib.c: gd.compare, gd.report, gd.plot, diagnoses (embedded Lua) --- */

void lgd_open_lib(lua_State *L);
/* mkdir -p: 0, or -1 with what failed in msg. */
int lgd_mkdir_p(const char *path, char *msg, size_t cap);

/* ---- lfiles.c: paths and locks (core/fs.h) ---- */

/* The string at idx as a path the system can hold (no NUL byte inside, in
 * its limits), else "<what>: path ..." raised. */
const char *lgd_checkpath(lua_State *L, int idx, const char *what);
/* The same for a file about to be written: its directory made, writable,
 * and nothing but a regular file at the path. */
void lgd_check_output(lua_State *L, int idx, const char *what);
/* Push a lock on path (a userdata: released by __close, __gc, :release()),
 * or raise "<what>: <path>: in use by process N (...)". */
void lgd_push_lock(lua_State *L, const char *path, const char *what);
/* Add the file helpers to the gd._util table at the top of the stack. */
void lgd_files_util(lua_State *L);
/* gd._util's helpers for sweeps (lua/lsweep.c). */
void lgd_sweep_util(lua_State *L);
/* lshared_data.c: share_data and shared_data into the table at the top. */
void lgd_shared_data_util(lua_State *L);

#endif
