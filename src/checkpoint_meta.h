/* The JSON texts in a checkpoint's __metadata__: "config" (the model), "training" (the options,
 * the position reached and the standardization) and "history" (the epoch statistics).
 * Readers check every field's type and range and write one phrase to WHY on failure.
 * Implementation: src/checkpoint_meta.c. */
#ifndef DD_CHECKPOINT_META_H
#define DD_CHECKPOINT_META_H

#include "deepdigits/checkpoint.h"
#include "json.h"

void dd_meta_write_config(dd_strbuf *sb, const dd_model_config *cfg);
void dd_meta_write_training(dd_strbuf *sb, const dd_checkpoint_state *st);
void dd_meta_write_history(dd_strbuf *sb, const dd_epoch_stats *h, int n);

/* The hidden widths, V's "hidden": an array of at most DD_MAX_HIDDEN integers in
 * 1..DD_MAX_UNITS (config.json lists them the same way). */
int dd_meta_read_hidden(const dd_json *v, dd_model_config *cfg, char *why);
int dd_meta_read_config(const dd_json *v, dd_model_config *cfg, char *why);
/* Fills ST's options (all but the model), position and standardization. */
int dd_meta_read_training(const dd_json *v, dd_checkpoint_state *st, char *why);
/* Reads exactly N entries with N_LAYERS diagnostic columns (or none) into H. */
int dd_meta_read_history(const dd_json *v, dd_epoch_stats *h, int n, int n_layers, char *why);

#endif
