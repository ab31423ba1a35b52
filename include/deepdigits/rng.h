/* Random numbers for both backends: cuRAND's Philox4x32-10, through its host generator here
 * (it runs without a GPU) and its device generator in the CUDA backend, which draws the same
 * numbers for the same seed and offset. Every use starts at a fixed offset of the stream, so a
 * draw depends only on (seed, purpose) — initialization of layer L, the shuffle of epoch E — and
 * never on what was drawn before: resuming at epoch E needs no saved generator state.
 * Implementation: src/rng.c. */
#ifndef DEEPDIGITS_RNG_H
#define DEEPDIGITS_RNG_H

#include <stddef.h>
#include <stdint.h>

/* Offsets in the Philox stream, in 32-bit draws: 2^32 draws per purpose. */
#define DD_RNG_INIT_OFFSET(layer)    ((unsigned long long)(layer) << 32)
#define DD_RNG_SHUFFLE_OFFSET(epoch) ((1ULL << 40) + ((unsigned long long)(epoch) << 32))
/* N draws rounded up to whole Philox blocks of 4: what both generators are asked for, so that
 * they produce the same numbers (the extra ones are dropped). */
#define DD_RNG_PADDED(n) (((size_t)(n) + 3) & ~(size_t)3)

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dd_rng dd_rng;

dd_rng *dd_rng_create(unsigned long long seed, char *err);
void dd_rng_destroy(dd_rng *rng);

/* Fill OUT[0..n) from the stream starting at OFFSET. Return 0, or -1 with a line in ERR.
 * uniform: (0, 1] as cuRAND defines it; normal: N(0, 1), pairs of uniforms through draws.h's
 * dd_box_muller (as the GPU's initialization turns them); bits: raw 32-bit words. */
int dd_rng_uniform(dd_rng *rng, unsigned long long offset, float *out, size_t n, char *err);
int dd_rng_normal(dd_rng *rng, unsigned long long offset, float *out, size_t n, char *err);
int dd_rng_bits(dd_rng *rng, unsigned long long offset, uint32_t *out, size_t n, char *err);

/* ORDER <- the permutation of 0..n-1 used in epoch EPOCH (0-based): the indices sorted by the
 * 32-bit keys drawn at DD_RNG_SHUFFLE_OFFSET(epoch), ties by index (a stable sort, as the GPU's
 * radix sort does). */
int dd_shuffle(uint32_t *order, int epoch, dd_rng *rng, int n, char *err);

#ifdef __cplusplus
}
#endif

#endif
