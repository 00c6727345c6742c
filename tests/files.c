/*
 * tests/files.c: see files.h.
 */
#include "files.h"

#include <CUnit/CUnit.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char test_dir[256];

bool test_dir_open(const char *name)
{
    snprintf(test_dir, sizeof test_dir, "%s/gradus-test-%s-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", name);
    if (mkdtemp(test_dir))
        return true;
    perror("mkdtemp");
    return false;
}

bool test_dir_close(void)
{
    DIR *h = opendir(test_dir);
    if (!h)
        return false;
    struct dirent *e;
    char p[512];
    while ((e = readdir(h))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(p, sizeof p, "%s/%s", test_dir, e->d_name);
        if (unlink(p) != 0)
            rmdir(p);
    }
    closedir(h);
    if (rmdir(test_dir) != 0) {
        fprintf(stderr, "cannot remove %s: a test left something in it\n", test_dir);
        return false;
    }
    return true;
}

const char *test_at(char *buf, const char *name)
{
    snprintf(buf, 512, "%s/%s", test_dir, name);
    return buf;
}

unsigned char *test_slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)len + 1);
    CU_ASSERT_EQUAL_FATAL(fread(b, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return b;
}

void test_spit(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_EQUAL(fwrite(data, 1, n, f), n);
    CU_ASSERT_EQUAL(fclose(f), 0);
}
