/*
 * lua/lapi.h: the option tables of the Lua API (gd.train, gd.compare,
 * gd.report, gd.resume, gd.fork, the data sets) and the layouts of what it
 * returns (run.history, gd.compare's results), in lapi.c.
 *
 * One table per call says each key's name, type, default and meaning. The
 * same table refuses unknown keys (lgd_check_keys) and prints the call's
 * page (`gradus doc train`, gd.doc("train")), so the two cannot drift: a
 * key added to a table is accepted and documented at once.
 */
#ifndef GRADUS_LUA_LAPI_H
#define GRADUS_LUA_LAPI_H

#include <lua.h>

typedef struct lgd_key {
    const char *name;
    const char *type;       /* "integer >= 1", "optimizer spec", ... */
    const char *def;        /* "required", "1", "(none)", ... */
    const char *doc;        /* one line */
} lgd_key;                  /* arrays end with { NULL } */

/* gd.probe's options and those of its methods and of monitor.probes
 * (lprobe.c, ltrain_probes.c). */
extern const lgd_key lgd_probe_keys[], lgd_probe_eigen_keys[], lgd_probe_trace_keys[],
    lgd_probe_noise_keys[], lgd_probe_slice_keys[], lgd_probe_surface_keys[],
    lgd_monitor_probe_keys[];

/* The options each call accepts (lapi.c). */
extern const lgd_key lgd_train_keys[], lgd_csv_keys[], lgd_fashion_mnist_keys[],
    lgd_tensor_data_keys[], lgd_split_keys[], lgd_diverge_keys[], lgd_text_keys[];

/* Every key of the table at idx must be one of keys; otherwise a Lua error
 * "<what>: unknown option 'k' (did you mean 'x'? options: a, b, ...)".
 * Non-string keys are refused too. A nil or absent idx passes. */
void lgd_check_keys(lua_State *L, int idx, const char *what, const lgd_key *keys);

/* Push page `name` ("train", "data.csv", ...) as text; 0 (nothing pushed)
 * when there is no such page. */
int lgd_doc_page(lua_State *L, const char *name);
/* "train, compare, ..." (static). */
const char *lgd_doc_pages(void);

/* gd.doc, gd._check_keys, gd._keys into the table at the top. */
void lgd_open_api(lua_State *L);

#endif
