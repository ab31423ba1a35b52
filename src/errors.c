/* One-line errors for the file readers; see errors.h. */
#include "errors.h"

#include <stdarg.h>
#include <stdio.h>

#include "deepdigits/idx.h" /* DD_ERR_LEN */

int dd_fail(char *err, const char *name, const char *fmt, ...) {
    /* At most 200 bytes of the name, so that the problem always fits on the line. */
    int n = snprintf(err, DD_ERR_LEN, "%.200s: ", name);
    if (n < 0 || n >= DD_ERR_LEN) return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err + n, DD_ERR_LEN - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}
