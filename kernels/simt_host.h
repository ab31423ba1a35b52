// The host emulator's thread start, shared by the fused engine's emulator and the layer kernels'
// (kernels/fused_emulate.cu, kernels/layer_emulate.cu): one host thread per GPU thread.
#ifndef DD_SIMT_HOST_H
#define DD_SIMT_HOST_H

// Runs FN(ARG, i) for i = 0 .. N-1, each in a host thread of its own, and waits for them all.
// Either every thread runs or none does: a barrier in FN would wait forever for a thread that
// could not be created. Returns 0, or the errno of the failed pthread_create.
int simt_run_threads(int n, void (*fn)(void *arg, int i), void *arg);

// A block's barriers for THREADS threads (a multiple of 32): the block's own and each warp's.
struct simt_block;
void simt_block_open(simt_block *b, int threads);
void simt_block_close(simt_block *b, int threads);

#endif
