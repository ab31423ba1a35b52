// Dense layer on the GPU, twin of src/dense.c: cuBLAS SGEMMs plus two small kernels for the bias.
//
// Our tensors are row-major; cuBLAS is column-major. A row-major (R,C) matrix is the
// column-major (C,R) matrix of the same memory, i.e. its transpose. So each row-major product
// is written as the column-major product of the transposes:
//   Y = X·W      (B,O)  ->  Yᵀ (O,B) = Wᵀ (O,I) · Xᵀ (I,B)       gemm(N, N, m=O, n=B, k=I)
//   dW = Xᵀ·dY   (I,O)  ->  dWᵀ (O,I) = dYᵀ (O,B) · X (B,I)       gemm(N, T, m=O, n=I, k=B)
//   dX = dY·Wᵀ   (B,I)  ->  dXᵀ (I,B) = W (I,O) · dYᵀ (O,B)       gemm(T, N, m=I, n=B, k=O)
// with leading dimensions O for W, dW, Y, dY and I for X, dX.
#include "deepdigits/ops.h"
#include "gpu_check.h"

static const int THREADS = 256;

// out (B,O) = bias broadcast over the rows; the GEMM then adds X·W on top (beta = 1).
__global__ static void broadcast_bias_kernel(float *out, const float *bias, int B, int O) {
    int k = blockIdx.x * blockDim.x + threadIdx.x;
    if (k < B * O) out[k] = bias[k % O];
}

// dbias (O) = column sums of dout (B,O), in row order as the CPU reference adds them.
__global__ static void column_sums_kernel(float *dbias, const float *dout, int B, int O) {
    int o = blockIdx.x * blockDim.x + threadIdx.x;
    if (o >= O) return;
    float s = dout[o];
    for (int b = 1; b < B; b++) s += dout[(size_t)b * O + o];
    dbias[o] = s;
}

int dd_dense_forward_gpu(float *out, const float *inp, const float *kernel, const float *bias,
                         int B, int I, int O, dd_gpu *gpu) {
    const float one = 1.0f;
    broadcast_bias_kernel<<<CEIL_DIV(B * O, THREADS), THREADS, 0, gpu->stream>>>(out, bias, B, O);
    LAUNCH_CHECK("broadcast_bias_kernel", gpu);
    CUBLAS_CHECK(cublasSgemm(gpu->cublas, CUBLAS_OP_N, CUBLAS_OP_N, O, B, I, &one, kernel, O, inp,
                             I, &one, out, O),
                 gpu->err);
    return 0;
}

int dd_dense_backward_gpu(float *dinp, float *dkernel, float *dbias, const float *dout,
                          const float *inp, const float *kernel, int B, int I, int O, dd_gpu *gpu) {
    const float one = 1.0f, zero = 0.0f;
    column_sums_kernel<<<CEIL_DIV(O, THREADS), THREADS, 0, gpu->stream>>>(dbias, dout, B, O);
    LAUNCH_CHECK("column_sums_kernel", gpu);
    CUBLAS_CHECK(cublasSgemm(gpu->cublas, CUBLAS_OP_N, CUBLAS_OP_T, O, I, B, &one, dout, O, inp, I,
                             &zero, dkernel, O),
                 gpu->err);
    if (!dinp) return 0;
    CUBLAS_CHECK(cublasSgemm(gpu->cublas, CUBLAS_OP_T, CUBLAS_OP_N, I, B, O, &one, kernel, O, dout,
                             O, &zero, dinp, I),
                 gpu->err);
    return 0;
}
