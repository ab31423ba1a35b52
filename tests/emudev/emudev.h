// The emulated device's interface for its own parts: the cuBLAS calls deepdigits makes
// (cublas.cc, cublaslt.cc) and the stand-ins for the code that only nvcc compiles (engines.cc). See
// cudart.cc.
#ifndef DD_EMUDEV_H
#define DD_EMUDEV_H

#ifndef DD_SIMT_HOST
#define DD_SIMT_HOST
#endif

#include <cublas_api.h>
#include <cuda_runtime_api.h>

#include <functional>

#include "launch.cuh" // emu_launch_grid and emu_check_kernel_pointer, defined in cudart.cc

// Stops the run, as the GPU would fault, unless [P, P + BYTES) lies in one live device
// allocation or BYTES is 0; WHAT (printf-style) names the access in the message.
void emu_require_device(const void *p, size_t bytes, const char *what, ...)
    __attribute__((format(printf, 3, 4)));
// Whether STREAM is capturing.
bool emu_capturing(cudaStream_t stream);
// Queues WORK in STREAM (or records it, in a capture) as a kernel named NAME.
cudaError_t emu_enqueue(cudaStream_t stream, const char *name, std::function<void()> work);
// C = ALPHA op(A) op(B) + BETA C, column-major, by the BLAS definition (a sum of FMAs in k's
// order), queued in STREAM as a kernel named CALL; the operands must lie in device memory, whole.
// cuBLAS's SGEMM (cublas.cc) and cuBLASLt's matmul (cublaslt.cc) both run it.
cudaError_t emu_sgemm(cudaStream_t stream, const char *call, bool ta, bool tb, int m, int n, int k,
                      float alpha, const float *A, int lda, const float *B, int ldb, float beta,
                      float *C, int ldc);
// A cuBLAS or cuBLASLt handle's creation and destruction (its context struct is the emulator's).
template <typename Context> cublasStatus_t emu_handle_create(Context **handle) {
    *handle = new Context();
    return CUBLAS_STATUS_SUCCESS;
}
template <typename Context> cublasStatus_t emu_handle_destroy(Context *handle) {
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    delete handle;
    return CUBLAS_STATUS_SUCCESS;
}
// What the GPU would do on a bad access: stop, with one line on stderr.
[[noreturn]] void emu_fault(const char *what);

#endif
