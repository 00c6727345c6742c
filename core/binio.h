/*
 * core/binio.h: the file container shared by model files (.gdm) and
 * checkpoints, and the little-endian encoding inside it.
 *
 * A file is a 32-byte header and a list of tagged sections, each with its
 * own length and CRC-32 (layout: CHECKPOINTS.md). Writers build the whole
 * file in memory (a gd_buf) and hand it to gd_write_atomic; readers take the
 * whole file into memory, check the container once (gd_container_open), then
 * decode sections with a gd_reader that never reads past a section's end.
 * Every integer and float is little-endian whatever the host.
 */
#ifndef GRADUS_CORE_BINIO_H
#define GRADUS_CORE_BINIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spec.h"

/* ---- writing ---- */

typedef struct gd_buf {
    unsigned char *p;
    size_t n, cap;
    bool oom;           /* an append failed: the buffer is unusable */
} gd_buf;

void gd_buf_free(gd_buf *b);
void gd_put(gd_buf *b, const void *p, size_t n);
void gd_put_u8(gd_buf *b, unsigned v);
void gd_put_u32(gd_buf *b, uint32_t v);
void gd_put_u64(gd_buf *b, uint64_t v);
void gd_put_f64(gd_buf *b, double x);
void gd_put_str(gd_buf *b, const char *s);         /* u32 length, bytes; NULL as "" */
void gd_put_f32s(gd_buf *b, const float *x, int64_t n);   /* n values, no count */
/* A spec: u8 kind, str name, u32 count, options by name with typed values. */
void gd_put_spec(gd_buf *b, const gd_spec *s);

/* Header for `nsections` sections; sections follow with begin/end. */
void gd_put_header(gd_buf *b, const unsigned char magic[8], uint32_t version,
                   uint32_t nsections);
size_t gd_section_begin(gd_buf *b, const char tag[4]);
void gd_section_end(gd_buf *b, size_t mark);

/* Write data to path through "<path>.tmp": write, fsync, rename, fsync of
 * the directory, so a crash at any point leaves the old file or the new one,
 * never a mix. When `previous` is non-NULL the old file is first kept
 * there (a hard link, so path exists throughout). On failure the temporary
 * file is removed and path is as it was.
 *
 * Test hook: with GRADUS_TEST_STALL_WRITE=N in the environment, the writer
 * stops for good after N bytes of the temporary file (so a test can kill it
 * there, mid-write for certain). */
gd_status gd_write_atomic(const char *path, const unsigned char *data, size_t n,
                          const char *previous, gd_error *err);

/* ---- reading ---- */

/* The whole of a regular file, malloc'd. */
unsigned char *gd_read_file(const char *path, size_t *size, gd_error *err);

enum { GD_MAX_SECTIONS = 32, GD_HEADER_SIZE = 32 };

typedef struct gd_section {
    char tag[5];
    size_t off, len;    /* the payload */
} gd_section;

typedef struct gd_container {
    const unsigned char *p;
    size_t size;
    uint32_t version;           /* the file's: from fmt->oldest to fmt->version */
    int nsections;
    gd_section sec[GD_MAX_SECTIONS];
} gd_container;

/* What a container must be: its magic, version and a name for messages
 * ("checkpoint", "model file"). `other_magic`/`other_kind` name the sister
 * format so a model given as a checkpoint (or back) says so. */
typedef struct gd_format {
    const unsigned char *magic;
    uint32_t version;
    const char *kind;
    const unsigned char *other_magic;
    const char *other_hint;      /* "a model file: load it with gd.load_model" */
    uint32_t oldest;             /* the oldest version still read; 0: only `version` */
} gd_format;

/* Check header, section table and CRCs (unless !verify_crc: fuzzing the
 * decoders behind them). "<path>: <what>" on failure: empty, bad magic,
 * other version, truncated (naming the section), corrupt (naming it). */
gd_status gd_container_open(gd_container *c, const gd_format *fmt, const unsigned char *p,
                            size_t size, bool verify_crc, const char *path, gd_error *err);
const gd_section *gd_container_find(const gd_container *c, const char *tag);

typedef struct gd_reader {
    const unsigned char *p;
    size_t pos, end;
    const char *path;
    const char *section;        /* tag, for messages */
    const gd_registry *reg;     /* for specs */
    gd_error *err;
} gd_reader;

/* A reader over one section's payload. */
gd_reader gd_reader_at(const gd_container *c, const gd_section *s, const gd_registry *reg,
                       const char *path, gd_error *err);

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
gd_status gd_rfail(const gd_reader *r, gd_status st, const char *fmt, ...);

bool gd_get_u8(gd_reader *r, const char *what, unsigned *v);
bool gd_get_u32(gd_reader *r, const char *what, uint32_t *v);
bool gd_get_u64(gd_reader *r, const char *what, uint64_t *v);
bool gd_get_i64(gd_reader *r, const char *what, int64_t *v);
bool gd_get_f64(gd_reader *r, const char *what, double *v);
bool gd_get_str(gd_reader *r, const char *what, char *buf, size_t cap);
char *gd_get_str_dup(gd_reader *r, const char *what);   /* malloc'd */
bool gd_get_f32s(gd_reader *r, const char *what, float *dst, uint64_t n);
/* A count that must fit in the rest of the section at `unit` bytes each. */
bool gd_get_count(gd_reader *r, const char *what, uint64_t unit, uint64_t *n);
/* A spec written by gd_put_spec, rebuilt and validated through r->reg.
 * `where` ("layer 2", "the optimizer") names it in messages. */
gd_spec *gd_get_spec(gd_reader *r, const char *where);
/* The section was read to its end exactly. */
bool gd_reader_done(gd_reader *r);

#endif
