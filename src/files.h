/* Opening and reading the files the readers take whole (IDX, checkpoints, images). */
#ifndef DD_FILES_H
#define DD_FILES_H

#include <stddef.h>
#include <sys/stat.h>

/* dd_open_regular's failures besides -1 (the open or fstat failed: errno says why). */
#define DD_OPEN_DIRECTORY (-2)
#define DD_OPEN_SPECIAL   (-3) /* a FIFO, a device, a socket */

/* Opens PATH to read it as a regular file, its status in *ST. The open does not wait: a FIFO
 * would block it until a writer came, only to be refused; the descriptor reads blocking again
 * once the file is known to be regular. Returns the descriptor, or -1, DD_OPEN_DIRECTORY or
 * DD_OPEN_SPECIAL with nothing left open. */
int dd_open_regular(const char *path, struct stat *st);

/* Reads up to N bytes of FD into BUF through interrupted reads; returns the count, short when
 * the file ends (errno then 0) or a read fails (errno says why). */
size_t dd_read_up_to(int fd, void *buf, size_t n);

#endif
