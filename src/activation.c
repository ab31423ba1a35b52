/* Activations, CPU reference; the formulas themselves live in formulas.h. On the GPU they run
 * inside the layer kernels (kernels/layer.cu). */
#include "deepdigits/formulas.h"
#include "deepdigits/ops.h"

void dd_activation_forward(float *out, const float *inp, int n, dd_activation act) {
    for (int i = 0; i < n; i++) out[i] = dd_activate(act, inp[i]);
}

void dd_activation_backward(float *dinp, const float *dout, const float *out, int n,
                            dd_activation act) {
    for (int i = 0; i < n; i++) dinp[i] = dout[i] * dd_activate_grad(act, out[i]);
}
