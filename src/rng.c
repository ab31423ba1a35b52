/* cuRAND host-generator wrappers and the per-epoch shuffle; see rng.h. */
#include "deepdigits/rng.h"

#include <stdlib.h>
#include <string.h>

#include "curand_check.h"
#include "deepdigits/draws.h"

struct dd_rng {
    curandGenerator_t gen;
};

const char *dd_curand_status_name(curandStatus_t s) {
    switch (s) {
    case CURAND_STATUS_SUCCESS:
        return "CURAND_STATUS_SUCCESS";
    case CURAND_STATUS_VERSION_MISMATCH:
        return "CURAND_STATUS_VERSION_MISMATCH";
    case CURAND_STATUS_NOT_INITIALIZED:
        return "CURAND_STATUS_NOT_INITIALIZED";
    case CURAND_STATUS_ALLOCATION_FAILED:
        return "CURAND_STATUS_ALLOCATION_FAILED";
    case CURAND_STATUS_TYPE_ERROR:
        return "CURAND_STATUS_TYPE_ERROR";
    case CURAND_STATUS_OUT_OF_RANGE:
        return "CURAND_STATUS_OUT_OF_RANGE";
    case CURAND_STATUS_LENGTH_NOT_MULTIPLE:
        return "CURAND_STATUS_LENGTH_NOT_MULTIPLE";
    case CURAND_STATUS_DOUBLE_PRECISION_REQUIRED:
        return "CURAND_STATUS_DOUBLE_PRECISION_REQUIRED";
    case CURAND_STATUS_LAUNCH_FAILURE:
        return "CURAND_STATUS_LAUNCH_FAILURE";
    case CURAND_STATUS_PREEXISTING_FAILURE:
        return "CURAND_STATUS_PREEXISTING_FAILURE";
    case CURAND_STATUS_INITIALIZATION_FAILED:
        return "CURAND_STATUS_INITIALIZATION_FAILED";
    case CURAND_STATUS_ARCH_MISMATCH:
        return "CURAND_STATUS_ARCH_MISMATCH";
    case CURAND_STATUS_INTERNAL_ERROR:
        return "CURAND_STATUS_INTERNAL_ERROR";
    default:
        return "unknown cuRAND status";
    }
}

static int rng_open(dd_rng *rng, unsigned long long seed, char *err) {
    CURAND_CHECK(curandCreateGeneratorHost(&rng->gen, CURAND_RNG_PSEUDO_PHILOX4_32_10), err);
    CURAND_CHECK(curandSetPseudoRandomGeneratorSeed(rng->gen, seed), err);
    return 0;
}

dd_rng *dd_rng_create(unsigned long long seed, char *err) {
    dd_rng *rng = calloc(1, sizeof *rng);
    if (!rng) {
        snprintf(err, DD_ERR_LEN, "out of memory");
        return NULL;
    }
    if (rng_open(rng, seed, err) != 0) {
        if (rng->gen) curandDestroyGenerator(rng->gen);
        free(rng);
        return NULL;
    }
    return rng;
}

void dd_rng_destroy(dd_rng *rng) {
    if (!rng) return;
    curandDestroyGenerator(rng->gen);
    free(rng);
}

typedef enum { DRAW_BITS, DRAW_UNIFORM, DRAW_NORMAL } draw_kind;

/* Draws always cover a whole number of Philox blocks (4 words), so the host and device
 * generators are asked for exactly the same thing; the extra words are dropped. Every kind
 * of draw is 4 bytes wide. Normals are uniforms turned by dd_box_muller, as on the GPU. */
static int draw(dd_rng *rng, draw_kind kind, unsigned long long offset, void *out, size_t n,
                char *err) {
    size_t padded = DD_RNG_PADDED(n);
    void *tmp = padded == n ? out : malloc(padded * 4);
    if (!tmp) {
        snprintf(err, DD_ERR_LEN, "out of memory drawing %zu random numbers", n);
        return -1;
    }
    curandStatus_t st = curandSetGeneratorOffset(rng->gen, offset);
    const int offset_failed = st != CURAND_STATUS_SUCCESS;
    if (!offset_failed) {
        if (kind == DRAW_BITS)
            st = curandGenerate(rng->gen, tmp, padded);
        else
            st = curandGenerateUniform(rng->gen, tmp, padded);
    }
    if (st == CURAND_STATUS_SUCCESS && kind == DRAW_NORMAL) {
        float *u = tmp; /* whole Philox blocks: the pairs are complete */
        for (size_t i = 0; i < padded; i += 2) dd_box_muller(u[i], u[i + 1], &u[i], &u[i + 1]);
    }
    if (tmp != out) {
        memcpy(out, tmp, n * 4);
        free(tmp);
    }
    if (st != CURAND_STATUS_SUCCESS) {
        const char *what = offset_failed       ? "curandSetGeneratorOffset"
                           : kind == DRAW_BITS ? "curandGenerate"
                                               : "curandGenerateUniform";
        snprintf(err, DD_ERR_LEN, "%s:%d: %s of %zu numbers at offset %llu failed: %s", __FILE__,
                 __LINE__, what, padded, offset, dd_curand_status_name(st));
        return -1;
    }
    return 0;
}

int dd_rng_bits(dd_rng *rng, unsigned long long offset, uint32_t *out, size_t n, char *err) {
    return draw(rng, DRAW_BITS, offset, out, n, err);
}

int dd_rng_uniform(dd_rng *rng, unsigned long long offset, float *out, size_t n, char *err) {
    return draw(rng, DRAW_UNIFORM, offset, out, n, err);
}

int dd_rng_normal(dd_rng *rng, unsigned long long offset, float *out, size_t n, char *err) {
    return draw(rng, DRAW_NORMAL, offset, out, n, err);
}

static int by_key_then_index(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

int dd_shuffle(uint32_t *order, int epoch, dd_rng *rng, int n, char *err) {
    uint64_t *pairs = malloc((size_t)n * sizeof *pairs);
    if (!pairs) {
        snprintf(err, DD_ERR_LEN, "out of memory shuffling %d samples", n);
        return -1;
    }
    /* The keys land in ORDER first; each is then paired with its index in one 64-bit word, so a
     * plain sort orders by key and breaks ties by index. */
    if (dd_rng_bits(rng, DD_RNG_SHUFFLE_OFFSET(epoch), order, (size_t)n, err) != 0) {
        free(pairs);
        return -1;
    }
    for (int i = 0; i < n; i++) pairs[i] = (uint64_t)order[i] << 32 | (uint32_t)i;
    qsort(pairs, (size_t)n, sizeof *pairs, by_key_then_index);
    for (int i = 0; i < n; i++) order[i] = (uint32_t)pairs[i];
    free(pairs);
    return 0;
}
