/*
 * tests/container.h: taking apart and editing the sectioned container of
 * core/binio.h (model files and checkpoints) from a test.
 *
 * Tests craft files that pass every CRC but hold the wrong content (a
 * changed option, a patched plugin version, a cut-out field) to reach the
 * section decoders behind the checksums. These helpers list the sections
 * of a byte buffer, edit a section's payload (in place or by splicing, the
 * length field following) and recompute the section's CRC and the header's.
 *
 * The layout, from binio.c: a 32-byte header (magic[8], u32 version, u32
 * byte-order mark, u8 4, u8 8, 2 zero bytes, u32 nsections, u32 0, u32 CRC
 * of the first 28 bytes), then per section tag[4], u64 length, payload,
 * u32 CRC of tag, length and payload. All little-endian.
 */
#ifndef GRADUS_TESTS_CONTAINER_H
#define GRADUS_TESTS_CONTAINER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { TC_HEADER = 32, TC_MAX_SECTIONS = 64 };

typedef struct tc_section {
    char tag[5];
    size_t head;    /* offset of the tag */
    size_t off;     /* offset of the payload */
    size_t len;     /* payload length; the CRC follows at off + len */
} tc_section;

/* The sections of a well-formed buffer in file order, at most `max` of
 * them. Returns their count, or -1 when the buffer is not a well-formed
 * container (short header, a length that runs past the end, bytes left
 * over); CRCs are not checked. */
int tc_sections(const unsigned char *p, size_t n, tc_section *out, int max);
/* The section with this tag; false when there is none. */
bool tc_find(const unsigned char *p, size_t n, const char *tag, tc_section *s);

/* Offset of `needle` inside section tag's payload (relative to the payload)
 * at or after `from`, or -1. */
long tc_find_in(const unsigned char *p, size_t n, const char *tag, const void *needle,
                size_t len, size_t from);

/* CRC-32 (zlib's) of n bytes. */
uint32_t tc_crc(const unsigned char *p, size_t n);
/* Recompute a section's CRC from its tag, length and payload. */
void tc_fix_section_crc(unsigned char *p, const tc_section *s);
/* Recompute the header's CRC from its first 28 bytes. */
void tc_fix_header_crc(unsigned char *p);
/* Both, for every section it can walk (stops at the first that runs past
 * the end): after a mutation, so the file reaches the decoders. */
void tc_fix_all_crcs(unsigned char *p, size_t n);

/* Overwrite `len` bytes at payload offset `at` of section tag and fix its
 * CRC. False (nothing changed) when there is no such section or the bytes
 * do not fit in its payload. */
bool tc_patch(unsigned char *p, size_t n, const char *tag, size_t at, const void *bytes,
              size_t len);
/* Replace `old_len` payload bytes at `at` by `new_len` new ones (inserting
 * or cutting), updating the section's length and CRC. *p is realloc'd, *n
 * updated. False (nothing changed) when the range is not in the payload. */
bool tc_splice(unsigned char **p, size_t *n, const char *tag, size_t at, size_t old_len,
               const void *bytes, size_t new_len);
/* The whole payload of section tag replaced by these bytes. */
bool tc_replace_payload(unsigned char **p, size_t *n, const char *tag, const void *bytes,
                        size_t len);

/* Little-endian store and load of `bytes` bytes. */
void tc_put_le(unsigned char *p, uint64_t v, int bytes);
uint64_t tc_get_le(const unsigned char *p, int bytes);

#endif
