// Sum of squares on the GPU, for the per-layer gradient norms of the diagnostics; the CPU twin is
// dd_sum_squares in src/network.c. One block, so the sum has a fixed order.
#include "deepdigits/ops.h"
#include "gpu_check.h"
#include "launch.cuh"
#include "reduce.cuh"

constexpr int THREADS = 1024;

DD_GLOBAL static void DD_MAX_THREADS(THREADS)
    sum_squares_kernel(double *acc, const float *x, long n) {
    DD_SHARED_ARRAY(double, part, THREADS);
    double s = 0;
    for (long i = simt_tid(); i < n; i += simt_block_threads()) s += (double)x[i] * x[i];
    s = block_sum(s, part);
    if (simt_tid() == 0) acc[0] += s;
}

int dd_sum_squares_gpu(double *acc, const float *x, long n, dd_gpu *gpu) {
    DD_LAUNCH_SYNCING(sum_squares_kernel, 1, THREADS, gpu->stream, acc, x, n);
    LAUNCH_CHECK("sum_squares_kernel", gpu);
    return 0;
}
