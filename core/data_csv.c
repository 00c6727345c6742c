/*
 * core/data_csv.c: numeric CSV files as data sets.
 *
 * One sample per line, comma-separated numbers; one column is the target,
 * the others are the features in file order. Every refusal names the file,
 * and for a bad value the line and the 1-based column, so the user can go
 * straight to it. The whole file is parsed before a data set is made, so a
 * bad last line leaves nothing behind.
 *
 * A UTF-8 byte order mark before the header is dropped; a NUL byte, and two
 * columns of one name, are refused.
 *
 * Class labels may be any integers (0..K-1, 1..K, -1/1, 3/7, ...): the K
 * distinct values, sorted ascending, become classes 0..K-1, so a file's
 * labelling convention does not matter.
 */
#include "data.h"
#include "fs.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct csv_state {
    const char *path;
    FILE *fp;
    char *line;
    size_t line_cap;
    char **fields;
    int fields_cap;
    char **names;           /* header names (copies), or NULL */
    int ncols;              /* 0 until the first non-blank line */
    float *vals;            /* rows * ncols, row-major */
    int64_t rows, vals_cap;
} csv_state;

static void csv_free(csv_state *c)
{
    if (c->fp)
        fclose(c->fp);
    free(c->line);
    free(c->fields);
    if (c->names)
        for (int i = 0; i < c->ncols; i++)
            free(c->names[i]);
    free(c->names);
    free(c->vals);
}

static bool is_blank(char ch) { return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n'; }

static gd_status push_field(csv_state *c, int *nf, char *field, gd_error *err)
{
    if (*nf == c->fields_cap) {
        int cap = c->fields_cap ? 2 * c->fields_cap : 16;
        char **f = realloc(c->fields, (size_t)cap * sizeof *f);
        if (!f)
            return gd_fail(err, GD_ENOMEM, "%s: out of memory", c->path);
        c->fields = f;
        c->fields_cap = cap;
    }
    c->fields[(*nf)++] = field;
    return GD_OK;
}

/* Split a line in place into trimmed, unquoted, NUL-terminated fields. A
 * quoted field may hold commas and "" for a quote. */
static gd_status split_line(csv_state *c, char *p, int64_t lineno, int *nf, gd_error *err)
{
    *nf = 0;
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        char *start = p;
        bool more;
        if (*p == '"') {
            char *w = start = ++p;
            for (;;) {
                if (*p == '\0')
                    return gd_fail(err, GD_EIO, "%s: line %lld, column %d: unterminated quoted "
                                   "field", c->path, (long long)lineno, *nf + 1);
                if (*p == '"' && p[1] == '"') {
                    *w++ = '"';
                    p += 2;
                } else if (*p == '"') {
                    p++;
                    break;
                } else {
                    *w++ = *p++;
                }
            }
            *w = '\0';   /* w < p: the closing quote was consumed */
            while (is_blank(*p))
                p++;
            if (*p != ',' && *p != '\0')
                return gd_fail(err, GD_EIO, "%s: line %lld, column %d: unexpected '%c' after a "
                               "quoted field", c->path, (long long)lineno, *nf + 1, *p);
            more = *p == ',';
            p += more;
        } else {
            while (*p && *p != ',')
                p++;
            more = *p == ',';
            char *end = p;
            while (end > start && is_blank(end[-1]))
                end--;
            p += more;
            *end = '\0';
        }
        gd_status st = push_field(c, nf, start, err);
        if (st != GD_OK || !more)
            return st;
    }
}

static gd_status parse_number(const csv_state *c, const char *s, int64_t lineno, int col,
                              bool label, float *out, gd_error *err)
{
    const char *name = c->names ? c->names[col] : NULL;
    char where[192];
    snprintf(where, sizeof where, "%s: line %lld, column %d%s%.64s%s", c->path,
             (long long)lineno, col + 1, name ? " ('" : "", name ? name : "", name ? "')" : "");
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*s == '\0' || *end != '\0')
        return gd_fail(err, GD_EIO, "%s: expected a number, got '%.64s'", where, s);
    if (!isfinite(v) || fabs(v) > 3.4e38)
        return gd_fail(err, GD_ENUMERIC, "%s: '%.64s' is not a finite float", where, s);
    if (label && v != floor(v))
        return gd_fail(err, GD_EIO, "%s: class label must be an integer, got '%.64s'", where, s);
    /* 2^24: beyond it float32 cannot hold every integer, and labels are floats */
    if (label && fabs(v) > 16777216.0)
        return gd_fail(err, GD_EIO, "%s: class label %.64s is beyond +-2^24 (16777216), where "
                       "float32 labels can no longer tell neighbouring integers apart; number "
                       "the classes with smaller integers", where, s);
    *out = (float)v;
    return GD_OK;
}

/* The 0-based target column, once the column count (and names) are known. */
static gd_status find_target(const csv_state *c, const gd_csv_options *o, int *target,
                             gd_error *err)
{
    if (o->target_name) {
        for (int j = 0; j < c->ncols; j++)
            if (strcmp(c->names[j], o->target_name) == 0) {
                *target = j;
                return GD_OK;
            }
        char list[256] = "";
        for (int j = 0; j < c->ncols && strlen(list) < 200; j++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", j ? ", " : "",
                     c->names[j]);
        return gd_fail(err, GD_EINVAL, "%s: no column named '%s' (columns: %s)", c->path,
                       o->target_name, list);
    }
    if (o->target_index < 0 || o->target_index > c->ncols)
        return gd_fail(err, GD_EINVAL, "%s: target column %d is out of range 1..%d", c->path,
                       o->target_index, c->ncols);
    *target = o->target_index ? o->target_index - 1 : c->ncols - 1;
    return GD_OK;
}

static gd_status read_rows(csv_state *c, const gd_csv_options *o, int *target, gd_error *err)
{
    int64_t lineno = 0;
    gd_status st;
    ssize_t len;
    while ((len = getline(&c->line, &c->line_cap, c->fp)) != -1) {
        lineno++;
        if (lineno == 1 && len >= 3 && memcmp(c->line, "\xEF\xBB\xBF", 3) == 0) {
            len -= 3;   /* a byte order mark: not part of the first column's name */
            memmove(c->line, c->line + 3, (size_t)len + 1);
        }
        char *p = c->line;
        const char *nul = memchr(c->line, '\0', (size_t)len);
        if (nul) {   /* C strings would end the row there, dropping the rest silently */
            int col = 1;
            for (const char *q = c->line; q < nul; q++)
                col += *q == ',';
            return gd_fail(err, GD_EIO, "%s: line %lld, column %d: a NUL byte (not a text "
                           "file?)", c->path, (long long)lineno, col);
        }
        while (is_blank(*p))
            p++;
        if (*p == '\0')
            continue;
        int nf;
        if ((st = split_line(c, c->line, lineno, &nf, err)) != GD_OK)
            return st;
        if (c->ncols == 0) {
            if (nf < 2)
                return gd_fail(err, GD_EIO, "%s: line %lld has 1 column, a data set needs at "
                               "least 2 (features and a target)", c->path, (long long)lineno);
            c->ncols = nf;
            if (o->header) {
                if (!(c->names = calloc((size_t)nf, sizeof *c->names)))
                    return gd_fail(err, GD_ENOMEM, "%s: out of memory", c->path);
                for (int j = 0; j < nf; j++) {
                    if (!(c->names[j] = strdup(c->fields[j])))
                        return gd_fail(err, GD_ENOMEM, "%s: out of memory", c->path);
                    for (int i = 0; i < j; i++)
                        if (strcmp(c->names[i], c->names[j]) == 0)
                            return gd_fail(err, GD_EIO, "%s: columns %d and %d are both named "
                                           "'%.64s' (a header names each column once)",
                                           c->path, i + 1, j + 1, c->names[j]);
                }
            }
            if ((st = find_target(c, o, target, err)) != GD_OK)
                return st;
            if (o->header)
                continue;
        }
        if (nf != c->ncols)
            return gd_fail(err, GD_EIO, "%s: line %lld has %d fields, expected %d", c->path,
                           (long long)lineno, nf, c->ncols);
        if (c->rows * c->ncols == c->vals_cap) {
            int64_t cap = c->vals_cap ? 2 * c->vals_cap : 64 * (int64_t)c->ncols;
            float *v = (size_t)cap > SIZE_MAX / sizeof *v
                           ? NULL : realloc(c->vals, (size_t)cap * sizeof *v);
            if (!v)
                return gd_fail(err, GD_ENOMEM, "%s: out of memory at line %lld", c->path,
                               (long long)lineno);
            c->vals = v;
            c->vals_cap = cap;
        }
        float *row = c->vals + c->rows * c->ncols;
        for (int j = 0; j < nf; j++)
            if ((st = parse_number(c, c->fields[j], lineno, j, o->classes && j == *target,
                                   &row[j], err)) != GD_OK)
                return st;
        c->rows++;
    }
    if (ferror(c->fp))
        return gd_fail(err, GD_EIO, "%s: read error (%s)", c->path, strerror(errno));
    if (c->ncols == 0)
        return gd_fail(err, GD_EIO, "%s: file is empty", c->path);
    if (c->rows == 0)
        return gd_fail(err, GD_EIO, "%s: no data rows after the header", c->path);
    return GD_OK;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Replace labels by their rank among the distinct values; returns K. */
static int map_classes(float *y, int64_t n, float *scratch)
{
    memcpy(scratch, y, (size_t)n * sizeof *y);
    qsort(scratch, (size_t)n, sizeof *scratch, cmp_float);
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++)
        if (i == 0 || scratch[i] != scratch[k - 1])
            scratch[k++] = scratch[i];
    for (int64_t i = 0; i < n; i++) {
        const float *hit = bsearch(&y[i], scratch, (size_t)k, sizeof *scratch, cmp_float);
        y[i] = (float)(hit - scratch);
    }
    return (int)k;
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

gd_status gd_csv_load(const gd_csv_options *o, gd_dataset **out, gd_error *err)
{
    if (!o || !o->path)
        return gd_fail(err, GD_EINVAL, "csv: path is required");
    if (o->target_name && !o->header)
        return gd_fail(err, GD_EINVAL, "%s: target column name '%s' needs header = true",
                       o->path, o->target_name);
    csv_state c = { .path = o->path };
    float *x = NULL, *y = NULL;
    gd_status st;
    /* O_NONBLOCK: a FIFO is refused below instead of blocking the open. */
    int fd = open(o->path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return gd_fail(err, errno == ENOENT ? GD_ENOTFOUND : GD_EIO, "%s: cannot open (%s)",
                       o->path, strerror(errno));
    if ((st = gd_input_check(fd, o->path, "a CSV file", err)) != GD_OK) {
        close(fd);
        return st;
    }
    if (!(c.fp = fdopen(fd, "r"))) {
        close(fd);
        return gd_fail(err, GD_ENOMEM, "%s: cannot open (out of memory)", o->path);
    }
    int target = 0;
    if ((st = read_rows(&c, o, &target, err)) != GD_OK)
        goto done;

    int64_t n = c.rows, nf = c.ncols - 1;
    x = malloc((size_t)(n * nf) * sizeof *x);
    y = malloc((size_t)n * sizeof *y);
    if (!x || !y) {
        st = gd_fail(err, GD_ENOMEM, "%s: out of memory for %lld rows", o->path, (long long)n);
        goto done;
    }
    for (int64_t i = 0; i < n; i++) {
        const float *row = c.vals + i * c.ncols;
        float *xr = x + i * nf;
        for (int j = 0; j < c.ncols; j++)
            if (j != target)
                *xr++ = row[j];
        y[i] = row[target];
    }
    int classes = 0;
    double *labels = NULL;
    if (o->classes) {
        /* c.vals is no longer needed: it receives the sorted distinct labels */
        classes = map_classes(y, n, c.vals);
        if (!(labels = malloc((size_t)classes * sizeof *labels))) {
            st = gd_fail(err, GD_ENOMEM, "%s: out of memory", o->path);
            goto done;
        }
        for (int k = 0; k < classes; k++)
            labels[k] = c.vals[k];
    }
    gd_shape shape = gd_shape_1(nf);
    gd_dataset *ds = gd_dataset_from_floats(n, &shape, x, 1, y, classes, err);
    if (ds && labels && (st = gd_dataset_set_labels(ds, labels, err)) != GD_OK) {
        gd_dataset_free(ds);
        ds = NULL;
    }
    free(labels);
    if (!ds) {
        st = GD_EINVAL;
        goto done;
    }
    gd_dataset_set_name(ds, base_name(o->path));
    *out = ds;
    st = GD_OK;
done:
    csv_free(&c);
    free(x);
    free(y);
    return st;
}
