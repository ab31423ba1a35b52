// The layer kernels run on the host: layer_body.cuh with the GPU's launch shapes, the blocks in
// turn (they share nothing); a host thread per GPU thread where the threads meet at barriers. Slow,
// but the GPU's code path index for index, in the CPU tests; under ThreadSanitizer (-DDD_TSAN=ON)
// its barriers order exactly what __syncthreads orders.
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
    const dd_layer_view *v;
    float *grad;
    int B, training, n;
    double part[DD_LAYER_THREADS]; // the block's shared memory
};

void run_thread(void *arg) {
    grid_run *r = (grid_run *)arg;
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
}

// The elementwise kernel's threads never meet; the per-channel kernels' do (block_sum).
int run_grid(grid_run *r, layer_shape shape, char *err) {
    const int syncing = r->kind != BIAS_ACTIVATION;
    const int rc = simt_run_grid(shape.blocks, shape.threads, syncing, run_thread, r);
    if (rc == 0) return 0;
    snprintf(err, DD_ERR_LEN, "layer emulator: starting its threads: %s", strerror(rc));
    return -1;
}

} // namespace

extern "C" int dd_layer_forward_emulated(const dd_layer_view *v, int B, int training, char *err) {
    grid_run r = {};
    r.v = v, r.B = B, r.training = training;
    if (v->bn != DD_BN_NONE) {
        r.kind = BN_FORWARD;
        return run_grid(&r, layer_channel_shape(v, B), err);
    }
    r.kind = BIAS_ACTIVATION, r.n = B * v->units;
    return run_grid(&r, layer_elementwise_shape(r.n), err);
}

extern "C" int dd_layer_backward_emulated(const dd_layer_view *v, float *grad, int B, char *err) {
    grid_run r = {};
    r.kind = BACKWARD, r.v = v, r.grad = grad, r.B = B;
    return run_grid(&r, layer_channel_shape(v, B), err);
}
