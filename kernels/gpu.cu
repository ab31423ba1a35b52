// Opening the GPU: device, stream, cuBLAS handle, and the checks that turn "no device", "no
// kernels for this architecture" and "out of memory" into one clear line.
#include <stdio.h>

#include "deepdigits/gpu.h"
#include "gpu_check.h"
#include "launch.cuh"

// cuBLAS needs a workspace it does not allocate itself for its calls to be captured in graphs;
// its documentation (cublasSetWorkspace) recommends 32 MiB on Hopper and later, 4 MiB before.
static size_t cublas_workspace_bytes(int major) {
    return major >= 9 ? 32u << 20 : 4u << 20;
}

const char *dd_cublas_status_name(cublasStatus_t s) {
    switch (s) {
    case CUBLAS_STATUS_SUCCESS:
        return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED:
        return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED:
        return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE:
        return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH:
        return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR:
        return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED:
        return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR:
        return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED:
        return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_LICENSE_ERROR:
        return "CUBLAS_STATUS_LICENSE_ERROR";
    default:
        return "unknown cuBLAS status";
    }
}

int dd_cuda_device_count(void) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError(); // "no device" or "no driver" is an answer here, not an error
        return 0;
    }
    return n;
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
    cudaFree(flag);
    cudaStreamDestroy(s);
    if (e == cudaErrorNoKernelImageForDevice || e == cudaErrorUnsupportedPtxVersion) {
        cudaDeviceProp p;
        cudaGetDeviceProperties(&p, 0);
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
    if (dd_cuda_device_count() == 0) {
        snprintf(err, DD_ERR_LEN, "no CUDA device (use --device cpu)");
        return -1;
    }
    CUDA_CHECK(cudaSetDevice(0), err);
    if (check_architecture(err) != 0) return -1;
    CUDA_CHECK(cudaStreamCreateWithFlags(&gpu->stream, cudaStreamNonBlocking), err);
    CUBLAS_CHECK(cublasCreate(&gpu->cublas), err);
    CUBLAS_CHECK(cublasSetStream(gpu->cublas, gpu->stream), err);
    int major;
    CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, 0), err);
    const size_t workspace = cublas_workspace_bytes(major);
    CUDA_CHECK(cudaMalloc(&gpu->cublas_workspace, workspace), err);
    CUBLAS_CHECK(cublasSetWorkspace(gpu->cublas, gpu->cublas_workspace, workspace), err);
    // FP32 means FP32: TF32 tensor cores change the numbers, so they are opt-in (--tf32).
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
    if (gpu->cublas) cublasDestroy(gpu->cublas);
    if (gpu->cublas_workspace) cudaFree(gpu->cublas_workspace);
    if (gpu->stream) cudaStreamDestroy(gpu->stream);
    memset(gpu, 0, sizeof *gpu);
}

void dd_gpu_describe(char *buf, size_t len) {
    cudaDeviceProp p;
    int clock_khz = 0;
    if (dd_cuda_device_count() == 0 || cudaGetDeviceProperties(&p, 0) != cudaSuccess) {
        snprintf(buf, len, "no CUDA device");
        return;
    }
    cudaDeviceGetAttribute(&clock_khz, cudaDevAttrClockRate, 0);
    snprintf(buf, len, "%s (sm_%d%d, %d SMs, %.0f MHz)", p.name, p.major, p.minor,
             p.multiProcessorCount, clock_khz / 1000.0);
}
