// The emulated device's cuBLAS: the handle calls deepdigits makes and SGEMM, by the BLAS
// definition (column-major, op(A) m x k times op(B) k x n into C m x n), so the row-major
// products of kernels/dense.cu are checked against what cuBLAS really computes. Arguments are
// checked as cuBLAS checks them; operands must lie in device memory, whole.
#include <cublas_v2.h>

#include <cmath>
#include <cstdio>

#include "emudev.h"

struct cublasContext {
    cudaStream_t stream = nullptr;
    bool workspace = false; // set by the caller (even of 0 bytes: none), which a capture needs
};

cublasStatus_t cublasCreate(cublasHandle_t *handle) {
    return emu_handle_create(handle);
}

cublasStatus_t cublasDestroy(cublasHandle_t handle) {
    return emu_handle_destroy(handle);
}

cublasStatus_t cublasSetStream(cublasHandle_t handle, cudaStream_t stream) {
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    handle->stream = stream;
    handle->workspace = false; // cuBLAS goes back to its own pool here
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetWorkspace(cublasHandle_t handle, void *workspace, size_t bytes) {
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    emu_require_device(workspace, bytes, "cuBLAS workspace");
    handle->workspace = true; // the caller's: with 0 bytes, cuBLAS runs without one
    return CUBLAS_STATUS_SUCCESS;
}

// cuBLAS's own message for a status; the emulator names the ones it can return.
const char *cublasGetStatusString(cublasStatus_t status) {
    switch (status) {
    case CUBLAS_STATUS_SUCCESS:
        return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED:
        return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_INVALID_VALUE:
        return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_NOT_SUPPORTED:
        return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_EXECUTION_FAILED:
        return "CUBLAS_STATUS_EXECUTION_FAILED";
    default:
        return "emulated cuBLAS: unexpected status";
    }
}

cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t) {
    return handle ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_NOT_INITIALIZED;
}

namespace {

bool transposed(cublasOperation_t op) {
    return op != CUBLAS_OP_N;
}

// An operand of ROWS x COLS (as stored) with leading dimension LD must lie in device memory.
void check_operand(const char *call, const char *name, const float *p, int rows, int cols, int ld) {
    if (rows == 0 || cols == 0) return;
    const size_t floats = (size_t)ld * (cols - 1) + rows;
    emu_require_device(p, floats * sizeof *p, "%s: %s (%d x %d, ld %d)", call, name, rows, cols,
                       ld);
}

} // namespace

cudaError_t emu_sgemm(cudaStream_t stream, const char *call, bool ta, bool tb, int m, int n, int k,
                      float alpha, const float *A, int lda, const float *B, int ldb, float beta,
                      float *C, int ldc) {
    check_operand(call, "A", A, ta ? k : m, ta ? m : k, lda);
    check_operand(call, "B", B, tb ? n : k, tb ? k : n, ldb);
    check_operand(call, "C", C, m, n, ldc);
    return emu_enqueue(stream, call, [=] {
        for (int j = 0; j < n; j++)
            for (int i = 0; i < m; i++) {
                float sum = 0;
                for (int l = 0; l < k; l++) {
                    const float x = ta ? A[l + (size_t)i * lda] : A[i + (size_t)l * lda];
                    const float y = tb ? B[j + (size_t)l * ldb] : B[l + (size_t)j * ldb];
                    sum = std::fma(x, y, sum);
                }
                float *c = &C[i + (size_t)j * ldc];
                // beta 0: C is not read; else alpha·sum + beta·C in one FMA (how cuBLAS's
                // epilogue rounds is its own: the GPU tests allow for it)
                *c = beta == 0 ? alpha * sum : std::fma(alpha, sum, beta * *c);
            }
    });
}

cublasStatus_t cublasSgemm(cublasHandle_t handle, cublasOperation_t transa,
                           cublasOperation_t transb, int m, int n, int k, const float *alpha,
                           const float *A, int lda, const float *B, int ldb, const float *beta,
                           float *C, int ldc) {
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    const int a_rows = transposed(transa) ? k : m, b_rows = transposed(transb) ? n : k;
    if (m < 0 || n < 0 || k < 0 || lda < (a_rows > 1 ? a_rows : 1) ||
        ldb < (b_rows > 1 ? b_rows : 1) || ldc < (m > 1 ? m : 1))
        return CUBLAS_STATUS_INVALID_VALUE;
    if (emu_capturing(handle->stream) && !handle->workspace) {
        fprintf(stderr, "emulated device: an SGEMM captured without a workspace of the caller's "
                        "(cuBLAS would allocate its own during the capture)\n");
        return CUBLAS_STATUS_NOT_SUPPORTED;
    }
    // host scalars are read at the call
    const cudaError_t e =
        emu_sgemm(handle->stream, "cublasSgemm", transposed(transa), transposed(transb), m, n, k,
                  *alpha, A, lda, B, ldb, *beta, C, ldc);
    return e == cudaSuccess ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_EXECUTION_FAILED;
}
