// The few thread-block primitives the fused engine's body uses, for the GPU and for the host
// emulator that runs the same body in CPU tests (define DD_SIMT_HOST before including this).
// The body may use only these: its thread's index, a block-wide barrier, a warp barrier, and
// butterfly shuffles within a warp of 32, always with every lane of the warp taking part.
#ifndef DD_SIMT_CUH
#define DD_SIMT_CUH

#ifndef DD_SIMT_HOST

#define DD_SIMT_FN __device__ __forceinline__
#define DD_UNROLL  _Pragma("unroll")

DD_SIMT_FN int simt_tid() {
    return (int)threadIdx.x;
}
DD_SIMT_FN void simt_sync() {
    __syncthreads();
}
DD_SIMT_FN float simt_shfl_xor(float v, int mask) {
    return __shfl_xor_sync(0xffffffffu, v, mask);
}
// Orders the warp's memory accesses (a shuffle synchronizes the lanes but, by the PTX memory
// model, not their loads and stores).
DD_SIMT_FN void simt_syncwarp() {
    __syncwarp();
}
DD_SIMT_FN double simt_shfl_xor(double v, int mask) {
    return __shfl_xor_sync(0xffffffffu, v, mask);
}

#else // the host emulator: one host thread per GPU thread, barriers for the synchronization

#include <pthread.h>

#define DD_SIMT_FN static inline
#define DD_UNROLL

struct simt_block {
    pthread_barrier_t all;      // __syncthreads
    pthread_barrier_t warp[32]; // the lanes of one warp, around a shuffle's exchange
    double lanes[1024];         // what each thread offers to its warp's shuffle
};

extern thread_local simt_block *simt_current;
extern thread_local int simt_thread;

DD_SIMT_FN int simt_tid() {
    return simt_thread;
}
DD_SIMT_FN void simt_sync() {
    pthread_barrier_wait(&simt_current->all);
}
// Everyone writes, the warp meets, everyone reads its partner, the warp meets again (so that no
// lane overwrites its slot before its partner has read it).
DD_SIMT_FN double simt_shfl_xor(double v, int mask) {
    simt_block *b = simt_current;
    pthread_barrier_t *warp = &b->warp[simt_thread / 32];
    b->lanes[simt_thread] = v;
    pthread_barrier_wait(warp);
    const double got = b->lanes[simt_thread ^ mask];
    pthread_barrier_wait(warp);
    return got;
}
DD_SIMT_FN float simt_shfl_xor(float v, int mask) {
    return (float)simt_shfl_xor((double)v, mask);
}
DD_SIMT_FN void simt_syncwarp() {
    pthread_barrier_wait(&simt_current->warp[simt_thread / 32]);
}

#endif

#endif
