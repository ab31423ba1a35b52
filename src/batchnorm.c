/* Batch normalization over (B,C) Dense outputs, CPU reference. On the GPU it runs inside the
 * layer kernels (kernels/layer.cu).
 * Sums are taken in double: the reference should be the most accurate side of any comparison. */
#include "deepdigits/formulas.h"
#include "deepdigits/ops.h"

void dd_batchnorm_forward_train(float *out, float *xhat, float *mean, float *var, const float *inp,
                                const float *gamma, const float *beta, int B, int C) {
    for (int c = 0; c < C; c++) {
        double sum = 0, sq = 0;
        for (int b = 0; b < B; b++) sum += inp[(size_t)b * C + c];
        const float m = (float)(sum / B);
        for (int b = 0; b < B; b++) {
            double d = (double)inp[(size_t)b * C + c] - m;
            sq += d * d;
        }
        const float v = (float)(sq / B); /* biased, as Keras normalizes with it */
        const float inv_std = dd_bn_inv_std(v);
        for (int b = 0; b < B; b++) {
            size_t k = (size_t)b * C + c;
            xhat[k] = dd_bn_xhat(inp[k], m, inv_std);
            out[k] = dd_bn_affine(xhat[k], gamma[c], beta[c]);
        }
        mean[c] = m;
        var[c] = v;
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
    for (int c = 0; c < C; c++) {
        double sum_dy = 0, sum_dy_xhat = 0;
        for (int b = 0; b < B; b++) {
            size_t k = (size_t)b * C + c;
            sum_dy += dout[k];
            sum_dy_xhat += (double)dout[k] * xhat[k];
        }
        dgamma[c] = (float)sum_dy_xhat;
        dbeta[c] = (float)sum_dy;
        const float scale = dd_bn_dx_scale(gamma[c], var[c], B);
        const float sum_dy_f = (float)sum_dy, sum_dy_xhat_f = (float)sum_dy_xhat;
        for (int b = 0; b < B; b++) {
            size_t k = (size_t)b * C + c;
            dinp[k] = dd_bn_dx(scale, B, dout[k], xhat[k], sum_dy_f, sum_dy_xhat_f);
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
