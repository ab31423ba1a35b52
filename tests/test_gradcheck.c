/* Gradient checks: the library's float backward passes against central finite differences of an
 * independent double-precision forward written in this file, op by op and for whole networks.
 * The ref_* functions below are the specification (LAB.md, "Keras semantics to reproduce"):
 *   Dense   y = x·W + b, W (fan_in, units) row-major
 *   act     tanh, sigmoid 1/(1+e^-z), relu, linear
 *   BN      training: batch mean, biased batch variance, xhat = (x-mean)/sqrt(var+1e-3),
 *           y = gamma*xhat + beta; evaluation: the moving statistics instead
 *   MSE     mean over the 10 outputs of (y - onehot)^2, then mean over the batch
 *   network hidden Dense layers (BN before or after the activation, or none) -> Dense(10, sigmoid)
 * Single ops are checked through a random projection L = sum(r ⊙ out) with a fixed random r, so
 * that every output contributes with its own weight. Set DD_TEST_VERBOSE=1 to see how close each
 * tensor came to its tolerance. Also the network's plumbing: its workspace's buffers (disjoint,
 * inside dd_net_floats), its pre-activations and the layer views the CUDA kernels take. */
#include "deepdigits/idx.h"
#include "deepdigits/model.h"
#include "deepdigits/network.h"
#include "deepdigits/ops.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Gradient tolerance: |num - ana| <= GRAD_RTOL * max(|num|, |ana|) + GRAD_ATOL.
 * The numerical side is exact to ~1e-9: with h = 1e-6 relative the central difference's
 * truncation error is O(h^2) ~ 1e-12 and its rounding error eps_double*|L|/h ~ 1e-10. The
 * analytic side is float: a few ulps per op, accumulated over a handful of layers, stays below
 * ~1e-5 relative (the worst case is 1 - y^2 for a tanh near saturation, see
 * activation_derivative_matches_differences). Measured: the worst element of any tensor uses 3% of
 * its tolerance. 1e-3 leaves two orders of magnitude for that and is still far below what any real
 * mistake (a missing term or factor, a transposed index, a wrong sign) produces, which is O(1).
 * GRAD_ATOL absorbs float cancellation in elements that are sums of much larger terms (BN's dx, a
 * kernel entry summed over the batch): measured at ~1e-9 here, with gradients of 1e-5..1. */
#define GRAD_RTOL 1e-3
#define GRAD_ATOL 1e-7
/* A tensor whose largest gradient is below this could pass against an all-zero backward; at 10x
 * GRAD_ATOL an all-zero backward fails at least on that largest element. */
#define MIN_GRAD 1e-6
/* Forward outputs: float against double, a few ulps of error (relative ~1e-6 at worst after a
 * 784-term dot product); the absolute term covers outputs near 0 such as tanh(0). */
#define FWD_RTOL 1e-5
#define FWD_ATOL 1e-6

static int verbose;

/* ---- deterministic test data ---- */

static uint64_t rng_state = 0x243F6A8885A308D3ull;

/* splitmix64 */
static uint64_t next_u64(void) {
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double urand(double lo, double hi) {
    return lo + (hi - lo) * (double)(next_u64() >> 11) * 0x1.0p-53;
}

/* F[i] uniform in [lo, hi) as floats, and D[i] the very same values as doubles. */
static void fill_random(float *f, double *d, size_t n, double lo, double hi) {
    for (size_t i = 0; i < n; i++) {
        f[i] = (float)urand(lo, hi);
        d[i] = f[i];
    }
}

static void to_double(double *d, const float *f, size_t n) {
    for (size_t i = 0; i < n; i++) d[i] = f[i];
}

static void fill_nan(float *f, size_t n) { /* so that an element the op forgets to write fails */
    for (size_t i = 0; i < n; i++) f[i] = NAN;
}

/* ---- the specification: plain double-precision forwards ---- */

static void ref_dense(double *y, const double *x, const double *W, const double *b, int B, int I,
                      int O) {
    for (int s = 0; s < B; s++)
        for (int o = 0; o < O; o++) {
            double acc = b[o];
            for (int i = 0; i < I; i++) acc += x[s * I + i] * W[i * O + o];
            y[s * O + o] = acc;
        }
}

static double ref_activate(dd_activation a, double z) {
    switch (a) {
    case DD_ACT_TANH:
        return tanh(z);
    case DD_ACT_SIGMOID:
        return 1.0 / (1.0 + exp(-z));
    case DD_ACT_RELU:
        return z > 0 ? z : 0;
    case DD_ACT_LINEAR:
        break;
    }
    return z;
}

static void ref_activation(double *y, const double *z, int n, dd_activation a) {
    for (int i = 0; i < n; i++) y[i] = ref_activate(a, z[i]);
}

#define BN_EPS 1e-3

/* Training mode; Y may be X. The batch statistics go to MEAN and VAR. */
static void ref_bn_train(double *y, const double *x, const double *gamma, const double *beta, int B,
                         int C, double *mean, double *var) {
    for (int c = 0; c < C; c++) {
        double m = 0, v = 0;
        for (int s = 0; s < B; s++) m += x[s * C + c];
        m /= B;
        for (int s = 0; s < B; s++) v += (x[s * C + c] - m) * (x[s * C + c] - m);
        v /= B; /* biased */
        for (int s = 0; s < B; s++)
            y[s * C + c] = gamma[c] * (x[s * C + c] - m) / sqrt(v + BN_EPS) + beta[c];
        mean[c] = m;
        var[c] = v;
    }
}

/* Evaluation mode; Y may be X. */
static void ref_bn_eval(double *y, const double *x, const double *gamma, const double *beta,
                        const double *moving_mean, const double *moving_var, int B, int C) {
    for (int s = 0; s < B; s++)
        for (int c = 0; c < C; c++)
            y[s * C + c] =
                gamma[c] * (x[s * C + c] - moving_mean[c]) / sqrt(moving_var[c] + BN_EPS) + beta[c];
}

static double ref_mse(const double *y, const uint8_t *labels, int B) {
    double total = 0;
    for (int s = 0; s < B; s++) {
        double sq = 0;
        for (int k = 0; k < DD_CLASSES; k++) {
            double d = y[s * DD_CLASSES + k] - (k == labels[s] ? 1.0 : 0.0);
            sq += d * d;
        }
        total += sq / DD_CLASSES;
    }
    return total / B;
}

#define MAX_B     4
#define MAX_UNITS 16

/* Layer D's BN in place on V (B, units): batch statistics in training, with Keras's update
 * moving*0.99 + batch*0.01 of the moving statistics in PARAMS when UPDATE_MOVING; the moving
 * statistics in evaluation. */
static void ref_net_bn(double *v, const dd_dense_layout *d, double *params, int B, int training,
                       int update_moving) {
    const int C = d->units;
    double *gamma = params + d->gamma, *beta = params + d->beta;
    double *moving_mean = params + d->moving_mean, *moving_var = params + d->moving_var;
    if (!training) {
        ref_bn_eval(v, v, gamma, beta, moving_mean, moving_var, B, C);
        return;
    }
    double mean[MAX_UNITS], var[MAX_UNITS];
    ref_bn_train(v, v, gamma, beta, B, C, mean, var);
    for (int c = 0; c < C && update_moving; c++) {
        moving_mean[c] = moving_mean[c] * 0.99 + mean[c] * 0.01;
        moving_var[c] = moving_var[c] * 0.99 + var[c] * 0.01;
    }
}

/* The whole network on double PARAMS (laid out as LAYOUT says); returns the MSE against LABELS
 * and leaves the (B,10) output in OUT when it is not NULL. */
static double ref_net_forward(const dd_model_config *cfg, const dd_layout *L, double *params,
                              const double *x, const uint8_t *labels, int B, int training,
                              int update_moving, double *out) {
    static double z[MAX_B * MAX_UNITS], a[MAX_B * MAX_UNITS];
    for (int l = 0; l < L->n_dense; l++) {
        const dd_dense_layout *d = &L->dense[l];
        const int n = B * d->units;
        const dd_activation act = l < cfg->n_hidden ? cfg->activation : DD_ACT_SIGMOID;
        ref_dense(z, l == 0 ? x : a, params + d->kernel, params + d->bias, B, d->fan_in, d->units);
        if (d->has_bn && cfg->bn == DD_BN_BEFORE) {
            ref_net_bn(z, d, params, B, training, update_moving);
            ref_activation(a, z, n, act);
        } else {
            ref_activation(a, z, n, act);
            if (d->has_bn) ref_net_bn(a, d, params, B, training, update_moving);
        }
    }
    if (out) memcpy(out, a, (size_t)B * DD_CLASSES * sizeof *out);
    return ref_mse(a, labels, B);
}

/* ---- the comparisons ---- */

typedef double (*loss_fn)(void *ctx);

/* dL/dx[i] by central differences with a step of 1e-6 relative; x[i] is restored. */
static double numeric_grad(loss_fn loss, void *ctx, double *x, size_t i) {
    const double saved = x[i], h = 1e-6 * fmax(1.0, fabs(saved));
    const double up = saved + h, down = saved - h;
    x[i] = up;
    const double l_up = loss(ctx);
    x[i] = down;
    const double l_down = loss(ctx);
    x[i] = saved;
    return (l_up - l_down) / (up - down);
}

/* Compares the analytic gradient ANA of the N values at X with central differences of LOSS, at
 * the COUNT indices SAMPLE, or at every index when SAMPLE is NULL. */
static void check_grad(const char *what, loss_fn loss, void *ctx, double *x, const float *ana,
                       size_t n, const size_t *sample, size_t count) {
    double worst = -1, worst_num = 0, max_num = 0, max_ana = 0;
    size_t worst_i = 0;
    if (!sample) count = n;
    for (size_t k = 0; k < count; k++) {
        const size_t i = sample ? sample[k] : k;
        const double num = numeric_grad(loss, ctx, x, i), a = ana[i];
        double ratio = fabs(num - a) / (GRAD_RTOL * fmax(fabs(num), fabs(a)) + GRAD_ATOL);
        if (isnan(ratio)) ratio = INFINITY;
        if (ratio > worst) worst = ratio, worst_i = i, worst_num = num;
        max_num = fmax(max_num, fabs(num));
        max_ana = fmax(max_ana, fabs(a));
    }
    CHECK(worst <= 1.0, "%s: worst element [%zu]: numerical %.9g, analytic %.9g (%.3g x tolerance)",
          what, worst_i, worst_num, (double)ana[worst_i], worst);
    CHECK(max_num > MIN_GRAD && max_ana > MIN_GRAD,
          "%s: largest |gradient| numerical %.3g, analytic %.3g: too small to test anything", what,
          max_num, max_ana);
    if (verbose)
        printf("  %-40s %4zu values, max |grad| %.3g, worst error %.3g x tolerance\n", what, count,
               max_num, worst);
}

/* A gradient that is zero in exact arithmetic must come out as rounding residue, no more. */
static void check_zero_grad(const char *what, loss_fn loss, void *ctx, double *x, const float *ana,
                            size_t n) {
    double max_num = 0, max_ana = 0;
    for (size_t i = 0; i < n; i++) {
        max_num = fmax(max_num, fabs(numeric_grad(loss, ctx, x, i)));
        max_ana = fmax(max_ana, isnan(ana[i]) ? INFINITY : fabs(ana[i]));
    }
    CHECK(max_num <= GRAD_ATOL && max_ana <= GRAD_ATOL,
          "%s: should be 0, largest |gradient| numerical %.3g, analytic %.3g", what, max_num,
          max_ana);
    if (verbose) printf("  %-40s %4zu values, zero as it should be (%.3g)\n", what, n, max_ana);
}

/* A float forward output against the double specification. */
static void check_forward(const char *what, const float *got, const double *want, size_t n) {
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < n; i++)
        if (!dd_close(got[i], want[i], FWD_ATOL, FWD_RTOL) && bad++ == 0) first = i;
    CHECK(bad == 0, "%s: %zu of %zu values differ, first [%zu]: %.9g, expected %.9g", what, bad, n,
          first, (double)got[first], want[first]);
}

static double dot(const double *a, const double *b, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* ---- single ops ---- */

enum { DB = 3, DI = 7, DO = 5 };
typedef struct {
    double x[DB * DI], W[DI * DO], b[DO], r[DB * DO];
} dense_case;

static double dense_loss(void *ctx) {
    dense_case *c = ctx;
    double y[DB * DO];
    ref_dense(y, c->x, c->W, c->b, DB, DI, DO);
    return dot(c->r, y, DB * DO);
}

static void dense_gradients_match_differences(void) {
    dense_case c;
    float x[DB * DI], W[DI * DO], b[DO], r[DB * DO], y[DB * DO];
    fill_random(x, c.x, DB * DI, -1, 1);
    fill_random(W, c.W, DI * DO, -1, 1);
    fill_random(b, c.b, DO, -1, 1);
    fill_random(r, c.r, DB * DO, -1, 1);

    double want[DB * DO];
    ref_dense(want, c.x, c.W, c.b, DB, DI, DO);
    dd_dense_forward(y, x, W, b, DB, DI, DO);
    check_forward("dense forward", y, want, DB * DO);

    float dx[DB * DI], dW[DI * DO], db[DO];
    fill_nan(dx, DB * DI), fill_nan(dW, DI * DO), fill_nan(db, DO);
    dd_dense_backward(dx, dW, db, r, x, W, DB, DI, DO);
    check_grad("dense dL/dinputs", dense_loss, &c, c.x, dx, DB * DI, NULL, 0);
    check_grad("dense dL/dkernel", dense_loss, &c, c.W, dW, DI * DO, NULL, 0);
    check_grad("dense dL/dbias", dense_loss, &c, c.b, db, DO, NULL, 0);
}

enum { NACT = 16 };
typedef struct {
    dd_activation act;
    double z[NACT], r[NACT];
} activation_case;

static double activation_loss(void *ctx) {
    activation_case *c = ctx;
    double y[NACT];
    ref_activation(y, c->z, NACT, c->act);
    return dot(c->r, y, NACT);
}

/* Pre-activations in [-3, 3]: the derivative is taken from the float output (1 - y^2 for tanh),
 * which loses relative precision as eps_float / (1 - y^2) near saturation: ~1.2e-5 at |z| = 3,
 * inside GRAD_RTOL; at |z| = 6 it would be ~5e-3, an artifact of float rather than a bug. */
static void activation_derivative_matches_differences(dd_activation act) {
    activation_case c = {.act = act};
    float z[NACT], r[NACT], y[NACT], dz[NACT];
    for (int i = 0; i < NACT; i++) {
        do z[i] = (float)urand(-3, 3);
        while (act == DD_ACT_RELU && fabsf(z[i]) < 1e-3f); /* no differences across the kink */
        c.z[i] = z[i];
    }
    fill_random(r, c.r, NACT, -1, 1);

    char what[64];
    double want[NACT];
    ref_activation(want, c.z, NACT, act);
    dd_activation_forward(y, z, NACT, act);
    snprintf(what, sizeof what, "%s forward", dd_activation_name(act));
    check_forward(what, y, want, NACT);

    fill_nan(dz, NACT);
    dd_activation_backward(dz, r, y, NACT, act);
    snprintf(what, sizeof what, "%s dL/dinputs", dd_activation_name(act));
    check_grad(what, activation_loss, &c, c.z, dz, NACT, NULL, 0);
}

enum { BB = 4, BC = 3 };
typedef struct {
    double x[BB * BC], gamma[BC], beta[BC], r[BB * BC];
} bn_case;

static double bn_loss(void *ctx) {
    bn_case *c = ctx;
    double y[BB * BC], mean[BC], var[BC];
    ref_bn_train(y, c->x, c->gamma, c->beta, BB, BC, mean, var);
    return dot(c->r, y, BB * BC);
}

/* Random gamma and beta, not 1 and 0: with gamma = 1 a backward that forgets the factor gamma
 * would pass. */
static void batchnorm_gradients_match_differences(void) {
    bn_case c;
    float x[BB * BC], gamma[BC], beta[BC], r[BB * BC];
    fill_random(x, c.x, BB * BC, -2, 2);
    fill_random(gamma, c.gamma, BC, 0.5, 1.5);
    fill_random(beta, c.beta, BC, -0.5, 0.5);
    fill_random(r, c.r, BB * BC, -1, 1);

    double want[BB * BC], want_mean[BC], want_var[BC];
    float y[BB * BC], xhat[BB * BC], mean[BC], var[BC];
    ref_bn_train(want, c.x, c.gamma, c.beta, BB, BC, want_mean, want_var);
    dd_batchnorm_forward_train(y, xhat, mean, var, x, gamma, beta, BB, BC);
    check_forward("batchnorm forward (training)", y, want, BB * BC);
    check_forward("batchnorm batch mean", mean, want_mean, BC);
    check_forward("batchnorm batch variance", var, want_var, BC);

    float dx[BB * BC], dgamma[BC], dbeta[BC];
    fill_nan(dx, BB * BC), fill_nan(dgamma, BC), fill_nan(dbeta, BC);
    dd_batchnorm_backward(dx, dgamma, dbeta, r, xhat, gamma, var, BB, BC);
    check_grad("batchnorm dL/dinputs", bn_loss, &c, c.x, dx, BB * BC, NULL, 0);
    check_grad("batchnorm dL/dgamma", bn_loss, &c, c.gamma, dgamma, BC, NULL, 0);
    check_grad("batchnorm dL/dbeta", bn_loss, &c, c.beta, dbeta, BC, NULL, 0);
}

enum { MB = 3 };
typedef struct {
    double y[MB * DD_CLASSES];
    uint8_t labels[MB];
} mse_case;

static double mse_loss(void *ctx) {
    mse_case *c = ctx;
    return ref_mse(c->y, c->labels, MB);
}

static int argmax10(const float *y) {
    int best = 0;
    for (int k = 1; k < DD_CLASSES; k++)
        if (y[k] > y[best]) best = k;
    return best;
}

/* Sample 0 is labelled with its argmax (a hit), the others with another class (misses). */
static void mse_gradient_matches_differences(void) {
    mse_case c;
    float y[MB * DD_CLASSES], dy[MB * DD_CLASSES];
    fill_random(y, c.y, MB * DD_CLASSES, 0.05, 0.95);
    for (int s = 0; s < MB; s++) {
        const int top = argmax10(y + s * DD_CLASSES);
        c.labels[s] = (uint8_t)(s == 0 ? top : (top + 1 + s) % DD_CLASSES);
    }
    fill_nan(dy, MB * DD_CLASSES);
    long correct = 5; /* the call adds to it */
    const double sum = dd_mse_forward_backward(dy, &correct, y, c.labels, MB);
    const double want = mse_loss(&c) * MB;
    CHECK(dd_close(sum, want, 0, FWD_RTOL), "MSE: returned %.9g, expected the batch sum %.9g", sum,
          want);
    CHECK(correct == 6, "MSE: correct %ld after one hit added to 5", correct);
    check_grad("MSE dL/doutputs", mse_loss, &c, c.y, dy, MB * DD_CLASSES, NULL, 0);
}

/* Accuracy counts a sample as a hit when its label is the first of the largest outputs (numpy's
 * argmax, which Keras's accuracy uses). Ties do happen: a saturated sigmoid gives exactly 1.0f for
 * every z above ~17. Sample 0 ties classes 3 and 7, labelled 3 (a hit); sample 1 ties them,
 * labelled 7 (a miss); sample 2 is all 1.0f, labelled 0 (a hit); sample 3 all 1.0f, labelled 9 (a
 * miss). A rule that takes the last of the tied outputs scores 2 the other way round. */
static void accuracy_breaks_ties_by_first_class(void) {
    float y[4 * DD_CLASSES];
    for (int k = 0; k < DD_CLASSES; k++) {
        y[k] = y[DD_CLASSES + k] = 0.25f;
        y[2 * DD_CLASSES + k] = y[3 * DD_CLASSES + k] = 1.0f;
    }
    y[3] = y[7] = y[DD_CLASSES + 3] = y[DD_CLASSES + 7] = 0.75f;
    const uint8_t labels[4] = {3, 7, 0, 9};
    long correct = 0;
    dd_mse_forward_backward(NULL, &correct, y, labels, 4);
    CHECK(correct == 2, "ties: %ld hits, expected 2 (samples 0 and 2, the first tied class)",
          correct);
    for (int s = 0; s < 4; s++) {
        long hit = 0;
        dd_mse_forward_backward(NULL, &hit, y + s * DD_CLASSES, labels + s, 1);
        CHECK(hit == (s % 2 == 0), "ties: sample %d (label %d) counted %ld, expected %d", s,
              labels[s], hit, s % 2 == 0);
    }
}

/* ---- whole networks ---- */

enum { NET_B = 4, NSAMPLE = 200 };

typedef struct {
    const dd_model_config *cfg;
    const dd_layout *layout;
    double *params; /* n_params doubles */
    double x[NET_B * DD_IMAGE_PIXELS];
    uint8_t labels[NET_B];
} net_case;

static double net_loss(void *ctx) {
    net_case *c = ctx;
    return ref_net_forward(c->cfg, c->layout, c->params, c->x, c->labels, NET_B, 1, 0, NULL);
}

static dd_model_config small_config(dd_activation act, dd_bn_place bn) {
    dd_model_config cfg = dd_model_config_lab();
    cfg.n_hidden = 2;
    cfg.units[0] = 6;
    cfg.units[1] = 5;
    cfg.activation = act;
    cfg.bn = bn;
    return cfg;
}

static void fill_float(float *p, size_t n, double lo, double hi) {
    for (size_t i = 0; i < n; i++) p[i] = (float)urand(lo, hi);
}

/* Parameters from dd_model_init, then random biases, gammas and betas: at their initial 0, 1 and
 * 0 a backward that drops a bias or a factor gamma would go unnoticed. */
static float *net_params(const dd_model_config *cfg, const dd_layout *L) {
    char err[DD_ERR_LEN];
    float *p = malloc(L->n_params * sizeof *p);
    int rc = dd_model_init(cfg, L, 11, p, err);
    CHECK(rc == 0, "dd_model_init: %s", err);
    for (int l = 0; l < L->n_dense; l++) {
        const dd_dense_layout *d = &L->dense[l];
        fill_float(p + d->bias, d->units, -0.2, 0.2);
        if (!d->has_bn) continue;
        fill_float(p + d->gamma, d->units, 0.5, 1.5);
        fill_float(p + d->beta, d->units, -0.3, 0.3);
    }
    return p;
}

/* Random inputs in [-1, 1] and labels, into the library's net->input and the double case. */
static void net_data(dd_net *net, net_case *c) {
    fill_random(net->input, c->x, NET_B * DD_IMAGE_PIXELS, -1, 1);
    for (int s = 0; s < NET_B; s++) c->labels[s] = (uint8_t)(next_u64() % DD_CLASSES);
}

/* The library's network of CFG for NET_B samples into NET; -1 (a failed check) if it cannot be. */
static int open_net(const char *name, const dd_model_config *cfg, dd_net *net) {
    char err[DD_ERR_LEN];
    if (dd_net_create(net, cfg, NET_B, err) == 0) return 0;
    CHECK(0, "%s: dd_net_create: %s", name, err);
    return -1;
}

/* dd_net_backward's gradients of every trainable tensor against differences of the double
 * network: all of them, except a random sample of the first layer's 784*6 kernel entries. The
 * training forward also updates the moving statistics, so the library runs on a copy. */
static void network_gradients_match_differences(const char *name, dd_activation act,
                                                dd_bn_place bn) {
    const dd_model_config cfg = small_config(act, bn);
    char what[96];
    dd_net net;
    if (open_net(name, &cfg, &net) != 0) return;
    const dd_layout *L = &net.layout;
    CHECK(L->max_units <= MAX_UNITS, "%s: widen MAX_UNITS to %d", name, L->max_units);
    net_case c = {.cfg = &cfg, .layout = L};
    float *params = net_params(&cfg, L), *work = malloc(L->n_params * sizeof *work);
    float *grads = malloc(L->n_trainable * sizeof *grads);
    c.params = malloc(L->n_params * sizeof *c.params);
    net_data(&net, &c);
    to_double(c.params, params, L->n_params);

    memcpy(work, params, L->n_params * sizeof *work);
    fill_nan(grads, L->n_trainable);
    long correct = 0;
    dd_net_forward(&net, work, NET_B, 1);
    const double loss = dd_net_loss(&net, c.labels, NET_B, &correct, 1);
    dd_net_backward(&net, work, grads, NET_B);

    double out[NET_B * DD_CLASSES];
    const double want = ref_net_forward(&cfg, L, c.params, c.x, c.labels, NET_B, 1, 0, out);
    snprintf(what, sizeof what, "%s: training forward", name);
    check_forward(what, dd_net_layer_output(&net, L->n_dense - 1), out, NET_B * DD_CLASSES);
    CHECK(dd_close(loss / NET_B, want, 0, FWD_RTOL), "%s: loss %.9g, expected %.9g", name,
          loss / NET_B, want);

    size_t sample[NSAMPLE];
    const size_t first_kernel = (size_t)L->dense[0].fan_in * L->dense[0].units;
    for (int k = 0; k < NSAMPLE; k++) sample[k] = next_u64() % first_kernel;
    for (int l = 0; l < L->n_dense; l++) {
        const dd_dense_layout *d = &L->dense[l];
        const size_t n_kernel = (size_t)d->fan_in * d->units;
        snprintf(what, sizeof what, "%s: dense_%d kernel", name, l + 1);
        check_grad(what, net_loss, &c, c.params + d->kernel, grads + d->kernel, n_kernel,
                   l == 0 ? sample : NULL, NSAMPLE);
        snprintf(what, sizeof what, "%s: dense_%d bias", name, l + 1);
        /* A bias that BN follows cannot change the loss: the batch mean absorbs it. */
        if (d->has_bn && cfg.bn == DD_BN_BEFORE)
            check_zero_grad(what, net_loss, &c, c.params + d->bias, grads + d->bias, d->units);
        else
            check_grad(what, net_loss, &c, c.params + d->bias, grads + d->bias, d->units, NULL, 0);
        if (!d->has_bn) continue;
        snprintf(what, sizeof what, "%s: BN %d gamma", name, l + 1);
        check_grad(what, net_loss, &c, c.params + d->gamma, grads + d->gamma, d->units, NULL, 0);
        snprintf(what, sizeof what, "%s: BN %d beta", name, l + 1);
        check_grad(what, net_loss, &c, c.params + d->beta, grads + d->beta, d->units, NULL, 0);
    }
    free(params), free(work), free(grads), free(c.params);
    dd_net_destroy(&net);
}

/* Moving statistics away from their initial 0 and 1, so that using them differs visibly from
 * using the batch statistics or none. */
static void set_moving_statistics(const dd_layout *L, float *params) {
    for (int l = 0; l < L->n_dense; l++) {
        const dd_dense_layout *d = &L->dense[l];
        if (!d->has_bn) continue;
        fill_float(params + d->moving_mean, d->units, -0.5, 0.5);
        fill_float(params + d->moving_var, d->units, 0.5, 2.0);
    }
}

/* Evaluation mode normalizes with the moving statistics and changes no parameter; training mode
 * applies Keras's moving update (moving*0.99 + batch*0.01) and changes nothing else. */
static void training_and_evaluation_modes(const char *name, dd_activation act, dd_bn_place bn) {
    const dd_model_config cfg = small_config(act, bn);
    char what[96];
    dd_net net;
    if (open_net(name, &cfg, &net) != 0) return;
    const dd_layout *L = &net.layout;
    net_case c = {.cfg = &cfg, .layout = L};
    float *params = net_params(&cfg, L), *before = malloc(L->n_params * sizeof *before);
    double *want = malloc(L->n_params * sizeof *want), out[NET_B * DD_CLASSES];
    set_moving_statistics(L, params);
    net_data(&net, &c);
    memcpy(before, params, L->n_params * sizeof *before);

    to_double(want, params, L->n_params);
    dd_net_forward(&net, params, NET_B, 0);
    ref_net_forward(&cfg, L, want, c.x, c.labels, NET_B, 0, 0, out);
    snprintf(what, sizeof what, "%s: evaluation forward", name);
    check_forward(what, dd_net_layer_output(&net, L->n_dense - 1), out, NET_B * DD_CLASSES);
    CHECK(memcmp(params, before, L->n_params * sizeof *params) == 0,
          "%s: evaluation forward changed the parameters", name);

    dd_net_forward(&net, params, NET_B, 1);
    ref_net_forward(&cfg, L, want, c.x, c.labels, NET_B, 1, 1, NULL);
    snprintf(what, sizeof what, "%s: parameters after a training forward", name);
    check_forward(what, params, want, L->n_params);
    const size_t moving = L->dense[0].moving_mean;
    CHECK(memcmp(params, before, moving * sizeof *params) == 0 &&
              memcmp(params + moving, before + moving, (L->n_params - moving) * sizeof *params) !=
                  0,
          "%s: a training forward must change the moving statistics and nothing else", name);
    free(params), free(before), free(want);
    dd_net_destroy(&net);
}

/* ---- the workspace and the layer views ---- */

typedef struct {
    const char *name;
    const float *at;
    size_t n;
} span;

/* Every buffer dd_net_attach carves lies inside the dd_net_floats it was given and overlaps no
 * other one: the backward scratch is as wide as the widest layer (the output's 10, here wider
 * than the first layer's 6), and BN's buffers exist only where BN does. */
static void workspace_buffers_are_disjoint(const char *name, dd_bn_place bn) {
    const dd_model_config cfg = small_config(DD_ACT_TANH, bn);
    dd_net net;
    if (open_net(name, &cfg, &net) != 0) return;
    const dd_layout *L = &net.layout;
    const size_t B = NET_B, floats = dd_net_floats(L, NET_B);
    span s[3 + 6 * DD_MAX_DENSE] = {{"input", net.input, B * DD_IMAGE_PIXELS},
                                    {"grad_out", net.grad_out, B * L->max_units},
                                    {"grad_in", net.grad_in, B * L->max_units}};
    int n = 3;
    for (int l = 0; l < L->n_dense; l++) {
        const dd_layer_acts *a = &net.acts[l];
        const size_t u = (size_t)L->dense[l].units;
        s[n++] = (span){"dense_out", a->dense_out, B * u};
        s[n++] = (span){"act_out", a->act_out, B * u};
        if (!L->dense[l].has_bn) continue;
        s[n++] = (span){"bn_out", a->bn_out, B * u};
        s[n++] = (span){"bn_xhat", a->bn_xhat, B * u};
        s[n++] = (span){"bn_mean", a->bn_mean, u};
        s[n++] = (span){"bn_var", a->bn_var, u};
    }
    for (int i = 0; i < n; i++) {
        CHECK(s[i].at >= net.memory && s[i].at + s[i].n <= net.memory + floats,
              "%s: %s [%td, %td) outside the workspace's %zu floats", name, s[i].name,
              s[i].at - net.memory, s[i].at + s[i].n - net.memory, floats);
        for (int j = 0; j < i; j++)
            CHECK(s[i].at + s[i].n <= s[j].at || s[j].at + s[j].n <= s[i].at, "%s: %s overlaps %s",
                  name, s[i].name, s[j].name);
    }
    dd_net_destroy(&net);
}

/* A configuration dd_layout_build refuses is refused by dd_net_attach too, with its reason. */
static void attach_refuses_a_bad_configuration(void) {
    dd_model_config cfg = small_config(DD_ACT_TANH, DD_BN_NONE);
    cfg.units[1] = 0;
    static float memory[16];
    char err[DD_ERR_LEN] = "";
    dd_net net;
    CHECK(dd_net_attach(&net, &cfg, NET_B, memory, err) != 0 && strstr(err, "0 units"),
          "a hidden layer of 0 units: attach returned 0 or said '%s'", err);
}

/* dd_net_preactivation is what each layer's activation was applied to: the activation of it
 * gives the layer's act_out again, to the bit. With BN before the activation that is BN's
 * output, otherwise X·W + b; the two differ, so the wrong one cannot pass. */
static void preactivation_is_the_activation_input(const char *name, dd_bn_place bn) {
    const dd_model_config cfg = small_config(DD_ACT_TANH, bn);
    dd_net net;
    if (open_net(name, &cfg, &net) != 0) return;
    const dd_layout *L = &net.layout;
    net_case c = {.cfg = &cfg, .layout = L};
    float *params = net_params(&cfg, L), again[NET_B * MAX_UNITS];
    net_data(&net, &c);
    dd_net_forward(&net, params, NET_B, 1);
    for (int l = 0; l < L->n_dense; l++) {
        const int n = NET_B * L->dense[l].units;
        dd_activation_forward(again, dd_net_preactivation(&net, l), n,
                              dd_layer_activation(&cfg, l));
        CHECK(memcmp(again, net.acts[l].act_out, (size_t)n * sizeof *again) == 0,
              "%s: layer %d's activation of its pre-activation is not its act_out", name, l + 1);
    }
    free(params);
    dd_net_destroy(&net);
}

/* The view the CUDA layer kernels take of each layer: its buffers and width, its activation,
 * its BN placement (none for the output layer, which has no BN even when the hidden ones do)
 * and its tensors at the layout's offsets; no BN tensors where there is no BN. */
static void layer_views_follow_the_layout(const char *name, dd_bn_place bn) {
    const dd_model_config cfg = small_config(DD_ACT_SIGMOID, bn);
    dd_net net;
    if (open_net(name, &cfg, &net) != 0) return;
    const dd_layout *L = &net.layout;
    float *params = calloc(L->n_params, sizeof *params),
          *grads = calloc(L->n_trainable, sizeof *grads);
    for (int l = 0; l < L->n_dense; l++) {
        const dd_dense_layout *d = &L->dense[l];
        const dd_layer_view v = dd_net_layer_view(&net, params, grads, l);
        CHECK(v.acts.dense_out == net.acts[l].dense_out && v.acts.act_out == net.acts[l].act_out &&
                  v.units == d->units && v.act == dd_layer_activation(&cfg, l),
              "%s: layer %d's view: buffers, width or activation", name, l + 1);
        CHECK(v.bn == (d->has_bn ? bn : DD_BN_NONE), "%s: layer %d's view has BN %s", name, l + 1,
              dd_bn_name(v.bn));
        CHECK(v.bias == params + d->bias && v.dbias == grads + d->bias, "%s: layer %d's bias", name,
              l + 1);
        if (d->has_bn)
            CHECK(v.gamma == params + d->gamma && v.beta == params + d->beta &&
                      v.moving_mean == params + d->moving_mean &&
                      v.moving_var == params + d->moving_var && v.dgamma == grads + d->gamma &&
                      v.dbeta == grads + d->beta,
                  "%s: layer %d's BN tensors", name, l + 1);
        else
            CHECK(!v.gamma && !v.beta && !v.moving_mean && !v.moving_var && !v.dgamma && !v.dbeta,
                  "%s: layer %d has no BN, yet its view has BN tensors", name, l + 1);
    }
    free(params), free(grads);
    dd_net_destroy(&net);
}

int main(void) {
    verbose = getenv("DD_TEST_VERBOSE") != NULL;
    dense_gradients_match_differences();
    activation_derivative_matches_differences(DD_ACT_TANH);
    activation_derivative_matches_differences(DD_ACT_SIGMOID);
    activation_derivative_matches_differences(DD_ACT_RELU);
    activation_derivative_matches_differences(DD_ACT_LINEAR);
    batchnorm_gradients_match_differences();
    mse_gradient_matches_differences();
    accuracy_breaks_ties_by_first_class();
    network_gradients_match_differences("tanh, no BN", DD_ACT_TANH, DD_BN_NONE);
    network_gradients_match_differences("sigmoid, BN before", DD_ACT_SIGMOID, DD_BN_BEFORE);
    network_gradients_match_differences("tanh, BN after", DD_ACT_TANH, DD_BN_AFTER);
    training_and_evaluation_modes("sigmoid, BN before", DD_ACT_SIGMOID, DD_BN_BEFORE);
    training_and_evaluation_modes("tanh, BN after", DD_ACT_TANH, DD_BN_AFTER);
    attach_refuses_a_bad_configuration();
    const dd_bn_place places[] = {DD_BN_NONE, DD_BN_BEFORE, DD_BN_AFTER};
    for (int k = 0; k < 3; k++) {
        workspace_buffers_are_disjoint(dd_bn_name(places[k]), places[k]);
        preactivation_is_the_activation_input(dd_bn_name(places[k]), places[k]);
        layer_views_follow_the_layout(dd_bn_name(places[k]), places[k]);
    }
    return dd_test_finish("test_gradcheck");
}
