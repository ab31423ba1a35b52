// Kernels that test_emudev runs to check the emulator's own rules (compiled for the host only).
#define DD_SIMT_HOST
#include "launch.cuh"

// Each thread reads its slot of the block's shared array before anyone writes it, then writes it:
// on the GPU a block finds its shared memory unwritten (garbage), never the last block's values.
DD_GLOBAL static void stale_shared_kernel(float *out) {
    DD_SHARED_ARRAY(float, slot, 32);
    const int t = simt_tid();
    out[simt_block_index() * 32 + t] = slot[t];
    simt_sync();
    slot[t] = 1.0f;
}

extern "C" int emu_probe_stale_shared(float *out, int blocks, cudaStream_t stream) {
    DD_LAUNCH_SYNCING(stale_shared_kernel, blocks, 32, stream, out);
    return cudaGetLastError() == cudaSuccess ? 0 : -1;
}
