/* config.json of a run folder: written by train, read back by report; see run.h. The file is
 * one flat JSON object (the hidden widths are its only array), so the reader here is a small
 * tokenizer over that shape, not a general JSON parser. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "deepdigits/run.h"

static void put_string(FILE *f, const char *key, const char *value, int last) {
    fprintf(f, "  \"%s\": \"", key);
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fprintf(f, "\"%s\n", last ? "" : ",");
}

static void put_number(FILE *f, const char *key, double value) {
    fprintf(f, "  \"%s\": %.9g,\n", key, value);
}

/* A float as its shortest usual decimal form (0.01, not 0.00999999978). */
static void put_float(FILE *f, const char *key, float value) {
    fprintf(f, "  \"%s\": %.7g,\n", key, value);
}

static void put_bool(FILE *f, const char *key, int value) {
    fprintf(f, "  \"%s\": %s,\n", key, value ? "true" : "false");
}

int dd_run_config_write(const char *path, const dd_run_config *c, char *err) {
    FILE *f = fopen(path, "w");
    if (!f) {
        snprintf(err, DD_ERR_LEN, "%s: cannot write: %s", path, strerror(errno));
        return -1;
    }
    const dd_train_options *o = &c->opts;
    const dd_model_config *m = &o->model;
    fprintf(f, "{\n");
    put_string(f, "name", c->name, 0);
    put_number(f, "variant", c->variant);
    put_string(f, "description", c->description, 0);
    fprintf(f, "  \"hidden\": [");
    for (int l = 0; l < m->n_hidden; l++) fprintf(f, "%s%d", l ? ", " : "", m->units[l]);
    fprintf(f, "],\n");
    put_string(f, "activation", dd_activation_name(m->activation), 0);
    put_string(f, "output_activation", "sigmoid", 0);
    put_string(f, "init", dd_init_name(m->init.kind), 0);
    if (m->init.kind == DD_INIT_RANDOM_UNIFORM) { /* the only one with a range */
        put_float(f, "init_min", m->init.min);
        put_float(f, "init_max", m->init.max);
    }
    put_string(f, "bn", dd_bn_name(m->bn), 0);
    put_string(f, "loss", "mse", 0);
    put_string(f, "optimizer", "sgd", 0);
    put_float(f, "lr", o->lr);
    put_number(f, "epochs", o->epochs);
    put_number(f, "batch", o->batch);
    put_number(f, "seed", (double)o->seed);
    put_number(f, "subset", o->subset);
    put_number(f, "train_samples", c->train_samples);
    put_string(f, "standardize", o->standardize == DD_STANDARDIZE_NONE ? "none" : "global", 0);
    put_bool(f, "diagnostics", o->diagnostics);
    put_bool(f, "allow_bn_batch1", c->allow_bn_batch1);
    put_number(f, "params_total", (double)c->params_total);
    put_number(f, "params_trainable", (double)c->params_trainable);
    put_string(f, "device", c->device, 0);
    put_string(f, "device_name", c->device_name, 0);
    put_string(f, "engine", dd_engine_name(o->engine), 0);
    put_number(f, "fused_sms", o->fused_sms); /* --fused-sms, 0: the engine's rule */
    put_bool(f, "fused_pipe", o->fused_pipe);
    put_string(f, "data", c->data_dir, 0);
    put_string(f, "created", c->created, 1);
    fprintf(f, "}\n");
    if (fclose(f) != 0) {
        snprintf(err, DD_ERR_LEN, "%s: cannot write: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Reading: P walks the text; each parser leaves it after what it read, or returns -1. */
static void skip_space(const char **p) {
    while (isspace((unsigned char)**p)) (*p)++;
}

static int read_string(const char **p, char *out, size_t len) {
    skip_space(p);
    if (**p != '"') return -1;
    size_t n = 0;
    for ((*p)++; **p && **p != '"'; (*p)++) {
        char ch = **p;
        if (ch == '\\') {
            (*p)++;
            ch = **p;
            if (ch == 'u') {
                ch = (char)strtol((char[5]){(*p)[1], (*p)[2], (*p)[3], (*p)[4], 0}, NULL, 16);
                if (strnlen(*p, 5) < 5) return -1;
                *p += 4;
            } else if (ch == 'n')
                ch = '\n';
            else if (ch == 't')
                ch = '\t';
            else if (ch == '\0')
                return -1;
        }
        if (n + 1 < len) out[n++] = ch;
    }
    if (**p != '"') return -1;
    (*p)++;
    out[n] = '\0';
    return 0;
}

/* A number, true/false, or an array of numbers (stored in NUMS, up to MAX, count in *COUNT). */
static int read_value(const char **p, char *str, size_t len, double *nums, int max, int *count) {
    skip_space(p);
    *count = 0;
    if (**p == '"') return read_string(p, str, len);
    if (strncmp(*p, "true", 4) == 0 || strncmp(*p, "false", 5) == 0) {
        nums[(*count)++] = **p == 't';
        *p += **p == 't' ? 4 : 5;
        return 0;
    }
    int array = **p == '[';
    if (array) (*p)++;
    for (;;) {
        skip_space(p);
        if (array && **p == ']') break;
        char *end;
        double v = strtod(*p, &end);
        if (end == *p) return -1;
        if (*count < max) nums[(*count)++] = v;
        *p = end;
        skip_space(p);
        if (!array) return 0;
        if (**p == ',') (*p)++;
    }
    (*p)++;
    return 0;
}

static void store(dd_run_config *c, const char *key, const char *s, const double *v, int count) {
    dd_train_options *o = &c->opts;
    dd_model_config *m = &o->model;
    double x = count ? v[0] : 0;
    if (!strcmp(key, "name")) snprintf(c->name, sizeof c->name, "%s", s);
    if (!strcmp(key, "description")) snprintf(c->description, sizeof c->description, "%s", s);
    if (!strcmp(key, "device")) snprintf(c->device, sizeof c->device, "%s", s);
    if (!strcmp(key, "device_name")) snprintf(c->device_name, sizeof c->device_name, "%s", s);
    if (!strcmp(key, "data")) snprintf(c->data_dir, sizeof c->data_dir, "%s", s);
    if (!strcmp(key, "created")) snprintf(c->created, sizeof c->created, "%s", s);
    if (!strcmp(key, "activation")) dd_activation_parse(s, &m->activation);
    if (!strcmp(key, "bn")) dd_bn_parse(s, &m->bn);
    if (!strcmp(key, "engine")) dd_engine_parse(s, &o->engine);
    if (!strcmp(key, "standardize"))
        o->standardize = strcmp(s, "none") ? DD_STANDARDIZE_GLOBAL : DD_STANDARDIZE_NONE;
    if (!strcmp(key, "init")) {
        char err[DD_ERR_LEN];
        float lo = m->init.min, hi = m->init.max;
        if (dd_init_parse(s, &m->init, err) == 0) m->init.min = lo, m->init.max = hi;
    }
    if (!strcmp(key, "hidden")) {
        m->n_hidden = count;
        for (int l = 0; l < count; l++) m->units[l] = (int)v[l];
    }
    if (!strcmp(key, "variant")) c->variant = (int)x;
    if (!strcmp(key, "init_min")) m->init.min = (float)x;
    if (!strcmp(key, "init_max")) m->init.max = (float)x;
    if (!strcmp(key, "lr")) o->lr = (float)x;
    if (!strcmp(key, "epochs")) o->epochs = (int)x;
    if (!strcmp(key, "fused_sms")) o->fused_sms = (int)x;
    if (!strcmp(key, "fused_pipe")) o->fused_pipe = x != 0;
    if (!strcmp(key, "batch")) o->batch = (int)x;
    if (!strcmp(key, "seed")) o->seed = (unsigned long long)x;
    if (!strcmp(key, "subset")) o->subset = (int)x;
    if (!strcmp(key, "train_samples")) c->train_samples = (int)x;
    if (!strcmp(key, "diagnostics")) o->diagnostics = x != 0;
    if (!strcmp(key, "allow_bn_batch1")) c->allow_bn_batch1 = x != 0;
    if (!strcmp(key, "params_total")) c->params_total = (long)x;
    if (!strcmp(key, "params_trainable")) c->params_trainable = (long)x;
}

static char *slurp(const char *path, char *err) {
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    long size = -1;
    if (f && fseek(f, 0, SEEK_END) == 0) size = ftell(f);
    if (size >= 0 && size < (1 << 20) && fseek(f, 0, SEEK_SET) == 0) text = malloc(size + 1);
    if (text && fread(text, 1, (size_t)size, f) == (size_t)size)
        text[size] = '\0';
    else {
        snprintf(err, DD_ERR_LEN, "%s: cannot read: %s", path,
                 f ? "not a small file" : strerror(errno));
        free(text);
        text = NULL;
    }
    if (f) fclose(f);
    return text;
}

int dd_run_config_read(const char *path, dd_run_config *c, char *err) {
    char *text = slurp(path, err);
    if (!text) return -1;
    memset(c, 0, sizeof *c);
    c->opts = dd_train_options_lab();
    c->variant = -1;
    const char *p = text;
    skip_space(&p);
    int ok = *p++ == '{';
    while (ok) {
        char key[64], str[DD_RUN_PATH_LEN] = "";
        double nums[DD_MAX_HIDDEN];
        int count;
        skip_space(&p);
        if (*p == '}') break;
        ok = read_string(&p, key, sizeof key) == 0;
        skip_space(&p);
        ok = ok && *p++ == ':';
        ok = ok && read_value(&p, str, sizeof str, nums, DD_MAX_HIDDEN, &count) == 0;
        if (ok) store(c, key, str, nums, count);
        skip_space(&p);
        if (ok && *p == ',')
            p++;
        else
            ok = ok && *p == '}';
    }
    free(text);
    if (!ok) snprintf(err, DD_ERR_LEN, "%s: not a deepdigits config.json", path);
    return ok ? 0 : -1;
}
