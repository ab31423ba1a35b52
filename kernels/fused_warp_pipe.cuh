// The lab's step pipelined (plan.warp_pipe; read fused_warp_step.cuh first): batch 1, one hidden
// layer of up to 31 units without BN, on one SM. The warp step runs its two halves one after the
// other, each waiting for the other at a block barrier: the pixel warps' products, then warp 0's
// small network. Here they overlap. A fifteenth warp (the small warp) owns no pixels and runs
// sample k's small network while the fourteen pixel warps apply sample k-1's update to their
// registers and take sample k+1's products: one block barrier a step, which takes the longer of
// the two paths instead of their sum. Sample k+1's products then come from the kernel before
// sample k's update, W_k, where the step needs W_{k+1} = W_k - lr x_k dz0_k^T; what they miss of
// unit j is a scalar times a dot product of two images:
//
//   z0_{k+1}[j] = (W_k^T x_{k+1})[j] - lr dz0_k[j] (x_k . x_{k+1})
//
// Lane 31 of each pixel warp (no unit of its own: 31 units at most) takes its span's share of
// x_k . x_{k+1} in the same loop as the others' products, holding x_k where they hold weights,
// and the small warp adds the correction. Phase k of a launch of n steps (k = -1 .. n):
//
//   pixel warps: read sample k+2 into registers; apply sample k-1's update (its dL/dz0 from the
//                small warp, phase k-1); sample k+1's products and lane 31's x_k . x_{k+1};
//                store sample k+2; the totals thread: sample k-1's loss and hit
//   small warp:  sample k: z0 from phase k-1's partial sums and the correction, the forward and
//                backward pass, both biases' and the output kernel's updates
//   block barrier
//
// Phase -1 takes the first products alone, phase n applies the last update alone: a launch
// leaves every update applied, as the other steps do. What crosses a barrier alternates between
// two buffers (the partial sums, dL/dz0, the output) or goes round a ring of four (images and
// labels: a step reads samples k-1, k and k+1 and stages k+2). The arithmetic is the warp step's
// but for z0, whose last bits differ, so the results differ from the warp step's within the
// tests' tolerance, and depend as little on how the steps are split into launches (a launch's
// first products need no correction).
#ifndef DD_FUSED_WARP_PIPE_CUH
#define DD_FUSED_WARP_PIPE_CUH

#include "fused_ctx.cuh"
#include "fused_first_layer.cuh"
#include "fused_warp_step.cuh"

// The pipelined step's buffers in shared memory (plan.sm_pipe, DD_FUSED_PIPE_FLOATS).
struct pipe_buffers {
    float *x;    // DD_FUSED_PIPE_IMAGES standardized images: sample k's in slot k % 4
    int *labels; // their labels, alike
    float *y;    // two outputs (DD_FUSED_PIPE_Y floats each): sample k's in k % 2
    float *dz;   // two dL/dz0 (32 floats each): sample k's in k % 2
};

DD_SIMT_FN pipe_buffers pipe_buffers_of(const dd_fused_plan &p, char *shared) {
    float *at = (float *)shared + p.sm_pipe;
    pipe_buffers q;
    q.x = at;
    q.labels = (int *)(at + DD_FUSED_PIPE_IMAGES * DD_IMAGE_PIXELS);
    q.y = at + DD_FUSED_PIPE_IMAGES * (DD_IMAGE_PIXELS + 1);
    q.dz = q.y + 2 * DD_FUSED_PIPE_Y;
    return q;
}

// Sample K's slot in the ring (K >= 0).
DD_SIMT_FN int ring_slot(int k) {
    return k & (DD_FUSED_PIPE_IMAGES - 1);
}

// The partial sums of sample K's first-layer products: a float per pixel warp and lane.
DD_SIMT_FN float *pipe_partial(const fused_ctx &c, int k) {
    return c.partial + (k & 1) * (c.p->warps * 32);
}

// Sample K by the small warp: z0 from the pixel warps' partial sums, taken (when CORRECT) with
// the kernel before sample K-1's update, whose share the correction adds from DZ, lane j's dL/dz0
// of sample K-1, which then becomes sample K's. Then the small network, and the output kernel's
// update (the block's, in the warp step).
DD_SIMT_FN void pipe_small_network(const fused_ctx &c, const pipe_buffers &q, int k, int correct,
                                   float &dz, fused_totals &tot) {
    const dd_fused_plan &p = *c.p;
    const float lr = c.r->lr, *buf = pipe_partial(c, k);
    float sum = 0.0f, xx = 0.0f;
    if (c.lane < p.units[0]) {
        for (int w = 0; w < DD_FUSED_WARPS; w++) sum += buf[w * 32 + c.lane]; // (p.warps)
        for (int w = 0; w < DD_FUSED_WARPS; w++) xx += buf[w * 32 + 31];
        if (correct) sum = fmaf(-lr * dz, xx, sum); // the update's step, as the pixel warps take it
    }
    dz = small_network(c, sum, q.y + (k & 1) * DD_FUSED_PIPE_Y, q.dz + (k & 1) * 32,
                       q.labels[ring_slot(k)], lr);
    simt_syncwarp(); // every lane's dL/dz0 has read the output kernel as it was
    output_kernel_update<(DD_FUSED_PIPE_MAX_UNITS * DD_CLASSES + 31) / 32>(c, c.lane, 32, lr, tot);
}

// Lane 31 of a pixel warp: its span of IMAGE where the other lanes hold their weights.
template <int SPAN>
DD_SIMT_FN void hold_image(const fused_ctx &c, float (&w)[1][SPAN], const float *image) {
    constexpr int V = span_vector<SPAN>();
    const float *x = image + span_offset<SPAN>(c);
    DD_UNROLL
    for (int q = 0; q < SPAN / V; q++) {
        float v[V];
        load_pixels(x + V * q, v);
        DD_UNROLL
        for (int e = 0; e < V; e++) w[0][V * q + e] = v[e];
    }
}

// Phase K of N by a pixel warp (see the top of this file).
template <int SPAN>
DD_SIMT_FN void pipe_pixel_warp(const fused_ctx &c, float (&w)[1][SPAN], const pipe_buffers &q,
                                int k, int n, fused_totals &tot) {
    const dd_fused_plan &p = *c.p;
    const dd_fused_run &r = *c.r;
    const int stage = k + 2 < n;
    prefetch ahead = {};
    if (stage) prefetch_load<SPAN>(c, ahead, r.first + k + 2, 1, c.tid);
    if (k >= 1) { // lane 31's step is 0: it keeps the image it holds
        const float *x = q.x + ring_slot(k - 1) * DD_IMAGE_PIXELS, *d = q.dz + ((k - 1) & 1) * 32;
        add_grad_sq(c, tot, 0,
                    first_layer_block_update<1, SPAN>(c, w, x, d, 0, 1, r.lr, r.diagnostics, NULL));
    }
    if (k + 1 < n) {
        if (c.lane == 31 && k >= 0) hold_image<SPAN>(c, w, q.x + ring_slot(k) * DD_IMAGE_PIXELS);
        float sums[1];
        span_products<1, SPAN>(c, w, q.x + ring_slot(k + 1) * DD_IMAGE_PIXELS, sums);
        pipe_partial(c, k + 1)[c.warp * 32 + c.lane] = sums[0];
    }
    if (stage) {
        fused_ctx to = c;
        to.x_next = q.x + ring_slot(k + 2) * DD_IMAGE_PIXELS;
        to.next_labels = q.labels + ring_slot(k + 2);
        prefetch_store<SPAN>(to, ahead, 1, c.tid);
    }
    if (c.tid == totals_tid(p) && k >= 1)
        add_sample(tot, q.y + ((k - 1) & 1) * DD_FUSED_PIPE_Y, q.labels[ring_slot(k - 1)]);
}

// Every step of the launch (r.count samples, one a step), after the body's setup: the first
// sample staged (in the first step's time), then phases -1 .. n, each ending at a block barrier.
// With the phase clocks (TIMED) a step is timed in two parts, which say whose path sets its
// time: from its start to the end of the small warp's work (the clocks' keeper is the small
// warp's last lane), then from there to the barrier's end (the pixel warps' path beyond it).
// The pipeline's fill and drain (phases -1 and n: about one step's work together) and the
// first sample's staging are timed too, so a launch of n steps overstates the mean step by
// about 1/n of a step (nothing for an epoch; 14% for the tests' launches of 7).
template <int SPAN, bool TIMED>
DD_SIMT_FN void warp_pipe_steps(const fused_ctx &c, float (&w)[1][SPAN], char *shared,
                                fused_totals &tot) {
    const dd_fused_plan &p = *c.p;
    const dd_fused_run &r = *c.r;
    const pipe_buffers q = pipe_buffers_of(p, shared);
    const int n = r.count;
    if (n > 0) {
        stage_images<SPAN>(c, q.x, r.first, 1);
        if (c.tid == 0) q.labels[0] = r.labels[r.order[r.first]];
    }
    simt_sync();
    float dz = 0.0f; // the small warp's lane j: dL/dz0 of unit j, the sample before
    for (int k = -1; k <= n; k++) {
        if (c.warp < p.warps) {
            pipe_pixel_warp<SPAN>(c, w, q, k, n, tot);
        } else {
            if (k >= 0 && k < n) pipe_small_network(c, q, k, k > 0, dz, tot);
            // The clocks' keeper (lane 31) reads the clock once its whole warp is done: its own
            // part of the output kernel's update may end before the other lanes' parts.
            if (TIMED) simt_syncwarp();
            phase_done<TIMED>(c, 0);
        }
        simt_sync();
        phase_done<TIMED>(c, 1);
    }
}

#endif
