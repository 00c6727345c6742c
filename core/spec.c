/*
 * core/spec.c: validating options against a component's schema.
 *
 * Every message names the component, the option and what is allowed, so a
 * user never has to read a plugin's source to fix a spec.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spec.h"

#include "component.h"
#include "registry.h"

typedef struct spec_impl {
    gd_spec pub;             /* first: a gd_spec * is a spec_impl * */
    const gd_registry *reg;
    gd_options *opts;
    unsigned char *set;      /* which options the user gave */
    int ngroups;             /* optimizers: parameter groups (gd_spec_add_group) */
    struct spec_group *groups;
} spec_impl;

typedef struct spec_group {
    int role;                /* gd_param_role, or 0: any */
    char *layer;             /* a layer name, or NULL: any */
    gd_spec *spec;           /* the optimizer's options with the group's overrides */
} spec_group;

static const char *const unit_choices[] = { "step", "epoch", NULL };
static const char *const to_choices[] = { "weights", "all", NULL };

static const gd_option_spec scheduler_common[] = {
    GD_OPT_CHOICE("unit", "step", unit_choices,
                  "what t counts: updates (step) or completed epochs (epoch)"),
};
static const gd_option_spec regularizer_common[] = {
    GD_OPT_CHOICE("to", "weights", to_choices,
                  "which parameters: weights only, or all (biases, scales, shifts too)"),
};

int gd_common_option_count(gd_kind kind)
{
    return kind == GD_KIND_SCHEDULER ? GD_COUNT(scheduler_common)
         : kind == GD_KIND_REGULARIZER ? GD_COUNT(regularizer_common) : 0;
}

const gd_option_spec *gd_common_options(gd_kind kind)
{
    return kind == GD_KIND_SCHEDULER ? scheduler_common
         : kind == GD_KIND_REGULARIZER ? regularizer_common : NULL;
}

int gd_spec_option_count(const gd_component *c)
{
    return c->noptions + gd_common_option_count(c->kind);
}

const gd_option_spec *gd_spec_option(const gd_component *c, int i)
{
    if (i < c->noptions)
        return &c->options[i];
    return &gd_common_options(c->kind)[i - c->noptions];
}

int gd_spec_option_index(const gd_component *c, const char *name)
{
    int n = gd_spec_option_count(c);
    for (int i = 0; i < n; i++)
        if (strcmp(gd_spec_option(c, i)->name, name) == 0)
            return i;
    return -1;
}

static int enum_index(const gd_option_spec *o, const char *s)
{
    for (int k = 0; o->choices[k]; k++)
        if (strcmp(o->choices[k], s) == 0)
            return k;
    return -1;
}

static void free_value(const gd_option_spec *o, gd_value *v)
{
    if (!v->present)
        return;
    if (o->type == GD_OPT_STRING || o->type == GD_OPT_INTS)
        free((char *)v->u.s);
    else if (o->type == GD_OPT_COMPONENT)
        gd_spec_free((gd_spec *)v->u.spec);
    v->present = 0;
}

gd_spec *gd_spec_begin(const gd_registry *reg, const gd_component *c, gd_error *err)
{
    int n = gd_spec_option_count(c);
    spec_impl *s = calloc(1, sizeof *s);
    gd_options *o = calloc(1, sizeof *o + (size_t)(n ? n : 1) * sizeof(gd_value));
    unsigned char *set = calloc((size_t)(n ? n : 1), 1);
    if (!s || !o || !set) {
        free(s); free(o); free(set);
        gd_fail(err, GD_ENOMEM, "%s: out of memory", c->name);
        return NULL;
    }
    o->n = n;
    for (int i = 0; i < n; i++) {
        const gd_option_spec *os = gd_spec_option(c, i);
        gd_value *v = &o->v[i];
        if (os->flags & (GD_OPT_REQUIRED | GD_OPT_OPTIONAL))
            continue;
        switch (os->type) {
        case GD_OPT_NUMBER: v->u.num = os->def; v->present = 1; break;
        case GD_OPT_INTEGER: v->u.i = (int64_t)os->def; v->present = 1; break;
        case GD_OPT_BOOLEAN: v->u.b = os->def != 0; v->present = 1; break;
        case GD_OPT_ENUM:
            v->u.e = os->def_str ? enum_index(os, os->def_str) : 0;
            if (v->u.e < 0) v->u.e = 0;
            v->present = 1;
            break;
        case GD_OPT_STRING:
        case GD_OPT_INTS:
            if (os->def_str) {
                v->u.s = strdup(os->def_str);
                v->present = v->u.s != NULL;
            }
            break;
        case GD_OPT_COMPONENT:
            break; /* resolved in finish, so a missing default plugin only
                      matters when the user does not give the option */
        }
    }
    s->pub.component = c;
    s->pub.options = o;
    s->reg = reg;
    s->opts = o;
    s->set = set;
    return &s->pub;
}

static const char *arg_type_name(const gd_arg *a)
{
    switch (a->type) {
    case GD_ARG_NUMBER: return "number";
    case GD_ARG_INTEGER: return "integer";
    case GD_ARG_BOOLEAN: return "boolean";
    case GD_ARG_STRING: return "string";
    case GD_ARG_SPEC: return "component spec";
    }
    return "value";
}

static gd_status fail_unknown_option(const gd_component *c, const char *name, gd_error *err)
{
    char list[GD_ERROR_SIZE / 2] = "";
    size_t used = 0;
    gd_nearest near = gd_nearest_start(name, false);
    int n = gd_spec_option_count(c);
    for (int i = 0; i < n; i++) {
        gd_nearest_offer(&near, gd_spec_option(c, i)->name);
        gd_list_append(list, sizeof list, &used, gd_spec_option(c, i)->name);
    }
    const char *best = near.best;
    if (n == 0)
        return gd_fail(err, GD_EINVAL, "%s: unknown option '%s' (it takes no options)", c->name,
                       name);
    if (best)
        return gd_fail(err, GD_EINVAL, "%s: unknown option '%s' (did you mean '%s'? options: %s)",
                       c->name, name, best, list);
    return gd_fail(err, GD_EINVAL, "%s: unknown option '%s' (options: %s)", c->name, name, list);
}

/* "[0, 1)", ">= 0", "> 0" for messages. */
const char *gd_option_type_name(const gd_option_spec *o)
{
    switch (o->type) {
    case GD_OPT_NUMBER: return "number";
    case GD_OPT_INTEGER: return "integer";
    case GD_OPT_BOOLEAN: return "boolean";
    case GD_OPT_ENUM: return "enum";
    case GD_OPT_STRING: return "string";
    case GD_OPT_COMPONENT: return gd_kind_name(o->kind);
    case GD_OPT_INTS: return "integers";
    }
    return "?";
}

bool gd_option_bounds(const gd_option_spec *o, char *buf, size_t len)
{
    bool lo = o->flags & GD_OPT_HAS_MIN, hi = o->flags & GD_OPT_HAS_MAX;
    buf[0] = 0;
    if (lo && hi)
        snprintf(buf, len, "%s%.10g, %.10g%s", (o->flags & GD_OPT_MIN_OPEN) ? "(" : "[",
                 o->min, o->max, (o->flags & GD_OPT_MAX_OPEN) ? ")" : "]");
    else if (lo)
        snprintf(buf, len, "%s %.10g", (o->flags & GD_OPT_MIN_OPEN) ? ">" : ">=", o->min);
    else if (hi)
        snprintf(buf, len, "%s %.10g", (o->flags & GD_OPT_MAX_OPEN) ? "<" : "<=", o->max);
    return lo || hi;
}

/* "in [0, 1)", ">= 0", "finite": what check_range's message says x must be. */
static void range_text(const gd_option_spec *o, char *buf, size_t len)
{
    char b[80];
    if (!gd_option_bounds(o, b, sizeof b))
        snprintf(buf, len, "finite");
    else
        snprintf(buf, len, "%s%s", (o->flags & GD_OPT_HAS_MIN) && (o->flags & GD_OPT_HAS_MAX)
                                       ? "in " : "", b);
}

static gd_status check_range(const gd_component *c, const gd_option_spec *o, double x,
                             gd_error *err)
{
    bool bad = !isfinite(x);
    if (o->flags & GD_OPT_HAS_MIN)
        bad |= (o->flags & GD_OPT_MIN_OPEN) ? !(x > o->min) : !(x >= o->min);
    if (o->flags & GD_OPT_HAS_MAX)
        bad |= (o->flags & GD_OPT_MAX_OPEN) ? !(x < o->max) : !(x <= o->max);
    if (!bad)
        return GD_OK;
    char r[96];
    range_text(o, r, sizeof r);
    return gd_fail(err, GD_EINVAL, "%s: option '%s' must be %s, got %.10g", c->name, o->name, r,
                   x);
}

static void choices_text(const gd_option_spec *o, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = 0;
    for (int k = 0; o->choices[k]; k++) {
        int w = snprintf(buf + used, len - used, "%s'%s'", k ? ", " : "", o->choices[k]);
        if (w < 0 || (size_t)w >= len - used)
            break;
        used += (size_t)w;
    }
}

/* What a GD_OPT_INTS option takes, for messages. */
static const char *ints_wanted(const gd_option_spec *o)
{
    return o->choices ? "an integer, a list of integers or a choice"
                      : "an integer or a list of integers";
}

/* Check the text of a GD_OPT_INTS value (a choice, or 1..4 comma-separated
 * integers in range, as Lua lists and command lines give them) and store
 * its canonical form, a copy, in *out. */
static gd_status ints_text(const gd_component *c, const gd_option_spec *o, const char *text,
                           const char **out, gd_error *err)
{
    if (o->choices && enum_index(o, text) >= 0) {
        *out = strdup(text);
        return *out ? GD_OK : gd_fail(err, GD_ENOMEM, "%s: out of memory", c->name);
    }
    char canon[128];
    size_t used = 0;
    int n = 0;
    const char *p = text;
    for (;;) {
        while (*p == ' ')
            p++;
        char *end;
        errno = 0;
        long long x = strtoll(p, &end, 10);
        if (end == p || errno || n == 4)
            break;
        gd_status st = check_range(c, o, (double)x, err);
        if (st != GD_OK)
            return st;
        used += (size_t)snprintf(canon + used, sizeof canon - used, "%s%lld", n ? "," : "", x);
        n++;
        p = end;
        while (*p == ' ')
            p++;
        if (*p == ',' && p[1]) {
            p++;
            continue;
        }
        if (!*p) {
            *out = strdup(canon);
            return *out ? GD_OK : gd_fail(err, GD_ENOMEM, "%s: out of memory", c->name);
        }
        break;
    }
    if (o->choices) {
        char ch[200];
        choices_text(o, ch, sizeof ch);
        return gd_fail(err, GD_EINVAL, "%s: option '%s' must be 1 to 4 integers or one of %s, "
                       "got '%s'", c->name, o->name, ch, text);
    }
    return gd_fail(err, GD_EINVAL, "%s: option '%s' must be 1 to 4 integers, got '%s'", c->name,
                   o->name, text);
}

gd_status gd_spec_set(gd_spec *spec, const char *name, const gd_arg *a, gd_error *err)
{
    spec_impl *s = (spec_impl *)spec;
    const gd_component *c = spec->component;
    int i = gd_spec_option_index(c, name);
    if (i < 0)
        return fail_unknown_option(c, name, err);
    const gd_option_spec *o = gd_spec_option(c, i);
    gd_value v = { .present = 1 };
    gd_status st;
    switch (o->type) {
    case GD_OPT_NUMBER:
        if (a->type != GD_ARG_NUMBER && a->type != GD_ARG_INTEGER)
            goto wrong_type;
        v.u.num = a->type == GD_ARG_NUMBER ? a->num : (double)a->i;
        if ((st = check_range(c, o, v.u.num, err)) != GD_OK)
            return st;
        break;
    case GD_OPT_INTEGER:
        if (a->type == GD_ARG_INTEGER) {
            v.u.i = a->i;
        } else if (a->type == GD_ARG_NUMBER) {
            if (!isfinite(a->num) || a->num != floor(a->num) || fabs(a->num) > 9.0e15)
                return gd_fail(err, GD_EINVAL, "%s: option '%s' must be an integer, got %.10g",
                               c->name, o->name, a->num);
            v.u.i = (int64_t)a->num;
        } else {
            goto wrong_type;
        }
        if ((st = check_range(c, o, (double)v.u.i, err)) != GD_OK)
            return st;
        break;
    case GD_OPT_BOOLEAN:
        if (a->type != GD_ARG_BOOLEAN)
            goto wrong_type;
        v.u.b = a->b != 0;
        break;
    case GD_OPT_ENUM: {
        if (a->type != GD_ARG_STRING)
            goto wrong_type;
        v.u.e = enum_index(o, a->s);
        if (v.u.e < 0) {
            char ch[200];
            choices_text(o, ch, sizeof ch);
            return gd_fail(err, GD_EINVAL, "%s: option '%s' must be one of %s, got '%s'",
                           c->name, o->name, ch, a->s);
        }
        break;
    }
    case GD_OPT_STRING:
        if (a->type != GD_ARG_STRING)
            goto wrong_type;
        if (!(v.u.s = strdup(a->s)))
            return gd_fail(err, GD_ENOMEM, "%s: out of memory", c->name);
        break;
    case GD_OPT_INTS:
        if (a->type == GD_ARG_NUMBER || a->type == GD_ARG_INTEGER) {
            char text[32];
            if (a->type == GD_ARG_NUMBER &&
                (!isfinite(a->num) || a->num != floor(a->num) || fabs(a->num) > 9.0e15))
                return gd_fail(err, GD_EINVAL, "%s: option '%s' must be an integer, got %.10g",
                               c->name, o->name, a->num);
            snprintf(text, sizeof text, "%lld",
                     (long long)(a->type == GD_ARG_INTEGER ? a->i : (int64_t)a->num));
            st = ints_text(c, o, text, &v.u.s, err);
        } else if (a->type == GD_ARG_STRING) {
            st = ints_text(c, o, a->s, &v.u.s, err);
        } else {
            goto wrong_type;
        }
        if (st != GD_OK)
            return st;
        break;
    case GD_OPT_COMPONENT: {
        gd_spec *child = NULL;
        if (a->type == GD_ARG_STRING) {
            const gd_entry *e = gd_registry_find(s->reg, o->kind, a->s);
            if (!e) {
                gd_error inner;
                gd_registry_fail_unknown(s->reg, o->kind, a->s, &inner);
                return gd_fail(err, GD_EINVAL, "%s: option '%s': %s", c->name, o->name,
                               inner.msg);
            }
            child = gd_spec_by_name(s->reg, o->kind, a->s, err);
        } else if (a->type == GD_ARG_SPEC) {
            if (a->spec->component->kind != o->kind)
                return gd_fail(err, GD_EINVAL, "%s: option '%s' must be a%s %s, got %s '%s'",
                               c->name, o->name, o->kind == GD_KIND_INITIALIZER || o->kind == GD_KIND_OPTIMIZER ? "n" : "",
                               gd_kind_name(o->kind), gd_kind_name(a->spec->component->kind),
                               a->spec->component->name);
            child = gd_spec_copy(a->spec);
            if (!child)
                gd_fail(err, GD_ENOMEM, "%s: out of memory", c->name);
        } else {
            goto wrong_type;
        }
        if (!child)
            return GD_EINVAL;
        v.u.spec = child;
        break;
    }
    }
    free_value(o, &s->opts->v[i]);
    s->opts->v[i] = v;
    s->set[i] = 1;
    return GD_OK;

wrong_type:;
    const char *want = o->type == GD_OPT_NUMBER ? "a number"
                     : o->type == GD_OPT_INTEGER ? "an integer"
                     : o->type == GD_OPT_BOOLEAN ? "a boolean"
                     : o->type == GD_OPT_ENUM ? "a string"
                     : o->type == GD_OPT_STRING ? "a string"
                     : o->type == GD_OPT_INTS ? ints_wanted(o) : NULL;
    if (want)
        return gd_fail(err, GD_EINVAL, "%s: option '%s' must be %s, got %s", c->name, o->name,
                       want, arg_type_name(a));
    return gd_fail(err, GD_EINVAL, "%s: option '%s' must be a%s %s (a spec or a name), got %s",
                   c->name, o->name, o->kind == GD_KIND_INITIALIZER || o->kind == GD_KIND_OPTIMIZER ? "n" : "",
                   gd_kind_name(o->kind), arg_type_name(a));
}

/* A component option's default: a name, or (added in ABI 1.1) a name with
 * numeric options, "adam{lr=3e-4}" (muon's fallback), so a default inner
 * optimizer need not take its own defaults. Only numbers and true/false:
 * the schema stays declarative, nothing here is a Lua parser. */
static gd_spec *spec_from_default(const gd_registry *reg, gd_kind kind, const char *def,
                                  gd_error *err)
{
    const char *brace = strchr(def, '{');
    if (!brace)
        return gd_spec_by_name(reg, kind, def, err);
    char name[64], key[64];
    snprintf(name, sizeof name, "%.*s", (int)(brace - def), def);
    const gd_entry *e = gd_registry_find(reg, kind, name);
    if (!e) {
        gd_registry_fail_unknown(reg, kind, name, err);
        return NULL;
    }
    gd_spec *s = gd_spec_begin(reg, e->component, err);
    for (const char *p = brace + 1; s && *p && *p != '}';) {
        const char *eq = strchr(p, '='), *end = eq ? eq + strcspn(eq, ",}") : NULL;
        gd_arg a = { .type = GD_ARG_NUMBER };
        char *stop = NULL;
        if (eq) {
            snprintf(key, sizeof key, "%.*s", (int)(eq - p), p);
            if (strncmp(eq + 1, "true", 4) == 0 || strncmp(eq + 1, "false", 5) == 0)
                a = (gd_arg){ .type = GD_ARG_BOOLEAN, .b = eq[1] == 't' };
            else
                a.num = strtod(eq + 1, &stop);
        }
        if (!eq || (stop && stop != end) || gd_spec_set(s, key, &a, err) != GD_OK) {
            if (!eq || (stop && stop != end))
                gd_fail(err, GD_EINVAL, "malformed default '%s'", def);
            gd_spec_free(s);
            return NULL;
        }
        p = *end == ',' ? end + 1 : end;
        while (*p == ' ')
            p++;
    }
    if (s && gd_spec_finish(s, err) != GD_OK) {
        gd_spec_free(s);
        return NULL;
    }
    return s;
}

gd_status gd_spec_finish(gd_spec *spec, gd_error *err)
{
    spec_impl *s = (spec_impl *)spec;
    const gd_component *c = spec->component;
    int n = gd_spec_option_count(c);
    for (int i = 0; i < n; i++) {
        const gd_option_spec *o = gd_spec_option(c, i);
        if ((o->flags & GD_OPT_REQUIRED) && !s->opts->v[i].present)
            return gd_fail(err, GD_EINVAL, "%s: option '%s' is required (%s)", c->name, o->name,
                           o->doc ? o->doc : "no default");
    }
    for (int i = 0; i < n; i++) {
        const gd_option_spec *o = gd_spec_option(c, i);
        gd_value *v = &s->opts->v[i];
        if (o->type != GD_OPT_COMPONENT || v->present || !o->def_str)
            continue;
        gd_error inner;
        gd_spec *child = spec_from_default(s->reg, o->kind, o->def_str, &inner);
        if (!child)
            return gd_fail(err, GD_ENOTFOUND, "%s: default %s '%s' of option '%s' is not "
                           "available: %s", c->name, gd_kind_name(o->kind), o->def_str, o->name,
                           inner.msg);
        v->u.spec = child;
        v->present = 1;
    }
    if (c->kind == GD_KIND_OPTIMIZER)
        return gd_optimizer_check(spec, err);
    /* A scheduler's check is not run here: it needs the horizon, which a
     * spec does not know yet. -1 would mean "queried outside a run" and
     * refuse gd.sched.cosine{} (T defaults to the run's length). Whoever
     * uses the schedule runs it: the trainer with the run's horizon, a
     * query outside a run (spec:lr) with -1. */
    return GD_OK;
}

gd_spec *gd_spec_copy(const gd_spec *src)
{
    const spec_impl *si = (const spec_impl *)src;
    const gd_component *c = src->component;
    gd_spec *dst = gd_spec_begin(si->reg, c, NULL);
    if (!dst)
        return NULL;
    spec_impl *d = (spec_impl *)dst;
    int n = gd_spec_option_count(c);
    for (int i = 0; i < n; i++) {
        const gd_option_spec *o = gd_spec_option(c, i);
        free_value(o, &d->opts->v[i]);
        gd_value v = si->opts->v[i];
        if (v.present && (o->type == GD_OPT_STRING || o->type == GD_OPT_INTS) &&
            !(v.u.s = strdup(v.u.s)))
            goto fail;
        if (v.present && o->type == GD_OPT_COMPONENT && !(v.u.spec = gd_spec_copy(v.u.spec)))
            goto fail;
        d->opts->v[i] = v;
        d->set[i] = si->set[i];
    }
    for (int i = 0; i < si->ngroups; i++) {
        gd_spec *g = gd_spec_copy(si->groups[i].spec);
        if (!g || gd_spec_add_group(dst, si->groups[i].role, si->groups[i].layer, g, NULL))
            goto fail;
    }
    return dst;
fail:
    gd_spec_free(dst);
    return NULL;
}

void gd_spec_free(gd_spec *spec)
{
    if (!spec)
        return;
    spec_impl *s = (spec_impl *)spec;
    int n = s->opts->n;
    for (int i = 0; i < n; i++)
        free_value(gd_spec_option(spec->component, i), &s->opts->v[i]);
    free(s->opts);
    free(s->set);
    for (int i = 0; i < s->ngroups; i++) {
        free(s->groups[i].layer);
        gd_spec_free(s->groups[i].spec);
    }
    free(s->groups);
    free(s);
}

gd_status gd_spec_add_group(gd_spec *spec, int role, const char *layer, gd_spec *g,
                            gd_error *err)
{
    spec_impl *s = (spec_impl *)spec;
    const char *name = spec->component->name;
    gd_status st = GD_OK;
    spec_group *grown = NULL;
    char *lname = layer ? strdup(layer) : NULL;
    if (spec->component->kind != GD_KIND_OPTIMIZER || g->component != spec->component)
        st = gd_fail(err, GD_EINVAL, "%s: a parameter group must hold options of the same "
                     "optimizer", name);
    else if (role < 0 || role > GD_ROLE_EMBEDDING || (!layer && role == 0))
        st = gd_fail(err, GD_EINVAL, "%s: groups[%d] needs a role or a layer (the tensors it "
                     "sets options for)", name, s->ngroups + 1);
    else if ((layer && !lname) ||
             !(grown = realloc(s->groups, (size_t)(s->ngroups + 1) * sizeof *grown)))
        st = gd_fail(err, GD_ENOMEM, "%s: out of memory", name);
    if (st != GD_OK) {
        free(lname);
        gd_spec_free(g);
        return st;
    }
    s->groups = grown;
    s->groups[s->ngroups++] = (spec_group){ role, lname, g };
    return GD_OK;
}

/* Multiply every `lr` in the tree of spec s by f, except that the one the
 * base lr comes from (first of `base` found) is set to `base` exactly. */
static gd_status scale_lr(gd_spec *spec, double f, double base, bool *based, gd_error *err)
{
    spec_impl *s = (spec_impl *)spec;
    const gd_component *c = spec->component;
    int i = gd_spec_option_index(c, "lr");
    if (i >= 0 && gd_spec_option(c, i)->type == GD_OPT_NUMBER && s->opts->v[i].present) {
        gd_arg a = { .type = GD_ARG_NUMBER, .num = *based ? s->opts->v[i].u.num * f : base };
        *based = true;
        if (gd_spec_set(spec, "lr", &a, err) != GD_OK)
            return GD_EINVAL;
    }
    for (int k = 0; k < c->noptions; k++) {
        const gd_option_spec *o = gd_spec_option(c, k);
        gd_value *v = &s->opts->v[k];
        if (o->type == GD_OPT_COMPONENT && o->kind == GD_KIND_OPTIMIZER && v->present &&
            scale_lr((gd_spec *)v->u.spec, f, base, based, err) != GD_OK)
            return GD_EINVAL;
    }
    for (int g = 0; g < s->ngroups; g++) {
        bool scaled = true;   /* a group's lr always scales: it is its own */
        if (scale_lr(s->groups[g].spec, f, base, &scaled, err) != GD_OK)
            return GD_EINVAL;
    }
    return GD_OK;
}

gd_spec *gd_spec_with_lr(const gd_spec *spec, double lr0, double lr, gd_error *err)
{
    gd_spec *c = gd_spec_copy(spec);
    bool based = false;
    if (!c) {
        gd_fail(err, GD_ENOMEM, "%s: out of memory", spec->component->name);
        return NULL;
    }
    if (scale_lr(c, lr0 != 0 ? lr / lr0 : 1.0, lr, &based, err) != GD_OK || !based) {
        if (!based)
            gd_fail(err, GD_EINVAL, "%s: has no lr option, nor an inner optimizer with one",
                    spec->component->name);
        gd_spec_free(c);
        return NULL;
    }
    return c;
}

int gd_spec_group_count(const gd_spec *spec)
{
    return ((const spec_impl *)spec)->ngroups;
}

const gd_spec *gd_spec_group(const gd_spec *spec, int i, int *role, const char **layer)
{
    const spec_impl *s = (const spec_impl *)spec;
    if (i < 0 || i >= s->ngroups)
        return NULL;
    *role = s->groups[i].role;
    *layer = s->groups[i].layer;
    return s->groups[i].spec;
}

gd_spec *gd_spec_by_name(const gd_registry *reg, gd_kind kind, const char *name, gd_error *err)
{
    const gd_entry *e = gd_registry_find(reg, kind, name);
    if (!e) {
        gd_registry_fail_unknown(reg, kind, name, err);
        return NULL;
    }
    gd_spec *s = gd_spec_begin(reg, e->component, err);
    if (s && gd_spec_finish(s, err) != GD_OK) {
        gd_spec_free(s);
        return NULL;
    }
    return s;
}

char *gd_spec_describe(const gd_spec *s, char *buf, size_t len)
{
    const gd_component *c = s->component;
    size_t used = 0;
#define PUT(...)                                                            \
    do {                                                                    \
        int w_ = snprintf(buf + used, len > used ? len - used : 0, __VA_ARGS__); \
        if (w_ > 0) used += (size_t)w_;                                     \
        if (used >= len) { buf[len - 1] = 0; return buf; }                  \
    } while (0)
    PUT("%s{", c->name);
    int n = gd_spec_option_count(c), k = 0;
    for (int i = 0; i < n; i++) {
        const gd_option_spec *o = gd_spec_option(c, i);
        const gd_value *v = &s->options->v[i];
        if (!v->present)
            continue;
        PUT("%s%s=", k++ ? ", " : "", o->name);
        switch (o->type) {
        case GD_OPT_NUMBER: PUT("%.10g", v->u.num); break;
        case GD_OPT_INTEGER: PUT("%lld", (long long)v->u.i); break;
        case GD_OPT_BOOLEAN: PUT("%s", v->u.b ? "true" : "false"); break;
        case GD_OPT_ENUM: PUT("\"%s\"", o->choices[v->u.e]); break;
        case GD_OPT_STRING: PUT("\"%s\"", v->u.s); break;
        case GD_OPT_INTS:
            if (o->choices && enum_index(o, v->u.s) >= 0)
                PUT("\"%s\"", v->u.s);
            else if (strchr(v->u.s, ','))
                PUT("{%s}", v->u.s);
            else
                PUT("%s", v->u.s);
            break;
        case GD_OPT_COMPONENT: {
            char inner[256];
            PUT("%s", gd_spec_describe(v->u.spec, inner, sizeof inner));
            break;
        }
        }
    }
    int ng = gd_spec_group_count(s);
    if (ng)
        PUT("%s%d parameter group%s", k ? ", " : "", ng, ng > 1 ? "s" : "");
    PUT("}");
#undef PUT
    return buf;
}
