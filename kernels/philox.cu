// cuRAND's device generator (Philox4x32-10), twin of src/rng.c's host generator: for the same
// seed and offset it draws the same numbers (test_gpu_curand compares them bitwise on a GPU).
// The emulated device has a stand-in that draws with the host generator (tests/emudev/engines.cc).
#include <curand.h>
#include <stdio.h>
#include <stdlib.h>

#include "curand_check.h"
#include "deepdigits/ops.h"
#include "deepdigits/rng.h"
#include "gpu_check.h"

struct dd_philox_gpu {
    curandGenerator_t gen;
};

void dd_philox_gpu_close(dd_philox_gpu *g) {
    if (!g) return;
    if (g->gen) curandDestroyGenerator(g->gen);
    free(g);
}

static int open_generator(dd_philox_gpu *g, unsigned long long seed, dd_gpu *gpu) {
    CURAND_CHECK(curandCreateGenerator(&g->gen, CURAND_RNG_PSEUDO_PHILOX4_32_10), gpu->err);
    CURAND_CHECK(curandSetStream(g->gen, gpu->stream), gpu->err);
    CURAND_CHECK(curandSetPseudoRandomGeneratorSeed(g->gen, seed), gpu->err);
    return 0;
}

dd_philox_gpu *dd_philox_gpu_open(unsigned long long seed, dd_gpu *gpu) {
    dd_philox_gpu *g = (dd_philox_gpu *)calloc(1, sizeof *g);
    if (!g) {
        snprintf(gpu->err, DD_ERR_LEN, "out of memory");
        return NULL;
    }
    if (open_generator(g, seed, gpu) != 0) {
        dd_philox_gpu_close(g);
        return NULL;
    }
    return g;
}

// N whole Philox blocks' worth, as the host generator is asked for (rng.c's draw).
static int check_padded(size_t n, dd_gpu *gpu) {
    if (n == DD_RNG_PADDED(n)) return 0;
    snprintf(gpu->err, DD_ERR_LEN, "a device draw of %zu numbers: not a multiple of 4", n);
    return -1;
}

int dd_philox_gpu_bits(uint32_t *out, unsigned long long offset, size_t n, dd_philox_gpu *g,
                       dd_gpu *gpu) {
    if (check_padded(n, gpu) != 0) return -1;
    CURAND_CHECK(curandSetGeneratorOffset(g->gen, offset), gpu->err);
    CURAND_CHECK(curandGenerate(g->gen, out, n), gpu->err);
    return 0;
}

int dd_philox_gpu_uniform(float *out, unsigned long long offset, size_t n, dd_philox_gpu *g,
                          dd_gpu *gpu) {
    if (check_padded(n, gpu) != 0) return -1;
    CURAND_CHECK(curandSetGeneratorOffset(g->gen, offset), gpu->err);
    CURAND_CHECK(curandGenerateUniform(g->gen, out, n), gpu->err);
    return 0;
}
