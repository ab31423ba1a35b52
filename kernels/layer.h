/* The layer kernels (kernels/layer_body.cuh): a Dense layer's work around its GEMMs, one kernel
 * each way. Forward, from dense_out = X·W: dense_out += bias, then the activation and BN in their
 * places (TRAINING: batch statistics and the moving update; else the moving statistics).
 * Backward, GRAD (B, units) from dL/d(layer output) to dL/d(X·W + b) in place, with dbias and,
 * with BN, dgamma and dbeta. Twin of the CPU network's op sequence for one layer (src/network.c).
 */
#ifndef DD_LAYER_H
#define DD_LAYER_H

#include "deepdigits/gpu.h"
#include "deepdigits/network.h"

#ifdef __cplusplus
extern "C" {
#endif

/* On the GPU (kernels/layer.cu; on the host, the emulated device of tests/emudev): 0, or -1 with
 * gpu->err set. */
int dd_layer_forward_gpu(const dd_layer_view *v, int B, int training, dd_gpu *gpu);
int dd_layer_backward_gpu(const dd_layer_view *v, float *grad, int B, dd_gpu *gpu);

#ifdef __cplusplus
}
#endif

#endif
