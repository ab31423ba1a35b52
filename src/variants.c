/* The lab's variants as presets; see variants.h. */
#include "deepdigits/variants.h"

#include <stdio.h>

#include "deepdigits/idx.h"

int dd_variant_extra_layers(int n) {
    return n <= 0 ? 0 : (n - 1) / 5 + 1;
}

int dd_variant_options(int n, int width, dd_train_options *o, char *err) {
    if (n < 0 || n > DD_VARIANT_COUNT) {
        snprintf(err, DD_ERR_LEN, "--variant %d: must be 0 (the baseline) to %d, or all", n,
                 DD_VARIANT_COUNT);
        return -1;
    }
    *o = dd_train_options_lab();
    o->standardize = DD_STANDARDIZE_GLOBAL;
    dd_model_config *m = &o->model;
    m->n_hidden = 1 + dd_variant_extra_layers(n);
    for (int l = 0; l < m->n_hidden; l++) m->units[l] = width > 0 ? width : DD_PRESET_WIDTH;
    if (n == 0) return 0;
    const int odd = n % 2 == 1;
    m->activation = odd ? DD_ACT_TANH : DD_ACT_SIGMOID;
    m->init = (dd_init){odd ? DD_INIT_GLOROT_UNIFORM : DD_INIT_HE_NORMAL, -DD_LAB_INIT_LIMIT,
                        DD_LAB_INIT_LIMIT};
    m->bn = odd ? DD_BN_BEFORE : DD_BN_AFTER;
    o->batch = DD_BN_BATCH;
    return 0;
}

void dd_variant_name(int n, char *buf, size_t len) {
    if (n == 0)
        snprintf(buf, len, "baseline");
    else
        snprintf(buf, len, "variant-%02d", n);
}

void dd_options_describe_short(const dd_train_options *o, char *buf, size_t len) {
    const dd_model_config *m = &o->model;
    char widths[96] = "";
    size_t at = 0;
    int same = 1;
    for (int l = 1; l < m->n_hidden; l++) same &= m->units[l] == m->units[0];
    for (int l = 0; l < m->n_hidden && at < sizeof widths; l++)
        at += (size_t)snprintf(widths + at, sizeof widths - at, "%s%d", l ? "," : "", m->units[l]);
    char bn[24] = "no BN";
    if (m->bn != DD_BN_NONE) snprintf(bn, sizeof bn, "BN %s", dd_bn_name(m->bn));
    if (m->n_hidden == 0)
        snprintf(buf, len, "no hidden layer, %s", dd_init_name(m->init.kind));
    else if (same)
        snprintf(buf, len, "%d hidden x%d, %s, %s, %s", m->n_hidden, m->units[0],
                 dd_activation_name(m->activation), dd_init_name(m->init.kind), bn);
    else
        snprintf(buf, len, "hidden %s, %s, %s, %s", widths, dd_activation_name(m->activation),
                 dd_init_name(m->init.kind), bn);
}

int dd_check_bn_samples(const dd_train_options *o, int train_count, int allow, char *err) {
    /* One training image (--subset 1, or a set of one) makes every batch one sample, whatever
     * --batch says. TRAIN_COUNT 0: not loaded yet. */
    const int images = dd_train_images(o, train_count);
    const int one = o->batch == 1 || images == 1;
    if (allow || !one || o->model.bn == DD_BN_NONE || o->model.n_hidden == 0) return 0;
    const char *cause = o->batch == 1    ? "--batch 1"
                        : o->subset == 1 ? "--subset 1"
                                         : "a training set of one image";
    snprintf(err, DD_ERR_LEN,
             "BatchNormalization with %s cannot learn: the variance of a one-sample batch is 0, so "
             "every normalized value is 0 and nothing before the BN layer learns; use %s (or "
             "--allow-bn-batch1 to watch it fail)",
             cause, o->batch == 1 ? "--batch 32" : "more images");
    return -1;
}

int dd_check_bn_batch(const dd_train_options *o, int allow, char *err) {
    return dd_check_bn_samples(o, 0, allow, err);
}
