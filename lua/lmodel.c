/* lua/lmodel.c: placeholder, being written */
#include "lgradus.h"

void lgd_open_model(lua_State *L)
{
    (void)L;
}
