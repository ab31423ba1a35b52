/* Plain SGD over the flat trainable buffer, CPU reference. CUDA twin: kernels/sgd.cu. */
#include "deepdigits/ops.h"

void dd_sgd_update(float *params, const float *grads, long n, float lr) {
    for (long i = 0; i < n; i++) params[i] -= lr * grads[i];
}
