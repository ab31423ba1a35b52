/* Gathering one batch of images and standardizing it, CPU reference. CUDA twin: kernels/gather.cu.
 */
#include "deepdigits/idx.h"
#include "deepdigits/ops.h"

void dd_gather_standardize(float *out, const uint8_t *pixels, const uint32_t *idx, int first,
                           const float *table, int B) {
    for (int b = 0; b < B; b++) {
        size_t row = idx ? idx[first + b] : (size_t)(first + b);
        const uint8_t *p = pixels + row * DD_IMAGE_PIXELS;
        float *x = out + (size_t)b * DD_IMAGE_PIXELS;
        for (int i = 0; i < DD_IMAGE_PIXELS; i++) x[i] = table[p[i]];
    }
}

/* Each image of a shuffled epoch is 784 cold bytes somewhere in 47 MB: gathering a batch of 32
 * waited about 22 µs on memory, a fifth of the step (perf, 2-core Xeon). Asked for while the
 * current batch is computed, the next batch's images are in the cache by the time they are
 * gathered. Hint 2 (the L2): the step's own loads would push them out of L1 anyway. */
void dd_prefetch_images(const uint8_t *pixels, const uint32_t *idx, int first, int B) {
    for (int b = 0; b < B; b++) {
        const char *p = (const char *)(pixels + (size_t)idx[first + b] * DD_IMAGE_PIXELS);
        for (int off = 0; off < DD_IMAGE_PIXELS; off += 64) __builtin_prefetch(p + off, 0, 2);
        __builtin_prefetch(p + DD_IMAGE_PIXELS - 1, 0, 2); /* the last line, when the row is
                                                               not aligned to one */
    }
}
