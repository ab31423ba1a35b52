/* libFuzzer harness for the checkpoint reader: any bytes go through dd_checkpoint_parse (the
 * safetensors container, the metadata's JSON, the model checks). It must fail with one line or
 * succeed, and never crash or leak. Built by scripts/fuzz.sh. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "deepdigits/checkpoint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    float *params;
    dd_checkpoint_state st;
    char err[DD_ERR_LEN];
    if (dd_checkpoint_parse(data, size, "fuzz", &params, &st, err) == 0) {
        free(params);
        free(st.history);
    } else if (!memchr(err, '\0', sizeof err) || strchr(err, '\n')) {
        abort(); /* the message must be one line */
    }
    return 0;
}
