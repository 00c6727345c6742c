/*
 * lua/lseq.c: what the binding adds for sequence models: token ids (1-based
 * in Lua, 0-based in the core, as class numbers), and model:generate.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"
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
    int64_t width = gd_shape_numel(gd_model_output_shape(m));
    gd_error err;
    if (v < 1 || width % v) {
        if (gd_model_set_labels(m, NULL, 0, &err) != GD_OK)
            lgd_raise(L, &err);
        return;
    }
    double *labels = lua_newuserdatauv(L, (size_t)width * sizeof *labels, 0);
    for (int64_t k = 0; k < width; k++)
        labels[k] = vocab[k % v];
    if (gd_model_set_labels(m, labels, width, &err) != GD_OK)
        lgd_raise(L, &err);
    lua_pop(L, 1);
}

/* ---------------------------------------------------------------------------
 * model:generate{ prompt =, tokens =, temperature =, seed = }
 *
 * Autoregressive sampling from a causal character model: the last T ids
 * (fewer at the start, the rest of the window filled with the first id: a
 * causal model's outputs up to a position never read what follows it) go
 * through the model, the logits at the last real position, divided by the
 * temperature, are a softmax to draw the next character from (temperature 0:
 * the most likely one). Draws come from gd_rng_stream(seed, GENERATE_STREAM),
 * so the same seed gives the same text. Returns the prompt followed by
 * `tokens` new characters.
 * ------------------------------------------------------------------------- */

#define GENERATE_STREAM 0x67656e65ULL /* "gene" */

const lgd_key lgd_generate_keys[] = {
    { "prompt", NULL, "\"\\n\"", "the text to continue (characters of the training text)",
      { .type = GD_OPT_STRING, .def_str = "\n" }, 0, NULL },
    LGD_INT_IN("tokens", 200, 0, 1 << 24, "characters to add"),
    LGD_NUM("temperature", 1, GD_OPT_HAS_MIN, 0, 0, "softmax temperature; 0: always the likeliest"),
    { "seed", NULL, NULL, "the draws: the same seed, the same text",
      { .type = GD_OPT_INTEGER, .def = 1 }, 0, NULL },
    { NULL },
};

/* The UTF-8 of code point cp. */
static void add_char(luaL_Buffer *b, double cp)
{
    char s[8];
    int n = 0;
    uint32_t c = (uint32_t)cp;
    if (c < 0x80) {
        s[n++] = (char)c;
    } else if (c < 0x800) {
        s[n++] = (char)(0xc0 | c >> 6);
        s[n++] = (char)(0x80 | (c & 0x3f));
    } else if (c < 0x10000) {
        s[n++] = (char)(0xe0 | c >> 12);
        s[n++] = (char)(0x80 | ((c >> 6) & 0x3f));
        s[n++] = (char)(0x80 | (c & 0x3f));
    } else {
        s[n++] = (char)(0xf0 | c >> 18);
        s[n++] = (char)(0x80 | ((c >> 12) & 0x3f));
        s[n++] = (char)(0x80 | ((c >> 6) & 0x3f));
        s[n++] = (char)(0x80 | (c & 0x3f));
    }
    luaL_addlstring(b, s, (size_t)n);
}

int lgd_model_generate(lua_State *L)
{
    const char *what = "model:generate";
    lgd_model *md = lgd_checkmodel(L, 1);
    gd_model *m = md->m;
    gd_value v[LGD_MAX_OPTIONS];
    lgd_read_options(L, 2, what, lgd_generate_keys, v);
    size_t plen = strlen(v[0].u.s);
    const char *prompt = v[0].u.s;
    if (v[0].present && lua_istable(L, 2) && lua_getfield(L, 2, "prompt") == LUA_TSTRING)
        prompt = lua_tolstring(L, -1, &plen);   /* its length: a NUL is a character too */
    lua_Integer tokens = v[1].u.i, seed = v[3].u.i;
    double temperature = v[2].u.num;
    const gd_shape *in = gd_model_input_shape(m), *out = gd_model_output_shape(m);
    const double *labels = gd_model_labels(m);
    const int64_t V = out->dim[out->ndim - 1], T = in->dim[0];
    if (gd_model_input_ids(m) <= 0 || in->ndim != 1 || out->ndim != 2 || out->dim[0] != T ||
        !labels)
        return lgd_error(L, "%s: needs a character model: token ids [T] in, [T, vocab] logits "
                          "out, trained on a gd.data.text set (its vocabulary comes from there)",
                          what);
    if (plen == 0)
        return lgd_error(L, "%s: prompt must not be empty", what);
    /* The prompt's ids, then the new ones: a Lua-owned buffer. */
    uint32_t *cps = NULL;
    int64_t np = 0;
    gd_error err;
    if (gd_text_decode(what, prompt, plen, &cps, &np, &err) != GD_OK)
        return lgd_raise(L, &err);
    float *ids = lua_newuserdatauv(L, (size_t)(np + tokens) * sizeof *ids, 0);
    int64_t bad = -1;
    for (int64_t i = 0; i < np && bad < 0; i++) {
        int64_t c = 0;
        while (c < V && labels[c] != (double)cps[i])
            c++;
        if (c == V)
            bad = i;
        ids[i] = (float)c;
    }
    uint32_t badcp = bad >= 0 ? cps[bad] : 0;
    free(cps);
    if (bad >= 0)
        return lgd_error(L, "%s: prompt character %d (U+%04X) is not in the model's vocabulary",
                          what, (int)bad + 1, (unsigned)badcp);
    if (gd_model_reserve(m, 1, &err) != GD_OK)
        return lgd_raise(L, &err);
    float *window = lua_newuserdatauv(L, (size_t)T * sizeof *window, 0);
    double *p = lua_newuserdatauv(L, (size_t)V * sizeof *p, 0);
    gd_rng rng = gd_rng_stream((uint64_t)seed, GENERATE_STREAM);
    for (int64_t n = np; n < np + tokens; n++) {
        int64_t start = n > T ? n - T : 0, len = n - start;
        for (int64_t t = 0; t < T; t++)
            window[t] = ids[start + (t < len ? t : 0)];
        const float *y;
        if (gd_model_forward(m, window, 1, false, &y, &err) != GD_OK)
            return lgd_raise(L, &err);
        const float *z = y + (len - 1) * V;
        int64_t best = 0;
        for (int64_t c = 1; c < V; c++)
            best = z[c] > z[best] ? c : best;
        if (temperature > 0) {
            double sum = 0;
            for (int64_t c = 0; c < V; c++)
                sum += p[c] = exp(((double)z[c] - z[best]) / temperature);
            double u = gd_rng_uniform(&rng) * sum, acc = 0;
            for (best = 0; best < V - 1; best++)
                if ((acc += p[best]) > u)
                    break;
        }
        ids[n] = (float)best;
    }
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int64_t i = 0; i < np + tokens; i++)
        add_char(&b, labels[(int64_t)ids[i]]);
    luaL_pushresult(&b);
    return 1;
}
