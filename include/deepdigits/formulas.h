/* Every formula both backends use, defined once: activations and their derivatives, the BN
 * constants and normalization, the MSE gradient scale. Plain C that nvcc compiles for the device
 * too (DD_HD marks the functions __host__ __device__ there), so the CPU reference and the CUDA
 * kernels cannot drift apart the way darknet's did. */
#ifndef DEEPDIGITS_FORMULAS_H
#define DEEPDIGITS_FORMULAS_H

#include <math.h>

#include "deepdigits/idx.h" /* DD_CLASSES */
#include "deepdigits/model.h"

#ifdef __CUDACC__
#define DD_HD __host__ __device__ static inline
#else
#define DD_HD static inline
#endif

/* Keras BatchNormalization defaults. */
#define DD_BN_EPSILON            1e-3f
#define DD_BN_MOMENTUM           0.99f
#define DD_BN_ONE_MINUS_MOMENTUM 0.01f /* Keras computes 1 - 0.99 in double, then rounds: 0.01f */

/* The std of a standard normal truncated to +-2 sigma; Keras divides by it so that its truncated
 * normal initializers have exactly the requested standard deviation. */
#define DD_TRUNCATED_NORMAL_STD 0.87962566103423978

/* tanh. On the host it is taken in double through exp and rounded once: correctly rounded but
 * for about 1 float in 3 million (never off by more than half an ulp and a hair;
 * tests/test_tanh.c checks both), where glibc's tanhf is off by up to 2.1 ulp and 2.4x slower
 * (measured when this was written: README, "Exactness"). Below 2^-12, tanh z
 * rounds to z (z^3/3 is under half an ulp of z). The device keeps CUDA's tanhf (<= 2 ulp). */
DD_HD float dd_tanh(float z) {
#ifdef __CUDA_ARCH__
    return tanhf(z);
#else
    const double a = fabs((double)z);
    if (a < 0x1p-12) return z;
    return (float)copysign(1.0 - 2.0 / (exp(2.0 * a) + 1.0), (double)z);
#endif
}

DD_HD float dd_activate(dd_activation a, float z) {
    switch (a) {
    case DD_ACT_TANH:
        return dd_tanh(z);
    case DD_ACT_SIGMOID:
        return 1.0f / (1.0f + expf(-z));
    case DD_ACT_RELU:
        return z > 0.0f ? z : 0.0f;
    default:
        return z;
    }
}

/* The derivative written in terms of the activation's output y (genann's 1-y*y, y*(1-y)), so the
 * backward pass needs only the stored outputs. */
DD_HD float dd_activate_grad(dd_activation a, float y) {
    switch (a) {
    case DD_ACT_TANH:
        return 1.0f - y * y;
    case DD_ACT_SIGMOID:
        return y * (1.0f - y);
    case DD_ACT_RELU:
        return y > 0.0f ? 1.0f : 0.0f;
    default:
        return 1.0f;
    }
}

/* The predicted class: the index of the largest of N outputs, the first one on ties (numpy's
 * argmax, as Keras's accuracy uses). */
DD_HD int dd_argmax(const float *y, int n) {
    int best = 0;
    for (int k = 1; k < n; k++)
        if (y[k] > y[best]) best = k;
    return best;
}

/* Whether an activation output sits where its derivative is nearly 0 (the lab's saturated
 * neuron): tanh |a| > 0.99, sigmoid a < 0.01 or a > 0.99, relu a == 0 (a dead unit). */
DD_HD int dd_is_saturated(dd_activation a, float y) {
    switch (a) {
    case DD_ACT_TANH:
        return fabsf(y) > 0.99f;
    case DD_ACT_SIGMOID:
        return y < 0.01f || y > 0.99f;
    case DD_ACT_RELU:
        return y == 0.0f;
    default:
        return 0;
    }
}

/* 1/sqrt(var + eps): the factor BN divides by, in training (batch variance) and evaluation
 * (moving variance). */
DD_HD float dd_bn_inv_std(float var) {
    return 1.0f / sqrtf(var + DD_BN_EPSILON);
}

/* BN of one element: xhat = (x - mean) * inv_std, then y = gamma * xhat + beta. */
DD_HD float dd_bn_xhat(float x, float mean, float inv_std) {
    return (x - mean) * inv_std;
}
DD_HD float dd_bn_affine(float xhat, float gamma, float beta) {
    return gamma * xhat + beta;
}

/* moving <- moving * momentum + batch * (1 - momentum), Keras's update of both statistics. */
DD_HD float dd_bn_moving_update(float moving, float batch) {
    return moving * DD_BN_MOMENTUM + batch * DD_BN_ONE_MINUS_MOMENTUM;
}

/* BN backward: with xhat = (x - mean) * inv_std and y = gamma*xhat + beta over a batch of B,
 * dx = gamma*inv_std/B * (B*dy - sum(dy) - xhat*sum(dy*xhat)); the first factor is the channel's
 * scale, the rest is per element. */
DD_HD float dd_bn_dx_scale(float gamma, float var, int B) {
    return gamma * dd_bn_inv_std(var) / (float)B;
}
DD_HD float dd_bn_dx(float scale, int B, float dy, float xhat, float sum_dy, float sum_dy_xhat) {
    return scale * ((float)B * dy - sum_dy - xhat * sum_dy_xhat);
}

/* Plain SGD on one parameter: p - lr * g, as one fused multiply-add, so that no compiler (host
 * or device, vectorized or not) can round lr * g first on one path and not on another. */
DD_HD float dd_sgd_step(float p, float g, float lr) {
    return fmaf(-lr, g, p);
}

/* Dense layer L's activation: HIDDEN on the N_HIDDEN hidden layers, sigmoid on the output layer
 * (the lab's). */
DD_HD dd_activation dd_dense_activation(int l, int n_hidden, dd_activation hidden) {
    return l < n_hidden ? hidden : DD_ACT_SIGMOID;
}

/* The MSE loss is the mean of (y - t)^2 over the 10 outputs and then over the batch, so
 * dL/dy = (y - t) * 2 / (10 * batch). */
DD_HD float dd_mse_grad_scale(int batch) {
    return 2.0f / ((float)DD_CLASSES * (float)batch);
}

/* Output K's difference from the one-hot target of LABEL: dL/dy is this times the scale. */
DD_HD float dd_mse_diff(float y, int k, int label) {
    return y - (k == label ? 1.0f : 0.0f);
}

/* One sample's MSE loss against the one-hot LABEL over the DD_CLASSES outputs Y, with dL/dy (times
 * SCALE, dd_mse_grad_scale of the batch) in DOUT when it is not NULL. */
DD_HD float dd_mse_sample(float *dout, const float *y, int label, float scale) {
    float sq = 0.0f;
    for (int k = 0; k < DD_CLASSES; k++) {
        const float diff = dd_mse_diff(y[k], k, label);
        sq += diff * diff;
        if (dout) dout[k] = diff * scale;
    }
    return sq / DD_CLASSES;
}

/* The first step whose loss is not finite: BAD (0 while there is none) after step STEP (1-based)
 * left the running loss sum at TOTAL. The sum stays non-finite once it is, so the first step that
 * makes it so is the first bad one. */
DD_HD double dd_first_bad_step(double bad, double total, double step) {
    return bad == 0 && !isfinite(total) ? step : bad;
}

#endif
