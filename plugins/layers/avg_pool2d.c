/*
 * avg_pool2d: the mean of each window's cells inside the image (torch
 * avg_pool2d with count_include_pad = false).
 * [C, H, W] → [C, OH, OW]; options and loops in pool2d.h.
 */
#include "pool2d.h"

POOL2D_PLUGIN("avg_pool2d", 0,
              "average pooling over 2-D windows of [C, H, W] (mean of the cells inside the image)")
