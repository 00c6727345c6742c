/*
 * gradus/options.h: declarative option schemas and the checked values the
 * core hands to a plugin.
 *
 * A component declares its options as a static const array of gd_option_spec
 * (like LADSPA port hints). The core validates whatever the user wrote against
 * it (unknown name, wrong type, out of range, missing, unknown enum value) and
 * builds a gd_options whose v[i] holds option i of the schema, typed and in
 * range. A plugin reads values by index and never parses anything:
 *
 *     enum { LR, GAMMA };
 *     static const gd_option_spec options[] = {
 *         GD_OPT_NUMBER_MIN("lr", 0.01, 0, "learning rate"),
 *         GD_OPT_NUMBER_RANGE("gamma", 0.9, 0, 1, GD_OPT_MAX_OPEN, "momentum coefficient"),
 *     };
 *     double lr = gd_opt_num(opts, LR);
 */
#ifndef GRADUS_OPTIONS_H
#define GRADUS_OPTIONS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Component kinds. Values frozen by the ABI: append only. */
typedef enum gd_kind {
    GD_KIND_LAYER = 1,
    GD_KIND_LOSS,
    GD_KIND_OPTIMIZER,
    GD_KIND_SCHEDULER,
    GD_KIND_REGULARIZER,
    GD_KIND_INITIALIZER
} gd_kind;

/* Not frozen: grows when a kind is appended. */
#define GD_KIND_COUNT 6

/* Values frozen by the ABI: append only. */
typedef enum gd_option_type {
    GD_OPT_NUMBER = 1,  /* double */
    GD_OPT_INTEGER,     /* int64; a float with an integral value is accepted */
    GD_OPT_BOOLEAN,
    GD_OPT_ENUM,        /* one of `choices`; the value is its index */
    GD_OPT_STRING,
    GD_OPT_COMPONENT,   /* a spec of kind `kind` (or its name, with default options) */
    /* Added in ABI 1.2: an integer or a list of 1..4 integers ({ 3, 5 }), each
     * within min/max, or one of `choices` (may be NULL) given as a string. The
     * value is the canonical text ("3", "3,5", "same") in u.s; read it with
     * gd_opt_ints. Conv kernels, paddings and reshape targets are such. */
    GD_OPT_INTS
} gd_option_type;

/* gd_option_spec.flags. Bit values frozen by the ABI: append only. */
enum {
    GD_OPT_REQUIRED = 1 << 0, /* the user must give it; no default */
    GD_OPT_OPTIONAL = 1 << 1, /* may be absent (v.present == 0); no default */
    GD_OPT_HAS_MIN  = 1 << 2,
    GD_OPT_HAS_MAX  = 1 << 3,
    GD_OPT_MIN_OPEN = 1 << 4, /* min itself is not allowed */
    GD_OPT_MAX_OPEN = 1 << 5  /* max itself is not allowed */
};

/* One option of a component's schema. Layout frozen by the ABI: a plugin's
 * array of these is read with the sizeof it was built with, and there is
 * no size field (unlike the vtables) to tell a longer one from a shorter,
 * so within major 1 no member can be added (ABI 1.1 widened only what
 * def_str may hold, and 1.2 added a new type, GD_OPT_INTS). A kind of
 * option that needs more is a new gd_option_type reusing these members. */
typedef struct gd_option_spec {
    const char *name;
    gd_option_type type;
    unsigned flags;
    /* Default: number, integer, boolean (0/1). */
    double def;
    /* Default for string, enum (the choice's name) and component (a
     * component name, built with its own defaults; from ABI 1.1 also a name
     * with numeric or true/false options, "adam{lr=3e-4}"). */
    const char *def_str;
    double min, max;             /* with GD_OPT_HAS_MIN / GD_OPT_HAS_MAX */
    const char *const *choices;  /* enum: NULL-terminated */
    gd_kind kind;                /* component: the kind expected */
    const char *doc;             /* one line, shown by `gradus doc` */
} gd_option_spec;

typedef struct gd_spec gd_spec;

/* One checked value. Which member is valid follows the schema's type. */
typedef struct gd_value {
    int present;  /* 0 only for an absent GD_OPT_OPTIONAL option */
    union {
        double num;          /* NUMBER */
        int64_t i;           /* INTEGER */
        int b;               /* BOOLEAN: 0 or 1 */
        int e;               /* ENUM: index into choices */
        const char *s;       /* STRING, INTS: owned by the core */
        const gd_spec *spec; /* COMPONENT: owned by the core */
    } u;
} gd_value;

/* Values in schema order. Owned by the core, valid while the component's
 * instance (or the spec) lives. */
typedef struct gd_options {
    int n;
    gd_value v[];
} gd_options;

struct gd_component;

/* A validated component spec: a component and its options. Built by the
 * core; a plugin sees one as the value of a COMPONENT option (warmup's
 * `after`, dense's `init`) and may call the component through it. */
struct gd_spec {
    const struct gd_component *component;
    const gd_options *options;
};

static inline double gd_opt_num(const gd_options *o, int i) { return o->v[i].u.num; }
static inline int64_t gd_opt_int(const gd_options *o, int i) { return o->v[i].u.i; }
static inline int gd_opt_bool(const gd_options *o, int i) { return o->v[i].u.b; }
static inline int gd_opt_enum(const gd_options *o, int i) { return o->v[i].u.e; }
static inline const char *gd_opt_str(const gd_options *o, int i) { return o->v[i].u.s; }
static inline const gd_spec *gd_opt_spec(const gd_options *o, int i) { return o->v[i].u.spec; }
static inline int gd_opt_present(const gd_options *o, int i) { return o->v[i].present; }

/* A GD_OPT_INTS value: the integers into v[0..*n-1] (at most 4), returning
 * -1; or, when the user gave one of the option's choices, that choice's
 * index (then *n is 0). The core has checked the text, so this only reads
 * it. */
static inline int gd_opt_ints(const gd_options *o, int i, const char *const *choices,
                              int64_t v[4], int *n)
{
    const char *p = o->v[i].u.s;
    *n = 0;
    if (choices)
        for (int k = 0; choices[k]; k++) {
            const char *a = choices[k], *b = p;
            while (*a && *a == *b) { a++; b++; }
            if (!*a && !*b)
                return k;
        }
    while (*p && *n < 4) {
        int64_t x = 0, sign = 1;
        if (*p == '-') { sign = -1; p++; }
        while (*p >= '0' && *p <= '9')
            x = x * 10 + (*p++ - '0');
        v[(*n)++] = sign * x;
        if (*p == ',')
            p++;
        else
            break;
    }
    return -1;
}

/* Schema shorthands. Each expands to one gd_option_spec initializer. */
#define GD_OPT_NUMBER_ANY(nm, d, dc) \
    { .name = (nm), .type = GD_OPT_NUMBER, .def = (d), .doc = (dc) }
#define GD_OPT_NUMBER_MIN(nm, d, lo, dc) \
    { .name = (nm), .type = GD_OPT_NUMBER, .flags = GD_OPT_HAS_MIN, .def = (d), .min = (lo), .doc = (dc) }
/* An open minimum: the value must be > lo (an eps, a threshold). */
#define GD_OPT_NUMBER_ABOVE(nm, d, lo, dc)                                           \
    { .name = (nm), .type = GD_OPT_NUMBER, .flags = GD_OPT_HAS_MIN | GD_OPT_MIN_OPEN, \
      .def = (d), .min = (lo), .doc = (dc) }
#define GD_OPT_NUMBER_RANGE(nm, d, lo, hi, fl, dc)                                          \
    { .name = (nm), .type = GD_OPT_NUMBER, .flags = GD_OPT_HAS_MIN | GD_OPT_HAS_MAX | (fl), \
      .def = (d), .min = (lo), .max = (hi), .doc = (dc) }
#define GD_OPT_INTEGER_MIN(nm, d, lo, dc) \
    { .name = (nm), .type = GD_OPT_INTEGER, .flags = GD_OPT_HAS_MIN, .def = (d), .min = (lo), .doc = (dc) }
#define GD_OPT_BOOL(nm, d, dc) \
    { .name = (nm), .type = GD_OPT_BOOLEAN, .def = (d), .doc = (dc) }
#define GD_OPT_CHOICE(nm, dflt, ch, dc) \
    { .name = (nm), .type = GD_OPT_ENUM, .def_str = (dflt), .choices = (ch), .doc = (dc) }
/* Integers >= lo, or one of ch (NULL-terminated, may be NULL); dflt a text
 * such as "0", "same" or NULL with GD_OPT_REQUIRED in fl. */
#define GD_OPT_INTS_MIN(nm, dflt, lo, ch, fl, dc)                                      \
    { .name = (nm), .type = GD_OPT_INTS, .flags = GD_OPT_HAS_MIN | (fl), .def_str = (dflt), \
      .min = (lo), .choices = (ch), .doc = (dc) }
#define GD_OPT_COMPONENT_OF(nm, k, dflt, dc) \
    { .name = (nm), .type = GD_OPT_COMPONENT, .kind = (k), .def_str = (dflt), .doc = (dc) }

#ifdef __cplusplus
}
#endif
#endif
