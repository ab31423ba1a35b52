// The few thread-block primitives the fused engine's body and the layer kernels use, for the GPU
// and for the host emulator that runs the same code in CPU tests (define DD_SIMT_HOST before
// including this). Such code may use only these: its thread's index, its block's index and size
// (a one-dimensional grid of one-dimensional blocks), a block-wide barrier, a warp barrier, and
// butterfly shuffles within a warp of 32, always with every lane of the warp taking part; and, in
// a thread-block cluster, its block's rank, a cluster-wide barrier, and the address of a shared
// variable in another block of the cluster (distributed shared memory); and, to time its phases,
// a clock.
#ifndef DD_SIMT_CUH
#define DD_SIMT_CUH

#ifndef DD_SIMT_HOST

#include <cooperative_groups.h>

#define DD_SIMT_FN __device__ __forceinline__
#define DD_UNROLL  _Pragma("unroll")

DD_SIMT_FN int simt_tid() {
    return (int)threadIdx.x;
}
DD_SIMT_FN int simt_block_threads() {
    return (int)blockDim.x;
}
DD_SIMT_FN int simt_block_index() {
    return (int)blockIdx.x;
}
DD_SIMT_FN void simt_sync() {
    __syncthreads();
}
// Orders the warp's memory accesses (a shuffle synchronizes the lanes but, by the PTX memory
// model, not their loads and stores).
DD_SIMT_FN void simt_syncwarp() {
    __syncwarp();
}
DD_SIMT_FN double simt_shfl_xor(double v, int mask) {
    return __shfl_xor_sync(0xffffffffu, v, mask);
}
// P, which the code reads or writes as a whole T (a float4, a uchar4): the emulator checks that
// it is aligned to sizeof(T), since a misaligned vector access faults on the GPU and not on x86.
template <typename T> DD_SIMT_FN T *simt_aligned(T *p) {
    return p;
}
// The SM's cycle counter (the emulator: nanoseconds, only ever compared with itself).
DD_SIMT_FN long long simt_clock() {
    return clock64();
}
#ifdef _CG_HAS_CLUSTER_GROUP // sm_90 and later
DD_SIMT_FN int simt_cluster_rank() {
    return (int)cooperative_groups::this_cluster().block_rank();
}
// Every thread of the cluster; orders shared memory (its own and the others') like
// __syncthreads orders a block's.
DD_SIMT_FN void simt_cluster_sync() {
    cooperative_groups::this_cluster().sync();
}
// P, an address in this block's shared memory, in the block of rank RANK.
template <typename T> DD_SIMT_FN T *simt_cluster_map(T *p, int rank) {
    return cooperative_groups::this_cluster().map_shared_rank(p, (unsigned)rank);
}
#else // older GPUs have no clusters, and the host never launches one there
DD_SIMT_FN int simt_cluster_rank() {
    return 0;
}
DD_SIMT_FN void simt_cluster_sync() {
    __trap();
}
template <typename T> DD_SIMT_FN T *simt_cluster_map(T *p, int) {
    __trap();
    return p;
}
#endif

#else // the host emulator: each GPU thread a fiber (or a host thread), barriers for the syncs

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <atomic>

#define DD_SIMT_FN static inline
#define DD_UNROLL

// A block's static shared array (launch.cuh's DD_SHARED_ARRAY), which simt_run_grid fills with
// 0xff bytes before every block; registering fills it too. Returns true.
bool simt_shared_register(void *array, size_t bytes);

#if defined(DD_SIMT_FIBERS)
// Fibers (CMake's choice where it can: x86-64, no ThreadSanitizer): the block's threads are
// coroutines of one host thread (kernels/simt_fibers.cc), and a thread that must wait at a barrier
// yields to the next. Waiting costs a few nanoseconds instead of a futex and a context switch; a
// barrier that some thread never reaches is reported instead of hanging.
void simt_fiber_yield();
extern __thread long simt_fiber_arrivals; // barrier arrivals: the scheduler's sign of life
struct simt_barrier {
    int n, arrived;
    unsigned generation;
};
static inline void simt_barrier_init(simt_barrier *b, int n) {
    b->n = n, b->arrived = 0, b->generation = 0;
}
static inline void simt_barrier_destroy(simt_barrier *) {}
static inline void simt_barrier_wait(simt_barrier *b, int orders_memory) {
    (void)orders_memory;
    const unsigned g = b->generation;
    simt_fiber_arrivals++;
    if (++b->arrived == b->n) {
        b->arrived = 0, b->generation = g + 1;
        return;
    }
    do simt_fiber_yield();
    while (b->generation == g);
}
#elif !defined(DD_SIMT_TSAN)
// Plain pthread barriers: every wait orders all memory, so races may go unnoticed, but this is
// the fast way to run the body with threads.
typedef pthread_barrier_t simt_barrier;
static inline void simt_barrier_init(simt_barrier *b, int n) {
    pthread_barrier_init(b, NULL, (unsigned)n);
}
static inline void simt_barrier_destroy(simt_barrier *b) {
    pthread_barrier_destroy(b);
}
static inline void simt_barrier_wait(simt_barrier *b, int orders_memory) {
    (void)orders_memory;
    pthread_barrier_wait(b);
}
#else
// For ThreadSanitizer (cmake -DDD_TSAN=ON): a spinning barrier on relaxed atomics, which TSan
// sees as no ordering at all, plus an explicit release/acquire on a token per generation when
// the barrier is to order memory. TSan then knows exactly the order __syncthreads and
// __syncwarp give, and no more: a shuffle synchronizes the lanes but, by the PTX memory model,
// orders none of their loads and stores, so its barriers pass ORDERS_MEMORY 0 and any shared
// data that the body exchanges without a real barrier is reported as a race.
#include <sanitizer/tsan_interface.h>
#include <sched.h>
struct simt_barrier {
    std::atomic<int> arrived{0}, generation{0};
    char token[2];
    int n;
};
static inline void simt_barrier_init(simt_barrier *b, int n) {
    b->n = n;
}
static inline void simt_barrier_destroy(simt_barrier *) {}
static inline void simt_barrier_wait(simt_barrier *b, int orders_memory) {
    const int g = b->generation.load(std::memory_order_relaxed);
    char *token = &b->token[g & 1];
    std::atomic_signal_fence(std::memory_order_seq_cst);
    if (orders_memory) __tsan_release(token);
    if (b->arrived.fetch_add(1, std::memory_order_relaxed) + 1 == b->n) {
        b->arrived.store(0, std::memory_order_relaxed);
        b->generation.store(g + 1, std::memory_order_relaxed);
    } else {
        while (b->generation.load(std::memory_order_relaxed) == g) sched_yield();
    }
    if (orders_memory) __tsan_acquire(token);
    std::atomic_signal_fence(std::memory_order_seq_cst);
}
#endif

struct simt_block {
    simt_barrier all;                // __syncthreads
    simt_barrier warp[32];           // the lanes of one warp: __syncwarp, and around a shuffle
    std::atomic<double> lanes[1024]; // what each thread offers to its warp's shuffle
};

// A cluster: a barrier over all its blocks' threads, and where each block's shared memory is.
#define SIMT_MAX_CLUSTER 8
struct simt_cluster {
    simt_barrier all;
    char *shared[SIMT_MAX_CLUSTER];
};

// (__thread, not thread_local: plain variables, which C++ would reach through an initialization
// wrapper, and GCC's UBSan then misreads as null.)
extern __thread simt_block *simt_current;
extern __thread simt_cluster *simt_current_cluster;
extern __thread int simt_thread, simt_rank;
extern __thread int simt_threads, simt_block_id; // blockDim.x and blockIdx.x

DD_SIMT_FN int simt_tid() {
    return simt_thread;
}
DD_SIMT_FN int simt_block_threads() {
    return simt_threads;
}
DD_SIMT_FN int simt_block_index() {
    return simt_block_id;
}
// The running thread's block; none when the threads run one after another (a kernel launched
// with DD_LAUNCH, launch.cuh), where a barrier could never be met.
DD_SIMT_FN simt_block *simt_meeting_block() {
    if (!simt_current) {
        fprintf(stderr, "simt emulator: a barrier or shuffle in a kernel whose threads do not meet "
                        "(launch it with DD_LAUNCH_SYNCING)\n");
        abort();
    }
    return simt_current;
}
DD_SIMT_FN void simt_sync() {
    simt_barrier_wait(&simt_meeting_block()->all, 1);
}
DD_SIMT_FN void simt_syncwarp() {
    simt_barrier_wait(&simt_meeting_block()->warp[simt_thread / 32], 1);
}
// Everyone writes, the warp meets, everyone reads its partner, the warp meets again (so that no
// lane overwrites its slot before its partner has read it).
DD_SIMT_FN double simt_shfl_xor(double v, int mask) {
    simt_block *b = simt_meeting_block();
    simt_barrier *warp = &b->warp[simt_thread / 32];
    b->lanes[simt_thread].store(v, std::memory_order_relaxed);
    simt_barrier_wait(warp, 0);
    const double got = b->lanes[simt_thread ^ mask].load(std::memory_order_relaxed);
    simt_barrier_wait(warp, 0);
    return got;
}
template <typename T> DD_SIMT_FN T *simt_aligned(T *p) {
    if ((uintptr_t)p % sizeof(T) != 0) {
        fprintf(stderr, "simt emulator: a %zu-byte vector access at %p is misaligned\n", sizeof(T),
                (const void *)p);
        abort();
    }
    return p;
}
DD_SIMT_FN int simt_cluster_rank() {
    return simt_rank;
}
DD_SIMT_FN long long simt_clock() {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}
DD_SIMT_FN void simt_cluster_sync() {
    simt_barrier_wait(&simt_current_cluster->all, 1);
}
template <typename T> DD_SIMT_FN T *simt_cluster_map(T *p, int rank) {
    char *const *shared = simt_current_cluster->shared;
    return (T *)(shared[rank] + ((char *)p - shared[simt_rank]));
}

#endif

#endif
