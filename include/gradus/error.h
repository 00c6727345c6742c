/*
 * gradus/error.h: the error convention shared by the core and every plugin.
 *
 * A fallible call returns a gd_status (GD_OK is 0) and writes one line into
 * the caller's gd_error: lowercase, no final period, naming the thing and what
 * was expected ("adam: option 'beta1' must be in [0, 1), got 1.5"). Nothing
 * prints, exits or aborts. gd_fail formats and returns in one line:
 *
 *     if (units < 1) return gd_fail(err, GD_EINVAL, "dense: units must be >= 1");
 */
#ifndef GRADUS_ERROR_H
#define GRADUS_ERROR_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Values frozen by the ABI (append only): plugins return them. */
typedef enum gd_status {
    GD_OK = 0,
    GD_EINVAL,   /* bad argument or option */
    GD_ENOMEM,   /* allocation failed */
    GD_EIO,      /* file missing, unreadable, truncated or corrupt */
    GD_ENOTFOUND,/* unknown component, symbol or file */
    GD_EABI,     /* plugin built for another ABI */
    GD_EEXIST,   /* duplicate component name */
    GD_ENUMERIC  /* NaN or Inf where a number was required */
} gd_status;

/* Frozen by the ABI: it sizes gd_error, which the core allocates and
 * plugins write into (gd_fail cuts a longer message to fit). */
#define GD_ERROR_SIZE 512

/* A caller-provided message slot. May be passed as NULL to discard. */
typedef struct gd_error {
    char msg[GD_ERROR_SIZE];
} gd_error;

/* Format the message into err (if not NULL) and return st. A message too
 * long for the slot is cut at a character and ends in "...", so that the cut
 * shows and the rest stays valid UTF-8 (it may reach results.json). */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static inline gd_status gd_fail(gd_error *err, gd_status st, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        if (n >= (int)sizeof err->msg) {
            size_t end = sizeof err->msg - 4;   /* room for "..." and the NUL */
            /* back over continuation bytes to the lead byte of the cut character */
            while (end > 0 && ((unsigned char)err->msg[end] & 0xC0) == 0x80)
                end--;
            memcpy(err->msg + end, "...", 4);
        }
    }
    return st;
}

#ifdef __cplusplus
}
#endif
#endif
