// The lab's own step: batch 1, one hidden layer of up to 32 units without BN, on one SM, with
// everything in shared memory (the plan's warp_step). At batch 1 the general step's later phases
// (fused_layers.cuh) fill a few lanes of warp 0 and nothing else, and each of its five block
// barriers waits for that warp's chain of dependent instructions; measured on an H100 that made
// 5.4 us a step where the arithmetic needs well under one (bench/NOTES.md, v4). Here warp 0 runs
// everything after the first layer's products alone, its lanes meeting at warp barriers, and a
// step has two block barriers:
//
//   1. every warp: its span's partial sums of z0;                            block barrier
//   2. warp 0: z0 and its activation, the output layer, the MSE gradient, the hidden layer's
//      dL/dz, the updates of both biases; the other warps meanwhile store the next sample,
//      prefetched into registers at the step's start;                          block barrier
//   3. every warp: the rank-1 update of its first-kernel registers; the block's first H x 10
//      threads the output kernel's update, a weight each (in warp 0 it was 8 weights a lane, a
//      third of the phase before's instructions); the block's last thread keeps the output and
//      the label, and takes the sample's loss and hit into the totals in the next step's
//      phase 2, where its warp idles (or after the launch's last step).
//
// Phase 3 needs no barrier after it: what the next step's phase 1 reads (the next image) was
// stored in phase 2, and everything phase 3 reads is next written in a phase 2, behind the next
// step's first barrier. The arithmetic, and its order, is the general step's at batch 1, so both
// give the same parameters to the bit (test_fused_emulated checks it); only the diagnostics'
// double sums are split among other threads.
#ifndef DD_FUSED_WARP_STEP_CUH
#define DD_FUSED_WARP_STEP_CUH

#include "fused_ctx.cuh"
#include "fused_first_layer.cuh"

// The small network's forward and backward pass and the biases' updates by one warp, from
// PRODUCT, lane j's dot product for hidden unit j (lanes j < H), and the sample's LABEL: the
// output into Y, its dL/dz into gradient buffer 0, the hidden layer's output into its buffer and
// its dL/dz into DH. Returns lane j's dL/dz (0 past H).
DD_SIMT_FN float small_network(const fused_ctx &c, float product, float *y, float *dh, int label,
                               float lr) {
    const dd_fused_plan &p = *c.p;
    const int H = p.units[0], O = DD_CLASSES, j = c.lane;
    const dd_activation hidden = activation(p, 0), output = activation(p, 1);
    float *h = c.acts + p.act[0], *dy = grad_buffer(c, 0);
    float *b0 = param(c, p.bias[0]), *W1 = param(c, p.kernel[1]), *b1 = param(c, p.bias[1]);

    float h_j = 0.0f; // lane j < H: unit j of the hidden layer
    if (j < H) {
        const float z = product + b0[j];
        h[j] = h_j = dd_activate(hidden, z);
    }
    simt_syncwarp();
    if (j < O) { // output j, its MSE gradient and its bias's update
        float sum = 0.0f;
        for (int k = 0; k < H; k++) sum += h[k] * W1[k * O + j];
        const float z = sum + b1[j];
        y[j] = dd_activate(output, z);
        dy[j] = dd_mse_diff(y[j], j, label) * dd_mse_grad_scale(1) * dd_activate_grad(output, y[j]);
        float db = 0.0f;
        db += dy[j];
        b1[j] = dd_sgd_step(b1[j], db, lr);
    }
    simt_syncwarp();
    float dh_j = 0.0f;
    if (j < H) { // dL/dz of hidden unit j, through the output kernel as it is, and its bias
        float sum = 0.0f;
        for (int o = 0; o < O; o++) sum += dy[o] * W1[j * O + o];
        dh_j = sum * dd_activate_grad(hidden, h_j);
        dh[j] = dh_j;
        float db = 0.0f;
        db += dh_j;
        b0[j] = dd_sgd_step(b0[j], db, lr);
    }
    return dh_j;
}

// Warp 0's part of the warp step: z0 from the first layer's partial sums in BUF (one per warp
// and unit), then the small network. Leaves dL/dz0 in gradient buffer 1.
DD_SIMT_FN void warp_step_tail(const fused_ctx &c, const float *buf, float lr) {
    const dd_fused_plan &p = *c.p;
    const int j = c.lane;
    float sum = 0.0f;
    if (j < p.units[0])
        for (int k = 0; k < DD_FUSED_WARPS; k++) sum += buf[k * 32 * p.upl + j]; // (p.warps)
    small_network(c, sum, c.acts + p.act[1], grad_buffer(c, 1), c.labels[0], lr);
}

// SGD on the output kernel from the hidden layer's output and the output's dL/dz that
// small_network left, once every lane's input gradient has read the kernel as it was: weights
// FIRST, FIRST + STRIDE, ... (up to PER of them: a loop known at compile time, so that a warp's
// loads all go out before its first update).
template <int PER>
DD_SIMT_FN void output_kernel_update(const fused_ctx &c, int first, int stride, float lr,
                                     fused_totals &tot) {
    const dd_fused_plan &p = *c.p;
    const int H = p.units[0], O = DD_CLASSES;
    const float *h = c.acts + p.act[0], *dy = grad_buffer(c, 0);
    float *W1 = param(c, p.kernel[1]);
    double sq = 0;
    DD_UNROLL
    for (int m = 0; m < PER; m++) {
        const int t = first + m * stride;
        if (t >= H * O) break;
        const int k = t / O, o = t % O;
        float gw = 0.0f;
        gw += h[k] * dy[o];
        if (c.r->diagnostics) sq += (double)gw * gw;
        W1[t] = dd_sgd_step(W1[t], gw, lr);
    }
    add_grad_sq(c, tot, 1, sq);
}

// A sample's output and label, kept in the totals thread's registers from phase 3 of its step to
// phase 2 of the next: its loss (about 150 dependent instructions with the argmax) then runs
// while that thread's warp would wait on warp 0, not on the way to the next barrier. The totals
// take the samples in step order, as before.
struct sample_result {
    float y[DD_CLASSES];
    int label, due;
};

DD_SIMT_FN void keep_result(const fused_ctx &c, sample_result &s) {
    const float *y = c.acts + c.p->act[1];
    DD_UNROLL
    for (int o = 0; o < DD_CLASSES; o++) s.y[o] = y[o];
    s.label = c.labels[0];
    s.due = 1;
}

// A batch-1 step's loss and hit from its output Y and LABEL into the totals.
DD_SIMT_FN void add_sample(fused_totals &tot, const float *y, int label) {
    const float loss = dd_mse_sample(NULL, y, label, 0.0f);
    add_step(tot, 0.0 + loss, dd_argmax(y, DD_CLASSES) == label);
}

// The kept sample's loss and hit into the totals, if one is due (by the totals thread).
DD_SIMT_FN void add_result(sample_result &s, fused_totals &tot) {
    if (!s.due) return;
    add_sample(tot, s.y, s.label);
    s.due = 0;
}

// One step on the sample whose label c.labels[0] holds and whose image c.x (staged by the step
// before, or before the first step); NEXT_B (0 or 1) samples at order[NEXT] are prefetched into the
// other buffers. ROUND counts the partial-sum buffers' alternation through the launch, as in the
// general step.
template <int UPL, int SPAN, bool TIMED>
DD_SIMT_FN void warp_step(const fused_ctx &c, float (&w)[UPL][SPAN], int next, int next_B,
                          fused_totals &tot, sample_result &kept, int &round) {
    const dd_fused_plan &p = *c.p;
    const dd_fused_run &r = *c.r;
    // Warp 0's threads hold none of the next sample: numbered from warp 1 on, the 196 quads of
    // an image fall to warps 1 to 7, so its stores stay off warp 0's chain.
    const int slot = c.tid >= 32 ? c.tid - 32 : c.tid + p.threads - 32;
    prefetch ahead = {};
    prefetch_load<SPAN>(c, ahead, next, next_B, slot);

    const int width = 32 * UPL;
    float *buf = c.partial + (round & 1) * (p.chunk * p.warps * width);
    round++;
    float sums[UPL];
    span_products<UPL, SPAN>(c, w, c.x, sums);
    DD_UNROLL
    for (int k = 0; k < UPL; k++) buf[c.warp * width + 32 * k + c.lane] = sums[k];
    simt_sync();
    phase_done<TIMED>(c, 0);

    prefetch_store<SPAN>(c, ahead, next_B, slot);
    if (c.warp == 0) warp_step_tail(c, buf, r.lr);
    if (c.tid == totals_tid(p)) add_result(kept, tot); // the step before's
    simt_sync();
    phase_done<TIMED>(c, 1);

    static_assert(32 * DD_CLASSES <= DD_FUSED_THREADS, "a weight a thread");
    output_kernel_update<1>(c, c.tid, p.threads, r.lr, tot);
    add_grad_sq(c, tot, 0,
                first_layer_block_update<UPL, SPAN>(c, w, c.x, grad_buffer(c, 1), 0, 1, r.lr,
                                                    r.diagnostics, NULL));
    if (c.tid == totals_tid(p)) keep_result(c, kept);
}

#endif
