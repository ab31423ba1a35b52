/* deepdigits train: flags -> dd_train_options -> a trained network. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "deepdigits/gpu.h"
#include "deepdigits/run.h"
#include "deepdigits/train.h"
#include "deepdigits/variants.h"
#include "fused.h" /* dd_fused_pipe_takes */
#include "stop.h"

static const char train_help[] =
    "usage: deepdigits train [options]\n"
    "Trains a network on MNIST; with no options, exactly the lab's Keras program:\n"
    "784-25(tanh)-10(sigmoid), RandomUniform(-0.1,0.1), MSE, SGD lr 0.01, batch 1, 20 epochs.\n"
    "\n"
    "data:\n"
    "  --data DIR            folder with the four IDX files, raw or .gz (default data/mnist)\n"
    "  --dataset NAME        mnist (data/mnist) or fashion (/usr/share/datasets/fashion-mnist)\n"
    "  --subset N            train on the first N training images only\n"
    "  --standardize MODE    global (default: one mean and std of the training pixels) or none\n"
    "model:\n"
    "  --hidden LIST         hidden layer widths, e.g. 25 or 25,25,25, or none (default 25)\n"
    "  --activation NAME     hidden activation: tanh (default), sigmoid, relu, linear\n"
    "  --init NAME           random_uniform[:MIN,MAX] (default -0.1,0.1), glorot_uniform,\n"
    "                        glorot_normal, he_normal, he_uniform\n"
    "  --bn PLACE            BatchNormalization on every hidden layer: none (default), before\n"
    "                        or after the activation\n"
    "the lab's variants (see the README's table):\n"
    "  --variant N|all       model N of the lab: 0 its network, 1..20 its variants; all trains\n"
    "                        the 21 models into --out DIR. Other flags override the preset.\n"
    "  --width W             units of every hidden layer of the preset (default 25)\n"
    "  --out DIR             write config.json, history.csv, log.txt and model.safetensors to\n"
    "                        DIR (with --variant all: DIR/baseline, DIR/variant-01, ...)\n"
    "  --allow-bn-batch1     train BatchNormalization at batch 1 anyway (it cannot learn)\n"
    "  --jobs N              with --variant all: train N models at a time (default: all 21 on\n"
    "                        a GPU, each on its own stream; 1 on the CPU, where the number of\n"
    "                        cores is a good choice); each model's results are the same as alone\n"
    "training:\n"
    "  --epochs N            (default 20)\n"
    "  --batch N             (default 1)\n"
    "  --lr X                SGD learning rate (default 0.01)\n"
    "  --seed N              seed of every random draw (default 7)\n"
    "  --device NAME         auto (default: the GPU when there is one, else the CPU), gpu, cpu\n"
    "  --tf32                GPU: let cuBLAS use TF32 tensor cores (faster, changes the numbers)\n"
    "  --no-graphs           GPU: launch every op eagerly instead of replaying a CUDA graph\n"
    "  --engine NAME         GPU: auto (default), fused (whole epochs in one thread block, for\n"
    "                        networks up to 64 units wide and batches up to 1024), layers\n"
    "                        (cuBLAS SGEMMs and a kernel per layer and direction); auto is\n"
    "                        fused up to batch 32\n"
    "  --fused-sms N         GPU, --engine fused: SMs a model, 1, 2 or 4 (a thread-block\n"
    "                        cluster; default: two from batch 8 where the batch fits on chip)\n"
    "  --fused-pipe          GPU, --engine fused at batch 1 (one hidden layer of up to 31 units,\n"
    "                        no BN): the pipelined warp step, one barrier a step (the first\n"
    "                        layer's sums round differently: the results move in the last bits)\n"
    "checkpoints (safetensors; see the README):\n"
    "  --save FILE           write the weights and the training state after the last epoch\n"
    "  --save-every N        and every N epochs (to the same FILE)\n"
    "  --resume FILE         continue the run FILE holds; --epochs may extend it, flags that\n"
    "                        change the model or the training are refused. SIGINT or SIGTERM\n"
    "                        saves and exits: to --save, else the --resume FILE, else (with\n"
    "                        --out DIR) DIR/" DD_RUN_INTERRUPTED ", else\n"
    "                        " DD_INTERRUPTED_CHECKPOINT "\n"
    "output:\n"
    "  --history FILE.csv    per-epoch loss, acc, val_loss, val_acc, timings\n"
    "  --verbose N           0 quiet, 1 progress bar, 2 one line per epoch (default)\n"
    "  --no-diagnostics      skip the per-layer diagnostics columns of the history (gradient\n"
    "                        RMS, saturation, pre-activation mean and std; about 1 us per\n"
    "                        step at batch 1)\n"
    "  --help                this text\n";

enum {
    OPT_DATA = 256,
    OPT_DATASET,
    OPT_SUBSET,
    OPT_STANDARDIZE,
    OPT_HIDDEN,
    OPT_ACTIVATION,
    OPT_INIT,
    OPT_BN,
    OPT_EPOCHS,
    OPT_BATCH,
    OPT_LR,
    OPT_SEED,
    OPT_DEVICE,
    OPT_HISTORY,
    OPT_VERBOSE,
    OPT_NO_DIAGNOSTICS,
    OPT_TF32,
    OPT_NO_GRAPHS,
    OPT_ENGINE,
    OPT_FUSED_SMS,
    OPT_FUSED_PIPE,
    OPT_VARIANT,
    OPT_WIDTH,
    OPT_OUT,
    OPT_ALLOW_BN_BATCH1,
    OPT_JOBS,
    OPT_SAVE,
    OPT_SAVE_EVERY,
    OPT_RESUME,
    OPT_HELP
};

static const struct option train_options[] = {
    {"data", required_argument, 0, OPT_DATA},
    {"dataset", required_argument, 0, OPT_DATASET},
    {"subset", required_argument, 0, OPT_SUBSET},
    {"standardize", required_argument, 0, OPT_STANDARDIZE},
    {"hidden", required_argument, 0, OPT_HIDDEN},
    {"activation", required_argument, 0, OPT_ACTIVATION},
    {"init", required_argument, 0, OPT_INIT},
    {"bn", required_argument, 0, OPT_BN},
    {"epochs", required_argument, 0, OPT_EPOCHS},
    {"batch", required_argument, 0, OPT_BATCH},
    {"lr", required_argument, 0, OPT_LR},
    {"seed", required_argument, 0, OPT_SEED},
    {"device", required_argument, 0, OPT_DEVICE},
    {"history", required_argument, 0, OPT_HISTORY},
    {"verbose", required_argument, 0, OPT_VERBOSE},
    {"no-diagnostics", no_argument, 0, OPT_NO_DIAGNOSTICS},
    {"tf32", no_argument, 0, OPT_TF32},
    {"no-graphs", no_argument, 0, OPT_NO_GRAPHS},
    {"engine", required_argument, 0, OPT_ENGINE},
    {"fused-sms", required_argument, 0, OPT_FUSED_SMS},
    {"fused-pipe", no_argument, 0, OPT_FUSED_PIPE},
    {"variant", required_argument, 0, OPT_VARIANT},
    {"width", required_argument, 0, OPT_WIDTH},
    {"out", required_argument, 0, OPT_OUT},
    {"allow-bn-batch1", no_argument, 0, OPT_ALLOW_BN_BATCH1},
    {"jobs", required_argument, 0, OPT_JOBS},
    {"save", required_argument, 0, OPT_SAVE},
    {"save-every", required_argument, 0, OPT_SAVE_EVERY},
    {"resume", required_argument, 0, OPT_RESUME},
    {"help", no_argument, 0, OPT_HELP},
    {0, 0, 0, 0}};

/* "25,25,25" -> widths; "none" -> no hidden layer. */
static int parse_hidden(const char *value, dd_model_config *cfg) {
    if (strcmp(value, "none") == 0) {
        cfg->n_hidden = 0;
        return 0;
    }
    int n;
    if (dd_parse_int_list("hidden", value, 1, DD_MAX_UNITS, cfg->units, DD_MAX_HIDDEN, &n) != 0)
        return -1;
    cfg->n_hidden = n;
    return 0;
}

/* Applies one flag to OPTS and the data choice; -1 after printing the problem. */
static int apply_flag(int opt, const char *arg, dd_train_options *o, const char **data,
                      const char **dataset) {
    char err[DD_ERR_LEN];
    long n;
    double x;
    switch (opt) {
    case OPT_DATA:
        *data = arg;
        return 0;
    case OPT_DATASET:
        *dataset = arg;
        return 0;
    case OPT_SUBSET:
        if (dd_parse_int("subset", arg, 1, 1L << 30, &n) != 0) return -1;
        o->subset = (int)n;
        return 0;
    case OPT_STANDARDIZE:
        if (strcmp(arg, "global") == 0)
            o->standardize = DD_STANDARDIZE_GLOBAL;
        else if (strcmp(arg, "none") == 0)
            o->standardize = DD_STANDARDIZE_NONE;
        else {
            fprintf(stderr, "deepdigits: --standardize '%s': must be global or none\n", arg);
            return -1;
        }
        return 0;
    case OPT_HIDDEN:
        return parse_hidden(arg, &o->model);
    case OPT_ACTIVATION:
        if (dd_activation_parse(arg, &o->model.activation) == 0) return 0;
        fprintf(stderr, "deepdigits: --activation '%s': must be tanh, sigmoid, relu or linear\n",
                arg);
        return -1;
    case OPT_INIT:
        if (dd_init_parse(arg, &o->model.init, err) == 0) return 0;
        fprintf(stderr, "deepdigits: --init: %s\n", err);
        return -1;
    case OPT_BN:
        if (dd_bn_parse(arg, &o->model.bn) == 0) return 0;
        fprintf(stderr, "deepdigits: --bn '%s': must be none, before or after\n", arg);
        return -1;
    case OPT_EPOCHS:
        if (dd_parse_int("epochs", arg, 1, 100000, &n) != 0) return -1;
        o->epochs = (int)n;
        return 0;
    case OPT_BATCH:
        if (dd_parse_int("batch", arg, 1, DD_MAX_BATCH, &n) != 0) return -1;
        o->batch = (int)n;
        return 0;
    case OPT_LR:
        if (dd_parse_float("lr", arg, 0.0, 1e3, &x) != 0) return -1;
        o->lr = (float)x;
        return 0;
    case OPT_SEED:
        if (dd_parse_int("seed", arg, 0, DD_MAX_SEED, &n) != 0) return -1;
        o->seed = (unsigned long long)n;
        return 0;
    case OPT_DEVICE:
        return dd_parse_device(arg, &o->device);
    case OPT_HISTORY:
        if (arg[0] == '\0') {
            fprintf(stderr, "deepdigits: --history '': not a file name\n");
            return -1;
        }
        o->history_path = arg;
        return 0;
    case OPT_NO_DIAGNOSTICS:
        o->diagnostics = 0;
        return 0;
    case OPT_TF32:
        o->tf32 = 1;
        return 0;
    case OPT_NO_GRAPHS:
        o->no_graphs = 1;
        return 0;
    case OPT_ENGINE:
        return dd_parse_engine(arg, &o->engine);
    case OPT_FUSED_SMS:
        if (dd_parse_int("fused-sms", arg, LONG_MIN, LONG_MAX, &n) != 0) return -1;
        if (n != 1 && n != 2 && n != 4) {
            fprintf(stderr, "deepdigits: --fused-sms %ld: must be 1, 2 or 4\n", n);
            return -1;
        }
        o->fused_sms = (int)n;
        return 0;
    case OPT_FUSED_PIPE:
        o->fused_pipe = 1;
        return 0;
    case OPT_VERBOSE:
        if (dd_parse_int("verbose", arg, 0, 2, &n) != 0) return -1;
        o->verbose = (int)n;
        return 0;
    case OPT_SAVE:
        o->save_path = arg;
        return 0;
    case OPT_SAVE_EVERY:
        if (dd_parse_int("save-every", arg, 1, 100000, &n) != 0) return -1;
        o->save_every = (int)n;
        return 0;
    case OPT_RESUME:
        return 0; /* read by dd_resume_flags */
    case OPT_VARIANT:
    case OPT_WIDTH:
    case OPT_OUT:
    case OPT_ALLOW_BN_BATCH1:
    case OPT_JOBS:
        return 0; /* read before the others by scan_run_flags */
    }
    fprintf(stderr, "deepdigits train: option %d has no handler\n", opt);
    return -1;
}

/* The flags that choose what to train. They are read first, so that a preset comes before every
 * explicit flag, wherever the flags stand. */
typedef struct {
    int variant; /* 0..20, VARIANT_NONE or VARIANT_ALL */
    long width;  /* 0: the preset's */
    const char *out;
    int allow_bn_batch1;
    long jobs;        /* --variant all: models trained at a time; 0 = the device's default */
    int hidden_given; /* --hidden, which --width cannot change */
} run_flags;

#define VARIANT_NONE (-1)
#define VARIANT_ALL  (-2)
#define HELP_SHOWN   (-3)

static int scan_run_flags(int argc, char **argv, run_flags *r) {
    long n;
    int opt;
    optind = 0; /* glibc: start over */
    opterr = 0;
    while ((opt = getopt_long(argc, argv, DD_TRAIN_OPTSTRING, train_options, NULL)) != -1) {
        if (opt == OPT_VARIANT && strcmp(optarg, "all") == 0)
            r->variant = VARIANT_ALL;
        else if (opt == OPT_VARIANT && dd_parse_int("variant", optarg, 0, DD_VARIANT_COUNT, &n))
            return -1;
        else if (opt == OPT_VARIANT)
            r->variant = (int)n;
        else if (opt == OPT_WIDTH && dd_parse_int("width", optarg, 1, DD_MAX_UNITS, &r->width))
            return -1;
        else if (opt == OPT_OUT && optarg[0] == '\0')
            return fprintf(stderr, "deepdigits: --out '': not a folder name\n"), -1;
        else if (opt == OPT_OUT)
            r->out = optarg;
        else if (opt == OPT_ALLOW_BN_BATCH1)
            r->allow_bn_batch1 = 1;
        else if (opt == OPT_JOBS && dd_parse_int("jobs", optarg, 1, DD_MAX_JOBS, &r->jobs))
            return -1;
        else if (opt == OPT_HIDDEN)
            r->hidden_given = 1;
    }
    return 0;
}

/* O = the preset of VARIANT (the lab's program for none), then every other flag. Returns 0,
 * HELP_SHOWN, or an exit code after printing the problem. */
static int parse_flags(int argc, char **argv, const run_flags *r, int variant, dd_train_options *o,
                       const char **data, const char **dataset) {
    char err[DD_ERR_LEN];
    *o = dd_train_options_lab();
    if ((variant >= 0 || r->width) &&
        dd_variant_options(variant < 0 ? 0 : variant, (int)r->width, o, err) != 0) {
        fprintf(stderr, "deepdigits: %s\n", err);
        return 1;
    }
    int opt;
    optind = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, DD_TRAIN_OPTSTRING, train_options, NULL)) != -1) {
        if (opt == OPT_HELP || opt == 'h') {
            fputs(train_help, stdout);
            return HELP_SHOWN;
        }
        if (opt == '?') {
            dd_bad_option("deepdigits train", argv[optind - 1], train_options);
            return 2;
        }
        if (opt == 1) {
            fprintf(stderr, "deepdigits train: unexpected argument '%s'\n", optarg);
            return 2;
        }
        if (apply_flag(opt, optarg, o, data, dataset) != 0) return 1;
    }
    if (optind < argc) {
        fprintf(stderr, "deepdigits train: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    o->dataset = dd_data_kind(*data, *dataset); /* for the checkpoints */
    return 0;
}

typedef struct {
    int argc;
    char **argv;
    const run_flags *run;
} variant_args;

/* Model N's options within --variant all: the flags over its preset. --fused-pipe pipelines the
 * models whose step it takes (the baseline at batch 1); the others train as without it. */
static int variant_options(int n, dd_train_options *o, void *ctx) {
    const variant_args *a = ctx;
    const char *data = NULL, *dataset = NULL;
    const int rc = parse_flags(a->argc, a->argv, a->run, n, o, &data, &dataset);
    if (rc == 0 && o->fused_pipe && !dd_fused_pipe_takes(&o->model, o->batch)) o->fused_pipe = 0;
    return rc;
}

/* A training run's exit status from its return: 0; a signal's number (SIGINT, SIGTERM), as the
 * shell's 130 or 143; or 1. */
static int exit_status(int rc) {
    return rc == 0 ? 0 : rc > 0 ? 128 + rc : 1;
}

/* --out DIR: one model into DIR, or with --variant all the 21 into DIR/<name>. */
static int train_into_runs(int argc, char **argv, const run_flags *r, const dd_train_options *o,
                           const char *data_dir, const dd_mnist *mnist) {
    char err[DD_ERR_LEN];
    variant_args args = {argc, argv, r};
    const int on_gpu = o->device != DD_DEVICE_CPU && dd_cuda_device_count() > 0;
    const int jobs = r->jobs ? (int)r->jobs : on_gpu ? DD_VARIANT_COUNT + 1 : 1;
    int rc = r->variant == VARIANT_ALL
                 ? dd_run_all(r->out, variant_options, &args, r->allow_bn_batch1, data_dir, mnist,
                              stdout, jobs, err)
                 : dd_run_model(r->out, r->variant, o, r->allow_bn_batch1, data_dir, mnist, stdout,
                                NULL, err);
    if (rc != 0) fprintf(stderr, "deepdigits: %s\n", err);
    return exit_status(rc);
}

/* Flags that do not go together, found before anything is loaded: the usage error's exit status
 * (2), or 0. */
static int check_combinations(int argc, char **argv, const run_flags *run,
                              const dd_train_options *o, const char *data, const char *dataset) {
    int resuming;
    const char *excluded = dd_resume_conflict(argc, argv, train_options, &resuming);
    if (excluded) {
        fprintf(stderr, "deepdigits: --%s cannot be combined with --resume\n", excluded);
        return 2;
    }
    const char *gpu_flag =
        o->engine != DD_ENGINE_AUTO
            ? (o->engine == DD_ENGINE_FUSED ? "--engine fused" : "--engine layers")
        : o->tf32      ? "--tf32"
        : o->no_graphs ? "--no-graphs"
                       : NULL;
    const char *why = NULL;
    if (run->variant == VARIANT_ALL && !run->out)
        why = "--variant all needs --out DIR for the 21 run folders";
    else if (run->width && run->hidden_given)
        why = "--width sets a preset's widths; with --hidden give the widths there";
    else if (run->jobs > 1 && run->variant != VARIANT_ALL)
        why = "--jobs trains several models at once: it needs --variant all";
    else if (run->out && o->history_path)
        why = "--history does not combine with --out (each run folder gets its own history.csv)";
    else if (run->out && o->save_path)
        why = "--save does not combine with --out (each run folder gets its own "
              "model.safetensors)";
    else if (o->save_every && !o->save_path && !resuming)
        why = "--save-every needs --save FILE (or --resume FILE, which it then saves to)";
    else if (data && dataset)
        why = "give either --data or --dataset, not both";
    else if (o->fused_sms && o->engine != DD_ENGINE_FUSED)
        why = "--fused-sms sets the fused engine's SMs a model: it needs --engine fused";
    else if (o->fused_pipe && o->engine != DD_ENGINE_FUSED)
        why = "--fused-pipe pipelines the fused engine's batch-1 step: it needs --engine fused";
    if (why) {
        fprintf(stderr, "deepdigits: %s\n", why);
        return 2;
    }
    if (gpu_flag && o->device == DD_DEVICE_CPU) {
        fprintf(stderr, "deepdigits: %s runs on the GPU: it needs --device gpu or auto\n",
                gpu_flag);
        return 2;
    }
    return 0;
}

/* One model from PARAMS (a checkpoint's) or from its initialization, printing as Keras's fit.
 * ALLOW: --allow-bn-batch1, for a training set of one image (known only now). */
static int train_one(dd_train_options *o, float *params, int allow, const dd_mnist *mnist) {
    char err[DD_ERR_LEN];
    dd_layout layout;
    int rc = o->resume ? 0 : dd_check_bn_samples(o, mnist->train.count, allow, err);
    if (rc == 0) rc = dd_layout_build(&o->model, &layout, err);
    float *own = NULL;
    if (rc == 0 && !params) { /* dd_train initializes it */
        params = own = malloc(layout.n_params * sizeof *params);
        if (!own) rc = -1, snprintf(err, sizeof err, "out of memory");
    }
    o->summary = o->verbose > 0;
    if (rc == 0) rc = dd_train(o, mnist, params, NULL, stdout, err);
    if (rc == 0) rc = dd_stop_late(err);
    if (rc != 0) fprintf(stderr, "deepdigits: %s\n", err);
    free(own);
    return exit_status(rc);
}

int dd_cmd_train(int argc, char **argv) {
    run_flags run = {.variant = VARIANT_NONE, .jobs = 0};
    if (scan_run_flags(argc, argv, &run) != 0) return 1;
    dd_train_options o;
    const char *data = NULL, *dataset = NULL;
    int first = run.variant == VARIANT_ALL ? 0 : run.variant;
    int parsed = parse_flags(argc, argv, &run, first, &o, &data, &dataset);
    if (parsed != 0) return parsed == HELP_SHOWN ? 0 : parsed;
    int status = check_combinations(argc, argv, &run, &o, data, dataset);
    if (status != 0) return status;
    char err[DD_ERR_LEN];
    if (o.device == DD_DEVICE_GPU && dd_check_gpu_flag(err) != 0) {
        fprintf(stderr, "deepdigits: %s\n", err);
        return 1;
    }
    dd_checkpoint_state resumed = {0};
    float *params = NULL; /* a checkpoint's, with --resume (never with --out: see above) */
    if (dd_resume_flags(argc, argv, train_options, &o, &params, &resumed) != 0) return 1;
    /* A resumed model's BN and batch are the checkpoint's, accepted when it was trained (a --bn
     * given with --resume only has to match them). */
    if (!o.resume && dd_check_bn_batch(&o, run.allow_bn_batch1, err) != 0)
        status = 1, fprintf(stderr, "deepdigits: %s\n", err);
    else
        status = dd_check_output_files(&o);
    if (status != 0) {
        free(params), free(resumed.history);
        return status;
    }
    o.catch_signals = 1;
    const char *dir = dd_data_dir(data, dataset);
    dd_mnist mnist;
    if (dir && dd_load_data(dir, &mnist) == 0) {
        status = run.out ? train_into_runs(argc, argv, &run, &o, dir, &mnist)
                         : train_one(&o, params, run.allow_bn_batch1, &mnist);
        dd_mnist_free(&mnist);
    } else {
        status = 1;
    }
    free(params);
    free(resumed.history);
    return status;
}
