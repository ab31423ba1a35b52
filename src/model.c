/* Model configuration, parameter layout and the Keras-style summary; see model.h. Initialization:
 * src/init.c. */
#include "deepdigits/model.h"

#include <ctype.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "deepdigits/formulas.h"
#include "deepdigits/idx.h"
#include "deepdigits/rng.h"
#include "errors.h"

dd_model_config dd_model_config_lab(void) {
    dd_model_config cfg = {0};
    cfg.n_hidden = 1;
    cfg.units[0] = 25;
    cfg.activation = DD_ACT_TANH;
    cfg.bn = DD_BN_NONE;
    cfg.init = (dd_init){DD_INIT_RANDOM_UNIFORM, -DD_LAB_INIT_LIMIT, DD_LAB_INIT_LIMIT};
    return cfg;
}

int dd_layout_build(const dd_model_config *cfg, dd_layout *layout, char *err) {
    if (cfg->n_hidden < 0 || cfg->n_hidden > DD_MAX_HIDDEN) {
        snprintf(err, DD_ERR_LEN, "%d hidden layers: must be 0..%d", cfg->n_hidden, DD_MAX_HIDDEN);
        return -1;
    }
    memset(layout, 0, sizeof *layout);
    layout->n_dense = cfg->n_hidden + 1;
    size_t at = 0;
    int fan_in = DD_IMAGE_PIXELS;
    layout->max_units = DD_CLASSES;
    for (int l = 0; l < layout->n_dense; l++) {
        int hidden = l < cfg->n_hidden;
        int units = hidden ? cfg->units[l] : DD_CLASSES;
        if (units < 1 || units > DD_MAX_UNITS) {
            snprintf(err, DD_ERR_LEN, "hidden layer %d has %d units: must be 1..%d", l + 1, units,
                     DD_MAX_UNITS);
            return -1;
        }
        dd_dense_layout *d = &layout->dense[l];
        d->fan_in = fan_in;
        d->units = units;
        d->has_bn = hidden && cfg->bn != DD_BN_NONE;
        d->kernel = at, at += (size_t)fan_in * units;
        d->bias = at, at += units;
        if (d->has_bn) {
            d->gamma = at, at += units;
            d->beta = at, at += units;
        }
        if (units > layout->max_units) layout->max_units = units;
        fan_in = units;
    }
    layout->n_trainable = at;
    for (int l = 0; l < layout->n_dense; l++) {
        dd_dense_layout *d = &layout->dense[l];
        if (!d->has_bn) continue;
        d->moving_mean = at, at += d->units;
        d->moving_var = at, at += d->units;
    }
    layout->n_params = at;
    return 0;
}

/* Column widths of the summary: wide enough for "batch_normalization_16 (BatchNormalization)". */
enum { LABEL_COLUMN = 46, SHAPE_COLUMN = 16, PARAM_COLUMN = 8 };

static void summary_row(FILE *out, const char *name, const char *type, int width, size_t params) {
    char label[96], shape[32];
    snprintf(label, sizeof label, "%s (%s)", name, type);
    snprintf(shape, sizeof shape, "(None, %d)", width);
    fprintf(out, " %-*s%-*s%zu\n", LABEL_COLUMN, label, SHAPE_COLUMN, shape, params);
}

static void summary_rule(FILE *out, char c) {
    for (int i = 0; i < 1 + LABEL_COLUMN + SHAPE_COLUMN + PARAM_COLUMN; i++) fputc(c, out);
    fputc('\n', out);
}

void dd_model_summary(const dd_model_config *cfg, const dd_layout *layout, FILE *out) {
    fprintf(out, "Model: \"sequential\"\n");
    summary_rule(out, '_');
    fprintf(out, " %-*s%-*s%s\n", LABEL_COLUMN, "Layer (type)", SHAPE_COLUMN, "Output Shape",
            "Param #");
    summary_rule(out, '=');
    summary_row(out, "flatten", "Flatten", DD_IMAGE_PIXELS, 0);
    int n_bn = 0, n_act = 0;
    char name[48];
    for (int l = 0; l < layout->n_dense; l++) {
        const dd_dense_layout *d = &layout->dense[l];
        snprintf(name, sizeof name, "dense_%d", l + 1);
        summary_row(out, name, "Dense", d->units, (size_t)d->fan_in * d->units + d->units);
        if (!d->has_bn) continue;
        snprintf(name, sizeof name, "batch_normalization_%d", ++n_bn);
        summary_row(out, name, "BatchNormalization", d->units, 4 * (size_t)d->units);
        if (cfg->bn == DD_BN_BEFORE) {
            snprintf(name, sizeof name, "activation_%d", ++n_act);
            summary_row(out, name, "Activation", d->units, 0);
        }
    }
    char a[32], b[32], c[32];
    summary_rule(out, '=');
    fprintf(out, "Total params: %s\nTrainable params: %s\nNon-trainable params: %s\n",
            dd_with_commas(layout->n_params, a), dd_with_commas(layout->n_trainable, b),
            dd_with_commas(layout->n_params - layout->n_trainable, c));
    summary_rule(out, '_');
}

static const char *activation_names[] = {"linear", "tanh", "sigmoid", "relu"};
static const char *bn_names[] = {"none", "before", "after"};
static const char *init_names[] = {"random_uniform", "glorot_uniform", "glorot_normal", "he_normal",
                                   "he_uniform"};
#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

static int lookup(const char *s, const char **names, int n) {
    for (int i = 0; i < n; i++)
        if (strcmp(s, names[i]) == 0) return i;
    return -1;
}

const char *dd_activation_name(dd_activation a) {
    return activation_names[a];
}
const char *dd_bn_name(dd_bn_place b) {
    return bn_names[b];
}
const char *dd_init_name(dd_init_kind k) {
    return init_names[k];
}

int dd_activation_parse(const char *s, dd_activation *out) {
    int i = lookup(s, activation_names, COUNT(activation_names));
    if (i >= 0) *out = (dd_activation)i;
    return i >= 0 ? 0 : -1;
}

int dd_bn_parse(const char *s, dd_bn_place *out) {
    int i = lookup(s, bn_names, COUNT(bn_names));
    if (i >= 0) *out = (dd_bn_place)i;
    return i >= 0 ? 0 : -1;
}

/* One number of a range: no blanks, nothing after it but END_CHAR, finite as a float. */
static int range_bound(const char *s, char end_char, const char **next, float *out) {
    char *end;
    if (*s == '\0' || isspace((unsigned char)*s)) return -1;
    double v = strtod(s, &end);
    if (end == s || *end != end_char || !(fabs(v) <= FLT_MAX)) return -1;
    *out = (float)v;
    *next = end;
    return 0;
}

/* "MIN,MAX" into INIT's bounds, MIN < MAX as floats. */
static int parse_range(const char *s, dd_init *init) {
    const char *next;
    if (range_bound(s, ',', &next, &init->min) != 0) return -1;
    if (range_bound(next + 1, '\0', &next, &init->max) != 0) return -1;
    return init->min < init->max ? 0 : -1;
}

/* NAME, or random_uniform:MIN,MAX for another range than the lab's +-0.1. */
int dd_init_parse(const char *s, dd_init *out, char *err) {
    char name[64];
    const char *colon = strchr(s, ':');
    size_t len = colon ? (size_t)(colon - s) : strlen(s);
    if (len >= sizeof name) len = sizeof name - 1;
    memcpy(name, s, len);
    name[len] = '\0';
    int i = lookup(name, init_names, COUNT(init_names));
    if (i < 0) {
        snprintf(err, DD_ERR_LEN,
                 "unknown initializer '%s' (random_uniform[:MIN,MAX], glorot_uniform, "
                 "glorot_normal, he_normal, he_uniform)",
                 s);
        return -1;
    }
    dd_init init = {(dd_init_kind)i, -DD_LAB_INIT_LIMIT, DD_LAB_INIT_LIMIT};
    if (colon && i != DD_INIT_RANDOM_UNIFORM) {
        snprintf(err, DD_ERR_LEN, "bad initializer '%s': only random_uniform takes a range", s);
        return -1;
    }
    if (colon && parse_range(colon + 1, &init) != 0) {
        snprintf(err, DD_ERR_LEN,
                 "bad initializer '%s': give random_uniform:MIN,MAX with MIN < MAX, both within "
                 "float range",
                 s);
        return -1;
    }
    *out = init;
    return 0;
}

void dd_model_describe(const dd_model_config *cfg, char *buf, size_t len) {
    size_t at = (size_t)snprintf(buf, len, "%d", DD_IMAGE_PIXELS);
    for (int l = 0; l < cfg->n_hidden && at < len; l++)
        at += (size_t)snprintf(buf + at, len - at, "-%d", cfg->units[l]);
    if (at < len)
        at += (size_t)snprintf(buf + at, len - at, "-%d, %s hidden, sigmoid output, BN %s, init %s",
                               DD_CLASSES, dd_activation_name(cfg->activation), dd_bn_name(cfg->bn),
                               dd_init_name(cfg->init.kind));
    if (at < len && cfg->init.kind == DD_INIT_RANDOM_UNIFORM)
        snprintf(buf + at, len - at, "(%g,%g)", cfg->init.min, cfg->init.max);
}
