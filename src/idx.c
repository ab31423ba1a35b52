/* IDX loader (see idx.h). One code path serves raw and gzipped files: a file that starts with
 * gzip's magic is inflated on the way in, any other is read as it is. The rule throughout is that
 * memory follows the data, not the header: a raw file's claim is checked against its size on disk
 * before any allocation, and a gzipped body is read into a buffer that grows with what actually
 * decompresses. zlib's inflate is driven directly rather than through gzread, which returns a
 * clean end of file when the input runs out exactly where a body ends, before the gzip trailer:
 * a file cut there would pass without its CRC ever being checked. */
#include "errors.h"
#include "files.h"
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

const char *const dd_fashion_classes[DD_CLASSES] = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

void dd_fashion_legend(char *out, size_t size) {
    size_t at = 0;
    out[0] = '\0';
    for (int k = 0; k < DD_CLASSES && at < size; k++)
        at += (size_t)snprintf(out + at, size - at, "%s%d %s", k ? ", " : "", k,
                               dd_fashion_classes[k]);
}

#define IDX_UBYTE 0x08       /* element type byte: unsigned char */
#define CHUNK     (1u << 20) /* first size of a gzipped body's buffer; it doubles from there */
#define MAX_READ  (1u << 30) /* one read() or inflate() call at most */
#define IN_BYTES  (1u << 17) /* the input buffer */

/* One open IDX file whose header has been read and checked. */
typedef struct {
    const char *path;
    const char *what; /* "images" or "labels", for messages */
    int fd;
    long long disk; /* size on disk */
    int count;      /* items the header claims */
    size_t claim;   /* bytes of data the header claims */
    /* The input: IN[next .. next + avail) read from FD and not yet used. */
    uint8_t *in;
    size_t next, avail;
    int gzip;  /* the file starts with gzip's magic: Z inflates it */
    int ended; /* gzip: the last member's trailer has been checked, and nothing follows it */
    z_stream z;
    int z_ready;
} idx_file;

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Refills F->in from the file, after what is left in it. Returns the bytes added (0 at end of
 * file), or -1 with ERR. */
static long long refill(idx_file *f, char *err) {
    memmove(f->in, f->in + f->next, f->avail);
    f->next = 0;
    for (;;) {
        ssize_t r = read(f->fd, f->in + f->avail, IN_BYTES - f->avail);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return dd_fail(err, f->path, "read error: %s", strerror(errno));
        f->avail += (size_t)r;
        return r;
    }
}

/* Refills until F->in holds at least N bytes or the file ends. Returns 0, or -1 with ERR. */
static int buffer_at_least(idx_file *f, size_t n, char *err) {
    while (f->avail < n) {
        long long r = refill(f, err);
        if (r < 0) return -1;
        if (r == 0) break;
    }
    return 0;
}

/* Up to N bytes of a raw file: what the buffer holds, then straight from the file. */
static long long raw_read(idx_file *f, uint8_t *buf, size_t n, char *err) {
    size_t got = n < f->avail ? n : f->avail;
    memcpy(buf, f->in + f->next, got);
    f->next += got, f->avail -= got;
    while (got < n) {
        size_t want = n - got < MAX_READ ? n - got : MAX_READ;
        ssize_t r = read(f->fd, buf + got, want);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return dd_fail(err, f->path, "read error: %s", strerror(errno));
        if (r == 0) break;
        got += (size_t)r;
    }
    return (long long)got;
}

/* After a gzip member's end: another member (gzip's magic next), the end of the file, or
 * anything else, which is refused. */
static int after_member(idx_file *f, char *err) {
    if (buffer_at_least(f, 2, err) != 0) return -1;
    if (f->avail == 0) return f->ended = 1, 0;
    if (f->avail >= 2 && f->in[f->next] == 0x1f && f->in[f->next + 1] == 0x8b)
        return inflateReset(&f->z) == Z_OK ? 0 : dd_fail(err, f->path, "corrupt gzip data");
    return dd_fail(err, f->path, "bytes that are not gzip data follow the gzip stream");
}

/* Up to N bytes inflated from a gzipped file; a stream cut short or corrupt is an error. */
static long long gzip_read(idx_file *f, uint8_t *buf, size_t n, char *err) {
    size_t got = 0;
    while (got < n && !f->ended) {
        if (f->avail == 0) {
            long long r = refill(f, err);
            if (r < 0) return -1;
            if (r == 0)
                return dd_fail(err, f->path,
                               "corrupt gzip data: the gzip stream ends early (truncated file)");
        }
        const size_t want = n - got < MAX_READ ? n - got : MAX_READ;
        f->z.next_in = f->in + f->next, f->z.avail_in = (uInt)f->avail;
        f->z.next_out = buf + got, f->z.avail_out = (uInt)want;
        int rc = inflate(&f->z, Z_NO_FLUSH);
        const size_t out = want - f->z.avail_out, used = f->avail - f->z.avail_in;
        got += out;
        f->next += used, f->avail -= used;
        if (rc == Z_BUF_ERROR && !out && !used) rc = Z_DATA_ERROR; /* stuck: never loop on it */
        if (rc == Z_STREAM_END) {
            if (after_member(f, err) != 0) return -1;
        } else if (rc != Z_OK && rc != Z_BUF_ERROR) { /* Z_BUF_ERROR: it needs more input */
            return dd_fail(err, f->path, "corrupt gzip data: %s", f->z.msg ? f->z.msg : zError(rc));
        }
    }
    return (long long)got;
}

/* Reads up to N bytes of the (decompressed) file. Returns the count, or -1 on a read or gzip
 * error (with ERR filled). A short count means end of data. */
static long long read_upto(idx_file *f, uint8_t *buf, size_t n, char *err) {
    return f->gzip ? gzip_read(f, buf, n, err) : raw_read(f, buf, n, err);
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
        return dd_fail(err, f->path, "too short for an IDX header: %zu of %zu bytes",
                       from + (size_t)got, to);
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

    if (!f->gzip) { /* raw: the file size tells the truth before we allocate */
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

/* Opens PATH, refusing directories, special files and empty files, and reads its header. The
 * open does not wait: a FIFO named like an IDX file would block it until a writer came. */
static int idx_open(idx_file *f, const char *path, int dims, char *err) {
    memset(f, 0, sizeof *f);
    f->fd = -1;
    f->path = path;
    f->what = dims == 3 ? "images" : "labels";
    struct stat st;
    const int fd = dd_open_regular(path, &st);
    if (fd == DD_OPEN_DIRECTORY) return dd_fail(err, path, "is a directory, not an IDX file");
    if (fd == DD_OPEN_SPECIAL) return dd_fail(err, path, "is not a regular file");
    if (fd < 0) return dd_fail(err, path, "cannot open: %s", strerror(errno));
    f->fd = fd;
    if (st.st_size == 0) return dd_fail(err, path, "empty file");
    f->disk = (long long)st.st_size;
    if (!(f->in = malloc(IN_BYTES))) return dd_fail(err, path, "cannot open: out of memory");
    if (buffer_at_least(f, 2, err) != 0) return -1; /* gzip's magic, or a raw file's start */
    f->gzip = f->avail >= 2 && f->in[0] == 0x1f && f->in[1] == 0x8b;
    if (f->gzip) {
        if (inflateInit2(&f->z, 16 + MAX_WBITS) != Z_OK) /* 16: a gzip wrapper, checked */
            return dd_fail(err, path, "cannot open: out of memory");
        f->z_ready = 1;
    }
    return read_header(f, dims, err);
}

static void idx_close(idx_file *f) {
    if (f->z_ready) inflateEnd(&f->z);
    if (f->fd >= 0) close(f->fd);
    free(f->in);
    memset(f, 0, sizeof *f);
    f->fd = -1;
}

/* Fails when anything follows the claimed data. Counting the extra bytes also runs the gzip
 * stream to its end, which is where its CRC and length are checked. */
static int check_end(idx_file *f, char *err) {
    uint8_t buf[1 << 14];
    unsigned long long extra = 0;
    long long r;
    while ((r = read_upto(f, buf, sizeof buf, err)) > 0) extra += (unsigned long long)r;
    if (r < 0) return -1;
    if (extra)
        return dd_fail(err, f->path, "%llu trailing bytes after the %d %s the header claims", extra,
                       f->count, f->what);
    return 0;
}

/* Reads the F->claim bytes of the body. The buffer grows as data arrives (never past the claim),
 * so a gzipped file that lies about its size costs only what it really holds. */
static uint8_t *read_body(idx_file *f, char *err) {
    size_t cap = !f->gzip ? f->claim : (f->claim < CHUNK ? f->claim : CHUNK), have = 0;
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
                "header claims %d %s (%zu bytes) but the file holds %zu bytes after the header",
                f->count, f->what, f->claim, have);
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
    lb.fd = -1;
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

/* Whether PATH is there: 1 if it is, 0 if nothing by that name is; -1 with ERR for a name that
 * is there but cannot be followed (a dangling or looping symbolic link), which must not be taken
 * for a missing file. */
static int present(const char *path, char *err) {
    struct stat st;
    if (stat(path, &st) == 0) return 1;
    const int why = errno;
    if (lstat(path, &st) != 0) return 0;
    return dd_fail(err, path, "cannot open: %s",
                   why == ENOENT ? "a symbolic link to nothing" : strerror(why));
}

/* Finds DIR/NAME, else DIR/NAME.gz, writing the path into PATH (PATH_MAX bytes). */
static int find_file(const char *dir, const char *name, char *path, char *err) {
    int n = snprintf(path, PATH_MAX, "%s/%s", dir, name);
    if (n < 0 || n + 4 >= PATH_MAX) return dd_fail(err, dir, "path too long");
    int there = present(path, err);
    if (there) return there < 0 ? -1 : 0;
    strcat(path, ".gz");
    there = present(path, err);
    if (there) return there < 0 ? -1 : 0;
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
