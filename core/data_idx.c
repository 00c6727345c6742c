/*
 * core/data_idx.c: IDX files (the MNIST format) and the Fashion-MNIST loader.
 *
 * IDX: a 4-byte magic number 0x00 0x00 TYPE NDIM, NDIM big-endian uint32
 * dimensions, then the elements row-major. Only TYPE 0x08 (unsigned byte)
 * is supported: it is what MNIST and Fashion-MNIST use, and keeping pixels as
 * bytes is the point of gd_dataset_from_u8.
 *
 * Files are read through zlib's gzdopen/gzread, which reads plain files as
 * they are, so NAME.gz and a gunzipped NAME both work. Every short read is
 * classified from gzerror: a gzip data error is "corrupt", an end of input
 * (plain or gzip) is "truncated", with how many bytes were expected and got.
 */
#include "data.h"
#include "fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

typedef struct idx_file {
    const char *path;
    gzFile gz;
    int ndim;
    int64_t count;          /* dims[0] */
    int64_t per;            /* elements per sample: product of dims[1..] */
} idx_file;

static void idx_close(idx_file *f)
{
    if (f->gz)
        gzclose(f->gz);
    f->gz = NULL;
}

/* Why a read came up short: an I/O error, a corrupt gzip stream, or the end of
 * the input (truncation). */
static gd_status short_read(idx_file *f, const char *where, int64_t want, int64_t got,
                            gd_error *err)
{
    int errnum = Z_OK;
    const char *zmsg = gzerror(f->gz, &errnum);
    if (errnum == Z_ERRNO)
        return gd_fail(err, GD_EIO, "%s: read error inside the %s (%s)", f->path, where,
                       strerror(errno));
    if (errnum != Z_OK && errnum != Z_BUF_ERROR)
        return gd_fail(err, GD_EIO, "%s: corrupt gzip stream inside the %s (%s)", f->path,
                       where, zmsg);
    return gd_fail(err, GD_EIO, "%s: truncated inside the %s: expected %lld bytes, got %lld",
                   f->path, where, (long long)want, (long long)got);
}

/* Read bytes done..want of a section of `total` bytes (for the message) into
 * buf[done..want). */
static gd_status read_exact(idx_file *f, uint8_t *buf, int64_t done, int64_t want,
                            int64_t total, const char *where, gd_error *err)
{
    while (done < want) {
        int64_t left = want - done;
        /* gzread takes an unsigned length and returns an int. */
        unsigned chunk = left > (1 << 30) ? 1u << 30 : (unsigned)left;
        int r = gzread(f->gz, buf + done, chunk);
        if (r <= 0)
            return short_read(f, where, total, done, err);
        done += r;
    }
    return GD_OK;
}

/* After the last announced sample the stream must end cleanly: reading on
 * also makes zlib check the gzip trailer (CRC and length). */
static gd_status check_end(idx_file *f, gd_error *err)
{
    uint8_t extra;
    int r = gzread(f->gz, &extra, 1);
    if (r == 1)
        return gd_fail(err, GD_EIO, "%s: unexpected data after the %lld samples the header "
                       "announces", f->path, (long long)f->count);
    int errnum = Z_OK;
    const char *zmsg = gzerror(f->gz, &errnum);
    if (errnum == Z_ERRNO)
        return gd_fail(err, GD_EIO, "%s: read error (%s)", f->path, strerror(errno));
    if (errnum == Z_BUF_ERROR)
        return gd_fail(err, GD_EIO, "%s: truncated gzip stream (%s)", f->path, zmsg);
    if (errnum != Z_OK)
        return gd_fail(err, GD_EIO, "%s: corrupt gzip stream (%s)", f->path, zmsg);
    return GD_OK;
}

/* Open and read the header; ndim must lie in [min_ndim, max_ndim]. */
static gd_status idx_open(idx_file *f, const char *path, int min_ndim, int max_ndim,
                          const char *kind, gd_error *err)
{
    f->path = path;
    /* O_NONBLOCK: a FIFO is refused below instead of blocking the open. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return gd_fail(err, errno == ENOENT ? GD_ENOTFOUND : GD_EIO, "%s: cannot open (%s)",
                       path, strerror(errno));
    char expected[48];
    snprintf(expected, sizeof expected, "an IDX %s file", kind);
    struct stat st;
    gd_status chk = gd_input_check(fd, path, expected, err);
    if (chk == GD_OK && fstat(fd, &st) != 0)
        chk = gd_fail(err, GD_EIO, "%s: cannot stat (%s)", path, strerror(errno));
    if (chk != GD_OK) {
        close(fd);
        return chk;
    }
    if (st.st_size == 0) {
        close(fd);
        return gd_fail(err, GD_EIO, "%s: file is empty, expected an IDX %s file", path, kind);
    }
    f->gz = gzdopen(fd, "rb");
    if (!f->gz) {
        close(fd);
        return gd_fail(err, GD_ENOMEM, "%s: cannot open (out of memory)", path);
    }
    gzbuffer(f->gz, 1 << 17);

    uint8_t h[4];
    gd_status st2 = read_exact(f, h, 0, 4, 4, "header", err);
    if (st2 != GD_OK)
        return st2;
    if (h[0] != 0 || h[1] != 0)
        return gd_fail(err, GD_EIO, "%s: not an IDX file: bad magic number 0x%02x%02x%02x%02x "
                       "(expected 0x0000 then type and dimension count, e.g. 0x00000803)",
                       path, h[0], h[1], h[2], h[3]);
    if (h[2] != 0x08)
        return gd_fail(err, GD_EIO, "%s: unsupported IDX element type 0x%02x (only 0x08, "
                       "unsigned byte, is supported)", path, h[2]);
    f->ndim = h[3];
    if (f->ndim < min_ndim || f->ndim > max_ndim)
        return gd_fail(err, GD_EIO, "%s: IDX %s file has %d dimensions, expected %s", path,
                       kind, f->ndim, min_ndim == max_ndim ? "1" : "at least 2");
    uint8_t d[4 * 255];
    st2 = read_exact(f, d, 0, 4 * f->ndim, 4 * f->ndim, "header", err);
    if (st2 != GD_OK)
        return st2;
    f->per = 1;
    for (int i = 0; i < f->ndim; i++) {
        int64_t v = (int64_t)d[4 * i] << 24 | (int64_t)d[4 * i + 1] << 16 |
                    (int64_t)d[4 * i + 2] << 8 | (int64_t)d[4 * i + 3];
        if (v == 0)
            return gd_fail(err, GD_EIO, "%s: IDX dimension %d is 0 (%s)", path, i,
                           i == 0 ? "no samples" : "empty samples");
        if (i == 0)
            f->count = v;
        else if (v > ((int64_t)1 << 32) / f->per)
            return gd_fail(err, GD_EIO, "%s: IDX samples of more than 2^32 bytes", path);
        else
            f->per *= v;
    }
    /* count < 2^32 and per <= 2^32: check the product before anyone forms
     * it (read_samples does), as the checkpoint reader checks its sizes. */
    if (f->count > INT64_MAX / f->per)
        return gd_fail(err, GD_EIO, "%s: IDX header claims %lld samples of %lld bytes, more "
                       "than any file can hold", path, (long long)f->count,
                       (long long)f->per);
    return GD_OK;
}

/* n samples of f->per bytes. The buffer grows as bytes arrive, so a corrupt
 * header announcing billions of samples ends as "truncated", not as a huge
 * allocation. */
static gd_status read_samples(idx_file *f, int64_t n, const char *where, uint8_t **out,
                              gd_error *err)
{
    if (n > INT64_MAX / f->per)   /* idx_open refused such a header already */
        return gd_fail(err, GD_EIO, "%s: %lld samples of %lld bytes overflow", f->path,
                       (long long)n, (long long)f->per);
    int64_t total = n * f->per, cap = total < (1 << 24) ? total : (1 << 24), done = 0;
    uint8_t *buf = malloc((size_t)cap);
    if (!buf)
        return gd_fail(err, GD_ENOMEM, "%s: out of memory for %lld bytes", f->path,
                       (long long)cap);
    for (;;) {
        gd_status st = read_exact(f, buf, done, cap, total, where, err);
        if (st != GD_OK) {
            free(buf);
            return st;
        }
        done = cap;
        if (done == total)
            break;
        cap = total - cap < cap ? total : 2 * cap;
        uint8_t *nb = realloc(buf, (size_t)cap);
        if (!nb) {
            free(buf);
            return gd_fail(err, GD_ENOMEM, "%s: out of memory for %lld bytes", f->path,
                           (long long)cap);
        }
        buf = nb;
    }
    *out = buf;
    return GD_OK;
}

/* Last path component, for data set names. */
static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

gd_status gd_idx_load_with(const gd_idx_options *o, gd_dataset **out, gd_error *err)
{
    if (!o || !o->images || !o->labels)
        return gd_fail(err, GD_EINVAL, "idx: images and labels paths are required");
    if (o->limit < 0)
        return gd_fail(err, GD_EINVAL, "idx: limit must be >= 0, got %lld",
                       (long long)o->limit);
    if (o->classes < 0 || o->classes > 256)
        return gd_fail(err, GD_EINVAL, "idx: classes must be in 0..256, got %d", o->classes);

    idx_file im = { 0 }, lb = { 0 };
    uint8_t *x = NULL, *y = NULL;
    gd_status st;
    if ((st = idx_open(&im, o->images, 2, 255, "image", err)) != GD_OK ||
        (st = idx_open(&lb, o->labels, 1, 1, "label", err)) != GD_OK)
        goto fail;
    if (im.count != lb.count) {
        st = gd_fail(err, GD_EIO, "%s has %lld images but %s has %lld labels", im.path,
                     (long long)im.count, lb.path, (long long)lb.count);
        goto fail;
    }
    int64_t n = o->limit && o->limit < im.count ? o->limit : im.count;
    bool all = n == im.count;

    if ((st = read_samples(&lb, n, "label data", &y, err)) != GD_OK ||
        (all && (st = check_end(&lb, err)) != GD_OK))
        goto fail;
    int classes = o->classes;
    if (classes == 0) {
        for (int64_t i = 0; i < n; i++)
            classes = y[i] >= classes ? y[i] + 1 : classes;
    }
    for (int64_t i = 0; i < n; i++)
        if (y[i] >= classes) {
            st = gd_fail(err, GD_EIO, "%s: label %d of sample %lld is outside 0..%d (%d "
                         "classes)", lb.path, y[i], (long long)i + 1, classes - 1, classes);
            goto fail;
        }
    if ((st = read_samples(&im, n, "image data", &x, err)) != GD_OK ||
        (all && (st = check_end(&im, err)) != GD_OK))
        goto fail;

    /* The flat [features] sample shape, not [28, 28]: dense layers take it
     * directly, and a layer that wants rows and columns can reshape a view. */
    gd_shape shape = gd_shape_1(im.per);
    gd_dataset *ds = gd_dataset_from_u8(n, &shape, x, y, classes, err);
    if (!ds) {
        st = GD_EINVAL;
        goto fail;
    }
    gd_dataset_set_name(ds, base_name(o->images));
    idx_close(&im);
    idx_close(&lb);
    *out = ds;
    return GD_OK;
fail:
    idx_close(&im);
    idx_close(&lb);
    free(x);
    free(y);
    return st;
}

gd_status gd_idx_load(const char *images_path, const char *labels_path, gd_dataset **out,
                      gd_error *err)
{
    gd_idx_options o = { .images = images_path, .labels = labels_path };
    return gd_idx_load_with(&o, out, err);
}

/* ---- Fashion-MNIST ---- */

#define FASHION_DEFAULT_DIR "/usr/share/datasets/fashion-mnist"

/* dir/NAME.gz, else dir/NAME when only that exists. */
static gd_status find_file(const char *dir, const char *name, bool from_env, char *path,
                           size_t size, gd_error *err)
{
    int w = snprintf(path, size, "%s/%s", dir, name);
    if (w < 0 || (size_t)w >= size)
        return gd_fail(err, GD_EINVAL, "fashion_mnist: data directory path too long: %s", dir);
    if (access(path, F_OK) == 0)
        return GD_OK;
    char plain[4096];
    snprintf(plain, sizeof plain, "%.*s", w - 3, path);   /* name without .gz */
    if (access(plain, F_OK) == 0) {
        snprintf(path, size, "%s", plain);
        return GD_OK;
    }
    return gd_fail(err, GD_ENOTFOUND, "fashion_mnist: %s not found%s%s%s (install the Debian "
                   "package dataset-fashion-mnist, or set GRADUS_DATA to a directory holding "
                   "the Fashion-MNIST IDX files)", path, from_env ? " (GRADUS_DATA=" : "",
                   from_env ? dir : "", from_env ? ")" : "");
}

gd_status gd_fashion_mnist_load(const char *dir, const char *split, int64_t limit,
                                gd_dataset **out, gd_error *err)
{
    const char *prefix;
    if (split && strcmp(split, "train") == 0)
        prefix = "train";
    else if (split && strcmp(split, "test") == 0)
        prefix = "t10k";
    else
        return gd_fail(err, GD_EINVAL, "fashion_mnist: split must be \"train\" or \"test\", "
                       "got '%s'", split ? split : "(null)");
    if (limit < 0)
        return gd_fail(err, GD_EINVAL, "fashion_mnist: limit must be >= 0, got %lld",
                       (long long)limit);
    bool from_env = false;
    if (!dir) {
        const char *env = getenv("GRADUS_DATA");
        from_env = env && *env;
        dir = from_env ? env : FASHION_DEFAULT_DIR;
    }
    char images[4096], labels[4096], name[64];
    gd_status st;
    snprintf(name, sizeof name, "%s-images-idx3-ubyte.gz", prefix);
    if ((st = find_file(dir, name, from_env, images, sizeof images, err)) != GD_OK)
        return st;
    snprintf(name, sizeof name, "%s-labels-idx1-ubyte.gz", prefix);
    if ((st = find_file(dir, name, from_env, labels, sizeof labels, err)) != GD_OK)
        return st;

    gd_idx_options o = { .images = images, .labels = labels, .limit = limit, .classes = 10 };
    gd_dataset *ds;
    if ((st = gd_idx_load_with(&o, &ds, err)) != GD_OK)
        return st;
    snprintf(name, sizeof name, "fashion_mnist/%s", split);
    gd_dataset_set_name(ds, name);
    *out = ds;
    return GD_OK;
}
