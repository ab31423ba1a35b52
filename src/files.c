/* See files.h. */
#include "files.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

int dd_open_regular(const char *path, struct stat *st) {
    const int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc = -1;
    if (fstat(fd, st) == 0)
        rc = S_ISDIR(st->st_mode)    ? DD_OPEN_DIRECTORY
             : !S_ISREG(st->st_mode) ? DD_OPEN_SPECIAL
                                     : fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    if (rc == 0) return fd;
    const int saved = errno; /* the fstat's or fcntl's reason, not close's */
    close(fd);
    errno = saved;
    return rc;
}

size_t dd_read_up_to(int fd, void *buf, size_t n) {
    size_t got = 0;
    while (got < n) {
        const ssize_t r = read(fd, (char *)buf + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) break;
        if (r == 0) {
            errno = 0;
            break;
        }
        got += (size_t)r;
    }
    return got;
}
