/* libFuzzer harness for a run folder's text files, as `deepdigits report` reads them: any bytes
 * go through dd_run_config_parse (config.json) and dd_history_parse (history.csv). Each must
 * fail with one line naming the problem or succeed with values in range, and never crash or
 * leak. Built by scripts/fuzz.sh. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deepdigits/report.h"
#include "deepdigits/variants.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void one_line(const char *err) {
    if (!memchr(err, '\0', DD_ERR_LEN) || strchr(err, '\n')) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[DD_ERR_LEN];
    dd_run_config c;
    if (dd_run_config_parse((const char *)data, size, &c, err) != 0)
        one_line(err);
    else if (c.opts.model.n_hidden > DD_MAX_HIDDEN || c.opts.epochs < 1 || c.opts.batch < 1 ||
             !c.name[0] || c.variant < -1 || c.variant > DD_VARIANT_COUNT)
        abort(); /* read as garbage */
    dd_history h;
    FILE *f = size ? fmemopen((void *)data, size, "r") : NULL;
    if (!f) return 0;
    if (dd_history_parse(f, "fuzz", &h, err) != 0)
        one_line(err);
    else {
        if (h.rows < 1 || h.cols < 5 || strcmp(h.names[0], "epoch") != 0) abort();
        dd_history_free(&h);
    }
    fclose(f);
    return 0;
}
