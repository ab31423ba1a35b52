// The fused engine's later layers (every Dense layer after the first, BN, the loss's gradient),
// in shared memory: their forward and backward phases, each ending at a block barrier that the
// caller places. Every layer with BN is handled a group of lanes per channel (plan.bn_lanes), its
// lanes over the batch, so a channel's whole chain (the Dense output, BN's batch statistics, the
// activation; backward, the input gradient reaching it and BN's backward) stays in one warp, with
// no block barrier in it.
#ifndef DD_FUSED_LAYERS_CUH
#define DD_FUSED_LAYERS_CUH

#include "fused_ctx.cuh"
#include "reduce.cuh"

// Layer L's z at (ROW, J) = in[ROW] · W[:, J] + b[J], for a layer after the first.
DD_SIMT_FN float dense_z(const fused_ctx &c, int l, int row, int j) {
    const dd_fused_plan &p = *c.p;
    const int I = p.fan_in[l], u = p.units[l];
    const float *in = layer_output(c, l - 1), *W = param(c, p.kernel[l]);
    float sum = 0.0f;
    for (int k = 0; k < I; k++) sum += in[row * I + k] * W[k * u + j];
    return sum + param(c, p.bias[l])[j];
}

// z (B, u) of a layer after the first without BN, one thread per output, activated at once. The
// output layer also takes the MSE's dL/dz (through the sigmoid; no BN there) into DZ.
DD_SIMT_FN void dense_forward(const fused_ctx &c, int l, int B, float *dz) {
    const dd_fused_plan &p = *c.p;
    const int u = p.units[l], output = l == p.n_dense - 1;
    float *z = c.acts + p.z[l], *act = c.acts + p.act[l];
    const dd_activation a = activation(p, l);
    const float scale = dd_mse_grad_scale(B);
    for (int t = c.tid; t < B * u; t += p.threads) {
        const int row = dd_fused_quotient(t, p.by_units[l]), j = t - row * u;
        z[t] = dense_z(c, l, row, j);
        act[t] = dd_activate(a, z[t]);
        if (output)
            dz[t] = dd_mse_diff(act[t], j, c.labels[row]) * scale * dd_activate_grad(a, act[t]);
    }
}

// A BN layer's channels go round the warps in rounds: in each, a warp runs the 32 / LANES
// channels from FIRST on, a group of LANES lanes each (plan.bn_lanes[l]). Every lane of the warp
// runs every round, with a channel or not, so its shuffles always have all 32.
DD_SIMT_FN int bn_channels_a_warp(const fused_ctx &c, int l) {
    return dd_fused_quotient(32, c.p->bn_lanes[l]);
}

// This lane's part in the round from channel FIRST of layer L (U channels): its group's channel
// CH, when MINE, and its place MEMBER among the group's LANES lanes.
struct bn_round {
    int ch, lanes, member, mine;
};
DD_SIMT_FN bn_round bn_round_at(const fused_ctx &c, int l, int u, int first) {
    const int lanes = c.p->bn_lanes[l].d, group = dd_fused_quotient(c.lane, c.p->bn_lanes[l]);
    const int ch = first + group;
    return {ch, lanes, c.lane - group * lanes, ch < u};
}

// The sum of V over a group of LANES lanes (a power of two, aligned), in each of them: the warp's
// butterfly cut to the group (so a group of 32 sums exactly as warp_total does).
DD_SIMT_FN double group_total(double v, int lanes) {
    for (int mask = lanes / 2; mask > 0; mask /= 2) v += simt_shfl_xor(v, mask);
    return v;
}

// Layer L with BN, forward in training mode, a group of lanes per channel: z (the Dense output,
// computed here for a layer after the first; the first layer's comes from its own phase), then BN
// and the activation in the configured order, with the batch statistics in double as in
// src/batchnorm.c, then Keras's moving-statistics update by the group's first lane. A lane touches
// only its own samples' elements, so nothing but the shuffles passes between lanes.
DD_SIMT_FN void batchnorm_layer_forward(const fused_ctx &c, int l, int B) {
    const dd_fused_plan &p = *c.p;
    const int u = p.units[l], before = p.bn == DD_BN_BEFORE;
    const dd_activation a = activation(p, l);
    float *z = c.acts + p.z[l], *act = c.acts + p.act[l];
    float *out = c.acts + p.bn_out[l], *xhat = c.acts + p.xhat[l];
    const float *in = before ? z : act;
    float *gamma = param(c, p.gamma[l]), *beta = param(c, p.beta[l]);
    float *moving_mean = param(c, p.moving_mean[l]), *moving_var = param(c, p.moving_var[l]);
    const int per_warp = bn_channels_a_warp(c, l);
    for (int first = c.warp * per_warp; first < u; first += p.warps * per_warp) {
        const bn_round r = bn_round_at(c, l, u, first);
        const int ch = r.ch, n = r.mine ? B : 0; // a lane without a channel adds nothing
        double sum = 0, sq = 0;
        for (int b = r.member; b < n; b += r.lanes) {
            if (l > 0) z[b * u + ch] = dense_z(c, l, b, ch);
            if (!before) act[b * u + ch] = dd_activate(a, z[b * u + ch]);
            sum += in[b * u + ch];
        }
        const float m = (float)(group_total(sum, r.lanes) / B);
        for (int b = r.member; b < n; b += r.lanes) {
            const double d = (double)in[b * u + ch] - m;
            sq = fma(d, d, sq); // fused, as src/batchnorm.c's: one rounding a term everywhere
        }
        const float v = (float)(group_total(sq, r.lanes) / B), inv_std = dd_bn_inv_std(v);
        for (int b = r.member; b < n; b += r.lanes) {
            const int k = b * u + ch;
            xhat[k] = dd_bn_xhat(in[k], m, inv_std);
            out[k] = dd_bn_affine(xhat[k], gamma[ch], beta[ch]);
            if (before) act[k] = dd_activate(a, out[k]);
        }
        if (r.member == 0 && r.mine) {
            c.acts[p.mean[l] + ch] = m;
            c.acts[p.var[l] + ch] = v;
            moving_mean[ch] = dd_bn_moving_update(moving_mean[ch], m);
            moving_var[ch] = dd_bn_moving_update(moving_var[ch], v);
        }
    }
}

// Layer L's forward phase after the first layer's (z0 done): the Dense part and BN, or BN alone
// for the first layer.
DD_SIMT_FN void layer_forward(const fused_ctx &c, int l, int B, float *output_dz) {
    if (has_bn(*c.p, l))
        batchnorm_layer_forward(c, l, B);
    else if (l > 0)
        dense_forward(c, l, B, output_dz);
}

// dL/d(input) of layer L at (row B, column K) from dL/dz D with the kernel as it is now, and
// through the lower layer's activation where grad_arrives_activated.
DD_SIMT_FN float input_grad(const fused_ctx &c, int l, const float *d, int b, int k) {
    const dd_fused_plan &p = *c.p;
    const int I = p.fan_in[l], u = p.units[l];
    const float *W = param(c, p.kernel[l]);
    float sum = 0.0f;
    for (int j = 0; j < u; j++) sum += d[b * u + j] * W[k * u + j];
    if (!grad_arrives_activated(p, l - 1)) return sum;
    return sum * dd_activate_grad(activation(p, l - 1), c.acts[p.act[l - 1] + b * I + k]);
}

// BN backward of layer L's channel in round R (a group of lanes), in place: G holds dL/d(BN
// output) (B x u) and gets dL/dz, through the activation when BN comes after it. Then SGD on
// gamma and beta by the group's first lane: every lane reads the old gamma first, and a warp
// barrier (the shuffles order no memory accesses) separates those reads from that lane's write.
DD_SIMT_FN void batchnorm_channel_backward(const fused_ctx &c, int l, const bn_round &r, float *g,
                                           int B, float lr) {
    const dd_fused_plan &p = *c.p;
    const int u = p.units[l], through = p.bn == DD_BN_AFTER, ch = r.ch, n = r.mine ? B : 0;
    const dd_activation a = activation(p, l);
    const float *act = c.acts + p.act[l], *xhat = c.acts + p.xhat[l];
    float *gamma = param(c, p.gamma[l]), *beta = param(c, p.beta[l]);
    const float scale = r.mine ? dd_bn_dx_scale(gamma[ch], c.acts[p.var[l] + ch], B) : 0.0f;
    double sum_dy = 0, sum_dy_xhat = 0;
    for (int b = r.member; b < n; b += r.lanes) {
        sum_dy += g[b * u + ch];
        sum_dy_xhat = fma((double)g[b * u + ch], (double)xhat[b * u + ch], sum_dy_xhat);
    }
    const float dbeta = (float)group_total(sum_dy, r.lanes);
    const float dgamma = (float)group_total(sum_dy_xhat, r.lanes);
    for (int b = r.member; b < n; b += r.lanes) {
        const int k = b * u + ch;
        const float dx = dd_bn_dx(scale, B, g[k], xhat[k], dbeta, dgamma);
        g[k] = through ? dx * dd_activate_grad(a, act[k]) : dx;
    }
    simt_syncwarp();
    if (r.member == 0 && r.mine) {
        gamma[ch] = dd_sgd_step(gamma[ch], dgamma, lr);
        beta[ch] = dd_sgd_step(beta[ch], dbeta, lr);
    }
}

// Layer L > 0's backward phase from its dL/dz D (B x u): SGD on its bias, and dL/dz of the layer
// below into DOWN (B x fan_in) with the kernel as it still is: through the lower layer's
// activation and, when that layer has BN, its BN backward, a group of lanes per channel (which
// also updates that layer's gamma and beta). The kernel's own update is left to the next phase (see
// kernel_update): a barrier a layer fewer.
DD_SIMT_FN void dense_backward(const fused_ctx &c, int l, const float *d, float *down, int B,
                               float lr) {
    const dd_fused_plan &p = *c.p;
    const int I = p.fan_in[l];
    bias_update(c, param(c, p.bias[l]), d, B, p.units[l], lr);
    if (!has_bn(p, l - 1)) {
        for (int t = c.tid; t < B * I; t += p.threads) {
            const int row = dd_fused_quotient(t, p.by_units[l - 1]); // I = units[l - 1]
            down[t] = input_grad(c, l, d, row, t - row * I);
        }
        return;
    }
    const int per_warp = bn_channels_a_warp(c, l - 1);
    for (int first = c.warp * per_warp; first < I; first += p.warps * per_warp) {
        const bn_round r = bn_round_at(c, l - 1, I, first);
        for (int b = r.member; r.mine && b < B; b += r.lanes)
            down[b * I + r.ch] = input_grad(c, l, d, b, r.ch);
        batchnorm_channel_backward(c, l - 1, r, down, B, lr);
    }
}

// A later layer's kernel update, due in the phase after its dense_backward: it needs only the
// layer's input and its dL/dz D, which that phase leaves alone (the gradient buffers rotate
// through three). L 0: nothing due.
struct kernel_update {
    int l, B;
    const float *d;
};

// SGD on the kernel of DUE.l, one thread per weight; returns this thread's share of the kernel
// gradient's squared norm (the sum over the batch of input times dL/dz) when the diagnostics are
// on, else 0.
DD_SIMT_FN double apply_kernel_update(const fused_ctx &c, const kernel_update &due, float lr) {
    if (due.l == 0) return 0;
    const dd_fused_plan &p = *c.p;
    const int I = p.fan_in[due.l], u = p.units[due.l];
    const float *in = layer_output(c, due.l - 1);
    float *W = param(c, p.kernel[due.l]);
    const int diagnostics = c.r->diagnostics;
    double sq = 0;
    for (int t = c.tid; t < I * u; t += p.threads) {
        const int k = dd_fused_quotient(t, p.by_units[due.l]), j = t - k * u;
        float gw = 0.0f;
        for (int b = 0; b < due.B; b++) gw += in[b * I + k] * due.d[b * u + j];
        if (diagnostics) sq += (double)gw * gw;
        W[t] = dd_sgd_step(W[t], gw, lr);
    }
    return sq;
}

#endif
