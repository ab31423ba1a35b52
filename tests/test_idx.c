/* The IDX loader: small synthetic files, raw and gzipped, valid and broken in every way we check
 * for; then the real MNIST when it is present. Set DD_TEST_VERBOSE=1 to see each error line. */
#include "deepdigits/idx.h"
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define N 3 /* images in the synthetic files */

static const uint8_t good_labels[N] = {3, 1, 4};

static void put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint8_t pixel(int i, int j) {
    return (uint8_t)(i * 31 + j * 7);
}

/* An image file image in BUF: header with MAGIC, COUNT, ROWS, COLS, then NPIX pixels. */
static size_t images_bytes(uint8_t *buf, uint32_t magic, uint32_t count, uint32_t rows,
                           uint32_t cols, size_t npix) {
    put32(buf, magic), put32(buf + 4, count), put32(buf + 8, rows), put32(buf + 12, cols);
    for (size_t k = 0; k < npix; k++) buf[16 + k] = pixel((int)(k / 784), (int)(k % 784));
    return 16 + npix;
}

static size_t labels_bytes(uint8_t *buf, uint32_t count, const uint8_t *labels, size_t n) {
    put32(buf, 0x801), put32(buf + 4, count);
    memcpy(buf + 8, labels, n);
    return 8 + n;
}

/* A path in the test's temp dir; rotates over a few buffers so two can be live at once. */
static const char *tmp(const char *name) {
    static char paths[4][512];
    static int next;
    char *p = paths[next++ % 4];
    snprintf(p, sizeof paths[0], "%s/%s", dd_test_tmpdir(), name);
    return p;
}

static void write_raw(const char *path, const void *buf, size_t n) {
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(buf, 1, n, f) == n && fclose(f) == 0, "writing %s", path);
}

static void write_gz(const char *path, const void *buf, size_t n) {
    gzFile gz = gzopen(path, "wb9");
    CHECK(gz && gzwrite(gz, buf, (unsigned)n) == (int)n && gzclose(gz) == Z_OK, "writing %s", path);
}

static void write_file(const char *path, const void *buf, size_t n, int gz) {
    if (gz)
        write_gz(path, buf, n);
    else
        write_raw(path, buf, n);
}

/* Writes a valid pair NAME-images / NAME-labels (gzipped if GZ); the paths go to IMAGES and
 * LABELS (PATH_LEN bytes each). */
#define PATH_LEN 512
static void write_pair(const char *name, int gz, char *images, char *labels) {
    static uint8_t buf[16 + N * 784];
    const char *dir = dd_test_tmpdir(), *ext = gz ? ".gz" : "";
    snprintf(images, PATH_LEN, "%s/%s-images%s", dir, name, ext);
    write_file(images, buf, images_bytes(buf, 0x803, N, 28, 28, N * 784), gz);
    snprintf(labels, PATH_LEN, "%s/%s-labels%s", dir, name, ext);
    write_file(labels, buf, labels_bytes(buf, N, good_labels, N), gz);
}

/* Loading must fail, leave OUT empty, and say which FILE and WORD. */
static void expect_fail(const char *images, const char *labels, const char *file,
                        const char *word) {
    char err[DD_ERR_LEN] = "";
    dd_dataset d = {.count = -1};
    int rc = dd_idx_load_pair(images, labels, &d, err);
    CHECK(rc == -1, "load of %s / %s should fail (expected '%s')", images, labels, word);
    CHECK(d.count == 0 && !d.pixels && !d.labels, "failed load left data in the dataset");
    CHECK(strstr(err, file) && strstr(err, word), "error '%s' lacks '%s' or '%s'", err, file, word);
    CHECK(!strchr(err, '\n'), "error '%s' is more than one line", err);
    if (getenv("DD_TEST_VERBOSE")) printf("  %s\n", err);
}

static void valid_files_load(int gz_images, int gz_labels) {
    char images[PATH_LEN], labels[PATH_LEN], unused[PATH_LEN];
    write_pair("valid", gz_images, images, unused);
    write_pair("valid", gz_labels, unused, labels);
    char err[DD_ERR_LEN] = "";
    dd_dataset d;
    int rc = dd_idx_load_pair(images, labels, &d, err);
    CHECK(rc == 0, "valid pair (gz %d/%d) failed: %s", gz_images, gz_labels, err);
    if (rc) return;
    CHECK(d.count == N, "count %d", d.count);
    int bad = 0;
    for (int k = 0; k < N * 784; k++) bad += d.pixels[k] != pixel(k / 784, k % 784);
    CHECK(bad == 0, "%d pixels differ", bad);
    CHECK(memcmp(d.labels, good_labels, N) == 0, "labels differ");
    dd_dataset_free(&d);
    CHECK(!d.pixels && !d.labels && d.count == 0, "free did not clear the dataset");
}

/* Broken image files, each against a valid label file. */
static void broken_images_are_refused(void) {
    static uint8_t buf[16 + 8 * 784];
    char images[PATH_LEN], labels[PATH_LEN];
    const char *p;
    write_pair("ok", 0, images, labels);

    p = tmp("truncated");
    write_raw(p, buf, images_bytes(buf, 0x803, N, 28, 28, 2 * 784 + 100));
    expect_fail(
        p, labels, p,
        "header claims 3 images (2352 bytes) but the file holds 1668 bytes after the header");

    p = tmp("magic");
    write_raw(p, buf, images_bytes(buf, 0x12345678, N, 28, 28, N * 784));
    expect_fail(p, labels, p, "magic");
    expect_fail(labels, labels, labels, "magic"); /* a label file where images belong */

    p = tmp("type");
    write_raw(p, buf, images_bytes(buf, 0x0D03, N, 28, 28, N * 784));
    expect_fail(p, labels, p, "element type 0x0d");

    p = tmp("dims");
    write_raw(p, buf, images_bytes(buf, 0x803, N, 27, 28, N * 27 * 28));
    expect_fail(p, labels, p, "27x28");
    /* Columns are checked as well as rows: 28x27 images are not MNIST's either. */
    write_raw(p, buf, images_bytes(buf, 0x803, N, 28, 27, N * 28 * 27));
    expect_fail(p, labels, p, "28x27");

    /* Both leading bytes of the magic must be zero, the second too. */
    p = tmp("magic-second-byte");
    write_raw(p, buf, images_bytes(buf, 0x00010803, N, 28, 28, N * 784));
    expect_fail(p, labels, p, "bad magic 0x00010803");

    /* A pair whose headers both claim no items is refused, not loaded as an empty dataset. */
    const char *none = tmp("zero-labels-too");
    write_raw(none, buf, labels_bytes(buf, 0, good_labels, 0));
    p = tmp("zero-images");
    write_raw(p, buf, images_bytes(buf, 0x803, 0, 28, 28, 0));
    expect_fail(p, none, p, "header claims 0 images");

    p = tmp("empty");
    write_raw(p, buf, 0);
    expect_fail(p, labels, p, "empty");

    p = tmp("short-header");
    write_raw(p, buf, 10);
    expect_fail(p, labels, p, "too short");

    p = tmp("trailing");
    write_raw(p, buf, images_bytes(buf, 0x803, N, 28, 28, N * 784 + 5));
    expect_fail(p, labels, p, "5 trailing bytes");
    p = tmp("trailing.gz");
    write_gz(p, buf, images_bytes(buf, 0x803, N, 28, 28, N * 784 + 5));
    expect_fail(p, labels, p, "5 trailing bytes");

    expect_fail(tmp("missing"), labels, tmp("missing"), "No such file");
    expect_fail(dd_test_tmpdir(), labels, dd_test_tmpdir(), "directory");
}

/* A header claiming 2e9 images (1.5 TB) in a 100-byte file must fail at once, allocating
 * nothing big: the raw check is on the file size, the gzip read grows with the data. */
static void lying_header_fails_at_once(void) {
    uint8_t buf[100] = {0}, lbuf[100] = {0};
    images_bytes(buf, 0x803, 2000000000u, 28, 28, 0);
    put32(lbuf, 0x801), put32(lbuf + 4, 2000000000u);
    char labels[PATH_LEN]; /* a gzipped label file that lies too, so the counts agree */
    snprintf(labels, sizeof labels, "%s", tmp("lie-labels.gz"));
    write_gz(labels, lbuf, sizeof lbuf);
    for (int gz = 0; gz < 2; gz++) {
        const char *p = tmp(gz ? "lie.gz" : "lie");
        write_file(p, buf, sizeof buf, gz);
        clock_t t0 = clock();
        expect_fail(p, labels, p, "header claims 2000000000 images (1568000000000 bytes)");
        double s = (double)(clock() - t0) / CLOCKS_PER_SEC;
        CHECK(s < 0.5, "lying header (gz %d) took %.2f s", gz, s);
    }
}

static void broken_gzip_is_refused(void) {
    static uint8_t buf[16 + N * 784];
    char images[PATH_LEN], labels[PATH_LEN];
    write_pair("gzok", 1, images, labels);

    /* A valid gzip header, then bytes that are no deflate stream (block type 3 is invalid). */
    uint8_t junk[64] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
    memset(junk + 10, 0xff, sizeof junk - 10);
    const char *p = tmp("corrupt.gz");
    write_raw(p, junk, sizeof junk);
    expect_fail(p, labels, p, "corrupt gzip");

    /* Random-looking pixels so the compressed file is long, then cut it off at 60%. */
    size_t n = images_bytes(buf, 0x803, N, 28, 28, N * 784);
    uint32_t x = 12345;
    for (size_t k = 16; k < n; k++) x = x * 1103515245u + 12345u, buf[k] = (uint8_t)(x >> 16);
    p = tmp("cut.gz");
    write_gz(p, buf, n);
    static uint8_t gzbuf[2 * sizeof buf];
    FILE *f = fopen(p, "rb");
    size_t gzn = f ? fread(gzbuf, 1, sizeof gzbuf, f) : 0;
    if (f) fclose(f);
    CHECK(gzn > 1000, "compressed file is only %zu bytes", gzn);
    write_raw(p, gzbuf, gzn * 6 / 10);
    expect_fail(p, labels, p, "gzip stream ends early");

    /* Whole data, but a wrong CRC in the gzip trailer. */
    gzbuf[gzn - 8] ^= 0x55;
    write_raw(p, gzbuf, gzn);
    expect_fail(p, labels, p, "corrupt gzip data: incorrect data check");
    gzbuf[gzn - 8] ^= 0x55;

    /* Whole data but the trailer cut off, or part of it: the CRC is never read, and zlib's
     * gzread took that for a clean end of file. */
    write_raw(p, gzbuf, gzn - 8);
    expect_fail(p, labels, p, "gzip stream ends early");
    write_raw(p, gzbuf, gzn - 3);
    expect_fail(p, labels, p, "gzip stream ends early");

    /* Bytes after the stream that are not another gzip member. */
    memcpy(gzbuf + gzn, "junk!", 5);
    write_raw(p, gzbuf, gzn + 5);
    expect_fail(p, labels, p, "bytes that are not gzip data follow the gzip stream");
    /* Half a magic, or one of its two bytes wrong, is no second member either. */
    static const struct {
        const char *bytes;
        size_t n;
    } tails[] = {{"\x1f", 1}, {"\x1f\x8c", 2}, {"\x00\x8b", 2}};
    for (int t = 0; t < 3; t++) {
        memcpy(gzbuf + gzn, tails[t].bytes, tails[t].n);
        write_raw(p, gzbuf, gzn + tails[t].n);
        expect_fail(p, labels, p, "bytes that are not gzip data follow the gzip stream");
    }

    /* Two members (as `cat a.gz b.gz` makes) are one file, as gzip -d reads them. */
    const size_t half = n / 2;
    char member[2][PATH_LEN];
    size_t used = 0;
    for (int part = 0; part < 2; part++) {
        snprintf(member[part], PATH_LEN, "%s", tmp(part ? "second.gz" : "first.gz"));
        write_gz(member[part], buf + (part ? half : 0), part ? n - half : half);
        FILE *m = fopen(member[part], "rb");
        used += m ? fread(gzbuf + used, 1, sizeof gzbuf - used, m) : 0;
        if (m) fclose(m);
    }
    write_raw(p, gzbuf, used);
    char err[DD_ERR_LEN] = "";
    dd_dataset d;
    CHECK(dd_idx_load_pair(p, labels, &d, err) == 0, "two gzip members: %s", err);
    if (d.pixels) CHECK(memcmp(d.pixels, buf + 16, n - 16) == 0, "two gzip members' pixels differ");
    dd_dataset_free(&d);
}

/* A second gzip member whose magic starts at the end of the loader's input buffer (128 KiB):
 * the first member, padded by a file name in its gzip header, ends 2, 1 or 0 bytes before the
 * buffer does. The file loads as if the members were one. */
static void second_member_at_buffer_end(void) {
    enum { IN_BYTES = 1 << 17 };
    static uint8_t buf[16 + N * 784], gz[2][2 * sizeof buf], file[IN_BYTES + sizeof gz[1]];
    char images[PATH_LEN], labels[PATH_LEN];
    write_pair("bufend", 1, images, labels);
    const size_t n = images_bytes(buf, 0x803, N, 28, 28, N * 784), half = n / 2;
    size_t len[2];
    for (int part = 0; part < 2; part++) {
        const char *p = tmp(part ? "bufend-second.gz" : "bufend-first.gz");
        write_gz(p, buf + (part ? half : 0), part ? n - half : half);
        FILE *f = fopen(p, "rb");
        len[part] = f ? fread(gz[part], 1, sizeof gz[part], f) : 0;
        if (f) fclose(f);
    }
    CHECK(len[0] > 10 && len[0] < IN_BYTES / 2 && len[1] > 10, "members of %zu and %zu bytes",
          len[0], len[1]);
    for (size_t before = 0; before <= 2; before++) {
        const size_t name = IN_BYTES - before - len[0]; /* the name and its NUL */
        memcpy(file, gz[0], 10);
        file[3] |= 0x08; /* FNAME */
        memset(file + 10, 'a', name - 1), file[10 + name - 1] = '\0';
        memcpy(file + 10 + name, gz[0] + 10, len[0] - 10);
        memcpy(file + IN_BYTES - before, gz[1], len[1]);
        const char *p = tmp("bufend.gz");
        write_raw(p, file, IN_BYTES - before + len[1]);
        char err[DD_ERR_LEN] = "";
        dd_dataset d;
        CHECK(dd_idx_load_pair(p, labels, &d, err) == 0, "member end %zu before: %s", before, err);
        if (d.pixels) CHECK(memcmp(d.pixels, buf + 16, n - 16) == 0, "pixels differ");
        dd_dataset_free(&d);
    }
}

/* A FIFO named like an IDX file is refused at once (opening it must not wait for a writer), and
 * a symbolic link to nothing is not taken for a missing file. */
static void special_files_are_refused(void) {
    char images[PATH_LEN], labels[PATH_LEN];
    write_pair("special", 0, images, labels);
    const char *p = tmp("fifo");
    unlink(p);
    CHECK(mkfifo(p, 0600) == 0, "mkfifo %s: %s", p, strerror(errno));
    expect_fail(p, labels, p, "is not a regular file");

    char err[DD_ERR_LEN] = "", link[PATH_LEN];
    dd_mnist m;
    const char *dir = tmp("dangling");
    mkdir(dir, 0755);
    snprintf(link, sizeof link, "%s/train-images-idx3-ubyte", dir);
    unlink(link);
    CHECK(symlink("/nonexistent/train-images-idx3-ubyte", link) == 0, "symlink: %s",
          strerror(errno));
    CHECK(dd_mnist_load(dir, &m, err) != 0 && strstr(err, "a symbolic link to nothing"),
          "dangling link: %s", err);
}

static void broken_labels_are_refused(void) {
    uint8_t buf[64];
    char images[PATH_LEN], labels[PATH_LEN];
    const char *p;
    write_pair("lab", 0, images, labels);

    uint8_t four[4] = {1, 2, 3, 4};
    p = tmp("four-labels.gz");
    write_gz(p, buf, labels_bytes(buf, 4, four, 4));
    expect_fail(images, p, p, "4 labels but");
    expect_fail(images, p, images, "3 images");

    uint8_t eleven[N] = {0, 11, 2};
    p = tmp("eleven-labels.gz");
    write_gz(p, buf, labels_bytes(buf, N, eleven, N));
    expect_fail(images, p, p, "label 11 at index 1 is outside 0..9");
    /* 10 is the first label outside 0..9. */
    uint8_t ten[N] = {9, 0, 10};
    p = tmp("ten-labels");
    write_raw(p, buf, labels_bytes(buf, N, ten, N));
    expect_fail(images, p, p, "label 10 at index 2 is outside 0..9");

    /* A label file that claims no labels is refused (the image file claims 3). */
    p = tmp("zero-labels");
    write_raw(p, buf, labels_bytes(buf, 0, good_labels, 0));
    expect_fail(images, p, p, "header claims 0 labels");

    p = tmp("short-labels");
    write_raw(p, buf, labels_bytes(buf, N, good_labels, 2));
    expect_fail(images, p, p, "header claims 3 labels (3 bytes) but the file holds 2 bytes");

    expect_fail(images, images, images, "magic"); /* an image file where labels belong */
}

static void mnist_folder_raw_or_gzipped(void) {
    char err[DD_ERR_LEN] = "";
    dd_mnist m;
    const char *dir = tmp("mnist");
    mkdir(dir, 0755);
    static uint8_t buf[16 + N * 784];
    char path[600];
    /* train: gzipped images, raw labels; t10k: raw images, gzipped labels. */
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte.gz", dir);
    write_gz(path, buf, images_bytes(buf, 0x803, N, 28, 28, N * 784));
    snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte", dir);
    write_raw(path, buf, labels_bytes(buf, N, good_labels, N));
    uint8_t wrong[N] = {9, 9, 9}; /* the .gz beside a raw file must be ignored */
    snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte.gz", dir);
    write_gz(path, buf, labels_bytes(buf, N, wrong, N));
    snprintf(path, sizeof path, "%s/t10k-images-idx3-ubyte", dir);
    write_raw(path, buf, images_bytes(buf, 0x803, 2, 28, 28, 2 * 784));

    int rc = dd_mnist_load(dir, &m, err);
    CHECK(rc == -1 && strstr(err, dir) &&
              strstr(err, "no t10k-labels-idx1-ubyte or t10k-labels-idx1-ubyte.gz"),
          "missing file: rc %d, '%s'", rc, err);
    CHECK(!m.train.pixels && !m.test.pixels, "failed load left data");

    snprintf(path, sizeof path, "%s/t10k-labels-idx1-ubyte.gz", dir);
    write_gz(path, buf, labels_bytes(buf, 2, good_labels, 2));
    rc = dd_mnist_load(dir, &m, err);
    CHECK(rc == 0, "temp mnist dir: %s", err);
    if (rc == 0) {
        CHECK(m.train.count == N && m.test.count == 2, "counts %d %d", m.train.count, m.test.count);
        CHECK(memcmp(m.train.labels, good_labels, N) == 0, "raw labels not preferred over .gz");
        CHECK(m.test.pixels[784 + 5] == pixel(1, 5), "test pixel");
        dd_mnist_free(&m);
    }

    const char *missing = tmp("no-such-dir");
    rc = dd_mnist_load(missing, &m, err);
    CHECK(rc == -1 && strstr(err, missing) && strstr(err, "No such file"), "missing dir: '%s'",
          err);
    snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte", dir);
    rc = dd_mnist_load(path, &m, err);
    CHECK(rc == -1 && strstr(err, path) && strstr(err, "not a directory"), "file as dir: '%s'",
          err);
}

/* The real data, when present: sizes, first labels, and the sum of all training pixels. The sum
 * was computed independently (Python's gzip module) and gives the well-known mean 0.1307 * 255. */
static void real_mnist_sizes_labels_and_pixel_sum(void) {
    const char *dir = dd_test_mnist_dir();
    if (!dir) {
        printf("test_idx: no MNIST in data/mnist (scripts/fetch-mnist.sh), real-data checks off\n");
        return;
    }
    char err[DD_ERR_LEN] = "";
    dd_mnist m;
    int rc = dd_mnist_load(dir, &m, err);
    CHECK(rc == 0, "real MNIST: %s", err);
    if (rc) return;
    CHECK(m.train.count == 60000 && m.test.count == 10000, "counts %d %d", m.train.count,
          m.test.count);
    CHECK(m.train.labels[0] == 5 && m.test.labels[0] == 7, "first labels %d %d", m.train.labels[0],
          m.test.labels[0]);
    unsigned long long sum = 0;
    size_t n = (size_t)m.train.count * DD_IMAGE_PIXELS;
    for (size_t k = 0; k < n; k++) sum += m.train.pixels[k];
    double mean = (double)sum / (double)n;
    CHECK(sum == 1567298545ull, "train pixel sum %llu", sum);
    CHECK(mean > 33.31 && mean < 33.33, "train pixel mean %.4f", mean);
    dd_mnist_free(&m);
}

int main(void) {
    for (int k = 0; k < 4; k++) valid_files_load(k & 1, k >> 1);
    broken_images_are_refused();
    lying_header_fails_at_once();
    broken_gzip_is_refused();
    second_member_at_buffer_end();
    special_files_are_refused();
    broken_labels_are_refused();
    mnist_folder_raw_or_gzipped();
    real_mnist_sizes_labels_and_pixel_sum();
    return dd_test_finish("test_idx");
}
