/* A fresh model's parameters (dd_model_init, model.h) from cuRAND's host generator, twin of
 * kernels/init.cu, which draws the same numbers with the device generator and turns them into
 * weights through the same formulas (draws.h). */
#include <math.h>
#include <stdlib.h>

#include "deepdigits/draws.h"
#include "deepdigits/model.h"
#include "deepdigits/ops.h"
#include "deepdigits/rng.h"

size_t dd_truncated_round(size_t missing) {
    return DD_RNG_PADDED(missing + missing / 16 + 64);
}

/* Whether ROUND's size for MISSING is one the rounds can take: a whole number of Philox blocks,
 * and no more than the first round's (the GPU's scratch). */
int dd_truncated_round_ok(dd_round_size round, size_t missing, size_t first, char *err) {
    const size_t want = round(missing);
    if (want > 0 && want == DD_RNG_PADDED(want) && want <= first) return 0;
    snprintf(err, DD_ERR_LEN,
             "a truncated normal's round of %zu draws for %zu missing values: not a positive "
             "multiple of 4 within the first round's %zu",
             want, missing, first);
    return -1;
}

/* One buffer for the rounds: the first is the largest (dd_truncated_round_ok). */
static int truncated_rounds(float *out, size_t n, double stddev, unsigned long long offset,
                            dd_round_size round, float *z, dd_rng *rng, int *rounds, char *err) {
    size_t have = 0;
    int taken = 0;
    while (have < n) {
        if (dd_truncated_round_ok(round, n - have, round(n), err) != 0) return -1;
        const size_t want = round(n - have);
        if (dd_rng_normal(rng, offset, z, want, err) != 0) return -1;
        offset += want, taken++;
        for (size_t i = 0; i < want && have < n; i++)
            if (dd_within_truncation(z[i])) out[have++] = dd_truncated_normal_value(z[i], stddev);
    }
    if (rounds) *rounds = taken;
    return 0;
}

int dd_truncated_normal(float *out, size_t n, double stddev, unsigned long long offset,
                        dd_round_size round, dd_rng *rng, int *rounds, char *err) {
    float *z = malloc(round(n) * sizeof *z);
    if (!z) {
        snprintf(err, DD_ERR_LEN, "out of memory initializing %zu weights", n);
        return -1;
    }
    const int rc = truncated_rounds(out, n, stddev, offset, round, z, rng, rounds, err);
    free(z);
    return rc;
}

static int uniform(dd_rng *rng, unsigned long long offset, float *out, size_t n, double lo,
                   double hi, char *err) {
    if (dd_rng_uniform(rng, offset, out, n, err) != 0) return -1;
    for (size_t i = 0; i < n; i++) out[i] = dd_uniform_between(out[i], lo, hi);
    return 0;
}

int dd_kernel_draw_of(const dd_init *init, const dd_dense_layout *d, dd_kernel_draw *out,
                      char *err) {
    const double fan_avg = (d->fan_in + d->units) / 2.0;
    switch (init->kind) {
    case DD_INIT_RANDOM_UNIFORM:
        *out = (dd_kernel_draw){.lo = init->min, .hi = init->max};
        return 0;
    case DD_INIT_GLOROT_UNIFORM:
        *out = (dd_kernel_draw){.lo = -sqrt(3.0 / fan_avg), .hi = sqrt(3.0 / fan_avg)};
        return 0;
    case DD_INIT_HE_UNIFORM:
        *out = (dd_kernel_draw){.lo = -sqrt(6.0 / d->fan_in), .hi = sqrt(6.0 / d->fan_in)};
        return 0;
    case DD_INIT_GLOROT_NORMAL:
        *out =
            (dd_kernel_draw){.normal = 1, .stddev = sqrt(1.0 / fan_avg) / DD_TRUNCATED_NORMAL_STD};
        return 0;
    case DD_INIT_HE_NORMAL:
        *out = (dd_kernel_draw){.normal = 1,
                                .stddev = sqrt(2.0 / d->fan_in) / DD_TRUNCATED_NORMAL_STD};
        return 0;
    }
    snprintf(err, DD_ERR_LEN, "unknown initializer %d", (int)init->kind);
    return -1;
}

static int init_kernel(const dd_init *init, dd_rng *rng, int layer, const dd_dense_layout *d,
                       float *kernel, char *err) {
    dd_kernel_draw draw;
    if (dd_kernel_draw_of(init, d, &draw, err) != 0) return -1;
    const unsigned long long offset = DD_RNG_INIT_OFFSET(layer);
    const size_t n = (size_t)d->fan_in * d->units;
    return draw.normal ? dd_truncated_normal(kernel, n, draw.stddev, offset, dd_truncated_round,
                                             rng, NULL, err)
                       : uniform(rng, offset, kernel, n, draw.lo, draw.hi, err);
}

static void fill(float *p, size_t n, float v) {
    for (size_t i = 0; i < n; i++) p[i] = v;
}

void dd_model_init_constants(const dd_layout *layout, float *params) {
    for (int l = 0; l < layout->n_dense; l++) {
        const dd_dense_layout *d = &layout->dense[l];
        fill(params + d->bias, d->units, 0.0f);
        if (d->has_bn) {
            fill(params + d->gamma, d->units, 1.0f);
            fill(params + d->beta, d->units, 0.0f);
            fill(params + d->moving_mean, d->units, 0.0f);
            fill(params + d->moving_var, d->units, 1.0f);
        }
    }
}

int dd_model_init(const dd_model_config *cfg, const dd_layout *layout, unsigned long long seed,
                  float *params, char *err) {
    dd_rng *rng = dd_rng_create(seed, err);
    if (!rng) return -1;
    dd_model_init_constants(layout, params);
    int rc = 0;
    for (int l = 0; l < layout->n_dense && rc == 0; l++)
        rc = init_kernel(&cfg->init, rng, l, &layout->dense[l], params + layout->dense[l].kernel,
                         err);
    dd_rng_destroy(rng);
    return rc;
}
