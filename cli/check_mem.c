/*
 * cli/check_mem.c: guarded buffers, fixed-seed numbers and the test
 * problems of the optimizer checks.
 *
 * Each buffer is its own mapping: [page][data pages][page]. The data sit at
 * the end of the middle pages (CK_GUARD_END, the last page made
 * inaccessible) or at their start (CK_GUARD_START, the first page), and
 * every byte around the data that stays accessible holds a canary, so a
 * write outside shows as damage and an access across a guard page as a
 * SIGSEGV. Only checks' children allocate here, and they exit without
 * freeing: the mappings go with the process.
 */
#include <math.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "check.h"

enum { MAX_BUFFERS = 512, CANARY = 0xA5 };

typedef struct buffer {
    unsigned char *lo, *hi;       /* accessible bytes of the mapping */
    unsigned char *data, *end;    /* the buffer within them */
} buffer;

static buffer buffers[MAX_BUFFERS];
static int nbuffers;
ck_guard ck_guard_mode = CK_PAD;

static void *guarded(size_t bytes)
{
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
    const size_t mid = (bytes + page - 1) / page * page + (bytes ? 0 : page);
    if (nbuffers == MAX_BUFFERS)
        return NULL;
    unsigned char *m = mmap(NULL, mid + 2 * page, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return NULL;
    buffer *b = &buffers[nbuffers++];
    b->lo = m;
    b->hi = m + mid + 2 * page;
    if (ck_guard_mode == CK_GUARD_END) {
        mprotect(m + page + mid, page, PROT_NONE);
        b->hi = m + page + mid;
        b->data = b->hi - bytes;
    } else if (ck_guard_mode == CK_GUARD_START) {
        mprotect(m, page, PROT_NONE);
        b->lo = m + page;
        b->data = b->lo;
    } else {
        b->data = m + page;
    }
    b->end = b->data + bytes;
    memset(b->lo, CANARY, (size_t)(b->data - b->lo));
    memset(b->data, 0, bytes);
    memset(b->end, CANARY, (size_t)(b->hi - b->end));
    return b->data;
}

float *ck_floats(int64_t n)
{
    return guarded((size_t)(n > 0 ? n : 0) * sizeof(float));
}

double *ck_doubles(int64_t n)
{
    return guarded((size_t)(n > 0 ? n : 0) * sizeof(double));
}

int ck_damaged(void)
{
    for (int i = 0; i < nbuffers; i++) {
        const buffer *b = &buffers[i];
        for (const unsigned char *p = b->lo; p < b->hi; p++)
            if ((p < b->data || p >= b->end) && *p != CANARY)
                return i;
    }
    return -1;
}

gd_rng ck_rng(uint64_t id)
{
    return gd_rng_stream(0x6772616475735ULL, id);
}

void ck_fill_normal(float *x, int64_t n, gd_rng *r, double scale)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)(scale * gd_rng_normal(r));
}

int ck_all_finite(const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return 0;
    return 1;
}

/* f = z'Az/2, A tridiagonal with 1 + i%8 on the diagonal and 0.4 beside:
 * diagonally dominant, so positive definite; minimum 0 at z = 0. */
double ck_quadratic(const float *z, float *g, int64_t n)
{
    double f = 0;
    for (int64_t i = 0; i < n; i++) {
        double ax = (1.0 + (double)(i % 8)) * z[i];
        if (i > 0) ax += 0.4 * z[i - 1];
        if (i < n - 1) ax += 0.4 * z[i + 1];
        g[i] = (float)ax;
        f += 0.5 * z[i] * ax;
    }
    return f;
}

/* f = (1-x)^2 + 100(y-x^2)^2 (../shared/reference/optimizers.lua). */
double ck_rosenbrock(const float *z, float *g)
{
    double x = z[0], y = z[1];
    g[0] = (float)(-2 * (1 - x) - 400 * x * (y - x * x));
    g[1] = (float)(200 * (y - x * x));
    return (1 - x) * (1 - x) + 100 * (y - x * x) * (y - x * x);
}

const float ck_quad_x0[8] = { 1, -0.5f, 0.8f, -1, 0.3f, 0.6f, -0.7f, 0.9f };
/* The reference's start for every Rosenbrock case. */
const float ck_rosen_x0[2] = { -1.2f, 1 };
