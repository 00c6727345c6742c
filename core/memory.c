/*
 * core/memory.c: memory estimates against the process's limits (memory.h).
 */
#include "memory.h"

#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

int64_t gd_memory_total(const gd_memory_estimate *e)
{
    return e->params + e->grads + e->buffers + e->optimizer + e->activations + e->workspace;
}

const char *gd_memory_format(int64_t bytes, char *buf, size_t len)
{
    static const char *const units[] = { "kB", "MB", "GB", "TB", "PB" };
    if (bytes < 1000) {
        snprintf(buf, len, "%lld bytes", (long long)bytes);
        return buf;
    }
    double v = (double)bytes / 1000;
    int u = 0;
    while (v >= 1000 && u < 4) {
        v /= 1000;
        u++;
    }
    snprintf(buf, len, v < 10 ? "%.1f %s" : "%.0f %s", v, units[u]);
    return buf;
}

/* The first number in a file, or -1 (absent, "max", unreadable). */
static int64_t read_number(const char *path)
{
    FILE *f = fopen(path, "r");
    long long v = -1;
    if (f) {
        if (fscanf(f, "%lld", &v) != 1)
            v = -1;
        fclose(f);
    }
    return v;
}

/* A "Key:  N kB" line of /proc/meminfo, in bytes, or -1. */
static int64_t meminfo(const char *key)
{
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    int64_t v = -1;
    size_t klen = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
            long long kb;
            if (sscanf(line + klen + 1, "%lld", &kb) == 1)
                v = (int64_t)kb * 1024;
            break;
        }
    if (f)
        fclose(f);
    return v;
}

typedef struct headroom {
    int64_t bytes;   /* INT64_MAX: no limit found */
    char what[160];
} headroom;

static void consider(headroom *h, int64_t left, int64_t limit, const char *name)
{
    char b[32];
    if (left < 0)
        left = 0;
    if (left < h->bytes) {
        h->bytes = left;
        snprintf(h->what, sizeof h->what, "%s of %s", name, gd_memory_format(limit, b, sizeof b));
    }
}

/* cgroup v2: memory.max less memory.current at every level of the path. */
static void cgroup_v2(headroom *h, const char *rel)
{
    char dir[512];
    snprintf(dir, sizeof dir, "/sys/fs/cgroup%s", strcmp(rel, "/") == 0 ? "" : rel);
    for (;;) {
        char p[600];
        snprintf(p, sizeof p, "%s/memory.max", dir);
        int64_t max = read_number(p);
        snprintf(p, sizeof p, "%s/memory.current", dir);
        int64_t cur = read_number(p);
        if (max > 0 && cur >= 0)
            consider(h, max - cur, max, "the cgroup memory limit");
        char *slash = strrchr(dir, '/');
        if (!slash || slash == dir || strcmp(dir, "/sys/fs/cgroup") == 0)
            break;
        *slash = 0;
    }
}

static void cgroups(headroom *h)
{
    FILE *f = fopen("/proc/self/cgroup", "r");
    char line[1024];
    while (f && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c2 = 0;
        const char *controllers = c1 + 1, *path = c2 + 1;
        if (!*controllers) {
            cgroup_v2(h, path);
        } else if (strstr(controllers, "memory")) {
            char p[1100];
            snprintf(p, sizeof p, "/sys/fs/cgroup/memory%s/memory.limit_in_bytes", path);
            int64_t max = read_number(p);
            snprintf(p, sizeof p, "/sys/fs/cgroup/memory%s/memory.usage_in_bytes", path);
            int64_t cur = read_number(p);
            if (max > 0 && max < ((int64_t)1 << 60) && cur >= 0)
                consider(h, max - cur, max, "the cgroup memory limit");
        }
    }
    if (f)
        fclose(f);
}

int64_t gd_memory_headroom(char *what, size_t len)
{
    headroom h = { INT64_MAX, "no limit" };
    cgroups(&h);
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        long long pages = 0;
        FILE *f = fopen("/proc/self/statm", "r");
        if (f) {
            if (fscanf(f, "%lld", &pages) != 1)
                pages = 0;
            fclose(f);
        }
        int64_t used = (int64_t)pages * sysconf(_SC_PAGESIZE);
        consider(&h, (int64_t)rl.rlim_cur - used, (int64_t)rl.rlim_cur,
                 "the address-space limit (RLIMIT_AS, ulimit -v)");
    }
    int64_t avail = meminfo("MemAvailable"), swap = meminfo("SwapFree");
    if (avail >= 0)
        consider(&h, avail + (swap > 0 ? swap : 0), avail + (swap > 0 ? swap : 0),
                 "the memory available on this machine (free swap included)");
    snprintf(what, len, "%s", h.what);
    return h.bytes;
}

gd_status gd_memory_check(const char *who, const gd_memory_estimate *e, int64_t pending,
                          gd_error *err)
{
    char what[160];
    int64_t left = gd_memory_headroom(what, sizeof what);
    if (pending <= left)
        return GD_OK;
    const struct { const char *name; int64_t bytes; } parts[] = {
        { "parameters", e->params },   { "gradients", e->grads },
        { "buffers", e->buffers },     { "optimizer state", e->optimizer },
        { "activations", e->activations }, { "workspace", e->workspace },
    };
    char list[300] = "", b[32];
    size_t used = 0;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0] && used < sizeof list; i++)
        if (parts[i].bytes > 0)
            used += (size_t)snprintf(list + used, sizeof list - used, "%s%s %s",
                                     used ? ", " : "", parts[i].name,
                                     gd_memory_format(parts[i].bytes, b, sizeof b));
    char total[32], room[32];
    return gd_fail(err, GD_ENOMEM, "%s: needs about %s (%s), more than this process may "
                   "still allocate (%s, under %s); use a smaller model or batch", who,
                   gd_memory_format(gd_memory_total(e), total, sizeof total), list,
                   gd_memory_format(left, room, sizeof room), what);
}
