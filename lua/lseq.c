/*
 * lua/lseq.c: what the binding adds for sequence models: token ids (1-based
 * in Lua, 0-based in the core, as class numbers), and model:generate.
 */
#include <math.h>

#include "lgradus.h"

void lgd_ids_to_core(lua_State *L, lgd_tensor *t, int64_t vocab, const char *who)
{
    if (vocab <= 0)
        return;
    for (int64_t i = 0; i < t->numel; i++) {
        float v = t->data[i];
        if (!(v >= 1 && v <= (float)vocab && v == floorf(v))) {
            lua_pushnumber(L, v);
            if (v == floorf(v) && fabsf(v) < 1e9f)   /* print 9, not 9.0 */
                lua_pushinteger(L, (lua_Integer)v);
            lgd_error(L, "%s:forward: input %d is %s, expected a token id in 1..%d", who,
                      (int)i + 1, lua_tostring(L, -1), (int)vocab);
        }
        t->data[i] = v - 1;
    }
}
