/* The training driver: shuffles, steps through each epoch on a backend, evaluates, reports in
 * Keras's words and writes the history. It knows nothing of which backend runs.
 * Implementation: src/train.c. */
#ifndef DEEPDIGITS_TRAIN_H
#define DEEPDIGITS_TRAIN_H

#include <stdio.h>

#include "deepdigits/backend.h"
#include "deepdigits/idx.h"
#include "deepdigits/model.h"

typedef enum { DD_STANDARDIZE_GLOBAL, DD_STANDARDIZE_NONE } dd_standardize;

/* The images a model was trained on, as a checkpoint records them ("dataset" in its training
 * metadata): --dataset mnist or fashion, or a --data folder (custom). UNKNOWN: a checkpoint
 * written before the field, or a run not started from the command line; it is not written. */
typedef enum {
    DD_DATASET_UNKNOWN,
    DD_DATASET_MNIST,
    DD_DATASET_FASHION,
    DD_DATASET_CUSTOM
} dd_dataset_kind;

typedef struct {
    dd_model_config model;
    int epochs;              /* 20 */
    int batch;               /* 1 */
    float lr;                /* 0.01 */
    unsigned long long seed; /* 7 */
    int subset;              /* train on the first N images; 0 = all */
    dd_standardize standardize;
    dd_dataset_kind dataset; /* recorded in checkpoints; training itself does not read it */
    dd_device device;
    int verbose; /* 0 silent, 1 progress bar, 2 one line per epoch */
    int summary; /* the model's summary and "Train on N samples" to OUT once every check passed */
    const char *history_path; /* CSV, or NULL */
    int diagnostics;          /* per-layer gradient RMS and saturation every epoch (default on) */
    int tf32, no_graphs;      /* GPU only: see dd_backend_setup */
    dd_engine engine;         /* GPU only: see dd_backend_setup */
    int fused_sms;            /* GPU only: see dd_backend_setup (0, the engine's rule) */
    int fused_pipe;           /* GPU only: see dd_backend_setup */
    /* Checkpoints (checkpoint.h): written to save_path after the last epoch and every
     * save_every epochs (0: only at the end); never after a non-finite loss. */
    const char *save_path;
    int save_every;
    /* SIGINT/SIGTERM finish the current step, save (to save_path, else stop_path, else
     * DD_INTERRUPTED_CHECKPOINT) and make dd_train return the signal's number. */
    int catch_signals;
    const char *stop_path;
    /* Where a checkpointed run stopped (dd_checkpoint_load), or NULL for a fresh start; the
     * file it came from. */
    const struct dd_checkpoint_state *resume;
    const char *resume_path;
    /* Out, when not NULL: the device that trained, CPU or GPU (auto resolved; the CPU after a
     * GPU that could not be used). */
    dd_device *device_used;
} dd_train_options;

/* Where an interrupted run without --save leaves its checkpoint. */
#define DD_INTERRUPTED_CHECKPOINT "deepdigits-interrupted.safetensors"

/* Images in the fixed probe batch of the saturation diagnostics (the first training images). */
#define DD_PROBE_IMAGES 1000

/* The largest batch and seed the flags and checkpoints take. */
#define DD_MAX_BATCH 65536
#define DD_MAX_SEED  0x7fffffffffffffffLL

/* Seconds on the monotonic clock: every timing of the trainer and the bench. */
double dd_seconds(void);

/* The lab's program: every default above. */
dd_train_options dd_train_options_lab(void);

typedef struct {
    int epoch; /* 1-based */
    double loss, acc, val_loss, val_acc;
    double train_seconds, eval_seconds;
    long steps;
    /* Diagnostics (when enabled), one entry per Dense layer: the RMS of the kernel gradient over
     * the epoch's steps, and the probe batch's saturation and pre-activation statistics. */
    int n_layers;
    double grad_rms[DD_MAX_DENSE];
    dd_layer_probe probe[DD_MAX_DENSE];
} dd_epoch_stats;

/* TABLE[p] = (p - mean) / std over the first COUNT training images' pixels (np.mean and np.std
 * of the lab), or p itself for DD_STANDARDIZE_NONE. MEAN and STD may be NULL. */
void dd_standardize_table(const dd_dataset *train, int count, dd_standardize mode, float table[256],
                          double *mean, double *std);

/* TABLE[p] = (p - mean) / std, or p itself for DD_STANDARDIZE_NONE: the one formula behind
 * dd_standardize_table and the table a checkpoint's statistics give back. */
void dd_standardize_apply(dd_standardize mode, double mean, double std, float table[256]);

/* The training images O takes of the COUNT loaded: the first O->subset, or all (subset 0). */
static inline int dd_train_images(const dd_train_options *o, int count) {
    return o->subset ? o->subset : count;
}

/* Whether TRAIN has the images O->subset asks for (0: all, at least one). Returns 0, or -1 with
 * one line in ERR. */
int dd_check_subset(const dd_train_options *o, const dd_dataset *train, char *err);

/* Trains on DATA and leaves the trained parameters in PARAMS (n_params floats). A fresh run
 * starts from the backend's initialization for opts->seed (dd_model_init's values: the GPU draws
 * them with its device generator), and PARAMS' contents are not read; a resumed run starts from
 * PARAMS, the checkpoint's. HISTORY (opts->epochs entries) may be NULL; when resuming it gets
 * the checkpoint's epochs too. Messages go to OUT. Returns 0; -1 with ERR (a non-finite loss
 * included); or SIGINT/SIGTERM's number with catch_signals, after saving, with the checkpoint's
 * path in ERR. */
int dd_train(const dd_train_options *opts, const dd_mnist *data, float *params,
             dd_epoch_stats *history, FILE *out, char *err);

#endif
