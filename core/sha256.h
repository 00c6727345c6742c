/*
 * core/sha256.h: SHA-256 (FIPS 180-4), for what identifies a plugin file
 * or a data file: the run manifest, the benchmark's cache keys, a sweep's
 * trial files.
 */
#ifndef GRADUS_CORE_SHA256_H
#define GRADUS_CORE_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct gd_sha256_ctx {
    uint32_t h[8];
    uint64_t len;
    unsigned char buf[64];
    size_t used;
} gd_sha256_ctx;

void gd_sha256_init(gd_sha256_ctx *c);
void gd_sha256_update(gd_sha256_ctx *c, const void *data, size_t n);
/* Finish and write 64 lowercase hex digits and a NUL. */
void gd_sha256_hex(gd_sha256_ctx *c, char out[65]);
/* The file's digest as 64 hex digits and a NUL; -1 when it cannot be read. */
int gd_sha256_file(const char *path, char hex[65]);

#endif
