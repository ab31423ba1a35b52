/* The operations a network is made of, one family per file: src/<family>.c holds the plain-C
 * reference, kernels/<family>.cu its CUDA twin with the same name (suffix _gpu) and argument
 * order (except the activations and BN, which run on the GPU inside a layer's kernels, and the
 * GPU's Dense ops, which leave the bias to them: see below) — outputs first, then inputs and
 * weights, then sizes; in backward passes the gradients first. Shapes are given as (rows, cols),
 * row-major. B = batch, I = inputs, O = outputs, C = channels (features). "=" marks a gradient that
 * is overwritten, "+=" one that is accumulated. */
#ifndef DEEPDIGITS_OPS_H
#define DEEPDIGITS_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "deepdigits/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* dense.c — Y = X·W + b.  out (B,O), inp (B,I), kernel (I,O), bias (O). */
void dd_dense_forward(float *out, const float *inp, const float *kernel, const float *bias, int B,
                      int I, int O);
/* dinp (B,I) = dout·Wᵀ (skipped when dinp is NULL, as for the first layer);
 * dkernel (I,O) = Xᵀ·dout; dbias (O) = column sums of dout. */
void dd_dense_backward(float *dinp, float *dkernel, float *dbias, const float *dout,
                       const float *inp, const float *kernel, int B, int I, int O);
/* Its three parts, for the CPU backend's fused update (dd_net_backward_sgd): dbias; rows
 * FIRST..FIRST+ROWS-1 of dkernel; dinp. */
void dd_dense_backward_bias(float *dbias, const float *dout, int B, int O);
void dd_dense_backward_kernel_rows(float *dkernel, const float *dout, const float *inp, int B,
                                   int I, int O, int first, int rows);
void dd_dense_backward_input(float *dinp, const float *dout, const float *kernel, int B, int I,
                             int O);

/* activation.c — out = act(inp), elementwise over n values; in place allowed. */
void dd_activation_forward(float *out, const float *inp, int n, dd_activation act);
/* dinp = dout * act'(.), with act' computed from the forward output; in place allowed. */
void dd_activation_backward(float *dinp, const float *dout, const float *out, int n,
                            dd_activation act);

/* batchnorm.c — training mode: normalize with the batch mean and biased variance.
 * out, xhat (B,C); mean, var (C) are saved for backward and the moving statistics. */
void dd_batchnorm_forward_train(float *out, float *xhat, float *mean, float *var, const float *inp,
                                const float *gamma, const float *beta, int B, int C);
/* Evaluation mode: normalize with the moving statistics. */
void dd_batchnorm_forward_eval(float *out, const float *inp, const float *gamma, const float *beta,
                               const float *moving_mean, const float *moving_var, int B, int C);
/* dinp (B,C) =, dgamma (C) =, dbeta (C) = from dout (B,C) and the saved xhat and var. */
void dd_batchnorm_backward(float *dinp, float *dgamma, float *dbeta, const float *dout,
                           const float *xhat, const float *gamma, const float *var, int B, int C);
/* moving <- moving*momentum + batch*(1-momentum), for both statistics. */
void dd_batchnorm_update_moving(float *moving_mean, float *moving_var, const float *mean,
                                const float *var, int C);

/* mse.c — the loss and accuracy of one batch against integer labels (one-hot targets).
 * dout (B,10) = dL/dy (skipped when NULL); returns the SUM over the batch of each sample's loss
 * (mean of its 10 squared errors) and adds the number of argmax matches to *correct. */
double dd_mse_forward_backward(float *dout, long *correct, const float *out, const uint8_t *labels,
                               int B);

/* sgd.c — params -= lr * grads over n values. */
void dd_sgd_update(float *params, const float *grads, long n, float lr);

/* network.c — sum of squares of X (n floats) in double, for the gradient norms. */
double dd_sum_squares(const float *x, size_t n);

/* gather.c — out (B,784) = table[pixels[idx[b]]]: one batch, gathered and standardized.
 * TABLE maps each of the 256 pixel values to its standardized float, so both backends standardize
 * with the very same numbers. idx NULL means the rows first..first+B-1 in order. */
void dd_gather_standardize(float *out, const uint8_t *pixels, const uint32_t *idx, int first,
                           const float *table, int B);
/* Only a hint to the cache: the rows idx[first..first+B-1] will be gathered soon. */
void dd_prefetch_images(const uint8_t *pixels, const uint32_t *idx, int first, int B);

/* CUDA twins (kernels/<family>.cu): same names with _gpu, same arguments as device pointers,
 * plus the dd_gpu they run on; each returns 0, or -1 with gpu->err set. Two families differ:
 * the GPU's Dense ops are the SGEMMs alone (out = X·W without the bias; dkernel and dinp without
 * dbias), and the bias, the activation and BN run in one kernel a layer and direction
 * (dd_layer_forward_gpu and dd_layer_backward_gpu in kernels/kernels.h, kernels/layer.cu), whose
 * twin is the op sequence of src/network.c: each kernel of a captured step costs a graph node. */
/* init.c — Keras's truncated normal for one kernel: OUT (n) = the normals drawn from OFFSET that
 * lie within the truncation (draws.h), in order, scaled to STDDEV, drawn in rounds of ROUND(the
 * values still missing) until N are kept; ROUNDS (may be NULL) = how many it took. dd_model_init
 * takes dd_truncated_round, which draws about 4.6% spare (the share beyond 2 sigma) plus 64: one
 * round in practice; tests take stingier rounds to make several. A round must be a positive
 * multiple of 4 and no larger than the first (dd_truncated_round_ok says so in ERR). */
struct dd_rng;
typedef size_t (*dd_round_size)(size_t missing);
size_t dd_truncated_round(size_t missing);
int dd_truncated_round_ok(dd_round_size round, size_t missing, size_t first, char *err);
int dd_truncated_normal(float *out, size_t n, double stddev, unsigned long long offset,
                        dd_round_size round, struct dd_rng *rng, int *rounds, char *err);

struct dd_gpu;
int dd_dense_forward_gpu(float *out, const float *inp, const float *kernel, int B, int I, int O,
                         struct dd_gpu *gpu);
int dd_dense_backward_gpu(float *dinp, float *dkernel, const float *dout, const float *inp,
                          const float *kernel, int B, int I, int O, struct dd_gpu *gpu);
/* The sums stay on the device: SUMS[0] += the batch's summed loss, SUMS[1] += its argmax
 * matches, both as doubles, added in a fixed order (the result never depends on timing). */
int dd_mse_forward_backward_gpu(float *dout, double *sums, const float *out, const uint8_t *labels,
                                int B, struct dd_gpu *gpu);
int dd_sgd_update_gpu(float *params, const float *grads, long n, float lr, struct dd_gpu *gpu);
int dd_gather_standardize_gpu(float *out, const uint8_t *pixels, const uint32_t *idx, int first,
                              const float *table, int B, struct dd_gpu *gpu);
/* ACC[0] += sum of squares of X (n floats), in double. */
int dd_sum_squares_gpu(double *acc, const float *x, long n, struct dd_gpu *gpu);
/* philox.cu — cuRAND's device generator for one seed, in gpu->stream: OUT (device, N floats or
 * words, N a multiple of 4) = what dd_rng_uniform / dd_rng_bits draw at OFFSET. */
typedef struct dd_philox_gpu dd_philox_gpu;
dd_philox_gpu *dd_philox_gpu_open(unsigned long long seed, struct dd_gpu *gpu);
void dd_philox_gpu_close(dd_philox_gpu *g);
int dd_philox_gpu_uniform(float *out, unsigned long long offset, size_t n, dd_philox_gpu *g,
                          struct dd_gpu *gpu);
int dd_philox_gpu_bits(uint32_t *out, unsigned long long offset, size_t n, dd_philox_gpu *g,
                       struct dd_gpu *gpu);
/* init.cu — the kernels of PARAMS (device, the layout's order) as dd_model_init draws them for
 * SEED, bit for bit: the same uniforms from the device generator, through the same formulas
 * (draws.h). The other tensors are left as they are. Returns when the draws are done. */
int dd_init_kernels_gpu(float *params, const dd_model_config *cfg, const dd_layout *layout,
                        unsigned long long seed, struct dd_gpu *gpu);
int dd_truncated_normal_gpu(float *out, int n, double stddev, unsigned long long offset,
                            dd_round_size round, dd_philox_gpu *g, int *rounds, struct dd_gpu *gpu);
/* ORDER (device, n) = the permutation dd_shuffle draws for (SEED, EPOCH), drawn with cuRAND's
 * device generator and sorted by cub's stable radix sort. Its device buffers and generator are
 * made once by dd_shuffle_gpu_open (no allocation, and so no implicit device-wide sync, per
 * epoch: other threads may be capturing graphs meanwhile). */
typedef struct dd_shuffle_work dd_shuffle_work;
dd_shuffle_work *dd_shuffle_gpu_open(int n, unsigned long long seed, struct dd_gpu *gpu);
void dd_shuffle_gpu_close(dd_shuffle_work *w);
int dd_shuffle_gpu(uint32_t *order, int epoch, dd_shuffle_work *w, struct dd_gpu *gpu);

#ifdef __cplusplus
}
#endif

#endif
