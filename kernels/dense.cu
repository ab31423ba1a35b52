// Dense layer on the GPU: the cuBLAS SGEMMs of src/dense.c's products. The bias, forward and
// backward, is the layer kernels' (kernels/layer.cu), which take it in the same pass as the
// activation: one graph node a layer less each way.
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

int dd_dense_forward_gpu(float *out, const float *inp, const float *kernel, int B, int I, int O,
                         dd_gpu *gpu) {
    const float one = 1.0f, zero = 0.0f;
    CUBLAS_CHECK(cublasSgemm(gpu->cublas, CUBLAS_OP_N, CUBLAS_OP_N, O, B, I, &one, kernel, O, inp,
                             I, &zero, out, O),
                 gpu->err);
    return 0;
}

int dd_dense_backward_gpu(float *dinp, float *dkernel, const float *dout, const float *inp,
                          const float *kernel, int B, int I, int O, dd_gpu *gpu) {
    const float one = 1.0f, zero = 0.0f;
    CUBLAS_CHECK(cublasSgemm(gpu->cublas, CUBLAS_OP_N, CUBLAS_OP_T, O, I, B, &one, dout, O, inp, I,
                             &zero, dkernel, O),
                 gpu->err);
    if (!dinp) return 0;
    CUBLAS_CHECK(cublasSgemm(gpu->cublas, CUBLAS_OP_T, CUBLAS_OP_N, I, B, O, &one, kernel, O, dout,
                             O, &zero, dinp, I),
                 gpu->err);
    return 0;
}
