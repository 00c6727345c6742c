/*
 * tests/container.c: see container.h. Written apart from core/binio.c on
 * purpose: a test that edits files through the code under test would not
 * notice that code getting the layout wrong.
 */
#include "container.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

void tc_put_le(unsigned char *p, uint64_t v, int bytes)
{
    for (int k = 0; k < bytes; k++)
        p[k] = (unsigned char)(v >> (8 * k));
}

uint64_t tc_get_le(const unsigned char *p, int bytes)
{
    uint64_t v = 0;
    for (int k = bytes - 1; k >= 0; k--)
        v = v << 8 | p[k];
    return v;
}

uint32_t tc_crc(const unsigned char *p, size_t n)
{
    uLong c = crc32(0, Z_NULL, 0);
    while (n > 0) {
        uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
        c = crc32(c, p, k);
        p += k;
        n -= k;
    }
    return (uint32_t)c;
}

/* Walk sections from the header on, stopping at the first that does not
 * fit. Returns how many fit; *end gets the offset after the last. */
static int walk(const unsigned char *p, size_t n, tc_section *out, int max, size_t *end)
{
    size_t off = TC_HEADER;
    int k = 0;
    *end = off;
    if (n < TC_HEADER)
        return 0;
    while (k < max && n - off >= 16) {
        uint64_t len = tc_get_le(p + off + 4, 8);
        if (len > n - off - 16)
            break;
        tc_section *s = &out[k++];
        memcpy(s->tag, p + off, 4);
        s->tag[4] = 0;
        s->head = off;
        s->off = off + 12;
        s->len = (size_t)len;
        off = s->off + s->len + 4;
    }
    *end = off;
    return k;
}

int tc_sections(const unsigned char *p, size_t n, tc_section *out, int max)
{
    size_t end;
    if (n < TC_HEADER)
        return -1;
    int k = walk(p, n, out, max, &end);
    uint32_t declared = (uint32_t)tc_get_le(p + 20, 4);
    return end == n && (uint32_t)k == declared ? k : -1;
}

bool tc_find(const unsigned char *p, size_t n, const char *tag, tc_section *s)
{
    tc_section all[TC_MAX_SECTIONS];
    int k = tc_sections(p, n, all, TC_MAX_SECTIONS);
    for (int i = 0; i < k; i++)
        if (memcmp(all[i].tag, tag, 4) == 0) {
            *s = all[i];
            return true;
        }
    return false;
}

long tc_find_in(const unsigned char *p, size_t n, const char *tag, const void *needle,
                size_t len, size_t from)
{
    tc_section s;
    if (!tc_find(p, n, tag, &s) || len == 0 || len > s.len)
        return -1;
    for (size_t i = from; i + len <= s.len; i++)
        if (memcmp(p + s.off + i, needle, len) == 0)
            return (long)i;
    return -1;
}

void tc_fix_section_crc(unsigned char *p, const tc_section *s)
{
    tc_put_le(p + s->off + s->len, tc_crc(p + s->head, 12 + s->len), 4);
}

void tc_fix_header_crc(unsigned char *p)
{
    tc_put_le(p + TC_HEADER - 4, tc_crc(p, TC_HEADER - 4), 4);
}

void tc_fix_all_crcs(unsigned char *p, size_t n)
{
    if (n < TC_HEADER)
        return;
    tc_fix_header_crc(p);
    tc_section s[TC_MAX_SECTIONS];
    size_t end;
    int k = walk(p, n, s, TC_MAX_SECTIONS, &end);
    for (int i = 0; i < k; i++)
        tc_fix_section_crc(p, &s[i]);
}

bool tc_patch(unsigned char *p, size_t n, const char *tag, size_t at, const void *bytes,
              size_t len)
{
    tc_section s;
    if (!tc_find(p, n, tag, &s) || at > s.len || len > s.len - at)
        return false;
    memcpy(p + s.off + at, bytes, len);
    tc_fix_section_crc(p, &s);
    return true;
}

bool tc_splice(unsigned char **pp, size_t *n, const char *tag, size_t at, size_t old_len,
               const void *bytes, size_t new_len)
{
    tc_section s;
    unsigned char *p = *pp;
    if (!tc_find(p, *n, tag, &s) || at > s.len || old_len > s.len - at)
        return false;
    size_t m = *n - old_len + new_len;
    unsigned char *q = malloc(m ? m : 1);
    if (!q)
        return false;
    size_t from = s.off + at;
    memcpy(q, p, from);
    if (new_len)
        memcpy(q + from, bytes, new_len);
    memcpy(q + from + new_len, p + from + old_len, *n - from - old_len);
    s.len = s.len - old_len + new_len;
    tc_put_le(q + s.head + 4, s.len, 8);
    tc_fix_section_crc(q, &s);
    free(p);
    *pp = q;
    *n = m;
    return true;
}

bool tc_replace_payload(unsigned char **p, size_t *n, const char *tag, const void *bytes,
                        size_t len)
{
    tc_section s;
    if (!tc_find(*p, *n, tag, &s))
        return false;
    return tc_splice(p, n, tag, 0, s.len, bytes, len);
}
