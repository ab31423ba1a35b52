// Sum of squares on the GPU, for the per-layer gradient norms of the diagnostics; the CPU twin is
// dd_sum_squares in src/network.c. One block, so the sum has a fixed order.
#include "deepdigits/ops.h"
#include "gpu_check.h"
#include "reduce.cuh"

constexpr int THREADS = 1024;

__global__ static void sum_squares_kernel(double *acc, const float *x, long n) {
    __shared__ double part[THREADS];
    double s = 0;
    for (long i = threadIdx.x; i < n; i += blockDim.x) s += (double)x[i] * x[i];
    s = block_sum(s, part);
    if (threadIdx.x == 0) acc[0] += s;
}

int dd_sum_squares_gpu(double *acc, const float *x, long n, dd_gpu *gpu) {
    sum_squares_kernel<<<1, THREADS, 0, gpu->stream>>>(acc, x, n);
    LAUNCH_CHECK("sum_squares_kernel", gpu);
    return 0;
}
