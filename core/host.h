/*
 * core/host.h: the table of services the core lends plugins (gd_host of
 * plugin.h: the threaded product, parallel parts, convolution), host.c.
 */
#ifndef GRADUS_CORE_HOST_H
#define GRADUS_CORE_HOST_H

#include "gradus/gradus.h"

/* The process-wide host table. */
const gd_host *gd_core_host(void);

#endif
