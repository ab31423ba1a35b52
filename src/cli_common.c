/* Parsers and helpers shared by the subcommands; see cli.h. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int dd_parse_int(const char *name, const char *value, long min, long max, long *out) {
    char *end;
    errno = 0;
    long v = strtol(value, &end, 10);
    if (errno || end == value || *end != '\0') {
        fprintf(stderr, "deepdigits: --%s '%s': not a whole number\n", name, value);
        return -1;
    }
    if (v < min || v > max) {
        fprintf(stderr, "deepdigits: --%s %ld: must be between %ld and %ld\n", name, v, min, max);
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
    if (errno || end == value || *end != '\0' || !isfinite(v)) {
        fprintf(stderr, "deepdigits: --%s '%s': not a finite number\n", name, value);
        return -1;
    }
    if (!(v > min_exclusive && v <= max)) {
        fprintf(stderr, "deepdigits: --%s %s: must be greater than %g and at most %g\n", name,
                value, min_exclusive, max);
        return -1;
    }
    *out = v;
    return 0;
}

int dd_parse_device(const char *value, dd_device *out) {
    if (strcmp(value, "cpu") == 0)
        *out = DD_DEVICE_CPU;
    else if (strcmp(value, "gpu") == 0)
        *out = DD_DEVICE_GPU;
    else if (strcmp(value, "auto") == 0)
        *out = DD_DEVICE_AUTO;
    else {
        fprintf(stderr, "deepdigits: --device '%s': must be cpu, gpu or auto\n", value);
        return -1;
    }
    return 0;
}

int dd_parse_engine(const char *value, dd_engine *out) {
    if (dd_engine_parse(value, out) == 0) return 0;
    fprintf(stderr, "deepdigits: --engine '%s': must be auto, fused or layers\n", value);
    return -1;
}

#define FASHION_DIR "/usr/share/datasets/fashion-mnist"

const char *dd_data_dir(const char *data, const char *dataset) {
    if (data && dataset) {
        fprintf(stderr, "deepdigits: give either --data or --dataset, not both\n");
        return NULL;
    }
    if (data) return data;
    if (!dataset || strcmp(dataset, "mnist") == 0) return "data/mnist";
    if (strcmp(dataset, "fashion") == 0) return FASHION_DIR;
    fprintf(stderr, "deepdigits: --dataset '%s': must be mnist or fashion\n", dataset);
    return NULL;
}

int dd_load_data(const char *dir, dd_mnist *out) {
    char err[DD_ERR_LEN];
    if (dd_mnist_load(dir, out, err) == 0) return 0;
    fprintf(stderr, "deepdigits: %s\n", err);
    return -1;
}
