// Block-wide sum in double, shared by the kernels that reduce (BN statistics, MSE sums, gradient
// norms). The tree has a fixed shape, so a sum never depends on timing.
#ifndef DD_REDUCE_CUH
#define DD_REDUCE_CUH

// Every thread of the block must call it; every thread gets the total. blockDim.x must be a
// power of two no larger than MAX_THREADS.
template <int MAX_THREADS> __device__ static double block_sum(double v) {
    __shared__ double part[MAX_THREADS];
    part[threadIdx.x] = v;
    __syncthreads();
    for (int half = blockDim.x / 2; half > 0; half /= 2) {
        if (threadIdx.x < half) part[threadIdx.x] += part[threadIdx.x + half];
        __syncthreads();
    }
    double total = part[0];
    __syncthreads(); // part[] may be reused by the next call
    return total;
}

#endif
