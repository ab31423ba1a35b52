/* The command-line front end: one function per subcommand and the strict parsers they share.
 * Every bad flag value is reported by name in one line on stderr. */
#ifndef DD_CLI_H
#define DD_CLI_H

#include "deepdigits/backend.h"
#include "deepdigits/checkpoint.h"
#include "deepdigits/idx.h"

int dd_cmd_train(int argc, char **argv);
int dd_cmd_report(int argc, char **argv);
int dd_cmd_eval(int argc, char **argv);
int dd_cmd_predict(int argc, char **argv);

/* train --resume FILE (src/cli_checkpoint.c): with --resume among ARGV (parsed with TABLE),
 * loads the checkpoint into *PARAMS and STATE, rejects given flags that conflict with it, and
 * turns O into its configuration plus the run's own flags (--epochs may extend the run), with
 * O->resume = STATE; without --save, the run is saved back to FILE. Without --resume *PARAMS is
 * NULL. Returns 0, or -1 after printing. */
struct option;
int dd_resume_flags(int argc, char **argv, const struct option *table, dd_train_options *o,
                    float **params, dd_checkpoint_state *state);
/* --resume among ARGV: *RESUMING, and the first flag given that it excludes (NULL: none). */
const char *dd_resume_conflict(int argc, char **argv, const struct option *table, int *resuming);
/* The files train writes: --save (given, or the --resume file it defaults to) a regular file
 * that can be written there, and --history none of the checkpoint files. Returns the exit status
 * (1: a bad file, 2: flags naming one file twice) after one line on stderr, or 0. */
int dd_check_output_files(const dd_train_options *o);

/* train's getopt string. The leading '-' hands non-options back in place (as option 1) instead of
 * moving them to the end: train reads ARGV in several passes (run flags, resume, the rest), and
 * one pass must not reorder what the next one sees. */
#define DD_TRAIN_OPTSTRING "-h"

/* Models trained at a time (train --jobs, the bench's --lab-jobs). */
#define DD_MAX_JOBS 64

/* The program's name that the messages below begin with: deepdigits, or deepdigits-bench. */
extern const char *dd_prog;

/* Parse VALUE for flag NAME; on failure print "deepdigits: --NAME VALUE: why" and return -1. */
int dd_parse_int(const char *name, const char *value, long min, long max, long *out);
/* "25,25,25": 1 to MAX_N whole numbers in [MIN, MAX] separated by single commas, into OUT. */
int dd_parse_int_list(const char *name, const char *value, long min, long max, int *out, int max_n,
                      int *n);
int dd_parse_float(const char *name, const char *value, double min_exclusive, double max,
                   double *out);
int dd_parse_device(const char *value, dd_device *out);
/* --engine auto|fused|layers; prints the error. */
int dd_parse_engine(const char *value, dd_engine *out);

/* Why getopt_long refused ARG (unknown, ambiguous, a value where none goes, none where one must),
 * in one line on stderr that begins with CMD. */
struct option;
void dd_bad_option(const char *cmd, const char *arg, const struct option *table);

/* The data folder for --data/--dataset: DIR, or the dataset's usual place. Prints and returns
 * NULL on an unknown dataset or an empty DIR. */
const char *dd_data_dir(const char *data, const char *dataset);
/* What a checkpoint records of the same flags: custom for --data DIR, else the dataset (MNIST
 * by default; UNKNOWN for a name dd_data_dir refuses). */
dd_dataset_kind dd_data_kind(const char *data, const char *dataset);

/* Loads the data folder, or prints the loader's line and returns -1. */
int dd_load_data(const char *dir, dd_mnist *out);

#endif
