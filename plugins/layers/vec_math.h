/*
 * plugins/layers/vec_math.h: exp, erf and tanh in a branch-free form the
 * compiler vectorizes, for gelu.c's loops and attention.c's softmax; the
 * plain ones from libm are what they are tested against
 * (tests/plugins/test_layers_sequence.c). libm's expf and erff are calls
 * the loops cannot vectorize: erff (~20 ns a call) made gelu a third of
 * the transformer's step, expf half of attention's forward over the heads.
 *
 * exp: Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2, Cephes' degree-6
 * polynomial for e^r, 2^n put in the exponent bits; relative error < 2e-7
 * on [-87, 88] (clamped outside, where float over/underflows anyway).
 * erf: Abramowitz & Stegun 7.1.26, |error| < 1.5e-7 (absolute; 4.1e-7 as
 * evaluated in float), so Phi(x) = (1 + erf(x/sqrt 2))/2 is within 2.1e-7
 * of libm's. GELU's reference tolerance is 1e-5 relative.
 */
#ifndef GRADUS_PLUGINS_VEC_MATH_H
#define GRADUS_PLUGINS_VEC_MATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

static inline float gm_exp(float x)
{
    x = x < -87.0f ? -87.0f : x > 88.0f ? 88.0f : x;
    const float n = nearbyintf(x * 1.44269504f);
    const float r = (x - n * 0.693359375f) + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    const float e = p * r * r + r + 1.0f;
    const int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return e * scale;
}

static inline float gm_erf(float x)
{
    const float a = fabsf(x), t = 1.0f / (1.0f + 0.3275911f * a);
    float p = 1.061405429f;
    p = p * t - 1.453152027f;
    p = p * t + 1.421413741f;
    p = p * t - 0.284496736f;
    p = p * t + 0.254829592f;
    return copysignf(1.0f - p * t * gm_exp(-a * a), x);
}

/* tanh(u) = 1 - 2/(e^(2u) + 1): exact at the ends (e^(2u) saturates). */
static inline float gm_tanh(float u)
{
    return 1.0f - 2.0f / (gm_exp(2.0f * u) + 1.0f);
}

#endif
