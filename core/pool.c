/*
 * core/pool.c: the one thread pool of the process.
 *
 * gd_pool_run(fn, arg) runs fn(arg, k, n) for k = 0..n-1 on n threads (the
 * caller is part 0) and returns when all are done. Work is split by the
 * caller into fixed contiguous parts, so which thread computes what never
 * depends on timing: the same thread count gives the same numbers.
 *
 * Why not OpenBLAS's own threads: measured on the MLP benchmark, its
 * level-3 threading mallocs a job array on every threaded call (5 to 8 heap
 * allocations per training step at 2 threads, breaking the no-allocation
 * rule) and leaves the optimizer pass and the batch gather serial. Here
 * OpenBLAS runs single-threaded inside each part, and no second pool spins.
 *
 * Workers spin briefly after a job (the next sgemm of a step follows within
 * microseconds), then sleep on a condition variable, so an idle process
 * does not burn a core. Every spin loop yields the processor now and then:
 * when another process holds a core, a thread spinning for a descheduled
 * partner would otherwise burn whole time slices (measured: an epoch of
 * the quickstart went from 0.7 s to 28 s beside one busy process).
 */
#include "pool.h"

#include <pthread.h>
#include <signal.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <gradus/plugin.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

enum {
    SPIN_ROUNDS = 200000,        /* ~0.1-1 ms of pause instructions */
    YIELD_EVERY = 256,           /* pauses between two sched_yield() */
};

/* One round of waiting: a pause, and every YIELD_EVERY rounds a yield. */
static inline void relax(int round)
{
    if (round % YIELD_EVERY == YIELD_EVERY - 1)
        sched_yield();
    else
        CPU_RELAX();
}

typedef struct pool {
    int n;                       /* threads including the caller */
    pthread_t *threads;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    atomic_uint generation;      /* bumped for each job */
    atomic_int done;             /* workers finished with the current job */
    atomic_bool stop;
    gd_pool_fn fn;               /* the current job, written before generation */
    void *arg;
    unsigned start_generation;   /* generation when the workers were made */
} pool;

static pool P = { .n = 1, .lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER };

/* Set while this thread runs a part of a job: a job that asks for the pool
 * again (a tensor's optimizer step calling the host's sgemm) runs inline. */
static _Thread_local bool in_job;

static void *worker(void *p)
{
    int id = (int)(intptr_t)p;
    /* Not the current generation: a job may have been posted before this
     * thread first ran, and it must not be skipped. */
    unsigned seen = P.start_generation;
    for (;;) {
        unsigned g;
        int spins = 0;
        while ((g = atomic_load_explicit(&P.generation, memory_order_acquire)) == seen &&
               !atomic_load_explicit(&P.stop, memory_order_relaxed) && spins < SPIN_ROUNDS) {
            relax(spins);
            spins++;
        }
        if (g == seen && !atomic_load(&P.stop)) {
            pthread_mutex_lock(&P.lock);
            while ((g = atomic_load(&P.generation)) == seen && !atomic_load(&P.stop))
                pthread_cond_wait(&P.wake, &P.lock);
            pthread_mutex_unlock(&P.lock);
        }
        if (atomic_load(&P.stop))
            return NULL;
        seen = g;
        in_job = true;
        P.fn(P.arg, id, P.n);
        in_job = false;
        atomic_fetch_add_explicit(&P.done, 1, memory_order_release);
    }
}

static void stop_workers(void)
{
    if (P.n <= 1)
        return;
    pthread_mutex_lock(&P.lock);
    atomic_store(&P.stop, true);
    pthread_cond_broadcast(&P.wake);
    pthread_mutex_unlock(&P.lock);
    for (int i = 1; i < P.n; i++)
        pthread_join(P.threads[i - 1], NULL);
    free(P.threads);
    P.threads = NULL;
    P.n = 1;
    atomic_store(&P.stop, false);
}

int gd_pool_resize(int n)
{
    if (n < 1)
        n = 1;
    if (n == P.n)
        return n;
    stop_workers();
    if (n == 1)
        return 1;
    P.threads = calloc((size_t)n - 1, sizeof *P.threads);
    if (!P.threads)
        return P.n;
    P.n = n;
    P.start_generation = atomic_load(&P.generation);  /* pthread_create publishes it */
    /* Workers start with SIGINT and SIGTERM blocked (a thread inherits its
     * creator's mask), so that those signals reach the main thread, whose
     * handler has a stack of its own (lua/lcheckpoint.c says why). */
    sigset_t stop_signals, old;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, &old);
    for (int i = 1; i < n; i++) {
        if (pthread_create(&P.threads[i - 1], NULL, worker, (void *)(intptr_t)i) != 0) {
            /* Fewer threads than asked: keep those that started. */
            P.n = i;
            break;
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return P.n;
}

int gd_pool_size(void)
{
    return P.n;
}

bool gd_pool_in_job(void)
{
    return in_job;
}

void gd_pool_run(gd_pool_fn fn, void *arg)
{
    if (P.n <= 1 || in_job) {
        fn(arg, 0, 1);
        return;
    }
    P.fn = fn;
    P.arg = arg;
    atomic_store_explicit(&P.done, 0, memory_order_relaxed);
    pthread_mutex_lock(&P.lock);
    atomic_fetch_add_explicit(&P.generation, 1, memory_order_release);
    pthread_cond_broadcast(&P.wake);
    pthread_mutex_unlock(&P.lock);
    in_job = true;
    fn(arg, 0, P.n);
    in_job = false;
    for (int round = 0; atomic_load_explicit(&P.done, memory_order_acquire) < P.n - 1; round++)
        relax(round);
}

/* Below this a copy is not worth waking a worker (a wake and a wait cost
 * microseconds; 256 KB is ~10 us of copying). */
#define PARALLEL_COPY_MIN ((size_t)1 << 18)

typedef struct copy_job {
    char *dst;
    const char *src;
    size_t bytes;
} copy_job;

static void copy_part(void *arg, int part, int nparts)
{
    const copy_job *j = arg;
    int64_t lo, hi;
    gd_part_range((int64_t)j->bytes, 64, part, nparts, &lo, &hi);
    if (hi > lo)
        memcpy(j->dst + lo, j->src + lo, (size_t)(hi - lo));
}

void gd_pool_memcpy(void *dst, const void *src, size_t bytes)
{
    copy_job j = { dst, src, bytes };
    if (bytes < PARALLEL_COPY_MIN || P.n <= 1)
        copy_part(&j, 0, 1);
    else
        gd_pool_run(copy_part, &j);
}
