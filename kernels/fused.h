/* The fused engine: whole runs of SGD steps of one small network in one thread block, the network
 * held on chip for the whole launch. The CUDA kernel is kernels/fused.cu; its body
 * (kernels/fused_body.cuh) is also compiled for the host and run there by an emulator of the
 * block's threads (kernels/fused_emulate.cu), so the CPU tests check the very code the GPU runs.
 *
 * How a step is laid out: thread t owns input pixels t and t+T (DD_FUSED_PIX of them) and keeps
 * those rows of the first kernel in registers; the first layer's dot products are added up across
 * the block by warp shuffles and one pass through shared memory; the later, small layers, BN and
 * the loss run in shared memory, one thread per element; the first kernel's update is a rank-1
 * update of each thread's own registers. See bench/NOTES.md for the numbers. */
#ifndef DD_FUSED_H
#define DD_FUSED_H

#include <stddef.h>
#include <stdint.h>

#include "deepdigits/model.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DD_FUSED_MAX_UNITS       64   /* widest hidden layer the engine takes */
#define DD_FUSED_MAX_BATCH       1024 /* largest batch */
#define DD_FUSED_CHUNK           8    /* samples per reduction round of the first layer */
#define DD_FUSED_ROW_OWNER_BATCH 4 /* up to this batch a thread owns a later layer's kernel row */
/* Pixels per thread and the kernels' launch bound: 784 pixels take 416 threads (13 warps). An SM
 * gives each of its four sub-partitions 16K registers, so 13 warps (4 on a sub-partition) may
 * use 128 registers a thread: the 2 x 32 first-kernel weights fit beside the rest (at one pixel
 * a thread, 800 threads, ptxas allows 72 and spills). */
#define DD_FUSED_PIX     2
#define DD_FUSED_THREADS 416

/* Where everything lives, computed once on the host (dd_fused_plan_build). Offsets are in floats;
 * params offsets index the flat parameter buffer (model.h's layout). */
typedef struct {
    int inputs;  /* pixels per image */
    int n_dense; /* hidden layers + the output layer */
    int activation, bn;
    int units[DD_MAX_DENSE], fan_in[DD_MAX_DENSE];
    int kernel[DD_MAX_DENSE], bias[DD_MAX_DENSE], gamma[DD_MAX_DENSE], beta[DD_MAX_DENSE];
    int moving_mean[DD_MAX_DENSE], moving_var[DD_MAX_DENSE];
    int n_params;
    /* The launch shape: first-layer width rounded up to HMAX (32 or 64, the kernel's template),
     * PIX pixels per thread, THREADS per block (whole warps). */
    int hmax, pix, threads, warps;
    int max_batch;
    /* params[rest .. n_params) (everything but the first kernel) is copied to shared memory when
     * rest_shared, else used in place in global memory. */
    int rest, rest_shared;
    /* Activations, per layer (B x units each, B = max_batch), in shared memory when acts_shared,
     * else in the launch's global scratch. */
    int z[DD_MAX_DENSE], act[DD_MAX_DENSE], bn_out[DD_MAX_DENSE], xhat[DD_MAX_DENSE];
    int mean[DD_MAX_DENSE], var[DD_MAX_DENSE];
    int grad[2]; /* (B, widest layer) each: the backward pass's two gradient buffers */
    int acts_floats, acts_shared;
    /* Always in shared memory: the standardization table (256), two rounds of first-layer partial
     * sums (2 x CHUNK x warps x hmax), this batch's and the next one's rows and labels (4B ints),
     * per-sample losses and
     * hits (B floats, B ints), a per-warp reduction slot (warps doubles). */
    int sm_table, sm_partial, sm_rows, sm_labels, sm_loss, sm_hits, sm_red;
    int sm_end;          /* floats of that fixed part; the parameters and activations follow it */
    size_t shared_bytes; /* the whole dynamic shared allocation */
} dd_fused_plan;

/* Plans CFG for images of INPUTS pixels and batches up to MAX_BATCH, with SHARED_LIMIT bytes of
 * shared memory per block. Returns 0, or -1 with one line in ERR saying why the network does not
 * fit the engine. */
int dd_fused_plan_build(const dd_model_config *cfg, int inputs, int max_batch, size_t shared_limit,
                        dd_fused_plan *plan, char *err);

/* One launch's work: the steps over samples order[first .. first+count) in batches of BATCH (the
 * last one may be partial), on PARAMS (n_params floats, updated in place). SUMS: the CUDA
 * backend's accumulators (kernels.h's DD_SUM_*), added to. SCRATCH: plan.acts_floats floats of
 * working memory when the activations are not in shared memory, else NULL. */
typedef struct {
    float *params;
    const uint8_t *pixels, *labels; /* the training set: inputs bytes per image */
    const uint32_t *order;
    const float *table; /* pixel value -> input */
    int first, count, batch;
    float lr;
    int diagnostics; /* add each kernel gradient's squared norm to the sums */
    double *sums;
    float *scratch;
} dd_fused_run;

/* The largest dynamic shared memory a block of this GPU may have (the opt-in limit). */
int dd_fused_shared_limit(size_t *bytes, char *err);

/* The run on the GPU, in STREAM (a cudaStream_t), one block. Returns 0, or -1 with ERR. */
int dd_fused_train_gpu(const dd_fused_plan *plan, const dd_fused_run *run, void *stream, char *err);

/* The same body on the host, every thread of the block a host thread (slow: for tests). All
 * pointers in RUN are host memory. Returns 0, or -1 with ERR. */
int dd_fused_train_emulated(const dd_fused_plan *plan, const dd_fused_run *run, char *err);

#ifdef __cplusplus
}
#endif

#endif
