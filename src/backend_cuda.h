/* The CUDA backend's state, shared by its two files: backend_cuda.c (the backend's operations,
 * the fused engine's queue, evaluation) and backend_cuda_graph.c (the layers engine's training
 * step, captured as a CUDA graph and replayed). Private to them. */
#ifndef DD_BACKEND_CUDA_H
#define DD_BACKEND_CUDA_H

#include "deepdigits/backend.h"
#include "deepdigits/gpu.h"
#include "deepdigits/network.h"
#include "deepdigits/ops.h"
#include "fused.h"

/* Fused steps waiting for a launch: COUNT samples from FIRST in the order, in batches of BATCH,
 * CLOSED once a partial batch has ended them. */
typedef struct {
    int first, count, batch, closed;
    float lr;
} fused_queue;

typedef struct {
    dd_backend base;
    dd_backend_setup setup;
    dd_gpu gpu;
    dd_net net; /* device pointers, host-side bookkeeping */
    uint8_t *train_pixels, *train_labels, *test_pixels, *test_labels, *batch_labels, *predictions;
    float *table, *params, *grads;
    uint32_t *order;
    int *step_first; /* the device counter: where the next step starts in ORDER */
    double *sums;
    long steps, samples;      /* since the last take_sums, counted on the host */
    long replayed;            /* of those steps, how many replayed the captured graph */
    int next_first;           /* what the device counter holds after the queued steps */
    cudaEvent_t last_mark;    /* for elapsed() */
    dd_shuffle_work *shuffle; /* the device shuffle's buffers and generator, for SHUFFLE_SEED */
    unsigned long long shuffle_seed;
    cudaGraphExec_t graph;
    int warm; /* a full-batch step ran eagerly, so capturing one is safe */
    int graph_batch;
    float graph_lr;
    int lost_captures; /* captures invalidated in a row, since the last good one */
    /* The layers engine's backward pass runs each layer's kernel product (its gradient, or with
     * the diagnostics off its update) on a branch (SIDE), beside the rest of the pass: forked
     * after the layer's dX product (FORK[l]), joined at the step's end (JOIN). Each layer's dL/dz
     * has a buffer of its own (DZ: n_dense blocks of max_batch x max_units), so that nothing the
     * main stream writes later is read by a branch still to run. */
    cudaStream_t side;
    cudaEvent_t fork[DD_MAX_DENSE], join;
    float *dz;
    /* The fused engine: its plan, its global scratch (when the activations are not in shared
     * memory), and the steps queued for its next launch. */
    dd_fused_plan plan;
    float *fused_scratch;
    fused_queue queued;
} cuda_backend;

/* Returns -1 from the enclosing function when CALL fails (its message is in gpu.err). */
#define TRY(call)                                                                                  \
    do {                                                                                           \
        if ((call) != 0) return -1;                                                                \
    } while (0)

static inline float *param_at(cuda_backend *b, size_t offset) {
    return b->params + offset;
}

/* The twin of dd_net_forward over B rows of net.input, in training mode or not. In training the
 * output layer stops at its SGEMM: the step's loss kernel takes its bias and activation
 * (dd_loss_output_step_gpu). */
int dd_cuda_forward(cuda_backend *b, int B, int training);

/* Points the device counter at FIRST in the order (a new epoch, a resumed position). */
int dd_cuda_move_counter(cuda_backend *b, int first);

/* One training step of COUNT samples from FIRST with the layers engine: a replay of the captured
 * graph where it can, the same launches eagerly where it cannot. 0, or -1 with gpu.err. */
int dd_cuda_layers_step(cuda_backend *b, int first, int count, float lr);

#endif
