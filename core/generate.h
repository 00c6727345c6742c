/*
 * core/generate.h: text from a causal character model (DESIGN.md §10): a
 * model with token ids [T] in and logits [T, V] out, trained on a text set,
 * whose class labels are its vocabulary's code points.
 */
#ifndef GRADUS_CORE_GENERATE_H
#define GRADUS_CORE_GENERATE_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"

/* The model's vocabulary: output (t, c)'s label is vocab[c] (T copies of
 * it, kept as its class labels and saved with it, so a loaded model
 * generates too). A width that is not a multiple of v (not a character
 * model): no labels. */
gd_status gd_model_set_vocab(gd_model *m, const uint32_t *vocab, int64_t v, gd_error *err);

/* The prompt (UTF-8) followed by `tokens` new characters, into a malloc'd
 * NUL-terminated *text of *len bytes. Autoregressive: the last T ids (fewer
 * at the start, the rest of the window filled with the first id: a causal
 * model's outputs up to a position never read what follows it) go through
 * the model; the logits at the last real position, divided by the
 * temperature, are a softmax to draw the next character from (temperature
 * 0: the likeliest). Draws come from gd_rng_stream(seed, "gene"), so the
 * same seed gives the same text. Refused, with `what` opening the message:
 * a model that is not a character model, an empty prompt, invalid UTF-8, a
 * prompt character outside the vocabulary. */
gd_status gd_model_generate(gd_model *m, const char *what, const char *prompt, size_t plen,
                            int64_t tokens, double temperature, uint64_t seed, char **text,
                            size_t *len, gd_error *err);

#endif
