/* GPU helpers private to the CUDA backend (src/backend_cuda*.c), beside the op twins of ops.h. */
#ifndef DD_KERNELS_H
#define DD_KERNELS_H

#include <stdint.h>

#include "deepdigits/backend.h" /* DD_FUSED_PHASES */
#include "deepdigits/gpu.h"
#include "deepdigits/model.h"
#include "deepdigits/network.h"

#ifdef __cplusplus
extern "C" {
#endif

/* C (m x n) = ALPHA op(A) op(B) + BETA C (C not read when BETA is 0), column-major FP32, as
 * cublasSgemm would give it, but in one kernel: through cuBLASLt in STREAM, with an algorithm that
 * reduces in one pass and needs no workspace, planned once per shape and alignment
 * (kernels/sgemm.cu); through cublasSgemm where cuBLASLt offers none, and for shapes cublasSgemm
 * would refuse (its message then). Those run in gpu->stream whatever STREAM is (the handle has one
 * workspace, so one stream): a caller that passes another stream must be right with either. */
int dd_sgemm_gpu(dd_gpu *gpu, cudaStream_t stream, cublasOperation_t ta, cublasOperation_t tb,
                 int m, int n, int k, float alpha, const float *A, int lda, const float *B, int ldb,
                 float beta, float *C, int ldc);
/* dd_dense_backward_gpu's two products apart, the kernel's in STREAM (as dd_sgemm_gpu runs it):
 * DKERNEL = INPᵀ·DOUT and DINP = DOUT·KERNELᵀ. */
int dd_dense_backward_kernel_gpu(float *dkernel, const float *dout, const float *inp, int B, int I,
                                 int O, cudaStream_t stream, dd_gpu *gpu);
int dd_dense_backward_input_gpu(float *dinp, const float *dout, const float *kernel, int B, int I,
                                int O, dd_gpu *gpu);
/* SGD on KERNEL straight from the product: KERNEL = KERNEL - LR INPᵀ·DOUT, one SGEMM (alpha -LR,
 * beta 1: the epilogue's alpha·acc + beta·C, which may round differently from dd_sgd_step's fmaf
 * in the last bit), in STREAM as dd_sgemm_gpu runs it. No gradient is left behind. */
int dd_dense_update_kernel_gpu(float *kernel, const float *dout, const float *inp, int B, int I,
                               int O, float lr, cudaStream_t stream, dd_gpu *gpu);
/* SGD on the floats of RANGES (first, count) of PARAMS from the same places in GRADS, one launch:
 * the biases and BN's gamma and beta, when the kernels are updated by their SGEMMs. */
typedef struct {
    int n;
    long first[DD_MAX_DENSE], count[DD_MAX_DENSE];
} dd_sgd_ranges;
int dd_sgd_update_ranges_gpu(float *params, const float *grads, const dd_sgd_ranges *ranges,
                             float lr, dd_gpu *gpu);
/* Frees the plans dd_sgemm_gpu made (dd_gpu_close calls it). */
void dd_sgemm_plans_free(dd_gpu *gpu);

/* Training gather for graph replay: rows order[*first ..) of the training set, their labels too. */
int dd_gather_step_gpu(float *out, uint8_t *labels_out, const uint8_t *pixels,
                       const uint8_t *labels, const uint32_t *order, const int *first,
                       const float *table, int B, dd_gpu *gpu);
/* The CUDA backend's device accumulators, in doubles. */
enum {
    DD_SUM_LOSS, /* training loss and argmax matches since the last take */
    DD_SUM_CORRECT,
    DD_SUM_STEPS,    /* steps since the last take */
    DD_SUM_BAD_STEP, /* the first of them (1-based) whose loss was not finite, 0 if none */
    DD_EVAL_LOSS,    /* the same two for an evaluation pass */
    DD_EVAL_CORRECT,
    DD_SUM_GRAD_SQ, /* then the squared kernel-gradient norm of each Dense layer */
    DD_SUM_PHASES = DD_SUM_GRAD_SQ + DD_MAX_DENSE, /* then the fused step's phase cycles */
    DD_N_SUMS = DD_SUM_PHASES + DD_FUSED_PHASES
};

/* The training step's output layer from its SGEMM's product on, with the loss (kernels/mse.cu),
 * one kernel: OUT_LAYER's bias and activation (dense_out += bias in place, act_out = act(z), as
 * its layer kernel would do them); the loss and hits of that output against LABELS into
 * SUMS[DD_SUM_LOSS] and SUMS[DD_SUM_CORRECT]; dL/dz of the output layer into GRAD (B,10) and dL/db
 * into its dbias (what dd_mse_forward_backward, then the layer kernel's backward pass, give); then
 * the step's bookkeeping: *COUNTER += B (where the next step starts in the order; the gather that
 * reads it has run), one more step counted, and the step remembered if the loss sum just stopped
 * being finite (losses are never negative, so it stays non-finite from then on). The output layer
 * has no BN. */
int dd_loss_output_step_gpu(const dd_layer_view *out_layer, float *grad, double *sums, int *counter,
                            const uint8_t *labels, int B, dd_gpu *gpu);
/* PREDICTIONS[b] = argmax of row b of OUT (B,10). */
int dd_argmax_gpu(uint8_t *predictions, const float *out, int B, dd_gpu *gpu);

#ifdef __cplusplus
}
#endif

#endif
