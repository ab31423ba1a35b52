// The emulated device's cuBLASLt: the calls kernels/sgemm.cu makes, FP32 matmuls only, by the
// BLAS definition (emu_sgemm, as cublasSgemm). What it holds the caller to, as cuBLASLt would:
// the layouts agree with the product and the transposes; D is C; the algorithm came from the
// heuristic, which assumes the operand alignments the preference allowed (256 bytes unless told
// less), so a matmul on operands less aligned than that faults as the GPU would. With
// EMUDEV_LT_OFFERS_NONE=1 in the environment the heuristic offers no algorithm, which sends
// sgemm.cu to cublasSgemm instead.
#include <cublasLt.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "emudev.h"

struct cublasLtContext {};

namespace {

struct desc {
    cublasComputeType_t compute;
    cublasOperation_t ta = CUBLAS_OP_N, tb = CUBLAS_OP_N;
};
struct layout {
    uint64_t rows, cols;
    int64_t ld;
};
struct preference {
    uint64_t max_workspace = 0;
    uint32_t reduction_mask = CUBLASLT_REDUCTION_SCHEME_MASK;
    uint32_t align[4] = {256, 256, 256, 256}; // A, B, C, D
};
struct algo {
    uint32_t magic;    // made by the heuristic
    uint32_t align[3]; // the alignments of A, B and C (D) it may assume
};
const uint32_t ALGO_MAGIC = 0x4c74656d; // "Ltem"

// The emulator's fields kept in the opaque structs' data arrays.
template <typename T, typename O> T *fields(O *opaque) {
    static_assert(sizeof(T) <= sizeof opaque->data, "fields do not fit the opaque struct");
    return reinterpret_cast<T *>(opaque->data);
}
template <typename T, typename O> const T *fields(const O *opaque) {
    static_assert(sizeof(T) <= sizeof opaque->data, "fields do not fit the opaque struct");
    return reinterpret_cast<const T *>(opaque->data);
}

template <typename T> cublasStatus_t read_attr(T *into, const void *buf, size_t size) {
    if (!buf || size != sizeof *into) return CUBLAS_STATUS_INVALID_VALUE;
    std::memcpy(into, buf, sizeof *into);
    return CUBLAS_STATUS_SUCCESS;
}

// op(X) of a stored layout: its rows and columns after the transpose.
uint64_t op_rows(const layout &l, cublasOperation_t t) {
    return t == CUBLAS_OP_N ? l.rows : l.cols;
}
uint64_t op_cols(const layout &l, cublasOperation_t t) {
    return t == CUBLAS_OP_N ? l.cols : l.rows;
}

// op(A) is m x k, op(B) k x n, C and D m x n.
bool shapes_agree(const desc &d, const layout &a, const layout &b, const layout &c,
                  const layout &dd) {
    return op_rows(a, d.ta) == c.rows && op_cols(b, d.tb) == c.cols &&
           op_cols(a, d.ta) == op_rows(b, d.tb) && c.rows == dd.rows && c.cols == dd.cols &&
           c.ld == dd.ld;
}

bool aligned(const void *p, uint32_t bytes) {
    return (uintptr_t)p % bytes == 0;
}

} // namespace

cublasStatus_t cublasLtCreate(cublasLtHandle_t *handle) {
    return emu_handle_create(handle);
}

cublasStatus_t cublasLtDestroy(cublasLtHandle_t handle) {
    return emu_handle_destroy(handle);
}

cublasStatus_t cublasLtMatmulDescCreate(cublasLtMatmulDesc_t *out, cublasComputeType_t compute,
                                        cudaDataType_t scale) {
    if (scale != CUDA_R_32F) emu_fault("cuBLASLt: only FP32 scales are emulated");
    *out = new cublasLtMatmulDescOpaque_t();
    *fields<desc>(*out) = desc{compute};
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulDescDestroy(cublasLtMatmulDesc_t d) {
    delete d;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulDescSetAttribute(cublasLtMatmulDesc_t d,
                                              cublasLtMatmulDescAttributes_t what, const void *buf,
                                              size_t size) {
    desc *f = fields<desc>(d);
    if (what == CUBLASLT_MATMUL_DESC_TRANSA) return read_attr(&f->ta, buf, size);
    if (what == CUBLASLT_MATMUL_DESC_TRANSB) return read_attr(&f->tb, buf, size);
    emu_fault("cuBLASLt: a matmul attribute the emulator does not know");
}

cublasStatus_t cublasLtMatrixLayoutCreate(cublasLtMatrixLayout_t *out, cudaDataType type,
                                          uint64_t rows, uint64_t cols, int64_t ld) {
    if (type != CUDA_R_32F) emu_fault("cuBLASLt: only FP32 layouts are emulated");
    if (ld < (int64_t)rows || ld < 1) return CUBLAS_STATUS_INVALID_VALUE;
    *out = new cublasLtMatrixLayoutOpaque_t();
    *fields<layout>(*out) = layout{rows, cols, ld};
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatrixLayoutDestroy(cublasLtMatrixLayout_t l) {
    delete l;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulPreferenceCreate(cublasLtMatmulPreference_t *out) {
    *out = new cublasLtMatmulPreferenceOpaque_t();
    *fields<preference>(*out) = preference{};
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulPreferenceDestroy(cublasLtMatmulPreference_t p) {
    delete p;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulPreferenceSetAttribute(cublasLtMatmulPreference_t p,
                                                    cublasLtMatmulPreferenceAttributes_t what,
                                                    const void *buf, size_t size) {
    preference *f = fields<preference>(p);
    switch (what) {
    case CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES:
        return read_attr(&f->max_workspace, buf, size);
    case CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK:
        return read_attr(&f->reduction_mask, buf, size);
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES:
        return read_attr(&f->align[0], buf, size);
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES:
        return read_attr(&f->align[1], buf, size);
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES:
        return read_attr(&f->align[2], buf, size);
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES:
        return read_attr(&f->align[3], buf, size);
    default:
        emu_fault("cuBLASLt: a preference the emulator does not know");
    }
}

cublasStatus_t cublasLtMatmulAlgoGetHeuristic(cublasLtHandle_t handle, cublasLtMatmulDesc_t d,
                                              cublasLtMatrixLayout_t a, cublasLtMatrixLayout_t b,
                                              cublasLtMatrixLayout_t c, cublasLtMatrixLayout_t dd,
                                              cublasLtMatmulPreference_t pref, int requested,
                                              cublasLtMatmulHeuristicResult_t results[],
                                              int *count) {
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (requested <= 0) return CUBLAS_STATUS_INVALID_VALUE;
    *count = 0;
    const desc &op = *fields<desc>(d);
    if (!shapes_agree(op, *fields<layout>(a), *fields<layout>(b), *fields<layout>(c),
                      *fields<layout>(dd)))
        return CUBLAS_STATUS_INVALID_VALUE;
    const char *none = std::getenv("EMUDEV_LT_OFFERS_NONE");
    if (none && std::strcmp(none, "1") == 0) return CUBLAS_STATUS_NOT_SUPPORTED;
    // The one algorithm here reduces in one pass (the scheme NONE, always allowed) and needs no
    // workspace; it assumes the alignments the preference allowed.
    const preference &p = *fields<preference>(pref);
    results[0] = cublasLtMatmulHeuristicResult_t{};
    const uint32_t c_align = p.align[2] < p.align[3] ? p.align[2] : p.align[3];
    *fields<algo>(&results[0].algo) = algo{ALGO_MAGIC, {p.align[0], p.align[1], c_align}};
    results[0].workspaceSize = 0;
    results[0].state = CUBLAS_STATUS_SUCCESS;
    results[0].wavesCount = 1.0f;
    *count = 1;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmul(cublasLtHandle_t handle, cublasLtMatmulDesc_t d, const void *alpha,
                              const void *A, cublasLtMatrixLayout_t la, const void *B,
                              cublasLtMatrixLayout_t lb, const void *beta, const void *C,
                              cublasLtMatrixLayout_t lc, void *D, cublasLtMatrixLayout_t ld,
                              const cublasLtMatmulAlgo_t *chosen, void *, size_t,
                              cudaStream_t stream) {
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    const desc &op = *fields<desc>(d);
    const layout &a = *fields<layout>(la), &b = *fields<layout>(lb), &c = *fields<layout>(lc);
    if (!shapes_agree(op, a, b, c, *fields<layout>(ld))) return CUBLAS_STATUS_INVALID_VALUE;
    if (C != D) emu_fault("cuBLASLt: only D = C (in place) is emulated");
    if (!chosen) emu_fault("cuBLASLt: a matmul without an algorithm (the heuristic's is emulated)");
    const algo &al = *fields<algo>(chosen);
    if (al.magic != ALGO_MAGIC) emu_fault("cuBLASLt: an algorithm the heuristic did not give");
    if (!aligned(A, al.align[0]) || !aligned(B, al.align[1]) || !aligned(C, al.align[2]))
        emu_fault("cuBLASLt: an operand less aligned than its algorithm assumes (the GPU would "
                  "fault: misaligned address)");
    const bool ta = op.ta != CUBLAS_OP_N, tb = op.tb != CUBLAS_OP_N;
    // host scalars (the default pointer mode) are read at the call
    const cudaError_t e =
        emu_sgemm(stream, "cublasLtMatmul", ta, tb, (int)c.rows, (int)c.cols,
                  (int)op_cols(a, op.ta), *(const float *)alpha, (const float *)A, (int)a.ld,
                  (const float *)B, (int)b.ld, *(const float *)beta, (float *)D, (int)c.ld);
    return e == cudaSuccess ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_EXECUTION_FAILED;
}
