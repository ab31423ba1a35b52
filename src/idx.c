/* IDX loader (see idx.h). One code path serves raw and gzipped files: zlib's gzread passes a
 * non-gzip file through unchanged. The rule throughout is that memory follows the data, not the
 * header: a raw file's claim is checked against its size on disk before any allocation, and a
 * gzipped body is read into a buffer that grows with what actually decompresses. */
#include "errors.h"
#include "deepdigits/idx.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define IDX_UBYTE 0x08       /* element type byte: unsigned char */
#define CHUNK     (1u << 20) /* first size of a gzipped body's buffer; it doubles from there */
#define MAX_READ  (1u << 30) /* gzread takes an unsigned and returns an int */

/* One open IDX file whose header has been read and checked. */
typedef struct {
    const char *path;
    gzFile gz;
    const char *what; /* "images" or "labels", for messages */
    long long disk;   /* size on disk */
    int count;        /* items the header claims */
    size_t claim;     /* bytes of data the header claims */
} idx_file;

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* zlib's last error, or NULL when there is none. Z_BUF_ERROR means the gzip stream ended early;
 * gzread reports that by returning short, not -1, so callers must ask. */
static const char *gz_problem(gzFile gz, int *errnum) {
    const char *msg = gzerror(gz, errnum);
    if (*errnum == Z_OK) return NULL;
    if (*errnum == Z_ERRNO) return strerror(errno);
    /* zlib prefixes its own name for the file, "<fd:3>: ", and we name the path ourselves. */
    const char *sep = msg[0] == '<' ? strstr(msg, ">: ") : NULL;
    return sep ? sep + 3 : msg;
}

/* Reads up to N bytes, looping over gzread's int limit. Returns the count, or -1 on a zlib or
 * I/O error (with ERR filled). A short count means end of data. */
static long long read_upto(idx_file *f, uint8_t *buf, size_t n, char *err) {
    size_t got = 0;
    while (got < n) {
        size_t want = n - got < MAX_READ ? n - got : MAX_READ;
        int r = gzread(f->gz, buf + got, (unsigned)want);
        if (r < 0) {
            int errnum;
            const char *msg = gz_problem(f->gz, &errnum);
            if (errnum == Z_ERRNO) return dd_fail(err, f->path, "read error: %s", msg);
            return dd_fail(err, f->path, "corrupt gzip data: %s", msg ? msg : "unknown error");
        }
        if (r == 0) break;
        got += (size_t)r;
    }
    return (long long)got;
}

/* A note for short-data messages: " (gzip stream ends early)" when zlib saw the compressed
 * stream cut off, else "". */
static const char *gz_cut_note(gzFile gz) {
    int errnum;
    gz_problem(gz, &errnum);
    return errnum == Z_BUF_ERROR ? " (gzip stream ends early)" : "";
}

/* Checks the 4-byte magic: two zero bytes, the element type, and the number of dimensions. */
static int check_magic(const idx_file *f, const uint8_t *h, int dims, char *err) {
    uint32_t magic = be32(h), want = (uint32_t)IDX_UBYTE << 8 | (uint32_t)dims;
    if (h[0] != 0 || h[1] != 0)
        return dd_fail(err, f->path, "bad magic 0x%08x, not an IDX file (expected 0x%08x)", magic,
                       want);
    if (h[2] != IDX_UBYTE)
        return dd_fail(err, f->path, "element type 0x%02x is not unsigned byte (0x08)", h[2]);
    if (h[3] != dims)
        return dd_fail(err, f->path, "bad magic 0x%08x (%d-D), expected 0x%08x (%d-D %s)", magic,
                       h[3], want, dims, f->what);
    return 0;
}

/* Reads header bytes FROM..TO into H; an empty or short file fails here. */
static int read_header_part(idx_file *f, uint8_t *h, size_t from, size_t to, char *err) {
    long long got = read_upto(f, h + from, to - from, err);
    if (got < 0) return -1;
    if (got == 0 && from == 0)
        return dd_fail(err, f->path, "empty file (no data after decompression)");
    if ((size_t)got < to - from)
        return dd_fail(err, f->path, "too short for an IDX header: %zu of %zu bytes%s",
                       from + (size_t)got, to, gz_cut_note(f->gz));
    return 0;
}

/* Reads and checks the header; on success F->count and F->claim describe the body. For a raw
 * file the claim is also checked against the size on disk, so the body can be allocated safely.
 * The magic is checked before the rest is read, so that a label file passed as images is
 * reported as such rather than as a short header. */
static int read_header(idx_file *f, int dims, char *err) {
    uint8_t h[16];
    size_t hlen = 4 + 4 * (size_t)dims;
    if (read_header_part(f, h, 0, 4, err) || check_magic(f, h, dims, err) ||
        read_header_part(f, h, 4, hlen, err))
        return -1;

    uint32_t count = be32(h + 4);
    if (count == 0) return dd_fail(err, f->path, "header claims 0 %s", f->what);
    if (count > INT_MAX)
        return dd_fail(err, f->path, "header claims %u %s, too many", count, f->what);
    size_t item = 1;
    if (dims == 3) {
        uint32_t rows = be32(h + 8), cols = be32(h + 12);
        if (rows != DD_IMAGE_ROWS || cols != DD_IMAGE_COLS)
            return dd_fail(err, f->path, "images are %ux%u, expected %dx%d", rows, cols,
                           DD_IMAGE_ROWS, DD_IMAGE_COLS);
        item = DD_IMAGE_PIXELS;
    }
    if (count > SIZE_MAX / item) return dd_fail(err, f->path, "header claims too many %s", f->what);
    f->count = (int)count;
    f->claim = count * item;

    if (gzdirect(f->gz)) { /* raw: the file size tells the truth before we allocate */
        unsigned long long body = (unsigned long long)f->disk - hlen;
        if (body < f->claim)
            return dd_fail(
                err, f->path,
                "header claims %d %s (%zu bytes) but the file holds %llu bytes after the header",
                f->count, f->what, f->claim, body);
        if (body > f->claim)
            return dd_fail(err, f->path, "%llu trailing bytes after the %d %s the header claims",
                           body - f->claim, f->count, f->what);
    }
    return 0;
}

/* Opens PATH, refusing directories, special files and empty files, and reads its header. */
static int idx_open(idx_file *f, const char *path, int dims, char *err) {
    memset(f, 0, sizeof *f);
    f->path = path;
    f->what = dims == 3 ? "images" : "labels";
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return dd_fail(err, path, "cannot open: %s", strerror(errno));
    struct stat st;
    const char *bad = NULL;
    if (fstat(fd, &st) != 0)
        bad = strerror(errno);
    else if (S_ISDIR(st.st_mode))
        bad = "is a directory, not an IDX file";
    else if (!S_ISREG(st.st_mode))
        bad = "is not a regular file";
    else if (st.st_size == 0)
        bad = "empty file";
    if (bad) {
        close(fd);
        return dd_fail(err, path, "%s", bad);
    }
    f->disk = (long long)st.st_size;
    f->gz = gzdopen(fd, "rb"); /* from here on gzclose closes fd */
    if (!f->gz) {
        close(fd);
        return dd_fail(err, path, "cannot open: out of memory");
    }
    gzbuffer(f->gz, 1u << 17);
    return read_header(f, dims, err);
}

static void idx_close(idx_file *f) {
    if (f->gz) gzclose(f->gz);
    f->gz = NULL;
}

/* Fails when anything follows the claimed data. Counting the extra bytes also runs the gzip
 * stream to its end, which is where zlib checks the CRC. */
static int check_end(idx_file *f, char *err) {
    uint8_t buf[1 << 14];
    unsigned long long extra = 0;
    long long r;
    while ((r = read_upto(f, buf, sizeof buf, err)) > 0) extra += (unsigned long long)r;
    if (r < 0) return -1;
    if (extra)
        return dd_fail(err, f->path, "%llu trailing bytes after the %d %s the header claims", extra,
                       f->count, f->what);
    int errnum;
    if (gz_problem(f->gz, &errnum) && errnum == Z_BUF_ERROR)
        return dd_fail(err, f->path, "corrupt gzip data: stream ends early (truncated file)");
    return 0;
}

/* Reads the F->claim bytes of the body. The buffer grows as data arrives (never past the claim),
 * so a gzipped file that lies about its size costs only what it really holds. */
static uint8_t *read_body(idx_file *f, char *err) {
    size_t cap = gzdirect(f->gz) ? f->claim : (f->claim < CHUNK ? f->claim : CHUNK), have = 0;
    uint8_t *buf = malloc(cap);
    if (!buf) {
        dd_fail(err, f->path, "out of memory for %zu bytes", cap);
        return NULL;
    }
    for (;;) {
        long long r = read_upto(f, buf + have, cap - have, err);
        if (r < 0) goto bad;
        have += (size_t)r;
        if (have < cap) break; /* end of data */
        if (cap == f->claim) break;
        size_t next = cap > f->claim / 2 ? f->claim : cap * 2;
        uint8_t *grown = realloc(buf, next);
        if (!grown) {
            dd_fail(err, f->path, "out of memory for %zu bytes", next);
            goto bad;
        }
        buf = grown;
        cap = next;
    }
    if (have < f->claim) {
        dd_fail(err, f->path,
                "header claims %d %s (%zu bytes) but the file holds %zu bytes after the header%s",
                f->count, f->what, f->claim, have, gz_cut_note(f->gz));
        goto bad;
    }
    if (check_end(f, err)) goto bad;
    return buf;
bad:
    free(buf);
    return NULL;
}

int dd_idx_load_pair(const char *images_path, const char *labels_path, dd_dataset *out, char *err) {
    memset(out, 0, sizeof *out);
    idx_file im, lb;
    uint8_t *pixels = NULL, *labels = NULL;
    int rc = -1;
    memset(&lb, 0, sizeof lb);
    /* Both headers first: a count mismatch should not cost reading 47 MB of pixels. */
    if (idx_open(&im, images_path, 3, err) || idx_open(&lb, labels_path, 1, err)) goto done;
    if (im.count != lb.count) {
        dd_fail(err, labels_path, "%d labels but %s holds %d images", lb.count, images_path,
                im.count);
        goto done;
    }
    if (!(pixels = read_body(&im, err)) || !(labels = read_body(&lb, err))) goto done;
    for (int i = 0; i < lb.count; i++) {
        if (labels[i] >= DD_CLASSES) {
            dd_fail(err, labels_path, "label %d at index %d is outside 0..%d", labels[i], i,
                    DD_CLASSES - 1);
            goto done;
        }
    }
    out->count = im.count;
    out->pixels = pixels;
    out->labels = labels;
    pixels = labels = NULL;
    rc = 0;
done:
    idx_close(&im);
    idx_close(&lb);
    free(pixels);
    free(labels);
    return rc;
}

/* The hint for a missing MNIST: only the default folder is the fetch script's. */
static const char *fetch_hint(const char *dir) {
    const size_t n = strlen(dir), m = strlen("data/mnist");
    const int ours = n >= m && strcmp(dir + n - m, "data/mnist") == 0;
    return ours ? " (run scripts/fetch-mnist.sh)" : "";
}

/* Finds DIR/NAME, else DIR/NAME.gz, writing the path into PATH (PATH_MAX bytes). */
static int find_file(const char *dir, const char *name, char *path, char *err) {
    struct stat st;
    int n = snprintf(path, PATH_MAX, "%s/%s", dir, name);
    if (n < 0 || n + 4 >= PATH_MAX) return dd_fail(err, dir, "path too long");
    if (stat(path, &st) == 0) return 0;
    strcat(path, ".gz");
    if (stat(path, &st) == 0) return 0;
    return dd_fail(err, dir, "no %s or %s.gz%s", name, name, fetch_hint(dir));
}

/* Loads one split, e.g. PREFIX "train": PREFIX-images-idx3-ubyte and PREFIX-labels-idx1-ubyte. */
static int load_split(const char *dir, const char *prefix, dd_dataset *d, char *err) {
    char name[64], images[PATH_MAX], labels[PATH_MAX];
    snprintf(name, sizeof name, "%s-images-idx3-ubyte", prefix);
    if (find_file(dir, name, images, err)) return -1;
    snprintf(name, sizeof name, "%s-labels-idx1-ubyte", prefix);
    if (find_file(dir, name, labels, err)) return -1;
    return dd_idx_load_pair(images, labels, d, err);
}

int dd_mnist_load(const char *dir, dd_mnist *out, char *err) {
    memset(out, 0, sizeof *out);
    struct stat st;
    if (stat(dir, &st) != 0)
        return dd_fail(err, dir, "cannot open directory: %s%s", strerror(errno), fetch_hint(dir));
    if (!S_ISDIR(st.st_mode)) return dd_fail(err, dir, "not a directory");
    if (load_split(dir, "train", &out->train, err)) return -1;
    if (load_split(dir, "t10k", &out->test, err)) {
        dd_dataset_free(&out->train);
        return -1;
    }
    return 0;
}

void dd_dataset_free(dd_dataset *d) {
    if (!d) return;
    free(d->pixels);
    free(d->labels);
    memset(d, 0, sizeof *d);
}

void dd_mnist_free(dd_mnist *m) {
    if (!m) return;
    dd_dataset_free(&m->train);
    dd_dataset_free(&m->test);
}
