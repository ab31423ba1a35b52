/* Run folders: one trained model per folder, as `deepdigits train --out` and `--variant all`
 * write them and `deepdigits report` reads them back. A run folder holds
 *   config.json        the configuration and options, the device, the data folder (run_config.c)
 *   history.csv        one row per epoch, diagnostics included (train.c)
 *   log.txt            what train printed for the model
 *   model.safetensors  the final weights (checkpoint.h)
 * Implementation: src/run.c (training), src/run_config.c (config.json). */
#ifndef DEEPDIGITS_RUN_H
#define DEEPDIGITS_RUN_H

#include <stdio.h>

#include "deepdigits/train.h"

/* A run folder's path and its NUL: train refuses a longer --out (dd_mkdirs), report a longer
 * folder; the two share this one limit so that report reads every folder train writes. */
#define DD_RUN_PATH_LEN 1024
/* The checkpoint a run folder's training leaves in it when SIGINT or SIGTERM stops it (a run
 * trained again into the folder removes it): train --resume DIR/interrupted.safetensors goes on. */
#define DD_RUN_INTERRUPTED "interrupted.safetensors"

/* What config.json holds. */
typedef struct {
    char name[64];         /* "baseline", "variant-07", or the folder's name for a custom model */
    int variant;           /* 0..20, or -1 when the model is no preset */
    char description[160]; /* dd_options_describe_short */
    dd_train_options opts; /* history_path is not kept */
    int allow_bn_batch1;
    int train_samples;
    long params_total, params_trainable;
    char device[8];                 /* what --device asked for: cpu, gpu or auto */
    char device_name[128];          /* the processor it means, e.g. the CPU's model name */
    char data_dir[DD_RUN_PATH_LEN]; /* the MNIST folder, for the report's test-set evaluation */
    char created[32];               /* UTC, ISO 8601 */
} dd_run_config;

int dd_run_config_write(const char *path, const dd_run_config *c, char *err);
/* Reads what dd_run_config_write wrote: strict JSON, every field of the right type and range
 * (keys the format gained later may be missing, unknown keys are skipped). Returns 0 or -1 with
 * one line in ERR naming the file and the field. */
int dd_run_config_read(const char *path, dd_run_config *c, char *err);
/* The same for the file's TEXT[0..len); WHY gets the problem without the file's name. */
int dd_run_config_parse(const char *text, size_t len, dd_run_config *c, char *why);

/* The outcome of one run, for the summary table. */
typedef struct {
    char name[64];
    char description[160];
    double final_val_acc, best_val_acc;
    int best_epoch;
    double seconds; /* training and evaluation, all epochs */
} dd_run_result;

/* Trains one model into folder DIR (created, with its parents): the loop body of --variant all,
 * and all a Slurm array task runs. VARIANT is the preset OPTS came from (-1: none); DATA_DIR is
 * recorded. Train's output goes to CONSOLE and to log.txt. Returns 0, -1 with ERR, or SIGINT's or
 * SIGTERM's number after saving (dd_train's; ERR says where). */
int dd_run_model(const char *dir, int variant, const dd_train_options *opts, int allow_bn_batch1,
                 const char *data_dir, const dd_mnist *data, FILE *console, dd_run_result *res,
                 char *err);

/* The options of variant N: its preset and then the user's explicit flags. Returns 0 or -1
 * (having printed why). */
typedef int (*dd_variant_options_fn)(int n, dd_train_options *opts, void *ctx);

/* Trains the baseline and variants 1..20 into OUT/baseline, OUT/variant-01 ..., then prints the
 * summary table to CONSOLE. Every model's options are checked before the first one trains.
 * JOBS > 1 trains that many models at a time, each in its own thread (and, on the GPU, its own
 * stream); each model's result is the same as trained alone. The console then gets one line per
 * finished model instead of the epochs, and SIGINT/SIGTERM stop the process at once. */
int dd_run_all(const char *out, dd_variant_options_fn options_for, void *ctx, int allow_bn_batch1,
               const char *data_dir, const dd_mnist *data, FILE *console, int jobs, char *err);

void dd_run_summary(FILE *out, const dd_run_result *results, int n);

/* "Intel(R) Xeon(R) Processor (2 logical CPUs)": /proc/cpuinfo's model name and CPU count. */
void dd_cpu_describe(char *buf, size_t len);

/* DEVICE's name (cpu, gpu; auto resolved by whether a CUDA device exists) and the processor it
 * means: the CPU's model name, or the GPU's. */
void dd_device_describe(dd_device device, char *name, size_t name_len, char *hw, size_t hw_len);

/* mkdir -p. Returns 0 or -1 with ERR. */
int dd_mkdirs(const char *path, char *err);

#endif
