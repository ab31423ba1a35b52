/* Training into run folders: one model (the loop body) and all 21 of the lab; see run.h. */
#include "deepdigits/run.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "deepdigits/checkpoint.h"
#include "deepdigits/variants.h"
#include "errors.h"
#include "json.h"
#include "stop.h"

int dd_mkdirs(const char *path, char *err) {
    char buf[DD_RUN_PATH_LEN];
    if (path[0] == '\0') {
        snprintf(err, DD_ERR_LEN, "'': not a folder name");
        return -1;
    }
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
        snprintf(err, DD_ERR_LEN, "%.64s...: path too long", path);
        return -1;
    }
    for (char *p = buf + 1;; p++) {
        int end = *p == '\0';
        if (*p != '/' && !end) continue;
        *p = '\0';
        struct stat st;
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
            snprintf(err, DD_ERR_LEN, "%.300s: cannot create the folder: %s", buf, strerror(errno));
            return -1;
        }
        if (end && (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode))) { /* EEXIST: a file, say */
            snprintf(err, DD_ERR_LEN, "%.300s: not a folder", buf);
            return -1;
        }
        if (end) return 0;
        *p = '/';
    }
}

/* A stream that writes to two others: the console and the run's log.txt. */
typedef struct {
    FILE *a, *b;
} tee_files;

/* Each line reaches log.txt as it is written: --variant all stops at Ctrl-C without a flush. */
static ssize_t tee_write(void *cookie, const char *data, size_t n) {
    tee_files *t = cookie;
    if (t->a) fwrite(data, 1, n, t->a), fflush(t->a);
    size_t wrote = fwrite(data, 1, n, t->b);
    return fflush(t->b) == 0 ? (ssize_t)wrote : -1;
}

static int tee_close(void *cookie) {
    tee_files *t = cookie;
    int rc = fclose(t->b);
    free(t);
    return rc;
}

/* Opens LOG for writing and returns a stream into it and CONSOLE (which may be NULL). */
static FILE *tee_open(const char *log, FILE *console, char *err) {
    tee_files *t = malloc(sizeof *t);
    FILE *f = t ? fopen(log, "w") : NULL;
    FILE *out =
        f ? fopencookie(t, "w", (cookie_io_functions_t){.write = tee_write, .close = tee_close})
          : NULL;
    if (out) {
        *t = (tee_files){console, f};
        setvbuf(out, NULL, _IOLBF, 0);
        return out;
    }
    snprintf(err, DD_ERR_LEN, "%.300s: cannot write the log: %s", log, strerror(errno));
    if (f) fclose(f);
    free(t);
    return NULL;
}

/* SRC into DST (LEN bytes) as a model's name config.json can hold (valid UTF-8; the report reads
 * it strictly) and tables and one-line messages can print: a byte that starts no valid character
 * becomes '?', a control character '_', and the text is cut at a character's start, so that a
 * folder named in Cyrillic leaves no half letter. */
static void copy_label(char *dst, size_t len, const char *src) {
    const unsigned char *s = (const unsigned char *)src;
    size_t n = 0, left = strlen(src);
    while (left > 0) {
        const size_t k = dd_utf8_length(s, left), step = k ? k : 1; /* k 0: an invalid byte */
        if (n + step >= len) break;
        if (!k)
            dst[n++] = '?';
        else if (k == 1 && (*s < 0x20 || *s == 0x7f))
            dst[n++] = '_';
        else
            memcpy(dst + n, s, k), n += k;
        s += step, left -= step;
    }
    dst[n] = '\0';
}

/* Whether S is valid UTF-8 throughout. */
static int is_utf8(const char *s) {
    const unsigned char *u = (const unsigned char *)s;
    for (size_t left = strlen(s), k; left > 0; u += k, left -= k)
        if ((k = dd_utf8_length(u, left)) == 0) return 0;
    return 1;
}

/* DATA_DIR's absolute path into OUT, as config.json names the data folder for the report to
 * evaluate the model: a path it cannot hold whole, or as text (JSON is UTF-8), is refused rather
 * than cut or altered (the report would read another folder). */
static int data_dir_path(const char *data_dir, char out[DD_RUN_PATH_LEN], char *err) {
    char absolute[PATH_MAX];
    const char *path = realpath(data_dir, absolute) ? absolute : data_dir;
    if (strlen(path) >= DD_RUN_PATH_LEN)
        snprintf(err, DD_ERR_LEN,
                 "%.64s...: the data folder's path is %zu bytes; a run folder's config.json holds "
                 "at most %d",
                 path, strlen(path), DD_RUN_PATH_LEN - 1);
    else if (!is_utf8(path))
        snprintf(err, DD_ERR_LEN,
                 "%s: the data folder's path is not UTF-8 text, which a run folder's config.json "
                 "needs",
                 path);
    else
        return snprintf(out, DD_RUN_PATH_LEN, "%s", path), 0;
    return -1;
}

/* C for a run into DIR; DATA_PATH is data_dir_path's. */
static void fill_config(dd_run_config *c, const char *dir, int variant,
                        const dd_train_options *opts, int allow, const char *data_path,
                        const dd_mnist *data, const dd_layout *layout) {
    memset(c, 0, sizeof *c);
    if (variant >= 0) {
        dd_variant_name(variant, c->name, sizeof c->name);
    } else { /* the folder's own name, also for "runs/mine/" or "." */
        char real[PATH_MAX];
        const char *path = realpath(dir, real) ? real : dir, *slash = strrchr(path, '/');
        const char *name = slash && slash[1] ? slash + 1 : path;
        copy_label(c->name, sizeof c->name, strcmp(name, "/") == 0 ? "run" : name);
    }
    c->variant = variant;
    dd_options_describe_short(opts, c->description, sizeof c->description);
    c->opts = *opts;
    c->opts.history_path = NULL;
    c->allow_bn_batch1 = allow;
    c->train_samples = dd_train_images(opts, data->train.count);
    c->params_total = (long)layout->n_params;
    c->params_trainable = (long)layout->n_trainable;
    snprintf(c->data_dir, sizeof c->data_dir, "%s", data_path);
    dd_device_describe(opts->device, c->device, sizeof c->device, c->device_name,
                       sizeof c->device_name);
    time_t now = time(NULL);
    struct tm utc;
    strftime(c->created, sizeof c->created, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &utc));
}

static void summarize(dd_run_result *res, const dd_run_config *c, const dd_epoch_stats *h,
                      int epochs, double seconds) {
    memset(res, 0, sizeof *res);
    snprintf(res->name, sizeof res->name, "%s", c->name);
    snprintf(res->description, sizeof res->description, "%s", c->description);
    res->final_val_acc = h[epochs - 1].val_acc;
    for (int e = 0; e < epochs; e++)
        if (e == 0 || h[e].val_acc > res->best_val_acc) { /* the first best, epoch 1 at worst */
            res->best_val_acc = h[e].val_acc;
            res->best_epoch = h[e].epoch;
        }
    res->seconds = seconds;
}

/* Trains PARAMS with train's usual output (the summary, then the epochs) to OUT. */
static int train_logged(const char *dir, const dd_run_config *c, float *params,
                        dd_epoch_stats *history, const dd_mnist *data, FILE *out, dd_device *used,
                        char *err) {
    char path[DD_RUN_PATH_LEN + 32];
    dd_train_options o = c->opts;
    o.device_used = used;
    o.verbose = 2; /* the log gets every line; the console only with --verbose 1 or 2 */
    snprintf(path, sizeof path, "%s/history.csv", dir);
    o.history_path = path;
    o.summary = 1;
    char stop[DD_RUN_PATH_LEN + 32]; /* a signal's checkpoint stays in the run's folder */
    snprintf(stop, sizeof stop, "%s/%s", dir, DD_RUN_INTERRUPTED);
    o.stop_path = stop;
    fprintf(out, "%s: %s\n", c->name, c->description);
    return dd_train(&o, data, params, history, out, err);
}

static int save_weights(const char *dir, const float *params, const dd_run_config *c,
                        dd_epoch_stats *history, const dd_mnist *data, char *err) {
    char path[DD_RUN_PATH_LEN + 32];
    float table[256];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    dd_checkpoint_state state = {
        .options = c->opts, .epochs_done = c->opts.epochs, .history = history};
    dd_standardize_table(&data->train, c->train_samples, c->opts.standardize, table, &state.mean,
                         &state.std);
    return dd_checkpoint_save(path, params, &state, err);
}

/* The model is written last, so a folder without one holds a run that did not finish (the
 * report's test): one left in DIR by an earlier run must go first, and with it the checkpoint
 * an earlier run stopped by a signal left there. A DIR that is not there has none. */
static int remove_earlier_model(const char *dir, char *err) {
    static const char *const files[] = {"model.safetensors", DD_RUN_INTERRUPTED};
    for (int i = 0; i < 2; i++) {
        char path[DD_RUN_PATH_LEN + 64];
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        if (unlink(path) != 0 && errno != ENOENT && errno != ENOTDIR) {
            snprintf(err, DD_ERR_LEN, "%.300s: cannot remove the earlier run's %s: %s", path,
                     i ? "checkpoint" : "model", strerror(errno));
            return -1;
        }
    }
    return 0;
}

int dd_run_model(const char *dir, int variant, const dd_train_options *opts, int allow,
                 const char *data_dir, const dd_mnist *data, FILE *console, dd_run_result *res,
                 char *err) {
    dd_layout layout;
    dd_run_config c;
    char path[DD_RUN_PATH_LEN + 32], data_path[DD_RUN_PATH_LEN];
    /* Bad options are found before an earlier run's model is removed. */
    if (data_dir_path(data_dir, data_path, err) != 0 ||
        dd_check_subset(opts, &data->train, err) != 0 ||
        dd_check_bn_samples(opts, data->train.count, allow, err) != 0 ||
        dd_layout_build(&opts->model, &layout, err) || dd_mkdirs(dir, err) != 0)
        return -1;
    if (remove_earlier_model(dir, err) != 0) return -1;
    fill_config(&c, dir, variant, opts, allow, data_path, data, &layout);
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (dd_run_config_write(path, &c, err) != 0) return -1;
    float *params = malloc(layout.n_params * sizeof *params);
    dd_epoch_stats *history = calloc((size_t)opts->epochs, sizeof *history);
    snprintf(path, sizeof path, "%s/log.txt", dir);
    FILE *out = params && history ? tee_open(path, opts->verbose > 0 ? console : NULL, err) : NULL;
    if (!params || !history) snprintf(err, DD_ERR_LEN, "out of memory");
    int rc = out ? 0 : -1;
    double t0 = dd_seconds();
    dd_device used = opts->device;
    if (rc == 0) rc = train_logged(dir, &c, params, history, data, out, &used, err);
    double seconds = dd_seconds() - t0;
    /* --device auto: config.json named the GPU, and the CPU trained (the GPU failed). */
    if (rc == 0 && used == DD_DEVICE_CPU && strcmp(c.device, "cpu") != 0) {
        dd_device_describe(DD_DEVICE_CPU, c.device, sizeof c.device, c.device_name,
                           sizeof c.device_name);
        char config[DD_RUN_PATH_LEN + 32];
        snprintf(config, sizeof config, "%s/config.json", dir);
        rc = dd_run_config_write(config, &c, err);
    }
    if (rc == 0) rc = save_weights(dir, params, &c, history, data, err);
    if (rc == 0 && opts->catch_signals) rc = dd_stop_late(err);
    if (rc != 0 && out) fprintf(out, "deepdigits: %s\n", err);
    if (rc == 0 && res) summarize(res, &c, history, opts->epochs, seconds);
    if (out && fclose(out) != 0 && rc == 0)
        rc = -1, snprintf(err, DD_ERR_LEN, "%.300s: writing the log failed", path);
    free(history);
    free(params);
    return rc;
}

void dd_run_summary(FILE *out, const dd_run_result *r, int n) {
    fprintf(out, "\n%-11s  %-46s  %9s  %8s  %10s  %8s\n", "model", "description", "val_acc", "best",
            "best epoch", "time");
    for (int i = 0; i < n; i++)
        fprintf(out, "%-11s  %-46s  %9.4f  %8.4f  %10d  %7.1fs\n", r[i].name, r[i].description,
                r[i].final_val_acc, r[i].best_val_acc, r[i].best_epoch, r[i].seconds);
    fflush(out);
}

enum { MODELS = DD_VARIANT_COUNT + 1 };

/* The shared state of --variant all: every model's options, where its run goes, its result. */
typedef struct {
    const char *out, *data_dir;
    const dd_mnist *data;
    int allow;
    FILE *console;
    dd_train_options opts[MODELS];
    dd_run_result results[MODELS];
    pthread_mutex_t lock; /* guards the fields below and the console */
    int next, done, failed;
    char err[DD_ERR_LEN];
} lab_runs;

/* Trains model N into OUT/<name>, with the epochs on CONSOLE (NULL: in log.txt only). */
static int run_one(lab_runs *r, int n, FILE *console, char *err) {
    char dir[DD_RUN_PATH_LEN], name[32];
    dd_variant_name(n, name, sizeof name);
    if (snprintf(dir, sizeof dir, "%s/%s", r->out, name) >= (int)sizeof dir) {
        snprintf(err, DD_ERR_LEN, "--out %.64s...: path too long", r->out);
        return -1;
    }
    return dd_run_model(dir, n, &r->opts[n], r->allow, r->data_dir, r->data, console,
                        &r->results[n], err);
}

/* A worker of --jobs: takes the next model until none is left or one has failed. */
static void *run_worker(void *arg) {
    lab_runs *r = arg;
    char err[DD_ERR_LEN];
    for (;;) {
        pthread_mutex_lock(&r->lock);
        int n = r->failed || r->next == MODELS ? -1 : r->next++;
        pthread_mutex_unlock(&r->lock);
        if (n < 0) return NULL;
        int rc = run_one(r, n, NULL, err);
        pthread_mutex_lock(&r->lock);
        if (rc != 0 && !r->failed) r->failed = 1, memcpy(r->err, err, sizeof err);
        if (rc == 0 && r->opts[n].verbose > 0)
            fprintf(r->console, "%-11s val_acc %.4f after %d epoch%s, %.1f s (%d of %d done)\n",
                    r->results[n].name, r->results[n].final_val_acc, r->opts[n].epochs,
                    dd_s(r->opts[n].epochs), r->results[n].seconds, ++r->done, MODELS),
                fflush(r->console);
        pthread_mutex_unlock(&r->lock);
    }
}

static int run_parallel(lab_runs *r, int jobs, char *err) {
    pthread_t threads[MODELS];
    int started = 0;
    if (jobs > MODELS) jobs = MODELS;
    for (int n = 0; n < MODELS; n++) r->opts[n].catch_signals = 0; /* handlers are per process */
    pthread_mutex_init(&r->lock, NULL);
    while (started < jobs && pthread_create(&threads[started], NULL, run_worker, r) == 0) started++;
    for (int t = 0; t < started; t++) pthread_join(threads[t], NULL);
    pthread_mutex_destroy(&r->lock);
    if (started == 0) snprintf(r->err, DD_ERR_LEN, "cannot start a thread"), r->failed = 1;
    if (r->failed) memcpy(err, r->err, DD_ERR_LEN);
    return r->failed ? -1 : 0;
}

int dd_run_all(const char *out, dd_variant_options_fn options_for, void *ctx, int allow,
               const char *data_dir, const dd_mnist *data, FILE *console, int jobs, char *err) {
    lab_runs *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, DD_ERR_LEN, "out of memory");
        return -1;
    }
    *r = (lab_runs){
        .out = out, .data_dir = data_dir, .data = data, .allow = allow, .console = console};
    char data_path[DD_RUN_PATH_LEN]; /* checked here, before any earlier model is removed */
    int rc = data_dir_path(data_dir, data_path, err);
    for (int n = 0; n < MODELS && rc == 0; n++) {
        if (options_for(n, &r->opts[n], ctx) != 0) {
            snprintf(err, DD_ERR_LEN, "the options of variant %d are not valid", n);
            rc = -1;
        } else {
            rc = dd_check_subset(&r->opts[n], &data->train, err) ||
                         dd_check_bn_samples(&r->opts[n], data->train.count, allow, err)
                     ? -1
                     : 0;
        }
    }
    /* Every earlier model in OUT goes before the first is trained: a re-run stopped part way
     * must not leave the earlier run's models beside its own, for the report to take as one. */
    for (int n = 0; n < MODELS && rc == 0; n++) {
        char dir[DD_RUN_PATH_LEN + 32], name[32];
        dd_variant_name(n, name, sizeof name);
        snprintf(dir, sizeof dir, "%s/%s", out, name);
        rc = remove_earlier_model(dir, err);
    }
    if (rc == 0 && jobs > 1) rc = run_parallel(r, jobs, err);
    for (int n = 0; n < MODELS && rc == 0 && jobs <= 1; n++) {
        char name[32];
        dd_variant_name(n, name, sizeof name);
        if (r->opts[n].verbose > 0)
            fprintf(console, "\n== %s (%d of %d) ==\n", name, n + 1, MODELS);
        rc = run_one(r, n, console, err);
    }
    if (rc == 0) dd_run_summary(console, r->results, MODELS);
    free(r);
    return rc;
}
