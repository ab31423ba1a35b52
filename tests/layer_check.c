/* The layer kernels' check; see layer_check.h. */
#include "layer_check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deepdigits/formulas.h"
#include "deepdigits/ops.h"
#include "gputest.h"
#include "layer.h"
#include "testutil.h"

typedef struct {
    const char *shape;
    double tol;
} comparison;

/* Compares N floats of device memory at GOT with the CPU's WANT, under "layer WHAT", relative to
 * max(||WANT||, SCALE) (check_near). */
static void compare_near(const comparison *c, const char *what, const float *got, const float *want,
                         size_t n, double scale) {
    char name[160];
    float *host = host_floats(got, n);
    snprintf(name, sizeof name, "layer %s %s", what, c->shape);
    check_near(name, host, want, n, c->tol, scale);
    free(host);
}

static void compare(const comparison *c, const char *what, const float *got, const float *want,
                    size_t n) {
    compare_near(c, what, got, want, n, 0);
}

/* The terms BN's backward pass adds up: dx = gamma*inv_std/B * (B*dy - sum(dy) -
 * xhat*sum(dy*xhat)), whose first term is gamma * inv_std * dy, for DY the gradient that reaches
 * the layer; into T (B,C). At small batches dx cancels to far less (at B=2, with xhat =
 * +-sqrt(var / (var + eps)), to about eps/var of it), so its rounding, and that of the bias
 * gradient summed from it, is measured against these. */
static void bn_terms(float *t, const float *dy, const dd_layer_acts *a, const float *gamma, int B,
                     int C) {
    for (int b = 0; b < B; b++)
        for (int c = 0; c < C; c++)
            t[b * C + c] = gamma[c] * dd_bn_inv_std(a->bn_var[c]) * dy[b * C + c];
}

/* The size of the terms of column sums of X (B,C): for the bias gradient, with BN before the
 * activation, the sums are 0 in exact arithmetic (BN's output gradient has zero mean), so what
 * both sides compute is rounding, to be measured against the terms. */
static double column_terms(const float *x, int B, int C) {
    double sq = 0;
    for (int c = 0; c < C; c++) {
        double col = 0;
        for (int b = 0; b < B; b++) col += fabs(x[b * C + c]);
        sq += col * col;
    }
    return sqrt(sq);
}

void check_layer(dd_gpu *gpu, int B, int C, dd_activation act, dd_bn_place bn, unsigned *seed,
                 double tol) {
    char err[DD_ERR_LEN], shape[96];
    dd_model_config cfg = {.n_hidden = 1, .units = {C}, .activation = act, .bn = bn};
    dd_net cpu, run;
    if (dd_net_create(&cpu, &cfg, B, err) != 0) {
        CHECK(0, "%s", err);
        return;
    }
    const dd_layout *L = &cpu.layout;
    const dd_dense_layout *d = &L->dense[0];
    const size_t n = (size_t)B * C, floats = dd_net_floats(L, B);
    float *params = malloc(L->n_params * sizeof *params), *grads = malloc(L->n_trainable * 4);
    float *raw = malloc(n * 4), *dy = malloc(n * 4);
    fill_uniform(params, L->n_params, 0.5f, 2, seed); /* gammas and variances > 0 */
    fill_uniform(params + d->bias, C, -1, 1, seed);
    if (d->has_bn) {
        fill_uniform(params + d->beta, C, -1, 1, seed);
        fill_uniform(params + d->moving_mean, C, -1, 1, seed);
    }
    fill_uniform(raw, n, -3, 3, seed);
    fill_uniform(dy, n, -1, 1, seed);
    float *r_params = dev_nan(L->n_params), *r_grads = dev_nan(L->n_trainable);
    float *r_memory = dev_nan(floats);
    dev_put(r_params, params, L->n_params);
    CHECK(dd_net_attach(&run, &cfg, B, r_memory, err) == 0, "%s", err);
    const dd_layer_acts *c = &cpu.acts[0], *g = &run.acts[0];
    const dd_layer_view v = dd_net_layer_view(&run, r_params, r_grads, 0);
    const comparison cmp = {shape, tol};

    for (int training = 1; training >= 0; training--) {
        snprintf(shape, sizeof shape, "%s bn=%s %s B=%d C=%d", dd_activation_name(act),
                 dd_bn_name(bn), training ? "training" : "evaluation", B, C);
        for (size_t k = 0; k < n; k++) c->dense_out[k] = raw[k] + params[d->bias + k % C];
        dd_net_layer_forward_after_dense(&cpu, params, 0, B, training);
        dev_poison(r_memory, floats);
        dev_put(g->dense_out, raw, n);
        CHECK(dd_layer_forward_gpu(&v, B, training, gpu) == 0, "%s", gpu->err);
        compare(&cmp, "X·W + b", g->dense_out, c->dense_out, n);
        compare(&cmp, "activation", g->act_out, c->act_out, n);
        if (d->has_bn) compare(&cmp, "BN output", g->bn_out, c->bn_out, n);
        if (!training) break;
        if (d->has_bn) {
            compare(&cmp, "BN xhat", g->bn_xhat, c->bn_xhat, n);
            compare(&cmp, "batch mean", g->bn_mean, c->bn_mean, C);
            compare(&cmp, "batch var", g->bn_var, c->bn_var, C);
            compare(&cmp, "moving mean", r_params + d->moving_mean, params + d->moving_mean, C);
            compare(&cmp, "moving var", r_params + d->moving_var, params + d->moving_var, C);
        }
        memcpy(cpu.grad_out, dy, n * 4);
        dd_net_layer_backward_to_dense(&cpu, params, grads, 0, B);
        dd_dense_backward_bias(grads + d->bias, cpu.grad_out, B, C);
        dev_put(run.grad_out, dy, n);
        CHECK(dd_layer_backward_gpu(&v, run.grad_out, B, gpu) == 0, "%s", gpu->err);
        /* Without BN dL/dz is a product, and dbias's terms are dL/dz itself; with BN both are
         * measured against BN's terms. */
        float *terms = malloc(n * sizeof *terms);
        if (d->has_bn)
            bn_terms(terms, dy, c, params + d->gamma, B, C);
        else
            memcpy(terms, cpu.grad_out, n * sizeof *terms);
        compare_near(&cmp, "dL/dz", run.grad_out, cpu.grad_out, n,
                     d->has_bn ? dd_norm(terms, n) : 0);
        compare_near(&cmp, "dbias", r_grads + d->bias, grads + d->bias, C,
                     column_terms(terms, B, C));
        free(terms);
        if (d->has_bn) {
            /* Sums of dy*xhat and dy down a column, which cancel too (at B=2 xhat is +-a, so
             * dgamma is a*(dy1 - dy2)): measured against their terms, with dy the gradient that
             * reaches the layer (what reaches BN is at most that: every derivative here <= 1). */
            float *dy_xhat = malloc(n * sizeof *dy_xhat);
            for (size_t k = 0; k < n; k++) dy_xhat[k] = dy[k] * c->bn_xhat[k];
            compare_near(&cmp, "dgamma", r_grads + d->gamma, grads + d->gamma, C,
                         column_terms(dy_xhat, B, C));
            compare_near(&cmp, "dbeta", r_grads + d->beta, grads + d->beta, C,
                         column_terms(dy, B, C));
            free(dy_xhat);
        }
    }
    dd_net_destroy(&cpu);
    free(params), free(grads), free(raw), free(dy);
    cudaFree(r_params), cudaFree(r_grads), cudaFree(r_memory);
}
