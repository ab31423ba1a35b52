/* Planning the fused engine's launch (kernels/fused.h): which networks fit, the launch shape, and
 * where each buffer lives. Plain C, so the CPU tests plan exactly what the GPU runs. */
#include <stdio.h>
#include <string.h>

#include "deepdigits/idx.h"
#include "fused.h"

#define ROUND_UP(n, m) (((n) + (m)-1) / (m) * (m))

/* The first layer's width rounded up to the kernel's HMAX (32 or 64: the transposing butterfly
 * works on groups of 32 units) and DD_FUSED_PIX pixels a thread, in whole warps. At 64 units the
 * 128 weights a thread fill its register budget and ptxas spills some: correct, but slower. */
static void launch_shape(dd_fused_plan *p, int first_width) {
    p->hmax = first_width <= 32 ? 32 : 64;
    p->pix = DD_FUSED_PIX;
    p->threads = ROUND_UP((p->inputs + p->pix - 1) / p->pix, 32);
    p->warps = p->threads / 32;
}

static int check_fits(const dd_model_config *cfg, int inputs, int max_batch, char *err) {
    if (max_batch < 1 || max_batch > DD_FUSED_MAX_BATCH) {
        snprintf(err, DD_ERR_LEN, "the fused engine takes batches of 1..%d, not %d",
                 DD_FUSED_MAX_BATCH, max_batch);
        return -1;
    }
    if (cfg->n_hidden < 1) {
        snprintf(err, DD_ERR_LEN, "the fused engine needs at least one hidden layer");
        return -1;
    }
    for (int l = 0; l < cfg->n_hidden; l++)
        if (cfg->units[l] > DD_FUSED_MAX_UNITS) {
            snprintf(err, DD_ERR_LEN,
                     "the fused engine takes hidden layers up to %d units; layer %d has %d",
                     DD_FUSED_MAX_UNITS, l + 1, cfg->units[l]);
            return -1;
        }
    if (inputs < 1) {
        snprintf(err, DD_ERR_LEN, "the fused engine needs images of at least one pixel");
        return -1;
    }
    return 0;
}

/* Carves N floats at *AT. */
static int take(int *at, int n) {
    int here = *at;
    *at += n;
    return here;
}

/* Per-layer activation buffers, (B x units) each; BN layers get their extra ones. */
static int plan_acts(dd_fused_plan *p, const dd_layout *L, int B) {
    int at = 0, widest = 0;
    for (int l = 0; l < L->n_dense; l++) {
        const int u = L->dense[l].units, n = B * u;
        widest = u > widest ? u : widest;
        p->z[l] = take(&at, n);
        p->act[l] = take(&at, n);
        if (!L->dense[l].has_bn) continue;
        p->bn_out[l] = take(&at, n);
        p->xhat[l] = take(&at, n);
        p->mean[l] = take(&at, u);
        p->var[l] = take(&at, u);
    }
    p->grad[0] = take(&at, B * widest);
    p->grad[1] = take(&at, B * widest);
    return at;
}

int dd_fused_plan_build(const dd_model_config *cfg, int inputs, int max_batch, size_t shared_limit,
                        dd_fused_plan *p, char *err) {
    dd_layout L;
    memset(p, 0, sizeof *p);
    if (check_fits(cfg, inputs, max_batch, err) != 0) return -1;
    if (dd_layout_build(cfg, &L, err) != 0) return -1;
    p->inputs = inputs;
    p->n_dense = L.n_dense;
    p->activation = (int)cfg->activation;
    p->bn = (int)cfg->bn;
    p->max_batch = max_batch;
    for (int l = 0; l < L.n_dense; l++) {
        const dd_dense_layout *d = &L.dense[l];
        p->units[l] = d->units;
        p->fan_in[l] = l == 0 ? inputs : d->fan_in;
        p->kernel[l] = (int)d->kernel, p->bias[l] = (int)d->bias;
        p->gamma[l] = (int)d->gamma, p->beta[l] = (int)d->beta;
        p->moving_mean[l] = (int)d->moving_mean, p->moving_var[l] = (int)d->moving_var;
    }
    if (p->kernel[0] != 0) {
        snprintf(err, DD_ERR_LEN, "the fused engine expects the first kernel first in the layout");
        return -1;
    }
    p->n_params = (int)L.n_params;
    launch_shape(p, cfg->units[0]);
    const int bound = DD_FUSED_THREADS;
    if (p->threads > bound) {
        snprintf(err, DD_ERR_LEN, "the fused engine takes images of up to %d pixels, not %d",
                 bound * p->pix, inputs);
        return -1;
    }

    /* The fixed shared part, in 8-byte units' worth of floats so the doubles stay aligned. */
    int at = 0;
    p->sm_red = take(&at, 2 * p->warps);
    p->sm_table = take(&at, 256);
    p->sm_partial = take(&at, 2 * DD_FUSED_CHUNK * p->warps * p->hmax);
    p->sm_rows = take(&at, 2 * max_batch); /* this step's and the next one's */
    p->sm_labels = take(&at, 2 * max_batch);
    p->sm_loss = take(&at, max_batch);
    p->sm_hits = take(&at, max_batch);
    p->sm_end = at;
    const size_t fixed = (size_t)at * sizeof(float);

    /* Then the later layers' parameters and the activations, each in shared memory if it still
     * fits, parameters first: they are read by every sample. */
    p->rest = inputs * cfg->units[0];
    const size_t rest_bytes = (size_t)(p->n_params - p->rest) * sizeof(float);
    p->acts_floats = plan_acts(p, &L, max_batch);
    const size_t acts_bytes = (size_t)p->acts_floats * sizeof(float);
    if (fixed > shared_limit) {
        snprintf(err, DD_ERR_LEN,
                 "the fused engine needs %zu bytes of shared memory at batch %d; "
                 "this GPU has %zu",
                 fixed, max_batch, shared_limit);
        return -1;
    }
    p->rest_shared = fixed + rest_bytes <= shared_limit;
    size_t used = fixed + (p->rest_shared ? rest_bytes : 0);
    p->acts_shared = used + acts_bytes <= shared_limit;
    p->shared_bytes = used + (p->acts_shared ? acts_bytes : 0);
    return 0;
}
