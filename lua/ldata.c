/*
 * lua/ldata.c: data sets (gd.data.*), wrapping core/data.h.
 *
 * A data set userdata holds one reference to a gd_dataset; split and subset
 * make views sharing the samples, so holding a split keeps the base alive
 * without copying it. Class labels are 1-based in Lua, as everywhere in the
 * Lua API, and 0-based in the core.
 *
 * Option tables are checked like component options: an unknown name is an
 * error naming the options there are, never silently ignored.
 *
 * Recipes: every data set made by a loader, a synthetic generator or a view
 * of such a set carries, in its user value 1, a plain table that rebuilds it
 * through the same constructors, so a checkpoint can reload its data instead
 * of asking the user for it again:
 *
 *   { source = "fashion_mnist", split = "train", limit = 1000, dir = "/abs" }
 *   { source = "csv", path = "/abs/file.csv", header = true, classes = false, ... }
 *   { source = "synthetic.spirals", n = 300, classes = 3, noise = 0.2, seed = 1 }
 *   { view = "split", of = R, part = 1 (train) | 2 (validation), validation = v, seed = s }
 *   { view = "subset", of = R, n = n }
 *   { view = "standardize", of = R, stats_from = R2 (absent: its own statistics) }
 *
 * Defaults are written out (a later change of a default must not change the
 * rebuilt set) and paths made absolute (the working directory may differ at
 * resume). gd.data.tensor sets, views of sets without a recipe, and views
 * nested deeper than MAX_DEPTH have none. A view's recipe shares its parent's
 * table (recipes are never modified: ds:recipe() hands out deep copies).
 *
 * gd.data.rebuild(recipe) (ldata_rebuild.c) calls only those constructors
 * and view methods, reading the recipe with raw accesses (no metamethod,
 * hence no code of the recipe, runs). ds:identity() fingerprints the samples (gd_dataset_identity) so
 * the rebuilt set can be checked against the one recorded.
 */
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "lapi.h"
#include "ldata.h"

/* ---------------------------------------------------------------------------
 * Option tables
 * ------------------------------------------------------------------------- */

#define SHAPE(d, dc) LGD_VALUE("shape", 0, "{ n } | { T, d } | { C, H, W }", d, \
                             "each sample's shape" dc)

static const char *const mnist_splits[] = { "train", "test", NULL };
static const char *const text_splits[] = { "train", "val", "test", NULL };

enum { FM_SPLIT, FM_LIMIT, FM_DIR };
const lgd_key lgd_fashion_mnist_keys[] = {
    LGD_CHOICE("split", "train", mnist_splits, "60000 or 10000 images of 28 x 28"),
    { "limit", NULL, "0 (all)", "the first limit samples only",
      { .type = GD_OPT_INTEGER, .flags = GD_OPT_HAS_MIN }, 0, NULL },
    LGD_STR("dir", "$GRADUS_DATA, else the installed set", "where the IDX files are"),
    SHAPE("{ 784 }", ", e.g. { 1, 28, 28 } for conv2d (784 elements)"),
    { NULL },
};

const lgd_key lgd_text_keys[] = {
    LGD_STR("path", "the King James Bible",
      "a UTF-8 text (without: Debian's bible-kjv, cached in $GRADUS_CACHE or ~/.cache/gradus)"),
    LGD_INT_IN("context", 128, 1, 1 << 20, "T: characters per sample (x = T ids, y = the next T)"),
    LGD_CHOICE("split", "train", text_splits, "the first 90 %, the next 5 %, the last 5 % of the text"),
    { NULL },
};

enum { CSV_PATH, CSV_TARGET, CSV_HEADER, CSV_CLASSES };
const lgd_key lgd_csv_keys[] = {
    { "path", NULL, NULL, "a CSV file of numbers, one sample a row",
      { .type = GD_OPT_STRING, .flags = GD_OPT_REQUIRED }, 0, NULL },
    LGD_VALUE("target", 0, "column name | column number", "the last column", "the target column"),
    LGD_BOOL("header", true,
      "the first row names the columns, each once (a UTF-8 byte order mark before it is dropped)"),
    LGD_BOOL("classes", false,
      "the target holds class labels, kept (ds:classes()), else regression values"),
    SHAPE("{ columns - 1 }", ", as many elements as feature columns"),
    { NULL },
};

enum { TD_X, TD_Y, TD_CLASSES, TD_NAME };
const lgd_key lgd_tensor_data_keys[] = {
    LGD_REQUIRED("x", 0, "tensor [N, ...] | nested table", "the samples"),
    LGD_REQUIRED("y", 0, "tensor | table",
      "class numbers 1..K (Lua integers, or with classes), else regression targets"),
    { "classes", NULL, "0 (from y)", "the number of classes K",
      { .type = GD_OPT_INTEGER, .flags = GD_OPT_HAS_MIN }, 0, NULL },
    LGD_STR("name", "\"tensor\"", "shown by tostring(ds)"),
    SHAPE("x's shape after the first dimension", ", as many elements"),
    { NULL },
};

enum { SP_VALIDATION, SP_SEED };
const lgd_key lgd_split_keys[] = {
    LGD_REQUIRED("validation", 0, "integer | fraction in (0, 1)", "samples held out"),
    LGD_INT("seed", 1, 0, "which samples"),
    { NULL },
};

/* The synthetic generators' options, in the order their make_* read them. */
#define SYN_N(d) LGD_INT("n", d, 1, "samples")
#define SYN_CLASSES LGD_INT_IN("classes", 3, 2, 1000, "classes (labels 1..classes)")
#define SYN_SEED LGD_INT("seed", 1, 0, "the draw: the same seed, the same set")
#define SYN_NUM(nm, d, dc) LGD_NUM(nm, d, GD_OPT_HAS_MIN, 0, 0, dc)
#define SYN_NOISE(d) SYN_NUM("noise", d, "standard deviation of the noise added")
const lgd_key lgd_spirals_keys[] = { SYN_N(300), SYN_CLASSES, SYN_NOISE(0.2), SYN_SEED, { NULL } };
const lgd_key lgd_blobs_keys[] = {
    SYN_N(300), SYN_CLASSES, LGD_INT("features", 2, 1, "features per sample"),
    SYN_NUM("spread", 1.0, "standard deviation of each blob"), SYN_SEED, { NULL },
};
const lgd_key lgd_xor_keys[] = { SYN_N(200), SYN_NOISE(0.1), SYN_SEED, { NULL } };
const lgd_key lgd_regression_keys[] = {
    SYN_N(200), LGD_INT("features", 1, 1, "features per sample"), SYN_NOISE(0.1), SYN_SEED,
    { NULL },
};
const lgd_key lgd_quadratic_deep_keys[] = {
    SYN_N(1000), SYN_NUM("noise", 0.6, "standard deviation of the samples x (DeepOBS: 0.6)"),
    LGD_INT("problem", 42, 0, "the seed of Q (inputs: its A = sqrt(50) D^1/2 R, [100, 100, 1]; "
            "targets A x; gradus doc benchmark)"),
    SYN_SEED, { NULL },
};

/* ---------------------------------------------------------------------------
 * The data set userdata
 * ------------------------------------------------------------------------- */

/* Levels a recipe may have: the source plus 15 views above it. */

/* The userdata: what other files see (an lgd_dataset) plus the depth of its
 * recipe, so a view knows without walking the tables whether it may have one. */
typedef struct box {
    lgd_dataset pub;   /* first: an lgd_dataset * points here */
    int depth;         /* levels of the recipe in user value 1; 0: none */
} box;

/* Push an empty box; the caller stores its gd_dataset right after. */
lgd_dataset *lgd_data_new_box(lua_State *L)
{
    box *b = lua_newuserdatauv(L, sizeof *b, 1);
    b->pub.ds = NULL;
    b->depth = 0;
    luaL_setmetatable(L, LGD_DATASET);
    return &b->pub;
}

gd_dataset *lgd_testdataset(lua_State *L, int idx)
{
    lgd_dataset *b = luaL_testudata(L, idx, LGD_DATASET);
    return b ? b->ds : NULL;
}

gd_dataset *lgd_checkdataset(lua_State *L, int idx)
{
    gd_dataset *ds = lgd_testdataset(L, idx);
    if (!ds) {
        char got[160];
        lgd_describe_value(L, idx, got, sizeof got);
        luaL_argerror(L, idx, lua_pushfstring(L, "data set expected, got %s", got));
    }
    return ds;
}

static int ds_gc(lua_State *L)
{
    lgd_dataset *b = luaL_checkudata(L, 1, LGD_DATASET);
    gd_dataset_free(b->ds);
    b->ds = NULL;
    return 0;
}

/* Store a result (or raise its error) in the box at the top. */
int lgd_data_finish(lua_State *L, gd_dataset *ds, const gd_error *err)
{
    if (!ds)
        return lgd_raise(L, err);
    ((lgd_dataset *)lua_touserdata(L, -1))->ds = ds;
    return 1;
}

/* Option 'shape' into the recipe at the top as text, "1,28,28" (recipe
 * keys are strings; gd.data.rebuild turns it back into a list). */
static void shape_recipe(lua_State *L, int opts)
{
    if (!lua_istable(L, opts))
        return;
    if (lua_getfield(L, opts, "shape") == LUA_TNIL) {
        lua_pop(L, 1);
        return;
    }
    gd_shape s = lgd_checkshape(L, -1, "shape");
    lua_pop(L, 1);
    char text[96];
    size_t used = 0;
    for (int i = 0; i < s.ndim; i++)
        used += (size_t)snprintf(text + used, sizeof text - used, "%s%lld", i ? "," : "",
                                 (long long)s.dim[i]);
    lgd_setstr(L, "shape", text);
}

/* Option 'shape' of the table at opts (absent: the loader's own) on the
 * data set just finished at the top of the stack; also copied into the
 * recipe by the caller. */
static void apply_shape(lua_State *L, int opts, const char *what)
{
    if (!lua_istable(L, opts))
        return;
    if (lua_getfield(L, opts, "shape") == LUA_TNIL) {
        lua_pop(L, 1);
        return;
    }
    char where[64];
    snprintf(where, sizeof where, "%s: shape", what);
    gd_shape s = lgd_checkshape(L, -1, where);
    lua_pop(L, 1);
    gd_error err;
    if (gd_dataset_set_shape(((lgd_dataset *)lua_touserdata(L, -1))->ds, &s, &err) != GD_OK)
        lgd_error(L, "%s: %s", what, err.msg);
}

/* ---------------------------------------------------------------------------
 * Recipes
 * ------------------------------------------------------------------------- */

/* Pop the recipe at the top (a table or nil) of `depth` levels into the
 * box at box_idx. */
void lgd_data_set_recipe(lua_State *L, int box_idx, int depth)
{
    box_idx = lua_absindex(L, box_idx);
    lua_setiuservalue(L, box_idx, 1);
    ((box *)lua_touserdata(L, box_idx))->depth = depth;
}

/* Push the recipe of the data set at idx (its own table, not a copy) or
 * nil; returns its depth, 0 when there is none. */
static int get_recipe(lua_State *L, int idx)
{
    box *b = lua_touserdata(L, idx);
    if (lua_getiuservalue(L, idx, 1) != LUA_TTABLE || b->depth < 1) {
        lua_pop(L, 1);
        lua_pushnil(L);
        return 0;
    }
    return b->depth;
}

/* Start a view's recipe { view = kind, of = <recipe of the set at
 * parent_idx> } at the top and return its depth; push nil and return 0 when
 * the parent has no recipe or the view would be too deep to rebuild. */
static int view_recipe(lua_State *L, int parent_idx, const char *kind)
{
    parent_idx = lua_absindex(L, parent_idx);
    int depth = get_recipe(L, parent_idx);
    if (depth < 1 || depth >= MAX_DEPTH) {
        lua_pop(L, 1);
        lua_pushnil(L);
        return 0;
    }
    lua_createtable(L, 0, 6);
    lgd_setstr(L, "view", kind);
    lua_rotate(L, -2, 1);
    lua_setfield(L, -2, "of");
    return depth + 1;
}

/* Copy field `key` of the option table at opts (when present) into the
 * recipe at the top. */
static void copy_opt(lua_State *L, int opts, const char *key)
{
    if (lua_isnoneornil(L, opts))
        return;
    lua_getfield(L, opts, key);
    lua_setfield(L, -2, key);
}

/* Deep copy of the plain, acyclic table at idx (a recipe). */
static void copy_table(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    luaL_checkstack(L, 4, "recipe copy");
    lua_newtable(L);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -1) == LUA_TTABLE) {
            copy_table(L, -1);
            lua_replace(L, -2);
        }
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, -4);
    }
}

int lgd_dataset_push_recipe(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    lgd_checkdataset(L, idx);
    if (!get_recipe(L, idx))
        return 0;
    copy_table(L, -1);
    lua_replace(L, -2);
    return 1;
}


/* ---------------------------------------------------------------------------
 * Loaders
 * ------------------------------------------------------------------------- */

int lgd_data_fashion_mnist(lua_State *L)
{
    const char *what = "gd.data.fashion_mnist";
    gd_value v[LGD_MAX_OPTIONS];
    lgd_read_options(L, 1, what, lgd_fashion_mnist_keys, v);
    const char *split = mnist_splits[v[FM_SPLIT].u.e], *dir = v[FM_DIR].u.s;
    int64_t limit = v[FM_LIMIT].u.i;
    if (dir) {
        lua_getfield(L, 1, "dir");
        lgd_checkpath(L, -1, what);
    }
    lgd_data_new_box(L);
    gd_dataset *ds = NULL;
    gd_error err;
    if (gd_fashion_mnist_load(dir, split, limit, &ds, &err) != GD_OK)
        ds = NULL;
    lgd_data_finish(L, ds, &err);
    apply_shape(L, 1, what);
    /* Loaded, so dir resolves; without one the loader's default (and
     * $GRADUS_DATA) applies again at rebuild, checked by the identity. */
    char abs[PATH_MAX];
    if (dir && !realpath(dir, abs))
        return 1;   /* gone since: no recipe rather than a wrong one */
    lua_createtable(L, 0, 4);
    lgd_setstr(L, "source", "fashion_mnist");
    lgd_setstr(L, "split", split);
    copy_opt(L, 1, "limit");
    shape_recipe(L, 1);
    if (dir)
        lgd_setstr(L, "dir", abs);
    lgd_data_set_recipe(L, -2, 1);
    return 1;
}

int lgd_data_csv(lua_State *L)
{
    const char *what = "gd.data.csv";
    luaL_checktype(L, 1, LUA_TTABLE);
    gd_value v[LGD_MAX_OPTIONS];
    lgd_read_options(L, 1, what, lgd_csv_keys, v);
    gd_csv_options o = { .path = v[CSV_PATH].u.s, .header = v[CSV_HEADER].u.b,
                         .classes = v[CSV_CLASSES].u.b };
    lua_getfield(L, 1, "path");
    lgd_checkpath(L, -1, what);
    lua_getfield(L, 1, "target");
    if (lua_type(L, -1) == LUA_TSTRING) {
        o.target_name = lua_tostring(L, -1);
    } else if (!lua_isnil(L, -1)) {
        int isint;
        lua_Integer t = lua_tointegerx(L, -1, &isint);
        if (!isint || t < 1 || t > 1 << 20)
            return lgd_error(L, "%s: option 'target' must be a column name or a 1-based column "
                              "number", what);
        o.target_index = (int)t;
    }
    lgd_data_new_box(L);
    gd_dataset *ds = NULL;
    gd_error err;
    if (gd_csv_load(&o, &ds, &err) != GD_OK)
        ds = NULL;
    lgd_data_finish(L, ds, &err);
    apply_shape(L, 1, what);
    char abs[PATH_MAX];
    if (!realpath(o.path, abs))
        return 1;   /* gone since: no recipe rather than a wrong one */
    lua_createtable(L, 0, 5);
    lgd_setstr(L, "source", "csv");
    lgd_setstr(L, "path", abs);
    copy_opt(L, 1, "target");
    lgd_setbool(L, "header", o.header);
    lgd_setbool(L, "classes", o.classes);
    shape_recipe(L, 1);
    lgd_data_set_recipe(L, -2, 1);
    return 1;
}

/* A synthetic generator: its options read from the table at 1 and written
 * back, defaults made explicit, as its recipe: one table drives both, so a
 * recipe cannot miss an option. */
typedef gd_dataset *(*syn_make)(const gd_value *v, gd_error *err);

static int synthetic(lua_State *L, const char *name, const lgd_key *keys, syn_make make)
{
    char what[64], source[48];
    snprintf(what, sizeof what, "gd.data.synthetic.%s", name);
    snprintf(source, sizeof source, "synthetic.%s", name);
    gd_value v[LGD_MAX_OPTIONS];
    lgd_read_options(L, 1, what, keys, v);
    lgd_data_new_box(L);
    gd_error err;
    lgd_data_finish(L, make(v, &err), &err);
    lua_createtable(L, 0, 8);
    lgd_setstr(L, "source", source);
    for (int i = 0; keys[i].name; i++) {
        if (keys[i].check.type == GD_OPT_INTEGER)
            lgd_setint(L, keys[i].name, (lua_Integer)v[i].u.i);
        else
            lgd_setnum(L, keys[i].name, v[i].u.num);
    }
    lgd_data_set_recipe(L, -2, 1);
    return 1;
}

static gd_dataset *make_spirals(const gd_value *v, gd_error *err)
{
    return gd_synthetic_spirals(v[0].u.i, (int)v[1].u.i, v[2].u.num, (uint64_t)v[3].u.i, err);
}

int lgd_data_spirals(lua_State *L)
{
    return synthetic(L, "spirals", lgd_spirals_keys, make_spirals);
}

static gd_dataset *make_blobs(const gd_value *v, gd_error *err)
{
    return gd_synthetic_blobs(v[0].u.i, (int)v[1].u.i, v[2].u.i, v[3].u.num, (uint64_t)v[4].u.i,
                              err);
}

int lgd_data_blobs(lua_State *L)
{
    return synthetic(L, "blobs", lgd_blobs_keys, make_blobs);
}

static gd_dataset *make_xor(const gd_value *v, gd_error *err)
{
    return gd_synthetic_xor(v[0].u.i, v[1].u.num, (uint64_t)v[2].u.i, err);
}

int lgd_data_xor(lua_State *L)
{
    return synthetic(L, "xor", lgd_xor_keys, make_xor);
}

static gd_dataset *make_regression(const gd_value *v, gd_error *err)
{
    return gd_synthetic_regression(v[0].u.i, v[1].u.i, v[2].u.num, (uint64_t)v[3].u.i, err);
}

int lgd_data_regression(lua_State *L)
{
    return synthetic(L, "regression", lgd_regression_keys, make_regression);
}

static gd_dataset *make_quadratic_deep(const gd_value *v, gd_error *err)
{
    return gd_synthetic_quadratic_deep(v[0].u.i, v[1].u.num, (uint64_t)v[2].u.i, (uint64_t)v[3].u.i,
                                       err);
}

/* DeepOBS's quadratic_deep: `problem` seeds Q, `seed` the samples. */
int lgd_data_quadratic_deep(lua_State *L)
{
    return synthetic(L, "quadratic_deep", lgd_quadratic_deep_keys, make_quadratic_deep);
}

/* gd.data.tensor{ x = [N, ...], y = ..., classes = K }: y as a table of Lua
 * integers (or with `classes`) is class numbers 1..K; otherwise y is
 * regression targets, [N] or [N, k]. */
static int data_tensor(lua_State *L)
{
    const char *what = "gd.data.tensor";
    luaL_checktype(L, 1, LUA_TTABLE);
    gd_value v[LGD_MAX_OPTIONS];
    lgd_read_options(L, 1, what, lgd_tensor_data_keys, v);
    int pushed;
    lua_getfield(L, 1, "x");
    lgd_tensor *x = lgd_totensor(L, lua_gettop(L), &pushed);
    if (x->shape.ndim < 2)
        return lgd_error(L, "%s: x must be [samples, features...], got a tensor with one "
                          "dimension (write { {x1}, {x2}, ... } for one feature)", what);
    int64_t n = x->shape.dim[0];
    gd_shape sample = { x->shape.ndim - 1, { 0 } };
    for (int d = 1; d < x->shape.ndim; d++)
        sample.dim[d - 1] = x->shape.dim[d];
    int64_t classes = v[TD_CLASSES].u.i;
    lua_getfield(L, 1, "y");
    int yidx = lua_gettop(L);
    /* A table of Lua integers is class numbers. */
    int integers = lua_istable(L, yidx) && !lgd_testtensor(L, yidx) && luaL_len(L, yidx) > 0;
    for (lua_Integer i = 1; integers && i <= luaL_len(L, yidx); i++) {
        lua_geti(L, yidx, i);
        integers = lua_isinteger(L, -1);
        lua_pop(L, 1);
    }
    lgd_tensor *y = lgd_totensor(L, yidx, &pushed);
    int64_t targets = 1;
    if (classes > 0 || integers) {
        if (y->numel != n)
            return lgd_error(L, "%s: %d class numbers for %d samples", what, (int)y->numel,
                              (int)n);
        int64_t maxc = 0;
        for (int64_t i = 0; i < n; i++) {
            float v = y->data[i];
            if (!(v >= 1) || v != floorf(v) || (classes > 0 && v > (float)classes))
                return lgd_error(L, "%s: y[%d] must be a class number in 1..%s", what,
                                  (int)i + 1, classes > 0 ? lua_pushfstring(L, "%d",
                                  (int)classes) : "K");
            if ((int64_t)v > maxc)
                maxc = (int64_t)v;
        }
        if (!classes)
            classes = maxc;
        if (classes > 1 << 20)
            return lgd_error(L, "%s: too many classes", what);
        gd_shape ys = gd_shape_1(n);
        lgd_tensor *y0 = lgd_tensor_new(L, &ys);
        for (int64_t i = 0; i < n; i++)
            y0->data[i] = y->data[i] - 1;
        y = y0;
    } else {
        if (y->shape.dim[0] != n || (y->shape.ndim > 2))
            return lgd_error(L, "%s: y must be [%d] or [%d, targets] for %d samples", what,
                              (int)n, (int)n, (int)n);
        targets = y->numel / n;
    }
    const char *name = v[TD_NAME].u.s;
    lgd_data_new_box(L);
    gd_error err;
    gd_dataset *ds = gd_dataset_from_floats(n, &sample, x->data, targets, y->data, (int)classes,
                                            &err);
    if (ds && name)
        gd_dataset_set_name(ds, name);
    lgd_data_finish(L, ds, &err);
    apply_shape(L, 1, what);
    return 1;
}

/* ---------------------------------------------------------------------------
 * Methods
 * ------------------------------------------------------------------------- */

static int ds_size(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)gd_dataset_size(lgd_checkdataset(L, 1)));
    return 1;
}

static int ds_features(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)gd_dataset_features(lgd_checkdataset(L, 1)));
    return 1;
}

/* ds:classes() -> K [, labels]: the class count (0: regression) and, for a
 * set that keeps them (gd.data.csv{ classes = true }), the labels as the
 * file wrote them, in class order: class c is labels[c]. */
static int ds_classes(lua_State *L)
{
    const gd_dataset *ds = lgd_checkdataset(L, 1);
    int k = gd_dataset_classes(ds);
    const double *labels = gd_dataset_labels(ds);
    lua_pushinteger(L, k);
    if (!labels)
        return 1;
    lgd_push_labels(L, labels, k);
    return 2;
}

static int ds_sample_shape(lua_State *L)
{
    lgd_push_shape(L, gd_dataset_sample_shape(lgd_checkdataset(L, 1)));
    return 1;
}

static int ds_name(lua_State *L)
{
    lua_pushstring(L, gd_dataset_name(lgd_checkdataset(L, 1)));
    return 1;
}

/* ds:split{ validation = n or fraction, seed = s } -> train, validation */
int lgd_ds_split(lua_State *L)
{
    gd_dataset *ds = lgd_checkdataset(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    gd_value v[LGD_MAX_OPTIONS];
    lgd_read_options(L, 2, "split", lgd_split_keys, v);
    int64_t size = gd_dataset_size(ds), nval;
    lua_getfield(L, 2, "validation");
    int isint;
    nval = (int64_t)lgd_tointeger(L, -1, &isint);
    if (!isint) {
        double f = lua_tonumber(L, -1);
        if (lua_type(L, -1) != LUA_TNUMBER || !(f > 0 && f < 1))
            return lgd_error(L, "split: 'validation' must be a sample count or a fraction in "
                              "(0, 1), got %s", lgd_value_text(L, -1));
        nval = (int64_t)llround(f * (double)size);
    }
    if (nval < 1 || nval >= size)
        return lgd_error(L, "split: 'validation' must leave both parts non-empty: 1..%d of %d "
                          "samples, got %d", (int)size - 1, (int)size, (int)nval);
    int64_t seed = v[SP_SEED].u.i;
    lua_settop(L, 2);
    lgd_dataset *tb = lgd_data_new_box(L), *vb = lgd_data_new_box(L);
    gd_error err;
    if (gd_dataset_split(ds, nval, (uint64_t)seed, &tb->ds, &vb->ds, &err) != GD_OK)
        return lgd_raise(L, &err);
    /* The count or fraction as given: the same rule turns it into a count. */
    for (int part = 1; part <= 2; part++) {
        int depth = view_recipe(L, 1, "split");
        if (depth) {
            lgd_setint(L, "part", part);
            copy_opt(L, 2, "validation");
            lgd_setint(L, "seed", seed);
        }
        lgd_data_set_recipe(L, 2 + part, depth);
    }
    return 2;
}

int lgd_ds_subset(lua_State *L)
{
    gd_dataset *ds = lgd_checkdataset(L, 1);
    lua_Integer n = luaL_checkinteger(L, 2);
    if (n < 1 || n > gd_dataset_size(ds))
        return lgd_error(L, "subset: n must be in 1..%d, got %d", (int)gd_dataset_size(ds),
                          (int)n);
    lua_settop(L, 2);
    lgd_data_new_box(L);
    gd_error err;
    lgd_data_finish(L, gd_dataset_subset(ds, n, &err), &err);
    int depth = view_recipe(L, 1, "subset");
    if (depth)
        lgd_setint(L, "n", n);
    lgd_data_set_recipe(L, -2, depth);
    return 1;
}

/* ds:standardize([stats_from]): (x - mean)/std with stats from stats_from
 * (default: ds itself), e.g. test:standardize(train). */
int lgd_ds_standardize(lua_State *L)
{
    gd_dataset *ds = lgd_checkdataset(L, 1);
    gd_dataset *from = lua_isnoneornil(L, 2) ? ds : lgd_checkdataset(L, 2);
    lua_settop(L, 2);
    lgd_data_new_box(L);
    gd_error err;
    lgd_data_finish(L, gd_dataset_standardize(ds, from, &err), &err);
    int depth = view_recipe(L, 1, "standardize");
    if (depth && from != ds) {
        /* Statistics of another set: its recipe too, or none at all. One
         * equal to ds's is left out, as gd.data.rebuild builds it once. */
        int sdepth = get_recipe(L, 2);
        lua_getfield(L, -2, "of");
        int same = sdepth && lgd_recipe_equal(L, -1, -2, 1);
        lua_pop(L, 1);
        if (same) {
            lua_pop(L, 1);
        } else if (sdepth && sdepth < MAX_DEPTH) {
            lua_setfield(L, -2, "stats_from");
            depth = depth > sdepth + 1 ? depth : sdepth + 1;
        } else {
            lua_pop(L, 2);
            lua_pushnil(L);
            depth = 0;
        }
    }
    lgd_data_set_recipe(L, -2, depth);
    return 1;
}

/* Gather samples first..first+n-1 into x [n, sample...] and y: a table of
 * class numbers (1-based) or a tensor [n, targets]. */
static int gather(lua_State *L, gd_dataset *ds, int64_t first, int64_t n)
{
    const gd_shape *ss = gd_dataset_sample_shape(ds);
    gd_shape xs = { ss->ndim + 1, { n, 0, 0, 0 } };
    for (int d = 0; d < ss->ndim && d + 1 < GD_MAX_DIMS; d++)
        xs.dim[d + 1] = ss->dim[d];
    if (ss->ndim + 1 > GD_MAX_DIMS)
        xs = gd_shape_2(n, gd_dataset_features(ds));
    int64_t tw = gd_dataset_target_width(ds);
    int64_t *idx = lua_newuserdatauv(L, (size_t)n * sizeof *idx, 0);
    for (int64_t i = 0; i < n; i++)
        idx[i] = first + i;
    lgd_tensor *x = lgd_tensor_new(L, &xs);
    gd_shape ys = tw == 1 ? gd_shape_1(n) : gd_shape_2(n, tw);
    lgd_tensor *y = lgd_tensor_new(L, &ys);
    gd_dataset_gather(ds, idx, n, x->data, y->data);
    if (gd_dataset_input_ids(ds) > 0) {   /* a text set: 1-based ids in x and y */
        for (int64_t i = 0; i < x->numel; i++)
            x->data[i] += 1;
        for (int64_t i = 0; i < y->numel; i++)
            y->data[i] += 1;
        return 2;
    }
    if (gd_dataset_classes(ds) > 0) {
        lua_createtable(L, (int)n, 0);
        for (int64_t i = 0; i < n; i++) {
            lua_pushinteger(L, (lua_Integer)y->data[i] + 1);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        lua_replace(L, -2);
    }
    return 2;
}

/* ds:get(i) -> x [1, sample...], y (class number or tensor [1, targets]) */
static int ds_get(lua_State *L)
{
    gd_dataset *ds = lgd_checkdataset(L, 1);
    lua_Integer i = luaL_checkinteger(L, 2);
    luaL_argcheck(L, i >= 1 && i <= gd_dataset_size(ds), 2, "sample index out of range");
    gather(L, ds, i - 1, 1);
    if (gd_dataset_classes(ds) > 0 && gd_dataset_input_ids(ds) == 0) {
        lua_rawgeti(L, -1, 1);
        lua_replace(L, -2);
    }
    return 2;
}

/* ds:tensors() -> x [N, sample...], y (class numbers or tensor) */
static int ds_tensors(lua_State *L)
{
    gd_dataset *ds = lgd_checkdataset(L, 1);
    return gather(L, ds, 0, gd_dataset_size(ds));
}

/* ds:recipe() -> a deep copy of the recipe, or nil */
static int ds_recipe(lua_State *L)
{
    lgd_dataset_push_recipe(L, 1);
    return 1;
}

/* ds:identity() -> { size, features, target_width, classes, crc } */
static int ds_identity(lua_State *L)
{
    gd_dataset *ds = lgd_checkdataset(L, 1);
    gd_data_identity id;
    gd_error err;
    if (gd_dataset_identity(ds, &id, &err) != GD_OK)
        return lgd_raise(L, &err);
    lua_createtable(L, 0, 5);
    lgd_setint(L, "size", id.size);
    lgd_setint(L, "features", id.features);
    lgd_setint(L, "target_width", id.target_width);
    lgd_setint(L, "classes", id.classes);
    lgd_setint(L, "crc", (lua_Integer)id.crc);
    return 1;
}

static int ds_tostring(lua_State *L)
{
    gd_dataset *ds = lgd_checkdataset(L, 1);
    char sh[64];
    lgd_shape_str(gd_dataset_sample_shape(ds), sh, sizeof sh);
    int k = gd_dataset_classes(ds);
    if (k > 0)
        lua_pushfstring(L, "data set %s: %d samples of %s, %d classes", gd_dataset_name(ds),
                        (int)gd_dataset_size(ds), sh, k);
    else
        lua_pushfstring(L, "data set %s: %d samples of %s, %d targets", gd_dataset_name(ds),
                        (int)gd_dataset_size(ds), sh, (int)gd_dataset_target_width(ds));
    return 1;
}

void lgd_open_data(lua_State *L)
{
    static const luaL_Reg meta[] = {
        { "size", ds_size },
        { "features", ds_features },
        { "classes", ds_classes },
        { "sample_shape", ds_sample_shape },
        { "shape", ds_sample_shape },
        { "name", ds_name },
        { "split", lgd_ds_split },
        { "subset", lgd_ds_subset },
        { "standardize", lgd_ds_standardize },
        { "get", ds_get },
        { "tensors", ds_tensors },
        { "recipe", ds_recipe },
        { "identity", ds_identity },
        { "vocab", lgd_ds_vocab },
        { "encode", lgd_ds_encode },
        { "decode", lgd_ds_decode },
        { "__len", ds_size },
        { "__gc", ds_gc },
        { "__tostring", ds_tostring },
        { NULL, NULL },
    };
    lgd_newclass(L, LGD_DATASET, meta, 0);
    lua_pop(L, 1);
    static const luaL_Reg data[] = {
        { "fashion_mnist", lgd_data_fashion_mnist },
        { "csv", lgd_data_csv },
        { "text", lgd_data_text },
        { "tensor", data_tensor },
        { "rebuild", lgd_data_rebuild },
        { NULL, NULL },
    };
    static const luaL_Reg synthetic[] = {
        { "spirals", lgd_data_spirals },
        { "blobs", lgd_data_blobs },
        { "xor", lgd_data_xor },
        { "regression", lgd_data_regression },
        { "quadratic_deep", lgd_data_quadratic_deep },
        { NULL, NULL },
    };
    luaL_newlib(L, data);
    luaL_newlib(L, synthetic);
    lua_setfield(L, -2, "synthetic");
    lua_setfield(L, -2, "data");
}
