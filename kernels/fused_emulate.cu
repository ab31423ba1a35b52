// The fused engine's body run on the host: one host thread per GPU thread, pthread barriers for
// __syncthreads, for each warp's shuffles and for the cluster's barrier; each block of a cluster
// has its own shared memory, which the others reach through simt_cluster_map. Slow (every barrier
// wakes hundreds of threads), and blind to what only hardware shows (register spills, timing),
// but it runs the GPU's code path, index for index, in the CPU tests.
#define DD_SIMT_HOST
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fused_body.cuh"

thread_local simt_block *simt_current;
thread_local simt_cluster *simt_current_cluster;
thread_local int simt_thread, simt_rank;

namespace {

// The cluster starts whole or not at all: threads wait at this gate until every one exists (GO),
// or leave without running if one could not be created (a barrier would wait for it forever).
struct gate {
    pthread_mutex_t lock;
    pthread_cond_t opened;
    int state; // 0 closed, 1 go, -1 abandoned
};

struct emulated_thread {
    pthread_t handle;
    int tid, rank;
    simt_block *block;
    simt_cluster *cluster;
    const fused_ctx *ctx;
    gate *start;
};

void *run_thread(void *arg) {
    emulated_thread *t = (emulated_thread *)arg;
    pthread_mutex_lock(&t->start->lock);
    while (t->start->state == 0) pthread_cond_wait(&t->start->opened, &t->start->lock);
    const int go = t->start->state > 0;
    pthread_mutex_unlock(&t->start->lock);
    if (!go) return NULL;
    simt_current = t->block;
    simt_current_cluster = t->cluster;
    simt_thread = t->tid;
    simt_rank = t->rank;
    const dd_fused_plan &p = *t->ctx->p;
    char *shared = t->cluster->shared[t->rank];
    const int one = p.cluster == 1;
    if (p.upl == 1)
        one ? fused_body<1, DD_FUSED_SPAN_OF(1)>(*t->ctx, shared)
            : fused_body<1, DD_FUSED_SPAN_OF(2)>(*t->ctx, shared);
    else
        one ? fused_body<2, DD_FUSED_SPAN_OF(1)>(*t->ctx, shared)
            : fused_body<2, DD_FUSED_SPAN_OF(2)>(*t->ctx, shared);
    return NULL;
}

int fail(char *err, const char *what, int code) {
    snprintf(err, DD_ERR_LEN, "fused emulator: %s: %s", what, strerror(code));
    return -1;
}

void open_gate(gate *g, int state) {
    pthread_mutex_lock(&g->lock);
    g->state = state;
    pthread_cond_broadcast(&g->opened);
    pthread_mutex_unlock(&g->lock);
}

// Starts every thread of every block of the cluster and waits for them all.
int run_cluster(const fused_ctx *ctx, simt_cluster *cluster, simt_block *blocks, char *err) {
    const int per_block = ctx->p->threads, n = per_block * ctx->p->cluster;
    emulated_thread *threads = (emulated_thread *)calloc((size_t)n, sizeof *threads);
    if (!threads) return fail(err, "threads", ENOMEM);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    gate start = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    int started = 0, rc = 0;
    for (; started < n; started++) {
        emulated_thread *t = &threads[started];
        t->tid = started % per_block, t->rank = started / per_block;
        t->block = &blocks[t->rank], t->cluster = cluster, t->ctx = ctx, t->start = &start;
        rc = pthread_create(&t->handle, &attr, run_thread, t);
        if (rc != 0) break;
    }
    pthread_attr_destroy(&attr);
    open_gate(&start, rc == 0 ? 1 : -1);
    for (int k = 0; k < started; k++) pthread_join(threads[k].handle, NULL);
    free(threads);
    return rc == 0 ? 0 : fail(err, "pthread_create", rc);
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
        for (int b = 0; b < blocks; b++) {
            simt_barrier_init(&block[b].all, plan->threads);
            for (int w = 0; w < plan->warps; w++) simt_barrier_init(&block[b].warp[w], 32);
        }
        fused_ctx c = {};
        c.p = plan;
        c.r = run;
        rc = run_cluster(&c, cluster, block, err);
        simt_barrier_destroy(&cluster->all);
        for (int b = 0; b < blocks; b++) {
            simt_barrier_destroy(&block[b].all);
            for (int w = 0; w < plan->warps; w++) simt_barrier_destroy(&block[b].warp[w]);
        }
    }
    for (int b = 0; b < blocks; b++) free(cluster->shared[b]);
    delete cluster;
    delete[] block;
    return rc;
}
