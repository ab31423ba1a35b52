/* Reading a run's history.csv back (the report's input); see report.h. The writer is train.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "deepdigits/report.h"

#define MAX_LINE 8192
#define MAX_COLS 256

/* Splits LINE at commas into FIELDS (at most MAX_COLS kept); returns the count of all fields. */
static int split(char *line, char **fields) {
    int n = 0;
    line[strcspn(line, "\r\n")] = '\0';
    for (char *save, *tok = strtok_r(line, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        if (n++ < MAX_COLS) fields[n - 1] = tok;
    return n;
}

static int read_header(FILE *f, dd_history *h, const char *path, char *err) {
    char line[MAX_LINE], *fields[MAX_COLS];
    if (!fgets(line, sizeof line, f)) {
        snprintf(err, DD_ERR_LEN, "%.300s: empty", path);
        return -1;
    }
    /* The columns the report reads by name, first as train writes them. */
    static const char *const first[] = {"epoch", "loss", "acc", "val_loss", "val_acc"};
    h->cols = split(line, fields);
    int ours = h->cols >= 5 && h->cols <= MAX_COLS;
    for (int c = 0; ours && c < 5; c++) ours = strcmp(fields[c], first[c]) == 0;
    if (!ours) {
        snprintf(err, DD_ERR_LEN,
                 "%.300s: not a deepdigits history (its header begins "
                 "epoch,loss,acc,val_loss,val_acc)",
                 path);
        return -1;
    }
    h->names = calloc((size_t)h->cols, sizeof *h->names);
    if (!h->names) {
        snprintf(err, DD_ERR_LEN, "out of memory");
        return -1;
    }
    for (int c = 0; c < h->cols; c++) snprintf(h->names[c], sizeof h->names[c], "%s", fields[c]);
    return 0;
}

/* Row ROW's fields as numbers (nan and inf included: a diverged run's loss). */
static int read_row(dd_history *h, char **fields, const char *path, char *err) {
    double *v = h->v + (size_t)h->rows * h->cols;
    for (int c = 0; c < h->cols; c++) {
        char *end;
        v[c] = strtod(fields[c], &end);
        if (end == fields[c] || *end) {
            snprintf(err, DD_ERR_LEN, "%.300s: row %d, column %.48s: '%.32s' is not a number", path,
                     h->rows + 1, h->names[c], fields[c]);
            return -1;
        }
    }
    h->rows++;
    return 0;
}

int dd_history_parse(FILE *f, const char *path, dd_history *h, char *err) {
    memset(h, 0, sizeof *h);
    int rc = read_header(f, h, path, err), cap = 0;
    char line[MAX_LINE], *fields[MAX_COLS];
    while (rc == 0 && fgets(line, sizeof line, f)) {
        const int whole = strchr(line, '\n') != NULL, n = split(line, fields);
        /* train ends every row with a newline: a last line without one is torn (train stopped
         * while writing it) and left out. */
        if (!whole && feof(f)) break;
        if (!whole || n != h->cols) {
            if (whole)
                snprintf(err, DD_ERR_LEN, "%.300s: row %d has %d fields, the header %d", path,
                         h->rows + 1, n, h->cols);
            else
                snprintf(err, DD_ERR_LEN, "%.300s: row %d is longer than %d bytes", path,
                         h->rows + 1, MAX_LINE - 2);
            rc = -1;
            break;
        }
        if (h->rows == cap) {
            cap = cap ? 2 * cap : 32;
            double *v = realloc(h->v, (size_t)cap * h->cols * sizeof *v);
            if (!v) {
                snprintf(err, DD_ERR_LEN, "out of memory");
                rc = -1;
                break;
            }
            h->v = v;
        }
        rc = read_row(h, fields, path, err);
    }
    if (rc == 0 && h->rows == 0) {
        snprintf(err, DD_ERR_LEN, "%.300s: no epochs", path);
        rc = -1;
    }
    if (rc != 0) dd_history_free(h);
    return rc;
}

int dd_history_read(const char *path, dd_history *h, char *err) {
    FILE *f = fopen(path, "r");
    if (!f) {
        memset(h, 0, sizeof *h);
        snprintf(err, DD_ERR_LEN, "%.300s: %s", path, strerror(errno));
        return -1;
    }
    int rc = dd_history_parse(f, path, h, err);
    fclose(f);
    return rc;
}

void dd_history_free(dd_history *h) {
    free(h->names);
    free(h->v);
    memset(h, 0, sizeof *h);
}

int dd_history_col(const dd_history *h, const char *name) {
    for (int c = 0; c < h->cols; c++)
        if (strcmp(h->names[c], name) == 0) return c;
    return -1;
}

double dd_history_at(const dd_history *h, int r, int c) {
    return h->v[r * h->cols + c];
}
