/* The lab's 21 models as presets: 0 is the lab's own network, 1..20 its variants (../shared/LAB.md,
 * "The assignment"): extra hidden layers (one for N 1-5, two for 6-10, three for 11-15, four for
 * 16-20) after the baseline's hidden layer, 25 units each; tanh, glorot_uniform and BN before the
 * activation for odd N; sigmoid, he_normal and BN after it for even N; standardized inputs.
 * Implementation: src/variants.c. */
#ifndef DEEPDIGITS_VARIANTS_H
#define DEEPDIGITS_VARIANTS_H

#include <stddef.h>

#include "deepdigits/train.h"

#define DD_VARIANT_COUNT 20 /* variants 1..20; 0 is the baseline */
#define DD_PRESET_WIDTH  25 /* units of every hidden layer of a preset */
#define DD_BN_BATCH      32 /* batch size of the BN presets (Keras's default) */

/* Hidden layers added to the baseline's one by variant N (0 for the baseline). */
int dd_variant_extra_layers(int n);

/* OPTS = the lab's defaults with variant N's model, batch and standardization; WIDTH (> 0)
 * replaces the 25 units of every hidden layer. Returns 0, or -1 with one line in ERR. */
int dd_variant_options(int n, int width, dd_train_options *opts, char *err);

/* "baseline" or "variant-07": the run folder's name. */
void dd_variant_name(int n, char *buf, size_t len);

/* A short description of OPTS's model, e.g. "3 hidden x25, tanh, glorot_uniform, BN before". */
void dd_options_describe_short(const dd_train_options *opts, char *buf, size_t len);

/* Refuses BatchNormalization with batch size 1 (unless ALLOW): the batch variance of one sample
 * is 0, every normalized value is 0, the layer outputs beta and nothing before it learns.
 * Returns 0, or -1 with one line in ERR. */
int dd_check_bn_batch(const dd_train_options *opts, int allow, char *err);

/* The same check once the training set is loaded: a set of TRAIN_COUNT images, cut by
 * opts->subset, makes one-sample batches when it holds a single image. */
int dd_check_bn_samples(const dd_train_options *opts, int train_count, int allow, char *err);

#endif
