// The host emulator's threads, shared by the fused engine's emulator and the emulated device
// (kernels/fused_emulate.cu, tests/emudev): a host thread or a fiber (kernels/simt_fibers.cc) per
// GPU thread.
#ifndef DD_SIMT_HOST_H
#define DD_SIMT_HOST_H

// Runs FN(ARG, i) for i = 0 .. N-1, each in a host thread (or fiber) of its own, and waits for
// them all. Either every thread runs or none does: a barrier in FN would wait forever for a thread
// that could not be created. Returns 0, or the errno of the failed start.
int simt_run_threads(int n, void (*fn)(void *arg, int i), void *arg);

// The emulator's per-thread state (simt.cuh), which a fiber keeps while another runs.
struct simt_block;
struct simt_cluster;
struct simt_thread_state {
    simt_block *block;
    simt_cluster *cluster;
    int thread, rank, threads, block_id;
};
simt_thread_state simt_state_save();
void simt_state_restore(const simt_thread_state &s);

// A block's barriers for THREADS threads (a multiple of 32): the block's own and each warp's.
void simt_block_open(simt_block *b, int threads);
void simt_block_close(simt_block *b, int threads);

// Runs a grid of BLOCKS blocks of THREADS: BODY(ARG) once for every thread, the blocks one after
// another, with simt_tid and simt_block_index telling it which. SYNCING: the threads meet at
// barriers, so each is a thread of its own (THREADS a multiple of 32); otherwise they run in
// turn in the calling thread, and a barrier aborts. Returns 0, or the errno of a failed start.
int simt_run_grid(int blocks, int threads, int syncing, void (*body)(void *arg), void *arg);

#endif
