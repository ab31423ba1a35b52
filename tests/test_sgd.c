/* Plain SGD (w <- w - lr * dL/dw, no momentum): the update rule on numbers worked out by hand, one
 * whole training step of the smallest network (784 -> 10 sigmoid) against the formulas written
 * out here, and bitwise determinism of many steps. */
#include "deepdigits/idx.h"
#include "deepdigits/model.h"
#include "deepdigits/network.h"
#include "deepdigits/ops.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* {1, -2, 0.5} - 0.1 * {0.5, 0.25, -4} = {0.95, -2.025, 0.9}; within 1e-7, a few float ulps of
 * these values. The fourth value lies beyond n and must not move. */
static void sgd_update_rule(void) {
    float params[4] = {1.0f, -2.0f, 0.5f, 7.0f};
    const float grads[4] = {0.5f, 0.25f, -4.0f, 1.0f};
    const double want[3] = {0.95, -2.025, 0.9};
    dd_sgd_update(params, grads, 3, 0.1f);
    for (int i = 0; i < 3; i++)
        CHECK(dd_close(params[i], want[i], 1e-7, 0), "param %d: %.9g, expected %.9g", i,
              (double)params[i], want[i]);
    CHECK(params[3] == 7.0f, "param 3 beyond n changed to %.9g", (double)params[3]);
}

/* One sample with two non-zero pixels through 784 -> Dense(10, sigmoid), label 3, lr 0.5:
 *   z_k = b_k + x1 W[p1][k] + x2 W[p2][k],  y_k = 1/(1+e^-z_k),  L = mean_k (y_k - t_k)^2
 *   dL/dy_k = 2 (y_k - t_k) / 10,  dz_k = dL/dy_k * y_k (1 - y_k)
 *   W[p][k] -= lr * x_p dz_k,  b_k -= lr * dz_k,  every other row of W unchanged (x = 0 there).
 * The library computes in float, this in double: 1e-6 is ~10 float ulps of these weights, while
 * the updates themselves are ~1e-2 (checked, so that "unchanged" cannot pass). */
enum { P1 = 100, P2 = 500, LABEL = 3 };
#define X1 0.8
#define X2 (-1.5)
#define LR 0.5

static void one_step_matches_hand_computation(void) {
    dd_model_config cfg = dd_model_config_lab();
    cfg.n_hidden = 0;
    char err[DD_ERR_LEN];
    dd_net net;
    if (dd_net_create(&net, &cfg, 1, err) != 0) {
        CHECK(0, "dd_net_create: %s", err);
        return;
    }
    const dd_layout *L = &net.layout;
    const dd_dense_layout *d = &L->dense[0];
    CHECK(L->n_dense == 1 && d->fan_in == DD_IMAGE_PIXELS && d->units == DD_CLASSES,
          "0 hidden layers should be 784 -> 10, got %d layers, %d -> %d", L->n_dense, d->fan_in,
          d->units);
    float *params = malloc(L->n_params * sizeof *params),
          *before = malloc(L->n_params * sizeof *before);
    float *grads = malloc(L->n_trainable * sizeof *grads);
    CHECK(dd_model_init(&cfg, L, 3, params, err) == 0, "dd_model_init: %s", err);
    float *W1 = params + d->kernel + P1 * DD_CLASSES, *W2 = params + d->kernel + P2 * DD_CLASSES;
    float *b = params + d->bias;
    for (int k = 0; k < DD_CLASSES; k++) {
        W1[k] = (float)(0.1 * (k - 4));
        W2[k] = (float)(0.05 * (3 - k));
        b[k] = (float)(0.02 * k - 0.1);
    }
    memcpy(before, params, L->n_params * sizeof *params);
    memset(net.input, 0, DD_IMAGE_PIXELS * sizeof *net.input);
    net.input[P1] = (float)X1;
    net.input[P2] = (float)X2;

    double want_w1[DD_CLASSES], want_w2[DD_CLASSES], want_b[DD_CLASSES], want_loss = 0, moved = 0;
    for (int k = 0; k < DD_CLASSES; k++) {
        const double x1 = (float)X1, x2 = (float)X2, t = k == LABEL;
        const double z = (double)b[k] + x1 * W1[k] + x2 * W2[k], y = 1 / (1 + exp(-z));
        want_loss += (y - t) * (y - t) / DD_CLASSES;
        const double dz = 2 * (y - t) / DD_CLASSES * y * (1 - y);
        want_w1[k] = W1[k] - LR * x1 * dz;
        want_w2[k] = W2[k] - LR * x2 * dz;
        want_b[k] = b[k] - LR * dz;
        moved = fmax(moved, fabs(LR * dz));
    }
    CHECK(moved > 1e-3, "the example moves the bias by only %.3g: too little to test", moved);

    const uint8_t label = LABEL;
    long correct = 0;
    dd_net_forward(&net, params, 1, 1);
    const double loss = dd_net_loss(&net, &label, 1, &correct, 1);
    dd_net_backward(&net, params, grads, 1);
    dd_sgd_update(params, grads, (long)L->n_trainable, (float)LR);

    CHECK(dd_close(loss, want_loss, 1e-6, 0), "loss %.9g, expected %.9g", loss, want_loss);
    for (int k = 0; k < DD_CLASSES; k++) {
        CHECK(dd_close(W1[k], want_w1[k], 1e-6, 0), "W[%d][%d] %.9g, expected %.9g", P1, k,
              (double)W1[k], want_w1[k]);
        CHECK(dd_close(W2[k], want_w2[k], 1e-6, 0), "W[%d][%d] %.9g, expected %.9g", P2, k,
              (double)W2[k], want_w2[k]);
        CHECK(dd_close(b[k], want_b[k], 1e-6, 0), "b[%d] %.9g, expected %.9g", k, (double)b[k],
              want_b[k]);
    }
    int other_rows_moved = 0;
    for (int i = 0; i < DD_IMAGE_PIXELS; i++) {
        const size_t at = d->kernel + (size_t)i * DD_CLASSES;
        if (i != P1 && i != P2)
            other_rows_moved += memcmp(params + at, before + at, DD_CLASSES * sizeof *params) != 0;
    }
    CHECK(other_rows_moved == 0, "%d kernel rows of zero pixels changed", other_rows_moved);
    free(params), free(before), free(grads);
    dd_net_destroy(&net);
}

/* ---- determinism ---- */

enum { STEPS = 200, BATCH = 4 };

static uint64_t lcg;
static double urand(void) {
    lcg = lcg * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(lcg >> 11) * 0x1.0p-53;
}

/* STEPS steps of batch BATCH on random data (the same for every call) through 784 -> 32 -> 16
 * -> 10 with BN placed as BN (tanh), from dd_model_init's seed 7, on the CPU or (FUSED) the
 * fused engine's emulated body; returns the final parameters, moving statistics included, and
 * the initial ones in INITIAL. */
static float *train_random(float **initial, size_t *n_params, dd_bn_place bn, int fused) {
    dd_model_config cfg = dd_model_config_lab();
    cfg.n_hidden = 2;
    cfg.units[0] = 32;
    cfg.units[1] = 16;
    cfg.bn = bn;
    char err[DD_ERR_LEN];
    dd_net net;
    if (dd_net_create(&net, &cfg, BATCH, err) != 0) {
        CHECK(0, "dd_net_create: %s", err);
        return NULL;
    }
    const dd_layout *L = &net.layout;
    float *params = malloc(L->n_params * sizeof *params);
    float *grads = malloc(L->n_trainable * sizeof *grads);
    *initial = malloc(L->n_params * sizeof **initial);
    *n_params = L->n_params;
    CHECK(dd_model_init(&cfg, L, 7, params, err) == 0, "dd_model_init: %s", err);
    memcpy(*initial, params, L->n_params * sizeof *params);
    lcg = 1;
    for (int step = 0; step < STEPS; step++) {
        uint8_t labels[BATCH];
        for (int i = 0; i < BATCH * DD_IMAGE_PIXELS; i++) net.input[i] = (float)(2 * urand() - 1);
        for (int s = 0; s < BATCH; s++) labels[s] = (uint8_t)(urand() * DD_CLASSES);
        long correct = 0;
        dd_net_forward(&net, params, BATCH, 1);
        dd_net_loss(&net, labels, BATCH, &correct, 1);
        if (fused) {
            dd_net_backward_sgd(&net, params, grads, BATCH, 0.1f, NULL);
        } else {
            dd_net_backward(&net, params, grads, BATCH);
            dd_sgd_update(params, grads, (long)L->n_trainable, 0.1f);
        }
    }
    free(grads);
    dd_net_destroy(&net);
    return params;
}

/* Two identical runs end in bitwise identical parameters, which have moved and are finite. */
static void identical_runs_are_bitwise_identical(void) {
    float *init_a = NULL, *init_b = NULL;
    size_t n = 0;
    float *a = train_random(&init_a, &n, DD_BN_BEFORE, 0);
    float *b = train_random(&init_b, &n, DD_BN_BEFORE, 0);
    if (a && b) {
        CHECK(memcmp(a, b, n * sizeof *a) == 0, "two identical runs of %d steps differ", STEPS);
        size_t moved = 0, finite = 0;
        for (size_t i = 0; i < n; i++) moved += a[i] != init_a[i], finite += isfinite(a[i]) != 0;
        CHECK(finite == n, "%zu of %zu parameters are not finite", n - finite, n);
        CHECK(moved > n / 2, "only %zu of %zu parameters changed in %d steps", moved, n, STEPS);
    }
    free(a), free(b), free(init_a), free(init_b);
}

/* The CPU backend's fused backward + update is the reference's backward then update, bit for bit:
 * the same arithmetic on every element, only in another order. */
static void fused_update_is_backward_then_update(void) {
    const dd_bn_place places[] = {DD_BN_NONE, DD_BN_BEFORE, DD_BN_AFTER};
    for (int k = 0; k < 3; k++) {
        float *init_a = NULL, *init_b = NULL;
        size_t n = 0;
        float *a = train_random(&init_a, &n, places[k], 0);
        float *b = train_random(&init_b, &n, places[k], 1);
        CHECK(a && b && memcmp(a, b, n * sizeof *a) == 0,
              "BN %s: fused backward+SGD differs from backward then SGD", dd_bn_name(places[k]));
        free(a), free(b), free(init_a), free(init_b);
    }
}

int main(void) {
    sgd_update_rule();
    fused_update_is_backward_then_update();
    one_step_matches_hand_computation();
    identical_runs_are_bitwise_identical();
    return dd_test_finish("test_sgd");
}
