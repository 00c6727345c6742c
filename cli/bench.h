/*
 * cli/bench.h: the benchmark commands of the gradus CLI.
 */
#ifndef GRADUS_CLI_BENCH_H
#define GRADUS_CLI_BENCH_H

#include "registry.h"

/* `gradus bench mlp|optim [...]`; argv[0] is "mlp" or "optim". Returns the
 * exit status; prints figures on stdout, errors on stderr. */
int gd_cli_bench(const gd_registry *reg, int argc, char **argv);

/* Heap allocations made by this process so far (malloc, calloc, realloc,
 * aligned allocations), counted by cli/alloc_count.c; -1 where counting is
 * compiled out (sanitizer builds, whose runtime owns malloc). */
long gd_bench_allocations(void);

#endif
