/*
 * gradus/gradus.h: everything a plugin author needs, in one include.
 */
#ifndef GRADUS_GRADUS_H
#define GRADUS_GRADUS_H

#include <stdbool.h>   /* true and false, for GD_OPT_BOOL defaults */

#include "error.h"
#include "options.h"
#include "plugin.h"
#include "rng.h"
#include "tensor.h"

#define GD_VERSION "0.1.0"

#endif
