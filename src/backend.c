/* Choosing a backend for --device. */
#include "deepdigits/backend.h"

#include <stdio.h>

dd_backend *dd_backend_create(dd_device device, const dd_backend_setup *setup, char *err) {
    if (device != DD_DEVICE_CPU) {
        snprintf(err, DD_ERR_LEN,
                 "--device %s: the CUDA backend is not part of this build yet; use --device cpu",
                 device == DD_DEVICE_GPU ? "gpu" : "auto");
        return NULL;
    }
    return dd_backend_cpu_create(setup, err);
}
