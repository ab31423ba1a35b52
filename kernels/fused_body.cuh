// The fused engine's body: every SGD step of a launch, by one thread block (kernels/fused.h says
// how the work is laid out). Compiled for the GPU by fused.cu and for the host emulator by
// fused_emulate.cu, so it may use only simt.cuh's primitives. The arithmetic of each step is the
// reference's (src/network.c), with the formulas of formulas.h; what differs is only the order
// of some sums, and that a batch's first-kernel update is applied one sample at a time.
#ifndef DD_FUSED_BODY_CUH
#define DD_FUSED_BODY_CUH

#include "deepdigits/formulas.h"
#include "fused.h"
#include "kernels.h"
#include "simt.cuh"

// One block's view of a launch: the plan, the run, and where each buffer is.
struct fused_ctx {
    const dd_fused_plan *p;
    const dd_fused_run *r;
    float *rest; // params[p->rest ..]: a shared copy, or the global parameters themselves
    float *acts; // activation buffers (plan offsets)
    float *table, *partial, *loss;
    int *rows, *labels, *hits; // this step's batch
    int *next_rows, *next_labels;
    double *red;
    int tid, lane, warp;
};

DD_SIMT_FN float *param(const fused_ctx &c, int offset) {
    return c.rest + (offset - c.p->rest);
}

DD_SIMT_FN int has_bn(const dd_fused_plan &p, int l) {
    return p.bn != DD_BN_NONE && l < p.n_dense - 1;
}

DD_SIMT_FN dd_activation activation(const dd_fused_plan &p, int l) {
    return l < p.n_dense - 1 ? (dd_activation)p.activation : DD_ACT_SIGMOID;
}

// Barriers set a step's time at small batches, so elementwise work rides along with the phase
// before it where nothing else needs that phase's result first: a layer without BN activates
// each output as soon as it is computed (the output layer also takes the loss's gradient
// there), and dL/d(activation output) is multiplied by the activation's derivative by whoever
// produces it (the loss, or the layer above's input gradient) unless BN comes after the
// activation and must be undone first. Same arithmetic.
DD_SIMT_FN int activates_in_place(const dd_fused_plan &p, int l) {
    return !has_bn(p, l);
}
DD_SIMT_FN int grad_arrives_activated(const dd_fused_plan &p, int l) {
    return !(has_bn(p, l) && p.bn == DD_BN_AFTER);
}

// What layer L hands to the next one (dd_net_layer_output's rule).
DD_SIMT_FN float *layer_output(const fused_ctx &c, int l) {
    const dd_fused_plan &p = *c.p;
    return c.acts + (has_bn(p, l) && p.bn == DD_BN_AFTER ? p.bn_out[l] : p.act[l]);
}

// The standardized pixels this thread owns of training image ROW (0 past the image's end).
template <int PIX> DD_SIMT_FN void load_pixels(const fused_ctx &c, int row, float (&x)[PIX]) {
    const uint8_t *image = c.r->pixels + (size_t)row * c.p->inputs;
    DD_UNROLL
    for (int q = 0; q < PIX; q++) {
        const int i = c.tid + q * c.p->threads;
        x[q] = i < c.p->inputs ? c.table[image[i]] : 0.0f;
    }
}

// One round of the butterfly below: lanes with bit O set keep values O..2O-1, the others 0..O-1,
// each adding its partner's copy. O is a template argument so that every index is a constant and
// V stays in registers (a loop over O left it in local memory).
template <int O> DD_SIMT_FN void butterfly_round(float (&v)[16], int lane) {
    const bool upper = lane & O;
    DD_UNROLL
    for (int k = 0; k < O; k++)
        v[k] = (upper ? v[k + O] : v[k]) + simt_shfl_xor(upper ? v[k] : v[k + O], O);
}

// The warp's sums of this thread's products x·w for the 32 first-layer units of group G, by a
// transposing butterfly: at each of five rounds a lane keeps half of its values and adds its
// partner's copy of that half, so lane l ends with unit G*32+l's sum after 16+8+4+2+1 = 31
// shuffles (a plain reduction per unit would take 32*5).
template <int HMAX, int PIX>
DD_SIMT_FN float warp_unit_sums(int lane, const float (&w)[PIX][HMAX], const float (&x)[PIX],
                                int g) {
    float v[16];
    const bool upper16 = lane & 16;
    DD_UNROLL
    for (int k = 0; k < 16; k++) {
        float lo = 0.0f, hi = 0.0f;
        DD_UNROLL
        for (int q = 0; q < PIX; q++) {
            lo += x[q] * w[q][g * 32 + k];
            hi += x[q] * w[q][g * 32 + k + 16];
        }
        v[k] = (upper16 ? hi : lo) + simt_shfl_xor(upper16 ? lo : hi, 16);
    }
    butterfly_round<8>(v, lane);
    butterfly_round<4>(v, lane);
    butterfly_round<2>(v, lane);
    butterfly_round<1>(v, lane);
    return v[0];
}

// z0 (B, u) = X·W0 + b0 for the batch's rows. Rounds of CHUNK samples: each warp leaves its sums
// in shared memory, then one thread per (sample, unit) adds up the warps. Two buffers alternate,
// so a round's writes never meet the previous round's reads and one barrier a round suffices.
template <int HMAX, int PIX>
DD_SIMT_FN void first_layer_forward(const fused_ctx &c, const float (&w)[PIX][HMAX], int B) {
    const dd_fused_plan &p = *c.p;
    const int u = p.units[0], round_floats = DD_FUSED_CHUNK * p.warps * HMAX;
    float *z = c.acts + p.z[0], *act = c.acts + p.act[0];
    const float *bias = param(c, p.bias[0]);
    const int activate = activates_in_place(p, 0);
    const dd_activation a = activation(p, 0);
    for (int first = 0, round = 0; first < B; first += DD_FUSED_CHUNK, round++) {
        const int n = B - first < DD_FUSED_CHUNK ? B - first : DD_FUSED_CHUNK;
        float *buf = c.partial + (round & 1) * round_floats;
        for (int s = 0; s < n; s++) {
            float x[PIX];
            load_pixels<PIX>(c, c.rows[first + s], x);
            DD_UNROLL
            for (int g = 0; g < HMAX / 32; g++)
                buf[(s * p.warps + c.warp) * HMAX + g * 32 + c.lane] =
                    warp_unit_sums<HMAX, PIX>(c.lane, w, x, g);
        }
        simt_sync();
        for (int t = c.tid; t < n * u; t += p.threads) {
            const int s = t / u, j = t % u;
            float sum = 0.0f;
            for (int k = 0; k < p.warps; k++) sum += buf[(s * p.warps + k) * HMAX + j];
            const int at = (first + s) * u + j;
            z[at] = sum + bias[j];
            if (activate) act[at] = dd_activate(a, z[at]);
        }
    }
    simt_sync();
}

// z (B, u) = in · W + b for a layer after the first, one thread per output.
DD_SIMT_FN void dense_forward(const fused_ctx &c, int l, int B) {
    const dd_fused_plan &p = *c.p;
    const int I = p.fan_in[l], u = p.units[l];
    const float *in = layer_output(c, l - 1), *W = param(c, p.kernel[l]), *b = param(c, p.bias[l]);
    float *z = c.acts + p.z[l], *act = c.acts + p.act[l];
    const int activate = activates_in_place(p, l), output = l == p.n_dense - 1;
    const dd_activation a = activation(p, l);
    float *dz = c.acts + p.grad[0]; /* the output layer's dL/dz, for the backward pass */
    const float scale = dd_mse_grad_scale(B);
    for (int t = c.tid; t < B * u; t += p.threads) {
        const int row = t / u, j = t % u;
        float sum = 0.0f;
        for (int k = 0; k < I; k++) sum += in[row * I + k] * W[k * u + j];
        z[t] = sum + b[j];
        if (activate) act[t] = dd_activate(a, z[t]);
        if (output) // the MSE's dL/dy, through the sigmoid (no BN on the output layer)
            dz[t] = dd_mse_diff(act[t], j, c.labels[row]) * scale * dd_activate_grad(a, act[t]);
    }
    simt_sync();
}

DD_SIMT_FN void activation_forward(const fused_ctx &c, int l, const float *in, int B) {
    float *out = c.acts + c.p->act[l];
    const dd_activation a = activation(*c.p, l);
    for (int t = c.tid; t < B * c.p->units[l]; t += c.p->threads) out[t] = dd_activate(a, in[t]);
    simt_sync();
}

// The sum of V over the warp's 32 lanes, in every lane: a butterfly, the same tree every time.
DD_SIMT_FN double warp_total(double v) {
    v += simt_shfl_xor(v, 16);
    v += simt_shfl_xor(v, 8);
    v += simt_shfl_xor(v, 4);
    v += simt_shfl_xor(v, 2);
    return v + simt_shfl_xor(v, 1);
}

// Training-mode BN of layer L on IN (B, u): one warp per channel, its lanes over the batch, sums
// in double as in src/batchnorm.c (a thread per channel would walk the batch alone, three
// times); then Keras's moving-statistics update by lane 0.
DD_SIMT_FN void batchnorm_forward(const fused_ctx &c, int l, const float *in, int B) {
    const dd_fused_plan &p = *c.p;
    const int u = p.units[l];
    float *out = c.acts + p.bn_out[l], *xhat = c.acts + p.xhat[l];
    float *gamma = param(c, p.gamma[l]), *beta = param(c, p.beta[l]);
    float *moving_mean = param(c, p.moving_mean[l]), *moving_var = param(c, p.moving_var[l]);
    for (int ch = c.warp; ch < u; ch += p.warps) { // the same CH in every lane: shuffles are safe
        double sum = 0, sq = 0;
        for (int b = c.lane; b < B; b += 32) sum += in[b * u + ch];
        const float m = (float)(warp_total(sum) / B);
        for (int b = c.lane; b < B; b += 32) {
            const double d = (double)in[b * u + ch] - m;
            sq += d * d;
        }
        const float v = (float)(warp_total(sq) / B), inv_std = dd_bn_inv_std(v);
        for (int b = c.lane; b < B; b += 32) {
            const int k = b * u + ch;
            xhat[k] = (in[k] - m) * inv_std;
            out[k] = gamma[ch] * xhat[k] + beta[ch];
        }
        if (c.lane == 0) {
            c.acts[p.mean[l] + ch] = m;
            c.acts[p.var[l] + ch] = v;
            moving_mean[ch] = dd_bn_moving_update(moving_mean[ch], m);
            moving_var[ch] = dd_bn_moving_update(moving_var[ch], v);
        }
    }
    simt_sync();
}

// Layer L after its Dense part (z computed): BN and the activation in the configured order.
DD_SIMT_FN void layer_finish_forward(const fused_ctx &c, int l, int B) {
    const dd_fused_plan &p = *c.p;
    const float *z = c.acts + p.z[l];
    if (has_bn(p, l) && p.bn == DD_BN_BEFORE) {
        batchnorm_forward(c, l, z, B);
        activation_forward(c, l, c.acts + p.bn_out[l], B);
    } else if (has_bn(p, l)) {
        activation_forward(c, l, z, B);
        batchnorm_forward(c, l, c.acts + p.act[l], B);
    } // else the Dense phase has activated already
}

// The rows and labels of the B samples at order[first ..).
DD_SIMT_FN void load_batch(const fused_ctx &c, int *rows, int *labels, int first, int B) {
    for (int b = c.tid; b < B; b += c.p->threads) {
        const int row = (int)c.r->order[first + b];
        rows[b] = row;
        labels[b] = c.r->labels[row];
    }
}

// Each sample's MSE loss and hit, into shared memory for thread 0's running sums. The gradient
// is not taken here: the output layer's forward phase has done it (dense_forward).
DD_SIMT_FN void sample_losses(const fused_ctx &c, int B) {
    const dd_fused_plan &p = *c.p;
    const float *y = c.acts + p.act[p.n_dense - 1];
    for (int b = c.tid; b < B; b += p.threads) {
        const float *yb = y + b * DD_CLASSES;
        c.loss[b] = dd_mse_sample(NULL, yb, c.labels[b], 0.0f);
        c.hits[b] = dd_argmax(yb, DD_CLASSES) == c.labels[b];
    }
}

// Block-wide sum in double with a fixed tree (so it never depends on timing); the total is valid
// in thread 0. Every thread must call it.
DD_SIMT_FN double block_total(const fused_ctx &c, double v) {
    v = warp_total(v);
    if (c.lane == 0) c.red[c.warp] = v;
    simt_sync();
    double total = 0;
    if (c.tid == 0)
        for (int k = 0; k < c.p->warps; k++) total += c.red[k];
    simt_sync();
    return total;
}

// BN backward of layer L from DOUT to DIN, one warp per channel, then SGD on gamma and beta by
// lane 0. Every lane reads the old gamma before the warp's first shuffle, and lane 0 writes it
// after the last, so no lane can see the new one.
DD_SIMT_FN void batchnorm_backward(const fused_ctx &c, int l, float *din, const float *dout, int B,
                                   float lr) {
    const dd_fused_plan &p = *c.p;
    const int u = p.units[l];
    const float *xhat = c.acts + p.xhat[l], *var = c.acts + p.var[l];
    float *gamma = param(c, p.gamma[l]), *beta = param(c, p.beta[l]);
    for (int ch = c.warp; ch < u; ch += p.warps) {
        const float scale = dd_bn_dx_scale(gamma[ch], var[ch], B);
        double sum_dy = 0, sum_dy_xhat = 0;
        for (int b = c.lane; b < B; b += 32) {
            sum_dy += dout[b * u + ch];
            sum_dy_xhat += (double)dout[b * u + ch] * xhat[b * u + ch];
        }
        const float dbeta = (float)warp_total(sum_dy), dgamma = (float)warp_total(sum_dy_xhat);
        for (int b = c.lane; b < B; b += 32) {
            const int k = b * u + ch;
            din[k] = dd_bn_dx(scale, B, dout[k], xhat[k], dbeta, dgamma);
        }
        if (c.lane == 0) {
            gamma[ch] = dd_sgd_step(gamma[ch], dgamma, lr);
            beta[ch] = dd_sgd_step(beta[ch], dbeta, lr);
        }
    }
    simt_sync();
}

// G (B, u) *= the activation's derivative at layer L's outputs.
DD_SIMT_FN void activation_backward(const fused_ctx &c, int l, float *g, int B) {
    const float *y = c.acts + c.p->act[l];
    const dd_activation a = activation(*c.p, l);
    for (int t = c.tid; t < B * c.p->units[l]; t += c.p->threads) g[t] *= dd_activate_grad(a, y[t]);
    simt_sync();
}

// dL/d(input) of layer L at (row B, column K) from dL/dz D with the kernel as it is now, and
// through the lower layer's activation where grad_arrives_activated.
DD_SIMT_FN float input_grad(const fused_ctx &c, int l, const float *d, const float *W, int b,
                            int k) {
    const dd_fused_plan &p = *c.p;
    const int I = p.fan_in[l], u = p.units[l];
    float sum = 0.0f;
    for (int j = 0; j < u; j++) sum += d[b * u + j] * W[k * u + j];
    if (!grad_arrives_activated(p, l - 1)) return sum;
    return sum * dd_activate_grad(activation(p, l - 1), c.acts[p.act[l - 1] + b * I + k]);
}

// The kernel gradient at (K, J) of layer L: sum over the batch of input times D.
DD_SIMT_FN float kernel_grad(const float *in, const float *d, int B, int I, int u, int k, int j) {
    float gw = 0.0f;
    for (int b = 0; b < B; b++) gw += in[b * I + k] * d[b * u + j];
    return gw;
}

// From dL/dz (D, B x u) of layer L > 0: dL/d(input) into DIN with the old kernel, then SGD on
// the bias and the kernel; returns this thread's share of the kernel gradient's squared norm.
// Batches up to DD_FUSED_ROW_OWNER_BATCH give each thread a kernel row, whose input gradients
// it takes before it updates the row: one barrier instead of two. Larger ones take the input
// gradients one thread per element, then, after a barrier, the weights one thread each.
DD_SIMT_FN double dense_backward_update(const fused_ctx &c, int l, float *din, const float *d,
                                        int B, float lr) {
    const dd_fused_plan &p = *c.p;
    const int I = p.fan_in[l], u = p.units[l];
    float *W = param(c, p.kernel[l]), *bias = param(c, p.bias[l]);
    const float *in = layer_output(c, l - 1);
    double sq = 0;
    for (int j = c.tid; j < u; j += p.threads) {
        float db = 0.0f;
        for (int b = 0; b < B; b++) db += d[b * u + j];
        bias[j] = dd_sgd_step(bias[j], db, lr);
    }
    if (B <= DD_FUSED_ROW_OWNER_BATCH) {
        for (int k = c.tid; k < I; k += p.threads) {
            for (int b = 0; b < B; b++) din[b * I + k] = input_grad(c, l, d, W, b, k);
            for (int j = 0; j < u; j++) {
                const float gw = kernel_grad(in, d, B, I, u, k, j);
                sq += (double)gw * gw;
                W[k * u + j] = dd_sgd_step(W[k * u + j], gw, lr);
            }
        }
        simt_sync();
        return sq;
    }
    for (int t = c.tid; t < B * I; t += p.threads) din[t] = input_grad(c, l, d, W, t / I, t % I);
    simt_sync();
    for (int t = c.tid; t < I * u; t += p.threads) {
        const float gw = kernel_grad(in, d, B, I, u, t / u, t % u);
        sq += (double)gw * gw;
        W[t] = dd_sgd_step(W[t], gw, lr);
    }
    simt_sync();
    return sq;
}

// The first layer's bias and kernel: the kernel rows live in this thread's registers and get one
// rank-1 update per sample, w += (-lr x) d: the SGD step with its factors grouped so that each
// weight costs one fused multiply-add (the reference rounds x d first; they differ in the last
// bit). With DIAGNOSTICS, the squared norm of this thread's rows of the
// batch's gradient (summed over the batch first, as the reference's gradient is).
template <int HMAX, int PIX>
DD_SIMT_FN double first_layer_update(const fused_ctx &c, float (&w)[PIX][HMAX], const float *d,
                                     int B, float lr, int diagnostics) {
    const dd_fused_plan &p = *c.p;
    const int u = p.units[0];
    float *bias = param(c, p.bias[0]);
    for (int j = c.tid; j < u; j += p.threads) {
        float db = 0.0f;
        for (int b = 0; b < B; b++) db += d[b * u + j];
        bias[j] = dd_sgd_step(bias[j], db, lr);
    }
    double sq = 0;
    if (diagnostics)
        for (int j = 0; j < u; j++) {
            float gw[PIX] = {};
            for (int b = 0; b < B; b++) {
                float x[PIX];
                load_pixels<PIX>(c, c.rows[b], x);
                DD_UNROLL
                for (int q = 0; q < PIX; q++) gw[q] += x[q] * d[b * u + j];
            }
            DD_UNROLL
            for (int q = 0; q < PIX; q++) sq += (double)gw[q] * gw[q];
        }
    for (int b = 0; b < B; b++) {
        float x[PIX], step[PIX]; // -lr * x: one fused multiply-add per weight and sample
        load_pixels<PIX>(c, c.rows[b], x);
        DD_UNROLL
        for (int q = 0; q < PIX; q++) step[q] = -lr * x[q];
        DD_UNROLL
        for (int j = 0; j < HMAX; j++) {
            const float dj = j < u ? d[b * u + j] : 0.0f;
            DD_UNROLL
            for (int q = 0; q < PIX; q++) w[q][j] = fmaf(step[q], dj, w[q][j]);
        }
    }
    simt_sync();
    return sq;
}

// Per-thread running totals that only thread 0 keeps: the backend's DD_SUM_* accumulators.
struct fused_totals {
    double loss, correct, steps, bad_step;
};

// Backward through every layer from the output layer's dL/dz in gradient buffer 0, updating as
// it goes; the samples' losses are taken alongside the first phase.
template <int HMAX, int PIX>
DD_SIMT_FN void backward_update(const fused_ctx &c, float (&w)[PIX][HMAX], int B) {
    const dd_fused_plan &p = *c.p;
    const dd_fused_run &r = *c.r;
    sample_losses(c, B);
    int cur = 0; // the gradient buffer holding dL/d(this layer's output)
    for (int l = p.n_dense - 1; l >= 0; l--) {
        float *g = c.acts + p.grad[cur], *other = c.acts + p.grad[cur ^ 1];
        if (has_bn(p, l) && p.bn == DD_BN_AFTER) {
            batchnorm_backward(c, l, other, g, B, r.lr);
            float *t = g;
            g = other, other = t, cur ^= 1;
        }
        if (!grad_arrives_activated(p, l)) activation_backward(c, l, g, B);
        if (has_bn(p, l) && p.bn == DD_BN_BEFORE) {
            batchnorm_backward(c, l, other, g, B, r.lr);
            float *t = g;
            g = other, other = t, cur ^= 1;
        }
        const double sq = l > 0 ? dense_backward_update(c, l, other, g, B, r.lr)
                                : first_layer_update<HMAX, PIX>(c, w, g, B, r.lr, r.diagnostics);
        if (r.diagnostics) {
            const double total = block_total(c, sq);
            if (c.tid == 0) r.sums[DD_SUM_GRAD_SQ + l] += total;
        }
        cur ^= 1; // dL/d(input of this layer) = dL/d(output of the one below)
    }
}

// One SGD step on the B samples whose rows and labels C holds; meanwhile the NEXT_B rows at
// order[NEXT ..) are loaded into the other buffers (alongside the backward pass's first phase),
// so no step needs a barrier of its own for that.
template <int HMAX, int PIX>
DD_SIMT_FN void train_step(const fused_ctx &c, float (&w)[PIX][HMAX], int B, int next, int next_B,
                           fused_totals &tot) {
    const dd_fused_plan &p = *c.p;
    first_layer_forward<HMAX, PIX>(c, w, B);
    layer_finish_forward(c, 0, B);
    for (int l = 1; l < p.n_dense; l++) {
        dense_forward(c, l, B);
        layer_finish_forward(c, l, B);
    }
    load_batch(c, c.next_rows, c.next_labels, next, next_B);
    backward_update<HMAX, PIX>(c, w, B);
    if (c.tid == 0) { // the reference's order: a batch's losses summed, then added to the total
        double loss = 0;
        for (int b = 0; b < B; b++) loss += c.loss[b], tot.correct += c.hits[b];
        tot.loss += loss;
        tot.steps += 1;
        if (!isfinite(tot.loss) && tot.bad_step == 0) tot.bad_step = tot.steps;
    }
}

// The whole launch: carve shared memory, bring the parameters on chip, run the steps, write back.
template <int HMAX, int PIX> DD_SIMT_FN void fused_body(const fused_ctx &c0, char *shared) {
    fused_ctx c = c0;
    const dd_fused_plan &p = *c.p;
    const dd_fused_run &r = *c.r;
    float *sf = (float *)shared;
    c.red = (double *)(sf + p.sm_red);
    c.table = sf + p.sm_table;
    c.partial = sf + p.sm_partial;
    int *rows = (int *)(sf + p.sm_rows), *labels = (int *)(sf + p.sm_labels);
    c.loss = sf + p.sm_loss;
    c.hits = (int *)(sf + p.sm_hits);
    float *after = sf + p.sm_end;
    const int rest_n = p.n_params - p.rest;
    c.rest = p.rest_shared ? after : r.params + p.rest;
    c.acts = p.acts_shared ? after + (p.rest_shared ? rest_n : 0) : r.scratch;
    c.tid = simt_tid(), c.lane = c.tid % 32, c.warp = c.tid / 32;

    for (int k = c.tid; k < 256; k += p.threads) c.table[k] = r.table[k];
    if (p.rest_shared)
        for (int k = c.tid; k < rest_n; k += p.threads) c.rest[k] = r.params[p.rest + k];
    const int u = p.units[0];
    float w[PIX][HMAX];
    DD_UNROLL
    for (int q = 0; q < PIX; q++) {
        const int i = c.tid + q * p.threads;
        DD_UNROLL
        for (int j = 0; j < HMAX; j++) w[q][j] = i < p.inputs && j < u ? r.params[i * u + j] : 0.0f;
    }
    load_batch(c, rows, labels, r.first, r.count < r.batch ? r.count : r.batch);
    fused_totals tot = {0, 0, 0, 0};
    if (c.tid == 0)
        tot = {r.sums[DD_SUM_LOSS], r.sums[DD_SUM_CORRECT], r.sums[DD_SUM_STEPS],
               r.sums[DD_SUM_BAD_STEP]};
    simt_sync();

    for (int done = 0, step = 0; done < r.count; done += r.batch, step++) {
        const int B = r.count - done < r.batch ? r.count - done : r.batch;
        const int next = done + B, left = r.count - next;
        const int now = (step & 1) * p.max_batch, then = p.max_batch - now;
        c.rows = rows + now, c.labels = labels + now;
        c.next_rows = rows + then, c.next_labels = labels + then;
        train_step<HMAX, PIX>(c, w, B, r.first + next, left < r.batch ? left : r.batch, tot);
    }

    DD_UNROLL
    for (int q = 0; q < PIX; q++) {
        const int i = c.tid + q * p.threads;
        DD_UNROLL
        for (int j = 0; j < HMAX; j++)
            if (i < p.inputs && j < u) r.params[i * u + j] = w[q][j];
    }
    if (p.rest_shared)
        for (int k = c.tid; k < rest_n; k += p.threads) r.params[p.rest + k] = c.rest[k];
    if (c.tid == 0) {
        r.sums[DD_SUM_LOSS] = tot.loss;
        r.sums[DD_SUM_CORRECT] = tot.correct;
        r.sums[DD_SUM_STEPS] = tot.steps;
        r.sums[DD_SUM_BAD_STEP] = tot.bad_step;
    }
}

#endif
