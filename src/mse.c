/* MSE loss with its gradient and the argmax accuracy, CPU reference. CUDA twin: kernels/mse.cu. */
#include "deepdigits/formulas.h"
#include "deepdigits/idx.h"
#include "deepdigits/ops.h"

double dd_mse_forward_backward(float *dout, long *correct, const float *out, const uint8_t *labels,
                               int B) {
    const float scale = dd_mse_grad_scale(B);
    double loss = 0;
    for (int b = 0; b < B; b++) {
        const float *y = out + (size_t)b * DD_CLASSES;
        loss += dd_mse_sample(dout ? dout + (size_t)b * DD_CLASSES : NULL, y, labels[b], scale);
        *correct += dd_argmax(y, DD_CLASSES) == labels[b];
    }
    return loss;
}
