/* deepdigits-bench: training steps timed on each backend, each figure set against its physical
 * floor. machine.c says what the hardware can do; measure.c times one configuration. */
#ifndef DD_BENCH_H
#define DD_BENCH_H

#include <stddef.h>

#include "deepdigits/backend.h"
#include "deepdigits/train.h"

/* What a processor can do at best, for the floors. */
typedef struct {
    char name[256];
    double flops;     /* FP32 FLOP/s the training step can use (the CPU path is one thread) */
    double bandwidth; /* bytes/s of main memory */
    /* A working set up to cache_bytes stays in cache, where cache_bandwidth applies (the CPU's
     * L2; 0 where unmeasured). */
    double cache_bytes, cache_bandwidth;
} bench_machine;

/* The bandwidth that bounds a working set of BYTES on M. */
double bench_bandwidth(const bench_machine *m, double bytes);

void bench_cpu(bench_machine *m);
/* Returns 0 when there is no CUDA device. */
int bench_gpu(bench_machine *m);

/* One timed configuration. */
typedef struct {
    int steps, repeats, warmup;
} bench_plan;

typedef struct {
    double us_median, us_min, us_max; /* per training step */
    double flops, bytes;              /* per step: the work and the least traffic it needs */
    long steps_per_epoch;
} bench_result;

/* Times OPTS's model at OPTS's batch on DEVICE with DATA; 0, or -1 with ERR. */
int bench_measure(const dd_train_options *opts, dd_device device, const dd_mnist *data,
                  const bench_plan *plan, bench_result *out, char *err);

/* OPTS's model on the GPU's fused engine, built with its phase clocks (dd_backend_setup
 * .phase_clocks): STEPS steps after a warm-up; their sums (phase_cycles) and the time a step took
 * in that build. 0, or -1 with ERR. */
int bench_phase_cycles(const dd_train_options *opts, const dd_mnist *data, int steps, dd_sums *sums,
                       double *us, char *err);

/* --phases: for MODELS at BATCHES on the fused engine, on S SMs for each bit S of SMS_MASK (1, 2,
 * 4; where the plan takes it), and with PIPE also its pipelined warp step, each phase of a step in
 * SM clock cycles (bench/phases.c); a table on stdout. Needs a CUDA device. */
int bench_phases(const int *models, int n_models, const int *batches, int n_batches, int sms_mask,
                 int pipe, const dd_mnist *data, unsigned long long seed, int steps, char *err);

/* The whole lab (21 models x EPOCHS epochs, evaluation included) on DEVICE, JOBS models at a
 * time (each in its own thread, and on the GPU its own stream): seconds. */
int bench_lab(dd_device device, const dd_mnist *data, int epochs, int jobs, double *seconds,
              char *err);

/* --gemms: each SGEMM of a layers-engine step of MODELS at BATCHES, asked of cuBLAS three ways,
 * checked against the host and timed inside a CUDA graph (bench/gemm.c); a table on stdout.
 * Needs a CUDA device. */
int bench_gemms(const int *models, int n_models, const int *batches, int n_batches, char *err);

#endif
