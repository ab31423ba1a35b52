/* The interface between the training driver and a backend (the CPU reference, or CUDA). The
 * driver owns the parameters on the host and the sample order; a backend owns its copies, the
 * datasets it was given, and running sums of loss and accuracy, which it hands back once per
 * epoch. CPU: src/backend_cpu.c. */
#ifndef DEEPDIGITS_BACKEND_H
#define DEEPDIGITS_BACKEND_H

#include <stdint.h>

#include "deepdigits/idx.h"
#include "deepdigits/model.h"

typedef enum { DD_DEVICE_CPU, DD_DEVICE_GPU, DD_DEVICE_AUTO } dd_device;

/* How the GPU trains: LAYERS launches each op (cuBLAS GEMMs, custom kernels, CUDA graphs); FUSED
 * runs whole spans of steps in one thread block (kernels/fused.h), for networks that fit on
 * chip; AUTO takes the fused engine where it fits and the batch is at most
 * DD_FUSED_AUTO_MAX_BATCH, else the layers (see README). */
typedef enum { DD_ENGINE_AUTO, DD_ENGINE_FUSED, DD_ENGINE_LAYERS } dd_engine;
/* Measured on an H100 (bench/results/2026-11-27-h100-80gb-hbm3*): the fused engine is faster
 * at batches 1-32 for every model timed (0, 1, 10, 20), the layers engine from 64 up. */
#define DD_FUSED_AUTO_MAX_BATCH 32
/* The fused engine's rule for its SMs a model (dd_backend_setup.fused_sms 0): a cluster of two
 * from this batch up, where halving the first layer's work outweighs the cluster's dearer
 * barrier and its reads of the other block's shared memory. Measured on the same H100: two SMs
 * faster at batches 8, 16 and 32; at batch 2 one SM for the lab's network (6.04 against 6.42
 * us), two for variant 20 (38.96 against 40.71). */
#define DD_FUSED_CLUSTER_MIN_BATCH 8

/* "auto", "fused", "layers"; the parser returns -1 on any other name. */
const char *dd_engine_name(dd_engine e);
int dd_engine_parse(const char *s, dd_engine *out);

/* Everything a backend needs to start: the model, the data (held by the caller for the
 * backend's lifetime), the standardization table and the largest batch it will see. */
typedef struct {
    dd_model_config cfg;
    const dd_dataset *train; /* only the first train_count images are used */
    int train_count;
    const dd_dataset *test;
    float table[256]; /* pixel value -> standardized input */
    int max_batch;
    int diagnostics;  /* accumulate per-layer gradient sums of squares (costs a pass over dW) */
    int tf32;         /* GPU: let cuBLAS use TF32 tensor cores (changes the numbers) */
    int no_graphs;    /* GPU: launch every op eagerly instead of replaying a captured step */
    dd_engine engine; /* GPU only */
    int fused_sms;    /* GPU, fused engine: SMs per model (1, 2, 4), or 0 for the engine's rule */
    int fused_pipe;   /* GPU, fused engine at batch 1: the pipelined warp step (fused.h) */
    int phase_clocks; /* GPU, fused engine: time each phase of a step (dd_sums.phase_cycles) */
} dd_backend_setup;

/* The phases of a fused step that setup.phase_clocks times, at most: the first layer's forward,
 * one forward phase a layer, one backward phase a layer after the first, the first layer's
 * update (dd_fused_phase_name says which is which for a plan). */
#define DD_FUSED_PHASES (2 * DD_MAX_DENSE + 1)

/* Sums over the samples seen since the last take (training) or over a whole set (evaluation). */
typedef struct {
    double loss_sum; /* sum of per-sample losses */
    long correct;    /* argmax matches */
    long samples;
    long steps; /* optimizer steps (training only) */
    /* Training only: the first of these steps whose loss was not finite (1-based), 0 if none. */
    long first_bad_step;
    long replayed; /* the layers engine on the GPU: of the steps, how many replayed a graph */
    /* With setup.diagnostics: per Dense layer, the sum over steps of the squared Frobenius norm
     * of its kernel gradient. */
    double grad_sq[DD_MAX_DENSE];
    /* With setup.phase_clocks (the fused engine only): per phase of a step, the SM clock cycles
     * from the barrier that ends the phase before to the one that ends it, summed over steps. */
    double phase_cycles[DD_FUSED_PHASES];
} dd_sums;

/* What a layer's units do on a fixed probe batch (evaluation mode). */
typedef struct {
    double saturated;   /* fraction of saturated outputs: tanh |a| > 0.99; sigmoid a < 0.01 or
                           a > 0.99; relu a == 0 (dead); linear never */
    double preact_mean; /* mean and standard deviation of what the activation was applied to */
    double preact_std;
} dd_layer_probe;

typedef enum { DD_SPLIT_TRAIN, DD_SPLIT_TEST } dd_split;

typedef struct dd_backend dd_backend;
typedef struct {
    const char *name;
    void (*destroy)(dd_backend *b);
    /* The parameters dd_model_init gives for SEED, drawn by the backend itself: the CPU with
     * cuRAND's host generator, the GPU with its device generator (the same numbers). */
    int (*init_params)(dd_backend *b, unsigned long long seed, char *err);
    /* Host <-> backend copies of the flat parameter buffer (layout order, all n_params floats). */
    int (*upload_params)(dd_backend *b, const float *params, char *err);
    int (*download_params)(dd_backend *b, float *params, char *err);
    /* The epoch's sample order: n indices into the training set. */
    int (*set_order)(dd_backend *b, const uint32_t *order, int n, char *err);
    /* Optional: draws the epoch's order itself, the same permutation dd_shuffle gives for
     * (SEED, EPOCH) over the whole training set; the driver uses it instead of set_order. */
    int (*shuffle)(dd_backend *b, unsigned long long seed, int epoch, char *err);
    /* One SGD step on the samples order[first .. first+count): forward, loss, backward, update. */
    int (*train_step)(dd_backend *b, int first, int count, float lr, char *err);
    /* Returns the training sums since the last call and resets them. */
    int (*take_sums)(dd_backend *b, dd_sums *out, char *err);
    /* Loss and accuracy over a whole split in evaluation mode; PREDICTIONS (one per image) may
     * be NULL. */
    int (*evaluate)(dd_backend *b, dd_split split, dd_sums *out, uint8_t *predictions, char *err);
    /* Saturation and pre-activation statistics of every Dense layer on the first COUNT training
     * images, in evaluation mode; OUT has one entry per Dense layer. */
    int (*probe)(dd_backend *b, int count, dd_layer_probe *out, char *err);
    /* For timing: waits for all queued work, then gives the seconds since the previous call
     * (0 on the first). CPU: the wall clock; GPU: CUDA events on the backend's stream. */
    int (*elapsed)(dd_backend *b, double *seconds, char *err);
} dd_backend_ops;

struct dd_backend {
    const dd_backend_ops *ops;
};

/* The device B runs on: DD_DEVICE_CPU or DD_DEVICE_GPU. */
dd_device dd_backend_device(const dd_backend *b);

dd_backend *dd_backend_cpu_create(const dd_backend_setup *setup, char *err);
dd_backend *dd_backend_cuda_create(const dd_backend_setup *setup, char *err);

/* What every backend checks of its caller: a step of 1..max_batch samples inside the training
 * set, an order no longer than the set. Return 0, or -1 with one line in ERR. */
int dd_backend_check_step(const dd_backend_setup *setup, int first, int count, char *err);
int dd_backend_check_order(const dd_backend_setup *setup, int n, char *err);
/* A probe of COUNT images fits the workspace and the training set. */
int dd_backend_check_probe(const dd_backend_setup *setup, int count, char *err);

/* Test images a forward pass of evaluation takes at a time. */
#define DD_EVAL_BATCH 1000
/* Rows of a backend's workspace: the larger of a training batch and an evaluation chunk (which
 * also holds the diagnostics' probe). */
int dd_backend_rows(const dd_backend_setup *setup);

/* The backend for DEVICE; auto falls back to the CPU with a one-line notice on stderr. */
dd_backend *dd_backend_create(dd_device device, const dd_backend_setup *setup, char *err);
/* --device gpu's check, before any work: 0 when CUDA can run here, else -1 with the line (naming
 * the flag and why: no device, or a driver that cannot run this build) in ERR. */
int dd_check_gpu_flag(char *err);

/* A checkpoint's PARAMS (of STATE's model) on DATA's test set by the CPU backend, with the
 * standardization the model was trained with: the sums into S and each test image's predicted
 * digit into PRED (DATA->test.count bytes). eval and the report both score a model so. Returns
 * 0, or -1 with ERR. */
struct dd_checkpoint_state;
int dd_evaluate_checkpoint(const struct dd_checkpoint_state *state, const float *params,
                           const dd_mnist *data, dd_sums *s, uint8_t *pred, char *err);

#endif
