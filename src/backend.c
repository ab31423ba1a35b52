/* Choosing a backend for --device: gpu insists on CUDA; auto takes it when there is a usable
 * device and otherwise says in one line that it trains on the CPU. */
#include "deepdigits/backend.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "deepdigits/checkpoint.h"
#include "deepdigits/gpu.h"
#include "deepdigits/train.h"

/* The notice is the process's, not each model's: --variant all creates 21 backends. */
static atomic_flag notice_given = ATOMIC_FLAG_INIT;

dd_backend *dd_backend_create(dd_device device, const dd_backend_setup *setup, char *err) {
    if (device == DD_DEVICE_CPU) return dd_backend_cpu_create(setup, err);
    if (device == DD_DEVICE_GPU)
        return dd_check_gpu_flag(err) == 0 ? dd_backend_cuda_create(setup, err) : NULL;
    char why[DD_ERR_LEN];
    if (dd_cuda_devices(why, sizeof why) > 0) {
        dd_backend *b = dd_backend_cuda_create(setup, err);
        if (b) return b;
        if (!atomic_flag_test_and_set(&notice_given))
            fprintf(stderr, "deepdigits: the GPU cannot be used (%s); training on the CPU\n", err);
    } else if (!atomic_flag_test_and_set(&notice_given)) {
        fprintf(stderr, "deepdigits: %s; training on the CPU\n", why);
    }
    return dd_backend_cpu_create(setup, err);
}

dd_device dd_backend_device(const dd_backend *b) {
    return strcmp(b->ops->name, "cpu") == 0 ? DD_DEVICE_CPU : DD_DEVICE_GPU;
}

int dd_check_gpu_flag(char *err) {
    char why[DD_ERR_LEN / 2];
    if (dd_cuda_devices(why, sizeof why) > 0) return 0;
    snprintf(err, DD_ERR_LEN, "--device gpu: %s (use --device cpu or auto)", why);
    return -1;
}

const char *dd_engine_name(dd_engine e) {
    return e == DD_ENGINE_FUSED ? "fused" : e == DD_ENGINE_LAYERS ? "layers" : "auto";
}

int dd_engine_parse(const char *s, dd_engine *out) {
    for (dd_engine e = DD_ENGINE_AUTO; e <= DD_ENGINE_LAYERS; e++)
        if (strcmp(s, dd_engine_name(e)) == 0) {
            *out = e;
            return 0;
        }
    return -1;
}

int dd_backend_check_step(const dd_backend_setup *setup, int first, int count, char *err) {
    if (count >= 1 && count <= setup->max_batch && first >= 0 &&
        first + count <= setup->train_count)
        return 0;
    snprintf(err, DD_ERR_LEN, "bad step: samples %d..%d of %d, batch limit %d", first,
             first + count, setup->train_count, setup->max_batch);
    return -1;
}

int dd_backend_rows(const dd_backend_setup *setup) {
    _Static_assert(DD_EVAL_BATCH >= DD_PROBE_IMAGES, "the probe batch must fit the workspace");
    return setup->max_batch > DD_EVAL_BATCH ? setup->max_batch : DD_EVAL_BATCH;
}

int dd_backend_check_probe(const dd_backend_setup *setup, int count, char *err) {
    const int rows = dd_backend_rows(setup);
    const int most = setup->train_count < rows ? setup->train_count : rows;
    if (count >= 1 && count <= most) return 0;
    snprintf(err, DD_ERR_LEN, "probe of %d images: must be 1..%d", count, most);
    return -1;
}

int dd_backend_check_order(const dd_backend_setup *setup, int n, char *err) {
    if (n >= 0 && n <= setup->train_count) return 0;
    snprintf(err, DD_ERR_LEN, "order of %d samples for a training set of %d", n,
             setup->train_count);
    return -1;
}

int dd_evaluate_checkpoint(const dd_checkpoint_state *state, const float *params,
                           const dd_mnist *data, dd_sums *s, uint8_t *pred, char *err) {
    dd_backend_setup setup = {.cfg = state->options.model,
                              .train = &data->train,
                              .train_count = 1, /* only the test set is read */
                              .test = &data->test,
                              .max_batch = 1};
    dd_checkpoint_table(state, setup.table);
    dd_backend *b = dd_backend_cpu_create(&setup, err);
    if (!b) return -1;
    int rc = b->ops->upload_params(b, params, err);
    if (rc == 0) rc = b->ops->evaluate(b, DD_SPLIT_TEST, s, pred, err);
    b->ops->destroy(b);
    return rc;
}
