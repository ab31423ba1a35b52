/* Small helpers shared by the tests: a failure counter, tolerant comparisons that never let a
 * NaN pass, and access to the real MNIST folder. Each test's main returns dd_test_finish(). */
#ifndef DD_TESTUTIL_H
#define DD_TESTUTIL_H

#include <stddef.h>

#include "deepdigits/backend.h"
#include "deepdigits/idx.h"

#define DD_TEST_SKIP 77 /* CTest's SKIP_RETURN_CODE for every test */

/* Records a failure (printing file:line and the message) when COND is false. */
#define CHECK(cond, ...) dd_check((cond), __FILE__, __LINE__, #cond, __VA_ARGS__)

void dd_check(int ok, const char *file, int line, const char *expr, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
int dd_test_failures(void);
/* Prints "name: ok" or "name: N failure(s)" and returns 1 if any check failed, else 0: main's
 * return (a raw count of 256 would read as success, and 77 as skipped). */
int dd_test_finish(const char *name);

/* |a - b| <= atol + rtol*|b|, with both finite. */
int dd_close(double a, double b, double atol, double rtol);
/* ||a - b|| / ||b|| over n floats; +inf when any element is not finite. */
double dd_rel_error(const float *a, const float *b, size_t n);
/* ||x|| over n floats, in double. */
double dd_norm(const float *x, size_t n);

/* Uniform floats in [lo, hi) from a fixed LCG: reproducible inputs without the library. */
void fill_uniform(float *x, size_t n, float lo, float hi, unsigned *state);
/* Checks ||got - want|| / ||want|| <= tol and reports NAME with the worst element otherwise. */
void check_rel(const char *name, const float *got, const float *want, size_t n, double tol);
/* The same relative to max(||want||, SCALE): for a result that cancels to much less than the
 * terms it is made of (a sum that is 0 in exact arithmetic), whose rounding is then measured
 * against the terms' size SCALE. */
void check_near(const char *name, const float *got, const float *want, size_t n, double tol,
                double scale);

/* The MNIST folder (env DD_MNIST_DIR, else data/mnist); NULL when its files are missing. */
const char *dd_test_mnist_dir(void);
/* Loads the real MNIST into OUT, or prints why it cannot and exits 1: the tests that need it fail
 * (not skip) without it, since .ci/run fetches it first. */
void dd_test_load_mnist(dd_mnist *out);
/* IMAGES blank training and test images (all 0, label 0), for a backend that must hold data it
 * never reads; free with dd_mnist_free. */
dd_mnist dd_test_blank_data(int images);

/* The lab's network with N_HIDDEN hidden layers of UNITS, BN at BN, kernels from INIT. */
dd_model_config dd_test_network(int n_hidden, int units, dd_bn_place bn, dd_init init);

/* The setup of a backend for CFG, on the first TRAIN_COUNT images of DATA (standardized by their
 * own mean and std), batches up to BATCH, diagnostics on. */
dd_backend_setup dd_test_setup(const dd_model_config *cfg, const dd_mnist *data, int train_count,
                               int batch, dd_engine engine, int no_graphs);
/* The backend of SETUP on DEVICE; exits 1 saying why if it cannot start. */
dd_backend *dd_test_create(dd_device device, const dd_backend_setup *setup);
/* dd_test_create(DEVICE, dd_test_setup(...)). */
dd_backend *dd_test_backend(dd_device device, const dd_model_config *cfg, const dd_mnist *data,
                            int train_count, int batch, dd_engine engine, int no_graphs);

/* The path of a fresh temporary directory for this test (removed by the OS, not by us). */
const char *dd_test_tmpdir(void);

#endif
