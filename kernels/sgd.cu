// SGD over the flat trainable buffer on the GPU, twin of src/sgd.c: one launch for all tensors.
#include "deepdigits/formulas.h"
#include "deepdigits/ops.h"
#include "gpu_check.h"

static const int THREADS = 256;

__global__ static void sgd_update_kernel(float *params, const float *grads, long n, float lr) {
    long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) params[i] = dd_sgd_step(params[i], grads[i], lr);
}

int dd_sgd_update_gpu(float *params, const float *grads, long n, float lr, dd_gpu *gpu) {
    sgd_update_kernel<<<(unsigned)CEIL_DIV(n, THREADS), THREADS, 0, gpu->stream>>>(params, grads, n,
                                                                                   lr);
    LAUNCH_CHECK("sgd_update_kernel", gpu);
    return 0;
}
