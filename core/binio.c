/*
 * core/binio.c: the sectioned file container, its little-endian encoding
 * and the atomic write (see binio.h; layout in CHECKPOINTS.md).
 *
 * Readers are written for hostile input: every read is bounded by the
 * section's end, every count is checked against the bytes left before
 * anything is allocated for it, and specs go through the same validation as
 * a user's (gd_spec_set), so a crafted file with valid CRCs gets a message,
 * never a crash or an allocation it did not pay for in bytes.
 */
#include "binio.h"
#include "fs.h"
#include "registry.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* Bounds a well-formed file never reaches. */
#define MAX_NAME 255u
#define MAX_STRING (1u << 20)
#define MAX_SPEC_DEPTH 16

/* ---------------------------------------------------------------------------
 * Writing
 * ------------------------------------------------------------------------- */

void gd_buf_free(gd_buf *b)
{
    free(b->p);
    *b = (gd_buf){ 0 };
}

void gd_put(gd_buf *b, const void *p, size_t n)
{
    if (b->oom)
        return;
    if (b->cap - b->n < n) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap - b->n < n)
            cap *= 2;
        unsigned char *q = realloc(b->p, cap);
        if (!q) {
            b->oom = true;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->n, p, n);
    b->n += n;
}

static void put_le(gd_buf *b, uint64_t v, int bytes)
{
    unsigned char x[8];
    for (int k = 0; k < bytes; k++)
        x[k] = (unsigned char)(v >> (8 * k));
    gd_put(b, x, (size_t)bytes);
}

void gd_put_u8(gd_buf *b, unsigned v) { put_le(b, v, 1); }
void gd_put_u32(gd_buf *b, uint32_t v) { put_le(b, v, 4); }
void gd_put_u64(gd_buf *b, uint64_t v) { put_le(b, v, 8); }

void gd_put_f64(gd_buf *b, double x)
{
    uint64_t v;
    memcpy(&v, &x, sizeof v);
    put_le(b, v, 8);
}

void gd_put_str(gd_buf *b, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    gd_put_u32(b, (uint32_t)n);
    gd_put(b, s, n);
}

void gd_put_f32s(gd_buf *b, const float *x, int64_t n)
{
    unsigned char chunk[4096];
    for (int64_t i = 0; i < n;) {
        size_t k = 0;
        for (; k < sizeof chunk / 4 && i < n; k++, i++) {
            uint32_t v;
            memcpy(&v, &x[i], 4);
            for (int j = 0; j < 4; j++)
                chunk[4 * k + (size_t)j] = (unsigned char)(v >> (8 * j));
        }
        gd_put(b, chunk, 4 * k);
    }
}

void gd_put_spec(gd_buf *b, const gd_spec *s)
{
    const gd_component *c = s->component;
    int n = gd_spec_option_count(c);
    uint32_t present = 0;
    for (int i = 0; i < n; i++)
        present += s->options->v[i].present != 0;
    gd_put_u8(b, (unsigned)c->kind);
    gd_put_str(b, c->name);
    gd_put_u32(b, present);
    for (int i = 0; i < n; i++) {
        const gd_option_spec *o = gd_spec_option(c, i);
        const gd_value *v = &s->options->v[i];
        if (!v->present)
            continue;
        gd_put_str(b, o->name);
        gd_put_u8(b, (unsigned)o->type);
        switch (o->type) {
        case GD_OPT_NUMBER: gd_put_f64(b, v->u.num); break;
        case GD_OPT_INTEGER: gd_put_u64(b, (uint64_t)v->u.i); break;
        case GD_OPT_BOOLEAN: gd_put_u8(b, v->u.b != 0); break;
        case GD_OPT_ENUM: gd_put_str(b, o->choices[v->u.e]); break;
        case GD_OPT_STRING:
        case GD_OPT_INTS: gd_put_str(b, v->u.s); break;
        case GD_OPT_COMPONENT: gd_put_spec(b, v->u.spec); break;
        }
    }
}

static uint32_t crc_of(const unsigned char *p, size_t n)
{
    uLong crc = crc32(0, Z_NULL, 0);
    while (n > 0) {
        uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
        crc = crc32(crc, p, k);
        p += k;
        n -= k;
    }
    return (uint32_t)crc;
}

/* Byte-order mark: written little-endian, it reads 04 03 02 01 on disk. */
#define BYTE_ORDER_MARK 0x01020304u

void gd_put_header(gd_buf *b, const unsigned char magic[8], uint32_t version,
                   uint32_t nsections)
{
    size_t at = b->n;
    gd_put(b, magic, 8);
    gd_put_u32(b, version);
    gd_put_u32(b, BYTE_ORDER_MARK);
    gd_put_u8(b, 4);          /* bytes per float32 value */
    gd_put_u8(b, 8);          /* bytes per float64 and integer value */
    put_le(b, 0, 2);
    gd_put_u32(b, nsections);
    gd_put_u32(b, 0);
    if (!b->oom)
        gd_put_u32(b, crc_of(b->p + at, GD_HEADER_SIZE - 4));
}

size_t gd_section_begin(gd_buf *b, const char tag[4])
{
    size_t mark = b->n;
    gd_put(b, tag, 4);
    gd_put_u64(b, 0);   /* the length, patched by gd_section_end */
    return mark;
}

void gd_section_end(gd_buf *b, size_t mark)
{
    if (b->oom)
        return;
    uint64_t len = b->n - mark - 12;
    for (int k = 0; k < 8; k++)
        b->p[mark + 4 + (size_t)k] = (unsigned char)(len >> (8 * k));
    gd_put_u32(b, crc_of(b->p + mark, b->n - mark));
}

/* The test hook of gd_write_atomic: stop after this many bytes (0: never). */
static size_t stall_after(void)
{
    const char *s = getenv("GRADUS_TEST_STALL_WRITE");
    char *end;
    unsigned long long v = s ? strtoull(s, &end, 10) : 0;
    return s && *s && !*end ? (size_t)v : 0;
}

static int write_all(int fd, const unsigned char *p, size_t n)
{
    size_t stall = stall_after();
    for (size_t off = 0; off < n;) {
        size_t k = n - off < (1u << 20) ? n - off : (1u << 20);
        if (stall && off + k > stall)
            k = stall > off ? stall - off : 0;
        ssize_t w = k ? write(fd, p + off, k) : 0;
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return errno;
        off += (size_t)w;
        if (stall && off >= stall) {
            fsync(fd);
            for (;;)
                pause();   /* the test kills us here */
        }
    }
    return 0;
}

/* fsync of the directory holding path, so the rename itself is durable. */
static int sync_dir(const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return ENOMEM;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
    free(copy);
    if (fd < 0)
        return errno;
    int e = fsync(fd) != 0 && errno != EINVAL ? errno : 0;
    close(fd);
    return e;
}

gd_status gd_write_atomic(const char *path, const unsigned char *data, size_t n,
                          const char *previous, gd_error *err)
{
    /* A device node or FIFO at path would be renamed over, or written to. */
    struct stat sb;
    if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode))
        return gd_fail(err, GD_EIO, "%s: is %s, not a regular file: refusing to replace it",
                       path, gd_file_kind(sb.st_mode));
    /* A name of this process and call only: two writers of one path never
     * share (or rename away) each other's temporary file. */
    char *tmp = gd_temp_name(path);
    if (!tmp)
        return gd_fail(err, GD_ENOMEM, "%s: out of memory", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        gd_fail(err, GD_EIO, "%s: cannot create %s: %s", path, tmp, strerror(errno));
        free(tmp);
        return GD_EIO;
    }
    const char *what = "write";
    int e = write_all(fd, data, n);
    /* On disk before the rename, so a crash cannot leave a renamed file
     * whose blocks never arrived. */
    if (!e && fsync(fd) != 0)
        e = errno;
    if (close(fd) != 0 && !e)
        e = errno;
    if (!e && previous) {
        /* Keep the old file under `previous`: a hard link leaves path in
         * place until the rename below replaces it in one step. */
        if (unlink(previous) != 0 && errno != ENOENT) {
            e = errno;
            what = "replace the previous checkpoint";
        } else if (link(path, previous) != 0 && errno != ENOENT &&
                   rename(path, previous) != 0) {
            e = errno;
            what = "keep the previous checkpoint as";
        }
    }
    if (!e && rename(tmp, path) != 0) {
        e = errno;
        what = "rename the temporary file to";
    }
    if (!e)
        e = sync_dir(path);
    if (e) {
        unlink(tmp);
        gd_fail(err, GD_EIO, "%s: cannot %s %s: %s", path, what,
                what[0] == 'w' ? tmp : what[0] == 'k' ? previous : path, strerror(e));
        free(tmp);
        return GD_EIO;
    }
    free(tmp);
    return GD_OK;
}

/* ---------------------------------------------------------------------------
 * Reading
 * ------------------------------------------------------------------------- */

unsigned char *gd_read_file(const char *path, size_t *size, gd_error *err)
{
    *size = 0;
    /* O_NONBLOCK: a FIFO is refused below instead of blocking the open. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        gd_fail(err, GD_EIO, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    FILE *f = NULL;
    if (gd_input_check(fd, path, NULL, err) != GD_OK) {
        close(fd);
        return NULL;
    }
    if (!(f = fdopen(fd, "rb"))) {
        gd_fail(err, GD_ENOMEM, "%s: out of memory", path);
        close(fd);
        return NULL;
    }
    struct stat sb;
    unsigned char *buf = NULL;
    if (fstat(fileno(f), &sb) != 0) {
        gd_fail(err, GD_EIO, "%s: cannot read: %s", path, strerror(errno));
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
    if (buf)
        *size = (size_t)sb.st_size;
    return buf;
}

static uint64_t le(const unsigned char *b, int n)
{
    uint64_t v = 0;
    for (int k = n - 1; k >= 0; k--)
        v = v << 8 | b[k];
    return v;
}

gd_status gd_rfail(const gd_reader *r, gd_status st, const char *fmt, ...)
{
    if (r->err) {
        int n = snprintf(r->err->msg, sizeof r->err->msg, "%s: ", r->path);
        if (n < 0 || (size_t)n >= sizeof r->err->msg)
            return st;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->err->msg + n, sizeof r->err->msg - (size_t)n, fmt, ap);
        va_end(ap);
        /* Names and values quoted from a damaged file may hold any byte: a
         * message stays one line of text. */
        for (char *c = r->err->msg + n; *c; c++)
            if ((unsigned char)*c < 0x20 || *c == 0x7f)
                *c = '?';
    }
    return st;
}

gd_status gd_container_open(gd_container *c, const gd_format *fmt, const unsigned char *p,
                            size_t size, bool verify_crc, const char *path, gd_error *err)
{
    gd_reader r = { p, 0, size, path, NULL, NULL, err };
    memset(c, 0, sizeof *c);
    if (size == 0)
        return gd_rfail(&r, GD_EIO, "empty file, not a gradus %s", fmt->kind);
    size_t head = size < 8 ? size : 8;
    if (memcmp(p, fmt->magic, head) != 0) {
        if (fmt->other_magic && memcmp(p, fmt->other_magic, head) == 0 && head == 8)
            return gd_rfail(&r, GD_EIO, "not a %s but %s", fmt->kind, fmt->other_hint);
        return gd_rfail(&r, GD_EIO, "not a gradus %s (bad magic)", fmt->kind);
    }
    uint32_t oldest = fmt->oldest ? fmt->oldest : fmt->version;
    uint32_t version = size >= 12 ? (uint32_t)le(p + 8, 4) : fmt->version;
    if (version > fmt->version || version < oldest) {
        if (oldest == fmt->version)
            return gd_rfail(&r, GD_EIO, "unsupported format version %u (this gradus reads "
                            "version %u)", (unsigned)version, (unsigned)fmt->version);
        return gd_rfail(&r, GD_EIO, "unsupported format version %u (this gradus reads "
                        "versions %u to %u)", (unsigned)version, (unsigned)oldest,
                        (unsigned)fmt->version);
    }
    if (size < GD_HEADER_SIZE)
        return gd_rfail(&r, GD_EIO, "truncated (%zu bytes, shorter than the %d-byte header)",
                        size, GD_HEADER_SIZE);
    if (verify_crc && le(p + 28, 4) != crc_of(p, GD_HEADER_SIZE - 4))
        return gd_rfail(&r, GD_EIO, "corrupt header (CRC mismatch)");
    if (le(p + 12, 4) != BYTE_ORDER_MARK || p[16] != 4 || p[17] != 8)
        return gd_rfail(&r, GD_EIO, "unsupported encoding (byte-order mark %08x, value sizes "
                        "%u and %u; gradus writes 01020304, 4 and 8)", (unsigned)le(p + 12, 4),
                        p[16], p[17]);
    uint32_t ns = (uint32_t)le(p + 20, 4);
    if (ns < 1 || ns > GD_MAX_SECTIONS)
        return gd_rfail(&r, GD_EIO, "corrupt header (%u sections)", ns);
    c->p = p;
    c->size = size;
    c->version = version;
    size_t off = GD_HEADER_SIZE;
    for (uint32_t i = 0; i < ns; i++) {
        const char *after = i ? c->sec[i - 1].tag : "the header";
        if (size - off < 12)
            return gd_rfail(&r, GD_EIO, "truncated after %s (%zu bytes; section %u of %u is "
                            "missing)", after, size, i + 1, ns);
        gd_section *s = &c->sec[i];
        for (int k = 0; k < 4; k++) {
            unsigned char ch = p[off + (size_t)k];
            if (ch < 'A' || ch > 'Z')
                return gd_rfail(&r, GD_EIO, "corrupt: section %u after %s has no valid tag",
                                i + 1, after);
            s->tag[k] = (char)ch;
        }
        uint64_t len = le(p + off + 4, 8);
        if (len > size - off - 12 || size - off - 12 - len < 4)
            return gd_rfail(&r, GD_EIO, "truncated in section %s (%zu bytes, the section "
                            "needs %llu more)", s->tag, size,
                            (unsigned long long)(len + 16 - (size - off)));
        s->off = off + 12;
        s->len = (size_t)len;
        uint32_t stored = (uint32_t)le(p + s->off + s->len, 4);
        if (verify_crc && stored != crc_of(p + off, 12 + s->len))
            return gd_rfail(&r, GD_EIO, "corrupt section %s (CRC mismatch)", s->tag);
        for (uint32_t j = 0; j < i; j++)
            if (memcmp(c->sec[j].tag, s->tag, 4) == 0)
                return gd_rfail(&r, GD_EIO, "corrupt: section %s appears twice", s->tag);
        off = s->off + s->len + 4;
        c->nsections = (int)i + 1;
    }
    if (off != size)
        return gd_rfail(&r, GD_EIO, "corrupt (%zu unexpected bytes after the last section)",
                        size - off);
    return GD_OK;
}

const gd_section *gd_container_find(const gd_container *c, const char *tag)
{
    for (int i = 0; i < c->nsections; i++)
        if (memcmp(c->sec[i].tag, tag, 4) == 0)
            return &c->sec[i];
    return NULL;
}

gd_reader gd_reader_at(const gd_container *c, const gd_section *s, const gd_registry *reg,
                       const char *path, gd_error *err)
{
    gd_reader r = { c->p, s->off, s->off + s->len, path, s->tag, reg, err };
    return r;
}

/* After the CRC matched, running out of a section means a writer bug or a
 * crafted file: call it malformed, naming what was being read. */
static bool take(gd_reader *r, size_t n, const char *what, const unsigned char **out)
{
    if (n > r->end - r->pos) {
        gd_rfail(r, GD_EIO, "malformed section %s: %s runs past its end", r->section, what);
        return false;
    }
    *out = r->p + r->pos;
    r->pos += n;
    return true;
}

bool gd_get_u8(gd_reader *r, const char *what, unsigned *v)
{
    const unsigned char *b;
    if (!take(r, 1, what, &b))
        return false;
    *v = b[0];
    return true;
}

bool gd_get_u32(gd_reader *r, const char *what, uint32_t *v)
{
    const unsigned char *b;
    if (!take(r, 4, what, &b))
        return false;
    *v = (uint32_t)le(b, 4);
    return true;
}

bool gd_get_u64(gd_reader *r, const char *what, uint64_t *v)
{
    const unsigned char *b;
    if (!take(r, 8, what, &b))
        return false;
    *v = le(b, 8);
    return true;
}

bool gd_get_i64(gd_reader *r, const char *what, int64_t *v)
{
    uint64_t u;
    if (!gd_get_u64(r, what, &u))
        return false;
    *v = (int64_t)u;
    return true;
}

bool gd_get_f64(gd_reader *r, const char *what, double *v)
{
    uint64_t u;
    if (!gd_get_u64(r, what, &u))
        return false;
    memcpy(v, &u, sizeof *v);
    return true;
}

bool gd_get_str(gd_reader *r, const char *what, char *buf, size_t cap)
{
    uint32_t n;
    const unsigned char *b;
    if (!gd_get_u32(r, what, &n))
        return false;
    if (n >= cap) {
        gd_rfail(r, GD_EIO, "malformed section %s: %s is %u bytes long (at most %zu)",
                 r->section, what, n, cap - 1);
        return false;
    }
    if (!take(r, n, what, &b))
        return false;
    memcpy(buf, b, n);
    buf[n] = 0;
    if (strlen(buf) != n) {
        gd_rfail(r, GD_EIO, "malformed section %s: %s contains a NUL byte", r->section, what);
        return false;
    }
    return true;
}

char *gd_get_str_dup(gd_reader *r, const char *what)
{
    if (r->end - r->pos < 4) {
        uint32_t n;
        gd_get_u32(r, what, &n);   /* reports it */
        return NULL;
    }
    uint32_t n = (uint32_t)le(r->p + r->pos, 4);
    size_t cap = (n < MAX_STRING ? n : MAX_STRING) + 1;
    if (n > r->end - r->pos - 4)
        cap = 1;   /* runs past the end: get_str reports it without a big malloc */
    char *s = malloc(cap);
    if (!s) {
        gd_rfail(r, GD_ENOMEM, "out of memory");
        return NULL;
    }
    if (!gd_get_str(r, what, s, cap)) {
        free(s);
        return NULL;
    }
    return s;
}

bool gd_get_f32s(gd_reader *r, const char *what, float *dst, uint64_t n)
{
    const unsigned char *b = NULL;
    if (n > (r->end - r->pos) / 4 || !take(r, (size_t)n * 4, what, &b)) {
        gd_rfail(r, GD_EIO, "malformed section %s: %s runs past its end", r->section, what);
        return false;
    }
    for (uint64_t i = 0; i < n; i++) {
        uint32_t v = (uint32_t)le(b + 4 * i, 4);
        memcpy(&dst[i], &v, 4);
    }
    return true;
}

bool gd_get_count(gd_reader *r, const char *what, uint64_t unit, uint64_t *n)
{
    if (!gd_get_u64(r, what, n))
        return false;
    if (unit && *n > (r->end - r->pos) / unit) {
        gd_rfail(r, GD_EIO, "malformed section %s: %s (%llu) runs past its end", r->section,
                 what, (unsigned long long)*n);
        return false;
    }
    return true;
}

bool gd_reader_done(gd_reader *r)
{
    if (r->pos == r->end)
        return true;
    gd_rfail(r, GD_EIO, "malformed section %s: %zu unexpected bytes at its end", r->section,
             r->end - r->pos);
    return false;
}

static gd_spec *get_spec(gd_reader *r, const char *where, int depth);

/* One option into the spec: read its typed value and set it by name. */
static bool get_option(gd_reader *r, gd_spec *s, const char *where, int depth)
{
    char name[MAX_NAME + 1];
    unsigned type;
    if (!gd_get_str(r, "an option name", name, sizeof name) ||
        !gd_get_u8(r, "an option type", &type))
        return false;
    gd_arg a = { 0 };
    gd_spec *child = NULL;
    char *str = NULL;
    uint64_t u;
    switch (type) {
    case GD_OPT_NUMBER:
        if (!gd_get_u64(r, "a number option", &u))
            return false;
        a.type = GD_ARG_NUMBER;
        memcpy(&a.num, &u, sizeof a.num);
        break;
    case GD_OPT_INTEGER:
        if (!gd_get_u64(r, "an integer option", &u))
            return false;
        a.type = GD_ARG_INTEGER;
        a.i = (int64_t)u;
        break;
    case GD_OPT_BOOLEAN:
        if (!gd_get_u8(r, "a boolean option", &type))
            return false;
        a.type = GD_ARG_BOOLEAN;
        a.b = type != 0;
        break;
    case GD_OPT_ENUM:
    case GD_OPT_STRING:
    case GD_OPT_INTS:
        if (!(str = gd_get_str_dup(r, "a string option")))
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
        gd_rfail(r, GD_EIO, "malformed section %s: option '%s' of %s has unknown type %u",
                 r->section, name, where, type);
        return false;
    }
    gd_error inner;
    gd_status st = gd_spec_set(s, name, &a, &inner);
    free(str);
    gd_spec_free(child);
    if (st != GD_OK) {
        gd_rfail(r, st, "%s: %s", where, inner.msg);
        return false;
    }
    return true;
}

static gd_spec *get_spec(gd_reader *r, const char *where, int depth)
{
    unsigned kind;
    char name[MAX_NAME + 1];
    uint32_t nopts;
    if (depth > MAX_SPEC_DEPTH) {
        gd_rfail(r, GD_EIO, "malformed section %s: specs of %s nest deeper than %d", r->section,
                 where, MAX_SPEC_DEPTH);
        return NULL;
    }
    if (!gd_get_u8(r, "a component kind", &kind) ||
        !gd_get_str(r, "a component name", name, sizeof name))
        return NULL;
    if (kind < GD_KIND_LAYER || kind > GD_KIND_COUNT) {
        gd_rfail(r, GD_EIO, "malformed section %s: %s has a component of unknown kind %u",
                 r->section, where, kind);
        return NULL;
    }
    const gd_entry *e = gd_registry_find(r->reg, (gd_kind)kind, name);
    if (!e) {
        gd_rfail(r, GD_ENOTFOUND, "%s needs %s '%s', which no loaded plugin provides", where,
                 gd_kind_name((gd_kind)kind), name);
        return NULL;
    }
    gd_error inner;
    gd_spec *s = gd_spec_begin(r->reg, e->component, &inner);
    if (!s) {
        gd_rfail(r, GD_ENOMEM, "%s: %s", where, inner.msg);
        return NULL;
    }
    if (!gd_get_u32(r, "an option count", &nopts))
        goto fail;
    for (uint32_t k = 0; k < nopts; k++)
        if (!get_option(r, s, where, depth))
            goto fail;
    gd_status st = gd_spec_finish(s, &inner);
    if (st != GD_OK) {
        gd_rfail(r, st, "%s: %s", where, inner.msg);
        goto fail;
    }
    return s;
fail:
    gd_spec_free(s);
    return NULL;
}

gd_spec *gd_get_spec(gd_reader *r, const char *where)
{
    return get_spec(r, where, 0);
}
