/* The fused engine: whole runs of SGD steps of one small network in one thread block, the network
 * held on chip for the whole launch. The CUDA kernel is kernels/fused.cu; its body
 * (kernels/fused_body.cuh; the first layer in fused_first_layer.cuh, the others in
 * fused_layers.cuh) is also compiled for the host and run there by an emulator of the block's
 * threads (kernels/fused_emulate.cu), so the CPU tests check the very code the GPU runs.
 *
 * How a step is laid out: the batch's images are standardized into shared memory; warp w owns
 * the 56 pixels [56w, 56w + 56) and lane l the first-layer unit l (and l + 32), whose 56 kernel
 * weights (or 112) it keeps in registers; a lane's dot products need no shuffles (every lane of a
 * warp reads the same pixels, a broadcast), and the 14 warps' partial sums meet once in shared
 * memory. The later, small layers, BN and the loss run in shared memory, a thread per element
 * (a group of lanes per channel for a layer with BN); the first kernel's update is a rank-1 update
 * of each lane's own registers; at batch 1 with one hidden layer, warp 0 alone runs everything
 * after the first layer's products (fused_warp_step.cuh), or, pipelined, a fifteenth warp does
 * beside the others' next products (fused_warp_pipe.cuh). See bench/NOTES.md for the numbers.
 *
 * At larger batches one model may run on a thread-block cluster of two blocks (two SMs), or of
 * four: each block owns its share of the pixels (its warps 28 or 14 each), stages only its share
 * of the images, and reads the other blocks' partial sums through distributed shared memory;
 * everything after the first layer is computed by every block alike, so each holds the whole
 * small network. */
#ifndef DD_FUSED_H
#define DD_FUSED_H

#include <stddef.h>
#include <stdint.h>

#include "deepdigits/backend.h"  /* DD_FUSED_CLUSTER_MIN_BATCH */
#include "deepdigits/formulas.h" /* DD_HD */
#include "deepdigits/idx.h"
#include "deepdigits/model.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DD_FUSED_MAX_UNITS 64   /* widest hidden layer the engine takes */
#define DD_FUSED_MAX_BATCH 1024 /* largest batch */
/* Samples per reduction round of the first layer (plan.chunk): 8, or 16 or 32 where shared memory
 * has room for their partial sums without moving anything else out (fewer rounds, so fewer
 * barriers: on a cluster each is a cluster barrier). */
#define DD_FUSED_CHUNK     8
#define DD_FUSED_MAX_CHUNK 32
/* 14 warps of 32: warp w owns 56 pixels of the 784 (28 in a cluster of two). A sub-partition of
 * an SM runs 4 of the 14 warps, so a thread may use 128 registers: 56 or 112 first-kernel weights
 * beside the rest. The pipelined warp step has one warp more, which owns no pixels. */
#define DD_FUSED_WARPS        14
#define DD_FUSED_THREADS      (32 * DD_FUSED_WARPS)
#define DD_FUSED_PIPE_THREADS (DD_FUSED_THREADS + 32)
/* Pixels per warp when a model runs on CL blocks (a cluster of CL SMs): 56, 28 or 14. */
#define DD_FUSED_SPAN_OF(cl) (DD_IMAGE_PIXELS / (DD_FUSED_WARPS * (cl)))
/* A model runs on 1, 2 or 4 SMs (the clusters whose blocks split 784 pixels into whole spans);
 * the engine's own rule (DD_FUSED_CLUSTER_MIN_BATCH) takes two, the only cluster measured. */
#define DD_FUSED_MAX_CLUSTER  4
#define DD_FUSED_RULE_CLUSTER 2

/* A divisor D as a multiplier, so that the kernel splits an index by a layer's width (or a BN
 * group's lanes) with one multiply instead of the ~20-instruction sequence a division by a
 * run-time value compiles to: N / D is the high half of N x MAGIC, MAGIC = ceil(2^32 / D) (0 for
 * D = 1, where N / D = N). Exact whenever N x D < 2^32: with E = MAGIC x D - 2^32 < D, N x MAGIC /
 * 2^32 = N / D + N E / (D 2^32), and the excess stays below 1 / D, which no fractional part
 * (at most (D - 1) / D) crosses. The engine's indices stay below 1024 x 64 and its divisors at 64
 * (tests/test_fused_emulated.c checks every pair). */
typedef struct {
    unsigned magic;
    int d;
} dd_fused_divisor;

DD_HD dd_fused_divisor dd_fused_divisor_of(int d) {
    dd_fused_divisor div;
    div.magic = d == 1 ? 0u : (unsigned)((0x100000000ull + (unsigned)d - 1) / (unsigned)d);
    div.d = d;
    return div;
}
DD_HD int dd_fused_quotient(int n, dd_fused_divisor div) {
    return div.magic ? (int)(((unsigned long long)(unsigned)n * div.magic) >> 32) : n;
}

/* Where everything lives, computed once on the host (dd_fused_plan_build). Offsets are in floats;
 * params offsets index the flat parameter buffer (model.h's layout). */
typedef struct {
    int n_dense; /* hidden layers + the output layer */
    int activation, bn;
    int units[DD_MAX_DENSE], fan_in[DD_MAX_DENSE];
    dd_fused_divisor by_units[DD_MAX_DENSE]; /* units[l] as a divisor */
    int kernel[DD_MAX_DENSE], bias[DD_MAX_DENSE], gamma[DD_MAX_DENSE], beta[DD_MAX_DENSE];
    int moving_mean[DD_MAX_DENSE], moving_var[DD_MAX_DENSE];
    int n_params;
    /* The launch shape: UPL first-layer units per lane (1 up to 32 units, 2 up to 64: the
     * kernel's template), THREADS per block, CLUSTER blocks per model (1, 2 or 4), each owning
     * BLOCK_PIXELS of an image (784 / CLUSTER) and its warps SPAN pixels each. */
    int upl, threads, warps, cluster, block_pixels, span;
    int max_batch;
    int chunk; /* samples per reduction round of the first layer (DD_FUSED_CHUNK ..) */
    /* The batch's standardized images (this block's block_pixels floats each) at sm_x: X_SAMPLES of
     * them, twice over when X_DOUBLE (the next batch is staged during this one). X_SAMPLES <
     * max_batch: the batch goes through in blocks of X_SAMPLES, staged twice (forward and update).
     */
    int sm_x, x_samples, x_double;
    /* params[rest .. n_params) (everything but the first kernel) is copied to shared memory when
     * rest_shared, else used in place in global memory. */
    int rest, rest_shared;
    /* Activations, per layer (B x units each, B = max_batch), in shared memory when acts_shared,
     * else at the start of the launch's global scratch. */
    int z[DD_MAX_DENSE], act[DD_MAX_DENSE], bn_out[DD_MAX_DENSE], xhat[DD_MAX_DENSE];
    int mean[DD_MAX_DENSE], var[DD_MAX_DENSE];
    /* Lanes per channel of a layer with BN (.d, a power of two, 1..32): a warp runs 32 / lanes
     * channels at once, each group's lanes taking the channel's samples in turn. */
    dd_fused_divisor bn_lanes[DD_MAX_DENSE];
    int grad[3]; /* (B, widest layer) each: the backward pass's gradient buffers (they rotate) */
    int acts_floats, acts_shared;
    /* Global scratch: the activations when not shared, then (when the batch goes in blocks) the
     * first kernel's gradient, 784 x units[0] floats at g_grad, for the diagnostics. Zeroed by
     * whoever allocates it; the kernel leaves the gradient zeroed (the activations it leaves as
     * they are: every launch writes them before reading them). */
    int g_grad, scratch_floats;
    /* Everything a step touches is in shared memory (rest_shared and acts_shared): the kernel has
     * an instance for that, in which the compiler knows every buffer is shared and uses 32-bit
     * shared-memory loads and addresses instead of generic 64-bit ones. Always so on a cluster. */
    int on_chip;
    /* Always in shared memory: a per-warp reduction slot (warps + 2 doubles: one for each warp
     * that runs, the pipelined step's small warp included, and the last for the cluster's sum),
     * the standardization table (256), two rounds of first-layer partial sums (2 x chunk x
     * warps x 32 upl), this batch's and the next one's labels (2B ints), per-sample losses and
     * hits (B each). */
    int sm_red, sm_table, sm_partial, sm_labels, sm_loss, sm_hits;
    int sm_clocks; /* the phase clocks (dd_fused_run.phase_clocks): DD_FUSED_PHASES + 1 int64 */
    size_t shared_bytes; /* the whole dynamic shared allocation */
    /* The lab's own step (kernels/fused_warp_step.cuh): batch 1, one hidden layer of up to 32
     * units without BN, on one SM, everything in shared memory. Everything after the first
     * layer's products then runs in warp 0, with two block barriers a step instead of five. */
    int warp_step;
    /* The pipelined warp step (kernels/fused_warp_pipe.cuh; dd_fused_plan_pipe makes a warp-step
     * plan one): a fifteenth warp runs the small network while the other fourteen update the
     * first kernel and take the next sample's products, one block barrier a step. Its buffers,
     * DD_FUSED_PIPE_FLOATS from sm_pipe: four images in a ring, their labels, and two outputs
     * and two dL/dz0 (each read by the other warps in the step after the one that wrote it). */
    int warp_pipe, sm_pipe;
} dd_fused_plan;

#define DD_FUSED_PIPE_MAX_UNITS                                                                    \
    31 /* lane 31 of each pixel warp takes the correction's dot product */
#define DD_FUSED_PIPE_IMAGES 4
#define DD_FUSED_PIPE_Y      16 /* floats a kept output takes (DD_CLASSES, padded) */
#define DD_FUSED_PIPE_FLOATS                                                                       \
    (DD_FUSED_PIPE_IMAGES * (DD_IMAGE_PIXELS + 1) + 2 * DD_FUSED_PIPE_Y + 2 * 32)

/* Makes PLAN, a warp-step plan of up to 31 hidden units (lane 31 of each pixel warp carries the
 * correction's dot product), the pipelined warp step's, within SHARED_LIMIT bytes of shared
 * memory. Its results differ from the warp step's in the last bits of the first layer's sums,
 * and depend (as much) on how the steps are split into launches. Returns 0, or -1 with ERR. */
int dd_fused_plan_pipe(dd_fused_plan *plan, size_t shared_limit, char *err);

/* Whether the pipelined warp step takes a network of CFG at BATCH (given the room in shared memory
 * every GPU with clusters has): what `--variant all --fused-pipe` pipelines. */
int dd_fused_pipe_takes(const dd_model_config *cfg, int batch);

/* Plans CFG for batches up to MAX_BATCH of INPUTS-pixel images (the engine takes 784), with
 * SHARED_LIMIT bytes of shared memory per block, on SMS blocks per model (1, 2, 4, or 0 for the
 * engine's rule: DD_FUSED_CLUSTER_MIN_BATCH). A cluster needs everything in shared memory.
 * Returns 0, or -1 with one line in ERR saying why the network does not fit the engine. */
int dd_fused_plan_build(const dd_model_config *cfg, int inputs, int max_batch, size_t shared_limit,
                        int sms, dd_fused_plan *plan, char *err);

/* One launch's work: the steps over samples order[first .. first+count) in batches of BATCH (the
 * last one may be partial), on PARAMS (n_params floats, updated in place). SUMS: the CUDA
 * backend's accumulators (kernels.h's DD_SUM_*), added to. SCRATCH: plan.scratch_floats floats
 * of zeroed global memory, or NULL when that is 0. */
typedef struct {
    float *params;
    const uint8_t *pixels, *labels; /* the training set: inputs bytes per image */
    const uint32_t *order;
    const float *table; /* pixel value -> input */
    int first, count, batch;
    float lr;
    int diagnostics; /* add each kernel gradient's squared norm to the sums */
    /* Time each phase of a step (from one block barrier to the next, in SM clock cycles) into
     * sums[DD_SUM_PHASES ..): a build of the kernel with the clock reads in it. On the GPU only
     * for first layers up to 32 units (the kernel the lab's networks take). */
    int phase_clocks;
    double *sums;
    float *scratch;
} dd_fused_run;

/* What phase PHASE of a step of PLAN is (one line into OUT, SIZE bytes), or "" when PLAN's steps
 * have no such phase. */
void dd_fused_phase_name(const dd_fused_plan *plan, int phase, char *out, size_t size);

/* The largest dynamic shared memory a block of this GPU may have (the opt-in limit). */
int dd_fused_shared_limit(size_t *bytes, char *err);

/* Whether this GPU can run PLAN's cluster (1: yes; always for one block). Returns 0, or -1 with
 * ERR. */
int dd_fused_cluster_fits(const dd_fused_plan *plan, int *fits, char *err);

/* Whether the kernel has a build for RUN on PLAN: the phase clocks are built for first layers up
 * to 32 units only (the lab's widths; each timed build adds minutes to the build). The GPU and the
 * emulator both ask, so that a test on the emulator fails where the GPU would. Returns 0, or -1
 * with ERR. */
int dd_fused_run_built(const dd_fused_plan *plan, const dd_fused_run *run, char *err);

/* The run on the GPU, in STREAM (a cudaStream_t), one block or cluster. Returns 0, or -1 with
 * ERR. */
int dd_fused_train_gpu(const dd_fused_plan *plan, const dd_fused_run *run, void *stream, char *err);

/* The same body on the host, every thread of the block (or cluster) a fiber or a host thread
 * (kernels/simt.cuh; slow: for tests). All pointers in RUN are host memory. Returns 0, or -1 with
 * ERR. */
int dd_fused_train_emulated(const dd_fused_plan *plan, const dd_fused_run *run, char *err);

#ifdef __cplusplus
}
#endif

#endif
