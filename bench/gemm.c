/* deepdigits-bench --gemms: the SGEMMs of a layers-engine step one by one, each made three ways
 * and timed as the step runs them (as nodes of a replayed CUDA graph), checked against a double
 * product on the host. cublasSgemm split the small products of these networks in two kernels, a
 * split-K product and its reduction (bench/NOTES.md, the profile of 2026-11-27); the engine now
 * asks cuBLASLt for one kernel (kernels/sgemm.cu). This says what each way costs: cublasSgemm as
 * the engine called it before, cublasSgemm without a workspace, and the engine's way. The shapes
 * and operand layouts are kernels/dense.cu's. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../kernels/kernels.h"
#include "../src/gpu_check.h"
#include "bench.h"
#include "deepdigits/variants.h"

enum { CALLS = 100, REPLAYS = 10 }; /* GEMMs in one graph, timed replays of it */

/* One product: C (m x n) = op(A) op(B), column-major, as dense.cu calls cublasSgemm. */
typedef struct {
    char what[32];
    cublasOperation_t ta, tb;
    int m, n, k;
} gemm_shape;

typedef enum { WAY_CUBLAS, WAY_NO_WORKSPACE, WAY_ENGINE, WAYS } gemm_way;
static const char *const way_name[WAYS] = {"cublasSgemm", "cublasSgemm, no workspace",
                                           "engine (cublasLt)"};

typedef struct {
    dd_gpu gpu;       /* the stream, cuBLAS handles and workspace the engine uses (dd_gpu_open) */
    float *a, *b, *c; /* device operands, big enough for every shape */
    char err[DD_ERR_LEN];
} gemm_ctx;

/* A and B as they lie in memory (column-major), before op(). */
static int rows_a(const gemm_shape *s) {
    return s->ta == CUBLAS_OP_N ? s->m : s->k;
}
static int cols_a(const gemm_shape *s) {
    return s->ta == CUBLAS_OP_N ? s->k : s->m;
}
static int rows_b(const gemm_shape *s) {
    return s->tb == CUBLAS_OP_N ? s->k : s->n;
}
static int cols_b(const gemm_shape *s) {
    return s->tb == CUBLAS_OP_N ? s->n : s->k;
}

/* Dense layer L's three products at batch B (dX only above the first layer). */
static int layer_shapes(const dd_dense_layout *d, int l, int B, gemm_shape *out) {
    const int I = d->fan_in, O = d->units;
    out[0] = (gemm_shape){"", CUBLAS_OP_N, CUBLAS_OP_N, O, B, I};
    out[1] = (gemm_shape){"", CUBLAS_OP_N, CUBLAS_OP_T, O, I, B};
    out[2] = (gemm_shape){"", CUBLAS_OP_T, CUBLAS_OP_N, I, B, O};
    snprintf(out[0].what, sizeof out[0].what, "dense %d Y", l + 1);
    snprintf(out[1].what, sizeof out[1].what, "dense %d dW", l + 1);
    snprintf(out[2].what, sizeof out[2].what, "dense %d dX", l + 1);
    return l > 0 ? 3 : 2;
}

/* C = op(A) op(B) in double on the host, from the same floats. */
static void reference(const gemm_shape *s, const float *A, const float *B, double *C) {
    const int lda = rows_a(s), ldb = rows_b(s);
    for (int j = 0; j < s->n; j++)
        for (int i = 0; i < s->m; i++) {
            double sum = 0;
            for (int p = 0; p < s->k; p++) {
                const float a = s->ta == CUBLAS_OP_N ? A[i + p * lda] : A[p + i * lda];
                const float b = s->tb == CUBLAS_OP_N ? B[p + j * ldb] : B[j + p * ldb];
                sum += (double)a * b;
            }
            C[i + j * s->m] = sum;
        }
}

/* One product the way WAY asks for it, enqueued on the context's stream. */
static int enqueue(gemm_ctx *g, gemm_way way, const gemm_shape *s) {
    const float one = 1.0f, zero = 0.0f;
    if (way == WAY_ENGINE) {
        if (dd_sgemm_gpu(&g->gpu, g->gpu.stream, s->ta, s->tb, s->m, s->n, s->k, 1.0f, g->a,
                         rows_a(s), g->b, rows_b(s), 0.0f, g->c, s->m) == 0)
            return 0;
        memcpy(g->err, g->gpu.err, DD_ERR_LEN);
        return -1;
    }
    CUBLAS_CHECK(cublasSetWorkspace(g->gpu.cublas,
                                    way == WAY_NO_WORKSPACE ? NULL : g->gpu.cublas_workspace,
                                    way == WAY_NO_WORKSPACE ? 0 : g->gpu.cublas_workspace_bytes),
                 g->err);
    CUBLAS_CHECK(cublasSgemm(g->gpu.cublas, s->ta, s->tb, s->m, s->n, s->k, &one, g->a, rows_a(s),
                             g->b, rows_b(s), &zero, g->c, s->m),
                 g->err);
    return 0;
}

/* CALLS products captured in one graph: its nodes (kernels, and any memset) per product and the
 * microseconds per product over REPLAYS replays (after one untimed). */
static int time_graph(gemm_ctx *g, gemm_way way, const gemm_shape *s, double *kernels, double *us) {
    cudaGraph_t graph;
    cudaGraphExec_t exec;
    CUDA_CHECK(cudaStreamBeginCapture(g->gpu.stream, cudaStreamCaptureModeThreadLocal), g->err);
    int rc = 0;
    for (int i = 0; i < CALLS && rc == 0; i++) rc = enqueue(g, way, s);
    const cudaError_t end = cudaStreamEndCapture(g->gpu.stream, &graph);
    if (rc != 0) return -1;
    CUDA_CHECK(end, g->err);
    size_t nodes = 0;
    CUDA_CHECK(cudaGraphGetNodes(graph, NULL, &nodes), g->err);
    *kernels = (double)nodes / CALLS;
    CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0), g->err);
    cudaEvent_t t0, t1;
    CUDA_CHECK(cudaEventCreate(&t0), g->err);
    CUDA_CHECK(cudaEventCreate(&t1), g->err);
    CUDA_CHECK(cudaGraphLaunch(exec, g->gpu.stream), g->err);
    CUDA_CHECK(cudaEventRecord(t0, g->gpu.stream), g->err);
    for (int r = 0; r < REPLAYS; r++) CUDA_CHECK(cudaGraphLaunch(exec, g->gpu.stream), g->err);
    CUDA_CHECK(cudaEventRecord(t1, g->gpu.stream), g->err);
    CUDA_CHECK(cudaEventSynchronize(t1), g->err);
    float ms = 0;
    CUDA_CHECK(cudaEventElapsedTime(&ms, t0, t1), g->err);
    *us = 1000.0 * ms / (REPLAYS * CALLS);
    cudaEventDestroy(t0), cudaEventDestroy(t1);
    cudaGraphExecDestroy(exec), cudaGraphDestroy(graph);
    return 0;
}

/* One product into C, poisoned with NaN first, and back into HOST_C: all in the engine's stream
 * order, which the legacy default stream's copies would not keep (it is a non-blocking stream). */
static int product_once(gemm_ctx *g, gemm_way way, const gemm_shape *s, float *host_c) {
    const size_t bytes = (size_t)s->m * s->n * sizeof(float);
    CUDA_CHECK(cudaMemsetAsync(g->c, 0xff, bytes, g->gpu.stream), g->err);
    if (enqueue(g, way, s) != 0) return -1;
    CUDA_CHECK(cudaMemcpyAsync(host_c, g->c, bytes, cudaMemcpyDeviceToHost, g->gpu.stream), g->err);
    CUDA_CHECK(cudaStreamSynchronize(g->gpu.stream), g->err);
    return 0;
}

/* One product WAY's way: checked against the host's REF, then timed; one table line. */
static int measure_way(gemm_ctx *g, gemm_way way, const gemm_shape *s, const double *ref,
                       float *host_c) {
    double kernels = 0, us = 0, err2 = 0, ref2 = 0;
    if (product_once(g, way, s, host_c) != 0) return -1;
    for (long i = 0; i < (long)s->m * s->n; i++)
        err2 += (host_c[i] - ref[i]) * (host_c[i] - ref[i]), ref2 += ref[i] * ref[i];
    if (time_graph(g, way, s, &kernels, &us) != 0) return -1;
    const double rel = ref2 > 0 ? sqrt(err2 / ref2) : sqrt(err2);
    printf("  %-12s %4d %4d %4d  %-26s %7.2f %9.2f  %.1e%s\n", s->what, s->m, s->n, s->k,
           way_name[way], kernels, us, rel, rel <= 1e-5 ? "" : "  (over 1e-5!)");
    if (rel <= 1e-5) return 0;
    snprintf(g->err, DD_ERR_LEN, "%.31s asked as %.26s: relative error %.1e", s->what,
             way_name[way], rel);
    return -1;
}

static int measure_shape(gemm_ctx *g, const gemm_shape *s, float *host, double *ref) {
    const long na = (long)s->m * s->k, nb = (long)s->k * s->n;
    for (long i = 0; i < na + nb; i++) host[i] = (float)((i * 7919 % 2001) - 1000) / 1000.0f;
    CUDA_CHECK(
        cudaMemcpyAsync(g->a, host, na * sizeof *host, cudaMemcpyHostToDevice, g->gpu.stream),
        g->err);
    CUDA_CHECK(
        cudaMemcpyAsync(g->b, host + na, nb * sizeof *host, cudaMemcpyHostToDevice, g->gpu.stream),
        g->err);
    CUDA_CHECK(cudaStreamSynchronize(g->gpu.stream), g->err); /* HOST is rewritten next */
    reference(s, host, host + na, ref);
    int failed = 0; /* one way failing (its capture, say) still leaves the others to measure */
    for (int w = 0; w < WAYS; w++)
        if (measure_way(g, (gemm_way)w, s, ref, host) != 0) {
            printf("  %-12s %4d %4d %4d  %-26s failed: %s\n", s->what, s->m, s->n, s->k,
                   way_name[w], g->err);
            (void)cudaGetLastError();
            failed = 1;
        }
    if (failed) snprintf(g->err, DD_ERR_LEN, "a product failed or was off (the table says which)");
    return failed ? -1 : 0;
}

static void close_ctx(gemm_ctx *g) {
    cudaFree(g->a), cudaFree(g->b), cudaFree(g->c);
    dd_gpu_close(&g->gpu);
}

static int open_ctx(gemm_ctx *g, size_t floats) {
    if (dd_gpu_open(&g->gpu, 0, g->err) != 0) return -1;
    CUDA_CHECK(cudaMalloc((void **)&g->a, floats * sizeof(float)), g->err);
    CUDA_CHECK(cudaMalloc((void **)&g->b, floats * sizeof(float)), g->err);
    CUDA_CHECK(cudaMalloc((void **)&g->c, floats * sizeof(float)), g->err);
    return 0;
}

/* The shapes of model N's products at batch B into S (at most 3 a layer); their count. */
static int model_shapes(int n, int B, gemm_shape *s, int max, char *err) {
    dd_train_options o;
    dd_layout layout;
    if (dd_variant_options(n, 0, &o, err) != 0 || dd_layout_build(&o.model, &layout, err) != 0)
        return -1;
    int count = 0;
    for (int l = 0; l < layout.n_dense && count + 3 <= max; l++)
        count += layer_shapes(&layout.dense[l], l, B, s + count);
    return count;
}

int bench_gemms(const int *models, int n_models, const int *batches, int n_batches, char *err) {
    enum { MAX_SHAPES = 3 * DD_MAX_DENSE };
    gemm_shape s[MAX_SHAPES];
    size_t floats = 1; /* the largest operand or product of them all */
    for (int mi = 0; mi < n_models; mi++)
        for (int bi = 0; bi < n_batches; bi++) {
            const int n = model_shapes(models[mi], batches[bi], s, MAX_SHAPES, err);
            if (n < 0) return -1;
            for (int i = 0; i < n; i++) {
                const size_t m = s[i].m, k = s[i].k, c = s[i].n;
                const size_t most = m * k > k * c ? m * k : k * c;
                if (most > floats) floats = most;
                if (m * c > floats) floats = m * c;
            }
        }
    gemm_ctx g = {0};
    float *host = malloc(2 * floats * sizeof *host);
    double *ref = malloc(floats * sizeof *ref);
    int failed = 0, rc = host && ref ? open_ctx(&g, floats)
                                     : (snprintf(g.err, DD_ERR_LEN, "out of memory"), -1);
    if (rc == 0)
        printf("Each SGEMM of a layers step, %d in a CUDA graph: its nodes per product, µs per "
               "product, ‖gpu − host‖/‖host‖\n",
               CALLS);
    for (int mi = 0; mi < n_models && rc == 0; mi++)
        for (int bi = 0; bi < n_batches && rc == 0; bi++) {
            const int n = model_shapes(models[mi], batches[bi], s, MAX_SHAPES, g.err);
            char name[32];
            dd_variant_name(models[mi], name, sizeof name);
            printf("\n%s, batch %d:\n  %-12s %4s %4s %4s  %-26s %7s %9s  %s\n", name, batches[bi],
                   "product", "m", "n", "k", "asked as", "nodes", "µs", "error");
            rc = n < 0 ? -1 : 0;
            for (int i = 0; i < n; i++) failed |= measure_shape(&g, &s[i], host, ref) != 0;
        }
    if (rc == 0 && failed) rc = -1;
    if (rc != 0) memcpy(err, g.err, DD_ERR_LEN);
    close_ctx(&g);
    free(host), free(ref);
    return rc;
}
