/* Checkpoints: the parameter layout as named safetensors tensors, the configuration and training
 * state as metadata; see checkpoint.h. The container itself is src/safetensors.c, the metadata's
 * JSON src/checkpoint_meta.c. */
#include "deepdigits/checkpoint.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint_meta.h"
#include "files.h"
#include "safetensors.h"

#define MAX_TENSORS (DD_MAX_DENSE * 6)

static void tensor(dd_st_out *t, const char *prefix, int l, const char *what, const float *data,
                   uint64_t rows, uint64_t cols) {
    snprintf(t->name, sizeof t->name, "%s_%d.%s", prefix, l, what);
    t->rank = cols ? 2 : 1;
    t->shape[0] = rows;
    t->shape[1] = cols;
    t->data = data;
}

/* Every tensor of LAYOUT, in layout order, pointing into PARAMS (which may be NULL). */
static int list_tensors(const dd_layout *layout, const float *params, dd_st_out *t) {
    int n = 0;
    const float *p = params;
#define AT(off) (p ? p + (off) : NULL)
    for (int l = 0; l < layout->n_dense; l++) {
        const dd_dense_layout *d = &layout->dense[l];
        tensor(&t[n++], "dense", l + 1, "kernel", AT(d->kernel), (uint64_t)d->fan_in,
               (uint64_t)d->units);
        tensor(&t[n++], "dense", l + 1, "bias", AT(d->bias), (uint64_t)d->units, 0);
        if (!d->has_bn) continue;
        const char *bn = "batch_normalization";
        tensor(&t[n++], bn, l + 1, "gamma", AT(d->gamma), (uint64_t)d->units, 0);
        tensor(&t[n++], bn, l + 1, "beta", AT(d->beta), (uint64_t)d->units, 0);
        tensor(&t[n++], bn, l + 1, "moving_mean", AT(d->moving_mean), (uint64_t)d->units, 0);
        tensor(&t[n++], bn, l + 1, "moving_variance", AT(d->moving_var), (uint64_t)d->units, 0);
    }
#undef AT
    return n;
}

/* Appends "KEY": "<JSON text>" to the metadata object being built. */
static void meta_entry(dd_strbuf *meta, const char *key, const dd_strbuf *value) {
    dd_sb_printf(meta, "%s\"%s\":", meta->len > 1 ? "," : "", key);
    dd_sb_string(meta, value->failed ? "" : value->data);
}

int dd_checkpoint_save(const char *path, const float *params, const dd_checkpoint_state *state,
                       char *err) {
    dd_layout layout;
    char why[DD_ERR_LEN];
    if (dd_layout_build(&state->options.model, &layout, why) != 0) {
        snprintf(err, DD_ERR_LEN, "%.200s: %.300s", path, why);
        return -1;
    }
    dd_st_out t[MAX_TENSORS];
    int n = list_tensors(&layout, params, t);
    dd_strbuf meta = {0}, config = {0}, training = {0}, history = {0};
    dd_meta_write_config(&config, &state->options.model);
    dd_meta_write_training(&training, state);
    dd_meta_write_history(&history, state->history, state->epochs_done);
    dd_sb_printf(&meta, "{\"format\":\"%s\"", DD_CHECKPOINT_FORMAT);
    meta_entry(&meta, "config", &config);
    meta_entry(&meta, "training", &training);
    meta_entry(&meta, "history", &history);
    dd_sb_printf(&meta, "}");
    int failed = meta.failed || config.failed || training.failed || history.failed;
    int rc = failed ? -1 : dd_safetensors_save(path, meta.data, t, n, err);
    if (failed) snprintf(err, DD_ERR_LEN, "%.200s: out of memory for the metadata", path);
    dd_sb_free(&meta), dd_sb_free(&config), dd_sb_free(&training), dd_sb_free(&history);
    return rc;
}

/* Parses metadata KEY's JSON text; NULL with ERR filled when it is missing or invalid. */
static dd_json *meta_json(const dd_safetensors *st, const char *key, const char *name, char *err) {
    const char *text = dd_safetensors_meta(st, key);
    char why[DD_ERR_LEN];
    if (!text) {
        snprintf(err, DD_ERR_LEN, "%.200s: no \"%s\" in the metadata", name, key);
        return NULL;
    }
    dd_json *v = dd_json_parse(text, strlen(text), why);
    if (!v) snprintf(err, DD_ERR_LEN, "%.200s: metadata \"%s\": %.250s", name, key, why);
    return v;
}

/* Reads "config", "training" and "history" into STATE (history allocated). */
static int read_metadata(const dd_safetensors *st, const char *name, dd_checkpoint_state *state,
                         dd_layout *layout, char *err) {
    const char *format = dd_safetensors_meta(st, "format");
    if (!format || strcmp(format, DD_CHECKPOINT_FORMAT) != 0) {
        snprintf(err, DD_ERR_LEN,
                 "%.200s: not a deepdigits checkpoint (metadata format '%.40s', "
                 "expected '%s')",
                 name, format ? format : "", DD_CHECKPOINT_FORMAT);
        return -1;
    }
    char why[DD_ERR_LEN];
    const char *part = "config";
    dd_json *config = meta_json(st, "config", name, err);
    dd_json *training = config ? meta_json(st, "training", name, err) : NULL;
    dd_json *history = training ? meta_json(st, "history", name, err) : NULL;
    int rc = history ? 0 : -1;
    *state = (dd_checkpoint_state){.options = dd_train_options_lab()};
    if (rc == 0) rc = dd_meta_read_config(config, &state->options.model, why);
    if (rc == 0) rc = dd_layout_build(&state->options.model, layout, why);
    if (rc == 0) part = "training", rc = dd_meta_read_training(training, state, why);
    if (rc == 0) {
        part = "history";
        state->history = calloc((size_t)state->epochs_done + 1, sizeof *state->history);
        if (!state->history) snprintf(why, sizeof why, "out of memory");
        int n_layers = state->options.diagnostics ? layout->n_dense : 0;
        rc = state->history
                 ? dd_meta_read_history(history, state->history, state->epochs_done, n_layers, why)
                 : -1;
    }
    if (rc != 0 && history)
        snprintf(err, DD_ERR_LEN, "%.200s: metadata \"%s\": %.250s", name, part, why);
    dd_json_free(config), dd_json_free(training), dd_json_free(history);
    if (rc != 0) free(state->history), state->history = NULL;
    return rc;
}

static const dd_st_tensor *find_tensor(const dd_safetensors *st, const char *name) {
    for (int i = 0; i < st->n_tensors; i++)
        if (strcmp(st->tensors[i].name, name) == 0) return &st->tensors[i];
    return NULL;
}

static void shape_text(char *buf, size_t len, int rank, const uint64_t *shape) {
    int n = snprintf(buf, len, "[");
    for (int d = 0; d < rank && n > 0 && (size_t)n < len; d++)
        n += snprintf(buf + n, len - (size_t)n, "%s%llu", d ? ", " : "",
                      (unsigned long long)shape[d]);
    if (n > 0 && (size_t)n < len) snprintf(buf + n, len - (size_t)n, "]");
}

/* Checks that the file holds exactly the tensors LAYOUT needs, as F32 of the right shapes. */
static int check_tensors(const dd_safetensors *st, const dd_st_out *want, int n, const char *name,
                         char *err) {
    for (int i = 0; i < n; i++) {
        const dd_st_tensor *t = find_tensor(st, want[i].name);
        char got[128], need[128];
        if (!t) {
            snprintf(err, DD_ERR_LEN, "%.200s: no tensor %.64s, which the model's config needs",
                     name, want[i].name);
            return -1;
        }
        if (strcmp(t->dtype, "F32") != 0) {
            snprintf(err, DD_ERR_LEN, "%.200s: tensor %s has dtype %s, expected F32", name, t->name,
                     t->dtype);
            return -1;
        }
        shape_text(got, sizeof got, t->rank, t->shape);
        shape_text(need, sizeof need, want[i].rank, want[i].shape);
        if (strcmp(got, need) != 0) {
            snprintf(err, DD_ERR_LEN, "%.200s: tensor %s has shape %s, the model's config needs %s",
                     name, t->name, got, need);
            return -1;
        }
    }
    for (int i = 0; i < st->n_tensors && st->n_tensors != n; i++) {
        int known = 0;
        for (int k = 0; k < n && !known; k++)
            known = strcmp(st->tensors[i].name, want[k].name) == 0;
        if (!known) {
            snprintf(err, DD_ERR_LEN, "%.200s: unexpected tensor %.80s for the model's config",
                     name, st->tensors[i].name);
            return -1;
        }
    }
    return 0;
}

/* Reads tensor T's N little-endian floats into OUT. Every value must be finite, and a moving
 * variance not negative: either would turn every output into NaN without a word. */
static int read_f32(float *out, const uint8_t *in, uint64_t n, const char *tensor, const char *name,
                    char *err) {
    const int variance = strstr(tensor, "moving_variance") != NULL;
    for (uint64_t i = 0; i < n; i++) {
        uint32_t u = (uint32_t)in[4 * i] | (uint32_t)in[4 * i + 1] << 8 |
                     (uint32_t)in[4 * i + 2] << 16 | (uint32_t)in[4 * i + 3] << 24;
        memcpy(&out[i], &u, 4);
        if (!isfinite(out[i]) || (variance && out[i] < 0)) {
            snprintf(err, DD_ERR_LEN, "%.200s: tensor %.80s holds %g at element %llu%s", name,
                     tensor, (double)out[i], (unsigned long long)i,
                     variance ? ", not a variance" : ", not a finite number");
            return -1;
        }
    }
    return 0;
}

int dd_checkpoint_parse(const uint8_t *buf, size_t len, const char *name, float **params,
                        dd_checkpoint_state *state, char *err) {
    dd_safetensors st;
    dd_layout layout;
    *params = NULL;
    memset(state, 0, sizeof *state);
    if (dd_safetensors_parse(buf, len, name, &st, err) != 0) return -1;
    int rc = read_metadata(&st, name, state, &layout, err);
    dd_st_out want[MAX_TENSORS];
    int n = rc == 0 ? list_tensors(&layout, NULL, want) : 0;
    if (rc == 0) rc = check_tensors(&st, want, n, name, err);
    float *p = rc == 0 ? malloc(layout.n_params * sizeof *p + 1) : NULL;
    if (rc == 0 && !p) rc = -1, snprintf(err, DD_ERR_LEN, "%.200s: out of memory", name);
    if (rc == 0) list_tensors(&layout, p, want);
    for (int i = 0; rc == 0 && i < n; i++) {
        const dd_st_tensor *t = find_tensor(&st, want[i].name);
        rc = read_f32((float *)want[i].data, st.data + t->begin, (t->end - t->begin) / 4,
                      want[i].name, name, err);
    }
    dd_safetensors_free(&st);
    if (rc != 0) {
        free(p);
        free(state->history);
        state->history = NULL;
        return -1;
    }
    *params = p;
    return 0;
}

/* Reads all of PATH (a regular file) into memory. */
static uint8_t *read_file(const char *path, size_t *len, char *err) {
    struct stat s;
    const int fd = dd_open_regular(path, &s);
    const char *why = fd == DD_OPEN_DIRECTORY ? "is a directory, not a checkpoint"
                      : fd == DD_OPEN_SPECIAL ? "is not a regular file"
                      : fd < 0                ? strerror(errno)
                                              : NULL;
    uint8_t *buf = why ? NULL : malloc((size_t)s.st_size + 1);
    if (!why && !buf) why = "out of memory";
    size_t got = why ? 0 : dd_read_up_to(fd, buf, (size_t)s.st_size);
    if (!why && got < (size_t)s.st_size)
        why = errno ? strerror(errno) : "file shrank while reading";
    if (fd >= 0) close(fd);
    if (why) {
        snprintf(err, DD_ERR_LEN, "%.200s: cannot read the checkpoint: %s", path, why);
        free(buf);
        return NULL;
    }
    *len = got;
    return buf;
}

int dd_checkpoint_load(const char *path, float **params, dd_checkpoint_state *state, char *err) {
    size_t len;
    *params = NULL;
    memset(state, 0, sizeof *state);
    uint8_t *buf = read_file(path, &len, err);
    if (!buf) return -1;
    int rc = dd_checkpoint_parse(buf, len, path, params, state, err);
    free(buf);
    return rc;
}

void dd_checkpoint_table(const dd_checkpoint_state *state, float table[256]) {
    dd_standardize_apply(state->options.standardize, state->mean, state->std, table);
}

int dd_checkpoint_check_images(const dd_checkpoint_state *state, const dd_dataset *train,
                               const char *hint, char *err) {
    const int n = dd_train_images(&state->options, train->count);
    if (n > train->count) {
        snprintf(err, DD_ERR_LEN,
                 "the model was trained on %d images, and this training set has %d: give the %s "
                 "it was trained on",
                 n, train->count, hint);
        return -1;
    }
    double mean, std;
    float table[256];
    dd_standardize_table(train, n, state->options.standardize, table, &mean, &std);
    if (mean == state->mean && std == state->std) return 0;
    snprintf(err, DD_ERR_LEN,
             "the training images differ from the checkpoint's (pixel mean %.6g, std %.6g; the "
             "checkpoint's %.6g, %.6g): give the %s it was trained on",
             mean, std, state->mean, state->std, hint);
    return -1;
}
