/*
 * tests/fuzz/fuzz_checkpoint.c: libFuzzer target for the file readers.
 *
 * Every input goes through:
 *   - gd_checkpoint_parse with verify_crc = false, so mutated bytes reach the
 *     section decoders behind the CRCs (binio.c, checkpoint.c, model_io.c);
 *   - gd_checkpoint_parse with verify_crc = true, the path real loads take;
 *   - gd_model_load, through a memfd, so model files are covered by the same
 *     run. It always checks CRCs, so it gets a copy whose CRCs were made
 *     right first (as a crafted file would have them): mutations reach its
 *     META and MODL decoders under a model file's magic too.
 * Whatever parses is freed; a leak, an out-of-bounds access, undefined
 * behaviour or an allocation beyond -rss_limit_mb is a finding.
 *
 * Plugins are the built-in ones, loaded once. The core is linked statically
 * into this program (tests/fuzz/meson.build), so the built-in dir that
 * gd_registry_builtin_dir finds beside "libgradus" is beside this program
 * instead, where there are none: GD_FUZZ_PLUGIN_DIR (the build tree's
 * plugins/) is the fallback.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

#include "checkpoint.h"
#include "registry.h"

static gd_registry *reg;
static int model_fd = -1;
static char model_path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    gd_error err;
    reg = gd_registry_new();
    if (!reg || gd_registry_load_defaults(reg, &err) != GD_OK) {
        fprintf(stderr, "fuzz_checkpoint: cannot load plugins: %s\n", reg ? err.msg : "no memory");
        abort();
    }
    if (gd_registry_count(reg) == 0 &&
        gd_registry_load_dir(reg, GD_FUZZ_PLUGIN_DIR, &err) != GD_OK) {
        fprintf(stderr, "fuzz_checkpoint: cannot load plugins: %s\n", err.msg);
        abort();
    }
    if (gd_registry_count(reg) == 0) {
        fprintf(stderr, "fuzz_checkpoint: no plugins found in %s or %s\n",
                gd_registry_builtin_dir(), GD_FUZZ_PLUGIN_DIR);
        abort();
    }
    /* One in-memory file for gd_model_load, rewritten for each input. */
    model_fd = memfd_create("fuzz_model", 0);
    if (model_fd >= 0)
        snprintf(model_path, sizeof model_path, "/proc/self/fd/%d", model_fd);
    else
        fprintf(stderr, "fuzz_checkpoint: no memfd, gd_model_load is not fuzzed\n");
    return 0;
}

static uint64_t le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int k = n - 1; k >= 0; k--)
        v = v << 8 | p[k];
    return v;
}

static void put_crc(uint8_t *at, const uint8_t *p, size_t n)
{
    uint32_t crc = (uint32_t)crc32(crc32(0, Z_NULL, 0), p, (uInt)n);
    for (int k = 0; k < 4; k++)
        at[k] = (uint8_t)(crc >> (8 * k));
}

/* Rewrite the header's and every section's CRC (layout: CHECKPOINTS.md) as
 * far as the section table holds together. */
static void fix_crcs(uint8_t *p, size_t n)
{
    if (n < GD_HEADER_SIZE)
        return;
    put_crc(p + 28, p, 28);
    for (size_t off = GD_HEADER_SIZE; n - off >= 12;) {
        uint64_t len = le(p + off + 4, 8);
        if (len > n - off - 12 || n - off - 12 - len < 4)
            return;
        put_crc(p + off + 12 + len, p + off, 12 + (size_t)len);
        off += 16 + (size_t)len;
    }
}

static void load_model(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy || model_fd < 0 || ftruncate(model_fd, 0) != 0) {
        free(copy);
        return;
    }
    if (size)
        memcpy(copy, data, size);
    fix_crcs(copy, size);
    if (!size || pwrite(model_fd, copy, size, 0) == (ssize_t)size) {
        gd_error err;
        gd_model_free(gd_model_load(reg, model_path, &err));
    }
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gd_error err;
    gd_checkpoint_free(gd_checkpoint_parse(reg, data, size, "fuzz", false, &err));
    gd_checkpoint_free(gd_checkpoint_parse(reg, data, size, "fuzz", true, &err));
    load_model(data, size);
    return 0;
}
