/*
 * core/data_text.c: character-level text sets (gd.data.text) and the King
 * James Bible corpus they default to.
 *
 * A text is decoded from UTF-8 (strictly: overlong forms, surrogates and
 * code points above U+10FFFF are refused, naming the byte offset), its
 * distinct code points sorted ascending become ids 0..V-1, and the split is
 * by position: the first 90 % of the characters are "train", the next 5 %
 * "val", the last 5 % "test". Every split shares the whole text's
 * vocabulary, so ids mean the same in all three.
 *
 * The corpus: Debian's bible-kjv prints the text with `bible
 * Gen1:1-Rev22:21` as a book heading ("Genesis 1") between blank lines,
 * then verses "  N text", long verses wrapped onto lines of their own. The
 * headings and numbers are dropped and each verse becomes one line. It is
 * written once to <cache>/kjv.txt through a temporary file renamed into
 * place, so a reader never sees half of it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data.h"
#include "fs.h"

/* ---- UTF-8 ---- */

/* Decode one code point at s[0..n); returns its byte length, 0 if invalid. */
static int utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    int len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
    if (!len || c > 0xf4 || (size_t)len > n)
        return 0;
    uint32_t v = c & (0x7fu >> len);
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        v = v << 6 | (s[i] & 0x3f);
    }
    static const uint32_t least[] = { 0, 0, 0x80, 0x800, 0x10000 };
    if (v < least[len] || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return len;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Index of cp in the sorted vocab[0..n). */
static int vocab_find(const uint32_t *vocab, int n, uint32_t cp)
{
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (vocab[mid] == cp)
            return mid;
        if (vocab[mid] < cp)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

gd_status gd_text_decode(const char *what, const char *bytes, size_t n, uint32_t **cps,
                         int64_t *len, gd_error *err)
{
    uint32_t *out = malloc((n ? n : 1) * sizeof *out);
    if (!out)
        return gd_fail(err, GD_ENOMEM, "%s: out of memory", what);
    const unsigned char *s = (const unsigned char *)bytes;
    size_t i = 0;
    int64_t k = 0;
    while (i < n) {
        int l = utf8_next(s + i, n - i, &out[k]);
        if (!l) {
            free(out);
            return gd_fail(err, GD_EINVAL, "%s: invalid UTF-8 at byte %zu (0x%02x)", what, i,
                           s[i]);
        }
        i += (size_t)l;
        k++;
    }
    *cps = out;
    *len = k;
    return GD_OK;
}

/* ---- files ---- */

/* The whole of a regular file (a FIFO or a device is refused, not read). */
static gd_status read_all(const char *path, char **out, size_t *n, gd_error *err)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK);
    if (fd < 0)
        return gd_fail(err, GD_EIO, "text: cannot open %s: %s", path, strerror(errno));
    gd_status st = gd_input_check(fd, path, "a text file", err);
    FILE *f = st == GD_OK ? fdopen(fd, "rb") : NULL;
    if (!f) {
        close(fd);
        return st != GD_OK ? st : gd_fail(err, GD_EIO, "text: cannot read %s", path);
    }
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        len += fread(buf + len, 1, cap - len, f);
        if (len < cap)
            break;
        char *more = realloc(buf, cap *= 2);
        if (!more)
            free(buf);
        buf = more;
    }
    int bad = ferror(f);
    fclose(f);
    if (!buf)
        return gd_fail(err, GD_ENOMEM, "text: out of memory reading %s", path);
    if (bad) {
        free(buf);
        return gd_fail(err, GD_EIO, "text: error reading %s", path);
    }
    *out = buf;
    *n = len;
    return GD_OK;
}

/* mkdir -p */
static gd_status make_dirs(const char *dir, gd_error *err)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf)
        return gd_fail(err, GD_EINVAL, "kjv: cache directory path too long");
    for (char *p = buf + 1;; p++) {
        char c = *p;
        if (c != '/' && c != 0)
            continue;
        *p = 0;
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return gd_fail(err, GD_EIO, "kjv: cannot make the cache directory %s: %s", buf,
                           strerror(errno));
        *p = c;
        if (!c)
            return GD_OK;
    }
}

/* ---- the loader ---- */

static const char *const split_names[] = { "train", "val", "test" };

gd_status gd_text_load(const gd_text_options *o, gd_dataset **out, gd_error *err)
{
    int split = -1;
    for (int i = 0; i < 3; i++)
        if (o->split && strcmp(o->split, split_names[i]) == 0)
            split = i;
    if (split < 0)
        return gd_fail(err, GD_EINVAL, "text: split must be \"train\", \"val\" or \"test\", got "
                       "\"%s\"", o->split ? o->split : "(none)");
    if (o->context < 1 || o->context > 1 << 20)
        return gd_fail(err, GD_EINVAL, "text: context must be in 1..%d, got %lld", 1 << 20,
                       (long long)o->context);
    char *bytes = NULL;
    size_t nbytes = 0;
    gd_status st = read_all(o->path, &bytes, &nbytes, err);
    if (st != GD_OK)
        return st;
    char what[512];
    snprintf(what, sizeof what, "text: %s", o->path);
    uint32_t *cps = NULL, *vocab = NULL;
    uint16_t *ids = NULL;
    int64_t len = 0;
    st = gd_text_decode(what, bytes, nbytes, &cps, &len, err);
    free(bytes);
    if (st != GD_OK)
        return st;
    /* Each split needs one window and its targets: context + 1 characters. */
    const int64_t bound[4] = { 0, len * 90 / 100, len * 95 / 100, len };
    const int64_t need = (o->context + 1) * 20;
    if (len < need || bound[split + 1] - bound[split] < o->context + 1) {
        free(cps);
        return gd_fail(err, GD_EINVAL, "%s: %lld characters is too short for context %lld (its "
                       "%s split, %lld characters, needs one window of context + 1; a text of "
                       "at least %lld characters has one in every split)", what, (long long)len,
                       (long long)o->context, split_names[split],
                       (long long)(bound[split + 1] - bound[split]), (long long)need);
    }
    vocab = malloc((size_t)len * sizeof *vocab);
    if (!vocab) {
        free(cps);
        return gd_fail(err, GD_ENOMEM, "%s: out of memory", what);
    }
    memcpy(vocab, cps, (size_t)len * sizeof *vocab);
    qsort(vocab, (size_t)len, sizeof *vocab, cmp_u32);
    int nv = 0;
    for (int64_t i = 0; i < len; i++)
        if (i == 0 || vocab[i] != vocab[i - 1]) {
            if (nv == 65535) {
                free(cps);
                free(vocab);
                return gd_fail(err, GD_EINVAL, "%s: more than 65535 distinct characters", what);
            }
            vocab[nv++] = vocab[i];
        }
    const int64_t n = bound[split + 1] - bound[split];
    ids = malloc((size_t)n * sizeof *ids);
    uint32_t *small = realloc(vocab, (size_t)nv * sizeof *vocab);
    if (small)
        vocab = small;
    if (!ids) {
        free(cps);
        free(vocab);
        return gd_fail(err, GD_ENOMEM, "%s: out of memory", what);
    }
    for (int64_t i = 0; i < n; i++)
        ids[i] = (uint16_t)vocab_find(vocab, nv, cps[bound[split] + i]);
    free(cps);
    gd_dataset *ds = gd_dataset_from_text(ids, n, o->context, vocab, nv, err);
    if (!ds) {
        free(ids);
        free(vocab);
        return GD_EINVAL;
    }
    const char *base = strrchr(o->path, '/');
    char name[64];
    snprintf(name, sizeof name, "%.40s/%s", base ? base + 1 : o->path, split_names[split]);
    gd_dataset_set_name(ds, name);
    *out = ds;
    return GD_OK;
}

/* ---- the King James Bible ---- */

/* Verses of `bible`'s output, one a line: headings (a line right after a
 * blank one that is not a verse) and verse numbers dropped, wrapped lines
 * joined with a space. */
static gd_status kjv_filter(FILE *in, FILE *out, int64_t *verses)
{
    char line[4096];
    int after_blank = 1, in_verse = 0;
    *verses = 0;
    while (fgets(line, sizeof line, in)) {
        size_t n = strcspn(line, "\r\n");
        line[n] = 0;
        if (n == 0) {
            after_blank = 1;
            continue;
        }
        char *p = line;
        if (p[0] == ' ' && p[1] == ' ' && p[2] >= '0' && p[2] <= '9') {
            p += 2;
            while (*p >= '0' && *p <= '9')
                p++;
            if (*p == ' ')
                p++;
            if (in_verse)
                fputc('\n', out);
            fputs(p, out);
            in_verse = 1;
            ++*verses;
        } else if (!after_blank && in_verse) {
            fputc(' ', out);
            fputs(p, out);
        }   /* else a heading */
        after_blank = 0;
    }
    if (in_verse)
        fputc('\n', out);
    return ferror(in) || ferror(out) ? GD_EIO : GD_OK;
}

gd_status gd_text_kjv(const char *cache_dir, char *path, size_t path_len, int *created,
                      gd_error *err)
{
    *created = 0;
    if (snprintf(path, path_len, "%s/kjv.txt", cache_dir) >= (int)path_len)
        return gd_fail(err, GD_EINVAL, "kjv: cache directory path too long");
    struct stat sb;
    if (stat(path, &sb) == 0 && sb.st_size > 0)
        return GD_OK;
    gd_status st = make_dirs(cache_dir, err);
    if (st != GD_OK)
        return st;
    char *tmp = gd_temp_name(path);
    FILE *out = tmp ? fopen(tmp, "w") : NULL;
    if (!out) {
        st = gd_fail(err, GD_EIO, "kjv: cannot write %s: %s", tmp ? tmp : path,
                     tmp ? strerror(errno) : "out of memory");
        free(tmp);
        return st;
    }
    /* A fixed command line: nothing of the user's reaches the shell. */
    FILE *in = popen("bible Gen1:1-Rev22:21 2>/dev/null", "r");
    int64_t verses = 0;
    st = in ? kjv_filter(in, out, &verses) : GD_EIO;
    int rc = in ? pclose(in) : -1;
    if (fclose(out) != 0 && st == GD_OK)
        st = GD_EIO;
    /* The Protestant canon has 31102 verses. */
    if (st != GD_OK || rc != 0 || verses < 31000) {
        unlink(tmp);
        free(tmp);
        return gd_fail(err, GD_EIO, "kjv: `bible Gen1:1-Rev22:21` failed (%lld verses read): "
                       "install Debian's bible-kjv package, or give gd.data.text a path",
                       (long long)verses);
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        st = gd_fail(err, GD_EIO, "kjv: cannot rename %s to %s: %s", tmp, path, strerror(e));
        free(tmp);
        return st;
    }
    free(tmp);
    *created = 1;
    return GD_OK;
}
