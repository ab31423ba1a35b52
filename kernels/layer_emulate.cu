// The layer kernels run on the host: layer_body.cuh with the GPU's launch shapes, one host thread
// per GPU thread of a block, the blocks in turn (they share nothing). Slow, but the GPU's code
// path index for index, in the CPU tests; under ThreadSanitizer (-DDD_TSAN=ON) its barriers order
// exactly what __syncthreads orders.
#define DD_SIMT_HOST
#include <stdio.h>
#include <string.h>

#include "layer.h"
#include "layer_body.cuh"
#include "simt_host.h"

namespace {

enum body_kind { BIAS_ACTIVATION, BN_FORWARD, BACKWARD };

struct grid_run {
    body_kind kind;
    layer_shape shape;
    const dd_layer_view *v;
    float *grad;
    int B, training, n;
    simt_block *block;
    double *part; // the block's shared memory
};

// Thread TID of every block in turn; the barrier at each block's end lets the next one reuse the
// shared memory.
void run_thread(void *arg, int tid) {
    const grid_run *r = (const grid_run *)arg;
    simt_current = r->block;
    simt_current_cluster = NULL;
    simt_thread = tid, simt_rank = 0, simt_threads = r->shape.threads;
    for (int block = 0; block < r->shape.blocks; block++) {
        simt_block_id = block;
        switch (r->kind) {
        case BIAS_ACTIVATION:
            bias_activation_body(*r->v, r->n);
            break;
        case BN_FORWARD:
            bn_layer_forward_body(*r->v, r->B, r->training, r->part);
            break;
        case BACKWARD:
            layer_backward_body(*r->v, r->grad, r->B, r->part);
            break;
        }
        simt_sync();
    }
}

int run_grid(grid_run *r, char *err) {
    const int threads = r->shape.threads;
    if (threads < 32 || threads > DD_LAYER_THREADS || threads % 32 != 0) {
        snprintf(err, DD_ERR_LEN, "layer emulator: blocks of %d threads", threads);
        return -1;
    }
    simt_block *block = new simt_block();
    double part[DD_LAYER_THREADS];
    simt_block_open(block, threads);
    r->block = block, r->part = part;
    const int rc = simt_run_threads(threads, run_thread, r);
    simt_block_close(block, threads);
    delete block;
    if (rc == 0) return 0;
    snprintf(err, DD_ERR_LEN, "layer emulator: starting its threads: %s", strerror(rc));
    return -1;
}

} // namespace

extern "C" int dd_layer_forward_emulated(const dd_layer_view *v, int B, int training, char *err) {
    grid_run r = {};
    r.v = v, r.B = B, r.training = training;
    if (v->bn == DD_BN_NONE) {
        r.kind = BIAS_ACTIVATION, r.n = B * v->units, r.shape = layer_elementwise_shape(r.n);
    } else {
        r.kind = BN_FORWARD, r.shape = layer_channel_shape(v, B);
    }
    return run_grid(&r, err);
}

extern "C" int dd_layer_backward_emulated(const dd_layer_view *v, float *grad, int B, char *err) {
    grid_run r = {};
    r.kind = BACKWARD, r.v = v, r.grad = grad, r.B = B, r.shape = layer_channel_shape(v, B);
    return run_grid(&r, err);
}
