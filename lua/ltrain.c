/* lua/ltrain.c: placeholder, being written */
#include "lgradus.h"

void lgd_open_train(lua_State *L)
{
    (void)L;
}
