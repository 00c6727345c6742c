/*
 * cli/bench.h: the benchmark commands of the gradus CLI.
 */
#ifndef GRADUS_CLI_BENCH_H
#define GRADUS_CLI_BENCH_H

#include "registry.h"

/* `gradus bench mlp|optim|gemm [...]`; argv[0] names the benchmark; each
 * -l PLUGIN.so among the arguments is loaded into reg first. Returns the
 * exit status; prints figures on stdout, errors on stderr. */
int gd_cli_bench(gd_registry *reg, int argc, char **argv);

/* Heap allocations made by this process so far (malloc, calloc, realloc,
 * aligned allocations), counted by cli/alloc_count.c; -1 where counting is
 * compiled out (sanitizer builds, whose runtime owns malloc). */
long gd_bench_allocations(void);

/* FLOP/s of a register-only FMA loop on the widest vector unit, run for
 * ~min_seconds on the calling thread; *unit names the unit. 0 without FMA. */
double gd_bench_fma_peak(double min_seconds, const char **unit);
/* The same loop timed on the thread's CPU clock: the core's peak however
 * loaded the machine is (bench cnn). */
double gd_bench_fma_peak_cpu(double min_seconds, const char **unit);
/* FLOPs of one sample through the MLP 784-256-128-10 step's products. */
double gd_bench_step_flops(void);
/* Seconds per pass of that step's 8 sgemm calls at `batch`, through the
 * host's sgemm (backend and threads as set). */
double gd_bench_sgemm_seconds(int batch, double min_seconds);
/* `gradus bench cnn [...]` (bench_cnn.c) and its FLOPs per training sample. */
int gd_bench_cnn(const gd_registry *reg, int argc, char **argv);
double gd_bench_cnn_flops(void);
/* Shared by the benchmarks (bench.c): the median of v (sorted in place), a
 * comma list of positive integers (count, -1 when malformed), peak RSS, the
 * CPU's name, and each thread's CPU seconds printed on one line. */
double gd_bench_median(double *v, int n);
int gd_bench_parse_list(const char *s, long *out, int max);
long gd_bench_peak_rss_kib(void);
const char *gd_bench_cpu_name(char *buf, size_t len);
void gd_bench_print_threads(void);
/* `gradus bench gemm [--threads N]`. */
int gd_bench_gemm(int argc, char **argv);

#endif
