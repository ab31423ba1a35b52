// The layer kernels on the GPU: the bodies of layer_body.cuh, launched with its shapes.
#include "gpu_check.h"
#include "launch.cuh"
#include "layer.h"
#include "layer_body.cuh"

#ifdef DD_SIMT_HOST
// On the emulated device, the view's pointers are checked as a kernel's pointer arguments are.
static void emu_check_kernel_struct(const char *kernel, int index, const dd_layer_view &v) {
    const float *pointers[] = {v.acts.dense_out, v.acts.act_out, v.acts.bn_out, v.acts.bn_xhat,
                               v.acts.bn_mean,   v.acts.bn_var,  v.bias,        v.gamma,
                               v.beta,           v.moving_mean,  v.moving_var,  v.dbias,
                               v.dgamma,         v.dbeta};
    for (const float *p : pointers) emu_check_kernel_pointer(kernel, index, p);
}
#endif

DD_GLOBAL static void DD_MAX_THREADS(DD_LAYER_THREADS)
    bias_activation_kernel(dd_layer_view v, int n) {
    bias_activation_body(v, n);
}

DD_GLOBAL static void DD_MAX_THREADS(DD_LAYER_THREADS)
    bn_layer_forward_kernel(dd_layer_view v, int B, int training) {
    DD_SHARED_ARRAY(double, part, DD_LAYER_THREADS);
    bn_layer_forward_body(v, B, training, part);
}

DD_GLOBAL static void DD_MAX_THREADS(DD_LAYER_THREADS)
    layer_backward_kernel(dd_layer_view v, float *g, int B) {
    DD_SHARED_ARRAY(double, part, DD_LAYER_THREADS);
    layer_backward_body(v, g, B, part);
}

int dd_layer_forward_gpu(const dd_layer_view *v, int B, int training, dd_gpu *gpu) {
    if (v->bn == DD_BN_NONE) {
        const int n = B * v->units;
        const layer_shape s = layer_elementwise_shape(n);
        DD_LAUNCH(bias_activation_kernel, s.blocks, s.threads, gpu->stream, *v, n);
        LAUNCH_CHECK("bias_activation_kernel", gpu);
        return 0;
    }
    const layer_shape s = layer_channel_shape(v, B);
    DD_LAUNCH_SYNCING(bn_layer_forward_kernel, s.blocks, s.threads, gpu->stream, *v, B, training);
    LAUNCH_CHECK("bn_layer_forward_kernel", gpu);
    return 0;
}

int dd_layer_backward_gpu(const dd_layer_view *v, float *grad, int B, dd_gpu *gpu) {
    const layer_shape s = layer_channel_shape(v, B);
    DD_LAUNCH_SYNCING(layer_backward_kernel, s.blocks, s.threads, gpu->stream, *v, grad, B);
    LAUNCH_CHECK("layer_backward_kernel", gpu);
    return 0;
}
