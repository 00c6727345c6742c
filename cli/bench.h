/*
 * cli/bench.h: the benchmark commands of the gradus CLI.
 */
#ifndef GRADUS_CLI_BENCH_H
#define GRADUS_CLI_BENCH_H

#include "registry.h"

/* `gradus bench mlp|optim|gemm [...]`; argv[0] names the benchmark. Returns the
 * exit status; prints figures on stdout, errors on stderr. */
int gd_cli_bench(const gd_registry *reg, int argc, char **argv);

/* Heap allocations made by this process so far (malloc, calloc, realloc,
 * aligned allocations), counted by cli/alloc_count.c; -1 where counting is
 * compiled out (sanitizer builds, whose runtime owns malloc). */
long gd_bench_allocations(void);

/* FLOP/s of a register-only FMA loop on the widest vector unit, run for
 * ~min_seconds on the calling thread; *unit names the unit. 0 without FMA. */
double gd_bench_fma_peak(double min_seconds, const char **unit);
/* FLOPs of one sample through the MLP 784-256-128-10 step's products. */
double gd_bench_step_flops(void);
/* Seconds per pass of that step's 8 sgemm calls at `batch`, through the
 * host's sgemm (backend and threads as set). */
double gd_bench_sgemm_seconds(int batch, double min_seconds);
/* `gradus bench transformer [...]` (bench_transformer.c). */
int gd_bench_transformer(const gd_registry *reg, int argc, char **argv);
/* `gradus bench gemm [--threads N]`. */
int gd_bench_gemm(int argc, char **argv);

#endif
