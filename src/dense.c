/* Dense layer, CPU reference: Y = X·W + b and its gradients. CUDA twin: kernels/dense.cu (the
 * products) and kernels/layer.cu (the bias).
 * Loops run along rows of W (O contiguous floats), the order that vectorizes. */
#include "deepdigits/ops.h"

#include <math.h>
#include <string.h>

/* Y (S,O) = b + X (S,I) · W (I,O) for S samples, eight rows of W per pass over y: an eighth of
 * the loads and stores of y, and four independent product pairs per element for the FMA units.
 * The S samples share each pass, so every row of W comes from L2 once per S samples: the lab's
 * 784x25 kernel (78 KB) does not fit L1, and one pass per sample made the batched forward wait
 * on L2. Each sample's sums are the same, in the same order, whatever S is: the pairs are
 * written as fmaf, since left to -ffp-contract the compiler fused them differently in different
 * loop shapes (tests/test_dense_order.c holds the order). */
static inline __attribute__((always_inline)) void
dense_forward_rows_inline(float *restrict y, const float *restrict x, const float *restrict kernel,
                          const float *restrict bias, int I, int O, int S) {
    const size_t n = (size_t)O;
    for (int s = 0; s < S; s++) memcpy(y + s * n, bias, n * sizeof *y);
    int i = 0;
    for (; i + 8 <= I; i += 8) {
        const float *w = kernel + (size_t)i * n;
        for (int s = 0; s < S; s++) {
            const float *xi = x + (size_t)s * I + i;
            float *ys = y + s * n;
            for (size_t o = 0; o < n; o++) {
                const float *col = w + o; /* element o of the eight rows */
                float a = fmaf(xi[0], col[0], xi[1] * col[n]);
                float b = fmaf(xi[2], col[2 * n], xi[3] * col[3 * n]);
                float c = fmaf(xi[4], col[4 * n], xi[5] * col[5 * n]);
                float d = fmaf(xi[6], col[6 * n], xi[7] * col[7 * n]);
                ys[o] += (a + b) + (c + d);
            }
        }
    }
    for (; i < I; i++) {
        const float *w = kernel + (size_t)i * n;
        for (int s = 0; s < S; s++)
            for (size_t o = 0; o < n; o++)
                y[s * n + o] = fmaf(x[(size_t)s * I + i], w[o], y[s * n + o]);
    }
}

/* The lab's widths (25 hidden units, 10 outputs) get their own copy of the loop with O known at
 * compile time: rows of 25 floats fill no whole vector, and a constant O lets the compiler lay
 * out the vectors once and keep y in registers. So does S, the samples of one pass: 4, and 1 for
 * the rest of the batch. The arithmetic is the same for every O and S. */
#define FORWARD_SAMPLES 4
static void dense_forward_rows(float *restrict y, const float *restrict x,
                               const float *restrict kernel, const float *restrict bias, int I,
                               int O, int S) {
    if (S == FORWARD_SAMPLES) {
        switch (O) {
        case 25:
            dense_forward_rows_inline(y, x, kernel, bias, I, 25, FORWARD_SAMPLES);
            return;
        case 10:
            dense_forward_rows_inline(y, x, kernel, bias, I, 10, FORWARD_SAMPLES);
            return;
        default:
            dense_forward_rows_inline(y, x, kernel, bias, I, O, FORWARD_SAMPLES);
            return;
        }
    }
    switch (O) {
    case 25:
        dense_forward_rows_inline(y, x, kernel, bias, I, 25, 1);
        return;
    case 10:
        dense_forward_rows_inline(y, x, kernel, bias, I, 10, 1);
        return;
    default:
        dense_forward_rows_inline(y, x, kernel, bias, I, O, 1);
    }
}

void dd_dense_forward(float *out, const float *inp, const float *kernel, const float *bias, int B,
                      int I, int O) {
    int b = 0;
    for (; b + FORWARD_SAMPLES <= B; b += FORWARD_SAMPLES)
        dense_forward_rows(out + (size_t)b * O, inp + (size_t)b * I, kernel, bias, I, O,
                           FORWARD_SAMPLES);
    for (; b < B; b++)
        dense_forward_rows(out + (size_t)b * O, inp + (size_t)b * I, kernel, bias, I, O, 1);
}

void dd_dense_backward_bias(float *restrict dbias, const float *restrict dout, int B, int O) {
    memcpy(dbias, dout, (size_t)O * sizeof *dbias);
    for (int b = 1; b < B; b++)
        for (int o = 0; o < O; o++) dbias[o] += dout[(size_t)b * O + o];
}

/* dW[i] (O) = sum over b of x[b][i] · dy[b] for rows i from FIRST on: a product for b = 0, then
 * one fused multiply-add per sample, in the order of the batch. */
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
            for (int o = 0; o < O; o++) dw[o] = fmaf(xi, dy[o], dw[o]);
        }
    }
}

/* The same sums for four rows at once, kept in a local array the compiler holds in registers
 * (O known at compile time): each row of dy is loaded once for four rows, and the four rows'
 * chains of fused multiply-adds overlap instead of each waiting on its own. */
#define KERNEL_ROWS 4
static inline __attribute__((always_inline)) void
kernel_four_rows_inline(float *restrict dkernel, const float *restrict dout,
                        const float *restrict inp, int B, int I, int O, int first) {
    float sums[KERNEL_ROWS][O];
    for (int r = 0; r < KERNEL_ROWS; r++)
        for (int o = 0; o < O; o++) sums[r][o] = inp[first + r] * dout[o];
    for (int b = 1; b < B; b++) {
        const float *x = inp + (size_t)b * I + first, *dy = dout + (size_t)b * O;
        for (int r = 0; r < KERNEL_ROWS; r++)
            for (int o = 0; o < O; o++) sums[r][o] = fmaf(x[r], dy[o], sums[r][o]);
    }
    memcpy(dkernel + (size_t)first * O, sums, sizeof sums);
}

/* Specialized for the lab's widths as dense_forward_rows is. At 25 units and batch > 1, rows
 * go four at a time (1.8x faster at batch 32 and 2.7x at 256; no gain for 10 or 64 units). */
void dd_dense_backward_kernel_rows(float *restrict dkernel, const float *restrict dout,
                                   const float *restrict inp, int B, int I, int O, int first,
                                   int rows) {
    switch (O) {
    case 25:
        if (B > 1)
            for (; rows >= KERNEL_ROWS; first += KERNEL_ROWS, rows -= KERNEL_ROWS)
                kernel_four_rows_inline(dkernel, dout, inp, B, I, 25, first);
        kernel_rows_inline(dkernel, dout, inp, B, I, 25, first, rows);
        break;
    case 10:
        kernel_rows_inline(dkernel, dout, inp, B, I, 10, first, rows);
        break;
    default:
        kernel_rows_inline(dkernel, dout, inp, B, I, O, first, rows);
    }
}

/* dX (B,I) = dY · Wᵀ: dx[b][i] = dy[b][0]·W[i][0], then one fused multiply-add per further
 * output o, in order. Each dx is a dot product along a row of W; rather than reduce one such
 * row at a time (a chain of dependent adds), the sums of a tile of 16 inputs run side by side
 * over a transposed tile of W, one vector per sample. Tiles of 64 outputs bound the copy. */
#define TILE_IN  16
#define TILE_OUT 64
static inline __attribute__((always_inline)) void
input_tile(float *restrict dinp, const float *restrict dout, const float (*restrict wt)[TILE_IN],
           int B, int I, int O, int i0, int o0, int n_out, int n_in) {
    for (int b = 0; b < B; b++) {
        float *dx = dinp + (size_t)b * I + i0;
        const float *dy = dout + (size_t)b * O + o0;
        float sum[TILE_IN];
        int o = 0;
        if (o0 == 0) {
            for (int k = 0; k < n_in; k++) sum[k] = dy[0] * wt[0][k];
            o = 1;
        } else {
            for (int k = 0; k < n_in; k++) sum[k] = dx[k];
        }
        for (; o < n_out; o++)
            for (int k = 0; k < n_in; k++) sum[k] = fmaf(dy[o], wt[o][k], sum[k]);
        for (int k = 0; k < n_in; k++) dx[k] = sum[k];
    }
}

void dd_dense_backward_input(float *restrict dinp, const float *restrict dout,
                             const float *restrict kernel, int B, int I, int O) {
    float wt[TILE_OUT][TILE_IN];
    for (int i0 = 0; i0 < I; i0 += TILE_IN) {
        const int n_in = I - i0 < TILE_IN ? I - i0 : TILE_IN;
        for (int o0 = 0; o0 < O; o0 += TILE_OUT) {
            const int n_out = O - o0 < TILE_OUT ? O - o0 : TILE_OUT;
            for (int k = 0; k < n_in; k++)
                for (int o = 0; o < n_out; o++) wt[o][k] = kernel[(size_t)(i0 + k) * O + o0 + o];
            if (n_in == TILE_IN) /* a constant width: the sums stay in registers */
                input_tile(dinp, dout, wt, B, I, O, i0, o0, n_out, TILE_IN);
            else
                input_tile(dinp, dout, wt, B, I, O, i0, o0, n_out, n_in);
        }
    }
}

void dd_dense_backward(float *dinp, float *dkernel, float *dbias, const float *dout,
                       const float *inp, const float *kernel, int B, int I, int O) {
    dd_dense_backward_bias(dbias, dout, B, O);
    dd_dense_backward_kernel_rows(dkernel, dout, inp, B, I, O, 0, I);
    if (dinp) dd_dense_backward_input(dinp, dout, kernel, B, I, O);
}
