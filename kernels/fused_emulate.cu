// The fused engine's body run on the host: each GPU thread a fiber of one host thread (x86-64,
// without ThreadSanitizer; kernels/simt_fibers.cc) or a host thread with pthread barriers
// (kernels/simt.cuh), for __syncthreads, each warp's shuffles and the cluster's barrier; each block
// of a cluster has its own shared memory, which the others reach through simt_cluster_map. Slow
// (every barrier wakes hundreds of threads), and blind to what only hardware shows (register
// spills, timing), but it runs the GPU's code path, index for index, in the CPU tests.
#define DD_SIMT_HOST
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fused_body.cuh"
#include "simt_host.h"

namespace {

struct cluster_run {
    simt_block *blocks;
    simt_cluster *cluster;
    const fused_ctx *ctx;
};

// The body as kernels/fused.cu builds it for the plan (build_for; a build that does not exist
// there is not run here either).
template <int UPL, int SPAN, bool TIMED>
void body_built(const dd_fused_plan &p, const fused_ctx &c, char *shared) {
    switch (build_for<UPL, SPAN>(p)) {
    case FUSED_WARP_PIPE:
        if constexpr (has_build<UPL, SPAN>(FUSED_WARP_PIPE))
            fused_body<UPL, SPAN, TIMED, FUSED_WARP_PIPE>(c, shared);
        break;
    case FUSED_WARP_STEP:
        if constexpr (has_build<UPL, SPAN>(FUSED_WARP_STEP))
            fused_body<UPL, SPAN, TIMED, FUSED_WARP_STEP>(c, shared);
        break;
    case FUSED_ON_CHIP:
        if constexpr (has_build<UPL, SPAN>(FUSED_ON_CHIP))
            fused_body<UPL, SPAN, TIMED, FUSED_ON_CHIP>(c, shared);
        break;
    default:
        if constexpr (has_build<UPL, SPAN>(FUSED_GENERIC))
            fused_body<UPL, SPAN, TIMED, FUSED_GENERIC>(c, shared);
    }
}

template <int UPL, bool TIMED>
void body_on(const dd_fused_plan &p, const fused_ctx &c, char *shared) {
    switch (p.cluster) {
    case 1:
        return body_built<UPL, DD_FUSED_SPAN_OF(1), TIMED>(p, c, shared);
    case 2:
        return body_built<UPL, DD_FUSED_SPAN_OF(2), TIMED>(p, c, shared);
    default:
        return body_built<UPL, DD_FUSED_SPAN_OF(4), TIMED>(p, c, shared);
    }
}

template <bool TIMED> void body(const dd_fused_plan &p, const fused_ctx &c, char *shared) {
    if (p.upl == 1)
        body_on<1, TIMED>(p, c, shared);
    else
        body_on<2, TIMED>(p, c, shared);
}

// Emulated thread I: thread I % threads of the block of rank I / threads.
void run_thread(void *arg, int i) {
    const cluster_run *c = (const cluster_run *)arg;
    const dd_fused_plan &p = *c->ctx->p;
    simt_rank = i / p.threads;
    simt_thread = i % p.threads;
    simt_current = &c->blocks[simt_rank];
    simt_current_cluster = c->cluster;
    simt_threads = p.threads, simt_block_id = simt_rank;
    char *shared = c->cluster->shared[simt_rank];
    if (c->ctx->r->phase_clocks)
        body<true>(p, *c->ctx, shared);
    else
        body<false>(p, *c->ctx, shared);
}

int fail(char *err, const char *what, int code) {
    snprintf(err, DD_ERR_LEN, "fused emulator: %s: %s", what, strerror(code));
    return -1;
}

// Starts every thread of every block of the cluster and waits for them all.
int run_cluster(const fused_ctx *ctx, simt_cluster *cluster, simt_block *blocks, char *err) {
    cluster_run c = {blocks, cluster, ctx};
    const int rc = simt_run_threads(ctx->p->threads * ctx->p->cluster, run_thread, &c);
    return rc == 0 ? 0 : fail(err, "starting its threads", rc);
}

} // namespace

extern "C" int dd_fused_train_emulated(const dd_fused_plan *plan, const dd_fused_run *run,
                                       char *err) {
    const int blocks = plan->cluster;
    if (plan->threads > 1024 || plan->threads % 32 != 0 || blocks < 1 ||
        blocks > SIMT_MAX_CLUSTER) {
        snprintf(err, DD_ERR_LEN, "fused emulator: %d block(s) of %d threads", blocks,
                 plan->threads);
        return -1;
    }
    if (dd_fused_run_built(plan, run, err) != 0) return -1;
    simt_block *block = new simt_block[blocks];
    simt_cluster *cluster = new simt_cluster();
    int rc = 0;
    for (int b = 0; b < blocks && rc == 0; b++) {
        cluster->shared[b] = (char *)malloc(plan->shared_bytes ? plan->shared_bytes : 1);
        if (!cluster->shared[b]) {
            rc = fail(err, "shared memory", ENOMEM);
            break;
        }
        memset(cluster->shared[b], 0xff, plan->shared_bytes); /* NaN, and -1: read unwritten? */
    }
    if (rc == 0) {
        simt_barrier_init(&cluster->all, plan->threads * blocks);
        for (int b = 0; b < blocks; b++) simt_block_open(&block[b], plan->threads);
        fused_ctx c = {};
        c.p = plan;
        c.r = run;
        rc = run_cluster(&c, cluster, block, err);
        simt_barrier_destroy(&cluster->all);
        for (int b = 0; b < blocks; b++) simt_block_close(&block[b], plan->threads);
    }
    for (int b = 0; b < blocks; b++) free(cluster->shared[b]);
    delete cluster;
    delete[] block;
    return rc;
}
