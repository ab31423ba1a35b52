/* MNIST-style IDX files (raw or gzipped): the loader that turns them into uint8 datasets.
 * Every check happens before anything large is allocated, so a lying header cannot cost memory;
 * every failure is one line, naming the file and the problem. Implementation: src/idx.c. */
#ifndef DEEPDIGITS_IDX_H
#define DEEPDIGITS_IDX_H

#include <stddef.h>
#include <stdint.h>

#define DD_IMAGE_ROWS   28
#define DD_IMAGE_COLS   28
#define DD_IMAGE_PIXELS (DD_IMAGE_ROWS * DD_IMAGE_COLS)
#define DD_CLASSES      10

/* Room for one error line; every loader call that fails fills it. */
#define DD_ERR_LEN 512

/* A labelled set of 28x28 grayscale images, held once as uint8. */
typedef struct {
    int count;       /* number of images (and labels) */
    uint8_t *pixels; /* (count, 784), row-major, 0..255 */
    uint8_t *labels; /* (count), 0..9 */
} dd_dataset;

typedef struct {
    dd_dataset train; /* 60,000 images in MNIST */
    dd_dataset test;  /* 10,000 images in MNIST */
} dd_mnist;

/* Fashion-MNIST's labels 0..9, as its README names them (MNIST's are the digits themselves). */
extern const char *const dd_fashion_classes[DD_CLASSES];
/* Their legend, "0 T-shirt/top, 1 Trouser, ..., 9 Ankle boot", into OUT of SIZE bytes (128 do). */
void dd_fashion_legend(char *out, size_t size);

/* Loads an image file and its label file into OUT. Returns 0, or -1 with one line in ERR. */
int dd_idx_load_pair(const char *images_path, const char *labels_path, dd_dataset *out, char *err);

/* Loads the four standard files from DIR: {train,t10k}-{images-idx3,labels-idx1}-ubyte, each
 * raw or with a .gz suffix (raw preferred when both exist). Returns 0, or -1 with one line in ERR.
 */
int dd_mnist_load(const char *dir, dd_mnist *out, char *err);

void dd_dataset_free(dd_dataset *d);
void dd_mnist_free(dd_mnist *m);

#endif
