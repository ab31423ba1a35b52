/* The layer kernels' check, shared by the GPU test (test_gpu_ops: the kernels on a GPU) and the
 * CPU test (test_layer_emulated: the same kernels on the emulated device, tests/emudev). */
#ifndef DD_LAYER_CHECK_H
#define DD_LAYER_CHECK_H

#include "deepdigits/gpu.h"
#include "deepdigits/model.h"

/* The layer kernels against the CPU network's op sequence for the same layer: the hidden layer of
 * a 784-C-10 network with activation ACT and BN at BN (its real layout and buffers, in GPU's
 * device memory), with random products X·W, biases, BN parameters and moving statistics from *SEED;
 * forward in training, backward from a random dL/d(output), then forward in evaluation, each from
 * buffers poisoned with NaN. Every output within TOL relative (||got - cpu|| / ||cpu||), or, for
 * the sums that cancel (the bias, gamma and beta gradients; BN's input gradient), relative to the
 * size of their terms (check_near). */
void check_layer(dd_gpu *gpu, int B, int C, dd_activation act, dd_bn_place bn, unsigned *seed,
                 double tol);

#endif
