/*
 * lua/lapi.h: the option tables of the Lua API and the one reader of them
 * (lopt.c), the layouts of what it returns (run.history, gd.compare's
 * results) and the pages of `gradus doc` (lapi.c).
 *
 * One table per call says each key's name, type, default, range and
 * meaning; each table sits beside the code that uses its values (gd.train's
 * in ltrain.c, the data sets' in ldata.c, ...). The same rows are read by
 * lgd_read_options (C calls) and gd._options (the Lua-written ones) and
 * printed as the call's page (`gradus doc train`, gd.doc("train")), so a
 * key added to a table is accepted, checked and documented at once, and a
 * default is written once.
 */
#ifndef GRADUS_LUA_LAPI_H
#define GRADUS_LUA_LAPI_H

#include <lua.h>

#include "gradus/options.h"

/* One key of a table: an option a call accepts, or a field of a table it
 * returns. An option's `check` is a plugin's schema (include/gradus/
 * options.h: type, default, range, choices, REQUIRED/OPTIONAL), read by
 * lgd_read_options exactly as written here and printed by `gradus doc`, so
 * a default is written once. A key whose value the core's types cannot
 * describe (a data set, a function, a table of its own) has check.type 0
 * and says in `lua` which Lua value it takes (0: the caller checks it). */
typedef struct lgd_key {
    const char *name;
    const char *type;       /* for the page; NULL: from check ("integer >= 1") */
    const char *def;        /* for the page; NULL: from check ("32", "required") */
    const char *doc;        /* one line */
    gd_option_spec check;   /* name and doc unused: the row's */
    int lua;                /* check.type 0: LGD_IS_TABLE, LGD_IS_FUNCTION, LGD_IS_DATASET or 0 */
    const struct lgd_key *sub;  /* a table's own options (its reader passes them) */
} lgd_key;                  /* arrays end with { NULL } */

enum { LGD_IS_TABLE = 1, LGD_IS_FUNCTION, LGD_IS_DATASET };

/* Rows of option tables. An INTEGER with `choices` also takes those
 * strings (batch = "full"); its value is then -1 - the choice's index. */
#define LGD_INT(nm, d, lo, dc) \
    { nm, NULL, NULL, dc, { .type = GD_OPT_INTEGER, .flags = GD_OPT_HAS_MIN, .def = (d), .min = (lo) }, 0, NULL }
#define LGD_INT_IN(nm, d, lo, hi, dc)                                                   \
    { nm, NULL, NULL, dc, { .type = GD_OPT_INTEGER, .flags = GD_OPT_HAS_MIN | GD_OPT_HAS_MAX, \
                            .def = (d), .min = (lo), .max = (hi) }, 0, NULL }
#define LGD_NUM(nm, d, fl, lo, hi, dc) \
    { nm, NULL, NULL, dc, { .type = GD_OPT_NUMBER, .flags = (fl), .def = (d), .min = (lo), .max = (hi) }, 0, NULL }
#define LGD_BOOL(nm, d, dc) { nm, NULL, NULL, dc, { .type = GD_OPT_BOOLEAN, .def = (d) }, 0, NULL }
#define LGD_CHOICE(nm, d, ch, dc) \
    { nm, NULL, NULL, dc, { .type = GD_OPT_ENUM, .def_str = (d), .choices = (ch) }, 0, NULL }
/* An integer >= lo that may be absent (v.present 0: the caller's default,
 * `shown` on the page). */
#define LGD_INT_OR(nm, lo, shown, dc)                                                    \
    { nm, NULL, shown, dc, { .type = GD_OPT_INTEGER, .flags = GD_OPT_HAS_MIN | GD_OPT_OPTIONAL, \
                             .min = (lo) }, 0, NULL }
/* A string: def NULL is absent (v.present 0), its page default `shown`. */
#define LGD_STR(nm, shown, dc) \
    { nm, NULL, shown, dc, { .type = GD_OPT_STRING, .flags = GD_OPT_OPTIONAL }, 0, NULL }
/* A field described only: its type and default as text (check.type 0). */
#define LGD_KEY(nm, ty, d, dc) { nm, ty, d, dc, { 0 }, 0, NULL }
/* A Lua value of kind k (LGD_IS_TABLE, ...; 0: the caller checks it). */
#define LGD_VALUE(nm, k, ty, d, dc) { nm, ty, d, dc, { 0 }, k, NULL }
/* A table of options of its own (ty: "table" or "table | false"...). */
#define LGD_SUB(nm, ty, d, sub_, dc) { nm, ty, d, dc, { 0 }, 0, sub_ }
#define LGD_REQUIRED(nm, k, ty, dc) { nm, ty, "required", dc, { .flags = GD_OPT_REQUIRED }, k, NULL }

/* gd.probe's options and those of its methods and of monitor.probes
 * (lprobe.c, ltrain_probes.c). */
extern const lgd_key lgd_probe_keys[], lgd_probe_eigen_keys[], lgd_probe_trace_keys[],
    lgd_probe_noise_keys[], lgd_probe_slice_keys[], lgd_probe_surface_keys[],
    lgd_monitor_probe_keys[];
/* model:generate's options (lseq.c); spec:build's (lblock.c). */
extern const lgd_key lgd_generate_keys[], lgd_build_keys[];

/* The options each call accepts (lapi.c). */
extern const lgd_key lgd_train_keys[], lgd_diverge_keys[];            /* ltrain.c */
extern const lgd_key lgd_csv_keys[], lgd_fashion_mnist_keys[], lgd_tensor_data_keys[],
    lgd_split_keys[], lgd_text_keys[], lgd_spirals_keys[], lgd_blobs_keys[], lgd_xor_keys[],
    lgd_regression_keys[], lgd_quadratic_deep_keys[];                      /* ldata*.c */

/* The one reader of the Lua API's options: the table at idx (nil, none or
 * idx 0: no options) against keys. Refuses, as a Lua error naming `what`:
 *   "<what>: options must be a table, got <type>"
 *   "<what>: options are named (name = value), got a <type> key"
 *   "<what>: unknown option 'k' (did you mean 'x'? options: a, b, ...)"
 *   "<what>: option 'k' is required (<doc>)"
 *   "<what>: option 'k' must be <an integer >= 1, ...>, got <the value>"
 * and fills v[i] (when v is not NULL) with keys[i]'s value or default for
 * the keys with a check.type, as a plugin's gd_options (a string points
 * into the table, valid while it lives). v holds LGD_MAX_OPTIONS values: a
 * longer table is refused before anything is read (the test that walks
 * every table reads them all). */
enum { LGD_MAX_OPTIONS = 32 };
void lgd_read_options(lua_State *L, int idx, const char *what, const lgd_key *keys, gd_value *v);
#define lgd_check_keys(L, idx, what, keys) lgd_read_options(L, idx, what, keys, NULL)
/* The value at the top of the stack (nil: the default) against row k. */
gd_value lgd_read_value(lua_State *L, const char *what, const lgd_key *k);
/* "integer >= 1", "\"train\" | \"test\"": the page's type of an option. */
const char *lgd_key_type(const lgd_key *k, char *buf, size_t len);
/* "32", "required", "(none)": the page's default of an option. */
const char *lgd_key_default(const lgd_key *k, char *buf, size_t len);

/* Push page `name` ("train", "data.csv", ...) as text; 0 (nothing pushed)
 * when there is no such page. */
int lgd_doc_page(lua_State *L, const char *name);
/* "train, compare, ..." (static). */
const char *lgd_doc_pages(void);

/* gd.doc, gd._options, gd._keys, gd._option_tables into the table at the
 * top. */
void lgd_open_api(lua_State *L);

#endif
