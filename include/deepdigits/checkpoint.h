/* Checkpoints in the safetensors format (see ../shared/LAB.md): every tensor of the model as F32
 * under a name that says what it is (dense_1.kernel, dense_1.bias, batch_normalization_1.gamma,
 * .beta, .moving_mean, .moving_variance), and in __metadata__ the model configuration and the
 * training state, so that a run can be resumed exactly. Written atomically (temporary file, fsync,
 * rename): a crash never leaves a torn checkpoint. Implementation: src/checkpoint.c. */
#ifndef DEEPDIGITS_CHECKPOINT_H
#define DEEPDIGITS_CHECKPOINT_H

#include "deepdigits/train.h"

#include <stddef.h>
#include <stdint.h>

/* The metadata's "format" value. */
#define DD_CHECKPOINT_FORMAT "deepdigits-1"

/* What a checkpoint holds besides the tensors. */
typedef struct dd_checkpoint_state {
    dd_train_options options; /* model configuration and training flags (paths are not kept) */
    int epochs_done;          /* completed epochs; training resumes with epoch epochs_done + 1 */
    dd_epoch_stats *history;  /* epochs_done entries (owned by the caller on save; allocated by
                                 dd_checkpoint_load on load, free with free()) */
    /* A run stopped by SIGINT/SIGTERM inside epoch epochs_done + 1: the steps of that epoch
     * already taken (0 at an epoch boundary), their sums and their training time. */
    long step;
    dd_sums partial;
    double partial_seconds;
    /* The input standardization (mode in options.standardize): the mean and std of the training
     * pixels it used, so that eval and predict rebuild the same table. */
    double mean, std;
} dd_checkpoint_state;

/* Writes PARAMS (the flat buffer of the layout of state->options.model) and STATE to PATH.
 * Returns 0, or -1 with one line in ERR; PATH is untouched on failure. */
int dd_checkpoint_save(const char *path, const float *params, const dd_checkpoint_state *state,
                       char *err);

/* Reads PATH: checks the format and that every tensor matches the configuration it declares.
 * On success *PARAMS is a malloc'ed flat buffer; returns 0, or -1 with one line in ERR. */
int dd_checkpoint_load(const char *path, float **params, dd_checkpoint_state *state, char *err);

/* dd_checkpoint_load on a file held in memory, BUF[0..len); NAME names it in messages. */
int dd_checkpoint_parse(const uint8_t *buf, size_t len, const char *name, float **params,
                        dd_checkpoint_state *state, char *err);

/* The 256-entry standardization table STATE's model was trained with. */
void dd_checkpoint_table(const dd_checkpoint_state *state, float table[256]);

/* Whether TRAIN holds the images STATE's model was trained on: its first options.subset images
 * (all when 0) have the checkpoint's pixel mean and std, to the bit. A resume must go on with
 * them, and eval must score the test set beside them, not another dataset's. Returns 0, or -1
 * with one line in ERR naming both pairs and ending "give the HINT it was trained on" (HINT: the
 * caller's flags, "--data or --dataset"). */
int dd_checkpoint_check_images(const dd_checkpoint_state *state, const dd_dataset *train,
                               const char *hint, char *err);

#endif
