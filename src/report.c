/* deepdigits report: finds the run folders, reads them, and has the text, the evaluation and the
 * plots written; see report.h. */
#include "deepdigits/report.h"
#include "errors.h"

#include <ctype.h>
#include <errno.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Final and best val_acc and the mean epoch time from the history. The best epoch is the first
 * with the highest val_acc, as Keras' ModelCheckpoint(save_best_only=True) keeps it: epoch 1
 * even when no epoch beats 0. */
static void summarize(dd_report_run *run) {
    const dd_history *h = &run->hist;
    int acc = dd_history_col(h, "val_acc"), tr = dd_history_col(h, "train_seconds"),
        ev = dd_history_col(h, "eval_seconds");
    double seconds = 0;
    run->final_val_acc = acc >= 0 ? dd_history_at(h, h->rows - 1, acc) : 0;
    for (int r = 0; r < h->rows; r++) {
        double a = acc >= 0 ? dd_history_at(h, r, acc) : 0;
        if (r == 0 || a > run->best_val_acc) run->best_val_acc = a, run->best_epoch = r + 1;
        seconds +=
            (tr >= 0 ? dd_history_at(h, r, tr) : 0) + (ev >= 0 ? dd_history_at(h, r, ev) : 0);
    }
    run->epoch_seconds = seconds / h->rows;
}

/* DIR/NAME (NAME "": DIR itself) into OUT. A run folder's path is shorter than DD_RUN_PATH_LEN,
 * as train writes it (run.h): a longer one is an error, never a path cut short, which would name
 * another folder. */
static int run_path(char out[DD_RUN_PATH_LEN], const char *dir, const char *name, char *err) {
    const size_t n = strlen(dir);
    const char *slash = !name[0] || (n && dir[n - 1] == '/') ? "" : "/";
    const int len = snprintf(out, DD_RUN_PATH_LEN, "%s%s%s", dir, slash, name);
    if (len >= 0 && len < DD_RUN_PATH_LEN) return 0;
    snprintf(err, DD_ERR_LEN,
             "%.64s...%s%s: path too long (%d bytes; a run folder's path has at most %d, the "
             "most train --out takes)",
             dir, name[0] ? "/" : "", name, len, DD_RUN_PATH_LEN - 1);
    return -1;
}

/* Reads the run folder DIR, whose path fits run->dir (run_path). */
static int load_run(const char *dir, dd_report_run *run, char *err) {
    char path[DD_RUN_PATH_LEN + 32];
    memset(run, 0, sizeof *run);
    snprintf(run->dir, sizeof run->dir, "%s", dir);
    snprintf(path, sizeof path, "%s/config.json", run->dir);
    if (dd_run_config_read(path, &run->cfg, err) != 0) return -1;
    snprintf(path, sizeof path, "%s/history.csv", run->dir);
    if (dd_history_read(path, &run->hist, err) != 0) return -1;
    /* train --out removes an earlier model first and writes its own last: without one, or with
     * fewer epochs in the history than configured, the run stopped part way (Ctrl-C). */
    snprintf(path, sizeof path, "%s/model.safetensors", run->dir);
    const int model = is_file(path), short_history = run->hist.rows < run->cfg.opts.epochs;
    if (run->hist.rows > run->cfg.opts.epochs) { /* not this run's history */
        snprintf(err, DD_ERR_LEN, "history.csv has %d epochs, config.json %d", run->hist.rows,
                 run->cfg.opts.epochs);
        dd_history_free(&run->hist);
        return -1;
    }
    if (!model || short_history) {
        if (short_history)
            snprintf(err, DD_ERR_LEN, "the run did not finish (%d of %d epoch%s in its history)",
                     run->hist.rows, run->cfg.opts.epochs, dd_s(run->cfg.opts.epochs));
        else
            snprintf(err, DD_ERR_LEN, "the run did not finish (no model.safetensors)");
        dd_history_free(&run->hist);
        return -1;
    }
    summarize(run);
    return 0;
}

/* Run I's stem: its name with every ASCII character but [A-Za-z0-9._-] (and a leading dot) as '_',
 * then "-2", "-3" ... until it differs from the stems before it and from the summary's data
 * files (data/final.dat, data/confusion.dat). */
static void name_stem(dd_report *r, int i) {
    char base[64], *stem = r->runs[i].stem;
    size_t n = 0;
    for (const char *c = r->runs[i].cfg.name; *c && n + 1 < sizeof base; c++, n++) {
        const unsigned char ch = (unsigned char)*c; /* bytes >= 0x80: UTF-8, kept whole */
        const int safe = isalnum(ch) || ch >= 0x80 || ch == '-' || ch == '_' || (ch == '.' && n);
        base[n] = safe ? *c : '_';
    }
    base[n] = '\0';
    for (int k = 1;; k++) {
        snprintf(stem, sizeof r->runs[i].stem, k == 1 ? "%s" : "%s-%d", base, k);
        int taken = !strcmp(stem, "final") || !strcmp(stem, "confusion");
        for (int j = 0; j < i && !taken; j++) taken = !strcmp(stem, r->runs[j].stem);
        if (!taken) return;
    }
}

static int by_name(const void *a, const void *b) {
    const dd_report_run *x = a, *y = b;
    int xb = strcmp(x->cfg.name, "baseline") == 0, yb = strcmp(y->cfg.name, "baseline") == 0;
    if (xb != yb) return yb - xb;
    return strcmp(x->cfg.name, y->cfg.name);
}

/* Makes room in r->runs (CAP entries) for one more. */
static int grow(dd_report *r, int *cap, char *err) {
    if (r->n_runs < *cap) return 0;
    const int want = *cap ? 2 * *cap : 32;
    dd_report_run *more = realloc(r->runs, (size_t)want * sizeof *more);
    if (!more) {
        snprintf(err, DD_ERR_LEN, "out of memory for %d runs", want);
        return -1;
    }
    r->runs = more, *cap = want;
    return 0;
}

/* Reads the run folder DIR/NAME (NAME "": DIR itself), or names on stderr why it is left out.
 * -1 only for what ends the report: a path too long to read whole, no memory. */
static int add_run(dd_report *r, int *cap, const char *name, char *err) {
    char dir[DD_RUN_PATH_LEN], why[DD_ERR_LEN];
    if (run_path(dir, r->dir, name, err) != 0 || grow(r, cap, err) != 0) return -1;
    if (load_run(dir, &r->runs[r->n_runs], why) == 0)
        r->n_runs++;
    else
        fprintf(stderr, "deepdigits report: skipping %s: %s\n", dir, why);
    return 0;
}

/* DIR itself when it is a run folder, and every subfolder of DIR with a config.json. A run
 * folder can hold runs too (train --out DIR, then --variant all --out DIR): all are read, so that
 * none hides the others. */
static int gather(dd_report *r, char *err) {
    char path[DD_RUN_PATH_LEN + 300]; /* DIR (checked), a name (at most 255), /config.json */
    int cap = 0;
    snprintf(path, sizeof path, "%s/config.json", r->dir);
    const int dir_is_run = is_file(path);
    if (dir_is_run && add_run(r, &cap, "", err) != 0) return -1;
    DIR *d = opendir(r->dir);
    if (!d && !dir_is_run) {
        snprintf(err, DD_ERR_LEN, "%.300s: cannot open the folder: %s", r->dir, strerror(errno));
        return -1;
    }
    for (struct dirent *e; d && (e = readdir(d));) {
        snprintf(path, sizeof path, "%s/%s/config.json", r->dir, e->d_name);
        if (e->d_name[0] != '.' && is_file(path) && add_run(r, &cap, e->d_name, err) != 0) {
            closedir(d);
            return -1;
        }
    }
    if (d) closedir(d);
    return 0;
}

/* The runs (see gather), sorted, named and summarized. Runs that cannot be read, or did not
 * finish, are named on stderr and left out. */
static int find_runs(dd_report *r, char *err) {
    if (gather(r, err) != 0) return -1;
    if (r->n_runs == 0) {
        snprintf(err, DD_ERR_LEN,
                 "%.300s: no finished run folders (config.json, history.csv, model.safetensors)",
                 r->dir);
        return -1;
    }
    qsort(r->runs, (size_t)r->n_runs, sizeof *r->runs, by_name);
    for (int i = 0; i < r->n_runs; i++) name_stem(r, i);
    for (int i = 1; i < r->n_runs; i++)
        if (r->runs[i].final_val_acc > r->runs[r->best].final_val_acc) r->best = i;
    for (int i = 0; i < r->n_runs; i++) {
        r->have_diagnostics |= dd_history_col(&r->runs[i].hist, "grad_rms_dense_1") >= 0;
        if (strcmp(r->runs[i].dir, r->dir) == 0) r->dir_run = i; /* the others are DIR/NAME */
    }
    return 0;
}

int dd_report_write(const char *dir, const char *data, FILE *log, char *err) {
    dd_report r = {.dir = dir, .dir_run = -1};
    char checked[DD_RUN_PATH_LEN];
    /* DIR no longer than a run folder's path: then every path the report makes under it fits
     * the buffers, sized DD_RUN_PATH_LEN and the longest name under it. */
    int rc = run_path(checked, dir, "", err) == 0 ? find_runs(&r, err) : -1;
    /* The evaluation before any file is touched: a --data folder it cannot use is an error that
     * leaves an earlier report whole, not its text linking plots that were removed. */
    if (rc == 0 && dd_report_evaluate(&r, data) != 0) {
        if (data) /* a folder the user named: an error, not a note */
            rc = -1, snprintf(err, DD_ERR_LEN, "%s", r.eval_note);
        else
            fprintf(stderr, "deepdigits report: no confusion matrix: %s\n", r.eval_note);
    }
    if (rc == 0)
        rc = dd_report_mkdir(dir, "plots", err) || dd_report_mkdir(dir, "plots/data", err) ? -1 : 0;
    if (rc == 0) dd_report_clear_plots(dir);
    if (rc == 0 && r.have_eval) rc = dd_report_write_misclassified(&r, err);
    if (rc == 0) {
        if (r.dir_run >= 0 && r.n_runs > 1)
            fprintf(log,
                    "deepdigits report: %s is itself a run folder (%s) and holds %d more: all %d "
                    "are reported\n",
                    dir, r.runs[r.dir_run].cfg.name, r.n_runs - 1, r.n_runs);
        fprintf(log, "deepdigits report: %d run%s; best %s (val_acc %.4f)\n", r.n_runs,
                dd_s(r.n_runs), r.runs[r.best].cfg.name, r.runs[r.best].final_val_acc);
        r.plots_failed = dd_report_plots(&r, stderr);
        rc = dd_report_text(&r, err);
    }
    if (rc == 0)
        fprintf(log, "deepdigits report: wrote %s/report.md and %s/report.html\n", dir, dir);
    /* The text is whole without a plot gnuplot failed on, but the report is not all it should
     * be: a script running report learns it from the exit status. */
    if (rc == 0 && r.plots_failed)
        rc = -1,
        snprintf(err, DD_ERR_LEN,
                 "%d plot%s failed in gnuplot (their logs are under %.300s/plots/scripts); "
                 "the text links only the plots that were drawn",
                 r.plots_failed, dd_s(r.plots_failed), dir);
    for (int i = 0; i < r.n_runs; i++) dd_history_free(&r.runs[i].hist);
    free(r.runs);
    free(r.misclassified);
    return rc;
}
