/* Checkpoints on the real MNIST (a 2,000-image subset, to stay fast): a save/load round trip with
 * BatchNormalization, an exact resume at an epoch boundary (4 epochs = 2 + 2, bitwise), a resume
 * after SIGINT inside an epoch (and where the resumed run stands: its time, its steps, its
 * standardization, a damaged step), a SIGINT in an epoch of one step, --save-every, a SIGINT too
 * late to stop a run, and a diverging run that must not write its checkpoint. */
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "deepdigits/checkpoint.h"
#include "stop.h"
#include "testutil.h"

static char path_buf[512];

static const char *tmp_path(const char *name) {
    snprintf(path_buf, sizeof path_buf, "%s/%s", dd_test_tmpdir(), name);
    return path_buf;
}

static dd_train_options small_run(int subset, int epochs) {
    dd_train_options o = dd_train_options_lab();
    o.subset = subset;
    o.epochs = epochs;
    o.verbose = 0;
    o.device = DD_DEVICE_CPU;
    return o;
}

typedef void (*signal_handler)(int);

static signal_handler handler(int sig) {
    struct sigaction sa;
    sigaction(sig, NULL, &sa);
    return sa.sa_handler;
}

static void do_nothing(int sig) {
    (void)sig;
}

/* dd_stop_install leaves an ignored signal ignored, SIGTERM as well as SIGINT, catches the other,
 * and forgets the signal of an earlier run; dd_stop_restore puts the handlers back. */
static void stop_handlers(void) {
    signal(SIGINT, do_nothing), signal(SIGTERM, SIG_IGN);
    dd_stop_install();
    CHECK(handler(SIGTERM) == SIG_IGN, "an ignored SIGTERM was caught");
    CHECK(handler(SIGINT) != do_nothing && handler(SIGINT) != SIG_IGN, "SIGINT not caught");
    raise(SIGINT);
    CHECK(dd_stop_signal() == SIGINT, "SIGINT not recorded: %d", dd_stop_signal());
    dd_stop_restore();
    CHECK(handler(SIGINT) == do_nothing && handler(SIGTERM) == SIG_IGN, "handlers not restored");
    CHECK(dd_stop_signal() == SIGINT, "the signal was forgotten on restore");
    signal(SIGINT, SIG_IGN), signal(SIGTERM, do_nothing);
    dd_stop_install();
    CHECK(dd_stop_signal() == 0, "the earlier run's signal is still recorded");
    CHECK(handler(SIGINT) == SIG_IGN && handler(SIGTERM) != do_nothing, "SIGTERM not caught");
    dd_stop_restore();
    signal(SIGINT, SIG_DFL), signal(SIGTERM, SIG_DFL);
}

/* Room for O's parameters, which a fresh dd_train initializes; N gets their count. */
static float *param_buffer(const dd_train_options *o, size_t *n) {
    dd_layout layout;
    char err[DD_ERR_LEN];
    CHECK(dd_layout_build(&o->model, &layout, err) == 0, "%s", err);
    *n = layout.n_params;
    return malloc(layout.n_params * sizeof(float));
}

static void round_trip_with_bn(const dd_mnist *data) {
    dd_train_options o = small_run(500, 2);
    o.model.bn = DD_BN_BEFORE;
    o.batch = 8;
    o.model.n_hidden = 2, o.model.units[1] = 12;
    o.dataset = DD_DATASET_FASHION; /* a label only: the images are MNIST's */
    o.save_path = tmp_path("bn.safetensors");
    size_t n;
    float *p = param_buffer(&o, &n), *q;
    dd_epoch_stats h[2];
    char err[DD_ERR_LEN];
    CHECK(dd_train(&o, data, p, h, stdout, err) == 0, "%s", err);
    dd_checkpoint_state st;
    CHECK(dd_checkpoint_load(o.save_path, &q, &st, err) == 0, "%s", err);
    if (!q) return;
    CHECK(memcmp(p, q, n * sizeof *p) == 0, "params differ after a round trip");
    CHECK(memcmp(&st.options.model, &o.model, sizeof o.model) == 0, "model config differs");
    CHECK(st.epochs_done == 2 && st.step == 0, "epochs_done %d step %ld", st.epochs_done, st.step);
    CHECK(st.options.batch == 8 && st.options.lr == o.lr && st.options.subset == 500, "options");
    CHECK(st.options.dataset == DD_DATASET_FASHION, "dataset %d", (int)st.options.dataset);
    CHECK(memcmp(st.history, h, sizeof h) == 0, "history differs after a round trip");
    float table[256], want[256];
    dd_checkpoint_table(&st, table);
    dd_standardize_table(&data->train, 500, DD_STANDARDIZE_GLOBAL, want, NULL, NULL);
    CHECK(memcmp(table, want, sizeof table) == 0, "standardization table differs");
    free(st.history), free(q), free(p);
}

static void same_columns(const dd_epoch_stats *a, const dd_epoch_stats *b, int n,
                         double loss_rtol) {
    for (int e = 0; e < n; e++) {
        CHECK(a[e].epoch == b[e].epoch && a[e].steps == b[e].steps, "epoch %d numbering", e + 1);
        CHECK(loss_rtol ? dd_close(a[e].loss, b[e].loss, 0, loss_rtol) : a[e].loss == b[e].loss,
              "epoch %d loss %.17g vs %.17g", e + 1, a[e].loss, b[e].loss);
        CHECK(a[e].acc == b[e].acc && a[e].val_loss == b[e].val_loss &&
                  a[e].val_acc == b[e].val_acc,
              "epoch %d: acc %.17g/%.17g val_loss %.17g/%.17g val_acc %.17g/%.17g", e + 1, a[e].acc,
              b[e].acc, a[e].val_loss, b[e].val_loss, a[e].val_acc, b[e].val_acc);
    }
}

/* Trains FIRST (stopped by save and resume) and compares with the uninterrupted REF run. */
static void resume_and_compare(const dd_mnist *data, const dd_train_options *ref_opts,
                               const char *path, double loss_rtol) {
    size_t n;
    char err[DD_ERR_LEN];
    float *ref = param_buffer(ref_opts, &n), *p;
    dd_epoch_stats want[8], got[8];
    CHECK(dd_train(ref_opts, data, ref, want, stdout, err) == 0, "%s", err);
    dd_checkpoint_state st;
    CHECK(dd_checkpoint_load(path, &p, &st, err) == 0, "%s", err);
    if (!p) return;
    CHECK(st.options.dataset == DD_DATASET_UNKNOWN, "dataset %d: an unknown one is not written",
          (int)st.options.dataset);
    dd_train_options o = st.options;
    o.device = ref_opts->device; /* not in a checkpoint: auto would take a GPU */
    o.epochs = ref_opts->epochs;
    o.resume = &st;
    o.verbose = 0;
    CHECK(dd_train(&o, data, p, got, stdout, err) == 0, "%s", err);
    CHECK(memcmp(p, ref, n * sizeof *p) == 0, "resumed params differ from the uninterrupted run");
    same_columns(got, want, ref_opts->epochs, loss_rtol);
    free(st.history), free(p), free(ref);
}

static void exact_resume_at_epoch(const dd_mnist *data) {
    dd_train_options o = small_run(2000, 2);
    o.save_path = tmp_path("half.safetensors");
    size_t n;
    char err[DD_ERR_LEN];
    float *p = param_buffer(&o, &n);
    CHECK(dd_train(&o, data, p, NULL, stdout, err) == 0, "%s", err);
    free(p);
    dd_train_options full = small_run(2000, 4);
    resume_and_compare(data, &full, o.save_path, 0);
}

/* Output that goes nowhere but raises SIGINT once, when a line holding TEXT is written. */
typedef struct {
    const char *text;
    int raised;
} sigint_at;

static ssize_t raise_sigint_at(void *cookie, const char *buf, size_t size) {
    sigint_at *at = cookie;
    if (!at->raised && memmem(buf, size, at->text, strlen(at->text))) at->raised = 1, raise(SIGINT);
    return (ssize_t)size;
}

/* O trained on DATA with its output to a sigint_at AT; returns dd_train's result. */
static int train_until_sigint(const dd_train_options *o, const dd_mnist *data, float *params,
                              sigint_at *at, char *err) {
    signal(SIGINT, SIG_DFL); /* not ignored, so that dd_train catches it */
    FILE *out = fopencookie(at, "w", (cookie_io_functions_t){.write = raise_sigint_at});
    setvbuf(out, NULL, _IONBF, 0);
    const int rc = dd_train(o, data, params, NULL, out, err);
    fclose(out);
    CHECK(at->raised, "the run never printed '%s'", at->text);
    return rc;
}

/* SIGINT as epoch 2 of 3 begins stops the run after that epoch's first step: the saved state
 * resumes to the same params. The interrupted epoch's loss is summed in two parts, so it may
 * differ in the last bits. The reference run after it does not catch signals, and the signal
 * this run recorded must not stop it. */
static void resume_after_sigint(const dd_mnist *data) {
    dd_train_options o = small_run(8000, 3);
    o.verbose = 2;
    o.save_path = tmp_path("sigint.safetensors");
    o.catch_signals = 1;
    size_t n;
    char err[DD_ERR_LEN];
    float *p = param_buffer(&o, &n);
    sigint_at at = {"Epoch 2/3", 0};
    const int rc = train_until_sigint(&o, data, p, &at, err);
    free(p);
    CHECK(rc == SIGINT, "SIGINT did not stop the run: rc %d '%s'", rc, err);
    CHECK(strstr(err, "after 1 epoch and 1 step of epoch 2; checkpoint saved to") &&
              strstr(err, o.save_path),
          "message '%s'", err);
    dd_train_options full = small_run(8000, 3);
    resume_and_compare(data, &full, o.save_path, 1e-12);
}

/* A run whose loss is not finite stops with the epoch and step, and leaves PATH alone. */
static void divergence_keeps_checkpoint(const dd_mnist *data) {
    dd_train_options o = small_run(500, 2);
    o.model.init = (dd_init){DD_INIT_RANDOM_UNIFORM, -1e38f, 1e38f};
    o.save_path = tmp_path("half.safetensors"); /* the good checkpoint of exact_resume_at_epoch */
    o.save_every = 1;
    dd_checkpoint_state before, after;
    float *good, *again;
    char err[DD_ERR_LEN];
    CHECK(dd_checkpoint_load(o.save_path, &good, &before, err) == 0, "%s", err);
    size_t n;
    float *p = param_buffer(&o, &n);
    CHECK(dd_train(&o, data, p, NULL, stdout, err) == -1, "a diverging run succeeded");
    CHECK(strstr(err, "epoch 1, step 1 of 500") && strstr(err, "--lr"), "message: %s", err);
    CHECK(dd_checkpoint_load(o.save_path, &again, &after, err) == 0, "%s", err);
    CHECK(good && again && memcmp(good, again, 19885 * sizeof *good) == 0,
          "the good checkpoint was overwritten");
    free(p), free(good), free(again), free(before.history), free(after.history);
}

/* A signal too late to stop the run: it finishes and saves as usual, and the signal is still
 * reported (the command then exits 130, so that a script's loop stops as well). */
static void late_sigint_finishes(const dd_mnist *data) {
    dd_train_options o = small_run(300, 1);
    o.verbose = 2;
    o.save_path = tmp_path("late.safetensors");
    o.catch_signals = 1;
    size_t n;
    char err[DD_ERR_LEN] = "", late[DD_ERR_LEN] = "";
    float *p = param_buffer(&o, &n), *q = NULL;
    /* The epoch line comes after the epoch's evaluation: for a one-epoch run, the moment the
     * run is done but for its checkpoint. */
    sigint_at at = {"val_acc", 0};
    const int rc = train_until_sigint(&o, data, p, &at, err);
    CHECK(rc == 0, "a signal in the last epoch's evaluation stopped the run: rc %d '%s'", rc, err);
    dd_checkpoint_state st = {0};
    CHECK(dd_checkpoint_load(o.save_path, &q, &st, err) == 0, "%s", err);
    CHECK(st.epochs_done == 1 && st.step == 0, "saved after %d epochs and %ld steps",
          st.epochs_done, st.step);
    CHECK(dd_stop_late(late) == SIGINT &&
              strstr(late, "SIGINT came as the run ended: it finished as usual"),
          "the late signal was forgotten: '%s'", late);
    free(st.history), free(q), free(p);
}

/* --save-every 2 of 3 epochs writes the checkpoint after epoch 2 (and the last), not after 1:
 * seen from the output, as each epoch begins. */
typedef struct {
    const char *path;
    int epochs_done[4]; /* the file's epochs_done as epoch 1..3 began; -1: no file */
} saves_seen;

static ssize_t note_saves(void *cookie, const char *buf, size_t size) {
    saves_seen *seen = cookie;
    char line[64]; /* BUF is not a string */
    snprintf(line, sizeof line, "%.*s", (int)(size < 63 ? size : 63), buf);
    int e;
    if (sscanf(line, "Epoch %d/", &e) == 1 && e >= 1 && e <= 3) {
        float *p = NULL;
        dd_checkpoint_state st = {0};
        char err[DD_ERR_LEN];
        seen->epochs_done[e] =
            dd_checkpoint_load(seen->path, &p, &st, err) == 0 ? st.epochs_done : -1;
        free(p), free(st.history);
    }
    return (ssize_t)size;
}

static void save_every_two(const dd_mnist *data) {
    dd_train_options o = small_run(100, 3);
    o.verbose = 2;
    o.save_path = tmp_path("every2.safetensors");
    o.save_every = 2;
    saves_seen seen = {o.save_path, {0}};
    size_t n;
    char err[DD_ERR_LEN];
    float *p = param_buffer(&o, &n), *q = NULL;
    FILE *out = fopencookie(&seen, "w", (cookie_io_functions_t){.write = note_saves});
    setvbuf(out, NULL, _IOLBF, 0);
    CHECK(dd_train(&o, data, p, NULL, out, err) == 0, "%s", err);
    fclose(out);
    CHECK(seen.epochs_done[1] == -1 && seen.epochs_done[2] == -1 && seen.epochs_done[3] == 2,
          "as epochs 1, 2, 3 began the file had %d, %d, %d epochs (-1: none), expected -1, -1, 2",
          seen.epochs_done[1], seen.epochs_done[2], seen.epochs_done[3]);
    dd_checkpoint_state st = {0};
    CHECK(dd_checkpoint_load(o.save_path, &q, &st, err) == 0 && st.epochs_done == 3,
          "after the run: %d epochs '%s'", st.epochs_done, err);
    free(st.history), free(q), free(p);
}

/* An epoch of one step cannot be stopped inside: a SIGINT as epoch 2 of 3 begins stops the run
 * after that epoch, at an epoch boundary, as it would after any epoch's last step. */
static void sigint_in_a_one_step_epoch(const dd_mnist *data) {
    dd_train_options o = small_run(8, 3);
    o.batch = 8;
    o.verbose = 2;
    o.save_path = tmp_path("onestep.safetensors");
    o.catch_signals = 1;
    size_t n;
    char err[DD_ERR_LEN];
    float *p = param_buffer(&o, &n), *q = NULL;
    sigint_at at = {"Epoch 2/3", 0};
    const int rc = train_until_sigint(&o, data, p, &at, err);
    CHECK(rc == SIGINT && strstr(err, "after 2 epochs; checkpoint saved to"), "rc %d '%s'", rc,
          err);
    dd_checkpoint_state st = {0};
    CHECK(dd_checkpoint_load(o.save_path, &q, &st, err) == 0 && st.epochs_done == 2 && st.step == 0,
          "saved after %d epochs and %ld steps '%s'", st.epochs_done, st.step, err);
    free(st.history), free(q), free(p);
}

/* The run resumed from a SIGINT's checkpoint (epoch 2 stopped after its first of 8,000 steps):
 * the interrupted epoch's training time includes the time before the stop (made 1,000 s here,
 * so that it shows); a step that diverges is counted from the epoch's start (step 2, the first
 * the resumed run takes, with NaN weights); a resume that saves keeps the checkpoint's
 * standardization; and a checkpoint that says it stopped at the epoch's last step or beyond is
 * refused as damaged. */
static void resumed_position(const dd_mnist *data) {
    const char *path = tmp_path("sigint.safetensors"); /* resume_after_sigint's */
    dd_checkpoint_state st;
    float *p;
    char err[DD_ERR_LEN];
    if (dd_checkpoint_load(path, &p, &st, err) != 0) {
        CHECK(0, "%s", err);
        return;
    }
    CHECK(st.epochs_done == 1 && st.step == 1, "%d epochs and %ld steps", st.epochs_done, st.step);
    dd_train_options o = st.options;
    o.device = DD_DEVICE_CPU, o.verbose = 0, o.epochs = 2, o.resume = &st;
    o.save_path = tmp_path("resumed.safetensors");
    st.partial_seconds = 1000;
    dd_layout layout;
    dd_layout_build(&o.model, &layout, err);
    float *work = malloc(layout.n_params * sizeof *work), *q = NULL;
    memcpy(work, p, layout.n_params * sizeof *work);
    dd_epoch_stats h[2];
    CHECK(dd_train(&o, data, work, h, stdout, err) == 0, "%s", err);
    CHECK(h[1].train_seconds >= 1000, "the interrupted epoch trained %.3f s, of them 1000 before",
          h[1].train_seconds);
    dd_checkpoint_state saved = {0};
    CHECK(dd_checkpoint_load(o.save_path, &q, &saved, err) == 0 && saved.mean == st.mean &&
              saved.std == st.std,
          "the resumed run saved mean %.17g std %.17g, the checkpoint's %.17g %.17g '%s'",
          saved.mean, saved.std, st.mean, st.std, err);
    free(saved.history), free(q);

    o.save_path = NULL;
    for (size_t i = 0; i < (size_t)layout.dense[0].fan_in * layout.dense[0].units; i++)
        work[layout.dense[0].kernel + i] = NAN;
    CHECK(dd_train(&o, data, work, h, stdout, err) == -1 &&
              strstr(err, "in epoch 2, step 2 of 8000"),
          "a resumed run diverging at once: '%s'", err);

    memcpy(work, p, layout.n_params * sizeof *work);
    st.step = 8000;
    CHECK(dd_train(&o, data, work, h, stdout, err) == -1 &&
              strstr(err, "the checkpoint stopped at step 8000 of an epoch of 8000 steps"),
          "step 8000 of 8000: '%s'", err);
    free(work), free(p), free(st.history);
}

int main(void) {
    stop_handlers();
    dd_mnist data;
    dd_test_load_mnist(&data);
    round_trip_with_bn(&data);
    exact_resume_at_epoch(&data);
    resume_after_sigint(&data);
    resumed_position(&data);
    sigint_in_a_one_step_epoch(&data);
    save_every_two(&data);
    late_sigint_finishes(&data);
    divergence_keeps_checkpoint(&data);
    dd_mnist_free(&data);
    return dd_test_finish("test_checkpoint");
}
