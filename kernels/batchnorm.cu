// Batch normalization over (B,C) on the GPU, twin of src/batchnorm.c: one block per channel for
// the reductions (sums in double, as the CPU reference), elementwise work spread over its threads.
#include "deepdigits/formulas.h"
#include "deepdigits/ops.h"
#include "gpu_check.h"
#include "reduce.cuh"

static const int THREADS = 256;

__global__ static void bn_forward_train_kernel(float *out, float *xhat, float *mean, float *var,
                                               const float *inp, const float *gamma,
                                               const float *beta, int B, int C) {
    const int c = blockIdx.x;
    double sum = 0, sq = 0;
    for (int b = threadIdx.x; b < B; b += blockDim.x) sum += inp[(size_t)b * C + c];
    const float m = (float)(block_sum<THREADS>(sum) / B);
    for (int b = threadIdx.x; b < B; b += blockDim.x) {
        double d = (double)inp[(size_t)b * C + c] - m;
        sq += d * d;
    }
    const float v = (float)(block_sum<THREADS>(sq) / B);
    const float inv_std = dd_bn_inv_std(v);
    for (int b = threadIdx.x; b < B; b += blockDim.x) {
        size_t k = (size_t)b * C + c;
        xhat[k] = dd_bn_xhat(inp[k], m, inv_std);
        out[k] = dd_bn_affine(xhat[k], gamma[c], beta[c]);
    }
    if (threadIdx.x == 0) mean[c] = m, var[c] = v;
}

__global__ static void bn_forward_eval_kernel(float *out, const float *inp, const float *gamma,
                                              const float *beta, const float *moving_mean,
                                              const float *moving_var, int B, int C) {
    int k = blockIdx.x * blockDim.x + threadIdx.x;
    if (k >= B * C) return;
    int c = k % C;
    out[k] = dd_bn_affine(dd_bn_xhat(inp[k], moving_mean[c], dd_bn_inv_std(moving_var[c])),
                          gamma[c], beta[c]);
}

__global__ static void bn_backward_kernel(float *dinp, float *dgamma, float *dbeta,
                                          const float *dout, const float *xhat, const float *gamma,
                                          const float *var, int B, int C) {
    const int c = blockIdx.x;
    double sum_dy = 0, sum_dy_xhat = 0;
    for (int b = threadIdx.x; b < B; b += blockDim.x) {
        size_t k = (size_t)b * C + c;
        sum_dy += dout[k];
        sum_dy_xhat += (double)dout[k] * xhat[k];
    }
    sum_dy = block_sum<THREADS>(sum_dy);
    sum_dy_xhat = block_sum<THREADS>(sum_dy_xhat);
    const float scale = dd_bn_dx_scale(gamma[c], var[c], B);
    const float sum_dy_f = (float)sum_dy, sum_dy_xhat_f = (float)sum_dy_xhat;
    for (int b = threadIdx.x; b < B; b += blockDim.x) {
        size_t k = (size_t)b * C + c;
        dinp[k] = dd_bn_dx(scale, B, dout[k], xhat[k], sum_dy_f, sum_dy_xhat_f);
    }
    if (threadIdx.x == 0) dgamma[c] = sum_dy_xhat_f, dbeta[c] = sum_dy_f;
}

__global__ static void bn_update_moving_kernel(float *moving_mean, float *moving_var,
                                               const float *mean, const float *var, int C) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    moving_mean[c] = dd_bn_moving_update(moving_mean[c], mean[c]);
    moving_var[c] = dd_bn_moving_update(moving_var[c], var[c]);
}

int dd_batchnorm_forward_train_gpu(float *out, float *xhat, float *mean, float *var,
                                   const float *inp, const float *gamma, const float *beta, int B,
                                   int C, dd_gpu *gpu) {
    bn_forward_train_kernel<<<C, THREADS, 0, gpu->stream>>>(out, xhat, mean, var, inp, gamma, beta,
                                                            B, C);
    LAUNCH_CHECK("bn_forward_train_kernel", gpu);
    return 0;
}

int dd_batchnorm_forward_eval_gpu(float *out, const float *inp, const float *gamma,
                                  const float *beta, const float *moving_mean,
                                  const float *moving_var, int B, int C, dd_gpu *gpu) {
    bn_forward_eval_kernel<<<CEIL_DIV(B * C, THREADS), THREADS, 0, gpu->stream>>>(
        out, inp, gamma, beta, moving_mean, moving_var, B, C);
    LAUNCH_CHECK("bn_forward_eval_kernel", gpu);
    return 0;
}

int dd_batchnorm_backward_gpu(float *dinp, float *dgamma, float *dbeta, const float *dout,
                              const float *xhat, const float *gamma, const float *var, int B, int C,
                              dd_gpu *gpu) {
    bn_backward_kernel<<<C, THREADS, 0, gpu->stream>>>(dinp, dgamma, dbeta, dout, xhat, gamma, var,
                                                       B, C);
    LAUNCH_CHECK("bn_backward_kernel", gpu);
    return 0;
}

int dd_batchnorm_update_moving_gpu(float *moving_mean, float *moving_var, const float *mean,
                                   const float *var, int C, dd_gpu *gpu) {
    bn_update_moving_kernel<<<CEIL_DIV(C, THREADS), THREADS, 0, gpu->stream>>>(
        moving_mean, moving_var, mean, var, C);
    LAUNCH_CHECK("bn_update_moving_kernel", gpu);
    return 0;
}
