/* deepdigits-bench: training-step timings of the lab's models on the CPU reference and on CUDA,
 * side by side, each against its floor (FLOPs over the FP32 peak, bytes over memory bandwidth). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../src/cli.h"
#include "../src/json.h"
#include "bench.h"
#include "deepdigits/gpu.h"
#include "deepdigits/variants.h"
#include "../src/errors.h"

#define MAX_LIST 32

/* The backends of the matrix: the CPU reference and the two GPU engines, the fused one on one SM a
 * model, on a cluster of two or four, and with its pipelined warp step (batch 1). */
typedef enum { ON_CPU, ON_CUDA, ON_FUSED, ON_FUSED2, ON_FUSED4, ON_PIPE, N_BACKENDS } backend;
static const char *const backend_names[N_BACKENDS] = {
    "cpu", "cuda", "cuda-fused", "cuda-fused-2sm", "cuda-fused-4sm", "cuda-fused-pipe"};
/* The SMs a model of each backend gets (0: not the fused engine). */
static const int backend_sms[N_BACKENDS] = {0, 0, 1, 2, 4, 1};

static const char help[] =
    "usage: deepdigits-bench [options]\n"
    "Times training steps for a matrix of models x batch sizes x backends: cpu (the reference),\n"
    "cuda (the layers engine: cuBLAS SGEMMs and a kernel per layer and direction), cuda-fused\n"
    "(the fused engine, one SM a model), cuda-fused-2sm and cuda-fused-4sm (the fused engine on a\n"
    "cluster of two or four SMs a model), cuda-fused-pipe (its pipelined warp step, batch 1:\n"
    "train --fused-pipe).\n"
    "  --models LIST     lab models: 0 (baseline) .. 20 (default 0,1,10,20)\n"
    "  --batch LIST      batch sizes (default 1,32,256,1024)\n"
    "  --device NAME     auto (default: cpu, and gpu when present), cpu, gpu\n"
    "  --backends LIST   of cpu, cuda, cuda-fused, cuda-fused-2sm, cuda-fused-4sm,\n"
    "                    cuda-fused-pipe (default: all)\n"
    "  --steps M         steps per timed run (default: an epoch of full batches of the training\n"
    "                    set, at least 20 and at most 2000)\n"
    "  --repeats R       timed runs per configuration, median reported (default 5)\n"
    "  --quick           20 steps x 3 runs: a smoke test (an explicit --steps or --repeats wins)\n"
    "  --lab             also time the whole lab: 21 models x 20 epochs, evaluation included\n"
    "  --lab-epochs N    epochs per model for --lab (default 20)\n"
    "  --lab-jobs N      models at a time for --lab (default: all 21 on the GPU, 1 on the CPU)\n"
    "  --json FILE       write the results as JSON\n"
    "  --gemms           instead of training: each SGEMM of a layers-engine step of --models at\n"
    "                    --batch, asked of cuBLAS three ways, checked and timed (needs a GPU,\n"
    "                    no images)\n"
    "  --phases          instead of the matrix: each phase of a fused step of --models at --batch\n"
    "                    (the cuda-fused* --backends), in SM clock cycles from\n"
    "                    a build of the kernel that reads the clock after every barrier (needs a\n"
    "                    GPU; --steps as for the matrix)\n"
    "  --data DIR, --dataset mnist|fashion, --seed N, --tf32, --no-graphs  as in deepdigits train\n"
    "  --help            this text\n";

typedef struct {
    int models[MAX_LIST], n_models, batches[MAX_LIST], n_batches;
    int backends;       /* a bit per backend of the matrix */
    int steps, repeats; /* 0: not given (the defaults, or --quick's) */
    int quick, lab, lab_epochs, lab_jobs, tf32, no_graphs, gemms, phases;
    unsigned long long seed;
    dd_device device;
    const char *json, *data, *dataset;
} bench_args;

/* The backend named by the LEN characters at NAME, or N_BACKENDS. */
static backend find_backend(const char *name, size_t len) {
    backend on = ON_CPU;
    while (on < N_BACKENDS &&
           (strlen(backend_names[on]) != len || strncmp(name, backend_names[on], len) != 0))
        on++;
    return on;
}

/* "cuda,cuda-fused" -> their bits in *MASK. An empty item (a doubled or stray comma) and a name
 * given twice are refused rather than passed over: either is a slip in the list, and the user
 * should see it before the matrix runs, as --models and --batch do. */
static int parse_backends(const char *value, int *mask) {
    *mask = 0;
    for (const char *item = value;; item++) {
        const char *comma = strchr(item, ',');
        const size_t len = comma ? (size_t)(comma - item) : strlen(item);
        const backend on = find_backend(item, len);
        if (len == 0) {
            fprintf(stderr,
                    "deepdigits-bench: --backends '%s': an empty item; give backend names "
                    "separated by single commas\n",
                    value);
            return -1;
        }
        if (on == N_BACKENDS) {
            fprintf(stderr,
                    "deepdigits-bench: --backends: unknown backend '%.*s' (cpu, cuda, cuda-fused, "
                    "cuda-fused-2sm, cuda-fused-4sm, cuda-fused-pipe)\n",
                    (int)len, item);
            return -1;
        }
        if (*mask & 1 << on) {
            fprintf(stderr, "deepdigits-bench: --backends '%s': %s is given twice\n", value,
                    backend_names[on]);
            return -1;
        }
        *mask |= 1 << on;
        if (!comma) return 0;
        item = comma;
    }
}

/* --models and --batch: an item given twice would be measured twice, as two rows of one cell. */
static int refuse_duplicates(const char *name, const char *value, const int *items, int n) {
    for (int i = 1; i < n; i++)
        for (int j = 0; j < i; j++)
            if (items[i] == items[j]) {
                fprintf(stderr, "deepdigits-bench: --%s '%s': %d is given twice\n", name, value,
                        items[i]);
                return -1;
            }
    return 0;
}

static int parse_args(int argc, char **argv, bench_args *a) {
    enum {
        MODELS = 256,
        BATCH,
        DEVICE,
        BACKENDS,
        STEPS,
        REPEATS,
        QUICK,
        LAB,
        LAB_EPOCHS,
        LAB_JOBS,
        JSON,
        DATA,
        DATASET,
        SEED,
        TF32,
        NO_GRAPHS,
        GEMMS,
        PHASES,
        HELP
    };
    static const struct option opts[] = {{"models", 1, 0, MODELS},
                                         {"batch", 1, 0, BATCH},
                                         {"device", 1, 0, DEVICE},
                                         {"backends", 1, 0, BACKENDS},
                                         {"steps", 1, 0, STEPS},
                                         {"repeats", 1, 0, REPEATS},
                                         {"quick", 0, 0, QUICK},
                                         {"lab", 0, 0, LAB},
                                         {"lab-epochs", 1, 0, LAB_EPOCHS},
                                         {"lab-jobs", 1, 0, LAB_JOBS},
                                         {"json", 1, 0, JSON},
                                         {"data", 1, 0, DATA},
                                         {"dataset", 1, 0, DATASET},
                                         {"seed", 1, 0, SEED},
                                         {"tf32", 0, 0, TF32},
                                         {"no-graphs", 0, 0, NO_GRAPHS},
                                         {"gemms", 0, 0, GEMMS},
                                         {"phases", 0, 0, PHASES},
                                         {"help", 0, 0, HELP},
                                         {0, 0, 0, 0}};
    int o, lab_epochs_given = 0;
    long v;
    opterr = 0;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int rc = 0;
        switch (o) {
        case MODELS:
            rc = dd_parse_int_list("models", optarg, 0, DD_VARIANT_COUNT, a->models, MAX_LIST,
                                   &a->n_models);
            if (rc == 0) rc = refuse_duplicates("models", optarg, a->models, a->n_models);
            break;
        case BATCH:
            rc = dd_parse_int_list("batch", optarg, 1, DD_MAX_BATCH, a->batches, MAX_LIST,
                                   &a->n_batches);
            if (rc == 0) rc = refuse_duplicates("batch", optarg, a->batches, a->n_batches);
            break;
        case DEVICE:
            rc = dd_parse_device(optarg, &a->device);
            break;
        case BACKENDS:
            rc = parse_backends(optarg, &a->backends);
            break;
        case STEPS:
            rc = dd_parse_int("steps", optarg, 1, 1000000, &v), a->steps = (int)v;
            break;
        case REPEATS:
            rc = dd_parse_int("repeats", optarg, 1, 1000, &v), a->repeats = (int)v;
            break;
        case QUICK:
            a->quick = 1;
            break;
        case LAB:
            a->lab = 1;
            break;
        case LAB_EPOCHS:
            rc = dd_parse_int("lab-epochs", optarg, 1, 1000, &v), a->lab_epochs = (int)v;
            lab_epochs_given = 1;
            break;
        case LAB_JOBS: /* more than the lab's 21 models would run no more at once */
            rc = dd_parse_int("lab-jobs", optarg, 1, DD_VARIANT_COUNT + 1, &v),
            a->lab_jobs = (int)v;
            break;
        case JSON:
            a->json = optarg;
            break;
        case DATA:
            a->data = optarg;
            break;
        case DATASET:
            a->dataset = optarg;
            break;
        case SEED:
            rc = dd_parse_int("seed", optarg, 0, DD_MAX_SEED, &v), a->seed = (unsigned long long)v;
            break;
        case TF32:
            a->tf32 = 1;
            break;
        case NO_GRAPHS:
            a->no_graphs = 1;
            break;
        case GEMMS:
            a->gemms = 1;
            break;
        case PHASES:
            a->phases = 1;
            break;
        case HELP:
        case 'h':
            fputs(help, stdout);
            exit(0);
        default:
            dd_bad_option("deepdigits-bench", argv[optind - 1], opts);
            return -1;
        }
        if (rc != 0) return -1;
    }
    if (optind < argc) {
        fprintf(stderr, "deepdigits-bench: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (a->gemms && a->lab) {
        fprintf(stderr, "deepdigits-bench: --gemms times the SGEMMs instead of training: not with "
                        "--lab\n");
        return -1;
    }
    if (a->phases && (a->gemms || a->lab)) {
        fprintf(stderr,
                "deepdigits-bench: --phases times a fused step's phases instead of the "
                "matrix: not with %s\n",
                a->gemms ? "--gemms" : "--lab");
        return -1;
    }
    if (a->gemms && (a->data || a->dataset)) {
        fprintf(stderr, "deepdigits-bench: --gemms multiplies random operands and reads no images: "
                        "not with --data or --dataset\n");
        return -1;
    }
    if ((lab_epochs_given || a->lab_jobs) && !a->lab) {
        fprintf(stderr, "deepdigits-bench: --lab-%s goes with --lab\n",
                lab_epochs_given ? "epochs" : "jobs");
        return -1;
    }
    const int cpu_only = a->backends == 1 << ON_CPU, no_cpu = !(a->backends & 1 << ON_CPU);
    if (!a->gemms && !a->phases &&
        ((a->device == DD_DEVICE_CPU && no_cpu) || (a->device == DD_DEVICE_GPU && cpu_only))) {
        fprintf(stderr, "deepdigits-bench: none of the --backends runs on --device %s\n",
                a->device == DD_DEVICE_CPU ? "cpu" : "gpu");
        return -1;
    }
    /* The JSON is written beside FILE and renamed over it at the end: FILE must be a file name,
     * and found wanting now, not after the whole bench has run. */
    struct stat st;
    if (a->json && (a->json[0] == '\0' || a->json[strlen(a->json) - 1] == '/' ||
                    (stat(a->json, &st) == 0 && !S_ISREG(st.st_mode)))) {
        fprintf(stderr, "deepdigits-bench: --json '%s': not a file name (a folder or a device?)\n",
                a->json);
        return -1;
    }
    return 0;
}

/* One row of the matrix, for the table and the JSON. */
typedef struct {
    int model, batch, skipped;
    backend on;
    char why[DD_ERR_LEN];
    bench_plan plan; /* what was timed: steps a run, runs */
    bench_result r;
    double floor_us, speedup;
} row;

static void print_row(const row *w) {
    char model[32];
    dd_variant_name(w->model, model, sizeof model);
    printf("%-11s %6d  %-14s ", model, w->batch, backend_names[w->on]);
    if (w->skipped) {
        printf(" skipped: %s\n", w->why);
        return;
    }
    const bench_result *r = &w->r;
    char speedup[16] = "-";
    if (w->speedup > 0) snprintf(speedup, sizeof speedup, "%.2fx", w->speedup);
    char floor[2][16] = {"-", "-"}; /* unknown when the device would not tell its peaks */
    if (w->floor_us > 0)
        snprintf(floor[0], 16, "%.3f", w->floor_us),
            snprintf(floor[1], 16, "%.1fx", r->us_median / w->floor_us);
    printf("%10.2f  %8.2f-%-8.2f %11.0f %9.3f %8s %9s %9s\n", r->us_median, r->us_min, r->us_max,
           w->batch * 1e6 / r->us_median, r->steps_per_epoch * r->us_median / 1e6, speedup,
           floor[0], floor[1]);
}

static void json_row(FILE *f, const row *w, int first) {
    char model[32];
    dd_variant_name(w->model, model, sizeof model);
    fprintf(f, "%s\n    {\"model\": \"%s\", \"batch\": %d, \"backend\": \"%s\"", first ? "" : ",",
            model, w->batch, backend_names[w->on]);
    if (w->skipped) {
        dd_strbuf why = {0};
        dd_sb_string(&why, w->why);
        fprintf(f, ", \"skipped\": %s}", why.data ? why.data : "null");
        dd_sb_free(&why);
        return;
    }
    const bench_result *r = &w->r;
    char speedup[32] = "null"; /* a CPU row, or no CPU figure to compare with */
    if (w->speedup > 0) snprintf(speedup, sizeof speedup, "%.3f", w->speedup);
    fprintf(f,
            ", \"steps\": %d, \"repeats\": %d, \"us_per_step\": %.4f, \"us_min\": %.4f, "
            "\"us_max\": %.4f, \"spread\": %.4f, "
            "\"samples_per_s\": %.1f, \"epoch_seconds\": %.4f, \"speedup_vs_cpu\": %s, "
            "\"flops_per_step\": %.0f, \"bytes_per_step\": %.0f, \"floor_us\": %.4f, "
            "\"times_floor\": %.2f}",
            w->plan.steps, w->plan.repeats, r->us_median, r->us_min, r->us_max,
            (r->us_max - r->us_min) / r->us_median, w->batch * 1e6 / r->us_median,
            r->steps_per_epoch * r->us_median / 1e6, speedup, r->flops, r->bytes, w->floor_us,
            w->floor_us > 0 ? r->us_median / w->floor_us : 0);
}

/* A timed run's steps when --steps is not given: one epoch of full batches of the training set
 * loaded (the steps an epoch takes), but at least MIN_STEPS, so that a run of large batches is not
 * a handful of steps read by the clock, and at most MAX_STEPS, so that batch 1 does not take an
 * epoch of 60000 steps a run. --quick times QUICK_STEPS x QUICK_REPEATS instead of the defaults. */
enum { MIN_STEPS = 20, MAX_STEPS = 2000, DEFAULT_REPEATS = 5, QUICK_STEPS = 20, QUICK_REPEATS = 3 };

/* The plan of a cell at BATCH with TRAIN_COUNT training images. An explicit --steps or --repeats
 * wins over --quick's (0 in A: not given): a flag the user typed is never ignored. */
static bench_plan plan_for(const bench_args *a, int train_count, int batch) {
    const int epoch = train_count / batch; /* >= 1: a batch above the training set is refused */
    const int one_epoch = epoch < MIN_STEPS ? MIN_STEPS : epoch > MAX_STEPS ? MAX_STEPS : epoch;
    bench_plan p = {a->steps, a->repeats, 0};
    if (!p.steps) p.steps = a->quick ? QUICK_STEPS : one_epoch;
    if (!p.repeats) p.repeats = a->quick ? QUICK_REPEATS : DEFAULT_REPEATS;
    p.warmup = p.steps / 10 + 5;
    return p;
}

/* Measures one (model, batch, backend) cell; CPU_US is that cell's CPU figure for the speedup.
 * A network the fused engine does not take is a skipped row with the engine's reason. */
static int measure(const bench_args *a, const dd_mnist *data, const bench_machine *m, double cpu_us,
                   row *w) {
    char err[DD_ERR_LEN];
    dd_train_options o;
    if (dd_variant_options(w->model, 0, &o, err) != 0) {
        fprintf(stderr, "deepdigits-bench: %s\n", err);
        return -1;
    }
    o.batch = w->batch, o.seed = a->seed, o.tf32 = a->tf32, o.no_graphs = a->no_graphs;
    const int fused = backend_sms[w->on] > 0;
    o.engine = fused ? DD_ENGINE_FUSED : DD_ENGINE_LAYERS;
    o.fused_sms = fused ? backend_sms[w->on] : 1;
    o.fused_pipe = w->on == ON_PIPE;
    const int gpu = w->on != ON_CPU;
    if (dd_check_bn_batch(&o, 0, err) != 0) {
        w->skipped = 1, snprintf(w->why, sizeof w->why, "BN needs batch >= 2");
        return 0;
    }
    w->plan = plan_for(a, data->train.count, w->batch);
    if (bench_measure(&o, gpu ? DD_DEVICE_GPU : DD_DEVICE_CPU, data, &w->plan, &w->r, err) != 0) {
        if (fused && strncmp(err, "--engine fused: ", 16) == 0) {
            w->skipped = 1, snprintf(w->why, sizeof w->why, "%s", err + 16);
            return 0;
        }
        fprintf(stderr, "deepdigits-bench: %s\n", err);
        return -1;
    }
    const double bandwidth = bench_bandwidth(m, w->r.bytes);
    if (m->flops > 0 && bandwidth > 0) {
        double compute = w->r.flops / m->flops, memory = w->r.bytes / bandwidth;
        w->floor_us = 1e6 * (compute > memory ? compute : memory);
    }
    w->speedup = gpu && cpu_us > 0 ? cpu_us / w->r.us_median : 0;
    return 0;
}

/* The measurements behind --engine auto and the fused engine's SMs a model: per model and batch,
 * the fastest GPU backend and by how much it beat the next. */
static void engine_verdicts(const bench_args *a, double us[][MAX_LIST][N_BACKENDS]) {
    int any = 0;
    for (int i = 0; i < a->n_models; i++)
        for (int j = 0; j < a->n_batches; j++)
            for (backend on = ON_FUSED; on < N_BACKENDS; on++)
                any |= us[i][j][ON_CUDA] > 0 && us[i][j][on] > 0;
    if (!any) return;
    printf("\nfastest GPU backend (--engine auto now takes the fused engine up to batch %d, on two "
           "SMs from batch %d):\n",
           DD_FUSED_AUTO_MAX_BATCH, DD_FUSED_CLUSTER_MIN_BATCH);
    for (int i = 0; i < a->n_models; i++) {
        char model[32];
        dd_variant_name(a->models[i], model, sizeof model);
        printf("  %-11s", model);
        for (int j = 0; j < a->n_batches; j++) {
            backend best = N_BACKENDS;
            double best_us = 0, next_us = 0;
            for (backend on = ON_CUDA; on < N_BACKENDS; on++) {
                const double t = us[i][j][on];
                if (t <= 0) continue;
                if (best == N_BACKENDS || t < best_us)
                    next_us = best_us, best_us = t, best = on;
                else if (next_us == 0 || t < next_us)
                    next_us = t;
            }
            if (best == N_BACKENDS || next_us == 0) continue;
            printf("  batch %d: %s (%.2fx)", a->batches[j], backend_names[best], next_us / best_us);
        }
        printf("\n");
    }
}

/* FIRST: no JSON row written yet (the matrix and the lab share the results list). */
static int run_matrix(const bench_args *a, const dd_mnist *data, const bench_machine *cpu,
                      const bench_machine *gpu, int have_gpu, FILE *json, int *first) {
    double us[MAX_LIST][MAX_LIST][N_BACKENDS] = {{{0}}}; /* medians, 0 where not measured */
    printf("%-11s %6s  %-14s %10s  %-17s %12s %9s %8s %9s %8s\n", "model", "batch", "on", "us/step",
           "spread (min-max)", "samples/s", "epoch s", "vs cpu", "floor us", "x floor");
    for (int i = 0; i < a->n_models; i++)
        for (int j = 0; j < a->n_batches; j++) {
            double cpu_us = 0;
            for (backend on = ON_CPU; on < N_BACKENDS; on++) {
                row w = {.model = a->models[i], .batch = a->batches[j], .on = on};
                if ((on == ON_CPU && a->device == DD_DEVICE_GPU) ||
                    (on != ON_CPU && a->device == DD_DEVICE_CPU) || !(a->backends & 1 << on))
                    continue;
                if (on != ON_CPU && !have_gpu)
                    w.skipped = 1, dd_cuda_devices(w.why, sizeof w.why); /* why not */
                else if (measure(a, data, on == ON_CPU ? cpu : gpu, cpu_us, &w) != 0)
                    return -1;
                if (on == ON_CPU && !w.skipped) cpu_us = w.r.us_median;
                us[i][j][on] = w.skipped ? 0 : w.r.us_median;
                print_row(&w);
                if (json) json_row(json, &w, *first), *first = 0;
            }
        }
    engine_verdicts(a, us);
    return 0;
}

static int run_lab(const bench_args *a, const dd_mnist *data, int have_gpu, FILE *json,
                   int *first) {
    char err[DD_ERR_LEN];
    int gpu = a->device == DD_DEVICE_GPU || (a->device == DD_DEVICE_AUTO && have_gpu);
    double seconds;
    const int jobs = a->lab_jobs ? a->lab_jobs : gpu ? DD_VARIANT_COUNT + 1 : 1;
    printf(
        "\nthe whole lab (21 models x %d epoch%s, evaluation included) on the %s, %d at a time: ",
        a->lab_epochs, dd_s(a->lab_epochs), gpu ? "GPU" : "CPU", jobs);
    fflush(stdout);
    if (bench_lab(gpu ? DD_DEVICE_GPU : DD_DEVICE_CPU, data, a->lab_epochs, jobs, &seconds, err) !=
        0) {
        fprintf(stderr, "\ndeepdigits-bench: %s\n", err);
        return -1;
    }
    printf("%.1f s\n", seconds);
    if (json)
        fprintf(json,
                "%s\n    {\"model\": \"lab\", \"backend\": \"%s\", \"epochs\": %d, \"jobs\": %d, "
                "\"seconds\": %.3f}",
                *first ? "" : ",", gpu ? "cuda-auto" : "cpu", a->lab_epochs, jobs, seconds);
    *first = 0;
    return 0;
}

int main(int argc, char **argv) {
    dd_cuda_prefer_own_queues();
    dd_prog = "deepdigits-bench";
    bench_args a = {.backends = (1 << N_BACKENDS) - 1,
                    .models = {0, 1, 10, 20},
                    .n_models = 4,
                    .batches = {1, 32, 256, 1024},
                    .n_batches = 4,
                    .lab_epochs = 20,
                    .seed = 7,
                    .device = DD_DEVICE_AUTO};
    if (parse_args(argc, argv, &a) != 0) return 1;
    /* The JSON goes to a temporary file beside --json, renamed over it once the bench has run:
     * a run that stops before measuring anything leaves an earlier file as it was. */
    char tmp[4200];
    FILE *json = NULL;
    if (a.json) {
        snprintf(tmp, sizeof tmp, "%s.tmp.%ld", a.json, (long)getpid());
        json = fopen(tmp, "wx");
        if (!json) {
            fprintf(stderr, "deepdigits-bench: %s: cannot write there: %s\n", a.json,
                    strerror(errno));
            return 1;
        }
    }
    dd_mnist data = {0}; /* --gemms times products of random operands: no images */
    char why[DD_ERR_LEN];
    const char *dir = a.gemms ? NULL : dd_data_dir(a.data, a.dataset);
    int bad = !a.gemms && (!dir || dd_load_data(dir, &data) != 0);
    for (int j = 0; !bad && !a.gemms && j < a.n_batches; j++)
        if (a.batches[j] > data.train.count) { /* not one full batch an epoch */
            fprintf(stderr, "deepdigits-bench: --batch %d: the training set has %d images\n",
                    a.batches[j], data.train.count);
            dd_mnist_free(&data);
            bad = 1;
        }
    if (!bad && a.device == DD_DEVICE_GPU && dd_check_gpu_flag(why) != 0) {
        fprintf(stderr, "deepdigits-bench: %s\n", why);
        dd_mnist_free(&data);
        bad = 1;
    }
    if (bad) {
        if (json) fclose(json), remove(tmp);
        return 1;
    }
    bench_machine cpu, gpu;
    bench_cpu(&cpu);
    int have_gpu = a.device != DD_DEVICE_CPU && bench_gpu(&gpu);
    printf("CPU: %s; %.1f GFLOP/s FP32 peak, copy bandwidth %.1f GB/s (memory), %.1f GB/s (L2)\n",
           cpu.name, cpu.flops / 1e9, cpu.bandwidth / 1e9, cpu.cache_bandwidth / 1e9);
    if (have_gpu)
        printf("GPU: %s; %.1f TFLOP/s FP32 peak\n", gpu.name, gpu.flops / 1e12);
    else
        printf("GPU: none (cuda rows skipped)\n");
    printf("floor = max(FLOPs/peak, least bytes/bandwidth) per step; x floor = measured/floor\n\n");
    if (json) {
        time_t t = time(NULL);
        char date[32];
        strftime(date, sizeof date, "%Y-%m-%d", gmtime(&t));
        fprintf(
            json,
            "{\n  \"date\": \"%s\",\n  \"device\": \"%s\",\n  \"cpu\": \"%s\",\n  \"results\": [",
            date, have_gpu ? gpu.name : "none", cpu.name);
    }
    int first = 1;
    int rc = 0;
    if (a.gemms && !have_gpu)
        printf("--gemms: skipped: no CUDA device\n");
    else if (a.gemms && bench_gemms(a.models, a.n_models, a.batches, a.n_batches, why) != 0)
        fprintf(stderr, "deepdigits-bench: %s\n", why), rc = -1;
    else if (a.phases && !have_gpu)
        printf("--phases: skipped: no CUDA device\n");
    else if (a.phases) {
        const bench_plan p = plan_for(&a, data.train.count, 1);
        int sms = 0; /* bit s: on s SMs */
        for (backend on = ON_FUSED; on <= ON_FUSED4; on++)
            if ((a.backends >> on) & 1) sms |= 1 << backend_sms[on];
        if (bench_phases(a.models, a.n_models, a.batches, a.n_batches, sms,
                         (a.backends >> ON_PIPE) & 1, &data, a.seed, p.steps, why) != 0)
            fprintf(stderr, "deepdigits-bench: %s\n", why), rc = -1;
    } else if (!a.gemms)
        rc = run_matrix(&a, &data, &cpu, &gpu, have_gpu, json, &first);
    if (rc == 0 && a.lab) rc = run_lab(&a, &data, have_gpu, json, &first);
    if (json) { /* what was measured, also when a later cell failed */
        fprintf(json, "\n  ]\n}\n");
        if (fclose(json) != 0 || rename(tmp, a.json) != 0) {
            fprintf(stderr, "deepdigits-bench: %s: cannot write: %s\n", a.json, strerror(errno));
            remove(tmp);
            rc = -1;
        }
    }
    dd_mnist_free(&data);
    return rc == 0 ? 0 : 1;
}
