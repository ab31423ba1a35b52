// MSE loss, its gradient and the argmax accuracy on the GPU, twin of src/mse.c. One block walks
// the batch and adds the batch's sums to the device accumulators: no host sync per step. In
// training the same kernel also finishes the output layer's forward pass after its SGEMM (the
// bias and the activation), takes its backward pass down to its Dense part and ends the step (its
// counter and step count): three graph nodes fewer.
#include "deepdigits/formulas.h"
#include "deepdigits/network.h"
#include "deepdigits/ops.h"
#include "gpu_check.h"
#include "kernels.h"
#include "launch.cuh"
#include "layer_body.cuh"
#include "reduce.cuh"

constexpr int THREADS = 256;

// A training step's end, by one thread: the batch's loss and hits into SUMS, the counter moved on
// by B, the step counted, the first step whose loss sum is not finite remembered.
DD_SIMT_FN void end_step(double *sums, int *counter, double loss, double correct, int B) {
    sums[DD_SUM_LOSS] += loss, sums[DD_SUM_CORRECT] += correct;
    *counter += B;
    sums[DD_SUM_STEPS] += 1;
    sums[DD_SUM_BAD_STEP] =
        dd_first_bad_step(sums[DD_SUM_BAD_STEP], sums[DD_SUM_LOSS], sums[DD_SUM_STEPS]);
}

// The batch's MSE loss and argmax hits, block totals in every thread, with dL/dy into DOUT when
// it is not NULL (thread t takes samples t, t + threads, ...). Every thread must call it.
DD_SIMT_FN void batch_loss(float *dout, const float *out, const uint8_t *labels, int B,
                           double *part, double *loss, double *correct) {
    const float scale = dd_mse_grad_scale(B);
    double l = 0, c = 0;
    for (int b = simt_tid(); b < B; b += simt_block_threads()) {
        const float *y = out + (size_t)b * DD_CLASSES;
        l += dd_mse_sample(dout ? dout + (size_t)b * DD_CLASSES : NULL, y, labels[b], scale);
        c += dd_argmax(y, DD_CLASSES) == labels[b];
    }
    *loss = block_sum(l, part);
    *correct = block_sum(c, part);
}

// ACC[0] += the batch's loss, ACC[1] += its argmax matches; DOUT, when not NULL, gets dL/dy.
DD_GLOBAL static void DD_MAX_THREADS(THREADS)
    mse_kernel(float *dout, double *acc, const float *out, const uint8_t *labels, int B) {
    DD_SHARED_ARRAY(double, part, THREADS);
    double loss, correct;
    batch_loss(dout, out, labels, B, part, &loss, &correct);
    if (simt_tid() == 0) acc[0] += loss, acc[1] += correct;
}

// The training step's output layer after its SGEMM, its loss, and its backward pass down to its
// Dense part, one kernel where three were (a graph node costs more than any one's work): the bias
// and the activation (the layer kernel's element function); the loss, the hits and dL/dy into G,
// then dL/dz = dL/dy act'(y) in place (each thread its own samples); then the bias gradient, a
// warp per output unit (a column sum in double, as the layer kernel's); then the step's end.
DD_GLOBAL static void DD_MAX_THREADS(THREADS)
    loss_output_kernel(dd_layer_view v, float *g, int *counter, double *sums, const uint8_t *labels,
                       int B) {
    DD_SHARED_ARRAY(double, part, THREADS);
    for (int k = simt_tid(); k < B * DD_CLASSES; k += simt_block_threads())
        bias_activation_at(v, (size_t)k);
    simt_sync(); // a sample's outputs come from several threads
    const float *y = v.acts.act_out;
    double loss, correct;
    batch_loss(g, y, labels, B, part, &loss, &correct);
    for (int b = simt_tid(); b < B; b += simt_block_threads())
        for (int k = 0; k < DD_CLASSES; k++) {
            const size_t at = (size_t)b * DD_CLASSES + k;
            g[at] *= dd_activate_grad(v.act, y[at]);
        }
    simt_sync(); // every sample's dL/dz is written
    const int lane = simt_tid() % 32, warps = simt_block_threads() / 32;
    for (int c = simt_tid() / 32; c < DD_CLASSES; c += warps) {
        double sum = 0;
        for (int b = lane; b < B; b += 32) sum += g[(size_t)b * DD_CLASSES + c];
        sum = warp_total(sum);
        if (lane == 0) v.dbias[c] = (float)sum;
    }
    if (simt_tid() == 0) end_step(sums, counter, loss, correct, B);
}

DD_GLOBAL static void DD_MAX_THREADS(THREADS)
    argmax_kernel(uint8_t *predictions, const float *out, int B) {
    const int b = simt_block_index() * simt_block_threads() + simt_tid();
    if (b >= B) return;
    predictions[b] = (uint8_t)dd_argmax(out + (size_t)b * DD_CLASSES, DD_CLASSES);
}

int dd_mse_forward_backward_gpu(float *dout, double *sums, const float *out, const uint8_t *labels,
                                int B, dd_gpu *gpu) {
    DD_LAUNCH_SYNCING(mse_kernel, 1, THREADS, gpu->stream, dout, sums, out, labels, B);
    LAUNCH_CHECK("mse_kernel", gpu);
    return 0;
}

int dd_loss_output_step_gpu(const dd_layer_view *out_layer, float *grad, double *sums, int *counter,
                            const uint8_t *labels, int B, dd_gpu *gpu) {
    DD_LAUNCH_SYNCING(loss_output_kernel, 1, THREADS, gpu->stream, *out_layer, grad, counter, sums,
                      labels, B);
    LAUNCH_CHECK("loss_output_kernel", gpu);
    return 0;
}

int dd_argmax_gpu(uint8_t *predictions, const float *out, int B, dd_gpu *gpu) {
    DD_LAUNCH(argmax_kernel, CEIL_DIV(B, THREADS), THREADS, gpu->stream, predictions, out, B);
    LAUNCH_CHECK("argmax_kernel", gpu);
    return 0;
}
