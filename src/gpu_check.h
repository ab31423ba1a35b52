/* Checking CUDA and cuBLAS calls (cuRAND's, which the host code makes too: curand_check.h): on
 * failure the call, file:line and the library's own message go to gpu->err (or an ERR buffer)
 * and the enclosing function returns -1. */
#ifndef DD_GPU_CHECK_H
#define DD_GPU_CHECK_H

#include <stdio.h>

#include "deepdigits/gpu.h"

#define DD_FAIL_(err, what, msg)                                                                   \
    do {                                                                                           \
        snprintf((err), DD_ERR_LEN, "%s:%d: %s: %s", __FILE__, __LINE__, (what), (msg));           \
        return -1;                                                                                 \
    } while (0)

#define CUDA_CHECK(call, err)                                                                      \
    do {                                                                                           \
        cudaError_t e_ = (call);                                                                   \
        if (e_ != cudaSuccess) DD_FAIL_(err, #call, cudaGetErrorString(e_));                       \
    } while (0)

#define CUBLAS_CHECK(call, err)                                                                    \
    do {                                                                                           \
        cublasStatus_t s_ = (call);                                                                \
        if (s_ != CUBLAS_STATUS_SUCCESS) DD_FAIL_(err, #call, cublasGetStatusString(s_));          \
    } while (0)

/* After a kernel launch: a bad configuration or a missing kernel image shows up here. */
#define LAUNCH_CHECK(name, gpu)                                                                    \
    do {                                                                                           \
        cudaError_t e_ = cudaGetLastError();                                                       \
        if (e_ != cudaSuccess) DD_FAIL_((gpu)->err, "launch of " name, cudaGetErrorString(e_));    \
    } while (0)

/* N items in blocks of D: how many blocks. */
#define CEIL_DIV(n, d) (((n) + (d)-1) / (d))

#endif
