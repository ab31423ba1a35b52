/* The run folder's files read back as written: config.json (run_config.c) with every field,
 * quotes and backslashes in strings included, and history.csv (history_csv.c). */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "deepdigits/report.h"
#include "deepdigits/run.h"
#include "deepdigits/variants.h"
#include "testutil.h"

static void config_round_trip(void) {
    char path[512], err[DD_ERR_LEN];
    dd_run_config c = {0}, back;
    snprintf(path, sizeof path, "%s/config.json", dd_test_tmpdir());
    CHECK(dd_variant_options(12, 30, &c.opts, err) == 0, "%s", err);
    c.opts.lr = 0.05f;
    c.opts.epochs = 3;
    c.opts.seed = 12345678901234ULL; /* beyond 32 bits */
    c.opts.subset = 6000;
    c.opts.diagnostics = 0;
    c.opts.standardize = DD_STANDARDIZE_NONE;
    c.opts.engine = DD_ENGINE_FUSED;
    c.opts.fused_sms = 4;
    c.opts.fused_pipe = 1;
    c.opts.model.init = (dd_init){DD_INIT_RANDOM_UNIFORM, -0.25f, 0.5f};
    snprintf(c.name, sizeof c.name, "variant-12");
    c.variant = 12;
    snprintf(c.description, sizeof c.description, "a \"quoted\" \\ description");
    snprintf(c.device, sizeof c.device, "gpu");
    snprintf(c.device_name, sizeof c.device_name, "Some CPU (2 logical CPUs)");
    snprintf(c.data_dir, sizeof c.data_dir, "/data/mn ist\t\x1f"); /* a path may hold these */
    snprintf(c.created, sizeof c.created, "2026-11-29T05:40:53Z");
    c.train_samples = 5400;
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
    CHECK(strcmp(back.device, "gpu") == 0 && strcmp(back.created, c.created) == 0,
          "device '%s' created '%s'", back.device, back.created);
    CHECK(m->n_hidden == 4 && m->units[3] == 30, "hidden %d x %d", m->n_hidden, m->units[3]);
    CHECK(m->activation == DD_ACT_SIGMOID && m->bn == DD_BN_AFTER, "activation/bn");
    CHECK(m->init.kind == DD_INIT_RANDOM_UNIFORM && m->init.min == -0.25f && m->init.max == 0.5f,
          "init %d %g %g", m->init.kind, m->init.min, m->init.max);
    CHECK(back.opts.lr == 0.05f && back.opts.seed == 12345678901234ULL && back.opts.batch == 32 &&
              back.opts.epochs == 3,
          "lr %g seed %llu batch %d epochs %d", back.opts.lr, back.opts.seed, back.opts.batch,
          back.opts.epochs);
    CHECK(back.opts.diagnostics == 0 && back.opts.standardize == DD_STANDARDIZE_NONE,
          "diagnostics %d standardize %d", back.opts.diagnostics, back.opts.standardize);
    CHECK(back.opts.subset == 6000 && back.train_samples == 5400, "subset");
    CHECK(back.params_total == 22235 && back.params_trainable == 22035, "params");
    CHECK(back.allow_bn_batch1 == 1, "allow_bn_batch1");
    CHECK(back.opts.engine == DD_ENGINE_FUSED && back.opts.fused_sms == 4 && back.opts.fused_pipe,
          "engine %s on %d SMs, pipelined %d", dd_engine_name(back.opts.engine),
          back.opts.fused_sms, back.opts.fused_pipe);
    snprintf(path, sizeof path, "%s/torn.json", dd_test_tmpdir());
    FILE *f = fopen(path, "w");
    fputs("{\"name\": \"x\", \"hidden\": [25,", f);
    fclose(f);
    CHECK(dd_run_config_read(path, &back, err) != 0 && strstr(err, "torn.json: not a deepdigits "
                                                                   "config.json: invalid JSON"),
          "a torn config.json: '%s'", err);
}

/* Only random_uniform has a range: another initializer's config.json names none, and reads back
 * as the initializer alone. */
static void config_without_range(void) {
    char path[512], err[DD_ERR_LEN], text[4096] = "";
    dd_run_config c = {0}, back;
    snprintf(path, sizeof path, "%s/he.json", dd_test_tmpdir());
    CHECK(dd_variant_options(2, 0, &c.opts, err) == 0, "%s", err);
    CHECK(c.opts.model.init.kind == DD_INIT_HE_NORMAL, "variant 2's init");
    snprintf(c.name, sizeof c.name, "variant-02");
    CHECK(dd_run_config_write(path, &c, err) == 0, "%s", err);
    FILE *f = fopen(path, "r");
    if (f) fread(text, 1, sizeof text - 1, f), fclose(f);
    CHECK(strstr(text, "\"he_normal\"") && !strstr(text, "init_min") && !strstr(text, "init_max"),
          "config.json of a he_normal model:\n%s", text);
    CHECK(dd_run_config_read(path, &back, err) == 0, "%s", err);
    CHECK(back.opts.model.init.kind == DD_INIT_HE_NORMAL, "init read back as %s",
          dd_init_name(back.opts.model.init.kind));
}

/* Floats read back as the same floats, even where 7 digits would not tell two apart (train takes
 * --init random_uniform:0.1,0.10000001: the next float after 0.1). */
static void config_floats(void) {
    char path[512], err[DD_ERR_LEN];
    dd_run_config c = {0}, back;
    snprintf(path, sizeof path, "%s/floats.json", dd_test_tmpdir());
    c.opts = dd_train_options_lab();
    snprintf(c.name, sizeof c.name, "floats");
    c.opts.model.init = (dd_init){DD_INIT_RANDOM_UNIFORM, 0.1f, nextafterf(0.1f, 1.0f)};
    c.opts.lr = nextafterf(0.01f, 0.0f);
    CHECK(dd_run_config_write(path, &c, err) == 0, "%s", err);
    CHECK(dd_run_config_read(path, &back, err) == 0, "%s", err);
    CHECK(back.opts.model.init.min == c.opts.model.init.min &&
              back.opts.model.init.max == c.opts.model.init.max && back.opts.lr == c.opts.lr,
          "init [%.9g, %.9g) lr %.9g read back as [%.9g, %.9g) lr %.9g", c.opts.model.init.min,
          c.opts.model.init.max, c.opts.lr, back.opts.model.init.min, back.opts.model.init.max,
          back.opts.lr);
}

/* A config.json as train writes it, with FROM replaced by TO. */
static void edited_config(const char *from, const char *to, char *text, size_t len) {
    static const char *good =
        "{\"name\": \"plain\", \"variant\": -1, \"description\": \"1 hidden x25, tanh\", "
        "\"hidden\": [25], \"activation\": \"tanh\", \"init\": \"random_uniform\", "
        "\"init_min\": -0.1, \"init_max\": 0.1, \"bn\": \"none\", \"lr\": 0.01, \"epochs\": 2, "
        "\"batch\": 1, \"seed\": 7, \"subset\": 2000, \"train_samples\": 2000, "
        "\"standardize\": \"global\", \"diagnostics\": true, \"params_total\": 19885, "
        "\"params_trainable\": 19885, \"device\": \"cpu\", \"device_name\": \"a CPU\", "
        "\"engine\": \"auto\", \"fused_sms\": 0, \"fused_pipe\": false, \"data\": \"data/mnist\", "
        "\"created\": \"2026-11-29T05:40:53Z\"}";
    const char *at = strstr(good, from);
    CHECK(at != NULL, "'%s' is not in the config", from);
    if (!at) at = good + strlen(good), from = "";
    snprintf(text, len, "%.*s%s%s", (int)(at - good), good, to, at + strlen(from));
}

/* Every field is checked: a config.json edited by hand, torn or from something else is refused
 * with one line naming the field, never read as garbage. */
static void config_refused(void) {
    static const struct {
        const char *from, *to, *why;
    } cases[] = {
        {"", "", NULL}, /* the unedited text reads */
        {"[25]", "[0]", "\"hidden\" holds a width outside"},
        {"[25]", "[1e300]", "\"hidden\" holds a width outside"},
        {"[25]", "[25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25]",
         "\"hidden\" missing, not an array or too long"},
        {"\"variant\": -1", "\"variant\": 21", "\"variant\" out of range"},
        {"\"variant\": -1", "\"variant\": 1e300", "\"variant\" missing or not an integer"},
        {"\"tanh\"", "\"swish\"", "\"activation\" unknown"},
        {"\"random_uniform\"", "\"random_uniform:0,1\"", "\"init\" unknown"},
        {"\"init_min\": -0.1", "\"init_min\": 0.5", "min below max"},
        {"\"init_max\": 0.1", "\"init_max\": 1e39", "must be finite floats"},
        {"\"epochs\": 2", "\"epochs\": -3", "\"epochs\" out of range"},
        /* each range's first value past either end (config_edges reads the ends) */
        {"\"epochs\": 2", "\"epochs\": 0", "\"epochs\" out of range"},
        {"\"epochs\": 2", "\"epochs\": 100001", "\"epochs\" out of range"},
        {"\"batch\": 1", "\"batch\": 0", "\"batch\" out of range"},
        {"\"batch\": 1", "\"batch\": 65537", "\"batch\" out of range"},
        {"\"subset\": 2000", "\"subset\": -1", "\"subset\" out of range"},
        {"\"subset\": 2000", "\"subset\": 1073741825", "\"subset\" out of range"},
        {"\"variant\": -1", "\"variant\": -2", "\"variant\" out of range"},
        {"\"train_samples\": 2000", "\"train_samples\": -1", "\"train_samples\" out of range"},
        {"\"params_total\": 19885", "\"params_total\": -1", "\"params_total\" out of range"},
        {"\"params_trainable\": 19885", "\"params_trainable\": 1099511627777",
         "\"params_trainable\" out of range"},
        {"\"fused_sms\": 0", "\"fused_sms\": -1", "\"fused_sms\" out of range"},
        {"\"lr\": 0.01", "\"lr\": 1000.5", "\"lr\" out of range"},
        {"\"seed\": 7", "\"seed\": -1e3", "\"seed\" out of range"},
        {"\"init_min\": -0.1", "\"init_min\": 0.1", "min below max"},
        {"\"init_min\": -0.1", "\"init_min\": -1e39", "must be finite floats"},
        {"\"bn\": \"none\"", "\"bn\": \"sideways\"", "\"bn\" unknown"},
        {"\"device\": \"cpu\", ", "", "\"device\" missing"},
        {"\"created\": \"2026-11-29T05:40:53Z\"", "\"x\": 0", "\"created\" missing"},
        {"\"batch\": 1, ", "", "\"batch\" missing"},
        {"\"lr\": 0.01", "\"lr\": \"fast\"", "\"lr\" missing or not a number"},
        {"\"lr\": 0.01", "\"lr\": 0", "\"lr\" out of range"},
        {"\"seed\": 7", "\"seed\": -7", "\"seed\" out of range"},
        {"\"global\"", "\"local\"", "\"standardize\" unknown"},
        {"\"diagnostics\": true", "\"diagnostics\": 1", "\"diagnostics\" is not true or false"},
        {"\"engine\": \"auto\"", "\"engine\": \"warp\"", "\"engine\" unknown"},
        {"\"fused_sms\": 0", "\"fused_sms\": 3", "\"fused_sms\" is not 0, 1, 2 or 4"},
        {"\"fused_sms\": 0", "\"fused_sms\": 5", "\"fused_sms\" out of range"},
        {"\"name\": \"plain\"", "\"name\": \"\"", "\"name\" is empty"},
        {"\"name\": \"plain\"", "\"name\": \"a\\nb\"", "\"name\" holds a control character"},
        /* DEL (0x7f) is a control character too. */
        {"\"name\": \"plain\"", "\"name\": \"a\x7f b\"", "\"name\" holds a control character"},
        {"\"name\": \"plain\"", "\"name\": \"a\\u001fb\"", "\"name\" holds a control character"},
        {"\"name\": \"plain\"", "\"name\": 7", "\"name\" is not a string"},
        {"\"name\": \"plain\"",
         "\"name\": \"0123456789012345678901234567890123456789012345678901234567890123\"",
         "\"name\" is too long"},
        {"\"name\": \"plain\"", "\"name\": \"plain\", \"name\": \"x\"", "duplicate key"},
        {"\"name\": \"plain\"", "\"name\": \"plain\", \"a\\nb\": 1, \"a\\nb\": 2",
         "duplicate key \"a?b\""},
        {"\"seed\": 7", "\"seed\": 7.5", "\"seed\" is not a whole number"},
        {"\"seed\": 7", "\"seed\": 9223372036854775808", "\"seed\" out of range"},
        {"{", "[{", "invalid JSON"},
        {"\"created\": \"2026-11-29T05:40:53Z\"}", "\"created\": \"2026-11-29T05:40:53Z\"",
         "invalid JSON"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[4096], why[DD_ERR_LEN] = "";
        dd_run_config c;
        edited_config(cases[i].from, cases[i].to, text, sizeof text);
        int rc = dd_run_config_parse(text, strlen(text), &c, why);
        if (!cases[i].why)
            CHECK(rc == 0 && c.opts.epochs == 2 && c.variant == -1, "the good config: %s", why);
        else
            CHECK(rc != 0 && strstr(why, cases[i].why) && !strchr(why, '\n'),
                  "%s -> %s: rc %d, '%s' (expected '%s')", cases[i].from, cases[i].to, rc, why,
                  cases[i].why);
    }
    char why[DD_ERR_LEN] = "";
    dd_run_config c;
    CHECK(dd_run_config_parse("[]", 2, &c, why) != 0 && strstr(why, "not a JSON object"), "[]: %s",
          why);
}

/* Each range's ends read, and the keys the format gained later (engine, fused_sms, fused_pipe)
 * may be missing: they keep train's defaults. */
static void config_edges(void) {
    static const struct {
        const char *from, *to;
    } cases[] = {
        {"\"epochs\": 2", "\"epochs\": 100000"},
        {"\"batch\": 1", "\"batch\": 65536"},
        {"\"subset\": 2000", "\"subset\": 1073741824"},
        {"\"lr\": 0.01", "\"lr\": 1000"},
        {"\"init_max\": 0.1", "\"init_max\": 3.4028234663852886e+38"}, /* FLT_MAX */
        {"\"params_trainable\": 19885", "\"params_trainable\": 1099511627776"},
        {"\"seed\": 7", "\"seed\": 0.0"},
        {"\"name\": \"plain\"", /* 63 characters and the NUL fill name[64] */
         "\"name\": \"012345678901234567890123456789012345678901234567890123456789012\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[4096], why[DD_ERR_LEN] = "";
        dd_run_config c;
        edited_config(cases[i].from, cases[i].to, text, sizeof text);
        CHECK(dd_run_config_parse(text, strlen(text), &c, why) == 0, "%s: %s", cases[i].to, why);
    }
    char text[4096], why[DD_ERR_LEN] = "";
    dd_run_config c;
    dd_train_options lab = dd_train_options_lab();
    edited_config("\"engine\": \"auto\", \"fused_sms\": 0, \"fused_pipe\": false, ", "", text,
                  sizeof text);
    CHECK(dd_run_config_parse(text, strlen(text), &c, why) == 0 && c.opts.engine == lab.engine &&
              c.opts.fused_sms == lab.fused_sms && c.opts.fused_pipe == lab.fused_pipe,
          "without engine, fused_sms and fused_pipe: %s", why);
}

/* config.json is read whole, up to 64 KiB: a file of exactly 64 KiB reads (here the config and
 * trailing white space), a longer one is refused rather than read cut short. */
static void config_file_size(void) {
    static char text[(1 << 16) + 2];
    char path[512], err[DD_ERR_LEN] = "";
    dd_run_config c;
    snprintf(path, sizeof path, "%s/padded.json", dd_test_tmpdir());
    edited_config("", "", text, sizeof text);
    size_t n = strlen(text);
    for (size_t size = 1 << 16; size <= (1 << 16) + 1; size++) {
        memset(text + n, ' ', size - n);
        FILE *f = fopen(path, "w");
        if (f) fwrite(text, 1, size, f), fclose(f);
        int rc = dd_run_config_read(path, &c, err);
        CHECK(size == 1 << 16 ? rc == 0 : rc != 0 && strstr(err, "larger than 64 KiB"),
              "%zu bytes: rc %d '%s'", size, rc, err);
    }
    snprintf(path, sizeof path, "%s/no-such-config.json", dd_test_tmpdir());
    CHECK(dd_run_config_read(path, &c, err) != 0 && strstr(err, "cannot read: No such file"),
          "a missing file: '%s'", err);
}

/* Seeds read back exactly, the largest included; the writer's old spelling with 9 digits
 * (1.23456789e+12) still reads. */
static void config_seeds(void) {
    char text[4096], why[DD_ERR_LEN] = "";
    dd_run_config c;
    edited_config("\"seed\": 7", "\"seed\": 9223372036854775807", text, sizeof text);
    CHECK(dd_run_config_parse(text, strlen(text), &c, why) == 0 &&
              c.opts.seed == 9223372036854775807ULL,
          "largest seed: %s, %llu", why, c.opts.seed);
    edited_config("\"seed\": 7", "\"seed\": 1.23456789e+12", text, sizeof text);
    CHECK(dd_run_config_parse(text, strlen(text), &c, why) == 0 && c.opts.seed == 1234567890000ULL,
          "old seed spelling: %s, %llu", why, c.opts.seed);
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

/* A history.csv that is not one is refused with one line naming the row; only a torn last line
 * (no newline: train stopped while writing it) is left out. */
static void history_refused(void) {
    static const struct {
        const char *text, *why; /* why NULL: reads, with 2 rows */
    } cases[] = {
        {"epoch,loss,acc,val_loss,val_acc\n1,nan,0,inf,0\n2,1,1,1,1\n3,", NULL},
        {"epoch,loss,acc,val_loss,val_acc\r\n1,1,1,1,1\r\n2,1,1,1,1\r\n", NULL},
        {"epoch,loss,acc,val_loss,val_acc\n1,0.5,x,0.4,0.7\n", "row 1, column acc: 'x' is not"},
        {"epoch,loss,acc,val_loss,val_acc\n1,0.5,0.5e,0.4,0.7\n", "'0.5e' is not a number"},
        {"epoch,loss,acc,val_loss,val_acc\n1,1,1,1,1\n2,1,1\n3,1,1,1,1\n", "row 2 has 3 fields"},
        {"epoch,loss,acc,val_loss,val_acc\n1,1,1,1,1,1\n", "row 1 has 6 fields, the header 5"},
        {"epoch,loss,acc,val_loss\n1,1,1,1\n", "not a deepdigits history"},
        {"loss,epoch,acc,val_loss,val_acc\n1,1,1,1,1\n", "not a deepdigits history"},
        /* without val_acc the report read 0 for every epoch */
        {"epoch,loss,acc,val_loss,val_accuracy\n1,1,1,1,1\n", "not a deepdigits history"},
        {"epoch,loss,acc,val_loss,val_acc\n", "no epochs"},
        {"", "empty"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[DD_ERR_LEN] = "";
        dd_history h;
        FILE *f = fmemopen((void *)cases[i].text, strlen(cases[i].text), "r");
        if (!f) { /* fmemopen refuses a size of 0 on some libcs */
            CHECK(!cases[i].text[0], "fmemopen failed on case %zu", i);
            continue;
        }
        int rc = dd_history_parse(f, "h.csv", &h, err);
        fclose(f);
        if (!cases[i].why)
            CHECK(rc == 0 && h.rows == 2, "case %zu: rc %d, %d rows: %s", i, rc, h.rows, err);
        else
            CHECK(rc != 0 && strstr(err, cases[i].why) && strstr(err, "h.csv") &&
                      !strchr(err, '\n'),
                  "case %zu: rc %d, '%s' (expected '%s')", i, rc, err, cases[i].why);
        if (rc == 0) dd_history_free(&h);
    }
    /* A header of more columns than the reader keeps (256) is refused, not read past its end. */
    static char wide[4096];
    int at = snprintf(wide, sizeof wide, "epoch,loss,acc,val_loss,val_acc");
    for (int c = 5; c < 300; c++) at += snprintf(wide + at, sizeof wide - (size_t)at, ",c%d", c);
    snprintf(wide + at, sizeof wide - (size_t)at, "\n1,1,1,1,1\n");
    char err[DD_ERR_LEN] = "";
    dd_history h;
    FILE *f = fmemopen(wide, strlen(wide), "r");
    int rc = f ? dd_history_parse(f, "wide.csv", &h, err) : 0;
    if (f) fclose(f);
    CHECK(rc != 0 && strstr(err, "wide.csv: not a deepdigits history"), "300 columns: rc %d '%s'",
          rc, err);
    if (rc == 0) dd_history_free(&h);
}

/* dd_mkdirs takes a path of DD_RUN_PATH_LEN - 1 bytes, and refuses a longer one rather than
 * creating the folder its first bytes name. */
static void mkdirs_path_length(void) {
    char path[DD_RUN_PATH_LEN + 1], err[DD_ERR_LEN] = "";
    int n = snprintf(path, sizeof path, "%s/mkdirs/", dd_test_tmpdir());
    for (; n < DD_RUN_PATH_LEN; n++) path[n] = n % 200 == 0 ? '/' : 'd';
    path[n] = '\0';
    CHECK(dd_mkdirs(path, err) == -1 && strstr(err, "path too long"), "%d bytes: '%s'", n, err);
    path[n - 1] = '\0';
    struct stat st;
    CHECK(dd_mkdirs(path, err) == 0 && stat(path, &st) == 0 && S_ISDIR(st.st_mode),
          "%d bytes: '%s'", n - 1, err);
}

int main(void) {
    config_round_trip();
    config_without_range();
    config_floats();
    config_refused();
    config_edges();
    config_file_size();
    config_seeds();
    history_read_back();
    history_refused();
    mkdirs_path_length();
    return dd_test_finish("test_run_files");
}
