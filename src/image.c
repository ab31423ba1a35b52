/* PGM and PNG readers for predict; see image.h. */
#include "errors.h"
#include "files.h"
#include "image.h"

#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_IMAGE_FILE (1 << 20) /* a 28x28 image in ASCII PGM is well under this */

/* ---- PGM ---- */

typedef struct {
    const uint8_t *s;
    size_t len, at;
    const char *short_by; /* PNG: what a file that ends too soon lacks */
} cursor;

/* PGM's whitespace (C's isspace in the "C" locale). */
static int is_blank(uint8_t ch) {
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f';
}

/* Skips whitespace and # comments (which run to the end of the line). */
static void skip_blank(cursor *c) {
    while (c->at < c->len) {
        uint8_t ch = c->s[c->at];
        if (ch == '#')
            while (c->at < c->len && c->s[c->at] != '\n' && c->s[c->at] != '\r') c->at++;
        else if (is_blank(ch))
            c->at++;
        else
            break;
    }
}

/* A decimal number of at most 6 digits; -1 when there is none. */
static long number(cursor *c) {
    skip_blank(c);
    long v = 0;
    int digits = 0;
    while (c->at < c->len && c->s[c->at] >= '0' && c->s[c->at] <= '9' && digits < 7)
        v = v * 10 + (c->s[c->at++] - '0'), digits++;
    return digits == 0 || digits > 6 ? -1 : v;
}

/* P5's raster: one whitespace character after maxval, then exactly one byte a pixel. Any other
 * length is refused, not read in part: a header ending "255\r\n", or "255 # note\n", leaves
 * its second character or the comment as the first pixels, and the image shifted. */
static int pgm_raw_size(const cursor *c, const char *name, char *err) {
    if (c->at < c->len && !is_blank(c->s[c->at]))
        return dd_fail(err, name, "no whitespace after the PGM maxval");
    size_t have = c->at < c->len ? c->len - c->at - 1 : 0;
    if (have < DD_IMAGE_PIXELS)
        return dd_fail(err, name, "PGM data too short: %zu bytes for %d pixels", have,
                       DD_IMAGE_PIXELS);
    if (have > DD_IMAGE_PIXELS)
        return dd_fail(err, name,
                       "PGM data is %zu bytes, expected %d (one whitespace character after "
                       "maxval, then one byte a pixel)",
                       have, DD_IMAGE_PIXELS);
    return 0;
}

static int pgm_pixels(cursor *c, int ascii, long maxval, const char *name, uint8_t *pixels,
                      char *err) {
    if (!ascii) {
        if (pgm_raw_size(c, name, err) != 0) return -1;
        c->at++;
    }
    for (int i = 0; i < DD_IMAGE_PIXELS; i++) {
        long v;
        if (!ascii)
            v = c->s[c->at++]; /* pgm_raw_size counted the bytes */
        else {
            skip_blank(c);
            if (c->at == c->len)
                return dd_fail(err, name, "PGM data ends after %d of %d pixels", i,
                               DD_IMAGE_PIXELS);
            if ((v = number(c)) < 0) /* something, but not a pixel value */
                return dd_fail(err, name, "pixel %d is not a whole number from 0 to maxval", i);
        }
        if (v > maxval)
            return dd_fail(err, name, "pixel %d is %ld, above maxval %ld", i, v, maxval);
        pixels[i] = (uint8_t)((v * 255 + maxval / 2) / maxval);
    }
    if (ascii) /* a plain PGM holds one image: more values mean another size than 28x28 */
        skip_blank(c);
    if (ascii && c->at < c->len)
        return dd_fail(err, name, "text after the %d pixels, at byte %zu", DD_IMAGE_PIXELS, c->at);
    return 0;
}

/* Reads width, height and maxval; -1 with the index of the field that is not a number. */
static int pgm_header(cursor *c, long header[3], int *bad) {
    for (*bad = 0; *bad < 3; ++*bad)
        if ((header[*bad] = number(c)) < 0) return -1;
    return 0;
}

/* A P5 file whose raster's first bytes are digits and follow maxval with no whitespace reads as
 * a longer maxval ("255" then the pixel '5' is "2555"). Its last 784 bytes are the raster: when
 * the header before them ends in a valid maxval, the separator is what is missing. */
static int raster_glued_to_maxval(const uint8_t *buf, size_t len) {
    if (buf[1] != '5' || len <= DD_IMAGE_PIXELS) return 0;
    cursor c = {buf, len - DD_IMAGE_PIXELS, 2, NULL};
    long header[3];
    int bad;
    return pgm_header(&c, header, &bad) == 0 && header[2] >= 1 && header[2] <= 255 && c.at == c.len;
}

int dd_pgm_parse(const uint8_t *buf, size_t len, const char *name, uint8_t pixels[DD_IMAGE_PIXELS],
                 char *err) {
    cursor c = {buf, len, 2, NULL};
    if (len < 2 || buf[0] != 'P' || (buf[1] != '5' && buf[1] != '2'))
        return dd_fail(err, name, "not a PGM (P5 or P2) or PNG file");
    const char *fields[] = {"width", "height", "maxval"};
    long header[3];
    int bad;
    int header_rc = pgm_header(&c, header, &bad);
    if ((header_rc != 0 || header[2] > 255) && raster_glued_to_maxval(buf, len))
        return dd_fail(err, name, "no whitespace after the PGM maxval");
    if (header_rc != 0)
        return dd_fail(err, name, "bad PGM header: the %s is not a number of 1 to 6 digits",
                       fields[bad]);
    const long w = header[0], h = header[1], maxval = header[2];
    if (w != DD_IMAGE_COLS || h != DD_IMAGE_ROWS)
        return dd_fail(err, name, "image is %ldx%ld, expected %dx%d", w, h, DD_IMAGE_COLS,
                       DD_IMAGE_ROWS);
    if (maxval < 1 || maxval > 255)
        return dd_fail(err, name, "PGM maxval %ld: only 8-bit images (maxval 1..255) are read",
                       maxval);
    return pgm_pixels(&c, buf[1] == '2', maxval, name, pixels, err);
}

/* ---- PNG ---- */

static const char *color_name(int type) {
    switch (type) {
    case PNG_COLOR_TYPE_GRAY:
        return "grayscale";
    case PNG_COLOR_TYPE_GRAY_ALPHA:
        return "grayscale with alpha";
    case PNG_COLOR_TYPE_PALETTE:
        return "palette";
    case PNG_COLOR_TYPE_RGB:
        return "RGB";
    case PNG_COLOR_TYPE_RGB_ALPHA:
        return "RGBA";
    }
    return "unknown";
}

static char png_problem[DD_ERR_LEN];

static void png_on_error(png_structp png, png_const_charp msg) {
    snprintf(png_problem, sizeof png_problem, "%s", msg);
    png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg) {
    (void)png, (void)msg;
}

/* libpng reads from the file's bytes in memory; running past them is a libpng error. */
static void png_read_bytes(png_structp png, png_bytep out, png_size_t n) {
    cursor *c = png_get_io_ptr(png);
    if (c->len - c->at < n) png_error(png, c->short_by);
    memcpy(out, c->s + c->at, n);
    c->at += n;
}

static int png_read(const uint8_t *buf, size_t len, const char *name, uint8_t *pixels, char *err) {
    png_structp png =
        png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, png_on_error, png_on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return dd_fail(err, name, "out of memory");
    }
    cursor c = {buf, len, 0, "the file ends inside the image"};
    volatile int rc = -1;
    if (setjmp(png_jmpbuf(png))) {
        dd_fail(err, name, "corrupt PNG: %s", png_problem);
        goto done;
    }
    png_set_read_fn(png, &c, png_read_bytes);
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    int depth = png_get_bit_depth(png, info), type = png_get_color_type(png, info);
    if (w != DD_IMAGE_COLS || h != DD_IMAGE_ROWS)
        dd_fail(err, name, "image is %ux%u, expected %dx%d", (unsigned)w, (unsigned)h,
                DD_IMAGE_COLS, DD_IMAGE_ROWS);
    else if (type != PNG_COLOR_TYPE_GRAY || depth != 8)
        dd_fail(err, name, "PNG is %d-bit %s, expected 8-bit grayscale", depth, color_name(type));
    else if (png_get_interlace_type(png, info) != PNG_INTERLACE_NONE)
        dd_fail(err, name, "interlaced PNG, expected a plain one");
    else {
        for (int r = 0; r < DD_IMAGE_ROWS; r++) png_read_row(png, pixels + r * DD_IMAGE_COLS, NULL);
        /* The image is whole; what may be missing is its end marker (libpng checks the CRCs). */
        c.short_by = "the file ends before its IEND chunk";
        png_read_end(png, NULL);
        rc = 0;
    }
done:
    png_destroy_read_struct(&png, &info, NULL);
    return rc;
}

/* ---- files ---- */

int dd_image_parse(const uint8_t *buf, size_t len, const char *name,
                   uint8_t pixels[DD_IMAGE_PIXELS], char *err) {
    if (len >= 8 && png_sig_cmp(buf, 0, 8) == 0) return png_read(buf, len, name, pixels, err);
    return dd_pgm_parse(buf, len, name, pixels, err);
}

int dd_image_load(const char *path, uint8_t pixels[DD_IMAGE_PIXELS], char *err) {
    if (!path[0]) return dd_fail(err, "''", "not a file name");
    struct stat st;
    const int fd = dd_open_regular(path, &st);
    if (fd == -1) return dd_fail(err, path, "cannot open: %s", strerror(errno));
    if (fd < 0) return dd_fail(err, path, "not a regular file");
    uint8_t *buf = NULL;
    int rc = -1;
    if (st.st_size > MAX_IMAGE_FILE)
        dd_fail(err, path, "%lld bytes: too large for a 28x28 image", (long long)st.st_size);
    else if (!(buf = malloc((size_t)st.st_size + 1)))
        dd_fail(err, path, "out of memory");
    else
        rc = dd_image_parse(buf, dd_read_up_to(fd, buf, (size_t)st.st_size), path, pixels, err);
    free(buf);
    close(fd);
    return rc;
}
