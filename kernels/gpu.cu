// Opening the GPU: device, stream, cuBLAS handle, and the checks that turn "no device", "no
// kernels for this architecture" and "out of memory" into one clear line.
#include <stdio.h>
#include <stdlib.h>

#include "deepdigits/gpu.h"
#include "gpu_check.h"
#include "kernels.h"
#include "launch.cuh"

// cuBLAS needs a workspace it does not allocate itself for its calls to be captured in graphs;
// its documentation (cublasSetWorkspace) recommends 32 MiB on Hopper and later, 4 MiB before.
static size_t cublas_workspace_bytes(int major) {
    return major >= 9 ? 32u << 20 : 4u << 20;
}

void dd_cuda_prefer_own_queues(void) {
    setenv("CUDA_DEVICE_MAX_CONNECTIONS", "32", 0); // 32 is CUDA's largest; a user's value stays
}

// Without a driver the runtime answers as it does to an old one (cudaErrorInsufficientDriver);
// the driver's version, 0 when there is none, tells the two apart.
int dd_cuda_devices(char *why, size_t len) {
    int n = 0, driver = 0, runtime = 0;
    const cudaError_t e = cudaGetDeviceCount(&n);
    (void)cudaGetLastError(); // an answer here, not an error for the next call to find
    if (e == cudaSuccess && n > 0) return n;
    if (e == cudaSuccess || e == cudaErrorNoDevice ||
        (e == cudaErrorInsufficientDriver &&
         (cudaDriverGetVersion(&driver) != cudaSuccess || driver == 0))) {
        snprintf(why, len, "no CUDA device");
        return 0;
    }
    if (e == cudaErrorInsufficientDriver && cudaRuntimeGetVersion(&runtime) == cudaSuccess) {
        snprintf(why, len,
                 "the CUDA driver supports CUDA %d.%d, this build needs %d.%d: update the driver",
                 driver / 1000, driver % 1000 / 10, runtime / 1000, runtime % 1000 / 10);
        return -1;
    }
    snprintf(why, len, "CUDA cannot start: %s", cudaGetErrorString(e));
    return -1;
}

int dd_cuda_device_count(void) {
    char why[DD_ERR_LEN];
    const int n = dd_cuda_devices(why, sizeof why);
    return n > 0 ? n : 0;
}

DD_GLOBAL static void probe_kernel(int *flag) {
    *flag = 1;
}

// A launch fails with cudaErrorNoKernelImageForDevice when this binary was built for other GPUs.
// The probe runs on a stream of its own and waits for that stream only: other threads may be
// capturing graphs on theirs (train --variant all --jobs).
static int check_architecture(char *err) {
    int *flag = NULL;
    (void)cudaGetLastError(); // an earlier failure in this thread is not the probe's
    cudaStream_t s;
    CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), err);
    cudaError_t e = cudaMalloc(&flag, sizeof *flag);
    if (e == cudaSuccess) {
        DD_LAUNCH(probe_kernel, 1, 1, s, flag);
        e = cudaGetLastError();
    }
    if (e == cudaSuccess) e = cudaStreamSynchronize(s);
    const cudaError_t freed = cudaFree(flag), destroyed = cudaStreamDestroy(s);
    if (e == cudaSuccess) e = freed != cudaSuccess ? freed : destroyed;
    if (e == cudaErrorNoKernelImageForDevice || e == cudaErrorUnsupportedPtxVersion) {
        (void)cudaGetLastError(); // the launch's error, reported here
        cudaDeviceProp p;
        CUDA_CHECK(cudaGetDeviceProperties(&p, 0), err);
        snprintf(err, DD_ERR_LEN,
                 "this build has no kernels for %s (sm_%d%d): rebuild with "
                 "-DCMAKE_CUDA_ARCHITECTURES=%d%d",
                 p.name, p.major, p.minor, p.major, p.minor);
        return -1;
    }
    CUDA_CHECK(e, err);
    return 0;
}

// dd_gpu_open's parts, each returning at its first failure; the caller closes what was opened.
static int open_parts(dd_gpu *gpu, int tf32, char *err) {
    char why[DD_ERR_LEN / 2];
    if (dd_cuda_devices(why, sizeof why) <= 0) {
        snprintf(err, DD_ERR_LEN, "%s (use --device cpu)", why);
        return -1;
    }
    CUDA_CHECK(cudaSetDevice(0), err);
    if (check_architecture(err) != 0) return -1;
    CUDA_CHECK(cudaStreamCreateWithFlags(&gpu->stream, cudaStreamNonBlocking), err);
    CUBLAS_CHECK(cublasCreate(&gpu->cublas), err);
    CUBLAS_CHECK(cublasSetStream(gpu->cublas, gpu->stream), err);
    int major;
    CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, 0), err);
    gpu->cublas_workspace_bytes = cublas_workspace_bytes(major);
    CUDA_CHECK(cudaMalloc(&gpu->cublas_workspace, gpu->cublas_workspace_bytes), err);
    CUBLAS_CHECK(
        cublasSetWorkspace(gpu->cublas, gpu->cublas_workspace, gpu->cublas_workspace_bytes), err);
    // FP32 means FP32: TF32 tensor cores change the numbers, so they are opt-in (--tf32).
    gpu->tf32 = tf32;
    CUBLAS_CHECK(cublasLtCreate(&gpu->lt), err);
    CUBLAS_CHECK(
        cublasSetMathMode(gpu->cublas, tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_PEDANTIC_MATH),
        err);
    return 0;
}

int dd_gpu_open(dd_gpu *gpu, int tf32, char *err) {
    memset(gpu, 0, sizeof *gpu);
    if (open_parts(gpu, tf32, err) == 0) return 0;
    dd_gpu_close(gpu); // ERR is the caller's buffer, not gpu->err: the message survives
    return -1;
}

void dd_gpu_close(dd_gpu *gpu) {
    dd_sgemm_plans_free(gpu);
    if (gpu->lt) cublasLtDestroy(gpu->lt);
    if (gpu->cublas) cublasDestroy(gpu->cublas);
    if (gpu->cublas_workspace) cudaFree(gpu->cublas_workspace);
    if (gpu->stream) cudaStreamDestroy(gpu->stream);
    memset(gpu, 0, sizeof *gpu);
}

void dd_gpu_describe(char *buf, size_t len) {
    cudaDeviceProp p;
    int clock_khz = 0;
    if (dd_cuda_devices(buf, len) <= 0) return;
    if (cudaGetDeviceProperties(&p, 0) != cudaSuccess ||
        cudaDeviceGetAttribute(&clock_khz, cudaDevAttrClockRate, 0) != cudaSuccess) {
        (void)cudaGetLastError();
        snprintf(buf, len, "a CUDA device whose properties cannot be read");
        return;
    }
    snprintf(buf, len, "%s (sm_%d%d, %d SMs, %.0f MHz)", p.name, p.major, p.minor,
             p.multiProcessorCount, clock_khz / 1000.0);
}
