/* The CUDA backend: the network of src/network.c on device buffers carved in the same layout.
 * The datasets are uploaded once as uint8; the loss and accuracy sums stay on the device until
 * take_sums. The layers engine's training step, captured as a CUDA graph, is in
 * backend_cuda_graph.c; with the fused engine (kernels/fused.h) training steps are queued
 * instead and run as one launch when anything needs their results; everything else is shared. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_cuda.h"
#include "kernels.h"
#include "deepdigits/backend.h"
#include "deepdigits/gpu.h"
#include "deepdigits/network.h"
#include "deepdigits/ops.h"
#include "deepdigits/train.h"
#include "fused.h"
#include "gpu_check.h"
#include "layer.h"

/* A copy in the backend's stream order, finished before it returns. (The stream does not
 * synchronize with the legacy default stream, so a plain cudaMemcpy could overtake queued work.) */
static int copy(cuda_backend *b, void *dst, const void *src, size_t bytes,
                enum cudaMemcpyKind kind) {
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, kind, b->gpu.stream), b->gpu.err);
    CUDA_CHECK(cudaStreamSynchronize(b->gpu.stream), b->gpu.err);
    return 0;
}

/* Hands the GPU's error line to the caller's buffer. */
static int fail(cuda_backend *b, char *err) {
    snprintf(err, DD_ERR_LEN, "%s", b->gpu.err);
    return -1;
}

/* Launches the queued fused steps, if any. */
static int flush(cuda_backend *b) {
    if (b->queued.count == 0) return 0;
    dd_fused_run run = {.params = b->params,
                        .pixels = b->train_pixels,
                        .labels = b->train_labels,
                        .order = b->order,
                        .table = b->table,
                        .first = b->queued.first,
                        .count = b->queued.count,
                        .batch = b->queued.batch,
                        .lr = b->queued.lr,
                        .diagnostics = b->setup.diagnostics,
                        .phase_clocks = b->setup.phase_clocks,
                        .sums = b->sums,
                        .scratch = b->fused_scratch};
    b->queued.count = 0;
    return dd_fused_train_gpu(&b->plan, &run, b->gpu.stream, b->gpu.err);
}

/* A fused step joins the queue when it continues it (next in the order, same rate, a full batch
 * or the partial one that ends it); otherwise the queue is launched and starts again. */
static int fused_train_step(dd_backend *base, int first, int count, float lr, char *err) {
    cuda_backend *b = (cuda_backend *)base;
    if (dd_backend_check_step(&b->setup, first, count, err) != 0) return -1;
    fused_queue *q = &b->queued;
    const int continues = q->count > 0 && !q->closed && first == q->first + q->count &&
                          lr == q->lr && count <= q->batch;
    if (!continues) {
        if (flush(b) != 0) return fail(b, err);
        q->first = first, q->count = 0, q->batch = count, q->lr = lr, q->closed = 0;
    }
    q->count += count;
    q->closed = count < q->batch;
    b->samples += count;
    b->steps++;
    return 0;
}

static int cuda_train_step(dd_backend *base, int first, int count, float lr, char *err) {
    cuda_backend *b = (cuda_backend *)base;
    if (dd_backend_check_step(&b->setup, first, count, err) != 0) return -1;
    if (dd_cuda_layers_step(b, first, count, lr) != 0) return fail(b, err);
    b->next_first = first + count;
    b->steps++;
    b->samples += count;
    return 0;
}

static int cuda_set_order(dd_backend *base, const uint32_t *order, int n, char *err) {
    cuda_backend *b = (cuda_backend *)base;
    if (flush(b) != 0) return fail(b, err); /* the queued steps come first */
    if (dd_backend_check_order(&b->setup, n, err) != 0) return -1;
    if (copy(b, b->order, order, (size_t)n * sizeof *order, cudaMemcpyHostToDevice) != 0 ||
        dd_cuda_move_counter(b, 0) != 0)
        return fail(b, err);
    return 0;
}

/* The epoch's order drawn on the device: the numbers dd_shuffle draws on the host. */
static int cuda_shuffle(dd_backend *base, unsigned long long seed, int epoch, char *err) {
    cuda_backend *b = (cuda_backend *)base;
    if (flush(b) != 0) return fail(b, err); /* the queued steps come first */
    if (!b->shuffle || b->shuffle_seed != seed) {
        dd_shuffle_gpu_close(b->shuffle);
        b->shuffle = dd_shuffle_gpu_open(b->setup.train_count, seed, &b->gpu);
        b->shuffle_seed = seed;
        if (!b->shuffle) return fail(b, err);
    }
    if (dd_shuffle_gpu(b->order, epoch, b->shuffle, &b->gpu) != 0 ||
        dd_cuda_move_counter(b, 0) != 0)
        return fail(b, err);
    return 0;
}

static int cuda_take_sums(dd_backend *base, dd_sums *out, char *err) {
    cuda_backend *b = (cuda_backend *)base;
    if (flush(b) != 0) return fail(b, err); /* the queued steps come first */
    double sums[DD_N_SUMS];
    CUDA_CHECK(cudaMemcpyAsync(sums, b->sums, sizeof sums, cudaMemcpyDeviceToHost, b->gpu.stream),
               err);
    CUDA_CHECK(cudaMemsetAsync(b->sums, 0, sizeof sums, b->gpu.stream), err);
    CUDA_CHECK(cudaStreamSynchronize(b->gpu.stream), err);
    memset(out, 0, sizeof *out);
    out->loss_sum = sums[DD_SUM_LOSS];
    out->correct = (long)sums[DD_SUM_CORRECT];
    out->samples = b->samples;
    out->steps = b->steps;
    out->first_bad_step = (long)sums[DD_SUM_BAD_STEP];
    out->replayed = b->replayed;
    for (int l = 0; l < DD_MAX_DENSE; l++) out->grad_sq[l] = sums[DD_SUM_GRAD_SQ + l];
    for (int k = 0; k < DD_FUSED_PHASES; k++) out->phase_cycles[k] = sums[DD_SUM_PHASES + k];
    b->samples = b->steps = b->replayed = 0;
    return 0;
}

/* Forward in evaluation mode over rows FIRST.. of a split, COUNT of them. */
static int forward_rows(cuda_backend *b, dd_split split, int first, int count) {
    const uint8_t *pixels = split == DD_SPLIT_TRAIN ? b->train_pixels : b->test_pixels;
    TRY(dd_gather_standardize_gpu(b->net.input, pixels, NULL, first, b->table, count, &b->gpu));
    return dd_cuda_forward(b, count, 0);
}

static int evaluate(cuda_backend *b, dd_split split, dd_sums *out, uint8_t *predictions) {
    const int n = split == DD_SPLIT_TRAIN ? b->setup.train_count : b->setup.test->count;
    const uint8_t *labels = split == DD_SPLIT_TRAIN ? b->train_labels : b->test_labels;
    const float *y = dd_net_layer_output(&b->net, b->net.layout.n_dense - 1);
    double sums[2];
    CUDA_CHECK(cudaMemsetAsync(b->sums + DD_EVAL_LOSS, 0, sizeof sums, b->gpu.stream), b->gpu.err);
    for (int first = 0; first < n; first += DD_EVAL_BATCH) {
        int count = n - first < DD_EVAL_BATCH ? n - first : DD_EVAL_BATCH;
        TRY(forward_rows(b, split, first, count));
        TRY(dd_mse_forward_backward_gpu(NULL, b->sums + DD_EVAL_LOSS, y, labels + first, count,
                                        &b->gpu));
        if (predictions) TRY(dd_argmax_gpu(b->predictions + first, y, count, &b->gpu));
    }
    CUDA_CHECK(cudaMemcpyAsync(sums, b->sums + DD_EVAL_LOSS, sizeof sums, cudaMemcpyDeviceToHost,
                               b->gpu.stream),
               b->gpu.err);
    if (predictions)
        CUDA_CHECK(cudaMemcpyAsync(predictions, b->predictions, (size_t)n, cudaMemcpyDeviceToHost,
                                   b->gpu.stream),
                   b->gpu.err);
    CUDA_CHECK(cudaStreamSynchronize(b->gpu.stream), b->gpu.err);
    memset(out, 0, sizeof *out);
    out->loss_sum = sums[0];
    out->correct = (long)sums[1];
    out->samples = n;
    return 0;
}

static int cuda_evaluate(dd_backend *base, dd_split split, dd_sums *out, uint8_t *predictions,
                         char *err) {
    cuda_backend *b = (cuda_backend *)base;
    if (flush(b) != 0) return fail(b, err); /* the queued steps come first */
    return evaluate(b, split, out, predictions) == 0 ? 0 : fail(b, err);
}

/* The probe's statistics come from the host's dd_probe_layer, on downloaded activations. */
static int probe(cuda_backend *b, int count, dd_layer_probe *out, float *host) {
    TRY(forward_rows(b, DD_SPLIT_TRAIN, 0, count));
    for (int l = 0; l < b->net.layout.n_dense; l++) {
        size_t n = (size_t)count * b->net.layout.dense[l].units;
        TRY(copy(b, host, dd_net_preactivation(&b->net, l), n * sizeof *host,
                 cudaMemcpyDeviceToHost));
        TRY(copy(b, host + n, b->net.acts[l].act_out, n * sizeof *host, cudaMemcpyDeviceToHost));
        dd_probe_layer(&out[l], host, host + n, n, dd_layer_activation(&b->net.cfg, l));
    }
    return 0;
}

static int cuda_probe(dd_backend *base, int count, dd_layer_probe *out, char *err) {
    cuda_backend *b = (cuda_backend *)base;
    if (flush(b) != 0) return fail(b, err); /* the queued steps come first */
    if (dd_backend_check_probe(&b->setup, count, err) != 0) return -1;
    float *host = malloc(2 * (size_t)count * b->net.layout.max_units * sizeof *host);
    if (!host) {
        snprintf(err, DD_ERR_LEN, "out of memory");
        return -1;
    }
    int rc = probe(b, count, out, host);
    free(host);
    return rc == 0 ? 0 : fail(b, err);
}

static int cuda_upload(dd_backend *base, const float *params, char *err) {
    cuda_backend *b = (cuda_backend *)base;
    if (flush(b) != 0) return fail(b, err); /* the queued steps come first */
    size_t bytes = b->net.layout.n_params * sizeof *params;
    return copy(b, b->params, params, bytes, cudaMemcpyHostToDevice) == 0 ? 0 : fail(b, err);
}

/* The constant tensors from the host, the kernels drawn on the device. */
static int cuda_init(dd_backend *base, unsigned long long seed, char *err) {
    cuda_backend *b = (cuda_backend *)base;
    const dd_layout *layout = &b->net.layout;
    float *constants = calloc(layout->n_params, sizeof *constants);
    if (!constants) {
        snprintf(err, DD_ERR_LEN, "out of memory");
        return -1;
    }
    dd_model_init_constants(layout, constants);
    int rc = cuda_upload(base, constants, err);
    free(constants);
    if (rc == 0 && dd_init_kernels_gpu(b->params, &b->setup.cfg, layout, seed, &b->gpu) != 0)
        rc = fail(b, err);
    return rc;
}

static int cuda_download(dd_backend *base, float *params, char *err) {
    cuda_backend *b = (cuda_backend *)base;
    if (flush(b) != 0) return fail(b, err); /* the queued steps come first */
    size_t bytes = b->net.layout.n_params * sizeof *params;
    return copy(b, params, b->params, bytes, cudaMemcpyDeviceToHost) == 0 ? 0 : fail(b, err);
}

static void cuda_destroy(dd_backend *base) {
    cuda_backend *b = (cuda_backend *)base;
    if (!b) return;
    if (b->graph) cudaGraphExecDestroy(b->graph);
    if (b->last_mark) cudaEventDestroy(b->last_mark);
    for (int l = 0; l < DD_MAX_DENSE; l++)
        if (b->fork[l]) cudaEventDestroy(b->fork[l]);
    if (b->join) cudaEventDestroy(b->join);
    if (b->side) cudaStreamDestroy(b->side);
    dd_shuffle_gpu_close(b->shuffle);
    void *buffers[] = {b->train_pixels, b->train_labels,  b->test_pixels, b->test_labels,
                       b->batch_labels, b->predictions,   b->table,       b->params,
                       b->grads,        b->order,         b->step_first,  b->sums,
                       b->net.memory,   b->fused_scratch, b->dz};
    for (size_t i = 0; i < sizeof buffers / sizeof buffers[0]; i++) cudaFree(buffers[i]);
    dd_gpu_close(&b->gpu);
    (void)cudaGetLastError(); /* a failed free must not be blamed on this thread's next launch */
    free(b);
}

/* Records NOW in the stream, waits for it, and *MS = the time since the last mark (0 at the
 * first). */
static int mark_elapsed(cuda_backend *b, cudaEvent_t now, float *ms, char *err) {
    CUDA_CHECK(cudaEventRecord(now, b->gpu.stream), err);
    CUDA_CHECK(cudaEventSynchronize(now), err);
    if (b->last_mark) CUDA_CHECK(cudaEventElapsedTime(ms, b->last_mark, now), err);
    return 0;
}

static int cuda_elapsed(dd_backend *base, double *seconds, char *err) {
    cuda_backend *b = (cuda_backend *)base;
    if (flush(b) != 0) return fail(b, err); /* the queued steps come first */
    cudaEvent_t now;
    CUDA_CHECK(cudaEventCreate(&now), err);
    float ms = 0;
    if (mark_elapsed(b, now, &ms, err) != 0) {
        cudaEventDestroy(now); /* the failure above is the one to report */
        return -1;
    }
    if (b->last_mark) CUDA_CHECK(cudaEventDestroy(b->last_mark), err);
    b->last_mark = now;
    *seconds = ms / 1000.0;
    return 0;
}

/* The backend's operations under NAME, with TRAIN_STEP: the layers' or the fused engine's. */
#define CUDA_BACKEND_OPS(NAME, TRAIN_STEP)                                                         \
    {                                                                                              \
        .name = NAME, .destroy = cuda_destroy, .init_params = cuda_init,                           \
        .upload_params = cuda_upload, .download_params = cuda_download,                            \
        .set_order = cuda_set_order, .shuffle = cuda_shuffle, .train_step = TRAIN_STEP,            \
        .take_sums = cuda_take_sums, .evaluate = cuda_evaluate, .probe = cuda_probe,               \
        .elapsed = cuda_elapsed                                                                    \
    }

static const dd_backend_ops cuda_ops = CUDA_BACKEND_OPS("gpu", cuda_train_step);
static const dd_backend_ops fused_ops = CUDA_BACKEND_OPS("gpu-fused", fused_train_step);

/* cudaMalloc + copy of BYTES from HOST (when given). */
static int upload(cuda_backend *b, void **dst, const void *host, size_t bytes, char *err) {
    CUDA_CHECK(cudaMalloc(dst, bytes ? bytes : 1), err);
    /* In the backend's stream, not the legacy one (which that stream does not wait for). */
    if (host)
        CUDA_CHECK(cudaMemcpyAsync(*dst, host, bytes, cudaMemcpyHostToDevice, b->gpu.stream), err);
    return 0;
}

static int allocate(cuda_backend *b, char *err) {
    const dd_backend_setup *s = &b->setup;
    const dd_layout *L = &b->net.layout;
    const size_t train = (size_t)s->train_count, test = (size_t)s->test->count;
    const int rows = dd_backend_rows(s);
    TRY(upload(b, (void **)&b->train_pixels, s->train->pixels, train * DD_IMAGE_PIXELS, err));
    TRY(upload(b, (void **)&b->train_labels, s->train->labels, train, err));
    TRY(upload(b, (void **)&b->test_pixels, s->test->pixels, test * DD_IMAGE_PIXELS, err));
    TRY(upload(b, (void **)&b->test_labels, s->test->labels, test, err));
    TRY(upload(b, (void **)&b->table, s->table, sizeof s->table, err));
    TRY(upload(b, (void **)&b->batch_labels, NULL, (size_t)rows, err));
    TRY(upload(b, (void **)&b->predictions, NULL, train > test ? train : test, err));
    TRY(upload(b, (void **)&b->params, NULL, L->n_params * sizeof(float), err));
    TRY(upload(b, (void **)&b->grads, NULL, L->n_trainable * sizeof(float), err));
    TRY(upload(b, (void **)&b->order, NULL, train * sizeof(uint32_t), err));
    TRY(upload(b, (void **)&b->step_first, NULL, sizeof(int), err));
    TRY(upload(b, (void **)&b->sums, NULL, DD_N_SUMS * sizeof(double), err));
    CUDA_CHECK(cudaMemsetAsync(b->sums, 0, DD_N_SUMS * sizeof(double), b->gpu.stream), err);
    /* In the net at once, so that cuda_destroy frees it if anything below fails. */
    TRY(upload(b, (void **)&b->net.memory, NULL, dd_net_floats(L, rows) * sizeof(float), err));
    TRY(upload(b, (void **)&b->dz, NULL, (size_t)L->n_dense * rows * L->max_units * sizeof(float),
               err));
    CUDA_CHECK(cudaStreamCreateWithFlags(&b->side, cudaStreamNonBlocking), err);
    for (int l = 0; l < L->n_dense; l++)
        CUDA_CHECK(cudaEventCreateWithFlags(&b->fork[l], cudaEventDisableTiming), err);
    CUDA_CHECK(cudaEventCreateWithFlags(&b->join, cudaEventDisableTiming), err);
    CUDA_CHECK(cudaStreamSynchronize(b->gpu.stream), err); /* the host's copies may go now */
    return dd_net_attach(&b->net, &s->cfg, rows, b->net.memory, err);
}

/* The fused engine's plan for SETUP on SMS blocks a model (0: the engine's rule), on this GPU,
 * pipelined if SETUP asks: a cluster that this GPU cannot run (or that the query about it fails
 * on) falls back to one block unless it was asked for. Returns 1 planned, 0 not (WHY says why),
 * -1 on a CUDA error (ERR). */
static int plan_fused(const dd_backend_setup *s, int sms, dd_fused_plan *plan, char *why,
                      char *err) {
    size_t limit;
    int runs;
    if (dd_fused_shared_limit(&limit, err) != 0) return -1;
    if (dd_fused_plan_build(&s->cfg, DD_IMAGE_PIXELS, s->max_batch, limit, sms, plan, why) != 0 ||
        (s->fused_pipe && dd_fused_plan_pipe(plan, limit, why) != 0))
        return 0;
    if (dd_fused_cluster_fits(plan, &runs, err) != 0) {
        if (sms != 0) return -1;
        (void)cudaGetLastError(); /* the rule's own choice: one SM instead */
        runs = 0;
    }
    if (runs) return 1;
    if (sms == 0) return plan_fused(s, 1, plan, why, err);
    snprintf(why, DD_ERR_LEN, "this GPU cannot run a cluster of %d blocks of %zu bytes", sms,
             plan->shared_bytes);
    return 0;
}

/* --engine: fused when asked (or the plan's one-line reason why it cannot be), layers when asked;
 * auto takes the fused engine where it plans and the batch is small (README, bench/NOTES.md). */
static int choose_engine(cuda_backend *b, char *err) {
    const dd_backend_setup *s = &b->setup;
    if (s->engine == DD_ENGINE_LAYERS) return 0;
    char why[DD_ERR_LEN];
    const int fits = plan_fused(s, s->fused_sms, &b->plan, why, err);
    if (fits < 0) return -1;
    if (s->engine == DD_ENGINE_FUSED && !fits) {
        snprintf(err, DD_ERR_LEN, "--engine fused: %.480s", why);
        return -1;
    }
    if (!fits || (s->engine == DD_ENGINE_AUTO && s->max_batch > DD_FUSED_AUTO_MAX_BATCH)) return 0;
    b->base.ops = &fused_ops;
    const size_t scratch = (size_t)b->plan.scratch_floats * sizeof(float);
    if (scratch) {
        CUDA_CHECK(cudaMalloc((void **)&b->fused_scratch, scratch), err);
        CUDA_CHECK(cudaMemsetAsync(b->fused_scratch, 0, scratch, b->gpu.stream), err);
    }
    return 0;
}

dd_backend *dd_backend_cuda_create(const dd_backend_setup *setup, char *err) {
    cuda_backend *b = calloc(1, sizeof *b);
    if (!b) {
        snprintf(err, DD_ERR_LEN, "out of memory");
        return NULL;
    }
    b->base.ops = &cuda_ops;
    b->setup = *setup;
    if (dd_gpu_open(&b->gpu, setup->tf32, err) != 0) {
        free(b);
        return NULL;
    }
    if (dd_layout_build(&setup->cfg, &b->net.layout, err) != 0 || allocate(b, err) != 0 ||
        choose_engine(b, err) != 0) {
        cuda_destroy(&b->base);
        return NULL;
    }
    return &b->base;
}
