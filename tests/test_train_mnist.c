/* End to end on the real MNIST: the lab's program, one epoch, through the same driver the CLI
 * uses. The lab printed val_acc 0.8893 after its first epoch; an exact reimplementation with other
 * random draws lands within about 1.5 points, so 0.87 is the floor. Also what a run shows: the
 * standardization, its epoch lines, the history CSV and the progress bar on a terminal. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "deepdigits/network.h"
#include "deepdigits/ops.h"
#include "deepdigits/report.h"
#include "deepdigits/rng.h"
#include "deepdigits/train.h"
#include "testutil.h"

static void lab_first_epoch(const dd_mnist *data) {
    dd_train_options o = dd_train_options_lab();
    o.epochs = 1;
    o.verbose = 0;
    char err[DD_ERR_LEN];
    dd_layout layout;
    if (dd_layout_build(&o.model, &layout, err) != 0) {
        CHECK(0, "%s", err);
        return;
    }
    float *params = malloc(layout.n_params * sizeof *params);
    dd_epoch_stats st;
    if (dd_train(&o, data, params, &st, stdout, err) != 0) {
        CHECK(0, "%s", err);
        free(params);
        return;
    }
    printf("epoch 1: loss %.4f acc %.4f val_loss %.4f val_acc %.4f (%.2f s, %ld steps)\n", st.loss,
           st.acc, st.val_loss, st.val_acc, st.train_seconds, st.steps);
    CHECK(st.steps == 60000, "batch 1 over 60,000 images is 60,000 steps, got %ld", st.steps);
    CHECK(st.val_acc >= 0.87, "val_acc %.4f below 0.87 (the lab printed 0.8893)", st.val_acc);
    CHECK(st.val_loss < 0.03, "val_loss %.4f (the lab printed 0.0276)", st.val_loss);
    free(params);
}

/* Standardization as in the lab: np.mean and np.std of all training pixels. */
static void standardization_matches_numpy(const dd_mnist *data) {
    float table[256];
    double mean, std;
    dd_standardize_table(&data->train, data->train.count, DD_STANDARDIZE_GLOBAL, table, &mean,
                         &std);
    CHECK(dd_close(mean, 33.318421449829934, 1e-9, 0), "mean %.12f", mean);
    CHECK(dd_close(std, 78.56748998339799, 1e-9, 0), "std %.12f", std);
    CHECK(table[0] < -0.42f && table[0] > -0.43f, "pixel 0 -> %f", table[0]);
}

/* The epoch's numbers are per-sample means, whatever the batch: Keras's loss and acc average
 * over the samples seen, not over the steps, and a layer's gradient RMS is over its kernel's
 * entries and the epoch's steps. With lr 0 nothing trains, so each is a plain function of the
 * lab's initial model (seed 7), taken here op by op: 1,000 training images in two steps of 500
 * in the epoch's order (dd_shuffle's for seed 7 and epoch 0: it decides which images share a
 * step, and so the gradients), and the 10,000 test images. Float sums in other orders: 1e-5
 * relative. The diagnostics' probe runs the first 1,000 training images in evaluation mode: the
 * population (numpy) mean and std of each layer's pre-activations and the share of saturated
 * units (tanh |a| > 0.99, sigmoid outside [0.01, 0.99]), from the same floats summed in double,
 * so to 1e-9: a sample std (n - 1) is 2e-5 off at 25,000 values. */
enum { EPOCH_N = 1000, EPOCH_B = 500 };

typedef struct {
    double loss, acc, grad_sq[DD_MAX_DENSE];
} epoch_sums;

/* N images of SET in ORDER (NULL: as stored), B at a time, through NET's training forward (and
 * backward when GRAD_SQ) with PARAMS. */
static epoch_sums sums_over(dd_net *net, const float *params, const dd_dataset *set,
                            const float *table, const uint32_t *order, int n, int B,
                            int grads_too) {
    epoch_sums e = {0};
    long correct = 0;
    float *work = malloc(net->layout.n_params * sizeof *work);
    float *grads = malloc(net->layout.n_trainable * sizeof *grads);
    uint8_t *labels = malloc((size_t)B);
    memcpy(work, params, net->layout.n_params * sizeof *work);
    for (int first = 0; first < n; first += B) {
        const int count = n - first < B ? n - first : B;
        for (int b = 0; b < count; b++)
            labels[b] = set->labels[order ? order[first + b] : (uint32_t)(first + b)];
        dd_gather_standardize(net->input, set->pixels, order, first, table, count);
        dd_net_forward(net, work, count, 1);
        e.loss += dd_net_loss(net, labels, count, &correct, grads_too);
        if (!grads_too) continue;
        dd_net_backward(net, work, grads, count);
        for (int l = 0; l < net->layout.n_dense; l++) {
            const dd_dense_layout *d = &net->layout.dense[l];
            for (size_t i = 0; i < (size_t)d->fan_in * d->units; i++)
                e.grad_sq[l] += (double)grads[d->kernel + i] * grads[d->kernel + i];
        }
    }
    e.loss /= n;
    e.acc = (double)correct / n;
    free(work), free(grads), free(labels);
    return e;
}

static void expect_probe(const char *what, const dd_layer_probe *got, const float *pre,
                         const float *act, size_t n, dd_activation a) {
    double sum = 0, sq = 0, sat = 0;
    for (size_t i = 0; i < n; i++) {
        sum += pre[i];
        sat += a == DD_ACT_TANH ? fabsf(act[i]) > 0.99f : act[i] < 0.01f || act[i] > 0.99f;
    }
    const double mean = sum / n;
    for (size_t i = 0; i < n; i++) sq += (pre[i] - mean) * (pre[i] - mean);
    CHECK(dd_close(got->preact_mean, mean, 1e-12, 1e-9), "%s preact_mean %.12g, expected %.12g",
          what, got->preact_mean, mean);
    CHECK(dd_close(got->preact_std, sqrt(sq / n), 0, 1e-9), "%s preact_std %.12g, expected %.12g",
          what, got->preact_std, sqrt(sq / n));
    CHECK(got->saturated == sat / n, "%s saturated %.9g, expected %.9g", what, got->saturated,
          sat / n);
}

static void epoch_statistics_are_sample_means(const dd_mnist *data) {
    dd_train_options o = dd_train_options_lab();
    o.epochs = 1, o.verbose = 0, o.lr = 0.0f, o.batch = EPOCH_B, o.subset = EPOCH_N;
    o.device = DD_DEVICE_CPU;
    char err[DD_ERR_LEN];
    dd_net net;
    dd_rng *rng = dd_rng_create(o.seed, err);
    if (!rng || dd_net_create(&net, &o.model, EPOCH_N, err) != 0) {
        CHECK(0, "%s", err);
        return;
    }
    const dd_layout *L = &net.layout;
    float *params = malloc(L->n_params * sizeof *params), *p0 = malloc(L->n_params * sizeof *p0);
    uint32_t *order = malloc(EPOCH_N * sizeof *order);
    float table[256];
    dd_epoch_stats st;
    if (dd_model_init(&o.model, L, o.seed, p0, err) != 0 ||
        dd_shuffle(order, 0, rng, EPOCH_N, err) ||
        dd_train(&o, data, params, &st, stdout, err) != 0) {
        CHECK(0, "%s", err);
    } else {
        dd_standardize_table(&data->train, EPOCH_N, DD_STANDARDIZE_GLOBAL, table, NULL, NULL);
        const epoch_sums tr = sums_over(&net, p0, &data->train, table, order, EPOCH_N, EPOCH_B, 1);
        const epoch_sums te =
            sums_over(&net, p0, &data->test, table, NULL, data->test.count, EPOCH_N, 0);
        CHECK(st.steps == 2, "steps %ld, expected 2", st.steps);
        CHECK(dd_close(st.loss, tr.loss, 0, 1e-5), "loss %.9g, expected %.9g", st.loss, tr.loss);
        CHECK(st.acc == tr.acc, "acc %.9g, expected %.9g", st.acc, tr.acc);
        CHECK(dd_close(st.val_loss, te.loss, 0, 1e-5), "val_loss %.9g, expected %.9g", st.val_loss,
              te.loss);
        CHECK(st.val_acc == te.acc, "val_acc %.9g, expected %.9g", st.val_acc, te.acc);
        for (int l = 0; l < L->n_dense; l++) {
            const dd_dense_layout *d = &L->dense[l];
            const double want = sqrt(tr.grad_sq[l] / ((double)d->fan_in * d->units * 2));
            CHECK(dd_close(st.grad_rms[l], want, 0, 1e-5), "layer %d grad_rms %.9g, expected %.9g",
                  l + 1, st.grad_rms[l], want);
        }
        dd_gather_standardize(net.input, data->train.pixels, NULL, 0, table, EPOCH_N);
        dd_net_forward(&net, p0, EPOCH_N, 0);
        for (int l = 0; l < L->n_dense; l++) {
            char what[32];
            snprintf(what, sizeof what, "layer %d", l + 1);
            expect_probe(what, &st.probe[l], net.acts[l].dense_out, net.acts[l].act_out,
                         (size_t)EPOCH_N * L->dense[l].units, dd_layer_activation(&o.model, l));
        }
    }
    free(params), free(p0), free(order);
    dd_rng_destroy(rng);
    dd_net_destroy(&net);
}

/* --standardize none feeds the raw pixel values; a training set whose pixels are all one value
 * (std 0) is centred but not scaled (std taken as 1), not divided by zero. */
static void standardization_edge_cases(const dd_mnist *data) {
    float table[256];
    double mean, std;
    dd_standardize_table(&data->train, 100, DD_STANDARDIZE_NONE, table, &mean, &std);
    int raw = 1;
    for (int p = 0; p < 256; p++) raw &= table[p] == (float)p;
    CHECK(raw, "--standardize none changed the pixel values (0 -> %g, 255 -> %g)", table[0],
          table[255]);
    dd_mnist blank = dd_test_blank_data(3);
    dd_standardize_table(&blank.train, 3, DD_STANDARDIZE_GLOBAL, table, &mean, &std);
    CHECK(mean == 0 && std == 1 && table[0] == 0 && table[255] == 255,
          "all-zero images: mean %g std %g, 0 -> %g, 255 -> %g", mean, std, table[0], table[255]);
    blank.train.count = 0; /* no images at all: --subset has none to take */
    dd_train_options o = dd_train_options_lab();
    char err[DD_ERR_LEN] = "";
    CHECK(dd_check_subset(&o, &blank.train, err) != 0 &&
              strstr(err, "--subset 0: the training set has 0 images"),
          "an empty training set: '%s'", err);
    dd_mnist_free(&blank);
}

/* What a run prints and writes, checked against the epochs dd_train returns: Keras's summary
 * ends in "Train on N samples" for the --subset, each epoch's line counts ceil(N / batch) steps
 * (300 images in batches of 32: 9 full and one of 12) and gives the epoch's numbers to 4
 * decimals, and the history CSV has one row of them per epoch, in its header's order. */
enum { OUT_N = 300, OUT_B = 32, OUT_EPOCHS = 2, OUT_STEPS = (OUT_N + OUT_B - 1) / OUT_B };

/* The header as train writes it; the rows, read back by report's reader (which refuses a row
 * whose fields are not as many numbers as the header's), are the epochs dd_train returned. */
static void expect_history_file(const char *path, const dd_epoch_stats *h, int diagnostics) {
    FILE *f = fopen(path, "r");
    char line[1024], want[1024], err[DD_ERR_LEN];
    const int header = f && fgets(line, sizeof line, f);
    if (f) fclose(f);
    if (!header) {
        CHECK(0, "%s: no history", path);
        return;
    }
    int at = snprintf(want, sizeof want,
                      "epoch,loss,acc,val_loss,val_acc,train_seconds,eval_seconds,steps");
    static const char *columns[] = {"grad_rms", "saturated", "preact_mean", "preact_std"};
    for (int c = 0; diagnostics && c < 4; c++)
        for (int l = 1; l <= 2; l++)
            at += snprintf(want + at, sizeof want - at, ",%s_dense_%d", columns[c], l);
    snprintf(want + at, sizeof want - at, "\n");
    CHECK(strcmp(line, want) == 0, "history header\n%sexpected\n%s", line, want);
    dd_history csv;
    if (dd_history_read(path, &csv, err) != 0) {
        CHECK(0, "%s", err);
        return;
    }
    CHECK(csv.rows == OUT_EPOCHS && csv.cols == (diagnostics ? 16 : 8),
          "%d rows of %d columns, expected %d of %d", csv.rows, csv.cols, OUT_EPOCHS,
          diagnostics ? 16 : 8);
    for (int e = 0; e < OUT_EPOCHS && e < csv.rows; e++) {
        const dd_epoch_stats *s = &h[e];
        /* The epoch's numbers to 8 significant digits, the diagnostics to 6. */
        const double want_v[16] = {s->epoch,
                                   s->loss,
                                   s->acc,
                                   s->val_loss,
                                   s->val_acc,
                                   s->train_seconds,
                                   s->eval_seconds,
                                   (double)s->steps,
                                   s->grad_rms[0],
                                   s->grad_rms[1],
                                   s->probe[0].saturated,
                                   s->probe[1].saturated,
                                   s->probe[0].preact_mean,
                                   s->probe[1].preact_mean,
                                   s->probe[0].preact_std,
                                   s->probe[1].preact_std};
        for (int i = 0; i < csv.cols && i < 16; i++) {
            const double v = dd_history_at(&csv, e, i);
            CHECK(dd_close(v, want_v[i], 1e-6, i < 8 ? 1e-7 : 1e-5),
                  "epoch %d, column %d: %.9g, expected %.9g", e + 1, i + 1, v, want_v[i]);
        }
    }
    dd_history_free(&csv);
}

static void run_output_and_history(const dd_mnist *data) {
    for (int diagnostics = 1; diagnostics >= 0; diagnostics--) {
        dd_train_options o = dd_train_options_lab();
        o.epochs = OUT_EPOCHS, o.batch = OUT_B, o.subset = OUT_N, o.device = DD_DEVICE_CPU;
        o.summary = 1, o.verbose = 2, o.diagnostics = diagnostics;
        char path[512], err[DD_ERR_LEN];
        snprintf(path, sizeof path, "%s/history-%d.csv", dd_test_tmpdir(), diagnostics);
        o.history_path = path;
        float params[19885];
        dd_epoch_stats h[OUT_EPOCHS];
        char *text = NULL;
        size_t size = 0;
        FILE *out = open_memstream(&text, &size);
        const int rc = dd_train(&o, data, params, h, out, err);
        fclose(out);
        CHECK(rc == 0, "%s", err);
        if (rc != 0) {
            free(text);
            continue;
        }
        char want[256];
        snprintf(want, sizeof want, "\nTrain on %d samples, validate on %d samples\nEpoch 1/%d\n",
                 OUT_N, data->test.count, OUT_EPOCHS);
        CHECK(strstr(text, want) != NULL, "want%sin:\n%s", want, text);
        for (int e = 0; e < OUT_EPOCHS; e++) {
            CHECK(h[e].epoch == e + 1 && h[e].steps == OUT_STEPS, "epoch %d: number %d, %ld steps",
                  e + 1, h[e].epoch, h[e].steps);
            snprintf(want, sizeof want,
                     "\n%d/%d - %.1fs - loss: %.4f - acc: %.4f - val_loss: %.4f "
                     "- val_acc: %.4f\n",
                     OUT_STEPS, OUT_STEPS, h[e].train_seconds + h[e].eval_seconds, h[e].loss,
                     h[e].acc, h[e].val_loss, h[e].val_acc);
            CHECK(strstr(text, want) != NULL, "epoch %d: want%sin:\n%s", e + 1, want, text);
        }
        free(text);
        expect_history_file(path, h, diagnostics);
    }
}

/* The progress bar of --verbose 1, drawn only on a terminal (here a pseudo-terminal, drained by a
 * thread so that the run never waits on it): each draw is Keras's "\rSTEP/STEPS [bar] - ETA: Ns
 * - loss: L - acc: A", its bar 30 characters of which floor(30 * STEP / STEPS) are '=' and the
 * next, if any, '>'; drawn at steps 1, 257, 513, ... (every 256 steps, at most 10 times a second)
 * and erased before the epoch's line. 60,000 steps take long enough to draw it several times. */
typedef struct {
    int fd;
    char *text;
    size_t len, cap;
} pty_reader;

static void *drain(void *arg) {
    pty_reader *r = arg;
    char buf[4096];
    ssize_t got;
    while ((got = read(r->fd, buf, sizeof buf)) > 0) {
        if (r->len + (size_t)got + 1 > r->cap) {
            r->cap = 2 * (r->len + (size_t)got + 1);
            r->text = realloc(r->text, r->cap);
        }
        memcpy(r->text + r->len, buf, (size_t)got);
        r->len += (size_t)got;
        r->text[r->len] = '\0';
    }
    return NULL;
}

/* One draw starting at TEXT (after its '\r'), of an epoch of STEPS steps. */
static void check_draw(const char *text, long steps) {
    long step, total;
    char bar[31];
    double eta, loss, acc;
    if (sscanf(text, "%ld/%ld [%30[=>.]] - ETA: %lfs - loss: %lf - acc: %lf", &step, &total, bar,
               &eta, &loss, &acc) != 6) {
        CHECK(0, "a draw not in Keras's form: '%.100s'", text);
        return;
    }
    char want[31];
    const long filled = 30 * step / steps;
    for (int i = 0; i < 30; i++) want[i] = i < filled ? '=' : i == filled ? '>' : '.';
    want[30] = '\0';
    CHECK(total == steps && step % 256 == 1 && step <= steps, "a draw at %ld/%ld", step, total);
    CHECK(strcmp(bar, want) == 0, "step %ld: bar [%s], expected [%s]", step, bar, want);
    /* sscanf takes any blanks for one: the draw must be the numbers read back, spaced as Keras. */
    char again[160];
    snprintf(again, sizeof again, "%ld/%ld [%s] - ETA: %.0fs - loss: %.4f - acc: %.4f", step, total,
             bar, eta, loss, acc);
    const size_t len = strcspn(text, "\r");
    CHECK(len == strlen(again) && strncmp(text, again, len) == 0, "a draw '%.*s', expected '%s'",
          (int)len, text, again);
    CHECK(eta >= 0 && loss >= 0 && loss <= 1 && acc >= 0 && acc <= 1,
          "step %ld: ETA %g loss %g acc %g", step, eta, loss, acc);
}

static void progress_bar_on_a_terminal(const dd_mnist *data) {
    const int master = posix_openpt(O_RDWR | O_NOCTTY);
    if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0) {
        CHECK(0, "no pseudo-terminal: %s", strerror(errno));
        return;
    }
    const int slave = open(ptsname(master), O_RDWR | O_NOCTTY);
    struct termios raw;
    if (slave < 0 || tcgetattr(slave, &raw) != 0) {
        CHECK(0, "the pseudo-terminal's other end: %s", strerror(errno));
        close(master);
        return;
    }
    cfmakeraw(&raw); /* no "\n" -> "\r\n": the bytes as written */
    tcsetattr(slave, TCSANOW, &raw);
    FILE *out = fdopen(slave, "w");
    pty_reader r = {master, NULL, 0, 0};
    pthread_t reader;
    pthread_create(&reader, NULL, drain, &r);
    dd_train_options o = dd_train_options_lab();
    o.epochs = 1, o.verbose = 1, o.device = DD_DEVICE_CPU, o.diagnostics = 0;
    float params[19885];
    dd_epoch_stats st;
    char err[DD_ERR_LEN];
    const int rc = dd_train(&o, data, params, &st, out, err);
    fclose(out); /* the reader then sees the end (EIO) */
    pthread_join(reader, NULL);
    close(master);
    CHECK(rc == 0, "%s", err);
    const long steps = data->train.count;
    int draws = 0, erased = 0;
    for (const char *at = r.text ? strchr(r.text, '\r') : NULL; at; at = strchr(at + 1, '\r')) {
        if (strncmp(at + 1, "\033[K", 3) == 0) {
            char want[32];
            snprintf(want, sizeof want, "%ld/%ld - ", steps, steps);
            erased = strncmp(at + 4, want, strlen(want)) == 0;
            continue;
        }
        const int before = dd_test_failures();
        check_draw(at + 1, steps);
        draws++;
        if (dd_test_failures() > before) break;
    }
    /* The first draw comes at step 1, the next 0.1 s later (60,000 steps take about 0.5 s on
     * one core; a machine that trained in under 0.2 s may have drawn once only). */
    CHECK(draws >= (st.train_seconds > 0.2 ? 2 : 1) && erased, "%d draws, %s: the output was\n%s",
          draws, erased ? "erased before the epoch's line" : "not erased before the epoch's line",
          r.text ? r.text : "");
    free(r.text);
}

int main(void) {
    dd_mnist data;
    dd_test_load_mnist(&data);
    standardization_matches_numpy(&data);
    standardization_edge_cases(&data);
    run_output_and_history(&data);
    progress_bar_on_a_terminal(&data);
    lab_first_epoch(&data);
    epoch_statistics_are_sample_means(&data);
    dd_mnist_free(&data);
    return dd_test_finish("test_train_mnist");
}
