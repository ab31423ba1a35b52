/* cuRAND's device generator (kernels/philox.cu) draws what the host generator draws for the same
 * seed and offset, so the GPU can initialize and shuffle exactly as the CPU reference does. Raw
 * bits and uniforms are compared bitwise at the offsets deepdigits uses (layer initialization,
 * epoch shuffles), the device shuffle against dd_shuffle bitwise. Normals are not cuRAND's on
 * either side but the uniforms through draws.h: test_gpu_init compares the weights made of them. */
#include <stdlib.h>
#include <string.h>

#include "deepdigits/ops.h"
#include "deepdigits/rng.h"
#include "gputest.h"
#include "testutil.h"

enum { BITS, UNIFORM };

/* N draws of KIND from the device generator at OFFSET, copied to the host; NaN bytes (0xff) where
 * a step failed (the failure is recorded). */
static void *device_draw(int kind, unsigned long long seed, unsigned long long offset, size_t n) {
    dd_gpu gpu;
    gpu_test_open(&gpu);
    void *d = NULL, *h = malloc(n * 4);
    memset(h, 0xff, n * 4);
    dd_philox_gpu *g = dd_philox_gpu_open(seed, &gpu);
    CHECK(g != NULL, "%s", gpu.err);
    CHECK(cudaMalloc(&d, n * 4) == cudaSuccess, "cudaMalloc of %zu bytes", n * 4);
    if (g && d) {
        int rc = kind == BITS ? dd_philox_gpu_bits(d, offset, n, g, &gpu)
                              : dd_philox_gpu_uniform(d, offset, n, g, &gpu);
        CHECK(rc == 0, "device draw of kind %d: %s", kind, gpu.err);
        CHECK(cudaStreamSynchronize(gpu.stream) == cudaSuccess &&
                  cudaMemcpy(h, d, n * 4, cudaMemcpyDeviceToHost) == cudaSuccess,
              "copy back");
    }
    cudaFree(d);
    dd_philox_gpu_close(g);
    dd_gpu_close(&gpu);
    return h;
}

/* N is a whole number of Philox blocks, as every draw of deepdigits asks for. */
static void same_stream(int kind, unsigned long long seed, unsigned long long offset, size_t n) {
    char err[DD_ERR_LEN];
    dd_rng *rng = dd_rng_create(seed, err);
    void *host = malloc(n * 4);
    int rc = kind == BITS ? dd_rng_bits(rng, offset, host, n, err)
                          : dd_rng_uniform(rng, offset, host, n, err);
    CHECK(rc == 0, "%s", err);
    void *dev = device_draw(kind, seed, offset, n);
    CHECK(memcmp(host, dev, n * 4) == 0, "kind %d, seed %llu, offset %llu: host and device differ",
          kind, seed, offset);
    free(host), free(dev);
    dd_rng_destroy(rng);
}

static void same_shuffle(unsigned long long seed, int epoch, int n) {
    char err[DD_ERR_LEN];
    dd_gpu gpu;
    gpu_test_open(&gpu);
    dd_rng *rng = dd_rng_create(seed, err);
    uint32_t *host = malloc((size_t)n * 4), *dev, *back = malloc((size_t)n * 4);
    CHECK(cudaMalloc((void **)&dev, (size_t)n * 4) == cudaSuccess, "cudaMalloc");
    CHECK(dd_shuffle(host, epoch, rng, n, err) == 0, "%s", err);
    dd_shuffle_work *work = dd_shuffle_gpu_open(n, seed, &gpu);
    CHECK(work && dd_shuffle_gpu(dev, epoch, work, &gpu) == 0, "%s", gpu.err);
    CHECK(cudaStreamSynchronize(gpu.stream) == cudaSuccess &&
              cudaMemcpy(back, dev, (size_t)n * 4, cudaMemcpyDeviceToHost) == cudaSuccess,
          "copy back");
    dd_shuffle_gpu_close(work);
    CHECK(memcmp(host, back, (size_t)n * 4) == 0, "shuffle seed %llu epoch %d n %d differs", seed,
          epoch, n);
    free(host), free(back);
    cudaFree(dev);
    dd_rng_destroy(rng);
    dd_gpu_close(&gpu);
}

int main(void) {
    dd_gpu gpu;
    gpu_test_open(&gpu);
    dd_gpu_close(&gpu);
    for (int layer = 0; layer < 3; layer++) {
        same_stream(UNIFORM, 7, DD_RNG_INIT_OFFSET(layer), 784 * 25);
        same_stream(BITS, 7, DD_RNG_INIT_OFFSET(layer), 784 * 25);
        /* a truncated normal's first round for the lab's first kernel */
        same_stream(UNIFORM, 7, DD_RNG_INIT_OFFSET(layer), dd_truncated_round(784 * 25));
    }
    same_stream(BITS, 7, DD_RNG_SHUFFLE_OFFSET(0), 60000);
    same_stream(BITS, 123, DD_RNG_SHUFFLE_OFFSET(19), 60000);
    same_shuffle(7, 0, 60000);
    same_shuffle(7, 5, 60000);
    same_shuffle(99, 2, 6001);
    return dd_test_finish("test_gpu_curand");
}
