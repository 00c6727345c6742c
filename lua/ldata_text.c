/*
 * lua/ldata_text.c: gd.data.text{ path =, context =, split = } and a text
 * set's ds:vocab(), ds:encode(text), ds:decode(ids).
 *
 * Ids are 1-based in Lua (id i is ds:vocab()[i]), 0-based in the core.
 *
 * Without `path` the corpus is the King James Bible, written once from
 * Debian's bible-kjv into the cache directory ($GRADUS_CACHE, else
 * $XDG_CACHE_HOME/gradus, else ~/.cache/gradus); the first call that writes
 * it says where on stderr (the Lua layer may print; the core never does).
 *
 * Recipes: { source = "text", path = "/abs", context = T, split = s }, or
 * without path for the Bible (rebuilt from the cache or the package; the
 * identity a checkpoint records catches a different text).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lapi.h"
#include "ldata.h"

/* The cache directory into buf. */
static const char *cache_dir(char *buf, size_t cap)
{
    const char *v = getenv("GRADUS_CACHE");
    if (v && *v)
        snprintf(buf, cap, "%s", v);
    else if ((v = getenv("XDG_CACHE_HOME")) && *v)
        snprintf(buf, cap, "%s/gradus", v);
    else
        snprintf(buf, cap, "%s/.cache/gradus", (v = getenv("HOME")) && *v ? v : "/tmp");
    return buf;
}

int lgd_data_text(lua_State *L)
{
    const char *what = "gd.data.text";
    static const char *const splits[] = { "train", "val", "test" };
    gd_value v[LGD_MAX_OPTIONS];
    lgd_read_options(L, 1, what, lgd_text_keys, v);   /* TX_PATH, TX_CONTEXT, TX_SPLIT */
    gd_text_options o = { .context = v[1].u.i, .split = splits[v[2].u.e] };
    if (v[0].present) {
        lua_getfield(L, 1, "path");
        o.path = lgd_checkpath(L, -1, what);
    }
    char dir[PATH_MAX], kjv[PATH_MAX + 16];
    int created = 0;
    gd_error err;
    if (!o.path) {
        if (gd_text_kjv(cache_dir(dir, sizeof dir), kjv, sizeof kjv, &created, &err) != GD_OK)
            return lgd_raise(L, &err);
        if (created)
            fprintf(stderr, "gd.data.text: wrote the King James Bible (from bible-kjv) to %s\n",
                    kjv);
        o.path = kjv;
    }
    lgd_data_new_box(L);
    gd_dataset *ds = NULL;
    if (gd_text_load(&o, &ds, &err) != GD_OK)
        ds = NULL;
    lgd_data_finish(L, ds, &err);
    if (o.path == kjv)
        gd_dataset_set_name(ds, o.split[0] == 't' && o.split[1] == 'r' ? "kjv/train"
                                : o.split[0] == 'v' ? "kjv/val" : "kjv/test");
    char abs[PATH_MAX];
    lua_createtable(L, 0, 4);
    lgd_setstr(L, "source", "text");
    if (o.path != kjv) {
        if (!realpath(o.path, abs)) {
            lua_pop(L, 1);
            return 1;   /* gone since: no recipe rather than a wrong one */
        }
        lgd_setstr(L, "path", abs);
    }
    lgd_setint(L, "context", o.context);
    lgd_setstr(L, "split", o.split);
    lgd_data_set_recipe(L, -2, 1);
    return 1;
}

static gd_dataset *checktext(lua_State *L, const char *method)
{
    gd_dataset *ds = lgd_checkdataset(L, 1);
    if (!gd_dataset_vocab(ds))
        lgd_error(L, "ds:%s: '%s' is not a text set (gd.data.text)", method,
                  gd_dataset_name(ds));
    return ds;
}

/* UTF-8 of code point cp (valid: it came from a decoded text) into b. */
static void add_utf8(luaL_Buffer *b, uint32_t cp)
{
    char s[4];
    size_t n;
    if (cp < 0x80) {
        s[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        s[0] = (char)(0xc0 | cp >> 6);
        s[1] = (char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        s[0] = (char)(0xe0 | cp >> 12);
        s[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        s[2] = (char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        s[0] = (char)(0xf0 | cp >> 18);
        s[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        s[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        s[3] = (char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    luaL_addlstring(b, s, n);
}

/* ds:vocab() -> { "\n", " ", "!", ... }: id i's character at [i] */
int lgd_ds_vocab(lua_State *L)
{
    gd_dataset *ds = checktext(L, "vocab");
    const uint32_t *v = gd_dataset_vocab(ds);
    int n = gd_dataset_classes(ds);
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_pushfstring(L, "%U", (long)v[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

/* ds:encode(text) -> tensor [#characters] of 1-based ids */
int lgd_ds_encode(lua_State *L)
{
    gd_dataset *ds = checktext(L, "encode");
    size_t n;
    const char *s = luaL_checklstring(L, 2, &n);
    uint32_t *cps = NULL;
    int64_t len = 0;
    gd_error err;
    if (n == 0)
        return lgd_error(L, "ds:encode: the text is empty");
    if (gd_text_decode("ds:encode", s, n, &cps, &len, &err) != GD_OK)
        return lgd_raise(L, &err);
    const uint32_t *v = gd_dataset_vocab(ds);
    const int nv = gd_dataset_classes(ds);
    int64_t bad = -1;
    uint32_t badcp = 0;
    gd_shape shape = gd_shape_1(len);
    /* Decoded first, so no Lua error can leave cps behind: copy, free, raise. */
    float *ids = malloc((size_t)(len > 0 ? len : 1) * sizeof *ids);
    for (int64_t i = 0; ids && i < len && bad < 0; i++) {
        int lo = 0, hi = nv - 1, at = -1;
        while (lo <= hi && at < 0) {
            int mid = (lo + hi) / 2;
            if (v[mid] == cps[i])
                at = mid;
            else if (v[mid] < cps[i])
                lo = mid + 1;
            else
                hi = mid - 1;
        }
        if (at < 0) {
            bad = i;
            badcp = cps[i];
        } else {
            ids[i] = (float)(at + 1);
        }
    }
    free(cps);
    if (!ids)
        return lgd_error(L, "ds:encode: out of memory");
    if (bad >= 0) {
        free(ids);
        lua_pushfstring(L, "%U", (long)badcp);
        return lgd_error(L, "ds:encode: character %d ('%s', U+%04X) is not in the vocabulary "
                          "of %s", (int)bad + 1, lua_tostring(L, -1), (unsigned)badcp,
                          gd_dataset_name(ds));
    }
    lgd_tensor *t = lgd_tensor_new(L, &shape);
    memcpy(t->data, ids, (size_t)len * sizeof *ids);
    free(ids);
    return 1;
}

/* ds:decode(ids) -> string; ids a tensor or a table of 1-based ids */
int lgd_ds_decode(lua_State *L)
{
    gd_dataset *ds = checktext(L, "decode");
    int pushed;
    lgd_tensor *t = lgd_totensor(L, 2, &pushed);
    const uint32_t *v = gd_dataset_vocab(ds);
    const int nv = gd_dataset_classes(ds);
    for (int64_t i = 0; i < t->numel; i++) {
        float id = t->data[i];
        if (!(id >= 1 && id <= (float)nv && id == (float)(int)id))
            return lgd_error(L, "ds:decode: id %d is %g, expected 1..%d", (int)i + 1, (double)id,
                              nv);
    }
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int64_t i = 0; i < t->numel; i++)
        add_utf8(&b, v[(int)t->data[i] - 1]);
    luaL_pushresult(&b);
    return 1;
}
