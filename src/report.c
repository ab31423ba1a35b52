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

/* Final and best val_acc and the mean epoch time from the history. */
static void summarize(dd_report_run *run) {
    const dd_history *h = &run->hist;
    int acc = dd_history_col(h, "val_acc"), tr = dd_history_col(h, "train_seconds"),
        ev = dd_history_col(h, "eval_seconds");
    double seconds = 0;
    run->final_val_acc = acc >= 0 ? dd_history_at(h, h->rows - 1, acc) : 0;
    for (int r = 0; r < h->rows; r++) {
        double a = acc >= 0 ? dd_history_at(h, r, acc) : 0;
        if (a > run->best_val_acc) run->best_val_acc = a, run->best_epoch = r + 1;
        seconds +=
            (tr >= 0 ? dd_history_at(h, r, tr) : 0) + (ev >= 0 ? dd_history_at(h, r, ev) : 0);
    }
    run->epoch_seconds = seconds / h->rows;
}

static int load_run(const char *dir, dd_report_run *run, char *err) {
    char path[DD_RUN_PATH_LEN + 32];
    memset(run, 0, sizeof *run);
    snprintf(run->dir, sizeof run->dir, "%.1000s", dir);
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

/* Every subfolder of DIR with a config.json, or DIR itself when it is a run folder. Runs that
 * cannot be read, or did not finish, are named on stderr and left out. */
static int find_runs(dd_report *r, char *err) {
    char path[DD_RUN_PATH_LEN + 300];
    snprintf(path, sizeof path, "%s/config.json", r->dir);
    int single = is_file(path), cap = 0;
    DIR *d = single ? NULL : opendir(r->dir);
    if (!single && !d) {
        snprintf(err, DD_ERR_LEN, "%.300s: cannot open the folder: %s", r->dir, strerror(errno));
        return -1;
    }
    for (struct dirent *e = d ? readdir(d) : NULL; single || e; e = d ? readdir(d) : NULL) {
        if (!single) snprintf(path, sizeof path, "%s/%s/config.json", r->dir, e->d_name);
        if (single || (e->d_name[0] != '.' && is_file(path))) {
            if (r->n_runs == cap) {
                cap = cap ? 2 * cap : 32;
                dd_report_run *more = realloc(r->runs, (size_t)cap * sizeof *r->runs);
                if (!more) {
                    if (d) closedir(d);
                    snprintf(err, DD_ERR_LEN, "out of memory for %d runs", cap);
                    return -1;
                }
                r->runs = more;
            }
            snprintf(path, sizeof path, "%s%s%s", r->dir, single ? "" : "/",
                     single ? "" : e->d_name);
            char why[DD_ERR_LEN];
            if (load_run(path, &r->runs[r->n_runs], why) == 0)
                r->n_runs++;
            else
                fprintf(stderr, "deepdigits report: skipping %s: %s\n", path, why);
        }
        if (single) break;
    }
    if (d) closedir(d);
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
    for (int i = 0; i < r->n_runs; i++)
        r->have_diagnostics |= dd_history_col(&r->runs[i].hist, "grad_rms_dense_1") >= 0;
    return 0;
}

int dd_report_write(const char *dir, const char *data, FILE *log, char *err) {
    dd_report r = {.dir = dir};
    int rc = find_runs(&r, err);
    char plots[DD_RUN_PATH_LEN + 16];
    snprintf(plots, sizeof plots, "%s/plots/data", dir);
    if (rc == 0) rc = dd_mkdirs(plots, err);
    if (rc == 0) dd_report_clear_plots(dir);
    if (rc == 0 && dd_report_evaluate(&r, data) != 0) {
        if (data) /* a folder the user named: an error, not a note */
            rc = -1, snprintf(err, DD_ERR_LEN, "%s", r.eval_note);
        else
            fprintf(stderr, "deepdigits report: no confusion matrix: %s\n", r.eval_note);
    }
    if (rc == 0) {
        fprintf(log, "deepdigits report: %d run%s; best %s (val_acc %.4f)\n", r.n_runs,
                dd_s(r.n_runs), r.runs[r.best].cfg.name, r.runs[r.best].final_val_acc);
        r.plots_failed = dd_report_plots(&r, stderr);
        rc = dd_report_text(&r, err);
    }
    if (rc == 0)
        fprintf(log, "deepdigits report: wrote %s/report.md and %s/report.html\n", dir, dir);
    for (int i = 0; i < r.n_runs; i++) dd_history_free(&r.runs[i].hist);
    free(r.runs);
    return rc;
}
