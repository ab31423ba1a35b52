/* Reading a run's history.csv back (the report's input); see report.h. The writer is train.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "deepdigits/report.h"

#define MAX_LINE 8192

/* Splits LINE at commas into at most MAX fields; returns the count. */
static int split(char *line, char **fields, int max) {
    int n = 0;
    line[strcspn(line, "\r\n")] = '\0';
    for (char *save, *tok = strtok_r(line, ",", &save); tok && n < max;
         tok = strtok_r(NULL, ",", &save))
        fields[n++] = tok;
    return n;
}

static int read_header(FILE *f, dd_history *h, const char *path, char *err) {
    char line[MAX_LINE], *fields[256];
    if (!fgets(line, sizeof line, f)) {
        snprintf(err, DD_ERR_LEN, "%.300s: empty", path);
        return -1;
    }
    h->cols = split(line, fields, 256);
    h->names = calloc((size_t)h->cols, sizeof *h->names);
    if (!h->names || h->cols < 5 || strcmp(fields[0], "epoch") != 0) {
        snprintf(err, DD_ERR_LEN, "%.300s: not a deepdigits history", path);
        return -1;
    }
    for (int c = 0; c < h->cols; c++) snprintf(h->names[c], sizeof h->names[c], "%s", fields[c]);
    return 0;
}

int dd_history_read(const char *path, dd_history *h, char *err) {
    memset(h, 0, sizeof *h);
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, DD_ERR_LEN, "%.300s: %s", path, strerror(errno));
        return -1;
    }
    int rc = read_header(f, h, path, err), cap = 0;
    char line[MAX_LINE], *fields[256];
    while (rc == 0 && fgets(line, sizeof line, f)) {
        if (split(line, fields, 256) != h->cols) continue; /* a torn last line */
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
        for (int c = 0; c < h->cols; c++) h->v[h->rows * h->cols + c] = strtod(fields[c], NULL);
        h->rows++;
    }
    fclose(f);
    if (rc == 0 && h->rows == 0) {
        snprintf(err, DD_ERR_LEN, "%.300s: no epochs", path);
        rc = -1;
    }
    if (rc != 0) dd_history_free(h);
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
