/* Parsers and helpers shared by the subcommands; see cli.h. */
#include "cli.h"

#include <getopt.h>

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *dd_prog = "deepdigits";

int dd_parse_int(const char *name, const char *value, long min, long max, long *out) {
    char *end;
    errno = 0;
    long v = strtol(value, &end, 10);
    if (end == value || *end != '\0' || isspace((unsigned char)value[0]) ||
        (errno && errno != ERANGE)) {
        fprintf(stderr, "%s: --%s '%s': not a whole number\n", dd_prog, name, value);
        return -1;
    }
    if (errno == ERANGE || v < min || v > max) {
        fprintf(stderr, "%s: --%s %s: must be between %ld and %ld\n", dd_prog, name, value, min,
                max);
        return -1;
    }
    *out = v;
    return 0;
}

int dd_parse_float(const char *name, const char *value, double min_exclusive, double max,
                   double *out) {
    char *end;
    errno = 0;
    double v = strtod(value, &end);
    /* strtod also reads hexadecimal ("0x10" is 16), which dd_parse_int refuses: decimal only */
    if (end == value || *end != '\0' || isspace((unsigned char)value[0]) || strpbrk(value, "xX")) {
        fprintf(stderr, "%s: --%s '%s': not a decimal number\n", dd_prog, name, value);
        return -1;
    }
    if (!isfinite(v) && errno != ERANGE) { /* "nan", "inf", "infinity" */
        fprintf(stderr, "%s: --%s '%s': not a finite number\n", dd_prog, name, value);
        return -1;
    }
    /* A finite number beyond a double's range: strtod returns ±HUGE_VAL (an overflow, refused
     * by the range below), or ±0 or a denormal with the number's sign (an underflow: the range
     * check sees a tiny number of that sign, and the float check below refuses it). */
    if (errno == ERANGE && isfinite(v)) v = copysign(DBL_MIN, v);
    if (!(v > min_exclusive && v <= max)) {
        fprintf(stderr, "%s: --%s %s: must be greater than %g and at most %g\n", dd_prog, name,
                value, min_exclusive, max);
        return -1;
    }
    if (fabs(v) < FLT_MIN) { /* it would train, and be written, as 0 or a denormal */
        fprintf(stderr, "%s: --%s %s: too small for a 32-bit float\n", dd_prog, name, value);
        return -1;
    }
    *out = v;
    return 0;
}

int dd_parse_int_list(const char *name, const char *value, long min, long max, int *out, int max_n,
                      int *n) {
    *n = 0;
    for (const char *item = value;; item++) {
        const char *comma = strchr(item, ',');
        const size_t len = comma ? (size_t)(comma - item) : strlen(item);
        char buf[32];
        if (len == 0 || len >= sizeof buf) {
            fprintf(stderr, "%s: --%s '%s': give whole numbers separated by commas\n", dd_prog,
                    name, value);
            return -1;
        }
        if (*n == max_n) {
            fprintf(stderr, "%s: --%s '%s': at most %d items\n", dd_prog, name, value, max_n);
            return -1;
        }
        memcpy(buf, item, len);
        buf[len] = '\0';
        long v;
        if (dd_parse_int(name, buf, min, max, &v) != 0) return -1;
        out[(*n)++] = (int)v;
        if (!comma) return 0;
        item = comma;
    }
}

int dd_parse_device(const char *value, dd_device *out) {
    if (strcmp(value, "cpu") == 0)
        *out = DD_DEVICE_CPU;
    else if (strcmp(value, "gpu") == 0)
        *out = DD_DEVICE_GPU;
    else if (strcmp(value, "auto") == 0)
        *out = DD_DEVICE_AUTO;
    else {
        fprintf(stderr, "%s: --device '%s': must be cpu, gpu or auto\n", dd_prog, value);
        return -1;
    }
    return 0;
}

int dd_parse_engine(const char *value, dd_engine *out) {
    if (dd_engine_parse(value, out) == 0) return 0;
    fprintf(stderr, "%s: --engine '%s': must be auto, fused or layers\n", dd_prog, value);
    return -1;
}

#define FASHION_DIR "/usr/share/datasets/fashion-mnist"

const char *dd_data_dir(const char *data, const char *dataset) {
    if (data && dataset) {
        fprintf(stderr, "%s: give either --data or --dataset, not both\n", dd_prog);
        return NULL;
    }
    if (data && !data[0]) { /* else the loader's line would begin "deepdigits: : cannot open" */
        fprintf(stderr, "%s: --data '': not a folder name\n", dd_prog);
        return NULL;
    }
    if (data) return data;
    if (!dataset || strcmp(dataset, "mnist") == 0) return "data/mnist";
    if (strcmp(dataset, "fashion") == 0) return FASHION_DIR;
    fprintf(stderr, "%s: --dataset '%s': must be mnist or fashion\n", dd_prog, dataset);
    return NULL;
}

dd_dataset_kind dd_data_kind(const char *data, const char *dataset) {
    if (data) return DD_DATASET_CUSTOM;
    if (!dataset || strcmp(dataset, "mnist") == 0) return DD_DATASET_MNIST;
    return strcmp(dataset, "fashion") == 0 ? DD_DATASET_FASHION : DD_DATASET_UNKNOWN;
}

int dd_load_data(const char *dir, dd_mnist *out) {
    char err[DD_ERR_LEN];
    if (dd_mnist_load(dir, out, err) == 0) return 0;
    fprintf(stderr, "%s: %s\n", dd_prog, err);
    return -1;
}

void dd_bad_option(const char *cmd, const char *arg, const struct option *table) {
    const char *name = arg[0] == '-' && arg[1] == '-' ? arg + 2 : NULL;
    if (!name) { /* a short option: getopt may still be inside a group like -xy, so ARG is not it */
        if (optopt > 0 && optopt != '?')
            fprintf(stderr, "%s: unknown option -%c (see --help)\n", cmd, optopt);
        else
            fprintf(stderr, "%s: unknown option %s (see --help)\n", cmd, arg);
        return;
    }
    const char *eq = strchr(name, '=');
    const size_t len = eq ? (size_t)(eq - name) : strlen(name);
    if (len == 0) { /* "--=x": no name at all, which every option would match as a prefix */
        fprintf(stderr, "%s: unknown option %s (see --help)\n", cmd, arg);
        return;
    }
    const struct option *match = NULL;
    char others[256] = "";
    int n = 0;
    for (const struct option *o = table; o->name; o++) {
        if (strncmp(o->name, name, len) != 0) continue;
        if (strlen(o->name) == len) { /* exact: no ambiguity */
            match = o, n = 1;
            break;
        }
        size_t at = strlen(others);
        snprintf(others + at, sizeof others - at, "%s--%s", n ? ", " : "", o->name);
        match = o, n++;
    }
    if (n > 1)
        fprintf(stderr, "%s: --%.*s is ambiguous: %s\n", cmd, (int)len, name, others);
    else if (n == 0)
        fprintf(stderr, "%s: unknown option --%.*s (see --help)\n", cmd, (int)len, name);
    else if (match->has_arg == no_argument)
        fprintf(stderr, "%s: --%s takes no value\n", cmd, match->name);
    else
        fprintf(stderr, "%s: --%s needs a value\n", cmd, match->name);
}
