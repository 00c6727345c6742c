/*
 * cli/check.h: `gradus check` and `gradus new`, and what the conformance
 * checks of each kind share (cli/check*.c).
 *
 * A check is a function run in a child process (so a crash or a hang in the
 * plugin is a failed check, not a crashed gradus): it returns 1 to pass or
 * 0 to fail and leaves a one-line detail in k->msg either way.
 */
#ifndef GRADUS_CLI_CHECK_H
#define GRADUS_CLI_CHECK_H

#include "registry.h"

/* `gradus check [--timeout S] PLUGIN.so...` and `gradus new KIND NAME`;
 * argv holds what follows the command. Return the exit status. */
int gd_cli_check(int argc, char **argv);
int gd_cli_new(int argc, char **argv);

typedef struct ck_ctx {
    const gd_registry *reg;
    const gd_component *c;
    const gd_spec *spec;      /* the component with its defaults (required ones filled) */
    int need_spec;            /* the check needs spec: fail when it cannot be built */
    char msg[400];
} ck_ctx;

typedef int (*ck_fn)(ck_ctx *k);

typedef struct ck_check {
    const char *name;
    ck_fn fn;
} ck_check;

/* Each kind's checks (cli/check_optim.c, check_tensor.c for tensor-aware
 * optimizers (ABI 1.1), check_layer.c, check_loss.c, check_misc.c). */
extern const ck_check ck_tensor_checks[];
extern const int ck_ntensor_checks;
extern const ck_check ck_optimizer_checks[], ck_layer_checks[], ck_loss_checks[],
    ck_scheduler_checks[], ck_regularizer_checks[], ck_initializer_checks[];
extern const int ck_noptimizer_checks, ck_nlayer_checks, ck_nloss_checks, ck_nscheduler_checks,
    ck_nregularizer_checks, ck_ninitializer_checks;

/* Write the detail and return 0 (fail) or 1 (pass). */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
int ck_fail(ck_ctx *k, const char *fmt, ...);
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
int ck_pass(ck_ctx *k, const char *fmt, ...);

/* Memory the plugin is handed. Every buffer sits in its own mapping with
 * canary bytes around it; CK_GUARD_END puts an inaccessible page right
 * after the last float, CK_GUARD_START one right before the first, so a
 * read or write past either end is a SIGSEGV. Buffers live until the
 * child exits. */
typedef enum ck_guard { CK_PAD, CK_GUARD_END, CK_GUARD_START } ck_guard;
extern ck_guard ck_guard_mode;   /* what ck_floats gives; CK_PAD by default */
float *ck_floats(int64_t n);
double *ck_doubles(int64_t n);
/* The first buffer whose canaries were overwritten (its index from 0, in
 * allocation order), or -1. */
int ck_damaged(void);

/* Deterministic numbers for the checks: a fixed-seed stream per purpose. */
gd_rng ck_rng(uint64_t id);
void ck_fill_normal(float *x, int64_t n, gd_rng *r, double scale);
int ck_all_finite(const float *x, int64_t n);

/* The optimizer checks' problems: f at z, its gradient into g. Starts:
 * ck_quad_x0 (cycled), and the reference's Rosenbrock start (-1.2, 1). */
double ck_quadratic(const float *z, float *g, int64_t n);
double ck_rosenbrock(const float *z, float *g);
extern const float ck_quad_x0[8], ck_rosen_x0[2];

/* Index of option `name` in the component's schema, or -1. */
int ck_option(const gd_component *c, const char *name);

#endif
