/* The CPU reference backend: dd_net driven one batch at a time; see backend.h. */
#include "deepdigits/backend.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "deepdigits/formulas.h"
#include "deepdigits/network.h"
#include "deepdigits/ops.h"

#include "deepdigits/train.h"

typedef struct {
    dd_backend base;
    dd_backend_setup setup;
    dd_net net;
    float *params; /* n_params */
    float *grads;  /* n_trainable */
    uint32_t *order;
    uint8_t *labels; /* (max_batch) labels of the current batch */
    dd_sums sums;
    double last_mark; /* for elapsed() */
} cpu_backend;

/* Cache-line aligned, so the vector loops start on a line. */
static float *alloc_floats(size_t n) {
    size_t bytes = (n * sizeof(float) + 63) & ~(size_t)63;
    return aligned_alloc(64, bytes ? bytes : 64);
}

static void cpu_destroy(dd_backend *base) {
    cpu_backend *b = (cpu_backend *)base;
    if (!b) return;
    dd_net_destroy(&b->net);
    free(b->params);
    free(b->grads);
    free(b->order);
    free(b->labels);
    free(b);
}

static int cpu_init(dd_backend *base, unsigned long long seed, char *err) {
    cpu_backend *b = (cpu_backend *)base;
    return dd_model_init(&b->setup.cfg, &b->net.layout, seed, b->params, err);
}

static int cpu_upload(dd_backend *base, const float *params, char *err) {
    cpu_backend *b = (cpu_backend *)base;
    (void)err;
    memcpy(b->params, params, b->net.layout.n_params * sizeof *params);
    return 0;
}

static int cpu_download(dd_backend *base, float *params, char *err) {
    cpu_backend *b = (cpu_backend *)base;
    (void)err;
    memcpy(params, b->params, b->net.layout.n_params * sizeof *params);
    return 0;
}

static int cpu_set_order(dd_backend *base, const uint32_t *order, int n, char *err) {
    cpu_backend *b = (cpu_backend *)base;
    if (dd_backend_check_order(&b->setup, n, err) != 0) return -1;
    memcpy(b->order, order, (size_t)n * sizeof *order);
    return 0;
}

static int cpu_train_step(dd_backend *base, int first, int count, float lr, char *err) {
    cpu_backend *b = (cpu_backend *)base;
    if (dd_backend_check_step(&b->setup, first, count, err) != 0) return -1;
    const dd_dataset *train = b->setup.train;
    dd_gather_standardize(b->net.input, train->pixels, b->order, first, b->setup.table, count);
    for (int i = 0; i < count; i++) b->labels[i] = train->labels[b->order[first + i]];
    int next = first + count, left = b->setup.train_count - next;
    dd_prefetch_images(train->pixels, b->order, next, left < count ? left : count);
    dd_net_forward(&b->net, b->params, count, 1);
    double loss = dd_net_loss(&b->net, b->labels, count, &b->sums.correct, 1);
    b->sums.loss_sum += loss;
    b->sums.first_bad_step = (long)dd_first_bad_step((double)b->sums.first_bad_step,
                                                     b->sums.loss_sum, (double)b->sums.steps + 1);
    /* backward and SGD in one pass, bit-identical to dd_net_backward + dd_sgd_update */
    dd_net_backward_sgd(&b->net, b->params, b->grads, count, lr,
                        b->setup.diagnostics ? b->sums.grad_sq : NULL);
    b->sums.samples += count;
    b->sums.steps++;
    return 0;
}

static int cpu_take_sums(dd_backend *base, dd_sums *out, char *err) {
    cpu_backend *b = (cpu_backend *)base;
    (void)err;
    *out = b->sums;
    memset(&b->sums, 0, sizeof b->sums);
    return 0;
}

static int cpu_evaluate(dd_backend *base, dd_split split, dd_sums *out, uint8_t *predictions,
                        char *err) {
    cpu_backend *b = (cpu_backend *)base;
    (void)err;
    const dd_dataset *set = split == DD_SPLIT_TRAIN ? b->setup.train : b->setup.test;
    int n = split == DD_SPLIT_TRAIN ? b->setup.train_count : set->count;
    memset(out, 0, sizeof *out);
    for (int first = 0; first < n; first += b->net.max_batch) {
        int count = n - first < b->net.max_batch ? n - first : b->net.max_batch;
        dd_gather_standardize(b->net.input, set->pixels, NULL, first, b->setup.table, count);
        dd_net_forward(&b->net, b->params, count, 0);
        out->loss_sum += dd_net_loss(&b->net, set->labels + first, count, &out->correct, 0);
        if (predictions) {
            const float *y = dd_net_layer_output(&b->net, b->net.layout.n_dense - 1);
            for (int i = 0; i < count; i++)
                predictions[first + i] = (uint8_t)dd_argmax(y + i * DD_CLASSES, DD_CLASSES);
        }
    }
    out->samples = n;
    return 0;
}

static int cpu_probe(dd_backend *base, int count, dd_layer_probe *out, char *err) {
    cpu_backend *b = (cpu_backend *)base;
    if (dd_backend_check_probe(&b->setup, count, err) != 0) return -1;
    dd_gather_standardize(b->net.input, b->setup.train->pixels, NULL, 0, b->setup.table, count);
    dd_net_forward(&b->net, b->params, count, 0);
    for (int l = 0; l < b->net.layout.n_dense; l++)
        dd_probe_layer(&out[l], dd_net_preactivation(&b->net, l), b->net.acts[l].act_out,
                       (size_t)count * b->net.layout.dense[l].units,
                       dd_layer_activation(&b->setup.cfg, l));
    return 0;
}

static int cpu_elapsed(dd_backend *base, double *seconds, char *err) {
    cpu_backend *b = (cpu_backend *)base;
    (void)err;
    double now = dd_seconds();
    *seconds = b->last_mark > 0 ? now - b->last_mark : 0;
    b->last_mark = now;
    return 0;
}

static const dd_backend_ops cpu_ops = {.name = "cpu",
                                       .destroy = cpu_destroy,
                                       .init_params = cpu_init,
                                       .upload_params = cpu_upload,
                                       .download_params = cpu_download,
                                       .set_order = cpu_set_order,
                                       .train_step = cpu_train_step,
                                       .take_sums = cpu_take_sums,
                                       .evaluate = cpu_evaluate,
                                       .probe = cpu_probe,
                                       .elapsed = cpu_elapsed};

dd_backend *dd_backend_cpu_create(const dd_backend_setup *setup, char *err) {
    cpu_backend *b = calloc(1, sizeof *b);
    if (!b) {
        snprintf(err, DD_ERR_LEN, "out of memory");
        return NULL;
    }
    b->base.ops = &cpu_ops;
    b->setup = *setup;
    if (dd_net_create(&b->net, &setup->cfg, dd_backend_rows(setup), err) != 0) {
        free(b);
        return NULL;
    }
    b->params = alloc_floats(b->net.layout.n_params);
    b->grads = alloc_floats(b->net.layout.n_trainable);
    b->order = malloc((size_t)setup->train_count * sizeof *b->order);
    b->labels = malloc((size_t)b->net.max_batch);
    if (!b->params || !b->grads || !b->order || !b->labels) {
        cpu_destroy(&b->base);
        snprintf(err, DD_ERR_LEN, "out of memory for the CPU backend");
        return NULL;
    }
    return &b->base;
}
