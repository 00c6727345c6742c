/*
 * tests/files.h: a scratch directory for a test program's files, and whole
 * files in and out (tests that write, damage and read back files).
 */
#ifndef GRADUS_TESTS_FILES_H
#define GRADUS_TESTS_FILES_H

#include <stdbool.h>
#include <stddef.h>

/* The directory, after test_dir_open: $TMPDIR (or /tmp)/gradus-test-<name>-XXXXXX. */
extern char test_dir[256];

/* Before CUnit runs: make the directory; whether it went. */
bool test_dir_open(const char *name);
/* After CUnit ran: remove what the tests left (files, empty dirs), then the
 * directory; false (with a line on stderr) when it could not go. */
bool test_dir_close(void);
/* "<test_dir>/<name>" into buf (512 bytes); returns buf. */
const char *test_at(char *buf, const char *name);
/* The whole file (fails the test fatally if it cannot be read); *n bytes. */
unsigned char *test_slurp(const char *path, size_t *n);
/* Write n bytes to path, replacing it. */
void test_spit(const char *path, const void *data, size_t n);

#endif
