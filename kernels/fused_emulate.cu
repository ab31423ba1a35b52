// The fused engine's body run on the host: one host thread per GPU thread, pthread barriers for
// __syncthreads and for each warp's shuffles. Slow (every barrier wakes hundreds of threads), and
// blind to what only hardware shows (races on shared memory, register spills, timing), but it runs
// the GPU's code path, index for index, in the CPU tests.
#define DD_SIMT_HOST
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fused_body.cuh"

thread_local simt_block *simt_current;
thread_local int simt_thread;

namespace {

// The block starts whole or not at all: threads wait at this gate until every one exists (GO),
// or leave without running if one could not be created (a barrier would wait for it forever).
struct gate {
    pthread_mutex_t lock;
    pthread_cond_t opened;
    int state; // 0 closed, 1 go, -1 abandoned
};

struct emulated_thread {
    pthread_t handle;
    int tid;
    simt_block *block;
    const fused_ctx *ctx;
    char *shared;
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
    simt_thread = t->tid;
    if (t->ctx->p->upl == 1)
        fused_body<1>(*t->ctx, t->shared);
    else
        fused_body<2>(*t->ctx, t->shared);
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

// Starts every thread of the block and waits for them all.
int run_block(const fused_ctx *ctx, simt_block *block, char *shared, char *err) {
    const int n = ctx->p->threads;
    emulated_thread *threads = (emulated_thread *)calloc((size_t)n, sizeof *threads);
    if (!threads) return fail(err, "threads", ENOMEM);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    gate start = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    int started = 0, rc = 0;
    for (; started < n; started++) {
        emulated_thread *t = &threads[started];
        t->tid = started, t->block = block, t->ctx = ctx, t->shared = shared, t->start = &start;
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
    if (plan->threads > 1024 || plan->threads % 32 != 0) {
        snprintf(err, DD_ERR_LEN, "fused emulator: a block of %d threads", plan->threads);
        return -1;
    }
    simt_block *block = new simt_block;
    char *shared = (char *)malloc(plan->shared_bytes ? plan->shared_bytes : 1);
    if (shared) memset(shared, 0xff, plan->shared_bytes); /* NaN, and -1: read before written? */
    if (!shared) {
        delete block;
        return fail(err, "shared memory", ENOMEM);
    }
    simt_barrier_init(&block->all, plan->threads);
    for (int w = 0; w < plan->warps; w++) simt_barrier_init(&block->warp[w], 32);
    fused_ctx c = {};
    c.p = plan;
    c.r = run;
    const int rc = run_block(&c, block, shared, err);
    simt_barrier_destroy(&block->all);
    for (int w = 0; w < plan->warps; w++) simt_barrier_destroy(&block->warp[w]);
    free(shared);
    delete block;
    return rc;
}
