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
