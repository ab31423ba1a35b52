// Gathering and standardizing a batch on the GPU, twin of src/gather.c. The dataset lives on the
// device as uint8; TABLE maps each pixel value to the float both backends use.
#include "deepdigits/ops.h"
#include "gpu_check.h"
#include "kernels.h"
#include "launch.cuh"

static const int THREADS = 256;

// FIRST comes from the host, or from *FIRST_ON_DEVICE when that is given (graph replay).
DD_GLOBAL static void DD_MAX_THREADS(THREADS)
    gather_kernel(float *out, uint8_t *labels_out, const uint8_t *pixels, const uint8_t *labels,
                  const uint32_t *idx, int first, const int *first_on_device, const float *table,
                  int B) {
    const int k = simt_block_index() * simt_block_threads() + simt_tid();
    if (k >= B * DD_IMAGE_PIXELS) return;
    int b = k / DD_IMAGE_PIXELS, i = k % DD_IMAGE_PIXELS;
    if (first_on_device) first = *first_on_device;
    size_t row = idx ? idx[first + b] : (size_t)(first + b);
    out[k] = table[pixels[row * DD_IMAGE_PIXELS + i]];
    if (labels_out && i == 0) labels_out[b] = labels[row];
}

int dd_gather_standardize_gpu(float *out, const uint8_t *pixels, const uint32_t *idx, int first,
                              const float *table, int B, dd_gpu *gpu) {
    int n = B * DD_IMAGE_PIXELS;
    DD_LAUNCH(gather_kernel, CEIL_DIV(n, THREADS), THREADS, gpu->stream, out, NULL, pixels, NULL,
              idx, first, NULL, table, B);
    LAUNCH_CHECK("gather_kernel", gpu);
    return 0;
}

int dd_gather_step_gpu(float *out, uint8_t *labels_out, const uint8_t *pixels,
                       const uint8_t *labels, const uint32_t *order, const int *first,
                       const float *table, int B, dd_gpu *gpu) {
    int n = B * DD_IMAGE_PIXELS;
    DD_LAUNCH(gather_kernel, CEIL_DIV(n, THREADS), THREADS, gpu->stream, out, labels_out, pixels,
              labels, order, 0, first, table, B);
    LAUNCH_CHECK("gather_kernel", gpu);
    return 0;
}
