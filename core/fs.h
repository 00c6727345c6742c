/*
 * core/fs.h: what every file gradus reads or writes goes through before
 * its bytes do: the path is one the system can hold, an existing path is a
 * regular file (never a device node or a FIFO), a directory written into is
 * writable, and one writer at a time holds a path (an advisory lock).
 */
#ifndef GRADUS_CORE_FS_H
#define GRADUS_CORE_FS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#include <gradus/error.h>

/* "a FIFO", "a character device", "a directory", ... for messages. */
const char *gd_file_kind(mode_t mode);

/* A path of `len` bytes (a Lua string may hold a NUL) the system can hold:
 * no NUL byte, under PATH_MAX, each component under NAME_MAX.
 * "<what>: path ... contains a NUL byte" and the like on failure. */
gd_status gd_path_check(const char *path, size_t len, const char *what, gd_error *err);

/* After open(path, O_RDONLY | O_NONBLOCK): the file is regular, else
 * "<path>: is a FIFO, expected <expected>" ("not a regular file" when
 * expected is NULL); then blocking mode again. The caller closes fd on
 * failure. O_NONBLOCK is what keeps the open of a FIFO from blocking. */
gd_status gd_input_check(int fd, const char *path, const char *expected, gd_error *err);

/* A file about to be written or replaced at path: if it exists it is a
 * regular file, and its directory exists and takes new files (tried with a
 * probe file, since root passes every permission check). */
gd_status gd_output_check(const char *path, gd_error *err);

/* A name for a temporary file or directory beside path, unique among
 * processes and calls: "<path>.tmp-<pid>-<n>" (malloc'd; NULL: no memory). */
char *gd_temp_name(const char *path);

/* Remove what writers killed before they could clean up left beside path:
 * "<path>.tmp-*" files and directories. Only for the holder of path's lock. */
void gd_remove_stale_temps(const char *path);

/* Remove a file or a directory tree (no symlinks followed): 0 or errno. */
int gd_remove_tree(const char *path);

/* An advisory lock on path, held through "<path>.lock" (flock), which holds
 * the holder's process id so that a refusal can name it. The kernel drops
 * it when the process dies, so a stale lock file never blocks anyone. */
typedef struct gd_lock {
    int fd;                     /* -1: not held */
    char *file;                 /* "<path>.lock" */
} gd_lock;

/* Take the lock or fail at once: "<path>: in use by process 1234 (<file>, host H)". */
gd_status gd_lock_take(gd_lock *lk, const char *path, gd_error *err);
/* Release and remove the lock file; a lock not held is a no-op. */
void gd_lock_drop(gd_lock *lk);

#endif
