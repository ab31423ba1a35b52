// A Dense layer's work around its GEMMs on the GPU: forward, bias + activation + BN (in its place)
// after X·W; backward, BN + the activation's derivative + the bias gradient before dW and dX. The
// CPU twin is the op sequence of src/network.c (dd_net_layer_forward_after_dense,
// dd_net_layer_backward_to_dense, dd_dense_backward_bias); the formulas are formulas.h's.
//
// One kernel a direction, because in a captured step every kernel is a dependent graph node with
// a fixed cost of its own: a layer of the lab's network is one SGEMM and one of these forward,
// one of these and two SGEMMs backward. A layer with BN runs one block per channel (the batch
// statistics are sums down a column, in double as on the CPU); a layer without, forward, one
// thread per element.
#include "deepdigits/formulas.h"
#include "gpu_check.h"
#include "kernels.h"
#include "reduce.cuh"

static const int MAX_THREADS = 256;

// Threads for a block per channel over a batch of B: a power of two from 32 to MAX_THREADS, so
// that a small batch does not pay for the reduction levels of idle threads.
static int channel_threads(int B) {
    int t = 32;
    while (t < B && t < MAX_THREADS) t *= 2;
    return t;
}

// --- forward ---

__global__ static void bias_activation_kernel(dd_layer_view v, int n) {
    const int k = blockIdx.x * blockDim.x + threadIdx.x;
    if (k >= n) return;
    const float z = v.acts.dense_out[k] + v.bias[k % v.units];
    v.acts.dense_out[k] = z;
    v.acts.act_out[k] = dd_activate(v.act, z);
}

// Channel c of a layer with BN: z = X·W + b, then BN before the activation (BN of z) or after it
// (BN of act(z)); in training with the batch's statistics, which also move the moving ones.
__global__ static void bn_layer_forward_kernel(dd_layer_view v, int B, int training) {
    const int c = blockIdx.x, C = v.units;
    const bool before = v.bn == DD_BN_BEFORE;
    float *bn_in = before ? v.acts.dense_out : v.acts.act_out;
    double sum = 0;
    for (int b = threadIdx.x; b < B; b += blockDim.x) {
        const size_t k = (size_t)b * C + c;
        const float z = v.acts.dense_out[k] + v.bias[c];
        v.acts.dense_out[k] = z;
        if (!before) v.acts.act_out[k] = dd_activate(v.act, z);
        sum += bn_in[k]; // this thread's own write, just made
    }
    float mean = v.moving_mean[c], var = v.moving_var[c];
    if (training) { // the whole block takes this branch or none
        mean = (float)(block_sum<MAX_THREADS>(sum) / B);
        double sq = 0;
        for (int b = threadIdx.x; b < B; b += blockDim.x) {
            const double d = (double)bn_in[(size_t)b * C + c] - mean;
            sq += d * d;
        }
        var = (float)(block_sum<MAX_THREADS>(sq) / B); // biased, as Keras normalizes with it
    }
    const float inv_std = dd_bn_inv_std(var);
    for (int b = threadIdx.x; b < B; b += blockDim.x) {
        const size_t k = (size_t)b * C + c;
        const float xhat = dd_bn_xhat(bn_in[k], mean, inv_std);
        const float y = dd_bn_affine(xhat, v.gamma[c], v.beta[c]);
        if (training) v.acts.bn_xhat[k] = xhat;
        v.acts.bn_out[k] = y;
        if (before) v.acts.act_out[k] = dd_activate(v.act, y);
    }
    if (training && threadIdx.x == 0) {
        v.acts.bn_mean[c] = mean, v.acts.bn_var[c] = var;
        v.moving_mean[c] = dd_bn_moving_update(v.moving_mean[c], mean);
        v.moving_var[c] = dd_bn_moving_update(v.moving_var[c], var);
    }
}

int dd_layer_forward_gpu(const dd_layer_view *v, int B, int training, dd_gpu *gpu) {
    if (v->bn == DD_BN_NONE) {
        const int n = B * v->units;
        bias_activation_kernel<<<CEIL_DIV(n, MAX_THREADS), MAX_THREADS, 0, gpu->stream>>>(*v, n);
        LAUNCH_CHECK("bias_activation_kernel", gpu);
        return 0;
    }
    bn_layer_forward_kernel<<<v->units, channel_threads(B), 0, gpu->stream>>>(*v, B, training);
    LAUNCH_CHECK("bn_layer_forward_kernel", gpu);
    return 0;
}

// --- backward ---

// BN backward over channel c of G (B rows of C) in place: dL/d(BN output) in, dL/d(BN input) out,
// with dgamma and dbeta. Each thread rewrites only the elements it read, after the block's sums.
__device__ static void bn_channel_backward(float *g, const dd_layer_view &v, int c, int B) {
    const int C = v.units;
    double sum_dy = 0, sum_dy_xhat = 0;
    for (int b = threadIdx.x; b < B; b += blockDim.x) {
        const size_t k = (size_t)b * C + c;
        sum_dy += g[k];
        sum_dy_xhat += (double)g[k] * v.acts.bn_xhat[k];
    }
    const float sum_dy_f = (float)block_sum<MAX_THREADS>(sum_dy);
    const float sum_dy_xhat_f = (float)block_sum<MAX_THREADS>(sum_dy_xhat);
    const float scale = dd_bn_dx_scale(v.gamma[c], v.acts.bn_var[c], B);
    for (int b = threadIdx.x; b < B; b += blockDim.x) {
        const size_t k = (size_t)b * C + c;
        g[k] = dd_bn_dx(scale, B, g[k], v.acts.bn_xhat[k], sum_dy_f, sum_dy_xhat_f);
    }
    if (threadIdx.x == 0) v.dgamma[c] = sum_dy_xhat_f, v.dbeta[c] = sum_dy_f;
}

// Channel c: from dL/d(layer output) in G to dL/dz in G (z = X·W + b), and dL/db = its column sum.
__global__ static void layer_backward_kernel(dd_layer_view v, float *g, int B) {
    const int c = blockIdx.x, C = v.units;
    if (v.bn == DD_BN_AFTER) bn_channel_backward(g, v, c, B);
    for (int b = threadIdx.x; b < B; b += blockDim.x) {
        const size_t k = (size_t)b * C + c;
        g[k] *= dd_activate_grad(v.act, v.acts.act_out[k]);
    }
    if (v.bn == DD_BN_BEFORE) bn_channel_backward(g, v, c, B);
    double sum = 0;
    for (int b = threadIdx.x; b < B; b += blockDim.x) sum += g[(size_t)b * C + c];
    sum = block_sum<MAX_THREADS>(sum);
    if (threadIdx.x == 0) v.dbias[c] = (float)sum;
}

int dd_layer_backward_gpu(const dd_layer_view *v, float *grad, int B, dd_gpu *gpu) {
    layer_backward_kernel<<<v->units, channel_threads(B), 0, gpu->stream>>>(*v, grad, B);
    LAUNCH_CHECK("layer_backward_kernel", gpu);
    return 0;
}
