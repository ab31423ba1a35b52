/* JSON of the model configuration, training state and history; see checkpoint_meta.h. Doubles
 * are written with 17 significant digits and floats with 9, so both read back bit for bit. */
#include "checkpoint_meta.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "deepdigits/idx.h"

/* "dataset"'s values, indexed by dd_dataset_kind (UNKNOWN is never written). */
static const char *const dataset_names[] = {"", "mnist", "fashion", "custom"};

/* ---- writers ---- */

static void double_array(dd_strbuf *sb, const char *key, const double *x, int n) {
    dd_sb_printf(sb, ",\"%s\":[", key);
    for (int i = 0; i < n; i++) {
        if (i) dd_sb_printf(sb, ",");
        dd_sb_double(sb, x[i]);
    }
    dd_sb_printf(sb, "]");
}

void dd_meta_write_config(dd_strbuf *sb, const dd_model_config *cfg) {
    dd_sb_printf(sb, "{\"hidden\":[");
    for (int l = 0; l < cfg->n_hidden; l++) dd_sb_printf(sb, "%s%d", l ? "," : "", cfg->units[l]);
    dd_sb_printf(sb, "],\"activation\":\"%s\",\"bn\":\"%s\",", dd_activation_name(cfg->activation),
                 dd_bn_name(cfg->bn));
    dd_sb_printf(sb, "\"init\":{\"kind\":\"%s\"", dd_init_name(cfg->init.kind));
    if (cfg->init.kind == DD_INIT_RANDOM_UNIFORM) { /* the only one with a range */
        dd_sb_printf(sb, ",\"min\":");
        dd_sb_float(sb, cfg->init.min);
        dd_sb_printf(sb, ",\"max\":");
        dd_sb_float(sb, cfg->init.max);
    }
    dd_sb_printf(sb, "}}");
}

static void write_sums(dd_strbuf *sb, const dd_sums *s, double seconds) {
    dd_sb_printf(sb, "{\"loss_sum\":");
    dd_sb_double(sb, s->loss_sum);
    dd_sb_printf(sb, ",\"correct\":%ld,\"samples\":%ld,\"steps\":%ld,\"seconds\":", s->correct,
                 s->samples, s->steps);
    dd_sb_double(sb, seconds);
    double_array(sb, "grad_sq", s->grad_sq, DD_MAX_DENSE);
    dd_sb_printf(sb, "}");
}

void dd_meta_write_training(dd_strbuf *sb, const dd_checkpoint_state *st) {
    const dd_train_options *o = &st->options;
    dd_sb_printf(sb, "{\"epochs\":%d,\"batch\":%d,\"lr\":", o->epochs, o->batch);
    dd_sb_float(sb, o->lr);
    dd_sb_printf(sb, ",\"seed\":%llu,\"subset\":%d,", o->seed, o->subset);
    if (o->dataset != DD_DATASET_UNKNOWN)
        dd_sb_printf(sb, "\"dataset\":\"%s\",", dataset_names[o->dataset]);
    dd_sb_printf(sb, "\"standardize\":\"%s\",\"mean\":",
                 o->standardize == DD_STANDARDIZE_NONE ? "none" : "global");
    dd_sb_double(sb, st->mean);
    dd_sb_printf(sb, ",\"std\":");
    dd_sb_double(sb, st->std);
    dd_sb_printf(sb, ",\"diagnostics\":%s,\"epochs_done\":%d,\"step\":%ld,\"partial\":",
                 o->diagnostics ? "true" : "false", st->epochs_done, st->step);
    write_sums(sb, &st->partial, st->partial_seconds);
    dd_sb_printf(sb, "}");
}

void dd_meta_write_history(dd_strbuf *sb, const dd_epoch_stats *h, int n) {
    dd_sb_printf(sb, "[");
    for (int i = 0; i < n; i++) {
        const dd_epoch_stats *e = &h[i];
        double sat[DD_MAX_DENSE], mean[DD_MAX_DENSE], sd[DD_MAX_DENSE];
        for (int l = 0; l < e->n_layers; l++) {
            sat[l] = e->probe[l].saturated;
            mean[l] = e->probe[l].preact_mean;
            sd[l] = e->probe[l].preact_std;
        }
        dd_sb_printf(sb, "%s{\"epoch\":%d", i ? "," : "", e->epoch);
        double values[] = {e->loss,    e->acc,           e->val_loss,
                           e->val_acc, e->train_seconds, e->eval_seconds};
        const char *names[] = {"loss",    "acc",           "val_loss",
                               "val_acc", "train_seconds", "eval_seconds"};
        for (int k = 0; k < 6; k++) {
            dd_sb_printf(sb, ",\"%s\":", names[k]);
            dd_sb_double(sb, values[k]);
        }
        dd_sb_printf(sb, ",\"steps\":%ld", e->steps);
        double_array(sb, "grad_rms", e->grad_rms, e->n_layers);
        double_array(sb, "saturated", sat, e->n_layers);
        double_array(sb, "preact_mean", mean, e->n_layers);
        double_array(sb, "preact_std", sd, e->n_layers);
        dd_sb_printf(sb, "}");
    }
    dd_sb_printf(sb, "]");
}

/* ---- readers ---- */

static int bad(char *why, const char *fmt, const char *key) {
    snprintf(why, DD_ERR_LEN, fmt, key);
    return -1;
}

/* An array of exactly N numbers (or nulls). */
static int get_doubles(const dd_json *obj, const char *key, double *out, int n, char *why) {
    const dd_json *v = dd_json_get(obj, key);
    if (!v || v->type != DD_JSON_ARRAY || v->count != (size_t)n)
        return bad(why, "\"%s\" missing or of the wrong length", key);
    int i = 0;
    for (const dd_json *x = v->child; x; x = x->next, i++) {
        if (x->type == DD_JSON_NULL)
            out[i] = NAN;
        else if (x->type == DD_JSON_NUMBER)
            out[i] = x->number;
        else
            return bad(why, "\"%s\" holds something other than numbers", key);
    }
    return 0;
}

int dd_meta_read_hidden(const dd_json *v, dd_model_config *cfg, char *why) {
    const dd_json *hidden = dd_json_get(v, "hidden");
    cfg->n_hidden = 0;
    if (!hidden || hidden->type != DD_JSON_ARRAY || hidden->count > DD_MAX_HIDDEN)
        return bad(why, "\"%s\" missing, not an array or too long", "hidden");
    for (const dd_json *u = hidden->child; u; u = u->next) {
        if (u->type != DD_JSON_NUMBER || !u->is_integer || u->integer < 1 ||
            u->integer > DD_MAX_UNITS)
            return snprintf(why, DD_ERR_LEN, "\"hidden\" holds a width outside 1..%d",
                            DD_MAX_UNITS),
                   -1;
        cfg->units[cfg->n_hidden++] = (int)u->integer;
    }
    return 0;
}

int dd_meta_read_config(const dd_json *v, dd_model_config *cfg, char *why) {
    memset(cfg, 0, sizeof *cfg);
    const dd_json *init = dd_json_get(v, "init");
    if (dd_meta_read_hidden(v, cfg, why) != 0) return -1;
    const char *act = dd_json_get_string(v, "activation"), *bn = dd_json_get_string(v, "bn");
    const char *kind = dd_json_get_string(init, "kind");
    if (!act || dd_activation_parse(act, &cfg->activation) != 0)
        return bad(why, "\"%s\" missing or unknown", "activation");
    if (!bn || dd_bn_parse(bn, &cfg->bn) != 0) return bad(why, "\"%s\" missing or unknown", "bn");
    char err[DD_ERR_LEN];
    double lo, hi;
    if (!kind || dd_init_parse(kind, &cfg->init, err) != 0)
        return bad(why, "\"%s\" missing or unknown", "init");
    if (cfg->init.kind != DD_INIT_RANDOM_UNIFORM) return 0; /* a range, if any, is not its own */
    if (dd_json_get_double(init, "min", &lo, why) || dd_json_get_double(init, "max", &hi, why))
        return -1;
    if (!(lo < hi) || !isfinite(lo) || !isfinite(hi))
        return bad(why, "\"%s\": min must be below max", "init");
    cfg->init.min = (float)lo;
    cfg->init.max = (float)hi;
    return 0;
}

/* KEY's value X within LO..HI; NULL_OK lets it be null (NaN), a value a run may record. */
static int in_range(double x, double lo, double hi, int null_ok, const char *key, char *why) {
    if ((isnan(x) && null_ok) || (x >= lo && x <= hi)) return 0;
    char value[32] = "null"; /* the JSON reader takes no other text to NaN */
    if (!isnan(x)) snprintf(value, sizeof value, "%g", x);
    if (isinf(hi))
        snprintf(why, DD_ERR_LEN, "\"%s\" is %s, expected %g or more", key, value, lo);
    else
        snprintf(why, DD_ERR_LEN, "\"%s\" is %s, expected %g to %g", key, value, lo, hi);
    return -1;
}

/* Every one of KEY's N values within LO..HI, or null. */
static int all_in_range(const double *x, int n, double lo, double hi, const char *key, char *why) {
    for (int i = 0; i < n; i++)
        if (in_range(x[i], lo, hi, 1, key, why) != 0) return -1;
    return 0;
}

static int read_sums(const dd_json *v, dd_checkpoint_state *st, char *why) {
    long long correct, samples, steps;
    if (!v || v->type != DD_JSON_OBJECT) return bad(why, "\"%s\" missing", "partial");
    if (dd_json_get_double(v, "loss_sum", &st->partial.loss_sum, why) ||
        dd_json_get_int(v, "correct", 0, 1LL << 40, &correct, why) ||
        dd_json_get_int(v, "samples", 0, 1LL << 40, &samples, why) ||
        dd_json_get_int(v, "steps", 0, 1LL << 40, &steps, why) ||
        dd_json_get_double(v, "seconds", &st->partial_seconds, why) ||
        get_doubles(v, "grad_sq", st->partial.grad_sq, DD_MAX_DENSE, why))
        return -1;
    /* Training stops when a loss is not finite, so a saved sum of losses always is. */
    if (in_range(st->partial.loss_sum, 0, HUGE_VAL, 0, "loss_sum", why) ||
        in_range(st->partial_seconds, 0, HUGE_VAL, 0, "seconds", why) ||
        all_in_range(st->partial.grad_sq, DD_MAX_DENSE, 0, HUGE_VAL, "grad_sq", why))
        return -1;
    if (correct > samples) return bad(why, "\"%s\" exceeds \"samples\"", "correct");
    st->partial.correct = (long)correct;
    st->partial.samples = (long)samples;
    st->partial.steps = (long)steps;
    return 0;
}

/* "dataset": one of dataset_names, or absent (a checkpoint written before it was recorded:
 * unknown). */
static int read_dataset(const dd_json *v, dd_dataset_kind *out, char *why) {
    const dd_json *d = dd_json_get(v, "dataset");
    *out = DD_DATASET_UNKNOWN;
    if (!d) return 0;
    if (d->type != DD_JSON_STRING)
        return bad(why, "\"%s\" is not a string (expected mnist, fashion or custom)", "dataset");
    for (int k = DD_DATASET_MNIST; k <= DD_DATASET_CUSTOM; k++)
        if (strcmp(d->string, dataset_names[k]) == 0) return *out = (dd_dataset_kind)k, 0;
    char shown[41]; /* its start, each control character a '?': the message stays one line */
    size_t n = 0;
    for (; d->string[n] && n < sizeof shown - 1; n++)
        shown[n] = (unsigned char)d->string[n] < 0x20 || d->string[n] == 0x7f ? '?' : d->string[n];
    shown[n] = '\0';
    snprintf(why, DD_ERR_LEN, "\"dataset\" is '%s', expected mnist, fashion or custom", shown);
    return -1;
}

int dd_meta_read_training(const dd_json *v, dd_checkpoint_state *st, char *why) {
    dd_train_options *o = &st->options;
    long long epochs, batch, seed, subset, done, step;
    double lr;
    const char *mode = dd_json_get_string(v, "standardize");
    const dd_json *diag = dd_json_get(v, "diagnostics");
    if (dd_json_get_int(v, "epochs", 1, 100000, &epochs, why) ||
        dd_json_get_int(v, "batch", 1, DD_MAX_BATCH, &batch, why) ||
        dd_json_get_double(v, "lr", &lr, why) ||
        dd_json_get_int(v, "seed", 0, DD_MAX_SEED, &seed, why) ||
        dd_json_get_int(v, "subset", 0, 1LL << 30, &subset, why) ||
        dd_json_get_int(v, "epochs_done", 0, epochs, &done, why) ||
        dd_json_get_int(v, "step", 0, 1LL << 30, &step, why) ||
        dd_json_get_double(v, "mean", &st->mean, why) ||
        dd_json_get_double(v, "std", &st->std, why) ||
        read_sums(dd_json_get(v, "partial"), st, why) || read_dataset(v, &o->dataset, why))
        return -1;
    if (!(lr > 0 && lr <= 1e3)) return bad(why, "\"%s\" out of range", "lr");
    if (!mode || (strcmp(mode, "global") != 0 && strcmp(mode, "none") != 0))
        return bad(why, "\"%s\" missing or unknown", "standardize");
    /* Statistics of 8-bit pixels: a mean within 0..255, and a std that leaves every standardized
     * pixel a finite float (1e-300 passed for positive, then made the table infinite). */
    if (!(st->mean >= 0 && st->mean <= 255))
        return bad(why, "\"%s\": not a mean of pixels (0 to 255)", "mean");
    if (!(st->std > 0 && st->std <= 255) || !isfinite((float)(255 / st->std)))
        return bad(why, "\"%s\": not a standard deviation of pixels", "std");
    if (!diag || diag->type != DD_JSON_BOOL) return bad(why, "\"%s\" missing", "diagnostics");
    o->epochs = (int)epochs, o->batch = (int)batch, o->lr = (float)lr;
    o->seed = (unsigned long long)seed, o->subset = (int)subset;
    o->standardize = strcmp(mode, "none") == 0 ? DD_STANDARDIZE_NONE : DD_STANDARDIZE_GLOBAL;
    o->diagnostics = diag->number != 0;
    st->epochs_done = (int)done;
    st->step = (long)step;
    return 0;
}

/* History entry EPOCH (1-based). */
static int read_epoch(const dd_json *v, dd_epoch_stats *e, int n_layers, int epoch, char *why) {
    long long number, steps;
    double sat[DD_MAX_DENSE], mean[DD_MAX_DENSE], sd[DD_MAX_DENSE];
    memset(e, 0, sizeof *e);
    if (v->type != DD_JSON_OBJECT) return bad(why, "%s", "not an object");
    if (dd_json_get_int(v, "epoch", epoch, epoch, &number, why) ||
        dd_json_get_double(v, "loss", &e->loss, why) ||
        dd_json_get_double(v, "acc", &e->acc, why) ||
        dd_json_get_double(v, "val_loss", &e->val_loss, why) ||
        dd_json_get_double(v, "val_acc", &e->val_acc, why) ||
        dd_json_get_double(v, "train_seconds", &e->train_seconds, why) ||
        dd_json_get_double(v, "eval_seconds", &e->eval_seconds, why) ||
        dd_json_get_int(v, "steps", 0, 1LL << 40, &steps, why) ||
        get_doubles(v, "grad_rms", e->grad_rms, n_layers, why) ||
        get_doubles(v, "saturated", sat, n_layers, why) ||
        get_doubles(v, "preact_mean", mean, n_layers, why) ||
        get_doubles(v, "preact_std", sd, n_layers, why))
        return -1;
    /* What a run records: losses and times that are finite (training stops otherwise),
     * fractions within 0..1, and diagnostics that may be null. */
    if (in_range(e->loss, 0, HUGE_VAL, 0, "loss", why) || in_range(e->acc, 0, 1, 0, "acc", why) ||
        in_range(e->val_loss, 0, HUGE_VAL, 1, "val_loss", why) ||
        in_range(e->val_acc, 0, 1, 0, "val_acc", why) ||
        in_range(e->train_seconds, 0, HUGE_VAL, 0, "train_seconds", why) ||
        in_range(e->eval_seconds, 0, HUGE_VAL, 0, "eval_seconds", why) ||
        all_in_range(e->grad_rms, n_layers, 0, HUGE_VAL, "grad_rms", why) ||
        all_in_range(sat, n_layers, 0, 1, "saturated", why) ||
        all_in_range(sd, n_layers, 0, HUGE_VAL, "preact_std", why))
        return -1;
    e->epoch = epoch;
    e->steps = (long)steps;
    e->n_layers = n_layers;
    for (int l = 0; l < n_layers; l++)
        e->probe[l] =
            (dd_layer_probe){.saturated = sat[l], .preact_mean = mean[l], .preact_std = sd[l]};
    return 0;
}

int dd_meta_read_history(const dd_json *v, dd_epoch_stats *h, int n, int n_layers, char *why) {
    if (!v || v->type != DD_JSON_ARRAY || v->count != (size_t)n) {
        snprintf(why, DD_ERR_LEN, "history must list the %d completed epochs", n);
        return -1;
    }
    int i = 0;
    for (const dd_json *e = v->child; e; e = e->next, i++) {
        char inner[DD_ERR_LEN];
        if (read_epoch(e, &h[i], n_layers, i + 1, inner) == 0) continue;
        snprintf(why, DD_ERR_LEN, "history entry %d: %.400s", i + 1, inner);
        return -1;
    }
    return 0;
}
