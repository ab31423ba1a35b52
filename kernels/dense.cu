// Dense layer on the GPU: the SGEMMs of src/dense.c's products, one cuBLAS kernel each
// (kernels/sgemm.cu). The bias, forward and backward, is the layer kernels' (kernels/layer.cu),
// which take it in the same pass as the activation: one graph node a layer less each way.
//
// Our tensors are row-major; cuBLAS is column-major. A row-major (R,C) matrix is the
// column-major (C,R) matrix of the same memory, i.e. its transpose. So each row-major product
// is written as the column-major product of the transposes:
//   Y = X·W      (B,O)  ->  Yᵀ (O,B) = Wᵀ (O,I) · Xᵀ (I,B)       gemm(N, N, m=O, n=B, k=I)
//   dW = Xᵀ·dY   (I,O)  ->  dWᵀ (O,I) = dYᵀ (O,B) · X (B,I)       gemm(N, T, m=O, n=I, k=B)
//   dX = dY·Wᵀ   (B,I)  ->  dXᵀ (I,B) = W (I,O) · dYᵀ (O,B)       gemm(T, N, m=I, n=B, k=O)
// with leading dimensions O for W, dW, Y, dY and I for X, dX.
#include "deepdigits/ops.h"
#include "kernels.h"

int dd_dense_forward_gpu(float *out, const float *inp, const float *kernel, int B, int I, int O,
                         dd_gpu *gpu) {
    return dd_sgemm_gpu(gpu, gpu->stream, CUBLAS_OP_N, CUBLAS_OP_N, O, B, I, 1.0f, kernel, O, inp,
                        I, 0.0f, out, O);
}

int dd_dense_backward_kernel_gpu(float *dkernel, const float *dout, const float *inp, int B, int I,
                                 int O, cudaStream_t stream, dd_gpu *gpu) {
    return dd_sgemm_gpu(gpu, stream, CUBLAS_OP_N, CUBLAS_OP_T, O, I, B, 1.0f, dout, O, inp, I, 0.0f,
                        dkernel, O);
}

int dd_dense_backward_input_gpu(float *dinp, const float *dout, const float *kernel, int B, int I,
                                int O, dd_gpu *gpu) {
    return dd_sgemm_gpu(gpu, gpu->stream, CUBLAS_OP_T, CUBLAS_OP_N, I, B, O, 1.0f, kernel, O, dout,
                        O, 0.0f, dinp, I);
}

int dd_dense_update_kernel_gpu(float *kernel, const float *dout, const float *inp, int B, int I,
                               int O, float lr, cudaStream_t stream, dd_gpu *gpu) {
    return dd_sgemm_gpu(gpu, stream, CUBLAS_OP_N, CUBLAS_OP_T, O, I, B, -lr, dout, O, inp, I, 1.0f,
                        kernel, O);
}

int dd_dense_backward_gpu(float *dinp, float *dkernel, const float *dout, const float *inp,
                          const float *kernel, int B, int I, int O, dd_gpu *gpu) {
    if (dd_dense_backward_kernel_gpu(dkernel, dout, inp, B, I, O, gpu->stream, gpu) != 0) return -1;
    return dinp ? dd_dense_backward_input_gpu(dinp, dout, kernel, B, I, O, gpu) : 0;
}
