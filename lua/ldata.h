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
int lgd_ds_split(lua_State *L);
int lgd_ds_subset(lua_State *L);
int lgd_ds_standardize(lua_State *L);

/* Every key of the table at idx must be one of `names` (NULL-terminated). */
void lgd_data_check_keys(lua_State *L, int idx, const char *what, const char *const *names);
/* Raw structural equality of two plain recipe tables. */
int lgd_recipe_equal(lua_State *L, int a, int b, int depth);
/* gd.data.rebuild(recipe) */
int lgd_data_rebuild(lua_State *L);
int lgd_data_rebuild_cached(lua_State *L);   /* gd._util.rebuild_cached */

#endif
