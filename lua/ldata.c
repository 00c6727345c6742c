/* lua/ldata.c: placeholder, being written */
#include "lgradus.h"

void lgd_open_data(lua_State *L)
{
    (void)L;
}
