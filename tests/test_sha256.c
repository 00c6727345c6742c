/*
 * tests/test_sha256.c: core/sha256.c against FIPS 180-4's examples (one
 * block, two blocks, a million 'a's fed in uneven pieces) and a file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "files.h"
#include "sha256.h"
#include "support.h"

static void digest(const char *text, char hex[65])
{
    gd_sha256_ctx c;
    gd_sha256_init(&c);
    gd_sha256_update(&c, text, strlen(text));
    gd_sha256_hex(&c, hex);
}

static void test_sha256_fips_examples(void)
{
    char hex[65];
    digest("", hex);
    CU_ASSERT_STRING_EQUAL(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    digest("abc", hex);
    CU_ASSERT_STRING_EQUAL(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    digest("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", hex);
    CU_ASSERT_STRING_EQUAL(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

/* A million 'a's in pieces of 1, 2, ..., 1000 bytes: the buffering across
 * block boundaries. */
static void test_sha256_million_a_in_pieces(void)
{
    static char a[1000];
    memset(a, 'a', sizeof a);
    gd_sha256_ctx c;
    gd_sha256_init(&c);
    size_t left = 1000000;
    for (size_t k = 1; left > 0; k = k % 1000 + 1) {
        size_t n = k < left ? k : left;
        gd_sha256_update(&c, a, n);
        left -= n;
    }
    char hex[65];
    gd_sha256_hex(&c, hex);
    CU_ASSERT_STRING_EQUAL(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static void test_sha256_file(void)
{
    char path[512], hex[65];
    test_at(path, "sha256.txt");
    FILE *f = fopen(path, "wb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs("abc", f);
    fclose(f);
    CU_ASSERT_EQUAL(gd_sha256_file(path, hex), 0);
    CU_ASSERT_STRING_EQUAL(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    remove(path);
    CU_ASSERT_EQUAL(gd_sha256_file(path, hex), -1);   /* gone: -1, nothing written */
}

int main(void)
{
    if (!test_dir_open("sha256"))
        return 1;
    static const test_case cases[] = {
        TEST(test_sha256_fips_examples),
        TEST(test_sha256_million_a_in_pieces),
        TEST(test_sha256_file),
        TEST_END,
    };
    int rc = test_main("sha256", cases);
    return test_dir_close() ? rc : 1;
}
