// SGD over the flat trainable buffer on the GPU, twin of src/sgd.c: one launch for all tensors,
// or for all but the Dense kernels, when those are updated by their gradient's SGEMM itself.
#include "deepdigits/formulas.h"
#include "deepdigits/ops.h"
#include "gpu_check.h"
#include "kernels.h"
#include "launch.cuh"

static const int THREADS = 256;

DD_GLOBAL static void DD_MAX_THREADS(THREADS)
    sgd_update_kernel(float *params, const float *grads, long n, float lr) {
    const long i = (long)simt_block_index() * simt_block_threads() + simt_tid();
    if (i < n) params[i] = dd_sgd_step(params[i], grads[i], lr);
}

int dd_sgd_update_gpu(float *params, const float *grads, long n, float lr, dd_gpu *gpu) {
    DD_LAUNCH(sgd_update_kernel, CEIL_DIV(n, THREADS), THREADS, gpu->stream, params, grads, n, lr);
    LAUNCH_CHECK("sgd_update_kernel", gpu);
    return 0;
}

// Float I of the ranges' concatenation, a thread a float.
DD_GLOBAL static void DD_MAX_THREADS(THREADS)
    sgd_ranges_kernel(float *params, const float *grads, dd_sgd_ranges ranges, float lr) {
    long i = (long)simt_block_index() * simt_block_threads() + simt_tid();
    for (int r = 0; r < ranges.n; i -= ranges.count[r], r++)
        if (i < ranges.count[r]) {
            const long at = ranges.first[r] + i;
            params[at] = dd_sgd_step(params[at], grads[at], lr);
            return;
        }
}

int dd_sgd_update_ranges_gpu(float *params, const float *grads, const dd_sgd_ranges *ranges,
                             float lr, dd_gpu *gpu) {
    long n = 0;
    for (int r = 0; r < ranges->n; r++) n += ranges->count[r];
    if (n == 0) return 0;
    DD_LAUNCH(sgd_ranges_kernel, CEIL_DIV(n, THREADS), THREADS, gpu->stream, params, grads, *ranges,
              lr);
    LAUNCH_CHECK("sgd_ranges_kernel", gpu);
    return 0;
}
