// The fused engine on the GPU: one block runs a whole span of SGD steps (fused_body.cuh).
#include "fused_body.cuh"
#include "gpu_check.h"

// The plan and the run stay in kernel-parameter space (__grid_constant__): the body takes their
// addresses, and an ordinary parameter would be copied to every thread's local memory for that.
template <int UPL>
__global__ void __launch_bounds__(DD_FUSED_THREADS, 1)
    fused_kernel(const __grid_constant__ dd_fused_plan plan,
                 const __grid_constant__ dd_fused_run run) {
    extern __shared__ __align__(16) char shared[];
    fused_ctx c = {};
    c.p = &plan;
    c.r = &run;
    fused_body<UPL>(c, shared);
}

extern "C" int dd_fused_shared_limit(size_t *bytes, char *err) {
    int device, limit;
    CUDA_CHECK(cudaGetDevice(&device), err);
    CUDA_CHECK(cudaDeviceGetAttribute(&limit, cudaDevAttrMaxSharedMemoryPerBlockOptin, device),
               err);
    *bytes = (size_t)limit;
    return 0;
}

// The kernel's dynamic shared memory limit is one setting per process: models trained in
// several threads would race if each set its own plan's size, so every launch sets the same
// value, the device's opt-in maximum (no plan asks for more).
template <int UPL>
static int launch(const dd_fused_plan *plan, const dd_fused_run *run, cudaStream_t stream,
                  char *err) {
    auto kernel = fused_kernel<UPL>;
    size_t limit;
    if (dd_fused_shared_limit(&limit, err) != 0) return -1;
    CUDA_CHECK(
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)limit), err);
    kernel<<<1, plan->threads, plan->shared_bytes, stream>>>(*plan, *run);
    CUDA_CHECK(cudaGetLastError(), err);
    return 0;
}

extern "C" int dd_fused_train_gpu(const dd_fused_plan *plan, const dd_fused_run *run, void *stream,
                                  char *err) {
    cudaStream_t s = (cudaStream_t)stream;
    if (plan->upl == 1) return launch<1>(plan, run, s, err);
    return launch<2>(plan, run, s, err);
}
