/* The layer kernels (kernels/layer.cu, compiled for the host) on the emulated device
 * (tests/emudev), with the GPU's launch shapes, against the CPU network's op sequence for the same
 * layer: each activation, each place of BN (none, before, after), training and evaluation,
 * forward and backward, on batches from 1 to 1,000. The same check as test_gpu_ops runs on a GPU,
 * here in every CI run (and under ThreadSanitizer, which reports any read of another thread's
 * write that no barrier orders). Tolerance 1e-5 as on the GPU; on the host the only differences
 * from the reference are the order of the double sums and where the bias is added, ~1e-7. */
#include "gputest.h"
#include "layer_check.h"
#include "testutil.h"

int main(void) {
    /* (batch, width): one sample (BN's variance 0); two; a batch that is no power of two (64
     * threads a channel, 31 of them idle); a width of one; the largest block (256 threads);
     * batches past it, where a thread takes two rows (300) or four (1,000, evaluation's chunk). */
    static const int shapes[][2] = {{1, 25},   {2, 3},   {33, 25}, {70, 1},
                                    {256, 10}, {300, 5}, {1000, 3}};
    const dd_activation acts[] = {DD_ACT_TANH, DD_ACT_SIGMOID, DD_ACT_RELU, DD_ACT_LINEAR};
    const dd_bn_place places[] = {DD_BN_NONE, DD_BN_BEFORE, DD_BN_AFTER};
    unsigned seed = 2024;
    dd_gpu gpu;
    gpu_test_open(&gpu);
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int a = 0; a < 4; a++)
            for (int p = 0; p < 3; p++)
                check_layer(&gpu, shapes[s][0], shapes[s][1], acts[a], places[p], &seed, 1e-5);
    dd_gpu_close(&gpu);
    return dd_test_finish("test_layer_emulated");
}
