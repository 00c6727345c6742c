/*
 * core/model_io.c: saving a trained model to a file and loading it back
 * (run.model:save(path), gd.load_model(path)).
 *
 * File format, version 1. Every integer and float is little-endian whatever
 * the host, so a file moves between machines.
 *
 *   offset  size  field
 *   0       8     magic 89 'G' 'D' 'M' 0D 0A 1A 0A
 *   8       4     u32 format version (1)
 *   12      8     u64 payload length L
 *   20      L     payload
 *   20+L    4     u32 CRC-32 (zlib's crc32) of bytes [0, 20+L)
 *
 *   payload := shape, u32 nlayers, nlayers × spec, nlayers × state
 *   shape   := u32 ndim, ndim × i64          the model's per-sample input shape
 *   spec    := u8 kind, str component name, u32 noptions, noptions × option
 *   option  := str option name, u8 type (gd_option_type), value:
 *                number f64 | integer i64 | boolean u8 | enum str (the choice's NAME)
 *                | string str | component spec (recursive: dense's `init`)
 *   state   := u32 nparams, nparams × array, u32 nbuffers, nbuffers × array
 *   array   := str name, u64 count, count × f32
 *   str     := u32 length, that many bytes (no NUL)
 *
 * Why this shape:
 * - The magic is PNG's trick: the high byte catches 7-bit transfers, CR LF
 *   and LF catch newline conversion, 1A stops a DOS `type`.
 * - Options go by NAME, not schema index, and enums by choice name, not
 *   index: a plugin that appends an option (or a choice) later still loads
 *   old files, the new option taking its default. Every present option is
 *   written, defaults included, so a later change of a default does not
 *   change a saved model. Loading rebuilds the specs through gd_spec_set,
 *   so a file is validated exactly as a user's spec would be.
 * - The payload length sits in the header so a short file is reported as
 *   truncated, at any offset, rather than as corrupt; the CRC then tells a
 *   damaged file from a good one before any of it is interpreted.
 * - Buffers (batchnorm's running statistics) are saved with the parameters:
 *   a model in evaluation mode depends on them. Gradients, activations and
 *   the layers' RNG streams are not: a loaded model predicts, and gd.train
 *   on it starts a new run.
 *
 * Saving writes "<path>.tmp" then rename(2)s it over path, so a failure at
 * any point leaves the old file (or no file) and no partial one. Loading
 * builds nothing the caller sees until everything has checked out.
 */
#include "model.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define FORMAT_VERSION 1u
#define HEADER_SIZE 20u
#define CRC_SIZE 4u
/* Bounds a well-formed file never reaches; they keep a crafted file (with a
 * valid CRC) from making the loader allocate or recurse without limit. */
#define MAX_NAME 255u
#define MAX_STRING (1u << 20)
#define MAX_LAYERS 100000u
#define MAX_DEPTH 16

static const unsigned char magic[8] = { 0x89, 'G', 'D', 'M', 0x0D, 0x0A, 0x1A, 0x0A };

/* ---------------------------------------------------------------------------
 * Writing
 * ------------------------------------------------------------------------- */

/* The payload is written twice: once into a writer with no file, which only
 * counts bytes (the header needs the length), then for real. */
typedef struct writer {
    FILE *f;          /* NULL: count only */
    uLong crc;
    uint64_t n;       /* bytes so far */
    int error;        /* errno of the first failed write, 0 if none */
} writer;

static void put(writer *w, const void *p, size_t n)
{
    w->n += n;
    if (!w->f || w->error)
        return;
    w->crc = crc32(w->crc, p, (uInt)n);
    if (fwrite(p, 1, n, w->f) != n)
        w->error = errno ? errno : EIO;
}

static void put_u8(writer *w, unsigned v)
{
    unsigned char b = (unsigned char)v;
    put(w, &b, 1);
}

static void put_u32(writer *w, uint32_t v)
{
    unsigned char b[4];
    for (int k = 0; k < 4; k++)
        b[k] = (unsigned char)(v >> (8 * k));
    put(w, b, 4);
}

static void put_u64(writer *w, uint64_t v)
{
    unsigned char b[8];
    for (int k = 0; k < 8; k++)
        b[k] = (unsigned char)(v >> (8 * k));
    put(w, b, 8);
}

static void put_f64(writer *w, double x)
{
    uint64_t v;
    memcpy(&v, &x, sizeof v);
    put_u64(w, v);
}

static void put_str(writer *w, const char *s)
{
    size_t n = strlen(s);
    put_u32(w, (uint32_t)n);
    put(w, s, n);
}

static void put_array(writer *w, const char *name, const float *x, int64_t n)
{
    unsigned char buf[4096];
    put_str(w, name);
    put_u64(w, (uint64_t)n);
    for (int64_t i = 0; i < n;) {
        size_t k = 0;
        for (; k < sizeof buf / 4 && i < n; k++, i++) {
            uint32_t v;
            memcpy(&v, &x[i], 4);
            for (int b = 0; b < 4; b++)
                buf[4 * k + (size_t)b] = (unsigned char)(v >> (8 * b));
        }
        put(w, buf, 4 * k);
    }
}

static void put_spec(writer *w, const gd_spec *s)
{
    const gd_component *c = s->component;
    int n = gd_spec_option_count(c);
    uint32_t present = 0;
    for (int i = 0; i < n; i++)
        present += s->options->v[i].present != 0;
    put_u8(w, (unsigned)c->kind);
    put_str(w, c->name);
    put_u32(w, present);
    for (int i = 0; i < n; i++) {
        const gd_option_spec *o = gd_spec_option(c, i);
        const gd_value *v = &s->options->v[i];
        if (!v->present)
            continue;
        put_str(w, o->name);
        put_u8(w, (unsigned)o->type);
        switch (o->type) {
        case GD_OPT_NUMBER: put_f64(w, v->u.num); break;
        case GD_OPT_INTEGER: put_u64(w, (uint64_t)v->u.i); break;
        case GD_OPT_BOOLEAN: put_u8(w, v->u.b != 0); break;
        case GD_OPT_ENUM: put_str(w, o->choices[v->u.e]); break;
        case GD_OPT_STRING: put_str(w, v->u.s); break;
        case GD_OPT_COMPONENT: put_spec(w, v->u.spec); break;
        }
    }
}

static void put_payload(writer *w, gd_model *m)
{
    const gd_shape *in = gd_model_input_shape(m);
    put_u32(w, (uint32_t)in->ndim);
    for (int d = 0; d < in->ndim; d++)
        put_u64(w, (uint64_t)in->dim[d]);
    int nl = gd_model_layer_count(m);
    put_u32(w, (uint32_t)nl);
    for (int i = 0; i < nl; i++)
        put_spec(w, gd_model_layer_at(m, i)->spec);
    for (int i = 0; i < nl; i++) {
        const gd_model_layer *l = gd_model_layer_at(m, i);
        put_u32(w, (uint32_t)l->nparams);
        for (int p = 0; p < l->nparams; p++)
            put_array(w, l->params[p].info->name, l->params[p].value, l->params[p].numel);
        put_u32(w, (uint32_t)l->nbuffers);
        for (int b = 0; b < l->nbuffers; b++)
            put_array(w, l->buffers[b].info->name, l->buffers[b].value, l->buffers[b].numel);
    }
}

gd_status gd_model_save(gd_model *m, const char *path, gd_error *err)
{
    writer count = { 0 };
    put_payload(&count, m);

    size_t plen = strlen(path);
    char *tmp = malloc(plen + 5);
    if (!tmp)
        return gd_fail(err, GD_ENOMEM, "%s: out of memory", path);
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        gd_fail(err, GD_EIO, "%s: cannot create %s: %s", path, tmp, strerror(errno));
        free(tmp);
        return GD_EIO;
    }
    writer w = { f, crc32(0, Z_NULL, 0), 0, 0 };
    put(&w, magic, sizeof magic);
    put_u32(&w, FORMAT_VERSION);
    put_u64(&w, count.n);
    put_payload(&w, m);
    put_u32(&w, (uint32_t)w.crc);   /* the CRC of everything before it */

    const char *what = "write";
    int e = w.error;
    if (!e && fflush(f) != 0)
        e = errno;
    /* On disk before the rename, so a crash cannot leave a renamed file
     * whose blocks never arrived. */
    if (!e && fsync(fileno(f)) != 0)
        e = errno;
    if (fclose(f) != 0 && !e)
        e = errno;
    if (!e && w.n != HEADER_SIZE + count.n + CRC_SIZE)
        e = EIO;   /* the model changed between the two passes: not possible today */
    if (!e && rename(tmp, path) != 0) {
        e = errno;
        what = "rename the temporary file to";
    }
    if (e) {
        remove(tmp);
        gd_fail(err, GD_EIO, "%s: cannot %s %s: %s", path, what,
                what[0] == 'w' ? tmp : path, strerror(e));
        free(tmp);
        return GD_EIO;
    }
    free(tmp);
    return GD_OK;
}

/* ---------------------------------------------------------------------------
 * Reading
 * ------------------------------------------------------------------------- */

typedef struct reader {
    const unsigned char *p;
    size_t pos, end;
    const char *path;
    const gd_registry *reg;
    gd_error *err;
} reader;

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
/* Every load failure: "<path>: <what>". */
static gd_status rfail(const reader *r, gd_status st, const char *fmt, ...)
{
    if (r->err) {
        int n = snprintf(r->err->msg, sizeof r->err->msg, "%s: ", r->path);
        if (n < 0 || (size_t)n >= sizeof r->err->msg)
            return st;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->err->msg + n, sizeof r->err->msg - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return st;
}

/* After the CRC matched, running out of payload means a writer bug or a
 * crafted file: call it malformed, naming what was being read. */
static bool take(reader *r, size_t n, const char *what, const unsigned char **out)
{
    if (n > r->end - r->pos) {
        rfail(r, GD_EIO, "malformed: %s runs past the end of the data (byte %zu)", what, r->pos);
        return false;
    }
    *out = r->p + r->pos;
    r->pos += n;
    return true;
}

static bool get_u8(reader *r, const char *what, unsigned *v)
{
    const unsigned char *b;
    if (!take(r, 1, what, &b))
        return false;
    *v = b[0];
    return true;
}

static uint64_t le(const unsigned char *b, int n)
{
    uint64_t v = 0;
    for (int k = n - 1; k >= 0; k--)
        v = v << 8 | b[k];
    return v;
}

static bool get_u32(reader *r, const char *what, uint32_t *v)
{
    const unsigned char *b;
    if (!take(r, 4, what, &b))
        return false;
    *v = (uint32_t)le(b, 4);
    return true;
}

static bool get_u64(reader *r, const char *what, uint64_t *v)
{
    const unsigned char *b;
    if (!take(r, 8, what, &b))
        return false;
    *v = le(b, 8);
    return true;
}

/* A string into buf (NUL-terminated), at most cap - 1 bytes. */
static bool get_str(reader *r, const char *what, char *buf, size_t cap)
{
    uint32_t n;
    const unsigned char *b;
    if (!get_u32(r, what, &n))
        return false;
    if (n >= cap) {
        rfail(r, GD_EIO, "malformed: %s is %u bytes long (at most %zu)", what, n, cap - 1);
        return false;
    }
    if (!take(r, n, what, &b))
        return false;
    memcpy(buf, b, n);
    buf[n] = 0;
    if (strlen(buf) != n) {
        rfail(r, GD_EIO, "malformed: %s contains a NUL byte", what);
        return false;
    }
    return true;
}

/* A string option's value, malloc'd to its length. */
static char *get_str_dup(reader *r, const char *what)
{
    uint32_t n;
    if (r->end - r->pos < 4) {
        get_u32(r, what, &n);   /* reports it */
        return NULL;
    }
    n = (uint32_t)le(r->p + r->pos, 4);
    size_t cap = (n < MAX_STRING ? n : MAX_STRING) + 1;
    char *s = malloc(cap);
    if (!s) {
        rfail(r, GD_ENOMEM, "out of memory");
        return NULL;
    }
    if (!get_str(r, what, s, cap)) {
        free(s);
        return NULL;
    }
    return s;
}

static gd_spec *get_spec(reader *r, const char *where, int depth);

/* One option into the spec: read its typed value and set it by name. */
static bool get_option(reader *r, gd_spec *s, const char *where, int depth)
{
    char name[MAX_NAME + 1];
    unsigned type;
    if (!get_str(r, "an option name", name, sizeof name) ||
        !get_u8(r, "an option type", &type))
        return false;
    gd_arg a = { 0 };
    gd_spec *child = NULL;
    char *str = NULL;
    uint64_t u;
    switch (type) {
    case GD_OPT_NUMBER:
        if (!get_u64(r, "a number option", &u))
            return false;
        a.type = GD_ARG_NUMBER;
        memcpy(&a.num, &u, sizeof a.num);
        break;
    case GD_OPT_INTEGER:
        if (!get_u64(r, "an integer option", &u))
            return false;
        a.type = GD_ARG_INTEGER;
        a.i = (int64_t)u;
        break;
    case GD_OPT_BOOLEAN:
        if (!get_u8(r, "a boolean option", &type))
            return false;
        a.type = GD_ARG_BOOLEAN;
        a.b = type != 0;
        break;
    case GD_OPT_ENUM:
    case GD_OPT_STRING:
        if (!(str = get_str_dup(r, "a string option")))
            return false;
        a.type = GD_ARG_STRING;
        a.s = str;
        break;
    case GD_OPT_COMPONENT:
        if (!(child = get_spec(r, where, depth + 1)))
            return false;
        a.type = GD_ARG_SPEC;
        a.spec = child;
        break;
    default:
        rfail(r, GD_EIO, "malformed: option '%s' of %s has unknown type %u", name, where, type);
        return false;
    }
    gd_error inner;
    gd_status st = gd_spec_set(s, name, &a, &inner);
    free(str);
    gd_spec_free(child);
    if (st != GD_OK) {
        rfail(r, st, "%s: %s", where, inner.msg);
        return false;
    }
    return true;
}

/* A spec as written by put_spec, rebuilt through the registry. `where`
 * ("layer 2") names the layer it belongs to in messages. */
static gd_spec *get_spec(reader *r, const char *where, int depth)
{
    unsigned kind;
    char name[MAX_NAME + 1];
    uint32_t nopts;
    if (depth > MAX_DEPTH) {
        rfail(r, GD_EIO, "malformed: specs of %s nest deeper than %d", where, MAX_DEPTH);
        return NULL;
    }
    if (!get_u8(r, "a component kind", &kind) ||
        !get_str(r, "a component name", name, sizeof name))
        return NULL;
    if (kind < GD_KIND_LAYER || kind > GD_KIND_COUNT) {
        rfail(r, GD_EIO, "malformed: %s has a component of unknown kind %u", where, kind);
        return NULL;
    }
    const gd_entry *e = gd_registry_find(r->reg, (gd_kind)kind, name);
    if (!e) {
        rfail(r, GD_ENOTFOUND, "%s needs %s '%s', which no loaded plugin provides", where,
              gd_kind_name((gd_kind)kind), name);
        return NULL;
    }
    gd_error inner;
    gd_spec *s = gd_spec_begin(r->reg, e->component, &inner);
    if (!s) {
        rfail(r, GD_ENOMEM, "%s: %s", where, inner.msg);
        return NULL;
    }
    if (!get_u32(r, "an option count", &nopts))
        goto fail;
    for (uint32_t k = 0; k < nopts; k++)
        if (!get_option(r, s, where, depth))
            goto fail;
    gd_status st = gd_spec_finish(s, &inner);
    if (st != GD_OK) {
        rfail(r, st, "%s: %s", where, inner.msg);
        goto fail;
    }
    return s;
fail:
    gd_spec_free(s);
    return NULL;
}

/* One parameter or buffer: name and count must match the model's. */
static bool get_array(reader *r, const gd_model_layer *l, int li, const char *what,
                      const char *want_name, float *dst, int64_t want_n)
{
    char name[MAX_NAME + 1];
    uint64_t n;
    const unsigned char *b;
    if (!get_str(r, "a parameter name", name, sizeof name) ||
        !get_u64(r, "a value count", &n))
        return false;
    if (strcmp(name, want_name) != 0) {
        rfail(r, GD_EINVAL, "layer %d (%s): %s '%s' in the file, the model has '%s' there", li,
              l->name, what, name, want_name);
        return false;
    }
    if (n != (uint64_t)want_n) {
        rfail(r, GD_EINVAL, "layer %d (%s): %s '%s' has %llu values in the file, the model "
              "has %lld", li, l->name, what, name, (unsigned long long)n, (long long)want_n);
        return false;
    }
    if (!take(r, (size_t)n * 4, "parameter values", &b))
        return false;
    for (uint64_t i = 0; i < n; i++) {
        uint32_t v = (uint32_t)le(b + 4 * i, 4);
        memcpy(&dst[i], &v, 4);
    }
    return true;
}

static bool get_state(reader *r, gd_model_layer *l, int li)
{
    uint32_t n;
    if (!get_u32(r, "a parameter count", &n))
        return false;
    if (n != (uint32_t)l->nparams) {
        rfail(r, GD_EINVAL, "layer %d (%s) has %u parameter tensors in the file, the model has %d",
              li, l->name, n, l->nparams);
        return false;
    }
    for (int p = 0; p < l->nparams; p++)
        if (!get_array(r, l, li, "parameter", l->params[p].info->name, l->params[p].value,
                       l->params[p].numel))
            return false;
    if (!get_u32(r, "a buffer count", &n))
        return false;
    if (n != (uint32_t)l->nbuffers) {
        rfail(r, GD_EINVAL, "layer %d (%s) has %u buffers in the file, the model has %d", li,
              l->name, n, l->nbuffers);
        return false;
    }
    for (int b = 0; b < l->nbuffers; b++)
        if (!get_array(r, l, li, "buffer", l->buffers[b].info->name, l->buffers[b].value,
                       l->buffers[b].numel))
            return false;
    return true;
}

/* Magic, version, length and CRC: whether these bytes are a whole, intact
 * model file. On success r covers the payload. */
static gd_status check_envelope(reader *r, size_t size)
{
    const unsigned char *p = r->p;
    if (size == 0)
        return rfail(r, GD_EIO, "empty file, not a gradus model");
    size_t head = size < sizeof magic ? size : sizeof magic;
    if (memcmp(p, magic, head) != 0)
        return rfail(r, GD_EIO, "not a gradus model (bad magic)");
    if (size < HEADER_SIZE) {
        if (size >= 12) {
            uint32_t v = (uint32_t)le(p + 8, 4);
            if (v != FORMAT_VERSION)
                return rfail(r, GD_EIO, "unsupported format version %u (this gradus reads "
                             "version %u)", v, FORMAT_VERSION);
        }
        return rfail(r, GD_EIO, "truncated (%zu bytes, shorter than the %u-byte header)", size,
                     HEADER_SIZE);
    }
    uint32_t version = (uint32_t)le(p + 8, 4);
    if (version != FORMAT_VERSION)
        return rfail(r, GD_EIO, "unsupported format version %u (this gradus reads version %u)",
                     version, FORMAT_VERSION);
    uint64_t len = le(p + 12, 8);
    if (len > size - HEADER_SIZE || size - HEADER_SIZE - len < CRC_SIZE)
        return rfail(r, GD_EIO, "truncated (%zu of %llu bytes)", size,
                     (unsigned long long)len + HEADER_SIZE + CRC_SIZE);
    size_t total = HEADER_SIZE + (size_t)len + CRC_SIZE;
    if (size > total)
        return rfail(r, GD_EIO, "corrupt (%zu unexpected bytes after the checksum)",
                     size - total);
    uLong crc = crc32(0, Z_NULL, 0);
    for (size_t off = 0; off < total - CRC_SIZE;) {
        size_t n = total - CRC_SIZE - off;
        if (n > (1u << 30))
            n = 1u << 30;
        crc = crc32(crc, p + off, (uInt)n);
        off += n;
    }
    uint32_t stored = (uint32_t)le(p + total - CRC_SIZE, 4);
    if ((uint32_t)crc != stored)
        return rfail(r, GD_EIO, "corrupt (CRC mismatch: stored %08x, computed %08x)", stored,
                     (unsigned)(uint32_t)crc);
    r->pos = HEADER_SIZE;
    r->end = total - CRC_SIZE;
    return GD_OK;
}

/* The whole file into memory: the CRC covers all of it anyway. */
static unsigned char *read_all(const char *path, size_t *size, gd_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        gd_fail(err, GD_EIO, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat sb;
    unsigned char *buf = NULL;
    if (fstat(fileno(f), &sb) != 0) {
        gd_fail(err, GD_EIO, "%s: cannot read: %s", path, strerror(errno));
    } else if (!S_ISREG(sb.st_mode)) {
        gd_fail(err, GD_EIO, "%s: not a regular file", path);
    } else if (!(buf = malloc(sb.st_size ? (size_t)sb.st_size : 1))) {
        gd_fail(err, GD_ENOMEM, "%s: out of memory for %lld bytes", path,
                (long long)sb.st_size);
    } else if (fread(buf, 1, (size_t)sb.st_size, f) != (size_t)sb.st_size) {
        gd_fail(err, GD_EIO, "%s: cannot read: %s", path,
                ferror(f) ? strerror(errno) : "the file shrank while being read");
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *size = buf ? (size_t)sb.st_size : 0;
    return buf;
}

gd_model *gd_model_load(const gd_registry *reg, const char *path, gd_error *err)
{
    size_t size;
    unsigned char *buf = read_all(path, &size, err);
    if (!buf)
        return NULL;
    reader r = { buf, 0, size, path, reg, err };
    gd_spec **specs = NULL;
    gd_model *m = NULL;
    uint32_t ndim, nl = 0;
    gd_shape in = { 0 };
    if (check_envelope(&r, size) != GD_OK || !get_u32(&r, "the input shape", &ndim))
        goto fail;
    if (ndim < 1 || ndim > GD_MAX_DIMS - 1) {
        rfail(&r, GD_EIO, "malformed: input shape has %u dimensions", ndim);
        goto fail;
    }
    in.ndim = (int)ndim;
    for (uint32_t d = 0; d < ndim; d++) {
        uint64_t v;
        if (!get_u64(&r, "the input shape", &v))
            goto fail;
        if (v < 1 || v > (1u << 30)) {
            rfail(&r, GD_EIO, "malformed: input dimension %u is %llu", d + 1,
                  (unsigned long long)v);
            goto fail;
        }
        in.dim[d] = (int64_t)v;
    }
    if (!get_u32(&r, "the layer count", &nl))
        goto fail;
    if (nl < 1 || nl > MAX_LAYERS) {
        rfail(&r, GD_EIO, "malformed: %u layers", nl);
        nl = 0;
        goto fail;
    }
    if (!(specs = calloc(nl, sizeof *specs))) {
        rfail(&r, GD_ENOMEM, "out of memory");
        nl = 0;
        goto fail;
    }
    for (uint32_t i = 0; i < nl; i++) {
        char where[32];
        snprintf(where, sizeof where, "layer %u", i + 1);
        if (!(specs[i] = get_spec(&r, where, 0)))
            goto fail;
    }
    gd_error inner;
    /* The seed only matters to initial values, all of which are overwritten. */
    if (!(m = gd_model_new(reg, (const gd_spec *const *)specs, (int)nl, &in, 1, &inner))) {
        rfail(&r, GD_EINVAL, "%s", inner.msg);
        goto fail;
    }
    for (uint32_t i = 0; i < nl; i++)
        if (!get_state(&r, gd_model_layer_at(m, (int)i), (int)i + 1))
            goto fail;
    if (r.pos != r.end) {
        rfail(&r, GD_EIO, "malformed: %zu unexpected bytes after the last layer",
              r.end - r.pos);
        goto fail;
    }
    for (uint32_t i = 0; i < nl; i++)
        gd_spec_free(specs[i]);
    free(specs);
    free(buf);
    return m;
fail:
    gd_model_free(m);
    for (uint32_t i = 0; specs && i < nl; i++)
        gd_spec_free(specs[i]);
    free(specs);
    free(buf);
    return NULL;
}
