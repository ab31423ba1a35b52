// Block-wide and warp-wide sums in double, shared by the kernels that reduce (BN statistics, MSE
// sums, gradient norms). The trees have a fixed shape, so a sum never depends on timing. Written
// with simt.cuh's primitives, so the kernels' host emulator runs them too.
#ifndef DD_REDUCE_CUH
#define DD_REDUCE_CUH

#include "simt.cuh"

// Every thread of the block must call it; every thread gets the total. PART is shared memory of
// one double a thread; the block's size must be a power of two.
DD_SIMT_FN double block_sum(double v, double *part) {
    const int t = simt_tid();
    part[t] = v;
    simt_sync();
    for (int width = simt_block_threads() / 2; width > 0; width /= 2) {
        if (t < width) part[t] += part[t + width];
        simt_sync();
    }
    const double total = part[0];
    simt_sync(); // part[] may be reused by the next call
    return total;
}

// The sum of V over the warp's 32 lanes, in every lane: a butterfly, the same tree every time.
DD_SIMT_FN double warp_total(double v) {
    v += simt_shfl_xor(v, 16);
    v += simt_shfl_xor(v, 8);
    v += simt_shfl_xor(v, 4);
    v += simt_shfl_xor(v, 2);
    return v + simt_shfl_xor(v, 1);
}

#endif
