/* deepdigits: train, evaluate and inspect small MNIST networks. Dispatches to the subcommands. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "deepdigits/gpu.h"

static void usage(FILE *out) {
    fprintf(out, "usage: deepdigits <command> [options]\n"
                 "\n"
                 "commands:\n"
                 "  train    train a network (the lab's by default); see deepdigits train --help\n"
                 "  report   write the lab report (text and plots) of a folder of runs\n"
                 "  eval     a checkpoint's loss, accuracy and confusion matrix on the test set\n"
                 "  predict  a checkpoint's digit and 10 outputs for 28x28 PGM or PNG images\n"
                 "\n"
                 "deepdigits <command> --help describes each command.\n");
}

int main(int argc, char **argv) {
    dd_cuda_prefer_own_queues();
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "train") == 0) return dd_cmd_train(argc - 1, argv + 1);
    if (strcmp(cmd, "report") == 0) return dd_cmd_report(argc - 1, argv + 1);
    if (strcmp(cmd, "eval") == 0) return dd_cmd_eval(argc - 1, argv + 1);
    if (strcmp(cmd, "predict") == 0) return dd_cmd_predict(argc - 1, argv + 1);
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "deepdigits: unknown command '%s' (try deepdigits --help)\n", cmd);
    return 2;
}
