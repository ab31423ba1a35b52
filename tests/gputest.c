/* GPU test helpers; see gputest.h. */
#include "gputest.h"

#include <stdio.h>
#include <stdlib.h>

#include "testutil.h"

void gpu_test_open(dd_gpu *gpu) {
    char err[DD_ERR_LEN];
    const int devices = dd_cuda_devices(err, sizeof err);
    if (devices == 0) {
        printf("skipped: %s\n", err);
        exit(DD_TEST_SKIP);
    }
    if (devices < 0) { /* a GPU machine whose driver cannot run this build: a failure, not a skip */
        fprintf(stderr, "cannot use the GPU: %s\n", err);
        exit(1);
    }
    if (dd_gpu_open(gpu, 0, err) != 0) {
        fprintf(stderr, "cannot open the GPU: %s\n", err);
        exit(1);
    }
}

static void *dev_alloc(size_t bytes) {
    void *p = NULL;
    if (cudaMalloc(&p, bytes ? bytes : 1) != cudaSuccess) {
        fprintf(stderr, "cudaMalloc of %zu bytes failed\n", bytes);
        exit(1);
    }
    return p;
}

/* The copies and sets below run in the legacy stream, which the ops' own stream does not wait
 * for: each helper waits for the device before it returns. */
static void settled(cudaError_t e) {
    if (e != cudaSuccess || cudaDeviceSynchronize() != cudaSuccess) {
        fprintf(stderr, "device setup failed: %s\n", cudaGetErrorString(e));
        exit(1);
    }
}

float *dev_floats(const float *host, size_t n) {
    float *d = dev_alloc(n * sizeof *d);
    dev_put(d, host, n);
    return d;
}

double *dev_doubles(const double *host, size_t n) {
    double *d = dev_alloc(n * sizeof *d);
    settled(cudaMemcpy(d, host, n * sizeof *d, cudaMemcpyHostToDevice));
    return d;
}

uint8_t *dev_bytes(const void *host, size_t n) {
    uint8_t *d = dev_alloc(n);
    settled(cudaMemcpy(d, host, n, cudaMemcpyHostToDevice));
    return d;
}

float *dev_nan(size_t n) {
    float *d = dev_alloc(n * sizeof *d);
    dev_poison(d, n);
    return d;
}

void dev_put(float *dst, const float *host, size_t n) {
    settled(cudaMemcpy(dst, host, n * sizeof *dst, cudaMemcpyHostToDevice));
}

void dev_poison(float *p, size_t n) {
    settled(cudaMemset(p, 0xff, n * sizeof *p)); /* 0xffffffff is a NaN */
}

float *host_floats(const float *dev, size_t n) {
    float *h = malloc(n * sizeof *h);
    if (!h || cudaDeviceSynchronize() != cudaSuccess ||
        cudaMemcpy(h, dev, n * sizeof *h, cudaMemcpyDeviceToHost) != cudaSuccess) {
        fprintf(stderr, "copy back failed: %s\n", cudaGetErrorString(cudaGetLastError()));
        exit(1);
    }
    return h;
}
