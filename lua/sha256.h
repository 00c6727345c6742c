/*
 * lua/sha256.h: SHA-256 of files for the run manifest.
 */
#ifndef GRADUS_LUA_SHA256_H
#define GRADUS_LUA_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct sha256_ctx {
    uint32_t h[8];
    uint64_t len;
    unsigned char buf[64];
    size_t used;
} sha256_ctx;

void sha256_init(sha256_ctx *c);
void sha256_update(sha256_ctx *c, const void *data, size_t n);
/* Finish and write 64 lowercase hex digits and a NUL. */
void sha256_hex(sha256_ctx *c, char out[65]);

#endif
