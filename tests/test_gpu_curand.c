/* cuRAND's device generator draws what the host generator draws for the same seed and offset, so
 * the GPU can initialize and shuffle exactly as the CPU reference does. Raw bits and uniforms are
 * compared bitwise at the offsets deepdigits uses (layer initialization, epoch shuffles), the
 * device shuffle against dd_shuffle bitwise, normals to 1e-4 absolute (see same_stream). */
#include <curand.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "deepdigits/ops.h"
#include "deepdigits/rng.h"
#include "gputest.h"
#include "testutil.h"

enum { BITS, UNIFORM, NORMAL };

/* N draws of KIND from the device generator at OFFSET, copied to the host; NaN bytes (0xff) where
 * a step failed (the failure is recorded, and a generator never made is never used). */
static void *device_draw(int kind, unsigned long long seed, unsigned long long offset, size_t n) {
    curandGenerator_t gen;
    void *d = NULL, *h = malloc(n * 4);
    memset(h, 0xff, n * 4);
    if (cudaMalloc(&d, n * 4) != cudaSuccess) {
        CHECK(0, "cudaMalloc of %zu bytes", n * 4);
        return h;
    }
    if (curandCreateGenerator(&gen, CURAND_RNG_PSEUDO_PHILOX4_32_10) != CURAND_STATUS_SUCCESS) {
        CHECK(0, "device generator");
        cudaFree(d);
        return h;
    }
    CHECK(curandSetPseudoRandomGeneratorSeed(gen, seed) == CURAND_STATUS_SUCCESS &&
              curandSetGeneratorOffset(gen, offset) == CURAND_STATUS_SUCCESS,
          "seed and offset");
    curandStatus_t st = kind == BITS      ? curandGenerate(gen, d, n)
                        : kind == UNIFORM ? curandGenerateUniform(gen, d, n)
                                          : curandGenerateNormal(gen, d, n, 0.0f, 1.0f);
    CHECK(st == CURAND_STATUS_SUCCESS, "device draw of kind %d: status %d", kind, (int)st);
    CHECK(cudaMemcpy(h, d, n * 4, cudaMemcpyDeviceToHost) == cudaSuccess, "copy back");
    cudaFree(d);
    curandDestroyGenerator(gen);
    return h;
}

static void same_stream(int kind, unsigned long long seed, unsigned long long offset, size_t n) {
    char err[DD_ERR_LEN];
    dd_rng *rng = dd_rng_create(seed, err);
    void *host = malloc(n * 4);
    int rc = kind == BITS      ? dd_rng_bits(rng, offset, host, n, err)
             : kind == UNIFORM ? dd_rng_uniform(rng, offset, host, n, err)
                               : dd_rng_normal(rng, offset, host, n, err);
    CHECK(rc == 0, "%s", err);
    void *dev = device_draw(kind, seed, offset, n);
    if (kind == NORMAL) {
        /* Box-Muller on the device takes the fast __sincosf (curand_normal.h), whose absolute
         * error is about 2^-21 before the radius (at most sqrt(-2 ln 2^-33) = 6.8) scales it; the
         * host takes sinf and cosf. Training never depends on it (both backends initialize from
         * the host generator), so normals are held to 1e-4 absolute, which still tells the same
         * stream (gaps of 1e-6) from another (gaps of 1), and the largest gap is printed. */
        const float *h = host, *d = dev;
        double worst = 0;
        for (size_t i = 0; i < n; i++) {
            const double gap = fabs((double)h[i] - d[i]);
            if (!(gap <= worst)) worst = gap;
        }
        printf("normals at offset %llu: largest gap host/device %.3g\n", offset, worst);
        CHECK(worst <= 1e-4, "normals, seed %llu, offset %llu: host and device differ by %.3g",
              seed, offset, worst);
    } else {
        CHECK(memcmp(host, dev, n * 4) == 0,
              "kind %d, seed %llu, offset %llu: host and device differ", kind, seed, offset);
    }
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
        same_stream(NORMAL, 7, DD_RNG_INIT_OFFSET(layer), 784 * 25 + 1304);
    }
    same_stream(BITS, 7, DD_RNG_SHUFFLE_OFFSET(0), 60000);
    same_stream(BITS, 123, DD_RNG_SHUFFLE_OFFSET(19), 60000);
    same_shuffle(7, 0, 60000);
    same_shuffle(7, 5, 60000);
    same_shuffle(99, 2, 6001);
    return dd_test_finish("test_gpu_curand");
}
