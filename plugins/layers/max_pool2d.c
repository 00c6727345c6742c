/*
 * max_pool2d: the maximum of each window of an image (torch max_pool2d).
 * [C, H, W] → [C, OH, OW]; options and loops in pool2d.h.
 */
#include "pool2d.h"

POOL2D_PLUGIN("max_pool2d", 1,
              "max pooling over 2-D windows of [C, H, W] (the gradient goes to each maximum)")
