/* The harnesses parse files and never train: the backends' constructors and the device count
 * answer "none", so that the host code (backend.c included) links without the CUDA objects. */
#include <stdio.h>

#include "deepdigits/backend.h"
#include "deepdigits/gpu.h"

int dd_cuda_devices(char *why, size_t len) {
    snprintf(why, len, "no CUDA in the fuzzing build");
    return 0;
}

dd_backend *dd_backend_cpu_create(const dd_backend_setup *setup, char *err) {
    (void)setup;
    snprintf(err, DD_ERR_LEN, "no backend in the fuzzing build");
    return NULL;
}

dd_backend *dd_backend_cuda_create(const dd_backend_setup *setup, char *err) {
    return dd_backend_cpu_create(setup, err);
}
