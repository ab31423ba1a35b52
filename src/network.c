/* The whole network on the CPU as lists of op calls; see network.h. */
#include "deepdigits/network.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "deepdigits/formulas.h"
#include "deepdigits/idx.h"
#include "deepdigits/ops.h"

size_t dd_net_floats(const dd_layout *L, int max_batch) {
    size_t B = (size_t)max_batch, total = B * DD_IMAGE_PIXELS + 2 * B * L->max_units;
    for (int l = 0; l < L->n_dense; l++) {
        size_t u = (size_t)L->dense[l].units;
        total += 2 * B * u + (L->dense[l].has_bn ? 2 * B * u + 2 * u : 0);
    }
    return total;
}

int dd_net_attach(dd_net *net, const dd_model_config *cfg, int max_batch, float *memory,
                  char *err) {
    memset(net, 0, sizeof *net);
    if (dd_layout_build(cfg, &net->layout, err) != 0) return -1;
    net->cfg = *cfg;
    net->max_batch = max_batch;
    net->memory = memory;
    const dd_layout *L = &net->layout;
    size_t B = (size_t)max_batch;
    float *p = memory;
    net->input = p, p += B * DD_IMAGE_PIXELS;
    net->grad_out = p, p += B * L->max_units;
    net->grad_in = p, p += B * L->max_units;
    for (int l = 0; l < L->n_dense; l++) {
        size_t u = (size_t)L->dense[l].units;
        dd_layer_acts *a = &net->acts[l];
        a->dense_out = p, p += B * u;
        a->act_out = p, p += B * u;
        if (!L->dense[l].has_bn) continue;
        a->bn_out = p, p += B * u;
        a->bn_xhat = p, p += B * u;
        a->bn_mean = p, p += u;
        a->bn_var = p, p += u;
    }
    return 0;
}

int dd_net_create(dd_net *net, const dd_model_config *cfg, int max_batch, char *err) {
    dd_layout layout;
    if (dd_layout_build(cfg, &layout, err) != 0) return -1;
    size_t total = dd_net_floats(&layout, max_batch);
    float *memory = malloc(total * sizeof(float));
    if (!memory) {
        snprintf(err, DD_ERR_LEN, "out of memory: %zu floats of activations for batch %d", total,
                 max_batch);
        return -1;
    }
    return dd_net_attach(net, cfg, max_batch, memory, err);
}

void dd_net_destroy(dd_net *net) {
    free(net->memory);
    net->memory = NULL;
}

dd_activation dd_layer_activation(const dd_model_config *cfg, int l) {
    return dd_dense_activation(l, cfg->n_hidden, cfg->activation);
}

static dd_activation layer_activation(const dd_net *net, int l) {
    return dd_layer_activation(&net->cfg, l);
}

void dd_probe_layer(dd_layer_probe *out, const float *preact, const float *act, size_t n,
                    dd_activation activation) {
    double sum = 0, sq = 0;
    size_t saturated = 0;
    for (size_t i = 0; i < n; i++) {
        sum += preact[i];
        saturated += (size_t)dd_is_saturated(activation, act[i]);
    }
    const double mean = n ? sum / (double)n : 0;
    for (size_t i = 0; i < n; i++) sq += (preact[i] - mean) * (preact[i] - mean);
    out->saturated = n ? (double)saturated / (double)n : 0;
    out->preact_mean = mean;
    out->preact_std = n ? sqrt(sq / (double)n) : 0;
}

/* 64 independent float partial sums, added up in double: one running sum would be a chain of n
 * dependent adds, which at batch 1 costs more than the whole training step. Each lane adds a
 * few hundred squares, well within float's precision for a diagnostic. */
double dd_sum_squares(const float *x, size_t n) {
    enum { LANES = 64 };
    float part[LANES] = {0};
    double s = 0;
    size_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int k = 0; k < LANES; k++) part[k] += x[i + k] * x[i + k];
    for (; i < n; i++) s += (double)x[i] * x[i];
    for (int k = 0; k < LANES; k++) s += part[k];
    return s;
}

const float *dd_net_layer_output(const dd_net *net, int l) {
    const dd_layer_acts *a = &net->acts[l];
    return net->layout.dense[l].has_bn && net->cfg.bn == DD_BN_AFTER ? a->bn_out : a->act_out;
}

const float *dd_net_layer_input(const dd_net *net, int l) {
    return l == 0 ? net->input : dd_net_layer_output(net, l - 1);
}

const float *dd_net_preactivation(const dd_net *net, int l) {
    const dd_layer_acts *a = &net->acts[l];
    return net->layout.dense[l].has_bn && net->cfg.bn == DD_BN_BEFORE ? a->bn_out : a->dense_out;
}

/* BN on (B, units): batch statistics in training (then the moving update), moving ones otherwise.
 */
static void batchnorm_forward(dd_net *net, float *params, int l, const float *inp, int B,
                              int training) {
    const dd_dense_layout *d = &net->layout.dense[l];
    dd_layer_acts *a = &net->acts[l];
    float *gamma = params + d->gamma, *beta = params + d->beta;
    float *moving_mean = params + d->moving_mean, *moving_var = params + d->moving_var;
    if (!training) {
        dd_batchnorm_forward_eval(a->bn_out, inp, gamma, beta, moving_mean, moving_var, B,
                                  d->units);
        return;
    }
    dd_batchnorm_forward_train(a->bn_out, a->bn_xhat, a->bn_mean, a->bn_var, inp, gamma, beta, B,
                               d->units);
    dd_batchnorm_update_moving(moving_mean, moving_var, a->bn_mean, a->bn_var, d->units);
}

void dd_net_layer_forward_after_dense(dd_net *net, float *params, int l, int B, int training) {
    const dd_dense_layout *d = &net->layout.dense[l];
    dd_layer_acts *a = &net->acts[l];
    const int n = B * d->units;
    if (d->has_bn && net->cfg.bn == DD_BN_BEFORE) {
        batchnorm_forward(net, params, l, a->dense_out, B, training);
        dd_activation_forward(a->act_out, a->bn_out, n, layer_activation(net, l));
    } else if (d->has_bn) {
        dd_activation_forward(a->act_out, a->dense_out, n, layer_activation(net, l));
        batchnorm_forward(net, params, l, a->act_out, B, training);
    } else {
        dd_activation_forward(a->act_out, a->dense_out, n, layer_activation(net, l));
    }
}

void dd_net_forward(dd_net *net, float *params, int B, int training) {
    for (int l = 0; l < net->layout.n_dense; l++) {
        const dd_dense_layout *d = &net->layout.dense[l];
        dd_dense_forward(net->acts[l].dense_out, dd_net_layer_input(net, l), params + d->kernel,
                         params + d->bias, B, d->fan_in, d->units);
        dd_net_layer_forward_after_dense(net, params, l, B, training);
    }
}

double dd_net_loss(dd_net *net, const uint8_t *labels, int B, long *correct, int with_grad) {
    const float *y = dd_net_layer_output(net, net->layout.n_dense - 1);
    return dd_mse_forward_backward(with_grad ? net->grad_out : NULL, correct, y, labels, B);
}

static void swap(float **a, float **b) {
    float *t = *a;
    *a = *b;
    *b = t;
}

void dd_net_layer_backward_to_dense(dd_net *net, const float *params, float *grads, int l, int B) {
    const dd_dense_layout *d = &net->layout.dense[l];
    const dd_layer_acts *a = &net->acts[l];
    if (d->has_bn && net->cfg.bn == DD_BN_AFTER) {
        dd_batchnorm_backward(net->grad_in, grads + d->gamma, grads + d->beta, net->grad_out,
                              a->bn_xhat, params + d->gamma, a->bn_var, B, d->units);
        swap(&net->grad_in, &net->grad_out);
    }
    dd_activation_backward(net->grad_out, net->grad_out, a->act_out, B * d->units,
                           layer_activation(net, l));
    if (d->has_bn && net->cfg.bn == DD_BN_BEFORE) {
        dd_batchnorm_backward(net->grad_in, grads + d->gamma, grads + d->beta, net->grad_out,
                              a->bn_xhat, params + d->gamma, a->bn_var, B, d->units);
        swap(&net->grad_in, &net->grad_out);
    }
}

dd_layer_view dd_net_layer_view(const dd_net *net, float *params, float *grads, int l) {
    const dd_dense_layout *d = &net->layout.dense[l];
    dd_layer_view v = {.acts = net->acts[l],
                       .units = d->units,
                       .act = layer_activation(net, l),
                       .bn = d->has_bn ? net->cfg.bn : DD_BN_NONE,
                       .bias = params + d->bias,
                       .dbias = grads + d->bias};
    if (d->has_bn) {
        v.gamma = params + d->gamma, v.beta = params + d->beta;
        v.moving_mean = params + d->moving_mean, v.moving_var = params + d->moving_var;
        v.dgamma = grads + d->gamma, v.dbeta = grads + d->beta;
    }
    return v;
}

/* Layer by layer in reverse; on entry to each layer grad_out holds dL/d(layer output), and the
 * layer leaves dL/d(its input) there for the next one down. */
void dd_net_backward(dd_net *net, const float *params, float *grads, int B) {
    for (int l = net->layout.n_dense - 1; l >= 0; l--) {
        const dd_dense_layout *d = &net->layout.dense[l];
        dd_net_layer_backward_to_dense(net, params, grads, l, B);
        dd_dense_backward(l > 0 ? net->grad_in : NULL, grads + d->kernel, grads + d->bias,
                          net->grad_out, dd_net_layer_input(net, l), params + d->kernel, B,
                          d->fan_in, d->units);
        swap(&net->grad_in, &net->grad_out);
    }
}

/* Kernel rows per block of the fused update: 64 rows of up to 64 floats stay in L1. */
#define FUSED_ROWS 64

/* The same arithmetic as dd_net_backward then dd_sgd_update, in another order: a layer's input
 * gradient is taken with its old kernel first; then its kernel gradient is made and applied
 * block by block while the block is still in L1, instead of being written out whole and read
 * back; then the layer's bias and BN parameters are updated. At batch 1 this saves a third of the
 * step's memory traffic. */
void dd_net_backward_sgd(dd_net *net, float *params, float *grads, int B, float lr,
                         double *grad_sq) {
    for (int l = net->layout.n_dense - 1; l >= 0; l--) {
        const dd_dense_layout *d = &net->layout.dense[l];
        const float *inp = dd_net_layer_input(net, l);
        const int I = d->fan_in, O = d->units;
        dd_net_layer_backward_to_dense(net, params, grads, l, B);
        dd_dense_backward_bias(grads + d->bias, net->grad_out, B, O);
        if (l > 0)
            dd_dense_backward_input(net->grad_in, net->grad_out, params + d->kernel, B, I, O);
        for (int first = 0; first < I; first += FUSED_ROWS) {
            const int rows = I - first < FUSED_ROWS ? I - first : FUSED_ROWS;
            const size_t at = d->kernel + (size_t)first * O, n = (size_t)rows * O;
            dd_dense_backward_kernel_rows(grads + d->kernel, net->grad_out, inp, B, I, O, first,
                                          rows);
            if (grad_sq) grad_sq[l] += dd_sum_squares(grads + at, n);
            dd_sgd_update(params + at, grads + at, (long)n, lr);
        }
        /* bias, then gamma and beta when there is BN: contiguous in the layout */
        const size_t end = d->has_bn ? d->beta + (size_t)O : d->bias + (size_t)O;
        dd_sgd_update(params + d->bias, grads + d->bias, (long)(end - d->bias), lr);
        swap(&net->grad_in, &net->grad_out);
    }
}
