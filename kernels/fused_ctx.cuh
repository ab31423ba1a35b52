// What every part of the fused engine's body shares: one block's view of a launch and the rules
// that say what each layer does. See fused_body.cuh.
#ifndef DD_FUSED_CTX_CUH
#define DD_FUSED_CTX_CUH

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
    float *x, *x_next; // this batch's standardized images, and the next batch's (x_double)
    int *labels, *hits, *next_labels;
    double *red;
    int tid, lane, warp;
    int rank, px0;     // this block's rank in its cluster (0 alone) and first pixel of its share
    long long *clocks; // shared: each phase's cycles so far, then the clock at the last phase's end
};

DD_SIMT_FN float *param(const fused_ctx &c, int offset) {
    return c.rest + (offset - c.p->rest);
}

DD_SIMT_FN int has_bn(const dd_fused_plan &p, int l) {
    return p.bn != DD_BN_NONE && l < p.n_dense - 1;
}

DD_SIMT_FN dd_activation activation(const dd_fused_plan &p, int l) {
    return dd_dense_activation(l, p.n_dense - 1, (dd_activation)p.activation);
}

// A barrier for shared data that every block of the cluster reads (a block's own barrier alone).
DD_SIMT_FN void cluster_sync(const fused_ctx &c) {
    if (c.p->cluster > 1)
        simt_cluster_sync();
    else
        simt_sync();
}

// Barriers set a step's time at small batches, so elementwise work rides along with the phase
// before it where nothing else needs that phase's result first: a layer without BN activates
// each output as soon as it is computed (the output layer also takes the loss's gradient
// there), a layer with BN activates in BN's phase; dL/d(activation output) is multiplied by the
// activation's derivative by whoever produces it (the loss, or the layer above's input
// gradient), or, when BN comes after the activation and must be undone first, by BN's backward
// phase. Same arithmetic.
DD_SIMT_FN int activates_in_place(const dd_fused_plan &p, int l) {
    return !has_bn(p, l);
}
DD_SIMT_FN int grad_arrives_activated(const dd_fused_plan &p, int l) {
    return !(has_bn(p, l) && p.bn == DD_BN_AFTER);
}

// SGD on a bias of U units from dL/dz D (B x u): the column sums, in row order as the reference
// adds them, one thread per unit, the block's last threads: the first warps carry a BN phase's
// channels (and the rest of a phase's work goes to the first threads), so the last ones idle.
DD_SIMT_FN void bias_update(const fused_ctx &c, float *bias, const float *d, int B, int u,
                            float lr) {
    for (int j = c.p->threads - 1 - c.tid; j < u; j += c.p->threads) {
        float db = 0.0f;
        for (int b = 0; b < B; b++) db += d[b * u + j];
        bias[j] = dd_sgd_step(bias[j], db, lr);
    }
}

// Running totals of a launch: the backend's DD_SUM_* accumulators, kept by one thread
// (totals_tid), and each thread's share of every kernel gradient's squared norm (the
// diagnostics), added up across the block once per launch rather than once per step (two barriers
// a layer saved per step; the price: how the steps were split into launches moves the norms in
// their last bits, ~1e-16).
struct fused_totals {
    double loss, correct, steps, bad_step;
    double grad_sq[DD_MAX_DENSE];
};

// The thread that keeps the loss, hit and step totals: the last of the pixel warps' (the block's
// last but in the pipelined warp step, whose last warp runs the small network), whose warp has
// least to do in the small layers' phases (warp 0 runs the warp step's; the first warps a BN
// phase's channels).
DD_SIMT_FN int totals_tid(const dd_fused_plan &p) {
    return 32 * p.warps - 1;
}

// One step into the totals: its batch's loss (the samples' losses summed in sample order, as the
// reference adds them) and hits.
DD_SIMT_FN void add_step(fused_totals &tot, double loss, int hits) {
    tot.loss += loss;
    tot.correct += hits;
    tot.steps += 1;
    tot.bad_step = dd_first_bad_step(tot.bad_step, tot.loss, tot.steps);
}

// The batch's B losses and hits (c.loss, c.hits) into the totals: summed in sample order, then
// added, as the reference does.
DD_SIMT_FN void add_batch(const fused_ctx &c, fused_totals &tot, int B) {
    double loss = 0;
    int hits = 0;
    for (int b = 0; b < B; b++) loss += c.loss[b], hits += c.hits[b];
    add_step(tot, loss, hits);
}

// The backward pass's gradient buffers rotate through three: a phase reads dL/dz of its layer
// from one, writes the layer below's into the next, while the kernel update due from the phase
// before still reads the third.
DD_SIMT_FN float *grad_buffer(const fused_ctx &c, int k) {
    return c.acts + c.p->grad[k % 3];
}

// A kernel gradient's squared norm into the diagnostics' totals; only with diagnostics, since L
// indexes an array at run time, which puts TOT in local memory: no traffic there otherwise.
DD_SIMT_FN void add_grad_sq(const fused_ctx &c, fused_totals &tot, int l, double sq) {
    if (c.r->diagnostics) tot.grad_sq[l] += sq;
}

// The thread that keeps the phase clocks: the block's last (of rank 0).
DD_SIMT_FN int keeps_clocks(const fused_ctx &c) {
    return c.tid == c.p->threads - 1 && c.rank == 0;
}

// Phase clocks (dd_fused_run.phase_clocks; the kernel built with TIMED): phase PHASE of a step
// ends here, just after a block barrier, where every warp has finished it: the keeper reads the
// clock and adds the cycles since the last phase's end to the phase's total.
// Without TIMED this is nothing at all.
template <bool TIMED> DD_SIMT_FN void phase_done(const fused_ctx &c, int phase) {
    if (!TIMED || !keeps_clocks(c)) return;
    const long long now = simt_clock();
    c.clocks[phase] += now - c.clocks[DD_FUSED_PHASES];
    c.clocks[DD_FUSED_PHASES] = now;
}

// The phase clocks' totals zeroed and the first phase started (after the launch's setup).
template <bool TIMED> DD_SIMT_FN void phase_clocks_start(const fused_ctx &c) {
    const int keeper = TIMED && keeps_clocks(c);
    for (int k = 0; keeper && k < DD_FUSED_PHASES; k++) c.clocks[k] = 0;
    if (keeper) c.clocks[DD_FUSED_PHASES] = simt_clock();
}

// The launch's phase cycles added to SUMS (DD_FUSED_PHASES doubles, global).
template <bool TIMED> DD_SIMT_FN void phase_clocks_add(const fused_ctx &c, double *sums) {
    const int keeper = TIMED && keeps_clocks(c);
    for (int k = 0; keeper && k < DD_FUSED_PHASES; k++) sums[k] += (double)c.clocks[k];
}

// What layer L hands to the next one (dd_net_layer_output's rule).
DD_SIMT_FN float *layer_output(const fused_ctx &c, int l) {
    const dd_fused_plan &p = *c.p;
    return c.acts + (has_bn(p, l) && p.bn == DD_BN_AFTER ? p.bn_out[l] : p.act[l]);
}

#endif
