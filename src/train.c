/* The training driver; see train.h. */
#include "deepdigits/train.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "deepdigits/checkpoint.h"
#include "deepdigits/rng.h"
#include "stop.h"
#include "errors.h"

dd_train_options dd_train_options_lab(void) {
    dd_train_options o = {0};
    o.model = dd_model_config_lab();
    o.epochs = 20;
    o.batch = 1;
    o.lr = 0.01f;
    o.seed = 7;
    o.standardize = DD_STANDARDIZE_GLOBAL;
    o.device = DD_DEVICE_AUTO;
    o.verbose = 2;
    o.diagnostics = 1;
    return o;
}

void dd_standardize_apply(dd_standardize mode, double mean, double std, float table[256]) {
    for (int p = 0; p < 256; p++)
        table[p] = mode == DD_STANDARDIZE_NONE ? (float)p : (float)((p - mean) / std);
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
    dd_standardize_apply(mode, mean, std, table);
    if (mean_out) *mean_out = mean;
    if (std_out) *std_out = std;
}

double dd_seconds(void) {
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

/* The epoch's order: drawn by the backend itself when it can (the GPU, with cuRAND's device
 * generator), else by dd_shuffle here; both give the same permutation. */
static int order_epoch(dd_backend *b, unsigned long long seed, dd_rng *rng, uint32_t *order, int n,
                       int epoch, char *err) {
    if (b->ops->shuffle) return b->ops->shuffle(b, seed, epoch, err);
    if (dd_shuffle(order, epoch, rng, n, err) != 0) return -1;
    return b->ops->set_order(b, order, n, err);
}

/* The SIGINT/SIGTERM recorded for this run, or 0: a run that did not install the handlers
 * (a --jobs worker, a test's reference run) is not stopped by a signal another run recorded. */
static int stop_requested(const dd_train_options *o) {
    return o->catch_signals ? dd_stop_signal() : 0;
}

/* Where an epoch starts (a resumed run may start inside one) and how far it got. */
typedef struct {
    long step;      /* in: the first step to take; out: the steps taken when a signal came */
    dd_sums sums;   /* in: the sums of the steps before STEP; out: of all steps taken */
    double seconds; /* in: their training time; out: the epoch's so far */
    int signal;     /* out: the SIGINT/SIGTERM that stopped the epoch early, or 0 */
} epoch_pos;

/* Adds the backend's sums to TRAIN; fails when a step's loss was not finite, naming where. */
static int take(dd_backend *b, dd_sums *train, int epoch, long steps, float lr, char *err) {
    dd_sums part;
    if (b->ops->take_sums(b, &part, err) != 0) return -1;
    long before = train->steps;
    add_sums(train, &part);
    if (!part.first_bad_step && isfinite(part.loss_sum)) return 0;
    char where[64] = "";
    if (part.first_bad_step)
        snprintf(where, sizeof where, ", step %ld of %ld", before + part.first_bad_step, steps);
    snprintf(err, DD_ERR_LEN,
             "training diverged: the loss became NaN or infinite in epoch %d%s; stopped without "
             "saving (try a smaller --lr than %g, or a narrower --init)",
             epoch + 1, where, (double)lr);
    return -1;
}

/* One epoch: a fresh order, every batch (the last one partial), then the test set. A signal
 * stops it after the current step, with POS saying where. */
static int run_epoch(dd_backend *b, const dd_train_options *o, const dd_layout *layout, dd_rng *rng,
                     uint32_t *order, int n, int epoch, epoch_pos *pos, dd_epoch_stats *st,
                     FILE *out, char *err) {
    const dd_backend_ops *ops = b->ops;
    if (order_epoch(b, o->seed, rng, order, n, epoch, err) != 0) return -1;
    const long steps = (n + o->batch - 1) / o->batch;
    const int bar = o->verbose == 1 && isatty(fileno(out));
    if (o->verbose >= 1) fprintf(out, "Epoch %d/%d\n", epoch + 1, o->epochs), fflush(out);
    dd_sums train = pos->sums, test;
    double t0 = dd_seconds(), next_draw = t0;
    for (long s = pos->step; s < steps; s++) {
        int first = (int)(s * o->batch);
        int count = n - first < o->batch ? n - first : o->batch;
        if (ops->train_step(b, first, count, o->lr, err) != 0) return -1;
        if (stop_requested(o) && s + 1 < steps) {
            if (take(b, &train, epoch, steps, o->lr, err) != 0) return -1;
            pos->signal = stop_requested(o);
            pos->step = s + 1;
            pos->sums = train;
            pos->seconds += dd_seconds() - t0;
            return 0;
        }
        if (bar && (s & 255) == 0 && dd_seconds() >= next_draw) {
            if (take(b, &train, epoch, steps, o->lr, err) != 0) return -1;
            progress_bar(out, s + 1, steps, dd_seconds() - t0, &train);
            next_draw = dd_seconds() + 0.1;
        }
    }
    if (take(b, &train, epoch, steps, o->lr, err) != 0) return -1;
    st->train_seconds = pos->seconds + dd_seconds() - t0;
    double t1 = dd_seconds();
    if (ops->evaluate(b, DD_SPLIT_TEST, &test, NULL, err) != 0) return -1;
    st->eval_seconds = dd_seconds() - t1;
    st->epoch = epoch + 1;
    st->steps = train.steps;
    st->loss = train.loss_sum / (double)train.samples;
    st->acc = (double)train.correct / (double)train.samples;
    st->val_loss = test.loss_sum / (double)test.samples;
    st->val_acc = (double)test.correct / (double)test.samples;
    if (o->diagnostics && diagnose(b, layout, n, &train, st, err) != 0) return -1;
    if (bar) fputs("\r\033[K", out);
    if (o->verbose >= 1)
        fprintf(out, "%ld/%ld - %.1fs - loss: %.4f - acc: %.4f - val_loss: %.4f - val_acc: %.4f\n",
                steps, steps, st->train_seconds + st->eval_seconds, st->loss, st->acc, st->val_loss,
                st->val_acc);
    fflush(out);
    return 0;
}

/* What a checkpoint needs from the running driver. */
typedef struct {
    const dd_train_options *o;
    dd_backend *b;
    float *params;
    const dd_epoch_stats *history;
    double mean, std; /* of the standardization */
} saver;

/* Writes the state after DONE epochs (and POS inside the next, if not NULL) to PATH. */
static int save(const saver *s, const char *path, int done, const epoch_pos *pos, char *err) {
    if (s->b->ops->download_params(s->b, s->params, err) != 0) return -1;
    dd_checkpoint_state st = {.options = *s->o,
                              .epochs_done = done,
                              .history = (dd_epoch_stats *)s->history,
                              .mean = s->mean,
                              .std = s->std};
    st.options.history_path = st.options.save_path = NULL;
    st.options.resume = NULL;
    if (pos) st.step = pos->step, st.partial = pos->sums, st.partial_seconds = pos->seconds;
    return dd_checkpoint_save(path, s->params, &st, err);
}

/* After SIGNAL: saves, and returns the signal's number with the message in ERR. */
static int save_stopped(const saver *s, int done, const epoch_pos *pos, int signal, char *err) {
    const char *path = s->o->save_path   ? s->o->save_path
                       : s->o->stop_path ? s->o->stop_path
                                         : DD_INTERRUPTED_CHECKPOINT;
    const char *name = dd_stop_signal_name(signal);
    char why[DD_ERR_LEN];
    if (save(s, path, done, pos, why) != 0) { /* still the signal's exit, saying what was lost */
        snprintf(err, DD_ERR_LEN, "interrupted by %s; no checkpoint saved: %.400s", name, why);
        return signal;
    }
    char where[64] = "";
    if (pos)
        snprintf(where, sizeof where, " and %ld step%s of epoch %d", pos->step, dd_s(pos->step),
                 done + 1);
    snprintf(err, DD_ERR_LEN, "interrupted by %s after %d epoch%s%s; checkpoint saved to %.300s",
             name, done, dd_s(done), where, path);
    return signal;
}

/* Epoch DONE has finished: a pending signal stops here, else --save-every and the last epoch
 * write the checkpoint. Returns 0, -1, or the signal. */
static int after_epoch(const saver *s, int done, char *err) {
    const dd_train_options *o = s->o;
    if (stop_requested(o) && done < o->epochs)
        return save_stopped(s, done, NULL, stop_requested(o), err);
    if (o->save_path && (done == o->epochs || (o->save_every && done % o->save_every == 0)))
        return save(s, o->save_path, done, NULL, err);
    return 0;
}

/* A resume must continue on the same images, and have epochs left to train. */
static int check_resume(const dd_train_options *o, const dd_dataset *train, long steps, char *err) {
    const dd_checkpoint_state *r = o->resume;
    if (!r) return 0;
    if (r->epochs_done >= o->epochs) {
        snprintf(err, DD_ERR_LEN,
                 "the checkpoint has done %d epoch%s already: give --epochs above %d",
                 r->epochs_done, dd_s(r->epochs_done), r->epochs_done);
        return -1;
    }
    if (dd_checkpoint_check_images(r, train, "--data or --dataset", err) != 0) return -1;
    if (o->subset && !r->options.subset && o->subset != train->count) {
        snprintf(err, DD_ERR_LEN,
                 "--subset %d conflicts with the checkpoint, trained on the whole training set (%d "
                 "images)",
                 o->subset, train->count);
        return -1;
    }
    if (r->step >= steps) { /* the same images can only mean the same steps: a damaged file */
        snprintf(err, DD_ERR_LEN, "the checkpoint stopped at step %ld of an epoch of %ld steps",
                 r->step, steps);
        return -1;
    }
    return 0;
}

/* A resumed run's earlier epochs (into HISTORY and the history file) and its position in the
 * next one; returns the first epoch to train. */
static int resume_at(const dd_train_options *o, dd_epoch_stats *history, FILE *hist,
                     epoch_pos *pos) {
    const dd_checkpoint_state *r = o->resume;
    if (!r || !history) return 0;
    for (int e = 0; e < r->epochs_done; e++) {
        history[e] = r->history[e];
        if (hist) history_row(hist, &history[e]);
    }
    pos->step = r->step;
    pos->sums = r->partial;
    pos->seconds = r->partial_seconds;
    return r->epochs_done;
}

int dd_check_subset(const dd_train_options *o, const dd_dataset *train, char *err) {
    const int n = dd_train_images(o, train->count);
    if (n >= 1 && n <= train->count) return 0;
    snprintf(err, DD_ERR_LEN, "--subset %d: the training set has %d images", o->subset,
             train->count);
    return -1;
}

int dd_train(const dd_train_options *o, const dd_mnist *data, float *params,
             dd_epoch_stats *history, FILE *out, char *err) {
    if (dd_check_subset(o, &data->train, err) != 0) return -1;
    const int n = dd_train_images(o, data->train.count);
    dd_layout layout;
    if (dd_layout_build(&o->model, &layout, err) != 0) return -1;
    dd_backend_setup setup = {.cfg = o->model,
                              .train = &data->train,
                              .train_count = n,
                              .test = &data->test,
                              .max_batch = o->batch,
                              .diagnostics = o->diagnostics,
                              .tf32 = o->tf32,
                              .no_graphs = o->no_graphs,
                              .engine = o->engine,
                              .fused_sms = o->fused_sms,
                              .fused_pipe = o->fused_pipe};
    saver sv = {.o = o, .params = params};
    if (check_resume(o, &data->train, (n + o->batch - 1) / o->batch, err) != 0) return -1;
    if (o->resume) { /* checked to be these images' statistics: no second pass over them */
        sv.mean = o->resume->mean, sv.std = o->resume->std;
        dd_checkpoint_table(o->resume, setup.table);
    } else {
        dd_standardize_table(&data->train, n, o->standardize, setup.table, &sv.mean, &sv.std);
    }
    dd_backend *b = dd_backend_create(o->device, &setup, err);
    if (!b) return -1;
    if (o->device_used) *o->device_used = dd_backend_device(b);
    dd_rng *rng = dd_rng_create(o->seed, err);
    uint32_t *order = malloc((size_t)n * sizeof *order);
    dd_epoch_stats *own = history ? NULL : calloc((size_t)o->epochs, sizeof *own);
    sv.b = b, sv.history = history = history ? history : own;
    FILE *hist = o->history_path
                     ? open_history(o->history_path, o->diagnostics ? layout.n_dense : 0, err)
                     : NULL;
    int rc = rng && order && history && (hist || !o->history_path) ? 0 : -1;
    if (!order || !history) snprintf(err, DD_ERR_LEN, "out of memory");
    epoch_pos pos = {0};
    int start = rc == 0 ? resume_at(o, history, hist, &pos) : 0;
    if (rc == 0) /* a fresh model starts from the backend's own draws */
        rc = o->resume ? b->ops->upload_params(b, params, err)
                       : b->ops->init_params(b, o->seed, err);
    if (rc == 0 && o->summary) {
        dd_model_summary(&o->model, &layout, out);
        fprintf(out, "Train on %d samples, validate on %d samples\n", n, data->test.count);
    }
    if (o->catch_signals) dd_stop_install();
    for (int e = start; e < o->epochs && rc == 0; e++) {
        dd_epoch_stats st = {0};
        rc = run_epoch(b, o, &layout, rng, order, n, e, &pos, &st, out, err);
        if (rc == 0 && pos.signal) {
            rc = save_stopped(&sv, e, &pos, pos.signal, err);
            break;
        }
        pos = (epoch_pos){0};
        if (rc == 0) history[e] = st;
        if (rc == 0 && hist) history_row(hist, &st);
        if (rc == 0) rc = after_epoch(&sv, e + 1, err);
    }
    if (o->catch_signals) dd_stop_restore();
    if (rc == 0) rc = b->ops->download_params(b, params, err);
    if (hist && fclose(hist) != 0 && rc == 0) /* a full disk shows here, at the last flush */
        rc = -1, snprintf(err, DD_ERR_LEN, "%.300s: writing the history failed: %s",
                          o->history_path, strerror(errno));
    free(own);
    free(order);
    dd_rng_destroy(rng);
    b->ops->destroy(b);
    return rc;
}
