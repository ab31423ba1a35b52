/* Timing one configuration: warm-up steps, then repeated runs of M steps timed by the backend's
 * own clock (CUDA events on the GPU), and the work each step must do. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "deepdigits/rng.h"
#include "deepdigits/variants.h"

/* FLOPs of one training step: forward Y = X·W, backward dW = Xᵀ·dY and (except into the input)
 * dX = dY·Wᵀ, 2 FLOPs per multiply-add; the elementwise ops are noise beside them. The least
 * traffic: every parameter read once and every trainable one written once, plus the batch. */
static void step_work(const dd_layout *L, int B, double *flops, double *bytes) {
    double macs = 0;
    for (int l = 0; l < L->n_dense; l++) {
        double w = (double)L->dense[l].fan_in * L->dense[l].units;
        macs += B * w * (l > 0 ? 3 : 2);
    }
    *flops = 2 * macs;
    *bytes = 4.0 * (double)(L->n_params + L->n_trainable) + (double)B * (DD_IMAGE_PIXELS + 1);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* COUNT steps, walking the epoch's order in full batches and wrapping around. */
static int run_steps(dd_backend *b, int count, long *pos, long per_epoch, int B, float lr,
                     char *err) {
    for (int s = 0; s < count; s++, (*pos)++)
        if (b->ops->train_step(b, (int)((*pos % per_epoch) * B), B, lr, err) != 0) return -1;
    return 0;
}

static int timed_runs(dd_backend *b, const dd_train_options *o, const bench_plan *plan,
                      long per_epoch, double *us, char *err) {
    long pos = 0;
    double seconds;
    if (run_steps(b, plan->warmup, &pos, per_epoch, o->batch, o->lr, err) != 0 ||
        b->ops->elapsed(b, &seconds, err) != 0)
        return -1;
    for (int r = 0; r < plan->repeats; r++) {
        if (run_steps(b, plan->steps, &pos, per_epoch, o->batch, o->lr, err) != 0 ||
            b->ops->elapsed(b, &seconds, err) != 0)
            return -1;
        us[r] = seconds * 1e6 / plan->steps;
    }
    return 0;
}

static dd_backend *start(const dd_train_options *o, dd_device device, const dd_mnist *data,
                         int phase_clocks, char *err) {
    dd_backend_setup setup = {.cfg = o->model,
                              .train = &data->train,
                              .train_count = data->train.count,
                              .test = &data->test,
                              .max_batch = o->batch,
                              .tf32 = o->tf32,
                              .no_graphs = o->no_graphs,
                              .engine = o->engine,
                              .fused_sms = o->fused_sms,
                              .fused_pipe = o->fused_pipe,
                              .phase_clocks = phase_clocks};
    dd_standardize_table(&data->train, data->train.count, o->standardize, setup.table, NULL, NULL);
    dd_backend *b = dd_backend_create(device, &setup, err);
    uint32_t *order = malloc((size_t)data->train.count * sizeof *order);
    dd_rng *rng = dd_rng_create(o->seed, err);
    int rc = b && order && rng ? 0 : -1;
    if (b && rng && !order) snprintf(err, DD_ERR_LEN, "out of memory");
    if (rc == 0) rc = b->ops->init_params(b, o->seed, err);
    if (rc == 0) rc = dd_shuffle(order, 0, rng, data->train.count, err);
    if (rc == 0) rc = b->ops->set_order(b, order, data->train.count, err);
    dd_rng_destroy(rng);
    free(order);
    if (rc != 0 && b) b->ops->destroy(b);
    return rc == 0 ? b : NULL;
}

int bench_measure(const dd_train_options *o, dd_device device, const dd_mnist *data,
                  const bench_plan *plan, bench_result *out, char *err) {
    dd_layout layout;
    if (dd_layout_build(&o->model, &layout, err) != 0) return -1;
    dd_backend *b = start(o, device, data, 0, err);
    if (!b) return -1;
    double *us = calloc((size_t)plan->repeats, sizeof *us);
    out->steps_per_epoch = (data->train.count + o->batch - 1) / o->batch;
    int rc = us ? timed_runs(b, o, plan, data->train.count / o->batch, us, err) : -1;
    if (!us) snprintf(err, DD_ERR_LEN, "out of memory");
    b->ops->destroy(b);
    if (rc == 0) {
        qsort(us, (size_t)plan->repeats, sizeof *us, cmp_double);
        out->us_median = us[plan->repeats / 2];
        out->us_min = us[0];
        out->us_max = us[plan->repeats - 1];
        step_work(&layout, o->batch, &out->flops, &out->bytes);
    }
    free(us);
    return rc;
}

int bench_phase_cycles(const dd_train_options *o, const dd_mnist *data, int steps, dd_sums *sums,
                       double *us, char *err) {
    dd_backend *b = start(o, DD_DEVICE_GPU, data, 1, err);
    if (!b) return -1;
    const long per_epoch = data->train.count / o->batch;
    long pos = 0;
    double seconds;
    int rc = run_steps(b, steps / 10 + 1, &pos, per_epoch, o->batch, o->lr, err); /* warm-up */
    if (rc == 0) rc = b->ops->take_sums(b, sums, err);
    if (rc == 0) rc = b->ops->elapsed(b, &seconds, err);
    if (rc == 0) rc = run_steps(b, steps, &pos, per_epoch, o->batch, o->lr, err);
    if (rc == 0) rc = b->ops->elapsed(b, &seconds, err);
    if (rc == 0) rc = b->ops->take_sums(b, sums, err);
    *us = seconds * 1e6 / steps;
    b->ops->destroy(b);
    return rc;
}

/* The lab's models, handed out to JOBS threads; the first failure stops the rest. */
typedef struct {
    dd_device device;
    const dd_mnist *data;
    int epochs, next, failed;
    FILE *quiet;
    pthread_mutex_t lock;
    char err[DD_ERR_LEN];
} lab_work;

static int train_variant(lab_work *w, int n, char *err) {
    dd_train_options o;
    dd_layout layout;
    if (dd_variant_options(n, 0, &o, err) != 0 || dd_layout_build(&o.model, &layout, err) != 0)
        return -1;
    o.epochs = w->epochs;
    o.device = w->device;
    o.verbose = 0;
    float *params = malloc(layout.n_params * sizeof *params); /* dd_train initializes it */
    if (!params) {
        snprintf(err, DD_ERR_LEN, "out of memory");
        return -1;
    }
    const int rc = dd_train(&o, w->data, params, NULL, w->quiet, err);
    free(params);
    return rc;
}

static void *lab_worker(void *arg) {
    lab_work *w = arg;
    char err[DD_ERR_LEN];
    for (;;) {
        pthread_mutex_lock(&w->lock);
        int n = w->failed || w->next > DD_VARIANT_COUNT ? -1 : w->next++;
        pthread_mutex_unlock(&w->lock);
        if (n < 0) return NULL;
        if (train_variant(w, n, err) == 0) continue;
        pthread_mutex_lock(&w->lock);
        if (!w->failed) w->failed = 1, memcpy(w->err, err, sizeof err);
        pthread_mutex_unlock(&w->lock);
    }
}

int bench_lab(dd_device device, const dd_mnist *data, int epochs, int jobs, double *seconds,
              char *err) {
    enum { MODELS = DD_VARIANT_COUNT + 1 };
    lab_work w = {.device = device, .data = data, .epochs = epochs};
    pthread_t threads[MODELS];
    int started = 0;
    if (!(w.quiet = fopen("/dev/null", "w"))) {
        snprintf(err, DD_ERR_LEN, "cannot open /dev/null");
        return -1;
    }
    pthread_mutex_init(&w.lock, NULL);
    double t0 = dd_seconds();
    if (jobs > MODELS) jobs = MODELS;
    while (started < (jobs > 1 ? jobs : 1) &&
           pthread_create(&threads[started], NULL, lab_worker, &w) == 0)
        started++;
    for (int t = 0; t < started; t++) pthread_join(threads[t], NULL);
    *seconds = dd_seconds() - t0;
    pthread_mutex_destroy(&w.lock);
    fclose(w.quiet);
    if (started == 0) snprintf(w.err, DD_ERR_LEN, "cannot start a thread"), w.failed = 1;
    if (w.failed) memcpy(err, w.err, DD_ERR_LEN);
    return w.failed ? -1 : 0;
}
