/*
 * lua/ldata.h: what ldata.c (data sets and their recipes) and
 * ldata_rebuild.c (gd.data.rebuild) share. Internal to the binding.
 */
#ifndef GRADUS_LUA_LDATA_H
#define GRADUS_LUA_LDATA_H

#include "lgradus.h"

/* Levels a recipe may have: the source plus 15 views above it. */
#define MAX_DEPTH 16

/* The constructors and views a recipe can name (Lua C functions). */
int lgd_data_fashion_mnist(lua_State *L);
int lgd_data_csv(lua_State *L);
int lgd_data_spirals(lua_State *L);
int lgd_data_blobs(lua_State *L);
int lgd_data_xor(lua_State *L);
int lgd_data_regression(lua_State *L);
int lgd_data_quadratic_deep(lua_State *L);
int lgd_ds_split(lua_State *L);
int lgd_ds_subset(lua_State *L);
int lgd_ds_standardize(lua_State *L);
/* ldata_text.c: gd.data.text and a text set's vocab, encode, decode. */
int lgd_data_text(lua_State *L);
int lgd_ds_vocab(lua_State *L);
int lgd_ds_encode(lua_State *L);
int lgd_ds_decode(lua_State *L);

/* A new data set userdata (empty box) on the stack; store a result in it
 * (or raise err when ds is NULL); pop the recipe at the top (table or nil,
 * `depth` levels) into the box at box_idx. */
lgd_dataset *lgd_data_new_box(lua_State *L);
int lgd_data_finish(lua_State *L, gd_dataset *ds, const gd_error *err);
void lgd_data_set_recipe(lua_State *L, int box_idx, int depth);

/* Raw structural equality of two plain recipe tables. */
int lgd_recipe_equal(lua_State *L, int a, int b, int depth);
/* gd.data.rebuild(recipe) */
int lgd_data_rebuild(lua_State *L);
int lgd_data_rebuild_cached(lua_State *L);   /* gd._util.rebuild_cached */
int lgd_data_rebuild_seed(lua_State *L);     /* gd._util.rebuild_seed */

#endif
