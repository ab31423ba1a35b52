/* deepdigits report DIR: the lab report of the run folders under DIR (report.h). */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "deepdigits/report.h"

static const char report_help[] =
    "usage: deepdigits report [--data DIR] RUNS\n"
    "Writes RUNS/report.md and RUNS/report.html, and the plots under RUNS/plots, for the run\n"
    "folders under RUNS (as deepdigits train --variant all --out RUNS writes them), and for RUNS\n"
    "itself when it is one (a run folder holding runs is reported with them, and a line says\n"
    "so): the results table, every model's configuration and Keras code, loss and accuracy\n"
    "curves, gradient RMS and saturation per layer, and for the best model a confusion matrix\n"
    "and its misclassified test digits. Plots need gnuplot (PNG and SVG); without it the text\n"
    "is still written; a plot gnuplot fails on is left out, and the exit status is then 1.\n"
    "A path is at most 1023 bytes, as train --out takes it.\n"
    "\n"
    "  --data DIR   the MNIST folder for the test set (default: the one in config.json)\n"
    "  --help       this text\n";

int dd_cmd_report(int argc, char **argv) {
    static const struct option options[] = {
        {"data", required_argument, 0, 'd'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *data = NULL;
    int opt;
    optind = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        if (opt == 'h') {
            fputs(report_help, stdout);
            return 0;
        }
        if (opt == '?') {
            dd_bad_option("deepdigits report", argv[optind - 1], options);
            return 2;
        }
        data = optarg;
    }
    if (argc - optind != 1) {
        fprintf(stderr, "deepdigits report: give one folder of runs (see deepdigits report "
                        "--help)\n");
        return 2;
    }
    char err[DD_ERR_LEN];
    if (dd_report_write(argv[optind], data, stdout, err) == 0) return 0;
    fprintf(stderr, "deepdigits report: %s\n", err);
    return 1;
}
