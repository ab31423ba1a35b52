/* Dense layer, CPU reference: Y = X·W + b and its gradients. CUDA twin: kernels/dense.cu (the
 * products) and kernels/layer.cu (the bias).
 * Loops run along rows of W (O contiguous floats), the order that vectorizes. */
#include "deepdigits/ops.h"

#include <string.h>

/* y (O) = b + x (I) · W (I,O), eight rows of W per pass over y: an eighth of the loads and
 * stores of y, and four independent product pairs per element for the FMA units. */
static inline __attribute__((always_inline)) void
dense_forward_row_inline(float *restrict y, const float *restrict x, const float *restrict kernel,
                         const float *restrict bias, int I, int O) {
    const size_t n = (size_t)O;
    memcpy(y, bias, n * sizeof *y);
    int i = 0;
    for (; i + 8 <= I; i += 8) {
        const float *xi = x + i, *w = kernel + (size_t)i * n;
        for (size_t o = 0; o < n; o++) {
            const float *col = w + o; /* element o of the eight rows */
            float a = xi[0] * col[0] + xi[1] * col[n];
            float b = xi[2] * col[2 * n] + xi[3] * col[3 * n];
            float c = xi[4] * col[4 * n] + xi[5] * col[5 * n];
            float d = xi[6] * col[6 * n] + xi[7] * col[7 * n];
            y[o] += (a + b) + (c + d);
        }
    }
    for (; i < I; i++) {
        const float *w = kernel + (size_t)i * n;
        for (size_t o = 0; o < n; o++) y[o] += x[i] * w[o];
    }
}

/* The lab's widths (25 hidden units, 10 outputs) get their own copy of the loop with O known at
 * compile time: rows of 25 floats fill no whole vector, and a constant O lets the compiler lay
 * out the vectors once and keep y in registers. The arithmetic is the same for every O. */
static void dense_forward_row(float *restrict y, const float *restrict x,
                              const float *restrict kernel, const float *restrict bias, int I,
                              int O) {
    switch (O) {
    case 25:
        dense_forward_row_inline(y, x, kernel, bias, I, 25);
        break;
    case 10:
        dense_forward_row_inline(y, x, kernel, bias, I, 10);
        break;
    default:
        dense_forward_row_inline(y, x, kernel, bias, I, O);
    }
}

void dd_dense_forward(float *out, const float *inp, const float *kernel, const float *bias, int B,
                      int I, int O) {
    for (int b = 0; b < B; b++)
        dense_forward_row(out + (size_t)b * O, inp + (size_t)b * I, kernel, bias, I, O);
}

void dd_dense_backward_bias(float *restrict dbias, const float *restrict dout, int B, int O) {
    memcpy(dbias, dout, (size_t)O * sizeof *dbias);
    for (int b = 1; b < B; b++)
        for (int o = 0; o < O; o++) dbias[o] += dout[(size_t)b * O + o];
}

static inline __attribute__((always_inline)) void
kernel_rows_inline(float *restrict dkernel, const float *restrict dout, const float *restrict inp,
                   int B, int I, int O, int first, int rows) {
    for (int i = first; i < first + rows; i++) {
        float *dw = dkernel + (size_t)i * O;
        const float x0 = inp[i];
        for (int o = 0; o < O; o++) dw[o] = x0 * dout[o];
        for (int b = 1; b < B; b++) {
            const float xi = inp[(size_t)b * I + i];
            const float *dy = dout + (size_t)b * O;
            for (int o = 0; o < O; o++) dw[o] += xi * dy[o];
        }
    }
}

/* Specialized for the lab's widths as dense_forward_row is. */
void dd_dense_backward_kernel_rows(float *restrict dkernel, const float *restrict dout,
                                   const float *restrict inp, int B, int I, int O, int first,
                                   int rows) {
    switch (O) {
    case 25:
        kernel_rows_inline(dkernel, dout, inp, B, I, 25, first, rows);
        break;
    case 10:
        kernel_rows_inline(dkernel, dout, inp, B, I, 10, first, rows);
        break;
    default:
        kernel_rows_inline(dkernel, dout, inp, B, I, O, first, rows);
    }
}

void dd_dense_backward_input(float *restrict dinp, const float *restrict dout,
                             const float *restrict kernel, int B, int I, int O) {
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

void dd_dense_backward(float *dinp, float *dkernel, float *dbias, const float *dout,
                       const float *inp, const float *kernel, int B, int I, int O) {
    dd_dense_backward_bias(dbias, dout, B, O);
    dd_dense_backward_kernel_rows(dkernel, dout, inp, B, I, O, 0, I);
    if (dinp) dd_dense_backward_input(dinp, dout, kernel, B, I, O);
}
