/*
 * lua/lseq.c: what the binding adds for sequence models: token ids (1-based
 * in Lua, 0-based in the core, as class numbers), and model:generate.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"
#include "generate.h"
#include "lapi.h"
#include "lgradus.h"
#include "model.h"

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
            lgd_error(L, "%s: input %d is %s, expected a token id in 1..%d", who,
                      (int)i + 1, lua_tostring(L, -1), (int)vocab);
        }
        t->data[i] = v - 1;
    }
}

/* ---------------------------------------------------------------------------
 * The vocabulary a model was trained on: labels of its outputs
 *
 * A model trained on a text set gives [T, V] logits; the character of
 * output (t, c) is vocab[c], kept as the model's class labels (one per
 * output, so T copies of the vocabulary). They are saved with the model,
 * so a loaded model generates too.
 * ------------------------------------------------------------------------- */

void lgd_model_set_vocab(lua_State *L, gd_model *m, const uint32_t *vocab, int64_t v)
{
    gd_error err;
    if (gd_model_set_vocab(m, vocab, v, &err) != GD_OK)
        lgd_raise(L, &err);
}

/* ---------------------------------------------------------------------------
 * model:generate{ prompt =, tokens =, temperature =, seed = }: the prompt
 * followed by `tokens` new characters (core/generate.h says how they are
 * drawn).
 * ------------------------------------------------------------------------- */

const lgd_key lgd_generate_keys[] = {
    { "prompt", NULL, "\"\\n\"", "the text to continue (characters of the training text)",
      { .type = GD_OPT_STRING, .def_str = "\n" }, 0, NULL },
    LGD_INT_IN("tokens", 200, 0, 1 << 24, "characters to add"),
    LGD_NUM("temperature", 1, GD_OPT_HAS_MIN, 0, 0, "softmax temperature; 0: always the likeliest"),
    { "seed", NULL, NULL, "the draws: the same seed, the same text",
      { .type = GD_OPT_INTEGER, .def = 1 }, 0, NULL },
    { NULL },
};

int lgd_model_generate(lua_State *L)
{
    const char *what = "model:generate";
    lgd_model *md = lgd_checkmodel(L, 1);
    gd_value v[LGD_MAX_OPTIONS];
    lgd_read_options(L, 2, what, lgd_generate_keys, v);
    size_t plen = strlen(v[0].u.s);
    const char *prompt = v[0].u.s;
    if (v[0].present && lua_istable(L, 2) && lua_getfield(L, 2, "prompt") == LUA_TSTRING)
        prompt = lua_tolstring(L, -1, &plen);   /* its length: a NUL is a character too */
    char *text;
    size_t len;
    gd_error err;
    if (gd_model_generate(md->m, what, prompt, plen, v[1].u.i, v[2].u.num, (uint64_t)v[3].u.i,
                          &text, &len, &err) != GD_OK)
        return lgd_raise(L, &err);
    lua_pushlstring(L, text, len);   /* a memory error here leaks text */
    free(text);
    return 1;
}
