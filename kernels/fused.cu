// The fused engine on the GPU: one block, or a cluster of two or four, runs a whole span of SGD
// steps (fused_body.cuh).
#include "fused_body.cuh"
#include "gpu_check.h"

// The plan and the run stay in kernel-parameter space (__grid_constant__): the body takes their
// addresses, and an ordinary parameter would be copied to every thread's local memory for that.
// TIMED: the build with the phase clocks (dd_fused_run.phase_clocks); BUILD: fused_body.cuh's
// builds (generic, on chip, the warp step, the pipelined warp step).
template <int UPL, int SPAN, bool TIMED, int BUILD>
__global__ void __launch_bounds__(build_threads(BUILD), 1)
    fused_kernel(const __grid_constant__ dd_fused_plan plan,
                 const __grid_constant__ dd_fused_run run) {
    extern __shared__ __align__(16) char shared[];
    fused_ctx c = {};
    c.p = &plan;
    c.r = &run;
    fused_body<UPL, SPAN, TIMED, BUILD>(c, shared);
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
template <int UPL, int SPAN, bool TIMED, int BUILD> static int prepare(char *err) {
    size_t limit;
    if (dd_fused_shared_limit(&limit, err) != 0) return -1;
    CUDA_CHECK(cudaFuncSetAttribute(fused_kernel<UPL, SPAN, TIMED, BUILD>,
                                    cudaFuncAttributeMaxDynamicSharedMemorySize, (int)limit),
               err);
    return 0;
}

// The launch configuration of PLAN: its blocks, as one cluster when there are several.
struct launch_shape {
    cudaLaunchConfig_t config;
    cudaLaunchAttribute cluster;
};

static void shape_of(const dd_fused_plan *plan, cudaStream_t stream, launch_shape *s) {
    *s = launch_shape{};
    s->config.gridDim = dim3((unsigned)plan->cluster);
    s->config.blockDim = dim3((unsigned)plan->threads);
    s->config.dynamicSmemBytes = plan->shared_bytes;
    s->config.stream = stream;
    if (plan->cluster > 1) {
        s->cluster.id = cudaLaunchAttributeClusterDimension;
        s->cluster.val.clusterDim.x = (unsigned)plan->cluster;
        s->cluster.val.clusterDim.y = s->cluster.val.clusterDim.z = 1;
        s->config.attrs = &s->cluster;
        s->config.numAttrs = 1;
    }
}

template <int UPL, int SPAN, bool TIMED, int BUILD>
static int launch_built(const dd_fused_plan *plan, const dd_fused_run *run, cudaStream_t stream,
                        char *err) {
    if (prepare<UPL, SPAN, TIMED, BUILD>(err) != 0) return -1;
    launch_shape s;
    shape_of(plan, stream, &s);
    CUDA_CHECK(cudaLaunchKernelEx(&s.config, fused_kernel<UPL, SPAN, TIMED, BUILD>, *plan, *run),
               err);
    return 0;
}

// PLAN's build (build_for), where there is one (has_build: only builds that exist are compiled).
template <int UPL, int SPAN, bool TIMED = false>
static int launch(const dd_fused_plan *plan, const dd_fused_run *run, cudaStream_t stream,
                  char *err) {
    switch (build_for<UPL, SPAN>(*plan)) {
    case FUSED_WARP_PIPE:
        if constexpr (has_build<UPL, SPAN>(FUSED_WARP_PIPE))
            return launch_built<UPL, SPAN, TIMED, FUSED_WARP_PIPE>(plan, run, stream, err);
        break;
    case FUSED_WARP_STEP:
        if constexpr (has_build<UPL, SPAN>(FUSED_WARP_STEP))
            return launch_built<UPL, SPAN, TIMED, FUSED_WARP_STEP>(plan, run, stream, err);
        break;
    case FUSED_ON_CHIP:
        if constexpr (has_build<UPL, SPAN>(FUSED_ON_CHIP))
            return launch_built<UPL, SPAN, TIMED, FUSED_ON_CHIP>(plan, run, stream, err);
        break;
    default:
        if constexpr (has_build<UPL, SPAN>(FUSED_GENERIC))
            return launch_built<UPL, SPAN, TIMED, FUSED_GENERIC>(plan, run, stream, err);
    }
    snprintf(err, DD_ERR_LEN, "the fused engine on %d SMs needs everything in shared memory",
             plan->cluster);
    return -1;
}

// Whether the GPU launches clusters at all (sm_90 on), whether the kernel it would run was
// compiled for them (code built for an older GPU and compiled again for this one at load time
// has only simt.cuh's trapping stand-ins), then whether one of PLAN's clusters fits on it.
template <int UPL, int SPAN>
static int cluster_fits(const dd_fused_plan *plan, int *fits, char *err) {
    int device, clusters_at_all;
    cudaFuncAttributes kernel;
    CUDA_CHECK(cudaGetDevice(&device), err);
    CUDA_CHECK(cudaDeviceGetAttribute(&clusters_at_all, cudaDevAttrClusterLaunch, device), err);
    CUDA_CHECK(cudaFuncGetAttributes(&kernel, fused_kernel<UPL, SPAN, false, FUSED_ON_CHIP>), err);
    *fits = 0;
    if (!clusters_at_all || kernel.ptxVersion < 90) return 0;
    if (prepare<UPL, SPAN, false, FUSED_ON_CHIP>(err) != 0) return -1;
    launch_shape s;
    shape_of(plan, 0, &s);
    int clusters = 0;
    CUDA_CHECK(cudaOccupancyMaxActiveClusters(
                   &clusters, fused_kernel<UPL, SPAN, false, FUSED_ON_CHIP>, &s.config),
               err);
    *fits = clusters > 0;
    return 0;
}

#define SPAN_1 DD_FUSED_SPAN_OF(1)
#define SPAN_2 DD_FUSED_SPAN_OF(2)
#define SPAN_4 DD_FUSED_SPAN_OF(4)

extern "C" int dd_fused_cluster_fits(const dd_fused_plan *plan, int *fits, char *err) {
    *fits = 1;
    if (plan->cluster == 1) return 0;
    if (plan->cluster == 2)
        return plan->upl == 1 ? cluster_fits<1, SPAN_2>(plan, fits, err)
                              : cluster_fits<2, SPAN_2>(plan, fits, err);
    return plan->upl == 1 ? cluster_fits<1, SPAN_4>(plan, fits, err)
                          : cluster_fits<2, SPAN_4>(plan, fits, err);
}

// PLAN's kernel for its blocks (their spans), UPL units a lane, TIMED or not.
template <int UPL, bool TIMED>
static int launch_on(const dd_fused_plan *plan, const dd_fused_run *run, cudaStream_t s,
                     char *err) {
    switch (plan->cluster) {
    case 1:
        return launch<UPL, SPAN_1, TIMED>(plan, run, s, err);
    case 2:
        return launch<UPL, SPAN_2, TIMED>(plan, run, s, err);
    default:
        return launch<UPL, SPAN_4, TIMED>(plan, run, s, err);
    }
}

extern "C" int dd_fused_train_gpu(const dd_fused_plan *plan, const dd_fused_run *run, void *stream,
                                  char *err) {
    cudaStream_t s = (cudaStream_t)stream;
    if (dd_fused_run_built(plan, run, err) != 0) return -1;
    if (run->phase_clocks) return launch_on<1, true>(plan, run, s, err);
    return plan->upl == 1 ? launch_on<1, false>(plan, run, s, err)
                          : launch_on<2, false>(plan, run, s, err);
}
