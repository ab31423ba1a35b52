/* The Dense layer's float arithmetic on the CPU is fixed, whatever way its loops are blocked for
 * speed (src/dense.c):
 *   forward   y[o] = bias[o] + the sum over rows i of x[i]·W[i][o] taken eight rows at a time:
 *             ((x0w0 + x1w1) + (x2w2 + x3w3)) + ((x4w4 + x5w5) + (x6w6 + x7w7)) added to y, each
 *             pair as fma(x_even, w_even, x_odd·w_odd); the rows left over are fused
 *             multiply-adds into y, one by one. So a sample's outputs are the same bits
 *             whichever batch it is in and wherever in it.
 *   dkernel   each element is x[0][i]·dy[0][o], then one fused multiply-add per further sample,
 *             in the order of the batch, and any split of the rows gives the same bits;
 *   dinput    dx[b][i] = dy[b][0]·W[i][0], then one fused multiply-add per further output, in
 *             order.
 * The shapes cover the lab's widths (784 -> 25, 25 -> 25, 25 -> 10), which have loops of their
 * own, and others that take the general ones, at batch sizes that leave a remainder after every
 * block of samples or rows. */
#include "deepdigits/ops.h"
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int B, I, O;
} shape;

static const shape shapes[] = {{11, 784, 25}, {9, 25, 25}, {7, 25, 10},  {6, 13, 25},
                               {5, 30, 7},    {3, 9, 64},  {1, 784, 25}, {4, 70, 130}};

static float *random_floats(size_t n, float lo, float hi, unsigned *seed) {
    float *x = malloc(n * sizeof *x);
    fill_uniform(x, n, lo, hi, seed);
    return x;
}

/* a[0]·b[0], then one fused multiply-add per further pair, in order: the sum both gradients
 * take (A and B strided by SA and SB floats). */
static float fma_chain(const float *a, size_t sa, const float *b, size_t sb, int n) {
    float sum = a[0] * b[0];
    for (int k = 1; k < n; k++) sum = fmaf(a[k * sa], b[k * sb], sum);
    return sum;
}

/* One sample's outputs as the comment at the top says. */
static void forward_spec(float *y, const float *x, const float *w, const float *bias, int I,
                         int O) {
    for (int o = 0; o < O; o++) {
        float sum = bias[o];
        int i = 0;
        for (; i + 8 <= I; i += 8) {
            float pair[4];
            for (int k = 0; k < 4; k++) {
                const int even = i + 2 * k, odd = even + 1;
                pair[k] = fmaf(x[even], w[(size_t)even * O + o], x[odd] * w[(size_t)odd * O + o]);
            }
            sum += (pair[0] + pair[1]) + (pair[2] + pair[3]);
        }
        for (; i < I; i++) sum = fmaf(x[i], w[(size_t)i * O + o], sum);
        y[o] = sum;
    }
}

static void test_forward_order(const shape *s, unsigned *seed) {
    const size_t ny = (size_t)s->B * s->O;
    float *x = random_floats((size_t)s->B * s->I, -2, 2, seed);
    float *w = random_floats((size_t)s->I * s->O, -0.5f, 0.5f, seed);
    float *bias = random_floats((size_t)s->O, -0.5f, 0.5f, seed);
    float *batched = malloc(ny * sizeof *batched), *alone = malloc(ny * sizeof *alone);
    dd_dense_forward(batched, x, w, bias, s->B, s->I, s->O);
    for (int b = 0; b < s->B; b++)
        forward_spec(alone + (size_t)b * s->O, x + (size_t)b * s->I, w, bias, s->I, s->O);
    CHECK(memcmp(batched, alone, ny * sizeof *alone) == 0,
          "forward %dx%d at batch %d: not the sums in the specified order", s->I, s->O, s->B);
    free(x), free(w), free(bias), free(batched), free(alone);
}

static void test_kernel_gradient_order(const shape *s, unsigned *seed) {
    const size_t nw = (size_t)s->I * s->O;
    float *x = random_floats((size_t)s->B * s->I, -2, 2, seed);
    float *dy = random_floats((size_t)s->B * s->O, -1, 1, seed);
    float *want = malloc(nw * sizeof *want), *whole = malloc(nw * sizeof *whole);
    float *split = malloc(nw * sizeof *split);
    for (int i = 0; i < s->I; i++) /* over the batch: x's column i, dy's column o */
        for (int o = 0; o < s->O; o++)
            want[(size_t)i * s->O + o] = fma_chain(x + i, s->I, dy + o, s->O, s->B);
    dd_dense_backward_kernel_rows(whole, dy, x, s->B, s->I, s->O, 0, s->I);
    for (int first = 0; first < s->I; first += 7) /* blocks of 7 rows: none is whole */
        dd_dense_backward_kernel_rows(split, dy, x, s->B, s->I, s->O, first,
                                      s->I - first < 7 ? s->I - first : 7);
    CHECK(memcmp(whole, want, nw * sizeof *want) == 0,
          "dkernel %dx%d at batch %d: not the product then fused multiply-adds in batch order",
          s->I, s->O, s->B);
    CHECK(memcmp(split, want, nw * sizeof *want) == 0,
          "dkernel %dx%d at batch %d: depends on how the rows are split", s->I, s->O, s->B);
    free(x), free(dy), free(want), free(whole), free(split);
}

static void test_input_gradient_order(const shape *s, unsigned *seed) {
    const size_t nx = (size_t)s->B * s->I;
    float *w = random_floats((size_t)s->I * s->O, -0.5f, 0.5f, seed);
    float *dy = random_floats((size_t)s->B * s->O, -1, 1, seed);
    float *want = malloc(nx * sizeof *want), *got = malloc(nx * sizeof *got);
    for (int b = 0; b < s->B; b++) /* over the outputs: dy's row b, W's row i */
        for (int i = 0; i < s->I; i++)
            want[(size_t)b * s->I + i] =
                fma_chain(dy + (size_t)b * s->O, 1, w + (size_t)i * s->O, 1, s->O);
    dd_dense_backward_input(got, dy, w, s->B, s->I, s->O);
    CHECK(memcmp(got, want, nx * sizeof *want) == 0,
          "dinput %dx%d at batch %d: not the product then fused multiply-adds in output order",
          s->I, s->O, s->B);
    free(w), free(dy), free(want), free(got);
}

int main(void) {
    unsigned seed = 12345;
    for (size_t k = 0; k < sizeof shapes / sizeof *shapes; k++) {
        test_forward_order(&shapes[k], &seed);
        test_kernel_gradient_order(&shapes[k], &seed);
        test_input_gradient_order(&shapes[k], &seed);
    }
    return dd_test_finish("test_dense_order");
}
