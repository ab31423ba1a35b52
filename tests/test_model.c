/* The model's configuration by hand (model.h): the layout's limits, the Keras-style summary the
 * CLI prints before training, the names of activations, BN placements and initializers read back
 * from the command line, random_uniform's MIN,MAX, and the one-line description eval prints. */
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deepdigits/model.h"
#include "testutil.h"

/* The summary of CFG as one string (NULL when the layout is refused); free it. */
static char *summary_of(const dd_model_config *cfg) {
    dd_layout layout;
    char err[DD_ERR_LEN];
    if (dd_layout_build(cfg, &layout, err) != 0) {
        CHECK(0, "dd_layout_build: %s", err);
        return NULL;
    }
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    dd_model_summary(cfg, &layout, f);
    fclose(f);
    return text;
}

/* The line of TEXT that starts with " NAME (" (a layer's row), or NULL. */
static const char *row_of(const char *text, const char *name) {
    char key[64];
    snprintf(key, sizeof key, "\n %s (", name);
    const char *at = strstr(text, key);
    return at ? at + 1 : NULL;
}

/* The row of layer NAME names TYPE, has output shape (None, WIDTH) and PARAMS parameters (a plain
 * number, as Keras prints it), each in the header's column. */
static void expect_row(const char *text, const char *name, const char *type, int width,
                       long params) {
    const char *row = row_of(text, name), *header = strstr(text, "\n Layer (type)");
    if (!row || !header) {
        CHECK(0, "no row for %s in:\n%s", name, text);
        return;
    }
    header++;
    char label[96], shape[32], want[160];
    snprintf(label, sizeof label, "%s (%s)", name, type);
    snprintf(shape, sizeof shape, "(None, %d)", width);
    const long shape_at = strstr(header, "Output Shape") - header;
    const long param_at = strstr(header, "Param #") - header;
    /* The row, padded to the header's columns. */
    snprintf(want, sizeof want, " %-*s%-*s%ld\n", (int)shape_at - 1, label,
             (int)(param_at - shape_at), shape, params);
    CHECK(strncmp(row, want, strlen(want)) == 0, "%s: row\n%.*s\nexpected\n%s", name,
          (int)strcspn(row, "\n") + 1, row, want);
}

/* Layer names in the order of their rows, joined by spaces. */
static void layer_order(const char *text, char *out, size_t len) {
    out[0] = '\0';
    const char *line = strstr(text, "\n=");
    for (line = line ? strchr(line + 1, '\n') : NULL; line && line[1] == ' ';
         line = strchr(line + 1, '\n')) {
        char name[64];
        if (sscanf(line + 2, "%63s", name) != 1) break;
        size_t at = strlen(out);
        snprintf(out + at, len - at, "%s%s", at ? " " : "", name);
    }
}

/* Every rule is as long as the widest row, so that the table reads as a box. */
static void expect_rules(const char *text) {
    size_t widest = 0, rule = 0;
    int rules_differ = 0;
    for (const char *line = text; *line;) {
        size_t len = strcspn(line, "\n");
        if (line[0] == '_' || line[0] == '=') {
            if (rule && len != rule) rules_differ = 1;
            rule = len;
        } else if (line[0] == ' ' && len > widest) {
            widest = len;
        }
        line += len + (line[len] == '\n');
    }
    CHECK(!rules_differ && rule >= widest, "rules of %zu characters for rows up to %zu:\n%s", rule,
          widest, text);
}

/* The lab's 784-25-10, as Keras's model.summary() counts it: Flatten has no parameters, a Dense
 * layer fan_in * units + units, 784*25+25 + 25*10+10 = 19,885 in all, none of them frozen. */
static void summary_of_the_lab(void) {
    const dd_model_config lab = dd_model_config_lab();
    char *text = summary_of(&lab);
    if (!text) return;
    CHECK(strncmp(text, "Model: \"sequential\"\n", 20) == 0, "title:\n%s", text);
    expect_row(text, "flatten", "Flatten", 784, 0);
    expect_row(text, "dense_1", "Dense", 25, 784 * 25 + 25);
    expect_row(text, "dense_2", "Dense", 10, 25 * 10 + 10);
    char order[256];
    layer_order(text, order, sizeof order);
    CHECK(strcmp(order, "flatten dense_1 dense_2") == 0, "layers '%s'", order);
    CHECK(strstr(text, "\nTotal params: 19,885\nTrainable params: 19,885\n"
                       "Non-trainable params: 0\n") != NULL,
          "totals:\n%s", text);
    expect_rules(text);
    free(text);
}

/* BatchNormalization has 4 parameters a unit, gamma and beta trained, the moving mean and
 * variance not: three BN layers of 25 add 300, 150 of them non-trainable. Before the activation
 * the Dense layer is linear and an Activation layer follows each BN (Keras numbers each type on
 * its own); after it, the Dense layer applies it and there is no Activation layer. */
static void summary_with_bn(void) {
    const long dense = (784 * 25 + 25) + 2 * (25 * 25 + 25) + (25 * 10 + 10);
    for (dd_bn_place bn = DD_BN_BEFORE; bn <= DD_BN_AFTER; bn++) {
        const dd_model_config cfg = dd_test_network(3, 25, bn, dd_model_config_lab().init);
        char *text = summary_of(&cfg);
        if (!text) continue;
        expect_row(text, "dense_1", "Dense", 25, 784 * 25 + 25);
        expect_row(text, "dense_2", "Dense", 25, 25 * 25 + 25);
        expect_row(text, "dense_4", "Dense", 10, 25 * 10 + 10);
        expect_row(text, "batch_normalization_3", "BatchNormalization", 25, 4 * 25);
        char order[512];
        layer_order(text, order, sizeof order);
        const char *want =
            bn == DD_BN_BEFORE
                ? "flatten dense_1 batch_normalization_1 activation_1 dense_2 "
                  "batch_normalization_2 activation_2 dense_3 batch_normalization_3 activation_3 "
                  "dense_4"
                : "flatten dense_1 batch_normalization_1 dense_2 batch_normalization_2 dense_3 "
                  "batch_normalization_3 dense_4";
        CHECK(strcmp(order, want) == 0, "BN %s: layers '%s', expected '%s'", dd_bn_name(bn), order,
              want);
        if (bn == DD_BN_BEFORE) expect_row(text, "activation_2", "Activation", 25, 0);
        char totals[160];
        snprintf(totals, sizeof totals,
                 "\nTotal params: %ld,%03ld\nTrainable params: %ld,%03ld\n"
                 "Non-trainable params: %d\n",
                 (dense + 300) / 1000, (dense + 300) % 1000, (dense + 150) / 1000,
                 (dense + 150) % 1000, 150);
        CHECK(strstr(text, totals) != NULL, "BN %s: want%s in:\n%s", dd_bn_name(bn), totals, text);
        expect_rules(text);
        free(text);
    }
}

/* Thousands are grouped by commas at any length, with none in front: 784-200-10 has
 * 784*200+200 + 200*10+10 = 159,010 parameters, 784-4096-4096-10 (the widest two layers)
 * 3,215,360 + 16,781,312 + 40,970 = 20,037,642; a model without hidden layers 7,850. */
static void expect_total(const dd_model_config *cfg, const char *total) {
    char *text = summary_of(cfg), want[64];
    if (!text) return;
    snprintf(want, sizeof want, "\nTotal params: %s\n", total);
    CHECK(strstr(text, want) != NULL, "want%sin:\n%s", want, text);
    expect_rules(text);
    free(text);
}

static void summary_groups_thousands(void) {
    dd_model_config cfg = dd_model_config_lab();
    cfg.units[0] = 200;
    expect_total(&cfg, "159,010");
    char *text = summary_of(&cfg);
    if (text) expect_row(text, "dense_1", "Dense", 200, 784 * 200 + 200);
    free(text);
    cfg.n_hidden = 2, cfg.units[0] = cfg.units[1] = DD_MAX_UNITS;
    expect_total(&cfg, "20,037,642");
    cfg.n_hidden = 0;
    expect_total(&cfg, "7,850");
}

/* At most 16 hidden layers of 1..4096 units; the refusal names the layer, counted from 1. */
static void layout_limits(void) {
    dd_model_config cfg = dd_model_config_lab();
    dd_layout layout;
    char err[DD_ERR_LEN];
    cfg.n_hidden = DD_MAX_HIDDEN;
    for (int l = 0; l < DD_MAX_HIDDEN; l++) cfg.units[l] = 1;
    cfg.units[1] = DD_MAX_UNITS;
    CHECK(dd_layout_build(&cfg, &layout, err) == 0, "16 hidden layers, one of 4096: %s", err);
    cfg.units[1] = DD_MAX_UNITS + 1;
    CHECK(dd_layout_build(&cfg, &layout, err) != 0 &&
              strstr(err, "hidden layer 2 has 4097 units: must be 1..4096"),
          "4097 units: '%s'", err);
    cfg.units[1] = 0;
    CHECK(dd_layout_build(&cfg, &layout, err) != 0 && strstr(err, "hidden layer 2 has 0 units"),
          "0 units: '%s'", err);
    cfg.units[1] = 1;
    cfg.n_hidden = DD_MAX_HIDDEN + 1;
    CHECK(dd_layout_build(&cfg, &layout, err) != 0 &&
              strstr(err, "17 hidden layers: must be 0..16"),
          "17 hidden layers: '%s'", err);
}

/* Each name reads back as what it names; other spellings, prefixes and blanks do not. */
static void names_round_trip(void) {
    static const char *activations[] = {"linear", "tanh", "sigmoid", "relu"};
    static const char *bns[] = {"none", "before", "after"};
    static const char *inits[] = {"random_uniform", "glorot_uniform", "glorot_normal", "he_normal",
                                  "he_uniform"};
    char err[DD_ERR_LEN];
    for (int i = 0; i < 4; i++) {
        dd_activation a = (dd_activation)-1;
        CHECK(dd_activation_parse(activations[i], &a) == 0 && a == (dd_activation)i &&
                  strcmp(dd_activation_name(a), activations[i]) == 0,
              "activation %s", activations[i]);
    }
    for (int i = 0; i < 3; i++) {
        dd_bn_place b = (dd_bn_place)-1;
        CHECK(dd_bn_parse(bns[i], &b) == 0 && b == (dd_bn_place)i &&
                  strcmp(dd_bn_name(b), bns[i]) == 0,
              "bn %s", bns[i]);
    }
    for (int i = 0; i < 5; i++) {
        dd_init init = {(dd_init_kind)-1, 0, 0};
        CHECK(dd_init_parse(inits[i], &init, err) == 0 && init.kind == (dd_init_kind)i &&
                  init.min == -DD_LAB_INIT_LIMIT && init.max == DD_LAB_INIT_LIMIT &&
                  strcmp(dd_init_name(init.kind), inits[i]) == 0,
              "init %s: %s", inits[i], err);
    }
    static const char *bad[] = {"", "tan", "tanh ", "Tanh", "relu6", "he"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        dd_activation a;
        dd_bn_place b;
        dd_init init;
        CHECK(dd_activation_parse(bad[i], &a) != 0 && dd_bn_parse(bad[i], &b) != 0 &&
                  dd_init_parse(bad[i], &init, err) != 0,
              "'%s' was read as a name", bad[i]);
    }
    CHECK(dd_init_parse("orthogonal", &(dd_init){0}, err) != 0 &&
              strstr(err, "unknown initializer 'orthogonal'"),
          "'%s'", err);
}

/* random_uniform:MIN,MAX takes two plain numbers, MIN < MAX once both are floats, each within a
 * float's range; other initializers take no range. A name longer than any is refused whole. */
static void uniform_ranges(void) {
    char err[DD_ERR_LEN];
    dd_init init;
    CHECK(dd_init_parse("random_uniform:-0.5,0.25", &init, err) == 0 &&
              init.kind == DD_INIT_RANDOM_UNIFORM && init.min == -0.5f && init.max == 0.25f,
          "-0.5,0.25: %s", err);
    /* 0.10000001 is the float after 0.1f; 0.100000001 rounds to 0.1f itself. */
    CHECK(dd_init_parse("random_uniform:0.1,0.10000001", &init, err) == 0 && init.min < init.max,
          "the float after 0.1 as MAX: %s", err);
    char flt_max[80];
    snprintf(flt_max, sizeof flt_max, "random_uniform:%.17g,%.17g", -(double)FLT_MAX,
             (double)FLT_MAX);
    CHECK(dd_init_parse(flt_max, &init, err) == 0 && init.max == FLT_MAX, "%s: %s", flt_max, err);
    static const char *bad[] = {
        "random_uniform:0.1,0.1", "random_uniform:0.1,0.100000001",
        "random_uniform:1,-1",    "random_uniform: -1,1",
        "random_uniform:-1, 1",   "random_uniform:-1,1x",
        "random_uniform:-1 ,1",   "random_uniform:-1,",
        "random_uniform:,1",      "random_uniform:-1",
        "random_uniform:-1,1,2",  "random_uniform:",
        "random_uniform:-1e39,1", "random_uniform:-1,inf",
        "random_uniform:nan,1",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        init = (dd_init){DD_INIT_HE_NORMAL, 3, 4};
        CHECK(dd_init_parse(bad[i], &init, err) != 0 &&
                  strstr(err, "give random_uniform:MIN,MAX with MIN < MAX") &&
                  init.kind == DD_INIT_HE_NORMAL,
              "'%s' -> '%s'", bad[i], err);
    }
    CHECK(
        dd_init_parse("glorot_uniform:0,1", &init, err) != 0 &&
            strstr(err, "bad initializer 'glorot_uniform:0,1': only random_uniform takes a range"),
        "'%s'", err);
    char long_name[300];
    memset(long_name, 'x', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    memcpy(long_name, "random_uniform", 14);
    CHECK(dd_init_parse(long_name, &init, err) != 0 && strstr(err, "unknown initializer"),
          "a 299-character name: '%s'", err);
}

/* eval's line for a model: the widths from input to output, the activation, BN and initializer,
 * and random_uniform's range (the only initializer that has one). */
static void descriptions(void) {
    char buf[256];
    dd_model_config cfg = dd_model_config_lab();
    dd_model_describe(&cfg, buf, sizeof buf);
    CHECK(strcmp(buf, "784-25-10, tanh hidden, sigmoid output, BN none, "
                      "init random_uniform(-0.1,0.1)") == 0,
          "lab: '%s'", buf);
    cfg.n_hidden = 3, cfg.units[0] = 30, cfg.units[1] = 20, cfg.units[2] = 15;
    cfg.activation = DD_ACT_RELU, cfg.bn = DD_BN_AFTER;
    cfg.init = (dd_init){DD_INIT_HE_UNIFORM, -DD_LAB_INIT_LIMIT, DD_LAB_INIT_LIMIT};
    dd_model_describe(&cfg, buf, sizeof buf);
    CHECK(strcmp(buf, "784-30-20-15-10, relu hidden, sigmoid output, BN after, init he_uniform") ==
              0,
          "3 hidden: '%s'", buf);
}

int main(void) {
    summary_of_the_lab();
    summary_with_bn();
    summary_groups_thousands();
    layout_limits();
    names_round_trip();
    uniform_ranges();
    descriptions();
    return dd_test_finish("test_model");
}
