/* Dense layer, CPU reference: Y = X·W + b and its gradients. CUDA twin: kernels/dense.cu.
 * Loops run along rows of W (O contiguous floats), the order that vectorizes. */
#include "deepdigits/ops.h"

#include <string.h>

void dd_dense_forward(float *out, const float *inp, const float *kernel, const float *bias, int B,
                      int I, int O) {
    for (int b = 0; b < B; b++) {
        float *y = out + (size_t)b * O;
        const float *x = inp + (size_t)b * I;
        memcpy(y, bias, (size_t)O * sizeof *y);
        for (int i = 0; i < I; i++) {
            const float xi = x[i];
            const float *w = kernel + (size_t)i * O;
            for (int o = 0; o < O; o++) y[o] += xi * w[o];
        }
    }
}

void dd_dense_backward(float *dinp, float *dkernel, float *dbias, const float *dout,
                       const float *inp, const float *kernel, int B, int I, int O) {
    memcpy(dbias, dout, (size_t)O * sizeof *dbias);
    for (int b = 1; b < B; b++)
        for (int o = 0; o < O; o++) dbias[o] += dout[(size_t)b * O + o];

    for (int i = 0; i < I; i++) {
        float *dw = dkernel + (size_t)i * O;
        const float x0 = inp[i];
        for (int o = 0; o < O; o++) dw[o] = x0 * dout[o];
        for (int b = 1; b < B; b++) {
            const float xi = inp[(size_t)b * I + i];
            const float *dy = dout + (size_t)b * O;
            for (int o = 0; o < O; o++) dw[o] += xi * dy[o];
        }
    }

    if (!dinp) return;
    for (int b = 0; b < B; b++) {
        const float *dy = dout + (size_t)b * O;
        for (int i = 0; i < I; i++) {
            const float *w = kernel + (size_t)i * O;
            float s = 0.0f;
            for (int o = 0; o < O; o++) s += dy[o] * w[o];
            dinp[(size_t)b * I + i] = s;
        }
    }
}
