// The layer kernels' bodies: a Dense layer's work around its GEMMs. Forward, after X·W: the bias,
// the activation and BN in its place; backward, before dW and dX: BN, the activation's derivative
// and the bias gradient. kernels/layer.cu launches them, on the GPU or, compiled for the host, on
// the emulated device (tests/emudev) with the same launch shapes; their CPU twin is the op sequence
// of src/network.c (dd_net_layer_forward_after_dense, dd_net_layer_backward_to_dense,
// dd_dense_backward_bias), and the formulas are formulas.h's.
//
// One kernel a direction, because in a captured step every kernel is a dependent graph node with
// a fixed cost of its own. A layer with BN runs one block per channel (the batch statistics are
// sums down a column, in double as on the CPU); a layer without, forward, one thread an element.
#ifndef DD_LAYER_BODY_CUH
#define DD_LAYER_BODY_CUH

#include "deepdigits/formulas.h"
#include "deepdigits/network.h"
#include "reduce.cuh"

#define DD_LAYER_THREADS 256 // the most threads of a block, and the elementwise kernel's

// The launch shapes, for the GPU and the emulator alike.
typedef struct {
    int blocks, threads;
} layer_shape;

// Without BN, forward: one thread an element.
static inline layer_shape layer_elementwise_shape(int n) {
    return layer_shape{(n + DD_LAYER_THREADS - 1) / DD_LAYER_THREADS, DD_LAYER_THREADS};
}

// A block per channel over a batch of B: a power of two from 32 to DD_LAYER_THREADS threads, so
// that a small batch does not pay for the reduction levels of idle threads.
static inline layer_shape layer_channel_shape(const dd_layer_view *v, int B) {
    int t = 32;
    while (t < B && t < DD_LAYER_THREADS) t *= 2;
    return layer_shape{v->units, t};
}

// --- forward ---

// Element K of a layer without BN: z = X·W + b in place, then the activation. The training step's
// loss kernel does it for the output layer too (kernels/mse.cu).
DD_SIMT_FN void bias_activation_at(const dd_layer_view &v, size_t k) {
    const float z = v.acts.dense_out[k] + v.bias[k % v.units];
    v.acts.dense_out[k] = z;
    v.acts.act_out[k] = dd_activate(v.act, z);
}

DD_SIMT_FN void bias_activation_body(const dd_layer_view &v, int n) {
    const int k = simt_block_index() * simt_block_threads() + simt_tid();
    if (k < n) bias_activation_at(v, (size_t)k);
}

// Channel c of a layer with BN: z = X·W + b, then BN before the activation (BN of z) or after it
// (BN of act(z)); in training with the batch's statistics, which also move the moving ones. Each
// thread reads back only the elements it wrote.
DD_SIMT_FN void bn_layer_forward_body(const dd_layer_view &v, int B, int training, double *part) {
    const int c = simt_block_index(), C = v.units, t0 = simt_tid(), step = simt_block_threads();
    const bool before = v.bn == DD_BN_BEFORE;
    float *bn_in = before ? v.acts.dense_out : v.acts.act_out;
    double sum = 0;
    for (int b = t0; b < B; b += step) {
        const size_t k = (size_t)b * C + c;
        const float z = v.acts.dense_out[k] + v.bias[c];
        v.acts.dense_out[k] = z;
        if (!before) v.acts.act_out[k] = dd_activate(v.act, z);
        if (training) sum += bn_in[k]; // evaluation normalizes with the moving mean
    }
    float mean = v.moving_mean[c], var = v.moving_var[c];
    if (training) { // the whole block takes this branch or none
        mean = (float)(block_sum(sum, part) / B);
        double sq = 0;
        for (int b = t0; b < B; b += step) {
            const double d = (double)bn_in[(size_t)b * C + c] - mean;
            sq = fma(d, d, sq); // fused, as src/batchnorm.c's: one rounding a term everywhere
        }
        var = (float)(block_sum(sq, part) / B); // biased, as Keras normalizes with it
    }
    const float inv_std = dd_bn_inv_std(var);
    for (int b = t0; b < B; b += step) {
        const size_t k = (size_t)b * C + c;
        const float xhat = dd_bn_xhat(bn_in[k], mean, inv_std);
        const float y = dd_bn_affine(xhat, v.gamma[c], v.beta[c]);
        if (training) v.acts.bn_xhat[k] = xhat;
        v.acts.bn_out[k] = y;
        if (before) v.acts.act_out[k] = dd_activate(v.act, y);
    }
    if (training && t0 == 0) {
        v.acts.bn_mean[c] = mean, v.acts.bn_var[c] = var;
        v.moving_mean[c] = dd_bn_moving_update(v.moving_mean[c], mean);
        v.moving_var[c] = dd_bn_moving_update(v.moving_var[c], var);
    }
}

// --- backward ---

// BN backward over channel c of G (B rows of C) in place: dL/d(BN output) in, dL/d(BN input) out,
// with dgamma and dbeta. Each thread rewrites only the elements it read, after the block's sums.
DD_SIMT_FN void bn_channel_backward(float *g, const dd_layer_view &v, int c, int B, double *part) {
    const int C = v.units, t0 = simt_tid(), step = simt_block_threads();
    double sum_dy = 0, sum_dy_xhat = 0;
    for (int b = t0; b < B; b += step) {
        const size_t k = (size_t)b * C + c;
        sum_dy += g[k];
        sum_dy_xhat = fma((double)g[k], (double)v.acts.bn_xhat[k], sum_dy_xhat);
    }
    const float sum_dy_f = (float)block_sum(sum_dy, part);
    const float sum_dy_xhat_f = (float)block_sum(sum_dy_xhat, part);
    const float scale = dd_bn_dx_scale(v.gamma[c], v.acts.bn_var[c], B);
    for (int b = t0; b < B; b += step) {
        const size_t k = (size_t)b * C + c;
        g[k] = dd_bn_dx(scale, B, g[k], v.acts.bn_xhat[k], sum_dy_f, sum_dy_xhat_f);
    }
    if (t0 == 0) v.dgamma[c] = sum_dy_xhat_f, v.dbeta[c] = sum_dy_f;
}

// Channel c: from dL/d(layer output) in G to dL/dz in G (z = X·W + b), and dL/db = its column sum.
DD_SIMT_FN void layer_backward_body(const dd_layer_view &v, float *g, int B, double *part) {
    const int c = simt_block_index(), C = v.units, t0 = simt_tid(), step = simt_block_threads();
    if (v.bn == DD_BN_AFTER) bn_channel_backward(g, v, c, B, part);
    for (int b = t0; b < B; b += step) {
        const size_t k = (size_t)b * C + c;
        g[k] *= dd_activate_grad(v.act, v.acts.act_out[k]);
    }
    if (v.bn == DD_BN_BEFORE) bn_channel_backward(g, v, c, B, part);
    double sum = 0;
    for (int b = t0; b < B; b += step) sum += g[(size_t)b * C + c];
    sum = block_sum(sum, part);
    if (t0 == 0) v.dbias[c] = (float)sum;
}

#endif
