/* What every GPU op needs besides its tensors: the stream it runs on, the cuBLAS handle, and a
 * place for the one-line error of the first failure. Plain C; the CUDA twins of the ops in ops.h
 * take a dd_gpu as their last argument and return 0, or -1 with gpu->err filled in. */
#ifndef DEEPDIGITS_GPU_H
#define DEEPDIGITS_GPU_H

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "deepdigits/idx.h" /* DD_ERR_LEN */

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dd_gpu {
    cudaStream_t stream;
    cublasHandle_t cublas;
    void *cublas_workspace; /* set explicitly so that cuBLAS calls can be captured in graphs */
    size_t cublas_workspace_bytes;
    int tf32;                           /* TF32 tensor cores allowed (--tf32) */
    cublasLtHandle_t lt;                /* the SGEMMs' (kernels/sgemm.cu) */
    struct dd_sgemm_plans *sgemm_plans; /* their plans, one per shape asked for */
    char err[DD_ERR_LEN];
} dd_gpu;

/* Whether CUDA can run here: the number of devices (> 0); 0 when there is no device or no driver
 * at all, with "no CUDA device" in WHY; -1 when a driver is there but cannot run this build
 * (older than its CUDA runtime, or failing), with the reason in WHY. */
int dd_cuda_devices(char *why, size_t len);
/* The number of usable CUDA devices: dd_cuda_devices, with an unusable driver as none. */
int dd_cuda_device_count(void);

/* Before any other CUDA call of the process (main's first line): unless the environment says
 * otherwise, CUDA_DEVICE_MAX_CONNECTIONS=32, so that the streams of models trained at once
 * (--variant all, the bench's --lab: a stream or two each) get hardware queues of their own
 * instead of sharing CUDA's default 8, where one stream's wait holds up another's launches. */
void dd_cuda_prefer_own_queues(void);

/* Opens device 0: stream, cuBLAS handle (TF32 only when TF32 is set), and a check that this build
 * has kernels for the device's architecture. Returns 0, or -1 with one line in ERR. */
int dd_gpu_open(dd_gpu *gpu, int tf32, char *err);
void dd_gpu_close(dd_gpu *gpu);

/* "NVIDIA H100 80GB HBM3 (sm_90, 132 SMs, 1980 MHz)" */
void dd_gpu_describe(char *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif
