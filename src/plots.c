/* The report's charts through gnuplot: for each plot a data file under plots/data, a script
 * plots/scripts/NAME.gp (kept, so that a plot can be restyled by hand) that draws NAME.png and
 * NAME.svg, and gnuplot's messages in plots/scripts/NAME.log. See report.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "deepdigits/report.h"
#include "errors.h"

/* Is gnuplot an executable on PATH? An entry too long for PATH_MAX is passed over, as execlp
 * does: cut short, it would name another folder. */
static int have_gnuplot(void) {
    const char *path = getenv("PATH");
    char file[PATH_MAX];
    for (const char *p = path; p && *p;) {
        const size_t n = strcspn(p, ":");
        const int fits = n > 0 && n + sizeof "/gnuplot" <= sizeof file;
        if (fits) snprintf(file, sizeof file, "%.*s/gnuplot", (int)n, p);
        if (fits && access(file, X_OK) == 0) return 1;
        p += n + (p[n] == ':');
    }
    return 0;
}

static FILE *open_at(const dd_report *r, const char *sub, const char *name, const char *ext) {
    char path[DD_RUN_PATH_LEN + 160];
    snprintf(path, sizeof path, "%s/plots/%s%s%s", r->dir, sub, name, ext);
    return fopen(path, "w");
}

/* S as a gnuplot string in single quotes, where nothing is special but the quote itself (written
 * twice); a line break would end the command, so control characters become spaces. Every name
 * and description from a run folder goes through here, never into a script as is. */
static void gp_string(FILE *gp, const char *s) {
    fputc('\'', gp);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++)
        *c == '\'' ? fputs("''", gp) : fputc(*c < 0x20 || *c == 0x7f ? ' ' : *c, gp);
    fputc('\'', gp);
}

typedef void (*plot_body)(FILE *gp, const dd_report *r, const void *arg);

/* Runs `gnuplot scripts/NAME.gp` in DIR/plots; 0 when it exits 0. */
static int run_gnuplot(const dd_report *r, const char *name) {
    char plots[DD_RUN_PATH_LEN + 16], script[200], log[200];
    snprintf(plots, sizeof plots, "%s/plots", r->dir);
    snprintf(script, sizeof script, "scripts/%s.gp", name);
    snprintf(log, sizeof log, "scripts/%s.log", name);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = chdir(plots) == 0 ? open(log, O_WRONLY | O_CREAT | O_TRUNC, 0666) : -1;
        if (fd >= 0) dup2(fd, 1), dup2(fd, 2);
        execlp("gnuplot", "gnuplot", script, (char *)NULL);
        _exit(127);
    }
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) != pid) return -1;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* Writes scripts/NAME.gp (BODY once per terminal) and runs it. */
static int plot(const dd_report *r, const char *name, int w, int h, plot_body body, const void *arg,
                FILE *log) {
    FILE *gp = open_at(r, "scripts/", name, ".gp");
    if (!gp) {
        fprintf(log, "deepdigits report: cannot write plots/scripts/%s.gp: %s\n", name,
                strerror(errno));
        return -1;
    }
    fprintf(gp, "# %s: written by deepdigits report; run in the plots folder\n", name);
    fprintf(gp,
            "if (strstrt(GPVAL_TERMINALS, \"pngcairo\") > 0) {\n"
            "    set terminal pngcairo size %d,%d font \"sans,10\" noenhanced\n"
            "} else {\n    set terminal png size %d,%d noenhanced\n}\n"
            "set output '%s.png'\n",
            w, h, w, h, name);
    body(gp, r, arg);
    fprintf(gp, "set terminal svg size %d,%d dynamic font \"sans,10\" noenhanced\n", w, h);
    fprintf(gp, "set output '%s.svg'\n", name);
    body(gp, r, arg);
    fprintf(gp, "set output\n");
    if (fclose(gp) != 0) {
        fprintf(log, "deepdigits report: cannot write plots/scripts/%s.gp\n", name);
        return -1;
    }
    if (run_gnuplot(r, name) == 0) return 0;
    fprintf(log, "deepdigits report: gnuplot failed on plots/scripts/%s.gp (see its .log)\n", name);
    return -1;
}

/* The number of Dense layers with both diagnostic columns in RUN's history (0 without them). */
static int diag_layers(const dd_report_run *run) {
    int n = 0;
    char grad[48], sat[48];
    for (;; n++) {
        snprintf(grad, sizeof grad, "grad_rms_dense_%d", n + 1);
        snprintf(sat, sizeof sat, "saturated_dense_%d", n + 1);
        if (dd_history_col(&run->hist, grad) < 0 || dd_history_col(&run->hist, sat) < 0) return n;
    }
}

/* data/RUN.dat: epoch loss acc val_loss val_acc, grad_rms per layer, saturated per layer. */
static int write_run_data(const dd_report *r, const dd_report_run *run) {
    FILE *f = open_at(r, "data/", run->stem, ".dat");
    if (!f) return -1;
    const dd_history *h = &run->hist;
    const char *base[] = {"epoch", "loss", "acc", "val_loss", "val_acc"};
    const char *diag[] = {"grad_rms_dense_%d", "saturated_dense_%d"};
    int L = diag_layers(run);
    fprintf(f, "# epoch loss acc val_loss val_acc grad_rms[1..%d] saturated[1..%d]\n", L, L);
    for (int row = 0; row < h->rows; row++) {
        for (int c = 0; c < 5; c++) {
            int col = dd_history_col(h, base[c]);
            fprintf(f, "%.8g ", col >= 0 ? dd_history_at(h, row, col) : 0.0);
        }
        for (int d = 0; d < 2; d++)
            for (int l = 1; l <= L; l++) {
                char name[48];
                snprintf(name, sizeof name, diag[d], l);
                fprintf(f, "%.8g ", dd_history_at(h, row, dd_history_col(h, name)));
            }
        fputc('\n', f);
    }
    return fclose(f);
}

/* data/layers/RUN.dat (a folder of its own: no run's name can meet it): layer, grad_rms at epoch
 * 1 and last, saturated at epoch 1 and last. */
static int write_layer_data(const dd_report *r, const dd_report_run *run) {
    FILE *f = open_at(r, "data/layers/", run->stem, ".dat");
    if (!f) return -1;
    const dd_history *h = &run->hist;
    fprintf(f, "# layer grad_rms_first grad_rms_last saturated_first saturated_last\n");
    for (int l = 1; l <= diag_layers(run); l++) {
        char g[48], s[48];
        snprintf(g, sizeof g, "grad_rms_dense_%d", l);
        snprintf(s, sizeof s, "saturated_dense_%d", l);
        int gc = dd_history_col(h, g), sc = dd_history_col(h, s);
        fprintf(f, "%d %.8g %.8g %.8g %.8g\n", l, dd_history_at(h, 0, gc),
                dd_history_at(h, h->rows - 1, gc), dd_history_at(h, 0, sc),
                dd_history_at(h, h->rows - 1, sc));
    }
    return fclose(f);
}

static void curves_body(FILE *gp, const dd_report *r, const void *arg) {
    (void)r;
    const dd_report_run *run = arg;
    int L = diag_layers(run);
    const char *n = run->stem;
    char title[256];
    snprintf(title, sizeof title, "%s: %s", run->cfg.name, run->cfg.description);
    fprintf(gp, "reset\nset grid\nset xlabel 'epoch'\nset key box opaque\n%s",
            run->hist.rows <= 25 ? "set xtics 1\n" : "");
    fprintf(gp, "set multiplot layout %d,2 title ", L ? 2 : 1);
    gp_string(gp, title);
    fputc('\n', gp);
    fprintf(gp,
            "set title 'loss (MSE)'\nplot 'data/%s.dat' u 1:2 w lp pt 7 ps 0.5 t 'training', "
            "'' u 1:4 w lp pt 7 ps 0.5 t 'validation'\n",
            n);
    fprintf(gp,
            "set title 'accuracy'\nset key bottom right\nplot 'data/%s.dat' u 1:3 w lp pt 7 "
            "ps 0.5 t 'training', '' u 1:5 w lp pt 7 ps 0.5 t 'validation'\n",
            n);
    if (L) {
        fprintf(gp,
                "set title 'kernel-gradient RMS per Dense layer'\nset logscale y\nset key "
                "top right\nplot for [l=1:%d] 'data/%s.dat' u 1:(column(5+l)) w lp pt 7 ps "
                "0.5 t sprintf('dense_%%d', l)\nunset logscale y\n",
                L, n);
        fprintf(gp,
                "set title 'saturated fraction (1,000-image probe)'\nset yrange [0:1]\nplot "
                "for [l=1:%d] 'data/%s.dat' u 1:(column(5+%d+l)) w lp pt 7 ps 0.5 t "
                "sprintf('dense_%%d', l)\n",
                L, n, L);
    }
    fprintf(gp, "unset multiplot\n");
}

/* The arrays stems[i] (the runs' data files) and titles[i] (their names), i = 1..runs. */
static void runs_arrays(FILE *gp, const dd_report *r) {
    fprintf(gp, "runs = %d\narray stems[runs]\narray titles[runs]\n", r->n_runs);
    for (int i = 0; i < r->n_runs; i++) {
        fprintf(gp, "stems[%d] = '%s'; titles[%d] = ", i + 1, r->runs[i].stem, i + 1);
        gp_string(gp, r->runs[i].cfg.name);
        fputc('\n', gp);
    }
}

/* A key of every run's name beside the plot, or below it when a name is long (beside, it would
 * squeeze the plot thin). */
static void key_of_names(FILE *gp, const dd_report *r) {
    int longest = 0;
    for (int i = 0; i < r->n_runs; i++) {
        int chars = 0; /* UTF-8: every byte but a continuation byte starts a character */
        for (const char *c = r->runs[i].cfg.name; *c; c++)
            chars += ((unsigned char)*c & 0xC0) != 0x80;
        if (chars > longest) longest = chars;
    }
    fprintf(gp, "set key outside %s\n", longest > 20 ? "below" : "right");
}

static void val_acc_body(FILE *gp, const dd_report *r, const void *arg) {
    (void)arg;
    int epochs = 0;
    for (int i = 0; i < r->n_runs; i++)
        if (r->runs[i].hist.rows > epochs) epochs = r->runs[i].hist.rows;
    fprintf(gp, "reset\n");
    runs_arrays(gp, r);
    key_of_names(gp, r);
    /* Whole epochs on the axis; a single epoch gets room on both sides of its points. */
    if (epochs <= 25) fprintf(gp, "set xtics 1\n");
    if (epochs == 1) fprintf(gp, "set xrange [0.5:1.5]\n");
    fprintf(gp, "set grid\nset xlabel 'epoch'\nset ylabel 'val_acc'\n"
                "set title 'Validation accuracy of every model'\n"
                "plot for [i=1:runs] 'data/'.stems[i].'.dat' u 1:5 w lp pt ((i-1)%%13+1)"
                " ps 0.6 dt 1+(i-1)/8 t titles[i]\n");
}

static void bars_body(FILE *gp, const dd_report *r, const void *arg) {
    (void)arg;
    fprintf(gp, "reset\n");
    runs_arrays(gp, r);
    fprintf(gp, "set grid y\nset style fill solid 0.6\nset boxwidth 0.7\nset yrange [0:1]\n"
                "set ylabel 'val_acc'\nset xtics rotate by -60 scale 0\nset key top left\n"
                "set title 'Final and best validation accuracy'\n"
                "plot 'data/final.dat' u 1:3:xtic(titles[int($1)+1]) w boxes t 'final val_acc', "
                "'' u 1:4 w p pt 7 t 'best val_acc'\n");
}

/* Per-layer plot at epoch 1 and at the last epoch: columns C1 and C1+1 of layers/RUN.dat. */
static void layers_body(FILE *gp, const dd_report *r, const void *arg) {
    int saturation = *(const int *)arg, c = saturation ? 4 : 2;
    fprintf(gp, "reset\n");
    runs_arrays(gp, r);
    key_of_names(gp, r);
    fprintf(gp,
            "set grid\nset xlabel 'Dense layer (the last is the output)'\nset xtics 1\n"
            "%s\n",
            saturation ? "set yrange [0:1]\nset ylabel 'saturated fraction'"
                       : "set logscale y\nset ylabel 'kernel-gradient RMS'");
    fprintf(gp, "set multiplot layout 1,2 title '%s per layer'\n",
            saturation ? "Saturated units (1,000-image probe)" : "Kernel-gradient RMS");
    for (int last = 0; last < 2; last++)
        fprintf(gp,
                "set title '%s'\nplot for [i=1:runs] 'data/layers/'.stems[i]."
                "'.dat' u 1:%d w lp pt ((i-1)%%13+1) dt 1+(i-1)/8 t titles[i]\n",
                last ? "last epoch" : "epoch 1", c + last);
    fprintf(gp, "unset multiplot\n");
}

static void confusion_body(FILE *gp, const dd_report *r, const void *arg) {
    (void)arg;
    char title[256], n_test[32];
    snprintf(title, sizeof title, "Confusion matrix of %s on the %s test images",
             r->runs[r->best].cfg.name, dd_with_commas((size_t)r->n_test, n_test));
    fprintf(gp, "reset\nset title ");
    gp_string(gp, title);
    fprintf(gp, "\nset xlabel 'predicted'\nset ylabel 'true'\nset xrange [-0.5:9.5]\n"
                "set yrange [9.5:-0.5]\nset xtics 1\nset ytics 1\nset size ratio -1\n"
                "set palette defined (0 'white', 1 '#fdd49e', 2 '#d7301f')\nunset colorbox\n"
                "plot 'data/confusion.dat' matrix u 1:2:(log10($3+1)) w image notitle, '' "
                "matrix u 1:2:(sprintf('%%d',$3)) w labels font ',9' notitle\n");
}

static int write_summary_data(const dd_report *r) {
    FILE *f = open_at(r, "data/", "final", ".dat");
    if (!f) return -1;
    for (int i = 0; i < r->n_runs; i++)
        fprintf(f, "%d %s %.6f %.6f\n", i, r->runs[i].stem, r->runs[i].final_val_acc,
                r->runs[i].best_val_acc);
    if (fclose(f) != 0) return -1;
    if (!r->have_eval) return 0;
    f = open_at(r, "data/", "confusion", ".dat");
    if (!f) return -1;
    for (int t = 0; t < 10; t++)
        for (int p = 0; p < 10; p++) fprintf(f, "%ld%c", r->confusion[t][p], p == 9 ? '\n' : ' ');
    return fclose(f);
}

int dd_report_mkdir(const char *dir, const char *sub, char *err) {
    char path[DD_RUN_PATH_LEN + 32];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, sub);
    if (mkdir(path, 0777) != 0 && errno != EEXIST) {
        snprintf(err, DD_ERR_LEN, "%.300s: cannot create the folder: %s", path, strerror(errno));
        return -1;
    }
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) { /* EEXIST: a file, say */
        snprintf(err, DD_ERR_LEN, "%.300s: not a folder", path);
        return -1;
    }
    return 0;
}

/* Makes the scripts and data/layers folders and every data file. */
static int write_data(const dd_report *r, FILE *log) {
    char err[DD_ERR_LEN];
    int rc = dd_report_mkdir(r->dir, "plots/scripts", err) ||
                     dd_report_mkdir(r->dir, "plots/data/layers", err)
                 ? -1
                 : 0;
    for (int i = 0; i < r->n_runs && rc == 0; i++)
        rc = write_run_data(r, &r->runs[i]) || write_layer_data(r, &r->runs[i]) ? -1 : 0;
    if (rc == 0) rc = write_summary_data(r);
    if (rc != 0)
        fprintf(log, "deepdigits report: cannot write the plot data under %s/plots\n", r->dir);
    return rc;
}

/* Removes the regular files in DIR whose names end in one of EXTS (NULL-terminated). */
static void remove_files(const char *dir, const char *const *exts) {
    DIR *d = opendir(dir);
    if (!d) return;
    for (struct dirent *e; (e = readdir(d));) {
        const size_t n = strlen(e->d_name);
        for (const char *const *x = exts; *x; x++) {
            const size_t m = strlen(*x);
            if (n <= m || strcmp(e->d_name + n - m, *x) != 0) continue;
            char path[DD_RUN_PATH_LEN + 512];
            struct stat st;
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            if (lstat(path, &st) == 0 && S_ISREG(st.st_mode)) unlink(path);
        }
    }
    closedir(d);
}

void dd_report_clear_plots(const char *dir) {
    static const char *const images[] = {".png", ".svg", NULL}, *const data[] = {".dat", NULL},
                             *const scripts[] = {".gp", ".log", NULL};
    char path[DD_RUN_PATH_LEN + 32];
    snprintf(path, sizeof path, "%s/plots", dir);
    remove_files(path, images);
    snprintf(path, sizeof path, "%s/plots/data", dir);
    remove_files(path, data);
    snprintf(path, sizeof path, "%s/plots/data/layers", dir);
    remove_files(path, data);
    snprintf(path, sizeof path, "%s/plots/scripts", dir);
    remove_files(path, scripts);
}

int dd_report_plots(dd_report *r, FILE *log) {
    r->have_gnuplot = have_gnuplot();
    if (!r->have_gnuplot) {
        fprintf(log,
                "deepdigits report: gnuplot not found on PATH (install gnuplot-nox): no "
                "val_acc, final_val_acc%s%s plots and no <run>-curves "
                "plots for the %d run%s; the text report is complete without them\n",
                r->have_diagnostics ? ", grad_rms, saturation" : "",
                r->have_eval ? ", confusion" : "", r->n_runs, dd_s(r->n_runs));
        return 0;
    }
    if (write_data(r, log) != 0) return 1;
    int failed = 0;
    static const int grad = 0, saturation = 1;
    for (int i = 0; i < r->n_runs; i++) {
        char name[96];
        snprintf(name, sizeof name, "%s-curves", r->runs[i].stem);
        int L = diag_layers(&r->runs[i]);
        failed += plot(r, name, 900, L ? 650 : 350, curves_body, &r->runs[i], log) != 0;
    }
    failed += plot(r, "val_acc", 1000, 550, val_acc_body, NULL, log) != 0;
    failed += plot(r, "final_val_acc", 1000, 500, bars_body, NULL, log) != 0;
    if (r->have_diagnostics) { /* every run trained with --no-diagnostics: nothing to draw */
        failed += plot(r, "grad_rms", 1200, 500, layers_body, &grad, log) != 0;
        failed += plot(r, "saturation", 1200, 500, layers_body, &saturation, log) != 0;
    }
    if (r->have_eval) failed += plot(r, "confusion", 600, 600, confusion_body, NULL, log) != 0;
    return failed;
}
