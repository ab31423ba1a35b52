/* Every CUDA kernel against its CPU twin, on fresh random inputs of the shapes the issue names
 * (batch 1, 2, 33, 256; widths 1, 25, 64, 784), outputs poisoned with NaN before each launch.
 * Tolerance: ||gpu - cpu|| / ||cpu|| <= 1e-5 in FP32 (TF32 off). Both sides compute the same
 * formulas (formulas.h); what differs is summation order (cuBLAS, tree reductions) and the last
 * ulp or two of tanhf/expf, a few 1e-7 relative, so 1e-5 leaves room without hiding a wrong
 * formula, which shows up as 1e-2 or worse. */
#include <stdlib.h>
#include <string.h>

#include "deepdigits/network.h"
#include "deepdigits/ops.h"
#include "deepdigits/train.h"
#include "gputest.h"
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

static void check_dense(int B, int I, int O) {
    char name[96];
    float *x = random_floats((size_t)B * I, -2, 2), *w = random_floats((size_t)I * O, -0.5f, 0.5f);
    float *bias = random_floats(O, -1, 1), *dy = random_floats((size_t)B * O, -1, 1);
    float *y = malloc((size_t)B * O * 4), *dx = malloc((size_t)B * I * 4);
    float *dw = malloc((size_t)I * O * 4), *db = malloc((size_t)O * 4);
    dd_dense_forward(y, x, w, bias, B, I, O);
    dd_dense_backward(dx, dw, db, dy, x, w, B, I, O);

    float *d_x = dev_floats(x, (size_t)B * I), *d_w = dev_floats(w, (size_t)I * O);
    float *d_b = dev_floats(bias, O), *d_dy = dev_floats(dy, (size_t)B * O);
    float *d_y = dev_nan((size_t)B * O), *d_dx = dev_nan((size_t)B * I);
    float *d_dw = dev_nan((size_t)I * O), *d_db = dev_nan(O);
    CHECK(dd_dense_forward_gpu(d_y, d_x, d_w, d_b, B, I, O, &gpu) == 0, "%s", gpu.err);
    CHECK(dd_dense_backward_gpu(d_dx, d_dw, d_db, d_dy, d_x, d_w, B, I, O, &gpu) == 0, "%s",
          gpu.err);
    float *g_y = host_floats(d_y, (size_t)B * O), *g_dx = host_floats(d_dx, (size_t)B * I);
    float *g_dw = host_floats(d_dw, (size_t)I * O), *g_db = host_floats(d_db, O);
    snprintf(name, sizeof name, "dense forward B=%d I=%d O=%d", B, I, O);
    check_rel(name, g_y, y, (size_t)B * O, TOL);
    snprintf(name, sizeof name, "dense dinp B=%d I=%d O=%d", B, I, O);
    check_rel(name, g_dx, dx, (size_t)B * I, TOL);
    snprintf(name, sizeof name, "dense dkernel B=%d I=%d O=%d", B, I, O);
    check_rel(name, g_dw, dw, (size_t)I * O, TOL);
    snprintf(name, sizeof name, "dense dbias B=%d I=%d O=%d", B, I, O);
    check_rel(name, g_db, db, O, TOL);
    void *all[] = {x, w, bias, dy, y, dx, dw, db, g_y, g_dx, g_dw, g_db};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) free(all[i]);
    void *dev[] = {d_x, d_w, d_b, d_dy, d_y, d_dx, d_dw, d_db};
    for (size_t i = 0; i < sizeof dev / sizeof *dev; i++) cudaFree(dev[i]);
}

static void check_activation(int n, dd_activation act) {
    char name[96];
    float *z = random_floats(n, -4, 4), *dy = random_floats(n, -1, 1);
    float *y = malloc((size_t)n * 4), *dz = malloc((size_t)n * 4);
    dd_activation_forward(y, z, n, act);
    dd_activation_backward(dz, dy, y, n, act);
    float *d_z = dev_floats(z, n), *d_dy = dev_floats(dy, n), *d_y = dev_nan(n), *d_dz = dev_nan(n);
    CHECK(dd_activation_forward_gpu(d_y, d_z, n, act, &gpu) == 0, "%s", gpu.err);
    CHECK(dd_activation_backward_gpu(d_dz, d_dy, d_y, n, act, &gpu) == 0, "%s", gpu.err);
    float *g_y = host_floats(d_y, n), *g_dz = host_floats(d_dz, n);
    snprintf(name, sizeof name, "%s forward n=%d", dd_activation_name(act), n);
    check_rel(name, g_y, y, n, TOL);
    snprintf(name, sizeof name, "%s backward n=%d", dd_activation_name(act), n);
    check_rel(name, g_dz, dz, n, TOL);
    free(z), free(dy), free(y), free(dz), free(g_y), free(g_dz);
    cudaFree(d_z), cudaFree(d_dy), cudaFree(d_y), cudaFree(d_dz);
}

static void check_batchnorm(int B, int C) {
    char name[96];
    size_t n = (size_t)B * C;
    float *x = random_floats(n, -3, 5), *gamma = random_floats(C, 0.5f, 2),
          *beta = random_floats(C, -1, 1);
    float *dy = random_floats(n, -1, 1), *mm = random_floats(C, -1, 1),
          *mv = random_floats(C, 0.5f, 3);
    float *y = malloc(n * 4), *xhat = malloc(n * 4), *mean = malloc(C * 4), *var = malloc(C * 4);
    float *ye = malloc(n * 4), *dx = malloc(n * 4), *dg = malloc(C * 4), *dbt = malloc(C * 4);
    float *mm2 = malloc(C * 4), *mv2 = malloc(C * 4);
    dd_batchnorm_forward_train(y, xhat, mean, var, x, gamma, beta, B, C);
    dd_batchnorm_forward_eval(ye, x, gamma, beta, mm, mv, B, C);
    dd_batchnorm_backward(dx, dg, dbt, dy, xhat, gamma, var, B, C);
    memcpy(mm2, mm, C * 4), memcpy(mv2, mv, C * 4);
    dd_batchnorm_update_moving(mm2, mv2, mean, var, C);

    float *d_x = dev_floats(x, n), *d_g = dev_floats(gamma, C), *d_b = dev_floats(beta, C);
    float *d_dy = dev_floats(dy, n), *d_mm = dev_floats(mm, C), *d_mv = dev_floats(mv, C);
    float *d_y = dev_nan(n), *d_xhat = dev_nan(n), *d_mean = dev_nan(C), *d_var = dev_nan(C);
    float *d_ye = dev_nan(n), *d_dx = dev_nan(n), *d_dg = dev_nan(C), *d_dbt = dev_nan(C);
    CHECK(dd_batchnorm_forward_train_gpu(d_y, d_xhat, d_mean, d_var, d_x, d_g, d_b, B, C, &gpu) ==
              0,
          "%s", gpu.err);
    CHECK(dd_batchnorm_forward_eval_gpu(d_ye, d_x, d_g, d_b, d_mm, d_mv, B, C, &gpu) == 0, "%s",
          gpu.err);
    CHECK(dd_batchnorm_backward_gpu(d_dx, d_dg, d_dbt, d_dy, d_xhat, d_g, d_var, B, C, &gpu) == 0,
          "%s", gpu.err);
    CHECK(dd_batchnorm_update_moving_gpu(d_mm, d_mv, d_mean, d_var, C, &gpu) == 0, "%s", gpu.err);
    struct {
        const char *what;
        float *dev, *cpu;
        size_t n;
    } outs[] = {{"forward out", d_y, y, n},       {"forward xhat", d_xhat, xhat, n},
                {"batch mean", d_mean, mean, C},  {"batch var", d_var, var, C},
                {"eval out", d_ye, ye, n},        {"backward dinp", d_dx, dx, n},
                {"backward dgamma", d_dg, dg, C}, {"backward dbeta", d_dbt, dbt, C},
                {"moving mean", d_mm, mm2, C},    {"moving var", d_mv, mv2, C}};
    for (size_t i = 0; i < sizeof outs / sizeof *outs; i++) {
        float *g = host_floats(outs[i].dev, outs[i].n);
        snprintf(name, sizeof name, "batchnorm %s B=%d C=%d", outs[i].what, B, C);
        /* With B=1 every normalized value is exactly 0 on both sides; dinp then too. */
        check_rel(name, g, outs[i].cpu, outs[i].n, TOL);
        free(g);
        free(outs[i].cpu);
        cudaFree(outs[i].dev);
    }
    free(x), free(gamma), free(beta), free(dy), free(mm), free(mv);
    cudaFree(d_x), cudaFree(d_g), cudaFree(d_b), cudaFree(d_dy);
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
            for (int o = 0; o < N_SHAPES; o++) check_dense(batches[b], widths[i], widths[o]);
    dd_activation acts[] = {DD_ACT_TANH, DD_ACT_SIGMOID, DD_ACT_RELU, DD_ACT_LINEAR};
    for (int b = 0; b < N_SHAPES; b++)
        for (int w = 0; w < N_SHAPES; w++) {
            for (int a = 0; a < 4; a++) check_activation(batches[b] * widths[w], acts[a]);
            check_batchnorm(batches[b], widths[w]);
        }
    for (int b = 0; b < N_SHAPES; b++) {
        check_mse(batches[b]);
        check_gather(batches[b]);
    }
    check_sgd_and_squares(19885);
    check_sgd_and_squares(1);
    dd_gpu_close(&gpu);
    return dd_test_finish("test_gpu_ops");
}
