// Initialization on the GPU, twin of dd_model_init's kernel draws (src/model.c): the uniforms
// come from the device generator (philox.cu), the numbers the host generator draws, and become
// weights through the same formulas (draws.h), so the GPU starts from the CPU's weights bit for
// bit. It runs once per model: written for clarity, not speed.
#include <limits.h>
#include <stdlib.h>

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

// The truncated normal's rounds, each sized by what is still missing (DD_RNG_TRUNCATED_ROUND), as
// on the host; the host reads back each round's count to size the next.
static int truncated_normal(float *w, int n, double stddev, unsigned long long offset,
                            float *scratch, int *have_dev, dd_philox_gpu *philox, dd_gpu *gpu) {
    int have = 0;
    while (have < n) {
        const size_t want = DD_RNG_TRUNCATED_ROUND((size_t)(n - have));
        if (dd_philox_gpu_uniform(scratch, offset, want, philox, gpu) != 0) return -1;
        const int pairs = (int)(want / 2);
        DD_LAUNCH(box_muller_kernel, CEIL_DIV(pairs, THREADS), THREADS, gpu->stream, scratch,
                  pairs);
        LAUNCH_CHECK("box_muller_kernel", gpu);
        DD_LAUNCH_SYNCING(keep_within_truncation_kernel, 1, KEEP_THREADS, gpu->stream, w, have_dev,
                          scratch, (int)want, have, n, stddev);
        LAUNCH_CHECK("keep_within_truncation_kernel", gpu);
        CUDA_CHECK(
            cudaMemcpyAsync(&have, have_dev, sizeof have, cudaMemcpyDeviceToHost, gpu->stream),
            gpu->err);
        CUDA_CHECK(cudaStreamSynchronize(gpu->stream), gpu->err);
        offset += want;
    }
    return 0;
}

static int draw_kernels(float *params, const dd_model_config *cfg, const dd_layout *layout,
                        float *scratch, int *have_dev, dd_philox_gpu *philox, dd_gpu *gpu) {
    for (int l = 0; l < layout->n_dense; l++) {
        const dd_dense_layout *d = &layout->dense[l];
        const dd_kernel_draw draw = dd_kernel_draw_of(&cfg->init, d);
        const unsigned long long offset = DD_RNG_INIT_OFFSET(l);
        const int n = d->fan_in * d->units;
        float *w = params + d->kernel;
        if (draw.normal) {
            if (truncated_normal(w, n, draw.stddev, offset, scratch, have_dev, philox, gpu) != 0)
                return -1;
            continue;
        }
        if (dd_philox_gpu_uniform(scratch, offset, DD_RNG_PADDED(n), philox, gpu) != 0) return -1;
        DD_LAUNCH(uniform_between_kernel, CEIL_DIV(n, THREADS), THREADS, gpu->stream, w, scratch, n,
                  draw.lo, draw.hi);
        LAUNCH_CHECK("uniform_between_kernel", gpu);
    }
    CUDA_CHECK(cudaStreamSynchronize(gpu->stream), gpu->err);
    return 0;
}

int dd_init_kernels_gpu(float *params, const dd_model_config *cfg, const dd_layout *layout,
                        unsigned long long seed, dd_gpu *gpu) {
    size_t most = 0; // floats of the largest draw: a kernel's first truncated-normal round
    for (int l = 0; l < layout->n_dense; l++) {
        const size_t n = (size_t)layout->dense[l].fan_in * layout->dense[l].units;
        if (DD_RNG_TRUNCATED_ROUND(n) > most) most = DD_RNG_TRUNCATED_ROUND(n);
    }
    if (most > INT_MAX / 2) {
        snprintf(gpu->err, DD_ERR_LEN, "a kernel of %zu weights is too large to draw", most);
        return -1;
    }
    float *scratch = NULL;
    int *have_dev = NULL;
    dd_philox_gpu *philox = dd_philox_gpu_open(seed, gpu);
    int rc = philox ? 0 : -1;
    cudaError_t e = cudaSuccess;
    if (rc == 0 && (e = cudaMalloc((void **)&scratch, most * sizeof *scratch)) == cudaSuccess)
        e = cudaMalloc((void **)&have_dev, sizeof *have_dev);
    if (e != cudaSuccess)
        rc = -1, snprintf(gpu->err, DD_ERR_LEN, "%s:%d: cudaMalloc of %zu floats: %s", __FILE__,
                          __LINE__, most, cudaGetErrorString(e));
    if (rc == 0) rc = draw_kernels(params, cfg, layout, scratch, have_dev, philox, gpu);
    cudaFree(have_dev);
    cudaFree(scratch);
    dd_philox_gpu_close(philox);
    return rc;
}
