// Every SGEMM of the layers engine, one kernel each. cublasSgemm split the small products of
// these networks (k = 25 as well as k = 784) into a split-K kernel and its reduction on an H100,
// two graph nodes where one would do (bench/NOTES.md, the profile of 2026-11-27), and a node
// costs more than the arithmetic here. cuBLASLt is asked instead for an algorithm that reduces
// in one pass (no split-K reduction) and needs no workspace; its plan (descriptors and algorithm)
// is made once per shape and operand alignment, and kept in the dd_gpu (one per engine). Where
// cuBLASLt offers none, cublasSgemm runs the product as before. Host code only: the kernels are
// cuBLAS's.
#include <stdint.h>
#include <stdlib.h>

#include "gpu_check.h"
#include "kernels.h"

struct sgemm_plan {
    // The key: the product and how its operands lie in memory.
    cublasOperation_t ta, tb;
    int m, n, k, lda, ldb, ldc;
    uint32_t align[3]; // of A, B and C, in bytes: algorithms may assume more than a float's
    // What runs it.
    int offered; // 0: cuBLASLt offered no one-pass algorithm; cublasSgemm runs it
    cublasLtMatmulDesc_t op;
    cublasLtMatrixLayout_t layout[3];
    cublasLtMatmulAlgo_t algo;
};

// The plans made so far, in the order they were first asked for.
struct dd_sgemm_plans {
    int n, room;
    sgemm_plan *plan;
};

namespace {

// The largest power of two up to 256 (cuBLASLt's default assumption) that divides P's address.
uint32_t alignment(const void *p) {
    const uintptr_t a = (uintptr_t)p;
    uint32_t bytes = 256;
    while (bytes > 4 && a % bytes != 0) bytes /= 2;
    return bytes;
}

bool same_key(const sgemm_plan &p, const sgemm_plan &q) {
    return p.ta == q.ta && p.tb == q.tb && p.m == q.m && p.n == q.n && p.k == q.k &&
           p.lda == q.lda && p.ldb == q.ldb && p.ldc == q.ldc && p.align[0] == q.align[0] &&
           p.align[1] == q.align[1] && p.align[2] == q.align[2];
}

void destroy_plan(sgemm_plan *p) {
    for (int i = 0; i < 3; i++)
        if (p->layout[i]) cublasLtMatrixLayoutDestroy(p->layout[i]);
    if (p->op) cublasLtMatmulDescDestroy(p->op);
}

int set_pref(cublasLtMatmulPreference_t pref, cublasLtMatmulPreferenceAttributes_t what,
             uint64_t value, char *err) {
    // Each attribute has its own width; those set here are uint32_t or uint64_t.
    const uint32_t narrow = (uint32_t)value;
    const bool wide = what == CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES;
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
                     pref, what, wide ? (const void *)&value : (const void *)&narrow,
                     wide ? sizeof value : sizeof narrow),
                 err);
    return 0;
}

// Asks cuBLASLt for P's algorithm: no split-K reduction, no workspace, the operands' alignment.
int ask_heuristic(dd_gpu *gpu, sgemm_plan *p) {
    cublasLtMatmulPreference_t pref;
    CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref), gpu->err);
    int rc = set_pref(pref, CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK,
                      CUBLASLT_REDUCTION_SCHEME_NONE, gpu->err);
    if (rc == 0) rc = set_pref(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, 0, gpu->err);
    const cublasLtMatmulPreferenceAttributes_t aligns[4] = {
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES};
    for (int i = 0; i < 4 && rc == 0; i++)
        rc = set_pref(pref, aligns[i], p->align[i < 3 ? i : 2], gpu->err); // D is C
    cublasLtMatmulHeuristicResult_t result;
    int found = 0;
    cublasStatus_t st = CUBLAS_STATUS_SUCCESS;
    if (rc == 0)
        st = cublasLtMatmulAlgoGetHeuristic(gpu->lt, p->op, p->layout[0], p->layout[1],
                                            p->layout[2], p->layout[2], pref, 1, &result, &found);
    cublasLtMatmulPreferenceDestroy(pref);
    if (rc != 0) return -1;
    if (st == CUBLAS_STATUS_NOT_SUPPORTED)
        found = 0; // "no algorithm fits", not a failure
    else if (st != CUBLAS_STATUS_SUCCESS)
        DD_FAIL_(gpu->err, "cublasLtMatmulAlgoGetHeuristic", cublasGetStatusString(st));
    p->offered = found > 0 && result.state == CUBLAS_STATUS_SUCCESS && result.workspaceSize == 0;
    if (p->offered) p->algo = result.algo;
    return 0;
}

// P's descriptors (FP32 in and out; TF32 only when the dd_gpu was opened with it) and algorithm.
int make_plan(dd_gpu *gpu, sgemm_plan *p) {
    const cublasComputeType_t compute =
        gpu->tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F_PEDANTIC;
    CUBLAS_CHECK(cublasLtMatmulDescCreate(&p->op, compute, CUDA_R_32F), gpu->err);
    CUBLAS_CHECK(
        cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSA, &p->ta, sizeof p->ta),
        gpu->err);
    CUBLAS_CHECK(
        cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSB, &p->tb, sizeof p->tb),
        gpu->err);
    // As stored (column-major, before op()): A is m x k or k x m, B k x n or n x k.
    const bool ta = p->ta != CUBLAS_OP_N, tb = p->tb != CUBLAS_OP_N;
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p->layout[0], CUDA_R_32F, ta ? p->k : p->m,
                                            ta ? p->m : p->k, p->lda),
                 gpu->err);
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p->layout[1], CUDA_R_32F, tb ? p->n : p->k,
                                            tb ? p->k : p->n, p->ldb),
                 gpu->err);
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p->layout[2], CUDA_R_32F, p->m, p->n, p->ldc),
                 gpu->err);
    return ask_heuristic(gpu, p);
}

sgemm_plan *out_of_memory(dd_gpu *gpu) {
    snprintf(gpu->err, DD_ERR_LEN, "out of host memory for an SGEMM plan");
    return NULL;
}

// KEY's plan from GPU's list, made and added the first time KEY is asked for; NULL, with
// gpu->err set, on failure.
sgemm_plan *find_plan(dd_gpu *gpu, const sgemm_plan &key) {
    if (!gpu->sgemm_plans) gpu->sgemm_plans = (dd_sgemm_plans *)calloc(1, sizeof(dd_sgemm_plans));
    dd_sgemm_plans *list = gpu->sgemm_plans;
    if (!list) return out_of_memory(gpu);
    for (int i = 0; i < list->n; i++)
        if (same_key(list->plan[i], key)) return &list->plan[i];
    if (list->n == list->room) {
        const int room = list->room ? 2 * list->room : 16;
        sgemm_plan *grown = (sgemm_plan *)realloc(list->plan, (size_t)room * sizeof *grown);
        if (!grown) return out_of_memory(gpu);
        list->plan = grown, list->room = room;
    }
    sgemm_plan *p = &list->plan[list->n];
    *p = key;
    if (make_plan(gpu, p) != 0) {
        destroy_plan(p);
        return NULL;
    }
    list->n++;
    return p;
}

} // namespace

void dd_sgemm_plans_free(dd_gpu *gpu) {
    dd_sgemm_plans *list = gpu->sgemm_plans;
    for (int i = 0; list && i < list->n; i++) destroy_plan(&list->plan[i]);
    if (list) free(list->plan);
    free(list);
    gpu->sgemm_plans = NULL;
}

int dd_sgemm_gpu(dd_gpu *gpu, cudaStream_t stream, cublasOperation_t ta, cublasOperation_t tb,
                 int m, int n, int k, float alpha, const float *A, int lda, const float *B, int ldb,
                 float beta, float *C, int ldc) {
    // Shapes cuBLAS would refuse, or empty ones, go to cublasSgemm: its own checks and message.
    const int a_rows = ta != CUBLAS_OP_N ? k : m, b_rows = tb != CUBLAS_OP_N ? n : k;
    const bool valid = m > 0 && n > 0 && k > 0 && lda >= a_rows && ldb >= b_rows && ldc >= m;
    sgemm_plan key = {};
    key.ta = ta, key.tb = tb, key.m = m, key.n = n, key.k = k;
    key.lda = lda, key.ldb = ldb, key.ldc = ldc;
    key.align[0] = alignment(A), key.align[1] = alignment(B), key.align[2] = alignment(C);
    const sgemm_plan *p = valid ? find_plan(gpu, key) : NULL;
    if (valid && !p) return -1;
    if (p && p->offered) {
        CUBLAS_CHECK(cublasLtMatmul(gpu->lt, p->op, &alpha, A, p->layout[0], B, p->layout[1], &beta,
                                    C, p->layout[2], C, p->layout[2], &p->algo, NULL, 0, stream),
                     gpu->err);
        return 0;
    }
    CUBLAS_CHECK(cublasSgemm(gpu->cublas, ta, tb, m, n, k, &alpha, A, lda, B, ldb, &beta, C, ldc),
                 gpu->err);
    return 0;
}
