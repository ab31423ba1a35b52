/* Planning the fused engine's launch (kernels/fused.h): which networks fit, the launch shape, and
 * where each buffer lives. Plain C, so the CPU tests plan exactly what the GPU runs. */
#include <stdio.h>
#include <string.h>

#include "deepdigits/idx.h"
#include "fused.h"

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
    if (inputs != DD_IMAGE_PIXELS) {
        snprintf(err, DD_ERR_LEN, "the fused engine takes 28x28 images (%d pixels), not %d",
                 DD_IMAGE_PIXELS, inputs);
        return -1;
    }
    return 0;
}

/* Whether a network of CFG at batch MAX_BATCH has the warp step's shape (batch 1, one hidden layer
 * of up to WIDTH units, no BN); the plan adds: on one SM, everything in shared memory. */
static int warp_step_shape(const dd_model_config *cfg, int max_batch, int width) {
    return max_batch == 1 && cfg->n_hidden == 1 && cfg->bn == DD_BN_NONE && cfg->units[0] <= width;
}

int dd_fused_pipe_takes(const dd_model_config *cfg, int batch) {
    return warp_step_shape(cfg, batch, DD_FUSED_PIPE_MAX_UNITS);
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
    for (int k = 0; k < 3; k++) p->grad[k] = take(&at, B * widest);
    return at;
}

/* Where the batch's images, the later layers' parameters and the activations go: all in shared
 * memory if they fit, preferring (in this order) the images twice over (the next batch staged
 * during this one), then once, then the parameters, then the activations; the rest goes to
 * global memory. When not even one batch of images fits, they go through in blocks. */
static int place(dd_fused_plan *p, size_t fixed, size_t rest, size_t acts, size_t limit,
                 char *err) {
    const size_t image = (size_t)p->block_pixels * sizeof(float);
    const size_t batch = image * (size_t)p->max_batch;
    static const struct {
        int twice, rest, acts;
    } tries[] = {{1, 1, 1}, {0, 1, 1}, {0, 1, 0}, {0, 0, 0}};
    for (size_t k = 0; k < sizeof tries / sizeof tries[0]; k++) {
        const size_t need = fixed + batch * (tries[k].twice ? 2 : 1) + (tries[k].rest ? rest : 0) +
                            (tries[k].acts ? acts : 0);
        if (need > limit) continue;
        p->x_samples = p->max_batch, p->x_double = tries[k].twice;
        p->rest_shared = tries[k].rest, p->acts_shared = tries[k].acts;
        p->shared_bytes = need;
        return 0;
    }
    p->x_double = p->acts_shared = 0;
    p->rest_shared = fixed + DD_FUSED_CHUNK * image + rest <= limit;
    const size_t left = limit > fixed + (p->rest_shared ? rest : 0)
                            ? limit - fixed - (p->rest_shared ? rest : 0)
                            : 0;
    p->x_samples = (int)(left / image);
    if (p->x_samples < 1) {
        snprintf(err, DD_ERR_LEN,
                 "the fused engine needs %zu bytes of shared memory at batch %d; this GPU has %zu",
                 fixed + image, p->max_batch, limit);
        return -1;
    }
    p->shared_bytes = fixed + image * (size_t)p->x_samples + (p->rest_shared ? rest : 0);
    return 0;
}

/* Lanes per channel of a BN layer of U units at batch B on WARPS warps: as many as the batch has
 * samples (up to the warp's 32), then halved until every channel has its group in one round. A
 * round's chain (the Dense output, two sums across the group's lanes, two divisions, the
 * activation; as much backward) costs the same whatever the group's size, while a lane's share of
 * the samples grows only as the rounds shrink: at the lab's 25 channels on 14 warps, batch 32
 * runs in one round of 16 lanes, two samples a lane, where a warp a channel took two rounds. */
static int bn_lanes(int u, int B, int warps) {
    int lanes = 1;
    while (lanes < 32 && lanes < B) lanes *= 2;
    while (lanes > 1 && warps * (32 / lanes) < u) lanes /= 2;
    return lanes;
}

/* Plans on CLUSTER blocks, CHUNK samples a first-layer round; a cluster must have everything in
 * shared memory (its blocks compute the small layers alike, each in its own). */
static int plan_chunk(const dd_model_config *cfg, int max_batch, size_t shared_limit, int cluster,
                      int chunk, dd_fused_plan *p, char *err) {
    dd_layout L;
    memset(p, 0, sizeof *p);
    if (dd_layout_build(cfg, &L, err) != 0) return -1;
    p->n_dense = L.n_dense;
    p->activation = (int)cfg->activation;
    p->bn = (int)cfg->bn;
    p->max_batch = max_batch;
    for (int l = 0; l < L.n_dense; l++) {
        const dd_dense_layout *d = &L.dense[l];
        p->units[l] = d->units;
        p->by_units[l] = dd_fused_divisor_of(d->units);
        p->fan_in[l] = d->fan_in;
        p->kernel[l] = (int)d->kernel, p->bias[l] = (int)d->bias;
        p->gamma[l] = (int)d->gamma, p->beta[l] = (int)d->beta;
        p->moving_mean[l] = (int)d->moving_mean, p->moving_var[l] = (int)d->moving_var;
    }
    if (p->kernel[0] != 0) {
        snprintf(err, DD_ERR_LEN, "the fused engine expects the first kernel first in the layout");
        return -1;
    }
    p->n_params = (int)L.n_params;
    p->upl = cfg->units[0] <= 32 ? 1 : 2;
    p->warps = DD_FUSED_WARPS;
    p->threads = DD_FUSED_THREADS;
    p->cluster = cluster;
    p->block_pixels = DD_IMAGE_PIXELS / cluster;
    p->span = DD_FUSED_SPAN_OF(cluster);
    p->chunk = chunk;

    /* The fixed shared part, in floats; the doubles first so that they stay aligned, and the
     * images after it on a 16-byte boundary (they are read four floats at a time). */
    int at = 0;
    /* A double per warp (the pipelined step's has one more) and the cluster's sum. */
    p->sm_red = take(&at, 2 * (p->warps + 2));
    p->sm_clocks = take(&at, 2 * (DD_FUSED_PHASES + 1)); /* int64, as aligned as sm_red */
    p->sm_table = take(&at, 256);
    p->sm_partial = take(&at, 2 * chunk * p->warps * 32 * p->upl);
    p->sm_labels = take(&at, 2 * max_batch); /* this step's and the next one's */
    p->sm_loss = take(&at, max_batch);
    p->sm_hits = take(&at, max_batch);
    p->sm_x = (at + 3) / 4 * 4;
    const size_t fixed = (size_t)p->sm_x * sizeof(float);

    p->rest = DD_IMAGE_PIXELS * cfg->units[0];
    p->acts_floats = plan_acts(p, &L, max_batch);
    const size_t rest_bytes = (size_t)(p->n_params - p->rest) * sizeof(float);
    if (place(p, fixed, rest_bytes, (size_t)p->acts_floats * sizeof(float), shared_limit, err) != 0)
        return -1;
    if (cluster > 1 && !(p->rest_shared && p->acts_shared && p->x_samples == max_batch)) {
        snprintf(err, DD_ERR_LEN,
                 "the fused engine on %d SMs needs the batch's images, the parameters and the "
                 "activations in shared memory; at batch %d they do not fit",
                 cluster, max_batch);
        return -1;
    }
    p->on_chip = p->rest_shared && p->acts_shared;
    for (int l = 0; l < L.n_dense - 1 && cfg->bn != DD_BN_NONE; l++)
        p->bn_lanes[l] = dd_fused_divisor_of(bn_lanes(cfg->units[l], max_batch, p->warps));
    p->warp_step = warp_step_shape(cfg, max_batch, 32) && cluster == 1 && p->x_double && p->on_chip;
    p->g_grad = p->acts_shared ? 0 : p->acts_floats;
    p->scratch_floats =
        p->g_grad + (p->x_samples < max_batch ? DD_IMAGE_PIXELS * cfg->units[0] : 0);
    return 0;
}

/* The plan on CLUSTER blocks with the largest round of the first layer that shared memory holds
 * beside everything the smallest round's plan keeps there (the images as often, the parameters
 * and activations where they were): a round fewer is a barrier fewer, the same sums in the same
 * order. Rounds beyond the batch (or the images' block) would not be fewer. */
static int plan_on(const dd_model_config *cfg, int max_batch, size_t shared_limit, int cluster,
                   dd_fused_plan *p, char *err) {
    if (plan_chunk(cfg, max_batch, shared_limit, cluster, DD_FUSED_CHUNK, p, err) != 0) return -1;
    for (int chunk = DD_FUSED_MAX_CHUNK; chunk > DD_FUSED_CHUNK; chunk /= 2) {
        char why[DD_ERR_LEN];
        dd_fused_plan q;
        if (chunk / 2 >= p->x_samples) continue;
        if (plan_chunk(cfg, max_batch, shared_limit, cluster, chunk, &q, why) == 0 &&
            q.x_samples == p->x_samples && q.x_double == p->x_double &&
            q.rest_shared == p->rest_shared && q.acts_shared == p->acts_shared) {
            *p = q;
            return 0;
        }
    }
    return 0;
}

int dd_fused_plan_build(const dd_model_config *cfg, int inputs, int max_batch, size_t shared_limit,
                        int sms, dd_fused_plan *p, char *err) {
    if (check_fits(cfg, inputs, max_batch, err) != 0) return -1;
    if (sms != 0 && sms != 1 && sms != 2 && sms != DD_FUSED_MAX_CLUSTER) {
        snprintf(err, DD_ERR_LEN, "the fused engine runs a model on 1, 2 or %d SMs, not %d",
                 DD_FUSED_MAX_CLUSTER, sms);
        return -1;
    }
    if (sms > 0) return plan_on(cfg, max_batch, shared_limit, sms, p, err);
    if (max_batch >= DD_FUSED_CLUSTER_MIN_BATCH &&
        plan_on(cfg, max_batch, shared_limit, DD_FUSED_RULE_CLUSTER, p, err) == 0)
        return 0;
    return plan_on(cfg, max_batch, shared_limit, 1, p, err);
}

int dd_fused_plan_pipe(dd_fused_plan *p, size_t shared_limit, char *err) {
    if (!p->warp_step || p->units[0] > DD_FUSED_PIPE_MAX_UNITS) {
        snprintf(err, DD_ERR_LEN,
                 "the pipelined warp step takes batch 1, one hidden layer of up to %d units "
                 "without BN, on one SM",
                 DD_FUSED_PIPE_MAX_UNITS);
        return -1;
    }
    const int at = ((int)(p->shared_bytes / sizeof(float)) + 3) / 4 * 4; /* images: 16 bytes */
    const size_t need = (size_t)(at + DD_FUSED_PIPE_FLOATS) * sizeof(float);
    if (need > shared_limit) {
        snprintf(err, DD_ERR_LEN,
                 "the pipelined warp step needs %zu bytes of shared memory; this GPU has %zu", need,
                 shared_limit);
        return -1;
    }
    p->sm_pipe = at;
    p->shared_bytes = need;
    p->threads = DD_FUSED_PIPE_THREADS;
    p->warp_pipe = 1;
    return 0;
}

int dd_fused_run_built(const dd_fused_plan *p, const dd_fused_run *run, char *err) {
    if (run->phase_clocks && p->upl != 1) {
        snprintf(err, DD_ERR_LEN,
                 "the fused engine's phase clocks take first layers up to 32 units");
        return -1;
    }
    return 0;
}

/* The phases fused_body.cuh, fused_warp_step.cuh and fused_warp_pipe.cuh time (their phase_done
 * calls). */
void dd_fused_phase_name(const dd_fused_plan *p, int phase, char *out, size_t size) {
    const int n = p->n_dense;
    out[0] = '\0';
    if (p->warp_pipe) {
        if (phase == 0)
            snprintf(out, size, "warp 14: the small layers, their gradients and updates");
        else if (phase == 1)
            snprintf(out, size,
                     "warps 0-13 beyond that: the step before's update, the next products");
        return;
    }
    if (p->warp_step) {
        if (phase == 0)
            snprintf(out, size, "the step before's kernel updates, then the first-layer products");
        else if (phase == 1)
            snprintf(out, size, "warp 0: the small layers, their gradients, the biases' updates");
        return;
    }
    if (phase == 0)
        snprintf(out, size, "the first layer forward (the step before's totals, staging)");
    else if (phase == 1 && p->bn != DD_BN_NONE)
        snprintf(out, size, "BN of layer 1 forward");
    else if (phase > 1 && phase <= n)
        snprintf(out, size, "layer %d forward%s", phase, phase < n && p->bn ? " with BN" : "");
    else if (phase > n && phase < 2 * n)
        snprintf(out, size, "layer %d backward%s", 2 * n + 1 - phase,
                 phase == n + 1 ? " (and the loss)" : "");
    else if (phase == 2 * n)
        snprintf(out, size, "the first layer's update");
}
