/* Batch normalization over (B,C) Dense outputs, CPU reference. On the GPU it runs inside the
 * layer kernels (kernels/layer.cu).
 * Sums are taken in double: the reference should be the most accurate side of any comparison. */
#include <math.h>

#include "deepdigits/formulas.h"
#include "deepdigits/ops.h"

/* Channels go BN_CHANNELS at a time with the batch in the outer loop: each channel's sums are
 * still taken in the order of the batch, but side by side instead of one chain of dependent
 * adds at a time. */
#define BN_CHANNELS 16
static int channels_from(int c0, int C) {
    return C - c0 < BN_CHANNELS ? C - c0 : BN_CHANNELS;
}

void dd_batchnorm_forward_train(float *out, float *xhat, float *mean, float *var, const float *inp,
                                const float *gamma, const float *beta, int B, int C) {
    for (int c0 = 0; c0 < C; c0 += BN_CHANNELS) {
        const int n = channels_from(c0, C);
        double sum[BN_CHANNELS] = {0}, sq[BN_CHANNELS] = {0};
        float m[BN_CHANNELS], inv_std[BN_CHANNELS];
        for (int b = 0; b < B; b++)
            for (int k = 0; k < n; k++) sum[k] += inp[(size_t)b * C + c0 + k];
        for (int k = 0; k < n; k++) m[k] = (float)(sum[k] / B);
        for (int b = 0; b < B; b++)
            for (int k = 0; k < n; k++) {
                const double d = (double)inp[(size_t)b * C + c0 + k] - m[k];
                sq[k] = fma(d, d, sq[k]);
            }
        for (int k = 0; k < n; k++) {
            const float v = (float)(sq[k] / B); /* biased, as Keras normalizes with it */
            inv_std[k] = dd_bn_inv_std(v);
            mean[c0 + k] = m[k];
            var[c0 + k] = v;
        }
        for (int b = 0; b < B; b++)
            for (int k = 0; k < n; k++) {
                const size_t at = (size_t)b * C + c0 + k;
                xhat[at] = dd_bn_xhat(inp[at], m[k], inv_std[k]);
                out[at] = dd_bn_affine(xhat[at], gamma[c0 + k], beta[c0 + k]);
            }
    }
}

void dd_batchnorm_forward_eval(float *out, const float *inp, const float *gamma, const float *beta,
                               const float *moving_mean, const float *moving_var, int B, int C) {
    for (int c = 0; c < C; c++) {
        const float inv_std = dd_bn_inv_std(moving_var[c]);
        for (int b = 0; b < B; b++) {
            size_t k = (size_t)b * C + c;
            out[k] = dd_bn_affine(dd_bn_xhat(inp[k], moving_mean[c], inv_std), gamma[c], beta[c]);
        }
    }
}

/* With xhat = (x - mean) * inv_std and y = gamma*xhat + beta:
 * dx = gamma*inv_std/B * (B*dy - sum(dy) - xhat*sum(dy*xhat)). */
void dd_batchnorm_backward(float *dinp, float *dgamma, float *dbeta, const float *dout,
                           const float *xhat, const float *gamma, const float *var, int B, int C) {
    for (int c0 = 0; c0 < C; c0 += BN_CHANNELS) {
        const int n = channels_from(c0, C);
        double sum_dy[BN_CHANNELS] = {0}, sum_dy_xhat[BN_CHANNELS] = {0};
        for (int b = 0; b < B; b++)
            for (int k = 0; k < n; k++) {
                const size_t at = (size_t)b * C + c0 + k;
                sum_dy[k] += dout[at];
                sum_dy_xhat[k] = fma((double)dout[at], (double)xhat[at], sum_dy_xhat[k]);
            }
        float scale[BN_CHANNELS], sum_dy_f[BN_CHANNELS], sum_dy_xhat_f[BN_CHANNELS];
        for (int k = 0; k < n; k++) {
            dgamma[c0 + k] = sum_dy_xhat_f[k] = (float)sum_dy_xhat[k];
            dbeta[c0 + k] = sum_dy_f[k] = (float)sum_dy[k];
            scale[k] = dd_bn_dx_scale(gamma[c0 + k], var[c0 + k], B);
        }
        for (int b = 0; b < B; b++)
            for (int k = 0; k < n; k++) {
                const size_t at = (size_t)b * C + c0 + k;
                dinp[at] = dd_bn_dx(scale[k], B, dout[at], xhat[at], sum_dy_f[k], sum_dy_xhat_f[k]);
            }
    }
}

void dd_batchnorm_update_moving(float *moving_mean, float *moving_var, const float *mean,
                                const float *var, int C) {
    for (int c = 0; c < C; c++) {
        moving_mean[c] = dd_bn_moving_update(moving_mean[c], mean[c]);
        moving_var[c] = dd_bn_moving_update(moving_var[c], var[c]);
    }
}
