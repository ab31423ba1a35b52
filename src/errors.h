/* The one-line errors of the file readers: "NAME: what is wrong", written into an ERR buffer of
 * DD_ERR_LEN bytes, returning -1 so that a reader can `return dd_fail(...)`; and the two helpers
 * of counts in messages and reports. */
#ifndef DD_ERRORS_H
#define DD_ERRORS_H

#include <stddef.h>

int dd_fail(char *err, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The plural ending for a count in a message: "1 epoch", "2 epochs". */
static inline const char *dd_s(long n) {
    return n == 1 ? "" : "s";
}

/* A count with thousands separators, as Keras's summary writes it: 19885 -> "19,885". */
const char *dd_with_commas(size_t n, char buf[32]);

#endif
