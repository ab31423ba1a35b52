/* The report's test-set evaluation of the best run: its final weights (model.safetensors) on the
 * CPU backend give the confusion matrix and the misclassified digits, drawn into a PNG grid
 * with libpng. See report.h. */
#include <png.h>
#include <stdlib.h>
#include <string.h>

#include "deepdigits/checkpoint.h"
#include "deepdigits/report.h"

#define GRID    10 /* digits per row and column */
#define SCALE   2  /* pixels per MNIST pixel */
#define CELL_W  (DD_IMAGE_COLS * SCALE + 4)
#define LABEL_H 14
#define CELL_H  (DD_IMAGE_ROWS * SCALE + LABEL_H)

int dd_png_write_gray(const char *path, const unsigned char *pixels, int w, int h, char *err) {
    FILE *f = fopen(path, "wb");
    png_structp png = f ? png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL) : NULL;
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info || setjmp(png_jmpbuf(png))) {
        snprintf(err, DD_ERR_LEN, "%.300s: cannot write the PNG", path);
        png_destroy_write_struct(&png, &info);
        if (f) fclose(f);
        return -1;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, PNG_COLOR_TYPE_GRAY,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < h; y++) png_write_row(png, (png_const_bytep)(pixels + (size_t)y * w));
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    if (fclose(f) == 0) return 0;
    snprintf(err, DD_ERR_LEN, "%.300s: cannot write the PNG", path); /* a full disk, say */
    return -1;
}

/* 3x5 glyphs for 0-9 and '>' (index 10), one row of 3 bits per entry, top first. */
static const unsigned char glyphs[11][5] = {{7, 5, 5, 5, 7}, {2, 6, 2, 2, 7}, {7, 1, 7, 4, 7},
                                            {7, 1, 7, 1, 7}, {5, 5, 7, 1, 1}, {7, 4, 7, 1, 7},
                                            {7, 4, 7, 5, 7}, {7, 1, 1, 1, 1}, {7, 5, 7, 5, 7},
                                            {7, 5, 7, 1, 7}, {4, 2, 1, 2, 4}};

static void draw_glyph(unsigned char *img, int w, int x0, int y0, int g) {
    for (int r = 0; r < 5; r++)
        for (int c = 0; c < 3; c++)
            if (glyphs[g][r] >> (2 - c) & 1)
                for (int dy = 0; dy < 2; dy++)
                    for (int dx = 0; dx < 2; dx++) img[(y0 + 2 * r + dy) * w + x0 + 2 * c + dx] = 0;
}

/* Cell K: the digit (black on white) and "true>predicted" under it. */
static void draw_cell(unsigned char *img, int w, int k, const uint8_t *pixels, int truth,
                      int predicted) {
    int x0 = (k % GRID) * CELL_W + 2, y0 = (k / GRID) * CELL_H;
    for (int y = 0; y < DD_IMAGE_ROWS * SCALE; y++)
        for (int x = 0; x < DD_IMAGE_COLS * SCALE; x++)
            img[(y0 + y) * w + x0 + x] =
                (unsigned char)(255 - pixels[(y / SCALE) * DD_IMAGE_COLS + x / SCALE]);
    int ly = y0 + DD_IMAGE_ROWS * SCALE + 2, lx = x0 + (DD_IMAGE_COLS * SCALE - 22) / 2;
    draw_glyph(img, w, lx, ly, truth);
    draw_glyph(img, w, lx + 8, ly, 10);
    draw_glyph(img, w, lx + 16, ly, predicted);
}

enum { GRID_W = GRID * CELL_W, GRID_H = GRID * CELL_H };

/* The first GRID*GRID misclassified test digits, drawn into a new image of GRID_W x GRID_H. */
static unsigned char *draw_grid(const dd_dataset *test, const uint8_t *pred) {
    unsigned char *img = malloc((size_t)GRID_W * GRID_H);
    if (!img) return NULL;
    memset(img, 255, (size_t)GRID_W * GRID_H);
    for (int i = 0, k = 0; i < test->count && k < GRID * GRID; i++)
        if (pred[i] != test->labels[i])
            draw_cell(img, GRID_W, k++, test->pixels + (size_t)i * DD_IMAGE_PIXELS, test->labels[i],
                      pred[i]);
    return img;
}

int dd_report_write_misclassified(const dd_report *r, char *err) {
    char path[DD_RUN_PATH_LEN + 32];
    snprintf(path, sizeof path, "%s/plots/misclassified.png", r->dir);
    return dd_png_write_gray(path, r->misclassified, GRID_W, GRID_H, err);
}

/* The checkpoint STATE's PARAMS on the test set beside the images it was trained on:
 * predictions for every test image. */
static int predict(const dd_checkpoint_state *state, const float *params, const dd_mnist *data,
                   uint8_t *pred, double *acc, char *err) {
    if (dd_checkpoint_check_images(state, &data->train, "--data", err) != 0) return -1;
    dd_sums sums;
    int rc = dd_evaluate_checkpoint(state, params, data, &sums, pred, err);
    if (rc == 0) *acc = (double)sums.correct / (double)sums.samples;
    return rc;
}

int dd_report_evaluate(dd_report *r, const char *data_dir) {
    const dd_report_run *run = &r->runs[r->best];
    char path[DD_RUN_PATH_LEN + 32], *err = r->eval_note;
    snprintf(path, sizeof path, "%s/model.safetensors", run->dir);
    dd_checkpoint_state state;
    float *params = NULL;
    if (dd_checkpoint_load(path, &params, &state, err) != 0) return -1;
    free(state.history);
    r->fashion = state.options.dataset == DD_DATASET_FASHION;
    const char *dir = data_dir ? data_dir : run->cfg.data_dir;
    dd_mnist data;
    if (dd_mnist_load(dir, &data, err) != 0) {
        free(params);
        return -1;
    }
    uint8_t *pred = malloc((size_t)data.test.count);
    int rc = pred ? predict(&state, params, &data, pred, &r->test_acc, err) : -1;
    if (!pred) snprintf(err, DD_ERR_LEN, "out of memory");
    if (rc == 0) {
        memset(r->confusion, 0, sizeof r->confusion);
        r->n_misclassified = 0;
        r->n_test = data.test.count;
        for (int i = 0; i < data.test.count; i++) {
            r->confusion[data.test.labels[i]][pred[i]]++;
            r->n_misclassified += pred[i] != data.test.labels[i];
        }
        r->misclassified = draw_grid(&data.test, pred);
        if (!r->misclassified) rc = -1, snprintf(err, DD_ERR_LEN, "out of memory");
    }
    r->have_eval = rc == 0;
    free(pred);
    free(params);
    dd_mnist_free(&data);
    return rc;
}
