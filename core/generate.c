/*
 * core/generate.c: text from a causal character model (generate.h).
 */
#include "generate.h"

#include <math.h>
#include <stdlib.h>

#include "data.h"

#define GENERATE_STREAM 0x67656e65ULL /* "gene" */

gd_status gd_model_set_vocab(gd_model *m, const uint32_t *vocab, int64_t v, gd_error *err)
{
    int64_t width = gd_shape_numel(gd_model_output_shape(m));
    if (v < 1 || width % v)
        return gd_model_set_labels(m, NULL, 0, err);
    double *labels = malloc((size_t)width * sizeof *labels);
    if (!labels)
        return gd_fail(err, GD_ENOMEM, "out of memory for the model's vocabulary");
    for (int64_t k = 0; k < width; k++)
        labels[k] = vocab[k % v];
    gd_status st = gd_model_set_labels(m, labels, width, err);
    free(labels);
    return st;
}

/* The UTF-8 of code point c at s; its length. */
static int utf8(char *s, uint32_t c)
{
    if (c < 0x80) {
        s[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        s[0] = (char)(0xc0 | c >> 6);
        s[1] = (char)(0x80 | (c & 0x3f));
        return 2;
    }
    if (c < 0x10000) {
        s[0] = (char)(0xe0 | c >> 12);
        s[1] = (char)(0x80 | ((c >> 6) & 0x3f));
        s[2] = (char)(0x80 | (c & 0x3f));
        return 3;
    }
    s[0] = (char)(0xf0 | c >> 18);
    s[1] = (char)(0x80 | ((c >> 12) & 0x3f));
    s[2] = (char)(0x80 | ((c >> 6) & 0x3f));
    s[3] = (char)(0x80 | (c & 0x3f));
    return 4;
}

/* The prompt's code points as ids (0-based vocabulary indices) into ids. */
static gd_status prompt_ids(const char *what, const uint32_t *cps, int64_t np,
                            const double *labels, int64_t V, float *ids, gd_error *err)
{
    for (int64_t i = 0; i < np; i++) {
        int64_t c = 0;
        while (c < V && labels[c] != (double)cps[i])
            c++;
        if (c == V)
            return gd_fail(err, GD_EINVAL, "%s: prompt character %d (U+%04X) is not in the "
                           "model's vocabulary", what, (int)i + 1, (unsigned)cps[i]);
        ids[i] = (float)c;
    }
    return GD_OK;
}

/* ids[np .. np + tokens): each drawn from the model given those before. */
static gd_status sample(gd_model *m, float *ids, int64_t np, int64_t tokens, double temperature,
                        uint64_t seed, float *window, double *p, gd_error *err)
{
    const int64_t T = gd_model_input_shape(m)->dim[0];
    const gd_shape *out = gd_model_output_shape(m);
    const int64_t V = out->dim[out->ndim - 1];
    gd_rng rng = gd_rng_stream(seed, GENERATE_STREAM);
    for (int64_t n = np; n < np + tokens; n++) {
        int64_t start = n > T ? n - T : 0, len = n - start;
        for (int64_t t = 0; t < T; t++)
            window[t] = ids[start + (t < len ? t : 0)];
        const float *y;
        gd_status st = gd_model_forward(m, window, 1, false, &y, err);
        if (st != GD_OK)
            return st;
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
    return GD_OK;
}

gd_status gd_model_generate(gd_model *m, const char *what, const char *prompt, size_t plen,
                            int64_t tokens, double temperature, uint64_t seed, char **text,
                            size_t *len, gd_error *err)
{
    const gd_shape *in = gd_model_input_shape(m), *out = gd_model_output_shape(m);
    const double *labels = gd_model_labels(m);
    if (gd_model_input_ids(m) <= 0 || in->ndim != 1 || out->ndim != 2 ||
        out->dim[0] != in->dim[0] || !labels)
        return gd_fail(err, GD_EINVAL, "%s: needs a character model: token ids [T] in, "
                       "[T, vocab] logits out, trained on a gd.data.text set (its vocabulary "
                       "comes from there)", what);
    if (plen == 0)
        return gd_fail(err, GD_EINVAL, "%s: prompt must not be empty", what);
    const int64_t V = out->dim[1], T = in->dim[0];
    uint32_t *cps = NULL;
    int64_t np = 0;
    gd_status st = gd_text_decode(what, prompt, plen, &cps, &np, err);
    if (st != GD_OK)
        return st;
    float *ids = malloc((size_t)(np + tokens) * sizeof *ids);
    float *window = malloc((size_t)T * sizeof *window);
    double *p = malloc((size_t)V * sizeof *p);
    char *s = malloc((size_t)(np + tokens) * 4 + 1);
    if (!ids || !window || !p || !s)
        st = gd_fail(err, GD_ENOMEM, "%s: out of memory for %lld characters", what,
                     (long long)(np + tokens));
    if (st == GD_OK)
        st = prompt_ids(what, cps, np, labels, V, ids, err);
    if (st == GD_OK)
        st = gd_model_reserve(m, 1, err);
    if (st == GD_OK)
        st = sample(m, ids, np, tokens, temperature, seed, window, p, err);
    if (st == GD_OK) {
        size_t n = 0;
        for (int64_t i = 0; i < np + tokens; i++)
            n += (size_t)utf8(s + n, (uint32_t)labels[(int64_t)ids[i]]);
        s[n] = 0;
        *text = s;
        *len = n;
        s = NULL;
    }
    free(cps);
    free(ids);
    free(window);
    free(p);
    free(s);
    return st;
}
