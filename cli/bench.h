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

/* The FMA peak (cli/bench_fma.c): a register-only loop of independent FMA
 * chains on the widest vector unit, on the calling thread. A sample is
 * GD_PEAK_SAMPLE_SECONDS long; the peak is the best sample after a warm-up
 * that brings the core to the clock it holds under load. */
#define GD_PEAK_SAMPLE_SECONDS 0.2
#define GD_PEAK_WARMUP_SECONDS 0.5
/* FLOP/s of one sample of ~seconds; *unit names the vector unit. 0 without FMA. */
double gd_bench_fma_sample(double seconds, const char **unit);
/* The best of `samples` samples after warmup seconds of the loop. */
double gd_bench_fma_peak(double warmup, int samples);
/* "zmm (AVX-512F)", "ymm (AVX2 + FMA)" or "none (no FMA unit)". */
const char *gd_bench_fma_unit(void);
/* How gd_bench_fma_peak measures, in words, for the benchmarks' headers. */
const char *gd_bench_fma_method(void);
/* `gradus bench peak [...]`: the same loop alone, every sample printed. */
int gd_bench_peak(int argc, char **argv);
/* FLOPs of one sample through the MLP 784-256-128-10 step's products. */
double gd_bench_step_flops(void);
/* Seconds per pass of that step's 8 sgemm calls at `batch`, through the
 * host's sgemm (backend and threads as set), by the process's CPU time
 * over the threads. */
double gd_bench_sgemm_seconds(int batch, double min_seconds);
/* The benchmark's MLP 784-256-128-10 (ReLU fused into the dense layers). */
struct gd_model;
struct gd_model *gd_bench_make_mlp(const gd_registry *reg, uint64_t seed, gd_error *err);
/* `gradus bench probes [...]` (bench_probes.c). */
int gd_bench_probes(const gd_registry *reg, int argc, char **argv);
/* `gradus bench transformer [...]` (bench_transformer.c). */
int gd_bench_transformer(const gd_registry *reg, int argc, char **argv);
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
