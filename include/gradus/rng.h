/*
 * gradus/rng.h: a counter-based random number generator.
 *
 * Draw i of a stream is a pure function of (key, i): SplitMix64's finalizer
 * applied to key + i * golden gamma. So a stream's whole state is two
 * integers (saved in checkpoints as they are), streams never share state,
 * and the numbers do not depend on threads or on the order in which other
 * streams are used. gd_rng_stream derives independent keys from a run seed
 * and a stream id (one per layer, one for batch order, ...).
 *
 * Everything here is static inline so plugins need not link libgradus.
 * Frozen by the ABI: gd_rng's layout (the core hands each layer its stream)
 * and the numbers a stream gives (checkpoints and reference values hold
 * them): a change here would change every saved run.
 */
#ifndef GRADUS_RNG_H
#define GRADUS_RNG_H

#include <math.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gd_rng {
    uint64_t key;      /* which stream */
    uint64_t counter;  /* how many 64-bit draws were taken */
} gd_rng;

static inline uint64_t gd_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Stream `id` of run `seed`. Different (seed, id) pairs give unrelated keys. */
static inline gd_rng gd_rng_stream(uint64_t seed, uint64_t id)
{
    gd_rng r;
    r.key = gd_mix64(gd_mix64(seed ^ 0x6a09e667f3bcc909ULL) ^ gd_mix64(id + 0x3c6ef372fe94f82bULL));
    r.counter = 0;
    return r;
}

static inline uint64_t gd_rng_u64(gd_rng *r)
{
    return gd_mix64(r->key + (r->counter++ + 1) * 0x9e3779b97f4a7c15ULL);
}

/* Uniform on [0, 1) with 53 random bits. */
static inline double gd_rng_uniform(gd_rng *r)
{
    return (double)(gd_rng_u64(r) >> 11) * 0x1.0p-53;
}

/* GCC and Clang's 128-bit integer; __extension__ keeps -pedantic quiet. */
__extension__ typedef unsigned __int128 gd_u128;

/* Uniform integer in [0, n), n >= 1, without modulo bias (Lemire's method). */
static inline uint64_t gd_rng_below(gd_rng *r, uint64_t n)
{
    uint64_t x = gd_rng_u64(r);
    gd_u128 m = (gd_u128)x * n;
    uint64_t lo = (uint64_t)m;
    if (lo < n) {
        uint64_t t = (0 - n) % n;
        while (lo < t) {
            x = gd_rng_u64(r);
            m = (gd_u128)x * n;
            lo = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

/* Standard normal by Box-Muller; uses two draws per value (no cached spare,
 * so the state stays two integers). */
static inline double gd_rng_normal(gd_rng *r)
{
    double u1 = 1.0 - gd_rng_uniform(r); /* (0, 1]: log is finite */
    double u2 = gd_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

#ifdef __cplusplus
}
#endif
#endif
