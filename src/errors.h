/* The one-line errors of the file readers: "NAME: what is wrong", written into an ERR buffer of
 * DD_ERR_LEN bytes, returning -1 so that a reader can `return dd_fail(...)`. */
#ifndef DD_ERRORS_H
#define DD_ERRORS_H

int dd_fail(char *err, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The plural ending for a count in a message: "1 epoch", "2 epochs". */
static inline const char *dd_s(long n) {
    return n == 1 ? "" : "s";
}

#endif
