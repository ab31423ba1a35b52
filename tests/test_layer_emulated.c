/* The layer kernels' bodies (kernels/layer_body.cuh), run on the host by the emulator with the
 * GPU's launch shapes, against the CPU network's op sequence for the same layer: each activation,
 * each place of BN (none, before, after), training and evaluation, forward and backward, on
 * batches from 1 to 1,000. The same check as test_gpu_ops runs on a GPU, here in every CI run
 * (and under ThreadSanitizer, which reports any read of another thread's write that no barrier
 * orders). Tolerance 1e-5 as on the GPU; on the host the only differences from the reference are
 * the order of the double sums and where the bias is added, ~1e-7. */
#include <stdlib.h>
#include <string.h>

#include "layer.h"
#include "layer_check.h"
#include "testutil.h"

static float *alloc_nan(size_t n) {
    float *p = malloc(n * sizeof *p);
    memset(p, 0xff, n * sizeof *p); /* 0xffffffff is a NaN */
    return p;
}
static void poison(float *p, size_t n) {
    memset(p, 0xff, n * sizeof *p);
}
static void put(float *dst, const float *host, size_t n) {
    memcpy(dst, host, n * sizeof *dst);
}
static float *get(const float *src, size_t n) {
    float *p = malloc(n * sizeof *p);
    memcpy(p, src, n * sizeof *p);
    return p;
}
static void release(float *p) {
    free(p);
}
static const layer_runner on_host = {
    alloc_nan, poison, put, get, release, dd_layer_forward_emulated, dd_layer_backward_emulated};

int main(void) {
    /* (batch, width): one sample (BN's variance 0); two; a batch that is no power of two (64
     * threads a channel, 31 of them idle); a width of one; the largest block (256 threads);
     * batches past it, where a thread takes two rows (300) or four (1,000, evaluation's chunk). */
    static const int shapes[][2] = {{1, 25},   {2, 3},   {33, 25}, {70, 1},
                                    {256, 10}, {300, 5}, {1000, 3}};
    const dd_activation acts[] = {DD_ACT_TANH, DD_ACT_SIGMOID, DD_ACT_RELU, DD_ACT_LINEAR};
    const dd_bn_place places[] = {DD_BN_NONE, DD_BN_BEFORE, DD_BN_AFTER};
    unsigned seed = 2024;
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int a = 0; a < 4; a++)
            for (int p = 0; p < 3; p++)
                check_layer(&on_host, shapes[s][0], shapes[s][1], acts[a], places[p], &seed, 1e-5);
    return dd_test_finish("test_layer_emulated");
}
