/* deepdigits report: reads the run folders under a directory (run.h), writes DIR/report.md and
 * DIR/report.html with the results, every model's configuration and its Keras code, and the
 * plots under DIR/plots (gnuplot for the charts, libpng for the grid of misclassified digits).
 * Implementation: src/report.c (gathering), src/report_text.c (md/html), src/plots.c (gnuplot),
 * src/report_eval.c (test-set evaluation of the best model), src/history_csv.c. */
#ifndef DEEPDIGITS_REPORT_H
#define DEEPDIGITS_REPORT_H

#include <stdio.h>

#include "deepdigits/run.h"

/* history.csv as a table of numbers with its header's names. */
typedef struct {
    int rows, cols;
    char (*names)[48]; /* cols names */
    double *v;         /* rows x cols, row-major */
} dd_history;

/* Reads history.csv: a header starting "epoch" and rows of as many numbers (the last row may be
 * torn, and is then left out). Returns 0, or -1 with one line in ERR naming PATH and the row. */
int dd_history_read(const char *path, dd_history *h, char *err);
/* The same from the open file F (PATH names it in messages). */
int dd_history_parse(FILE *f, const char *path, dd_history *h, char *err);
void dd_history_free(dd_history *h);
/* The index of column NAME, or -1. */
int dd_history_col(const dd_history *h, const char *name);
/* Row R of column C. */
double dd_history_at(const dd_history *h, int r, int c);

typedef struct {
    char dir[DD_RUN_PATH_LEN]; /* the run folder */
    dd_run_config cfg;
    char stem[80]; /* cfg.name as a file name under plots/: [A-Za-z0-9._-] and non-ASCII UTF-8;
                      unique */
    dd_history hist;
    double final_val_acc, best_val_acc, epoch_seconds; /* epoch_seconds: mean, with evaluation */
    int best_epoch;
} dd_report_run;

typedef struct {
    const char *dir; /* the folder the report goes to */
    dd_report_run *runs;
    int n_runs;
    int dir_run;          /* the run that is DIR itself (it may hold the others), or -1 */
    int best;             /* index of the run with the highest final val_acc */
    int have_diagnostics; /* some run's history has the per-layer columns (not --no-diagnostics) */
    /* The best run's weights on the test set (have_eval) */
    int have_eval;
    char eval_note[DD_ERR_LEN]; /* why there is no evaluation */
    long confusion[10][10];     /* [true][predicted] */
    double test_acc;
    int n_misclassified;
    int n_test;                   /* the test set's images */
    unsigned char *misclassified; /* the grid of the first misclassified images, to be written */
    int fashion;                  /* its checkpoint says Fashion-MNIST: classes, not digits */
    /* Plots */
    int have_gnuplot;
    int plots_failed; /* the report is then an error, once its text is written */
} dd_report;

/* Writes the report for the runs under DIR, and DIR itself when it is a run folder (one line on
 * LOG says so when it holds runs as well). DIR and the run folders have paths shorter than
 * DD_RUN_PATH_LEN, as train writes them; a longer one is the error. DATA overrides the MNIST
 * folder recorded in config.json; where it cannot be read, that is the error, and nothing of an
 * earlier report is removed. A plot gnuplot fails on is an error too, returned once the text is
 * written. Progress goes to LOG, what is left out (runs, plots, the confusion matrix) to
 * stderr. */
int dd_report_write(const char *dir, const char *data, FILE *log, char *err);

/* Evaluates the best run's final weights on the test set: fills the confusion matrix and draws
 * the grid of misclassified images (r->misclassified, the caller frees it). Writes no file, so
 * that a --data folder it cannot use leaves an earlier report as it was. Returns 0, or -1 with
 * the reason in r->eval_note. */
int dd_report_evaluate(dd_report *r, const char *data);
/* Writes r->misclassified to DIR/plots/misclassified.png. Returns 0 or -1 with ERR. */
int dd_report_write_misclassified(const dd_report *r, char *err);

/* Runs gnuplot for every chart (PNG and SVG). Returns the number of plots that failed. */
int dd_report_plots(dd_report *r, FILE *log);
/* Makes the folder DIR/SUB (DIR/SUB's parent is there; DIR is a run folder's length at most, and
 * SUB a short name of the report's, such as "plots/data": dd_mkdirs would refuse what that adds
 * to a run folder's longest path). Returns 0 or -1 with ERR. */
int dd_report_mkdir(const char *dir, const char *sub, char *err);
/* Removes what an earlier report left under DIR/plots (images, their data and scripts), so that
 * this report links only what it makes: a plot of a run no longer there, or one gnuplot did not
 * redraw, would otherwise stay in the report. */
void dd_report_clear_plots(const char *dir);

/* report.md and report.html. */
int dd_report_text(const dd_report *r, char *err);

/* Writes a grayscale PNG (W x H, 8-bit). Returns 0 or -1 with ERR. */
int dd_png_write_gray(const char *path, const unsigned char *pixels, int w, int h, char *err);

#endif
