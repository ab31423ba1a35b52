// SGD over the flat trainable buffer on the GPU, twin of src/sgd.c: one launch for all tensors.
#include "deepdigits/formulas.h"
#include "deepdigits/ops.h"
#include "gpu_check.h"
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
