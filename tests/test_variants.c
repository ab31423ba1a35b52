/* The lab's presets (variants.h): architecture, parameter counts as Keras's model.summary()
 * prints them, activation, initializer and BN placement by parity, batch size, --width, and the
 * refusal of BN at batch 1. */
#include <string.h>

#include "deepdigits/variants.h"
#include "testutil.h"

/* Keras's counts: Dense fan_in*units + units; BN 4 per unit, of which 2 (the moving statistics)
 * are not trainable. */
static void expect_params(int n, size_t total, size_t trainable) {
    dd_train_options o;
    dd_layout layout;
    char err[DD_ERR_LEN];
    CHECK(dd_variant_options(n, 0, &o, err) == 0, "variant %d: %s", n, err);
    CHECK(dd_layout_build(&o.model, &layout, err) == 0, "variant %d: %s", n, err);
    CHECK(layout.n_params == total, "variant %d: %zu params, want %zu", n, layout.n_params, total);
    CHECK(layout.n_trainable == trainable, "variant %d: %zu trainable, want %zu", n,
          layout.n_trainable, trainable);
}

static void parameter_counts(void) {
    expect_params(0, 19885, 19885); /* the lab's 784-25-10 */
    expect_params(1, 20735, 20635); /* 2 hidden with BN */
    expect_params(5, 20735, 20635);
    expect_params(6, 21485, 21335);  /* 3 hidden */
    expect_params(7, 21485, 21335);  /* the example: 3 hidden of 25 with BN */
    expect_params(11, 22235, 22035); /* 4 hidden */
    expect_params(20, 22985, 22735); /* 5 hidden */
}

static void rules_by_parity(void) {
    char err[DD_ERR_LEN];
    for (int n = 0; n <= DD_VARIANT_COUNT; n++) {
        dd_train_options o;
        CHECK(dd_variant_options(n, 0, &o, err) == 0, "variant %d: %s", n, err);
        const dd_model_config *m = &o.model;
        int extra = n == 0 ? 0 : (n - 1) / 5 + 1;
        CHECK(m->n_hidden == 1 + extra, "variant %d: %d hidden layers", n, m->n_hidden);
        for (int l = 0; l < m->n_hidden; l++)
            CHECK(m->units[l] == 25, "variant %d layer %d: %d units", n, l, m->units[l]);
        CHECK(o.standardize == DD_STANDARDIZE_GLOBAL, "variant %d: not standardized", n);
        CHECK(o.epochs == 20 && o.lr == 0.01f && o.seed == 7, "variant %d: lab's training", n);
        if (n == 0) {
            CHECK(m->activation == DD_ACT_TANH && m->bn == DD_BN_NONE, "baseline model");
            CHECK(m->init.kind == DD_INIT_RANDOM_UNIFORM && m->init.min == -0.1f, "baseline init");
            CHECK(o.batch == 1, "baseline batch %d", o.batch);
            continue;
        }
        int odd = n % 2;
        CHECK(m->activation == (odd ? DD_ACT_TANH : DD_ACT_SIGMOID), "variant %d activation", n);
        CHECK(m->init.kind == (odd ? DD_INIT_GLOROT_UNIFORM : DD_INIT_HE_NORMAL), "variant %d init",
              n);
        CHECK(m->bn == (odd ? DD_BN_BEFORE : DD_BN_AFTER), "variant %d BN placement", n);
        CHECK(o.batch == DD_BN_BATCH, "variant %d batch %d", n, o.batch);
        CHECK(dd_check_bn_batch(&o, 0, err) == 0, "variant %d refused: %s", n, err);
    }
    dd_train_options o;
    CHECK(dd_variant_options(21, 0, &o, err) != 0 && strstr(err, "--variant 21"), "variant 21");
    CHECK(dd_variant_options(-1, 0, &o, err) != 0, "variant -1");
}

static void width_and_names(void) {
    char err[DD_ERR_LEN], name[32], desc[160];
    dd_train_options o;
    CHECK(dd_variant_options(12, 40, &o, err) == 0, "%s", err);
    CHECK(o.model.n_hidden == 4, "variant 12: %d hidden", o.model.n_hidden);
    for (int l = 0; l < o.model.n_hidden; l++)
        CHECK(o.model.units[l] == 40, "--width 40, layer %d: %d", l, o.model.units[l]);
    dd_options_describe_short(&o, desc, sizeof desc);
    CHECK(strcmp(desc, "4 hidden x40, sigmoid, he_normal, BN after") == 0, "'%s'", desc);
    /* Widths that differ only in the last layer are listed, not taken for one width. */
    o.model.n_hidden = 3, o.model.units[2] = 30;
    dd_options_describe_short(&o, desc, sizeof desc);
    CHECK(strcmp(desc, "hidden 40,40,30, sigmoid, he_normal, BN after") == 0, "'%s'", desc);
    dd_variant_name(0, name, sizeof name);
    CHECK(strcmp(name, "baseline") == 0, "'%s'", name);
    dd_variant_name(7, name, sizeof name);
    CHECK(strcmp(name, "variant-07") == 0, "'%s'", name);
}

static void bn_batch1_refused(void) {
    char err[DD_ERR_LEN] = "";
    dd_train_options o;
    dd_variant_options(3, 0, &o, err);
    o.batch = 1;
    CHECK(dd_check_bn_batch(&o, 0, err) != 0, "BN at batch 1 accepted");
    CHECK(strstr(err, "--batch 32") && strstr(err, "variance") && !strchr(err, '\n'), "'%s'", err);
    CHECK(dd_check_bn_batch(&o, 1, err) == 0, "--allow-bn-batch1 refused");
    dd_variant_options(0, 0, &o, err);
    CHECK(dd_check_bn_batch(&o, 0, err) == 0, "the baseline (no BN) refused at batch 1");
    /* --bn with --hidden none: no hidden layer, so no BN layer to starve. */
    dd_variant_options(3, 0, &o, err);
    o.batch = 1, o.model.n_hidden = 0;
    CHECK(dd_check_bn_batch(&o, 0, err) == 0, "no hidden layer refused at batch 1: %s", err);
}

int main(void) {
    parameter_counts();
    rules_by_parity();
    width_and_names();
    bn_batch1_refused();
    return dd_test_finish("test_variants");
}
