/* report.md and report.html: the same document written twice, through a few calls that emit
 * each element in both languages; the Keras code of every model comes from its configuration.
 * See report.h. */
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

#include "deepdigits/report.h"
#include "errors.h"

typedef struct {
    FILE *md, *html;
    const dd_report *r;
} doc;

static void html_escaped(FILE *f, const char *s) {
    for (; *s; s++) {
        if (*s == '<')
            fputs("&lt;", f);
        else if (*s == '>')
            fputs("&gt;", f);
        else if (*s == '&')
            fputs("&amp;", f);
        else
            fputc(*s, f);
    }
}

static void heading(doc *d, int level, const char *fmt, ...) {
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    fprintf(d->md, "\n%.*s %s\n\n", level, "######", text);
    fprintf(d->html, "<h%d>", level);
    html_escaped(d->html, text);
    fprintf(d->html, "</h%d>\n", level);
}

static void para(doc *d, const char *fmt, ...) {
    char text[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    fprintf(d->md, "%s\n\n", text);
    fputs("<p>", d->html);
    html_escaped(d->html, text);
    fputs("</p>\n", d->html);
}

/* S for a cell of row(): '|' and '\' escaped with a backslash (markdown reads them so too). */
static const char *cell(const char *s, char *buf, size_t len) {
    size_t n = 0;
    for (; *s && n + 3 < len; s++) {
        if (*s == '|' || *s == '\\') buf[n++] = '\\';
        buf[n++] = *s;
    }
    buf[n] = '\0';
    return buf;
}

/* A table row of cells separated by '|' in FMT (a value that may hold one goes through cell());
 * HEADER also writes markdown's rule. */
static void row(doc *d, int header, const char *fmt, ...) {
    char text[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    fputs("| ", d->md);
    fprintf(d->html, "%s<tr><%s>", header ? "<table>\n" : "", header ? "th" : "td");
    int cells = 1;
    char one[2] = "";
    for (const char *c = text; *c; c++) {
        if (*c == '\\' && (c[1] == '|' || c[1] == '\\')) { /* escaped: markdown keeps it */
            fputc(*c, d->md);
            one[0] = *++c;
            fputc(*c, d->md);
            html_escaped(d->html, one);
        } else if (*c == '|') {
            fputs(" | ", d->md);
            fprintf(d->html, header ? "</th><th>" : "</td><td>");
            cells++;
        } else {
            fputc(*c, d->md);
            one[0] = *c;
            html_escaped(d->html, one);
        }
    }
    fputs(" |\n", d->md);
    fprintf(d->html, "</%s></tr>\n", header ? "th" : "td");
    if (header) {
        fputc('|', d->md);
        for (int i = 0; i < cells; i++) fputs("---|", d->md);
        fputc('\n', d->md);
    }
}

static void table_end(doc *d) {
    fputc('\n', d->md);
    fputs("</table>\n", d->html);
}

/* An image under plots/ when it was made; nothing otherwise. */
static void image(doc *d, const char *file, const char *alt) {
    char path[DD_RUN_PATH_LEN + 128];
    struct stat st;
    snprintf(path, sizeof path, "%s/plots/%s", d->r->dir, file);
    if (stat(path, &st) != 0) return;
    fprintf(d->md, "![%s](plots/%s)\n\n", alt, file);
    fprintf(d->html, "<p><img src=\"plots/%s\" alt=\"", file);
    html_escaped(d->html, alt);
    fprintf(d->html, "\"></p>\n");
}

static void code(doc *d, const char *text) {
    fprintf(d->md, "```python\n%s```\n\n", text);
    fputs("<pre><code>", d->html);
    html_escaped(d->html, text);
    fputs("</code></pre>\n", d->html);
}

/* Appends to BUF (capacity LEN) at *AT. */
static void add(char *buf, size_t len, size_t *at, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (*at < len) *at += (size_t)vsnprintf(buf + *at, len - *at, fmt, ap);
    va_end(ap);
}

static void initializer(const dd_init *init, char *buf, size_t len) {
    if (init->kind != DD_INIT_RANDOM_UNIFORM)
        snprintf(buf, len, "'%s'", dd_init_name(init->kind));
    else if (init->min == -DD_LAB_INIT_LIMIT && init->max == DD_LAB_INIT_LIMIT)
        snprintf(buf, len, "initializer");
    else
        snprintf(buf, len, "keras.initializers.RandomUniform(minval=%g, maxval=%g)", init->min,
                 init->max);
}

/* The Keras program's lines that define run C's model and training (fragments 7.1-7.4 and
 * 7.6/7.7 of the lab), with what differs from the lab's program marked. */
static void keras_code(const dd_run_config *c, char *buf, size_t len) {
    const dd_train_options *o = &c->opts, lab = dd_train_options_lab();
    const dd_model_config *m = &o->model;
    char init[96];
    size_t at = 0;
    initializer(&m->init, init, sizeof init);
    add(buf, len, &at, "EPOCHS = %d%s\n", o->epochs, o->epochs != lab.epochs ? "  # changed" : "");
    add(buf, len, &at, "BATCH_SIZE = %d%s\n", o->batch,
        o->batch == lab.batch ? ""
        : m->bn != DD_BN_NONE ? "  # changed: BatchNormalization needs batches of several images"
                              : "  # changed");
    if (o->standardize == DD_STANDARDIZE_NONE)
        add(buf, len, &at, "# changed: no standardization of the inputs\n");
    if (o->seed != lab.seed) add(buf, len, &at, "tf.random.set_seed(%llu)  # changed\n", o->seed);
    if (o->subset)
        add(buf, len, &at,
            "x_train, y_train = x_train[:%d], y_train[:%d]  # changed: the first %d training "
            "images, before the standardization\n",
            o->subset, o->subset, o->subset);
    add(buf, len, &at,
        "model = keras.Sequential([\n    keras.layers.Flatten(input_shape=(28, 28)),\n");
    const char *act = dd_activation_name(m->activation);
    const dd_model_config *lab_model = &lab.model;
    const int first_changed =
        m->n_hidden > 0 &&
        (m->units[0] != lab_model->units[0] || m->activation != lab_model->activation ||
         m->bn != lab_model->bn || memcmp(&m->init, &lab_model->init, sizeof m->init));
    for (int l = 0; l < m->n_hidden; l++) {
        const char *mark = l >= 1 ? "  # added" : first_changed ? "  # changed" : "";
        if (m->bn == DD_BN_BEFORE)
            add(buf, len, &at,
                "    keras.layers.Dense(%d, kernel_initializer=%s, bias_initializer='zeros'),%s\n"
                "    keras.layers.BatchNormalization(),\n    keras.layers.Activation('%s'),\n",
                m->units[l], init, mark, act);
        else
            add(buf, len, &at,
                "    keras.layers.Dense(%d, activation='%s', kernel_initializer=%s, "
                "bias_initializer='zeros'),%s\n%s",
                m->units[l], act, init, mark,
                m->bn == DD_BN_AFTER ? "    keras.layers.BatchNormalization(),\n" : "");
    }
    add(buf, len, &at,
        "    keras.layers.Dense(10, activation='sigmoid', kernel_initializer=%s, "
        "bias_initializer='zeros')])\n",
        init);
    if (o->lr != lab.lr)
        add(buf, len, &at, "opt = keras.optimizers.SGD(learning_rate=%g)  # changed\n", o->lr);
}

/* Whether runs A and B trained the same model the same way: the same description (the model)
 * and the same seed, images, batch, learning rate and epochs. */
static int same_training(const dd_run_config *a, const dd_run_config *b) {
    const dd_train_options *x = &a->opts, *y = &b->opts;
    return strcmp(a->description, b->description) == 0 && x->seed == y->seed &&
           a->train_samples == b->train_samples && x->batch == y->batch && x->lr == y->lr &&
           x->epochs == y->epochs && x->standardize == y->standardize &&
           strcmp(a->data_dir, b->data_dir) == 0;
}

static void results(doc *d) {
    const dd_report *r = d->r;
    heading(d, 2, "Results");
    row(d, 1,
        "model|description|params (trainable)|batch|epochs|final val_acc|best val_acc "
        "(epoch)|epoch time|device");
    for (int i = 0; i < r->n_runs; i++) {
        const dd_report_run *x = &r->runs[i];
        char name[130], description[320], device[16], device_name[256];
        row(d, 0, "%s|%s|%ld (%ld)|%d|%d|%.4f|%.4f (%d)|%.2f s|%s: %s",
            cell(x->cfg.name, name, sizeof name),
            cell(x->cfg.description, description, sizeof description), x->cfg.params_total,
            x->cfg.params_trainable, x->cfg.opts.batch, x->hist.rows, x->final_val_acc,
            x->best_val_acc, x->best_epoch, x->epoch_seconds,
            cell(x->cfg.device, device, sizeof device),
            cell(x->cfg.device_name, device_name, sizeof device_name));
    }
    table_end(d);
    int twins = 0;
    for (int i = 0; i < r->n_runs; i++)
        for (int j = i + 1; j < r->n_runs; j++)
            twins |= same_training(&r->runs[i].cfg, &r->runs[j].cfg);
    if (twins)
        para(d, "Runs with the same description are the same model: the lab's rules make the "
                "variants of one depth differ only by the parity of N, so with one seed they "
                "train to the same numbers.");
    image(d, "val_acc.png", "val_acc against epoch, every model");
    image(d, "final_val_acc.png", "final and best val_acc");
}

static void best_model(doc *d) {
    const dd_report *r = d->r;
    const dd_report_run *b = &r->runs[r->best];
    heading(d, 2, "Best model: %s", b->cfg.name);
    para(d, "%s reached the highest final val_acc, %.4f (%s).", b->cfg.name, b->final_val_acc,
         b->cfg.description);
    if (!r->have_eval) {
        para(d, "No confusion matrix: %s", r->eval_note);
        return;
    }
    const char *what = r->fashion ? "class" : "digit";
    char n_test[32];
    para(d,
         "Its final weights (model.safetensors) evaluated again on the %s test images: "
         "accuracy %.4f, %d misclassified. Rows: true %s; columns: predicted.",
         dd_with_commas((size_t)r->n_test, n_test), r->test_acc, r->n_misclassified, what);
    if (r->fashion) {
        char legend[256];
        dd_fashion_legend(legend, sizeof legend);
        para(d, "The classes (Fashion-MNIST): %s.", legend);
    }
    row(d, 1, "true \\ predicted|0|1|2|3|4|5|6|7|8|9");
    for (int t = 0; t < 10; t++) {
        char cells[256];
        size_t at = 0;
        for (int p = 0; p < 10; p++) add(cells, sizeof cells, &at, "|%ld", r->confusion[t][p]);
        row(d, 0, "%d%s", t, cells);
    }
    table_end(d);
    image(d, "confusion.png", "confusion matrix");
    para(d, "The first misclassified test %s, each labelled true>predicted:",
         r->fashion ? "images" : "digits");
    image(d, "misclassified.png",
          r->fashion ? "misclassified test images" : "misclassified test digits");
}

static void diagnostics(doc *d) {
    if (!d->r->have_diagnostics) return; /* trained with --no-diagnostics */
    heading(d, 2, "Saturation and vanishing gradients");
    para(d, "Every epoch, per Dense layer: the RMS of the kernel gradient over the epoch's steps "
            "(a layer whose gradient is orders of magnitude below the others barely learns: the "
            "vanishing-gradient problem), and on a fixed probe of 1,000 training images the "
            "fraction of saturated units (tanh |a| > 0.99; sigmoid a < 0.01 or a > 0.99; ReLU a = "
            "0), where "
            "the activation's derivative is near 0. The columns grad_rms_dense_L, "
            "saturated_dense_L, preact_mean_dense_L and preact_std_dense_L of each history.csv "
            "hold the numbers.");
    image(d, "grad_rms.png", "kernel-gradient RMS per layer");
    image(d, "saturation.png", "saturated fraction per layer");
}

static void models(doc *d) {
    const dd_report *r = d->r;
    heading(d, 2, "Models");
    for (int i = 0; i < r->n_runs; i++) {
        const dd_report_run *x = &r->runs[i];
        const dd_train_options *o = &x->cfg.opts;
        char text[4096], png[96];
        heading(d, 3, "%s: %s", x->cfg.name, x->cfg.description);
        para(d,
             "Configuration: hidden %d layer(s), activation %s, init %s, BN %s; SGD lr %g, "
             "batch %d, %d epoch%s, seed %llu, standardization %s, %d training images; %ld "
             "params (%ld trainable); device %s (%s); folder %s.",
             o->model.n_hidden, dd_activation_name(o->model.activation),
             dd_init_name(o->model.init.kind), dd_bn_name(o->model.bn), o->lr, o->batch, o->epochs,
             dd_s(o->epochs), o->seed, o->standardize == DD_STANDARDIZE_NONE ? "none" : "global",
             x->cfg.train_samples, x->cfg.params_total, x->cfg.params_trainable, x->cfg.device,
             x->cfg.device_name, x->dir);
        keras_code(&x->cfg, text, sizeof text);
        para(d, x->cfg.variant == 0 ? "The lab's program (fragments 7.1-7.4):"
                                    : "What differs from the lab's program, in Keras:");
        code(d, text);
        snprintf(png, sizeof png, "%s-curves.png", x->stem);
        image(d, png, "loss, accuracy and diagnostics by epoch");
    }
}

int dd_report_text(const dd_report *r, char *err) {
    char md[DD_RUN_PATH_LEN + 16], html[DD_RUN_PATH_LEN + 16];
    snprintf(md, sizeof md, "%s/report.md", r->dir);
    snprintf(html, sizeof html, "%s/report.html", r->dir);
    doc d = {fopen(md, "w"), fopen(html, "w"), r};
    if (!d.md || !d.html) {
        snprintf(err, DD_ERR_LEN, "%.300s: cannot write the report", d.md ? html : md);
        if (d.md) fclose(d.md);
        if (d.html) fclose(d.html);
        return -1;
    }
    fprintf(d.html, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>deepdigits "
                    "report</title>\n<style>body{font-family:sans-serif;max-width:70em;margin:auto}"
                    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px}"
                    "img{max-width:100%%}</style></head><body>\n");
    heading(&d, 1, "deepdigits report: %d model%s", r->n_runs, dd_s(r->n_runs));
    para(&d,
         "MNIST, the lab's Keras program and its variants (../shared/LAB.md), trained by "
         "deepdigits; folder %s.",
         r->dir);
    if (r->dir_run >= 0 && r->n_runs > 1)
        para(&d, "The folder is itself a run folder (%s) and holds %d more; all are reported.",
             r->runs[r->dir_run].cfg.name, r->n_runs - 1);
    if (!r->have_gnuplot) para(&d, "No plots: gnuplot was not found when this report was made.");
    results(&d);
    best_model(&d);
    diagnostics(&d);
    models(&d);
    fprintf(d.html, "</body></html>\n");
    int bad = fclose(d.md) != 0;
    bad |= fclose(d.html) != 0;
    if (bad) snprintf(err, DD_ERR_LEN, "%.300s: cannot write the report", r->dir);
    return bad ? -1 : 0;
}
