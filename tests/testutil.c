/* Shared test helpers; see testutil.h. */
#include "testutil.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deepdigits/train.h"

static int failures;

void dd_check(int ok, const char *file, int line, const char *expr, const char *fmt, ...) {
    if (ok) return;
    failures++;
    fprintf(stderr, "FAIL %s:%d: %s: ", file, line, expr);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int dd_test_failures(void) {
    return failures;
}

int dd_test_finish(const char *name) {
    if (failures)
        printf("%s: %d failure(s)\n", name, failures);
    else
        printf("%s: ok\n", name);
    return failures > 0;
}

int dd_close(double a, double b, double atol, double rtol) {
    return isfinite(a) && isfinite(b) && fabs(a - b) <= atol + rtol * fabs(b);
}

double dd_rel_error(const float *a, const float *b, size_t n) {
    double diff = 0, ref = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(a[i]) || !isfinite(b[i])) return INFINITY;
        diff += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        ref += (double)b[i] * b[i];
    }
    if (ref == 0) return diff == 0 ? 0 : INFINITY;
    return sqrt(diff / ref);
}

const char *dd_test_mnist_dir(void) {
    const char *dir = getenv("DD_MNIST_DIR");
    if (!dir || !*dir) dir = "data/mnist";
    static const char *names[] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                  "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
    for (int i = 0; i < 4; i++) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s.gz", dir, names[i]);
        if (stat(path, &st) != 0) {
            snprintf(path, sizeof path, "%s/%s", dir, names[i]);
            if (stat(path, &st) != 0) return NULL;
        }
    }
    return dir;
}

dd_mnist dd_test_blank_data(int images) {
    dd_mnist m;
    m.train.count = m.test.count = images;
    m.train.pixels = calloc((size_t)images, DD_IMAGE_PIXELS);
    m.test.pixels = calloc((size_t)images, DD_IMAGE_PIXELS);
    m.train.labels = calloc((size_t)images, 1);
    m.test.labels = calloc((size_t)images, 1);
    return m;
}

void dd_test_load_mnist(dd_mnist *out) {
    const char *dir = dd_test_mnist_dir();
    char err[DD_ERR_LEN];
    if (!dir) {
        fprintf(stderr, "MNIST not found: run scripts/fetch-mnist.sh (or set DD_MNIST_DIR)\n");
        exit(1);
    }
    if (dd_mnist_load(dir, out, err) != 0) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
}

const char *dd_test_tmpdir(void) {
    static char path[256];
    if (path[0]) return path;
    const char *base = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/ddtest.XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(path)) {
        perror("mkdtemp");
        exit(1);
    }
    return path;
}

dd_model_config dd_test_network(int n_hidden, int units, dd_bn_place bn, dd_init init) {
    dd_model_config cfg = dd_model_config_lab();
    cfg.n_hidden = n_hidden;
    for (int l = 0; l < n_hidden; l++) cfg.units[l] = units;
    cfg.bn = bn;
    cfg.init = init;
    return cfg;
}

dd_backend_setup dd_test_setup(const dd_model_config *cfg, const dd_mnist *data, int train_count,
                               int batch, dd_engine engine, int no_graphs) {
    dd_backend_setup setup = {.cfg = *cfg,
                              .train = &data->train,
                              .train_count = train_count,
                              .test = &data->test,
                              .max_batch = batch,
                              .diagnostics = 1,
                              .no_graphs = no_graphs,
                              .engine = engine};
    dd_standardize_table(&data->train, train_count, DD_STANDARDIZE_GLOBAL, setup.table, NULL, NULL);
    return setup;
}

dd_backend *dd_test_create(dd_device device, const dd_backend_setup *setup) {
    char err[DD_ERR_LEN];
    dd_backend *b = dd_backend_create(device, setup, err);
    if (!b) {
        fprintf(stderr, "cannot create the %s backend: %s\n",
                device == DD_DEVICE_GPU ? "gpu" : "cpu", err);
        exit(1);
    }
    return b;
}

dd_backend *dd_test_backend(dd_device device, const dd_model_config *cfg, const dd_mnist *data,
                            int train_count, int batch, dd_engine engine, int no_graphs) {
    const dd_backend_setup setup = dd_test_setup(cfg, data, train_count, batch, engine, no_graphs);
    return dd_test_create(device, &setup);
}

void fill_uniform(float *x, size_t n, float lo, float hi, unsigned *state) {
    for (size_t i = 0; i < n; i++) {
        *state = *state * 1664525u + 1013904223u;
        x[i] = lo + (hi - lo) * (float)(*state >> 8) / 16777216.0f;
    }
}

double dd_norm(const float *x, size_t n) {
    double sq = 0;
    for (size_t i = 0; i < n; i++) sq += (double)x[i] * x[i];
    return sqrt(sq);
}

void check_near(const char *name, const float *got, const float *want, size_t n, double tol,
                double scale) {
    double diff = 0, worst_diff = -1;
    size_t worst = 0;
    for (size_t i = 0; i < n; i++) {
        const double d = isfinite(got[i]) ? fabs((double)got[i] - want[i]) : INFINITY;
        diff += d * d;
        if (d > worst_diff) worst_diff = d, worst = i;
    }
    const double norm = dd_norm(want, n), ref = norm > scale ? norm : scale;
    const double err = diff == 0 ? 0 : sqrt(diff) / ref; /* inf when anything is not finite */
    CHECK(err <= tol, "%s: error %.3g > %.1g relative to %.3g (worst [%zu]: got %.9g, want %.9g)",
          name, err, tol, ref, worst, got[worst], want[worst]);
}

void check_rel(const char *name, const float *got, const float *want, size_t n, double tol) {
    check_near(name, got, want, n, tol, 0);
}
