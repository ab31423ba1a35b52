// Activations on the GPU, twin of src/activation.c; the formulas come from formulas.h.
#include "deepdigits/formulas.h"
#include "deepdigits/ops.h"
#include "gpu_check.h"

static const int THREADS = 256;

__global__ static void activation_forward_kernel(float *out, const float *inp, int n,
                                                 dd_activation act) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = dd_activate(act, inp[i]);
}

__global__ static void activation_backward_kernel(float *dinp, const float *dout, const float *out,
                                                  int n, dd_activation act) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) dinp[i] = dout[i] * dd_activate_grad(act, out[i]);
}

int dd_activation_forward_gpu(float *out, const float *inp, int n, dd_activation act, dd_gpu *gpu) {
    activation_forward_kernel<<<CEIL_DIV(n, THREADS), THREADS, 0, gpu->stream>>>(out, inp, n, act);
    LAUNCH_CHECK("activation_forward_kernel", gpu);
    return 0;
}

int dd_activation_backward_gpu(float *dinp, const float *dout, const float *out, int n,
                               dd_activation act, dd_gpu *gpu) {
    activation_backward_kernel<<<CEIL_DIV(n, THREADS), THREADS, 0, gpu->stream>>>(dinp, dout, out,
                                                                                  n, act);
    LAUNCH_CHECK("activation_backward_kernel", gpu);
    return 0;
}
