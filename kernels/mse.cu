// MSE loss, its gradient and the argmax accuracy on the GPU, twin of src/mse.c. One block walks
// the batch and adds the batch's sums to the device accumulators: no host sync per step. In
// training the same kernel also ends the step (its counter and step count), one graph node less.
#include "deepdigits/formulas.h"
#include "deepdigits/ops.h"
#include "gpu_check.h"
#include "kernels.h"
#include "launch.cuh"
#include "reduce.cuh"

constexpr int THREADS = 256;

// ACC[0] += the batch's loss, ACC[1] += its argmax matches. With COUNTER (a training step), the
// step's end too: see dd_mse_step_gpu; SUMS is then the accumulators' base, ACC = SUMS.
DD_GLOBAL static void DD_MAX_THREADS(THREADS)
    mse_kernel(float *dout, double *acc, int *counter, double *sums, const float *out,
               const uint8_t *labels, int B) {
    DD_SHARED_ARRAY(double, part, THREADS);
    const float scale = dd_mse_grad_scale(B);
    double loss = 0, correct = 0;
    for (int b = simt_tid(); b < B; b += simt_block_threads()) {
        const float *y = out + (size_t)b * DD_CLASSES;
        loss += dd_mse_sample(dout ? dout + (size_t)b * DD_CLASSES : NULL, y, labels[b], scale);
        correct += dd_argmax(y, DD_CLASSES) == labels[b];
    }
    loss = block_sum(loss, part);
    correct = block_sum(correct, part);
    if (simt_tid() != 0) return;
    acc[0] += loss, acc[1] += correct;
    if (!counter) return;
    *counter += B;
    sums[DD_SUM_STEPS] += 1;
    sums[DD_SUM_BAD_STEP] =
        dd_first_bad_step(sums[DD_SUM_BAD_STEP], sums[DD_SUM_LOSS], sums[DD_SUM_STEPS]);
}

DD_GLOBAL static void DD_MAX_THREADS(THREADS)
    argmax_kernel(uint8_t *predictions, const float *out, int B) {
    const int b = simt_block_index() * simt_block_threads() + simt_tid();
    if (b >= B) return;
    predictions[b] = (uint8_t)dd_argmax(out + (size_t)b * DD_CLASSES, DD_CLASSES);
}

int dd_mse_forward_backward_gpu(float *dout, double *sums, const float *out, const uint8_t *labels,
                                int B, dd_gpu *gpu) {
    DD_LAUNCH_SYNCING(mse_kernel, 1, THREADS, gpu->stream, dout, sums, NULL, NULL, out, labels, B);
    LAUNCH_CHECK("mse_kernel", gpu);
    return 0;
}

int dd_mse_step_gpu(float *dout, double *sums, int *counter, const float *out,
                    const uint8_t *labels, int B, dd_gpu *gpu) {
    DD_LAUNCH_SYNCING(mse_kernel, 1, THREADS, gpu->stream, dout, sums + DD_SUM_LOSS, counter, sums,
                      out, labels, B);
    LAUNCH_CHECK("mse_kernel", gpu);
    return 0;
}

int dd_argmax_gpu(uint8_t *predictions, const float *out, int B, dd_gpu *gpu) {
    DD_LAUNCH(argmax_kernel, CEIL_DIV(B, THREADS), THREADS, gpu->stream, predictions, out, B);
    LAUNCH_CHECK("argmax_kernel", gpu);
    return 0;
}
