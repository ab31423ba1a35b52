/* config.json of a run folder: written by train, read back by report; see run.h. One flat JSON
 * object; the reader is the checkpoints' strict one (json.h), with every field checked. */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <string.h>

#include "checkpoint_meta.h"
#include "deepdigits/run.h"
#include "deepdigits/variants.h"

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

static void put_integer(FILE *f, const char *key, long long value) {
    fprintf(f, "  \"%s\": %lld,\n", key, value);
}

/* A float in the fewest digits that read back as the same float (0.01, not 0.00999999978; but
 * 0.10000001 where 0.1 would read as another float). */
static void put_float(FILE *f, const char *key, float value) {
    dd_strbuf sb = {0};
    dd_sb_float(&sb, value);
    fprintf(f, "  \"%s\": %s,\n", key, sb.failed ? "null" : sb.data);
    dd_sb_free(&sb);
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
    put_integer(f, "variant", c->variant);
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
    put_integer(f, "epochs", o->epochs);
    put_integer(f, "batch", o->batch);
    put_integer(f, "seed", (long long)o->seed);
    put_integer(f, "subset", o->subset);
    put_integer(f, "train_samples", c->train_samples);
    put_string(f, "standardize", o->standardize == DD_STANDARDIZE_NONE ? "none" : "global", 0);
    put_bool(f, "diagnostics", o->diagnostics);
    put_bool(f, "allow_bn_batch1", c->allow_bn_batch1);
    put_integer(f, "params_total", (long long)c->params_total);
    put_integer(f, "params_trainable", (long long)c->params_trainable);
    put_string(f, "device", c->device, 0);
    put_string(f, "device_name", c->device_name, 0);
    put_string(f, "engine", dd_engine_name(o->engine), 0);
    put_integer(f, "fused_sms", o->fused_sms); /* --fused-sms, 0: the engine's rule */
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

/* ---- reading: the strict JSON reader (json.h), then every field's type and range ---- */

static int bad(char *why, const char *key, const char *what) {
    snprintf(why, DD_ERR_LEN, "\"%s\" %s", key, what);
    return -1;
}

/* String KEY into OUT (LEN bytes). Keys added to the format later are optional (REQUIRED 0):
 * OUT keeps its default. */
static int get_text(const dd_json *obj, const char *key, char *out, size_t len, int required,
                    char *why) {
    const dd_json *v = dd_json_get(obj, key);
    if (!v) return required ? bad(why, key, "missing") : 0;
    if (v->type != DD_JSON_STRING) return bad(why, key, "is not a string");
    if (strlen(v->string) >= len) return bad(why, key, "is too long");
    memcpy(out, v->string, strlen(v->string) + 1);
    return 0;
}

/* A name or description: printed in tables, plot titles and one-line messages, so it holds no
 * control characters (train writes none). */
static int get_label(const dd_json *obj, const char *key, char *out, size_t len, char *why) {
    if (get_text(obj, key, out, len, 1, why) != 0) return -1;
    for (const unsigned char *c = (const unsigned char *)out; *c; c++)
        if (*c < 0x20 || *c == 0x7f) return bad(why, key, "holds a control character");
    return 0;
}

static int get_bool(const dd_json *obj, const char *key, int *out, int required, char *why) {
    const dd_json *v = dd_json_get(obj, key);
    if (!v) return required ? bad(why, key, "missing") : 0;
    if (v->type != DD_JSON_BOOL) return bad(why, key, "is not true or false");
    *out = v->number != 0;
    return 0;
}

static int get_int(const dd_json *obj, const char *key, long long min, long long max, long *out,
                   char *why) {
    long long v;
    if (dd_json_get_int(obj, key, min, max, &v, why) != 0) return -1;
    *out = (long)v;
    return 0;
}

/* The model's part: hidden widths, activation, initializer (and its range), BN. */
static int read_model(const dd_json *v, dd_model_config *m, char *why) {
    char act[16] = "", bn[16] = "", init[32] = "", err[DD_ERR_LEN];
    if (dd_meta_read_hidden(v, m, why) != 0 || get_text(v, "activation", act, sizeof act, 1, why) ||
        get_text(v, "bn", bn, sizeof bn, 1, why) || get_text(v, "init", init, sizeof init, 1, why))
        return -1;
    if (dd_activation_parse(act, &m->activation) != 0) return bad(why, "activation", "unknown");
    if (dd_bn_parse(bn, &m->bn) != 0) return bad(why, "bn", "unknown");
    if (strchr(init, ':') || dd_init_parse(init, &m->init, err) != 0)
        return bad(why, "init", "unknown");
    if (m->init.kind != DD_INIT_RANDOM_UNIFORM) return 0;
    double lo, hi;
    if (dd_json_get_double(v, "init_min", &lo, why) || dd_json_get_double(v, "init_max", &hi, why))
        return -1;
    if (!(lo < hi) || !isfinite(lo) || !isfinite(hi) || fabs(lo) > FLT_MAX || fabs(hi) > FLT_MAX)
        return bad(why, "init_min", "and \"init_max\" must be finite floats, min below max");
    m->init.min = (float)lo, m->init.max = (float)hi;
    return 0;
}

/* The training options: what train's flags set. */
static int read_options(const dd_json *v, dd_train_options *o, char *why) {
    long epochs, batch, subset, sms = o->fused_sms;
    double lr, seed;
    char mode[16] = "", engine[16] = "";
    if (get_int(v, "epochs", 1, 100000, &epochs, why) ||
        get_int(v, "batch", 1, DD_MAX_BATCH, &batch, why) ||
        get_int(v, "subset", 0, 1L << 30, &subset, why) || dd_json_get_double(v, "lr", &lr, why) ||
        dd_json_get_double(v, "seed", &seed, why) ||
        get_text(v, "standardize", mode, sizeof mode, 1, why) ||
        get_bool(v, "diagnostics", &o->diagnostics, 1, why) ||
        get_text(v, "engine", engine, sizeof engine, 0, why) ||
        (dd_json_get(v, "fused_sms") && get_int(v, "fused_sms", 0, 4, &sms, why)) ||
        get_bool(v, "fused_pipe", &o->fused_pipe, 0, why))
        return -1;
    if (!(lr > 0 && lr <= 1e3)) return bad(why, "lr", "out of range");
    /* An integer, exactly; or, as the writer printed it until 2026-11, a whole number in 9
     * digits (1.23456789e+12). */
    const dd_json *exact = dd_json_get(v, "seed");
    if (!exact->is_integer && floor(seed) != seed) return bad(why, "seed", "is not a whole number");
    if (exact->is_integer ? exact->integer < 0 : !(seed >= 0 && seed < 0x1p63))
        return bad(why, "seed", "out of range");
    if (sms == 3) return bad(why, "fused_sms", "is not 0, 1, 2 or 4");
    if (strcmp(mode, "global") != 0 && strcmp(mode, "none") != 0)
        return bad(why, "standardize", "unknown");
    if (engine[0] && dd_engine_parse(engine, &o->engine) != 0) return bad(why, "engine", "unknown");
    o->epochs = (int)epochs, o->batch = (int)batch, o->subset = (int)subset;
    o->lr = (float)lr, o->fused_sms = (int)sms;
    o->seed = exact->is_integer ? (unsigned long long)exact->integer : (unsigned long long)seed;
    o->standardize = strcmp(mode, "none") == 0 ? DD_STANDARDIZE_NONE : DD_STANDARDIZE_GLOBAL;
    return 0;
}

int dd_run_config_parse(const char *text, size_t len, dd_run_config *c, char *why) {
    memset(c, 0, sizeof *c);
    c->opts = dd_train_options_lab();
    dd_json *v = dd_json_parse(text, len, why);
    if (!v) return -1;
    long variant, samples, total, trainable;
    int rc = -1;
    if (v->type != DD_JSON_OBJECT)
        snprintf(why, DD_ERR_LEN, "not a JSON object");
    else if (get_label(v, "name", c->name, sizeof c->name, why) == 0 &&
             get_label(v, "description", c->description, sizeof c->description, why) == 0 &&
             get_text(v, "device", c->device, sizeof c->device, 1, why) == 0 &&
             get_text(v, "device_name", c->device_name, sizeof c->device_name, 1, why) == 0 &&
             get_text(v, "data", c->data_dir, sizeof c->data_dir, 1, why) == 0 &&
             get_text(v, "created", c->created, sizeof c->created, 1, why) == 0 &&
             get_int(v, "variant", -1, DD_VARIANT_COUNT, &variant, why) == 0 &&
             get_int(v, "train_samples", 0, 1L << 30, &samples, why) == 0 &&
             get_int(v, "params_total", 0, 1L << 40, &total, why) == 0 &&
             get_int(v, "params_trainable", 0, 1L << 40, &trainable, why) == 0 &&
             get_bool(v, "allow_bn_batch1", &c->allow_bn_batch1, 0, why) == 0 &&
             read_model(v, &c->opts.model, why) == 0 && read_options(v, &c->opts, why) == 0) {
        if (!c->name[0])
            snprintf(why, DD_ERR_LEN, "\"name\" is empty");
        else {
            c->variant = (int)variant, c->train_samples = (int)samples;
            c->params_total = total, c->params_trainable = trainable;
            rc = 0;
        }
    }
    dd_json_free(v);
    return rc;
}

int dd_run_config_read(const char *path, dd_run_config *c, char *err) {
    FILE *f = fopen(path, "rb");
    char text[1 << 16], why[DD_ERR_LEN];
    size_t n = f ? fread(text, 1, sizeof text, f) : 0;
    /* A full buffer is too much only when another byte follows: a file of 64 KiB reads. */
    int too_big = f && n == sizeof text && fgetc(f) != EOF, failed = !f || ferror(f);
    if (f) fclose(f);
    if (failed || too_big) {
        snprintf(err, DD_ERR_LEN, "%.300s: cannot read: %s", path,
                 too_big ? "larger than 64 KiB"
                 : f     ? "read error"
                         : strerror(errno));
        return -1;
    }
    if (dd_run_config_parse(text, n, c, why) == 0) return 0;
    snprintf(err, DD_ERR_LEN, "%.200s: not a deepdigits config.json: %.250s", path, why);
    return -1;
}
