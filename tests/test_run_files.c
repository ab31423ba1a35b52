/* The run folder's files read back as written: config.json (run_config.c) with every field,
 * quotes and backslashes in strings included, and history.csv (history_csv.c). */
#include <stdio.h>
#include <string.h>

#include "deepdigits/report.h"
#include "deepdigits/variants.h"
#include "testutil.h"

static void config_round_trip(void) {
    char path[512], err[DD_ERR_LEN];
    dd_run_config c = {0}, back;
    snprintf(path, sizeof path, "%s/config.json", dd_test_tmpdir());
    CHECK(dd_variant_options(12, 30, &c.opts, err) == 0, "%s", err);
    c.opts.lr = 0.05f;
    c.opts.seed = 123456789;
    c.opts.subset = 6000;
    c.opts.engine = DD_ENGINE_FUSED;
    c.opts.fused_sms = 4;
    c.opts.fused_pipe = 1;
    c.opts.model.init = (dd_init){DD_INIT_RANDOM_UNIFORM, -0.25f, 0.5f};
    snprintf(c.name, sizeof c.name, "variant-12");
    c.variant = 12;
    snprintf(c.description, sizeof c.description, "a \"quoted\" \\ description");
    snprintf(c.device, sizeof c.device, "cpu");
    snprintf(c.device_name, sizeof c.device_name, "Some CPU (2 logical CPUs)");
    snprintf(c.data_dir, sizeof c.data_dir, "/data/mn ist");
    c.train_samples = 6000;
    c.params_total = 22235;
    c.params_trainable = 22035;
    c.allow_bn_batch1 = 1;
    CHECK(dd_run_config_write(path, &c, err) == 0, "%s", err);
    CHECK(dd_run_config_read(path, &back, err) == 0, "%s", err);
    const dd_model_config *m = &back.opts.model;
    CHECK(strcmp(back.name, c.name) == 0 && back.variant == 12, "name %s variant %d", back.name,
          back.variant);
    CHECK(strcmp(back.description, c.description) == 0, "description '%s'", back.description);
    CHECK(strcmp(back.data_dir, c.data_dir) == 0, "data '%s'", back.data_dir);
    CHECK(strcmp(back.device_name, c.device_name) == 0, "device '%s'", back.device_name);
    CHECK(m->n_hidden == 4 && m->units[3] == 30, "hidden %d x %d", m->n_hidden, m->units[3]);
    CHECK(m->activation == DD_ACT_SIGMOID && m->bn == DD_BN_AFTER, "activation/bn");
    CHECK(m->init.kind == DD_INIT_RANDOM_UNIFORM && m->init.min == -0.25f && m->init.max == 0.5f,
          "init %d %g %g", m->init.kind, m->init.min, m->init.max);
    CHECK(back.opts.lr == 0.05f && back.opts.seed == 123456789 && back.opts.batch == 32,
          "lr %g seed %llu batch %d", back.opts.lr, back.opts.seed, back.opts.batch);
    CHECK(back.opts.subset == 6000 && back.train_samples == 6000, "subset");
    CHECK(back.params_total == 22235 && back.params_trainable == 22035, "params");
    CHECK(back.allow_bn_batch1 == 1, "allow_bn_batch1");
    CHECK(back.opts.engine == DD_ENGINE_FUSED && back.opts.fused_sms == 4 && back.opts.fused_pipe,
          "engine %s on %d SMs, pipelined %d", dd_engine_name(back.opts.engine),
          back.opts.fused_sms, back.opts.fused_pipe);
    snprintf(path, sizeof path, "%s/torn.json", dd_test_tmpdir());
    FILE *f = fopen(path, "w");
    fputs("{\"name\": \"x\", \"hidden\": [25,", f);
    fclose(f);
    CHECK(dd_run_config_read(path, &back, err) != 0 && strstr(err, "config.json"),
          "a torn config.json read without complaint");
}

/* Only random_uniform has a range: another initializer's config.json names none, and reads back
 * as the initializer alone. */
static void config_without_range(void) {
    char path[512], err[DD_ERR_LEN], text[4096] = "";
    dd_run_config c = {0}, back;
    snprintf(path, sizeof path, "%s/he.json", dd_test_tmpdir());
    CHECK(dd_variant_options(2, 0, &c.opts, err) == 0, "%s", err);
    CHECK(c.opts.model.init.kind == DD_INIT_HE_NORMAL, "variant 2's init");
    CHECK(dd_run_config_write(path, &c, err) == 0, "%s", err);
    FILE *f = fopen(path, "r");
    if (f) fread(text, 1, sizeof text - 1, f), fclose(f);
    CHECK(strstr(text, "\"he_normal\"") && !strstr(text, "init_min") && !strstr(text, "init_max"),
          "config.json of a he_normal model:\n%s", text);
    CHECK(dd_run_config_read(path, &back, err) == 0, "%s", err);
    CHECK(back.opts.model.init.kind == DD_INIT_HE_NORMAL, "init read back as %s",
          dd_init_name(back.opts.model.init.kind));
}

static void history_read_back(void) {
    char path[512], err[DD_ERR_LEN];
    snprintf(path, sizeof path, "%s/history.csv", dd_test_tmpdir());
    FILE *f = fopen(path, "w");
    fputs("epoch,loss,acc,val_loss,val_acc,grad_rms_dense_1\n1,0.5,0.6,0.4,0.7,1e-3\n"
          "2,0.25,0.8,0.2,0.85,5e-4\n3,0.1",
          f); /* a torn last row is skipped */
    fclose(f);
    dd_history h;
    CHECK(dd_history_read(path, &h, err) == 0, "%s", err);
    CHECK(h.rows == 2 && h.cols == 6, "%d rows %d cols", h.rows, h.cols);
    int c = dd_history_col(&h, "val_acc"), g = dd_history_col(&h, "grad_rms_dense_1");
    CHECK(c == 4 && dd_history_at(&h, 1, c) == 0.85, "val_acc column %d", c);
    CHECK(g == 5 && dd_history_at(&h, 1, g) == 5e-4, "grad_rms column %d", g);
    CHECK(dd_history_col(&h, "nothing") == -1, "unknown column found");
    dd_history_free(&h);
}

int main(void) {
    config_round_trip();
    config_without_range();
    history_read_back();
    return dd_test_finish("test_run_files");
}
