/* GPU helpers private to the CUDA backend (src/backend_cuda.c), beside the op twins of ops.h. */
#ifndef DD_KERNELS_H
#define DD_KERNELS_H

#include <stdint.h>

#include "deepdigits/gpu.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Training gather for graph replay: rows order[*first ..) of the training set, their labels too. */
int dd_gather_step_gpu(float *out, uint8_t *labels_out, const uint8_t *pixels,
                       const uint8_t *labels, const uint32_t *order, const int *first,
                       const float *table, int B, dd_gpu *gpu);
/* *counter += by, on the device, in stream order. */
int dd_advance_gpu(int *counter, int by, dd_gpu *gpu);
/* PREDICTIONS[b] = argmax of row b of OUT (B,10). */
int dd_argmax_gpu(uint8_t *predictions, const float *out, int B, dd_gpu *gpu);

#ifdef __cplusplus
}
#endif

#endif
