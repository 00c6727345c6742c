/*
 * cli/alloc_count.c: count heap allocations for `gradus bench`.
 *
 * The executable's malloc family wins over glibc's for every shared object
 * it loads (libgradus, plugins, OpenBLAS), so counting here sees the whole
 * process. Each call adds one relaxed atomic increment and forwards to
 * glibc's own entry points. Sanitizer builds interpose malloc themselves,
 * so there the counter is compiled out.
 */
#include <stddef.h>

#include "bench.h"

#if defined(GD_COUNT_ALLOCATIONS)

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static long count;

#define COUNT() __atomic_fetch_add(&count, 1, __ATOMIC_RELAXED)

void *malloc(size_t n) { COUNT(); return __libc_malloc(n); }
void *calloc(size_t n, size_t m) { COUNT(); return __libc_calloc(n, m); }
void *realloc(void *p, size_t n) { COUNT(); return __libc_realloc(p, n); }
void *aligned_alloc(size_t a, size_t n) { COUNT(); return __libc_memalign(a, n); }
void *memalign(size_t a, size_t n) { COUNT(); return __libc_memalign(a, n); }

int posix_memalign(void **p, size_t a, size_t n)
{
    COUNT();
    *p = __libc_memalign(a, n);
    return *p ? 0 : 12; /* ENOMEM */
}

long gd_bench_allocations(void)
{
    return __atomic_load_n(&count, __ATOMIC_RELAXED);
}

#else

long gd_bench_allocations(void)
{
    return -1;
}

#endif
