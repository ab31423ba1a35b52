/* Initialization on the GPU: the CUDA backend's init_params (cuRAND's device generator, then
 * kernels/init.cu's formulas) gives the CPU backend's parameters (dd_model_init) bit for bit, for
 * every initializer and two seeds, on the lab's network, on the widest the engines take (five
 * hidden layers of 64, BN) and on a narrow one whose later kernels (3x3, 3x10) are not whole
 * Philox blocks of 4 draws. And the truncated normal's rounds: with rounds stingy enough that a
 * kernel takes several, dd_truncated_normal_gpu keeps what dd_truncated_normal keeps. */
#include <stdlib.h>
#include <string.h>

#include "deepdigits/backend.h"
#include "deepdigits/ops.h"
#include "deepdigits/rng.h"
#include "deepdigits/train.h"
#include "gputest.h"
#include "testutil.h"

enum { IMAGES = 4 };

static float *init_on(dd_device device, const dd_model_config *cfg, const dd_mnist *data,
                      unsigned long long seed, size_t n) {
    char err[DD_ERR_LEN];
    dd_backend_setup setup = dd_test_setup(cfg, data, IMAGES, 2, DD_ENGINE_LAYERS, 0);
    dd_backend *b = dd_test_create(device, &setup);
    float *p = malloc(n * sizeof *p);
    CHECK(b->ops->init_params(b, seed, err) == 0, "%s init: %s", b->ops->name, err);
    CHECK(b->ops->download_params(b, p, err) == 0, "%s", err);
    b->ops->destroy(b);
    return p;
}

static void same_init(const char *name, const dd_model_config *cfg, const dd_mnist *data,
                      unsigned long long seed) {
    char err[DD_ERR_LEN];
    dd_layout layout;
    if (dd_layout_build(cfg, &layout, err) != 0) {
        CHECK(0, "%s: %s", name, err);
        return;
    }
    float *cpu = init_on(DD_DEVICE_CPU, cfg, data, seed, layout.n_params),
          *gpu = init_on(DD_DEVICE_GPU, cfg, data, seed, layout.n_params);
    size_t first = 0, differ = 0;
    for (size_t i = 0; i < layout.n_params; i++)
        if (memcmp(&cpu[i], &gpu[i], sizeof *cpu) != 0 && differ++ == 0) first = i;
    CHECK(differ == 0,
          "%s, %s, seed %llu: %zu of %zu parameters differ, the first at %zu: cpu %a, "
          "gpu %a",
          name, dd_init_name(cfg->init.kind), seed, differ, layout.n_params, first, cpu[first],
          gpu[first]);
    free(cpu), free(gpu);
}

/* Rounds of half the missing values and 4 more: about 9 rounds for 1,000 values. */
static size_t stingy_round(size_t missing) {
    return DD_RNG_PADDED(missing / 2 + 4);
}

/* A round that is not whole Philox blocks: refused. */
static size_t ragged_round(size_t missing) {
    return missing + 1 == DD_RNG_PADDED(missing + 1) ? missing + 2 : missing + 1;
}

static void same_rounds(int n, unsigned long long seed) {
    char err[DD_ERR_LEN];
    dd_gpu gpu;
    gpu_test_open(&gpu);
    dd_rng *rng = dd_rng_create(seed, err);
    dd_philox_gpu *g = dd_philox_gpu_open(seed, &gpu);
    float *want = malloc((size_t)n * sizeof *want), *dev = dev_nan((size_t)n);
    int cpu_rounds = 0, gpu_rounds = 0;
    CHECK(rng && g, "generators: %s %s", err, gpu.err);
    if (!rng || !g) return;
    const unsigned long long offset = DD_RNG_INIT_OFFSET(2);
    CHECK(dd_truncated_normal(want, (size_t)n, 0.05, offset, stingy_round, rng, &cpu_rounds, err) ==
              0,
          "%s", err);
    CHECK(dd_truncated_normal_gpu(dev, n, 0.05, offset, stingy_round, g, &gpu_rounds, &gpu) == 0,
          "%s", gpu.err);
    float *got = host_floats(dev, (size_t)n);
    CHECK(cpu_rounds >= 2 && gpu_rounds == cpu_rounds,
          "%d values: %d rounds on the CPU, %d on "
          "the GPU",
          n, cpu_rounds, gpu_rounds);
    CHECK(memcmp(got, want, (size_t)n * sizeof *got) == 0,
          "%d values in %d rounds: the GPU keeps other values than the CPU", n, cpu_rounds);
    CHECK(dd_truncated_normal_gpu(dev, n, 0.05, offset, ragged_round, g, NULL, &gpu) == -1 &&
              strstr(gpu.err, "multiple of 4"),
          "a ragged round: %s", gpu.err);
    free(want), free(got);
    cudaFree(dev);
    dd_philox_gpu_close(g);
    dd_rng_destroy(rng);
    dd_gpu_close(&gpu);
}

int main(void) {
    dd_gpu gpu;
    gpu_test_open(&gpu);
    dd_gpu_close(&gpu);
    dd_mnist data = dd_test_blank_data(IMAGES); /* initialization never reads it */
    const unsigned long long seeds[] = {7, (1ULL << 40) + 3};
    const dd_init_kind kinds[] = {DD_INIT_RANDOM_UNIFORM, DD_INIT_GLOROT_UNIFORM,
                                  DD_INIT_GLOROT_NORMAL, DD_INIT_HE_NORMAL, DD_INIT_HE_UNIFORM};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
        for (int s = 0; s < 2; s++) {
            const dd_init init = {kinds[k], -DD_LAB_INIT_LIMIT, DD_LAB_INIT_LIMIT};
            const dd_model_config lab = dd_test_network(1, 25, DD_BN_NONE, init),
                                  widest = dd_test_network(5, 64, DD_BN_AFTER, init),
                                  narrow = dd_test_network(2, 3, DD_BN_NONE, init);
            same_init("784-25-10", &lab, &data, seeds[s]);
            same_init("784-64x5-10 BN", &widest, &data, seeds[s]);
            same_init("784-3-3-10", &narrow, &data, seeds[s]);
        }
    const dd_init wide = {DD_INIT_RANDOM_UNIFORM, -1, 1};
    const dd_model_config lab_wide = dd_test_network(1, 25, DD_BN_NONE, wide);
    same_init("784-25-10 random_uniform:-1,1", &lab_wide, &data, 7);
    same_rounds(9, 7);
    same_rounds(1000, 7);
    same_rounds(19600, 99);
    dd_mnist_free(&data);
    return dd_test_finish("test_gpu_init");
}
