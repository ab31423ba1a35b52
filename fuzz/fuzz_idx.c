/* libFuzzer harness for the IDX loader: the input's first two bytes say where the image file
 * ends and the label file begins; both go through dd_idx_load_pair as in-memory files (memfd),
 * raw or gzipped, exactly as files on disk would. Built by scripts/fuzz.sh. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "deepdigits/idx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An in-memory file holding BYTES; PATH gets its /proc name. Returns the fd or -1. */
static int memory_file(const uint8_t *bytes, size_t n, char *path, size_t len) {
    int fd = memfd_create("idx", MFD_CLOEXEC);
    if (fd < 0) return -1;
    if (n && write(fd, bytes, n) != (ssize_t)n) {
        close(fd);
        return -1;
    }
    snprintf(path, len, "/proc/self/fd/%d", fd);
    return fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    size_t split = ((size_t)data[0] | (size_t)data[1] << 8) % (size - 1);
    char images[64], labels[64], err[DD_ERR_LEN];
    int fi = memory_file(data + 2, split, images, sizeof images);
    int fl = memory_file(data + 2 + split, size - 2 - split, labels, sizeof labels);
    if (fi >= 0 && fl >= 0) {
        dd_dataset d;
        if (dd_idx_load_pair(images, labels, &d, err) == 0)
            dd_dataset_free(&d);
        else if (strchr(err, '\n'))
            abort(); /* the message must be one line */
    }
    if (fi >= 0) close(fi);
    if (fl >= 0) close(fl);
    return 0;
}
