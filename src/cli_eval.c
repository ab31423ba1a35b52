/* deepdigits eval and predict: a checkpoint on the test set (loss, accuracy, confusion matrix)
 * or on image files, with the standardization it was trained with. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "deepdigits/checkpoint.h"
#include "deepdigits/network.h"
#include "deepdigits/ops.h"
#include "image.h"
#include "errors.h"

static const char eval_help[] =
    "usage: deepdigits eval --model FILE.safetensors [--data DIR | --dataset NAME]\n"
    "Evaluates a checkpoint on the test set: val_loss, val_acc and the confusion matrix (rows:\n"
    "true digit, columns: predicted), with the standardization the model was trained with.\n"
    "The folder must hold the training images the model was trained on (their pixel mean and\n"
    "std are checked), so that a Fashion-MNIST model is not scored on MNIST's test set.\n"
    "  --data DIR      folder with the four IDX files (default data/mnist, or Fashion-MNIST's\n"
    "                  for a model trained with --dataset fashion)\n"
    "  --dataset NAME  mnist or fashion\n";

static const char predict_help[] =
    "usage: deepdigits predict --model FILE.safetensors IMAGE...\n"
    "Prints the predicted digit and the 10 outputs for each 28x28 grayscale image: PGM (P5 or\n"
    "P2) or 8-bit grayscale PNG. For a model trained with --dataset fashion, the class's name\n"
    "follows the outputs: 'IMAGE: 7  0.0012 ... 0.0031  Sneaker'.\n";

enum { OPT_MODEL = 256, OPT_DATA, OPT_DATASET, OPT_HELP };

static const struct option eval_options[] = {{"model", required_argument, 0, OPT_MODEL},
                                             {"data", required_argument, 0, OPT_DATA},
                                             {"dataset", required_argument, 0, OPT_DATASET},
                                             {"help", no_argument, 0, OPT_HELP},
                                             {0, 0, 0, 0}};

/* predict's own table, so that getopt and dd_bad_option know only its flags: with eval's, `--da`
 * was "ambiguous: --data, --dataset", two flags predict refuses. */
static const struct option predict_options[] = {
    {"model", required_argument, 0, OPT_MODEL}, {"help", no_argument, 0, OPT_HELP}, {0, 0, 0, 0}};

/* Reads the flags of eval (WITH_DATA) or predict. Returns 0, 3 after --help, or an exit code. */
static int parse(int argc, char **argv, const char *cmd, const char *help, int with_data,
                 const char **model, const char **data, const char **dataset) {
    const struct option *table = with_data ? eval_options : predict_options;
    int opt;
    optind = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "h", table, NULL)) != -1) {
        if (opt == OPT_HELP || opt == 'h') return fputs(help, stdout), 3;
        if (opt == '?') {
            char who[32];
            snprintf(who, sizeof who, "deepdigits %s", cmd);
            dd_bad_option(who, argv[optind - 1], table);
            return 2;
        }
        if (opt == OPT_MODEL) *model = optarg;
        if (opt == OPT_DATA) *data = optarg;
        if (opt == OPT_DATASET) *dataset = optarg;
    }
    if (!*model) {
        const char *stray = optind < argc ? argv[optind] : "", *dot = strrchr(stray, '.');
        /* `eval m.safetensors`, as other tools take it: say where the checkpoint goes */
        if (dot && strcmp(dot, ".safetensors") == 0)
            fprintf(stderr, "deepdigits %s: the checkpoint goes after --model: --model %s\n", cmd,
                    stray);
        else
            fprintf(stderr, "deepdigits %s: --model FILE.safetensors is required\n", cmd);
        return 2;
    }
    if (!**model) { /* else the loader's line would begin "deepdigits: : cannot read" */
        fprintf(stderr, "deepdigits %s: --model '': not a file name\n", cmd);
        return 1;
    }
    return 0;
}

static int load_model(const char *path, float **params, dd_checkpoint_state *st) {
    char err[DD_ERR_LEN];
    if (dd_checkpoint_load(path, params, st, err) == 0) return 0;
    fprintf(stderr, "deepdigits: %s\n", err);
    return -1;
}

/* The matrix of true labels against predicted ones; for Fashion-MNIST a legend names the
 * classes, which are not digits. */
static void print_confusion(const dd_dataset *test, const uint8_t *predicted, int fashion) {
    long m[DD_CLASSES][DD_CLASSES] = {{0}};
    for (int i = 0; i < test->count; i++) m[test->labels[i]][predicted[i]]++;
    printf("confusion matrix (rows: true %s, columns: predicted)\n      ",
           fashion ? "class" : "digit");
    for (int k = 0; k < DD_CLASSES; k++) printf("%6d", k);
    for (int t = 0; t < DD_CLASSES; t++) {
        printf("\n%6d", t);
        for (int k = 0; k < DD_CLASSES; k++) printf("%6ld", m[t][k]);
    }
    printf("\n");
    if (fashion) {
        char legend[256];
        dd_fashion_legend(legend, sizeof legend);
        printf("classes: %s\n", legend);
    }
}

/* The CPU backend's evaluation of PARAMS on DATA's test set. */
static int evaluate(const dd_checkpoint_state *st, const float *params, const dd_mnist *data,
                    int fashion) {
    char err[DD_ERR_LEN];
    uint8_t *predicted = malloc((size_t)data->test.count);
    dd_sums s;
    int rc = predicted ? dd_evaluate_checkpoint(st, params, data, &s, predicted, err) : -1;
    if (rc == 0) {
        printf("val_loss: %.4f - val_acc: %.4f (%ld test images)\n", s.loss_sum / s.samples,
               (double)s.correct / s.samples, s.samples);
        print_confusion(&data->test, predicted, fashion);
    } else {
        fprintf(stderr, "deepdigits: %s\n", predicted ? err : "out of memory");
    }
    free(predicted);
    return rc;
}

int dd_cmd_eval(int argc, char **argv) {
    const char *model = NULL, *data = NULL, *dataset = NULL;
    int rc = parse(argc, argv, "eval", eval_help, 1, &model, &data, &dataset);
    if (rc != 0 || optind < argc) {
        if (rc == 0) fprintf(stderr, "deepdigits eval: unexpected argument '%s'\n", argv[optind]);
        return rc == 3 ? 0 : rc ? rc : 2;
    }
    const char *dir = dd_data_dir(data, dataset);
    if (!dir) return data && dataset ? 2 : 1; /* both given: a usage error */
    dd_checkpoint_state st;
    float *params;
    if (load_model(model, &params, &st) != 0) return 1;
    const int fashion =
        st.options.dataset == DD_DATASET_FASHION || (dataset && strcmp(dataset, "fashion") == 0);
    if (!data && !dataset && fashion) dir = dd_data_dir(NULL, "fashion"); /* the model's own */
    dd_mnist mnist;
    rc = dd_load_data(dir, &mnist) == 0 ? 0 : -1;
    char err[DD_ERR_LEN];
    if (rc == 0 && dd_checkpoint_check_images(&st, &mnist.train, "--data or --dataset", err) != 0) {
        fprintf(stderr, "deepdigits: %s: %s\n", dir, err); /* not the model's dataset */
        dd_mnist_free(&mnist);
        rc = -1;
    } else if (rc == 0) {
        char desc[256];
        dd_model_describe(&st.options.model, desc, sizeof desc);
        printf("model: %s: %s, %d epoch%s", model, desc, st.epochs_done, dd_s(st.epochs_done));
        if (st.step) /* stopped inside the next epoch: its steps are in the weights too */
            printf(" and %ld step%s of epoch %d", st.step, dd_s(st.step), st.epochs_done + 1);
        printf("\n");
        rc = evaluate(&st, params, &mnist, fashion);
        dd_mnist_free(&mnist);
    }
    free(params), free(st.history);
    return rc == 0 ? 0 : 1;
}

/* One image through the network: the digit and the 10 outputs, then the class's name from
 * NAMES (NULL: digits, which need none). */
static int predict_one(dd_net *net, float *params, const float table[256], const char *const *names,
                       const char *path) {
    uint8_t pixels[DD_IMAGE_PIXELS];
    char err[DD_ERR_LEN];
    if (dd_image_load(path, pixels, err) != 0) {
        fprintf(stderr, "deepdigits: %s\n", err);
        return -1;
    }
    dd_gather_standardize(net->input, pixels, NULL, 0, table, 1);
    dd_net_forward(net, params, 1, 0);
    const float *y = dd_net_layer_output(net, net->layout.n_dense - 1);
    int best = 0;
    for (int k = 1; k < DD_CLASSES; k++)
        if (y[k] > y[best]) best = k;
    printf("%s: %d ", path, best);
    for (int k = 0; k < DD_CLASSES; k++) printf(" %.4f", y[k]);
    /* last, so that the columns are the same for every model ("Ankle boot" holds a space) */
    if (names) printf("  %s", names[best]);
    printf("\n");
    return 0;
}

int dd_cmd_predict(int argc, char **argv) {
    const char *model = NULL, *unused = NULL;
    int rc = parse(argc, argv, "predict", predict_help, 0, &model, &unused, &unused);
    if (rc != 0) return rc == 3 ? 0 : rc;
    if (optind == argc) {
        fprintf(stderr, "deepdigits predict: give one or more images (PGM or PNG)\n");
        return 2;
    }
    int first = optind;
    dd_checkpoint_state st;
    float *params, table[256];
    char err[DD_ERR_LEN];
    if (load_model(model, &params, &st) != 0) return 1;
    dd_checkpoint_table(&st, table);
    dd_net net;
    int failed = 0;
    if (dd_net_create(&net, &st.options.model, 1, err) != 0) {
        fprintf(stderr, "deepdigits: %s\n", err);
        failed = 1;
    } else {
        const char *const *names =
            st.options.dataset == DD_DATASET_FASHION ? dd_fashion_classes : NULL;
        for (int i = first; i < argc; i++)
            failed |= predict_one(&net, params, table, names, argv[i]) != 0;
        dd_net_destroy(&net);
    }
    free(params), free(st.history);
    return failed ? 1 : 0;
}
