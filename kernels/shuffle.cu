// The epoch's sample order on the GPU, twin of dd_shuffle in src/rng.c: the same 32-bit keys from
// cuRAND's device generator (Philox4x32-10, same seed and offset as the host generator), then
// cub's stable radix sort of the indices by key, which breaks ties by index as the CPU's sort does.
#include <cub/cub.cuh>
#include <curand.h>

#include "curand_check.h"
#include "deepdigits/ops.h"
#include "deepdigits/rng.h"
#include "gpu_check.h"

static const int THREADS = 256;

__global__ static void iota_kernel(uint32_t *v, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) v[i] = (uint32_t)i;
}

// Keys for (seed, epoch) into KEYS (n rounded up to whole Philox blocks, as the host draws).
static int draw_keys(uint32_t *keys, size_t padded, unsigned long long seed, int epoch,
                     dd_gpu *gpu) {
    curandGenerator_t gen;
    CURAND_CHECK(curandCreateGenerator(&gen, CURAND_RNG_PSEUDO_PHILOX4_32_10), gpu->err);
    curandStatus_t st = curandSetStream(gen, gpu->stream);
    if (st == CURAND_STATUS_SUCCESS) st = curandSetPseudoRandomGeneratorSeed(gen, seed);
    if (st == CURAND_STATUS_SUCCESS)
        st = curandSetGeneratorOffset(gen, DD_RNG_SHUFFLE_OFFSET(epoch));
    if (st == CURAND_STATUS_SUCCESS) st = curandGenerate(gen, keys, padded);
    curandDestroyGenerator(gen);
    CURAND_CHECK(st, gpu->err);
    return 0;
}

int dd_shuffle_gpu(uint32_t *order, unsigned long long seed, int epoch, int n, dd_gpu *gpu) {
    const size_t padded = ((size_t)n + 3) & ~(size_t)3;
    uint32_t *keys = NULL, *keys_sorted = NULL, *index = NULL;
    void *temp = NULL;
    size_t temp_bytes = 0;
    int rc = -1;
    cudaError_t e = cudaMalloc(&keys, padded * 4);
    if (e == cudaSuccess) e = cudaMalloc(&keys_sorted, (size_t)n * 4);
    if (e == cudaSuccess) e = cudaMalloc(&index, (size_t)n * 4);
    if (e == cudaSuccess)
        e = cub::DeviceRadixSort::SortPairs(NULL, temp_bytes, keys, keys_sorted, index, order, n, 0,
                                            32, gpu->stream);
    if (e == cudaSuccess) e = cudaMalloc(&temp, temp_bytes);
    if (e == cudaSuccess && draw_keys(keys, padded, seed, epoch, gpu) != 0) goto done;
    if (e == cudaSuccess) {
        iota_kernel<<<CEIL_DIV(n, THREADS), THREADS, 0, gpu->stream>>>(index, n);
        e = cudaGetLastError();
    }
    if (e == cudaSuccess)
        e = cub::DeviceRadixSort::SortPairs(temp, temp_bytes, keys, keys_sorted, index, order, n, 0,
                                            32, gpu->stream);
    if (e == cudaSuccess) e = cudaStreamSynchronize(gpu->stream);
    if (e != cudaSuccess)
        snprintf(gpu->err, DD_ERR_LEN, "%s:%d: shuffle of %d samples: %s", __FILE__, __LINE__, n,
                 cudaGetErrorString(e));
    else
        rc = 0;
done:
    cudaFree(temp);
    cudaFree(index);
    cudaFree(keys_sorted);
    cudaFree(keys);
    return rc;
}
