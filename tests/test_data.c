/*
 * tests/test_data.c: data sets, views, and the IDX, CSV and synthetic loaders.
 *
 * Every fixture file is written by the test itself into a fresh mkdtemp
 * directory that is removed afterwards. Each refusal is checked for its
 * status, a message fragment, and that the output pointer was not written.
 */
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "data.h"
#include "support.h"

#ifndef REAL_FASHION_DIR
#define REAL_FASHION_DIR "/usr/share/datasets/fashion-mnist"
#endif

/* A value no loader writes: outputs must keep it when a call fails. */
static char untouched_mark;
#define UNTOUCHED ((gd_dataset *)&untouched_mark)

/* ---- fixture directory ---- */

static char fixture_dir[256];

static void fixtures_open(void)
{
    snprintf(fixture_dir, sizeof fixture_dir, "%s/gradus-test-data-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(fixture_dir));
}

/* Remove the directory and what the tests put in it (files, empty dirs). */
static void fixtures_close(void)
{
    DIR *d = opendir(fixture_dir);
    if (!d)
        return;
    struct dirent *e;
    char p[512];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(p, sizeof p, "%s/%s", fixture_dir, e->d_name);
        if (unlink(p) != 0)
            rmdir(p);
    }
    closedir(d);
    CU_ASSERT_EQUAL(rmdir(fixture_dir), 0);
}

static const char *fx(char *buf, const char *name)
{
    snprintf(buf, 512, "%s/%s", fixture_dir, name);
    return buf;
}

static void write_file(const char *path, const void *data, size_t n, bool gz)
{
    if (gz) {
        gzFile g = gzopen(path, "wb");
        CU_ASSERT_PTR_NOT_NULL_FATAL(g);
        if (n)
            CU_ASSERT_EQUAL(gzwrite(g, data, (unsigned)n), (int)n);
        CU_ASSERT_EQUAL(gzclose(g), Z_OK);
    } else {
        FILE *f = fopen(path, "wb");
        CU_ASSERT_PTR_NOT_NULL_FATAL(f);
        if (n)
            CU_ASSERT_EQUAL(fwrite(data, 1, n, f), n);
        fclose(f);
    }
}

static void write_text(const char *path, const char *text)
{
    write_file(path, text, strlen(text), false);
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* An IDX image: magic 0 0 type ndim, big-endian dims, data. *len gets the size. */
static uint8_t *idx_bytes(uint8_t type, int ndim, const uint32_t *dims, const uint8_t *data,
                          size_t ndata, size_t *len)
{
    *len = 4 + 4 * (size_t)ndim + ndata;
    uint8_t *b = malloc(*len);
    b[0] = 0;
    b[1] = 0;
    b[2] = type;
    b[3] = (uint8_t)ndim;
    for (int i = 0; i < ndim; i++)
        for (int k = 0; k < 4; k++)
            b[4 + 4 * i + k] = (uint8_t)(dims[i] >> (24 - 8 * k));
    memcpy(b + 4 + 4 * ndim, data, ndata);
    return b;
}

/* A small image/label pair: n images of 3x4 with pixel (i*12 + j)*7 mod 256,
 * labels i % 3 (so classes inferred: 3). */
#define PIX 12
static void write_pair(const char *img, const char *lab, uint32_t n_img, uint32_t n_lab,
                       bool gz)
{
    uint8_t pix[64 * PIX], labels[64];
    for (uint32_t i = 0; i < 64 * PIX; i++)
        pix[i] = (uint8_t)(i * 7);
    for (uint32_t i = 0; i < 64; i++)
        labels[i] = (uint8_t)(i % 3);
    uint32_t di[3] = { n_img, 3, 4 }, dl[1] = { n_lab };
    size_t len;
    uint8_t *b = idx_bytes(0x08, 3, di, pix, n_img * PIX, &len);
    write_file(img, b, len, gz);
    free(b);
    b = idx_bytes(0x08, 1, dl, labels, n_lab, &len);
    write_file(lab, b, len, gz);
    free(b);
}

static void expect_fail(gd_status st, const gd_error *err, const char *fragment)
{
    CU_ASSERT_NOT_EQUAL(st, GD_OK);
    if (!strstr(err->msg, fragment)) {
        fprintf(stderr, "\n  message '%s' lacks '%s'\n", err->msg, fragment);
        CU_FAIL("message");
    }
}

static void expect_fail2(gd_status st, const gd_error *err, const char *a, const char *b)
{
    expect_fail(st, err, a);
    expect_fail(st, err, b);
}

static gd_status idx_try(const char *img, const char *lab, int64_t limit, int classes,
                         gd_dataset **out, gd_error *err)
{
    gd_idx_options o = { .images = img, .labels = lab, .limit = limit, .classes = classes };
    return gd_idx_load_with(&o, out, err);
}

/* All samples of ds gathered in order. */
static void gather_all(const gd_dataset *ds, float *x, float *y)
{
    int64_t n = gd_dataset_size(ds);
    int64_t *idx = malloc((size_t)n * sizeof *idx);
    for (int64_t i = 0; i < n; i++)
        idx[i] = i;
    gd_dataset_gather(ds, idx, n, x, y);
    free(idx);
}

/* ---- IDX ---- */

/* classes are inferred (max label + 1) from the samples read */
static void check_pair(const gd_dataset *ds, int64_t n, int classes)
{
    CU_ASSERT_EQUAL(gd_dataset_size(ds), n);
    CU_ASSERT_EQUAL(gd_dataset_features(ds), PIX);
    CU_ASSERT_EQUAL(gd_dataset_classes(ds), classes);
    CU_ASSERT_EQUAL(gd_dataset_target_width(ds), 1);
    CU_ASSERT_EQUAL(gd_dataset_sample_shape(ds)->ndim, 1);
    CU_ASSERT_EQUAL(gd_dataset_sample_shape(ds)->dim[0], PIX);
    float x[64 * PIX], y[64];
    gather_all(ds, x, y);
    int bad = 0;
    for (int64_t i = 0; i < n * PIX; i++)
        bad += x[i] != (float)(uint8_t)(i * 7) / 255.0f;
    for (int64_t i = 0; i < n; i++)
        bad += y[i] != (float)(i % 3);
    CU_ASSERT_EQUAL(bad, 0);
}

static void idx_round_trip(bool gz)
{
    fixtures_open();
    char img[512], lab[512];
    fx(img, gz ? "img.gz" : "img");
    fx(lab, gz ? "lab.gz" : "lab");
    write_pair(img, lab, 5, 5, gz);
    gd_error err;
    gd_dataset *ds = NULL;
    CU_ASSERT_EQUAL_FATAL(gd_idx_load(img, lab, &ds, &err), GD_OK);
    check_pair(ds, 5, 3);
    CU_ASSERT_STRING_EQUAL(gd_dataset_name(ds), gz ? "img.gz" : "img");
    gd_dataset_free(ds);
    /* a limit reads only a prefix */
    CU_ASSERT_EQUAL_FATAL(idx_try(img, lab, 2, 0, &ds, &err), GD_OK);
    CU_ASSERT_EQUAL(gd_dataset_size(ds), 2);
    check_pair(ds, 2, 2);
    gd_dataset_free(ds);
    fixtures_close();
}

static void test_data_idx_round_trip_plain(void) { idx_round_trip(false); }
static void test_data_idx_round_trip_gzip(void) { idx_round_trip(true); }

static void test_data_idx_truncated(void)
{
    fixtures_open();
    char img[512], lab[512], cut[512];
    gd_error err;
    for (int gz = 0; gz <= 1; gz++) {
        fx(img, "img");
        fx(lab, "lab");
        fx(cut, "cut");
        write_pair(img, lab, 5, 5, false);
        /* plain offsets: inside the magic, inside the dims, inside the data,
         * one byte short */
        long full = file_size(img), offsets[] = { 2, 6, 16 + 5, full - 1 };
        for (int k = 0; k < 4; k++) {
            FILE *f = fopen(img, "rb");
            uint8_t buf[256];
            size_t n = fread(buf, 1, sizeof buf, f);
            fclose(f);
            CU_ASSERT_EQUAL((long)n, full);
            write_file(cut, buf, (size_t)offsets[k], gz);
            gd_dataset *ds = UNTOUCHED;
            expect_fail2(gd_idx_load(cut, lab, &ds, &err), &err, cut, "truncated");
            expect_fail(GD_EIO, &err, offsets[k] < 16 ? "inside the header" : "image data");
            CU_ASSERT_PTR_EQUAL(ds, UNTOUCHED);
        }
        /* a truncated labels file */
        write_pair(img, lab, 5, 5, gz);
        CU_ASSERT_EQUAL(truncate(lab, file_size(lab) - (gz ? 4 : 1)), 0);
        gd_dataset *ds = UNTOUCHED;
        expect_fail2(gd_idx_load(img, lab, &ds, &err), &err, lab, "truncated");
        CU_ASSERT_PTR_EQUAL(ds, UNTOUCHED);
    }
    /* a gzip file cut inside its compressed stream, and inside its gzip header */
    write_pair(img, lab, 5, 5, true);
    long full = file_size(img);
    long gz_cuts[] = { 5, full / 2, full - 4 };
    for (int k = 0; k < 3; k++) {
        write_pair(img, lab, 5, 5, true);
        CU_ASSERT_EQUAL(truncate(img, gz_cuts[k]), 0);
        gd_dataset *ds = UNTOUCHED;
        expect_fail2(gd_idx_load(img, lab, &ds, &err), &err, img, "truncated");
        CU_ASSERT_PTR_EQUAL(ds, UNTOUCHED);
    }
    fixtures_close();
}

static void test_data_idx_bad_header(void)
{
    fixtures_open();
    char img[512], lab[512], bad[512];
    fx(img, "img");
    fx(lab, "lab");
    fx(bad, "bad");
    write_pair(img, lab, 5, 5, false);
    gd_error err;
    gd_dataset *ds = UNTOUCHED;
    uint8_t data[5 * PIX] = { 0 };
    uint32_t dims[3] = { 5, 3, 4 };
    size_t len;

    uint8_t *b = idx_bytes(0x08, 3, dims, data, sizeof data, &len);
    b[0] = 0x12;
    b[1] = 0x34;
    write_file(bad, b, len, true);
    expect_fail2(gd_idx_load(bad, lab, &ds, &err), &err, bad, "bad magic number 0x12340803");
    free(b);

    b = idx_bytes(0x0D, 3, dims, data, sizeof data, &len);   /* float elements */
    write_file(bad, b, len, false);
    expect_fail2(gd_idx_load(bad, lab, &ds, &err), &err, bad,
                 "unsupported IDX element type 0x0d (only 0x08");
    free(b);

    b = idx_bytes(0x08, 1, dims, data, 5, &len);   /* a label file given as images */
    write_file(bad, b, len, false);
    expect_fail2(gd_idx_load(bad, lab, &ds, &err), &err, bad, "expected at least 2");
    expect_fail2(gd_idx_load(img, img, &ds, &err), &err, img,
                 "IDX label file has 3 dimensions, expected 1");
    free(b);

    /* bytes beyond the announced samples */
    b = idx_bytes(0x08, 3, dims, data, sizeof data, &len);
    uint8_t *longer = calloc(1, len + 3);
    memcpy(longer, b, len);
    write_file(bad, longer, len + 3, true);
    expect_fail2(gd_idx_load(bad, lab, &ds, &err), &err, bad, "unexpected data after");
    free(longer);
    free(b);

    /* 2^31 images of 65536 x 65536: 2^63 bytes, beyond int64 (UBSan caught
     * the product); refused from the header, before any data is read. */
    static const uint8_t huge[16] = { 0, 0, 8, 3, 0x80, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0 };
    write_file(bad, huge, sizeof huge, false);
    expect_fail2(gd_idx_load(bad, lab, &ds, &err), &err, bad,
                 "IDX header claims 2147483648 samples of 4294967296 bytes, more than any "
                 "file can hold");
    CU_ASSERT_PTR_EQUAL(ds, UNTOUCHED);
    fixtures_close();
}

static void test_data_idx_count_mismatch(void)
{
    fixtures_open();
    char img[512], lab[512];
    write_pair(fx(img, "img.gz"), fx(lab, "lab.gz"), 5, 4, true);
    gd_error err;
    gd_dataset *ds = UNTOUCHED;
    expect_fail2(gd_idx_load(img, lab, &ds, &err), &err, "has 5 images but", "has 4 labels");
    expect_fail(GD_EIO, &err, lab);
    CU_ASSERT_PTR_EQUAL(ds, UNTOUCHED);
    fixtures_close();
}

static void test_data_idx_label_out_of_range(void)
{
    fixtures_open();
    char img[512], lab[512];
    write_pair(fx(img, "img"), fx(lab, "lab"), 5, 5, false);
    gd_error err;
    gd_dataset *ds = UNTOUCHED;
    expect_fail2(idx_try(img, lab, 0, 2, &ds, &err), &err, lab,
                 "label 2 of sample 3 is outside 0..1 (2 classes)");
    CU_ASSERT_PTR_EQUAL(ds, UNTOUCHED);
    /* Fashion-MNIST layout with a label 10 */
    uint8_t pix[2 * 784] = { 0 }, labels[2] = { 9, 10 };
    uint32_t di[3] = { 2, 28, 28 }, dl[1] = { 2 };
    size_t len;
    uint8_t *b = idx_bytes(0x08, 3, di, pix, sizeof pix, &len);
    write_file(fx(img, "t10k-images-idx3-ubyte.gz"), b, len, true);
    free(b);
    b = idx_bytes(0x08, 1, dl, labels, 2, &len);
    write_file(fx(lab, "t10k-labels-idx1-ubyte.gz"), b, len, true);
    free(b);
    expect_fail2(gd_fashion_mnist_load(fixture_dir, "test", 0, &ds, &err), &err, lab,
                 "label 10 of sample 2 is outside 0..9 (10 classes)");
    CU_ASSERT_PTR_EQUAL(ds, UNTOUCHED);
    fixtures_close();
}

static void test_data_idx_corrupt_gzip(void)
{
    fixtures_open();
    char img[512], lab[512];
    write_pair(fx(img, "img.gz"), fx(lab, "lab.gz"), 5, 5, true);
    long n = file_size(img);
    CU_ASSERT_FATAL(n > 10 && n <= 512);
    uint8_t buf[512];
    FILE *f = fopen(img, "rb");
    CU_ASSERT_EQUAL((long)fread(buf, 1, sizeof buf, f), n);
    fclose(f);
    gd_error err;
    gd_dataset *ds = UNTOUCHED;
    /* gzopen writes a 10-byte header; 0xff there makes the first deflate
     * block type 3, which does not exist */
    uint8_t bad[512];
    memcpy(bad, buf, (size_t)n);
    bad[10] = 0xff;
    write_file(img, bad, (size_t)n, false);
    expect_fail2(gd_idx_load(img, lab, &ds, &err), &err, img, "corrupt gzip stream");
    /* a wrong CRC in the trailer: every byte decodes, the check fails */
    memcpy(bad, buf, (size_t)n);
    bad[n - 8] ^= 0x55;
    write_file(img, bad, (size_t)n, false);
    expect_fail2(gd_idx_load(img, lab, &ds, &err), &err, img, "corrupt gzip stream");
    CU_ASSERT_PTR_EQUAL(ds, UNTOUCHED);
    fixtures_close();
}

static void test_data_idx_not_a_file(void)
{
    fixtures_open();
    char img[512], lab[512], dir[512], empty[512];
    write_pair(fx(img, "img"), fx(lab, "lab"), 5, 5, false);
    CU_ASSERT_EQUAL(mkdir(fx(dir, "adir"), 0700), 0);
    write_file(fx(empty, "empty"), "", 0, false);
    gd_error err;
    gd_dataset *ds = UNTOUCHED;
    expect_fail2(gd_idx_load(dir, lab, &ds, &err), &err, dir, "is a directory");
    expect_fail2(gd_idx_load(img, dir, &ds, &err), &err, dir, "is a directory");
    expect_fail2(gd_idx_load(empty, lab, &ds, &err), &err, empty, "file is empty");
    /* an empty gzip stream holds no header at all */
    write_file(empty, "", 0, true);
    expect_fail2(gd_idx_load(empty, lab, &ds, &err), &err, empty, "truncated inside the header");
    fx(dir, "missing");
    CU_ASSERT_EQUAL(gd_idx_load(dir, lab, &ds, &err), GD_ENOTFOUND);
    expect_fail2(GD_ENOTFOUND, &err, dir, "cannot open");
    CU_ASSERT_PTR_EQUAL(ds, UNTOUCHED);
    fixtures_close();
}

/* ---- Fashion-MNIST ---- */

static void test_data_fashion_missing_names_package(void)
{
    fixtures_open();
    gd_error err;
    gd_dataset *ds = UNTOUCHED;
    expect_fail2(gd_fashion_mnist_load(fixture_dir, "train", 0, &ds, &err), &err,
                 "dataset-fashion-mnist", "GRADUS_DATA");
    expect_fail(GD_ENOTFOUND, &err, "train-images-idx3-ubyte.gz not found");
    const char *old = getenv("GRADUS_DATA");
    char *saved = old ? strdup(old) : NULL;
    setenv("GRADUS_DATA", fixture_dir, 1);
    expect_fail2(gd_fashion_mnist_load(NULL, "test", 0, &ds, &err), &err,
                 "dataset-fashion-mnist", "(GRADUS_DATA=");
    expect_fail(GD_ENOTFOUND, &err, "t10k-images-idx3-ubyte.gz not found");
    if (saved)
        setenv("GRADUS_DATA", saved, 1);
    else
        unsetenv("GRADUS_DATA");
    free(saved);
    expect_fail(gd_fashion_mnist_load(fixture_dir, "validation", 0, &ds, &err), &err,
                "split must be \"train\" or \"test\", got 'validation'");
    CU_ASSERT_PTR_EQUAL(ds, UNTOUCHED);
    fixtures_close();
}

/* The loader's file lookup (GRADUS_DATA, NAME.gz then NAME) on a tiny fixture. */
static void test_data_fashion_from_gradus_data(void)
{
    fixtures_open();
    char img[512], lab[512];
    uint8_t pix[3 * 784], labels[3] = { 0, 9, 4 };
    for (int i = 0; i < 3 * 784; i++)
        pix[i] = (uint8_t)(i * 31);
    uint32_t di[3] = { 3, 28, 28 }, dl[1] = { 3 };
    size_t len;
    uint8_t *b = idx_bytes(0x08, 3, di, pix, sizeof pix, &len);
    write_file(fx(img, "train-images-idx3-ubyte"), b, len, false);   /* plain, not .gz */
    free(b);
    b = idx_bytes(0x08, 1, dl, labels, 3, &len);
    write_file(fx(lab, "train-labels-idx1-ubyte.gz"), b, len, true);
    free(b);
    const char *old = getenv("GRADUS_DATA");
    char *saved = old ? strdup(old) : NULL;
    setenv("GRADUS_DATA", fixture_dir, 1);
    gd_error err;
    gd_dataset *ds = NULL;
    CU_ASSERT_EQUAL_FATAL(gd_fashion_mnist_load(NULL, "train", 2, &ds, &err), GD_OK);
    if (saved)
        setenv("GRADUS_DATA", saved, 1);
    else
        unsetenv("GRADUS_DATA");
    free(saved);
    CU_ASSERT_STRING_EQUAL(gd_dataset_name(ds), "fashion_mnist/train");
    CU_ASSERT_EQUAL(gd_dataset_size(ds), 2);
    CU_ASSERT_EQUAL(gd_dataset_features(ds), 784);
    CU_ASSERT_EQUAL(gd_dataset_classes(ds), 10);
    float x[2 * 784], y[2];
    int64_t idx[2] = { 1, 0 };
    gd_dataset_gather(ds, idx, 2, x, y);
    CU_ASSERT_EQUAL(y[0], 9.0f);
    CU_ASSERT_EQUAL(y[1], 0.0f);
    int bad = 0;
    for (int j = 0; j < 784; j++)
        bad += x[j] != pix[784 + j] / 255.0f || x[784 + j] != pix[j] / 255.0f;
    CU_ASSERT_EQUAL(bad, 0);
    gd_dataset_free(ds);
    fixtures_close();
}

/* The real data set, where the loader looks for it (GRADUS_DATA, else the
 * Debian package's directory). */
static void test_data_fashion_real_test_split(void)
{
    const char *dir = getenv("GRADUS_DATA");
    char path[600];
    dir = dir && *dir ? dir : REAL_FASHION_DIR;
    snprintf(path, sizeof path, "%s/t10k-images-idx3-ubyte.gz", dir);
    if (!test_have_data(path, "dataset-fashion-mnist"))
        return;
    gd_error err;
    gd_dataset *ds = NULL;
    gd_status st = gd_fashion_mnist_load(dir, "test", 1000, &ds, &err);
    if (st != GD_OK)
        fprintf(stderr, "\n  %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(st, GD_OK);
    CU_ASSERT_EQUAL(gd_dataset_size(ds), 1000);
    CU_ASSERT_EQUAL(gd_dataset_features(ds), 784);
    CU_ASSERT_EQUAL(gd_dataset_classes(ds), 10);
    float *x = malloc(1000 * 784 * sizeof *x), y[1000];
    gather_all(ds, x, y);
    float lo = 1, hi = 0;
    for (int i = 0; i < 1000 * 784; i++) {
        lo = fminf(lo, x[i]);
        hi = fmaxf(hi, x[i]);
    }
    CU_ASSERT(lo >= 0.0f && hi <= 1.0f);
    CU_ASSERT(lo == 0.0f && hi > 0.9f);   /* real images use the range */
    int seen[10] = { 0 }, bad = 0;
    for (int i = 0; i < 1000; i++) {
        bad += y[i] < 0 || y[i] > 9 || y[i] != floorf(y[i]);
        if (!bad)
            seen[(int)y[i]]++;
    }
    CU_ASSERT_EQUAL(bad, 0);
    for (int k = 0; k < 10; k++)
        CU_ASSERT(seen[k] > 0);
    free(x);
    gd_dataset_free(ds);
}

/* ---- CSV ---- */

static void test_data_csv_round_trip(void)
{
    fixtures_open();
    char p[512];
    write_text(fx(p, "iris.csv"), "\"a\", b ,\"label\",c\r\n"
                                  "1.5,2,7,-3\r\n"
                                  "\r\n"
                                  "0,1e-3,-1,4\n"
                                  "  2 , \"3\" , 3 , 5  \n"
                                  "\n");
    gd_error err;
    gd_dataset *ds = NULL;
    gd_csv_options o = { .path = p, .target_name = "label", .header = true, .classes = true };
    CU_ASSERT_EQUAL_FATAL(gd_csv_load(&o, &ds, &err), GD_OK);
    CU_ASSERT_EQUAL(gd_dataset_size(ds), 3);
    CU_ASSERT_EQUAL(gd_dataset_features(ds), 3);
    CU_ASSERT_EQUAL(gd_dataset_classes(ds), 3);
    CU_ASSERT_STRING_EQUAL(gd_dataset_name(ds), "iris.csv");
    float x[9], y[3];
    gather_all(ds, x, y);
    const float wx[9] = { 1.5f, 2, -3, 0, 1e-3f, 4, 2, 3, 5 };
    const float wy[3] = { 2, 0, 1 };   /* -1, 3, 7 sorted map to 0, 1, 2 */
    check_close("csv x", x, wx, 9, 0);
    check_close("csv y", y, wy, 3, 0);
    gd_dataset_free(ds);

    /* regression, no header, target by 1-based index */
    write_text(p, "10,1,2\n20,3,4\n");
    o = (gd_csv_options){ .path = p, .target_index = 1 };
    CU_ASSERT_EQUAL_FATAL(gd_csv_load(&o, &ds, &err), GD_OK);
    CU_ASSERT_EQUAL(gd_dataset_classes(ds), 0);
    CU_ASSERT_EQUAL(gd_dataset_target_width(ds), 1);
    float x2[4], y2[2];
    gather_all(ds, x2, y2);
    const float wx2[4] = { 1, 2, 3, 4 }, wy2[2] = { 10, 20 };
    check_close("csv x", x2, wx2, 4, 0);
    check_close("csv y", y2, wy2, 2, 0);
    gd_dataset_free(ds);
    /* target_index 0 is the last column */
    o.target_index = 0;
    CU_ASSERT_EQUAL_FATAL(gd_csv_load(&o, &ds, &err), GD_OK);
    gather_all(ds, x2, y2);
    CU_ASSERT(y2[0] == 2 && y2[1] == 4 && x2[0] == 10 && x2[3] == 3);
    gd_dataset_free(ds);
    /* a UTF-8 byte order mark (as spreadsheets write) is not part of the first name */
    write_text(p, "\xEF\xBB\xBFlabel,b\n1,2\n0,4\n");
    o = (gd_csv_options){ .path = p, .target_name = "label", .header = true, .classes = true };
    CU_ASSERT_EQUAL_FATAL(gd_csv_load(&o, &ds, &err), GD_OK);
    gather_all(ds, x2, y2);
    CU_ASSERT(y2[0] == 1 && y2[1] == 0 && x2[0] == 2 && x2[1] == 4);
    gd_dataset_free(ds);
    fixtures_close();
}

/* The file holds len bytes of text (NUL bytes too). */
static void csv_refused_bytes(const char *text, size_t len, const gd_csv_options *opt,
                              const char *a, const char *b)
{
    char p[512];
    write_file(fx(p, "bad.csv"), text, len, false);
    gd_csv_options o = *opt;
    o.path = p;
    gd_error err;
    gd_dataset *ds = UNTOUCHED;
    expect_fail2(gd_csv_load(&o, &ds, &err), &err, "bad.csv", a);
    if (b)
        expect_fail(GD_EIO, &err, b);
    CU_ASSERT_PTR_EQUAL(ds, UNTOUCHED);
}

static void csv_refused(const char *text, const gd_csv_options *opt, const char *a,
                        const char *b)
{
    csv_refused_bytes(text, strlen(text), opt, a, b);
}

static void test_data_csv_bad_input(void)
{
    fixtures_open();
    gd_csv_options h = { .header = true }, c = { .header = true, .classes = true };
    csv_refused("a,b,c\n1,2,3\n4,5\n", &h, "line 3 has 2 fields, expected 3", NULL);
    csv_refused("a,b,c\n1,2,3\n4,5,6,7\n", &h, "line 3 has 4 fields, expected 3", NULL);
    csv_refused("a,b,c\n1,2,3\n\n4,abc,6\n", &h, "line 4, column 2 ('b')",
                "expected a number, got 'abc'");
    csv_refused("1,2,3\n4,,6\n", &(gd_csv_options){ 0 }, "line 2, column 2",
                "expected a number, got ''");
    csv_refused("a,b\n1,nan\n", &h, "line 2, column 2", "not a finite float");
    csv_refused("", &h, "file is empty", NULL);
    csv_refused("\n  \n", &h, "file is empty", NULL);
    csv_refused("a,b,c\n", &h, "no data rows after the header", NULL);
    csv_refused("a,b\n1,2.5\n", &c, "line 2, column 2 ('b')", "class label must be an integer");
    csv_refused("a,b\n16777217,2\n", &(gd_csv_options){ .header = true, .classes = true,
                .target_index = 1 }, "line 2, column 1 ('a')", "class label 16777217 is beyond "
                "+-2^24 (16777216), where float32 labels can no longer tell neighbouring integers "
                "apart");
    csv_refused("x,y,x\n1,2,3\n", &h, "columns 1 and 3 are both named 'x'", NULL);
    static const char nul_mid[] = "a,b,c\n1,2,3\n4,5\0006,7\n", nul_start[] = "a,b,c\n4,\0005,6\n";
    csv_refused_bytes(nul_mid, sizeof nul_mid - 1, &h, "line 3, column 2: a NUL byte", NULL);
    csv_refused_bytes(nul_start, sizeof nul_start - 1, &h, "line 2, column 2: a NUL byte", NULL);
    csv_refused("a\n1\n", &h, "needs at least 2", NULL);
    csv_refused("a,b\n1,\"2\n", &h, "line 2, column 2", "unterminated quoted field");
    gd_csv_options named = { .header = true, .target_name = "y" };
    csv_refused("a,b\n1,2\n", &named, "no column named 'y' (columns: a, b)", NULL);
    gd_csv_options idx = { .header = true, .target_index = 3 };
    csv_refused("a,b\n1,2\n", &idx, "target column 3 is out of range 1..2", NULL);

    char dir[512];
    CU_ASSERT_EQUAL(mkdir(fx(dir, "adir"), 0700), 0);
    gd_csv_options o = { .path = dir, .header = true };
    gd_error err;
    gd_dataset *ds = UNTOUCHED;
    expect_fail2(gd_csv_load(&o, &ds, &err), &err, dir, "is a directory");
    o.path = fx(dir, "missing.csv");
    expect_fail2(gd_csv_load(&o, &ds, &err), &err, dir, "cannot open");
    o = (gd_csv_options){ .path = dir, .target_name = "y" };
    expect_fail(gd_csv_load(&o, &ds, &err), &err, "needs header = true");
    CU_ASSERT_PTR_EQUAL(ds, UNTOUCHED);
    fixtures_close();
}

/* ---- views ---- */

/* n samples whose single feature is the sample's number, label = number % 3. */
static gd_dataset *numbered(int64_t n)
{
    float *x = malloc((size_t)n * sizeof *x), *y = malloc((size_t)n * sizeof *y);
    for (int64_t i = 0; i < n; i++) {
        x[i] = (float)i;
        y[i] = (float)(i % 3);
    }
    gd_shape s = gd_shape_1(1);
    gd_error err;
    gd_dataset *ds = gd_dataset_from_floats(n, &s, x, 1, y, 3, &err);
    CU_ASSERT_PTR_NOT_NULL(ds);
    free(x);
    free(y);
    return ds;
}

static void ids_of(const gd_dataset *ds, float *ids)
{
    float *y = malloc((size_t)gd_dataset_size(ds) * sizeof *y);
    gather_all(ds, ids, y);
    for (int64_t i = 0; i < gd_dataset_size(ds); i++)
        CU_ASSERT_EQUAL(y[i], (float)((int64_t)ids[i] % 3));   /* labels travel with x */
    free(y);
}

static void test_data_split_disjoint_and_exact(void)
{
    gd_dataset *ds = numbered(100), *tr = UNTOUCHED, *va = UNTOUCHED;
    gd_error err;
    CU_ASSERT_EQUAL_FATAL(gd_dataset_split(ds, 30, 7, &tr, &va, &err), GD_OK);
    CU_ASSERT_EQUAL(gd_dataset_size(tr), 70);
    CU_ASSERT_EQUAL(gd_dataset_size(va), 30);
    CU_ASSERT_EQUAL(gd_dataset_features(tr), 1);
    CU_ASSERT_EQUAL(gd_dataset_classes(va), 3);
    float a[100];
    int count[100] = { 0 };
    ids_of(tr, a);
    ids_of(va, a + 70);
    for (int i = 0; i < 100; i++)
        count[(int)a[i]]++;
    int bad = 0;
    for (int i = 0; i < 100; i++)
        bad += count[i] != 1;
    CU_ASSERT_EQUAL(bad, 0);

    /* a split of a split: views of views map back to the same base rows */
    gd_dataset *t2, *v2;
    CU_ASSERT_EQUAL_FATAL(gd_dataset_split(tr, 20, 3, &t2, &v2, &err), GD_OK);
    float b[70];
    memset(count, 0, sizeof count);
    ids_of(t2, b);
    ids_of(v2, b + 50);
    for (int i = 0; i < 70; i++)
        count[(int)b[i]]++;
    bad = 0;
    for (int i = 0; i < 70; i++)
        bad += count[(int)a[i]] != 1;
    CU_ASSERT_EQUAL(bad, 0);

    /* the views keep the base alive after the original is freed */
    gd_dataset_free(ds);
    gd_dataset_free(tr);
    gd_dataset *again = gd_dataset_ref(v2);
    gd_dataset_free(v2);
    ids_of(again, b);
    gd_dataset_free(again);
    ids_of(t2, b);
    gd_dataset_free(t2);
    gd_dataset_free(va);
}

static void test_data_split_seeded(void)
{
    gd_dataset *ds = numbered(50), *t1, *v1, *t2, *v2, *t3, *v3;
    gd_error err;
    CU_ASSERT_EQUAL_FATAL(gd_dataset_split(ds, 10, 1, &t1, &v1, &err), GD_OK);
    CU_ASSERT_EQUAL_FATAL(gd_dataset_split(ds, 10, 1, &t2, &v2, &err), GD_OK);
    CU_ASSERT_EQUAL_FATAL(gd_dataset_split(ds, 10, 2, &t3, &v3, &err), GD_OK);
    float a[50], b[50], c[50];
    ids_of(t1, a);
    ids_of(v1, a + 40);
    ids_of(t2, b);
    ids_of(v2, b + 40);
    ids_of(t3, c);
    ids_of(v3, c + 40);
    CU_ASSERT(memcmp(a, b, sizeof a) == 0);
    CU_ASSERT(memcmp(a, c, sizeof a) != 0);
    gd_dataset *all[] = { t1, v1, t2, v2, t3, v3, ds };
    for (int i = 0; i < 7; i++)
        gd_dataset_free(all[i]);
}

static void test_data_split_and_subset_refused(void)
{
    gd_dataset *ds = numbered(10), *tr = UNTOUCHED, *va = UNTOUCHED;
    gd_error err;
    expect_fail(gd_dataset_split(ds, 10, 1, &tr, &va, &err), &err,
                "split validation size must be in 1..9");
    expect_fail(gd_dataset_split(ds, 11, 1, &tr, &va, &err), &err, "got 11");
    expect_fail(gd_dataset_split(ds, 0, 1, &tr, &va, &err), &err, "got 0");
    CU_ASSERT_PTR_EQUAL(tr, UNTOUCHED);
    CU_ASSERT_PTR_EQUAL(va, UNTOUCHED);
    CU_ASSERT_PTR_NULL(gd_dataset_subset(ds, 11, &err));
    expect_fail(GD_EINVAL, &err, "subset size must be in 1..10, got 11");
    CU_ASSERT_EQUAL(gd_dataset_size(ds), 10);
    gd_dataset_free(ds);
}

static void test_data_subset_is_a_prefix(void)
{
    gd_dataset *ds = numbered(20), *tr, *va;
    gd_error err;
    gd_dataset *s = gd_dataset_subset(ds, 5, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    float a[20], b[20];
    ids_of(s, a);
    const float want[5] = { 0, 1, 2, 3, 4 };
    check_close("subset", a, want, 5, 0);
    gd_dataset_free(s);
    CU_ASSERT_EQUAL_FATAL(gd_dataset_split(ds, 5, 9, &tr, &va, &err), GD_OK);
    s = gd_dataset_subset(tr, 4, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    ids_of(tr, a);
    ids_of(s, b);
    check_close("subset of a view", b, a, 4, 0);
    gd_dataset_free(s);
    gd_dataset_free(tr);
    gd_dataset_free(va);
    gd_dataset_free(ds);
}

/* ---- storage, gather, standardize ---- */

static void test_data_gather_u8_is_bytes_over_255(void)
{
    uint8_t *x = malloc(256), *lab = malloc(2);
    for (int i = 0; i < 256; i++)
        x[i] = (uint8_t)(255 - i);
    lab[0] = 1;
    lab[1] = 0;
    gd_shape s = gd_shape_2(8, 16);
    gd_error err;
    gd_dataset *ds = gd_dataset_from_u8(2, &s, x, lab, 2, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ds);
    CU_ASSERT_EQUAL(gd_dataset_features(ds), 128);
    CU_ASSERT_EQUAL(gd_dataset_sample_shape(ds)->ndim, 2);
    float out[256], y[2];
    int64_t idx[2] = { 1, 0 };
    gd_dataset_gather(ds, idx, 2, out, y);
    int bad = 0;
    for (int j = 0; j < 128; j++)
        bad += out[j] != x[128 + j] / 255.0f || out[128 + j] != x[j] / 255.0f;
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT(y[0] == 0.0f && y[1] == 1.0f);
    gd_dataset_gather(ds, idx, 1, out, NULL);   /* y is optional */
    gd_dataset_free(ds);

    /* refused: labels beyond classes; ownership stays with the caller */
    x = malloc(256);
    lab = calloc(2, 1);
    lab[1] = 2;
    CU_ASSERT_PTR_NULL(gd_dataset_from_u8(2, &s, x, lab, 2, &err));
    expect_fail(GD_EINVAL, &err, "label 2 of sample 2");
    free(x);
    free(lab);
}

static void test_data_from_floats_refused(void)
{
    float x[4] = { 0, 1, 2, NAN }, y[2] = { 0, 3 };
    gd_shape s = gd_shape_1(2);
    gd_error err;
    CU_ASSERT_PTR_NULL(gd_dataset_from_floats(2, &s, x, 1, y, 3, &err));
    expect_fail(GD_ENUMERIC, &err, "dataset: feature 2 of sample 2 is not finite");
    x[3] = 3;
    CU_ASSERT_PTR_NULL(gd_dataset_from_floats(2, &s, x, 1, y, 3, &err));
    expect_fail(GD_EINVAL, &err, "label 3 of sample 2 is not a class number in 0..2");
    CU_ASSERT_PTR_NULL(gd_dataset_from_floats(0, &s, x, 1, y, 3, &err));
    expect_fail(GD_EINVAL, &err, "at least 1 sample");
    gd_dataset *ds = gd_dataset_from_floats(1, &s, x, 2, y, 0, &err);   /* 2 targets */
    CU_ASSERT_PTR_NOT_NULL_FATAL(ds);
    CU_ASSERT_EQUAL(gd_dataset_target_width(ds), 2);
    float gx[2], gy[2];
    gather_all(ds, gx, gy);
    CU_ASSERT(gy[0] == 0 && gy[1] == 3 && gx[1] == 1);
    gd_dataset_free(ds);
}

static void test_data_standardize(void)
{
    /* feature 0: 1..4 in the stats set; feature 1 constant 5 */
    float xs[8] = { 1, 5, 2, 5, 3, 5, 4, 5 }, ys[4] = { 0, 1, 0, 1 };
    float xa[4] = { 2.5f, 5, 0, 7 }, ya[2] = { 1, 0 };
    gd_shape s = gd_shape_1(2);
    gd_error err;
    gd_dataset *st = gd_dataset_from_floats(4, &s, xs, 1, ys, 2, &err);
    gd_dataset *ap = gd_dataset_from_floats(2, &s, xa, 1, ya, 2, &err);
    gd_dataset *z = gd_dataset_standardize(ap, st, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(z);
    float gx[4], gy[2];
    gather_all(z, gx, gy);
    double sd = sqrt(1.25);   /* population std of 1..4 */
    const float want[4] = { 0, 0, (float)(-2.5 / sd), 2 };   /* std 0: divided by 1 */
    check_close("standardized", gx, want, 4, 1e-6);
    CU_ASSERT(gy[0] == 1 && gy[1] == 0);
    CU_ASSERT_EQUAL(gd_dataset_classes(z), 2);
    gd_dataset_free(z);

    /* on itself: mean 0, std 1 for the varying feature; through a view */
    gd_dataset *sub = gd_dataset_subset(st, 4, &err);
    z = gd_dataset_standardize(sub, sub, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(z);
    float zx[8], zy[4];
    gather_all(z, zx, zy);
    double m = 0, v = 0;
    for (int i = 0; i < 4; i++)
        m += zx[2 * i] / 4.0;
    for (int i = 0; i < 4; i++)
        v += (zx[2 * i] - m) * (zx[2 * i] - m) / 4.0;
    CU_ASSERT_DOUBLE_EQUAL(m, 0, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(v, 1, 1e-6);
    gd_dataset_free(z);
    gd_dataset_free(sub);

    /* uint8 storage in, float storage out */
    uint8_t *px = malloc(4), *lab = calloc(2, 1);
    px[0] = 0, px[1] = 255, px[2] = 255, px[3] = 255;
    gd_dataset *u = gd_dataset_from_u8(2, &s, px, lab, 1, &err);
    z = gd_dataset_standardize(u, u, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(z);
    gather_all(z, gx, gy);
    const float wu[4] = { -1, 0, 1, 0 };
    check_close("standardized u8", gx, wu, 4, 1e-6);
    gd_dataset_free(z);

    gd_dataset *one = numbered(3);   /* 1 feature */
    CU_ASSERT_PTR_NULL(gd_dataset_standardize(one, st, &err));
    expect_fail(GD_EINVAL, &err, "feature counts differ");
    gd_dataset_free(one);
    gd_dataset_free(u);
    gd_dataset_free(st);
    gd_dataset_free(ap);
}

/* ---- synthetic ---- */

typedef gd_dataset *(*make_fn)(uint64_t seed, gd_error *err);
static gd_dataset *mk_spirals(uint64_t s, gd_error *e)
{
    return gd_synthetic_spirals(90, 3, 0.2, s, e);
}
static gd_dataset *mk_blobs(uint64_t s, gd_error *e)
{
    return gd_synthetic_blobs(90, 4, 5, 1.0, s, e);
}
static gd_dataset *mk_xor(uint64_t s, gd_error *e) { return gd_synthetic_xor(90, 0.1, s, e); }
static gd_dataset *mk_regr(uint64_t s, gd_error *e)
{
    return gd_synthetic_regression(90, 3, 0.1, s, e);
}

static void test_data_synthetic_deterministic(void)
{
    static const struct { const char *name; make_fn fn; int64_t f; int classes; } sets[] = {
        { "spirals", mk_spirals, 2, 3 }, { "blobs", mk_blobs, 5, 4 },
        { "xor", mk_xor, 2, 2 }, { "regression", mk_regr, 3, 0 },
    };
    for (size_t k = 0; k < sizeof sets / sizeof *sets; k++) {
        gd_error err;
        gd_dataset *a = sets[k].fn(1, &err), *b = sets[k].fn(1, &err), *c = sets[k].fn(2, &err);
        CU_ASSERT_PTR_NOT_NULL_FATAL(a && b && c);
        CU_ASSERT_STRING_EQUAL(gd_dataset_name(a), sets[k].name);
        CU_ASSERT_EQUAL(gd_dataset_size(a), 90);
        CU_ASSERT_EQUAL(gd_dataset_features(a), sets[k].f);
        CU_ASSERT_EQUAL(gd_dataset_classes(a), sets[k].classes);
        int64_t f = sets[k].f;
        float *xa = malloc(90 * f * sizeof(float)), *xb = malloc(90 * f * sizeof(float)),
              *xc = malloc(90 * f * sizeof(float)), ya[90], yb[90], yc[90];
        gather_all(a, xa, ya);
        gather_all(b, xb, yb);
        gather_all(c, xc, yc);
        if (memcmp(xa, xb, 90 * f * sizeof(float)) || memcmp(ya, yb, sizeof ya)) {
            fprintf(stderr, "\n  %s: same seed, different data\n", sets[k].name);
            CU_FAIL("deterministic");
        }
        if (!memcmp(xa, xc, 90 * f * sizeof(float))) {
            fprintf(stderr, "\n  %s: different seeds, same data\n", sets[k].name);
            CU_FAIL("seeded");
        }
        int bad = 0;
        for (int i = 0; i < 90 && sets[k].classes && k != 2; i++)
            bad += ya[i] != (float)(i % sets[k].classes);   /* balanced, interleaved */
        CU_ASSERT_EQUAL(bad, 0);
        free(xa);
        free(xb);
        free(xc);
        gd_dataset_free(a);
        gd_dataset_free(b);
        gd_dataset_free(c);
    }
}

static void test_data_synthetic_shapes_of_truth(void)
{
    gd_error err;
    /* xor without noise: label is the sign test itself */
    gd_dataset *ds = gd_synthetic_xor(200, 0, 5, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ds);
    float x[400], y[200];
    gather_all(ds, x, y);
    int bad = 0, ones = 0;
    for (int i = 0; i < 200; i++) {
        bad += y[i] != (float)((x[2 * i] > 0) != (x[2 * i + 1] > 0));
        ones += y[i] == 1;
    }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT(ones > 60 && ones < 140);
    gd_dataset_free(ds);
    /* regression without noise, 1 feature: points on one line */
    ds = gd_synthetic_regression(50, 1, 0, 3, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ds);
    float rx[50], ry[50];
    gather_all(ds, rx, ry);
    double slope = (ry[1] - ry[0]) / (double)(rx[1] - rx[0]);
    for (int i = 2; i < 50; i++)
        CU_ASSERT_DOUBLE_EQUAL(ry[i] - ry[0], slope * (rx[i] - rx[0]), 1e-4);
    gd_dataset_free(ds);
    /* spirals without noise: radius grows along each arm, within the unit disc */
    ds = gd_synthetic_spirals(30, 3, 0, 1, &err);
    gather_all(ds, x, y);
    for (int i = 0; i < 30; i++) {
        double r = hypot(x[2 * i], x[2 * i + 1]);
        CU_ASSERT_DOUBLE_EQUAL(r, (i / 3) / 9.0, 1e-6);
    }
    gd_dataset_free(ds);
    /* refusals */
    CU_ASSERT_PTR_NULL(gd_synthetic_spirals(0, 3, 0.1, 1, &err));
    expect_fail(GD_EINVAL, &err, "spirals: n must be in 1..");
    CU_ASSERT_PTR_NULL(gd_synthetic_spirals(10, 1, 0.1, 1, &err));
    expect_fail(GD_EINVAL, &err, "spirals: classes must be in 2..1000, got 1");
    CU_ASSERT_PTR_NULL(gd_synthetic_xor(10, -1, 1, &err));
    expect_fail(GD_EINVAL, &err, "xor: noise must be finite and >= 0, got -1");
    CU_ASSERT_PTR_NULL(gd_synthetic_blobs(10, 2, 0, 1, 1, &err));
    expect_fail(GD_EINVAL, &err, "blobs: features must be >= 1");
    CU_ASSERT_PTR_NULL(gd_synthetic_regression(10, 2, NAN, 1, &err));
    expect_fail(GD_EINVAL, &err, "regression: noise must be finite");
}

/* ---- identity ---- */

/* crc32 of one whole gather of ds, written out byte by byte little-endian:
 * an independent statement of what gd_dataset_identity promises. */
static uint32_t crc_whole(const gd_dataset *ds)
{
    int64_t n = gd_dataset_size(ds), f = gd_dataset_features(ds);
    int64_t tw = gd_dataset_target_width(ds);
    float *x = malloc((size_t)(n * f) * sizeof *x), *y = malloc((size_t)(n * tw) * sizeof *y);
    unsigned char *bytes = malloc((size_t)(n * (f + tw)) * 4);
    gather_all(ds, x, y);
    unsigned char *p = bytes;
    for (int64_t i = 0; i < n; i++) {
        for (int64_t j = 0; j < f + tw; j++, p += 4) {
            uint32_t u;
            memcpy(&u, j < f ? &x[i * f + j] : &y[i * tw + j - f], 4);
            p[0] = (unsigned char)u;
            p[1] = (unsigned char)(u >> 8);
            p[2] = (unsigned char)(u >> 16);
            p[3] = (unsigned char)(u >> 24);
        }
    }
    uint32_t crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), bytes, (uInt)(p - bytes));
    free(x);
    free(y);
    free(bytes);
    return crc;
}

static void check_identity(const gd_dataset *ds, gd_data_identity *id)
{
    gd_error err;
    CU_ASSERT_EQUAL_FATAL(gd_dataset_identity(ds, id, &err), GD_OK);
    CU_ASSERT_EQUAL(id->size, gd_dataset_size(ds));
    CU_ASSERT_EQUAL(id->features, gd_dataset_features(ds));
    CU_ASSERT_EQUAL(id->target_width, gd_dataset_target_width(ds));
    CU_ASSERT_EQUAL(id->classes, gd_dataset_classes(ds));
    CU_ASSERT_EQUAL(id->crc, crc_whole(ds));
}

static void test_data_identity_independent_of_chunking(void)
{
    /* 700 u8 samples of 784: several chunks of 256 and a partial one; also a
     * view (shuffled rows), regression with 2 targets, and a single sample */
    int64_t n = 700, f = 784;
    uint8_t *x = malloc((size_t)(n * f)), *lab = malloc((size_t)n);
    for (int64_t i = 0; i < n * f; i++)
        x[i] = (uint8_t)((i * 2654435761u) >> 13);
    for (int64_t i = 0; i < n; i++)
        lab[i] = (uint8_t)(i % 10);
    gd_shape s = gd_shape_1(f);
    gd_error err;
    gd_dataset *ds = gd_dataset_from_u8(n, &s, x, lab, 10, &err), *tr, *va;
    CU_ASSERT_PTR_NOT_NULL_FATAL(ds);
    gd_data_identity id, id2;
    check_identity(ds, &id);
    CU_ASSERT_EQUAL_FATAL(gd_dataset_split(ds, 100, 3, &tr, &va, &err), GD_OK);
    check_identity(tr, &id2);
    CU_ASSERT_NOT_EQUAL(id2.crc, id.crc);
    check_identity(va, &id2);
    gd_dataset *one = gd_dataset_subset(tr, 1, &err);
    check_identity(one, &id2);
    gd_dataset *r = gd_synthetic_regression(300, 3, 0.1, 1, &err);
    check_identity(r, &id2);
    CU_ASSERT_EQUAL(id2.classes, 0);
    float rx[6] = { 1, 2, 3, 4, 5, 6 }, ry[4] = { 0.5f, -1, 2, 3 };
    gd_shape s3 = gd_shape_1(3);
    gd_dataset *wide = gd_dataset_from_floats(2, &s3, rx, 2, ry, 0, &err);
    check_identity(wide, &id2);
    CU_ASSERT_EQUAL(id2.target_width, 2);
    gd_dataset *all[] = { ds, tr, va, one, r, wide };
    for (int i = 0; i < 6; i++)
        gd_dataset_free(all[i]);
}

/* A fixed value pins the byte order and the sample layout (features, then
 * targets, per sample) on every host: crc32 of the 12 bytes of 1.0f, 2.0f
 * (features) and 1.0f (class 1) little-endian, i.e. of
 * 00 00 80 3f 00 00 00 40 00 00 80 3f. */
static void test_data_identity_fixed_value(void)
{
    float x[2] = { 1, 2 }, y[1] = { 1 };
    gd_shape s = gd_shape_1(2);
    gd_error err;
    gd_dataset *ds = gd_dataset_from_floats(1, &s, x, 1, y, 2, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ds);
    static const unsigned char le[12] = { 0, 0, 0x80, 0x3f, 0, 0, 0, 0x40, 0, 0, 0x80, 0x3f };
    gd_data_identity id;
    CU_ASSERT_EQUAL_FATAL(gd_dataset_identity(ds, &id, &err), GD_OK);
    CU_ASSERT_EQUAL(id.crc, (uint32_t)crc32(crc32(0L, Z_NULL, 0), le, 12));
    gd_dataset_free(ds);
}

static void test_data_identity_changes_with_one_pixel(void)
{
    int64_t n = 300, f = 784;
    uint8_t *xa = malloc((size_t)(n * f)), *la = malloc((size_t)n);
    for (int64_t i = 0; i < n * f; i++)
        xa[i] = (uint8_t)(i % 251);
    for (int64_t i = 0; i < n; i++)
        la[i] = (uint8_t)(i % 10);
    uint8_t *xb = malloc((size_t)(n * f)), *lb = malloc((size_t)n);
    memcpy(xb, xa, (size_t)(n * f));
    memcpy(lb, la, (size_t)n);
    xb[257 * f + 400] ^= 1;   /* one pixel of a sample in the second chunk */
    uint8_t *xc = malloc((size_t)(n * f)), *lc = malloc((size_t)n);
    memcpy(xc, xa, (size_t)(n * f));
    memcpy(lc, la, (size_t)n);
    lc[5] = 6;                /* one label */
    gd_shape s = gd_shape_1(f);
    gd_error err;
    gd_dataset *a = gd_dataset_from_u8(n, &s, xa, la, 10, &err);
    gd_dataset *b = gd_dataset_from_u8(n, &s, xb, lb, 10, &err);
    gd_dataset *c = gd_dataset_from_u8(n, &s, xc, lc, 10, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    gd_data_identity ia, ib, ic, ia2;
    check_identity(a, &ia);
    check_identity(b, &ib);
    check_identity(c, &ic);
    CU_ASSERT_NOT_EQUAL(ia.crc, ib.crc);
    CU_ASSERT_NOT_EQUAL(ia.crc, ic.crc);
    CU_ASSERT_EQUAL(ia.size, ib.size);
    /* a prefix, and the same size in shuffled order, are other data sets */
    gd_dataset *tr, *va, *sub = gd_dataset_subset(a, n - 1, &err);
    CU_ASSERT_EQUAL_FATAL(gd_dataset_split(a, 1, 1, &tr, &va, &err), GD_OK);
    gd_data_identity it;
    check_identity(sub, &ia2);
    check_identity(tr, &it);
    CU_ASSERT_NOT_EQUAL(ia2.crc, ia.crc);
    CU_ASSERT_NOT_EQUAL(it.crc, ia2.crc);
    CU_ASSERT_EQUAL(it.size, ia2.size);
    gd_dataset *all[] = { a, b, c, tr, va, sub };
    for (int i = 0; i < 6; i++)
        gd_dataset_free(all[i]);
}

int main(void)
{
    static const test_case cases[] = {
        TEST(test_data_idx_round_trip_plain),
        TEST(test_data_idx_round_trip_gzip),
        TEST(test_data_idx_truncated),
        TEST(test_data_idx_bad_header),
        TEST(test_data_idx_count_mismatch),
        TEST(test_data_idx_label_out_of_range),
        TEST(test_data_idx_corrupt_gzip),
        TEST(test_data_idx_not_a_file),
        TEST(test_data_fashion_missing_names_package),
        TEST(test_data_fashion_from_gradus_data),
        TEST(test_data_fashion_real_test_split),
        TEST(test_data_csv_round_trip),
        TEST(test_data_csv_bad_input),
        TEST(test_data_split_disjoint_and_exact),
        TEST(test_data_split_seeded),
        TEST(test_data_split_and_subset_refused),
        TEST(test_data_subset_is_a_prefix),
        TEST(test_data_gather_u8_is_bytes_over_255),
        TEST(test_data_from_floats_refused),
        TEST(test_data_standardize),
        TEST(test_data_synthetic_deterministic),
        TEST(test_data_synthetic_shapes_of_truth),
        TEST(test_data_identity_independent_of_chunking),
        TEST(test_data_identity_fixed_value),
        TEST(test_data_identity_changes_with_one_pixel),
        TEST_END,
    };
    return test_main("data", cases);
}
