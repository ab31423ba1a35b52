// The epoch's sample order on the GPU, twin of dd_shuffle in src/rng.c: the same 32-bit keys from
// cuRAND's device generator (kernels/philox.cu: same seed and offset as the host generator), then
// cub's stable radix sort of the indices by key, which breaks ties by index as the CPU's sort does.
#include <cub/cub.cuh>

#include "deepdigits/ops.h"
#include "deepdigits/rng.h"
#include "gpu_check.h"
#include "launch.cuh"

static const int THREADS = 256;

DD_GLOBAL static void DD_MAX_THREADS(THREADS) iota_kernel(uint32_t *v, int n) {
    const int i = simt_block_index() * simt_block_threads() + simt_tid();
    if (i < n) v[i] = (uint32_t)i;
}

struct dd_shuffle_work {
    int n;
    size_t padded, temp_bytes;
    uint32_t *keys, *keys_sorted, *index;
    void *temp;
    dd_philox_gpu *philox;
};

void dd_shuffle_gpu_close(dd_shuffle_work *w) {
    if (!w) return;
    dd_philox_gpu_close(w->philox);
    cudaFree(w->temp);
    cudaFree(w->index);
    cudaFree(w->keys_sorted);
    cudaFree(w->keys);
    free(w);
}

static int open_work(dd_shuffle_work *w, unsigned long long seed, dd_gpu *gpu) {
    CUDA_CHECK(cudaMalloc(&w->keys, w->padded * 4), gpu->err);
    CUDA_CHECK(cudaMalloc(&w->keys_sorted, (size_t)w->n * 4), gpu->err);
    CUDA_CHECK(cudaMalloc(&w->index, (size_t)w->n * 4), gpu->err);
    CUDA_CHECK(cub::DeviceRadixSort::SortPairs(NULL, w->temp_bytes, w->keys, w->keys_sorted,
                                               w->index, w->index, w->n, 0, 32, gpu->stream),
               gpu->err);
    CUDA_CHECK(cudaMalloc(&w->temp, w->temp_bytes), gpu->err);
    w->philox = dd_philox_gpu_open(seed, gpu);
    return w->philox ? 0 : -1;
}

dd_shuffle_work *dd_shuffle_gpu_open(int n, unsigned long long seed, dd_gpu *gpu) {
    dd_shuffle_work *w = (dd_shuffle_work *)calloc(1, sizeof *w);
    if (!w) {
        snprintf(gpu->err, DD_ERR_LEN, "out of memory");
        return NULL;
    }
    w->n = n;
    w->padded = DD_RNG_PADDED(n); /* whole Philox blocks, as the host draws */
    if (open_work(w, seed, gpu) != 0) {
        dd_shuffle_gpu_close(w);
        return NULL;
    }
    return w;
}

int dd_shuffle_gpu(uint32_t *order, int epoch, dd_shuffle_work *w, dd_gpu *gpu) {
    if (dd_philox_gpu_bits(w->keys, DD_RNG_SHUFFLE_OFFSET(epoch), w->padded, w->philox, gpu) != 0)
        return -1;
    DD_LAUNCH(iota_kernel, CEIL_DIV(w->n, THREADS), THREADS, gpu->stream, w->index, w->n);
    LAUNCH_CHECK("iota_kernel", gpu);
    CUDA_CHECK(cub::DeviceRadixSort::SortPairs(w->temp, w->temp_bytes, w->keys, w->keys_sorted,
                                               w->index, order, w->n, 0, 32, gpu->stream),
               gpu->err);
    return 0;
}
