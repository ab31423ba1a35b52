/* One-line errors for the file readers; see errors.h. */
#include "errors.h"

#include <stdarg.h>
#include <stdio.h>

#include "deepdigits/idx.h" /* DD_ERR_LEN */

const char *dd_with_commas(size_t n, char buf[32]) {
    char digits[32];
    int len = snprintf(digits, sizeof digits, "%zu", n), o = 0;
    for (int i = 0; i < len; i++) {
        if (i > 0 && (len - i) % 3 == 0) buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
    return buf;
}

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
