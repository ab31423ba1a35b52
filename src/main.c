/* deepdigits: train, evaluate and inspect small MNIST networks. Dispatches to the subcommands. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "deepdigits/gpu.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: deepdigits <command> [options]\n"
            "\n"
            "commands:\n"
            "  train    train a network (the lab's by default); see deepdigits train --help\n"
            "  report   write the lab report (text and plots) of a folder of runs\n"
            "  eval     a checkpoint's loss, accuracy and confusion matrix on the test set\n"
            "  predict  a checkpoint's digit and 10 outputs for 28x28 PGM or PNG images\n"
            "\n"
            "deepdigits <command> --help (or deepdigits help <command>) describes each "
            "command;\n"
            "deepdigits --version names the version and the GPUs its kernels are built for.\n");
}

/* The command's entry point, or NULL. */
static int (*command(const char *name))(int, char **) {
    if (strcmp(name, "train") == 0) return dd_cmd_train;
    if (strcmp(name, "report") == 0) return dd_cmd_report;
    if (strcmp(name, "eval") == 0) return dd_cmd_eval;
    if (strcmp(name, "predict") == 0) return dd_cmd_predict;
    return NULL;
}

/* `deepdigits help CMD` is `deepdigits CMD --help`, as with git. */
static int help(int argc, char **argv) {
    if (argc == 1) {
        usage(stdout);
        return 0;
    }
    int (*cmd)(int, char **) = command(argv[1]);
    if (!cmd || argc > 2) {
        fprintf(stderr, "deepdigits help: give one command: train, report, eval or predict\n");
        return 2;
    }
    char flag[] = "--help";
    char *args[] = {argv[1], flag, NULL};
    return cmd(2, args);
}

int main(int argc, char **argv) {
    dd_cuda_prefer_own_queues();
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    int (*run)(int, char **) = command(cmd);
    if (run) return run(argc - 1, argv + 1);
    if (strcmp(cmd, "help") == 0) return help(argc - 1, argv + 1);
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("deepdigits %s (CUDA %s; GPU code for %s)\n", DD_VERSION, DD_CUDA_VERSION,
               DD_CUDA_ARCHS);
        return 0;
    }
    fprintf(stderr, "deepdigits: unknown command '%s' (try deepdigits --help)\n", cmd);
    return 2;
}
