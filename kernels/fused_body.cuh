// The fused engine's body: every SGD step of a launch, by one thread block (kernels/fused.h says
// how the work is laid out). Compiled for the GPU by fused.cu and for the host emulator by
// fused_emulate.cu, so it may use only simt.cuh's primitives. The arithmetic of each step is the
// reference's (src/network.c), with the formulas of formulas.h; what differs is only the order
// of some sums, and that a batch's first-kernel update is applied one sample at a time.
#ifndef DD_FUSED_BODY_CUH
#define DD_FUSED_BODY_CUH

#include "fused_ctx.cuh"
#include "fused_first_layer.cuh"

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

// The sum of V over the warp's 32 lanes, in every lane: a butterfly, the same tree every time.
DD_SIMT_FN double warp_total(double v) {
    v += simt_shfl_xor(v, 16);
    v += simt_shfl_xor(v, 8);
    v += simt_shfl_xor(v, 4);
    v += simt_shfl_xor(v, 2);
    return v + simt_shfl_xor(v, 1);
}

// Layer L's BN in training mode and its activation, in the configured order, from z: one warp
// per channel, its lanes over the batch (a thread per channel would walk the batch alone, three
// times), sums in double as in src/batchnorm.c; then Keras's moving-statistics update by lane 0.
// The activation needs only its own element, so it rides in the same phase: BN after it
// normalizes the activations the lane has just computed, BN before it is activated as it goes.
DD_SIMT_FN void batchnorm_layer_forward(const fused_ctx &c, int l, int B) {
    const dd_fused_plan &p = *c.p;
    const int u = p.units[l], before = p.bn == DD_BN_BEFORE;
    const dd_activation a = activation(p, l);
    float *act = c.acts + p.act[l], *out = c.acts + p.bn_out[l], *xhat = c.acts + p.xhat[l];
    const float *in = before ? c.acts + p.z[l] : act, *z = c.acts + p.z[l];
    float *gamma = param(c, p.gamma[l]), *beta = param(c, p.beta[l]);
    float *moving_mean = param(c, p.moving_mean[l]), *moving_var = param(c, p.moving_var[l]);
    for (int ch = c.warp; ch < u; ch += p.warps) { // the same CH in every lane: shuffles are safe
        double sum = 0, sq = 0;
        for (int b = c.lane; b < B; b += 32) {
            if (!before) act[b * u + ch] = dd_activate(a, z[b * u + ch]);
            sum += in[b * u + ch];
        }
        const float m = (float)(warp_total(sum) / B);
        for (int b = c.lane; b < B; b += 32) {
            const double d = (double)in[b * u + ch] - m;
            sq += d * d;
        }
        const float v = (float)(warp_total(sq) / B), inv_std = dd_bn_inv_std(v);
        for (int b = c.lane; b < B; b += 32) {
            const int k = b * u + ch;
            xhat[k] = dd_bn_xhat(in[k], m, inv_std);
            out[k] = dd_bn_affine(xhat[k], gamma[ch], beta[ch]);
            if (before) act[k] = dd_activate(a, out[k]);
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

// Layer L after its Dense part (z computed): BN and the activation, when it has BN (without, the
// Dense phase has activated already).
DD_SIMT_FN void layer_finish_forward(const fused_ctx &c, int l, int B) {
    if (has_bn(*c.p, l)) batchnorm_layer_forward(c, l, B);
}

// The labels of the B samples at order[FIRST ..).
DD_SIMT_FN void load_labels(const fused_ctx &c, int *labels, int first, int B) {
    for (int b = c.tid; b < B; b += c.p->threads) labels[b] = c.r->labels[c.r->order[first + b]];
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
// lane 0. Every lane reads the old gamma first; a warp barrier (not just the shuffles, which
// order no memory accesses) separates those reads from lane 0's write. BN after the activation:
// DIN goes on through the activation's derivative in the same phase (DIN is then dL/dz).
DD_SIMT_FN void batchnorm_backward(const fused_ctx &c, int l, float *din, const float *dout, int B,
                                   float lr) {
    const dd_fused_plan &p = *c.p;
    const int u = p.units[l], through = p.bn == DD_BN_AFTER;
    const dd_activation a = activation(p, l);
    const float *act = c.acts + p.act[l];
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
            const float dx = dd_bn_dx(scale, B, dout[k], xhat[k], dbeta, dgamma);
            din[k] = through ? dx * dd_activate_grad(a, act[k]) : dx;
        }
        simt_syncwarp();
        if (c.lane == 0) {
            gamma[ch] = dd_sgd_step(gamma[ch], dgamma, lr);
            beta[ch] = dd_sgd_step(beta[ch], dbeta, lr);
        }
    }
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
    bias_update(c, bias, d, B, u, lr);
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

// Running totals of a launch: the backend's DD_SUM_* accumulators, kept by thread 0, and each
// thread's share of every kernel gradient's squared norm (the diagnostics), added up across the
// block once per launch rather than once per step (two barriers a layer saved per step; the
// price: how the steps were split into launches moves the norms in their last bits, ~1e-16).
struct fused_totals {
    double loss, correct, steps, bad_step;
    double grad_sq[DD_MAX_DENSE];
};

// Backward through every layer from the output layer's dL/dz in gradient buffer 0, updating as
// it goes; the samples' losses are taken alongside the first phase. The batch is the B samples
// at order[FIRST ..).
template <int UPL, int SPAN>
DD_SIMT_FN void backward_update(const fused_ctx &c, float (&w)[UPL][SPAN], int first, int B,
                                const prefetch &next, int have_next, int next_B,
                                fused_totals &tot) {
    const dd_fused_plan &p = *c.p;
    const dd_fused_run &r = *c.r;
    sample_losses(c, B);
    int cur = 0; // the gradient buffer holding dL/d(this layer's output)
    for (int l = p.n_dense - 1; l >= 0; l--) {
        float *g = c.acts + p.grad[cur], *other = c.acts + p.grad[cur ^ 1];
        if (has_bn(p, l)) { // before or after the activation: batchnorm_backward knows which
            batchnorm_backward(c, l, other, g, B, r.lr);
            float *t = g;
            g = other, other = t, cur ^= 1;
        }
        const double sq =
            l > 0 ? dense_backward_update(c, l, other, g, B, r.lr)
                  : first_layer_update<UPL, SPAN>(c, w, g, first, B, r.lr, r.diagnostics, next,
                                                  have_next, next_B);
        tot.grad_sq[l] += sq;
        cur ^= 1; // dL/d(input of this layer) = dL/d(output of the one below)
    }
}

// One SGD step on the B samples at order[FIRST ..), whose labels C holds; meanwhile the NEXT_B
// samples' labels (and, with x_double, images) at order[NEXT ..) go into the other buffers:
// prefetched into registers now and stored at the step's end when they are few, else loaded
// alongside the backward pass's first phase. No step needs a barrier of its own for that.
// ROUND counts the first layer's reduction rounds through the launch.
template <int UPL, int SPAN>
DD_SIMT_FN void train_step(const fused_ctx &c, float (&w)[UPL][SPAN], int first, int B, int next,
                           int next_B, fused_totals &tot, int &round) {
    const dd_fused_plan &p = *c.p;
    prefetch ahead = {};
    const int early = prefetchable(p, next_B);
    if (early) prefetch_load(c, ahead, next, next_B);
    first_layer_forward<UPL, SPAN>(c, w, first, B, round);
    layer_finish_forward(c, 0, B);
    for (int l = 1; l < p.n_dense; l++) {
        dense_forward(c, l, B);
        layer_finish_forward(c, l, B);
    }
    if (!early) {
        load_labels(c, c.next_labels, next, next_B);
        if (p.x_double) stage_images(c, c.x_next, next, next_B);
    }
    backward_update<UPL, SPAN>(c, w, first, B, ahead, early, next_B, tot);
    if (c.tid == 0) { // the reference's order: a batch's losses summed, then added to the total
        double loss = 0;
        for (int b = 0; b < B; b++) loss += c.loss[b], tot.correct += c.hits[b];
        tot.loss += loss;
        tot.steps += 1;
        if (!isfinite(tot.loss) && tot.bad_step == 0) tot.bad_step = tot.steps;
    }
}

// The sum of every block's V (valid in thread 0 of each) in thread 0 of rank 0, in rank order.
// Every thread of the cluster must call it.
DD_SIMT_FN double cluster_total(const fused_ctx &c, double v) {
    const dd_fused_plan &p = *c.p;
    if (p.cluster == 1) return v;
    double *slot = c.red + p.warps;
    if (c.tid == 0) *slot = v;
    simt_cluster_sync();
    double total = 0;
    if (c.tid == 0 && c.rank == 0)
        for (int rank = 0; rank < p.cluster; rank++) total += *simt_cluster_map(slot, rank);
    simt_cluster_sync();
    return total;
}

// The whole launch: carve shared memory, bring the parameters on chip, run the steps, write back.
// In a cluster every block runs every step (the small layers alike in each); rank 0 writes what
// they share, each block its own pixels' first-kernel weights.
template <int UPL, int SPAN> DD_SIMT_FN void fused_body(const fused_ctx &c0, char *shared) {
    fused_ctx c = c0;
    const dd_fused_plan &p = *c.p;
    const dd_fused_run &r = *c.r;
    float *sf = (float *)shared;
    c.red = (double *)(sf + p.sm_red);
    c.table = sf + p.sm_table;
    c.partial = sf + p.sm_partial;
    int *labels = (int *)(sf + p.sm_labels);
    c.loss = sf + p.sm_loss;
    c.hits = (int *)(sf + p.sm_hits);
    float *x = sf + p.sm_x;
    const int x_floats = p.x_samples * p.block_pixels * (p.x_double ? 2 : 1);
    const int rest_n = p.n_params - p.rest;
    c.rest = p.rest_shared ? x + x_floats : r.params + p.rest;
    c.acts = p.acts_shared ? x + x_floats + rest_n : r.scratch;
    c.tid = simt_tid(), c.lane = c.tid % 32, c.warp = c.tid / 32;
    c.rank = p.cluster > 1 ? simt_cluster_rank() : 0;
    c.px0 = c.rank * p.block_pixels;
    const int writer = c.rank == 0; // of what the cluster's blocks share

    for (int k = c.tid; k < 256; k += p.threads) c.table[k] = r.table[k];
    if (p.rest_shared)
        for (int k = c.tid; k < rest_n; k += p.threads) c.rest[k] = r.params[p.rest + k];
    float w[UPL][SPAN];
    first_kernel_load<UPL, SPAN>(c, w, r.params);
    const int B0 = r.count < r.batch ? r.count : r.batch;
    load_labels(c, labels, r.first, B0);
    simt_sync(); // the table, before the images go through it
    if (p.x_double) stage_images(c, x, r.first, B0);
    fused_totals tot = {};
    if (c.tid == 0) {
        tot.loss = r.sums[DD_SUM_LOSS], tot.correct = r.sums[DD_SUM_CORRECT];
        tot.steps = r.sums[DD_SUM_STEPS], tot.bad_step = r.sums[DD_SUM_BAD_STEP];
    }
    simt_sync();

    int round = 0;
    for (int done = 0, step = 0; done < r.count; done += r.batch, step++) {
        const int B = r.count - done < r.batch ? r.count - done : r.batch;
        const int next = done + B, left = r.count - next, odd = step & 1;
        c.labels = labels + odd * p.max_batch, c.next_labels = labels + (1 - odd) * p.max_batch;
        const int image_floats = p.max_batch * p.block_pixels;
        c.x = x + (p.x_double && odd ? image_floats : 0);
        c.x_next = x + (p.x_double && !odd ? image_floats : 0);
        train_step<UPL, SPAN>(c, w, r.first + done, B, r.first + next,
                              left < r.batch ? left : r.batch, tot, round);
    }

    first_kernel_store<UPL, SPAN>(c, w, r.params);
    if (p.rest_shared && writer)
        for (int k = c.tid; k < rest_n; k += p.threads) r.params[p.rest + k] = c.rest[k];
    for (int l = 0; l < p.n_dense && r.diagnostics; l++) {
        double total = block_total(c, tot.grad_sq[l]);
        if (l == 0) total = cluster_total(c, total); // the blocks' pixels; the rest they share
        if (c.tid == 0 && writer) r.sums[DD_SUM_GRAD_SQ + l] += total;
    }
    if (c.tid == 0 && writer) {
        r.sums[DD_SUM_LOSS] = tot.loss;
        r.sums[DD_SUM_CORRECT] = tot.correct;
        r.sums[DD_SUM_STEPS] = tot.steps;
        r.sums[DD_SUM_BAD_STEP] = tot.bad_step;
    }
    // No block may leave while another still reads its shared memory (the last round's sums).
    if (p.cluster > 1) simt_cluster_sync();
}

#endif
