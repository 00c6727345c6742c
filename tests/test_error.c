/*
 * tests/test_error.c: include/gradus/error.h's gd_fail, which formats into
 * the caller's fixed slot and cuts a longer message at a character.
 */
#include <stdbool.h>
#include <string.h>

#include "gradus/error.h"
#include "support.h"

/* Whether s is valid UTF-8 (no overlongs, surrogates or code points past
 * U+10FFFF), as Lua's utf8.len and Python's decoder read it. */
static bool valid_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p, n, cp;
        if (c < 0x80) { p++; continue; }
        if (c >= 0xC2 && c <= 0xDF) { n = 1; cp = c & 0x1F; }
        else if (c >= 0xE0 && c <= 0xEF) { n = 2; cp = c & 0x0F; }
        else if (c >= 0xF0 && c <= 0xF4) { n = 3; cp = c & 0x07; }
        else return false;
        for (unsigned i = 1; i <= n; i++) {
            if ((p[i] & 0xC0) != 0x80) return false;
            cp = cp << 6 | (p[i] & 0x3F);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF
            || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        p += n + 1;
    }
    return true;
}

static void test_error_fail_short_message_whole(void)
{
    gd_error err;
    gd_status st = gd_fail(&err, GD_EINVAL, "adam: option '%s' must be in [0, 1), got %g", "beta1",
                           1.5);
    CU_ASSERT_EQUAL(st, GD_EINVAL);
    CU_ASSERT_STRING_EQUAL(err.msg, "adam: option 'beta1' must be in [0, 1), got 1.5");
    CU_ASSERT_EQUAL(gd_fail(NULL, GD_EIO, "discarded"), GD_EIO);
}

/* A message of exactly the slot's capacity is whole; one byte more is cut. */
static void test_error_fail_cut_only_when_longer(void)
{
    char fit[GD_ERROR_SIZE];
    memset(fit, 'a', sizeof fit - 1);
    fit[sizeof fit - 1] = '\0';
    gd_error err;
    gd_fail(&err, GD_EINVAL, "%s", fit);
    CU_ASSERT_STRING_EQUAL(err.msg, fit);
    gd_fail(&err, GD_EINVAL, "%sb", fit);
    CU_ASSERT_EQUAL(strlen(err.msg), GD_ERROR_SIZE - 1);
    CU_ASSERT_STRING_EQUAL(err.msg + GD_ERROR_SIZE - 4, "...");
    CU_ASSERT_EQUAL(strncmp(err.msg, fit, GD_ERROR_SIZE - 4), 0);
}

/* A 4-byte character placed at every offset around the cut: the message
 * ends in "...", fits, is valid UTF-8 and is the original's prefix. */
static void test_error_fail_cuts_at_a_character(void)
{
    static const char wide[] = "\xF0\x9F\x98\x80";   /* U+1F600, 4 bytes */
    for (size_t at = GD_ERROR_SIZE - 10; at < GD_ERROR_SIZE; at++) {
        char msg[2 * GD_ERROR_SIZE];
        memset(msg, 'x', at);
        memcpy(msg + at, wide, 4);
        memset(msg + at + 4, 'y', sizeof msg - at - 5);
        msg[sizeof msg - 1] = '\0';
        gd_error err;
        CU_ASSERT_EQUAL(gd_fail(&err, GD_EINVAL, "%s", msg), GD_EINVAL);
        size_t len = strlen(err.msg);
        CU_ASSERT(len < GD_ERROR_SIZE);
        CU_ASSERT(len >= 3 && strcmp(err.msg + len - 3, "...") == 0);
        CU_ASSERT(valid_utf8(err.msg));
        CU_ASSERT_EQUAL(memcmp(err.msg, msg, len - 3), 0);
        /* nothing more than the cut character is dropped */
        CU_ASSERT(len - 3 > GD_ERROR_SIZE - 4 - 4);
    }
}

int main(void)
{
    static const test_case cases[] = {
        TEST(test_error_fail_short_message_whole),
        TEST(test_error_fail_cut_only_when_longer),
        TEST(test_error_fail_cuts_at_a_character),
        TEST_END,
    };
    return test_main("error", cases);
}
