/* The whole network on the CPU: forward and backward as flat lists of the ops in ops.h, over a
 * workspace that keeps every layer's activations for one batch. The CPU backend and the tests
 * drive it; the CUDA backend mirrors it op for op. Implementation: src/network.c. */
#ifndef DEEPDIGITS_NETWORK_H
#define DEEPDIGITS_NETWORK_H

#include <stdint.h>

#include "deepdigits/backend.h"
#include "deepdigits/model.h"

#ifdef __cplusplus
extern "C" { /* the layer kernels' sources include this */
#endif

/* What one Dense layer (with its BN and activation) keeps from the forward pass, each (B, units)
 * unless noted. The activation's input is dense_out (no BN, or BN after) or bn_out (BN before);
 * the layer's output is act_out, or bn_out when BN comes after the activation. */
typedef struct {
    float *dense_out;        /* X·W + b */
    float *act_out;          /* activation output */
    float *bn_out;           /* BN output (BN layers only) */
    float *bn_xhat;          /* normalized BN input (BN layers only) */
    float *bn_mean, *bn_var; /* (units) batch statistics (BN layers only) */
} dd_layer_acts;

typedef struct {
    dd_model_config cfg;
    dd_layout layout;
    int max_batch;
    float *input; /* (B, 784) standardized images */
    dd_layer_acts acts[DD_MAX_DENSE];
    float *grad_out, *grad_in; /* (B, max_units) backward scratch, swapped per layer */
    float *memory;             /* the one allocation behind all of the above */
} dd_net;

int dd_net_create(dd_net *net, const dd_model_config *cfg, int max_batch, char *err);
/* The workspace's size in floats, and carving it out of MEMORY (host or device memory: the CUDA
 * backend keeps the very same layout on the GPU). */
size_t dd_net_floats(const dd_layout *layout, int max_batch);
int dd_net_attach(dd_net *net, const dd_model_config *cfg, int max_batch, float *memory, char *err);
void dd_net_destroy(dd_net *net);

/* The input and output of layer L for the last forward pass. */
const float *dd_net_layer_input(const dd_net *net, int l);
const float *dd_net_layer_output(const dd_net *net, int l);
/* What layer L's activation function was applied to (for saturation diagnostics). */
const float *dd_net_preactivation(const dd_net *net, int l);

/* Forward pass over net->input (B rows). TRAINING: BN uses batch statistics and updates the
 * moving statistics in PARAMS (as Keras does in fit); otherwise the moving statistics. */
void dd_net_forward(dd_net *net, float *params, int B, int training);

/* Layer L's forward pass after its Dense part, from dense_out = X·W + b: the activation and, in
 * its place, BN (batch statistics and the moving update in TRAINING, else the moving ones). */
void dd_net_layer_forward_after_dense(dd_net *net, float *params, int l, int B, int training);

/* Layer L's backward pass down to its Dense part: from dL/d(layer output) in grad_out to
 * dL/d(X·W + b) in grad_out (the buffers may swap), with BN's gradients (if any) in GRADS. */
void dd_net_layer_backward_to_dense(dd_net *net, const float *params, float *grads, int l, int B);

/* Layer L of NET seen as the CUDA backend's layer kernels take it (kernels/layer.cu): its
 * buffers, its place of BN and activation, and its tensors in PARAMS and GRADS (host or device
 * memory: only offsets are taken). */
typedef struct {
    dd_layer_acts acts;
    int units;
    dd_activation act;
    dd_bn_place bn; /* DD_BN_NONE for a layer without BN */
    float *bias, *gamma, *beta, *moving_mean, *moving_var;
    float *dbias, *dgamma, *dbeta;
} dd_layer_view;
dd_layer_view dd_net_layer_view(const dd_net *net, float *params, float *grads, int l);

/* Loss of the last forward pass against LABELS (sum over the batch, see dd_mse_forward_backward);
 * with WITH_GRAD it also leaves dL/dy in net->grad_out for dd_net_backward. */
double dd_net_loss(dd_net *net, const uint8_t *labels, int B, long *correct, int with_grad);

/* Backward pass from net->grad_out: GRADS (the trainable layout) = dL/dparams. */
void dd_net_backward(dd_net *net, const float *params, float *grads, int B);

/* dd_net_backward followed by dd_sgd_update(params, grads, n_trainable, LR), bit for bit, in an
 * order that keeps each block of a kernel's gradient in cache until it is applied (the CPU
 * backend's training step). GRAD_SQ (per Dense layer; may be NULL) += the squared norm of each
 * kernel gradient, for the diagnostics. */
void dd_net_backward_sgd(dd_net *net, float *params, float *grads, int B, float lr,
                         double *grad_sq);

/* The activation of Dense layer L of a network with configuration CFG. */
dd_activation dd_layer_activation(const dd_model_config *cfg, int l);

/* Saturation and pre-activation statistics over N units of one layer (see dd_layer_probe):
 * PREACT is what the activation was applied to, ACT its output. */
void dd_probe_layer(dd_layer_probe *out, const float *preact, const float *act, size_t n,
                    dd_activation activation);

#ifdef __cplusplus
}
#endif

#endif
