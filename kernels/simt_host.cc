// The host emulator's per-thread state, a block's barriers, the grid runner, and the threads' start
// (simt.cuh with DD_SIMT_HOST, simt_host.h).
#define DD_SIMT_HOST
#include "simt.cuh"
#include "simt_host.h"

#include <stdlib.h>
#include <string.h>

#include <cerrno>
#include <mutex>
#include <vector>

__thread simt_block *simt_current;
__thread simt_cluster *simt_current_cluster;
__thread int simt_thread, simt_rank, simt_threads, simt_block_id;

simt_thread_state simt_state_save() {
    return {simt_current, simt_current_cluster, simt_thread,
            simt_rank,    simt_threads,         simt_block_id};
}

void simt_state_restore(const simt_thread_state &s) {
    simt_current = s.block, simt_current_cluster = s.cluster;
    simt_thread = s.thread, simt_rank = s.rank, simt_threads = s.threads;
    simt_block_id = s.block_id;
}

void simt_block_open(simt_block *b, int threads) {
    simt_barrier_init(&b->all, threads);
    for (int w = 0; w < threads / 32; w++) simt_barrier_init(&b->warp[w], 32);
}

void simt_block_close(simt_block *b, int threads) {
    simt_barrier_destroy(&b->all);
    for (int w = 0; w < threads / 32; w++) simt_barrier_destroy(&b->warp[w]);
}

namespace {

struct shared_array {
    void *start;
    size_t bytes;
};
std::mutex shared_lock;
std::vector<shared_array> shared_arrays;

// Every registered shared array, as the GPU would leave it for a new block: unwritten.
void poison_shared() {
    std::lock_guard<std::mutex> g(shared_lock);
    for (const shared_array &a : shared_arrays) memset(a.start, 0xff, a.bytes);
}

struct grid {
    int blocks, threads;
    void (*body)(void *);
    void *arg;
    simt_block *block;
};

// Thread TID of every block in turn. Each block finds its shared memory poisoned (by thread 0,
// while the others wait), and the barrier at its end lets the next one take the memory over.
void grid_thread(void *p, int tid) {
    const grid *g = (const grid *)p;
    simt_current = g->block;
    simt_current_cluster = NULL;
    simt_thread = tid, simt_rank = 0, simt_threads = g->threads;
    for (int b = 0; b < g->blocks; b++) {
        simt_block_id = b;
        if (tid == 0) poison_shared();
        simt_sync();
        g->body(g->arg);
        simt_sync();
    }
}

} // namespace

bool simt_shared_register(void *array, size_t bytes) {
    std::lock_guard<std::mutex> g(shared_lock);
    shared_arrays.push_back({array, bytes});
    memset(array, 0xff, bytes);
    return true;
}

int simt_run_grid(int blocks, int threads, int syncing, void (*body)(void *arg), void *arg) {
    if (!syncing) {
        simt_current = NULL, simt_current_cluster = NULL;
        simt_rank = 0, simt_threads = threads;
        for (simt_block_id = 0; simt_block_id < blocks; simt_block_id++)
            for (simt_thread = 0; simt_thread < threads; simt_thread++) body(arg);
        return 0;
    }
    grid g = {blocks, threads, body, arg, new simt_block()};
    simt_block_open(g.block, threads);
    const int rc = simt_run_threads(threads, grid_thread, &g);
    simt_block_close(g.block, threads);
    delete g.block;
    return rc;
}

#ifndef DD_SIMT_FIBERS // with fibers: kernels/simt_fibers.cc

namespace {

// Threads wait at this gate until every one exists (GO) or one could not be created (abandoned).
struct gate {
    pthread_mutex_t lock;
    pthread_cond_t opened;
    int state; // 0 closed, 1 go, -1 abandoned
};

struct started_thread {
    pthread_t handle;
    int index;
    void (*fn)(void *, int);
    void *arg;
    gate *start;
};

void *run(void *p) {
    started_thread *t = (started_thread *)p;
    pthread_mutex_lock(&t->start->lock);
    while (t->start->state == 0) pthread_cond_wait(&t->start->opened, &t->start->lock);
    const int go = t->start->state > 0;
    pthread_mutex_unlock(&t->start->lock);
    if (go) t->fn(t->arg, t->index);
    return NULL;
}

void open_gate(gate *g, int state) {
    pthread_mutex_lock(&g->lock);
    g->state = state;
    pthread_cond_broadcast(&g->opened);
    pthread_mutex_unlock(&g->lock);
}

} // namespace

int simt_run_threads(int n, void (*fn)(void *arg, int i), void *arg) {
    started_thread *threads = (started_thread *)calloc((size_t)n, sizeof *threads);
    if (!threads) return ENOMEM;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    gate start = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    int started = 0, rc = 0;
    for (; started < n; started++) {
        started_thread *t = &threads[started];
        t->index = started, t->fn = fn, t->arg = arg, t->start = &start;
        rc = pthread_create(&t->handle, &attr, run, t);
        if (rc != 0) break;
    }
    pthread_attr_destroy(&attr);
    open_gate(&start, rc == 0 ? 1 : -1);
    for (int k = 0; k < started; k++) pthread_join(threads[k].handle, NULL);
    free(threads);
    return rc;
}

#endif
