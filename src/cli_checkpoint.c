/* deepdigits train's checkpoint flags: --resume merges a checkpoint's configuration with the
 * flags given, rejecting any that would change the model or the training; --save is checked
 * before training starts. See cli.h. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "deepdigits/checkpoint.h"
#include "safetensors.h"

/* Flags that a checkpoint fixes, and flags that cannot go with --resume at all. */
static const char *const model_flags[] = {"hidden", "activation", "init", "bn"};
static const char *const training_flags[] = {"batch",  "lr",          "seed",
                                             "subset", "standardize", "no-diagnostics"};
static const char *const excluded_flags[] = {"variant", "width", "out", "allow-bn-batch1"};

static int listed(const char *name, const char *const *names, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(name, names[i]) == 0) return 1;
    return 0;
}
#define LISTED(name, list) listed(name, list, sizeof list / sizeof list[0])

/* Whether the flag NAME leaves O's value different from the checkpoint's CK. */
static int differs(const char *name, const dd_train_options *o, const dd_train_options *ck) {
    const dd_model_config *m = &o->model, *c = &ck->model;
    if (strcmp(name, "hidden") == 0)
        return m->n_hidden != c->n_hidden ||
               memcmp(m->units, c->units, (size_t)m->n_hidden * sizeof m->units[0]) != 0;
    if (strcmp(name, "activation") == 0) return m->activation != c->activation;
    if (strcmp(name, "bn") == 0) return m->bn != c->bn;
    if (strcmp(name, "init") == 0)
        return m->init.kind != c->init.kind ||
               (m->init.kind == DD_INIT_RANDOM_UNIFORM &&
                (m->init.min != c->init.min || m->init.max != c->init.max));
    if (strcmp(name, "batch") == 0) return o->batch != ck->batch;
    if (strcmp(name, "lr") == 0) return o->lr != ck->lr;
    if (strcmp(name, "seed") == 0) return o->seed != ck->seed;
    /* A checkpoint trained on the whole set (subset 0) takes a --subset of that set's size: the
     * size is known once the images are loaded, and checked then (see train.c). */
    if (strcmp(name, "subset") == 0) return o->subset != ck->subset && ck->subset != 0;
    if (strcmp(name, "standardize") == 0) return o->standardize != ck->standardize;
    if (strcmp(name, "no-diagnostics") == 0) return o->diagnostics != ck->diagnostics;
    return 1; /* a flag listed above but not compared here: refused rather than let through */
}

/* Prints a given flag that conflicts with CK (its last value, the one in effect); returns -1
 * then. */
static int check_flags(int argc, char **argv, const struct option *table, const char *path,
                       const dd_train_options *o, const dd_train_options *ck, int *epochs_given) {
    int opt, index = -1;
    const char *bad = NULL, *bad_arg = NULL;
    optind = 0;
    opterr = 0;
    *epochs_given = 0;
    while ((opt = getopt_long(argc, argv, DD_TRAIN_OPTSTRING, table, &index)) != -1) {
        if (opt == '?' || index < 0) continue;
        const char *name = table[index].name;
        index = -1;
        if (strcmp(name, "epochs") == 0) *epochs_given = 1;
        if ((LISTED(name, model_flags) || LISTED(name, training_flags)) && differs(name, o, ck))
            bad = name, bad_arg = optarg ? optarg : "";
    }
    optind = 0;
    if (!bad) return 0;
    char model[256];
    dd_model_describe(&ck->model, model, sizeof model);
    fprintf(stderr,
            "deepdigits: --%s%s%s conflicts with --resume %s (model %s; batch %d, lr %g, seed "
            "%llu, subset %d)\n",
            bad, *bad_arg ? " " : "", bad_arg, path, model, ck->batch, (double)ck->lr, ck->seed,
            ck->subset);
    return -1;
}

/* The first flag given that --resume excludes, or NULL. */
static const char *excluded_given(int argc, char **argv, const struct option *table) {
    int opt, index = -1;
    const char *found = NULL;
    optind = 0;
    opterr = 0;
    while (!found && (opt = getopt_long(argc, argv, DD_TRAIN_OPTSTRING, table, &index)) != -1) {
        if (opt != '?' && index >= 0 && LISTED(table[index].name, excluded_flags))
            found = table[index].name;
        index = -1;
    }
    optind = 0;
    return found;
}

/* The path given with --resume, or NULL. */
static const char *resume_path(int argc, char **argv, const struct option *table) {
    int opt, index = -1;
    const char *path = NULL;
    optind = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, DD_TRAIN_OPTSTRING, table, &index)) != -1) {
        if (opt != '?' && index >= 0 && strcmp(table[index].name, "resume") == 0) path = optarg;
        index = -1;
    }
    optind = 0;
    return path;
}

const char *dd_resume_conflict(int argc, char **argv, const struct option *table, int *resuming) {
    *resuming = resume_path(argc, argv, table) != NULL;
    return *resuming ? excluded_given(argc, argv, table) : NULL;
}

int dd_resume_flags(int argc, char **argv, const struct option *table, dd_train_options *o,
                    float **params, dd_checkpoint_state *state) {
    const char *path = resume_path(argc, argv, table);
    *params = NULL;
    memset(state, 0, sizeof *state);
    if (!path) return 0;
    if (path[0] == '\0') {
        fprintf(stderr, "deepdigits: --resume '': not a file name\n");
        return -1;
    }
    char err[DD_ERR_LEN];
    if (dd_checkpoint_load(path, params, state, err) != 0) {
        fprintf(stderr, "deepdigits: %s\n", err);
        return -1;
    }
    const dd_train_options *ck = &state->options;
    int epochs_given;
    if (check_flags(argc, argv, table, path, o, ck, &epochs_given) != 0) {
        free(*params), free(state->history);
        *params = NULL, state->history = NULL;
        return -1;
    }
    o->model = ck->model;
    o->batch = ck->batch, o->lr = ck->lr, o->seed = ck->seed;
    if (ck->subset) o->subset = ck->subset;
    o->standardize = ck->standardize, o->diagnostics = ck->diagnostics;
    /* The run goes on with the images it was trained on (their mean and std are checked): a
     * checkpoint that names its dataset keeps the name, resumed with --data DIR or not. */
    if (ck->dataset == DD_DATASET_MNIST || ck->dataset == DD_DATASET_FASHION)
        o->dataset = ck->dataset;
    if (!epochs_given) o->epochs = ck->epochs;
    o->resume_path = path;
    if (!o->save_path) o->save_path = path; /* the run goes on in the file it came from */
    o->resume = state;
    return 0;
}

/* PATH with its folder resolved (realpath), whether or not the file exists yet; PATH itself when
 * the folder does not resolve. */
static void resolved(const char *path, char out[PATH_MAX]) {
    const char *slash = strrchr(path, '/');
    char dir[PATH_MAX], real[PATH_MAX]; /* the folder with its slash: "/" for "/x", "./" for "x" */
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path + 1) : 2, slash ? path : "./");
    int n =
        realpath(dir, real) ? snprintf(out, PATH_MAX, "%s/%s", real, slash ? slash + 1 : path) : -1;
    if (n < 0 || n >= PATH_MAX) snprintf(out, PATH_MAX, "%s", path);
}

/* Whether paths A and B name one file: the same place, or the same existing file. */
static int same_file(const char *a, const char *b) {
    if (!a || !b) return 0;
    struct stat sa, sb;
    if (stat(a, &sa) == 0 && stat(b, &sb) == 0)
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    char ra[PATH_MAX], rb[PATH_MAX];
    resolved(a, ra), resolved(b, rb);
    return strcmp(ra, rb) == 0;
}

/* --history opens its file for writing at the start: on a checkpoint file it would destroy the
 * checkpoint a resume started from, or the one a failed run must leave as it was. */
static int check_history_file(const dd_train_options *o) {
    const char *h = o->history_path;
    const char *clash = same_file(h, o->resume_path) ? "--resume"
                        : same_file(h, o->save_path) ? "--save"
                                                     : NULL;
    if (!clash) return 0;
    fprintf(stderr,
            "deepdigits: --history %s is the %s checkpoint: give the history its own file\n", h,
            clash);
    return 2;
}

static int check_save_file(const dd_train_options *o) {
    if (!o->save_path) return 0;
    const char *path = o->save_path;
    struct stat st;
    if (path[0] == '\0' || path[strlen(path) - 1] == '/') {
        fprintf(stderr, "deepdigits: --save '%s': not a file name\n", path);
        return -1;
    }
    const int exists = stat(path, &st) == 0;
    if (exists && S_ISDIR(st.st_mode)) {
        fprintf(stderr, "deepdigits: --save %s: a folder; give a file name in it\n", path);
        return -1;
    }
    /* A save replaces the file (a new one renamed over it): a device, pipe or socket would be
     * replaced by a regular file, not written to. */
    if (exists && !S_ISREG(st.st_mode)) {
        fprintf(stderr, "deepdigits: --save %s: not a regular file (a device, pipe or socket)\n",
                path);
        return -1;
    }
    /* The file the save writes first (src/safetensors.c), made and removed now: a folder that
     * refuses it refuses it before training, not after the last epoch. */
    char tmp[4200];
    int fd = -1;
    if (dd_safetensors_tmp_path(path, tmp, sizeof tmp) == 0)
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 && o->resume && o->save_path == o->resume_path) /* no --save: saving back */
        fprintf(stderr, "deepdigits: --resume %s: cannot save back there: %s (give --save FILE)\n",
                path, strerror(errno));
    else if (fd < 0)
        fprintf(stderr, "deepdigits: --save %s: cannot write there: %s\n", path, strerror(errno));
    if (fd < 0) return -1;
    close(fd);
    unlink(tmp);
    return 0;
}

int dd_check_output_files(const dd_train_options *o) {
    if (check_save_file(o) != 0) return 1;
    return check_history_file(o);
}
