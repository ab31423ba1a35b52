/* Choosing a backend for --device: gpu insists on CUDA; auto takes it when there is a usable
 * device and otherwise says in one line that it trains on the CPU. */
#include "deepdigits/backend.h"

#include <stdio.h>

#include "deepdigits/gpu.h"

dd_backend *dd_backend_create(dd_device device, const dd_backend_setup *setup, char *err) {
    if (device == DD_DEVICE_CPU) return dd_backend_cpu_create(setup, err);
    if (device == DD_DEVICE_GPU) {
        if (dd_cuda_device_count() == 0) {
            snprintf(err, DD_ERR_LEN,
                     "--device gpu: no CUDA device found (use --device cpu or auto)");
            return NULL;
        }
        return dd_backend_cuda_create(setup, err);
    }
    if (dd_cuda_device_count() > 0) {
        dd_backend *b = dd_backend_cuda_create(setup, err);
        if (b) return b;
        fprintf(stderr, "deepdigits: the GPU cannot be used (%s); training on the CPU\n", err);
    } else {
        fprintf(stderr, "deepdigits: no CUDA device; training on the CPU\n");
    }
    return dd_backend_cpu_create(setup, err);
}
