// Initialization on the GPU, twin of dd_model_init's kernel draws (src/model.c): the uniforms
// come from the device generator (philox.cu), the numbers the host generator draws, and become
// weights through the same formulas (draws.h), so the GPU starts from the CPU's weights bit for
// bit. It runs once per model: written for clarity, not speed.
#include <limits.h>
#include <stdio.h>

#include "deepdigits/draws.h"
#include "deepdigits/ops.h"
#include "deepdigits/rng.h"
#include "gpu_check.h"
#include "launch.cuh"

static const int THREADS = 256;
static const int KEEP_THREADS = 256; // a power of two: the scan below doubles its stride

// W (N) = the uniforms U mapped onto [LO, HI).
DD_GLOBAL static void DD_MAX_THREADS(THREADS)
    uniform_between_kernel(float *w, const float *u, int n, double lo, double hi) {
    const int i = simt_block_index() * simt_block_threads() + simt_tid();
    if (i < n) w[i] = dd_uniform_between(u[i], lo, hi);
}

// U (2 PAIRS) becomes normals in place: each pair of uniforms a pair of N(0, 1) draws.
DD_GLOBAL static void DD_MAX_THREADS(THREADS) box_muller_kernel(float *u, int pairs) {
    const int i = simt_block_index() * simt_block_threads() + simt_tid();
    if (i < pairs) dd_box_muller(u[2 * i], u[2 * i + 1], &u[2 * i], &u[2 * i + 1]);
}

// One round of the truncated normal, in one block, as model.c's loop takes it: W[HAVE..N) gets, in
// order, the normals of Z (COUNT) that lie within the truncation, scaled to STDDEV, until W holds
// N of them; *HAVE_AFTER = how many it then holds. A pass takes KEEP_THREADS draws, and an
// inclusive scan of their keep flags gives each kept draw its place.
DD_GLOBAL static void DD_MAX_THREADS(KEEP_THREADS)
    keep_within_truncation_kernel(float *w, int *have_after, const float *z, int count, int have,
                                  int n, double stddev) {
    DD_SHARED_ARRAY(int, kept, KEEP_THREADS);
    const int t = simt_tid();
    for (int start = 0; start < count && have < n; start += KEEP_THREADS) {
        const int i = start + t;
        const int keep = i < count && dd_within_truncation(z[i]);
        kept[t] = keep;
        simt_sync();
        for (int d = 1; d < KEEP_THREADS; d *= 2) {
            const int left = t >= d ? kept[t - d] : 0;
            simt_sync();
            kept[t] += left;
            simt_sync();
        }
        const int at = have + kept[t] - keep;
        if (keep && at < n) w[at] = dd_truncated_normal_value(z[i], stddev);
        have += kept[KEEP_THREADS - 1];
        simt_sync(); // every thread has read kept[] before the next pass writes it
    }
    if (t == 0) *have_after = have < n ? have : n;
}

// A device buffer of N Ts, or -1 with the line in gpu->err.
template <typename T> static int device_alloc(T **p, size_t n, dd_gpu *gpu) {
    CUDA_CHECK(cudaMalloc((void **)p, n * sizeof(T)), gpu->err);
    return 0;
}

// Frees what device_alloc gave; the first failure is reported, unless an earlier one was.
static int device_free(void *p, int rc, dd_gpu *gpu) {
    const cudaError_t e = cudaFree(p);
    if (e == cudaSuccess || rc != 0) return rc;
    snprintf(gpu->err, DD_ERR_LEN, "%s:%d: cudaFree: %s", __FILE__, __LINE__,
             cudaGetErrorString(e));
    return -1;
}

// The rounds of dd_truncated_normal_gpu through SCRATCH (room for the first round) and HAVE_DEV;
// the host reads back each round's count to size the next, as init.c's loop counts it.
static int truncated_rounds(float *w, int n, double stddev, unsigned long long offset,
                            dd_round_size round, float *scratch, int *have_dev, dd_philox_gpu *g,
                            int *rounds, dd_gpu *gpu) {
    int have = 0, taken = 0;
    while (have < n) {
        if (dd_truncated_round_ok(round, (size_t)(n - have), round((size_t)n), gpu->err) != 0)
            return -1;
        const size_t want = round((size_t)(n - have));
        if (dd_philox_gpu_uniform(scratch, offset, want, g, gpu) != 0) return -1;
        const int pairs = (int)(want / 2);
        DD_LAUNCH(box_muller_kernel, CEIL_DIV(pairs, THREADS), THREADS, gpu->stream, scratch,
                  pairs);
        LAUNCH_CHECK("box_muller_kernel", gpu);
        DD_LAUNCH_SYNCING(keep_within_truncation_kernel, 1, KEEP_THREADS, gpu->stream, w, have_dev,
                          scratch, (int)want, have, n, stddev);
        LAUNCH_CHECK("keep_within_truncation_kernel", gpu);
        int now = -1;
        CUDA_CHECK(cudaMemcpyAsync(&now, have_dev, sizeof now, cudaMemcpyDeviceToHost, gpu->stream),
                   gpu->err);
        CUDA_CHECK(cudaStreamSynchronize(gpu->stream), gpu->err);
        if (now < have || now > n) { // a round only adds: anything else would loop for ever
            snprintf(gpu->err, DD_ERR_LEN,
                     "%s:%d: a truncated normal's round left %d of %d kept values, after %d",
                     __FILE__, __LINE__, now, n, have);
            return -1;
        }
        have = now, offset += want, taken++;
    }
    if (rounds) *rounds = taken;
    return 0;
}

// The kernels' counts and places are ints: a round of draws, plus what is already kept, must fit
// one.
static int check_size(size_t n, dd_gpu *gpu) {
    if (n <= INT_MAX / 2) return 0;
    snprintf(gpu->err, DD_ERR_LEN, "a draw of %zu numbers is too large", n);
    return -1;
}

int dd_truncated_normal_gpu(float *out, int n, double stddev, unsigned long long offset,
                            dd_round_size round, dd_philox_gpu *g, int *rounds, dd_gpu *gpu) {
    const size_t first = round((size_t)n); // the largest round: see dd_truncated_round_ok
    float *scratch = NULL;
    int *have_dev = NULL;
    int rc = check_size(first, gpu) == 0 && device_alloc(&scratch, first, gpu) == 0 &&
                     device_alloc(&have_dev, 1, gpu) == 0
                 ? 0
                 : -1;
    if (rc == 0)
        rc = truncated_rounds(out, n, stddev, offset, round, scratch, have_dev, g, rounds, gpu);
    rc = device_free(have_dev, rc, gpu);
    return device_free(scratch, rc, gpu);
}

// KERNEL (N) = uniforms from OFFSET mapped onto DRAW's [lo, hi), through SCRATCH (N rounded up
// to whole Philox blocks).
static int draw_uniform(float *kernel, int n, const dd_kernel_draw *draw, unsigned long long offset,
                        float *scratch, dd_philox_gpu *g, dd_gpu *gpu) {
    if (dd_philox_gpu_uniform(scratch, offset, DD_RNG_PADDED((size_t)n), g, gpu) != 0) return -1;
    DD_LAUNCH(uniform_between_kernel, CEIL_DIV(n, THREADS), THREADS, gpu->stream, kernel, scratch,
              n, draw->lo, draw->hi);
    LAUNCH_CHECK("uniform_between_kernel", gpu);
    return 0;
}

static int uniform_kernel(float *kernel, int n, const dd_kernel_draw *draw,
                          unsigned long long offset, dd_philox_gpu *g, dd_gpu *gpu) {
    const size_t padded = DD_RNG_PADDED((size_t)n);
    float *scratch = NULL;
    int rc = check_size(padded, gpu) == 0 && device_alloc(&scratch, padded, gpu) == 0 ? 0 : -1;
    if (rc == 0) rc = draw_uniform(kernel, n, draw, offset, scratch, g, gpu);
    return device_free(scratch, rc, gpu); // cudaFree waits for the kernel
}

static int draw_kernels(float *params, const dd_model_config *cfg, const dd_layout *layout,
                        dd_philox_gpu *g, dd_gpu *gpu) {
    for (int l = 0; l < layout->n_dense; l++) {
        const dd_dense_layout *d = &layout->dense[l];
        dd_kernel_draw draw;
        if (dd_kernel_draw_of(&cfg->init, d, &draw, gpu->err) != 0) return -1;
        const unsigned long long offset = DD_RNG_INIT_OFFSET(l);
        const int n = d->fan_in * d->units;
        const int rc = draw.normal
                           ? dd_truncated_normal_gpu(params + d->kernel, n, draw.stddev, offset,
                                                     dd_truncated_round, g, NULL, gpu)
                           : uniform_kernel(params + d->kernel, n, &draw, offset, g, gpu);
        if (rc != 0) return -1;
    }
    CUDA_CHECK(cudaStreamSynchronize(gpu->stream), gpu->err);
    return 0;
}

int dd_init_kernels_gpu(float *params, const dd_model_config *cfg, const dd_layout *layout,
                        unsigned long long seed, dd_gpu *gpu) {
    dd_philox_gpu *g = dd_philox_gpu_open(seed, gpu);
    if (!g) return -1;
    const int rc = draw_kernels(params, cfg, layout, g, gpu);
    dd_philox_gpu_close(g);
    return rc;
}
