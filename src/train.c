/* The training driver; see train.h. */
#include "deepdigits/train.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "deepdigits/rng.h"

dd_train_options dd_train_options_lab(void) {
    dd_train_options o = {0};
    o.model = dd_model_config_lab();
    o.epochs = 20;
    o.batch = 1;
    o.lr = 0.01f;
    o.seed = 7;
    o.standardize = DD_STANDARDIZE_GLOBAL;
    o.device = DD_DEVICE_CPU;
    o.verbose = 2;
    o.diagnostics = 1;
    return o;
}

void dd_standardize_table(const dd_dataset *train, int count, dd_standardize mode, float table[256],
                          double *mean_out, double *std_out) {
    /* Integer sums are exact; mean and (population) std then follow in double, as numpy's. */
    unsigned long long sum = 0, sum_sq = 0;
    size_t n = (size_t)count * DD_IMAGE_PIXELS;
    for (size_t i = 0; i < n; i++) {
        unsigned p = train->pixels[i];
        sum += p;
        sum_sq += p * p;
    }
    double mean = n ? (double)sum / n : 0;
    double var = n ? (double)sum_sq / n - mean * mean : 0;
    double std = var > 0 ? sqrt(var) : 1;
    for (int p = 0; p < 256; p++)
        table[p] = mode == DD_STANDARDIZE_NONE ? (float)p : (float)((p - mean) / std);
    if (mean_out) *mean_out = mean;
    if (std_out) *std_out = std;
}

static double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void progress_bar(FILE *out, long step, long steps, double elapsed, const dd_sums *s) {
    char bar[31];
    int filled = (int)(30 * step / steps);
    for (int i = 0; i < 30; i++) bar[i] = i < filled ? '=' : (i == filled ? '>' : '.');
    bar[30] = '\0';
    double eta = step ? elapsed * (double)(steps - step) / (double)step : 0;
    fprintf(out, "\r%ld/%ld [%s] - ETA: %.0fs - loss: %.4f - acc: %.4f", step, steps, bar, eta,
            s->samples ? s->loss_sum / s->samples : 0,
            s->samples ? (double)s->correct / s->samples : 0);
    fflush(out);
}

/* The diagnostic columns, per Dense layer dense_<l>. */
static const char *diagnostic_columns[] = {"grad_rms", "saturated", "preact_mean", "preact_std"};

static FILE *open_history(const char *path, int n_layers, char *err) {
    FILE *f = fopen(path, "w");
    if (!f) {
        snprintf(err, DD_ERR_LEN, "%s: cannot write the history: %s", path, strerror(errno));
        return NULL;
    }
    fprintf(f, "epoch,loss,acc,val_loss,val_acc,train_seconds,eval_seconds,steps");
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < n_layers; l++) fprintf(f, ",%s_dense_%d", diagnostic_columns[c], l + 1);
    fputc('\n', f);
    return f;
}

static void history_row(FILE *f, const dd_epoch_stats *e) {
    fprintf(f, "%d,%.8g,%.8g,%.8g,%.8g,%.6f,%.6f,%ld", e->epoch, e->loss, e->acc, e->val_loss,
            e->val_acc, e->train_seconds, e->eval_seconds, e->steps);
    for (int l = 0; l < e->n_layers; l++) fprintf(f, ",%.6g", e->grad_rms[l]);
    for (int l = 0; l < e->n_layers; l++) fprintf(f, ",%.6g", e->probe[l].saturated);
    for (int l = 0; l < e->n_layers; l++) fprintf(f, ",%.6g", e->probe[l].preact_mean);
    for (int l = 0; l < e->n_layers; l++) fprintf(f, ",%.6g", e->probe[l].preact_std);
    fputc('\n', f);
    fflush(f);
}

/* Gradient RMS over the epoch and the probe batch's statistics, per Dense layer. */
static int diagnose(dd_backend *b, const dd_layout *layout, int n, const dd_sums *train,
                    dd_epoch_stats *st, char *err) {
    st->n_layers = layout->n_dense;
    for (int l = 0; l < layout->n_dense; l++) {
        double elements = (double)layout->dense[l].fan_in * layout->dense[l].units;
        st->grad_rms[l] = sqrt(train->grad_sq[l] / (elements * (double)train->steps));
    }
    return b->ops->probe(b, n < DD_PROBE_IMAGES ? n : DD_PROBE_IMAGES, st->probe, err);
}

static void add_sums(dd_sums *to, const dd_sums *from) {
    to->loss_sum += from->loss_sum;
    to->correct += from->correct;
    to->samples += from->samples;
    to->steps += from->steps;
    for (int l = 0; l < DD_MAX_DENSE; l++) to->grad_sq[l] += from->grad_sq[l];
}

/* One epoch: a fresh order, every batch (the last one partial), then the test set. */
static int run_epoch(dd_backend *b, const dd_train_options *o, const dd_layout *layout, dd_rng *rng,
                     uint32_t *order, int n, int epoch, dd_epoch_stats *st, FILE *out, char *err) {
    const dd_backend_ops *ops = b->ops;
    if (dd_shuffle(rng, epoch, order, n, err) != 0 || ops->set_order(b, order, n, err) != 0)
        return -1;
    const long steps = (n + o->batch - 1) / o->batch;
    const int bar = o->verbose == 1 && isatty(fileno(out));
    dd_sums train = {0}, part, test;
    double t0 = now_seconds(), next_draw = t0;
    for (long s = 0; s < steps; s++) {
        int first = (int)(s * o->batch);
        int count = n - first < o->batch ? n - first : o->batch;
        if (ops->train_step(b, first, count, o->lr, err) != 0) return -1;
        if (bar && (s & 255) == 0 && now_seconds() >= next_draw) {
            if (ops->take_sums(b, &part, err) != 0) return -1;
            add_sums(&train, &part);
            progress_bar(out, s + 1, steps, now_seconds() - t0, &train);
            next_draw = now_seconds() + 0.1;
        }
    }
    if (ops->take_sums(b, &part, err) != 0) return -1;
    add_sums(&train, &part);
    st->train_seconds = now_seconds() - t0;
    double t1 = now_seconds();
    if (ops->evaluate(b, DD_SPLIT_TEST, &test, NULL, err) != 0) return -1;
    st->eval_seconds = now_seconds() - t1;
    st->epoch = epoch + 1;
    st->steps = train.steps;
    st->loss = train.loss_sum / (double)train.samples;
    st->acc = (double)train.correct / (double)train.samples;
    st->val_loss = test.loss_sum / (double)test.samples;
    st->val_acc = (double)test.correct / (double)test.samples;
    if (o->diagnostics && diagnose(b, layout, n, &train, st, err) != 0) return -1;
    if (bar) fputs("\r\033[K", out);
    if (o->verbose >= 1)
        fprintf(out,
                "Epoch %d/%d\n%ld/%ld - %.1fs - loss: %.4f - acc: %.4f - val_loss: %.4f - "
                "val_acc: %.4f\n",
                epoch + 1, o->epochs, steps, steps, st->train_seconds + st->eval_seconds, st->loss,
                st->acc, st->val_loss, st->val_acc);
    fflush(out);
    return 0;
}

int dd_train(const dd_train_options *o, const dd_mnist *data, float *params,
             dd_epoch_stats *history, FILE *out, char *err) {
    int n = o->subset ? o->subset : data->train.count;
    if (n < 1 || n > data->train.count) {
        snprintf(err, DD_ERR_LEN, "--subset %d: the training set has %d images", o->subset,
                 data->train.count);
        return -1;
    }
    dd_layout layout;
    if (dd_layout_build(&o->model, &layout, err) != 0) return -1;
    dd_backend_setup setup = {.cfg = o->model,
                              .train = &data->train,
                              .train_count = n,
                              .test = &data->test,
                              .max_batch = o->batch,
                              .diagnostics = o->diagnostics};
    dd_standardize_table(&data->train, n, o->standardize, setup.table, NULL, NULL);
    dd_backend *b = dd_backend_create(o->device, &setup, err);
    if (!b) return -1;
    dd_rng *rng = dd_rng_create(o->seed, err);
    uint32_t *order = malloc((size_t)n * sizeof *order);
    FILE *hist = o->history_path
                     ? open_history(o->history_path, o->diagnostics ? layout.n_dense : 0, err)
                     : NULL;
    int rc = rng && order && (hist || !o->history_path) ? 0 : -1;
    if (!order) snprintf(err, DD_ERR_LEN, "out of memory");
    if (rc == 0) rc = b->ops->upload_params(b, params, err);
    for (int e = 0; e < o->epochs && rc == 0; e++) {
        dd_epoch_stats st = {0};
        rc = run_epoch(b, o, &layout, rng, order, n, e, &st, out, err);
        if (rc == 0 && history) history[e] = st;
        if (rc == 0 && hist) history_row(hist, &st);
    }
    if (rc == 0) rc = b->ops->download_params(b, params, err);
    if (hist) fclose(hist);
    free(order);
    dd_rng_destroy(rng);
    b->ops->destroy(b);
    return rc;
}
