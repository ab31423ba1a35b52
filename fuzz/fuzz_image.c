/* libFuzzer harness for predict's image readers: any bytes go through dd_image_parse (libpng for
 * a PNG signature, the PGM reader otherwise). It must fail with one line or give a 28x28 image,
 * and never crash or leak. Built by scripts/fuzz.sh. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t pixels[DD_IMAGE_PIXELS];
    char err[DD_ERR_LEN];
    if (dd_image_parse(data, size, "fuzz", pixels, err) != 0 &&
        (!memchr(err, '\0', sizeof err) || strchr(err, '\n')))
        abort(); /* the message must be one line */
    return 0;
}
