/* The layer kernels' check, shared by the GPU test (test_gpu_ops: the kernels on a GPU) and the
 * CPU test (test_layer_emulated: the same kernel bodies run by the host emulator). A runner says
 * where the kernels' memory lives and how to run them. */
#ifndef DD_LAYER_CHECK_H
#define DD_LAYER_CHECK_H

#include <stddef.h>

#include "deepdigits/model.h"
#include "deepdigits/network.h"

typedef struct {
    float *(*alloc_nan)(size_t n);                        /* N floats, every one NaN */
    void (*poison)(float *p, size_t n);                   /* set N floats to NaN */
    void (*put)(float *dst, const float *host, size_t n); /* host -> runner memory */
    float *(*get)(const float *src, size_t n);            /* a fresh host copy (free it) */
    void (*release)(float *p);
    int (*forward)(const dd_layer_view *v, int B, int training, char *err);
    int (*backward)(const dd_layer_view *v, float *grad, int B, char *err);
} layer_runner;

/* The layer kernels against the CPU network's op sequence for the same layer: the hidden layer of
 * a 784-C-10 network with activation ACT and BN at BN (its real layout and buffers), with random
 * products X·W, biases, BN parameters and moving statistics from *SEED; forward in training,
 * backward from a random dL/d(output), then forward in evaluation, each from buffers poisoned
 * with NaN. Every output within TOL relative (||got - cpu|| / ||cpu||), or, for the sums that
 * cancel (the bias, gamma and beta gradients; BN's input gradient), relative to the size of
 * their terms (check_near). */
void check_layer(const layer_runner *r, int B, int C, dd_activation act, dd_bn_place bn,
                 unsigned *seed, double tol);

#endif
