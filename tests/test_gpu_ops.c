/* Every CUDA kernel against its CPU twin, on fresh random inputs of the shapes the issue names
 * (batch 1, 2, 33, 256; widths 1, 25, 64, 784), outputs poisoned with NaN before each launch.
 * Tolerance: ||gpu - cpu|| / ||cpu|| <= 1e-5 in FP32 (TF32 off). Both sides compute the same
 * formulas (formulas.h); what differs is summation order (cuBLAS, tree reductions) and the last
 * ulp or two of tanhf/expf, a few 1e-7 relative, so 1e-5 leaves room without hiding a wrong
 * formula, which shows up as 1e-2 or worse. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "deepdigits/formulas.h"
#include "deepdigits/network.h"
#include "deepdigits/ops.h"
#include "deepdigits/train.h"
#include "gputest.h"
#include "kernels.h"
#include "layer_check.h"
#include "testutil.h"

static const int batches[] = {1, 2, 33, 256};
static const int widths[] = {1, 25, 64, 784};
#define N_SHAPES 4
#define TOL      1e-5

static dd_gpu gpu;
static unsigned seed = 12345;

static float *random_floats(size_t n, float lo, float hi) {
    float *x = malloc(n * sizeof *x);
    fill_uniform(x, n, lo, hi, &seed);
    return x;
}

/* N floats on the device, SHIFT floats past the start of their allocation (*BASE, to free):
 * the network's packed parameters and gradients lie at any float boundary, and an SGEMM
 * algorithm that assumed 16-byte or wider operands would misread them. HOST NULL: NaN. */
static float *dev_shifted(const float *host, size_t n, int shift, float **base) {
    *base = dev_nan(n + shift);
    if (host) dev_put(*base + shift, host, n);
    return *base + shift;
}

/* The GPU's Dense ops are the products alone (the bias is the layer kernel's): forward against
 * the CPU's with a zero bias, backward against its dinp and dkernel; every operand SHIFT floats
 * off its allocation's (256-byte) alignment. */
static void check_dense(int B, int I, int O, int shift) {
    char name[96];
    float *x = random_floats((size_t)B * I, -2, 2), *w = random_floats((size_t)I * O, -0.5f, 0.5f);
    float *bias = calloc(O, sizeof *bias), *dy = random_floats((size_t)B * O, -1, 1);
    float *y = malloc((size_t)B * O * 4), *dx = malloc((size_t)B * I * 4);
    float *dw = malloc((size_t)I * O * 4), *db = malloc((size_t)O * 4);
    dd_dense_forward(y, x, w, bias, B, I, O);
    dd_dense_backward(dx, dw, db, dy, x, w, B, I, O);

    float *dev[6];
    float *d_x = dev_shifted(x, (size_t)B * I, shift, &dev[0]);
    float *d_w = dev_shifted(w, (size_t)I * O, shift, &dev[1]);
    float *d_dy = dev_shifted(dy, (size_t)B * O, shift, &dev[2]);
    float *d_y = dev_shifted(NULL, (size_t)B * O, shift, &dev[3]);
    float *d_dx = dev_shifted(NULL, (size_t)B * I, shift, &dev[4]);
    float *d_dw = dev_shifted(NULL, (size_t)I * O, shift, &dev[5]);
    CHECK(dd_dense_forward_gpu(d_y, d_x, d_w, B, I, O, &gpu) == 0, "%s", gpu.err);
    CHECK(dd_dense_backward_gpu(d_dx, d_dw, d_dy, d_x, d_w, B, I, O, &gpu) == 0, "%s", gpu.err);
    float *g_y = host_floats(d_y, (size_t)B * O), *g_dx = host_floats(d_dx, (size_t)B * I);
    float *g_dw = host_floats(d_dw, (size_t)I * O);
    const char *off = shift ? " (operands off alignment)" : "";
    snprintf(name, sizeof name, "dense forward B=%d I=%d O=%d%s", B, I, O, off);
    check_rel(name, g_y, y, (size_t)B * O, TOL);
    snprintf(name, sizeof name, "dense dinp B=%d I=%d O=%d%s", B, I, O, off);
    check_rel(name, g_dx, dx, (size_t)B * I, TOL);
    snprintf(name, sizeof name, "dense dkernel B=%d I=%d O=%d%s", B, I, O, off);
    check_rel(name, g_dw, dw, (size_t)I * O, TOL);
    void *all[] = {x, w, bias, dy, y, dx, dw, db, g_y, g_dx, g_dw};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) free(all[i]);
    for (size_t i = 0; i < sizeof dev / sizeof *dev; i++) cudaFree(dev[i]);
}

static void check_mse(int B) {
    char name[96];
    float *y = random_floats((size_t)B * 10, 0, 1), *dy = malloc((size_t)B * 40);
    uint8_t *labels = malloc(B);
    for (int b = 0; b < B; b++) labels[b] = (uint8_t)((b * 7 + 3) % 10);
    long correct = 0;
    double loss = dd_mse_forward_backward(dy, &correct, y, labels, B);
    float *d_y = dev_floats(y, (size_t)B * 10), *d_dy = dev_nan((size_t)B * 10);
    uint8_t *d_labels = dev_bytes(labels, B);
    double sums[2] = {0.5, 3}; /* the kernel adds to what is there */
    double *d_sums = dev_doubles(sums, 2);
    CHECK(dd_mse_forward_backward_gpu(d_dy, d_sums, d_y, d_labels, B, &gpu) == 0, "%s", gpu.err);
    float *g_dy = host_floats(d_dy, (size_t)B * 10);
    CHECK(cudaMemcpy(sums, d_sums, sizeof sums, cudaMemcpyDeviceToHost) == cudaSuccess,
          "copy back");
    snprintf(name, sizeof name, "mse gradient B=%d", B);
    check_rel(name, g_dy, dy, (size_t)B * 10, TOL);
    CHECK(dd_close(sums[0] - 0.5, loss, 0, TOL), "mse loss B=%d: gpu %.9g cpu %.9g", B,
          sums[0] - 0.5, loss);
    CHECK(sums[1] - 3 == (double)correct, "accuracy B=%d: gpu %g cpu %ld", B, sums[1] - 3, correct);
    free(y), free(dy), free(labels), free(g_dy);
    cudaFree(d_y), cudaFree(d_dy), cudaFree(d_labels), cudaFree(d_sums);
}

/* Evaluation's predictions: each row's argmax, the first of equal maxima as the CPU's (row 0 has
 * a tie between classes 3 and 7). Every byte starts as 0xff, which no class is. */
static void check_argmax(int B) {
    float *y = random_floats((size_t)B * 10, 0, 1);
    y[3] = y[7] = 2.0f;
    float *d_y = dev_floats(y, (size_t)B * 10);
    uint8_t *d_pred = NULL, *pred = malloc(B);
    /* In the kernel's stream: a plain cudaMemset, in the legacy stream, is not ordered before it.
     */
    CHECK(cudaMalloc((void **)&d_pred, B) == cudaSuccess &&
              cudaMemsetAsync(d_pred, 0xff, B, gpu.stream) == cudaSuccess,
          "predictions buffer");
    CHECK(dd_argmax_gpu(d_pred, d_y, B, &gpu) == 0, "%s", gpu.err);
    CHECK(cudaStreamSynchronize(gpu.stream) == cudaSuccess &&
              cudaMemcpy(pred, d_pred, B, cudaMemcpyDeviceToHost) == cudaSuccess,
          "copy back");
    int wrong = 0;
    for (int b = 0; b < B; b++) wrong += pred[b] != dd_argmax(y + (size_t)b * 10, 10);
    CHECK(wrong == 0 && pred[0] == 3, "argmax B=%d: %d of %d rows differ from the CPU's", B, wrong,
          B);
    free(y), free(pred);
    cudaFree(d_y), cudaFree(d_pred);
}

/* The training step's loss kernel also takes the output layer (sigmoid, no BN) down to its Dense
 * part — dL/dz and the bias gradient, what the MSE gradient, the activation's backward pass and
 * the bias's column sum give on the CPU — and ends the step: the counter moves on by B, the step
 * is counted, and the first step whose loss sum is not finite is remembered. */
static void check_loss_output_step(int B) {
    const size_t n = (size_t)B * DD_CLASSES;
    /* The output layer's SGEMM product and bias; the CPU's z and y from them, as its network's
     * op sequence has them (bias, then the activation). */
    float *xw = random_floats(n, -3, 3), *bias = random_floats(DD_CLASSES, -1, 1);
    float *z = malloc(n * sizeof *z), *y = malloc(n * sizeof *y);
    float *dy = malloc(n * sizeof *dy), *dz = malloc(n * sizeof *dz);
    float dbias[DD_CLASSES];
    for (size_t k = 0; k < n; k++) z[k] = xw[k] + bias[k % DD_CLASSES];
    dd_activation_forward(y, z, (int)n, DD_ACT_SIGMOID);
    uint8_t *labels = malloc(B);
    for (int b = 0; b < B; b++) labels[b] = (uint8_t)((b * 3 + 1) % 10);
    long correct = 0;
    const double loss = dd_mse_forward_backward(dy, &correct, y, labels, B);
    dd_activation_backward(dz, dy, y, (int)n, DD_ACT_SIGMOID);
    dd_dense_backward_bias(dbias, dz, B, DD_CLASSES);
    double sums[DD_N_SUMS] = {0}, got[DD_N_SUMS];
    sums[DD_SUM_LOSS] = 0.5, sums[DD_SUM_CORRECT] = 3, sums[DD_SUM_STEPS] = 4;
    const int start = 10;
    int counter;
    float *d_z = dev_floats(xw, n), *d_y = dev_nan(n), *d_bias = dev_floats(bias, DD_CLASSES);
    float *d_g = dev_nan(n), *d_dbias = dev_nan(DD_CLASSES);
    uint8_t *d_labels = dev_bytes(labels, B);
    double *d_sums = dev_doubles(sums, DD_N_SUMS);
    int *d_counter = (int *)dev_bytes(&start, sizeof start);
    const dd_layer_view out = {.acts = {.dense_out = d_z, .act_out = d_y},
                               .units = DD_CLASSES,
                               .act = DD_ACT_SIGMOID,
                               .bn = DD_BN_NONE,
                               .bias = d_bias,
                               .dbias = d_dbias};
    CHECK(dd_loss_output_step_gpu(&out, d_g, d_sums, d_counter, d_labels, B, &gpu) == 0, "%s",
          gpu.err);
    float *g_dz = host_floats(d_g, n), *g_dbias = host_floats(d_dbias, DD_CLASSES);
    float *g_z = host_floats(d_z, n), *g_y = host_floats(d_y, n);
    CHECK(cudaMemcpy(got, d_sums, sizeof got, cudaMemcpyDeviceToHost) == cudaSuccess, "copy");
    CHECK(cudaMemcpy(&counter, d_counter, sizeof counter, cudaMemcpyDeviceToHost) == cudaSuccess,
          "copy");
    char name[64];
    snprintf(name, sizeof name, "loss step: output z B=%d", B);
    check_rel(name, g_z, z, n, TOL);
    snprintf(name, sizeof name, "loss step: output y B=%d", B);
    check_rel(name, g_y, y, n, TOL);
    snprintf(name, sizeof name, "loss step: output dL/dz B=%d", B);
    check_rel(name, g_dz, dz, n, TOL);
    snprintf(name, sizeof name, "loss step: output bias gradient B=%d", B);
    check_rel(name, g_dbias, dbias, DD_CLASSES, TOL);
    CHECK(dd_close(got[DD_SUM_LOSS] - 0.5, loss, 0, TOL), "loss step B=%d: gpu %.9g cpu %.9g", B,
          got[DD_SUM_LOSS] - 0.5, loss);
    CHECK(got[DD_SUM_CORRECT] - 3 == (double)correct, "loss step accuracy B=%d", B);
    CHECK(counter == start + B && got[DD_SUM_STEPS] == 5 && got[DD_SUM_BAD_STEP] == 0,
          "step end B=%d: counter %d (want %d), steps %g (want 5), bad step %g (want 0)", B,
          counter, start + B, got[DD_SUM_STEPS], got[DD_SUM_BAD_STEP]);
    xw[0] = NAN; /* the next step's loss is not finite: it is step 6 */
    dev_put(d_z, xw, n);
    CHECK(dd_loss_output_step_gpu(&out, d_g, d_sums, d_counter, d_labels, B, &gpu) == 0, "%s",
          gpu.err);
    CHECK(cudaDeviceSynchronize() == cudaSuccess, "sync");
    CHECK(cudaMemcpy(got, d_sums, sizeof got, cudaMemcpyDeviceToHost) == cudaSuccess, "copy");
    CHECK(got[DD_SUM_STEPS] == 6 && got[DD_SUM_BAD_STEP] == 6,
          "a non-finite loss at B=%d: steps %g (want 6), bad step %g (want 6)", B,
          got[DD_SUM_STEPS], got[DD_SUM_BAD_STEP]);
    free(xw), free(bias), free(z), free(g_z), free(g_y);
    cudaFree(d_z), cudaFree(d_bias);
    free(y), free(dy), free(dz), free(labels), free(g_dz), free(g_dbias);
    cudaFree(d_y), cudaFree(d_g), cudaFree(d_dbias), cudaFree(d_labels), cudaFree(d_sums);
    cudaFree(d_counter);
}

static void check_sgd_and_squares(long n) {
    float *p = random_floats(n, -1, 1), *g = random_floats(n, -1, 1);
    float *d_p = dev_floats(p, n), *d_g = dev_floats(g, n);
    double acc = 0, *d_acc = dev_doubles(&acc, 1);
    double ref = dd_sum_squares(g, n);
    dd_sgd_update(p, g, n, 0.01f);
    CHECK(dd_sgd_update_gpu(d_p, d_g, n, 0.01f, &gpu) == 0, "%s", gpu.err);
    CHECK(dd_sum_squares_gpu(d_acc, d_g, n, &gpu) == 0, "%s", gpu.err);
    float *g_p = host_floats(d_p, n);
    CHECK(cudaMemcpy(&acc, d_acc, sizeof acc, cudaMemcpyDeviceToHost) == cudaSuccess, "copy back");
    check_rel("sgd update", g_p, p, n, TOL);
    CHECK(dd_close(acc, ref, 0, TOL), "sum of squares: gpu %.9g cpu %.9g", acc, ref);
    free(p), free(g), free(g_p);
    cudaFree(d_p), cudaFree(d_g), cudaFree(d_acc);
}

/* SGD on a Dense kernel inside its gradient's SGEMM (alpha -lr, beta 1): against the CPU's
 * gradient and then its SGD step, compared as the steps each took (new kernel minus old: the
 * kernel itself is ~100 times larger than a step and would hide a wrong one). The kernel lies off
 * alignment, as in the packed parameters. */
static void check_kernel_update(int B, int I, int O) {
    char name[96];
    const float lr = 0.01f;
    float *x = random_floats((size_t)B * I, -2, 2), *w = random_floats((size_t)I * O, -0.5f, 0.5f);
    float *dy = random_floats((size_t)B * O, -1, 1), *dw = malloc((size_t)I * O * 4);
    float *dx = malloc((size_t)B * I * 4), *db = malloc((size_t)O * 4);
    float *dev[3];
    float *d_x = dev_shifted(x, (size_t)B * I, 0, &dev[0]);
    float *d_w = dev_shifted(w, (size_t)I * O, 1, &dev[1]);
    float *d_dy = dev_shifted(dy, (size_t)B * O, 0, &dev[2]);
    const size_t n = (size_t)I * O;
    float *w0 = malloc(n * sizeof *w0);
    memcpy(w0, w, n * sizeof *w0);
    dd_dense_backward(dx, dw, db, dy, x, w, B, I, O);
    dd_sgd_update(w, dw, (long)n, lr);
    CHECK(dd_dense_update_kernel_gpu(d_w, d_dy, d_x, B, I, O, lr, gpu.stream, &gpu) == 0, "%s",
          gpu.err);
    float *g_w = host_floats(d_w, n);
    for (size_t i = 0; i < n; i++) g_w[i] -= w0[i], w[i] -= w0[i];
    snprintf(name, sizeof name, "kernel update in its SGEMM B=%d I=%d O=%d", B, I, O);
    check_rel(name, g_w, w, n, TOL);
    free(x), free(w), free(w0), free(dy), free(dw), free(dx), free(db), free(g_w);
    for (int i = 0; i < 3; i++) cudaFree(dev[i]);
}

/* SGD on ranges of the parameters (the biases and BN's parameters beside the kernels): those
 * floats as dd_sgd_step gives them, bit for bit (the same fmaf), the others untouched. */
static void check_sgd_ranges(void) {
    enum { N = 5000 };
    const dd_sgd_ranges ranges = {.n = 3, .first = {0, 1000, 4990}, .count = {1, 2500, 10}};
    float *p = random_floats(N, -1, 1), *g = random_floats(N, -1, 1);
    float *d_p = dev_floats(p, N), *d_g = dev_floats(g, N);
    for (int r = 0; r < ranges.n; r++)
        for (long i = ranges.first[r]; i < ranges.first[r] + ranges.count[r]; i++)
            p[i] = dd_sgd_step(p[i], g[i], 0.01f);
    CHECK(dd_sgd_update_ranges_gpu(d_p, d_g, &ranges, 0.01f, &gpu) == 0, "%s", gpu.err);
    float *g_p = host_floats(d_p, N);
    CHECK(memcmp(g_p, p, sizeof(float) * N) == 0, "sgd on ranges differs from the CPU's steps");
    free(p), free(g), free(g_p);
    cudaFree(d_p), cudaFree(d_g);
}

static void check_gather(int B) {
    enum { IMAGES = 300 };
    char name[64];
    uint8_t *pixels = malloc((size_t)IMAGES * DD_IMAGE_PIXELS);
    for (size_t i = 0; i < (size_t)IMAGES * DD_IMAGE_PIXELS; i++)
        pixels[i] = (uint8_t)(i * 131 % 251);
    uint32_t idx[256 + 5];
    for (int i = 0; i < B + 5; i++) idx[i] = (uint32_t)((i * 97 + 11) % IMAGES);
    dd_dataset set = {IMAGES, pixels, NULL};
    float table[256], *x = malloc((size_t)B * DD_IMAGE_PIXELS * 4);
    dd_standardize_table(&set, IMAGES, DD_STANDARDIZE_GLOBAL, table, NULL, NULL);
    dd_gather_standardize(x, pixels, idx, 5, table, B);
    uint8_t *d_pixels = dev_bytes(pixels, (size_t)IMAGES * DD_IMAGE_PIXELS);
    uint32_t *d_idx = (uint32_t *)dev_bytes(idx, sizeof idx);
    float *d_table = dev_floats(table, 256), *d_x = dev_nan((size_t)B * DD_IMAGE_PIXELS);
    CHECK(dd_gather_standardize_gpu(d_x, d_pixels, d_idx, 5, d_table, B, &gpu) == 0, "%s", gpu.err);
    float *g_x = host_floats(d_x, (size_t)B * DD_IMAGE_PIXELS);
    snprintf(name, sizeof name, "gather/standardize B=%d", B);
    /* A table lookup: the inputs must be bit-identical, not just close. */
    CHECK(memcmp(g_x, x, (size_t)B * DD_IMAGE_PIXELS * 4) == 0, "%s differs", name);
    free(pixels), free(x), free(g_x);
    cudaFree(d_pixels), cudaFree(d_idx), cudaFree(d_table), cudaFree(d_x);
}

int main(void) {
    gpu_test_open(&gpu);
    for (int b = 0; b < N_SHAPES; b++)
        for (int i = 0; i < N_SHAPES; i++)
            for (int o = 0; o < N_SHAPES; o++) check_dense(batches[b], widths[i], widths[o], 0);
    check_dense(33, 784, 25, 1);
    check_dense(256, 25, 10, 3);
    check_dense(2, 64, 64, 1);
    const dd_activation acts[] = {DD_ACT_TANH, DD_ACT_SIGMOID, DD_ACT_RELU, DD_ACT_LINEAR};
    const dd_bn_place places[] = {DD_BN_NONE, DD_BN_BEFORE, DD_BN_AFTER};
    for (int b = 0; b < N_SHAPES; b++)
        for (int w = 0; w < N_SHAPES; w++)
            for (int a = 0; a < 4; a++)
                for (int p = 0; p < 3; p++)
                    check_layer(&gpu, batches[b], widths[w], acts[a], places[p], &seed, TOL);
    /* Evaluation's chunks of 1,000 rows: several rows a thread in a channel's block. */
    for (int a = 0; a < 4; a++)
        for (int p = 0; p < 3; p++) check_layer(&gpu, 1000, 25, acts[a], places[p], &seed, TOL);
    for (int b = 0; b < N_SHAPES; b++) {
        check_mse(batches[b]);
        check_argmax(batches[b]);
        check_loss_output_step(batches[b]);
        check_gather(batches[b]);
    }
    check_sgd_and_squares(19885);
    check_sgd_and_squares(1);
    check_sgd_ranges();
    for (int b = 0; b < N_SHAPES; b++) check_kernel_update(batches[b], 784, 25);
    check_kernel_update(32, 25, 10);
    dd_gpu_close(&gpu);
    return dd_test_finish("test_gpu_ops");
}
