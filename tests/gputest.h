/* Helpers for the GPU tests: device buffers filled from the host or poisoned with NaN (so an
 * output a kernel forgot to write can never pass), and the skip rule: without a CUDA device each
 * GPU test prints "skipped: no CUDA device" and exits with CTest's skip code, never 0. */
#ifndef DD_GPUTEST_H
#define DD_GPUTEST_H

#include <stddef.h>
#include <stdint.h>

#include "deepdigits/gpu.h"

/* Exits with DD_TEST_SKIP when there is no CUDA device; otherwise opens it (TF32 off). */
void gpu_test_open(dd_gpu *gpu);

/* A device copy of N floats / bytes; a device buffer of N floats set to NaN. */
float *dev_floats(const float *host, size_t n);
uint8_t *dev_bytes(const void *host, size_t n);
float *dev_nan(size_t n);
double *dev_doubles(const double *host, size_t n);
/* Copies N floats from the host into DST; sets N floats at P to NaN. Both settle before they
 * return (the ops' stream does not wait for the legacy stream these run in). */
void dev_put(float *dst, const float *host, size_t n);
void dev_poison(float *p, size_t n);
/* Copies N floats back into a fresh host buffer (free it). Synchronizes. */
float *host_floats(const float *dev, size_t n);

#endif
