/*
 * core/clock.h: the one monotonic clock every timing in gradus reads
 * (step timing, bench, MPI wait time). Inline: it is called inside the
 * timed step, and a call into the library would be timed with it.
 */
#ifndef GRADUS_CORE_CLOCK_H
#define GRADUS_CORE_CLOCK_H

#include <time.h>

/* Seconds since an arbitrary fixed point; never goes back. */
static inline double gd_clock_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#endif
