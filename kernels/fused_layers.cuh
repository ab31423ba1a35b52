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

// N dot products sharing their second factor: SUM[i] = the sum over t < LEN of
// A[ROWS[i] x STRIDE + t] x W[t x STEP], each in the order it has alone, the N side by side so that
// the GPU overlaps their chains of dependent adds (a lane's samples; each weight read once).
template <int N>
DD_SIMT_FN void dot_rows(const float *a, int stride, const int (&rows)[N], const float *w, int step,
                         int len, float (&sum)[N]) {
    DD_UNROLL
    for (int i = 0; i < N; i++) sum[i] = 0.0f;
    for (int t = 0; t < len; t++) {
        const float wt = w[t * step];
        DD_UNROLL
        for (int i = 0; i < N; i++) sum[i] += a[rows[i] * stride + t] * wt;
    }
}

// Layer L's z at (ROWS[i], J) = in[ROWS[i]] · W[:, J] + b[J] for N rows, a layer after the first.
template <int N>
DD_SIMT_FN void dense_z_rows(const fused_ctx &c, int l, const int (&rows)[N], int j,
                             float (&z)[N]) {
    const dd_fused_plan &p = *c.p;
    const int I = p.fan_in[l], u = p.units[l];
    float sum[N];
    dot_rows<N>(layer_output(c, l - 1), I, rows, param(c, p.kernel[l]) + j, u, I, sum);
    const float bias = param(c, p.bias[l])[j];
    DD_UNROLL
    for (int i = 0; i < N; i++) z[i] = sum[i] + bias;
}

DD_SIMT_FN float dense_z(const fused_ctx &c, int l, int row, int j) {
    const int rows[1] = {row};
    float z[1];
    dense_z_rows<1>(c, l, rows, j, z);
    return z[0];
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

// Two such sums at once, their butterflies interleaved (each the same as alone).
DD_SIMT_FN void group_totals(double &a, double &b, int lanes) {
    for (int mask = lanes / 2; mask > 0; mask /= 2) {
        const double from_a = simt_shfl_xor(a, mask), from_b = simt_shfl_xor(b, mask);
        a += from_a, b += from_b;
    }
}

// This lane's samples of a BN channel (FIRST, FIRST + STEP, ... below N) two at a time: AT(b0, b1,
// 2) for each pair, AT(b, b, 1) for a last one alone.
template <typename F> DD_SIMT_FN void in_pairs(int first, int n, int step, F at) {
    for (int b = first; b < n; b += 2 * step)
        if (b + step < n)
            at(b, b + step, 2);
        else
            at(b, b, 1);
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
        in_pairs(r.member, n, r.lanes, [&](int b0, int b1, int two) { // BN's input, summed
            const int rows[2] = {b0, b1}, k[2] = {b0 * u + ch, b1 * u + ch};
            float x[2];
            if (l > 0) { // the Dense output, the two samples' chains side by side
                dense_z_rows<2>(c, l, rows, ch, x);
                for (int i = 0; i < two; i++) z[k[i]] = x[i];
            } else { // the first layer's phase left it
                x[0] = z[k[0]], x[1] = z[k[1]];
            }
            DD_UNROLL
            for (int i = 0; i < 2; i++)
                if (!before) x[i] = dd_activate(a, x[i]);
            for (int i = 0; i < two; i++) {
                if (!before) act[k[i]] = x[i];
                sum += x[i];
            }
        });
        const float m = (float)(group_total(sum, r.lanes) / B);
        for (int b = r.member; b < n; b += r.lanes) {
            const double d = (double)in[b * u + ch] - m;
            sq = fma(d, d, sq); // fused, as src/batchnorm.c's: one rounding a term everywhere
        }
        const float v = (float)(group_total(sq, r.lanes) / B), inv_std = dd_bn_inv_std(v);
        in_pairs(r.member, n, r.lanes, [&](int b0, int b1, int two) { // normalized, scaled
            const int k[2] = {b0 * u + ch, b1 * u + ch};
            float h[2], o[2], y[2];
            DD_UNROLL
            for (int i = 0; i < 2; i++) {
                h[i] = dd_bn_xhat(in[k[i]], m, inv_std);
                o[i] = dd_bn_affine(h[i], gamma[ch], beta[ch]);
                y[i] = before ? dd_activate(a, o[i]) : 0.0f;
            }
            for (int i = 0; i < two; i++) {
                xhat[k[i]] = h[i], out[k[i]] = o[i];
                if (before) act[k[i]] = y[i];
            }
        });
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

// dL/d(input) of layer L at (rows ROWS[i], column K) for N rows from dL/dz D with the kernel as it
// is now (row K of it), and through the lower layer's activation where grad_arrives_activated.
template <int N>
DD_SIMT_FN void input_grad_rows(const fused_ctx &c, int l, const float *d, const int (&rows)[N],
                                int k, float (&g)[N]) {
    const dd_fused_plan &p = *c.p;
    const int I = p.fan_in[l], u = p.units[l];
    float sum[N];
    dot_rows<N>(d, u, rows, param(c, p.kernel[l]) + k * u, 1, u, sum);
    const int through = grad_arrives_activated(p, l - 1);
    const dd_activation a = activation(p, l - 1);
    DD_UNROLL
    for (int i = 0; i < N; i++)
        g[i] =
            through ? sum[i] * dd_activate_grad(a, c.acts[p.act[l - 1] + rows[i] * I + k]) : sum[i];
}

DD_SIMT_FN float input_grad(const fused_ctx &c, int l, const float *d, int b, int k) {
    const int rows[1] = {b};
    float g[1];
    input_grad_rows<1>(c, l, d, rows, k, g);
    return g[0];
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
    group_totals(sum_dy, sum_dy_xhat, r.lanes);
    const float dbeta = (float)sum_dy, dgamma = (float)sum_dy_xhat;
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
        in_pairs(r.member, r.mine ? B : 0, r.lanes, [&](int b0, int b1, int two) {
            const int rows[2] = {b0, b1};
            float g2[2];
            input_grad_rows<2>(c, l, d, rows, r.ch, g2);
            down[b0 * I + r.ch] = g2[0];
            if (two == 2) down[b1 * I + r.ch] = g2[1];
        });
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
    const int diagnostics = c.r->diagnostics, n = I * u, T = p.threads;
    double sq = 0;
    for (int t0 = c.tid; t0 < n; t0 += 2 * T) { // two weights' chains side by side
        const int two = t0 + T < n, t1 = two ? t0 + T : t0;
        const int k0 = dd_fused_quotient(t0, p.by_units[due.l]), j0 = t0 - k0 * u;
        const int k1 = dd_fused_quotient(t1, p.by_units[due.l]), j1 = t1 - k1 * u;
        float gw0 = 0.0f, gw1 = 0.0f;
        for (int b = 0; b < due.B; b++) {
            gw0 += in[b * I + k0] * due.d[b * u + j0];
            gw1 += in[b * I + k1] * due.d[b * u + j1];
        }
        if (diagnostics) sq += (double)gw0 * gw0;
        W[t0] = dd_sgd_step(W[t0], gw0, lr);
        if (!two) continue;
        if (diagnostics) sq += (double)gw1 * gw1;
        W[t1] = dd_sgd_step(W[t1], gw1, lr);
    }
    return sq;
}

#endif
