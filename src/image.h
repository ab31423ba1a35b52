/* 28x28 grayscale images for deepdigits predict: binary (P5) and ASCII (P2) PGM, and 8-bit
 * grayscale PNG through libpng. Anything else is refused with a line saying what it is.
 * Implementation: src/image.c. */
#ifndef DD_IMAGE_H
#define DD_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "deepdigits/idx.h"

/* Reads PATH into PIXELS (row-major, 0..255; PGM values scaled from their maxval).
 * Returns 0, or -1 with one line in ERR naming the file. */
int dd_image_load(const char *path, uint8_t pixels[DD_IMAGE_PIXELS], char *err);

/* The same for a file's bytes, BUF[0..len): PNG by its signature, PGM otherwise; NAME names it in
 * messages. */
int dd_image_parse(const uint8_t *buf, size_t len, const char *name,
                   uint8_t pixels[DD_IMAGE_PIXELS], char *err);
/* The PGM reader alone. */
int dd_pgm_parse(const uint8_t *buf, size_t len, const char *name, uint8_t pixels[DD_IMAGE_PIXELS],
                 char *err);

#endif
