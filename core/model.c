/* placeholder: being written */
#include "registry.h"
