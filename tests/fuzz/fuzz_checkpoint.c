/*
 * tests/fuzz/fuzz_checkpoint.c: libFuzzer target for the file readers.
 *
 * Every input goes through:
 *   - gd_checkpoint_parse with verify_crc = false, so mutated bytes reach the
 *     section decoders behind the CRCs (binio.c, checkpoint.c, model_io.c);
 *   - gd_checkpoint_parse with verify_crc = true, the path real loads take;
 *   - gd_model_load, through a memfd, so model files (their magic, version
 *     and section lookup) are covered by the same run. It always checks CRCs,
 *     so its decoders are reached only by the first call's META and MODL.
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
#include <sys/mman.h>
#include <unistd.h>

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
    return 0;
}

static void load_model(const uint8_t *data, size_t size)
{
    if (model_fd < 0 || ftruncate(model_fd, 0) != 0)
        return;
    if (size && pwrite(model_fd, data, size, 0) != (ssize_t)size)
        return;
    gd_error err;
    gd_model_free(gd_model_load(reg, model_path, &err));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gd_error err;
    gd_checkpoint_free(gd_checkpoint_parse(reg, data, size, "fuzz", false, &err));
    gd_checkpoint_free(gd_checkpoint_parse(reg, data, size, "fuzz", true, &err));
    load_model(data, size);
    return 0;
}
