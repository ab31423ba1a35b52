// The emulated device's stand-ins for the two pieces that only nvcc compiles:
//  - the fused kernel's launch (kernels/fused.cu: cudaLaunchKernelEx with a cluster). The body it
//    launches runs here through the fused engine's own emulator (kernels/fused_emulate.cu), queued
//    in the stream like any launch, with the device's limits checked as the launch would;
//  - cuRAND's device generator (kernels/philox.cu). Here the host generator draws, in the stream's
//    order, the numbers the device's must equal (test_gpu_curand checks that on a GPU), so that
//    what is built on them (the initialization's kernels, kernels/init.cu) runs as on the GPU;
//  - the epoch's shuffle (kernels/shuffle.cu: the device generator and cub's radix sort). Here
//    it is the CPU's dd_shuffle, the numbers the GPU's must equal (test_gpu_curand checks that on a
//    GPU): the emulated device does not test shuffle.cu, only what the backend does around it.
#include <cstdio>
#include <cstdlib>

#include "deepdigits/ops.h"
#include "deepdigits/rng.h"
#include "emudev.h"
#include "fused.h"
#include "gpu_check.h"

int dd_fused_shared_limit(size_t *bytes, char *err) {
    int limit;
    CUDA_CHECK(cudaDeviceGetAttribute(&limit, cudaDevAttrMaxSharedMemoryPerBlockOptin, 0), err);
    *bytes = (size_t)limit;
    return 0;
}

int dd_fused_cluster_fits(const dd_fused_plan *plan, int *fits, char *) {
    *fits = plan->cluster <= DD_FUSED_MAX_CLUSTER; // an H100 runs clusters of up to 8
    return 0;
}

int dd_fused_train_gpu(const dd_fused_plan *plan, const dd_fused_run *run, void *stream,
                       char *err) {
    size_t limit;
    if (dd_fused_shared_limit(&limit, err) != 0) return -1;
    if (plan->shared_bytes > limit || plan->cluster < 1 || plan->cluster > DD_FUSED_MAX_CLUSTER) {
        snprintf(err, DD_ERR_LEN, "fused_kernel: launch of %d blocks of %zu bytes: %s",
                 plan->cluster, plan->shared_bytes,
                 cudaGetErrorString(cudaErrorInvalidConfiguration));
        return -1;
    }
    const size_t rows = (size_t)run->first + run->count;
    emu_require_device(run->params, (size_t)plan->n_params * sizeof(float), "fused_kernel: params");
    emu_require_device(run->order, rows * sizeof(uint32_t), "fused_kernel: order");
    emu_require_device(run->table, 256 * sizeof(float), "fused_kernel: table");
    emu_require_device(run->sums, sizeof(double), "fused_kernel: sums");
    emu_require_device(run->scratch, (size_t)plan->scratch_floats * sizeof(float),
                       "fused_kernel: scratch");
    emu_require_device(run->pixels, 1, "fused_kernel: pixels");
    emu_require_device(run->labels, 1, "fused_kernel: labels");
    const dd_fused_plan p = *plan; // a launch copies its parameters
    const dd_fused_run r = *run;
    const cudaError_t e = emu_enqueue((cudaStream_t)stream, "fused_kernel", [p, r] {
        char why[DD_ERR_LEN];
        if (dd_fused_train_emulated(&p, &r, why) != 0) emu_fault(why);
    });
    CUDA_CHECK(e, err);
    return 0;
}

struct dd_philox_gpu {
    dd_rng *rng;
};

dd_philox_gpu *dd_philox_gpu_open(unsigned long long seed, dd_gpu *gpu) {
    dd_philox_gpu *g = (dd_philox_gpu *)calloc(1, sizeof *g);
    if (!g) {
        snprintf(gpu->err, DD_ERR_LEN, "out of memory");
        return NULL;
    }
    g->rng = dd_rng_create(seed, gpu->err);
    if (!g->rng) {
        free(g);
        return NULL;
    }
    return g;
}

// Queued draws use the generator: they run first.
void dd_philox_gpu_close(dd_philox_gpu *g) {
    if (!g) return;
    cudaDeviceSynchronize();
    dd_rng_destroy(g->rng);
    free(g);
}

struct dd_shuffle_work {
    int n;
    dd_philox_gpu *philox;
};

dd_shuffle_work *dd_shuffle_gpu_open(int n, unsigned long long seed, dd_gpu *gpu) {
    dd_shuffle_work *w = (dd_shuffle_work *)calloc(1, sizeof *w);
    if (!w) {
        snprintf(gpu->err, DD_ERR_LEN, "out of memory");
        return NULL;
    }
    w->n = n;
    w->philox = dd_philox_gpu_open(seed, gpu);
    if (!w->philox) {
        free(w);
        return NULL;
    }
    return w;
}

void dd_shuffle_gpu_close(dd_shuffle_work *w) {
    if (!w) return;
    dd_philox_gpu_close(w->philox);
    free(w);
}

int dd_shuffle_gpu(uint32_t *order, int epoch, dd_shuffle_work *w, dd_gpu *gpu) {
    emu_require_device(order, (size_t)w->n * sizeof *order, "shuffle: the order");
    const cudaError_t e = emu_enqueue(gpu->stream, "shuffle", [order, epoch, w] {
        char why[DD_ERR_LEN];
        if (dd_shuffle(order, epoch, w->philox->rng, w->n, why) != 0) emu_fault(why);
    });
    CUDA_CHECK(e, gpu->err);
    return 0;
}

// N 4-byte draws of the host generator into OUT, in STREAM's order; N whole Philox blocks, as the
// device generator is asked for (any other count is refused as kernels/philox.cu refuses it).
template <typename T, typename Draw>
static int queue_draw(T *out, unsigned long long offset, size_t n, dd_philox_gpu *g, dd_gpu *gpu,
                      Draw draw) {
    if (n != DD_RNG_PADDED(n)) {
        snprintf(gpu->err, DD_ERR_LEN, "a device draw of %zu numbers: not a multiple of 4", n);
        return -1;
    }
    emu_require_device(out, n * sizeof *out, "philox: the draws");
    const cudaError_t e = emu_enqueue(gpu->stream, "philox", [out, offset, n, g, draw] {
        char why[DD_ERR_LEN];
        if (draw(g->rng, offset, out, n, why) != 0) emu_fault(why);
    });
    CUDA_CHECK(e, gpu->err);
    return 0;
}

int dd_philox_gpu_uniform(float *out, unsigned long long offset, size_t n, dd_philox_gpu *g,
                          dd_gpu *gpu) {
    return queue_draw(out, offset, n, g, gpu, dd_rng_uniform);
}

int dd_philox_gpu_bits(uint32_t *out, unsigned long long offset, size_t n, dd_philox_gpu *g,
                       dd_gpu *gpu) {
    return queue_draw(out, offset, n, g, gpu, dd_rng_bits);
}
