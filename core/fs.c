/*
 * core/fs.c: path checks, refusal of anything but regular files, unique
 * temporary names and advisory locks (see fs.h).
 */
#include "fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

const char *gd_file_kind(mode_t mode)
{
    if (S_ISREG(mode))
        return "a regular file";
    if (S_ISDIR(mode))
        return "a directory";
    if (S_ISCHR(mode))
        return "a character device";
    if (S_ISBLK(mode))
        return "a block device";
    if (S_ISFIFO(mode))
        return "a FIFO";
    if (S_ISSOCK(mode))
        return "a socket";
    return "not a regular file";
}

gd_status gd_path_check(const char *path, size_t len, const char *what, gd_error *err)
{
    size_t n = strnlen(path, len);
    if (n < len)
        return gd_fail(err, GD_EINVAL, "%s: path '%.200s\\0...' contains a NUL byte (at byte %zu)",
                       what, path, n);
    if (len == 0)
        return gd_fail(err, GD_EINVAL, "%s: path is empty", what);
    if (len >= PATH_MAX)
        return gd_fail(err, GD_EINVAL, "%s: path '%.40s...' is %zu bytes, over the system's "
                       "limit of %d", what, path, len, PATH_MAX - 1);
    for (const char *p = path; *p;) {
        size_t k = strcspn(p, "/");
        if (k > NAME_MAX)
            return gd_fail(err, GD_EINVAL, "%s: path component '%.40s...' is %zu bytes, over "
                           "the system's limit of %d", what, p, k, NAME_MAX);
        p += k;
        p += *p == '/';
    }
    return GD_OK;
}

gd_status gd_input_check(int fd, const char *path, const char *expected, gd_error *err)
{
    struct stat sb;
    if (fstat(fd, &sb) != 0)
        return gd_fail(err, GD_EIO, "%s: cannot stat (%s)", path, strerror(errno));
    if (!S_ISREG(sb.st_mode)) {
        if (expected)
            return gd_fail(err, GD_EIO, "%s: is %s, expected %s", path,
                           gd_file_kind(sb.st_mode), expected);
        return gd_fail(err, GD_EIO, "%s: is %s, not a regular file", path,
                       gd_file_kind(sb.st_mode));
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0)
        return gd_fail(err, GD_EIO, "%s: cannot read (%s)", path, strerror(errno));
    return GD_OK;
}

/* The directory part of path ("." for a bare name), in buf. */
static void dir_of(const char *path, char *buf, size_t cap)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(buf, cap, ".");
    else if (slash == path)
        snprintf(buf, cap, "/");
    else
        snprintf(buf, cap, "%.*s", (int)(slash - path), path);
}

gd_status gd_output_check(const char *path, gd_error *err)
{
    struct stat sb;
    if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode))
        return gd_fail(err, GD_EIO, "%s: is %s, not a regular file: refusing to replace it",
                       path, gd_file_kind(sb.st_mode));
    char dir[PATH_MAX];
    dir_of(path, dir, sizeof dir);
    if (stat(dir, &sb) != 0)
        return gd_fail(err, GD_EIO, "%s: no directory %s (%s)", path, dir, strerror(errno));
    if (!S_ISDIR(sb.st_mode))
        return gd_fail(err, GD_EIO, "%s: %s is %s, not a directory", path, dir,
                       gd_file_kind(sb.st_mode));
    char *probe = gd_temp_name(path);
    if (!probe)
        return gd_fail(err, GD_ENOMEM, "%s: out of memory", path);
    int fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    int e = errno;
    if (fd >= 0) {
        close(fd);
        unlink(probe);
    }
    free(probe);
    if (fd < 0)
        return gd_fail(err, GD_EIO, "%s: cannot write in %s (%s)", path, dir, strerror(e));
    return GD_OK;
}

char *gd_temp_name(const char *path)
{
    static atomic_uint counter;
    unsigned n = atomic_fetch_add(&counter, 1u);
    size_t cap = strlen(path) + 48;
    char *s = malloc(cap);
    if (s)
        snprintf(s, cap, "%s.tmp-%ld-%u", path, (long)getpid(), n);
    return s;
}

static int remove_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)ftw;
    return (flag == FTW_DP ? rmdir(p) : unlink(p)) != 0 ? errno : 0;
}

int gd_remove_tree(const char *path)
{
    struct stat sb;
    if (lstat(path, &sb) != 0)
        return errno;
    if (!S_ISDIR(sb.st_mode))
        return unlink(path) != 0 ? errno : 0;
    return nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

void gd_remove_stale_temps(const char *path)
{
    char dir[PATH_MAX];
    dir_of(path, dir, sizeof dir);
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t bl = strlen(base);
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, base, bl) != 0 || strncmp(e->d_name + bl, ".tmp-", 5) != 0)
            continue;
        char p[PATH_MAX];
        if ((size_t)snprintf(p, sizeof p, "%s/%s", dir, e->d_name) < sizeof p)
            gd_remove_tree(p);
    }
    closedir(d);
}

/* The process id and host written in a lock file (0: none). The holder
 * writes them right after taking the lock, so an empty file is read again
 * a few times. */
static long holder_of(const char *file, char *host, size_t cap)
{
    host[0] = 0;
    for (int tries = 0; tries < 50; tries++) {
        char buf[320] = { 0 };
        int fd = open(file, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0)
            return 0;
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n > 0) {
            char *end;
            long pid = strtol(buf, &end, 10);
            if (*end == ' ') {
                size_t k = strcspn(end + 1, "\n");
                snprintf(host, cap, "%.*s", (int)k, end + 1);
            }
            return pid;
        }
        usleep(2000);
    }
    return 0;
}

gd_status gd_lock_take(gd_lock *lk, const char *path, gd_error *err)
{
    lk->fd = -1;
    size_t cap = strlen(path) + 6;
    if (!(lk->file = malloc(cap)))
        return gd_fail(err, GD_ENOMEM, "%s: out of memory", path);
    snprintf(lk->file, cap, "%s.lock", path);
    /* A holder removes the file when it lets go, so a lock taken on a file
     * that is no longer the one at the name is taken again. */
    for (int tries = 0; tries < 100; tries++) {
        int fd = open(lk->file, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0)
            break;
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
            int e = errno;
            close(fd);
            if (e != EWOULDBLOCK)
                break;
            char host[256];
            long pid = holder_of(lk->file, host, sizeof host);
            gd_status st = pid > 0 ? gd_fail(err, GD_EEXIST, "%s: in use by process %ld (%s%s%s)",
                                             path, pid, lk->file, *host ? ", host " : "", host)
                                   : gd_fail(err, GD_EEXIST, "%s: in use by another process "
                                             "(%s)", path, lk->file);
            free(lk->file);
            lk->file = NULL;
            return st;
        }
        struct stat a, b;
        if (fstat(fd, &a) == 0 && stat(lk->file, &b) == 0 && a.st_ino == b.st_ino &&
            a.st_dev == b.st_dev) {
            char pid[320], host[256] = { 0 };
            if (gethostname(host, sizeof host - 1) != 0)
                host[0] = 0;
            int n = snprintf(pid, sizeof pid, "%ld %s\n", (long)getpid(), host);
            if (ftruncate(fd, 0) == 0 && pwrite(fd, pid, (size_t)n, 0) == n) {
                lk->fd = fd;
                return GD_OK;
            }
        }
        close(fd);
    }
    gd_fail(err, GD_EIO, "%s: cannot lock %s (%s)", path, lk->file, strerror(errno));
    free(lk->file);
    lk->file = NULL;
    return GD_EIO;
}

void gd_lock_drop(gd_lock *lk)
{
    if (lk->fd >= 0) {
        unlink(lk->file);   /* before the unlock, so no one takes a removed file */
        close(lk->fd);
    }
    free(lk->file);
    lk->fd = -1;
    lk->file = NULL;
}
