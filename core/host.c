/*
 * core/host.c: the gd_host table plugins receive. Each entry is another
 * unit's: the threaded product and parallel parts (threads.c), the
 * convolution (conv.c).
 */
#include "host.h"

#include "conv.h"
#include "threads.h"

static const gd_host host = {
    .size = sizeof(gd_host),
    .sgemm = gd_host_sgemm,
    .parallel = gd_host_parallel,
    .conv2d_new = gd_conv2d_new,
    .conv2d_forward = gd_conv2d_forward,
    .conv2d_backward = gd_conv2d_backward,
    .conv2d_free = gd_conv2d_free,
};

const gd_host *gd_core_host(void)
{
    return &host;
}
