/*
 * lua/llib.h: the Lua-written part of the module (compare, report, plots,
 * diagnoses), embedded at build time by lua/embed.c.
 */
#ifndef GRADUS_LUA_LLIB_H
#define GRADUS_LUA_LLIB_H

#include <stddef.h>

typedef struct lgd_embedded {
    const char *name;   /* module name: "gradus.report", ... */
    const char *source;
    size_t len;
} lgd_embedded;

extern const lgd_embedded lgd_embedded_sources[];

#endif
