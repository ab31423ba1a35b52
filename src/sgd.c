/* Plain SGD over the flat trainable buffer, CPU reference. CUDA twin: kernels/sgd.cu. */
#include "deepdigits/formulas.h"
#include "deepdigits/ops.h"

void dd_sgd_update(float *restrict params, const float *restrict grads, long n, float lr) {
    for (long i = 0; i < n; i++) params[i] = dd_sgd_step(params[i], grads[i], lr);
}
