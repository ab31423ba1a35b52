// The fused engine's body: every SGD step of a launch, by one thread block (kernels/fused.h says
// how the work is laid out). Compiled for the GPU by fused.cu and for the host emulator by
// fused_emulate.cu, so it may use only simt.cuh's primitives. The arithmetic of each step is the
// reference's (src/network.c), with the formulas of formulas.h; what differs is only the order
// of some sums, and that a batch's first-kernel update is applied one sample at a time.
#ifndef DD_FUSED_BODY_CUH
#define DD_FUSED_BODY_CUH

#include "fused_ctx.cuh"
#include "fused_first_layer.cuh"
#include "fused_layers.cuh"
#include "fused_warp_pipe.cuh"
#include "fused_warp_step.cuh"

// The labels of the B samples at order[FIRST ..).
DD_SIMT_FN void load_labels(const fused_ctx &c, int *labels, int first, int B) {
    for (int b = c.tid; b < B; b += c.p->threads) labels[b] = c.r->labels[c.r->order[first + b]];
}

// Each sample's MSE loss and hit, into shared memory. The gradient is not taken here: the output
// layer's forward phase has done it (dense_forward). A batch of up to 32 goes to the block's last
// warp, a lane a sample, whose last lane then takes the batch into the totals at once (the
// reference's order: the batch's losses summed, then added), in a phase where that warp has
// least to do; a larger batch is spread over the block and summed after the step's last barrier
// (train_step).
DD_SIMT_FN int losses_in_last_warp(int B) {
    return B <= 32;
}

DD_SIMT_FN void sample_losses(const fused_ctx &c, int B, fused_totals &tot) {
    const dd_fused_plan &p = *c.p;
    const float *y = c.acts + p.act[p.n_dense - 1];
    const int in_warp = losses_in_last_warp(B), first = in_warp ? p.threads - 32 : 0;
    for (int b = c.tid - first; b >= 0 && b < B; b += p.threads) {
        const float *yb = y + b * DD_CLASSES;
        c.loss[b] = dd_mse_sample(NULL, yb, c.labels[b], 0.0f);
        c.hits[b] = dd_argmax(yb, DD_CLASSES) == c.labels[b];
    }
    if (!in_warp || c.warp != p.warps - 1) return;
    simt_syncwarp();
    if (c.tid == totals_tid(p)) add_batch(c, tot, B);
}

// Block-wide sum in double with a fixed tree (so it never depends on timing); the total is valid
// in thread 0. Every thread must call it.
DD_SIMT_FN double block_total_in_thread0(const fused_ctx &c, double v) {
    v = warp_total(v);
    if (c.lane == 0) c.red[c.warp] = v;
    simt_sync();
    double total = 0;
    if (c.tid == 0)
        for (int k = 0; k < c.p->threads / 32; k++) total += c.red[k];
    simt_sync();
    return total;
}

// The next batch's samples (NEXT_B at order[NEXT ..)), when the step did not prefetch them: read
// into registers at the start of the backward pass's first phase and stored at its end where they
// fit (LATE), else read and stored there at once.
struct next_batch {
    int at, n, late;
};

// Whether a kernel of UPL x SPAN first-layer weights a thread has the registers to hold the next
// batch across a phase: ptxas (sm_90) spills none for 28 or fewer, where the one-SM kernels'
// spills grow 8 -> 128 bytes (and their weights are in the loops that spill).
template <int UPL, int SPAN> DD_SIMT_FN constexpr bool stages_late() {
    return UPL * SPAN <= 28;
}

// Backward through every layer from the output layer's dL/dz in gradient buffer 0, updating as
// it goes: a phase per layer, each also applying the kernel update due from the one before; the
// samples' losses are taken alongside the first, and the next batch staged (STAGE; see
// next_batch). The batch is the B samples at order[FIRST ..).
template <int UPL, int SPAN, bool TIMED>
DD_SIMT_FN void backward_update(const fused_ctx &c, float (&w)[UPL][SPAN], int first, int B,
                                const prefetch &next, int have_next, int next_B,
                                const next_batch &stage, fused_totals &tot) {
    const dd_fused_plan &p = *c.p;
    const dd_fused_run &r = *c.r;
    prefetch_k<DD_FUSED_STAGE_READS> later = {};
    if (stages_late<UPL, SPAN>() && stage.late)
        prefetch_load<SPAN>(c, later, stage.at, stage.n, c.tid);
    else if (stage.n) {
        load_labels(c, c.next_labels, stage.at, stage.n);
        if (p.x_double) stage_images<SPAN>(c, c.x_next, stage.at, stage.n);
    }
    sample_losses(c, B, tot);
    kernel_update due = {0, B, NULL};
    int k = 0; // grad_buffer(k) holds dL/dz of layer l
    for (int l = p.n_dense - 1; l > 0; l--, k++) {
        add_grad_sq(c, tot, due.l, apply_kernel_update(c, due, r.lr));
        dense_backward(c, l, grad_buffer(c, k), grad_buffer(c, k + 1), B, r.lr);
        if (stages_late<UPL, SPAN>() && k == 0 && stage.late)
            prefetch_store<SPAN>(c, later, stage.n, c.tid);
        due = {l, B, grad_buffer(c, k)};
        simt_sync();
        phase_done<TIMED>(c, 2 * p.n_dense - l);
    }
    add_grad_sq(c, tot, due.l, apply_kernel_update(c, due, r.lr));
    const double first_sq = first_layer_update<UPL, SPAN>(c, w, grad_buffer(c, k), first, B, r.lr,
                                                          r.diagnostics, next, have_next, next_B);
    phase_done<TIMED>(c, 2 * p.n_dense);
    add_grad_sq(c, tot, 0, first_sq);
}

// One SGD step on the B samples at order[FIRST ..), whose labels C holds; meanwhile the NEXT_B
// samples' labels (and, with x_double, images) at order[NEXT ..) go into the other buffers:
// prefetched into registers now and stored at the step's end when they are few, else loaded
// in the backward pass's first phase (next_batch). No step needs a barrier of its own for that.
// ROUND counts the first layer's reduction rounds through the launch.
template <int UPL, int SPAN, bool TIMED>
DD_SIMT_FN void train_step(const fused_ctx &c, float (&w)[UPL][SPAN], int first, int B, int next,
                           int next_B, fused_totals &tot, int &round) {
    const dd_fused_plan &p = *c.p;
    prefetch ahead = {};
    const int early = prefetchable(p, next_B);
    if (early) prefetch_load<SPAN>(c, ahead, next, next_B, c.tid);
    first_layer_forward<UPL, SPAN>(c, w, first, B, round);
    phase_done<TIMED>(c, 0);
    for (int l = 0; l < p.n_dense; l++) {
        if (l == 0 && !has_bn(p, 0)) continue; // the first layer's phase activated it
        layer_forward(c, l, B, grad_buffer(c, 0));
        simt_sync();
        phase_done<TIMED>(c, 1 + l);
    }
    next_batch stage = {next, early ? 0 : next_B, 0};
    stage.late =
        stages_late<UPL, SPAN>() && stage.n && fits_registers<DD_FUSED_STAGE_READS>(p, stage.n);
    backward_update<UPL, SPAN, TIMED>(c, w, first, B, ahead, early, next_B, stage, tot);
    if (c.tid == totals_tid(p) && !losses_in_last_warp(B)) add_batch(c, tot, B);
}

// The sum of every block's V (valid in thread 0 of each) in thread 0 of rank 0, in rank order.
// Every thread of the cluster must call it.
DD_SIMT_FN double cluster_total(const fused_ctx &c, double v) {
    const dd_fused_plan &p = *c.p;
    if (p.cluster == 1) return v;
    double *slot = c.red + p.threads / 32;
    if (c.tid == 0) *slot = v;
    simt_cluster_sync();
    double total = 0;
    if (c.tid == 0 && c.rank == 0)
        for (int rank = 0; rank < p.cluster; rank++) total += *simt_cluster_map(slot, rank);
    simt_cluster_sync();
    return total;
}

// The builds of the body. GENERIC takes any plan. ON_CHIP takes plans with everything in shared
// memory (plan.on_chip): its buffers all derive from the shared array, so the compiler addresses
// them as shared memory (32-bit shared loads, not generic 64-bit ones). WARP_STEP takes the plans
// whose steps are warp steps and nothing else, so that the lab's kernel holds only its own step
// (ptxas allocates registers for a whole kernel: with the general step beside it, changes there
// moved spills into the warp step's prefetch). WARP_PIPE: the pipelined warp step's plans, with
// their fifteenth warp.
enum { FUSED_GENERIC, FUSED_ON_CHIP, FUSED_WARP_STEP, FUSED_WARP_PIPE };

// Whether there is a BUILD for UPL and SPAN. A cluster's plans are always on chip (the plan's
// rule), so it has that build alone. On one SM at two units a lane the 112 weights a thread leave
// too few registers: ptxas (sm_90) spills 1,804 bytes with the on-chip build against 852 without,
// so those plans take the generic one even when on chip. The warp steps are one SM's, at one unit
// a lane.
template <int UPL, int SPAN> constexpr bool has_build(int build) {
    const bool one_sm = SPAN == DD_FUSED_SPAN_OF(1);
    return build == FUSED_GENERIC   ? one_sm
           : build == FUSED_ON_CHIP ? UPL == 1 || !one_sm
                                    : UPL == 1 && one_sm;
}

// The threads of a BUILD's block (its kernel's launch bounds).
constexpr int build_threads(int build) {
    return build == FUSED_WARP_PIPE ? DD_FUSED_PIPE_THREADS : DD_FUSED_THREADS;
}

// The build plan P runs with UPL and SPAN: the most specific there is.
template <int UPL, int SPAN> inline int build_for(const dd_fused_plan &p) {
    if (has_build<UPL, SPAN>(FUSED_WARP_PIPE) && p.warp_pipe) return FUSED_WARP_PIPE;
    if (has_build<UPL, SPAN>(FUSED_WARP_STEP) && p.warp_step) return FUSED_WARP_STEP;
    if (has_build<UPL, SPAN>(FUSED_ON_CHIP) && p.on_chip) return FUSED_ON_CHIP;
    return FUSED_GENERIC;
}

// Every step of the launch, batch after batch, for the builds but the pipelined warp step's: C's
// buffers for this batch and the next alternate between the halves of LABELS and X (x_double).
template <int UPL, int SPAN, bool TIMED, int BUILD>
DD_SIMT_FN void batch_steps(fused_ctx &c, float (&w)[UPL][SPAN], int *labels, float *x,
                            fused_totals &tot, sample_result &kept) {
    const dd_fused_plan &p = *c.p;
    const dd_fused_run &r = *c.r;
    int round = 0;
    for (int done = 0, step = 0; done < r.count; done += r.batch, step++) {
        const int B = r.count - done < r.batch ? r.count - done : r.batch;
        const int next = done + B, left = r.count - next, odd = step & 1;
        c.labels = labels + odd * p.max_batch, c.next_labels = labels + (1 - odd) * p.max_batch;
        const int image_floats = p.max_batch * p.block_pixels;
        c.x = x + (p.x_double && odd ? image_floats : 0);
        c.x_next = x + (p.x_double && !odd ? image_floats : 0);
        const int next_B = left < r.batch ? left : r.batch;
        if constexpr (BUILD == FUSED_WARP_STEP)
            warp_step<UPL, SPAN, TIMED>(c, w, r.first + next, next_B, tot, kept, round);
        else
            train_step<UPL, SPAN, TIMED>(c, w, r.first + done, B, r.first + next, next_B, tot,
                                         round);
    }
}

// The whole launch: carve shared memory, bring the parameters on chip, run the steps, write back.
// In a cluster every block runs every step (the small layers alike in each); rank 0 writes what
// they share, each block its own pixels' first-kernel weights. TIMED: with the phase clocks.
// BUILD: which of the builds above (build_for says which a plan runs).
template <int UPL, int SPAN, bool TIMED, int BUILD>
DD_SIMT_FN void fused_body(const fused_ctx &c0, char *shared) {
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
    c.clocks = (long long *)(sf + p.sm_clocks);
    float *x = sf + p.sm_x;
    const int x_floats = p.x_samples * p.block_pixels * (p.x_double ? 2 : 1);
    const int rest_n = p.n_params - p.rest;
    const bool on_chip = BUILD != FUSED_GENERIC;
    c.rest = on_chip || p.rest_shared ? x + x_floats : r.params + p.rest;
    c.acts = on_chip || p.acts_shared ? x + x_floats + rest_n : r.scratch;
    c.tid = simt_tid(), c.lane = c.tid % 32, c.warp = c.tid / 32;
    c.rank = p.cluster > 1 ? simt_cluster_rank() : 0;
    c.px0 = c.rank * p.block_pixels;
    const int writer = c.rank == 0; // of what the cluster's blocks share
    constexpr bool pipe = BUILD == FUSED_WARP_PIPE;
    const bool owns_pixels = !pipe || c.warp < p.warps; // (the pipelined step's last warp: none)

    for (int k = c.tid; k < 256; k += p.threads) c.table[k] = r.table[k];
    if (p.rest_shared)
        for (int k = c.tid; k < rest_n; k += p.threads) c.rest[k] = r.params[p.rest + k];
    float w[UPL][SPAN];
    if (owns_pixels) first_kernel_load<UPL, SPAN>(c, w, r.params);
    const int B0 = r.count < r.batch ? r.count : r.batch;
    if (!pipe) load_labels(c, labels, r.first, B0);
    simt_sync(); // the table, before the images go through it
    if (p.x_double && !pipe) stage_images<SPAN>(c, x, r.first, B0);
    fused_totals tot = {};
    if (c.tid == totals_tid(p)) {
        tot.loss = r.sums[DD_SUM_LOSS], tot.correct = r.sums[DD_SUM_CORRECT];
        tot.steps = r.sums[DD_SUM_STEPS], tot.bad_step = r.sums[DD_SUM_BAD_STEP];
    }
    simt_sync();
    phase_clocks_start<TIMED>(c);

    sample_result kept = {}; // the warp step's: the last step's loss, not yet in the totals
    if constexpr (pipe) {
        if constexpr (UPL == 1) warp_pipe_steps<SPAN, TIMED>(c, w, shared, tot);
    } else
        batch_steps<UPL, SPAN, TIMED, BUILD>(c, w, labels, x, tot, kept);
    phase_clocks_add<TIMED>(c, r.sums + DD_SUM_PHASES);
    // The warp step's last phase ends without a barrier; its output-kernel weights are written
    // back below by other threads than the ones that updated them.
    if constexpr (BUILD == FUSED_WARP_STEP) simt_sync();
    if (c.tid == totals_tid(p)) add_result(kept, tot);

    if (owns_pixels) first_kernel_store<UPL, SPAN>(c, w, r.params);
    if (p.rest_shared && writer)
        for (int k = c.tid; k < rest_n; k += p.threads) r.params[p.rest + k] = c.rest[k];
    for (int l = 0; l < p.n_dense && r.diagnostics; l++) {
        double total = block_total_in_thread0(c, tot.grad_sq[l]);
        if (l == 0) total = cluster_total(c, total); // the blocks' pixels; the rest they share
        if (c.tid == 0 && writer) r.sums[DD_SUM_GRAD_SQ + l] += total;
    }
    if (c.tid == totals_tid(p) && writer) {
        r.sums[DD_SUM_LOSS] = tot.loss;
        r.sums[DD_SUM_CORRECT] = tot.correct;
        r.sums[DD_SUM_STEPS] = tot.steps;
        r.sums[DD_SUM_BAD_STEP] = tot.bad_step;
    }
    // No block may leave while another still reads its shared memory (the last round's sums).
    if (p.cluster > 1) simt_cluster_sync();
}

#endif
