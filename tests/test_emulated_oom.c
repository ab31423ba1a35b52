/* The CUDA backend on a device too small for it (the emulated device's DD_EMU_DEVICE_BYTES): with
 * every limit from cuBLAS's workspace up to what the backend needs, in steps of 64 KiB, so that
 * the allocation that fails is each of the backend's in turn, creating it fails with "out of
 * memory" and gives back every byte it had allocated (a whole device's worth can be allocated
 * right after), and once the limit suffices it is created. Each engine's allocations are tried. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deepdigits/backend.h"
#include "gputest.h"
#include "testutil.h"

enum { IMAGES = 4, STEP = 64 << 10, TRIES = 4000 };

static void set_limit(size_t bytes) {
    char v[32];
    snprintf(v, sizeof v, "%zu", bytes);
    setenv("DD_EMU_DEVICE_BYTES", v, 1);
}

/* Whether LIMIT bytes, the whole device, can be allocated: nothing is left allocated. */
static int all_free(size_t limit) {
    void *p = NULL;
    const cudaError_t e = cudaMalloc(&p, limit);
    (void)cudaGetLastError();
    if (e == cudaSuccess) cudaFree(p);
    return e == cudaSuccess;
}

static void every_failure(const char *name, dd_engine engine, int batch, const dd_mnist *data) {
    const dd_model_config cfg = dd_model_config_lab();
    dd_backend_setup setup = dd_test_setup(&cfg, data, IMAGES, batch, engine, 0);
    int failures = 0;
    for (size_t limit = (32u << 20) - STEP, k = 0; k < TRIES; limit += STEP, k++) {
        char err[DD_ERR_LEN] = "";
        set_limit(limit);
        dd_backend *b = dd_backend_create(DD_DEVICE_GPU, &setup, err);
        if (b) {
            b->ops->destroy(b);
            CHECK(all_free(limit), "%s: device memory left allocated after destroy", name);
            printf("%s: %d limits too small, then created with %zu bytes\n", name, failures, limit);
            CHECK(failures > 10, "%s: only %d failing limits tried", name, failures);
            return;
        }
        failures++;
        CHECK(strstr(err, "out of memory") != NULL, "%s, %zu bytes: %s", name, limit, err);
        if (!all_free(limit)) {
            CHECK(0, "%s: a creation that failed at %zu bytes (%s) left device memory allocated",
                  name, limit, err);
            return;
        }
    }
    CHECK(0, "%s: not created within %d limits", name, TRIES);
}

int main(void) {
    dd_gpu probe;
    gpu_test_open(&probe);
    dd_gpu_close(&probe);
    dd_mnist data = dd_test_blank_data(IMAGES);
    every_failure("layers engine", DD_ENGINE_LAYERS, 2, &data);
    every_failure("fused engine", DD_ENGINE_FUSED, 1, &data);
    unsetenv("DD_EMU_DEVICE_BYTES");
    dd_mnist_free(&data);
    return dd_test_finish("test_emulated_oom");
}
