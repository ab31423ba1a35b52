/* predict's image readers: 8-bit grayscale PNG and PGM read back exactly; other PNG colour types,
 * bit depths and sizes, and malformed PGM, are refused with a line saying what they are. */
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image.h"
#include "testutil.h"

/* Writes a W x H PNG of colour TYPE and bit DEPTH (pixel values i mod 256), interlaced as
 * INTERLACE, to PATH. */
static void write_png_as(const char *path, int w, int h, int type, int depth, int interlace) {
    FILE *f = fopen(path, "wb");
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) {
        CHECK(0, "libpng failed writing %s", path);
        return;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, type, interlace,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_color palette[2] = {{0, 0, 0}, {255, 255, 255}};
    if (type == PNG_COLOR_TYPE_PALETTE) png_set_PLTE(png, info, palette, 2);
    png_write_info(png, info);
    const int passes = png_set_interlace_handling(png); /* Adam7 takes each row 7 times */
    unsigned char row[28 * 8];
    for (int r = 0; r < h * passes; r++) {
        const int y = r % h;
        for (size_t i = 0; i < sizeof row; i++) row[i] = (unsigned char)((y * w + i) % 2);
        if (type == PNG_COLOR_TYPE_GRAY && depth == 8)
            for (int i = 0; i < w; i++) row[i] = (unsigned char)(y * w + i);
        png_write_row(png, row);
    }
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    fclose(f);
}

static void write_png(const char *path, int w, int h, int type, int depth) {
    write_png_as(path, w, h, type, depth, PNG_INTERLACE_NONE);
}

static void expect_png_as(int w, int h, int type, int depth, int interlace, const char *want) {
    char path[512], err[DD_ERR_LEN] = "";
    uint8_t pixels[DD_IMAGE_PIXELS];
    snprintf(path, sizeof path, "%s/t.png", dd_test_tmpdir());
    write_png_as(path, w, h, type, depth, interlace);
    int rc = dd_image_load(path, pixels, err);
    if (!want) {
        CHECK(rc == 0, "%dx%d 8-bit gray refused: %s", w, h, err);
        for (int i = 0; i < DD_IMAGE_PIXELS && rc == 0; i++)
            if (pixels[i] != (uint8_t)i) CHECK(0, "pixel %d is %d", i, pixels[i]), rc = -1;
        return;
    }
    CHECK(rc == -1 && strstr(err, want) && !strchr(err, '\n'), "wanted '%s', got '%s'", want, err);
}

static void expect_png(int w, int h, int type, int depth, const char *want) {
    expect_png_as(w, h, type, depth, PNG_INTERLACE_NONE, want);
}

/* A good PNG cut short, or with a byte of its image data changed, is a corrupt PNG. */
static void expect_damaged_png(void) {
    char path[512], err[DD_ERR_LEN] = "";
    uint8_t file[4096], pixels[DD_IMAGE_PIXELS];
    snprintf(path, sizeof path, "%s/t.png", dd_test_tmpdir());
    write_png(path, 28, 28, PNG_COLOR_TYPE_GRAY, 8);
    FILE *f = fopen(path, "rb");
    size_t len = f ? fread(file, 1, sizeof file, f) : 0;
    if (f) fclose(f);
    CHECK(len > 60 && len < sizeof file, "the PNG written has %zu bytes", len);
    CHECK(dd_image_parse(file, len, "t.png", pixels, err) == 0, "the whole PNG: %s", err);
    int rc = dd_image_parse(file, len / 2, "t.png", pixels, err);
    CHECK(rc == -1 && strstr(err, "t.png: corrupt PNG: the file ends inside the image"),
          "half the PNG: rc %d, '%s'", rc, err);
    /* Without its last chunk (IEND, 12 bytes) the pixels are all there: the message says what
     * is missing rather than "inside the image". */
    rc = dd_image_parse(file, len - 12, "t.png", pixels, err);
    CHECK(rc == -1 && strstr(err, "t.png: corrupt PNG: the file ends before its IEND chunk"),
          "the PNG without IEND: rc %d, '%s'", rc, err);
    file[len / 2] ^= 0x55; /* inside the IDAT chunk: its CRC no longer matches */
    rc = dd_image_parse(file, len, "t.png", pixels, err);
    CHECK(rc == -1 && strstr(err, "corrupt PNG") && !strchr(err, '\n'),
          "a changed byte: rc %d, '%s'", rc, err);
}

static void expect_pgm(const char *text, size_t len, const char *want) {
    uint8_t pixels[DD_IMAGE_PIXELS];
    char err[DD_ERR_LEN] = "";
    int rc = dd_pgm_parse((const uint8_t *)text, len, "p.pgm", pixels, err);
    CHECK(rc == -1 && strstr(err, want), "PGM: wanted '%s', got rc %d '%s'", want, rc, err);
}

/* A P5 file: HEADER, then N pixel bytes (value i mod 256), into FILE; returns its length. */
static size_t raw_pgm(char *file, const char *header, size_t n) {
    size_t h = strlen(header);
    memcpy(file, header, h);
    for (size_t i = 0; i < n; i++) file[h + i] = (char)i;
    return h + n;
}

/* A raster of another length than 784 bytes was read in part: after a header ending "255\r\n"
 * (or "255 # note\n") the '\n' (or the comment) became the first pixels, the image shifted by
 * as many bytes; a NUL after maxval passed for whitespace; a plain PGM's values beyond the 784th
 * were ignored. Each is refused now. */
static void expect_exact_raster(void) {
    char file[64 + 800];
    expect_pgm(file, raw_pgm(file, "P5\r\n28 28\r\n255\r\n", 784),
               "PGM data is 785 bytes, expected 784");
    expect_pgm(file, raw_pgm(file, "P5\n28 28\n255 # note\n", 784),
               "PGM data is 791 bytes, expected 784");
    size_t len = raw_pgm(file, "P5\n28 28\n255", 785);
    file[len - 785] = '\0'; /* the separator */
    expect_pgm(file, len, "no whitespace after the PGM maxval");
    /* The same with a raster whose first bytes are digits: they read as more of maxval, which
     * was reported as "maxval 2555" (one digit) or as not a number of 1 to 6 digits (four). */
    for (int digits = 1; digits <= 4; digits++) {
        len = raw_pgm(file, "P5\n28 28\n255", 784);
        memset(file + len - 784, '5', (size_t)digits);
        expect_pgm(file, len, "no whitespace after the PGM maxval");
    }
    len = raw_pgm(file, "P5\n28 28\n2555\n", 784); /* a real 4-digit maxval keeps its message */
    expect_pgm(file, len, "PGM maxval 2555: only 8-bit images");
    static char plain[8 * 800];
    int n = snprintf(plain, sizeof plain, "P2\n28 28\n255\n");
    for (int i = 0; i < 785; i++)
        n += snprintf(plain + n, sizeof plain - (size_t)n, "%d ", i % 256);
    expect_pgm(plain, (size_t)n, "text after the 784 pixels");
    uint8_t pixels[DD_IMAGE_PIXELS];
    char err[DD_ERR_LEN] = "";
    n -= 3; /* without the 785th value, "16 ": whitespace and a comment may follow the 784th */
    memcpy(plain + n, " \n# end\n", 8);
    CHECK(dd_pgm_parse((const uint8_t *)plain, (size_t)n + 8, "p.pgm", pixels, err) == 0,
          "784 values and a comment: %s", err);
}

/* Cases a mutation-testing pass found untested: each line's check, dropped or moved, went
 * unnoticed. */
static void expect_pgm_edges(void) {
    char file[64 + 800];
    expect_pgm(file, raw_pgm(file, "P5\n28 28\n255\n", 783), "PGM data too short: 783 bytes");
    expect_pgm("P2\n28 28\n0\n0", 13, "PGM maxval 0: only 8-bit images");
    /* a value of 7 digits is not a pixel, wherever it stands: not "data ends after 0 pixels" */
    expect_pgm("P2\n28 28\n255\n1234567", 20, "pixel 0 is not a whole number from 0 to maxval");
    expect_pgm("P2\n28 28\n255\n1234567 ", 21, "pixel 0 is not a whole number");
    /* A plain PGM's maxval is read as written: a glued raster is a P5 matter. This one's last
     * 784 bytes start with the maxval's last digit. */
    int n = snprintf(file, sizeof file, "P2\n28 28\n255");
    n += snprintf(file + n, sizeof file - (size_t)n, "5");
    for (int i = 0; i < 391; i++) n += snprintf(file + n, sizeof file - (size_t)n, " 0");
    n += snprintf(file + n, sizeof file - (size_t)n, " ");
    CHECK(n == 12 + 784, "the file is %d bytes", n);
    expect_pgm(file, (size_t)n, "PGM maxval 2555: only 8-bit images");
    uint8_t *one = malloc(1); /* a file of one byte: nothing past it is read (ASan checks) */
    char err[DD_ERR_LEN] = "";
    uint8_t pixels[DD_IMAGE_PIXELS];
    one[0] = 'P';
    CHECK(dd_image_parse(one, 1, "p", pixels, err) == -1 && strstr(err, "not a PGM"), "'P': %s",
          err);
    free(one);
    /* A comment may end with a lone CR (old Mac line ends), and pixels scale to 0..255 rounded
     * to nearest: maxval 2 makes 0, 1 and 2 into 0, 128 and 255. */
    static char plain[8 * 800];
    n = snprintf(plain, sizeof plain, "P2\r# a comment\r28 28\r2\r");
    for (int i = 0; i < 784; i++) n += snprintf(plain + n, sizeof plain - (size_t)n, "%d\r", i % 3);
    CHECK(dd_pgm_parse((const uint8_t *)plain, (size_t)n, "p.pgm", pixels, err) == 0, "CR: %s",
          err);
    CHECK(pixels[0] == 0 && pixels[1] == 128 && pixels[2] == 255, "maxval 2: %d %d %d", pixels[0],
          pixels[1], pixels[2]);
}

/* Files that are not an image predict reads: the PNG signature alone is a PNG cut short, and
 * a file over 1 MiB is refused before it is read. */
static void expect_file_edges(void) {
    char path[512], err[DD_ERR_LEN] = "";
    uint8_t pixels[DD_IMAGE_PIXELS];
    snprintf(path, sizeof path, "%s/sig.png", dd_test_tmpdir());
    FILE *f = fopen(path, "wb");
    fwrite("\x89PNG\r\n\x1a\n", 1, 8, f);
    fclose(f);
    int rc = dd_image_load(path, pixels, err);
    CHECK(rc == -1 && strstr(err, "corrupt PNG: the file ends inside the image"),
          "signature alone: rc %d '%s'", rc, err);
    snprintf(path, sizeof path, "%s/big.pgm", dd_test_tmpdir());
    if ((f = fopen(path, "wb"))) fclose(f);
    CHECK(truncate(path, (1 << 20) + 1) == 0, "a file of 1 MiB + 1 byte at %s", path);
    rc = dd_image_load(path, pixels, err);
    CHECK(rc == -1 && strstr(err, "1048577 bytes: too large for a 28x28 image"), "1 MiB: '%s'",
          err);
}

/* An empty name read as "": "; a FIFO blocked the open until a writer came, only to be refused
 * as not a regular file. (The alarm ends a test that would hang.) */
static void expect_unreadable_names(void) {
    uint8_t pixels[DD_IMAGE_PIXELS];
    char path[512], err[DD_ERR_LEN] = "";
    int rc = dd_image_load("", pixels, err);
    CHECK(rc == -1 && strcmp(err, "'': not a file name") == 0, "'': rc %d '%s'", rc, err);
    snprintf(path, sizeof path, "%s/fifo", dd_test_tmpdir());
    CHECK(mkfifo(path, 0600) == 0, "mkfifo %s", path);
    alarm(20);
    rc = dd_image_load(path, pixels, err);
    alarm(0);
    CHECK(rc == -1 && strstr(err, "fifo: not a regular file"), "a FIFO: rc %d '%s'", rc, err);
}

int main(void) {
    expect_png(28, 28, PNG_COLOR_TYPE_GRAY, 8, NULL);
    expect_png(28, 28, PNG_COLOR_TYPE_GRAY, 16, "PNG is 16-bit grayscale, expected 8-bit");
    expect_png(28, 28, PNG_COLOR_TYPE_GRAY, 1, "PNG is 1-bit grayscale");
    expect_png(28, 28, PNG_COLOR_TYPE_RGB, 8, "PNG is 8-bit RGB");
    expect_png(28, 28, PNG_COLOR_TYPE_PALETTE, 1, "PNG is 1-bit palette");
    expect_png(27, 28, PNG_COLOR_TYPE_GRAY, 8, "image is 27x28, expected 28x28");
    expect_png(28, 27, PNG_COLOR_TYPE_GRAY, 8, "image is 28x27, expected 28x28");
    expect_png_as(28, 28, PNG_COLOR_TYPE_GRAY, 8, PNG_INTERLACE_ADAM7, "interlaced PNG");
    expect_damaged_png();
    expect_pgm("P6\n28 28\n255\n", 14, "not a PGM");
    expect_pgm("P5\n28 28\n255\nxyz", 17, "PGM data too short");
    expect_pgm("P2\n28 28\n255\n1 2 3", 18, "ends after 3 of 784");
    expect_pgm("P2\n28 28\n255\n1 2 -3", 19, "pixel 2 is not a whole number from 0 to maxval");
    expect_pgm("P2\n28 28\n100\n101", 16, "pixel 0 is 101, above maxval 100");
    expect_pgm("P2\n28\n", 6, "bad PGM header: the height is not a number");
    expect_pgm("P5 28 28 2550000\n", 17, "bad PGM header: the maxval is not a number of 1 to 6");
    expect_pgm("P2 x", 4, "bad PGM header: the width");
    char full[64 + 784] = "P5 28 28 255\n";
    uint8_t pixels[DD_IMAGE_PIXELS];
    char err[DD_ERR_LEN];
    for (int i = 0; i < 784; i++) full[13 + i] = (char)i;
    CHECK(dd_pgm_parse((const uint8_t *)full, 13 + 784, "p.pgm", pixels, err) == 0, "%s", err);
    CHECK(pixels[783] == (uint8_t)783, "last pixel %d", pixels[783]);
    expect_exact_raster();
    expect_pgm_edges();
    expect_file_edges();
    expect_unreadable_names();
    return dd_test_finish("test_image");
}
